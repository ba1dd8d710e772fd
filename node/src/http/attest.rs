//! The attestation routes: what this node signed, for its peers (`GET /attestations/{id}`),
//! and where each answer's delivery stands (`GET /deliveries/{id}`).

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use aolink_primitives::delivery::DeliveryRecord;

use super::AppState;
use super::error::ApiError;
use crate::attest::AttestError;
use crate::store::StoreError;

fn is_answer_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn checked(id: &str) -> Result<(), ApiError> {
    if is_answer_id(id) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "id",
            format!("id: {id:?} is not an answer id (64 lower-case hex digits)"),
        ))
    }
}

impl From<AttestError> for ApiError {
    fn from(e: AttestError) -> Self {
        match e {
            AttestError::Store(e) => e.into(),
            other => ApiError {
                status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                reason: other.to_string(),
                field: None,
            },
        }
    }
}

/// `GET /attestations/{id}`: this node's signatures of answer `id`, one per epoch it signed
/// for. 404 when the node has recorded no such answer.
pub(crate) async fn attestations(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    checked(&id)?;
    let node = s.node.clone();
    let (known, signed) = tokio::task::spawn_blocking(move || {
        let known = node.store().delivery(&id)?.is_some();
        let signed = node.attester().attestations(&id)?;
        Ok::<_, ApiError>((known, signed))
    })
    .await
    .map_err(|e| {
        ApiError::from(StoreError::Corrupt {
            what: "attestations",
            reason: e.to_string(),
        })
    })??;
    if !known && signed.is_empty() {
        return Err(ApiError::not_found("no answer with this id here"));
    }
    Ok(Json(json!({ "attestations": signed })))
}

/// `POST /deliveries/{id}/replay`: a dead delivery goes back to collecting signatures (409 when
/// it is not dead).
pub(crate) async fn replay(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryRecord>, ApiError> {
    checked(&id)?;
    match s.node.replay_delivery(&id).await? {
        Ok(Some(record)) => Ok(Json(record)),
        Ok(None) => Err(ApiError::not_found("no answer with this id here")),
        Err(state) => Err(ApiError {
            status: axum::http::StatusCode::CONFLICT,
            reason: format!("the delivery is {state}, not dead: only a dead delivery is replayed"),
            field: None,
        }),
    }
}

/// `POST /attest/resume`: clears the signer's halt after an operator looked at its reason;
/// answers the halt cleared (`null` when there was none).
pub(crate) async fn resume(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let node = s.node.clone();
    let cleared = tokio::task::spawn_blocking(move || node.attester().resume())
        .await
        .map_err(|e| {
            ApiError::from(StoreError::Corrupt {
                what: "halt flag",
                reason: e.to_string(),
            })
        })??;
    if let Some(halt) = &cleared {
        tracing::warn!(reason = %halt.reason, "signer resumed by an operator");
    }
    Ok(Json(json!({ "cleared": cleared })))
}

/// `GET /deliveries/{id}`: the delivery record of answer `id`.
pub(crate) async fn delivery(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryRecord>, ApiError> {
    checked(&id)?;
    let raw = s
        .node
        .store()
        .delivery(&id)?
        .ok_or_else(|| ApiError::not_found("no answer with this id here"))?;
    let record = DeliveryRecord::decode(&raw).map_err(|e| StoreError::Corrupt {
        what: "delivery record",
        reason: e.to_string(),
    })?;
    Ok(Json(record))
}
