//! Reading a node as clients do: its HTTP API, and its store for what a schedule holds.

use aolink_node::Node;
use aolink_node::ans104::{DataItem, b64url_encode};
use serde_json::{Value, json};

/// Serves the node's HTTP API on a free loopback port for the rest of the test; its URL.
pub async fn serve(node: &Node) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let config = aolink_node::http::HttpConfig {
        public_url: url.clone(),
        body_limit: aolink_node::http::DEFAULT_BODY_LIMIT,
    };
    let node = node.clone();
    tokio::spawn(async move {
        aolink_node::http::serve(node, listener, &config, std::future::pending())
            .await
            .unwrap()
    });
    url
}

/// `GET url` as JSON; the status must be a success.
pub async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).send().await.unwrap();
    assert!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// `POST url` with a JSON body, answered with JSON; the status must be a success.
pub async fn post_json(client: &reqwest::Client, url: &str, body: &Value) -> Value {
    let response = client.post(url).json(body).send().await.unwrap();
    assert!(
        response.status().is_success(),
        "POST {url}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// A dry-run through a node's HTTP API (`POST /dry-run`), as a client reads a process.
pub async fn dry_run_http(url: &str, process: &str, msg: &Value) -> Value {
    post_json(
        &reqwest::Client::new(),
        &format!("{url}/dry-run?process-id={process}"),
        msg,
    )
    .await
}

/// Reads a device process with an `action` query over HTTP.
pub async fn dry(url: &str, process: &[u8; 32], action: &str) -> Value {
    let msg =
        json!({"Tags": [{"name": "Action", "value": action}], "From": "reader", "Owner": "reader"});
    dry_run_http(url, &b64url_encode(process), &msg).await
}

/// Evaluates every scheduled message.
pub async fn crank(node: &Node) {
    let n = node.clone();
    tokio::task::spawn_blocking(move || while n.crank_once().unwrap() {})
        .await
        .unwrap();
}

/// Every event a mirror's schedule received in `Chain-Event` items, as (txHash, logIndex) in
/// slot order, and how many `Chain-Reorg` items it got.
pub fn mirror_inbox(node: &Node, mirror: &[u8; 32]) -> (Vec<(String, u64)>, usize) {
    let store = node.store();
    let next = store.process(mirror).unwrap().unwrap().next_slot;
    let mut events = Vec::new();
    let mut reorgs = 0;
    for slot in 1..next {
        let entry = store.entry(mirror, slot).unwrap().unwrap();
        let item = DataItem::parse(&store.item(&entry.message_id).unwrap().unwrap()).unwrap();
        match item.tag("Action") {
            Some("Chain-Event") => {
                let data: Value = serde_json::from_slice(&item.data).unwrap();
                for e in data["events"].as_array().unwrap() {
                    events.push((
                        e["txHash"].as_str().unwrap().to_string(),
                        e["logIndex"].as_u64().unwrap(),
                    ));
                }
            }
            Some("Chain-Reorg") => reorgs += 1,
            _ => {}
        }
    }
    (events, reorgs)
}
