//! Cron routes: the CU's `GET /cron/{process}` and the MU's `POST`/`DELETE /monitor/{process}`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::NodeError;
use crate::ans104::b64url_decode_32;
use crate::store::Id;

/// `/cron` page size when none is asked for, and the largest (the CU's).
const DEFAULT_CRONS: usize = 500;
const MAX_CRONS: usize = 1000;

fn process_id(text: &str) -> Result<Id, ApiError> {
    b64url_decode_32(text, "process").map_err(|e| ApiError::bad_request("process", e.to_string()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            reason: format!("cron worker died: {e}"),
            field: None,
        })?
        .map_err(ApiError::from)
}

/// The CU's cursor shape (`timestamp`, `ordinate`, `cron`, `sort`) plus the position of the
/// result among the crons after its slot, which makes it exact.
fn cursor(timestamp: i64, slot: u64, seq: u32, cron: &str) -> String {
    STANDARD.encode(
        json!({"timestamp": timestamp, "ordinate": slot.to_string(), "cron": cron, "sort": "ASC", "seq": seq})
            .to_string(),
    )
}

/// A `from`/`to` bound: a cursor of ours (an exact position), or a timestamp.
enum Bound {
    Position(u64, u32),
    Timestamp(i64),
}

fn bound(text: Option<&String>, field: &'static str) -> Result<Option<Bound>, ApiError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Ok(ts) = text.parse::<i64>() {
        return Ok(Some(Bound::Timestamp(ts)));
    }
    let bad = || ApiError::bad_request(field, format!("{field}: not a cursor or a timestamp"));
    let c: Value = STANDARD
        .decode(text)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(bad)?;
    let int = |v: &Value| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    };
    let ts = int(&c["timestamp"]).ok_or_else(bad)?;
    match (
        int(&c["ordinate"]).and_then(|o| u64::try_from(o).ok()),
        int(&c["seq"]).and_then(|s| u32::try_from(s).ok()),
    ) {
        (Some(slot), Some(seq)) => Ok(Some(Bound::Position(slot, seq))),
        _ => Ok(Some(Bound::Timestamp(ts))),
    }
}

/// `GET /cron/{process}?from=&to=&limit=`: the process's cron results (evaluated up to now
/// first), oldest first, without errored ones, in the `/results` connection shape.
pub(crate) async fn crons(
    State(s): State<AppState>,
    Path(process): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let pid = process_id(&process)?;
    if s.node.store().process(&pid)?.is_none() {
        return Err(ApiError::not_found(format!(
            "process {process} is not scheduled by this node"
        )));
    }
    let from = bound(q.get("from"), "from")?;
    let to = bound(q.get("to"), "to")?;
    let limit = match q.get("limit") {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| *l > 0)
            .ok_or_else(|| {
                ApiError::bad_request("limit", format!("limit: {l:?} is not a positive number"))
            })?
            .min(MAX_CRONS),
        None => DEFAULT_CRONS,
    };
    let node = s.node.clone();
    blocking(move || {
        node.advance_crons(&pid)?;
        let store = node.store();
        let after = match from {
            Some(Bound::Position(slot, seq)) => Some((slot, seq)),
            _ => None,
        };
        let mut edges = Vec::new();
        let mut has_next_page = false;
        for row in store.crons_after(&pid, after) {
            let ((slot, seq), raw) = row?;
            let stored: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
            let ts = stored["timestamp"].as_i64().unwrap_or(0);
            if let Some(Bound::Timestamp(from)) = from
                && ts <= from
            {
                continue;
            }
            let past_to = match to {
                Some(Bound::Timestamp(to)) => ts > to,
                Some(Bound::Position(s, q)) => (slot, seq) > (s, q),
                None => false,
            };
            if past_to {
                break;
            }
            let Some(node) = super::cu::listed_node(&stored["result"]) else {
                continue;
            };
            if edges.len() == limit {
                has_next_page = true;
                break;
            }
            let label = stored["cron"].as_str().unwrap_or("");
            edges.push(json!({"cursor": cursor(ts, slot, seq, label), "node": node}));
        }
        Ok(Json(
            json!({"pageInfo": {"hasNextPage": has_next_page}, "edges": edges}),
        ))
    })
    .await
}

/// `POST /monitor/{process}`: push the outboxes of the process's cron results from now on.
/// Like the MU, the body (aoconnect sends a signed item) is not needed.
pub(crate) async fn monitor(
    State(s): State<AppState>,
    Path(process): Path<String>,
) -> Result<String, ApiError> {
    let pid = process_id(&process)?;
    let node = s.node.clone();
    blocking(move || node.monitor(&pid)).await?;
    Ok("Monitoring process".into())
}

/// `DELETE /monitor/{process}`: stop pushing its cron outboxes.
pub(crate) async fn unmonitor(
    State(s): State<AppState>,
    Path(process): Path<String>,
) -> Result<String, ApiError> {
    let pid = process_id(&process)?;
    let node = s.node.clone();
    let was = blocking(move || node.unmonitor(&pid)).await?;
    if !was {
        return Err(ApiError::not_found(format!(
            "process {process} is not monitored"
        )));
    }
    Ok("Stopped monitoring process".into())
}
