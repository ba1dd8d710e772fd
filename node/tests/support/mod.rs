//! Helpers shared by the node's integration tests: the fixture modules (read in place),
//! nodes on a manual clock, and signed module/process/message items.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aolink_node::ans104::{DataItem, Ed25519Signer, Tag};
use aolink_node::clock::ManualClock;
use aolink_node::compute::ComputeConfig;
use aolink_node::{Node, NodeConfig};
use serde_json::Value;

pub const T0: i64 = 1_700_000_000_000;

/// The shared fixture modules: test data, read in place.
pub fn fixture(name: &str) -> Option<Vec<u8>> {
    let dir = std::env::var_os("AOLINK_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/ao-modules")
        });
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("fixture {} missing in CI: {e}", path.display())
        }
        Err(_) => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: fixture missing at {}",
                path.display()
            );
            None
        }
    }
}

pub fn open(dir: &Path, clock: Arc<ManualClock>, compute: ComputeConfig) -> Node {
    let mut config = NodeConfig::new(dir);
    config.compute = compute;
    Node::open_with_clock(config, clock).unwrap()
}

pub fn tags(pairs: &[(&str, &str)]) -> Vec<Tag> {
    pairs.iter().map(|(n, v)| Tag::new(*n, *v)).collect()
}

pub fn module_item(signer: &Ed25519Signer, wasm: Vec<u8>, format: &str) -> DataItem {
    DataItem::sign(
        signer,
        None,
        None,
        tags(&[
            ("Data-Protocol", "ao"),
            ("Variant", "ao.TN.1"),
            ("Type", "Module"),
            ("Module-Format", format),
            ("Input-Encoding", "JSON-1"),
            ("Output-Encoding", "JSON-1"),
            ("Content-Type", "application/wasm"),
        ]),
        wasm,
    )
    .unwrap()
}

pub fn process_item(
    signer: &Ed25519Signer,
    node: &Node,
    module: &DataItem,
    extra: &[(&str, &str)],
) -> DataItem {
    let module_id = module.id_b64();
    let mut t = tags(&[
        ("Data-Protocol", "ao"),
        ("Variant", "ao.TN.1"),
        ("Type", "Process"),
        ("Module", &module_id),
        ("Scheduler", node.address()),
        ("Authority", node.address()),
    ]);
    t.extend(tags(extra));
    DataItem::sign(signer, None, None, t, b"1984".to_vec()).unwrap()
}

/// A message; each gets a distinct `Test-Seq` tag, since identical items share an id and the
/// node (rightly) schedules an id once.
pub fn message(signer: &Ed25519Signer, process: &DataItem, action: &str, data: &str) -> DataItem {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        .to_string();
    DataItem::sign(
        signer,
        Some(process.id()),
        None,
        tags(&[
            ("Data-Protocol", "ao"),
            ("Variant", "ao.TN.1"),
            ("Type", "Message"),
            ("Action", action),
            ("Test-Seq", &seq),
        ]),
        data.as_bytes().to_vec(),
    )
    .unwrap()
}

pub async fn result_of(node: &Node, process: &DataItem, slot: u64) -> Value {
    let compute = node.compute().clone();
    let pid = process.id();
    tokio::task::spawn_blocking(move || compute.result(&pid, slot))
        .await
        .unwrap()
        .unwrap()
}

pub fn output_text(result: &Value) -> String {
    match &result["Output"] {
        Value::String(s) => s.clone(),
        Value::Object(o) => match o.get("data") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        },
        other => other.to_string(),
    }
}
