//! The Grafana dashboard in `deploy/` queries only metrics the node exports: a node following
//! anvil and the local Solana devnet serves `/metrics`, and every `aolink_…` name in the
//! dashboard's queries is among them.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aolink_testkit::*;
use support::{RunningNode, solana_cluster};

mod support;

/// The `aolink_…` metric names in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("aolink_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_queries_is_exported() {
    let Some(anvil) = anvil() else {
        return;
    };
    let solana = solana_cluster().await;
    let genesis = solana_rpc_genesis(&solana.url).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("aolink.toml");
    std::fs::write(
        &config,
        format!(
            "[[ethereum]]\nchain_id = 31337\nrpc = \"{}\"\nfinality = 0\npoll_interval_ms = 50\n\n\
             [[ethereum.contracts]]\naddress = \"0x00000000000000000000000000000000000000aa\"\nstart_block = 0\n\n\
             [[solana]]\ncluster = \"{genesis}\"\nrpc = \"{}\"\ncommitment = \"confirmed\"\npoll_interval_ms = 20\n\n\
             [[solana.gateways]]\naddress = \"MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr\"\n",
            anvil.endpoint_url(),
            solana.url,
        ),
    )
    .unwrap();
    let (node, _) = RunningNode::start_with(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let exported = loop {
        let text = client
            .get(format!("{}/metrics", node.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let names: BTreeSet<String> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(['{', ' ']).next())
            .map(str::to_string)
            .collect();
        let both = names.contains("aolink_ethereum_contracts_behind")
            && names.contains("aolink_solana_contracts_behind");
        if both {
            break names;
        }
        assert!(
            Instant::now() < deadline,
            "both chains never reported:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let dashboard = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/grafana/aolink-dashboard.json"),
    )
    .unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let queries: Vec<String> = parsed["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    assert!(queries.len() >= 10, "{queries:?}");
    let queried = metric_names(&queries.join("\n"));
    let missing: Vec<&String> = queried.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics the node does not export: {missing:?}\nexported: {exported:?}"
    );
    node.stop();
}

async fn solana_rpc_genesis(url: &str) -> String {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(url)
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "getGenesisHash"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["result"].as_str().unwrap().to_string()
}
