//! Starting an Ethereum chain against a real node: what the chain reports before it can watch,
//! and a URL that serves the wrong chain stopping it with the field named.

use std::sync::Arc;
use std::time::Duration;

use aolink_ethereum::service::{Chain, ChainConfig, run_chain};
use aolink_node::ans104::Ed25519Signer;
use aolink_node::{Node, NodeConfig};
use serde::Deserialize;

const GOOD: &str = r#"
[[ethereum]]
chain_id = 1
rpc = "http://127.0.0.1:8545"
finality = 12

[[ethereum.contracts]]
address = "0xfE08D40Eb5A9F0AF4d1A9dB8bCE09D8c27bDf55E"
start_block = 100
subscribe = ["*:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]
"#;

fn section(text: &str) -> Result<Chain, String> {
    #[derive(Deserialize)]
    struct File {
        ethereum: Vec<ChainConfig>,
    }
    let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
    let chain = file.ethereum.into_iter().next().ok_or("no section")?;
    chain.check(0).map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_chain_without_a_reachable_rpc_reports_itself_unhealthy() {
    let text = GOOD.replace(
        "rpc = \"http://127.0.0.1:8545\"",
        &format!("rpc = \"{}\"", aolink_testkit::closed_port_url()),
    );
    let chain = section(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = Node::open(NodeConfig::new(dir.path())).unwrap();
    let adapter = Arc::new(Ed25519Signer::generate());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(run_chain(node.clone(), adapter, chain, Vec::new(), async {
        let _ = stop_rx.await;
    }));
    let mut status = None;
    for _ in 0..100 {
        status = node.statuses().remove("ethereum/1");
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = status.expect("the chain reports a status");
    assert!(!status.healthy, "{status:?}");
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap()
            .contains("no RPC URL reachable")
    );
    let _ = stop_tx.send(());
    run.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_rpc_url_answering_for_another_chain_stops_the_chain_with_its_field() {
    let (right, wrong) = (
        aolink_testkit::stand_in_rpc(1, 10).await,
        aolink_testkit::stand_in_rpc(5, 10).await,
    );
    let text = GOOD.replace(
        "rpc = \"http://127.0.0.1:8545\"",
        &format!("rpc = [\"{}\", \"{}\"]", right.url, wrong.url),
    );
    let chain = section(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = Node::open(NodeConfig::new(dir.path())).unwrap();
    let adapter = Arc::new(Ed25519Signer::generate());
    let err = run_chain(node, adapter, chain, Vec::new(), std::future::pending())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("ethereum[0].rpc[1]:") && err.contains("serves chain 5"),
        "{err}"
    );
    assert_eq!(wrong.asked_besides_chain_id(), Vec::<String>::new());
}
