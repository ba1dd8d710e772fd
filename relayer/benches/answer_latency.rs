//! The latency an answer's round trip adds on anvil with instant mining: from the block holding
//! a dApp's `RequestSent` to the answer stored in the dApp by the `deliver` transaction, through
//! three `aolink` instances (2-of-3), the aos fixture module answering each call. 1,000 calls one
//! after another; p50 and p99. Goal: p99 < 250 ms (aim < 50 ms).
//!
//! The gateway is watched at the head (`finality = 0`) with new heads followed over anvil's
//! websocket, so what is measured is aolink's own path: the watcher, the mirror, the process,
//! the signature, the quorum from the peers, and the delivery.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use alloy::primitives::{B256, U256};
use aolink_testkit::*;
use support::answers::{ANSWER, DeliveryKnobs, Round};

const CALLS: u64 = 1_000;

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    runtime.block_on(run());
}

async fn run() {
    let Some(wasm) = fixture("aos-wasm64.wasm") else {
        return;
    };
    let Some(anvil) = anvil() else {
        return;
    };
    let knobs = DeliveryKnobs {
        finality: 0,
        websocket: true,
        ..DeliveryKnobs::default()
    };
    let round = Round::new(anvil, knobs).await;
    let nodes: Vec<_> = (0..3).map(|i| round.start(i)).collect();
    let process = round.install(wasm, &nodes.iter().collect::<Vec<_>>()).await;
    let provider = wallet_provider(&round.anvil);
    let dapp = SampleDapp::new(round.dapp, provider.clone());

    let mut latencies = Vec::with_capacity(CALLS as usize);
    for request in 1..=CALLS {
        let pending = dapp
            .ask(
                B256::from(process.id()),
                "Ask".into(),
                b"meaning?".to_vec().into(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("ask: {e}"));
        mined(&provider, pending).await;
        let asked = Instant::now();
        loop {
            let answer = dapp
                .answers(U256::from(request))
                .call()
                .await
                .unwrap_or_else(|e| panic!("answers: {e}"));
            if !answer.is_empty() {
                assert_eq!(answer.as_ref(), ANSWER);
                break;
            }
            assert!(
                asked.elapsed() < Duration::from_secs(60),
                "request {request} not answered in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        latencies.push(asked.elapsed());
    }
    assert_eq!(
        round.delivered_events().await as u64,
        CALLS,
        "each delivered once"
    );
    latencies.sort();
    println!(
        "answer round trip over {CALLS} calls: p50 {:?}, p99 {:?}, max {:?} (goal p99 < 250 ms)",
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        latencies[latencies.len() - 1]
    );
    for node in nodes {
        node.stop();
    }
}
