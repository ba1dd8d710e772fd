//! Attestation signing throughput against its floor: raw k256 signing of the same digests.
//!
//! `attest`: what the attestation room does per answer before it writes: the answer's payload
//! (keccak of the data, the tags hash), the EIP-712 digest built with alloy's `sol!` type,
//! the RFC 6979 signature normalised to low s, and the signature as hex.
//! `raw k256`: `SigningKey::sign_prehash_recoverable` over the very digests `attest` signed.
//! Both in the same run, median of 7 rounds of 2,000; the goal is attest ≥ 0.8 × raw.

use std::time::{Duration, Instant};

use aolink_node::attest::AttestKeys;
use aolink_node::attest::sign::{eip712_digest, signed_bytes};
use aolink_primitives::answer::{Answer, Family};

const ANSWERS: u64 = 2_000;
const ROUNDS: usize = 7;

fn answers() -> Vec<Answer> {
    (0..ANSWERS)
        .map(|n| Answer {
            chain_id: "31337".into(),
            gateway: "0x5fbdb2315678afecb367f032d93f642f64180aa3".into(),
            target: "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512".into(),
            request_id: (n + 1).to_string(),
            request_tx: format!("0x{n:064x}"),
            process: aolink_node::ans104::b64url_encode(&[3; 32]),
            requested_process: aolink_node::ans104::b64url_encode(&[3; 32]),
            message: "m".into(),
            mirror: "r".into(),
            slot: n,
            data: format!("answer number {n}"),
            data_encoding: None,
            tags: vec![("Action".into(), "Answer".into())],
        })
        .collect()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let secret = [7u8; 32];
    let keys = AttestKeys::none()
        .with_ethereum(&secret, "bench")
        .unwrap_or_else(|e| panic!("{e}"));
    let raw_key = k256::ecdsa::SigningKey::from_slice(&secret).unwrap_or_else(|e| panic!("{e}"));
    let answers = answers();
    let digests: Vec<[u8; 32]> = answers
        .iter()
        .map(|a| {
            let payload = a.payload(0).unwrap_or_else(|e| panic!("{e}"));
            eip712_digest(&payload, a.data.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();

    let mut attest = Vec::new();
    let mut raw = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for a in &answers {
            let payload = a.payload(0).unwrap_or_else(|e| panic!("{e}"));
            let data = a.data_bytes().unwrap_or_else(|e| panic!("{e}"));
            let bytes = signed_bytes(&payload, &data).unwrap_or_else(|e| panic!("{e}"));
            let (_, signature) = keys
                .sign(Family::Ethereum, &bytes)
                .unwrap_or_else(|e| panic!("{e}"));
            std::hint::black_box(format!("0x{}", hex::encode(signature)));
        }
        attest.push(started.elapsed());

        let started = Instant::now();
        for d in &digests {
            std::hint::black_box(
                raw_key
                    .sign_prehash_recoverable(d)
                    .unwrap_or_else(|e| panic!("{e}")),
            );
        }
        raw.push(started.elapsed());
    }
    let per_second = |d: Duration| ANSWERS as f64 / d.as_secs_f64();
    let (attest, raw) = (per_second(median(attest)), per_second(median(raw)));
    println!("attest signing: {attest:.0} answers/s");
    println!("raw k256 over the same digests: {raw:.0} signatures/s");
    println!("ratio: {:.2}x (goal >= 0.8x)", attest / raw);
}
