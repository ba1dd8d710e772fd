//! ANS-104 data items: parsing, byte-exact serialisation, ids and verification.
//!
//! ```text
//! u16 LE signature type | signature | owner
//! u8 target presence (0|1) | [32-byte target]
//! u8 anchor presence (0|1) | [32-byte anchor]
//! u64 LE tag count | u64 LE tag byte length | Avro tag block | data (the rest)
//! ```
//!
//! The checks are those arbundles' `verify` applies (length ≥ 80, tag bytes ≤ 4096, tag count
//! matches, signature), plus the ones the spec and the reference SU add (presence bytes exactly 0
//! or 1, nothing missing). The spec's limits of 128 tags, 1024-byte names, 3072-byte values and
//! non-empty tags are deliberately not enforced: arbundles and aoconnect accept such items.

use sha2::{Digest, Sha256};

use super::b64url_encode;
use super::deep_hash::{DeepHashChunk, deep_hash};
use super::signer::{self, SignatureType, Signer};
use super::tags::{Tag, decode_tags, encode_tags};

/// The smallest item arbundles accepts (`MIN_BINARY_SIZE`).
pub const MIN_ITEM_LEN: usize = 80;

/// The largest Avro tag block arbundles accepts or creates (`MAX_TAG_BYTES`).
pub const MAX_TAG_BYTES: usize = 4096;

/// Why an item (or a value meant for one) was rejected. Every variant names the offending field,
/// available as [`ItemError::field`] and as the prefix of the message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ItemError {
    /// The item is shorter than [`MIN_ITEM_LEN`].
    #[error("length: item is {len} bytes, the minimum is {min}")]
    TooShort {
        /// The item's length.
        len: usize,
        /// The minimum length.
        min: usize,
    },
    /// The signature type is not 1–4.
    #[error("signature_type: unknown signature type {0}")]
    UnknownSignatureType(u16),
    /// The item ends while `field` is being read.
    #[error("{field}: needs {needed} bytes at offset {offset}, but only {available} remain")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where the field starts.
        offset: usize,
        /// The bytes the field needs.
        needed: u64,
        /// The bytes left in the item.
        available: usize,
    },
    /// The target presence byte is neither 0 nor 1 (field `target_presence`).
    #[error("target: presence byte is {0}, expected 0 or 1")]
    BadTargetPresence(u8),
    /// The anchor presence byte is neither 0 nor 1 (field `anchor_presence`).
    #[error("anchor: presence byte is {0}, expected 0 or 1")]
    BadAnchorPresence(u8),
    /// The tag block is larger than [`MAX_TAG_BYTES`].
    #[error("tag_bytes: {len} bytes of tags, the limit is {MAX_TAG_BYTES}")]
    TooManyTagBytes {
        /// The tag block's length.
        len: u64,
    },
    /// The tag block is not valid Avro.
    #[error("tags: {reason} (at byte {offset} of the tag block)")]
    BadTags {
        /// The offset in the tag block where the bad value starts.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// The number of decoded tags differs from the header's tag count.
    #[error("tags: {decoded} tags decoded but the header says {header}")]
    TagCountMismatch {
        /// Tags found in the tag block.
        decoded: usize,
        /// The header's count.
        header: u64,
    },
    /// The owner cannot be a public key of the item's signature type.
    #[error("owner: {reason} (signature type {signature_type})")]
    BadOwner {
        /// The item's signature type.
        signature_type: SignatureType,
        /// What is wrong.
        reason: &'static str,
    },
    /// The signature does not verify.
    #[error("signature: does not verify for signature type {0}")]
    BadSignature(SignatureType),
    /// A value has the wrong length.
    #[error("{field}: expected {expected} bytes, got {actual}")]
    WrongLength {
        /// The field.
        field: &'static str,
        /// The required length.
        expected: usize,
        /// The length found.
        actual: usize,
    },
    /// Text that should be base64url is not.
    #[error("{field}: invalid base64url ({reason})")]
    Base64 {
        /// The field.
        field: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// A key given to a signer is unusable.
    #[error("{field}: {reason}")]
    InvalidKey {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

impl ItemError {
    /// The offending field: `length`, `signature_type`, `signature`, `owner`,
    /// `target_presence`, `target`, `anchor_presence`, `anchor`, `tag_count`, `tag_bytes`,
    /// `tags`, or the name a caller gave (for base64url values and keys).
    pub fn field(&self) -> &'static str {
        match self {
            ItemError::TooShort { .. } => "length",
            ItemError::UnknownSignatureType(_) => "signature_type",
            ItemError::BadTargetPresence(_) => "target_presence",
            ItemError::BadAnchorPresence(_) => "anchor_presence",
            ItemError::TooManyTagBytes { .. } => "tag_bytes",
            ItemError::BadTags { .. } | ItemError::TagCountMismatch { .. } => "tags",
            ItemError::BadOwner { .. } => "owner",
            ItemError::BadSignature(_) => "signature",
            ItemError::Truncated { field, .. }
            | ItemError::WrongLength { field, .. }
            | ItemError::Base64 { field, .. }
            | ItemError::InvalidKey { field, .. } => field,
        }
    }
}

/// A signed ANS-104 data item.
///
/// The fields are public for reading. Changing any of them invalidates the signature, and
/// `tags` is a decoded view only: the raw tag block ([`DataItem::raw_tags`]) is what is
/// serialised and signed, so edits to `tags` are not written out (make a new item with
/// [`DataItem::sign`] instead).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataItem {
    /// How the item is signed.
    pub signature_type: SignatureType,
    /// The signature; its sha256 is the item's id.
    pub signature: Vec<u8>,
    /// The signer's public key.
    pub owner: Vec<u8>,
    /// The target (a process or wallet), if any.
    pub target: Option<[u8; 32]>,
    /// The anchor, if any.
    pub anchor: Option<[u8; 32]>,
    /// The tags, decoded from `raw_tags` (invalid UTF-8 replaced).
    pub tags: Vec<Tag>,
    /// The tag block exactly as received or as encoded when signing.
    raw_tags: Vec<u8>,
    /// The data.
    pub data: Vec<u8>,
}

/// Reads an item field by field, reporting which field ran out of bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, len: u64, field: &'static str) -> Result<&'a [u8], ItemError> {
        let available = self.bytes.len() - self.pos;
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= available)
            .ok_or(ItemError::Truncated {
                field,
                offset: self.pos,
                needed: len,
                available,
            })?;
        let out = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, ItemError> {
        Ok(self.take(1, field)?[0])
    }

    fn u64_le(&mut self, field: &'static str) -> Result<u64, ItemError> {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.take(8, field)?);
        Ok(u64::from_le_bytes(buf))
    }

    fn optional_32(
        &mut self,
        presence_field: &'static str,
        field: &'static str,
        bad_presence: fn(u8) -> ItemError,
    ) -> Result<Option<[u8; 32]>, ItemError> {
        match self.byte(presence_field)? {
            0 => Ok(None),
            1 => {
                let mut out = [0u8; 32];
                out.copy_from_slice(self.take(32, field)?);
                Ok(Some(out))
            }
            other => Err(bad_presence(other)),
        }
    }

    fn rest(&mut self) -> &'a [u8] {
        let out = &self.bytes[self.pos..];
        self.pos = self.bytes.len();
        out
    }
}

impl DataItem {
    /// Parses an item without verifying its signature. Keeps every byte as received, so
    /// [`DataItem::to_bytes`] gives `bytes` back exactly.
    pub fn parse(bytes: &[u8]) -> Result<DataItem, ItemError> {
        if bytes.len() < MIN_ITEM_LEN {
            return Err(ItemError::TooShort {
                len: bytes.len(),
                min: MIN_ITEM_LEN,
            });
        }
        let mut cursor = Cursor { bytes, pos: 0 };
        let type_bytes = cursor.take(2, "signature_type")?;
        let signature_type =
            SignatureType::from_u16(u16::from_le_bytes([type_bytes[0], type_bytes[1]]))?;
        let signature = cursor
            .take(signature_type.signature_len() as u64, "signature")?
            .to_vec();
        let owner = cursor
            .take(signature_type.owner_len() as u64, "owner")?
            .to_vec();
        let target =
            cursor.optional_32("target_presence", "target", ItemError::BadTargetPresence)?;
        let anchor =
            cursor.optional_32("anchor_presence", "anchor", ItemError::BadAnchorPresence)?;
        let tag_count = cursor.u64_le("tag_count")?;
        let tag_bytes_len = cursor.u64_le("tag_bytes")?;
        if tag_bytes_len > MAX_TAG_BYTES as u64 {
            return Err(ItemError::TooManyTagBytes { len: tag_bytes_len });
        }
        let raw_tags = cursor.take(tag_bytes_len, "tags")?.to_vec();
        let tags = decode_tags(&raw_tags)?;
        // Also when the header says 0: arbundles only compares non-zero counts, but an item
        // whose header hides its tags would show different tags to different readers.
        if tags.len() as u64 != tag_count {
            return Err(ItemError::TagCountMismatch {
                decoded: tags.len(),
                header: tag_count,
            });
        }
        let data = cursor.rest().to_vec();
        Ok(DataItem {
            signature_type,
            signature,
            owner,
            target,
            anchor,
            tags,
            raw_tags,
            data,
        })
    }

    /// Parses an item and verifies its signature.
    pub fn parse_verified(bytes: &[u8]) -> Result<DataItem, ItemError> {
        let item = DataItem::parse(bytes)?;
        item.verify()?;
        Ok(item)
    }

    /// The item's wire bytes: the exact inverse of [`DataItem::parse`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            2 + self.signature.len()
                + self.owner.len()
                + 2
                + 64
                + 16
                + self.raw_tags.len()
                + self.data.len(),
        );
        out.extend_from_slice(&self.signature_type.as_u16().to_le_bytes());
        out.extend_from_slice(&self.signature);
        out.extend_from_slice(&self.owner);
        for field in [&self.target, &self.anchor] {
            match field {
                Some(bytes) => {
                    out.push(1);
                    out.extend_from_slice(bytes);
                }
                None => out.push(0),
            }
        }
        out.extend_from_slice(&(self.tags.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.raw_tags.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.raw_tags);
        out.extend_from_slice(&self.data);
        out
    }

    /// The Avro tag block as received (or as encoded when signing).
    pub fn raw_tags(&self) -> &[u8] {
        &self.raw_tags
    }

    /// The 48-byte message every signature type signs:
    /// `deepHash(["dataitem", "1", ascii(type), owner, target | [], anchor | [], rawTags, data])`.
    ///
    /// The raw tag bytes are hashed, as arbundles does; the reference SU hashes a re-encoding,
    /// which is identical for canonical (arbundles-written) tag blocks.
    pub fn signature_data(&self) -> [u8; 48] {
        let type_text = self.signature_type.as_u16().to_string();
        let target: &[u8] = self.target.as_ref().map_or(&[], |t| t.as_slice());
        let anchor: &[u8] = self.anchor.as_ref().map_or(&[], |a| a.as_slice());
        deep_hash(&DeepHashChunk::List(vec![
            DeepHashChunk::Blob(b"dataitem"),
            DeepHashChunk::Blob(b"1"),
            DeepHashChunk::Blob(type_text.as_bytes()),
            DeepHashChunk::Blob(&self.owner),
            DeepHashChunk::Blob(target),
            DeepHashChunk::Blob(anchor),
            DeepHashChunk::Blob(&self.raw_tags),
            DeepHashChunk::Blob(&self.data),
        ]))
    }

    /// Verifies the signature (see [`signer`] for each type's rules).
    pub fn verify(&self) -> Result<(), ItemError> {
        signer::verify_signature(
            self.signature_type,
            &self.owner,
            &self.signature,
            &self.signature_data(),
        )
    }

    /// The raw id: sha256(signature).
    pub fn id(&self) -> [u8; 32] {
        Sha256::digest(&self.signature).into()
    }

    /// The id as AO writes it: 43 characters of base64url.
    pub fn id_b64(&self) -> String {
        b64url_encode(&self.id())
    }

    /// The owner's address (see [`signer::owner_address`]).
    pub fn owner_address(&self) -> String {
        signer::owner_address(self.signature_type, &self.owner)
    }

    /// The value of the first tag named exactly `name`.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|tag| tag.name == name)
            .map(|tag| tag.value.as_str())
    }

    /// Creates and signs an item. The tags are encoded as arbundles does; more than
    /// [`MAX_TAG_BYTES`] of them is an error naming `tag_bytes`. The new item is verified
    /// before it is returned, so a faulty [`Signer`] cannot produce an item others reject.
    pub fn sign(
        signer: &dyn Signer,
        target: Option<[u8; 32]>,
        anchor: Option<[u8; 32]>,
        tags: Vec<Tag>,
        data: Vec<u8>,
    ) -> Result<DataItem, ItemError> {
        let raw_tags = encode_tags(&tags);
        if raw_tags.len() > MAX_TAG_BYTES {
            return Err(ItemError::TooManyTagBytes {
                len: raw_tags.len() as u64,
            });
        }
        let signature_type = signer.signature_type();
        let owner = signer.owner();
        if owner.len() != signature_type.owner_len() {
            return Err(ItemError::WrongLength {
                field: "owner",
                expected: signature_type.owner_len(),
                actual: owner.len(),
            });
        }
        let mut item = DataItem {
            signature_type,
            signature: Vec::new(),
            owner,
            target,
            anchor,
            tags,
            raw_tags,
            data,
        };
        let signature = signer.sign(&item.signature_data());
        if signature.len() != signature_type.signature_len() {
            return Err(ItemError::WrongLength {
                field: "signature",
                expected: signature_type.signature_len(),
                actual: signature.len(),
            });
        }
        item.signature = signature;
        item.verify()?;
        Ok(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ans104::signer::{ArweaveSigner, Ed25519Signer, EthereumSigner, SolanaHexSigner};
    use crate::ans104::test_support::{su_vector, test_rsa_key};
    use crate::ans104::{b64url_decode_32, owner_address};
    use proptest::prelude::*;

    fn ao_tags() -> Vec<Tag> {
        vec![
            Tag::new("Data-Protocol", "ao"),
            Tag::new("function", "raw"),
            Tag::new("Data-Protocol", "ao"),
            Tag::new("ao-type", "message"),
            Tag::new("SDK", "ao"),
        ]
    }

    #[test]
    fn su_vector_round_trips_and_verifies() {
        let Some(bytes) = su_vector() else { return };
        assert_eq!(bytes.len(), 1152);
        let item = DataItem::parse(&bytes).unwrap();
        assert_eq!(item.to_bytes(), bytes);
        assert_eq!(DataItem::parse_verified(&bytes).unwrap(), item);
        assert_eq!(item.id_b64(), "6oYAxVAnH8yKsZKpMgHSbRv7uVWey68PAqYuSXeZBbg");
        assert_eq!(item.signature_type, SignatureType::Arweave);
        assert_eq!(item.tags, ao_tags());
        assert_eq!(item.raw_tags().len(), 72);
        assert_eq!(item.data, b"6583");
        assert_eq!(item.anchor, None);
        assert_eq!(
            item.target,
            Some(
                b64url_decode_32("-oM8CYgbqsRcpI3tE_cpGM3kgDlamnYjSGA4nptPao0", "target").unwrap()
            )
        );
        assert_eq!(item.tag("Data-Protocol"), Some("ao"));
        assert_eq!(item.tag("ao-type"), Some("message"));
        assert_eq!(item.tag("data-protocol"), None);
        // base64url(sha256(owner)), computed independently with Python's hashlib.
        assert_eq!(
            item.owner_address(),
            "4QKhXnyl1z3HEPprMKfTeXrWPRuQjK6O99k5SFKGuck"
        );
    }

    #[test]
    fn su_vector_uses_the_maximum_salt_length() {
        let Some(bytes) = su_vector() else { return };
        let item = DataItem::parse(&bytes).unwrap();
        let n = rsa::BigUint::from_bytes_be(&item.owner);
        let m =
            rsa::BigUint::from_bytes_be(&item.signature).modpow(&rsa::BigUint::from(65_537u32), &n);
        let mut em = vec![0u8; 512];
        let m_bytes = m.to_bytes_be();
        em[512 - m_bytes.len()..].copy_from_slice(&m_bytes);
        let m_hash: [u8; 32] = Sha256::digest(item.signature_data()).into();
        assert_eq!(
            signer::emsa_pss_verify_auto(&em, n.bits() - 1, &m_hash),
            Some(478)
        );
    }

    /// Every single-byte change must be rejected: the id, owner and all signed fields are bound.
    fn assert_every_flip_fails(bytes: &[u8]) {
        assert_flips_fail(bytes, 0..bytes.len());
    }

    fn assert_flips_fail(bytes: &[u8], positions: impl Iterator<Item = usize>) {
        for i in positions {
            for mask in [0xff, 0x01] {
                let mut flipped = bytes.to_vec();
                flipped[i] ^= mask;
                assert!(
                    DataItem::parse_verified(&flipped).is_err(),
                    "flipping byte {i} with {mask:#04x} still verifies"
                );
            }
        }
    }

    #[test]
    fn su_vector_every_single_byte_flip_fails() {
        let Some(bytes) = su_vector() else { return };
        assert_every_flip_fails(&bytes);
    }

    fn signers() -> Vec<Box<dyn Signer>> {
        vec![
            Box::new(Ed25519Signer::from_secret(&[1; 32])),
            Box::new(EthereumSigner::from_secret(&[2; 32]).unwrap()),
            Box::new(SolanaHexSigner::from_secret(&[3; 32])),
            Box::new(Ed25519Signer::generate()),
            Box::new(EthereumSigner::generate()),
            Box::new(SolanaHexSigner::generate()),
        ]
    }

    /// Target, anchor, tags and data for a test item.
    type Variant = (Option<[u8; 32]>, Option<[u8; 32]>, Vec<Tag>, Vec<u8>);

    #[test]
    fn sign_verify_round_trips_for_types_2_3_4() {
        let variants: [Variant; 4] = [
            (None, None, vec![], vec![]),
            (Some([0xaa; 32]), None, ao_tags(), b"hello".to_vec()),
            (
                None,
                Some(*b"00000000000000000000000000000042"),
                vec![],
                vec![0; 300],
            ),
            (
                Some([1; 32]),
                Some([2; 32]),
                vec![Tag::new("Empty", ""), Tag::new("é", "ü")],
                vec![],
            ),
        ];
        for (n, signer) in signers().iter().enumerate() {
            for (target, anchor, tags, data) in variants.clone() {
                let item =
                    DataItem::sign(signer.as_ref(), target, anchor, tags.clone(), data.clone())
                        .unwrap();
                assert_eq!(item.signature_type, signer.signature_type());
                assert_eq!(item.target, target);
                assert_eq!(item.anchor, anchor);
                assert_eq!(item.tags, tags);
                assert_eq!(item.data, data);
                let bytes = item.to_bytes();
                let parsed = DataItem::parse_verified(&bytes).unwrap();
                assert_eq!(parsed, item);
                assert_eq!(parsed.to_bytes(), bytes);
                assert_eq!(item.id(), <[u8; 32]>::from(Sha256::digest(&item.signature)));
                assert_eq!(
                    item.owner_address(),
                    owner_address(signer.signature_type(), &signer.owner())
                );
                // Types 2–4 have small items; check every flip on the first signers only.
                if n < 3 {
                    assert_every_flip_fails(&bytes);
                }
            }
        }
    }

    #[test]
    fn sign_verify_round_trips_for_type_1() {
        let signer = ArweaveSigner::new(test_rsa_key()).unwrap();
        for (salt, target, tags) in [
            (ArweaveSigner::MAX_SALT_LEN, None, vec![]),
            (32, Some([9; 32]), ao_tags()),
        ] {
            let signer = signer.clone().with_salt_len(salt).unwrap();
            let item = DataItem::sign(&signer, target, None, tags, b"1984".to_vec()).unwrap();
            let bytes = item.to_bytes();
            assert_eq!(DataItem::parse_verified(&bytes).unwrap(), item);
            // Each RSA verification costs about a millisecond in the dev profile, so the
            // 1024 bytes of signature and owner are sampled; the SU vector test flips them all.
            let sampled = (0..bytes.len()).filter(|&i| !(2..1026).contains(&i) || i % 13 == 0);
            assert_flips_fail(&bytes, sampled);
        }
    }

    #[test]
    fn ethereum_owner_address_is_eip55() {
        let mut secret = [0u8; 32];
        secret[31] = 1;
        let signer = EthereumSigner::from_secret(&secret).unwrap();
        let item = DataItem::sign(&signer, None, None, vec![], b"x".to_vec()).unwrap();
        assert_eq!(
            item.owner_address(),
            "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
        );
    }

    #[test]
    fn limits_arbundles_accepts_are_accepted() {
        let signer = Ed25519Signer::from_secret(&[5; 32]);
        // 129 tags, a 1100-byte name, empty values: not rejected (A2).
        let mut tags: Vec<Tag> = (0..129).map(|i| Tag::new(format!("t{i}"), "")).collect();
        tags.push(Tag::new("n".repeat(1100), ""));
        let item = DataItem::sign(&signer, None, None, tags.clone(), vec![]).unwrap();
        assert!(item.raw_tags().len() <= MAX_TAG_BYTES);
        let parsed = DataItem::parse_verified(&item.to_bytes()).unwrap();
        assert_eq!(parsed.tags, tags);
    }

    #[test]
    fn sign_rejects_more_than_4096_tag_bytes() {
        let signer = Ed25519Signer::from_secret(&[5; 32]);
        let tags = vec![Tag::new("big", "v".repeat(4096))];
        let err = DataItem::sign(&signer, None, None, tags, vec![]).unwrap_err();
        assert_eq!(err.field(), "tag_bytes");
        assert_eq!(
            err.to_string(),
            format!(
                "tag_bytes: {} bytes of tags, the limit is 4096",
                encode_tags(&[Tag::new("big", "v".repeat(4096))]).len()
            )
        );
        // Exactly 4096 bytes is allowed: 1 (count) + 2 + 3 ("big") + 2 + value + 1 (end).
        let value_len = 4096 - 1 - 1 - 3 - 2 - 1;
        let tags = vec![Tag::new("big", "v".repeat(value_len))];
        assert_eq!(encode_tags(&tags).len(), 4096);
        let item = DataItem::sign(&signer, None, None, tags, vec![]).unwrap();
        DataItem::parse_verified(&item.to_bytes()).unwrap();
    }

    struct BrokenSigner {
        claimed: SignatureType,
        inner: Ed25519Signer,
        truncate: bool,
    }

    impl Signer for BrokenSigner {
        fn signature_type(&self) -> SignatureType {
            self.claimed
        }
        fn owner(&self) -> Vec<u8> {
            self.inner.owner()
        }
        fn sign(&self, signature_data: &[u8; 48]) -> Vec<u8> {
            let mut sig = self.inner.sign(signature_data);
            if self.truncate {
                sig.pop();
            }
            sig
        }
    }

    #[test]
    fn sign_checks_what_the_signer_returns() {
        let inner = Ed25519Signer::from_secret(&[6; 32]);
        let short = BrokenSigner {
            claimed: SignatureType::Ed25519,
            inner: inner.clone(),
            truncate: true,
        };
        let err = DataItem::sign(&short, None, None, vec![], vec![]).unwrap_err();
        assert_eq!(err.to_string(), "signature: expected 64 bytes, got 63");
        // Claims Solana but signs the raw hash: the self-check catches it.
        let lying = BrokenSigner {
            claimed: SignatureType::Solana,
            inner: inner.clone(),
            truncate: false,
        };
        let err = DataItem::sign(&lying, None, None, vec![], vec![]).unwrap_err();
        assert_eq!(err.field(), "signature");
        let wrong_owner = BrokenSigner {
            claimed: SignatureType::Ethereum,
            inner,
            truncate: false,
        };
        let err = DataItem::sign(&wrong_owner, None, None, vec![], vec![]).unwrap_err();
        assert_eq!(err.to_string(), "owner: expected 65 bytes, got 32");
    }

    /// A valid type-2 item with a target, no anchor, two tags and some data, and the offsets
    /// of its fields.
    fn sample() -> (Vec<u8>, DataItem) {
        let signer = Ed25519Signer::from_secret(&[4; 32]);
        let item = DataItem::sign(
            &signer,
            Some([7; 32]),
            None,
            vec![Tag::new("a", "b"), Tag::new("c", "d")],
            b"data".to_vec(),
        )
        .unwrap();
        (item.to_bytes(), item)
    }
    // Offsets in `sample()`: type 0, signature 2, owner 66, target presence 98, target 99,
    // anchor presence 131, tag count 132, tag bytes 140, tags 148 (10 bytes), data 158.
    const TARGET_PRESENCE: usize = 98;
    const ANCHOR_PRESENCE: usize = 131;
    const TAG_COUNT: usize = 132;
    const TAG_BYTES: usize = 140;
    const TAGS: usize = 148;

    fn expect_err(bytes: &[u8], field: &str, message: &str) {
        let err = DataItem::parse(bytes).unwrap_err();
        assert_eq!(err.field(), field, "{err}");
        assert_eq!(err.to_string(), message);
    }

    #[test]
    fn sample_layout_is_as_documented() {
        let (bytes, item) = sample();
        assert_eq!(bytes[TARGET_PRESENCE], 1);
        assert_eq!(bytes[ANCHOR_PRESENCE], 0);
        assert_eq!(bytes[TAG_COUNT], 2);
        assert_eq!(bytes[TAG_BYTES], 10);
        assert_eq!(&bytes[TAGS..TAGS + 10], item.raw_tags());
        assert_eq!(&bytes[TAGS + 10..], b"data");
    }

    #[test]
    fn structural_checks_name_their_field() {
        let (bytes, _) = sample();

        expect_err(
            &bytes[..60],
            "length",
            "length: item is 60 bytes, the minimum is 80",
        );

        let mut b = bytes.clone();
        b[0] = 9;
        expect_err(
            &b,
            "signature_type",
            "signature_type: unknown signature type 9",
        );

        let mut b = bytes.clone();
        b[TARGET_PRESENCE] = 2;
        expect_err(
            &b,
            "target_presence",
            "target: presence byte is 2, expected 0 or 1",
        );

        let mut b = bytes.clone();
        b[ANCHOR_PRESENCE] = 7;
        expect_err(
            &b,
            "anchor_presence",
            "anchor: presence byte is 7, expected 0 or 1",
        );

        // Cut inside the target.
        expect_err(
            &bytes[..110],
            "target",
            "target: needs 32 bytes at offset 99, but only 11 remain",
        );
        // Cut right before the anchor presence byte.
        expect_err(
            &bytes[..ANCHOR_PRESENCE],
            "anchor_presence",
            "anchor_presence: needs 1 bytes at offset 131, but only 0 remain",
        );
        // An anchor announced but cut short.
        let mut b = bytes[..ANCHOR_PRESENCE + 10].to_vec();
        b[ANCHOR_PRESENCE] = 1;
        expect_err(
            &b,
            "anchor",
            "anchor: needs 32 bytes at offset 132, but only 9 remain",
        );
        expect_err(
            &bytes[..TAG_COUNT + 3],
            "tag_count",
            "tag_count: needs 8 bytes at offset 132, but only 3 remain",
        );
        expect_err(
            &bytes[..TAG_BYTES + 7],
            "tag_bytes",
            "tag_bytes: needs 8 bytes at offset 140, but only 7 remain",
        );
        expect_err(
            &bytes[..TAGS + 4],
            "tags",
            "tags: needs 10 bytes at offset 148, but only 4 remain",
        );

        let mut b = bytes.clone();
        b[TAG_BYTES..TAG_BYTES + 8].copy_from_slice(&5000u64.to_le_bytes());
        expect_err(
            &b,
            "tag_bytes",
            "tag_bytes: 5000 bytes of tags, the limit is 4096",
        );
        let mut b = bytes.clone();
        b[TAG_BYTES..TAG_BYTES + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        expect_err(
            &b,
            "tag_bytes",
            &format!("tag_bytes: {} bytes of tags, the limit is 4096", u64::MAX),
        );

        let mut b = bytes.clone();
        b[TAG_COUNT] = 1;
        expect_err(&b, "tags", "tags: 2 tags decoded but the header says 1");
        let mut b = bytes.clone();
        b[TAG_COUNT + 7] = 1;
        expect_err(
            &b,
            "tags",
            &format!(
                "tags: 2 tags decoded but the header says {}",
                2 + (1u64 << 56)
            ),
        );

        // Tag bytes that are not Avro: a name length running past the block.
        let mut b = bytes.clone();
        b[TAGS + 1] = 0x7e;
        let err = DataItem::parse(&b).unwrap_err();
        assert_eq!(err.field(), "tags");
        assert!(
            err.to_string()
                .starts_with("tags: a tag name of 63 bytes runs past")
        );
    }

    #[test]
    fn tag_count_is_checked_when_the_header_or_the_block_is_empty() {
        let signer = Ed25519Signer::from_secret(&[4; 32]);
        // Header 0, but a tag block with one tag.
        let item = DataItem::sign(&signer, None, None, vec![Tag::new("a", "b")], vec![]).unwrap();
        let mut b = item.to_bytes();
        let count_at = 2 + 64 + 32 + 2;
        b[count_at] = 0;
        expect_err(&b, "tags", "tags: 1 tags decoded but the header says 0");
        // Header 3, no tag bytes.
        let item = DataItem::sign(&signer, None, None, vec![], b"xyz".to_vec()).unwrap();
        let mut b = item.to_bytes();
        b[count_at] = 3;
        expect_err(&b, "tags", "tags: 0 tags decoded but the header says 3");
    }

    #[test]
    fn signature_and_owner_truncation_name_their_field() {
        // A type-1 item needs 1044 bytes before the data; cut inside the signature and owner.
        let mut b = vec![1u8, 0];
        b.resize(500, 0x11);
        expect_err(
            &b,
            "signature",
            "signature: needs 512 bytes at offset 2, but only 498 remain",
        );
        b.resize(800, 0x11);
        expect_err(
            &b,
            "owner",
            "owner: needs 512 bytes at offset 514, but only 286 remain",
        );
    }

    #[test]
    fn a_bad_signature_names_the_signature() {
        let signer = EthereumSigner::from_secret(&[2; 32]).unwrap();
        let item = DataItem::sign(&signer, None, None, vec![], b"x".to_vec()).unwrap();
        let mut b = item.to_bytes();
        *b.last_mut().unwrap() = b'y';
        let parsed = DataItem::parse(&b).unwrap();
        let err = parsed.verify().unwrap_err();
        assert_eq!(err.field(), "signature");
        assert_eq!(
            err.to_string(),
            "signature: does not verify for signature type 3 (ethereum)"
        );
        assert_eq!(DataItem::parse_verified(&b).unwrap_err(), err);
    }

    #[test]
    fn raw_tag_bytes_are_kept_and_signed() {
        // A valid item whose tags use a negative block count: it is kept byte for byte, and the
        // signature covers those bytes, not a canonical re-encoding (correction A8).
        let signer = Ed25519Signer::from_secret(&[8; 32]);
        let raw_tags = vec![0x01, 0x0c, 0x02, b'a', 0x04, b'b', b'c', 0x00];
        let tags = decode_tags(&raw_tags).unwrap();
        assert_eq!(tags, vec![Tag::new("a", "bc")]);
        let mut item = DataItem {
            signature_type: SignatureType::Ed25519,
            signature: Vec::new(),
            owner: signer.owner(),
            target: None,
            anchor: None,
            tags,
            raw_tags: raw_tags.clone(),
            data: b"d".to_vec(),
        };
        item.signature = signer.sign(&item.signature_data());
        let bytes = item.to_bytes();
        let parsed = DataItem::parse_verified(&bytes).unwrap();
        assert_eq!(parsed.raw_tags(), raw_tags.as_slice());
        assert_eq!(parsed.to_bytes(), bytes);
        // The canonical re-encoding differs, and so would the signed message.
        let canonical = DataItem {
            raw_tags: encode_tags(&parsed.tags),
            ..parsed.clone()
        };
        assert_ne!(canonical.raw_tags(), parsed.raw_tags());
        assert!(canonical.verify().is_err());
    }

    fn arbitrary_item() -> impl Strategy<Value = DataItem> {
        (
            prop_oneof![
                Just(SignatureType::Arweave),
                Just(SignatureType::Ed25519),
                Just(SignatureType::Ethereum),
                Just(SignatureType::Solana),
            ],
            any::<u8>(),
            proptest::option::of(any::<[u8; 32]>()),
            proptest::option::of(any::<[u8; 32]>()),
            proptest::collection::vec(("\\PC{0,12}", "\\PC{0,24}"), 0..8),
            proptest::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(|(ty, fill, target, anchor, tags, data)| {
                let tags: Vec<Tag> = tags.into_iter().map(|(n, v)| Tag::new(n, v)).collect();
                DataItem {
                    signature_type: ty,
                    signature: vec![fill; ty.signature_len()],
                    owner: vec![fill.wrapping_add(1); ty.owner_len()],
                    target,
                    anchor,
                    raw_tags: encode_tags(&tags),
                    tags,
                    data,
                }
            })
    }

    proptest! {
        #[test]
        fn parse_inverts_to_bytes(item in arbitrary_item()) {
            let bytes = item.to_bytes();
            let parsed = DataItem::parse(&bytes).unwrap();
            prop_assert_eq!(&parsed, &item);
            prop_assert_eq!(parsed.to_bytes(), bytes);
        }

        #[test]
        fn parsing_corrupted_items_never_panics(
            item in arbitrary_item(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = item.to_bytes();
            for (at, value) in edits {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            let len = cut.index(bytes.len() + 1);
            if let Ok(parsed) = DataItem::parse(&bytes[..len]) {
                // Whatever parses must serialise back to the same bytes.
                prop_assert_eq!(parsed.to_bytes(), &bytes[..len]);
            }
        }
    }
}
