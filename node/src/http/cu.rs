//! CU routes: `/result`, `/results`, `/dry-run`, `/state`, as aoconnect and the MU call them.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::Node;
use crate::ans104::{b64url_decode_32, b64url_encode};
use crate::compute::ComputeError;
use crate::compute::message::dry_run_message;
use crate::store::Id;
use aolink_primitives::ao::Assignment;

/// `/results` page size when none is asked for (the CU's default).
const DEFAULT_RESULTS: usize = 25;
/// The largest `/results` page.
const MAX_RESULTS: usize = 1000;

type Params = Query<HashMap<String, String>>;

impl From<ComputeError> for ApiError {
    fn from(e: ComputeError) -> Self {
        let status = match &e {
            ComputeError::UnknownProcess(_) => StatusCode::NOT_FOUND,
            // The CU answers 422 for processes whose module it refuses.
            ComputeError::Unrunnable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            reason: e.to_string(),
            field: None,
        }
    }
}

fn decode(text: &str, field: &'static str) -> Result<Id, ApiError> {
    b64url_decode_32(text, field).map_err(|e| ApiError::bad_request(field, e.to_string()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ComputeError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            reason: format!("evaluation worker died: {e}"),
            field: None,
        })?
        .map_err(ApiError::from)
}

/// `GET /result/{message}?process-id=`: the evaluation result of one message.
pub(crate) async fn result(
    State(s): State<AppState>,
    Path(message): Path<String>,
    Query(q): Params,
) -> Result<Json<Value>, ApiError> {
    let process_text = q
        .get("process-id")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad_request("process-id", "process-id: required"))?;
    let pid = decode(process_text, "process-id")?;
    let mid = decode(&message, "message")?;
    let store = s.node.store();
    if store.process(&pid)?.is_none() {
        return Err(ApiError::not_found(format!(
            "process {process_text} is not scheduled by this node"
        )));
    }
    let slot = store.placement(&mid, &pid)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "message {message} is not scheduled in process {process_text}"
        ))
    })?;
    let compute = s.node.compute().clone();
    Ok(Json(blocking(move || compute.result(&pid, slot)).await?))
}

/// The CU's cursor: base64(JSON {timestamp, ordinate, cron, sort}).
fn cursor(timestamp: i64, slot: u64, sort: &str) -> String {
    STANDARD.encode(
        json!({ "timestamp": timestamp, "ordinate": slot.to_string(), "cron": null, "sort": sort })
            .to_string(),
    )
}

/// A `from`/`to` bound: a cursor (whose sort, if any, wins) or a plain timestamp.
fn bound(text: Option<&String>) -> (Option<(i64, Option<u64>)>, Option<String>) {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return (None, None);
    };
    if let Ok(ts) = text.parse::<i64>() {
        return (Some((ts, None)), None);
    }
    let parsed = STANDARD
        .decode(text)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    match parsed {
        Some(c) => {
            let ts = c["timestamp"]
                .as_i64()
                .or_else(|| c["timestamp"].as_str().and_then(|t| t.parse().ok()));
            let ordinate = c["ordinate"]
                .as_u64()
                .or_else(|| c["ordinate"].as_str().and_then(|o| o.parse().ok()));
            (
                ts.map(|t| (t, ordinate)),
                c["sort"].as_str().map(str::to_uppercase),
            )
        }
        None => (None, None),
    }
}

/// `GET /results/{process}?from=&to=&sort=&limit=`: evaluated results without errors, as the
/// CU lists them (errored evaluations are stored but not listed; nothing is evaluated here).
pub(crate) async fn results(
    State(s): State<AppState>,
    Path(process): Path<String>,
    Query(q): Params,
) -> Result<Json<Value>, ApiError> {
    let pid = decode(&process, "process")?;
    let store = s.node.store();
    if store.process(&pid)?.is_none() {
        return Err(ApiError::not_found(format!(
            "process {process} is not scheduled by this node"
        )));
    }
    let (from, from_sort) = bound(q.get("from"));
    let (to, _) = bound(q.get("to"));
    let sort = from_sort
        .or_else(|| q.get("sort").map(|s| s.to_uppercase()))
        .unwrap_or_else(|| "ASC".into());
    if sort != "ASC" && sort != "DESC" {
        return Err(ApiError::bad_request(
            "sort",
            format!("sort: {sort:?} is not ASC or DESC"),
        ));
    }
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .map_or(DEFAULT_RESULTS, |l| l.min(MAX_RESULTS));
    let key = |ts: i64, slot: u64| (ts, slot);
    let after = |b: (i64, Option<u64>), ts: i64, slot: u64| match b.1 {
        Some(o) => key(ts, slot) > key(b.0, o),
        None => ts > b.0,
    };
    let before = |b: (i64, Option<u64>), ts: i64, slot: u64| match b.1 {
        Some(o) => key(ts, slot) < key(b.0, o),
        None => ts < b.0,
    };
    let mut rows: Box<dyn Iterator<Item = _>> = if sort == "ASC" {
        Box::new(store.results_from(&pid, 0))
    } else {
        Box::new(store.results_from(&pid, 0).rev())
    };
    let mut edges = Vec::new();
    let mut has_next_page = false;
    for row in rows.by_ref() {
        let (slot, raw) = row?;
        let Some(entry) = store.entry(&pid, slot)? else {
            continue;
        };
        let ts = entry.timestamp;
        let (skip, stop) = if sort == "ASC" {
            (
                from.is_some_and(|b| !after(b, ts, slot)),
                to.is_some_and(|b| after(b, ts, slot)),
            )
        } else {
            (
                from.is_some_and(|b| !before(b, ts, slot)),
                to.is_some_and(|b| before(b, ts, slot)),
            )
        };
        if stop {
            break;
        }
        if skip {
            continue;
        }
        let result: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        let Some(node) = listed_node(&result) else {
            continue;
        };
        if edges.len() == limit {
            has_next_page = true;
            break;
        }
        edges.push(json!({ "cursor": cursor(ts, slot, &sort), "node": node }));
    }
    Ok(Json(
        json!({ "pageInfo": { "hasNextPage": has_next_page }, "edges": edges }),
    ))
}

/// A result as `/results` and `/cron` list it, or `None` for an errored one (the CU's
/// `gatherResults` leaves those out).
pub(crate) fn listed_node(result: &Value) -> Option<Value> {
    if result.get("Error").is_some_and(|e| !e.is_null()) {
        return None;
    }
    let mut node = json!({
        "Messages": result.get("Messages").cloned().unwrap_or(json!([])),
        "Assignments": result.get("Assignments").cloned().unwrap_or(json!([])),
        "Spawns": result.get("Spawns").cloned().unwrap_or(json!([])),
    });
    if let Some(output) = result.get("Output") {
        node["Output"] = output.clone();
    }
    Some(node)
}

fn last_assignment(node: &Node, pid: &Id) -> Result<Option<Assignment>, ApiError> {
    let Some(record) = node.store().process(pid)? else {
        return Ok(None);
    };
    let Some(slot) = record.next_slot.checked_sub(1) else {
        return Ok(None);
    };
    Ok(node.scheduler().assignment_at(pid, slot).ok())
}

/// `POST /dry-run?process-id=`: evaluates a message on the process's current memory and
/// returns the result; nothing is scheduled, stored or kept.
pub(crate) async fn dry_run(
    State(s): State<AppState>,
    Query(q): Params,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let process_text = q
        .get("process-id")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad_request("process-id", "process-id: required"))?
        .clone();
    let pid = decode(&process_text, "process-id")?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("body", format!("body: not JSON: {e}")))?;
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "body",
            "body: expected a JSON object",
        ));
    }
    Ok(Json(dry_run_value(&s, pid, &body).await?))
}

/// Evaluates the dry-run message `body` on process `pid`'s current memory.
pub(crate) async fn dry_run_value(s: &AppState, pid: Id, body: &Value) -> Result<Value, ApiError> {
    let process_text = b64url_encode(&pid);
    if s.node.store().process(&pid)?.is_none() {
        return Err(ApiError::not_found(format!(
            "process {process_text} is not scheduled by this node"
        )));
    }
    let last = last_assignment(&s.node, &pid)?;
    let msg = dry_run_message(body, &process_text, last.as_ref());
    let compute = s.node.compute().clone();
    blocking(move || compute.dry_run(&pid, &msg)).await
}

/// `GET /state/{process}`: the process's memory after everything scheduled, raw.
pub(crate) async fn state(
    State(s): State<AppState>,
    Path(process): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let pid = decode(&process, "process")?;
    if s.node.store().process(&pid)?.is_none() {
        return Err(ApiError::not_found(format!(
            "process {process} is not scheduled by this node"
        )));
    }
    let compute = s.node.compute().clone();
    let (memory, last) = blocking(move || compute.state(&pid)).await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(slot) = last
        && let Ok(a) = s.node.scheduler().assignment_at(&pid, slot)
    {
        let set = |headers: &mut HeaderMap, name: &'static str, v: String| {
            if let Ok(v) = HeaderValue::from_str(&v) {
                headers.insert(name, v);
            }
        };
        set(&mut headers, "last-timestamp", a.timestamp.to_string());
        set(&mut headers, "last-ordinate", a.slot.to_string());
        set(
            &mut headers,
            "last-block-height",
            a.block_height.to_string(),
        );
    }
    Ok((headers, memory))
}
