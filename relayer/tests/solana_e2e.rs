//! End to end against the local Solana devnet (the real SVM behind JSON-RPC): memo calls from a
//! fresh keypair, at top level and through a program's cross-program invocation, reaching an
//! aos process (the real module) with the sender and the cluster in its tags; a failed
//! transaction, a memo without the prefix and a call naming no process here reaching nothing
//! and being reported; an RPC failing a third of its calls beside a dead one; and a listing
//! with holes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aolink_node::ans104::{DataItem, Ed25519Signer, Signer as _};
use aolink_node::{Node, NodeConfig};
use aolink_solana::service::{self, Cluster, ClusterConfig};
use aolink_solana_devnet::{MEMO_PROGRAM, memo_call_transaction, relay_call_transaction};
use aolink_testkit::*;
use serde_json::{Value, json};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_signer::Signer;
use support::proxy::{Proxy, proxy};
use support::solana_cluster;

mod support;

const SOL: u64 = 1_000_000_000;

/// A funded fresh keypair.
async fn funded(client: &RpcClient) -> Keypair {
    let sender = Keypair::new();
    let airdrop = client.request_airdrop(&sender.pubkey(), SOL).await.unwrap();
    client
        .poll_for_signature_with_commitment(&airdrop, CommitmentConfig::confirmed())
        .await
        .unwrap();
    sender
}

/// A gateway call's memo text.
fn call(process: &str, action: &str, data: &str, note: &str) -> String {
    format!(
        "aolink:v1:{}",
        json!({"process": process, "action": action, "data": data, "tags": {"Note": note}})
    )
}

/// A `[[solana]]` section for `rpc` (one URL or a TOML list) watching `gateway`.
fn section(cluster: &str, rpc: &str, gateway: &Pubkey, extra: &str) -> String {
    format!(
        "[[solana]]\ncluster = \"{cluster}\"\nrpc = {rpc}\npoll_interval_ms = 20\n{extra}\n\n\
         [[solana.gateways]]\naddress = \"{gateway}\"\n"
    )
}

/// A node with a `[[solana]]` section checked and its mirrors spawned, as the relayer starts
/// it.
struct Configured {
    _dir: tempfile::TempDir,
    node: Node,
    adapter: Arc<Ed25519Signer>,
    cluster: Cluster,
    mirrors: Vec<[u8; 32]>,
}

async fn configured(toml_text: &str) -> Configured {
    #[derive(serde::Deserialize)]
    struct File {
        solana: Vec<ClusterConfig>,
    }
    let file: File = toml::from_str(toml_text).unwrap();
    let cluster = file.solana.into_iter().next().unwrap().check(0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = Node::open(NodeConfig::new(dir.path())).unwrap();
    let adapter = Arc::new(Ed25519Signer::generate());
    let mirrors = service::ensure_mirrors(&node, &adapter, &cluster)
        .await
        .unwrap();
    Configured {
        _dir: dir,
        node,
        adapter,
        cluster,
        mirrors,
    }
}

impl Configured {
    /// Runs the cluster as the relayer does, until the returned sender fires.
    fn run(
        &self,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<(), service::StartError>>,
    ) {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(service::run_cluster(
            self.node.clone(),
            self.adapter.clone(),
            self.cluster.clone(),
            self.mirrors.clone(),
            async {
                let _ = stop_rx.await;
            },
        ));
        (stop_tx, run)
    }

    /// The gateway's status as the watcher last reported it.
    fn status(&self) -> Value {
        let statuses = self.node.statuses();
        serde_json::to_value(&statuses[&self.cluster.status_name()]).unwrap()
    }

    /// Waits until `done` holds of the gateway's mirror inbox.
    async fn wait_for(&self, what: &str, done: impl Fn(&[(String, u64)]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (events, _) = mirror_inbox(&self.node, &self.mirrors[0]);
            if done(&events) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within 60 s; status {}",
                self.status()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// An aos process (the real module) on `node` that records the calls it gets.
async fn recording_process(node: &Node, wasm: Vec<u8>) -> (DataItem, Ed25519Signer) {
    let owner = Ed25519Signer::generate();
    let module = module_item(&owner, wasm, "wasm64-unknown-emscripten-draft_2024_02_15");
    node.submit(module.to_bytes()).await.unwrap();
    let process = item_with_data(
        &owner,
        None,
        &[
            ("Type", "Process"),
            ("Module", &module.id_b64()),
            ("Scheduler", node.address()),
            // The node's messenger signs the mirror's calls: aos trusts its Authorities.
            ("Authority", node.address()),
        ],
        b"1984",
    );
    node.submit(process.to_bytes()).await.unwrap();
    let handler = "Calls = {}; Handlers.add('ask', Handlers.utils.hasMatchingTag('Action', 'Ask'), \
        function(m) table.insert(Calls, {From = m.From, Sender = m.Tags.Sender, Chain = m.Tags['Chain-Id'], \
        Gateway = m.Tags.Gateway, Request = m.Tags['Request-Id'], Tx = m.Tags['Chain-Tx'], \
        Note = m.Tags['X-Note'], Data = m.Data}) end); return 'ok'";
    let eval = item_with_data(
        &owner,
        Some(process.id()),
        &[("Type", "Message"), ("Action", "Eval")],
        handler.as_bytes(),
    );
    node.submit(eval.to_bytes()).await.unwrap();
    (process, owner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memo_calls_reach_an_aos_process_with_sender_and_cluster_and_bad_ones_reach_nothing() {
    let Some(wasm) = fixture("aos-wasm64.wasm") else {
        return;
    };
    let devnet = solana_cluster().await;
    let client = RpcClient::new_with_commitment(devnet.url.clone(), CommitmentConfig::confirmed());
    let genesis = client.get_genesis_hash().await.unwrap().to_string();
    let gateway = Pubkey::new_unique();
    let c = configured(&section(
        &genesis,
        &format!("\"{}\"", devnet.url),
        &gateway,
        "",
    ))
    .await;
    let chain_id = c.cluster.chain_id();
    assert_eq!(chain_id, format!("solana:{}", &genesis[..32]));
    let (process, owner) = recording_process(&c.node, wasm).await;
    let (stop, run) = c.run();

    let sender = funded(&client).await;
    let pid = process.id_b64();
    let client = &client;
    let send = |tx: solana_transaction::Transaction| async move {
        client.send_and_confirm_transaction(&tx).await
    };
    let top = send(memo_call_transaction(
        &sender,
        &gateway,
        &call(&pid, "Ask", "what is 6 x 7?", "top"),
        client.get_latest_blockhash().await.unwrap(),
    ))
    .await
    .unwrap();
    // A program's call by CPI: the memo relay exists on the devnet only.
    let cpi = match devnet.devnet {
        Some(_) => Some(
            send(relay_call_transaction(
                &sender,
                &gateway,
                &call(&pid, "Ask", "asked by a program", "cpi"),
                client.get_latest_blockhash().await.unwrap(),
            ))
            .await
            .unwrap(),
        ),
        None => {
            eprintln!(
                "NOTICE: no memo relay program on {}: the CPI call is not sent",
                devnet.url
            );
            None
        }
    };
    // A call in a transaction that fails: it also transfers more than the sender has.
    let failing = {
        use solana_instruction::{AccountMeta, Instruction};
        let blockhash = client.get_latest_blockhash().await.unwrap();
        let memo = Instruction::new_with_bytes(
            MEMO_PROGRAM,
            call(&pid, "Ask", "never", "f").as_bytes(),
            vec![AccountMeta::new_readonly(sender.pubkey(), true)],
        );
        let transfer = solana_system_interface::instruction::transfer(
            &sender.pubkey(),
            &Pubkey::new_unique(),
            1_000 * SOL,
        );
        let mut message = solana_message::Message::new_with_blockhash(
            &[memo, transfer],
            Some(&sender.pubkey()),
            &blockhash,
        );
        message.account_keys.push(gateway);
        message.header.num_readonly_unsigned_accounts += 1;
        solana_transaction::Transaction::new(&[&sender], message, blockhash)
    };
    let failed = client
        .send_transaction_with_config(
            &failing,
            solana_rpc_client_api::config::RpcSendTransactionConfig {
                skip_preflight: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let plain = send(memo_call_transaction(
        &sender,
        &gateway,
        "just a note",
        client.get_latest_blockhash().await.unwrap(),
    ))
    .await
    .unwrap();
    let nowhere = "NoSuchProcessNoSuchProcessNoSuchProcess0000";
    let unknown = send(memo_call_transaction(
        &sender,
        &gateway,
        &call(nowhere, "Ask", "anyone?", "lost"),
        client.get_latest_blockhash().await.unwrap(),
    ))
    .await
    .unwrap();

    // The calls reach the mirror; the failed transaction and the plain memo are passed over.
    let mut want = vec![(top.to_string(), 0)];
    want.extend(cpi.map(|cpi| (cpi.to_string(), 1)));
    want.push((unknown.to_string(), 0));
    c.wait_for("the calls mirrored", |events| events.len() >= want.len())
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let passed = &c.status()["contracts"][0]["passedOver"];
        if passed["failedTransactions"] == 1 && passed["withoutCalls"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "not reported: {}", c.status());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (events, _) = mirror_inbox(&c.node, &c.mirrors[0]);
    assert_eq!(
        events, want,
        "the calls, each once, the inner memo at its place after the relay instruction"
    );
    let status = c.status();
    assert_eq!(status["kind"], "solana");
    assert_eq!(status["chainId"], chain_id);
    assert_eq!(status["healthy"], true, "{status}");
    let last = status["contracts"][0]["passedOver"]["last"]
        .as_str()
        .unwrap();
    assert!(last.contains(&plain.to_string()), "{status}");
    assert!(
        !events.iter().any(|(tx, _)| *tx == failed.to_string()),
        "nothing from the failed transaction"
    );

    crank(&c.node).await;
    let from = owner.address();
    let read = json!({
        "Tags": [{"name": "Action", "value": "Eval"}],
        "Data": "return require('json').encode(Calls)",
        "From": from, "Owner": from,
    });
    let url = serve(&c.node).await;
    let result = dry_run_http(&url, &pid, &read).await;
    let text = result["Output"]["data"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let calls: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {result}"));
    let mut asked = vec![(top, 0, "what is 6 x 7?", "top")];
    asked.extend(cpi.map(|cpi| (cpi, 1, "asked by a program", "cpi")));
    assert_eq!(
        calls.as_array().map(Vec::len),
        Some(asked.len()),
        "the calls to this process: {calls}"
    );
    let mirror = aolink_node::ans104::b64url_encode(&c.mirrors[0]);
    for (call, (tx, index, data, note)) in calls.as_array().unwrap().iter().zip(asked) {
        assert_eq!(call["Sender"], sender.pubkey().to_string(), "{call}");
        assert_eq!(call["Chain"], chain_id, "{call}");
        assert_eq!(call["Gateway"], gateway.to_string(), "{call}");
        assert_eq!(call["Request"], format!("{tx}:{index}"), "{call}");
        assert_eq!(call["Tx"], tx.to_string(), "{call}");
        assert_eq!(call["Data"], data, "{call}");
        assert_eq!(call["Note"], note, "the caller's tag under X-: {call}");
        assert_eq!(
            call["From"], mirror,
            "the call comes from the gateway's mirror"
        );
    }
    let unrouted = c.node.unrouted_calls();
    assert_eq!(unrouted.count, 1, "{unrouted:?}");
    assert!(
        unrouted
            .last
            .as_deref()
            .unwrap_or_default()
            .contains(&unknown.to_string()),
        "{unrouted:?}"
    );
    let _ = stop.send(());
    run.await.unwrap().unwrap();
}

/// Sends `n` memo calls from `sender` to `gateway`, without waiting for each; returns their
/// signatures.
async fn send_calls(
    client: &RpcClient,
    sender: &Keypair,
    gateway: &Pubkey,
    process: &str,
    n: usize,
) -> Vec<String> {
    let mut signatures = Vec::with_capacity(n);
    let mut blockhash = client.get_latest_blockhash().await.unwrap();
    for i in 0..n {
        if i % 100 == 0 {
            blockhash = client.get_latest_blockhash().await.unwrap();
        }
        let text = call(process, "Count", &i.to_string(), "n");
        let tx = memo_call_transaction(sender, gateway, &text, blockhash);
        signatures.push(client.send_transaction(&tx).await.unwrap().to_string());
    }
    signatures
}

/// The process the backlog's calls name (it need not exist: the mirror's inbox is read).
const COUNTER: &str = "CountCountCountCountCountCountCountCount000";

/// A cluster whose fresh gateway has `n` calls from a funded sender waiting to be read.
struct Backlog {
    devnet: support::SolanaCluster,
    client: RpcClient,
    genesis: String,
    gateway: Pubkey,
    sender: Keypair,
    sent: Vec<String>,
}

async fn backlog(n: usize) -> Backlog {
    let devnet = solana_cluster().await;
    let client = RpcClient::new_with_commitment(devnet.url.clone(), CommitmentConfig::confirmed());
    let genesis = client.get_genesis_hash().await.unwrap().to_string();
    let gateway = Pubkey::new_unique();
    let sender = funded(&client).await;
    let sent = send_calls(&client, &sender, &gateway, COUNTER, n).await;
    Backlog {
        devnet,
        client,
        genesis,
        gateway,
        sender,
        sent,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpc_failing_a_third_of_its_calls_beside_a_dead_one_delays_but_loses_nothing() {
    let Backlog {
        devnet,
        genesis,
        gateway,
        sent,
        ..
    } = backlog(150).await;
    // Every third call answered 429, every third after it 500, so a third of all fail.
    let flaky: Proxy = proxy(
        devnet.url.clone(),
        Arc::new(|n| match n % 6 {
            2 => Some(429),
            5 => Some(500),
            _ => None,
        }),
        None,
    )
    .await;
    let rpc = format!("[\"{}\", \"{}\"]", closed_port_url(), flaky.url);
    // Small pages: many calls meet the refusals (a 429 costs the client half a second).
    let c = configured(&section(
        &genesis,
        &rpc,
        &gateway,
        "page_limit = 10\nfetch_concurrency = 8",
    ))
    .await;
    let (stop, run) = c.run();
    c.wait_for("150 calls mirrored", |events| events.len() >= 150)
        .await;
    let _ = stop.send(());
    run.await.unwrap().unwrap();
    assert!(
        flaky.refused.load(Ordering::SeqCst) > 20,
        "the proxy refused calls"
    );
    let (events, _) = mirror_inbox(&c.node, &c.mirrors[0]);
    let got: Vec<&str> = events.iter().map(|(tx, _)| tx.as_str()).collect();
    let want: Vec<&str> = sent.iter().map(String::as_str).collect();
    assert_eq!(got, want, "every call once, in the order sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_with_holes_is_read_again_until_whole_and_a_late_signature_arrives_once() {
    let Backlog {
        devnet,
        client,
        genesis,
        gateway,
        sender,
        mut sent,
    } = backlog(120).await;
    // The signature to leave out of the listings that hold it, and how many more times.
    let hiding = Arc::new(std::sync::Mutex::new((sent[50].clone(), 8u64)));
    let hidden = Arc::new(AtomicU64::new(0));
    let (rule, counter) = (hiding.clone(), hidden.clone());
    let rewrite = move |call: &Value, mut answer: Value| {
        let mut rule = rule.lock().unwrap();
        if call["method"] == "getSignaturesForAddress"
            && rule.1 > 0
            && let Some(listed) = answer["result"].as_array_mut()
        {
            let before = listed.len();
            listed.retain(|e| e["signature"] != rule.0.as_str());
            if listed.len() < before {
                rule.1 -= 1;
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
        answer
    };
    let holey = proxy(
        devnet.url.clone(),
        Arc::new(|_| None),
        Some(Arc::new(rewrite)),
    )
    .await;
    let c = configured(&section(
        &genesis,
        &format!("\"{}\"", holey.url),
        &gateway,
        // The signatures read before fit one page with the new ones.
        "page_limit = 100\nrecheck = 64",
    ))
    .await;
    let (stop, run) = c.run();
    // A backlog whose first page comes short while the 50th call is left out: the page below
    // shows the listing did not end there, so it is read again until whole.
    c.wait_for("120 calls mirrored", |events| events.len() >= 120)
        .await;
    assert_eq!(hidden.load(Ordering::SeqCst), 8, "the proxy hid the call");

    // Once caught up, a call left out of twenty listings while newer ones are read: the
    // re-listing of the signatures read before finds it.
    let more = send_calls(&client, &sender, &gateway, COUNTER, 10).await;
    *hiding.lock().unwrap() = (more[4].clone(), 20);
    sent.extend(more);
    c.wait_for("130 calls mirrored", |events| events.len() >= 130)
        .await;
    // A little longer: nothing more may come.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop.send(());
    run.await.unwrap().unwrap();
    assert_eq!(
        hidden.load(Ordering::SeqCst),
        28,
        "the proxy hid the second call"
    );
    let (events, _) = mirror_inbox(&c.node, &c.mirrors[0]);
    let mut got: Vec<&str> = events.iter().map(|(tx, _)| tx.as_str()).collect();
    got.sort();
    let mut want: Vec<&str> = sent.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(got, want, "every call exactly once");
    let passed = &c.status()["contracts"][0]["passedOver"];
    assert_eq!(passed["foundLate"], 1, "{passed}");
}
