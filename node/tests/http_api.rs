//! The MU/SU/GraphQL HTTP API against a real node on a loopback port: every rejection is a
//! 4xx naming the field and stores nothing; pagination has the SU's exact edges.

use std::sync::Arc;

use aolink_node::ans104::tags::encode_tags;
use aolink_node::ans104::{DataItem, Ed25519Signer, Tag, b64url_encode};
use aolink_node::clock::ManualClock;
use aolink_node::http::HttpConfig;
use aolink_node::{Node, NodeConfig};
use serde_json::{Value, json};

const T0: i64 = 1_700_000_000_000;

struct Harness {
    node: Node,
    url: String,
    clock: Arc<ManualClock>,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let node = Node::open_with_clock(NodeConfig::new(dir.path()), clock.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let config = HttpConfig {
        public_url: url.clone(),
        body_limit: 64 * 1024,
    };
    let served = node.clone();
    tokio::spawn(async move {
        aolink_node::http::serve(served, listener, &config, std::future::pending())
            .await
            .unwrap();
    });
    Harness {
        node,
        url,
        clock,
        client: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Harness {
    async fn post(&self, body: Vec<u8>) -> (u16, Value) {
        let res = self.client.post(&self.url).body(body).send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let res = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap())
    }

    async fn graphql(&self, query: &str, variables: Value) -> Value {
        let res = self
            .client
            .post(format!("{}/graphql", self.url))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        let body: Value = res.json().await.unwrap();
        assert!(body.get("errors").is_none(), "graphql errors: {body}");
        body
    }
}

fn ao_tags(kind: &str, extra: &[(&str, &str)]) -> Vec<Tag> {
    let mut tags = vec![
        Tag::new("Data-Protocol", "ao"),
        Tag::new("Variant", "ao.TN.1"),
        Tag::new("Type", kind),
    ];
    tags.extend(extra.iter().map(|(n, v)| Tag::new(*n, *v)));
    tags
}

fn module_id() -> String {
    b64url_encode(&[7u8; 32])
}

fn spawn_item(signer: &Ed25519Signer, scheduler: &str) -> DataItem {
    let module = module_id();
    DataItem::sign(
        signer,
        None,
        None,
        ao_tags("Process", &[("Module", &module), ("Scheduler", scheduler)]),
        b"boot".to_vec(),
    )
    .unwrap()
}

fn message(signer: &Ed25519Signer, process: [u8; 32], n: u32) -> DataItem {
    DataItem::sign(
        signer,
        Some(process),
        None,
        ao_tags("Message", &[("N", &n.to_string())]),
        format!("hello {n}").into_bytes(),
    )
    .unwrap()
}

fn nonces(page: &Value) -> Vec<u64> {
    page["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["node"]["assignment"]["tags"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == "Nonce")
                .unwrap()["value"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

#[tokio::test]
async fn every_rejection_names_its_field_and_stores_nothing() {
    let h = start().await;
    let signer = Ed25519Signer::generate();
    let process = spawn_item(&signer, h.node.address());
    let (status, _) = h.post(process.to_bytes()).await;
    assert_eq!(status, 200);
    let before = h.node.store().counts();

    let good = message(&signer, process.id(), 1).to_bytes();
    // Type 2 layout: type 2 | signature 64 | owner 32 | target presence at 98 | target 32 | anchor presence at 131 | …
    let mut cases: Vec<(&str, Vec<u8>, u16, &str)> = Vec::new();
    cases.push(("too short", good[..60].to_vec(), 400, "length"));
    let mut unknown_type = good.clone();
    unknown_type[0] = 9;
    cases.push((
        "unknown signature type",
        unknown_type,
        400,
        "signature_type",
    ));
    let mut target_presence = good.clone();
    target_presence[98] = 7;
    cases.push(("target presence 7", target_presence, 400, "target_presence"));
    let mut anchor_presence = good.clone();
    anchor_presence[131] = 2;
    cases.push(("anchor presence 2", anchor_presence, 400, "anchor_presence"));
    cases.push(("truncated target", good[..110].to_vec(), 400, "target"));
    let mut tag_count = good.clone();
    tag_count[132] = tag_count[132].wrapping_add(1);
    cases.push(("tag count mismatch", tag_count, 400, "tags"));
    let mut bad_signature = good.clone();
    let last = bad_signature.len() - 1;
    bad_signature[last] ^= 0x01;
    cases.push(("flipped data byte", bad_signature, 400, "signature"));
    let mut bad_sig_bytes = good.clone();
    bad_sig_bytes[10] ^= 0xFF;
    cases.push(("flipped signature byte", bad_sig_bytes, 400, "signature"));
    // More than 4096 bytes of tags, framed by hand: arbundles' createData refuses to build it.
    let big_tags = encode_tags(&[Tag::new("Big", "x".repeat(5000))]);
    let mut oversized = good[..132].to_vec();
    oversized.extend_from_slice(&1u64.to_le_bytes());
    oversized.extend_from_slice(&(big_tags.len() as u64).to_le_bytes());
    oversized.extend_from_slice(&big_tags);
    cases.push(("tag bytes over 4096", oversized, 400, "tag_bytes"));
    cases.push(("empty body", Vec::new(), 400, "body"));

    let no_protocol = DataItem::sign(
        &signer,
        Some(process.id()),
        None,
        vec![Tag::new("Type", "Message")],
        b"x".to_vec(),
    )
    .unwrap();
    cases.push((
        "no Data-Protocol",
        no_protocol.to_bytes(),
        400,
        "tags.Data-Protocol",
    ));
    let module_type =
        DataItem::sign(&signer, None, None, ao_tags("Module", &[]), b"x".to_vec()).unwrap();
    cases.push((
        "module without Module-Format",
        module_type.to_bytes(),
        400,
        "tags.Module-Format",
    ));
    let bad_format = DataItem::sign(
        &signer,
        None,
        None,
        ao_tags(
            "Module",
            &[
                ("Module-Format", "wasm99"),
                ("Input-Encoding", "JSON-1"),
                ("Output-Encoding", "JSON-1"),
            ],
        ),
        b"x".to_vec(),
    )
    .unwrap();
    cases.push((
        "unknown Module-Format",
        bad_format.to_bytes(),
        400,
        "tags.Module-Format",
    ));
    let checkpoint = DataItem::sign(
        &signer,
        None,
        None,
        ao_tags("Checkpoint", &[]),
        b"x".to_vec(),
    )
    .unwrap();
    cases.push(("Type=Checkpoint", checkpoint.to_bytes(), 400, "tags.Type"));
    let no_module =
        DataItem::sign(&signer, None, None, ao_tags("Process", &[]), b"x".to_vec()).unwrap();
    cases.push((
        "process without Module",
        no_module.to_bytes(),
        400,
        "tags.Module",
    ));
    let other_scheduler = spawn_item(&signer, &b64url_encode(&[1u8; 32]));
    cases.push((
        "another scheduler",
        other_scheduler.to_bytes(),
        400,
        "tags.Scheduler",
    ));
    let no_target =
        DataItem::sign(&signer, None, None, ao_tags("Message", &[]), b"x".to_vec()).unwrap();
    cases.push((
        "message without target",
        no_target.to_bytes(),
        400,
        "target",
    ));

    for (name, body, status, field) in cases {
        let (got, body) = h.post(body).await;
        assert_eq!(got, status, "{name}: {body}");
        assert_eq!(body["field"], field, "{name}: {body}");
        let reason = body["error"].as_str().unwrap();
        // "target_presence" is reported as "target: presence byte is 7, …".
        let named = field.split('_').next().unwrap();
        assert!(
            reason.starts_with(named),
            "{name}: reason {reason:?} must name {field}"
        );
    }

    let unknown_process = message(&signer, [3u8; 32], 1);
    let (status, body) = h.post(unknown_process.to_bytes()).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not scheduled by this node")
    );

    let (status, body) = h.post(vec![0u8; 70 * 1024]).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["field"], "body");

    assert_eq!(
        h.node.store().counts(),
        before,
        "a rejected item left something behind"
    );
}

#[tokio::test]
async fn schedule_pages_like_the_rust_su() {
    let h = start().await;
    let signer = Ed25519Signer::generate();
    let process = spawn_item(&signer, h.node.address());
    let pid = process.id_b64();
    let (status, body) = h.post(process.to_bytes()).await;
    assert_eq!((status, body["id"].as_str()), (200, Some(pid.as_str())));
    assert_eq!(body["timestamp"], T0);
    let mut ids = Vec::new();
    for n in 1..=3u32 {
        h.clock.set(T0 + 10 * i64::from(n));
        let item = message(&signer, process.id(), n);
        let (status, body) = h.post(item.to_bytes()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["slot"], n);
        ids.push(item.id_b64());
    }
    // The clock steps back: the timestamp still increases.
    h.clock.set(T0 + 5);
    let item = message(&signer, process.id(), 4);
    let (_, body) = h.post(item.to_bytes()).await;
    assert_eq!(
        (body["slot"].as_u64(), body["timestamp"].as_i64()),
        (Some(4), Some(T0 + 31))
    );
    ids.push(item.id_b64());
    // Re-posting is idempotent.
    let (status, body) = h.post(item.to_bytes()).await;
    assert_eq!(
        (status, body["slot"].as_u64(), body["duplicate"].as_bool()),
        (200, Some(4), Some(true))
    );

    let (_, page) = h.get(&format!("/{pid}")).await;
    assert_eq!(nonces(&page), vec![0, 1, 2, 3, 4]);
    assert_eq!(page["edges"][0]["node"]["message"]["id"], pid.as_str());
    assert_eq!(page["edges"][0]["node"]["message"]["target"], Value::Null);
    assert_eq!(page["edges"][1]["node"]["message"]["target"], pid.as_str());
    assert_eq!(page["edges"][1]["cursor"], (T0 + 10).to_string());
    assert_eq!(page["edges"][1]["node"]["message"]["data"], "hello 1");
    assert_eq!(
        page["edges"][1]["node"]["assignment"]["owner"]["address"],
        h.node.address()
    );

    let (_, page) = h.get(&format!("/{pid}?from=&to=&limit=undefined")).await;
    assert_eq!(
        nonces(&page),
        vec![1, 2, 3, 4],
        "aoconnect's empty from suppresses the process edge"
    );
    let (_, page) = h.get(&format!("/{pid}?from={}", T0 + 10)).await;
    assert_eq!(nonces(&page), vec![2, 3, 4], "from is exclusive");
    let (_, page) = h.get(&format!("/{pid}?from={T0}&to={}", T0 + 20)).await;
    assert_eq!(nonces(&page), vec![1, 2], "to is inclusive");
    let (_, page) = h.get(&format!("/{pid}?limit=2")).await;
    assert_eq!(nonces(&page), vec![0, 1]);
    assert_eq!(page["page_info"]["has_next_page"], true);
    let (_, page) = h.get(&format!("/{pid}?limit=5")).await;
    assert_eq!(page["page_info"]["has_next_page"], false);
    let (_, page) = h.get(&format!("/{pid}?process-id={pid}&from=abc")).await;
    assert_eq!(nonces(&page), vec![1, 2, 3, 4]);
    let (_, page) = h.get(&format!("/{pid}?from-nonce=1")).await;
    assert_eq!(nonces(&page), vec![2, 3, 4]);
    let (_, page) = h.get(&format!("/{pid}?from-nonce=-1&to-nonce=1")).await;
    assert_eq!(nonces(&page), vec![0, 1]);
    assert_eq!(page["edges"][1]["cursor"], "1");

    let (status, msg) = h.get(&format!("/{}?process-id={pid}", ids[1])).await;
    assert_eq!(status, 200);
    assert_eq!(msg["message"]["id"], ids[1].as_str());
    assert_eq!(nonces(&json!({"edges": [{"node": msg}]})), vec![2]);
    let (_, msg) = h.get(&format!("/{}", ids[2])).await;
    assert_eq!(msg["message"]["id"], ids[2].as_str());
    let (_, latest) = h.get(&format!("/{pid}/latest")).await;
    assert_eq!(latest["message"]["id"], ids[3].as_str());

    let (status, proc_json) = h.get(&format!("/processes/{pid}")).await;
    assert_eq!(status, 200);
    assert_eq!(proc_json["process_id"], pid.as_str());
    assert_eq!(proc_json["timestamp"], T0);
    assert_eq!(proc_json["data"], "boot");
    assert_eq!(proc_json["block"].as_str().unwrap().len(), 12);

    let (_, ts) = h.get("/timestamp").await;
    assert_eq!(ts["block_height"], "000001500000");
    let (status, body) = h.get(&format!("/{}", b64url_encode(&[9u8; 32]))).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = h.get("/not-an-id").await;
    assert_eq!((status, body["field"].as_str()), (400, Some("id")));

    let audit = h.node.scheduler().audit(&process.id()).unwrap();
    assert_eq!(audit.slots, 5);
}

#[tokio::test]
async fn graphql_answers_the_queries_ao_clients_send() {
    let h = start().await;
    let signer = Ed25519Signer::generate();
    let process = spawn_item(&signer, h.node.address());
    let pid = process.id_b64();
    assert_eq!(h.post(process.to_bytes()).await.0, 200);

    // scheduler-utils loadProcessScheduler
    let body = h
        .graphql(
            "query GetTransactions ($transactionIds: [ID!]!) {\n  transactions(ids: $transactionIds, tags: [{ name: \"Data-Protocol\", values: [\"ao\"] }]) {\n    edges { node { tags { name value } } }\n  }\n}",
            json!({ "transactionIds": [pid] }),
        )
        .await;
    let tags = &body["data"]["transactions"]["edges"][0]["node"]["tags"];
    assert!(
        tags.as_array()
            .unwrap()
            .contains(&json!({"name": "Scheduler", "value": h.node.address()}))
    );

    // scheduler-utils loadScheduler, with the comment line it really sends
    let body = h
        .graphql(
            "query GetSchedulerLocation ($owner: String!) {\n  transactions (\n    owners: [$owner]\n    tags: [\n      { name: \"Data-Protocol\", values: [\"ao\"] },\n      { name: \"Type\", values: [\"Scheduler-Location\"] }\n    ]\n    # Only need the most recent Scheduler-Location\n    sort: HEIGHT_DESC\n    first: 1\n  ) {\n    edges { node { tags { name value } } }\n  }\n}",
            json!({ "owner": h.node.address() }),
        )
        .await;
    let tags = body["data"]["transactions"]["edges"][0]["node"]["tags"]
        .as_array()
        .unwrap()
        .clone();
    assert!(tags.contains(&json!({"name": "Url", "value": h.url})));
    assert!(tags.iter().any(|t| t["name"] == "Time-To-Live"));
    let body = h
        .graphql(
            "query ($owner: String!) { transactions(owners: [$owner], tags: [{name: \"Type\", values: [\"Scheduler-Location\"]}]) { edges { node { id } } } }",
            json!({ "owner": b64url_encode(&[1u8; 32]) }),
        )
        .await;
    assert_eq!(body["data"]["transactions"]["edges"], json!([]));

    // the CU's GetProcesses, with @skip directives
    let body = h
        .graphql(
            "query GetProcesses($processIds: [ID!]!, $skipTags: Boolean!, $skipSignature: Boolean!, $skipAnchor: Boolean!) { transactions(ids: $processIds) { edges { node { id signature @skip(if: $skipSignature) anchor @skip(if: $skipAnchor) owner { address key } tags @skip(if: $skipTags) { name value } recipient block { height timestamp } } } } }",
            json!({ "processIds": [pid], "skipTags": false, "skipSignature": true, "skipAnchor": true }),
        )
        .await;
    let node = &body["data"]["transactions"]["edges"][0]["node"];
    assert_eq!(node["id"], pid.as_str());
    assert!(node.get("signature").is_none());
    assert_eq!(node["owner"]["address"], process.owner_address());
    assert_eq!(node["block"]["height"], 1_500_000);

    let body = h
        .graphql(
            "query GetBlocks($min: Int!, $limit: Int!) { blocks(height: {min: $min}, first: $limit, sort: HEIGHT_ASC) { pageInfo { hasNextPage } edges { node { timestamp height } } } }",
            json!({ "min": 1_500_000, "limit": 10 }),
        )
        .await;
    assert_eq!(
        body["data"]["blocks"]["edges"][0]["node"]["height"],
        1_500_000
    );
    assert_eq!(
        body["data"]["blocks"]["edges"][0]["node"]["timestamp"],
        T0 / 1000
    );
}
