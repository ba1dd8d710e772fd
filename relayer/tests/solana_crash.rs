//! 5,000 gateway transactions on the local Solana devnet, read by the real `aolink` binary
//! that is killed (SIGKILL) twice mid-backfill and restarted: each call reaches the aos process
//! it names exactly once.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aolink_node::ans104::{DataItem, Ed25519Signer, b64url_decode_32};
use aolink_node::{Node, NodeConfig};
use aolink_solana_devnet::memo_call_transaction;
use aolink_testkit::*;
use serde_json::json;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_signer::Signer;
use support::RunningNode;

const CALLS: usize = 5_000;

/// How many times each `Chain-Tx` reached `process`'s schedule, read from the stopped node.
fn reached(data_dir: &std::path::Path, process: &[u8; 32]) -> BTreeMap<String, usize> {
    let node = Node::open(NodeConfig::new(data_dir)).unwrap();
    let store = node.store();
    let next = store.process(process).unwrap().unwrap().next_slot;
    let mut seen = BTreeMap::new();
    for slot in 1..next {
        let entry = store.entry(process, slot).unwrap().unwrap();
        let item = DataItem::parse(&store.item(&entry.message_id).unwrap().unwrap()).unwrap();
        if let Some(tx) = item.tag("Chain-Tx") {
            *seen.entry(tx.to_string()).or_insert(0) += 1;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_twice_during_5000_gateway_transactions_each_call_arrives_exactly_once() {
    let Some(wasm) = fixture("aos-wasm64.wasm") else {
        return;
    };
    let devnet = support::solana_cluster().await;
    let client = RpcClient::new_with_commitment(devnet.url.clone(), CommitmentConfig::confirmed());
    let genesis = client.get_genesis_hash().await.unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");

    // The aos process the calls name, spawned before any chain is watched.
    let (node, _) = RunningNode::start_with(&data_dir, &[]);
    let owner = Ed25519Signer::generate();
    let module = module_item(&owner, wasm, "wasm64-unknown-emscripten-draft_2024_02_15");
    let process = item_with_data(
        &owner,
        None,
        &[
            ("Type", "Process"),
            ("Module", &module.id_b64()),
            ("Scheduler", &node.address),
            ("Authority", &node.address),
        ],
        b"1984",
    );
    let http = reqwest::Client::new();
    for item in [&module, &process] {
        let answer = http
            .post(format!("{}/", node.url))
            .body(item.to_bytes())
            .send()
            .await
            .unwrap();
        assert!(
            answer.status().is_success(),
            "{}",
            answer.text().await.unwrap()
        );
    }
    node.stop();

    let sender = Keypair::new();
    let airdrop = client
        .request_airdrop(&sender.pubkey(), 100_000_000_000)
        .await
        .unwrap();
    client
        .poll_for_signature_with_commitment(&airdrop, CommitmentConfig::confirmed())
        .await
        .unwrap();
    let gateway = Pubkey::new_unique();
    let pid = process.id_b64();
    let mut sent = Vec::with_capacity(CALLS);
    let mut blockhash = client.get_latest_blockhash().await.unwrap();
    for i in 0..CALLS {
        if i % 100 == 0 {
            blockhash = client.get_latest_blockhash().await.unwrap();
        }
        let text = format!(
            "aolink:v1:{}",
            json!({"process": pid, "action": "Count", "data": i.to_string()})
        );
        let tx = memo_call_transaction(&sender, &gateway, &text, blockhash);
        sent.push(client.send_transaction(&tx).await.unwrap().to_string());
    }

    let config = dir.path().join("aolink.toml");
    std::fs::write(
        &config,
        format!(
            "[[solana]]\ncluster = \"{genesis}\"\nrpc = \"{}\"\npoll_interval_ms = 50\n\
             # Small pages: a long backfill to be killed in.\npage_limit = 100\n\n\
             [[solana.gateways]]\naddress = \"{gateway}\"\n",
            devnet.url
        ),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let chain_id = format!("solana:{}", &genesis[..32]);
    let pid32 = process.id();
    let mut mirror = String::new();
    // Killed twice, each time once more of the backfill is in.
    for (round, at) in [5u64, 25].into_iter().enumerate() {
        let (node, printed) = RunningNode::start_with(&data_dir, &args);
        mirror = support::printed_mirror(&printed, &chain_id);
        let deadline = Instant::now() + Duration::from_secs(120);
        while node.latest_slot(&http, &mirror).await < at {
            assert!(Instant::now() < deadline, "no progress in 120 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        node.kill9();
        let mirrored = mirror_inbox(
            &Node::open(NodeConfig::new(&data_dir)).unwrap(),
            &b64url_decode_32(&mirror, "mirror").unwrap(),
        )
        .0
        .len();
        eprintln!("kill {}: {mirrored} of {CALLS} calls mirrored", round + 1);
        assert!(
            mirrored < CALLS,
            "killed mid-backfill ({mirrored} of {CALLS})"
        );
    }

    let (node, printed) = RunningNode::start_with(&data_dir, &args);
    assert!(
        printed.iter().any(|l| l.contains(&mirror)),
        "the same mirror after the restarts"
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    // The spawn is slot 0, the calls come after it.
    while node.latest_slot(&http, &pid).await < CALLS as u64 {
        assert!(
            Instant::now() < deadline,
            "not every call reached the process in 300 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A moment longer: nothing more may arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    node.stop();

    let seen = reached(&data_dir, &pid32);
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "calls that arrived twice: {twice:?}");
    let missing: Vec<_> = sent.iter().filter(|s| !seen.contains_key(*s)).collect();
    assert!(missing.is_empty(), "{} calls missing", missing.len());
    assert_eq!(seen.len(), CALLS);
}
