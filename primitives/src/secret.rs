//! Secrets in files: a 32-byte key as hex text, in a file only its owner may read.
//!
//! The one place this crate touches the file system: the attestation keys and the relayers'
//! paying keys are read the same way, by the node and by the chain adapters alike.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why a key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("key {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Group or others may read it.
    #[error(
        "key {path}: permissions are {mode:o}, group and others must have no access (run: chmod 600 {path})"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The text is not a key.
    #[error("key {source_name}: {reason}")]
    Invalid {
        /// The file or variable.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
}

/// A 32-byte secret from hex text (optionally `0x`-prefixed, surrounding space ignored);
/// `source_name` names the file or variable in errors.
pub fn secret_of(text: &str, source_name: &str) -> Result<[u8; 32], KeyError> {
    let invalid = |reason: String| KeyError::Invalid {
        source_name: source_name.to_string(),
        reason,
    };
    let trimmed = text.trim();
    let hex_text = trimmed.strip_prefix("0x").unwrap_or(trimmed);
    let bytes = hex::decode(hex_text).map_err(|e| invalid(format!("not a hex secret ({e})")))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| invalid(format!("{} bytes, a secret is 32", bytes.len())))
}

/// Reads a key file holding a hex secret, refusing one that group or others can read.
pub fn read_key_file(path: &Path) -> Result<[u8; 32], KeyError> {
    secret_of(&read_private_file(path)?, &path.display().to_string())
}

/// Reads a secret file's text, refusing a file that group or others can read.
pub fn read_private_file(path: &Path) -> Result<String, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    std::fs::read_to_string(path).map_err(io)
}
