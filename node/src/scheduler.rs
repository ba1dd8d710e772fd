//! The scheduler (SU role): gives every message of a process the next slot.
//!
//! A process item takes slot 0 of its own schedule (aop6); each later message gets the next
//! slot, a millisecond `Timestamp` that strictly increases per process (the CU pages with
//! `from = last cursor`, so equal timestamps could drop messages), a `Block-Height`, `Epoch` 0
//! and the `Hash-Chain` the Rust SU computes:
//! `base64url(sha256(prev_assignment_id ‖ prev_hash_chain))`, seeded with
//! `base64url(sha256(process_id))` at slot 0. Each slot is recorded as an assignment data item
//! signed by the node key, written in the same batch as the message and the process record.
//! Scheduling is idempotent: an item already placed in a process returns its existing slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ans104::{DataItem, ItemError, b64url_decode_32, b64url_encode};
use crate::clock::Clock;
use crate::keys::NodeKey;
use crate::store::{Batch, Id, NodeMeta, ProcessRecord, ScheduleEntry, Store, StoreError};

pub use aolink_primitives::ao::{Assignment, BLOCK_TIME_MS};

/// Errors from scheduling.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The item is not something this node schedules; `field` names what is wrong.
    #[error("{field}: {reason}")]
    Rejected {
        /// The offending field, e.g. `target` or `tags.Type`.
        field: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// The process is not scheduled by this node.
    #[error("process {0} is not scheduled by this node")]
    UnknownProcess(String),
    /// The message to assign is not held by this node.
    #[error("message {0} is not held by this node")]
    UnknownMessage(String),
    /// Storage failed; nothing was scheduled.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Building the assignment failed.
    #[error("signing the assignment failed: {0}")]
    Sign(#[from] ItemError),
}

/// What [`Scheduler::submit`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The item got a new slot.
    Scheduled(Assignment),
    /// The item already had this slot; nothing was written.
    AlreadyScheduled(Assignment),
    /// A `Type=Module` item: stored for processes to name, not scheduled.
    Stored {
        /// The module item's id.
        id: String,
        /// Whether it was already stored.
        duplicate: bool,
    },
}

impl Outcome {
    /// The assignment, for scheduled items.
    pub fn assignment(&self) -> Option<&Assignment> {
        match self {
            Outcome::Scheduled(a) | Outcome::AlreadyScheduled(a) => Some(a),
            Outcome::Stored { .. } => None,
        }
    }
}

/// The next hash-chain link, as the Rust SU computes it.
pub fn next_hash_chain(previous: &Id, previous_assignment: Option<&Id>) -> String {
    let mut hasher = Sha256::new();
    if let Some(id) = previous_assignment {
        hasher.update(id);
    }
    hasher.update(previous);
    b64url_encode(&hasher.finalize())
}

/// What an audit of a schedule found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// Number of slots checked.
    pub slots: u64,
}

enum Kind {
    Module,
    Process { module: String },
    Message { process: Id, process_b64: String },
}

/// The scheduler.
pub struct Scheduler {
    store: Store,
    key: Arc<NodeKey>,
    address: String,
    clock: Arc<dyn Clock>,
    meta: NodeMeta,
    // One writer at a time keeps slot allocation trivially gap-free; each critical section is a
    // signature and an in-memory store transaction, the fsync happens outside it.
    lock: Mutex<()>,
    /// Per process, the time before which cron ticks may already be evaluated past its last
    /// message (reserved, maybe not yet stored): its next message is timestamped no earlier.
    cron_floors: Mutex<HashMap<Id, i64>>,
}

/// Logs where an item landed (`AOLINK_LOG=debug`): the line that ties a message id to its
/// process and slot.
fn traced(outcome: Outcome) -> Outcome {
    match &outcome {
        Outcome::Scheduled(a) => tracing::debug!(
            process = %a.process,
            slot = a.slot,
            message_id = %a.message,
            timestamp = a.timestamp,
            "scheduled"
        ),
        Outcome::AlreadyScheduled(a) => tracing::debug!(
            process = %a.process,
            slot = a.slot,
            message_id = %a.message,
            "already scheduled"
        ),
        Outcome::Stored { id, .. } => tracing::debug!(message_id = %id, "stored"),
    }
    outcome
}

impl Scheduler {
    /// A scheduler writing to `store` and signing with `key`.
    pub fn new(store: Store, key: Arc<NodeKey>, clock: Arc<dyn Clock>, meta: NodeMeta) -> Self {
        Scheduler {
            store,
            address: key.address(),
            key,
            clock,
            meta,
            lock: Mutex::new(()),
            cron_floors: Mutex::new(HashMap::new()),
        }
    }

    /// The earliest timestamp the next message of `process` may get: crons evaluated past its
    /// last message must stay before it (reserved in this run, or recorded by an earlier one).
    fn cron_floor(&self, process: &Id) -> Result<i64, ScheduleError> {
        let reserved = self
            .cron_floors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(process)
            .copied()
            .unwrap_or(i64::MIN);
        let stored = self
            .store
            .meta(&crate::store::cron_horizon_key(&b64url_encode(process)))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map_or(i64::MIN, i64::from_be_bytes);
        Ok(reserved.max(stored))
    }

    /// Reserves the time up to which the cron ticks of `process` may be evaluated now, given
    /// that `evaluated` slots have been: returns `None` when newer messages are scheduled (evaluate
    /// those first), else the current time, which every later message of the process is
    /// timestamped at or after.
    pub fn reserve_cron_horizon(
        &self,
        process: &Id,
        evaluated: u64,
    ) -> Result<Option<i64>, ScheduleError> {
        let _guard = self.guard();
        let record = self
            .store
            .process(process)?
            .ok_or_else(|| ScheduleError::UnknownProcess(b64url_encode(process)))?;
        if record.next_slot != evaluated {
            return Ok(None);
        }
        let horizon = self
            .clock
            .now_ms()
            .max(record.last_timestamp.saturating_add(1));
        let mut floors = self.cron_floors.lock().unwrap_or_else(|p| p.into_inner());
        let floor = floors.entry(*process).or_insert(horizon);
        *floor = (*floor).max(horizon);
        Ok(Some(horizon))
    }

    /// The scheduler's address (the node key's).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The node-wide facts the scheduler counts heights from.
    pub fn meta(&self) -> &NodeMeta {
        &self.meta
    }

    /// The current time and local block height, as `GET /timestamp` reports them.
    pub fn now(&self) -> (i64, u64) {
        let now = self.clock.now_ms();
        (now, self.height_at(now))
    }

    fn height_at(&self, timestamp: i64) -> u64 {
        aolink_primitives::ao::height_at(self.meta.genesis_ms, self.meta.genesis_height, timestamp)
    }

    fn guard(&self) -> MutexGuard<'_, ()> {
        // A panic while holding the lock cannot leave a half-written schedule (the batch is
        // atomic), so a poisoned lock is safe to keep using.
        self.lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Schedules a verified `Type=Process` or `Type=Message` data item. The write is applied
    /// but not yet durable: call [`Store::flush`] before acknowledging it.
    pub fn submit(&self, item: &DataItem, raw: &[u8]) -> Result<Outcome, ScheduleError> {
        self.submit_with(item, raw, &[])
    }

    /// As [`Scheduler::submit`], writing the node-wide values `meta` in the same atomic batch
    /// as the item and its slot (a chain adapter's cursor with the events it covers). When
    /// the item is already scheduled, `meta` is still written.
    pub fn submit_with(
        &self,
        item: &DataItem,
        raw: &[u8],
        meta: &[(String, Vec<u8>)],
    ) -> Result<Outcome, ScheduleError> {
        let outcome = traced(self.submit_inner(item, raw, meta)?);
        if matches!(
            outcome,
            Outcome::AlreadyScheduled(_) | Outcome::Stored { .. }
        ) && !meta.is_empty()
        {
            let mut batch = Batch::new();
            batch.put_metas(meta);
            self.store.apply(&batch)?;
        }
        Ok(outcome)
    }

    fn submit_inner(
        &self,
        item: &DataItem,
        raw: &[u8],
        meta: &[(String, Vec<u8>)],
    ) -> Result<Outcome, ScheduleError> {
        let kind = self.classify(item)?;
        let id = item.id();
        let _guard = self.guard();
        match kind {
            Kind::Module => {
                let duplicate = self.store.item(&id)?.is_some();
                if !duplicate {
                    let mut batch = Batch::new();
                    batch.put_item(&id, raw);
                    self.store.apply(&batch)?;
                }
                Ok(Outcome::Stored {
                    id: item.id_b64(),
                    duplicate,
                })
            }
            Kind::Process { module } => {
                if self.store.process(&id)?.is_some() {
                    return Ok(Outcome::AlreadyScheduled(self.assignment_at(&id, 0)?));
                }
                let timestamp = self.clock.now_ms();
                let mut record = ProcessRecord {
                    id: item.id_b64(),
                    owner: item.owner_address(),
                    module,
                    scheduler: self.address.clone(),
                    next_slot: 0,
                    last_timestamp: timestamp,
                    last_block_height: self.height_at(timestamp),
                    last_hash_chain: next_hash_chain(&id, None),
                    last_assignment_id: String::new(),
                };
                let mut batch = Batch::new();
                batch.put_item(&id, raw);
                let assignment = self.append(&mut batch, &id, &mut record, timestamp, &id, &[])?;
                batch.put_metas(meta);
                self.store.apply(&batch)?;
                Ok(Outcome::Scheduled(assignment))
            }
            Kind::Message {
                process,
                process_b64,
            } => {
                let mut record = self
                    .store
                    .process(&process)?
                    .ok_or(ScheduleError::UnknownProcess(process_b64))?;
                if let Some(slot) = self.store.placement(&id, &process)? {
                    return Ok(Outcome::AlreadyScheduled(
                        self.assignment_at(&process, slot)?,
                    ));
                }
                let timestamp = self.next_timestamp(&process, &record)?;
                let mut batch = Batch::new();
                batch.put_item(&id, raw);
                let assignment =
                    self.append(&mut batch, &process, &mut record, timestamp, &id, &[])?;
                batch.put_metas(meta);
                self.store.apply(&batch)?;
                Ok(Outcome::Scheduled(assignment))
            }
        }
    }

    /// Assigns a message this node already holds to another of its processes (an assignment
    /// with a `Message` tag and no new message body). Idempotent like [`Scheduler::submit`].
    pub fn assign(
        &self,
        process_b64: &str,
        message_b64: &str,
        exclude: &[String],
    ) -> Result<Outcome, ScheduleError> {
        let process =
            b64url_decode_32(process_b64, "process-id").map_err(|e| ScheduleError::Rejected {
                field: "process-id",
                reason: e.to_string(),
            })?;
        let message =
            b64url_decode_32(message_b64, "assign").map_err(|e| ScheduleError::Rejected {
                field: "assign",
                reason: e.to_string(),
            })?;
        let _guard = self.guard();
        let mut record = self
            .store
            .process(&process)?
            .ok_or_else(|| ScheduleError::UnknownProcess(process_b64.to_string()))?;
        if self.store.item(&message)?.is_none() {
            return Err(ScheduleError::UnknownMessage(message_b64.to_string()));
        }
        if let Some(slot) = self.store.placement(&message, &process)? {
            return Ok(Outcome::AlreadyScheduled(
                self.assignment_at(&process, slot)?,
            ));
        }
        let timestamp = self.next_timestamp(&process, &record)?;
        let mut batch = Batch::new();
        let assignment = self.append(
            &mut batch,
            &process,
            &mut record,
            timestamp,
            &message,
            exclude,
        )?;
        self.store.apply(&batch)?;
        Ok(traced(Outcome::Scheduled(assignment)))
    }

    /// The timestamp of `process`'s next slot: now, but strictly after its last slot and not
    /// before its cron floor.
    fn next_timestamp(&self, process: &Id, record: &ProcessRecord) -> Result<i64, ScheduleError> {
        Ok(self
            .clock
            .now_ms()
            .max(record.last_timestamp.saturating_add(1))
            .max(self.cron_floor(process)?))
    }

    /// Signs the assignment for `record`'s next slot and adds it, with the updated record, to
    /// `batch`.
    fn append(
        &self,
        batch: &mut Batch,
        process: &Id,
        record: &mut ProcessRecord,
        timestamp: i64,
        message: &Id,
        exclude: &[String],
    ) -> Result<Assignment, ScheduleError> {
        let slot = record.next_slot;
        let hash_chain = if slot == 0 {
            record.last_hash_chain.clone()
        } else {
            let previous = b64url_decode_32(&record.last_hash_chain, "Hash-Chain")?;
            let previous_assignment =
                b64url_decode_32(&record.last_assignment_id, "assignment id")?;
            next_hash_chain(&previous, Some(&previous_assignment))
        };
        let block_height = self.height_at(timestamp).max(record.last_block_height);
        let mut assignment = Assignment {
            process: record.id.clone(),
            slot,
            timestamp,
            block_height,
            hash_chain: hash_chain.clone(),
            id: String::new(),
            message: b64url_encode(message),
        };
        let item = DataItem::sign(
            self.key.signer(),
            None,
            None,
            assignment.tags(exclude),
            Vec::new(),
        )?;
        assignment.id = item.id_b64();
        batch.put_entry(
            process,
            slot,
            &ScheduleEntry {
                timestamp,
                message_id: *message,
                assignment: item.to_bytes(),
            },
        );
        record.next_slot = slot.saturating_add(1);
        record.last_timestamp = timestamp;
        record.last_block_height = block_height;
        record.last_hash_chain = hash_chain;
        record.last_assignment_id = assignment.id.clone();
        batch.put_process(process, record)?;
        Ok(assignment)
    }

    /// The assignment stored at `slot` of `process`.
    pub fn assignment_at(&self, process: &Id, slot: u64) -> Result<Assignment, ScheduleError> {
        let entry = self
            .store
            .entry(process, slot)?
            .ok_or(StoreError::Corrupt {
                what: "schedule",
                reason: format!("slot {slot} of {} is missing", b64url_encode(process)),
            })?;
        let item = DataItem::parse(&entry.assignment)?;
        Ok(Assignment::from_item(&item).map_err(StoreError::from)?)
    }

    /// Re-verifies a whole schedule: slots gap-free from 0, each assignment signed by this
    /// node, names its process and slot, timestamps strictly increase, and every hash-chain
    /// link recomputes. Returns the number of slots, or names the first slot that is wrong.
    pub fn audit(&self, process: &Id) -> Result<AuditReport, String> {
        let pid = b64url_encode(process);
        let record = self
            .store
            .process(process)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("process {pid} is not scheduled by this node"))?;
        let mut expected_chain = next_hash_chain(process, None);
        let mut last_ts = i64::MIN;
        let mut next = 0u64;
        for entry in self.store.entries_from(process, 0) {
            let (slot, entry) = entry.map_err(|e| e.to_string())?;
            let fail = |what: String| format!("process {pid} slot {slot}: {what}");
            if slot != next {
                return Err(fail(format!("expected slot {next} (gap)")));
            }
            let item =
                DataItem::parse_verified(&entry.assignment).map_err(|e| fail(e.to_string()))?;
            if item.owner_address() != self.address {
                return Err(fail("assignment not signed by this node".into()));
            }
            let a = Assignment::from_item(&item).map_err(|e| fail(e.to_string()))?;
            if a.process != pid || a.slot != slot {
                return Err(fail(format!(
                    "assignment names {} slot {}",
                    a.process, a.slot
                )));
            }
            if a.timestamp != entry.timestamp || a.timestamp <= last_ts {
                return Err(fail(format!("timestamp {} does not increase", a.timestamp)));
            }
            if a.message != b64url_encode(&entry.message_id) {
                return Err(fail("Message tag differs from the indexed message".into()));
            }
            if a.hash_chain != expected_chain {
                return Err(fail(format!(
                    "Hash-Chain {} but {} recomputes",
                    a.hash_chain, expected_chain
                )));
            }
            let chain =
                b64url_decode_32(&a.hash_chain, "Hash-Chain").map_err(|e| fail(e.to_string()))?;
            expected_chain = next_hash_chain(&chain, Some(&item.id()));
            last_ts = a.timestamp;
            next = slot.saturating_add(1);
        }
        if next != record.next_slot {
            return Err(format!(
                "process {pid}: {next} slots stored but the record says {}",
                record.next_slot
            ));
        }
        Ok(AuditReport { slots: next })
    }

    fn classify(&self, item: &DataItem) -> Result<Kind, ScheduleError> {
        let reject = |field, reason: String| ScheduleError::Rejected { field, reason };
        if !aolink_primitives::ao::is_ao(&item.tags) {
            return Err(reject(
                "tags.Data-Protocol",
                "an AO item needs the tag Data-Protocol=ao".into(),
            ));
        }
        match item.tag("Type") {
            Some("Process") => {
                // A native device needs no module; every other process runs one.
                let device = item.tag("Device").filter(|d| crate::devices::is_native(d));
                let module = match (item.tag("Module"), device) {
                    (None, Some(_)) => "",
                    (module, _) => module.ok_or_else(|| {
                        reject(
                            "tags.Module",
                            format!(
                                "a process needs a Module tag (or a Device tag naming one of {:?})",
                                crate::devices::DEVICES
                            ),
                        )
                    })?,
                };
                if !module.is_empty() {
                    b64url_decode_32(module, "Module").map_err(|e| {
                        reject(
                            "tags.Module",
                            format!("{module:?} is not a 43-character id: {e}"),
                        )
                    })?;
                }
                if let Some(scheduler) = item.tag("Scheduler")
                    && scheduler != self.address
                {
                    return Err(reject(
                        "tags.Scheduler",
                        format!(
                            "the process names scheduler {scheduler}, this node is {}",
                            self.address
                        ),
                    ));
                }
                Ok(Kind::Process {
                    module: module.to_string(),
                })
            }
            Some("Message") => {
                let process = item
                    .target
                    .ok_or_else(|| reject("target", "a message needs a target process".into()))?;
                Ok(Kind::Message {
                    process,
                    process_b64: b64url_encode(&process),
                })
            }
            Some("Module") => {
                let format = item.tag("Module-Format").ok_or_else(|| {
                    reject(
                        "tags.Module-Format",
                        "a module needs a Module-Format tag".into(),
                    )
                })?;
                aolink_primitives::ModuleFormat::parse(format)
                    .map_err(|e| reject("tags.Module-Format", e.to_string()))?;
                for tag in ["Input-Encoding", "Output-Encoding"] {
                    if item.tag(tag).is_none() {
                        return Err(reject(
                            if tag == "Input-Encoding" {
                                "tags.Input-Encoding"
                            } else {
                                "tags.Output-Encoding"
                            },
                            format!("a module needs an {tag} tag (JSON-1)"),
                        ));
                    }
                }
                Ok(Kind::Module)
            }
            Some(other) => Err(reject(
                "tags.Type",
                format!("Type {other:?} is not accepted here; expected Process, Message or Module"),
            )),
            None => Err(reject(
                "tags.Type",
                "an AO item needs a Type tag (Process or Message)".into(),
            )),
        }
    }
}
