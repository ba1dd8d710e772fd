//! `bridge@1.0`: the stETH/DAI(/USDS) bridge ledger and the AO fair-launch mint.
//!
//! Positions are kept per (depositor, asset, Arweave recipient) from the bridge contracts'
//! `UserStaked` / `UserWithdrawn` events, forwarded by mirror processes, always with the
//! amount the event carries (what the contract credited or debited: `mint-and-bridge.md` C1,
//! C4, C8). Every completed 300 s period mints `floor((MAX − S)·r)` armstrongs (see
//! [`crate::mint`]), split by largest remainder between AR holders (latest snapshot) and
//! bridged positions (principal × price × yield). Periods are counted from the scheduled
//! `Timestamp` of each message, so after downtime the next message mints every missed period.
//!
//! Spawn tags (a bad one refuses the spawn, naming the tag):
//! - `Mirror` (repeatable, required): mirror processes whose events count.
//! - `Asset` (repeatable, required): `<SYMBOL>:<chain-id>:<contract>[:<poolId>]`, e.g.
//!   `stETH:1:0xfe08…:0`. The pool is matched when given (aolink's devnet bridge holds both
//!   assets in one contract); USDS events have no pool.
//! - `Oracle` (repeatable): who may send `Oracle-Update`. `Snapshot-Authority` (repeatable):
//!   who may send `AR-Snapshot`.
//! - `Mint-T0` (ms, default 2024-02-27T17:00Z), `Bridge-Start` (ms, default
//!   2024-06-18T15:00Z), `Mint-Period` (seconds, default 300), `Mint-Rate` (`site`, default,
//!   or `halving`), `AR-Share` (`num/den` of each period to AR holders once bridging counts,
//!   default `1/3`), `Accrual-Delay` (seconds, default 86400), `Withdraw-Lock-<SYMBOL>`
//!   (seconds, default 0), `Report-To` (repeatable; default the process owner; `none` turns
//!   reports off), `Mint-Split` (`run`, default, or `period`: see below).
//!
//! Rules where the sources leave a choice:
//! - A deposit counts for a period when the period's snapshot time (its end) is at least
//!   `Accrual-Delay` after the deposit message's scheduled timestamp. Deposits are kept as
//!   tranches by that timestamp; a withdrawal consumes the newest tranches first, so older
//!   principal keeps accruing.
//! - A withdrawal debits the position of the event's recipient first, then the depositor's
//!   other recipients of that asset in recipient order (`ejectStakedFunds` names no recipient,
//!   so it goes straight to that order). More than the depositor holds is an Error.
//! - A period with nobody to pay (no snapshot, or an empty one, for the AR share) adds its
//!   pool to `undistributed`, reported in `Info` and in the next `Mint-Report`; nothing is
//!   lost and Σ balances + undistributed = S always.
//! - `Mint-Split: run` (default): the periods a message catches up on are split in runs over
//!   which no weight can change (no message in between, no tranche starting to accrue, not
//!   across the bridge start); each run's total is split once, so every recipient gets its
//!   exact share of the run to within one armstrong (per-period rounding would drift by up to
//!   one armstrong per period) and a year of catch-up costs one split. With a message in every
//!   period (a `Cron-Interval` of the period) every run is one period, which is §7's
//!   per-period split exactly; `Mint-Split: period` forces that split whatever the gaps.
//! - A `Mint-Report` goes out for every run that paid anyone (`Period` = its first period,
//!   `Periods` = how many), with the per-recipient amounts of the run.

use std::collections::{BTreeMap, BTreeSet};

use aolink_primitives::chain::{ChainEventBatch, Retraction};
use num_bigint::BigUint;
use num_traits::Zero;
use ruint::aliases::U256;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::mint::{self, Rate};
use crate::split::{split_u128, split_u128_indexed, split_u128_u256, to_u256};
use crate::{Device, DeviceEnv, DeviceError, Message, OutMessage, Outbox, Reply, decimal};

/// The device name in a process's `Device` tag.
pub const NAME: &str = "bridge@1.0";

/// Decimal-string serde for big numbers, so the state stays readable and canonical.
mod dec {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, T: FromStr, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a decimal number")))
    }
}

/// Balances by recipient.
type Balances = BTreeMap<String, u128>;

/// Balances saved as a map of recipient → decimal string.
mod dec_values {
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Balances;

    pub fn serialize<S: Serializer>(m: &Balances, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(m.len()))?;
        for (k, v) in m {
            map.serialize_entry(k, &v.to_string())?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Balances, D::Error> {
        let raw = Balances::new();
        let text = std::collections::BTreeMap::<String, String>::deserialize(d)?;
        let mut out = raw;
        for (k, v) in text {
            let n = v.parse().map_err(|_| {
                serde::de::Error::custom(format!("balance of {k}: {v:?} is not a decimal number"))
            })?;
            out.insert(k, n);
        }
        Ok(out)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct AssetKey {
    symbol: String,
    chain_id: String,
    contract: String,
    pool: Option<String>,
}

#[derive(Clone, Debug)]
struct Config {
    mirrors: BTreeSet<String>,
    assets: Vec<AssetKey>,
    oracles: BTreeSet<String>,
    snapshotters: BTreeSet<String>,
    t0: i64,
    bridge_start: i64,
    period_ms: i64,
    rate: Rate,
    ar_share: (u128, u128),
    accrual_delay_ms: i64,
    locks: BTreeMap<String, i64>,
    report_to: Vec<String>,
    split: MintSplit,
}

/// How the periods a message catches up on are split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MintSplit {
    /// Consecutive periods over which no weight can change (no message between them, no
    /// deposit starting to accrue, not across the bridge start) are split as one pool: each
    /// recipient gets its exact share of their total to within one armstrong, and a year of
    /// periods costs one split. With a message every period (a 5-minute cron) this is exactly
    /// the per-period split.
    Run,
    /// Every period is split on its own, as `mint-and-bridge.md` §7 writes it.
    Period,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Tranche {
    since: i64,
    #[serde(with = "dec")]
    amount: BigUint,
}

/// One (depositor, asset, recipient) position.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    /// Deposits by scheduled time, oldest first.
    tranches: Vec<Tranche>,
    /// AO minted to the recipient for this position while it is open. Kept here so a period
    /// credits a million positions in one sequential pass; moved to `balances` when the
    /// position closes.
    #[serde(with = "dec")]
    minted: u128,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Quote {
    #[serde(with = "dec")]
    price: BigUint,
    #[serde(with = "dec")]
    yield_bps: BigUint,
}

/// One change an event made, kept so a reorg can undo it exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Effect {
    /// `user|asset|recipient`.
    position: String,
    since: i64,
    #[serde(with = "dec")]
    amount: BigUint,
    /// True when the event added the tranche, false when it removed it.
    added: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    /// Periods `0..minted_periods` are minted.
    minted_periods: u64,
    #[serde(with = "dec")]
    supply: u128,
    #[serde(with = "dec")]
    undistributed: u128,
    /// Periods since the last report that paid nobody.
    unpaid_periods: u64,
    #[serde(with = "dec_values")]
    balances: Balances,
    positions: BTreeMap<String, Position>,
    last_stake: BTreeMap<String, i64>,
    effects: BTreeMap<String, Vec<Effect>>,
    quotes: BTreeMap<String, Quote>,
    snapshot: BTreeMap<String, String>,
    ignored_events: u64,
    outbox: Outbox,
}

/// Bridged weights in key order: fixed-width when every number fits 256 bits.
enum Weights {
    Wide(Vec<U256>),
    Big(Vec<BigUint>),
}

/// The bridge device.
#[derive(Debug)]
pub struct Bridge {
    config: Config,
    state: State,
}

fn int_tag(env: &DeviceEnv, tag: &str, default: i64) -> Result<i64, DeviceError> {
    match env.tag(tag) {
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                DeviceError::config(tag, format!("{v:?} is not a non-negative whole number"))
            }),
        None => Ok(default),
    }
}

fn parse_asset(value: &str) -> Option<AssetKey> {
    let parts: Vec<&str> = value.split(':').collect();
    // A `solana:<cluster>` chain id has a colon of its own.
    let (symbol, chain_id, rest) = match parts.as_slice() {
        [s, "solana", cluster, rest @ ..] => (*s, format!("solana:{cluster}"), rest),
        [s, chain, rest @ ..] => (*s, chain.to_string(), rest),
        _ => return None,
    };
    let (contract, pool) = match rest {
        [c] => (*c, None),
        [c, p] => (*c, Some(p.to_string())),
        _ => return None,
    };
    let symbol_ok = !symbol.is_empty() && symbol.chars().all(|c| c.is_ascii_alphanumeric());
    (symbol_ok && !contract.is_empty() && !chain_id.is_empty()).then(|| AssetKey {
        symbol: symbol.to_string(),
        chain_id,
        contract: contract.to_ascii_lowercase(),
        pool,
    })
}

fn config_of(env: &DeviceEnv) -> Result<Config, DeviceError> {
    let set = |tag: &str| -> BTreeSet<String> { env.tags_named(tag).map(str::to_string).collect() };
    let mirrors = set("Mirror");
    if mirrors.is_empty() {
        return Err(DeviceError::config(
            "Mirror",
            "at least one mirror process is required",
        ));
    }
    let mut assets = Vec::new();
    for value in env.tags_named("Asset") {
        assets.push(parse_asset(value).ok_or_else(|| {
            DeviceError::config(
                "Asset",
                format!("{value:?} is not <SYMBOL>:<chain-id>:<contract>[:<poolId>]"),
            )
        })?);
    }
    if assets.is_empty() {
        return Err(DeviceError::config(
            "Asset",
            "at least one asset is required",
        ));
    }
    let rate = match env.tag("Mint-Rate") {
        Some(name) => Rate::by_name(name).ok_or_else(|| {
            DeviceError::config("Mint-Rate", format!("{name:?} is not site or halving"))
        })?,
        None => Rate::SITE,
    };
    let ar_share = match env.tag("AR-Share") {
        Some(v) => v
            .split_once('/')
            .and_then(|(n, d)| {
                Some((
                    n.trim().parse::<u128>().ok()?,
                    d.trim().parse::<u128>().ok()?,
                ))
            })
            .filter(|(n, d)| *d > 0 && n <= d)
            .ok_or_else(|| {
                DeviceError::config("AR-Share", format!("{v:?} is not num/den with num ≤ den"))
            })?,
        None => (1, 3),
    };
    let period_s = int_tag(env, "Mint-Period", 300)?;
    if period_s == 0 {
        return Err(DeviceError::config(
            "Mint-Period",
            "a period must last at least 1 s",
        ));
    }
    let mut locks = BTreeMap::new();
    for asset in &assets {
        let tag = format!("Withdraw-Lock-{}", asset.symbol);
        locks.insert(
            asset.symbol.clone(),
            int_tag(env, &tag, 0)?.saturating_mul(1000),
        );
    }
    let mut report_to: Vec<String> = env.tags_named("Report-To").map(str::to_string).collect();
    if report_to.is_empty() {
        report_to.push(env.owner.clone());
    }
    // `Report-To: none` turns reports off (a ledger of millions of positions, whose balances
    // are read with `Balance`/`Balances` instead).
    if report_to.iter().any(|t| t == "none") {
        if report_to.len() > 1 {
            return Err(DeviceError::config(
                "Report-To",
                "none cannot be combined with report targets",
            ));
        }
        report_to.clear();
    }
    let split = match env.tag("Mint-Split") {
        None | Some("run") => MintSplit::Run,
        Some("period") => MintSplit::Period,
        Some(other) => {
            return Err(DeviceError::config(
                "Mint-Split",
                format!("{other:?} is not run or period"),
            ));
        }
    };
    Ok(Config {
        mirrors,
        assets,
        oracles: set("Oracle"),
        snapshotters: set("Snapshot-Authority"),
        t0: int_tag(env, "Mint-T0", mint::DEFAULT_T0_MS)?,
        bridge_start: int_tag(env, "Bridge-Start", mint::DEFAULT_BRIDGE_START_MS)?,
        period_ms: period_s.saturating_mul(1000),
        rate,
        ar_share,
        accrual_delay_ms: int_tag(env, "Accrual-Delay", 86_400)?.saturating_mul(1000),
        locks,
        report_to,
        split,
    })
}

/// The Arweave address a bridge event's `bytes32 arweaveAddress` names (base64url of the 32
/// bytes), or `None` for the zero address `ejectStakedFunds` uses.
fn recipient_of(hex: &str) -> Result<Option<String>, String> {
    let digits = hex.strip_prefix("0x").unwrap_or(hex);
    let bytes = hex::decode(digits)
        .ok()
        .filter(|b| b.len() == 32)
        .ok_or_else(|| format!("arweaveAddress {hex:?} is not 32 bytes of hex"))?;
    if bytes.iter().all(|b| *b == 0) {
        return Ok(None);
    }
    Ok(Some(aolink_primitives::ans104::b64url_encode(&bytes)))
}

fn position_key(user: &str, asset: &str, recipient: &str) -> String {
    format!("{user}|{asset}|{recipient}")
}

fn sum(tranches: &[Tranche]) -> BigUint {
    tranches.iter().map(|t| &t.amount).sum()
}

fn add_tranche(tranches: &mut Vec<Tranche>, since: i64, amount: &BigUint) {
    match tranches.binary_search_by_key(&since, |t| t.since) {
        Ok(i) => tranches[i].amount += amount,
        Err(i) => tranches.insert(
            i,
            Tranche {
                since,
                amount: amount.clone(),
            },
        ),
    }
}

fn remove_tranche(tranches: &mut Vec<Tranche>, since: i64, amount: &BigUint) -> bool {
    let Ok(i) = tranches.binary_search_by_key(&since, |t| t.since) else {
        return false;
    };
    if &tranches[i].amount < amount {
        return false;
    }
    tranches[i].amount -= amount;
    if tranches[i].amount.is_zero() {
        tranches.remove(i);
    }
    true
}

/// The asset of a `user|asset|recipient` position key.
fn asset_of(key: &str) -> &str {
    key.split('|').nth(1).unwrap_or("")
}

fn credit(balances: &mut Balances, address: &str, amount: u128) {
    if amount == 0 {
        return;
    }
    match balances.get_mut(address) {
        Some(balance) => *balance = balance.saturating_add(amount),
        None => {
            balances.insert(address.to_string(), amount);
        }
    }
}

/// The recipient of a `user|asset|recipient` position key.
fn recipient_of_key(key: &str) -> &str {
    key.rsplit('|').next().unwrap_or("")
}

impl State {
    /// Removes `key` if it holds nothing any more; what was minted to it stays the
    /// recipient's, in `balances`.
    fn close_if_empty(&mut self, key: &str) {
        if self
            .positions
            .get(key)
            .is_some_and(|p| p.tranches.is_empty())
            && let Some(closed) = self.positions.remove(key)
        {
            credit(&mut self.balances, recipient_of_key(key), closed.minted);
        }
    }

    /// The recipient's whole balance: closed positions and AR mints, plus open positions.
    fn balance(&self, recipient: &str) -> u128 {
        let open: u128 = self
            .positions
            .iter()
            .filter(|(k, _)| recipient_of_key(k) == recipient)
            .map(|(_, p)| p.minted)
            .sum();
        self.balances.get(recipient).copied().unwrap_or(0) + open
    }

    /// Every recipient's balance.
    fn all_balances(&self) -> BTreeMap<String, u128> {
        let mut all = self.balances.clone();
        for (key, p) in &self.positions {
            if p.minted > 0 {
                credit(&mut all, recipient_of_key(key), p.minted);
            }
        }
        all
    }

    /// Undoes an event's effects, newest first. False when they no longer fit the ledger.
    fn undo(&mut self, effects: &[Effect]) -> bool {
        for e in effects.iter().rev() {
            let tranches = &mut self
                .positions
                .entry(e.position.clone())
                .or_default()
                .tranches;
            let ok = if e.added {
                remove_tranche(tranches, e.since, &e.amount)
            } else {
                add_tranche(tranches, e.since, &e.amount);
                true
            };
            self.close_if_empty(&e.position);
            if !ok {
                return false;
            }
        }
        true
    }
}

impl Bridge {
    /// A new ledger for the process in `env`.
    pub fn new(env: &DeviceEnv) -> Result<Bridge, DeviceError> {
        Ok(Bridge {
            config: config_of(env)?,
            state: State::default(),
        })
    }

    /// Restores saved state.
    pub fn restore(env: &DeviceEnv, bytes: &[u8]) -> Result<Bridge, DeviceError> {
        Ok(Bridge {
            config: config_of(env)?,
            state: serde_json::from_slice(bytes).map_err(|e| DeviceError::State(e.to_string()))?,
        })
    }

    fn asset_of(&self, chain: &str, contract: &str, pool: Option<&str>) -> Option<&str> {
        let contract = contract.to_ascii_lowercase();
        self.config
            .assets
            .iter()
            .find(|a| {
                a.chain_id == chain
                    && a.contract == contract
                    && (a.pool.is_none() || a.pool.as_deref() == pool)
            })
            .map(|a| a.symbol.as_str())
    }

    /// Mints every period that has ended by `now` and is not minted yet.
    fn catch_up(&self, state: &mut State, now: i64, reports: &mut Vec<OutMessage>) {
        let ended = mint::periods_ended(self.config.t0, self.config.period_ms, now);
        while state.minted_periods < ended {
            let from = state.minted_periods;
            let to = match self.config.split {
                MintSplit::Period => from + 1,
                MintSplit::Run => self.run_end(state, from, ended),
            };
            self.mint_run(state, from, to, reports);
        }
    }

    /// When period `k` starts (ms).
    fn period_start(&self, k: u64) -> i64 {
        let c = &self.config;
        c.t0.saturating_add(
            c.period_ms
                .saturating_mul(i64::try_from(k).unwrap_or(i64::MAX)),
        )
    }

    /// The first period whose snapshot time (its end) is at least `at`.
    fn first_period_ending_by(&self, at: i64) -> u64 {
        let c = &self.config;
        let since_t0 = i128::from(at) - i128::from(c.t0);
        if since_t0 <= 0 {
            return 0;
        }
        let p = i128::from(c.period_ms);
        // Smallest k with (k + 1)·p ≥ since_t0.
        u64::try_from((since_t0 + p - 1) / p - 1).unwrap_or(u64::MAX)
    }

    /// The end of the run of periods from `from` (before `limit`) over which the weights stay
    /// as they are at `from`: the next period that starts at or after the bridge start, or in
    /// which another tranche starts to accrue.
    fn run_end(&self, state: &State, from: u64, limit: u64) -> u64 {
        if limit <= from.saturating_add(1) {
            // One period due (the steady state): nothing to look for.
            return limit;
        }
        let c = &self.config;
        let mut end = limit;
        let mut consider = |k: u64| {
            if k > from && k < end {
                end = k;
            }
        };
        // The first period that starts at or after the bridge start.
        let since_t0 = i128::from(c.bridge_start) - i128::from(c.t0);
        let p = i128::from(c.period_ms);
        let bridge_period = if since_t0 > 0 {
            u64::try_from((since_t0 + p - 1) / p).unwrap_or(u64::MAX)
        } else {
            0
        };
        consider(bridge_period);
        // Before the bridge start no tranche weighs anything, so none breaks a run there.
        for position in state.positions.values() {
            for t in &position.tranches {
                let accrues =
                    self.first_period_ending_by(t.since.saturating_add(c.accrual_delay_ms));
                consider(accrues.max(bridge_period));
            }
        }
        end
    }

    /// The bridged weights for period `k`: accruing principal × price × yield per position,
    /// as the ordinals of the weighted positions (in key order) and their weights.
    fn weights_at(
        &self,
        positions: &BTreeMap<String, Position>,
        quotes: &BTreeMap<String, Quote>,
        k: u64,
    ) -> (Vec<usize>, Weights) {
        let c = &self.config;
        let start = self.period_start(k);
        if start < c.bridge_start {
            return (Vec::new(), Weights::Wide(Vec::new()));
        }
        let snapshot_time = start.saturating_add(c.period_ms);
        let accrues = |t: &Tranche| t.since.saturating_add(c.accrual_delay_ms) <= snapshot_time;
        let factors: BTreeMap<&str, BigUint> = quotes
            .iter()
            .map(|(asset, q)| (asset.as_str(), &q.price * &q.yield_bps))
            .filter(|(_, f)| !f.is_zero())
            .collect();
        // Fixed width when every number fits (always, for real token amounts and quotes): no
        // big-number allocation per position.
        let wide_factors: Option<BTreeMap<&str, U256>> = factors
            .iter()
            .map(|(a, f)| to_u256(f).map(|f| (*a, f)))
            .collect();
        if let Some(wide_factors) = wide_factors {
            let mut keys = Vec::new();
            let mut weights = Vec::new();
            let mut fits = true;
            for (ordinal, (key, position)) in positions.iter().enumerate() {
                let Some(factor) = wide_factors.get(asset_of(key)) else {
                    continue;
                };
                let mut accruing = U256::ZERO;
                for t in position.tranches.iter().filter(|t| accrues(t)) {
                    match to_u256(&t.amount).and_then(|a| accruing.checked_add(a)) {
                        Some(sum) => accruing = sum,
                        None => fits = false,
                    }
                }
                match accruing.checked_mul(*factor) {
                    Some(w) if !w.is_zero() => {
                        keys.push(ordinal);
                        weights.push(w);
                    }
                    Some(_) => {}
                    None => fits = false,
                }
                if !fits {
                    break;
                }
            }
            if fits {
                return (keys, Weights::Wide(weights));
            }
        }
        let (mut keys, mut weights) = (Vec::new(), Vec::new());
        for (ordinal, (key, position)) in positions.iter().enumerate() {
            let Some(factor) = factors.get(asset_of(key)) else {
                continue;
            };
            let accruing: BigUint = position
                .tranches
                .iter()
                .filter(|t| accrues(t))
                .map(|t| &t.amount)
                .sum();
            if !accruing.is_zero() {
                keys.push(ordinal);
                weights.push(accruing * factor);
            }
        }
        (keys, Weights::Big(weights))
    }

    /// Mints periods `from..to`, over which the weights do not change, as one split.
    fn mint_run(&self, state: &mut State, from: u64, to: u64, reports: &mut Vec<OutMessage>) {
        let c = &self.config;
        let (keys, weights) = self.weights_at(&state.positions, &state.quotes, from);
        let bridged = !keys.is_empty();
        let mut minted = 0u128;
        let mut ar_pool = 0u128;
        for _ in from..to {
            let m = mint::period_mint(state.supply, c.rate);
            state.supply = state.supply.saturating_add(m);
            minted += m;
            // Each period's AR share is floored on its own, as a single period's would be.
            ar_pool += if bridged {
                m.saturating_mul(c.ar_share.0) / c.ar_share.1
            } else {
                m
            };
        }
        state.minted_periods = to;
        if minted == 0 {
            return;
        }
        let bridge_pool = minted - ar_pool;
        let mut records = Vec::new();
        let mut paid = false;
        if bridge_pool > 0 {
            let parts = match &weights {
                Weights::Wide(w) => split_u128_u256(bridge_pool, w),
                Weights::Big(w) => split_u128_indexed(bridge_pool, &w.iter().collect::<Vec<_>>()),
            }
            .unwrap_or_default();
            // One sequential pass: the weighted positions come in key order.
            let mut due = keys.iter().copied().zip(parts).peekable();
            for (ordinal, (key, position)) in state.positions.iter_mut().enumerate() {
                let Some((_, amount)) = due.next_if(|(o, _)| *o == ordinal) else {
                    continue;
                };
                position.minted = position.minted.saturating_add(amount);
                paid |= amount > 0;
                if !c.report_to.is_empty() {
                    let mut it = key.split('|');
                    let (user, asset, recipient) = (
                        it.next().unwrap_or(""),
                        it.next().unwrap_or(""),
                        it.next().unwrap_or(""),
                    );
                    let principal = sum(&position.tranches);
                    records.push(json!({"Recipient": recipient, "Mint": amount.to_string(), "User": user, "Token": asset, "Amount": principal.to_string()}));
                }
            }
        }
        let holders: BTreeMap<String, BigUint> = state
            .snapshot
            .iter()
            .filter_map(|(a, b)| Some((a.clone(), BigUint::parse_bytes(b.as_bytes(), 10)?)))
            .filter(|(_, b)| !b.is_zero())
            .collect();
        match split_u128(ar_pool, &holders) {
            Ok(parts) if ar_pool > 0 => {
                for (address, amount) in parts {
                    credit(&mut state.balances, &address, amount);
                    paid |= amount > 0;
                    if !c.report_to.is_empty() {
                        records.push(json!({"Recipient": address, "Mint": amount.to_string()}));
                    }
                }
            }
            _ => state.undistributed = state.undistributed.saturating_add(ar_pool),
        }
        let periods = to - from;
        if !paid {
            state.unpaid_periods += periods;
            return;
        }
        let data = json!({
            "period": from,
            "periods": periods,
            "start": self.period_start(from),
            "end": self.period_start(to),
            "minted": minted.to_string(),
            "supply": state.supply.to_string(),
            "undistributed": state.undistributed.to_string(),
            "unpaidPeriodsBefore": state.unpaid_periods,
            "records": records,
        })
        .to_string();
        state.unpaid_periods = 0;
        for target in &c.report_to {
            let tags = vec![
                ("Action".to_string(), "Mint-Report".to_string()),
                ("Period".to_string(), from.to_string()),
                ("Periods".to_string(), periods.to_string()),
                ("Minted".to_string(), minted.to_string()),
            ];
            reports.push(state.outbox.message(target, tags, data.clone()));
        }
    }

    fn chain_event(&self, state: &mut State, msg: &Message) -> Result<Value, String> {
        let chain = msg.tag("Chain-Id").unwrap_or("");
        let contract = msg.tag("Contract").unwrap_or("");
        let batch = ChainEventBatch::decode(msg.data.as_bytes()).map_err(|e| e.to_string())?;
        let mut applied = 0u64;
        for (i, event) in batch.events.iter().enumerate() {
            let Some(stake) = event.transfer_direction() else {
                state.ignored_events += 1;
                continue;
            };
            let fields = &event.fields;
            let Some(asset) = self.asset_of(chain, contract, fields.pool_id()) else {
                state.ignored_events += 1;
                continue;
            };
            let key = format!("{chain}:{}", event.key());
            if state.effects.contains_key(&key) {
                continue;
            }
            let amount = decimal(fields.amount())
                .ok_or(format!("event {i}: fields.amount is not a decimal string"))?;
            let user = fields
                .user()
                .ok_or(format!("event {i}: fields.user is missing"))?
                .to_ascii_lowercase();
            let recipient = recipient_of(fields.arweave_address().unwrap_or(""))
                .map_err(|e| format!("event {i}: {e}"))?;
            let effects = if stake {
                let recipient =
                    recipient.ok_or(format!("event {i}: a stake names no recipient"))?;
                let position = position_key(&user, asset, &recipient);
                add_tranche(
                    &mut state
                        .positions
                        .entry(position.clone())
                        .or_default()
                        .tranches,
                    msg.timestamp,
                    &amount,
                );
                let when = event
                    .block_timestamp
                    .and_then(|s| i64::try_from(s).ok())
                    .map_or(msg.timestamp, |s| s.saturating_mul(1000));
                state.last_stake.insert(format!("{user}|{asset}"), when);
                vec![Effect {
                    position,
                    since: msg.timestamp,
                    amount,
                    added: true,
                }]
            } else {
                self.withdraw(state, &user, asset, recipient.as_deref(), amount)
                    .map_err(|e| format!("event {i}: {e}"))?
            };
            state.effects.insert(key, effects);
            applied += 1;
        }
        Ok(json!({"applied": applied, "events": batch.events.len()}))
    }

    fn withdraw(
        &self,
        state: &mut State,
        user: &str,
        asset: &str,
        recipient: Option<&str>,
        amount: BigUint,
    ) -> Result<Vec<Effect>, String> {
        let prefix = format!("{user}|{asset}|");
        let mut order: Vec<String> = state
            .positions
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        if let Some(r) = recipient {
            let own = position_key(user, asset, r);
            order.retain(|k| *k != own);
            order.insert(0, own);
        }
        let held: BigUint = order
            .iter()
            .filter_map(|k| state.positions.get(k))
            .map(|p| sum(&p.tranches))
            .sum();
        if held < amount {
            return Err(format!(
                "{user} withdraws {amount} {asset} but holds {held} (the feed is not this bridge's)"
            ));
        }
        let mut left = amount;
        let mut effects = Vec::new();
        for key in order {
            let Some(tranches) = state.positions.get_mut(&key).map(|p| &mut p.tranches) else {
                continue;
            };
            while !left.is_zero() {
                let Some(newest) = tranches.last_mut() else {
                    break;
                };
                let take = if newest.amount <= left {
                    newest.amount.clone()
                } else {
                    left.clone()
                };
                newest.amount -= &take;
                left -= &take;
                effects.push(Effect {
                    position: key.clone(),
                    since: newest.since,
                    amount: take,
                    added: false,
                });
                if newest.amount.is_zero() {
                    tranches.pop();
                }
            }
            state.close_if_empty(&key);
            if left.is_zero() {
                break;
            }
        }
        Ok(effects)
    }

    fn chain_reorg(&self, state: &mut State, msg: &Message) -> Result<Value, String> {
        let chain = msg.tag("Chain-Id").unwrap_or("");
        let retraction = Retraction::decode(msg.data.as_bytes()).map_err(|e| e.to_string())?;
        let mut undone = 0u64;
        // Newest first, as the mirror sends them.
        for event in &retraction.retracted {
            let key = format!("{chain}:{}", event.key());
            let Some(effects) = state.effects.remove(&key) else {
                continue;
            };
            if !state.undo(&effects) {
                return Err(format!("{key} cannot be undone against the ledger"));
            }
            undone += 1;
        }
        Ok(json!({"undone": undone}))
    }

    fn oracle_update(&self, state: &mut State, msg: &Message) -> Result<Value, String> {
        let data: Value =
            serde_json::from_str(&msg.data).map_err(|e| format!("data is not JSON: {e}"))?;
        let quotes = data["quotes"].as_object().ok_or(
            "data has no quotes object ({\"quotes\": {\"stETH\": {\"price\", \"yieldBps\"}}})",
        )?;
        let mut parsed = Vec::new();
        for (asset, q) in quotes {
            if !self.config.assets.iter().any(|a| &a.symbol == asset) {
                return Err(format!("quotes.{asset}: not an asset of this bridge"));
            }
            let price = decimal(q["price"].as_str())
                .ok_or(format!("quotes.{asset}.price is not a decimal string"))?;
            let yield_bps = decimal(q["yieldBps"].as_str())
                .ok_or(format!("quotes.{asset}.yieldBps is not a decimal string"))?;
            parsed.push((asset.clone(), Quote { price, yield_bps }));
        }
        let n = parsed.len();
        state.quotes.extend(parsed);
        Ok(json!({"updated": n}))
    }

    fn ar_snapshot(&self, state: &mut State, msg: &Message) -> Result<Value, String> {
        let data: Value =
            serde_json::from_str(&msg.data).map_err(|e| format!("data is not JSON: {e}"))?;
        let balances = data["balances"]
            .as_object()
            .ok_or("data has no balances object")?;
        let mut snapshot = BTreeMap::new();
        for (address, b) in balances {
            let v =
                decimal(b.as_str()).ok_or(format!("balances.{address} is not a decimal string"))?;
            if !v.is_zero() {
                snapshot.insert(address.clone(), v.to_string());
            }
        }
        let n = snapshot.len();
        state.snapshot = snapshot;
        Ok(json!({"holders": n}))
    }

    fn balance_of(&self, state: &State, address: &str) -> String {
        state.balance(address).to_string()
    }

    fn info(&self, state: &State) -> Value {
        let mut totals: BTreeMap<String, BigUint> = BTreeMap::new();
        for (key, tranches) in &state.positions {
            let asset = key.split('|').nth(1).unwrap_or("").to_string();
            *totals.entry(asset).or_default() += sum(&tranches.tranches);
        }
        let c = &self.config;
        json!({
            "device": NAME,
            "mirrors": c.mirrors,
            "assets": c.assets.iter().map(|a| json!({"symbol": a.symbol, "chainId": a.chain_id, "contract": a.contract, "pool": a.pool})).collect::<Vec<_>>(),
            "t0": c.t0,
            "bridgeStart": c.bridge_start,
            "periodMs": c.period_ms,
            "arShare": format!("{}/{}", c.ar_share.0, c.ar_share.1),
            "accrualDelayMs": c.accrual_delay_ms,
            "mintedPeriods": state.minted_periods,
            "supply": state.supply.to_string(),
            "undistributed": state.undistributed.to_string(),
            "positions": state.positions.len(),
            "totals": totals.into_iter().map(|(a, t)| (a, t.to_string())).collect::<BTreeMap<_, _>>(),
            "quotes": state.quotes.iter().map(|(a, q)| (a.clone(), json!({"price": q.price.to_string(), "yieldBps": q.yield_bps.to_string()}))).collect::<BTreeMap<_, _>>(),
            "holders": state.snapshot.len(),
        })
    }

    fn positions_of(&self, state: &State, user: &str) -> Value {
        let prefix = format!("{}|", user.to_ascii_lowercase());
        let list: Vec<Value> = state
            .positions
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(k, t)| {
                let mut it = k.split('|').skip(1);
                let asset = it.next().unwrap_or("");
                let unlocks = state
                    .last_stake
                    .get(&format!("{}{asset}", prefix))
                    .map(|s| s.saturating_add(self.config.locks.get(asset).copied().unwrap_or(0)));
                json!({"asset": asset, "recipient": it.next().unwrap_or(""), "principal": sum(&t.tranches).to_string(), "minted": t.minted.to_string(), "unlocksAt": unlocks})
            })
            .collect();
        json!(list)
    }
}

impl Device for Bridge {
    fn handle(&mut self, msg: &Message) -> Reply {
        let action = msg.action();
        let from = msg.from.as_str();
        let refused = |who: &str| {
            Reply::error(format!(
                "{action} refused: {from:?} is not {who} of this bridge"
            ))
        };
        match action {
            "Chain-Event" | "Chain-Reorg" if !self.config.mirrors.contains(from) => {
                return refused("a Mirror");
            }
            "Oracle-Update" if !self.config.oracles.contains(from) => return refused("an Oracle"),
            "AR-Snapshot" if !self.config.snapshotters.contains(from) => {
                return refused("a Snapshot-Authority");
            }
            _ => {}
        }
        let mut messages = Vec::new();
        let changes = matches!(
            action,
            "Chain-Event" | "Chain-Reorg" | "Oracle-Update" | "AR-Snapshot"
        );
        let other = !changes
            && !matches!(
                action,
                "Balance" | "Balances" | "Info" | "Positions" | "Cron"
            )
            && msg.slot != Some(0)
            && msg.tag("Action").is_some();
        if other {
            return Reply::error(format!(
                "unknown action {action:?} (Chain-Event, Chain-Reorg, Oracle-Update, AR-Snapshot, Balance, Balances, Info, Positions, Cron); nothing changed"
            ));
        }
        if !changes {
            // Queries, cron ticks and the spawn message cannot fail: the mint catches up in
            // place (no copy of a ledger that may hold millions of positions).
            let mut state = std::mem::take(&mut self.state);
            self.catch_up(&mut state, msg.timestamp, &mut messages);
            let output = match action {
                "Balance" => {
                    let who = msg
                        .tag("Recipient")
                        .or_else(|| msg.tag("Target"))
                        .unwrap_or(from);
                    json!(self.balance_of(&state, who))
                }
                "Balances" => json!(
                    state
                        .all_balances()
                        .into_iter()
                        .map(|(k, v)| (k, v.to_string()))
                        .collect::<BTreeMap<_, _>>()
                ),
                "Info" => self.info(&state),
                "Positions" => self.positions_of(&state, msg.tag("User").unwrap_or(from)),
                _ => json!({"mintedPeriods": state.minted_periods}),
            };
            self.state = state;
            return Reply {
                output,
                messages,
                error: None,
            };
        }
        // Work on a copy: a message that fails leaves the ledger exactly as it was.
        let mut next = self.state.clone();
        self.catch_up(&mut next, msg.timestamp, &mut messages);
        let outcome = match action {
            "Chain-Event" => self.chain_event(&mut next, msg),
            "Chain-Reorg" => self.chain_reorg(&mut next, msg),
            "Oracle-Update" => self.oracle_update(&mut next, msg),
            _ => self.ar_snapshot(&mut next, msg),
        };
        match outcome {
            Ok(output) => {
                self.state = next;
                Reply {
                    output,
                    messages,
                    error: None,
                }
            }
            Err(e) => Reply::error(format!("{action}: {e}; nothing changed")),
        }
    }

    fn save(&self) -> Vec<u8> {
        serde_json::to_vec(&self.state).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
