//! Kill -9 of the relayer in the middle of a 20,000-event backfill from a real anvil, and a
//! restart: every event reaches the mirror's schedule exactly once (no gap, no duplicate).

mod support;

use std::time::{Duration, Instant};

use alloy::primitives::B256;
use aolink_node::ans104::b64url_decode_32;
use aolink_node::{Node, NodeConfig};
use aolink_testkit::{DevEventBurst, anvil, burst_stakes, dry, mirror_inbox, wallet_provider};
use support::RunningNode;

const EVENTS: u64 = 20_000;
const PER_TX: u64 = 500;

/// Every (txHash, logIndex) in the mirror's `Chain-Event` items, in slot order, read from the
/// stopped node's store.
fn delivered(data_dir: &std::path::Path, pid: &[u8; 32]) -> Vec<(String, u64)> {
    let node = Node::open(NodeConfig::new(data_dir)).unwrap();
    let (events, reorgs) = mirror_inbox(&node, pid);
    assert_eq!(reorgs, 0, "no reorg on this chain");
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_a_20000_event_backfill_every_event_arrives_exactly_once() {
    let Some(anvil) = anvil() else {
        return;
    };
    let provider = wallet_provider(&anvil);
    let burst = DevEventBurst::deploy(&provider).await.unwrap();
    for i in 0..EVENTS / PER_TX {
        burst_stakes(&burst, PER_TX, i * PER_TX, B256::repeat_byte(9)).await;
    }

    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let config = dir.path().join("aolink.toml");
    std::fs::write(
        &config,
        format!(
            "[[ethereum]]\nchain_id = 31337\nrpc = \"{}\"\nfinality = 0\npoll_interval_ms = 50\n\
             # One block per eth_getLogs: a long backfill to be killed in.\nmax_range = 1\n\n\
             [[ethereum.contracts]]\naddress = \"{:#x}\"\nstart_block = 1\n",
            anvil.endpoint_url(),
            burst.address()
        ),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];

    let (node, printed) = RunningNode::start_with(&data_dir, &args);
    let mirror = support::printed_mirror(&printed, "31337");
    // Kill as soon as part of the backfill is in.
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = reqwest::Client::new();
    while node.latest_slot(&client, &mirror).await < 3 {
        assert!(Instant::now() < deadline, "no progress in 60 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    node.kill9();
    let pid = b64url_decode_32(&mirror, "mirror").unwrap();
    let before = delivered(&data_dir, &pid).len() as u64;
    eprintln!("killed with {before} of {EVENTS} events delivered");
    assert!(
        before > 0 && before < EVENTS,
        "killed mid-backfill ({before} of {EVENTS} delivered)"
    );

    let (node, printed) = RunningNode::start_with(&data_dir, &args);
    assert!(
        printed.iter().any(|l| l.contains(&mirror)),
        "the same mirror after restart"
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let info = dry(&node.url, &pid, "Info").await;
        if info["Output"]["events"] == EVENTS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "backfill not complete in 120 s: {info}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    node.stop();

    let events = delivered(&data_dir, &pid);
    let mut unique = events.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        events.len(),
        "no event twice in the mirror's slots"
    );
    assert_eq!(events.len() as u64, EVENTS, "no event missing");
    drop(anvil);
}
