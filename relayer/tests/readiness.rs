//! `/livez` and `/readyz` of a running `aolink node` watching anvil through a proxy: ready
//! once the chain is followed, unready (503, naming the chain and why) while its RPC stops
//! answering, ready again when it answers again; alive throughout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aolink_testkit::*;
use serde_json::Value;
use support::RunningNode;
use support::proxy::proxy;

mod support;

async fn probe(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Waits until `/readyz` answers `want`; returns its body.
async fn wait_ready(client: &reqwest::Client, node: &str, want: u16, what: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = probe(client, &format!("{node}/readyz")).await;
        if status == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: /readyz stayed {status} {body}"
        );
        let (live, _) = probe(client, &format!("{node}/livez")).await;
        assert_eq!(live, 200, "alive throughout");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_chain_rpc_going_away_and_coming_back() {
    let Some(anvil) = anvil() else {
        return;
    };
    let down = Arc::new(AtomicBool::new(false));
    let refusing = down.clone();
    let rpc = proxy(
        anvil.endpoint_url().to_string(),
        Arc::new(move |_| refusing.load(Ordering::SeqCst).then_some(503)),
        None,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("aolink.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[ethereum]]
chain_id = 31337
rpc = "{}"
finality = 0
poll_interval_ms = 50
max_silence_ms = 1500

[[ethereum.contracts]]
address = "0x00000000000000000000000000000000000000aa"
start_block = 0
"#,
            rpc.url
        ),
    )
    .unwrap();
    let node = RunningNode::start_with(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    )
    .0;
    let client = reqwest::Client::new();
    wait_ready(&client, &node.url, 200, "following the chain").await;

    down.store(true, Ordering::SeqCst);
    let body = wait_ready(&client, &node.url, 503, "with the RPC refusing").await;
    let reasons = body["reasons"].to_string();
    assert_eq!(body["ready"], false);
    assert!(reasons.contains("ethereum/31337"), "{body}");

    down.store(false, Ordering::SeqCst);
    let body = wait_ready(&client, &node.url, 200, "with the RPC back").await;
    assert_eq!(body["ready"], true);
    assert_eq!(body["reasons"], serde_json::json!([]));
    node.stop();
}
