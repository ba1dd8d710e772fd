//! Helpers shared by the node's integration tests: nodes on a manual clock, processes and
//! messages, and reading results. The fixtures and generic items come from `aolink-testkit`.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use aolink_node::ans104::{DataItem, Ed25519Signer};
use aolink_node::clock::ManualClock;
use aolink_node::compute::ComputeConfig;
use aolink_node::{Node, NodeConfig};
use serde_json::Value;

pub const T0: i64 = 1_700_000_000_000;

// Not every test file uses every helper.
#[allow(unused_imports)]
pub use aolink_testkit::{fixture, module_item, tags};

pub fn open(dir: &Path, clock: Arc<ManualClock>, compute: ComputeConfig) -> Node {
    let mut config = NodeConfig::new(dir);
    config.compute = compute;
    Node::open_with_clock(config, clock).unwrap()
}

/// A node on a manual clock at `T0` with the default compute limits.
pub fn open_default(dir: &Path) -> Node {
    open(
        dir,
        Arc::new(ManualClock::new(T0)),
        ComputeConfig::default(),
    )
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
