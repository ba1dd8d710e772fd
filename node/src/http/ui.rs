//! The status page (`GET /ui`) and what it shows (`GET /ui/data`): the node's `/status`, its
//! processes, the newest scheduled messages and the fair-launch mint's totals. The page is one
//! self-contained HTML file (no external assets, so it works offline) refreshing itself.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{ApiError, AppState, cu, su};
use crate::ans104::{DataItem, b64url_encode};
use crate::store::Id;

/// The page itself.
const PAGE: &str = include_str!("ui.html");

/// How many of the newest scheduled messages the page lists.
const RECENT: usize = 20;

/// The device whose processes keep the mint.
const MINT_DEVICE: &str = "bridge@1.0";

/// `GET /ui`: the status page.
pub(crate) async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
}

/// One process as the page lists it.
struct Listed {
    pid: Id,
    row: Value,
    device: Option<String>,
}

/// `GET /ui/data`: everything the page shows, in one answer.
pub(crate) async fn data(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let Json(status) = su::status(State(s.clone())).await;
    let node = s.node.clone();
    let (listed, recent) = tokio::task::spawn_blocking(move || listing(&node))
        .await
        .map_err(|e| ApiError::internal(format!("listing processes: {e}")))??;
    let mut mint = Vec::new();
    for p in listed
        .iter()
        .filter(|p| p.device.as_deref() == Some(MINT_DEVICE))
    {
        let info = cu::dry_run_value(
            &s,
            p.pid,
            &json!({"Tags": [{"name": "Action", "value": "Info"}]}),
        )
        .await
        .map_or_else(|e| json!({"error": e.reason}), |r| r["Output"].clone());
        mint.push(json!({"process": b64url_encode(&p.pid), "info": info}));
    }
    Ok(Json(json!({
        "status": status,
        "processes": listed.into_iter().map(|p| p.row).collect::<Vec<_>>(),
        "recent": recent,
        "mint": mint,
    })))
}

/// The processes (with their `Device` or module) and the newest scheduled messages.
fn listing(node: &crate::Node) -> Result<(Vec<Listed>, Vec<Value>), ApiError> {
    let store = node.store();
    let mut listed = Vec::new();
    let mut recent = Vec::new();
    for record in store.processes() {
        let record = record?;
        let Ok(pid) = crate::ans104::b64url_decode_32(&record.id, "process") else {
            continue;
        };
        let item = store.item(&pid)?.and_then(|raw| DataItem::parse(&raw).ok());
        let tag = |name: &str| item.as_ref().and_then(|i| i.tag(name)).map(str::to_string);
        let device = tag("Device");
        listed.push(Listed {
            pid,
            device: device.clone(),
            row: json!({
                "id": record.id,
                "name": tag("Name"),
                "device": device,
                "module": record.module,
                "messages": record.next_slot,
                "lastTimestamp": record.last_timestamp,
            }),
        });
        // The newest few of each process; the newest of all are kept below.
        let first = record.next_slot.saturating_sub(RECENT as u64);
        for slot in (first..record.next_slot).rev() {
            let Some(entry) = store.entry(&pid, slot)? else {
                continue;
            };
            let action = store
                .item(&entry.message_id)?
                .and_then(|raw| DataItem::parse(&raw).ok())
                .and_then(|m| m.tag("Action").map(str::to_string));
            recent.push(json!({
                "process": record.id,
                "slot": slot,
                "message": b64url_encode(&entry.message_id),
                "action": action,
                "timestamp": entry.timestamp,
            }));
        }
    }
    recent.sort_by_key(|m| std::cmp::Reverse(m["timestamp"].as_i64().unwrap_or(0)));
    recent.truncate(RECENT);
    Ok((listed, recent))
}
