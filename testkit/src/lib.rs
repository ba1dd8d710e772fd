//! Helpers shared by aolink's integration tests and benches: the shared fixture modules and
//! the anvil binary (a failure in CI when missing, a visible skip elsewhere), signed items,
//! reads of a node, and the devnet contracts as alloy bindings.
//!
//! Dev-only: the shipped crates never depend on it. Helpers panic on failure, which is what a
//! test wants. The base needs only `aolink-primitives`; the features `chain`, `rpc` and `node`
//! add the helpers that need a chain, a server or a node.

#[cfg(feature = "chain")]
pub mod chain;
pub mod items;
#[cfg(feature = "node")]
pub mod node;
#[cfg(feature = "rpc")]
pub mod rpc;

#[cfg(feature = "chain")]
pub use chain::*;
pub use items::*;
#[cfg(feature = "node")]
pub use node::*;
#[cfg(feature = "rpc")]
pub use rpc::*;

use std::path::{Path, PathBuf};

/// The workspace root (this crate sits right below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A missing test prerequisite (`reason` says what and how to get it): in CI (`CI` set) the
/// test fails loudly; elsewhere the caller skips, after a visible notice.
pub fn prerequisite_missing(reason: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "cannot run under CI: {reason}"
    );
    // Straight to stderr: the test harness's capture would hide a notice printed otherwise.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** SKIPPED: {reason} ***\n");
}

/// The shared fixture modules (`$AOLINK_FIXTURES`, or `shared/fixtures/ao-modules` beside the
/// clone): test data, read in place.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("AOLINK_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/fixtures/ao-modules"))
}

/// A fixture module's bytes, or `None` (with a notice) outside CI when it is missing.
pub fn fixture(name: &str) -> Option<Vec<u8>> {
    read_fixture(&fixtures_dir().join(name))
}

/// An ANS-104 fixture (the `ans104` folder beside the modules), or `None` as [`fixture`].
pub fn ans104_fixture(name: &str) -> Option<Vec<u8>> {
    read_fixture(&fixtures_dir().join("../ans104").join(name))
}

fn read_fixture(path: &Path) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            prerequisite_missing(&format!(
                "fixture {} is missing ({e}; set AOLINK_FIXTURES)",
                path.display()
            ));
            None
        }
    }
}
