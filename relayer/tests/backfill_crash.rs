//! Kill -9 of the relayer in the middle of a 20,000-event backfill from a real anvil, and a
//! restart: every event reaches the mirror's schedule exactly once (no gap, no duplicate).

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy::network::EthereumWallet;
use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{B256, U256};
use alloy::providers::ProviderBuilder;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use aolink_node::ans104::{DataItem, b64url_decode_32};
use aolink_node::{Node, NodeConfig};
use serde_json::{Value, json};
use support::RunningNode;

sol!(
    #[sol(rpc)]
    DevEventBurst,
    "../contracts/artifacts/DevEventBurst.json"
);

/// anvil as `contracts/build` installs it; missing: a failure in CI, a visible skip elsewhere.
fn anvil() -> Option<AnvilInstance> {
    let path = std::env::var_os("AOLINK_ANVIL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
        });
    if !path.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "anvil is missing at {} (run contracts/build)",
            path.display()
        );
        eprintln!("SKIPPED: anvil not found at {}", path.display());
        return None;
    }
    Some(Anvil::at(path).try_spawn().expect("anvil starts"))
}

const EVENTS: usize = 20_000;
const PER_TX: usize = 500;

/// The newest slot of `pid` on a running node.
async fn slots(client: &reqwest::Client, node: &RunningNode, pid: &str) -> u64 {
    let latest: Value = client
        .get(format!("{}/{pid}/latest", node.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    latest["assignment"]["tags"]
        .as_array()
        .and_then(|tags| tags.iter().find(|t| t["name"] == "Nonce"))
        .and_then(|t| t["value"].as_str())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Every (txHash, logIndex) in the mirror's `Chain-Event` items, in slot order.
fn delivered(data_dir: &std::path::Path, pid: &[u8; 32]) -> Vec<(String, u64)> {
    let node = Node::open(NodeConfig::new(data_dir)).unwrap();
    let store = node.store();
    let next = store.process(pid).unwrap().unwrap().next_slot;
    let mut events = Vec::new();
    for slot in 1..next {
        let entry = store.entry(pid, slot).unwrap().unwrap();
        let item = DataItem::parse(&store.item(&entry.message_id).unwrap().unwrap()).unwrap();
        assert_eq!(item.tag("Action"), Some("Chain-Event"), "slot {slot}");
        let data: Value = serde_json::from_slice(&item.data).unwrap();
        for e in data["events"].as_array().unwrap() {
            events.push((
                e["txHash"].as_str().unwrap().to_string(),
                e["logIndex"].as_u64().unwrap(),
            ));
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_a_20000_event_backfill_every_event_arrives_exactly_once() {
    let Some(anvil) = anvil() else {
        return;
    };
    let key: PrivateKeySigner = anvil.keys()[0].clone().into();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key))
        .connect_http(anvil.endpoint_url());
    let burst = DevEventBurst::deploy(&provider).await.unwrap();
    let ar = B256::repeat_byte(9);
    for i in 0..EVENTS / PER_TX {
        burst
            .burst(U256::from(PER_TX), U256::from(i * PER_TX), ar)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
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
    let mirror = printed
        .iter()
        .find_map(|l| l.strip_prefix("mirror: chain 31337 contract "))
        .and_then(|l| l.split(" process ").nth(1))
        .expect("the mirror's process id is printed")
        .trim()
        .to_string();
    // Kill as soon as part of the backfill is in.
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = reqwest::Client::new();
    while slots(&client, &node, &mirror).await < 3 {
        assert!(Instant::now() < deadline, "no progress in 60 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    node.kill9();
    let pid = b64url_decode_32(&mirror, "mirror").unwrap();
    let before = delivered(&data_dir, &pid).len();
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
        let info: Value = client
            .post(format!("{}/dry-run?process-id={mirror}", node.url))
            .json(&json!({"Tags": [{"name": "Action", "value": "Info"}], "Owner": "reader", "From": "reader"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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
    assert_eq!(events.len(), EVENTS, "no event missing");
    drop(anvil);
}
