//! An answer's round trip on anvil, through three `aolink` instances: `SampleDapp` asks an aos
//! process (the real module) through `AOGateway.send`; each instance mirrors the call into its
//! own node, where the same process answers with `msg.reply`; each signs the answer with its
//! own key, collects the others' from `GET /attestations/{id}`, and one of them delivers it
//! 2-of-3 to the gateway, which stores it in the dApp. Exactly one `ResultDelivered`.

use std::path::Path;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::sol_types::SolEvent;
use aolink_node::ans104::{DataItem, Ed25519Signer};
use aolink_node::attest::AttestKeys;
use aolink_primitives::answer::answer_id;
use aolink_testkit::*;
use serde_json::Value;
use support::{RunningNode, free_ports, key_file};

mod support;

/// The three instances' attestation secrets.
const ATTEST: [[u8; 32]; 3] = [[0x11; 32], [0x22; 32], [0x33; 32]];

struct Instance {
    node: RunningNode,
    url: String,
}

fn config(
    dir: &Path,
    i: usize,
    anvil: &alloy::node_bindings::AnvilInstance,
    gateway: Address,
    urls: &[String],
    signers: &[String],
) -> std::path::PathBuf {
    let relayer_key = dir.join(format!("relayer-{i}.key"));
    key_file(&relayer_key, &anvil.keys()[i + 1].to_bytes());
    let attest_key = dir.join(format!("attest-{i}.key"));
    key_file(&attest_key, &ATTEST[i]);
    let peers: Vec<String> = urls
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, u)| format!("{u:?}"))
        .collect();
    let signers: Vec<String> = signers.iter().map(|s| format!("{s:?}")).collect();
    let text = format!(
        r#"
[[ethereum]]
chain_id = 31337
rpc = "{rpc}"
finality = 1
poll_interval_ms = 50

[[ethereum.contracts]]
address = "{gateway:#x}"
start_block = 1

[ethereum.delivery]
key_file = "{relayer}"
resubmit_after_ms = 10000

[attest]
epoch = 0
ethereum_key_file = "{attest}"
peers = [{peers}]

[[attest.sets]]
family = "ethereum"
epoch = 0
threshold = 2
signers = [{signers}]

[delivery]
rank = {i}
instances = 3
backup_after_ms = 4000
"#,
        rpc = anvil.endpoint_url(),
        relayer = relayer_key.display(),
        attest = attest_key.display(),
        peers = peers.join(", "),
        signers = signers.join(", "),
    );
    let path = dir.join(format!("aolink-{i}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

async fn post(client: &reqwest::Client, url: &str, item: &DataItem) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dapps_question_is_answered_on_chain_2_of_3_exactly_once() {
    let Some(wasm) = fixture("aos-wasm64.wasm") else {
        return;
    };
    let Some(anvil) = anvil() else {
        return;
    };
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
    let signer_addresses: Vec<Address> = signers.iter().map(|s| s.parse().unwrap()).collect();
    let gateway = AOGateway::deploy(provider.clone(), signer_addresses, U256::from(2))
        .await
        .unwrap();
    let dapp = SampleDapp::deploy(provider.clone(), *gateway.address())
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let mut instances = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let path = config(dir.path(), i, &anvil, *gateway.address(), &urls, &signers);
        let (node, _) = RunningNode::start_on(
            &dir.path().join(format!("node-{i}")),
            &format!("127.0.0.1:{port}"),
            &["--config", path.to_str().unwrap()],
            "info",
            &dir.path().join(format!("node-{i}.log")),
        );
        instances.push(Instance {
            url: node.url.clone(),
            node,
        });
    }

    // The same aos process on each node: no Scheduler tag, so each node schedules it itself;
    // every node's key is an Authority, since each node's messenger signs its mirror's calls.
    let owner = Ed25519Signer::generate();
    let module = module_item(&owner, wasm, "wasm64-unknown-emscripten-draft_2024_02_15");
    let module_id = module.id_b64();
    let mut tags: Vec<(&str, &str)> = vec![("Type", "Process"), ("Module", &module_id)];
    for instance in &instances {
        tags.push(("Authority", &instance.node.address));
    }
    let process = item_with_data(&owner, None, &tags, b"1984");
    let handler = "Handlers.add('ask', Handlers.utils.hasMatchingTag('Action', 'Ask'), \
        function(m) m.reply({Action = 'Answer', Data = 'forty-two'}) end); return 'ok'";
    let eval = item_with_data(
        &owner,
        Some(process.id()),
        &[("Type", "Message"), ("Action", "Eval")],
        handler.as_bytes(),
    );
    let client = reqwest::Client::new();
    for instance in &instances {
        post(&client, &instance.url, &module).await;
        post(&client, &instance.url, &process).await;
        post(&client, &instance.url, &eval).await;
    }

    // The dApp asks; one more block makes the call final under `finality = 1`.
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
    mine(&provider, 1).await;

    let id = answer_id("31337", &format!("{:#x}", gateway.address()), "1");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let answer = dapp.answers(U256::from(1)).call().await.unwrap();
        if !answer.is_empty() {
            assert_eq!(answer.as_ref(), b"forty-two");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no answer delivered in 90 s; deliveries: {:?}",
            deliveries(&client, &instances, &id).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Each instance signed once, with its own key; every instance's record ends confirmed.
    for (i, instance) in instances.iter().enumerate() {
        let served = get_json(&client, &format!("{}/attestations/{id}", instance.url)).await;
        let signed = served["attestations"].as_array().unwrap();
        assert_eq!(signed.len(), 1, "{served}");
        assert_eq!(signed[0]["signer"], signers[i]);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let states = deliveries(&client, &instances, &id).await;
        if states.iter().all(|s| s["state"]["name"] == "confirmed") {
            let senders = states
                .iter()
                .filter(|s| s["state"]["tx"].as_str().is_some_and(|t| !t.is_empty()))
                .count();
            assert_eq!(
                senders, 1,
                "one instance sent it, the others saw it: {states:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "not all confirmed: {states:?}");
        // The delivery is final one block deep: blocks keep coming on a real chain.
        mine(&provider, 1).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let logs = provider
        .get_logs(
            &alloy::rpc::types::Filter::new()
                .address(*gateway.address())
                .event_signature(AOGateway::ResultDelivered::SIGNATURE_HASH)
                .from_block(0),
        )
        .await
        .unwrap();
    assert_eq!(logs.len(), 1, "delivered exactly once");

    // What an operator sees: the queue in /metrics, and a replay of a delivery that is not
    // dead refused with its state named.
    let metrics = client
        .get(format!("{}/metrics", instances[0].url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "aolink_deliveries{state=\"confirmed\"} 1\n",
        "aolink_deliveries_open 0\n",
        "aolink_attestations_signed 1\n",
        "aolink_signer_halted 0\n",
    ] {
        assert!(metrics.contains(line), "{line:?} not in\n{metrics}");
    }
    let replay = std::process::Command::new(env!("CARGO_BIN_EXE_aolink"))
        .args(["replay", &id, "--node", &instances[0].url])
        .output()
        .unwrap();
    assert!(!replay.status.success());
    let said = String::from_utf8_lossy(&replay.stderr);
    assert!(
        said.contains("the delivery is confirmed, not dead"),
        "{said}"
    );
    for instance in instances {
        instance.node.stop();
    }
}

async fn deliveries(client: &reqwest::Client, instances: &[Instance], id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for instance in instances {
        let url = format!("{}/deliveries/{id}", instance.url);
        let value = match client.get(&url).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(e) => Value::String(e.to_string()),
        };
        out.push(value);
    }
    out
}
