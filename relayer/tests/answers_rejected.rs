//! What the relayer refuses on the way back to the chain, end to end on anvil:
//!
//! - an answer from a process the request did not name: the mirror refuses it, so nothing is
//!   signed or delivered;
//! - a peer serving bad signatures (a forged one, one for an epoch without a set, one over a
//!   changed answer, one by a key outside the set): none is counted, the record says why, and
//!   the answer waits until a real second signer is back, then goes out once.

use std::time::{Duration, Instant};

use aolink_node::attest::AttestKeys;
use aolink_node::attest::sign::signed_bytes;
use aolink_primitives::answer::{Attestation, Family};
use aolink_testkit::*;
use serde_json::{Value, json};
use support::answers::{ATTEST, DeliveryKnobs, Round, deliveries, install, state, wait_confirmed};
use support::printed_mirror;

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_from_a_process_the_request_did_not_name_is_refused() {
    let Some(wasm) = fixture("aos-wasm64.wasm") else {
        return;
    };
    let Some(anvil) = anvil() else {
        return;
    };
    let mut round = Round::new(anvil, DeliveryKnobs::default()).await;
    let (node, printed) = round.start_printed(0);
    let mirror = printed_mirror(&printed, "31337");
    // Q answers a call it was never given; P, the process the dApp names, hands its call to Q
    // instead of answering.
    let q = install(
        wasm.clone(),
        &[&node],
        "Handlers.add('forge', Handlers.utils.hasMatchingTag('Action', 'Forge'), \
         function(m) ao.send({Target = m.Mirror, ['X-Reference'] = m['Call-Reference'], \
         Action = 'Answer', Data = 'forged'}) end); return 'ok'",
    )
    .await
    .id_b64();
    let p = install(
        wasm,
        &[&node],
        &format!(
            "Handlers.add('ask', Handlers.utils.hasMatchingTag('Action', 'Ask'), \
             function(m) ao.send({{Target = '{q}', Action = 'Forge', \
             ['Call-Reference'] = m.Reference, Mirror = m.From}}) end); return 'ok'"
        ),
    )
    .await;
    let id = round.ask(&p).await;

    let client = reqwest::Client::new();
    let refusal = format!("named process {}, not {q}", p.id_b64());
    let deadline = Instant::now() + Duration::from_secs(60);
    'refused: loop {
        // The mirror's schedule (SU), then each message's result (CU): the refusal is an
        // errored result, which `/results` leaves out as the CU does.
        let schedule = get_json(&client, &format!("{}/{mirror}", node.url)).await;
        for edge in schedule["edges"].as_array().into_iter().flatten() {
            let message = edge["node"]["message"]["id"].as_str().unwrap_or_default();
            let result = get_json(
                &client,
                &format!("{}/result/{message}?process-id={mirror}", node.url),
            )
            .await;
            if result["Error"]
                .as_str()
                .is_some_and(|e| e.contains(&refusal))
            {
                break 'refused;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the mirror never refused Q's answer: {schedule}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Refused by the mirror: nothing to sign, nothing to deliver.
    let record = deliveries(std::slice::from_ref(&node.url), &id)
        .await
        .remove(0);
    assert!(record["error"].is_string(), "{record}");
    let attestations = client
        .get(format!("{}/attestations/{id}", node.url))
        .send()
        .await
        .unwrap();
    assert_eq!(attestations.status(), reqwest::StatusCode::NOT_FOUND);
    assert!(round.answer(1).await.is_empty());
    node.stop();
}

/// The bad signatures a lying peer serves for the answer instance 0 signed.
fn tampered(real: &Attestation) -> Vec<Attestation> {
    let member = AttestKeys::none()
        .with_ethereum(&ATTEST[2], "peer")
        .unwrap();
    let outsider = AttestKeys::none()
        .with_ethereum(&[0x44; 32], "outsider")
        .unwrap();
    let sign = |keys: &AttestKeys, answer: &aolink_primitives::answer::Answer, epoch: u64| {
        let payload = answer.payload(epoch).unwrap();
        let bytes = signed_bytes(&payload, &answer.data_bytes().unwrap()).unwrap();
        let (signer, signature) = keys.sign(Family::Ethereum, &bytes).unwrap();
        Attestation {
            id: real.id.clone(),
            epoch,
            signer,
            signature: format!("0x{}", hex::encode(signature)),
            answer: answer.clone(),
        }
    };
    let mut forged = sign(&member, &real.answer, 0);
    forged.signature = format!("0x{}1b", "ab".repeat(64));
    let wrong_epoch = sign(&member, &real.answer, 7);
    let mut changed = real.answer.clone();
    changed.data = "forty-three".into();
    let changed = sign(&member, &changed, 0);
    let outsider = sign(&outsider, &real.answer, 0);
    vec![forged, wrong_epoch, changed, outsider]
}

/// A peer at `port` serving, for every answer, [`tampered`] versions of what `honest` signed.
async fn lying_peer(port: u16, honest: String) -> tokio::task::JoinHandle<()> {
    let app = axum::Router::new().route(
        "/attestations/{id}",
        axum::routing::get(
            move |axum::extract::Path(id): axum::extract::Path<String>| {
                let honest = honest.clone();
                async move {
                    let served: Value = reqwest::get(format!("{honest}/attestations/{id}"))
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let Some(real) = served["attestations"].get(0) else {
                        return axum::Json(json!({"attestations": []}));
                    };
                    let real: Attestation = serde_json::from_value(real.clone()).unwrap();
                    axum::Json(json!({"attestations": tampered(&real)}))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peers_bad_signatures_are_not_counted() {
    let Some(wasm) = fixture("aos-wasm64.wasm") else {
        return;
    };
    let Some(anvil) = anvil() else {
        return;
    };
    let mut round = Round::new(anvil, DeliveryKnobs::default()).await;
    let first = round.start(0);
    let second = round.start(1);
    let process = round.install(wasm, &[&first, &second]).await;
    // The second signer is down while the question is asked; a liar stands where the third
    // would be.
    second.stop();
    let _liar = lying_peer(round.ports[2], first.url.clone()).await;
    let id = round.ask(&process).await;

    // Instance 0 signs; the liar's four signatures are turned away, each with its reason.
    let deadline = Instant::now() + Duration::from_secs(60);
    let error = loop {
        let record = deliveries(std::slice::from_ref(&first.url), &id)
            .await
            .remove(0);
        let error = record["lastError"].as_str().unwrap_or("").to_string();
        if error.contains("not counted") && error.contains("epoch 7") {
            assert_eq!(state(&record), "signed", "{record}");
            break error;
        }
        assert!(Instant::now() < deadline, "{record}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for reason in [
        "no quorum yet (epoch 0: 1 of 2)",
        "epoch 7 has no signer set here",
        "its signer computed another answer",
        "is not in epoch 0's set",
    ] {
        assert!(error.contains(reason), "{reason:?} not in {error}");
    }
    let not_counted = error.split("not counted: ").nth(1).unwrap_or("");
    assert_eq!(
        not_counted.split("; ").count(),
        4,
        "the forged one too: {error}"
    );
    assert!(round.answer(1).await.is_empty());

    // The real second signer is back: it signs from its own schedule and the answer goes out,
    // once.
    let second = round.start(1);
    let urls = [first.url.clone(), second.url.clone()];
    round.wait_answer(1, Duration::from_secs(90), &urls).await;
    wait_confirmed(&round, std::slice::from_ref(&first.url), &id).await;
    assert_eq!(round.delivered_events().await, 1);
    first.stop();
    second.stop();
}
