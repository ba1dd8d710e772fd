//! The AO fair-launch mint schedule (`mint-and-bridge.md` §1 and §7), in armstrongs.
//!
//! Every 300 s period k mints `M_k = floor((MAX − S_k)·R_NUM / R_DEN)` where `S_k` is what the
//! periods before it minted, so supply approaches MAX and never reaches it. Period k spans
//! `[T0 + 300k, T0 + 300(k+1))`; a period is minted once it has ended.

/// Maximum supply: 21,000,000 AO of 10^12 armstrongs.
pub const MAX_SUPPLY: u128 = 21_000_000 * 1_000_000_000_000;

/// The per-period rate as an exact fraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rate {
    /// Numerator.
    pub num: u128,
    /// Denominator.
    pub den: u128,
}

impl Rate {
    /// The rate the AO site's code uses (`r_site` = 1.647321875e-6).
    pub const SITE: Rate = Rate {
        num: 1_647_321_875,
        den: 1_000_000_000_000_000,
    };
    /// The exact four-year halving rate 1 − 2^(−1/420768), rounded to 16 places as APUS does.
    pub const HALVING: Rate = Rate {
        num: 16_473_367_976,
        den: 10_000_000_000_000_000,
    };

    /// A rate by name: `site` (default) or `halving`.
    pub fn by_name(name: &str) -> Option<Rate> {
        match name {
            "site" => Some(Rate::SITE),
            "halving" => Some(Rate::HALVING),
            _ => None,
        }
    }
}

/// What one period mints after `supply` armstrongs have been minted.
pub fn period_mint(supply: u128, rate: Rate) -> u128 {
    // (MAX − S) < 2.2e19 and num < 2e10: the product fits u128 (< 3.4e38).
    MAX_SUPPLY.saturating_sub(supply).saturating_mul(rate.num) / rate.den.max(1)
}

/// Total minted after `periods` periods.
pub fn schedule(periods: u64, rate: Rate) -> u128 {
    let mut supply = 0u128;
    for _ in 0..periods {
        supply += period_mint(supply, rate);
    }
    supply
}

/// Milliseconds per period.
pub const PERIOD_MS: i64 = 300_000;
/// 2024-02-27T17:00:00Z, the default T0 (§7; the hour is uncertain, so it is configurable).
pub const DEFAULT_T0_MS: i64 = 1_709_053_200_000;
/// 2024-06-18T15:00:00Z: from here on bridged assets share the mint.
pub const DEFAULT_BRIDGE_START_MS: i64 = 1_718_722_800_000;

/// How many periods have ended by `timestamp` (ms): periods `0..n` are complete.
pub fn periods_ended(t0: i64, period_ms: i64, timestamp: i64) -> u64 {
    if timestamp <= t0 || period_ms <= 0 {
        return 0;
    }
    u64::try_from((timestamp - t0) / period_ms).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_integer_vectors() {
        assert_eq!(schedule(1, Rate::SITE), 34_593_759_375_000);
        assert_eq!(schedule(288, Rate::SITE), 9_960_647_908_748_593);
        assert_eq!(schedule(0, Rate::SITE), 0);
    }

    #[test]
    fn supply_never_reaches_max_and_each_period_shrinks() {
        let mut supply = 0u128;
        let mut last = u128::MAX;
        for _ in 0..10_000 {
            let m = period_mint(supply, Rate::SITE);
            assert!(m <= last);
            last = m;
            supply += m;
            assert!(supply < MAX_SUPPLY);
        }
        // Near the asymptote the floor reaches zero only at 607,045 armstrongs left or fewer
        // (10^15 / 1647321875 = 607,045.9).
        assert_eq!(period_mint(MAX_SUPPLY - 607_045, Rate::SITE), 0);
        assert_eq!(period_mint(MAX_SUPPLY - 607_046, Rate::SITE), 1);
        assert_eq!(period_mint(MAX_SUPPLY, Rate::SITE), 0);
    }

    #[test]
    fn the_halving_rate_mints_slightly_more() {
        assert_eq!(Rate::by_name("site"), Some(Rate::SITE));
        assert!(schedule(288, Rate::HALVING) > schedule(288, Rate::SITE));
        assert_eq!(Rate::by_name("monthly"), None);
    }

    #[test]
    fn periods_count_from_t0() {
        let t0 = DEFAULT_T0_MS;
        assert_eq!(periods_ended(t0, PERIOD_MS, t0), 0);
        assert_eq!(periods_ended(t0, PERIOD_MS, t0 + PERIOD_MS - 1), 0);
        assert_eq!(periods_ended(t0, PERIOD_MS, t0 + PERIOD_MS), 1);
        assert_eq!(periods_ended(t0, PERIOD_MS, t0 - 5), 0);
        // The bridge phase starts at period 32,232 for T0 = 17:00Z (C10).
        assert_eq!(
            periods_ended(t0, PERIOD_MS, DEFAULT_BRIDGE_START_MS),
            32_232
        );
    }
}
