//! An answer's round trip on Solana, through three `aolink` instances: a dApp account calls an
//! aos process (the real module) with a memo to the gateway address; each instance mirrors the
//! call into its own node, where the same process answers with `msg.reply`; each signs the
//! answer with its own ed25519 key, collects the others' from `GET /attestations/{id}`, and
//! one of them sends the transaction in which the Ed25519 program verifies 2 of the 3
//! signatures over the answer payload, beside the memo carrying the answer to the dApp.
//! Exactly one delivering transaction.

use std::time::Duration;

use aolink_testkit::*;
use solana_signer::Signer;
use support::answers::deliveries;
use support::solana_answers::SolanaRound;
use support::solana_cluster;

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_solana_dapps_question_is_answered_on_chain_2_of_3_exactly_once() {
    let Some(wasm) = fixture("aos-wasm64.wasm") else {
        return;
    };
    let round = SolanaRound::new(solana_cluster().await, 4_000).await;
    let nodes: Vec<_> = (0..3).map(|i| round.start(i)).collect();
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    let process = support::answers::install(
        wasm,
        &nodes.iter().collect::<Vec<_>>(),
        &support::answers::ask_handler(),
    )
    .await;

    let id = round.ask(&process).await;
    let (tx, payload, memo) = round.wait_answer(&id, Duration::from_secs(90), &urls).await;
    assert_eq!(memo.data_bytes().unwrap(), support::answers::ANSWER);
    assert_eq!(payload.answer_id(), id);
    assert_eq!(
        payload.process,
        process.id(),
        "answered by the process asked"
    );
    assert_eq!(payload.target, round.dapp.pubkey().to_bytes());

    // Every instance signed once with its own key and ends confirmed; one sent the delivery.
    support::answers::assert_each_signed_once(&urls, &id, &round.signers).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let states = loop {
        let states = deliveries(&urls, &id).await;
        if states.iter().all(|s| s["state"]["name"] == "confirmed") {
            break states;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not all confirmed: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let sent: Vec<&str> = states
        .iter()
        .filter_map(|s| s["state"]["tx"].as_str().filter(|t| !t.is_empty()))
        .collect();
    assert_eq!(
        sent,
        [tx.as_str()],
        "one instance sent it, the others saw it: {states:?}"
    );
    // Every record is closed, so no instance sends again: one delivery on chain.
    assert_eq!(
        round.deliveries_on_chain(&id).await,
        [tx],
        "delivered exactly once"
    );
    for node in nodes {
        node.stop();
    }
}
