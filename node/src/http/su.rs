//! SU and MU routes, with the JSON shapes of the Rust SU (`servers/su` `json.rs`).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::ans104::{DataItem, b64url_decode_32, b64url_encode};
use crate::scheduler::Outcome;
use crate::store::{Id, ProcessRecord, Store};

/// Page size when the request names none (upstream SU's default).
const DEFAULT_PAGE: usize = 100;
/// The largest page served; the CU asks for 1000.
const MAX_PAGE: usize = 5000;

type Params = Query<HashMap<String, String>>;

/// `GET /`: the SU's health answer.
pub(crate) async fn info(State(s): State<AppState>) -> Json<Value> {
    let (timestamp, _) = s.node.scheduler().now();
    Json(json!({ "timestamp": timestamp.to_string(), "address": s.node.address() }))
}

/// `GET /health`.
pub(crate) async fn health(State(s): State<AppState>) -> Json<Value> {
    Json(json!({ "status": "ok", "address": s.node.address() }))
}

/// `GET /livez`: the process serves HTTP (a liveness probe restarts it when this fails).
pub(crate) async fn livez() -> Json<Value> {
    Json(json!({ "live": true }))
}

/// `GET /readyz`: 200 while the store is writable and every chain is healthy and within its
/// readiness limits, else 503 with the reasons (a readiness probe takes the node out of a
/// load balancer meanwhile).
pub(crate) async fn readyz(State(s): State<AppState>) -> (StatusCode, Json<Value>) {
    let reasons = s.node.unready_reasons().await;
    let status = if reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "ready": reasons.is_empty(), "reasons": reasons })),
    )
}

/// `GET /status`: the node and what each of its components (chain adapters) last reported.
/// `healthy` is false when any component reports itself unhealthy.
pub(crate) async fn status(State(s): State<AppState>) -> Json<Value> {
    let components = s.node.statuses();
    let node = s.node.clone();
    let (deliveries, halted) = tokio::task::spawn_blocking(move || {
        (
            node.delivery_summary().map_err(|e| e.to_string()),
            node.attester().halted().map_err(|e| e.to_string()),
        )
    })
    .await
    .unwrap_or_else(|e| (Err(e.to_string()), Err(e.to_string())));
    let halted = halted.unwrap_or_else(|e| {
        Some(crate::attest::Halt {
            reason: format!("the halt flag cannot be read: {e}"),
            at_ms: 0,
        })
    });
    let healthy = components.values().all(|c| c.healthy) && halted.is_none();
    let attester = s.node.attester();
    Json(json!({
        "address": s.node.address(),
        "healthy": healthy,
        "components": components,
        "unroutedChainCalls": s.node.unrouted_calls(),
        "attest": {
            "epoch": attester.epoch(),
            "ethereumSigner": attester.keys().ethereum_address(),
            "solanaSigner": attester.keys().solana_public(),
            "halted": halted,
            "signedSinceStart": attester.signed_since_start(),
        },
        "deliveries": match deliveries {
            Ok(summary) => json!(summary),
            Err(e) => json!({"error": e}),
        },
    }))
}

/// `GET /timestamp`: current time and local block height (12 digits, as the SU pads it).
pub(crate) async fn timestamp(State(s): State<AppState>) -> Json<Value> {
    let (timestamp, height) = s.node.scheduler().now();
    Json(json!({ "timestamp": timestamp.to_string(), "block_height": format!("{height:012}") }))
}

/// `POST /`: a raw data item to schedule (MU and SU), or with `process-id` and `assign`, an
/// assignment of a message this node holds.
pub(crate) async fn post_root(
    State(s): State<AppState>,
    Query(q): Params,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    if q.contains_key("process-id") || q.contains_key("assign") {
        return assign(s, q).await;
    }
    let body = body.map_err(|r| ApiError {
        status: r.status(),
        reason: format!("body: {}", r.body_text()),
        field: Some("body".into()),
    })?;
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "body",
            "body: empty; POST / takes a raw ANS-104 data item",
        ));
    }
    let outcome = s.node.submit(body.to_vec()).await?;
    Ok(Json(outcome_json(&outcome, "Processing DataItem")))
}

async fn assign(s: AppState, q: HashMap<String, String>) -> Result<Json<Value>, ApiError> {
    let param = |name: &'static str| {
        q.get(name)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| {
                ApiError::bad_request(
                    name,
                    format!("{name}: required; an assignment needs both process-id and assign"),
                )
            })
    };
    let process = param("process-id")?;
    let message = param("assign")?;
    if q.contains_key("base-layer") {
        return Err(ApiError::bad_request(
            "base-layer",
            "base-layer: assigning Arweave L1 transactions needs a gateway; this node assigns only items it holds",
        ));
    }
    let exclude: Vec<String> = q
        .get("exclude")
        .map(|e| {
            e.split(',')
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let outcome = s.node.assign(process, message, exclude).await?;
    let mut body = outcome_json(&outcome, "Processing Assignment");
    // The MU answers an assignment with the assignment's id, not the message's.
    if let Some(a) = outcome.assignment() {
        body["id"] = json!(a.id);
    }
    Ok(Json(body))
}

fn outcome_json(outcome: &Outcome, message: &str) -> Value {
    let a = match outcome {
        Outcome::Stored { id, duplicate } => {
            return json!({ "message": "Stored Module", "id": id, "duplicate": duplicate });
        }
        Outcome::Scheduled(a) | Outcome::AlreadyScheduled(a) => a,
    };
    json!({
        "message": message,
        "id": a.message,
        "timestamp": a.timestamp,
        "process": a.process,
        "slot": a.slot,
        "assignment": a.id,
        "duplicate": matches!(outcome, Outcome::AlreadyScheduled(_)),
    })
}

fn decode_id(text: &str, field: &'static str) -> Result<Id, ApiError> {
    b64url_decode_32(text, field).map_err(|e| ApiError::bad_request(field, e.to_string()))
}

fn known_process(store: &Store, id: &Id, text: &str) -> Result<ProcessRecord, ApiError> {
    store
        .process(id)?
        .ok_or_else(|| ApiError::not_found(format!("process {text} is not scheduled by this node")))
}

/// `GET /processes/{id}`: the process definition.
pub(crate) async fn process(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let pid = decode_id(&id, "id")?;
    let store = s.node.store();
    known_process(store, &pid, &id)?;
    let entry = stored_entry(store, &pid, 0)?;
    let assignment = DataItem::parse(&entry.assignment).map_err(corrupt)?;
    let raw = store
        .item(&pid)?
        .ok_or_else(|| corrupt(format!("process item {id} is missing")))?;
    let item = DataItem::parse(&raw).map_err(corrupt)?;
    Ok(Json(json!({
        "process_id": id,
        "block": assignment.tag("Block-Height").unwrap_or_default(),
        "timestamp": entry.timestamp,
        "owner": owner_json(&item),
        "tags": item.tags,
        "data": String::from_utf8(item.data.clone()).ok(),
        "anchor": item.anchor.map(|a| String::from_utf8_lossy(&a).into_owned()),
        "signature": b64url_encode(&item.signature),
        "target": item.target.map(|t| b64url_encode(&t)),
    })))
}

/// `GET /{id}`: a process's schedule page, or one scheduled message.
pub(crate) async fn get_id(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Params,
) -> Result<Json<Value>, ApiError> {
    let raw_id = decode_id(&id, "id")?;
    let store = s.node.store();
    // aoconnect's getMessages sends no process-id; getLastSlot sends process-id = the process.
    let process_param = q.get("process-id").filter(|p| !p.is_empty());
    if process_param.is_none_or(|p| *p == id)
        && let Some(record) = store.process(&raw_id)?
    {
        return Ok(Json(schedule_page(store, &raw_id, &record, &q)?));
    }
    let placement = match process_param {
        Some(p) => {
            let pid = decode_id(p, "process-id")?;
            known_process(store, &pid, p)?;
            store.placement(&raw_id, &pid)?.map(|slot| (pid, slot))
        }
        None => store.placements_of(&raw_id)?.into_iter().next(),
    };
    let (pid, slot) = placement.ok_or_else(|| {
        ApiError::not_found(format!("message {id} is not scheduled by this node"))
    })?;
    Ok(Json(message_json(store, &pid, slot)?))
}

/// `GET /{id}/latest`: a process's newest scheduled message.
pub(crate) async fn latest(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let pid = decode_id(&id, "id")?;
    let store = s.node.store();
    let record = known_process(store, &pid, &id)?;
    let last = record.next_slot.saturating_sub(1);
    Ok(Json(message_json(store, &pid, last)?))
}

/// Pages a schedule as the Rust SU does. Timestamp mode: `from` exclusive, `to` inclusive;
/// the process itself is the first edge only when no `from` is sent at all (an empty or
/// unparseable `from` still counts as sent, as upstream); non-numeric values (aoconnect sends
/// `limit=undefined`) fall back to defaults. Nonce mode (`from-nonce`/`to-nonce`): the same
/// bounds over slots, with `from-nonce=-1` including the process.
fn schedule_page(
    store: &Store,
    pid: &Id,
    record: &ProcessRecord,
    q: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    let number = |name: &str| q.get(name).and_then(|v| v.trim().parse::<i64>().ok());
    let limit = number("limit")
        .and_then(|l| usize::try_from(l).ok())
        .filter(|l| *l > 0)
        .map_or(DEFAULT_PAGE, |l| l.min(MAX_PAGE));
    let nonce_mode = q.contains_key("from-nonce") || q.contains_key("to-nonce");
    let (start, last_slot, to_ts) = if nonce_mode {
        let start = match number("from-nonce") {
            Some(n) if n >= 0 => u64::try_from(n).map_or(u64::MAX, |n| n.saturating_add(1)),
            _ => 0,
        };
        let last = number("to-nonce").map(|n| u64::try_from(n).unwrap_or(0));
        (start, last, None)
    } else {
        let start = match q.get("from") {
            None => 0,
            Some(v) => match v.trim().parse::<i64>() {
                Ok(after) => store.first_slot_after(pid, after, record.next_slot)?.max(1),
                Err(_) => 1,
            },
        };
        (start, None, number("to"))
    };
    let mut edges = Vec::new();
    let mut has_next_page = false;
    for entry in store.entries_from(pid, start) {
        let (slot, entry) = entry?;
        if last_slot.is_some_and(|l| slot > l) || to_ts.is_some_and(|t| entry.timestamp > t) {
            break;
        }
        if edges.len() == limit {
            has_next_page = true;
            break;
        }
        let cursor = if nonce_mode {
            slot.to_string()
        } else {
            entry.timestamp.to_string()
        };
        edges.push(json!({ "node": entry_json(store, slot, &entry)?, "cursor": cursor }));
    }
    Ok(json!({ "page_info": { "has_next_page": has_next_page }, "edges": edges }))
}

fn stored_entry(
    store: &Store,
    pid: &Id,
    slot: u64,
) -> Result<crate::store::ScheduleEntry, ApiError> {
    store
        .entry(pid, slot)?
        .ok_or_else(|| corrupt(format!("slot {slot} of {} is missing", b64url_encode(pid))))
}

fn message_json(store: &Store, pid: &Id, slot: u64) -> Result<Value, ApiError> {
    let entry = stored_entry(store, pid, slot)?;
    entry_json(store, slot, &entry)
}

fn entry_json(
    store: &Store,
    slot: u64,
    entry: &crate::store::ScheduleEntry,
) -> Result<Value, ApiError> {
    let assignment = DataItem::parse(&entry.assignment).map_err(corrupt)?;
    let message = match store.item(&entry.message_id)? {
        Some(raw) => {
            let item = DataItem::parse(&raw).map_err(corrupt)?;
            // The process edge (slot 0) is the only one whose absent target is null.
            let target = match (item.target, slot) {
                (Some(t), _) => json!(b64url_encode(&t)),
                (None, 0) => Value::Null,
                (None, _) => json!(""),
            };
            json!({
                "id": item.id_b64(),
                "owner": owner_json(&item),
                "data": String::from_utf8_lossy(&item.data),
                "tags": item.tags,
                "signature": b64url_encode(&item.signature),
                "anchor": item.anchor.map(|a| String::from_utf8_lossy(&a).into_owned()),
                "target": target,
            })
        }
        None => Value::Null,
    };
    Ok(json!({
        "message": message,
        "assignment": {
            "id": assignment.id_b64(),
            "owner": owner_json(&assignment),
            "tags": assignment.tags,
            "signature": b64url_encode(&assignment.signature),
            "anchor": Value::Null,
            "target": "",
        },
    }))
}

fn owner_json(item: &DataItem) -> Value {
    json!({ "address": item.owner_address(), "key": b64url_encode(&item.owner) })
}

fn corrupt(reason: impl std::fmt::Display) -> ApiError {
    ApiError {
        status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        reason: format!("store: corrupt record: {reason}"),
        field: None,
    }
}
