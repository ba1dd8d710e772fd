//! ANS-104 binary bundles (ANS-104 §1.2; the SU's `DataBundle`):
//!
//! ```text
//! u256 LE item count
//! count × ( u256 LE item size ‖ 32-byte id = sha256(signature) )
//! item_0 ‖ item_1 ‖ …
//! ```
//!
//! The SU stores every scheduled message as such a bundle (`[assignment, message]`), carried in
//! an item tagged `Bundle-Format: binary`, `Bundle-Version: 2.0.0`.

use super::b64url_encode;
use super::item::{DataItem, ItemError};

/// Why a bundle was rejected. Errors about one item name its index (0-based).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Fewer than the 32 bytes of the item count.
    #[error("bundle: {len} bytes is too short for the 32-byte item count")]
    TooShort {
        /// The bundle's length.
        len: usize,
    },
    /// The item count has bits above 64 set.
    #[error("bundle: the item count does not fit in 64 bits")]
    CountTooLarge,
    /// The headers announced by the count do not fit in the bundle.
    #[error(
        "bundle: {count} items need {needed} bytes of headers, but only {available} bytes follow the count"
    )]
    HeadersTruncated {
        /// The announced item count.
        count: u64,
        /// The header bytes that count needs (64 per item).
        needed: u128,
        /// The bytes after the count.
        available: usize,
    },
    /// An item size has bits above 64 set.
    #[error("item {index}: the size in its header does not fit in 64 bits")]
    SizeTooLarge {
        /// The item's index.
        index: usize,
    },
    /// An item's size runs past the end of the bundle.
    #[error("item {index}: the header says {size} bytes, but only {available} bytes remain")]
    ItemTruncated {
        /// The item's index.
        index: usize,
        /// The size in the header.
        size: u64,
        /// The bytes left in the bundle.
        available: usize,
    },
    /// Bytes after the last item: the sizes do not add up to the bundle's length.
    #[error("bundle: {extra} bytes after the last item (the item sizes do not add up)")]
    TrailingBytes {
        /// The unexpected bytes.
        extra: usize,
    },
    /// An item is malformed or (for [`read_bundle_verified`]) its signature does not verify.
    #[error("item {index}: {source}")]
    Item {
        /// The item's index.
        index: usize,
        /// What is wrong with the item.
        #[source]
        source: ItemError,
    },
    /// The header's id is not sha256 of the item's signature.
    #[error("item {index}: the header id is {header} but the item's id is {actual}")]
    IdMismatch {
        /// The item's index.
        index: usize,
        /// The id in the header (base64url).
        header: String,
        /// sha256(signature) of the item (base64url).
        actual: String,
    },
}

impl BundleError {
    /// The index of the item the error is about, if it is about one.
    pub fn index(&self) -> Option<usize> {
        match self {
            BundleError::SizeTooLarge { index }
            | BundleError::ItemTruncated { index, .. }
            | BundleError::Item { index, .. }
            | BundleError::IdMismatch { index, .. } => Some(*index),
            BundleError::TooShort { .. }
            | BundleError::CountTooLarge
            | BundleError::HeadersTruncated { .. }
            | BundleError::TrailingBytes { .. } => None,
        }
    }
}

/// A little-endian u256 that must fit in 64 bits. (The reference SU silently reads only the low
/// 8 bytes; a larger value cannot describe real data, so it is an error here.)
fn u256_le(bytes: &[u8]) -> Option<u64> {
    let (low, high) = bytes.split_at(8);
    if high.iter().any(|&b| b != 0) {
        return None;
    }
    let mut buf = [0u8; 8];
    buf.copy_from_slice(low);
    Some(u64::from_le_bytes(buf))
}

fn write_u256_le(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
    out.extend_from_slice(&[0u8; 24]);
}

/// Reads a bundle: checks the layout, that the item sizes add up to exactly the bundle's length,
/// that every item parses, and that every header id is sha256 of its item's signature.
/// Signatures are not verified (see [`read_bundle_verified`]).
pub fn read_bundle(bytes: &[u8]) -> Result<Vec<DataItem>, BundleError> {
    read(bytes, false)
}

/// Like [`read_bundle`], and also verifies every item's signature.
pub fn read_bundle_verified(bytes: &[u8]) -> Result<Vec<DataItem>, BundleError> {
    read(bytes, true)
}

fn read(bytes: &[u8], verify: bool) -> Result<Vec<DataItem>, BundleError> {
    let Some((count_bytes, rest)) = bytes.split_at_checked(32) else {
        return Err(BundleError::TooShort { len: bytes.len() });
    };
    let count = u256_le(count_bytes).ok_or(BundleError::CountTooLarge)?;
    // Check before allocating anything sized by an untrusted count.
    let needed = u128::from(count) * 64;
    let header_len = usize::try_from(needed)
        .ok()
        .filter(|&len| len <= rest.len())
        .ok_or(BundleError::HeadersTruncated {
            count,
            needed,
            available: rest.len(),
        })?;
    let (headers, mut body) = rest.split_at(header_len);
    let mut items = Vec::with_capacity(headers.len() / 64);
    for (index, header) in headers.chunks_exact(64).enumerate() {
        let (size_bytes, id) = header.split_at(32);
        let size = u256_le(size_bytes).ok_or(BundleError::SizeTooLarge { index })?;
        let item_bytes;
        (item_bytes, body) = usize::try_from(size)
            .ok()
            .and_then(|size| body.split_at_checked(size))
            .ok_or(BundleError::ItemTruncated {
                index,
                size,
                available: body.len(),
            })?;
        let parsed = if verify {
            DataItem::parse_verified(item_bytes)
        } else {
            DataItem::parse(item_bytes)
        };
        let item = parsed.map_err(|source| BundleError::Item { index, source })?;
        let actual = item.id();
        if actual.as_slice() != id {
            return Err(BundleError::IdMismatch {
                index,
                header: b64url_encode(id),
                actual: b64url_encode(&actual),
            });
        }
        items.push(item);
    }
    if !body.is_empty() {
        return Err(BundleError::TrailingBytes { extra: body.len() });
    }
    Ok(items)
}

/// Writes a bundle of `items`, in order.
pub fn write_bundle(items: &[DataItem]) -> Vec<u8> {
    let encoded: Vec<Vec<u8>> = items.iter().map(DataItem::to_bytes).collect();
    let body_len: usize = encoded.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(32 + 64 * items.len() + body_len);
    write_u256_le(&mut out, items.len() as u64);
    for (item, bytes) in items.iter().zip(&encoded) {
        write_u256_le(&mut out, bytes.len() as u64);
        out.extend_from_slice(&item.id());
    }
    for bytes in &encoded {
        out.extend_from_slice(bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ans104::signer::{Ed25519Signer, EthereumSigner, SolanaHexSigner};
    use crate::ans104::tags::Tag;
    use crate::ans104::test_support::su_vector;

    fn items() -> Vec<DataItem> {
        let ed = Ed25519Signer::from_secret(&[1; 32]);
        let eth = EthereumSigner::from_secret(&[2; 32]).unwrap();
        let sol = SolanaHexSigner::from_secret(&[3; 32]);
        vec![
            DataItem::sign(
                &ed,
                None,
                None,
                vec![Tag::new("Type", "Assignment")],
                vec![],
            )
            .unwrap(),
            DataItem::sign(&eth, Some([5; 32]), None, vec![], b"message".to_vec()).unwrap(),
            DataItem::sign(&sol, None, Some([6; 32]), vec![], vec![0; 1000]).unwrap(),
        ]
    }

    #[test]
    fn round_trip_and_layout() {
        let items = items();
        let bytes = write_bundle(&items);
        // Count, then (size, id) headers, then the items.
        assert_eq!(&bytes[..8], &3u64.to_le_bytes());
        assert!(bytes[8..32].iter().all(|&b| b == 0));
        let first_len = items[0].to_bytes().len() as u64;
        assert_eq!(&bytes[32..40], &first_len.to_le_bytes());
        assert_eq!(&bytes[64..96], &items[0].id());
        assert_eq!(&bytes[128..160], &items[1].id());
        assert_eq!(&bytes[192..224], &items[2].id());
        assert_eq!(
            &bytes[32 + 3 * 64..32 + 3 * 64 + first_len as usize],
            items[0].to_bytes().as_slice()
        );
        assert_eq!(read_bundle(&bytes).unwrap(), items);
        assert_eq!(read_bundle_verified(&bytes).unwrap(), items);
        assert_eq!(write_bundle(&read_bundle(&bytes).unwrap()), bytes);
    }

    #[test]
    fn empty_bundle() {
        let bytes = write_bundle(&[]);
        assert_eq!(bytes, vec![0u8; 32]);
        assert_eq!(read_bundle(&bytes).unwrap(), Vec::<DataItem>::new());
    }

    #[test]
    fn su_vector_in_a_bundle() {
        let Some(raw) = su_vector() else { return };
        let item = DataItem::parse(&raw).unwrap();
        let bytes = write_bundle(&[item.clone(), items()[0].clone()]);
        let read = read_bundle_verified(&bytes).unwrap();
        assert_eq!(read[0].to_bytes(), raw);
    }

    #[test]
    fn wrong_id_is_rejected_with_its_index() {
        let mut bytes = write_bundle(&items());
        // The id of item 1 sits at 32 + 64 + 32.
        bytes[32 + 64 + 32] ^= 1;
        let err = read_bundle(&bytes).unwrap_err();
        assert_eq!(err.index(), Some(1));
        assert!(
            matches!(err, BundleError::IdMismatch { index: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().starts_with("item 1: the header id is "));
    }

    #[test]
    fn truncated_bundles_are_rejected_everywhere() {
        let bytes = write_bundle(&items());
        for len in 0..bytes.len() {
            assert!(read_bundle(&bytes[..len]).is_err(), "length {len}");
        }
        assert_eq!(
            read_bundle(&bytes[..10]).unwrap_err(),
            BundleError::TooShort { len: 10 }
        );
        assert!(matches!(
            read_bundle(&bytes[..100]).unwrap_err(),
            BundleError::HeadersTruncated { count: 3, .. }
        ));
        let err = read_bundle(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(
            matches!(err, BundleError::ItemTruncated { index: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn sizes_must_add_up_exactly() {
        let mut bytes = write_bundle(&items());
        bytes.push(0);
        assert_eq!(
            read_bundle(&bytes).unwrap_err(),
            BundleError::TrailingBytes { extra: 1 }
        );
        // Item 0 one byte longer: it swallows the first byte of item 1, whose parse then fails.
        let mut bytes = write_bundle(&items());
        bytes[32] += 1;
        let err = read_bundle(&bytes).unwrap_err();
        assert!(err.index().is_some(), "{err}");
    }

    #[test]
    fn oversized_counts_and_sizes_are_rejected_without_allocating() {
        let mut bytes = vec![0u8; 32];
        bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            read_bundle(&bytes).unwrap_err(),
            BundleError::HeadersTruncated {
                count: u64::MAX,
                ..
            }
        ));
        let mut bytes = vec![0u8; 32];
        bytes[31] = 1;
        assert_eq!(read_bundle(&bytes).unwrap_err(), BundleError::CountTooLarge);
        let mut bytes = write_bundle(&items());
        bytes[32 + 64 + 20] = 1;
        assert_eq!(
            read_bundle(&bytes).unwrap_err(),
            BundleError::SizeTooLarge { index: 1 }
        );
    }

    #[test]
    fn item_errors_carry_the_index_and_the_field() {
        let list = items();
        let mut bytes = write_bundle(&list);
        // Corrupt item 2's signature type.
        let start = 32 + 3 * 64 + list[0].to_bytes().len() + list[1].to_bytes().len();
        bytes[start] = 9;
        let err = read_bundle(&bytes).unwrap_err();
        match &err {
            BundleError::Item { index: 2, source } => {
                assert_eq!(source.field(), "signature_type");
            }
            other => panic!("unexpected {other}"),
        }
        assert_eq!(
            err.to_string(),
            "item 2: signature_type: unknown signature type 9"
        );
    }

    #[test]
    fn verified_reading_checks_signatures() {
        let list = items();
        let mut bytes = write_bundle(&list);
        // Change item 1's data: the id (sha256 of the signature) still matches.
        let end_of_1 = 32 + 3 * 64 + list[0].to_bytes().len() + list[1].to_bytes().len();
        bytes[end_of_1 - 1] ^= 1;
        assert!(read_bundle(&bytes).is_ok());
        let err = read_bundle_verified(&bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "item 1: signature: does not verify for signature type 3 (ethereum)"
        );
    }
}
