//! A stand-in JSON-RPC endpoint for testing how RPC URLs are chosen (not a chain: real
//! chain behaviour is tested against anvil). It serves a chain id, records the methods it
//! was asked, and can be taken down (every request then gets a 503).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// A running stand-in endpoint.
#[derive(Clone)]
pub struct StandInRpc {
    /// Its URL.
    pub url: String,
    /// The methods asked of it, in order.
    pub asked: Arc<Mutex<Vec<String>>>,
    /// While set, every request is answered 503.
    pub down: Arc<AtomicBool>,
}

impl StandInRpc {
    /// The methods asked so far, other than `eth_chainId`.
    pub fn asked_besides_chain_id(&self) -> Vec<String> {
        let asked = self.asked.lock().unwrap();
        asked
            .iter()
            .filter(|m| *m != "eth_chainId")
            .cloned()
            .collect()
    }

    /// Takes it down or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

/// Serves chain `chain_id` on a loopback port: `eth_chainId`, `eth_blockNumber` (`block`),
/// and a "too many results" error (-32005) for `eth_getLogs`; other methods are not found.
pub async fn stand_in_rpc(chain_id: u64, block: u64) -> StandInRpc {
    let rpc = StandInRpc {
        url: String::new(),
        asked: Arc::default(),
        down: Arc::default(),
    };
    let (asked, down) = (rpc.asked.clone(), rpc.down.clone());
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |axum::Json(request): axum::Json<Value>| {
            let (asked, down) = (asked.clone(), down.clone());
            async move {
                let method = request["method"].as_str().unwrap_or_default().to_string();
                asked.lock().unwrap().push(method.clone());
                if down.load(Ordering::SeqCst) {
                    return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
                }
                let id = request["id"].clone();
                let answer = match method.as_str() {
                    "eth_chainId" => json!({"jsonrpc": "2.0", "id": id, "result": format!("{chain_id:#x}")}),
                    "eth_blockNumber" => json!({"jsonrpc": "2.0", "id": id, "result": format!("{block:#x}")}),
                    "eth_getLogs" => json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32005, "message": "query returned more than 10000 results"}}),
                    _ => json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "method not found"}}),
                };
                axum::Json(answer).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    StandInRpc { url, ..rpc }
}

/// A loopback URL where nothing listens (the port was just freed).
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}
