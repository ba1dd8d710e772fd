//! A dApp's round trip through several `aolink` instances on anvil: the gateway with the
//! instances' attestation keys as its 2-of-3 signer set, `SampleDapp`, one configuration per
//! instance (ports picked up front so each can name the others as peers), and the same aos
//! process installed on every instance.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy::node_bindings::AnvilInstance;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::sol_types::SolEvent;
use aolink_node::ans104::{DataItem, Ed25519Signer};
use aolink_node::attest::AttestKeys;
use aolink_primitives::answer::answer_id;
use aolink_testkit::*;
use serde_json::Value;

use super::{RunningNode, free_ports, key_file};

/// The instances' attestation secrets.
pub const ATTEST: [[u8; 32]; 3] = [[0x11; 32], [0x22; 32], [0x33; 32]];

/// The answer the process gives.
pub const ANSWER: &[u8] = b"forty-two";

/// Everything but the running instances.
pub struct Round {
    pub anvil: AnvilInstance,
    pub gateway: Address,
    pub dapp: Address,
    pub dir: tempfile::TempDir,
    pub ports: Vec<u16>,
    pub signers: Vec<String>,
    /// How many calls `ask` made.
    pub asked: u64,
}

/// The `[ethereum.delivery]` lines of a test (`resubmit_after_ms`, `max_fee_multiple`).
pub struct DeliveryKnobs {
    pub resubmit_after_ms: u64,
    pub max_fee_multiple: u64,
    pub backup_after_ms: u64,
    /// The gateway's finality policy: confirmations (1 by default; 0 watches the head).
    pub finality: u64,
    /// Whether the watcher also follows new heads over anvil's websocket.
    pub websocket: bool,
}

impl Default for DeliveryKnobs {
    fn default() -> Self {
        DeliveryKnobs {
            resubmit_after_ms: 10_000,
            max_fee_multiple: 3,
            backup_after_ms: 4_000,
            finality: 1,
            websocket: false,
        }
    }
}

impl Round {
    /// Deploys the gateway and the dApp on `anvil` and writes the instances' configurations.
    pub async fn new(anvil: AnvilInstance, knobs: DeliveryKnobs) -> Round {
        let provider = wallet_provider(&anvil);
        let signers: Vec<String> = ATTEST
            .iter()
            .map(|s| {
                AttestKeys::none()
                    .with_ethereum(s, "test")
                    .unwrap()
                    .ethereum_address()
                    .unwrap()
            })
            .collect();
        let members: Vec<Address> = signers.iter().map(|s| s.parse().unwrap()).collect();
        let gateway = AOGateway::deploy(provider.clone(), members, U256::from(2))
            .await
            .unwrap();
        let dapp = SampleDapp::deploy(provider.clone(), *gateway.address())
            .await
            .unwrap();
        let round = Round {
            gateway: *gateway.address(),
            dapp: *dapp.address(),
            dir: tempfile::tempdir().unwrap(),
            ports: free_ports(3),
            signers,
            anvil,
            asked: 0,
        };
        for i in 0..3 {
            round.write_config(i, &knobs);
        }
        round
    }

    pub fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }

    fn config_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("aolink-{i}.toml"))
    }

    fn write_config(&self, i: usize, knobs: &DeliveryKnobs) {
        let dir = self.dir.path();
        let relayer_key = dir.join(format!("relayer-{i}.key"));
        key_file(&relayer_key, &self.anvil.keys()[i + 1].to_bytes());
        let peers: Vec<String> = (0..3).filter(|j| *j != i).map(|j| self.url(j)).collect();
        let text = format!(
            r#"
[[ethereum]]
chain_id = 31337
rpc = "{rpc}"
finality = {finality}
poll_interval_ms = 50
{ws}

[[ethereum.contracts]]
address = "{gateway:#x}"
start_block = 1

[ethereum.delivery]
key_file = "{relayer}"
resubmit_after_ms = {resubmit}
max_fee_multiple = {multiple}
{quorum}"#,
            rpc = self.anvil.endpoint_url(),
            gateway = self.gateway,
            relayer = relayer_key.display(),
            quorum = quorum_toml(
                "ethereum",
                dir,
                i,
                &self.signers,
                &peers,
                knobs.backup_after_ms
            ),
            resubmit = knobs.resubmit_after_ms,
            multiple = knobs.max_fee_multiple,
            finality = knobs.finality,
            ws = if knobs.websocket {
                format!("ws = {:?}", self.anvil.ws_endpoint())
            } else {
                String::new()
            },
        );
        std::fs::write(self.config_path(i), text).unwrap();
    }

    /// Starts (or restarts) instance `i`, logging into `node-i.log`.
    pub fn start(&self, i: usize) -> RunningNode {
        self.start_printed(i).0
    }

    /// As [`Round::start`], with the lines the instance printed (its mirrors).
    pub fn start_printed(&self, i: usize) -> (RunningNode, Vec<String>) {
        start_instance(self.dir.path(), self.ports[i], i)
    }

    /// The answering process on every node in `nodes` ([`install`]).
    pub async fn install(&self, wasm: Vec<u8>, nodes: &[&RunningNode]) -> DataItem {
        install(wasm, nodes, &ask_handler()).await
    }

    /// The dApp asks `process`; one more block makes the call final under `finality = 1`.
    /// Returns the answer's id.
    pub async fn ask(&mut self, process: &DataItem) -> String {
        let id = self.call(process).await;
        mine(&wallet_provider(&self.anvil), 1).await;
        id
    }

    /// The dApp's call, mined but not final yet. Returns the answer's id.
    pub async fn call(&mut self, process: &DataItem) -> String {
        let provider = wallet_provider(&self.anvil);
        let dapp = SampleDapp::new(self.dapp, provider.clone());
        mined(
            &provider,
            dapp.ask(
                B256::from(process.id()),
                "Ask".into(),
                b"meaning?".to_vec().into(),
            )
            .send()
            .await
            .unwrap(),
        )
        .await;
        self.asked += 1;
        answer_id(
            "31337",
            &format!("{:#x}", self.gateway),
            &self.asked.to_string(),
        )
    }

    /// The dApp's stored answer to request `request`.
    pub async fn answer(&self, request: u64) -> Vec<u8> {
        let dapp = SampleDapp::new(self.dapp, wallet_provider(&self.anvil));
        dapp.answers(U256::from(request))
            .call()
            .await
            .unwrap()
            .to_vec()
    }

    /// Waits up to `limit` for request `request`'s answer to reach the dApp, mining a block
    /// now and then as a live chain would.
    pub async fn wait_answer(&self, request: u64, limit: Duration, show: &[String]) {
        let deadline = Instant::now() + limit;
        let provider = wallet_provider(&self.anvil);
        loop {
            let answer = self.answer(request).await;
            if !answer.is_empty() {
                assert_eq!(answer, ANSWER);
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no answer in {limit:?}; deliveries: {:?}",
                deliveries(
                    show,
                    &answer_id(
                        "31337",
                        &format!("{:#x}", self.gateway),
                        &request.to_string()
                    )
                )
                .await
            );
            mine(&provider, 1).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Turns anvil's mining of each transaction on arrival on or off.
    pub async fn automine(&self, on: bool) {
        let _: Value = wallet_provider(&self.anvil)
            .raw_request("evm_setAutomine".into(), (on,))
            .await
            .unwrap();
    }

    /// The gateway's `ResultDelivered` events so far.
    pub async fn delivered_events(&self) -> usize {
        wallet_provider(&self.anvil)
            .get_logs(
                &alloy::rpc::types::Filter::new()
                    .address(self.gateway)
                    .event_signature(AOGateway::ResultDelivered::SIGNATURE_HASH)
                    .from_block(0),
            )
            .await
            .unwrap()
            .len()
    }
}

/// The `[attest]`, `[[attest.sets]]` and `[delivery]` sections of instance `i` of three, for
/// `family`: its attestation key (`ATTEST[i]`, written into `dir`), its peers, the 2-of-3 set
/// of `signers`.
pub fn quorum_toml(
    family: &str,
    dir: &Path,
    i: usize,
    signers: &[String],
    peers: &[String],
    backup_after_ms: u64,
) -> String {
    let attest_key = dir.join(format!("attest-{i}.key"));
    key_file(&attest_key, &ATTEST[i]);
    let quoted = |list: &[String]| {
        list.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        r#"
[attest]
epoch = 0
{family}_key_file = "{attest}"
peers = [{peers}]

[[attest.sets]]
family = "{family}"
epoch = 0
threshold = 2
signers = [{signers}]

[delivery]
rank = {i}
instances = 3
backup_after_ms = {backup_after_ms}
"#,
        attest = attest_key.display(),
        peers = quoted(peers),
        signers = quoted(signers),
    )
}

/// Checks that every instance at `urls` signed answer `id` once, instance `i` with
/// `signers[i]`.
pub async fn assert_each_signed_once(urls: &[String], id: &str, signers: &[String]) {
    let client = reqwest::Client::new();
    for (i, url) in urls.iter().enumerate() {
        let served = get_json(&client, &format!("{url}/attestations/{id}")).await;
        let signed = served["attestations"].as_array().unwrap();
        assert_eq!(signed.len(), 1, "{served}");
        assert_eq!(signed[0]["signer"], signers[i]);
    }
}

/// Starts (or restarts) instance `i` of a round in `dir` (configured in `aolink-i.toml`) on
/// `port`, logging into `node-i.log`; with the lines it printed.
pub fn start_instance(dir: &Path, port: u16, i: usize) -> (RunningNode, Vec<String>) {
    RunningNode::start_on(
        &dir.join(format!("node-{i}")),
        &format!("127.0.0.1:{port}"),
        &[
            "--config",
            dir.join(format!("aolink-{i}.toml")).to_str().unwrap(),
        ],
        "info",
        &dir.join(format!("node-{i}.log")),
    )
}

/// The Lua of the answering handler: `Ask` gets [`ANSWER`] back through `msg.reply`.
pub fn ask_handler() -> String {
    format!(
        "Handlers.add('ask', Handlers.utils.hasMatchingTag('Action', 'Ask'), \
         function(m) m.reply({{Action = 'Answer', Data = '{}'}}) end); return 'ok'",
        String::from_utf8_lossy(ANSWER)
    )
}

/// An aos process of `wasm` with `lua` evaluated, posted to every node in `nodes`. No
/// Scheduler tag, so each node schedules it itself; every node's key is an Authority, since
/// each node's messenger signs its mirror's calls.
pub async fn install(wasm: Vec<u8>, nodes: &[&RunningNode], lua: &str) -> DataItem {
    let owner = Ed25519Signer::generate();
    let module = module_item(&owner, wasm, "wasm64-unknown-emscripten-draft_2024_02_15");
    let module_id = module.id_b64();
    let mut tags: Vec<(&str, &str)> = vec![("Type", "Process"), ("Module", &module_id)];
    for node in nodes {
        tags.push(("Authority", &node.address));
    }
    let process = item_with_data(&owner, None, &tags, b"1984");
    let eval = item_with_data(
        &owner,
        Some(process.id()),
        &[("Type", "Message"), ("Action", "Eval")],
        lua.as_bytes(),
    );
    let client = reqwest::Client::new();
    for node in nodes {
        for item in [&module, &process, &eval] {
            post(&client, &node.url, item).await;
        }
    }
    process
}

/// Posts a data item to a node.
pub async fn post(client: &reqwest::Client, url: &str, item: &DataItem) {
    let response = client
        .post(format!("{url}/"))
        .body(item.to_bytes())
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert!(
        status.is_success(),
        "{status}: {}",
        response.text().await.unwrap()
    );
}

/// Each node's delivery record of answer `id` (null where it has none, the error where the
/// node does not answer).
pub async fn deliveries(urls: &[String], id: &str) -> Vec<Value> {
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    for url in urls {
        let value = match client.get(format!("{url}/deliveries/{id}")).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(e) => Value::String(e.to_string()),
        };
        out.push(value);
    }
    out
}

/// Waits until every node in `urls` holds answer `id` confirmed, mining as it goes; returns
/// the records.
pub async fn wait_confirmed(round: &Round, urls: &[String], id: &str) -> Vec<Value> {
    let provider = wallet_provider(&round.anvil);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let states = deliveries(urls, id).await;
        if states.iter().all(|s| s["state"]["name"] == "confirmed") {
            return states;
        }
        assert!(
            Instant::now() < deadline,
            "not all confirmed: {:?}\n{states:?}",
            states.iter().map(state).collect::<Vec<_>>()
        );
        // Deliveries are final one block deep: blocks keep coming on a live chain.
        mine(&provider, 1).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The record's state name.
pub fn state(record: &Value) -> &str {
    record["state"]["name"].as_str().unwrap_or("")
}

/// Waits until `url` holds answer `id` in one of `states`.
pub async fn wait_state(url: &str, id: &str, states: &[&str], limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let record = deliveries(&[url.to_string()], id).await.remove(0);
        if states.contains(&state(&record)) {
            return record;
        }
        assert!(
            Instant::now() < deadline,
            "{url} never reached {states:?}: {record}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
