//! The node's own signing key: created on first start, kept in the data directory.
//!
//! The node signs assignments (and later attestations) with an Ed25519 key, ANS-104 signature
//! type 2: signing is deterministic, so replaying a schedule reproduces the same assignment ids,
//! and it is fast enough to sign every scheduled message. Its address is
//! base64url(sha256(public key)), the 43-character form AO tools expect of a scheduler.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ans104::{Ed25519Signer, Signer, b64url_decode, b64url_encode};

/// File name of the key inside the data directory.
pub const KEY_FILE: &str = "node-key.json";

/// Errors loading or creating the node key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read or written.
    #[error("node key {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The key file exists but is not a key this node wrote.
    #[error("node key {path}: {reason}")]
    Invalid {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Group or others may read the key file.
    #[error(
        "node key {path}: permissions are {mode:o}, group and others must have no access (run: chmod 600 {path})"
    )]
    Permissions {
        /// The key file.
        path: PathBuf,
        /// The file's permission bits.
        mode: u32,
    },
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    secret: String,
}

/// The node's signing key.
pub struct NodeKey {
    signer: Ed25519Signer,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("NodeKey")
            .field("address", &self.address())
            .finish()
    }
}

impl NodeKey {
    /// A key from a 32-byte Ed25519 secret (tests and benches).
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        NodeKey {
            signer: Ed25519Signer::from_secret(secret),
        }
    }

    /// Loads the key from `dir`, or creates one there (mode 0600) if there is none.
    /// Returns the key and whether it was created now.
    pub fn load_or_create(dir: &Path) -> Result<(NodeKey, bool), KeyError> {
        Self::load_or_create_file(&dir.join(KEY_FILE))
    }

    /// Loads the key in `path`, or creates one there (mode 0600) if there is none; the same
    /// format and checks as the node key, for the other keys an operator keeps (the chain
    /// adapters' keys). Returns the key and whether it was created now.
    pub fn load_or_create_file(path: &Path) -> Result<(NodeKey, bool), KeyError> {
        let path = path.to_path_buf();
        let io = |source| KeyError::Io {
            path: path.clone(),
            source,
        };
        match fs::read(&path) {
            Ok(bytes) => {
                let mode = fs::metadata(&path).map_err(io)?.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(KeyError::Permissions { path, mode });
                }
                let invalid = |reason: String| KeyError::Invalid {
                    path: path.clone(),
                    reason,
                };
                let file: KeyFile = serde_json::from_slice(&bytes)
                    .map_err(|e| invalid(format!("not a key file: {e}")))?;
                if file.kind != "ed25519" {
                    return Err(invalid(format!(
                        "key type {:?}, expected \"ed25519\"",
                        file.kind
                    )));
                }
                let secret: [u8; 32] = b64url_decode(&file.secret)
                    .ok()
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| invalid("secret is not 32 bytes of base64url".into()))?;
                Ok((NodeKey::from_secret(&secret), false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = NodeKey {
                    signer: Ed25519Signer::generate(),
                };
                key.write_new(&path).map_err(io)?;
                Ok((key, true))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Writes the key to a temporary file created 0600, syncs it, then renames it into place,
    /// so a crash never leaves a half-written key behind.
    fn write_new(&self, path: &Path) -> std::io::Result<()> {
        let file = KeyFile {
            kind: "ed25519".into(),
            secret: b64url_encode(&self.signer.secret()),
        };
        let text = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("json.tmp");
        let mut out = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        out.write_all(&text)?;
        out.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// The key's AO address: base64url(sha256(public key)).
    pub fn address(&self) -> String {
        self.signer.address()
    }

    /// The signer, for building data items.
    pub fn signer(&self) -> &Ed25519Signer {
        &self.signer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_loaded_with_the_same_address() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = NodeKey::load_or_create(dir.path()).unwrap();
        assert!(created);
        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (second, created) = NodeKey::load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(first.address(), second.address());
        assert_eq!(first.address().len(), 43);
    }

    #[test]
    fn refuses_a_key_others_can_read() {
        let dir = tempfile::tempdir().unwrap();
        NodeKey::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = NodeKey::load_or_create(dir.path()).unwrap_err();
        assert!(
            matches!(err, KeyError::Permissions { mode: 0o644, .. }),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_corrupt_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap()
            .write_all(b"{\"type\":\"ed25519\",\"secret\":\"AAAA\"}")
            .unwrap();
        let err = NodeKey::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("32 bytes"), "{err}");
    }
}
