//! An answer's round trip on anvil, through three `aolink` instances: `SampleDapp` asks an aos
//! process (the real module) through `AOGateway.send`; each instance mirrors the call into its
//! own node, where the same process answers with `msg.reply`; each signs the answer with its
//! own key, collects the others' from `GET /attestations/{id}`, and one of them delivers it
//! 2-of-3 to the gateway, which stores it in the dApp. Exactly one `ResultDelivered`.

use std::time::Duration;

use aolink_testkit::*;
use support::answers::{DeliveryKnobs, Round, wait_confirmed};

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dapps_question_is_answered_on_chain_2_of_3_exactly_once() {
    let Some(wasm) = fixture("aos-wasm64.wasm") else {
        return;
    };
    let Some(anvil) = anvil() else {
        return;
    };
    let mut round = Round::new(anvil, DeliveryKnobs::default()).await;
    let nodes: Vec<_> = (0..3).map(|i| round.start(i)).collect();
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    let process = round.install(wasm, &nodes.iter().collect::<Vec<_>>()).await;

    let id = round.ask(&process).await;
    round.wait_answer(1, Duration::from_secs(90), &urls).await;

    // Each instance signed once, with its own key; every instance's record ends confirmed,
    // one of them with the transaction it sent, the others having seen it delivered.
    support::answers::assert_each_signed_once(&urls, &id, &round.signers).await;
    let states = wait_confirmed(&round, &urls, &id).await;
    let senders = states
        .iter()
        .filter(|s| s["state"]["tx"].as_str().is_some_and(|t| !t.is_empty()))
        .count();
    assert_eq!(
        senders, 1,
        "one instance sent it, the others saw it: {states:?}"
    );
    assert_eq!(round.delivered_events().await, 1, "delivered exactly once");

    // What an operator sees: the queue in /metrics, and a replay of a delivery that is not
    // dead refused with its state named.
    let client = reqwest::Client::new();
    let metrics = client
        .get(format!("{}/metrics", urls[0]))
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
        .args(["replay", &id, "--node", &urls[0]])
        .output()
        .unwrap();
    assert!(!replay.status.success());
    let said = String::from_utf8_lossy(&replay.stderr);
    assert!(
        said.contains("the delivery is confirmed, not dead"),
        "{said}"
    );
    let resume = std::process::Command::new(env!("CARGO_BIN_EXE_aolink"))
        .args(["resume-signer", "--node", &urls[1]])
        .output()
        .unwrap();
    assert!(resume.status.success());
    assert!(String::from_utf8_lossy(&resume.stdout).contains("the signer was not halted"));
    for node in nodes {
        node.stop();
    }
}
