//! Helpers shared by the adapter's tests against a real anvil: the binary, the committed
//! contract artifacts as alloy bindings, signed items, the fixture modules, and node reads.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::network::Ethereum;
use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{B256, U256};
use alloy::providers::{PendingTransactionBuilder, Provider};
use alloy::rpc::types::TransactionReceipt;
use alloy::sol;
use aolink_node::Node;
use aolink_node::ans104::{DataItem, Ed25519Signer, Tag};
use serde_json::{Value, json};

sol!(
    #[sol(rpc)]
    AOBridge,
    "../../contracts/artifacts/AOBridge.json"
);
sol!(
    #[sol(rpc)]
    AOGateway,
    "../../contracts/artifacts/AOGateway.json"
);
sol!(
    #[sol(rpc)]
    SampleDapp,
    "../../contracts/artifacts/SampleDapp.json"
);
sol!(
    #[sol(rpc)]
    DevStETH,
    "../../contracts/artifacts/DevStETH.json"
);
sol!(
    #[sol(rpc)]
    DevDAI,
    "../../contracts/artifacts/DevDAI.json"
);
sol!(
    #[sol(rpc)]
    DevPot,
    "../../contracts/artifacts/DevPot.json"
);
sol!(
    #[sol(rpc)]
    DevDsrManager,
    "../../contracts/artifacts/DevDsrManager.json"
);
sol!(
    #[sol(rpc)]
    DevEventBurst,
    "../../contracts/artifacts/DevEventBurst.json"
);

/// The anvil binary `contracts/build` installs, or `$AOLINK_ANVIL`. Missing: a failure in CI,
/// a visible skip elsewhere.
pub fn anvil() -> Option<AnvilInstance> {
    let path = std::env::var_os("AOLINK_ANVIL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
        });
    if !path.exists() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "anvil is missing at {} (run contracts/build)",
                path.display()
            );
        }
        eprintln!(
            "SKIPPED: anvil not found at {} (run contracts/build)",
            path.display()
        );
        return None;
    }
    Some(Anvil::at(path).try_spawn().expect("anvil starts"))
}

/// The shared fixture modules: test data, read in place.
pub fn fixture(name: &str) -> Option<Vec<u8>> {
    let dir = std::env::var_os("AOLINK_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/ao-modules")
        });
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("fixture {} missing in CI: {e}", path.display())
        }
        Err(_) => {
            eprintln!("SKIPPED: fixture missing at {}", path.display());
            None
        }
    }
}

/// Waits for a sent transaction's receipt by asking for it (alloy's block heartbeat does not
/// survive `anvil_reorg`).
pub async fn mined<P: Provider>(
    provider: &P,
    pending: PendingTransactionBuilder<Ethereum>,
) -> TransactionReceipt {
    let hash: B256 = *pending.tx_hash();
    for _ in 0..1000 {
        if let Some(receipt) = provider.get_transaction_receipt(hash).await.unwrap() {
            assert!(receipt.status(), "transaction {hash} reverted");
            return receipt;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("transaction {hash} was not mined in 10 s");
}

/// `count` bridge-shaped stakes from the burst contract in one transaction, mined.
pub async fn burst_stakes<P: Provider>(
    contract: &DevEventBurst::DevEventBurstInstance<P>,
    count: u64,
    first: u64,
    arweave: B256,
) -> TransactionReceipt {
    let pending = contract
        .burst(U256::from(count), U256::from(first), arweave)
        .send()
        .await
        .unwrap();
    mined(contract.provider(), pending).await
}

/// Mines `n` blocks.
pub async fn mine<P: Provider>(provider: &P, n: u64) {
    if n > 0 {
        let _: Value = provider
            .raw_request("anvil_mine".into(), (n,))
            .await
            .unwrap();
    }
}

pub fn address_of(signer: &Ed25519Signer) -> String {
    DataItem::sign(signer, None, None, Vec::new(), Vec::new())
        .unwrap()
        .owner_address()
}

pub fn item(signer: &Ed25519Signer, target: Option<[u8; 32]>, tags: &[(&str, &str)]) -> DataItem {
    item_with_data(signer, target, tags, "")
}

pub fn item_with_data(
    signer: &Ed25519Signer,
    target: Option<[u8; 32]>,
    tags: &[(&str, &str)],
    data: &str,
) -> DataItem {
    let mut t = vec![
        Tag::new("Data-Protocol", "ao"),
        Tag::new("Variant", "ao.TN.1"),
    ];
    t.extend(tags.iter().map(|(n, v)| Tag::new(*n, *v)));
    DataItem::sign(signer, target, None, t, data.as_bytes().to_vec()).unwrap()
}

/// A mirror process of `contract` on chain 31337, fed by `adapter`.
pub fn mirror_item(owner: &Ed25519Signer, adapter: &Ed25519Signer, contract: &str) -> DataItem {
    item(
        owner,
        None,
        &[
            ("Type", "Process"),
            ("Device", "mirror@1.0"),
            ("Chain-Id", "31337"),
            ("Contract", contract),
            ("Authority", &address_of(adapter)),
        ],
    )
}

/// Serves the node's HTTP API on a free loopback port for the rest of the test; its URL.
pub async fn serve(node: &Node) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let config = aolink_node::http::HttpConfig {
        public_url: url.clone(),
        body_limit: aolink_node::http::DEFAULT_BODY_LIMIT,
    };
    let node = node.clone();
    tokio::spawn(async move {
        aolink_node::http::serve(node, listener, &config, std::future::pending())
            .await
            .unwrap()
    });
    url
}

/// A dry-run through the node's HTTP API (`POST /dry-run`), as a client reads a process.
pub async fn dry_run_http(url: &str, process: &[u8; 32], msg: Value) -> Value {
    let pid = aolink_node::ans104::b64url_encode(process);
    let response = reqwest::Client::new()
        .post(format!("{url}/dry-run?process-id={pid}"))
        .json(&msg)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "dry-run: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// Reads a device process with an `action` query over HTTP.
pub async fn dry(url: &str, process: &[u8; 32], action: &str) -> Value {
    let msg =
        json!({"Tags": [{"name": "Action", "value": action}], "From": "reader", "Owner": "reader"});
    dry_run_http(url, process, msg).await
}

pub async fn crank(node: &Node) {
    let n = node.clone();
    tokio::task::spawn_blocking(move || while n.crank_once().unwrap() {})
        .await
        .unwrap();
}

/// Every event the mirror's schedule received in `Chain-Event` items, as (txHash, logIndex),
/// and how many `Chain-Reorg` items it got.
pub fn mirror_inbox(node: &Node, mirror: &[u8; 32]) -> (Vec<(String, u64)>, usize) {
    let store = node.store();
    let next = store.process(mirror).unwrap().unwrap().next_slot;
    let mut events = Vec::new();
    let mut reorgs = 0;
    for slot in 1..next {
        let entry = store.entry(mirror, slot).unwrap().unwrap();
        let item = DataItem::parse(&store.item(&entry.message_id).unwrap().unwrap()).unwrap();
        match item.tag("Action") {
            Some("Chain-Event") => {
                let data: Value = serde_json::from_slice(&item.data).unwrap();
                for e in data["events"].as_array().unwrap() {
                    events.push((
                        e["txHash"].as_str().unwrap().to_string(),
                        e["logIndex"].as_u64().unwrap(),
                    ));
                }
            }
            Some("Chain-Reorg") => reorgs += 1,
            _ => {}
        }
    }
    (events, reorgs)
}
