//! The two signature schemes answers are attested with: EIP-712 secp256k1 for `AOGateway` on
//! EVM chains, ed25519 over [`SolanaPayload`] for Solana's Ed25519 program. Both are
//! deterministic (RFC 6979 for secp256k1), so signing the same payload again gives the same
//! bytes: a restart that re-signs changes nothing anyone saw.

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{SolStruct, eip712_domain};
use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};

use aolink_primitives::answer::{AnswerPayload, Family, SolanaPayload};

use super::AttestError;

mod typed {
    alloy_sol_types::sol! {
        /// `AOGateway`'s EIP-712 answer type (version 2 of its domain).
        struct Answer {
            uint256 requestId;
            bytes32 process;
            address target;
            bytes data;
            bytes32 tagsHash;
            uint64 epoch;
        }
    }
}

/// The EIP-712 domain version `AOGateway` checks.
pub const GATEWAY_DOMAIN_VERSION: &str = "2";

fn bad(field: &'static str, reason: impl Into<String>) -> AttestError {
    AttestError::Payload {
        field,
        reason: reason.into(),
    }
}

/// The EIP-712 digest `AOGateway.digest(...)` computes for `payload` with the answer's `data`.
pub fn eip712_digest(payload: &AnswerPayload, data: &[u8]) -> Result<[u8; 32], AttestError> {
    if aolink_primitives::answer::keccak256(data) != payload.data_hash {
        return Err(bad("data", "does not hash to the payload's dataHash"));
    }
    let chain_id: u64 = payload.chain_id.parse().map_err(|_| {
        bad(
            "chainId",
            format!("{:?} is not an EVM chain id", payload.chain_id),
        )
    })?;
    let gateway: Address = payload.gateway.parse().map_err(|_| {
        bad(
            "gateway",
            format!("{:?} is not an address", payload.gateway),
        )
    })?;
    let target: Address = payload
        .target
        .parse()
        .map_err(|_| bad("target", format!("{:?} is not an address", payload.target)))?;
    let request_id = U256::from_str_radix(&payload.request_id, 10).map_err(|_| {
        bad(
            "requestId",
            format!("{:?} is not a decimal request number", payload.request_id),
        )
    })?;
    let domain = eip712_domain! {
        name: "AOGateway",
        version: GATEWAY_DOMAIN_VERSION,
        chain_id: chain_id,
        verifying_contract: gateway,
    };
    let typed = typed::Answer {
        requestId: request_id,
        process: B256::from(payload.process),
        target,
        data: data.to_vec().into(),
        tagsHash: B256::from(payload.tags_hash),
        epoch: payload.epoch,
    };
    Ok(typed.eip712_signing_hash(&domain).0)
}

/// What a signer signs for `payload`: the EIP-712 digest (Ethereum) or the payload bytes
/// (Solana).
pub fn signed_bytes(payload: &AnswerPayload, data: &[u8]) -> Result<Vec<u8>, AttestError> {
    match Family::of(&payload.chain_id) {
        Family::Ethereum => Ok(eip712_digest(payload, data)?.to_vec()),
        Family::Solana => {
            if aolink_primitives::answer::keccak256(data) != payload.data_hash {
                return Err(bad("data", "does not hash to the payload's dataHash"));
            }
            Ok(SolanaPayload::from_payload(payload)
                .map_err(|e| bad("payload", e.to_string()))?
                .encode())
        }
    }
}

/// The `0x` address of a secp256k1 key.
pub fn ethereum_address(key: &VerifyingKey) -> String {
    let point = key.to_encoded_point(false);
    let hash = aolink_primitives::answer::keccak256(&point.as_bytes()[1..]);
    format!("0x{}", hex::encode(&hash[12..]))
}

/// A 65-byte `r ‖ s ‖ v` signature with low s and v in {27, 28}, as `AOGateway` wants it.
pub fn sign_digest(key: &SigningKey, digest: &[u8; 32]) -> Result<[u8; 65], AttestError> {
    let (mut signature, mut recovery) = key
        .sign_prehash_recoverable(digest)
        .map_err(|e| AttestError::Signing(e.to_string()))?;
    if let Some(low) = signature.normalize_s() {
        signature = low;
        recovery = RecoveryId::new(!recovery.is_y_odd(), recovery.is_x_reduced());
    }
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&signature.to_bytes());
    out[64] = 27 + recovery.to_byte();
    Ok(out)
}

/// The `0x` address that signed `digest`, refusing what `AOGateway` refuses (a high s, a v
/// other than 27 or 28).
pub fn recover_address(digest: &[u8; 32], signature: &[u8]) -> Result<String, AttestError> {
    let sig: &[u8; 65] = signature
        .try_into()
        .map_err(|_| AttestError::Signature(format!("{} bytes, not 65", signature.len())))?;
    let parsed =
        Signature::from_slice(&sig[..64]).map_err(|e| AttestError::Signature(e.to_string()))?;
    if parsed.normalize_s().is_some() {
        return Err(AttestError::Signature("s is not low".into()));
    }
    let v = sig[64]
        .checked_sub(27)
        .and_then(RecoveryId::from_byte)
        .filter(|r| r.to_byte() < 2)
        .ok_or_else(|| AttestError::Signature(format!("v = {} is not 27 or 28", sig[64])))?;
    let key = VerifyingKey::recover_from_prehash(digest, &parsed, v)
        .map_err(|e| AttestError::Signature(e.to_string()))?;
    Ok(ethereum_address(&key))
}

/// Checks an ed25519 signature over the Solana payload bytes.
pub fn verify_ed25519(
    public: &[u8; 32],
    message: &[u8],
    signature: &[u8],
) -> Result<(), AttestError> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(public)
        .map_err(|e| AttestError::Signature(format!("public key: {e}")))?;
    let sig = ed25519_dalek::Signature::from_slice(signature)
        .map_err(|e| AttestError::Signature(e.to_string()))?;
    key.verify_strict(message, &sig)
        .map_err(|_| AttestError::Signature("the ed25519 signature does not verify".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> (AnswerPayload, Vec<u8>) {
        let data = b"pong".to_vec();
        (
            AnswerPayload {
                chain_id: "31337".into(),
                gateway: "0x5fbdb2315678afecb367f032d93f642f64180aa3".into(),
                target: "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512".into(),
                request_id: "1".into(),
                process: [3; 32],
                data_hash: aolink_primitives::answer::keccak256(&data),
                tags_hash: [4; 32],
                epoch: 0,
            },
            data,
        )
    }

    #[test]
    fn the_digest_is_eip712_over_the_gateways_type_string() {
        // Recomputed by hand from the type strings, as AOGateway.digest does.
        let (p, data) = payload();
        let k = aolink_primitives::answer::keccak256;
        let word = |b: &[u8]| {
            let mut w = [0u8; 32];
            w[32 - b.len()..].copy_from_slice(b);
            w
        };
        let type_hash =
            k(b"Answer(uint256 requestId,bytes32 process,address target,bytes data,bytes32 tagsHash,uint64 epoch)");
        let mut s = type_hash.to_vec();
        s.extend(word(&[1]));
        s.extend(p.process);
        s.extend(word(&hex::decode(&p.target[2..]).unwrap()));
        s.extend(k(&data));
        s.extend(p.tags_hash);
        s.extend(word(&[0]));
        let struct_hash = k(&s);
        let mut d = k(
            b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
        )
        .to_vec();
        d.extend(k(b"AOGateway"));
        d.extend(k(b"2"));
        d.extend(word(&31337u64.to_be_bytes()));
        d.extend(word(&hex::decode(&p.gateway[2..]).unwrap()));
        let domain = k(&d);
        let mut m = vec![0x19, 0x01];
        m.extend(domain);
        m.extend(struct_hash);
        assert_eq!(eip712_digest(&p, &data).unwrap(), k(&m));
    }

    #[test]
    fn the_forge_tests_vector_is_reproduced() {
        // contracts/test/AOGateway.t.sol, testTheDigestIsTheEip712AnswerV2: the same numbers.
        let answer = aolink_primitives::answer::Answer {
            chain_id: "31337".into(),
            gateway: "0x5615deb798bb3e4dfa0139dfa1b3d433cc23b72f".into(),
            target: "0x2e234dae75c793f67a35089c9d99245e1c58470b".into(),
            request_id: "1".into(),
            request_tx: "0x00".into(),
            process: aolink_primitives::ans104::b64url_encode(&{
                let mut p = [0u8; 32];
                p[31] = 0xa0;
                p
            }),
            requested_process: String::new(),
            message: String::new(),
            mirror: String::new(),
            slot: 0,
            data: "world".into(),
            data_encoding: None,
            tags: vec![
                ("Action".into(), "Answer".into()),
                ("Request-Id".into(), "1".into()),
            ],
        };
        assert_eq!(
            hex::encode(answer.tags_hash()),
            "2d3ce5da00776d7ab8faca38dc5b5bf9072d88fff76c9e781c162f94f6ef52d4"
        );
        let payload = answer.payload(0).unwrap();
        assert_eq!(
            hex::encode(eip712_digest(&payload, b"world").unwrap()),
            "b2ea3d8f94415948555c09af6b5007faca27f813b3cccee3f247307ec98a7c50"
        );
    }

    #[test]
    fn signatures_recover_to_the_signer_and_tampering_does_not() {
        let (p, data) = payload();
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let digest = eip712_digest(&p, &data).unwrap();
        let sig = sign_digest(&key, &digest).unwrap();
        assert_eq!(sig, sign_digest(&key, &digest).unwrap(), "deterministic");
        let me = ethereum_address(key.verifying_key());
        assert_eq!(recover_address(&digest, &sig).unwrap(), me);
        let mut other = p.clone();
        other.epoch = 1;
        let d2 = eip712_digest(&other, &data).unwrap();
        assert_ne!(recover_address(&d2, &sig).unwrap(), me);
        let mut high_v = sig;
        high_v[64] = 29;
        assert!(recover_address(&digest, &high_v).is_err());
        assert!(eip712_digest(&p, b"other data").is_err());
    }

    #[test]
    fn a_known_key_has_its_known_address() {
        // anvil's first account.
        let key = SigningKey::from_slice(
            &hex::decode("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            ethereum_address(key.verifying_key()),
            "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
        );
    }
}
