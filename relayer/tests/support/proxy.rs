//! A loopback JSON-RPC proxy for fault tests: it forwards each call to an upstream node, or
//! refuses it with an HTTP status, or rewrites the upstream's answer.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::Value;

/// Whether call number `n` (from 0) is refused, and with which HTTP status.
pub type Refuse = Arc<dyn Fn(u64) -> Option<u16> + Send + Sync>;

/// The answer to send for a request, given the upstream's.
pub type Rewrite = Arc<dyn Fn(&Value, Value) -> Value + Send + Sync>;

/// A running proxy: its URL and how many calls it refused.
pub struct Proxy {
    pub url: String,
    pub refused: Arc<AtomicU64>,
}

/// Starts a proxy in front of `upstream`.
pub async fn proxy(upstream: String, refuse: Refuse, rewrite: Option<Rewrite>) -> Proxy {
    let calls = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::new();
    let counted = refused.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |body: Bytes| {
            let (calls, refused, client, upstream) = (
                calls.clone(),
                counted.clone(),
                client.clone(),
                upstream.clone(),
            );
            let (refuse, rewrite) = (refuse.clone(), rewrite.clone());
            async move {
                if let Some(status) = refuse(calls.fetch_add(1, Ordering::SeqCst)) {
                    refused.fetch_add(1, Ordering::SeqCst);
                    let code = StatusCode::from_u16(status).unwrap();
                    return (code, "refused by the test proxy").into_response();
                }
                let answer = client
                    .post(&upstream)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                let answer = match rewrite {
                    Some(rewrite) => {
                        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        let upstream: Value = serde_json::from_slice(&answer).unwrap();
                        Bytes::from(serde_json::to_vec(&rewrite(&request, upstream)).unwrap())
                    }
                    None => answer,
                };
                ([(header::CONTENT_TYPE, "application/json")], answer).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Proxy { url, refused }
}

/// A proxy that answers every third call with `status` instead of forwarding it.
pub async fn flaky_proxy(upstream: String, status: u16) -> Proxy {
    proxy(
        upstream,
        Arc::new(move |n| (n % 3 == 2).then_some(status)),
        None,
    )
    .await
}
