//! A data directory written by the previous release (stop 9: the node before `aolink-primitives`
//! existed) opens, audits clean, and evaluates its schedule to exactly the results and device
//! states that release computed. The directory was scheduled but not evaluated by that release;
//! `testkit/data/previous-release/generator.rs.txt` is the program that wrote it.

use std::sync::Arc;

use aolink_node::ans104::b64url_decode_32;
use aolink_node::clock::ManualClock;
use aolink_node::{Node, NodeConfig};
use serde_json::Value;

#[test]
fn a_data_directory_of_the_previous_release_audits_and_computes_the_same_bytes() {
    let data = aolink_testkit::workspace_root().join("testkit/data/previous-release");
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(data.join("datadir.tgz"))
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "tar could not unpack the stored data directory"
    );
    let expected: Value =
        serde_json::from_slice(&std::fs::read(data.join("expected.json")).unwrap()).unwrap();
    // The generator's clock stood at its last message; a device's state read catches up to now.
    let clock = Arc::new(ManualClock::new(1_700_000_000_000 + 9_000_000));
    let node = Node::open_with_clock(NodeConfig::new(dir.path().join("datadir-scheduled")), clock)
        .unwrap();
    let expected = expected.as_object().unwrap();
    let mut seen = 0;
    for record in node.store().processes() {
        let record = record.unwrap();
        let pid = b64url_decode_32(&record.id, "process id").unwrap();
        node.scheduler().audit(&pid).unwrap();
        seen += 1;
    }
    assert_eq!(seen, expected.len(), "the stored processes are all there");
    while node.crank_once().unwrap() {}
    for (id, want) in expected {
        let pid = b64url_decode_32(id, "process id").unwrap();
        let results: Vec<Value> = node
            .store()
            .results_from(&pid, 0)
            .map(|r| {
                let (slot, raw) = r.unwrap();
                serde_json::json!({"slot": slot, "result": serde_json::from_slice::<Value>(&raw).unwrap()})
            })
            .collect();
        assert_eq!(&Value::Array(results), &want["results"], "results of {id}");
        let state = node.compute().state(&pid).unwrap().0;
        assert_eq!(
            hex::encode(state),
            want["stateHex"].as_str().unwrap(),
            "state of {id}"
        );
    }
}
