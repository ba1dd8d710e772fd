//! Largest-remainder splits: a pool of indivisible units divided pro rata to integer weights
//! so that the parts sum to exactly the pool.
//!
//! Each key first gets `floor(pool·w/W)`. The units left over (fewer than the number of keys
//! with weight) go one each to the keys with the largest remainders `pool·w mod W`; ties go to
//! the larger weight, then to the smaller key. So no part differs from its exact share by one
//! unit or more, and the result depends only on the inputs.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use num_bigint::BigUint;
use num_integer::Integer;
use num_traits::Zero;

/// Why a split cannot be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SplitError {
    /// Every weight is zero (or there are none): there is no share to give.
    #[error("the weights sum to zero")]
    NoWeight,
}

/// Splits `pool` over `weights`. Keys with zero weight get 0 and are kept in the result.
pub fn largest_remainder(
    pool: &BigUint,
    weights: &BTreeMap<String, BigUint>,
) -> Result<BTreeMap<String, BigUint>, SplitError> {
    let total: BigUint = weights.values().sum();
    if total.is_zero() {
        return Err(SplitError::NoWeight);
    }
    let mut parts = BTreeMap::new();
    let mut remainders = Vec::with_capacity(weights.len());
    let mut given = BigUint::zero();
    for (key, weight) in weights {
        let (part, remainder) = (pool * weight).div_rem(&total);
        given += &part;
        if !weight.is_zero() {
            remainders.push((remainder, weight, key));
        }
        parts.insert(key.clone(), part);
    }
    // Fewer than `remainders.len()` units are left, so each goes to a different key.
    let left = pool - &given;
    remainders.sort_by(|a, b| {
        (Reverse(&a.0), Reverse(a.1), a.2).cmp(&(Reverse(&b.0), Reverse(b.1), b.2))
    });
    let mut left = left;
    for (_, _, key) in remainders {
        if left.is_zero() {
            break;
        }
        if let Some(part) = parts.get_mut(key) {
            *part += 1u32;
        }
        left -= 1u32;
    }
    Ok(parts)
}

/// As [`largest_remainder`] for `u128` amounts (armstrongs); the weights may be any size.
pub fn split_u128(
    pool: u128,
    weights: &BTreeMap<String, BigUint>,
) -> Result<BTreeMap<String, u128>, SplitError> {
    let parts = largest_remainder(&BigUint::from(pool), weights)?;
    Ok(parts
        .into_iter()
        .map(|(k, v)| {
            // Every part is at most the pool, which fits.
            let v = u128::try_from(v).unwrap_or(u128::MAX);
            (k, v)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_bigint::BigInt;
    use proptest::prelude::*;

    fn weights(list: &[(&str, u64)]) -> BTreeMap<String, BigUint> {
        list.iter()
            .map(|(k, w)| (k.to_string(), BigUint::from(*w)))
            .collect()
    }

    fn split(pool: u64, list: &[(&str, u64)]) -> Vec<(String, u64)> {
        largest_remainder(&BigUint::from(pool), &weights(list))
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, u64::try_from(v).unwrap()))
            .collect()
    }

    #[test]
    fn hand_checked_vectors() {
        // 10 over 1:1:1 = 3.33 each: the one unit left goes to the smallest key.
        assert_eq!(
            split(10, &[("a", 1), ("b", 1), ("c", 1)]),
            vec![("a".into(), 4), ("b".into(), 3), ("c".into(), 3)]
        );
        // 100 over 1:2:3 = 16.67, 33.33, 50: remainders 4/6 and 2/6 (of W=6).
        assert_eq!(
            split(100, &[("x", 1), ("y", 2), ("z", 3)]),
            vec![("x".into(), 17), ("y".into(), 33), ("z".into(), 50)]
        );
        // 7 over 2:2:3: exact 2, 2, 3.
        assert_eq!(
            split(7, &[("a", 2), ("b", 2), ("c", 3)]),
            vec![("a".into(), 2), ("b".into(), 2), ("c".into(), 3)]
        );
        // Equal remainders: the larger weight first. 5 over 1:3 = 1.25, 3.75 -> 1, 4.
        assert_eq!(
            split(5, &[("a", 1), ("b", 3)]),
            vec![("a".into(), 1), ("b".into(), 4)]
        );
        // 2 over 1:1:1:3 (W=6): shares 1/3, 1/3, 1/3, 1. d's floor is 1; the one unit left
        // goes to the tied remainders' smallest key.
        assert_eq!(
            split(2, &[("a", 1), ("b", 1), ("c", 1), ("d", 3)]),
            vec![
                ("a".into(), 1),
                ("b".into(), 0),
                ("c".into(), 0),
                ("d".into(), 1)
            ]
        );
        // Zero weights get nothing and stay listed.
        assert_eq!(
            split(9, &[("a", 0), ("b", 1)]),
            vec![("a".into(), 0), ("b".into(), 9)]
        );
        assert_eq!(
            largest_remainder(&BigUint::from(5u8), &weights(&[("a", 0)])),
            Err(SplitError::NoWeight)
        );
        assert_eq!(
            largest_remainder(&BigUint::from(5u8), &BTreeMap::new()),
            Err(SplitError::NoWeight)
        );
    }

    fn big(digits: &[u8]) -> BigUint {
        BigUint::from_bytes_be(digits)
    }

    proptest! {
        #[test]
        fn parts_sum_to_the_pool_and_stay_within_one_of_the_exact_share(
            pool in proptest::collection::vec(any::<u8>(), 0..40),
            ws in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..48), 1..12),
        ) {
            let pool = big(&pool);
            let weights: BTreeMap<String, BigUint> = ws
                .iter()
                .enumerate()
                .map(|(i, w)| (format!("k{i:02}"), big(w)))
                .collect();
            let total: BigUint = weights.values().sum();
            match largest_remainder(&pool, &weights) {
                Err(SplitError::NoWeight) => prop_assert!(total.is_zero()),
                Ok(parts) => {
                    let sum: BigUint = parts.values().sum();
                    prop_assert_eq!(&sum, &pool);
                    prop_assert_eq!(parts.len(), weights.len());
                    for (k, w) in &weights {
                        // |part·W − pool·w| < W  ⇔  |part − exact share| < 1.
                        let lhs = BigInt::from(parts[k].clone() * &total);
                        let rhs = BigInt::from(&pool * w);
                        let diff = (lhs - rhs).magnitude().clone();
                        prop_assert!(diff < total, "key {} off by a unit or more", k);
                    }
                }
            }
        }
    }
}
