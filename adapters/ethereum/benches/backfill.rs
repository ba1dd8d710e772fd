//! Backfilling 100,000 events from anvil: aolink's watcher (decode, sign, durably schedule each
//! item with its cursor) against fetching the same logs with raw `eth_getLogs` calls over the
//! same ranges, in the same run. Goal (issue 5): at most 1.3× the raw fetch.
//!
//! `cargo bench -p aolink-ethereum --bench backfill` (needs `contracts/build` for anvil).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::network::EthereumWallet;
use alloy::node_bindings::Anvil;
use alloy::primitives::{B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::Filter;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use aolink_ethereum::Finality;
use aolink_ethereum::watcher::{WatchedContract, Watcher, WatcherConfig};
use aolink_node::ans104::{DataItem, Ed25519Signer, Tag};
use aolink_node::{Node, NodeConfig};

sol!(
    #[sol(rpc)]
    DevEventBurst,
    "../../contracts/artifacts/DevEventBurst.json"
);

const EVENTS: u64 = 100_000;
const PER_TX: u64 = 1_000;
/// Blocks per `eth_getLogs` for both sides (10,000 events per call here).
const RANGE: u64 = 10;
const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let anvil_path = std::env::var_os("AOLINK_ANVIL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
        });
    let anvil = Anvil::at(anvil_path)
        .try_spawn()
        .expect("anvil (run contracts/build)");
    let key: PrivateKeySigner = anvil.keys()[0].clone().into();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key))
        .connect_http(anvil.endpoint_url());
    let burst = DevEventBurst::deploy(&provider).await.unwrap();
    let first = provider.get_block_number().await.unwrap() + 1;
    for i in 0..EVENTS / PER_TX {
        burst
            .burst(
                U256::from(PER_TX),
                U256::from(i * PER_TX),
                B256::repeat_byte(3),
            )
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
    }
    let head = provider.get_block_number().await.unwrap();
    let reader = ProviderBuilder::new().connect_http(anvil.endpoint_url());

    let mut raw = Vec::new();
    let mut ours = Vec::new();
    for run in 0..RUNS {
        // Raw: the same ranges, logs fetched and decoded into alloy's log type, nothing else.
        let t = Instant::now();
        let mut fetched = 0;
        let mut from = first;
        while from <= head {
            let to = (from + RANGE - 1).min(head);
            let filter = Filter::new()
                .address(*burst.address())
                .from_block(from)
                .to_block(to);
            fetched += reader.get_logs(&filter).await.unwrap().len();
            from = to + 1;
        }
        raw.push(t.elapsed());
        assert_eq!(fetched as u64, EVENTS);

        // aolink: a fresh node and mirror, the watcher from the start block to the head.
        let dir = tempfile::tempdir().unwrap();
        let node = Node::open(NodeConfig::new(dir.path())).unwrap();
        let adapter = Arc::new(Ed25519Signer::generate());
        let owner = Ed25519Signer::generate();
        let adapter_address = DataItem::sign(adapter.as_ref(), None, None, vec![], vec![])
            .unwrap()
            .owner_address();
        let contract = format!("{:#x}", burst.address());
        let tags = [
            ("Data-Protocol", "ao"),
            ("Variant", "ao.TN.1"),
            ("Type", "Process"),
            ("Device", "mirror@1.0"),
            ("Chain-Id", "31337"),
            ("Contract", contract.as_str()),
            ("Authority", adapter_address.as_str()),
        ]
        .iter()
        .map(|(n, v)| Tag::new(*n, *v))
        .collect();
        let mirror = DataItem::sign(&owner, None, None, tags, vec![]).unwrap();
        node.submit(mirror.to_bytes()).await.unwrap();
        let mut config = WatcherConfig::new(
            31337,
            Finality::Confirmations(0),
            vec![WatchedContract {
                address: *burst.address(),
                start_block: first,
                mirror: mirror.id(),
            }],
        );
        config.range = (RANGE, RANGE, RANGE);
        let mut watcher = Watcher::new(reader.clone(), node.clone(), adapter, config);
        let t = Instant::now();
        let mut delivered = 0;
        loop {
            let p = watcher.poll_once().await.unwrap();
            delivered += p.events;
            if p.caught_up {
                break;
            }
        }
        ours.push(t.elapsed());
        assert_eq!(delivered as u64, EVENTS);
        eprintln!(
            "run {run}: raw eth_getLogs {:?}, aolink {:?}",
            raw[run], ours[run]
        );
        drop(node);
    }
    let (r, o) = (median(raw), median(ours));
    println!(
        "backfill of {EVENTS} events in ranges of {RANGE} blocks ({} events per call), median of {RUNS}:",
        RANGE * PER_TX
    );
    println!("  raw eth_getLogs: {r:?}");
    println!("  aolink watcher:  {o:?}");
    println!("  ratio: {:.2}x", o.as_secs_f64() / r.as_secs_f64());
}
