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
use ruint::aliases::{U256, U512};

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
    // Keys in map order are indices in ascending key order, so "smaller index" is "smaller key".
    let list: Vec<&BigUint> = weights.values().collect();
    let parts = split_indexed(pool, &list)?;
    Ok(weights.keys().cloned().zip(parts).collect())
}

/// As [`largest_remainder`] for `u128` amounts (armstrongs); the weights may be any size.
pub fn split_u128(
    pool: u128,
    weights: &BTreeMap<String, BigUint>,
) -> Result<BTreeMap<String, u128>, SplitError> {
    let list: Vec<&BigUint> = weights.values().collect();
    let parts = split_u128_indexed(pool, &list)?;
    Ok(weights.keys().cloned().zip(parts).collect())
}

/// Splits `pool` over weights given in key order (ties past the weight go to the smaller
/// index); the parts come back in the same order.
pub fn split_indexed(pool: &BigUint, weights: &[&BigUint]) -> Result<Vec<BigUint>, SplitError> {
    let mut total = BigUint::zero();
    for w in weights {
        total += *w;
    }
    if total.is_zero() {
        return Err(SplitError::NoWeight);
    }
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut given = BigUint::zero();
    for (index, weight) in weights.iter().enumerate() {
        let (part, remainder) = (pool * *weight).div_rem(&total);
        given += &part;
        if !weight.is_zero() {
            remainders.push((remainder, index));
        }
        parts.push(part);
    }
    // Fewer than `remainders.len()` units are left, so each goes to a different key.
    let left = pool - &given;
    for index in winners(&mut remainders, weights, &left) {
        parts[index] += 1u32;
    }
    Ok(parts)
}

/// As [`split_indexed`] for a `u128` pool (the parts fit `u128` by construction). Weights of
/// up to 256 bits take the fixed-width path.
pub fn split_u128_indexed(pool: u128, weights: &[&BigUint]) -> Result<Vec<u128>, SplitError> {
    match weights
        .iter()
        .map(|w| to_u256(w))
        .collect::<Option<Vec<U256>>>()
    {
        Some(wide) => split_u128_u256(pool, &wide),
        None => split_u128_big(pool, weights),
    }
}

/// As [`split_indexed`] for a `u128` pool over 256-bit weights: without big-number
/// allocations unless the weights sum past 2^256.
pub fn split_u128_u256(pool: u128, weights: &[U256]) -> Result<Vec<u128>, SplitError> {
    if let Some(parts) = split_u128_wide(pool, weights)? {
        return Ok(parts);
    }
    let big: Vec<BigUint> = weights
        .iter()
        .map(|w| BigUint::from_bytes_le(&w.to_le_bytes::<32>()))
        .collect();
    split_u128_big(pool, &big.iter().collect::<Vec<_>>())
}

fn split_u128_big(pool: u128, weights: &[&BigUint]) -> Result<Vec<u128>, SplitError> {
    let parts = split_indexed(&BigUint::from(pool), weights)?;
    // Every part is at most the pool, which fits.
    Ok(parts
        .iter()
        .map(|p| u128::try_from(p).unwrap_or(pool))
        .collect())
}

/// `w` as a 256-bit integer, if it fits.
pub fn to_u256(w: &BigUint) -> Option<U256> {
    let mut limbs = [0u64; 4];
    for (i, digit) in w.iter_u64_digits().enumerate() {
        *limbs.get_mut(i)? = digit;
    }
    Some(U256::from_limbs(limbs))
}

/// The largest-remainder split of a `u128` pool over 256-bit weights without big-number
/// allocations: the same result as [`split_indexed`] (same ties), or `None` when the weights
/// sum past 2^256 (the caller then takes the big-number path).
pub fn split_u128_wide(pool: u128, weights: &[U256]) -> Result<Option<Vec<u128>>, SplitError> {
    let mut total = U256::ZERO;
    for w in weights {
        match total.checked_add(*w) {
            Some(t) => total = t,
            None => return Ok(None),
        }
    }
    if total.is_zero() {
        return Err(SplitError::NoWeight);
    }
    let widen = |v: &U256| U512::from_limbs_slice(v.as_limbs());
    let (pool_wide, total_wide) = (U512::from(pool), widen(&total));
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(U256, usize)> = Vec::with_capacity(weights.len());
    let mut given = 0u128;
    for (index, weight) in weights.iter().enumerate() {
        // pool < 2^128 and weight < 2^256: the product fits 512 bits.
        let (part, remainder) = (pool_wide * widen(weight)).div_rem(total_wide);
        // part ≤ pool and remainder < total: both narrow back.
        let part = u128::try_from(part).unwrap_or(pool);
        given += part;
        if !weight.is_zero() {
            let r = U256::checked_from_limbs_slice(&remainder.as_limbs()[..4]).unwrap_or(U256::MAX);
            remainders.push((r, index));
        }
        parts.push(part);
    }
    for index in winners(&mut remainders, weights, pool - given) {
        parts[index] += 1;
    }
    Ok(Some(parts))
}

/// The indices that get one of the `left` units: the `left` largest remainders, ties to the
/// larger weight, then to the smaller index. Only the winners are selected (linear time), not
/// the whole list sorted.
fn winners<R: Ord, W: Ord>(
    remainders: &mut [(R, usize)],
    weights: &[W],
    left: impl TryInto<usize>,
) -> Vec<usize> {
    let left = left.try_into().unwrap_or(usize::MAX).min(remainders.len());
    if left == 0 {
        return Vec::new();
    }
    let order = |a: &(R, usize), b: &(R, usize)| {
        (Reverse(&a.0), Reverse(&weights[a.1]), a.1).cmp(&(
            Reverse(&b.0),
            Reverse(&weights[b.1]),
            b.1,
        ))
    };
    if left < remainders.len() {
        remainders.select_nth_unstable_by(left - 1, order);
    }
    remainders[..left].iter().map(|(_, index)| *index).collect()
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

        #[test]
        fn the_fixed_width_path_gives_the_big_number_split(
            pool in any::<u128>(),
            ws in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..33), 1..40),
            ties in any::<bool>(),
        ) {
            // Equal weights (ties) are the interesting case for the order of the winners.
            let mut weights: Vec<BigUint> = ws.iter().map(|w| big(w)).collect();
            if ties {
                let first = weights[0].clone();
                for w in weights.iter_mut().step_by(2) {
                    *w = first.clone();
                }
            }
            let refs: Vec<&BigUint> = weights.iter().collect();
            let by_big = split_indexed(&BigUint::from(pool), &refs);
            let wide: Option<Vec<U256>> = weights.iter().map(to_u256).collect();
            let wide = wide.expect("32 bytes fit 256 bits");
            match (split_u128_wide(pool, &wide), by_big) {
                (Ok(Some(parts)), Ok(expected)) => {
                    let expected: Vec<u128> =
                        expected.iter().map(|p| u128::try_from(p).unwrap()).collect();
                    prop_assert_eq!(parts, expected);
                }
                // The weights summed past 2^256: the caller falls back.
                (Ok(None), Ok(_)) => {}
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (a, b) => prop_assert!(false, "paths disagree: {:?} vs {:?}", a, b),
            }
        }
    }
}
