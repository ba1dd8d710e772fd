//! `aolink node` as the README starts it: a relative `--data-dir`, then a restart from it.

mod support;

use std::path::Path;

use aolink_testkit::get_json;
use support::RunningNode;

#[tokio::test]
async fn a_node_started_with_a_relative_data_dir_serves_and_restarts_with_its_key() {
    let cwd = tempfile::tempdir().unwrap();
    let data_dir = Path::new("aolink-data");
    let client = reqwest::Client::new();

    let (node, _) = RunningNode::start_in(cwd.path(), data_dir, &[]);
    let health = get_json(&client, &format!("{}/health", node.url)).await;
    assert_eq!(health["status"], "ok");
    let status = get_json(&client, &format!("{}/status", node.url)).await;
    assert_eq!(status["healthy"], true, "{status}");
    assert_eq!(status["components"], serde_json::json!({}), "{status}");
    let address = node.address.clone();
    node.stop();
    assert!(cwd.path().join("aolink-data/node-key.json").is_file());
    assert!(cwd.path().join("aolink-data/module-cache").is_dir());

    let (node, _) = RunningNode::start_in(cwd.path(), data_dir, &[]);
    assert_eq!(node.address, address, "the same key after a restart");
    node.stop();
}
