//! Adaptive `eth_getLogs` ranges: providers cap the blocks or results of one query (and fail
//! in many different ways when it is too large), so the range halves on a failure and grows
//! back after successes.

/// The size of the next block range to query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdaptiveRange {
    size: u64,
    min: u64,
    max: u64,
    /// Successes in a row at the current size.
    streak: u32,
}

/// Successes in a row before the range grows.
const GROW_AFTER: u32 = 2;

impl AdaptiveRange {
    /// Starts at `initial`, never below `min` (at least 1) nor above `max`.
    pub fn new(initial: u64, min: u64, max: u64) -> AdaptiveRange {
        let min = min.max(1);
        let max = max.max(min);
        AdaptiveRange {
            size: initial.clamp(min, max),
            min,
            max,
            streak: 0,
        }
    }

    /// The blocks the next query spans.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The inclusive range starting at `from` and ending no later than `until`, or `None` when
    /// `from` is past `until`.
    pub fn next(&self, from: u64, until: u64) -> Option<(u64, u64)> {
        (from <= until).then(|| (from, until.min(from.saturating_add(self.size - 1))))
    }

    /// The query failed (an error, a result-count limit, a timeout): halve. Returns false when
    /// the range was already at its minimum (the failure is not about size).
    pub fn failed(&mut self) -> bool {
        self.streak = 0;
        if self.size == self.min {
            return false;
        }
        self.size = (self.size / 2).max(self.min);
        true
    }

    /// The query succeeded: after a few successes in a row, double.
    pub fn succeeded(&mut self) {
        self.streak = self.streak.saturating_add(1);
        if self.streak >= GROW_AFTER {
            self.streak = 0;
            self.size = self.size.saturating_mul(2).min(self.max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shrinks_on_failure_and_grows_back() {
        let mut r = AdaptiveRange::new(1000, 10, 5000);
        assert_eq!(r.next(1, 10_000), Some((1, 1000)));
        assert!(r.failed());
        assert_eq!(r.size(), 500);
        for _ in 0..10 {
            r.failed();
        }
        assert_eq!(r.size(), 10);
        assert!(!r.failed(), "at the minimum a failure is not about size");
        r.succeeded();
        assert_eq!(r.size(), 10);
        r.succeeded();
        assert_eq!(r.size(), 20);
        for _ in 0..40 {
            r.succeeded();
        }
        assert_eq!(r.size(), 5000);
        assert_eq!(r.next(7, 5), None);
        assert_eq!(r.next(7, 7), Some((7, 7)));
    }

    proptest! {
        /// Walking any span with any mix of failures covers every block exactly once.
        #[test]
        fn ranges_tile_the_span(start in 0u64..1000, len in 1u64..20_000, fails in proptest::collection::vec(any::<bool>(), 1..200)) {
            let until = start + len - 1;
            let mut r = AdaptiveRange::new(100, 1, 2000);
            let mut next = start;
            let mut i = 0;
            while let Some((a, b)) = r.next(next, until) {
                prop_assert_eq!(a, next);
                prop_assert!(b >= a && b <= until);
                if fails[i % fails.len()] && r.failed() {
                    i += 1;
                    continue;
                }
                r.succeeded();
                next = b + 1;
                i += 1;
            }
            prop_assert_eq!(next, until + 1);
        }
    }
}
