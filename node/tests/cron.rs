//! Cron on a real aos process: ticks between scheduled messages and up to now, their results
//! listed in order, monitored outboxes pushed to the target process, the scheduler never
//! stamping a message before ticks already evaluated, and a replay reaching the same memory.

mod support;

use std::sync::Arc;

use aolink_node::Node;
use aolink_node::ans104::{DataItem, Ed25519Signer};
use aolink_node::clock::ManualClock;
use aolink_node::compute::ComputeConfig;
use aolink_node::scheduler::Outcome;
use serde_json::Value;
use support::*;

const WASM64: &str = "wasm64-unknown-emscripten-draft_2024_02_15";

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

async fn advance(node: &Node, process: &DataItem) {
    let (node, pid) = (node.clone(), process.id());
    blocking(move || node.advance_crons(&pid)).await.unwrap();
}

async fn crank(node: &Node) {
    let node = node.clone();
    blocking(move || while node.crank_once().unwrap() {}).await;
}

fn cron_results(node: &Node, process: &DataItem) -> Vec<Value> {
    node.store()
        .crons_after(&process.id(), None)
        .map(|r| serde_json::from_slice(&r.unwrap().1).unwrap())
        .collect()
}

async fn submit_at(node: &Node, clock: &ManualClock, at: i64, item: &DataItem) -> i64 {
    clock.set(at);
    match node.submit(item.to_bytes()).await.unwrap() {
        Outcome::Scheduled(a) => a.timestamp,
        other => panic!("not scheduled: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_ticks_evaluate_push_and_replay() {
    let Some(wasm) = fixture("aos-wasm64.wasm") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let config = ComputeConfig {
        checkpoint_every: u64::MAX,
        ..ComputeConfig::default()
    };
    let node = open(dir.path(), clock.clone(), config);
    let signer = Ed25519Signer::generate();
    let module = module_item(&signer, wasm, WASM64);
    node.submit(module.to_bytes()).await.unwrap();
    let peer = process_item(&signer, &node, &module, &[("Name", "peer")]);
    node.submit(peer.to_bytes()).await.unwrap();
    let ticker = process_item(
        &signer,
        &node,
        &module,
        &[("Cron-Interval", "10-seconds"), ("Cron-Tag-Action", "Cron")],
    );
    node.submit(ticker.to_bytes()).await.unwrap();
    let handler = format!(
        "Ticks = 0; Handlers.add('cron', Handlers.utils.hasMatchingTag('Action', 'Cron'), \
         function(m) Ticks = Ticks + 1; Send({{Target = '{}', Action = 'Tick', Data = tostring(Ticks)}}) end); return 'ok'",
        peer.id_b64()
    );
    submit_at(
        &node,
        &clock,
        T0 + 1_000,
        &message(&signer, &ticker, "Eval", &handler),
    )
    .await;

    // Up to now: ticks at +10 s, +20 s, +30 s (the origin second never fires).
    clock.set(T0 + 35_500);
    advance(&node, &ticker).await;
    let ticks = cron_results(&node, &ticker);
    let stamps: Vec<i64> = ticks
        .iter()
        .map(|t| t["timestamp"].as_i64().unwrap())
        .collect();
    assert_eq!(stamps, vec![T0 + 10_000, T0 + 20_000, T0 + 30_000]);
    for (n, tick) in ticks.iter().enumerate() {
        assert_eq!(tick["cron"], "0-10-seconds");
        let sent = &tick["result"]["Messages"][0];
        assert_eq!(sent["Target"], peer.id_b64(), "{tick}");
        assert_eq!(sent["Data"], (n + 1).to_string(), "{tick}");
    }

    // The clock steps back (NTP): the next message still comes after the evaluated ticks.
    let at = submit_at(
        &node,
        &clock,
        T0 + 30_000,
        &message(&signer, &ticker, "Eval", "return Ticks"),
    )
    .await;
    assert!(
        at >= T0 + 35_500,
        "message stamped {at}, before evaluated ticks"
    );

    // Ticks between two scheduled messages are evaluated before the later one.
    let late = message(&signer, &ticker, "Eval", "return Ticks");
    submit_at(&node, &clock, T0 + 52_000, &late).await;
    let r = result_of(&node, &ticker, 3).await;
    assert_eq!(
        output_text(&r),
        "5",
        "ticks at +40 s and +50 s ran first: {r}"
    );
    assert_eq!(cron_results(&node, &ticker).len(), 5);

    // Nothing was pushed so far: the process is not monitored.
    crank(&node).await;
    let peer_slots = node.store().process(&peer.id()).unwrap().unwrap().next_slot;
    assert_eq!(peer_slots, 1, "only the peer's own process message");

    // Monitored: ticks from now on reach the peer, once each, even when pushed twice.
    let pid = ticker.id();
    let n = node.clone();
    assert!(blocking(move || n.monitor(&pid)).await.unwrap());
    clock.set(T0 + 71_000);
    let n = node.clone();
    assert!(blocking(move || n.monitor_once()).await.unwrap());
    crank(&node).await;
    let n = node.clone();
    blocking(move || n.monitor_once()).await.unwrap();
    let peer_record = node.store().process(&peer.id()).unwrap().unwrap();
    assert_eq!(peer_record.next_slot, 3, "two ticks pushed to the peer");
    let mut data = Vec::new();
    for slot in 1..3 {
        let entry = node.store().entry(&peer.id(), slot).unwrap().unwrap();
        let item =
            DataItem::parse(&node.store().item(&entry.message_id).unwrap().unwrap()).unwrap();
        assert_eq!(item.tag("From-Process"), Some(ticker.id_b64().as_str()));
        assert_eq!(item.tag("Action"), Some("Tick"));
        data.push(String::from_utf8(item.data.clone()).unwrap());
    }
    assert_eq!(data, vec!["6", "7"]);

    // A restart keeps the floor: a message cannot be stamped before evaluated ticks.
    let hash_before = {
        let (c, pid) = (node.compute().clone(), ticker.id());
        blocking(move || c.memory_hash(&pid)).await.unwrap()
    };
    // No shutdown checkpoint: everything is regenerated from the schedule alone.
    drop(node);
    let node = open(dir.path(), clock.clone(), ComputeConfig::default());
    assert!(node.store().checkpoint(&ticker.id()).unwrap().is_none());
    advance(&node, &ticker).await;
    let hash_replayed = {
        let (c, pid) = (node.compute().clone(), ticker.id());
        blocking(move || c.memory_hash(&pid)).await.unwrap()
    };
    assert_eq!(
        hash_before, hash_replayed,
        "restart reached different memory"
    );
    let at = submit_at(
        &node,
        &clock,
        T0 + 60_000,
        &message(&signer, &ticker, "Eval", "return Ticks"),
    )
    .await;
    assert!(
        at >= T0 + 71_000,
        "after restart a message was stamped {at}"
    );
    let r = result_of(&node, &ticker, 4).await;
    assert_eq!(output_text(&r), "7", "{r}");

    let n = node.clone();
    let pid = ticker.id();
    assert!(blocking(move || n.unmonitor(&pid)).await.unwrap());
}

#[tokio::test]
async fn bad_cron_tags_are_refused_at_spawn() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_default(dir.path());
    let signer = Ed25519Signer::generate();
    let module = module_item(&signer, b"\0asm\x01\0\0\0".to_vec(), WASM64);
    for (extra, field) in [
        (vec![("Cron-Interval", "1-months")], "tags.Cron-Interval"),
        (vec![("Cron-Interval", "500-ms")], "tags.Cron-Interval"),
        (vec![("Cron-Tag-Action", "Cron")], "tags.Cron-Tag"),
    ] {
        let before = node.store().counts();
        let process = process_item(&signer, &node, &module, &extra);
        let err = node
            .submit(process.to_bytes())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{extra:?}: {err}");
        assert_eq!(
            node.store().counts(),
            before,
            "nothing stored for {extra:?}"
        );
    }
}
