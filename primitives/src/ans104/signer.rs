//! Signature types 1–4: signing, verification and owner addresses.
//!
//! Every type signs the 48-byte deep hash of the item ([`super::DataItem::signature_data`]):
//!
//! | type | name | signature | owner | what is signed |
//! |---|---|---|---|---|
//! | 1 | arweave | 512 | 512 (RSA modulus) | RSA-PSS/SHA-256/MGF1-SHA-256 over sha256(deep hash), any salt length |
//! | 2 | ed25519 | 64 | 32 | the 48 raw bytes |
//! | 3 | ethereum | 65 (r‖s‖v) | 65 (0x04‖X‖Y) | keccak256("\x19Ethereum Signed Message:\n48" ‖ deep hash) |
//! | 4 | solana | 64 | 32 | the 96 ASCII bytes of lowercase hex(deep hash) |

use std::fmt;

use ed25519_dalek::Signer as _;
use k256::ecdsa::{RecoveryId, Signature as EcdsaSignature, SigningKey as EcdsaKey, VerifyingKey};
use k256::elliptic_curve::scalar::IsHigh as _;
#[cfg(feature = "os-rng")]
use rand_core::OsRng;
#[cfg(feature = "os-rng")]
use rsa::Pss;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey};
use sha2::{Digest, Sha256};
use sha3::Keccak256;

use super::b64url_encode;
use super::item::ItemError;

/// The signature types this node accepts (arbundles `SignatureConfig` 1–4).
///
/// Types 5–7 (Aptos, multi-Aptos, typed Ethereum) are rejected as unknown: the reference SU
/// cannot verify them either, and aoconnect never produces them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureType {
    /// Arweave RSA-PSS with a 4096-bit key.
    Arweave = 1,
    /// Ed25519 over the raw deep hash.
    Ed25519 = 2,
    /// secp256k1 with the Ethereum personal-message prefix.
    Ethereum = 3,
    /// Ed25519 over the hex text of the deep hash (arbundles `HexSolanaSigner`).
    Solana = 4,
}

impl SignatureType {
    /// The type for a wire value; anything but 1–4 is an error naming `signature_type`.
    pub fn from_u16(v: u16) -> Result<Self, ItemError> {
        match v {
            1 => Ok(SignatureType::Arweave),
            2 => Ok(SignatureType::Ed25519),
            3 => Ok(SignatureType::Ethereum),
            4 => Ok(SignatureType::Solana),
            other => Err(ItemError::UnknownSignatureType(other)),
        }
    }

    /// The wire value (written little-endian in the item).
    pub fn as_u16(self) -> u16 {
        self as u16
    }

    /// The signature length in bytes.
    pub fn signature_len(self) -> usize {
        match self {
            SignatureType::Arweave => 512,
            SignatureType::Ed25519 | SignatureType::Solana => 64,
            SignatureType::Ethereum => 65,
        }
    }

    /// The owner (public key) length in bytes.
    pub fn owner_len(self) -> usize {
        match self {
            SignatureType::Arweave => 512,
            SignatureType::Ed25519 | SignatureType::Solana => 32,
            SignatureType::Ethereum => 65,
        }
    }

    /// The arbundles name of the type.
    pub fn name(self) -> &'static str {
        match self {
            SignatureType::Arweave => "arweave",
            SignatureType::Ed25519 => "ed25519",
            SignatureType::Ethereum => "ethereum",
            SignatureType::Solana => "solana",
        }
    }
}

impl fmt::Display for SignatureType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.as_u16(), self.name())
    }
}

/// Something that can sign data items.
pub trait Signer: Send + Sync {
    /// The signature type written into items.
    fn signature_type(&self) -> SignatureType;
    /// The owner bytes: exactly `signature_type().owner_len()` bytes.
    fn owner(&self) -> Vec<u8>;
    /// Signs an item's deep hash. Returns exactly `signature_type().signature_len()` bytes; any
    /// other length (a signer that failed) makes [`super::DataItem::sign`] return an error.
    fn sign(&self, signature_data: &[u8; 48]) -> Vec<u8>;
    /// The address the items it signs carry as their owner ([`owner_address`]).
    fn address(&self) -> String {
        owner_address(self.signature_type(), &self.owner())
    }
}

/// Type 2: Ed25519 over the 48 raw bytes of the deep hash.
#[derive(Clone)]
pub struct Ed25519Signer {
    key: ed25519_dalek::SigningKey,
}

impl Ed25519Signer {
    /// The signer for a 32-byte Ed25519 secret (seed).
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        Ed25519Signer {
            key: ed25519_dalek::SigningKey::from_bytes(secret),
        }
    }

    /// A new random key from the operating system's generator.
    #[cfg(feature = "os-rng")]
    pub fn generate() -> Self {
        Ed25519Signer {
            key: ed25519_dalek::SigningKey::generate(&mut OsRng),
        }
    }

    /// The 32-byte secret, for storing the key.
    pub fn secret(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

impl fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519Signer")
            .field("owner", &b64url_encode(&self.owner()))
            .finish_non_exhaustive()
    }
}

impl Signer for Ed25519Signer {
    fn signature_type(&self) -> SignatureType {
        SignatureType::Ed25519
    }

    fn owner(&self) -> Vec<u8> {
        self.key.verifying_key().to_bytes().to_vec()
    }

    fn sign(&self, signature_data: &[u8; 48]) -> Vec<u8> {
        self.key.sign(signature_data).to_bytes().to_vec()
    }
}

/// Type 4: Ed25519 over the 96 ASCII bytes of the lowercase hex of the deep hash, as arbundles'
/// `HexSolanaSigner` and `HexInjectedSolanaSigner` (which wallets need, since they only sign
/// text) do.
#[derive(Clone)]
pub struct SolanaHexSigner {
    key: ed25519_dalek::SigningKey,
}

impl SolanaHexSigner {
    /// The signer for a 32-byte Ed25519 secret (seed).
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        SolanaHexSigner {
            key: ed25519_dalek::SigningKey::from_bytes(secret),
        }
    }

    /// A new random key from the operating system's generator.
    #[cfg(feature = "os-rng")]
    pub fn generate() -> Self {
        SolanaHexSigner {
            key: ed25519_dalek::SigningKey::generate(&mut OsRng),
        }
    }
}

impl fmt::Debug for SolanaHexSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SolanaHexSigner")
            .field("owner", &b64url_encode(&self.owner()))
            .finish_non_exhaustive()
    }
}

impl Signer for SolanaHexSigner {
    fn signature_type(&self) -> SignatureType {
        SignatureType::Solana
    }

    fn owner(&self) -> Vec<u8> {
        self.key.verifying_key().to_bytes().to_vec()
    }

    fn sign(&self, signature_data: &[u8; 48]) -> Vec<u8> {
        let text = hex::encode(signature_data);
        self.key.sign(text.as_bytes()).to_bytes().to_vec()
    }
}

/// Type 3: secp256k1 over the Ethereum personal-message hash of the deep hash. The signature is
/// r‖s‖v with low s and v ∈ {27, 28}, as ethers' `signMessage` (used by arbundles) writes it.
#[derive(Clone)]
pub struct EthereumSigner {
    key: EcdsaKey,
}

impl EthereumSigner {
    /// The signer for a 32-byte secp256k1 secret. Fails (naming `secret`) for zero or a value
    /// not below the group order.
    pub fn from_secret(secret: &[u8; 32]) -> Result<Self, ItemError> {
        let key = EcdsaKey::from_slice(secret).map_err(|_| ItemError::InvalidKey {
            field: "secret",
            reason: "not a valid secp256k1 private key (zero, or not below the group order)",
        })?;
        Ok(EthereumSigner { key })
    }

    /// A new random key from the operating system's generator.
    #[cfg(feature = "os-rng")]
    pub fn generate() -> Self {
        EthereumSigner {
            key: EcdsaKey::random(&mut OsRng),
        }
    }
}

impl fmt::Debug for EthereumSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EthereumSigner")
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

impl Signer for EthereumSigner {
    fn signature_type(&self) -> SignatureType {
        SignatureType::Ethereum
    }

    fn owner(&self) -> Vec<u8> {
        self.key
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    fn sign(&self, signature_data: &[u8; 48]) -> Vec<u8> {
        let hash = ethereum_message_hash(signature_data);
        // k256 normalises s to the low half and adjusts the recovery id to match.
        match self.key.sign_prehash_recoverable(&hash) {
            Ok((signature, recovery_id)) => {
                let mut out = signature.to_bytes().to_vec();
                out.push(27 + recovery_id.to_byte());
                out
            }
            // Unreachable in practice (RFC 6979 nonces are retried internally); an empty
            // signature is reported by `DataItem::sign`.
            Err(_) => Vec::new(),
        }
    }
}

/// Type 1: Arweave RSA-PSS with a 4096-bit key and e = 65537.
///
/// Signs with the maximum salt length (478), as aoconnect's `createSigner` and arbundles'
/// `ArweaveSigner` do; [`ArweaveSigner::with_salt_len`] picks another (browsers use 32).
/// PSS salts are random, so it signs only with the `os-rng` feature.
#[derive(Clone)]
pub struct ArweaveSigner {
    #[cfg_attr(not(feature = "os-rng"), allow(dead_code))]
    key: RsaPrivateKey,
    owner: Vec<u8>,
    salt_len: usize,
}

impl ArweaveSigner {
    /// The maximum PSS salt length for a 4096-bit key and SHA-256: 512 − 32 − 2.
    pub const MAX_SALT_LEN: usize = 478;

    /// Wraps an RSA private key, which must be 4096 bits with public exponent 65537 (the only
    /// kind Arweave owners can express: the owner field is the 512-byte modulus and e is
    /// implied). Errors name `key`.
    pub fn new(key: RsaPrivateKey) -> Result<Self, ItemError> {
        if key.n().bits() != 4096 {
            return Err(ItemError::InvalidKey {
                field: "key",
                reason: "an Arweave key must have a 4096-bit modulus",
            });
        }
        if *key.e() != BigUint::from(65_537u32) {
            return Err(ItemError::InvalidKey {
                field: "key",
                reason: "an Arweave key must have public exponent 65537",
            });
        }
        let owner = key.n().to_bytes_be();
        Ok(ArweaveSigner {
            key,
            owner,
            salt_len: Self::MAX_SALT_LEN,
        })
    }

    /// The same key, signing with salt length `salt_len` (at most [`Self::MAX_SALT_LEN`]).
    pub fn with_salt_len(mut self, salt_len: usize) -> Result<Self, ItemError> {
        if salt_len > Self::MAX_SALT_LEN {
            return Err(ItemError::InvalidKey {
                field: "salt_len",
                reason: "the PSS salt length for a 4096-bit key is at most 478",
            });
        }
        self.salt_len = salt_len;
        Ok(self)
    }
}

impl fmt::Debug for ArweaveSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArweaveSigner")
            .field(
                "address",
                &owner_address(SignatureType::Arweave, &self.owner),
            )
            .field("salt_len", &self.salt_len)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "os-rng")]
impl Signer for ArweaveSigner {
    fn signature_type(&self) -> SignatureType {
        SignatureType::Arweave
    }

    fn owner(&self) -> Vec<u8> {
        self.owner.clone()
    }

    fn sign(&self, signature_data: &[u8; 48]) -> Vec<u8> {
        let digest = Sha256::digest(signature_data);
        let scheme = Pss::new_with_salt::<Sha256>(self.salt_len);
        // The rsa crate returns exactly k = 512 bytes; a failure yields an empty signature,
        // which `DataItem::sign` reports.
        self.key
            .sign_with_rng(&mut OsRng, scheme, &digest)
            .unwrap_or_default()
    }
}

/// The address AO shows for an owner.
///
/// Types 1, 2 and 4: base64url(sha256(owner)), 43 characters (what the CU and SU use).
/// Type 3: the EIP-55 checksummed `0x…` address, keccak256(owner without its 0x04 prefix)[12..].
pub fn owner_address(signature_type: SignatureType, owner: &[u8]) -> String {
    match signature_type {
        SignatureType::Ethereum => {
            let hash = Keccak256::digest(owner.get(1..).unwrap_or_default());
            let mut address = [0u8; 20];
            address.copy_from_slice(&hash[12..]);
            eip55(&address)
        }
        SignatureType::Arweave | SignatureType::Ed25519 | SignatureType::Solana => {
            b64url_encode(&Sha256::digest(owner))
        }
    }
}

/// EIP-55: a hex letter is upper case when the matching nibble of keccak256(lowercase hex) ≥ 8.
fn eip55(address: &[u8; 20]) -> String {
    let lower = hex::encode(address);
    let hash = Keccak256::digest(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let byte = hash[i / 2];
        let nibble = if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
        out.push(if nibble >= 8 {
            c.to_ascii_uppercase()
        } else {
            c
        });
    }
    out
}

/// keccak256("\x19Ethereum Signed Message:\n48" ‖ deep hash): ethers' `hashMessage` of the
/// 48-byte deep hash.
fn ethereum_message_hash(signature_data: &[u8; 48]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    hasher.update(b"\x19Ethereum Signed Message:\n48");
    hasher.update(signature_data);
    hasher.finalize().into()
}

/// Checks `signature` by `owner` over an item's deep hash, under the rules of `signature_type`.
///
/// Errors name `owner` when the owner cannot be a key of that type, `signature` when the
/// signature does not verify, and either when its length is wrong for the type.
pub fn verify_signature(
    signature_type: SignatureType,
    owner: &[u8],
    signature: &[u8],
    signature_data: &[u8; 48],
) -> Result<(), ItemError> {
    // Parsed items always have the right lengths; items built or changed by hand may not.
    for (field, expected, actual) in [
        ("owner", signature_type.owner_len(), owner.len()),
        ("signature", signature_type.signature_len(), signature.len()),
    ] {
        if expected != actual {
            return Err(ItemError::WrongLength {
                field,
                expected,
                actual,
            });
        }
    }
    match signature_type {
        SignatureType::Arweave => verify_arweave(owner, signature, signature_data),
        SignatureType::Ed25519 => verify_ed25519(signature_type, owner, signature, signature_data),
        SignatureType::Ethereum => verify_ethereum(owner, signature, signature_data),
        SignatureType::Solana => {
            let text = hex::encode(signature_data);
            verify_ed25519(signature_type, owner, signature, text.as_bytes())
        }
    }
}

/// Ed25519 for types 2 and 4, with `verify_strict`: besides the RFC 8032 equation it rejects
/// small-order ("weak") public keys and small-order R. Honest signers never produce either, while
/// a weak key's "signatures" can be forged by anyone and verify for many messages, so accepting
/// them would let anyone speak for that owner's address. arbundles' verifier (@noble/ed25519)
/// does not reject small-order points, so such items would pass there: a deliberate divergence
/// that no honestly made item can hit.
fn verify_ed25519(
    signature_type: SignatureType,
    owner: &[u8],
    signature: &[u8],
    message: &[u8],
) -> Result<(), ItemError> {
    let bad_owner = |reason| ItemError::BadOwner {
        signature_type,
        reason,
    };
    let owner: [u8; 32] = owner.try_into().map_err(|_| bad_owner("not 32 bytes"))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&owner)
        .map_err(|_| bad_owner("not a valid Ed25519 public key (not a curve point)"))?;
    if key.is_weak() {
        return Err(bad_owner(
            "a small-order Ed25519 public key, for which anyone can forge signatures",
        ));
    }
    let signature: [u8; 64] = signature
        .try_into()
        .map_err(|_| ItemError::BadSignature(signature_type))?;
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&signature))
        .map_err(|_| ItemError::BadSignature(signature_type))
}

/// Ethereum: the owner must be an uncompressed point (0x04‖X‖Y) on secp256k1, v must be 27/28
/// (0/1 also accepted, as ethers does), s must be in the low half, and the key recovered with v
/// must be the owner.
///
/// Compared with the reference implementations: arbundles verifies with
/// `secp256k1.ecdsaVerify(r‖s, hashMessage(m), owner)`, which also rejects high s (libsecp256k1
/// and its elliptic fallback return false for them) but ignores v; the reference SU recovers
/// with v ∈ {27, 28} (k256, which rejects high s) and compares addresses. Checking v keeps a
/// signature from having several accepted spellings, and therefore several ids.
fn verify_ethereum(
    owner: &[u8],
    signature: &[u8],
    signature_data: &[u8; 48],
) -> Result<(), ItemError> {
    let ty = SignatureType::Ethereum;
    let bad_signature = || ItemError::BadSignature(ty);
    let bad_owner = || ItemError::BadOwner {
        signature_type: ty,
        reason: "not an uncompressed secp256k1 public key (65 bytes: 0x04, X, Y on the curve)",
    };
    if owner.first() != Some(&0x04) {
        return Err(bad_owner());
    }
    let owner_key = VerifyingKey::from_sec1_bytes(owner).map_err(|_| bad_owner())?;
    let (rs, v) = signature.split_at(64);
    let y_odd = match v {
        [27] | [0] => false,
        [28] | [1] => true,
        _ => return Err(bad_signature()),
    };
    let sig = EcdsaSignature::from_slice(rs).map_err(|_| bad_signature())?;
    if bool::from(sig.s().is_high()) {
        return Err(bad_signature());
    }
    let hash = ethereum_message_hash(signature_data);
    let recovered = VerifyingKey::recover_from_prehash(&hash, &sig, RecoveryId::new(y_odd, false))
        .map_err(|_| bad_signature())?;
    if recovered != owner_key {
        return Err(bad_signature());
    }
    Ok(())
}

/// Arweave RSA-PSS: s^65537 mod n, then EMSA-PSS-VERIFY with the salt length recovered from the
/// encoding (RFC 8017 §8.1.2 and §9.1.2).
///
/// The salt length must be detected rather than fixed: aoconnect and arbundles sign with 478
/// (the maximum), browsers with 32, and Node's and OpenSSL's verifiers accept any. rsa 0.9's
/// `Pss::new` checks exactly 32, which would reject every aoconnect item.
fn verify_arweave(
    owner: &[u8],
    signature: &[u8],
    signature_data: &[u8; 48],
) -> Result<(), ItemError> {
    let ty = SignatureType::Arweave;
    // OpenSSL's Montgomery exponentiation (what arweave-js verifies with) rejects even moduli;
    // an even "modulus" is not an RSA key. This also rules out n = 0, which would panic below.
    if owner.last().is_none_or(|&b| b & 1 == 0) {
        return Err(ItemError::BadOwner {
            signature_type: ty,
            reason: "not an RSA modulus (it is even)",
        });
    }
    let n = BigUint::from_bytes_be(owner);
    let s = BigUint::from_bytes_be(signature);
    // RSAVP1 step 1: a representative outside [0, n) is invalid (otherwise s + n would also
    // verify, giving the same item a second id).
    if s >= n {
        return Err(ItemError::BadSignature(ty));
    }
    let m = s.modpow(&BigUint::from(65_537u32), &n);
    let em_bits = n.bits() - 1;
    let em_len = em_bits.div_ceil(8);
    let m_bytes = m.to_bytes_be();
    if m_bytes.len() > em_len {
        return Err(ItemError::BadSignature(ty));
    }
    let mut em = vec![0u8; em_len - m_bytes.len()];
    em.extend_from_slice(&m_bytes);
    let m_hash: [u8; 32] = Sha256::digest(signature_data).into();
    match emsa_pss_verify_auto(&em, em_bits, &m_hash) {
        Some(_salt_len) => Ok(()),
        None => Err(ItemError::BadSignature(ty)),
    }
}

/// EMSA-PSS-VERIFY (RFC 8017 §9.1.2) with SHA-256 and MGF1-SHA-256, recovering the salt length
/// from the position of the 0x01 separator in DB. Returns the salt length if `em` is a valid
/// encoding of `m_hash`.
pub(crate) fn emsa_pss_verify_auto(em: &[u8], em_bits: usize, m_hash: &[u8; 32]) -> Option<usize> {
    const H_LEN: usize = 32;
    let em_len = em.len();
    // Steps 3–4.
    if em_len != em_bits.div_ceil(8) || em_len < H_LEN + 2 || em.last() != Some(&0xbc) {
        return None;
    }
    // Step 5.
    let db_len = em_len - H_LEN - 1;
    let (masked_db, rest) = em.split_at(db_len);
    let h = &rest[..H_LEN];
    // Step 6: the 8·emLen − emBits leftmost bits must be zero.
    let unused_bits = 8 * em_len - em_bits;
    let top_mask = (0xff00u16 >> unused_bits) as u8;
    if masked_db[0] & top_mask != 0 {
        return None;
    }
    // Steps 7–9.
    let mut db = mgf1_sha256(h, db_len);
    for (d, m) in db.iter_mut().zip(masked_db) {
        *d ^= m;
    }
    db[0] &= !top_mask;
    // Step 10 with the salt length unknown: PS is zeros up to the first non-zero byte,
    // which must be the 0x01 separator.
    let separator = db.iter().position(|&b| b != 0)?;
    if db[separator] != 0x01 {
        return None;
    }
    let salt = &db[separator + 1..];
    // Steps 12–14.
    let mut hasher = Sha256::new();
    hasher.update([0u8; 8]);
    hasher.update(m_hash);
    hasher.update(salt);
    let h_prime = hasher.finalize();
    (h_prime[..] == *h).then_some(salt.len())
}

/// MGF1 with SHA-256 (RFC 8017 B.2.1).
fn mgf1_sha256(seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter: u32 = 0;
    while out.len() < len {
        let mut hasher = Sha256::new();
        hasher.update(seed);
        hasher.update(counter.to_be_bytes());
        out.extend_from_slice(&hasher.finalize());
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ans104::test_support::{test_rsa_key, test_rsa2048_key};
    use rsa::traits::PrivateKeyParts;

    const DH: [u8; 48] = [0x5a; 48];

    #[test]
    fn signature_type_table() {
        for (v, ty, sig, owner, name) in [
            (1, SignatureType::Arweave, 512, 512, "arweave"),
            (2, SignatureType::Ed25519, 64, 32, "ed25519"),
            (3, SignatureType::Ethereum, 65, 65, "ethereum"),
            (4, SignatureType::Solana, 64, 32, "solana"),
        ] {
            let parsed = SignatureType::from_u16(v).unwrap();
            assert_eq!(parsed, ty);
            assert_eq!(parsed.as_u16(), v);
            assert_eq!(parsed.signature_len(), sig);
            assert_eq!(parsed.owner_len(), owner);
            assert_eq!(parsed.name(), name);
        }
        for v in [0, 5, 6, 7, 9, 0x0100, u16::MAX] {
            let err = SignatureType::from_u16(v).unwrap_err();
            assert_eq!(err.field(), "signature_type");
            assert_eq!(
                err.to_string(),
                format!("signature_type: unknown signature type {v}")
            );
        }
    }

    #[test]
    fn ed25519_rfc8032_public_key() {
        // RFC 8032 §7.1 TEST 1.
        let secret: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        let signer = Ed25519Signer::from_secret(&secret);
        assert_eq!(
            hex::encode(signer.owner()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(signer.secret(), secret);
        assert_eq!(
            owner_address(SignatureType::Ed25519, &signer.owner()),
            b64url_encode(&Sha256::digest(signer.owner()))
        );
    }

    #[test]
    fn ed25519_signs_the_raw_hash_and_solana_the_hex_text() {
        let ed = Ed25519Signer::from_secret(&[3; 32]);
        let sol = SolanaHexSigner::from_secret(&[3; 32]);
        assert_eq!(ed.owner(), sol.owner());
        let ed_sig = ed.sign(&DH);
        let sol_sig = sol.sign(&DH);
        assert_ne!(ed_sig, sol_sig);
        verify_signature(SignatureType::Ed25519, &ed.owner(), &ed_sig, &DH).unwrap();
        verify_signature(SignatureType::Solana, &sol.owner(), &sol_sig, &DH).unwrap();
        // Each is rejected under the other's rule.
        let err = verify_signature(SignatureType::Solana, &ed.owner(), &ed_sig, &DH).unwrap_err();
        assert_eq!(err.field(), "signature");
        assert_eq!(
            err.to_string(),
            "signature: does not verify for signature type 4 (solana)"
        );
        assert!(verify_signature(SignatureType::Ed25519, &sol.owner(), &sol_sig, &DH).is_err());
        // The hex text is what the Solana signature covers.
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let by_hand = key.sign(hex::encode(DH).as_bytes()).to_bytes();
        assert_eq!(sol_sig, by_hand);
    }

    #[test]
    fn ed25519_weak_and_invalid_owners_are_rejected() {
        let signer = Ed25519Signer::from_secret(&[9; 32]);
        let sig = signer.sign(&DH);
        // The identity point: small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let err = verify_signature(SignatureType::Ed25519, &identity, &sig, &DH).unwrap_err();
        assert_eq!(err.field(), "owner");
        // Not a point: y = 2 has no x on the curve.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        let err = verify_signature(SignatureType::Ed25519, &not_a_point, &sig, &DH).unwrap_err();
        assert_eq!(err.field(), "owner");
    }

    #[test]
    fn eip55_vectors() {
        // From the EIP-55 specification.
        for expected in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
            "0x52908400098527886E0F7030069857D2E4169EE7",
            "0xde709f2102306220921060314715629080e2fb77",
        ] {
            let bytes: [u8; 20] = hex::decode(expected[2..].to_lowercase())
                .unwrap()
                .try_into()
                .unwrap();
            assert_eq!(eip55(&bytes), expected);
        }
    }

    #[test]
    fn ethereum_address_of_private_key_one() {
        let mut secret = [0u8; 32];
        secret[31] = 1;
        let signer = EthereumSigner::from_secret(&secret).unwrap();
        assert_eq!(
            signer.address(),
            "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
        );
        let owner = signer.owner();
        assert_eq!(owner.len(), 65);
        assert_eq!(owner[0], 0x04);
        // The generator point G.
        assert_eq!(
            hex::encode(&owner[1..33]),
            "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        );
        assert!(EthereumSigner::from_secret(&[0; 32]).is_err());
        assert_eq!(
            EthereumSigner::from_secret(&[0xff; 32])
                .unwrap_err()
                .field(),
            "secret"
        );
    }

    #[test]
    fn ethereum_signature_rules() {
        let signer = EthereumSigner::from_secret(&[7; 32]).unwrap();
        let owner = signer.owner();
        let sig = signer.sign(&DH);
        assert_eq!(sig.len(), 65);
        assert!(sig[64] == 27 || sig[64] == 28);
        verify_signature(SignatureType::Ethereum, &owner, &sig, &DH).unwrap();

        // v written as 0/1 is accepted; the wrong parity or another value is not.
        let mut alt = sig.clone();
        alt[64] -= 27;
        verify_signature(SignatureType::Ethereum, &owner, &alt, &DH).unwrap();
        for v in [55 - sig[64], 29, 30, 2, 0xff] {
            let mut bad = sig.clone();
            bad[64] = v;
            let err = verify_signature(SignatureType::Ethereum, &owner, &bad, &DH).unwrap_err();
            assert_eq!(err.field(), "signature", "v = {v}");
        }

        // The high-s twin (n − s with the other parity) is mathematically valid but rejected,
        // like libsecp256k1 (arbundles) and k256 (the SU) do.
        let parsed = EcdsaSignature::from_slice(&sig[..64]).unwrap();
        let high_s = -*parsed.s().as_ref();
        let twin = EcdsaSignature::from_scalars(parsed.r().to_bytes(), high_s.to_bytes()).unwrap();
        assert!(bool::from(twin.s().is_high()));
        let mut malleated = twin.to_bytes().to_vec();
        malleated.push(55 - sig[64]);
        let err = verify_signature(SignatureType::Ethereum, &owner, &malleated, &DH).unwrap_err();
        assert_eq!(err.field(), "signature");

        // Another key's signature.
        let other = EthereumSigner::from_secret(&[8; 32]).unwrap().sign(&DH);
        assert!(verify_signature(SignatureType::Ethereum, &owner, &other, &DH).is_err());

        // A compressed-style prefix or a point off the curve is an owner error.
        let mut bad_owner = owner.clone();
        bad_owner[0] = 0x06;
        let err = verify_signature(SignatureType::Ethereum, &bad_owner, &sig, &DH).unwrap_err();
        assert_eq!(err.field(), "owner");
        let mut off_curve = owner.clone();
        off_curve[64] ^= 1;
        let err = verify_signature(SignatureType::Ethereum, &off_curve, &sig, &DH).unwrap_err();
        assert_eq!(err.field(), "owner");
    }

    #[test]
    fn ethereum_message_is_the_personal_sign_hash() {
        // Computed independently: keccak256 over the prefix and the 48 bytes, as ethers'
        // hashMessage does for a 48-byte array.
        let mut data = b"\x19Ethereum Signed Message:\n48".to_vec();
        data.extend_from_slice(&DH);
        assert_eq!(
            ethereum_message_hash(&DH).to_vec(),
            Keccak256::digest(&data).to_vec()
        );
    }

    #[test]
    fn wrong_lengths_are_named() {
        let err = verify_signature(SignatureType::Ed25519, &[0; 31], &[0; 64], &DH).unwrap_err();
        assert_eq!(err.field(), "owner");
        let err = verify_signature(SignatureType::Ed25519, &[0; 32], &[0; 63], &DH).unwrap_err();
        assert_eq!(err.field(), "signature");
    }

    #[test]
    fn rsa_pss_verifies_salt_478_32_and_0() {
        let signer = ArweaveSigner::new(test_rsa_key()).unwrap();
        let owner = signer.owner();
        assert_eq!(owner.len(), 512);
        for salt in [ArweaveSigner::MAX_SALT_LEN, 32, 0, 1, 200] {
            let signer = signer.clone().with_salt_len(salt).unwrap();
            let sig = signer.sign(&DH);
            assert_eq!(sig.len(), 512);
            verify_signature(SignatureType::Arweave, &owner, &sig, &DH).unwrap();
            // The decoder reports the salt length it found.
            let em = {
                let n = BigUint::from_bytes_be(&owner);
                let m = BigUint::from_bytes_be(&sig).modpow(&BigUint::from(65_537u32), &n);
                let mut em = vec![0u8; 512];
                let bytes = m.to_bytes_be();
                em[512 - bytes.len()..].copy_from_slice(&bytes);
                em
            };
            let m_hash: [u8; 32] = Sha256::digest(DH).into();
            assert_eq!(emsa_pss_verify_auto(&em, 4095, &m_hash), Some(salt));
            let mut other = DH;
            other[0] ^= 1;
            let err = verify_signature(SignatureType::Arweave, &owner, &sig, &other).unwrap_err();
            assert_eq!(err.field(), "signature");
        }
        assert!(signer.clone().with_salt_len(479).is_err());
    }

    #[test]
    fn rsa_rejects_out_of_range_signatures_and_even_moduli() {
        let signer = ArweaveSigner::new(test_rsa_key()).unwrap();
        let owner = signer.owner();
        let sig = signer.sign(&DH);
        // s + n does not fit in 512 bytes for a 4096-bit n, so use s = n itself and all-ones.
        let err = verify_signature(SignatureType::Arweave, &owner, &owner, &DH).unwrap_err();
        assert_eq!(err.field(), "signature");
        let err = verify_signature(SignatureType::Arweave, &owner, &[0xff; 512], &DH).unwrap_err();
        assert_eq!(err.field(), "signature");
        let mut even = owner.clone();
        even[511] &= 0xfe;
        let err = verify_signature(SignatureType::Arweave, &even, &sig, &DH).unwrap_err();
        assert_eq!(err.field(), "owner");
        let err = verify_signature(SignatureType::Arweave, &[0; 512], &sig, &DH).unwrap_err();
        assert_eq!(err.field(), "owner");
    }

    #[test]
    fn rsa_signature_representative_must_be_below_the_modulus() {
        // A 2048-bit modulus, zero-padded into the 512-byte owner field: s + n then still fits
        // in the 512-byte signature field, and (s + n)^e ≡ s^e (mod n) would verify without the
        // range check.
        let key = test_rsa2048_key();
        let mut owner = vec![0u8; 256];
        owner.extend_from_slice(&key.n().to_bytes_be());
        let digest = Sha256::digest(DH);
        let sig = key
            .sign_with_rng(&mut OsRng, Pss::new_with_salt::<Sha256>(32), &digest)
            .unwrap();
        let mut padded = vec![0u8; 512 - sig.len()];
        padded.extend_from_slice(&sig);
        verify_signature(SignatureType::Arweave, &owner, &padded, &DH).unwrap();

        let s_plus_n = BigUint::from_bytes_be(&sig) + key.n();
        let bytes = s_plus_n.to_bytes_be();
        let mut shifted = vec![0u8; 512 - bytes.len()];
        shifted.extend_from_slice(&bytes);
        let err = verify_signature(SignatureType::Arweave, &owner, &shifted, &DH).unwrap_err();
        assert_eq!(err, ItemError::BadSignature(SignatureType::Arweave));
    }

    /// Builds EM = maskedDB ‖ H ‖ 0xbc by hand (RFC 8017 §9.1.1), for decoder edge cases.
    fn encode_em(m_hash: &[u8; 32], salt: &[u8], em_bits: usize) -> Vec<u8> {
        let em_len = em_bits.div_ceil(8);
        let mut m_prime = vec![0u8; 8];
        m_prime.extend_from_slice(m_hash);
        m_prime.extend_from_slice(salt);
        let h = Sha256::digest(&m_prime);
        let db_len = em_len - 33;
        let mut db = vec![0u8; db_len - salt.len() - 1];
        db.push(1);
        db.extend_from_slice(salt);
        let mask = mgf1_sha256(&h, db_len);
        let mut em: Vec<u8> = db.iter().zip(&mask).map(|(d, m)| d ^ m).collect();
        em[0] &= (0xffu16 >> (8 * em_len - em_bits)) as u8;
        em.extend_from_slice(&h);
        em.push(0xbc);
        em
    }

    #[test]
    fn emsa_pss_decoder_edge_cases() {
        let m_hash = [0x11u8; 32];
        // A 2047-bit emBits (2048-bit key) and a 4095-bit one, several salt lengths.
        for em_bits in [2047usize, 4095, 4088] {
            let em_len = em_bits.div_ceil(8);
            for salt_len in [0usize, 20, 32, em_len - 34] {
                let salt: Vec<u8> = (0..salt_len).map(|i| i as u8).collect();
                let em = encode_em(&m_hash, &salt, em_bits);
                assert_eq!(emsa_pss_verify_auto(&em, em_bits, &m_hash), Some(salt_len));

                let mut bad_trailer = em.clone();
                *bad_trailer.last_mut().unwrap() = 0xbd;
                assert_eq!(emsa_pss_verify_auto(&bad_trailer, em_bits, &m_hash), None);

                let mut bad_hash = m_hash;
                bad_hash[5] ^= 0x80;
                assert_eq!(emsa_pss_verify_auto(&em, em_bits, &bad_hash), None);

                if 8 * em_len > em_bits {
                    let mut top_bit = em.clone();
                    top_bit[0] |= 0x80;
                    assert_eq!(emsa_pss_verify_auto(&top_bit, em_bits, &m_hash), None);
                }
            }
        }
        // Too short for any encoding, and a length that does not match emBits.
        assert_eq!(emsa_pss_verify_auto(&[0xbc; 33], 263, &m_hash), None);
        let em = encode_em(&m_hash, &[], 2047);
        assert_eq!(emsa_pss_verify_auto(&em, 2055, &m_hash), None);
    }

    #[test]
    fn arweave_signer_rejects_other_keys() {
        let key = test_rsa_key();
        let p_q = key.primes().to_vec();
        // e = 3 with the same primes.
        let e3 = RsaPrivateKey::from_p_q(p_q[0].clone(), p_q[1].clone(), BigUint::from(3u32));
        if let Ok(e3) = e3 {
            assert_eq!(ArweaveSigner::new(e3).unwrap_err().field(), "key");
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let secret = [0x42u8; 32];
        let text = format!("{:?}", Ed25519Signer::from_secret(&secret));
        assert!(!text.contains(&hex::encode(secret)));
        assert!(!text.contains("66, 66"));
        let text = format!("{:?}", EthereumSigner::from_secret(&secret).unwrap());
        assert!(text.contains("0x"));
        assert!(!text.contains("66, 66"));
    }
}
