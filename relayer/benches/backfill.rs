//! Backfilling 100,000 events from anvil: aolink's watcher (decode, sign, durably schedule each
//! item with its cursor) against fetching the same logs with raw `eth_getLogs` calls over the
//! same ranges, in the same run. Goal (issue 5): at most 1.3× the raw fetch.
//!
//! `cargo bench -p aolink --bench backfill` (needs `contracts/build` for anvil).

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::B256;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::rpc::types::Filter;
use aolink_ethereum::Finality;
use aolink_ethereum::failover::Failover;
use aolink_ethereum::watcher::{WatchedContract, Watcher, WatcherConfig};
use aolink_node::ans104::Ed25519Signer;
use aolink_node::{Node, NodeConfig};
use aolink_testkit::{DevEventBurst, anvil, burst_stakes, mirror_item, wallet_provider};

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
    let anvil = anvil().expect("anvil (run contracts/build)");
    let provider = wallet_provider(&anvil);
    let burst = DevEventBurst::deploy(&provider).await.unwrap();
    let first = provider.get_block_number().await.unwrap() + 1;
    for i in 0..EVENTS / PER_TX {
        burst_stakes(&burst, PER_TX, i * PER_TX, B256::repeat_byte(3)).await;
    }
    let head = provider.get_block_number().await.unwrap();
    let reader = ProviderBuilder::new().connect_http(anvil.endpoint_url());
    // The watcher reads through the transport the node uses (here with one URL).
    let failover = Failover::new(
        31337,
        &[anvil.endpoint_url()],
        reqwest::Client::new(),
        Duration::from_secs(60),
    );
    let watched = ProviderBuilder::new().connect_client(RpcClient::new(failover, true));

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
        let contract = format!("{:#x}", burst.address());
        let mirror = mirror_item(&Ed25519Signer::generate(), &adapter, &contract);
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
        let mut watcher = Watcher::new(watched.clone(), node.clone(), adapter, config);
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
