//! The operator's commands: `init` writes a configuration the node starts with and keys only
//! their owner can read, and never overwrites; `keys show` prints the same addresses without a
//! node; `status` reads a running node (and fails when it cannot).

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use support::RunningNode;

mod support;

fn aolink(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aolink"))
        .args(args)
        .env_remove("AOLINK_ATTEST_ETHEREUM_KEY")
        .env_remove("AOLINK_ATTEST_SOLANA_KEY")
        .output()
        .unwrap()
}

/// The value after `label` in `text`.
fn after<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("{label:?} not in {text}"))
        .trim()
}

#[test]
fn init_keys_show_and_status_walk_an_operator_through_a_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("instance");
    let d_str = d.to_str().unwrap();
    let out = aolink(&["init", "--dir", d_str]);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    for file in [
        "aolink.toml",
        "keys/attest-ethereum.key",
        "keys/attest-solana.key",
        "data/node-key.json",
    ] {
        let mode = std::fs::metadata(d.join(file))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{file} is {mode:o}");
    }
    let eth = after(&said, "attestation signer (ethereum):");
    assert!(eth.starts_with("0x") && eth.len() == 42, "{said}");
    let sol = after(&said, "attestation signer (solana):");
    assert_eq!(bs58::decode(sol).into_vec().unwrap().len(), 32);

    // Never twice over the same files.
    let again = aolink(&["init", "--dir", d_str]);
    assert_eq!(again.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));

    // The same addresses without a node.
    let config = d.join("aolink.toml");
    let data = d.join("data");
    let shown = aolink(&[
        "keys",
        "show",
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(shown.status.success(), "{shown:?}");
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert_eq!(after(&shown, "attestation signer (ethereum):"), eth);
    assert_eq!(after(&shown, "attestation signer (solana):"), sol);
    assert_eq!(
        after(&shown, "node address:"),
        after(&said, "node address:")
    );

    // The node starts with what init wrote, signing with those keys.
    let (node, printed) = RunningNode::start_with(&data, &["--config", config.to_str().unwrap()]);
    assert_eq!(node.address, after(&shown, "node address:"));
    assert!(
        printed.iter().any(|l| l.contains(eth)),
        "the node signs with init's key: {printed:?}"
    );
    let status = aolink(&["status", "--node", &node.url]);
    assert!(status.status.success(), "{status:?}");
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        text.contains(&format!("node {}: healthy", node.address)),
        "{text}"
    );
    assert!(text.contains("deliveries: 0 open"), "{text}");
    let json = aolink(&["status", "--json", "--node", &node.url]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["attest"]["ethereumSigner"], eth);
    node.stop();

    let gone = aolink(&["status", "--node", "http://127.0.0.1:9"]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("is it running?"));
}
