//! Backfilling 10,000 gateway transactions from the local Solana devnet: aolink's watcher
//! (list, fetch, read the instructions, build and sign `Chain-Event` items, durably schedule
//! each with its cursor) against the raw `getSignaturesForAddress` pages and `getTransaction`
//! calls of the same range, with the same page size and concurrency, in the same run. Goal
//! (issue 12): at most 1.3× the raw calls.
//!
//! `cargo bench -p aolink --bench solana_backfill`

use std::sync::Arc;
use std::time::{Duration, Instant};

use aolink_node::ans104::Ed25519Signer;
use aolink_node::{Node, NodeConfig};
use aolink_solana::failover::Failover;
use aolink_solana::watcher::{Commitment, WatchedGateway, Watcher, WatcherConfig};
use aolink_solana_devnet::{Devnet, DevnetConfig, memo_call_transaction};
use aolink_testkit::mirror_item_on;
use futures::StreamExt;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client::rpc_client::{GetConfirmedSignaturesForAddress2Config, RpcClientConfig};
use solana_rpc_client_api::config::RpcTransactionConfig;
use solana_signer::Signer;
use solana_transaction_status_client_types::UiTransactionEncoding;

const CALLS: usize = 10_000;
/// Signatures per page and transactions in flight, for both sides (the watcher's defaults).
const PAGE: usize = 1_000;
const CONCURRENCY: usize = 16;
const RUNS: usize = 3;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The raw calls: every page of the gateway's signatures, then every transaction.
async fn raw(client: &RpcClient, gateway: &Pubkey) -> usize {
    let mut signatures = Vec::new();
    let mut before = None;
    loop {
        let page = client
            .get_signatures_for_address_with_config(
                gateway,
                GetConfirmedSignaturesForAddress2Config {
                    before,
                    until: None,
                    limit: Some(PAGE),
                    commitment: Some(CommitmentConfig::finalized()),
                },
            )
            .await
            .unwrap();
        let Some(last) = page.last() else {
            break;
        };
        before = Some(last.signature.parse().unwrap());
        signatures.extend(page.into_iter().map(|e| e.signature));
    }
    let config = RpcTransactionConfig {
        encoding: Some(UiTransactionEncoding::Json),
        commitment: Some(CommitmentConfig::finalized()),
        max_supported_transaction_version: Some(0),
    };
    let fetches: Vec<_> = signatures
        .iter()
        .map(|s| {
            let signature = s.parse().unwrap();
            Box::pin(async move {
                client
                    .get_transaction_with_config(&signature, config)
                    .await
                    .unwrap()
            })
        })
        .collect();
    futures::stream::iter(fetches)
        .buffered(CONCURRENCY)
        .count()
        .await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Slots close on demand: the chain holds still while both sides read it.
    let devnet = Devnet::start(DevnetConfig {
        slot_interval: None,
        ..DevnetConfig::default()
    })
    .await
    .unwrap();
    let client = RpcClient::new_with_commitment(devnet.url.clone(), CommitmentConfig::confirmed());
    let genesis = client.get_genesis_hash().await.unwrap().to_string();
    let sender = Keypair::new();
    client
        .request_airdrop(&sender.pubkey(), 1_000_000_000_000)
        .await
        .unwrap();
    devnet.advance(1);
    let gateway = Pubkey::new_unique();
    let process = "CountCountCountCountCountCountCountCount000";
    let blockhash = client.get_latest_blockhash().await.unwrap();
    for i in 0..CALLS {
        let text = format!(
            "aolink:v1:{{\"process\":\"{process}\",\"action\":\"Count\",\"data\":\"{i}\"}}"
        );
        let tx = memo_call_transaction(&sender, &gateway, &text, blockhash);
        client.send_transaction(&tx).await.unwrap();
        // About a hundred calls a slot.
        if i % 100 == 99 {
            devnet.advance(1);
        }
    }
    devnet.advance(10);
    let cluster = aolink_solana::cluster::name(&genesis);
    let chain_id = aolink_solana::cluster::chain_id(&genesis);

    let mut raws = Vec::new();
    let mut ours = Vec::new();
    for run in 0..RUNS {
        let t = Instant::now();
        let fetched = raw(&client, &gateway).await;
        raws.push(t.elapsed());
        assert_eq!(fetched, CALLS);

        // aolink: a fresh node and mirror, the watcher through the node's transport.
        let dir = tempfile::tempdir().unwrap();
        let node = Node::open(NodeConfig::new(dir.path())).unwrap();
        let adapter = Arc::new(Ed25519Signer::generate());
        let mirror = mirror_item_on(
            &Ed25519Signer::generate(),
            &adapter,
            &chain_id,
            &gateway.to_string(),
        );
        node.submit(mirror.to_bytes()).await.unwrap();
        let failover = Failover::new(
            &cluster,
            &[devnet.url.parse().unwrap()],
            Duration::from_secs(30),
            Duration::from_secs(60),
        );
        let rpc = Arc::new(RpcClient::new_sender(
            failover,
            RpcClientConfig::with_commitment(CommitmentConfig::finalized()),
        ));
        let mut config = WatcherConfig::new(
            chain_id.clone(),
            Commitment::Finalized,
            vec![WatchedGateway {
                address: gateway,
                start_slot: 0,
                mirror: mirror.id(),
            }],
        );
        config.page_limit = PAGE;
        config.fetch_concurrency = CONCURRENCY;
        let mut watcher = Watcher::new(rpc, node.clone(), adapter, config);
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
        assert_eq!(delivered, CALLS);
        eprintln!(
            "run {run}: raw calls {:?}, aolink {:?}",
            raws[run], ours[run]
        );
        drop(node);
    }
    let (r, o) = (median(raws), median(ours));
    println!(
        "backfill of {CALLS} gateway transactions, pages of {PAGE}, {CONCURRENCY} fetches in flight, median of {RUNS}:"
    );
    println!("  raw getSignaturesForAddress + getTransaction: {r:?}");
    println!("  aolink watcher:                               {o:?}");
    println!("  ratio: {:.2}x", o.as_secs_f64() / r.as_secs_f64());
}
