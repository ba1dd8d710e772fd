//! Kill -9 the node during a burst of 1,000 posts, restart it, and check that every
//! acknowledged item has exactly one slot, the slots are gap-free and the hash chain verifies.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aolink_node::ans104::{DataItem, Ed25519Signer};
use aolink_testkit::get_json;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::{RunningNode, message_item, process_item};

const BURST: usize = 1000;
const KILL_AFTER_ACKS: usize = 350;
const CONCURRENCY: usize = 16;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Reads the whole schedule over the SU API and checks it independently of the node's code:
/// slots 0..n without gaps, strictly increasing timestamps, and the SU hash chain
/// sha256(prev_assignment_id ‖ prev_hash_chain) seeded with sha256(process id).
/// Returns message id → slot.
async fn read_and_verify_schedule(
    client: &reqwest::Client,
    url: &str,
    pid: &str,
) -> HashMap<String, u64> {
    let page = get_json(client, &format!("{url}/{pid}?limit=5000")).await;
    assert_eq!(page["page_info"]["has_next_page"], false);
    let mut slots = HashMap::new();
    let mut expected_chain = b64(&Sha256::digest(URL_SAFE_NO_PAD.decode(pid).unwrap()));
    let mut last_ts = i64::MIN;
    for (i, edge) in page["edges"].as_array().unwrap().iter().enumerate() {
        let node = &edge["node"];
        let tag = |name: &str| -> String {
            node["assignment"]["tags"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == name)
                .unwrap_or_else(|| panic!("assignment {i} has no {name} tag"))["value"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(tag("Nonce"), i.to_string(), "slots must be gap-free");
        assert_eq!(tag("Process"), pid);
        assert_eq!(
            tag("Hash-Chain"),
            expected_chain,
            "hash chain breaks at slot {i}"
        );
        let ts: i64 = tag("Timestamp").parse().unwrap();
        assert!(ts > last_ts, "timestamps must strictly increase (slot {i})");
        assert_eq!(edge["cursor"], ts.to_string());
        last_ts = ts;
        let message_id = node["message"]["id"].as_str().unwrap().to_string();
        assert_eq!(tag("Message"), message_id);
        assert!(
            slots.insert(message_id, i as u64).is_none(),
            "a message holds two slots"
        );
        let assignment_id = URL_SAFE_NO_PAD
            .decode(node["assignment"]["id"].as_str().unwrap())
            .unwrap();
        let mut hasher = Sha256::new();
        hasher.update(&assignment_id);
        hasher.update(URL_SAFE_NO_PAD.decode(&expected_chain).unwrap());
        expected_chain = b64(&hasher.finalize());
    }
    slots
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_a_burst_loses_no_acknowledged_item() {
    let dir = tempfile::tempdir().unwrap();
    let node = RunningNode::start(dir.path());
    let url = node.url.clone();
    let client = reqwest::Client::new();
    let signer = Ed25519Signer::generate();

    let process = process_item(&signer, &node.address, 1);
    let pid = process.id_b64();
    let res = client
        .post(&url)
        .body(process.to_bytes())
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success(),
        "spawn: {}",
        res.text().await.unwrap()
    );

    let items: Arc<Vec<DataItem>> = Arc::new(
        (0..BURST as u32)
            .map(|n| message_item(&signer, process.id(), n))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(std::sync::Mutex::new(HashMap::<String, u64>::new()));
    let ack_count = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (items, next, acked, ack_count, client, url) = (
            items.clone(),
            next.clone(),
            acked.clone(),
            ack_count.clone(),
            client.clone(),
            url.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                // After the kill every post fails; an unacknowledged post is simply not counted.
                let Ok(res) = client.post(&url).body(item.to_bytes()).send().await else {
                    continue;
                };
                if !res.status().is_success() {
                    continue;
                }
                let Ok(body) = res.json::<Value>().await else {
                    continue;
                };
                assert_eq!(body["id"], item.id_b64());
                let slot = body["slot"].as_u64().unwrap();
                acked.lock().unwrap().insert(item.id_b64(), slot);
                ack_count.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    while ack_count.load(Ordering::SeqCst) < KILL_AFTER_ACKS {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    node.kill9();
    for w in workers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= KILL_AFTER_ACKS && acked.len() < BURST,
        "the kill must land mid-burst ({} acks)",
        acked.len()
    );

    let node = RunningNode::start(dir.path());
    let url = node.url.clone();
    let before = read_and_verify_schedule(&client, &url, &pid).await;
    for (id, slot) in &acked {
        assert_eq!(
            before.get(id),
            Some(slot),
            "acknowledged item {id} lost or moved"
        );
    }

    // Re-posting everything is idempotent for what survived and schedules the rest once.
    for item in items.iter() {
        let res = client
            .post(&url)
            .body(item.to_bytes())
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        let body: Value = res.json().await.unwrap();
        if let Some(slot) = before.get(&item.id_b64()) {
            assert_eq!(body["slot"].as_u64(), Some(*slot));
            assert_eq!(body["duplicate"], true);
        }
    }
    let after = read_and_verify_schedule(&client, &url, &pid).await;
    assert_eq!(after.len(), BURST + 1);
    let ids: HashSet<String> = items.iter().map(|i| i.id_b64()).collect();
    assert!(ids.iter().all(|id| after.contains_key(id)));
    node.stop();

    let audit = std::process::Command::new(env!("CARGO_BIN_EXE_aolink"))
        .args(["audit", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&audit.stdout);
    assert!(
        audit.status.success(),
        "audit failed: {stdout} {}",
        String::from_utf8_lossy(&audit.stderr)
    );
    assert!(
        stdout.contains(&format!("1 processes, {} slots", BURST + 1)),
        "{stdout}"
    );
}
