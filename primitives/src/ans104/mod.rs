//! ANS-104 data items and bundles, byte-exact and compatible with arbundles, aoconnect and the
//! reference AO scheduler unit.
//!
//! - [`tags`]: the Avro tag codec;
//! - [`deep_hash`]: the SHA-384 deep hash that data-item signatures cover;
//! - [`item`]: [`DataItem`] parsing, serialisation, ids and verification;
//! - [`signer`]: signature types 1–4, signing and owner addresses;
//! - [`bundle`]: ANS-104 binary bundles.
//!
//! Wire rule kept throughout: a parsed item keeps the exact bytes it arrived with (notably the
//! raw tag block), so `to_bytes(parse(b)) == b` and the id and signature stay valid.

pub mod bundle;
pub mod deep_hash;
pub mod item;
pub mod signer;
pub mod tags;

pub use bundle::{BundleError, read_bundle, read_bundle_verified, write_bundle};
pub use item::{DataItem, ItemError, MAX_TAG_BYTES, MIN_ITEM_LEN};
pub use signer::{
    ArweaveSigner, Ed25519Signer, EthereumSigner, SignatureType, Signer, SolanaHexSigner,
    owner_address,
};
pub use tags::Tag;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// RFC 4648 §5 without padding on output. On input, padding is optional (aoconnect never sends
/// it, but some tools do), while non-canonical trailing bits are rejected so every value has
/// exactly one accepted spelling: ids and addresses are compared as strings elsewhere.
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes `bytes` as base64url (RFC 4648 §5) without padding, as ids, owners and signatures are
/// written everywhere in AO.
pub fn b64url_encode(bytes: &[u8]) -> String {
    B64URL.encode(bytes)
}

/// Decodes base64url text. Padding is optional; the standard alphabet (`+`, `/`) and
/// non-canonical encodings are rejected. Errors name the field `base64url`.
pub fn b64url_decode(text: &str) -> Result<Vec<u8>, ItemError> {
    b64url_decode_field(text, "base64url")
}

/// Decodes base64url text like [`b64url_decode`], naming `field` in the error.
pub fn b64url_decode_field(text: &str, field: &'static str) -> Result<Vec<u8>, ItemError> {
    B64URL.decode(text).map_err(|e| ItemError::Base64 {
        field,
        reason: e.to_string(),
    })
}

/// Decodes base64url text that must hold exactly 32 bytes (an id, a process or wallet address).
/// The error names `field`.
pub fn b64url_decode_32(text: &str, field: &'static str) -> Result<[u8; 32], ItemError> {
    let bytes = b64url_decode_field(text, field)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| ItemError::WrongLength {
        field,
        expected: 32,
        actual: bytes.len(),
    })
}

/// Test fixtures shared by the submodules' tests.
#[cfg(test)]
pub(crate) mod test_support {
    use aolink_testkit::ans104_fixture;

    /// A fixed 4096-bit RSA test key (e = 65537). Generating one in a test takes seconds; signing
    /// with this one takes milliseconds. Never use it for anything but tests.
    pub(crate) fn test_rsa_key() -> rsa::RsaPrivateKey {
        let p = rsa::BigUint::parse_bytes(TEST_RSA_P.as_bytes(), 16).expect("p");
        let q = rsa::BigUint::parse_bytes(TEST_RSA_Q.as_bytes(), 16).expect("q");
        rsa::RsaPrivateKey::from_p_q(p, q, rsa::BigUint::from(65_537u32)).expect("test key")
    }

    const TEST_RSA_P: &str = concat!(
        "fc04378d404731243cfb6393320b5b64954f9d3b5dec92c679733596d1fe1ea75820d3c21f115d2d1d3210714fbcd069",
        "e685044bcd07dd87af8378e085c73a864997727a8d91aba3661f04e2efa8e30f1154866bc51aae9f9687b32271115f41",
        "2593fc1ac0d8e5132cf7d5de9f3cff99e3d2a8d9a8cf77611eb1e4909b63e1bb269d2db8c6bbc3cee9cf95942264c143",
        "c2bc00bd819c6c3629b80ed75a0fc8bbcce69f59f0fd6856775e05b866bc6f7d40607fe973aba0c8a12c0558628bf5d2",
        "a54b0c0c9862cf90be63005c75cbe57345f1190865ebd5d08d63562b1a7c606e9b9cd897c01256df0abc9e9916d4718d",
        "94481201a86e0da09c69f4ad19770cdf",
    );
    const TEST_RSA_Q: &str = concat!(
        "e03b746b4a00601c2965cf141ee8c4b82b2b19b30433877975ad3f6a34427f5d014bcc0e622d50c9f6cbf4d4df37d74e",
        "49d6d881f5d60b1f6bbfe3de68924e139be708fd486929b65f86b036eb09e472e30d38328b7f2c06cb5cd03d8049cf5c",
        "00ddaca966d0d5ab9faa1a12be3c9c91452fb5684e1cec6a62b7b44757988a6f9ef37d58c4605812f8984e14fb12f560",
        "eef40c1d7121295801ca4cd912cc2faaeb489db4fd742993869a8044190e828a00a1cfb425290bd194b13db476f6baf7",
        "21a2a2179a6d86a323af2aa73d8cf7f40524278606f3cd72cf04e40e28742478f695faf3848f5238e7c5c024f031e3c1",
        "0b12f08ce3f00e771ac0e328b40f297f",
    );

    /// A fixed 2048-bit RSA test key, for checks that need a modulus shorter than the owner field
    /// (so that s + n still fits in 512 bytes).
    pub(crate) fn test_rsa2048_key() -> rsa::RsaPrivateKey {
        let p = rsa::BigUint::parse_bytes(TEST_RSA2048_P.as_bytes(), 16).expect("p");
        let q = rsa::BigUint::parse_bytes(TEST_RSA2048_Q.as_bytes(), 16).expect("q");
        rsa::RsaPrivateKey::from_p_q(p, q, rsa::BigUint::from(65_537u32)).expect("test key")
    }

    const TEST_RSA2048_P: &str = concat!(
        "dab957cee318b413a4b9f705e9834b29ecbc56d8786b281a74ba56341e0a4586101f97d9fb18ec5e029fd78d02236ca3",
        "f088100d40038ace656776e10c76481a9bf8f0ef910df47a6c57c7f874cc5663a5784d404fd905adbd23b053db6e8d55",
        "dbc1a312e56e6bb44327bc41d116f8487296b84a88f647d2fb76dd953b303fdb",
    );
    const TEST_RSA2048_Q: &str = concat!(
        "d2e28eca321bd9c766e38391aa386a2347e8d1748b5e18b2387760f832f26bb202a3338feea4ea61bf92d9ce50f97891",
        "ee8717f27fdb2c861e70ad555670e97f2ae95b7760f623a0a398355d84d6965fbad58c9a167a0745e67594e62637f721",
        "c9dd14b3bbbd22b047fdaf0e41c6d4b89eb0b72f18293577fcf51b271363c43b",
    );

    /// The SU test vector (`su-vector.b64url`), decoded.
    pub(crate) fn su_vector() -> Option<Vec<u8>> {
        let text = ans104_fixture("su-vector.b64url")?;
        let text = String::from_utf8(text).expect("fixture is not UTF-8");
        Some(super::b64url_decode(text.trim()).expect("fixture is not base64url"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64url_known_values() {
        // RFC 4648 §10 vectors, in the URL alphabet without padding.
        let cases: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (raw, text) in cases {
            assert_eq!(b64url_encode(raw), text);
            assert_eq!(b64url_decode(text).unwrap(), raw);
        }
        assert_eq!(b64url_encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(b64url_decode("-_8").unwrap(), [0xfb, 0xff]);
    }

    #[test]
    fn b64url_tolerates_padding_but_not_other_alphabets() {
        assert_eq!(b64url_decode("Zg==").unwrap(), b"f");
        assert_eq!(b64url_decode("Zm8=").unwrap(), b"fo");
        assert!(b64url_decode("+/8").is_err());
        // Non-canonical trailing bits would give two spellings of one id.
        assert!(b64url_decode("Zh").is_err());
        let err = b64url_decode("a").unwrap_err();
        assert_eq!(err.field(), "base64url");
    }

    #[test]
    fn b64url_decode_32_checks_length_and_names_field() {
        let id = [7u8; 32];
        assert_eq!(
            b64url_decode_32(&b64url_encode(&id), "process-id").unwrap(),
            id
        );
        let err = b64url_decode_32(&b64url_encode(&[1u8; 31]), "process-id").unwrap_err();
        assert_eq!(err.field(), "process-id");
        assert_eq!(err.to_string(), "process-id: expected 32 bytes, got 31");
        let err = b64url_decode_32("not base64!", "Hash-Chain").unwrap_err();
        assert_eq!(err.field(), "Hash-Chain");
        assert!(err.to_string().starts_with("Hash-Chain: invalid base64url"));
    }
}
