//! Native devices as processes of the node: an adapter's chain events reach a `mirror@1.0`
//! process, which forwards them through the messenger to a `bridge@1.0` ledger; unauthorised
//! inputs get Error results and change nothing; checkpoints and restarts reach the same bytes
//! as a straight run.

mod support;

use std::path::Path;
use std::sync::Arc;

use aolink_node::Node;
use aolink_node::ans104::{DataItem, Ed25519Signer, Signer};
use aolink_node::clock::ManualClock;
use aolink_node::compute::ComputeConfig;
use serde_json::{Value, json};
use support::*;

const CONTRACT: &str = "0x00000000000000000000000000000000000000b1";

/// A device process. No `Scheduler` tag: the same items then run on any node.
fn device_process(signer: &Ed25519Signer, extra: &[(&str, &str)]) -> DataItem {
    let mut t = tags(&[
        ("Data-Protocol", "ao"),
        ("Variant", "ao.TN.1"),
        ("Type", "Process"),
    ]);
    t.extend(tags(extra));
    DataItem::sign(signer, None, None, t, Vec::new()).unwrap()
}

fn to(
    signer: &Ed25519Signer,
    process: &DataItem,
    extra: &[(&str, &str)],
    data: &Value,
) -> DataItem {
    let mut t = tags(&[
        ("Data-Protocol", "ao"),
        ("Variant", "ao.TN.1"),
        ("Type", "Message"),
    ]);
    t.extend(tags(extra));
    DataItem::sign(
        signer,
        Some(process.id()),
        None,
        t,
        data.to_string().into_bytes(),
    )
    .unwrap()
}

fn stake(tx: u64, pool: u8, user: &str, amount: &str, recipient: u8) -> Value {
    json!({
        "event": "UserStaked", "txHash": format!("0x{tx:064x}"), "logIndex": 0,
        "blockNumber": tx, "blockHash": format!("0x{tx:064x}"),
        "fields": {"poolId": pool.to_string(), "user": user, "amount": amount,
                   "arweaveAddress": format!("0x{}", hex::encode([recipient; 32]))}
    })
}

struct World {
    adapter: Ed25519Signer,
    owner: Ed25519Signer,
    oracle: Ed25519Signer,
    mirror: DataItem,
    bridge: DataItem,
    /// Every item, in order, so another node can be fed the identical stream.
    stream: Vec<(i64, DataItem)>,
}

async fn submit(node: &Node, clock: &ManualClock, at: i64, item: &DataItem) {
    clock.set(at);
    node.submit(item.to_bytes()).await.unwrap();
    let n = node.clone();
    tokio::task::spawn_blocking(move || while n.crank_once().unwrap() {})
        .await
        .unwrap();
}

fn world() -> World {
    let adapter = Ed25519Signer::generate();
    let owner = Ed25519Signer::generate();
    let oracle = Ed25519Signer::generate();
    let adapter_address = adapter.address();
    let mirror = device_process(
        &owner,
        &[
            ("Device", "mirror@1.0"),
            ("Chain-Id", "31337"),
            ("Contract", CONTRACT),
            ("Authority", &adapter_address),
        ],
    );
    let t0 = T0.to_string();
    let mirror_id = mirror.id_b64();
    let bridge = device_process(
        &owner,
        &[
            ("Device", "bridge@1.0"),
            ("Mirror", &mirror_id),
            ("Asset", &format!("stETH:31337:{CONTRACT}:0")),
            ("Asset", &format!("DAI:31337:{CONTRACT}:1")),
            ("Oracle", &oracle.address()),
            ("Mint-T0", &t0),
            ("Bridge-Start", &t0),
            ("Accrual-Delay", "0"),
        ],
    );
    let subscribe = to(
        &owner,
        &mirror,
        &[
            ("Action", "Subscribe"),
            ("Event", "*"),
            ("Subscriber", &bridge.id_b64()),
        ],
        &json!(null),
    );
    let chain = |data: Value| {
        to(
            &adapter,
            &mirror,
            &[
                ("Action", "Chain-Event"),
                ("Chain-Id", "31337"),
                ("Contract", CONTRACT),
            ],
            &data,
        )
    };
    let quotes = to(
        &oracle,
        &bridge,
        &[("Action", "Oracle-Update")],
        &json!({"quotes": {"stETH": {"price": "3000", "yieldBps": "300"}, "DAI": {"price": "1", "yieldBps": "500"}}}),
    );
    let stream = vec![
        (T0 + 1, mirror.clone()),
        (T0 + 2, bridge.clone()),
        (T0 + 3, subscribe),
        (T0 + 4, quotes),
        (
            T0 + 5,
            chain(
                json!({"events": [stake(1, 0, "0xalice", "9999999999999999998", 7), stake(2, 1, "0xbob", "500", 8)], "head": {"number": 3, "hash": "0x03"}}),
            ),
        ),
        (
            T0 + 700_000,
            chain(
                json!({"events": [stake(4, 1, "0xbob", "250", 8)], "head": {"number": 4, "hash": "0x04"}}),
            ),
        ),
        (
            T0 + 1_300_000,
            chain(
                json!({"events": [stake(4, 1, "0xbob", "250", 8), stake(5, 0, "0xcarol", "42", 9)], "head": {"number": 5, "hash": "0x05"}}),
            ),
        ),
    ];
    World {
        adapter,
        owner,
        oracle,
        mirror,
        bridge,
        stream,
    }
}

async fn state_of(node: &Node, process: &DataItem) -> Vec<u8> {
    let (c, pid) = (node.compute().clone(), process.id());
    tokio::task::spawn_blocking(move || c.state(&pid).unwrap().0)
        .await
        .unwrap()
}

async fn dry(node: &Node, process: &DataItem, action: &str, at: i64) -> Value {
    let (c, pid) = (node.compute().clone(), process.id());
    let msg = json!({"Tags": [{"name": "Action", "value": action}], "From": "reader", "Owner": "reader", "Timestamp": at});
    tokio::task::spawn_blocking(move || c.dry_run(&pid, &msg).unwrap())
        .await
        .unwrap()
}

fn last_result(node: &Node, process: &DataItem) -> Value {
    let (slot, raw) = node
        .store()
        .results_from(&process.id(), 0)
        .last()
        .unwrap()
        .unwrap();
    let _ = slot;
    serde_json::from_slice(&raw).unwrap()
}

async fn run(
    dir: &Path,
    config: ComputeConfig,
    stream: &[(i64, DataItem)],
    restart_at: Option<usize>,
) -> (Vec<u8>, Vec<u8>) {
    let clock = Arc::new(ManualClock::new(T0));
    let mut node = open(dir, clock.clone(), config.clone());
    for (i, (at, item)) in stream.iter().enumerate() {
        if restart_at == Some(i) {
            node.shutdown().await.unwrap();
            drop(node);
            node = open(dir, clock.clone(), config.clone());
            // The restarted node resumes the devices from their checkpoints.
            for process in [&stream[0].1, &stream[1].1] {
                assert!(node.store().checkpoint(&process.id()).unwrap().is_some());
            }
        }
        submit(&node, &clock, *at, item).await;
    }
    let mirror = &stream[0].1;
    let bridge = &stream[1].1;
    (state_of(&node, mirror).await, state_of(&node, bridge).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_events_flow_from_mirror_to_bridge_and_intruders_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let node = open(dir.path(), clock.clone(), ComputeConfig::default());
    let w = world();
    for (at, item) in &w.stream {
        submit(&node, &clock, *at, item).await;
    }
    let at = T0 + 1_300_001;
    let info = dry(&node, &w.bridge, "Info", at).await;
    assert_eq!(info.get("Error"), None, "{info}");
    let out = &info["Output"];
    // Credited amounts, each event once (tx 4 arrived twice).
    assert_eq!(out["totals"]["stETH"], "10000000000000000040", "{out}");
    assert_eq!(out["totals"]["DAI"], "750", "{out}");
    assert_eq!(out["mintedPeriods"], 4);
    let view = dry(&node, &w.mirror, "State", at).await;
    assert_eq!(view["Output"]["poolTotals"]["1"], "750", "{view}");
    assert_eq!(view["Output"]["head"]["number"], 5);
    // The mint paid the bridgers: periods 2 and 3 (after the first stakes) had weight.
    let balances = dry(&node, &w.bridge, "Balances", at).await;
    let alice = aolink_node::ans104::b64url_encode(&[7u8; 32]);
    assert!(balances["Output"][&alice].as_str().is_some(), "{balances}");

    // Intruders: an adapter event straight to the bridge, a forged oracle, an event from a
    // key that is not the mirror's Authority. Each gets an Error result; no state changes.
    let bridge_before = state_of(&node, &w.bridge).await;
    let mirror_before = state_of(&node, &w.mirror).await;
    let direct = to(
        &w.adapter,
        &w.bridge,
        &[
            ("Action", "Chain-Event"),
            ("Chain-Id", "31337"),
            ("Contract", CONTRACT),
        ],
        &json!({"events": [stake(99, 0, "0xeve", "1000000", 6)]}),
    );
    submit(&node, &clock, at, &direct).await;
    let r = last_result(&node, &w.bridge);
    assert!(r["Error"].as_str().unwrap().contains("not a Mirror"), "{r}");
    let forged = to(
        &w.owner,
        &w.bridge,
        &[("Action", "Oracle-Update")],
        &json!({"quotes": {"DAI": {"price": "1000000", "yieldBps": "9999"}}}),
    );
    submit(&node, &clock, at + 1, &forged).await;
    let r = last_result(&node, &w.bridge);
    assert!(
        r["Error"].as_str().unwrap().contains("not an Oracle"),
        "{r}"
    );
    let snapshot = to(
        &w.oracle,
        &w.bridge,
        &[("Action", "AR-Snapshot")],
        &json!({"balances": {"eve": "1"}}),
    );
    submit(&node, &clock, at + 2, &snapshot).await;
    let r = last_result(&node, &w.bridge);
    assert!(
        r["Error"].as_str().unwrap().contains("Snapshot-Authority"),
        "{r}"
    );
    let intruder = Ed25519Signer::generate();
    let fake = to(
        &intruder,
        &w.mirror,
        &[
            ("Action", "Chain-Event"),
            ("Chain-Id", "31337"),
            ("Contract", CONTRACT),
        ],
        &json!({"events": [stake(98, 0, "0xeve", "1", 6)]}),
    );
    submit(&node, &clock, at + 3, &fake).await;
    let r = last_result(&node, &w.mirror);
    assert!(r["Error"].as_str().unwrap().contains("Authority"), "{r}");
    assert_eq!(state_of(&node, &w.bridge).await, bridge_before);
    assert_eq!(state_of(&node, &w.mirror).await, mirror_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_and_restarts_reach_the_bytes_of_a_straight_run() {
    let scratch = tempfile::tempdir().unwrap();
    let stream = world().stream;

    let straight = run(
        &scratch.path().join("straight"),
        ComputeConfig {
            checkpoint_every: u64::MAX,
            ..ComputeConfig::default()
        },
        &stream,
        None,
    )
    .await;
    let checkpointed = run(
        &scratch.path().join("checkpointed"),
        ComputeConfig {
            checkpoint_every: 1,
            snapshot_every: 1,
            ..ComputeConfig::default()
        },
        &stream,
        Some(5),
    )
    .await;
    assert_eq!(straight.0, checkpointed.0, "mirror state differs");
    assert_eq!(straight.1, checkpointed.1, "bridge state differs");
    assert!(!straight.1.is_empty());
}
