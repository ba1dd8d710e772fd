//! Answers survive their relayers: an instance SIGKILLed between signing and delivery, or
//! between sending the delivery and its receipt, is restarted and the answer reaches the dApp
//! exactly once; a delivery stuck under a risen base fee is replaced and lands; and a restarted
//! signer serves the signature it made, never another.

use std::time::Duration;

use alloy::providers::Provider;
use aolink_testkit::*;
use serde_json::Value;
use support::answers::{DeliveryKnobs, Round, deliveries, state, wait_confirmed, wait_state};

mod support;

/// The instance that sent answer `id`'s delivery, and its record, once one has.
async fn submitted(urls: &[String], id: &str) -> (usize, Value) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut states = deliveries(urls, id).await;
        if let Some(i) = states.iter().position(|s| state(s) == "submitted") {
            return (i, states.swap_remove(i));
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing submitted: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn attestations(url: &str, id: &str) -> Value {
    get_json(&reqwest::Client::new(), &format!("{url}/attestations/{id}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_between_signing_and_delivery_delivers_exactly_once() {
    let Some(wasm) = fixture("aos-wasm64.wasm") else {
        return;
    };
    let Some(anvil) = anvil() else {
        return;
    };
    let mut round = Round::new(anvil, DeliveryKnobs::default()).await;
    let mut nodes: Vec<_> = (0..3).map(|i| round.start(i)).collect();
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    let process = round.install(wasm, &nodes.iter().collect::<Vec<_>>()).await;

    // Only the first instance runs when the call comes: it signs and cannot reach a quorum.
    let third = nodes.pop().unwrap();
    let second = nodes.pop().unwrap();
    second.stop();
    third.stop();
    let id = round.ask(&process).await;
    wait_state(&urls[0], &id, &["signed"], Duration::from_secs(30)).await;
    let signed_before = attestations(&urls[0], &id).await;
    nodes.pop().unwrap().kill9();

    // All three back: the first serves the very signature it made before the kill.
    let nodes: Vec<_> = (0..3).map(|i| round.start(i)).collect();
    round.wait_answer(1, Duration::from_secs(90), &urls).await;
    assert_eq!(attestations(&urls[0], &id).await, signed_before);
    wait_confirmed(&round, &urls, &id).await;
    assert_eq!(round.delivered_events().await, 1, "delivered exactly once");
    for node in nodes {
        node.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_between_submitting_and_the_receipt_delivers_exactly_once() {
    let Some(wasm) = fixture("aos-wasm64.wasm") else {
        return;
    };
    let Some(anvil) = anvil() else {
        return;
    };
    // Backups wait long enough that only the killed instance ever sends.
    let knobs = DeliveryKnobs {
        backup_after_ms: 60_000,
        ..DeliveryKnobs::default()
    };
    let mut round = Round::new(anvil, knobs).await;
    let mut nodes: Vec<_> = (0..3).map(|i| round.start(i)).collect();
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    let process = round.install(wasm, &nodes.iter().collect::<Vec<_>>()).await;

    // Blocks only when the test mines them: the delivery waits in the pool.
    let id = round.call(&process).await;
    round.automine(false).await;
    mine(&wallet_provider(&round.anvil), 1).await;
    let (sender, sent) = submitted(&urls, &id).await;
    let txs = sent["state"]["submission"]["txs"].clone();
    nodes.remove(sender).kill9();
    nodes.insert(sender, round.start(sender));

    // Restarted, it sends the same transaction again, not a new one; the chain takes it once.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again = deliveries(&urls[sender..=sender], &id).await.remove(0);
    assert_eq!(state(&again), "submitted", "{again}");
    assert_eq!(again["state"]["submission"]["txs"], txs, "{again}");
    round.automine(true).await;
    round.wait_answer(1, Duration::from_secs(60), &urls).await;
    let states = wait_confirmed(&round, &urls, &id).await;
    assert_eq!(states[sender]["state"]["tx"], txs[0], "{states:?}");
    assert_eq!(round.delivered_events().await, 1, "delivered exactly once");
    for node in nodes {
        node.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_stuck_under_a_risen_base_fee_is_replaced_and_lands() {
    let Some(wasm) = fixture("aos-wasm64.wasm") else {
        return;
    };
    let Some(anvil) = anvil() else {
        return;
    };
    let knobs = DeliveryKnobs {
        resubmit_after_ms: 1_000,
        max_fee_multiple: 50,
        backup_after_ms: 60_000,
        ..DeliveryKnobs::default()
    };
    let mut round = Round::new(anvil, knobs).await;
    let nodes: Vec<_> = (0..3).map(|i| round.start(i)).collect();
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    let process = round.install(wasm, &nodes.iter().collect::<Vec<_>>()).await;
    let provider = wallet_provider(&round.anvil);

    let id = round.call(&process).await;
    round.automine(false).await;
    mine(&provider, 1).await;
    let (sender, record) = submitted(&urls, &id).await;
    let first = record["state"]["submission"].clone();
    let first_cap: u128 = first["maxFeePerGas"].as_str().unwrap().parse().unwrap();
    // The base fee jumps past what the delivery offers: the block leaves it out.
    let _: Value = provider
        .raw_request(
            "anvil_setNextBlockBaseFeePerGas".into(),
            (format!("{:#x}", first_cap * 4),),
        )
        .await
        .unwrap();
    mine(&provider, 1).await;
    assert!(
        round.answer(1).await.is_empty(),
        "the underpriced delivery did not land"
    );

    // The pipeline replaces it with higher fees; the next blocks take the replacement.
    let replaced = loop {
        let record = deliveries(&urls[sender..=sender], &id).await.remove(0);
        let txs = record["state"]["submission"]["txs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if txs.len() >= 2 {
            break record;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let cap: u128 = replaced["state"]["submission"]["maxFeePerGas"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(cap > first_cap, "the replacement offers more: {replaced}");
    round.automine(true).await;
    round.wait_answer(1, Duration::from_secs(60), &urls).await;
    let states = wait_confirmed(&round, &urls, &id).await;
    assert_ne!(
        states[sender]["state"]["tx"], first["txs"][0],
        "the replacement landed: {states:?}"
    );
    assert_eq!(round.delivered_events().await, 1, "delivered exactly once");
    for node in nodes {
        node.stop();
    }
}
