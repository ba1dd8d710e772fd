//! The attestation keys: a secp256k1 key for EVM chains and an ed25519 key for Solana, each
//! from a file only its owner may read (mode 0600) or from the environment.
//!
//! A key file holds the 32-byte secret as hex (optionally `0x`-prefixed), alone on its line;
//! the environment variables hold the same text.

use std::path::Path;

use aolink_primitives::answer::Family;
pub use aolink_primitives::secret::{KeyError, read_key_file, secret_of};

use super::AttestError;

/// The environment variable holding the secp256k1 attestation secret.
pub const ETHEREUM_KEY_ENV: &str = "AOLINK_ATTEST_ETHEREUM_KEY";
/// The environment variable holding the ed25519 attestation secret.
pub const SOLANA_KEY_ENV: &str = "AOLINK_ATTEST_SOLANA_KEY";

/// The keys this node attests with. Debug never shows a secret.
#[derive(Clone, Default)]
pub struct AttestKeys {
    ethereum: Option<k256::ecdsa::SigningKey>,
    solana: Option<ed25519_dalek::SigningKey>,
}

impl std::fmt::Debug for AttestKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestKeys")
            .field("ethereum", &self.ethereum_address())
            .field("solana", &self.solana_public())
            .finish()
    }
}

impl AttestKeys {
    /// No keys: the node records answers and signs nothing.
    pub fn none() -> AttestKeys {
        AttestKeys::default()
    }

    /// With a secp256k1 secret for EVM chains.
    pub fn with_ethereum(
        mut self,
        secret: &[u8; 32],
        source_name: &str,
    ) -> Result<AttestKeys, KeyError> {
        let key = k256::ecdsa::SigningKey::from_slice(secret).map_err(|e| KeyError::Invalid {
            source_name: source_name.to_string(),
            reason: format!("not a secp256k1 secret ({e})"),
        })?;
        self.ethereum = Some(key);
        Ok(self)
    }

    /// With an ed25519 secret for Solana.
    pub fn with_solana(mut self, secret: &[u8; 32]) -> AttestKeys {
        self.solana = Some(ed25519_dalek::SigningKey::from_bytes(secret));
        self
    }

    /// The keys named by files (either may be absent), each overridden by its environment
    /// variable when that is set.
    pub fn load(ethereum: Option<&Path>, solana: Option<&Path>) -> Result<AttestKeys, KeyError> {
        let mut keys = AttestKeys::none();
        if let Ok(text) = std::env::var(ETHEREUM_KEY_ENV) {
            keys = keys.with_ethereum(&secret_of(&text, ETHEREUM_KEY_ENV)?, ETHEREUM_KEY_ENV)?;
        } else if let Some(path) = ethereum {
            keys = keys.with_ethereum(&read_key_file(path)?, &path.display().to_string())?;
        }
        if let Ok(text) = std::env::var(SOLANA_KEY_ENV) {
            keys = keys.with_solana(&secret_of(&text, SOLANA_KEY_ENV)?);
        } else if let Some(path) = solana {
            keys = keys.with_solana(&read_key_file(path)?);
        }
        Ok(keys)
    }

    /// Whether there is a key for `family`.
    pub fn has(&self, family: Family) -> bool {
        match family {
            Family::Ethereum => self.ethereum.is_some(),
            Family::Solana => self.solana.is_some(),
        }
    }

    /// The `0x` address of the secp256k1 key.
    pub fn ethereum_address(&self) -> Option<String> {
        self.ethereum
            .as_ref()
            .map(|k| super::sign::ethereum_address(k.verifying_key()))
    }

    /// The base58 public key of the ed25519 key.
    pub fn solana_public(&self) -> Option<String> {
        self.solana
            .as_ref()
            .map(|k| bs58::encode(k.verifying_key().to_bytes()).into_string())
    }

    /// Signs `bytes` (an EIP-712 digest, or a Solana payload) with the key for `family`:
    /// the signer's name and the signature.
    pub fn sign(&self, family: Family, bytes: &[u8]) -> Result<(String, Vec<u8>), AttestError> {
        match family {
            Family::Ethereum => {
                let key = self
                    .ethereum
                    .as_ref()
                    .ok_or_else(|| AttestError::Signing("no secp256k1 key".into()))?;
                let digest: &[u8; 32] = bytes
                    .try_into()
                    .map_err(|_| AttestError::Signing("an EIP-712 digest is 32 bytes".into()))?;
                let signature = super::sign::sign_digest(key, digest)?;
                Ok((
                    super::sign::ethereum_address(key.verifying_key()),
                    signature.to_vec(),
                ))
            }
            Family::Solana => {
                use ed25519_dalek::Signer as _;
                let key = self
                    .solana
                    .as_ref()
                    .ok_or_else(|| AttestError::Signing("no ed25519 key".into()))?;
                Ok((
                    bs58::encode(key.verifying_key().to_bytes()).into_string(),
                    key.sign(bytes).to_bytes().to_vec(),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_key_file_others_can_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eth.key");
        let mut f = std::fs::File::create(&path).unwrap();
        writeln!(f, "0x{}", "11".repeat(32)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_key_file(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_key_file(&path).unwrap(), [0x11; 32]);
    }

    #[test]
    fn malformed_secrets_name_their_source() {
        let err = secret_of("xyz", "eth.key").unwrap_err().to_string();
        assert!(err.contains("eth.key") && err.contains("hex"), "{err}");
        let err = secret_of("00ff", "eth.key").unwrap_err().to_string();
        assert!(err.contains("2 bytes"), "{err}");
        let zero = AttestKeys::none().with_ethereum(&[0; 32], "eth.key");
        assert!(zero.unwrap_err().to_string().contains("secp256k1"));
    }

    #[test]
    fn debug_shows_addresses_not_secrets() {
        let keys = AttestKeys::none()
            .with_ethereum(&[7; 32], "t")
            .unwrap()
            .with_solana(&[8; 32]);
        let shown = format!("{keys:?}");
        assert!(!shown.contains("0707") && shown.contains("0x"), "{shown}");
    }
}
