//! End to end against a real anvil: the devnet contracts deployed with alloy from the
//! committed artifacts; stakes and withdrawals of both assets reaching the bridge ledger with
//! the credited amounts; a dApp's `send` reaching an aos process; reorgs at depths 1 to 5 under
//! both kinds of finality policy; and an RPC that keeps failing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use aolink_ethereum::service;
use aolink_ethereum::watcher::{WatchedContract, Watcher, WatcherConfig};
use aolink_ethereum::{Finality, events};
use aolink_node::ans104::{DataItem, Ed25519Signer, Signer};
use aolink_node::{Node, NodeConfig};
use aolink_testkit::*;
use serde_json::{Value, json};
use support::proxy::{Proxy, flaky_proxy, proxy};

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stakes_and_withdrawals_reach_the_bridge_ledger_with_credited_amounts() {
    let Some(anvil) = anvil() else {
        return;
    };
    let user = deployer_key(&anvil).address();
    let provider = wallet_provider(&anvil);

    let steth = DevStETH::deploy(&provider).await.unwrap();
    let dai = DevDAI::deploy(&provider).await.unwrap();
    let pot = DevPot::deploy(&provider).await.unwrap();
    let manager = DevDsrManager::deploy(&provider, *pot.address(), *dai.address())
        .await
        .unwrap();
    landed(dai.setMinter(*manager.address())).await;
    let treasury = Address::repeat_byte(0x7e);
    let bridge = AOBridge::deploy(
        &provider,
        *steth.address(),
        *dai.address(),
        *manager.address(),
        treasury,
    )
    .await
    .unwrap();
    let ether = U256::from(10).pow(U256::from(18));
    // A share price that is not 1, so transfers round (C4).
    landed(steth.mint(user, U256::from(118) * ether)).await;
    landed(steth.rebase(U256::from(137) * ether)).await;
    landed(dai.mint(user, U256::from(100_000) * ether)).await;
    landed(steth.approve(*bridge.address(), U256::MAX)).await;
    landed(dai.approve(*bridge.address(), U256::MAX)).await;

    // The node: a mirror of the bridge contract and the ledger subscribed to it.
    let dir = tempfile::tempdir().unwrap();
    let node = Node::open(NodeConfig::new(dir.path())).unwrap();
    let adapter = Arc::new(Ed25519Signer::generate());
    let owner = Ed25519Signer::generate();
    let contract = format!("{:#x}", bridge.address());
    let mirror = mirror_item(&owner, &adapter, &contract);
    node.submit(mirror.to_bytes()).await.unwrap();
    let ledger = item(
        &owner,
        None,
        &[
            ("Type", "Process"),
            ("Device", "bridge@1.0"),
            ("Mirror", &mirror.id_b64()),
            ("Asset", &format!("stETH:31337:{contract}:0")),
            ("Asset", &format!("DAI:31337:{contract}:1")),
        ],
    );
    node.submit(ledger.to_bytes()).await.unwrap();
    let subscribe = item(
        &owner,
        Some(mirror.id()),
        &[
            ("Type", "Message"),
            ("Action", "Subscribe"),
            ("Event", "*"),
            ("Subscriber", &ledger.id_b64()),
        ],
    );
    node.submit(subscribe.to_bytes()).await.unwrap();

    // Stakes and withdrawals; the credited amounts are what the events say.
    let ar = B256::repeat_byte(0x42);
    let mut credited = [U256::ZERO, U256::ZERO];
    for (pool, amount) in [
        (0u64, U256::from(10) * ether),
        (1, U256::from(1000) * ether + U256::from(13)),
        (0, U256::from(3) * ether),
    ] {
        let receipt = landed(bridge.stake(U256::from(pool), amount, ar)).await;
        credited[pool as usize] += event_in::<events::bridge::UserStaked>(&receipt).amount;
    }
    assert_ne!(
        credited[0],
        U256::from(13) * ether,
        "stETH credits the rounded delta"
    );
    // Withdrawing in the stake's own second is locked (strict `>`, C7): move time on.
    let _: Value = provider
        .raw_request("evm_increaseTime".into(), (2u64,))
        .await
        .unwrap();
    let receipt = landed(bridge.withdraw(U256::from(1), U256::from(400) * ether, ar)).await;
    credited[1] -= event_in::<events::bridge::UserWithdrawn>(&receipt).amount;

    let config = WatcherConfig::new(
        31337,
        Finality::Confirmations(0),
        vec![WatchedContract {
            address: *bridge.address(),
            start_block: 1,
            mirror: mirror.id(),
        }],
    );
    let mut watcher = Watcher::new(provider.clone(), node.clone(), adapter, config);
    let mut delivered = 0;
    for _ in 0..20 {
        let p = watcher.poll_once().await.unwrap();
        delivered += p.events;
        if p.caught_up {
            break;
        }
    }
    assert_eq!(delivered, 4, "three stakes and a withdrawal");
    crank(&node).await;

    // Read back the way a client does: through the node's HTTP API.
    let url = serve(&node).await;
    let info = dry(&url, &ledger.id(), "Info").await;
    assert_eq!(
        info["Output"]["totals"]["stETH"],
        credited[0].to_string(),
        "{info}"
    );
    assert_eq!(
        info["Output"]["totals"]["DAI"],
        credited[1].to_string(),
        "{info}"
    );
    let view = dry(&url, &mirror.id(), "State").await;
    assert_eq!(view["Output"]["counts"]["UserStaked"], 3, "{view}");

    // Nothing new: a poll delivers nothing and the mirror's schedule does not grow.
    let slots = node
        .store()
        .process(&mirror.id())
        .unwrap()
        .unwrap()
        .next_slot;
    let p = watcher.poll_once().await.unwrap();
    assert_eq!(p.events, 0);
    assert_eq!(
        node.store()
            .process(&mirror.id())
            .unwrap()
            .unwrap()
            .next_slot,
        slots
    );
    let _ = provider.get_block_number().await.unwrap();
}

/// A gateway whose one signer is anvil's first account (quorum 1), and a sample dApp that
/// calls through it.
async fn gateway_and_dapp<P: Provider + Clone>(
    anvil: &alloy::node_bindings::AnvilInstance,
    provider: &P,
) -> (
    AOGateway::AOGatewayInstance<P>,
    SampleDapp::SampleDappInstance<P>,
) {
    let signer = deployer_key(anvil).address();
    let gateway = AOGateway::deploy(provider.clone(), vec![signer], U256::from(1))
        .await
        .unwrap();
    let dapp = SampleDapp::deploy(provider.clone(), *gateway.address())
        .await
        .unwrap();
    (gateway, dapp)
}

/// A node with a mirror of `contract`, fed by a fresh adapter key.
struct Mirrored {
    _dir: tempfile::TempDir,
    node: Node,
    adapter: Arc<Ed25519Signer>,
    mirror: DataItem,
}

async fn mirrored(contract: Address) -> Mirrored {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::open(NodeConfig::new(dir.path())).unwrap();
    let adapter = Arc::new(Ed25519Signer::generate());
    let mirror = mirror_item(
        &Ed25519Signer::generate(),
        &adapter,
        &format!("{contract:#x}"),
    );
    node.submit(mirror.to_bytes()).await.unwrap();
    Mirrored {
        _dir: dir,
        node,
        adapter,
        mirror,
    }
}

fn watcher<P: Provider>(
    m: &Mirrored,
    provider: P,
    contract: Address,
    finality: Finality,
) -> Watcher<P, Node> {
    let config = WatcherConfig::new(
        31337,
        finality,
        vec![WatchedContract {
            address: contract,
            start_block: 1,
            mirror: m.mirror.id(),
        }],
    );
    Watcher::new(provider, m.node.clone(), m.adapter.clone(), config)
}

async fn catch_up<P: Provider>(watcher: &mut Watcher<P, Node>) {
    for _ in 0..100 {
        if watcher.poll_once().await.unwrap().caught_up {
            return;
        }
    }
    panic!("the watcher did not catch up in 100 polls");
}

/// Stakes that survive and stakes that a reorg of depth 1..=5 orphans, with the watcher
/// polling in between. Returns the mirrored node and the (kept, orphaned) transactions.
async fn reorgs_at_depths_1_to_5(finality: Finality) -> (Mirrored, Vec<B256>, Vec<B256>) {
    let anvil = anvil().unwrap();
    let key = deployer_key(&anvil);
    // A reorg drops the orphaned transaction and the account's nonce goes back: the nonce is
    // read from the chain for every transaction, not cached.
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(EthereumWallet::from(key))
        .connect_http(anvil.endpoint_url());
    let burst = DevEventBurst::deploy(&provider).await.unwrap();
    let m = mirrored(*burst.address()).await;
    let mut w = watcher(&m, provider.clone(), *burst.address(), finality);
    let ar = B256::repeat_byte(0x42);
    let mut kept = Vec::new();
    let mut orphaned = Vec::new();
    for depth in 1..=5u64 {
        // An event that survives: buried under more blocks than the reorg reaches.
        let r = burst_stakes(&burst, 2, 1000 * depth, ar).await;
        kept.push(r.transaction_hash);
        mine(&provider, 8).await;
        catch_up(&mut w).await;
        // An event in the newest block, which a reorg of `depth` blocks orphans.
        mine(&provider, depth - 1).await;
        let r = burst_stakes(&burst, 3, depth, ar).await;
        assert_eq!(
            r.block_number,
            Some(provider.get_block_number().await.unwrap())
        );
        orphaned.push(r.transaction_hash);
        catch_up(&mut w).await;
        let _: Value = provider
            .raw_request("anvil_reorg".into(), (depth, Vec::<Value>::new()))
            .await
            .unwrap();
        let gone = provider
            .get_transaction_receipt(r.transaction_hash)
            .await
            .unwrap();
        assert!(
            gone.is_none(),
            "the reorg of depth {depth} dropped its stake"
        );
        catch_up(&mut w).await;
    }
    // Bury everything and deliver what is final.
    mine(&provider, 10).await;
    catch_up(&mut w).await;
    crank(&m.node).await;
    drop(anvil);
    (m, kept, orphaned)
}

fn hex(h: &B256) -> String {
    format!("{h:#x}")
}

/// Every kept event is in the mirror exactly once (two per stake), no orphaned one remains in
/// its view, and the view's totals are the kept stakes' sums.
async fn assert_mirror_holds_exactly(m: &Mirrored, kept: &[B256], orphaned: &[B256]) {
    let url = serve(&m.node).await;
    let view = dry(&url, &m.mirror.id(), "State").await;
    assert_eq!(
        view["Output"]["counts"]["UserStaked"],
        2 * kept.len(),
        "{view}"
    );
    let pool = |p: u64| -> String { (1..=5u64).map(|d| 1000 * d + p).sum::<u64>().to_string() };
    assert_eq!(view["Output"]["poolTotals"]["0"], pool(0), "{view}");
    assert_eq!(view["Output"]["poolTotals"]["1"], pool(1), "{view}");
    let (events, _) = mirror_inbox(&m.node, &m.mirror.id());
    for h in kept {
        assert_eq!(
            events.iter().filter(|(t, _)| *t == hex(h)).count(),
            2,
            "{h} delivered once per event"
        );
    }
    let _ = orphaned;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_confirmations_no_orphaned_event_ever_reaches_the_mirror() {
    if anvil().is_none() {
        return;
    }
    let (m, kept, orphaned) = reorgs_at_depths_1_to_5(Finality::Confirmations(6)).await;
    let (events, reorgs) = mirror_inbox(&m.node, &m.mirror.id());
    for h in &orphaned {
        assert!(
            !events.iter().any(|(t, _)| *t == hex(h)),
            "orphaned {h} reached the mirror"
        );
    }
    assert_eq!(reorgs, 0, "nothing was delivered that needed retracting");
    assert_mirror_holds_exactly(&m, &kept, &orphaned).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_head_orphaned_events_are_retracted_with_chain_reorg() {
    if anvil().is_none() {
        return;
    }
    let (m, kept, orphaned) = reorgs_at_depths_1_to_5(Finality::Confirmations(0)).await;
    let (events, reorgs) = mirror_inbox(&m.node, &m.mirror.id());
    for h in &orphaned {
        assert!(
            events.iter().any(|(t, _)| *t == hex(h)),
            "at the head, {h} was delivered before its reorg"
        );
    }
    assert_eq!(reorgs, 5, "one Chain-Reorg per reorg");
    assert_mirror_holds_exactly(&m, &kept, &orphaned).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dapp_send_reaches_an_aos_process_with_sender_and_chain_in_its_tags() {
    let Some(wasm) = fixture("aos-wasm64.wasm") else {
        return;
    };
    let Some(anvil) = anvil() else {
        return;
    };
    let provider = wallet_provider(&anvil);
    let (gateway, dapp) = gateway_and_dapp(&anvil, &provider).await;

    // The node: an aos process (the real module) that records the calls it gets, and a
    // mirror of the gateway.
    let m = mirrored(*gateway.address()).await;
    let owner = Ed25519Signer::generate();
    let module = module_item(&owner, wasm, "wasm64-unknown-emscripten-draft_2024_02_15");
    m.node.submit(module.to_bytes()).await.unwrap();
    let process = item_with_data(
        &owner,
        None,
        &[
            ("Type", "Process"),
            ("Module", &module.id_b64()),
            ("Scheduler", m.node.address()),
            // The node's messenger signs the mirror's calls: aos trusts its Authorities.
            ("Authority", m.node.address()),
        ],
        b"1984",
    );
    m.node.submit(process.to_bytes()).await.unwrap();
    let handler = "Calls = {}; Handlers.add('ask', Handlers.utils.hasMatchingTag('Action', 'Ask'), \
        function(m) table.insert(Calls, {From = m.From, Sender = m.Tags.Sender, Chain = m.Tags['Chain-Id'], \
        Gateway = m.Tags.Gateway, Request = m.Tags['Request-Id'], Data = m.Data}) end); return 'ok'";
    let eval = item_with_data(
        &owner,
        Some(process.id()),
        &[("Type", "Message"), ("Action", "Eval")],
        handler.as_bytes(),
    );
    m.node.submit(eval.to_bytes()).await.unwrap();

    // The dApp asks; the watcher mirrors the gateway two confirmations deep.
    let pid: [u8; 32] = process.id();
    mined(
        &provider,
        dapp.ask(
            B256::from(pid),
            "Ask".into(),
            b"what is 6 x 7?".to_vec().into(),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    mine(&provider, 2).await;
    let mut w = watcher(
        &m,
        provider.clone(),
        *gateway.address(),
        Finality::Confirmations(2),
    );
    catch_up(&mut w).await;
    crank(&m.node).await;

    let from = owner.address();
    let read = json!({
        "Tags": [{"name": "Action", "value": "Eval"}],
        "Data": "return require('json').encode(Calls)",
        "From": from, "Owner": from,
    });
    let url = serve(&m.node).await;
    let result = dry_run_http(&url, &process.id_b64(), &read).await;
    let text = result["Output"]["data"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let calls: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {result}"));
    assert_eq!(calls.as_array().map(Vec::len), Some(1), "one call: {calls}");
    let call = &calls[0];
    assert_eq!(call["Sender"], format!("{:#x}", dapp.address()), "{call}");
    assert_eq!(call["Chain"], "31337", "{call}");
    assert_eq!(
        call["Gateway"],
        format!("{:#x}", gateway.address()),
        "{call}"
    );
    assert_eq!(call["Request"], "1", "{call}");
    assert_eq!(call["Data"], "what is 6 x 7?", "{call}");
    assert_eq!(
        call["From"],
        m.mirror.id_b64(),
        "the call comes from the gateway's mirror"
    );
    drop(anvil);
}

/// A node with a chain section of `aolink.toml` checked and its mirrors spawned, as the
/// relayer starts it.
struct Configured {
    _dir: tempfile::TempDir,
    node: Node,
    adapter: Arc<Ed25519Signer>,
    chain: service::Chain,
    mirrors: Vec<[u8; 32]>,
}

async fn configured(toml_text: &str) -> Configured {
    #[derive(serde::Deserialize)]
    struct File {
        ethereum: Vec<service::ChainConfig>,
    }
    let file: File = toml::from_str(toml_text).unwrap();
    let chain = file.ethereum.into_iter().next().unwrap().check(0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = Node::open(NodeConfig::new(dir.path())).unwrap();
    let adapter = Arc::new(Ed25519Signer::generate());
    let mirrors = service::ensure_mirrors(&node, &adapter, &chain)
        .await
        .unwrap();
    Configured {
        _dir: dir,
        node,
        adapter,
        chain,
        mirrors,
    }
}

impl Configured {
    /// Runs the chain as the relayer does, until the returned sender fires.
    fn run(
        &self,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<(), service::StartError>>,
    ) {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(service::run_chain(
            self.node.clone(),
            self.adapter.clone(),
            self.chain.clone(),
            self.mirrors.clone(),
            async {
                let _ = stop_rx.await;
            },
        ));
        (stop_tx, run)
    }
}

async fn ingestion_through_a_flaky_rpc_loses_nothing(status: u16) {
    let Some(anvil) = anvil() else {
        return;
    };
    let provider = wallet_provider(&anvil);
    let burst = DevEventBurst::deploy(&provider).await.unwrap();
    let ar = B256::repeat_byte(7);
    let mut sent = Vec::new();
    for i in 0..30u64 {
        let r = burst_stakes(&burst, 10, 100 * i, ar).await;
        sent.push(r.transaction_hash);
        mine(&provider, i % 3).await;
    }
    let Proxy { url, refused } = flaky_proxy(anvil.endpoint_url().to_string(), status).await;
    let m = mirrored(*burst.address()).await;
    let flaky = ProviderBuilder::new().connect_http(url.parse().unwrap());
    let mut config = WatcherConfig::new(
        31337,
        Finality::Confirmations(0),
        vec![WatchedContract {
            address: *burst.address(),
            start_block: 1,
            mirror: m.mirror.id(),
        }],
    );
    // Small ranges: many polls, so many calls meet the proxy's refusals.
    config.range = (3, 1, 6);
    let mut w = Watcher::new(flaky, m.node.clone(), m.adapter.clone(), config);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(async move {
        w.run(Duration::from_millis(20), None, async {
            let _ = stop_rx.await;
        })
        .await;
    });
    let expected = 300;
    let mut events = Vec::new();
    for _ in 0..600 {
        events = mirror_inbox(&m.node, &m.mirror.id()).0;
        if events.len() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop_tx.send(());
    run.await.unwrap();
    assert!(
        refused.load(Ordering::SeqCst) > 0,
        "the proxy refused calls"
    );
    let mut unique = events.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), events.len(), "no event twice");
    assert_eq!(events.len(), expected, "every event arrived");
    for h in &sent {
        assert_eq!(events.iter().filter(|(t, _)| *t == hex(h)).count(), 10);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpc_failing_every_third_call_delays_ingestion_but_loses_nothing() {
    ingestion_through_a_flaky_rpc_loses_nothing(500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpc_answering_429_delays_ingestion_but_loses_nothing() {
    ingestion_through_a_flaky_rpc_loses_nothing(429).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracts_of_one_chain_keep_their_own_cursors_and_start_blocks_across_a_restart() {
    let Some(anvil) = anvil() else {
        return;
    };
    let provider = wallet_provider(&anvil);
    let a = DevEventBurst::deploy(&provider).await.unwrap();
    let b = DevEventBurst::deploy(&provider).await.unwrap();
    let ar = B256::repeat_byte(6);
    // b's events before its start block are history the mirror must never see.
    let early = burst_stakes(&b, 5, 0, ar).await;
    let b_start = early.block_number.unwrap() + 1;
    let mut sent_a = vec![burst_stakes(&a, 3, 0, ar).await.transaction_hash];
    let mut sent_b = Vec::new();
    for i in 1..6u64 {
        sent_a.push(burst_stakes(&a, 3, 10 * i, ar).await.transaction_hash);
        if i % 2 == 0 {
            sent_b.push(burst_stakes(&b, 4, 10 * i, ar).await.transaction_hash);
        }
        mine(&provider, 2).await;
    }
    let m = mirrored(*a.address()).await;
    let mirror_b = mirror_item(
        &Ed25519Signer::generate(),
        &m.adapter,
        &format!("{:#x}", b.address()),
    );
    m.node.submit(mirror_b.to_bytes()).await.unwrap();
    let config = || {
        let mut c = WatcherConfig::new(
            31337,
            Finality::Confirmations(0),
            vec![
                WatchedContract {
                    address: *a.address(),
                    start_block: 1,
                    mirror: m.mirror.id(),
                },
                WatchedContract {
                    address: *b.address(),
                    start_block: b_start,
                    mirror: mirror_b.id(),
                },
            ],
        );
        // Small ranges: several polls, so the restart lands mid-way.
        c.range = (3, 1, 3);
        c
    };
    let mut first = Watcher::new(
        provider.clone(),
        m.node.clone(),
        m.adapter.clone(),
        config(),
    );
    for _ in 0..3 {
        first.poll_once().await.unwrap();
    }
    drop(first);
    let mut second = Watcher::new(
        provider.clone(),
        m.node.clone(),
        m.adapter.clone(),
        config(),
    );
    catch_up(&mut second).await;

    let (events_a, _) = mirror_inbox(&m.node, &m.mirror.id());
    let (events_b, _) = mirror_inbox(&m.node, &mirror_b.id());
    assert_eq!(events_a.len(), 18, "every event of a, once");
    assert_eq!(
        events_b.len(),
        8,
        "b's events from its start block on, once"
    );
    for h in &sent_a {
        assert_eq!(events_a.iter().filter(|(t, _)| *t == hex(h)).count(), 3);
    }
    for h in &sent_b {
        assert_eq!(events_b.iter().filter(|(t, _)| *t == hex(h)).count(), 4);
    }
    assert!(
        events_b
            .iter()
            .all(|(t, _)| *t != hex(&early.transaction_hash)),
        "nothing from before b's start block"
    );
    // Both cursors stand at the head, the quiet stretches included.
    let head = provider.get_block_number().await.unwrap();
    for contract in config().contracts {
        assert_eq!(second.cursor(&contract).unwrap().number, head);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_first_rpc_url_goes_down_mid_backfill_the_next_carries_on_losing_nothing() {
    let Some(anvil) = anvil() else {
        return;
    };
    let provider = wallet_provider(&anvil);
    let burst = DevEventBurst::deploy(&provider).await.unwrap();
    let mut sent = Vec::new();
    for i in 0..30u64 {
        sent.push(
            burst_stakes(&burst, 10, 100 * i, B256::repeat_byte(5))
                .await
                .transaction_hash,
        );
    }
    // The first URL serves 40 calls, then answers 503 to everything.
    let Proxy {
        url: first,
        refused,
    } = proxy(
        anvil.endpoint_url().to_string(),
        Arc::new(|n| (n >= 40).then_some(503)),
        None,
    )
    .await;
    let c = configured(&format!(
        "[[ethereum]]\nchain_id = 31337\nrpc = [\"{first}\", \"{}\"]\nfinality = 0\n\
         poll_interval_ms = 20\nmax_range = 2\n\
         [[ethereum.contracts]]\naddress = \"{:#x}\"\nstart_block = 1\n",
        anvil.endpoint_url(),
        burst.address()
    ))
    .await;
    let (node, mirrors) = (c.node.clone(), c.mirrors.clone());
    let (stop_tx, run) = c.run();
    let url = serve(&node).await;
    let client = reqwest::Client::new();
    let mut events = Vec::new();
    let mut status = Value::Null;
    for _ in 0..300 {
        events = mirror_inbox(&node, &mirrors[0]).0;
        status = get_json(&client, &format!("{url}/status")).await["components"]["ethereum/31337"]
            .clone();
        if events.len() >= 300 && status["caughtUp"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(());
    run.await.unwrap().unwrap();
    assert!(
        refused.load(Ordering::SeqCst) > 0,
        "the first URL went down"
    );
    // Operators see the chain caught up, through the second URL, and healthy again.
    let second = aolink_ethereum::failover::shown(&anvil.endpoint_url());
    assert_eq!(status["rpc"], second, "{status}");
    assert_eq!(status["healthy"], true, "{status}");
    assert_eq!(status["eventsDelivered"], 300, "{status}");
    assert_eq!(status["contracts"][0]["behind"], 0, "{status}");
    assert_eq!(
        status["contracts"][0]["deliveredThrough"], status["head"],
        "{status}"
    );
    // The same, as Prometheus reads it.
    let metrics = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for sample in [
        "aolink_ethereum_healthy{component=\"ethereum/31337\"} 1".to_string(),
        "aolink_ethereum_events_delivered{component=\"ethereum/31337\"} 300".to_string(),
        format!(
            "aolink_ethereum_contracts_behind{{component=\"ethereum/31337\",address=\"{:#x}\"}} 0",
            burst.address()
        ),
    ] {
        assert!(metrics.contains(&sample), "{sample} not in\n{metrics}");
    }
    let mut unique = events.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), events.len(), "no event twice");
    assert_eq!(events.len(), 300, "every event arrived");
    for h in &sent {
        assert_eq!(events.iter().filter(|(t, _)| *t == hex(h)).count(), 10);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_websocket_new_heads_wake_the_watcher_before_its_poll_interval() {
    let Some(anvil) = anvil() else {
        return;
    };
    let provider = wallet_provider(&anvil);
    let burst = DevEventBurst::deploy(&provider).await.unwrap();
    // Polls a minute apart: only the WebSocket can bring the events in within the test.
    let c = configured(&format!(
        "[[ethereum]]\nchain_id = 31337\nrpc = \"{}\"\nws = \"{}\"\nfinality = 0\npoll_interval_ms = 60000\n\
         [[ethereum.contracts]]\naddress = \"{:#x}\"\nstart_block = 1\n",
        anvil.endpoint_url(),
        anvil.ws_endpoint(),
        burst.address()
    ))
    .await;
    // A second start finds the same mirror instead of spawning another.
    assert_eq!(
        service::ensure_mirrors(&c.node, &c.adapter, &c.chain)
            .await
            .unwrap(),
        c.mirrors
    );
    let (node, mirrors) = (c.node.clone(), c.mirrors.clone());
    let (stop_tx, run) = c.run();
    // Let the first poll pass (the chain id check and an empty catch-up).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = mined(
        &provider,
        burst
            .burst(U256::from(4), U256::from(1), B256::repeat_byte(1))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let mut events = Vec::new();
    for _ in 0..200 {
        events = mirror_inbox(&node, &mirrors[0]).0;
        if events.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(events.len(), 4, "the new head woke the watcher");
    assert!(events.iter().all(|(t, _)| *t == hex(&r.transaction_hash)));
    let _ = stop_tx.send(());
    run.await.unwrap().unwrap();
}

/// A loopback JSON-RPC proxy in front of `upstream` whose `eth_getLogs` answers lack the
/// `RequestSent` log of request `request` the first `times` times it would be in them, as an
/// RPC with a lagging or broken log index answers. Returns its URL and how often it dropped.
async fn log_dropping_proxy(
    upstream: String,
    request: u64,
    times: u64,
) -> (String, Arc<AtomicU64>) {
    use alloy::sol_types::SolEvent;
    let dropped = Arc::new(AtomicU64::new(0));
    let counter = dropped.clone();
    let topic0 = format!("{:#x}", events::gateway::RequestSent::SIGNATURE_HASH);
    let id_topic = format!("{:#x}", B256::from(U256::from(request)));
    let rewrite = move |call: &Value, mut answer: Value| {
        if call["method"] == "eth_getLogs"
            && counter.load(Ordering::SeqCst) < times
            && let Some(logs) = answer["result"].as_array_mut()
        {
            let before = logs.len();
            logs.retain(|l| !(l["topics"][0] == topic0 && l["topics"][1] == id_topic));
            if logs.len() < before {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
        answer
    };
    let proxy = proxy(upstream, Arc::new(|_| None), Some(Arc::new(rewrite))).await;
    (proxy.url, dropped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_request_missing_from_the_rpc_logs_holds_delivery_until_the_logs_are_whole() {
    let Some(anvil) = anvil() else {
        return;
    };
    let provider = wallet_provider(&anvil);
    let (gateway, dapp) = gateway_and_dapp(&anvil, &provider).await;
    let mut sent = Vec::new();
    for i in 0..5u8 {
        let ask = dapp.ask(B256::repeat_byte(0x70 + i), "Ask".into(), vec![i].into());
        sent.push(landed(ask).await.transaction_hash);
    }
    // The RPC leaves request 3 out of its first three answers that should hold it.
    let (url, dropped) = log_dropping_proxy(anvil.endpoint_url().to_string(), 3, 3).await;
    let m = mirrored(*gateway.address()).await;
    let rpc = ProviderBuilder::new().connect_http(url.parse().unwrap());
    let mut w = watcher(&m, rpc, *gateway.address(), Finality::Confirmations(0));
    w.report_status_as("ethereum/31337", || "proxy".to_string());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(async move {
        w.run(Duration::from_millis(20), None, async {
            let _ = stop_rx.await;
        })
        .await;
    });
    // While the answers lack request 3, nothing past request 2 reaches the mirror, and the
    // status says why.
    let mut gap_seen = false;
    let mut events = Vec::new();
    for _ in 0..300 {
        events = mirror_inbox(&m.node, &m.mirror.id()).0;
        let last_error = m
            .node
            .statuses()
            .remove("ethereum/31337")
            .and_then(|status| status.last_error);
        if dropped.load(Ordering::SeqCst) < 3 {
            assert!(
                events
                    .iter()
                    .all(|(t, _)| *t == hex(&sent[0]) || *t == hex(&sent[1])),
                "nothing after the gap is delivered: {events:?}"
            );
        }
        if let Some(error) = last_error {
            gap_seen |= error.contains("request 4") && error.contains("3 was due");
        }
        if events.len() == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(());
    run.await.unwrap();
    assert!(gap_seen, "the status named the gap");
    assert_eq!(dropped.load(Ordering::SeqCst), 3);
    let expected: Vec<String> = sent.iter().map(hex).collect();
    let got: Vec<String> = events.iter().map(|(t, _)| t.clone()).collect();
    assert_eq!(got, expected, "every request once, in order");
}
