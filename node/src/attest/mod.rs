//! The attestation room: finds the answers this node's gateway mirrors accepted, signs them
//! with the node's attestation keys, and records each answer's delivery for the relayer.
//!
//! Only answers this node computed itself are signed: they are read from the results of the
//! `mirror@1.1` processes this node spawned (owner = the node's address), evaluated from its
//! own schedule. Nothing arrives here from outside.
//!
//! Never two payloads for one request: before a signature exists anywhere but in memory, a
//! guard naming the request and the answer's content is written in the same atomic batch as
//! the signature (and flushed before anyone may read it). A later answer for the same request
//! with other content is refused, and the signer halts: the halt is persisted, so a restart
//! does not resume signing; an operator must look and clear it ([`Attester::resume`]). The
//! same content may be signed again for a later epoch (a rotation), which is the same answer.

pub mod keys;
pub mod sign;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use aolink_primitives::ans104::{DataItem, b64url_encode};
use aolink_primitives::answer::{Answer, AnswerPayload, Attestation, Family, keccak256};
use aolink_primitives::chain::MIRROR_DEVICE;
use aolink_primitives::delivery::{DeliveryRecord, DeliveryState};

use crate::clock::Clock;
use crate::store::{Batch, Store, StoreError};

pub use keys::{AttestKeys, KeyError};

type Id = [u8; 32];

/// Errors of the attestation room.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// An answer's field does not make a payload for its chain.
    #[error("answer {field}: {reason}")]
    Payload {
        /// The field at fault.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// A signature does not check.
    #[error("signature: {0}")]
    Signature(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the attestation room needs from configuration.
#[derive(Clone, Debug, Default)]
pub struct AttestConfig {
    /// The signer set epoch this node signs for.
    pub epoch: u64,
    /// The keys it signs with, per chain family.
    pub keys: AttestKeys,
}

/// Why the signer stopped, persisted until an operator clears it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Halt {
    /// What disagreed.
    pub reason: String,
    /// When (ms since the epoch).
    pub at_ms: i64,
}

/// The guard of one request: the content this node attested for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Guard {
    /// keccak256 of the payload with epoch 0, hex: the answer's content.
    content: String,
    /// The answering message (this node's id), for the operator reading a conflict.
    message: String,
}

const HALT: &str = "halt";

fn guard_key(id: &str) -> String {
    format!("g/{id}")
}

fn attestation_key(id: &str, epoch: u64) -> String {
    format!("a/{id}/{epoch:020}")
}

fn cursor_key(process: &str) -> String {
    format!("c/{process}")
}

fn corrupt(what: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what,
        reason: e.to_string(),
    }
}

/// Why the signer halts when `answer` contradicts what it took before from message `earlier`.
fn conflict(answer: &Answer, earlier: &str) -> String {
    format!(
        "request {} on {} was answered twice with different content (first: message {earlier}, now: message {}); nothing more is signed until an operator resumes",
        answer.request_id, answer.chain_id, answer.message
    )
}

/// The content of a payload, whatever its epoch.
fn content_of(payload: &AnswerPayload) -> String {
    let mut content = payload.clone();
    content.epoch = 0;
    hex::encode(keccak256(&serde_json::to_vec(&content).unwrap_or_default()))
}

/// The attestation room of one node.
pub struct Attester {
    store: Store,
    config: AttestConfig,
    node_address: String,
    clock: Arc<dyn Clock>,
    /// Whether each process seen is a mirror this node spawned.
    mirrors: Mutex<HashMap<Id, bool>>,
    signed: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Attester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attester")
            .field("epoch", &self.config.epoch)
            .field("keys", &self.config.keys)
            .finish_non_exhaustive()
    }
}

impl Attester {
    /// The room for the node whose address is `node_address`.
    pub fn new(
        store: Store,
        config: AttestConfig,
        node_address: String,
        clock: Arc<dyn Clock>,
    ) -> Attester {
        Attester {
            store,
            config,
            node_address,
            clock,
            mirrors: Mutex::new(HashMap::new()),
            signed: 0.into(),
        }
    }

    /// The configured epoch.
    pub fn epoch(&self) -> u64 {
        self.config.epoch
    }

    /// The keys.
    pub fn keys(&self) -> &AttestKeys {
        &self.config.keys
    }

    /// The node clock's time (ms since the epoch), as records are stamped with it.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.now_ms()).unwrap_or(0)
    }

    /// Signatures made since start.
    pub fn signed_since_start(&self) -> u64 {
        self.signed.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn is_own_mirror(&self, pid: &Id) -> Result<bool, StoreError> {
        let mut mirrors = self.mirrors.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = mirrors.get(pid) {
            return Ok(*known);
        }
        let own = match self.store.item(pid)? {
            Some(raw) => {
                let item = DataItem::parse(&raw).map_err(|e| corrupt("process item", e))?;
                item.tag("Device") == Some(MIRROR_DEVICE)
                    && item.owner_address() == self.node_address
            }
            None => false,
        };
        mirrors.insert(*pid, own);
        Ok(own)
    }

    /// Takes the answers in the results of `pid` (evaluated up to `next_slot`, exclusive) that
    /// were not taken yet. Returns how many new answers were recorded.
    pub fn scan(&self, pid: &Id, next_slot: u64) -> Result<usize, AttestError> {
        if !self.is_own_mirror(pid)? {
            return Ok(0);
        }
        let process = b64url_encode(pid);
        let cursor_name = cursor_key(&process);
        let from = self
            .store
            .attest(&cursor_name)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map_or(0, u64::from_be_bytes);
        if from >= next_slot {
            return Ok(0);
        }
        let mut taken = 0;
        for slot in from..next_slot {
            let Some(raw) = self.store.result(pid, slot)? else {
                break;
            };
            let mut batch = Batch::new();
            if let Some(answer) = answer_in(&raw)? {
                let span = tracing::info_span!(
                    "attest",
                    process = %answer.process,
                    mirror = %process,
                    slot,
                    message = %answer.message,
                    chain = %answer.chain_id,
                    tx = %answer.request_tx,
                    request = %answer.request_id,
                );
                let _in = span.enter();
                if self.take(&answer, &mut batch)? {
                    taken += 1;
                }
            }
            batch.put_attest(&cursor_name, &(slot + 1).to_be_bytes());
            self.store.apply(&batch)?;
        }
        if taken > 0 {
            // No signature is served before its guard is durable.
            self.store.flush_blocking()?;
        }
        Ok(taken)
    }

    /// Records one answer as [`Attester::scan`] does for each it finds, durably. Returns
    /// false when it was recorded before (and halts the signer if it was recorded with other
    /// content).
    pub fn record(&self, answer: &Answer) -> Result<bool, AttestError> {
        let mut batch = Batch::new();
        let taken = self.take(answer, &mut batch)?;
        self.store.apply(&batch)?;
        self.store.flush_blocking()?;
        Ok(taken)
    }

    /// Records `answer`'s delivery and, when this node can, its signature, into `batch`.
    /// Returns false when the answer was already recorded.
    fn take(&self, answer: &Answer, batch: &mut Batch) -> Result<bool, AttestError> {
        let id = answer.id();
        if let Some(raw) = self.store.delivery(&id)? {
            let recorded =
                DeliveryRecord::decode(&raw).map_err(|e| corrupt("delivery record", e))?;
            let same = match (recorded.answer.payload(0), answer.payload(0)) {
                (Ok(a), Ok(b)) => content_of(&a) == content_of(&b),
                _ => recorded.answer == *answer,
            };
            if !same {
                let reason = conflict(answer, &recorded.answer.message);
                tracing::error!(id = %id, "{reason}");
                self.halt_into(batch, &reason);
            }
            return Ok(false);
        }
        let state = match self.sign_into(answer, self.config.epoch, batch)? {
            Some(_) => DeliveryState::Signed,
            None => DeliveryState::Pending,
        };
        let record = DeliveryRecord {
            id: id.clone(),
            answer: answer.clone(),
            state,
            failures: 0,
            next_attempt_ms: 0,
            last_error: None,
            created_ms: self.now_ms(),
        };
        batch.put_delivery(&record);
        tracing::info!(id = %id, state = record.state.name(), "answer recorded for delivery");
        Ok(true)
    }

    /// Signs `answer` for `epoch` into `batch` (guard and attestation together), unless this
    /// node has no key for its chain, is halted, or the guard refuses. A refusal halts the
    /// signer (written into `batch`).
    fn sign_into(
        &self,
        answer: &Answer,
        epoch: u64,
        batch: &mut Batch,
    ) -> Result<Option<Attestation>, AttestError> {
        let family = answer.family();
        if !self.config.keys.has(family) {
            return Ok(None);
        }
        if let Some(halt) = self.halted()? {
            tracing::warn!(reason = %halt.reason, "signer halted: answer not signed");
            return Ok(None);
        }
        let id = answer.id();
        let payload = match answer.payload(epoch) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "answer cannot be attested");
                return Ok(None);
            }
        };
        let content = content_of(&payload);
        if let Some(raw) = self.store.attest(&guard_key(&id))? {
            let guard: Guard = serde_json::from_slice(&raw).map_err(|e| corrupt("guard", e))?;
            if guard.content != content {
                let reason = conflict(answer, &guard.message);
                tracing::error!(id = %id, "{reason}");
                self.halt_into(batch, &reason);
                return Ok(None);
            }
        }
        let data = answer
            .data_bytes()
            .map_err(|e| AttestError::Signing(e.to_string()))?;
        let bytes = sign::signed_bytes(&payload, &data)?;
        let (signer, signature) = self.config.keys.sign(family, &bytes)?;
        let attestation = Attestation {
            id: id.clone(),
            epoch,
            signer,
            signature: format!("0x{}", hex::encode(signature)),
            answer: answer.clone(),
        };
        let guard = Guard {
            content,
            message: answer.message.clone(),
        };
        batch.put_attest(
            &guard_key(&id),
            &serde_json::to_vec(&guard).map_err(|e| corrupt("guard", e))?,
        );
        batch.put_attest(
            &attestation_key(&id, epoch),
            &serde_json::to_vec(&attestation).map_err(|e| corrupt("attestation", e))?,
        );
        self.signed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(id = %id, epoch, signer = %attestation.signer, "answer signed");
        Ok(Some(attestation))
    }

    /// Signs an answer this node already recorded again, for `epoch` (after a rotation left
    /// its first signatures without a quorum). The guard still holds: only the same content.
    pub fn sign_for_epoch(&self, id: &str, epoch: u64) -> Result<Option<Attestation>, AttestError> {
        if let Some(existing) = self.attestation(id, epoch)? {
            return Ok(Some(existing));
        }
        let Some(raw) = self.store.delivery(id)? else {
            return Ok(None);
        };
        let record = DeliveryRecord::decode(&raw).map_err(|e| corrupt("delivery record", e))?;
        let mut batch = Batch::new();
        let signed = self.sign_into(&record.answer, epoch, &mut batch)?;
        self.store.apply(&batch)?;
        self.store.flush_blocking()?;
        Ok(signed)
    }

    /// This node's attestation of answer `id` for `epoch`.
    pub fn attestation(&self, id: &str, epoch: u64) -> Result<Option<Attestation>, AttestError> {
        self.store
            .attest(&attestation_key(id, epoch))?
            .map(|raw| serde_json::from_slice(&raw).map_err(|e| corrupt("attestation", e).into()))
            .transpose()
    }

    /// Every attestation this node made of answer `id`, oldest epoch first.
    pub fn attestations(&self, id: &str) -> Result<Vec<Attestation>, AttestError> {
        if id.contains('/') {
            return Ok(Vec::new());
        }
        self.store
            .attest_prefix(&format!("a/{id}/"))?
            .into_iter()
            .map(|(_, raw)| {
                serde_json::from_slice(&raw).map_err(|e| corrupt("attestation", e).into())
            })
            .collect()
    }

    /// Why the signer is halted, if it is.
    pub fn halted(&self) -> Result<Option<Halt>, AttestError> {
        self.store
            .attest(HALT)?
            .map(|raw| serde_json::from_slice(&raw).map_err(|e| corrupt("halt flag", e).into()))
            .transpose()
    }

    fn halt_into(&self, batch: &mut Batch, reason: &str) {
        let halt = Halt {
            reason: reason.to_string(),
            at_ms: self.clock.now_ms(),
        };
        batch.put_attest(HALT, &serde_json::to_vec(&halt).unwrap_or_default());
    }

    /// Halts the signer, durably (local state disagrees with a chain).
    pub fn halt(&self, reason: &str) -> Result<(), AttestError> {
        tracing::error!(reason, "signer halted");
        let mut batch = Batch::new();
        self.halt_into(&mut batch, reason);
        self.store.apply(&batch)?;
        self.store.flush_blocking()?;
        Ok(())
    }

    /// Clears a halt (an operator looked). Returns the halt cleared.
    pub fn resume(&self) -> Result<Option<Halt>, AttestError> {
        let halt = self.halted()?;
        let mut batch = Batch::new();
        batch.delete_attest(HALT);
        self.store.apply(&batch)?;
        self.store.flush_blocking()?;
        Ok(halt)
    }
}

/// The answer in a stored result, if the result carries one.
fn answer_in(raw: &[u8]) -> Result<Option<Answer>, StoreError> {
    #[derive(Deserialize)]
    struct Output {
        answer: Option<Answer>,
    }
    #[derive(Deserialize)]
    struct Result {
        #[serde(rename = "Output")]
        output: Option<serde_json::Value>,
        #[serde(rename = "Error")]
        error: Option<serde_json::Value>,
    }
    let result: Result = serde_json::from_slice(raw).map_err(|e| corrupt("result", e))?;
    if result.error.is_some_and(|e| !e.is_null()) {
        return Ok(None);
    }
    let Some(output) = result.output.filter(|o| o.get("answer").is_some()) else {
        return Ok(None);
    };
    let output: Output = serde_json::from_value(output).map_err(|e| corrupt("answer", e))?;
    Ok(output.answer)
}

/// The family an attestation's signer belongs to, from the form of its name.
pub fn family_of_signer(signer: &str) -> Family {
    if signer.starts_with("0x") {
        Family::Ethereum
    } else {
        Family::Solana
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn answer(data: &str, message: &str) -> Answer {
        Answer {
            chain_id: "31337".into(),
            gateway: "0x5fbdb2315678afecb367f032d93f642f64180aa3".into(),
            target: "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512".into(),
            request_id: "1".into(),
            request_tx: "0x01".into(),
            process: b64url_encode(&[3; 32]),
            requested_process: b64url_encode(&[3; 32]),
            message: message.into(),
            mirror: "m".into(),
            slot: 1,
            data: data.into(),
            data_encoding: None,
            tags: vec![],
        }
    }

    fn attester(dir: &std::path::Path) -> Attester {
        let config = AttestConfig {
            epoch: 0,
            keys: AttestKeys::none().with_ethereum(&[7; 32], "test").unwrap(),
        };
        Attester::new(
            Store::open(&dir.join("db")).unwrap(),
            config,
            "node".into(),
            Arc::new(SystemClock),
        )
    }

    #[test]
    fn a_different_answer_to_a_signed_request_is_refused_across_a_restart_and_halts() {
        let dir = tempfile::tempdir().unwrap();
        let first = {
            let a = attester(dir.path());
            assert!(a.record(&answer("42", "m1")).unwrap());
            // The same answer again (a replayed result, another message id): nothing new.
            assert!(!a.record(&answer("42", "m2")).unwrap());
            assert!(a.halted().unwrap().is_none());
            a.attestations(&answer("42", "m1").id()).unwrap()
        };
        assert_eq!(first.len(), 1);

        let a = attester(dir.path());
        assert!(!a.record(&answer("43", "m3")).unwrap());
        let halt = a.halted().unwrap().expect("halted");
        assert!(halt.reason.contains("different content"), "{}", halt.reason);
        assert_eq!(
            a.attestations(&first[0].id).unwrap(),
            first,
            "still only the first signature"
        );
        // Halted, it signs nothing new, even for another request; the halt survives a restart.
        let mut other = answer("1", "m4");
        other.request_id = "2".into();
        assert!(a.record(&other).unwrap(), "recorded for delivery");
        assert!(a.attestations(&other.id()).unwrap().is_empty());
        drop(a);
        let a = attester(dir.path());
        assert!(a.halted().unwrap().is_some());
        assert_eq!(a.resume().unwrap().map(|h| h.reason), Some(halt.reason));
        assert!(a.halted().unwrap().is_none());
        // A rotation re-signs the same content for the next epoch, and only that.
        let again = a.sign_for_epoch(&first[0].id, 1).unwrap().unwrap();
        assert_eq!(again.epoch, 1);
        assert_eq!(again.answer.data, "42");
    }
}
