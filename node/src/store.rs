//! Durable storage on sled: the only module that touches sled.
//!
//! Everything that belongs together is written through one [`Batch`], applied as a single
//! multi-tree sled transaction, so a node killed at any instant recovers either all of a
//! change or none of it. A change is durable once [`Store::flush`] has returned; the node
//! acknowledges nothing before that.
//!
//! Trees and their keys (ids are the 32 raw bytes behind a base64url id):
//! - `items`: item id → raw ANS-104 bytes of every message and process this node holds.
//! - `schedule`: process id ‖ slot (u64 big-endian) → [`ScheduleEntry`] bytes.
//! - `placements`: message id ‖ process id → slot (u64 big-endian); makes scheduling idempotent
//!   and finds a message's slot without knowing its process.
//! - `processes`: process id → [`ProcessRecord`] (JSON).
//! - `meta`: name → value, node-wide facts such as [`NodeMeta`].
//! - `results`: process id ‖ slot → the evaluation result (JSON) of that message.
//! - `checkpoints`: process id → [`CheckpointRecord`] of the newest memory checkpoint.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aolink_primitives::delivery::DeliveryRecord;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::{Transactional, Tree};

/// A raw 32-byte id (item, process or assignment).
pub type Id = [u8; 32];

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (I/O, corruption it detected, or an unsupported on-disk version).
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value does not decode: the data directory was damaged or written by something else.
    #[error("store: corrupt {what}: {reason}")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<aolink_primitives::ao::AssignmentError> for StoreError {
    fn from(e: aolink_primitives::ao::AssignmentError) -> Self {
        StoreError::Corrupt {
            what: "assignment",
            reason: format!("{} has no valid {} tag", e.id, e.tag),
        }
    }
}

/// What the node keeps about each process it schedules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// The process id (base64url).
    pub id: String,
    /// The address of the process item's signer.
    pub owner: String,
    /// The `Module` tag.
    pub module: String,
    /// The scheduler address (this node's).
    pub scheduler: String,
    /// The slot the next message will get; also the number of scheduled entries.
    pub next_slot: u64,
    /// Timestamp (ms) of the newest entry.
    pub last_timestamp: i64,
    /// Block height of the newest entry.
    pub last_block_height: u64,
    /// `Hash-Chain` of the newest entry.
    pub last_hash_chain: String,
    /// Assignment id of the newest entry.
    pub last_assignment_id: String,
}

/// Node-wide facts fixed when the data directory is created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeMeta {
    /// On-disk format version.
    pub format: u32,
    /// The node key's address when the directory was created.
    pub address: String,
    /// Wall-clock ms at creation: the origin of the node's local block height.
    pub genesis_ms: i64,
    /// The block height the node starts counting from.
    pub genesis_height: u64,
}

/// One scheduled slot of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleEntry {
    /// Assignment `Timestamp` (ms).
    pub timestamp: i64,
    /// The scheduled message (for slot 0, the process itself).
    pub message_id: Id,
    /// The raw assignment data item, signed by the node.
    pub assignment: Vec<u8>,
}

impl ScheduleEntry {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40 + self.assignment.len());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.message_id);
        out.extend_from_slice(&self.assignment);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt {
            what: "schedule entry",
            reason: format!("{} bytes, expected at least 40", bytes.len()),
        };
        let (ts, rest) = bytes.split_first_chunk::<8>().ok_or_else(corrupt)?;
        let (id, assignment) = rest.split_first_chunk::<32>().ok_or_else(corrupt)?;
        Ok(ScheduleEntry {
            timestamp: i64::from_be_bytes(*ts),
            message_id: *id,
            assignment: assignment.to_vec(),
        })
    }

    /// Reads just the timestamp, for binary searches over slots.
    fn decode_timestamp(bytes: &[u8]) -> Result<i64, StoreError> {
        bytes
            .first_chunk::<8>()
            .map(|ts| i64::from_be_bytes(*ts))
            .ok_or(StoreError::Corrupt {
                what: "schedule entry",
                reason: "shorter than its timestamp".into(),
            })
    }
}

/// The trees a [`Batch`] can write to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TreeName {
    Items,
    Schedule,
    Placements,
    Processes,
    Meta,
    Results,
    Checkpoints,
    Crons,
    Attest,
}

/// Adds `delta` to the count of deliveries in `state`, inside a transaction.
fn add_count(
    meta: &sled::transaction::TransactionalTree,
    state: &str,
    delta: i64,
) -> Result<(), sled::transaction::UnabortableTransactionError> {
    let key = format!("{DELIVERY_COUNT}{state}");
    let now = meta
        .get(key.as_bytes())?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes);
    let next = now.saturating_add_signed(delta);
    meta.insert(key.as_bytes(), &next.to_be_bytes())?;
    Ok(())
}

/// A set of writes applied atomically by [`Store::apply`].
#[derive(Default, Debug)]
pub struct Batch {
    ops: Vec<(TreeName, Vec<u8>, Option<Vec<u8>>)>,
    deliveries: Vec<DeliveryWrite>,
}

/// A delivery record to store, with what its indexes need.
#[derive(Debug)]
struct DeliveryWrite {
    id: String,
    bytes: Vec<u8>,
    state: &'static str,
    open: bool,
    created_ms: u64,
}

/// The meta key prefix of the per-state delivery counts.
const DELIVERY_COUNT: &str = "delivery/count/";

/// The meta key saying the delivery indexes cover every record (written when they were built).
const DELIVERY_INDEXED: &str = "delivery/indexed";

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Batch::default()
    }

    /// Stores a raw data item under its id.
    pub fn put_item(&mut self, id: &Id, raw: &[u8]) {
        self.ops
            .push((TreeName::Items, id.to_vec(), Some(raw.to_vec())));
    }

    /// Stores a process's slot and the placement index entry that points back to it.
    pub fn put_entry(&mut self, process: &Id, slot: u64, entry: &ScheduleEntry) {
        self.ops.push((
            TreeName::Schedule,
            slot_key(process, slot),
            Some(entry.encode()),
        ));
        self.ops.push((
            TreeName::Placements,
            pair_key(&entry.message_id, process),
            Some(slot.to_be_bytes().to_vec()),
        ));
    }

    /// Stores a process record.
    pub fn put_process(&mut self, process: &Id, record: &ProcessRecord) -> Result<(), StoreError> {
        let json = serde_json::to_vec(record).map_err(|e| StoreError::Corrupt {
            what: "process record",
            reason: e.to_string(),
        })?;
        self.ops
            .push((TreeName::Processes, process.to_vec(), Some(json)));
        Ok(())
    }

    /// Stores a node-wide value.
    pub fn put_meta(&mut self, name: &str, value: &[u8]) {
        self.ops.push((
            TreeName::Meta,
            name.as_bytes().to_vec(),
            Some(value.to_vec()),
        ));
    }

    /// Stores node-wide values (an adapter's cursors), in order.
    pub fn put_metas(&mut self, values: &[(String, Vec<u8>)]) {
        for (name, value) in values {
            self.put_meta(name, value);
        }
    }

    /// Stores the evaluation result of `slot` of `process`.
    pub fn put_result(&mut self, process: &Id, slot: u64, result: &[u8]) {
        self.ops.push((
            TreeName::Results,
            slot_key(process, slot),
            Some(result.to_vec()),
        ));
    }

    /// Stores the result of a cron message: the `seq`th generated after `slot` of `process`.
    pub fn put_cron(&mut self, process: &Id, slot: u64, seq: u32, result: &[u8]) {
        let mut key = slot_key(process, slot);
        key.extend_from_slice(&seq.to_be_bytes());
        self.ops.push((TreeName::Crons, key, Some(result.to_vec())));
    }

    /// Records the newest memory checkpoint of a process.
    pub fn put_checkpoint(
        &mut self,
        process: &Id,
        record: &CheckpointRecord,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_vec(record).map_err(|e| StoreError::Corrupt {
            what: "checkpoint record",
            reason: e.to_string(),
        })?;
        self.ops
            .push((TreeName::Checkpoints, process.to_vec(), Some(json)));
        Ok(())
    }

    /// Stores an attestation-room value (guards, signatures, cursors: `attest` module).
    pub fn put_attest(&mut self, key: &str, value: &[u8]) {
        self.ops.push((
            TreeName::Attest,
            key.as_bytes().to_vec(),
            Some(value.to_vec()),
        ));
    }

    /// Removes an attestation-room value.
    pub fn delete_attest(&mut self, key: &str) {
        self.ops
            .push((TreeName::Attest, key.as_bytes().to_vec(), None));
    }

    /// Stores a delivery record under its answer id. Its indexes (the open records, the
    /// count per state) change in the same transaction.
    pub fn put_delivery(&mut self, record: &DeliveryRecord) {
        self.deliveries.push(DeliveryWrite {
            id: record.id.clone(),
            bytes: record.encode(),
            state: record.state.name(),
            open: !record.state.is_final(),
            created_ms: record.created_ms,
        });
    }

    /// Removes a node-wide value.
    pub fn delete_meta(&mut self, name: &str) {
        self.ops
            .push((TreeName::Meta, name.as_bytes().to_vec(), None));
    }

    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// How many writes the batch holds.
    pub fn len(&self) -> usize {
        self.ops.len()
    }
}

fn slot_key(process: &Id, slot: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(40);
    key.extend_from_slice(process);
    key.extend_from_slice(&slot.to_be_bytes());
    key
}

fn pair_key(first: &Id, second: &Id) -> Vec<u8> {
    let mut key = Vec::with_capacity(64);
    key.extend_from_slice(first);
    key.extend_from_slice(second);
    key
}

/// The slot in a `process id ‖ slot` key.
fn slot_of(key: &[u8], what: &'static str) -> Result<u64, StoreError> {
    key.get(32..40)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or(StoreError::Corrupt {
            what,
            reason: format!("{} bytes, expected 40", key.len()),
        })
}

fn decode_slot(bytes: &[u8]) -> Result<u64, StoreError> {
    let raw: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        what: "placement",
        reason: format!("{} bytes, expected 8", bytes.len()),
    })?;
    Ok(u64::from_be_bytes(raw))
}

/// Where a process's newest memory checkpoint is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    /// The last slot whose effects the memory holds.
    pub slot: u64,
    /// The checkpoint file, relative to the data directory.
    pub file: String,
    /// Uncompressed memory length in bytes.
    pub memory_len: u64,
    /// sha256 of the uncompressed memory, hex.
    pub memory_sha256: String,
    /// Where cron generation stands in that memory (processes with crons only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<CronCursor>,
}

/// How far a process's cron messages have been generated: ticks continue on the grid of the
/// last scheduled message (`left`) from `next`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CronCursor {
    /// Timestamp of the last scheduled message evaluated.
    pub left: i64,
    /// The next tick to consider.
    pub next: i64,
    /// The block height ticks have reached.
    pub height: u64,
    /// How many cron results follow the last scheduled slot so far.
    pub seq: u32,
}

/// The meta key holding the time up to which a process's crons have been evaluated past its
/// last scheduled message: the evaluator writes it, and the scheduler never assigns that
/// process an earlier timestamp. Here, below both, so neither imports the other.
pub fn cron_horizon_key(process: &str) -> String {
    format!("cron-horizon/{process}")
}

/// Record counts, from [`Store::counts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StoreCounts {
    /// Data items held.
    pub items: usize,
    /// Scheduled slots over all processes.
    pub scheduled: usize,
    /// Processes scheduled.
    pub processes: usize,
}

/// Group commit: one fsync at a time, each covering every batch applied before it started.
///
/// sled's own `flush_async` waits inside sled's I/O thread pool for log writes that need that
/// same pool, and deadlocks once enough flushes are in flight; so flushes run here, on tokio's
/// blocking pool, and concurrent callers share them instead of queueing one fsync each.
#[derive(Default)]
struct GroupCommit {
    /// Batches applied so far.
    applied: AtomicU64,
    /// Every batch up to this count is durable.
    durable: AtomicU64,
    /// Held while a flush runs.
    gate: tokio::sync::Mutex<()>,
}

/// The node's durable store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    commit: Arc<GroupCommit>,
    items: Tree,
    schedule: Tree,
    placements: Tree,
    processes: Tree,
    meta: Tree,
    results: Tree,
    checkpoints: Tree,
    crons: Tree,
    attest: Tree,
    deliveries: Tree,
    /// Delivery ids not final yet, each with its record's `created_ms`.
    deliveries_open: Tree,
    /// Each delivery's state name, for the per-state counts.
    delivery_states: Tree,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store in `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(path)
            // Durability comes from explicit flushes before every acknowledgement; the
            // background flush only bounds how much an unacknowledged burst can lose.
            .flush_every_ms(Some(500))
            .open()?;
        Ok(Store {
            items: db.open_tree("items")?,
            schedule: db.open_tree("schedule")?,
            placements: db.open_tree("placements")?,
            processes: db.open_tree("processes")?,
            meta: db.open_tree("meta")?,
            results: db.open_tree("results")?,
            checkpoints: db.open_tree("checkpoints")?,
            crons: db.open_tree("crons")?,
            attest: db.open_tree("attest")?,
            deliveries: db.open_tree("deliveries")?,
            deliveries_open: db.open_tree("deliveries_open")?,
            delivery_states: db.open_tree("delivery_states")?,
            db,
            commit: Arc::default(),
        })
        .and_then(|store| {
            store.index_deliveries()?;
            Ok(store)
        })
    }

    /// Builds the delivery indexes of a store written before they existed, from its records.
    fn index_deliveries(&self) -> Result<(), StoreError> {
        if self.meta.get(DELIVERY_INDEXED)?.is_some() {
            return Ok(());
        }
        let mut batch = Batch::new();
        for entry in self.deliveries() {
            let (_, raw) = entry?;
            let record = DeliveryRecord::decode(&raw).map_err(|e| StoreError::Corrupt {
                what: "delivery record",
                reason: e.to_string(),
            })?;
            batch.put_delivery(&record);
        }
        batch.put_meta(DELIVERY_INDEXED, b"1");
        self.apply(&batch)?;
        self.flush_blocking()
    }

    /// Applies every write of `batch` in one transaction: all of them or none.
    pub fn apply(&self, batch: &Batch) -> Result<(), StoreError> {
        let trees = (
            &self.items,
            &self.schedule,
            &self.placements,
            &self.processes,
            &self.meta,
            &self.results,
            &self.checkpoints,
            &self.crons,
            &self.attest,
            &self.deliveries,
            &self.deliveries_open,
            &self.delivery_states,
        );
        trees
            .transaction(
                |(
                    items,
                    schedule,
                    placements,
                    processes,
                    meta,
                    results,
                    checkpoints,
                    crons,
                    attest,
                    deliveries,
                    open,
                    states,
                )| {
                    for (tree, key, value) in &batch.ops {
                        let target = match tree {
                            TreeName::Items => items,
                            TreeName::Schedule => schedule,
                            TreeName::Placements => placements,
                            TreeName::Processes => processes,
                            TreeName::Meta => meta,
                            TreeName::Results => results,
                            TreeName::Checkpoints => checkpoints,
                            TreeName::Crons => crons,
                            TreeName::Attest => attest,
                        };
                        match value {
                            Some(value) => {
                                target.insert(key.as_slice(), value.as_slice())?;
                            }
                            None => {
                                target.remove(key.as_slice())?;
                            }
                        }
                    }
                    for write in &batch.deliveries {
                        let id = write.id.as_bytes();
                        let before = states.get(id)?;
                        if before.as_deref() != Some(write.state.as_bytes()) {
                            if let Some(before) = before {
                                let name = String::from_utf8_lossy(&before).into_owned();
                                add_count(meta, &name, -1)?;
                            }
                            add_count(meta, write.state, 1)?;
                            states.insert(id, write.state.as_bytes())?;
                        }
                        deliveries.insert(id, write.bytes.as_slice())?;
                        if write.open {
                            open.insert(id, &write.created_ms.to_be_bytes())?;
                        } else {
                            open.remove(id)?;
                        }
                    }
                    Ok::<(), ConflictableTransactionError<StoreError>>(())
                },
            )
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => StoreError::Sled(e),
            })?;
        self.commit.applied.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Makes every batch applied before this call durable (fsync). Concurrent callers share
    /// one fsync: whoever finds a flush running waits for it, then flushes only if that one
    /// started before their batch was applied.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let target = self.commit.applied.load(Ordering::SeqCst);
        if self.commit.durable.load(Ordering::SeqCst) >= target {
            return Ok(());
        }
        let _gate = self.commit.gate.lock().await;
        if self.commit.durable.load(Ordering::SeqCst) >= target {
            return Ok(());
        }
        let covered = self.commit.applied.load(Ordering::SeqCst);
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| StoreError::Sled(sled::Error::ReportableBug(e.to_string())))??;
        self.commit.durable.fetch_max(covered, Ordering::SeqCst);
        Ok(())
    }

    /// An attestation-room value.
    pub fn attest(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.attest.get(key.as_bytes())?.map(|v| v.to_vec()))
    }

    /// The attestation-room values whose keys start with `prefix`, in key order.
    pub fn attest_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.attest
            .scan_prefix(prefix.as_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
            })
            .collect()
    }

    /// One delivery record.
    pub fn delivery(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.deliveries.get(id.as_bytes())?.map(|v| v.to_vec()))
    }

    /// The ids of the deliveries not final yet, each with when its answer was recorded (ms).
    pub fn open_deliveries(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.deliveries_open
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                let created = <[u8; 8]>::try_from(v.as_ref()).map_or(0, u64::from_be_bytes);
                Ok((String::from_utf8_lossy(&k).into_owned(), created))
            })
            .collect()
    }

    /// How many deliveries are in each state.
    pub fn delivery_counts(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        self.meta
            .scan_prefix(DELIVERY_COUNT.as_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                let name = String::from_utf8_lossy(&k[DELIVERY_COUNT.len()..]).into_owned();
                Ok((
                    name,
                    <[u8; 8]>::try_from(v.as_ref()).map_or(0, u64::from_be_bytes),
                ))
            })
            .filter(|entry| !matches!(entry, Ok((_, 0))))
            .collect()
    }

    /// Every delivery record, in id order.
    pub fn deliveries(&self) -> impl Iterator<Item = Result<(String, Vec<u8>), StoreError>> + '_ {
        self.deliveries.iter().map(|kv| {
            let (k, v) = kv?;
            Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
        })
    }

    /// Makes every applied batch durable, blocking the calling thread.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        let covered = self.commit.applied.load(Ordering::SeqCst);
        self.db.flush()?;
        self.commit.durable.fetch_max(covered, Ordering::SeqCst);
        Ok(())
    }

    /// The raw bytes of a stored item.
    pub fn item(&self, id: &Id) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.items.get(id)?.map(|v| v.to_vec()))
    }

    /// A process's record.
    pub fn process(&self, id: &Id) -> Result<Option<ProcessRecord>, StoreError> {
        self.processes
            .get(id)?
            .map(|v| {
                serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt {
                    what: "process record",
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    /// Every process record, in id order.
    pub fn processes(&self) -> impl Iterator<Item = Result<ProcessRecord, StoreError>> + '_ {
        self.processes.iter().map(|kv| {
            let (_, v) = kv?;
            serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt {
                what: "process record",
                reason: e.to_string(),
            })
        })
    }

    /// The slot `message` holds in `process`, if it is scheduled there.
    pub fn placement(&self, message: &Id, process: &Id) -> Result<Option<u64>, StoreError> {
        self.placements
            .get(pair_key(message, process))?
            .map(|v| decode_slot(&v))
            .transpose()
    }

    /// Every (process, slot) a message is scheduled at.
    pub fn placements_of(&self, message: &Id) -> Result<Vec<(Id, u64)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.placements.scan_prefix(message) {
            let (k, v) = kv?;
            let process: Id =
                k.get(32..)
                    .and_then(|p| p.try_into().ok())
                    .ok_or(StoreError::Corrupt {
                        what: "placement key",
                        reason: format!("{} bytes, expected 64", k.len()),
                    })?;
            out.push((process, decode_slot(&v)?));
        }
        Ok(out)
    }

    /// The entry at `slot` of `process`.
    pub fn entry(&self, process: &Id, slot: u64) -> Result<Option<ScheduleEntry>, StoreError> {
        self.schedule
            .get(slot_key(process, slot))?
            .map(|v| ScheduleEntry::decode(&v))
            .transpose()
    }

    /// Entries of `process` from slot `from` (inclusive) on, in slot order.
    pub fn entries_from(
        &self,
        process: &Id,
        from: u64,
    ) -> impl Iterator<Item = Result<(u64, ScheduleEntry), StoreError>> + '_ {
        let start = slot_key(process, from);
        let end = slot_key(process, u64::MAX);
        self.schedule.range(start..=end).map(|kv| {
            let (k, v) = kv?;
            let slot = slot_of(&k, "schedule key")?;
            Ok((slot, ScheduleEntry::decode(&v)?))
        })
    }

    /// The first slot below `end` whose timestamp is greater than `after`, or `end`.
    /// Timestamps strictly increase with the slot, so a binary search finds it.
    pub fn first_slot_after(&self, process: &Id, after: i64, end: u64) -> Result<u64, StoreError> {
        let (mut lo, mut hi) = (0u64, end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let ts = match self.schedule.get(slot_key(process, mid))? {
                Some(v) => ScheduleEntry::decode_timestamp(&v)?,
                None => {
                    return Err(StoreError::Corrupt {
                        what: "schedule",
                        reason: format!("slot {mid} is missing below next slot {end}"),
                    });
                }
            };
            if ts > after {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(lo)
    }

    /// The stored evaluation result of `slot` of `process`.
    pub fn result(&self, process: &Id, slot: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .results
            .get(slot_key(process, slot))?
            .map(|v| v.to_vec()))
    }

    /// Stored results of `process` from slot `from` (inclusive) on, in slot order.
    pub fn results_from(
        &self,
        process: &Id,
        from: u64,
    ) -> impl DoubleEndedIterator<Item = Result<(u64, Vec<u8>), StoreError>> + '_ {
        let start = slot_key(process, from);
        let end = slot_key(process, u64::MAX);
        self.results.range(start..=end).map(|kv| {
            let (k, v) = kv?;
            let slot = slot_of(&k, "result key")?;
            Ok((slot, v.to_vec()))
        })
    }

    /// Cron results of `process` after position `after` ((slot, seq), exclusive; `None` for
    /// the first), in order.
    pub fn crons_after(
        &self,
        process: &Id,
        after: Option<(u64, u32)>,
    ) -> impl Iterator<Item = Result<((u64, u32), Vec<u8>), StoreError>> + '_ {
        let start = match after {
            Some((slot, seq)) => {
                let mut key = slot_key(process, slot);
                key.extend_from_slice(&seq.to_be_bytes());
                key.push(0);
                key
            }
            None => process.to_vec(),
        };
        let mut end = slot_key(process, u64::MAX);
        end.extend_from_slice(&u32::MAX.to_be_bytes());
        self.crons.range(start..=end).map(|kv| {
            let (k, v) = kv?;
            let slot = slot_of(&k, "cron key")?;
            let seq = k
                .get(40..44)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes)
                .ok_or_else(|| StoreError::Corrupt {
                    what: "cron key",
                    reason: format!("{} bytes", k.len()),
                })?;
            Ok(((slot, seq), v.to_vec()))
        })
    }

    /// The newest checkpoint record of `process`.
    pub fn checkpoint(&self, process: &Id) -> Result<Option<CheckpointRecord>, StoreError> {
        self.checkpoints
            .get(process)?
            .map(|v| {
                serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt {
                    what: "checkpoint record",
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    /// How many records each tree holds (status pages, and tests that check nothing was stored).
    pub fn counts(&self) -> StoreCounts {
        StoreCounts {
            items: self.items.len(),
            scheduled: self.schedule.len(),
            processes: self.processes.len(),
        }
    }

    /// Every node-wide value whose name starts with `prefix`.
    pub fn meta_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.meta
            .scan_prefix(prefix.as_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
            })
            .collect()
    }

    /// A node-wide value.
    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(name.as_bytes())?.map(|v| v.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ts: i64, id: u8) -> ScheduleEntry {
        ScheduleEntry {
            timestamp: ts,
            message_id: [id; 32],
            assignment: vec![id; 10],
        }
    }

    #[test]
    fn batch_applies_all_trees_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let process = [7u8; 32];
        {
            let store = Store::open(dir.path()).unwrap();
            let mut batch = Batch::new();
            batch.put_item(&[1; 32], b"item");
            batch.put_entry(&process, 0, &entry(100, 1));
            batch.put_meta("x", b"y");
            store.apply(&batch).unwrap();
            store.flush_blocking().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.item(&[1; 32]).unwrap().unwrap(), b"item");
        assert_eq!(store.entry(&process, 0).unwrap().unwrap(), entry(100, 1));
        assert_eq!(store.placement(&[1; 32], &process).unwrap(), Some(0));
        assert_eq!(store.placements_of(&[1; 32]).unwrap(), vec![(process, 0)]);
        assert_eq!(store.meta("x").unwrap().unwrap(), b"y");
    }

    #[test]
    fn binary_search_finds_first_slot_after_a_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let process = [9u8; 32];
        let mut batch = Batch::new();
        for slot in 0..10u64 {
            batch.put_entry(&process, slot, &entry(1000 + 10 * slot as i64, slot as u8));
        }
        store.apply(&batch).unwrap();
        assert_eq!(store.first_slot_after(&process, 0, 10).unwrap(), 0);
        assert_eq!(store.first_slot_after(&process, 1000, 10).unwrap(), 1);
        assert_eq!(store.first_slot_after(&process, 1005, 10).unwrap(), 1);
        assert_eq!(store.first_slot_after(&process, 1090, 10).unwrap(), 10);
        let slots: Vec<u64> = store
            .entries_from(&process, 8)
            .map(|e| e.unwrap().0)
            .collect();
        assert_eq!(slots, vec![8, 9]);
    }

    /// sled's flush_async deadlocked here with 64 flushes in flight.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn hundreds_of_concurrent_flushes_all_complete() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut tasks = Vec::new();
        for i in 0..512u32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut batch = Batch::new();
                batch.put_item(&[(i % 251) as u8; 32], &i.to_be_bytes());
                store.apply(&batch).unwrap();
                store.flush().await.unwrap();
            }));
        }
        let all = async {
            for task in tasks {
                task.await.unwrap();
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), all)
            .await
            .expect("concurrent flushes must not deadlock");
        assert_eq!(
            store.commit.durable.load(Ordering::SeqCst),
            store.commit.applied.load(Ordering::SeqCst)
        );
    }

    #[test]
    fn corrupt_entry_is_an_error_not_a_panic() {
        assert!(ScheduleEntry::decode(&[0; 12]).is_err());
        assert!(decode_slot(&[0; 3]).is_err());
    }
}

#[cfg(test)]
mod delivery_index_tests {
    use aolink_primitives::answer::Answer;
    use aolink_primitives::delivery::DeliveryState;

    use super::*;

    fn record(id: &str, state: DeliveryState, created_ms: u64) -> DeliveryRecord {
        let answer: Answer = serde_json::from_value(serde_json::json!({
            "chainId": "1", "gateway": "0x00", "target": "0x01", "requestId": id,
            "requestTx": "0x02", "process": "p", "requestedProcess": "p", "message": "m",
            "mirror": "r", "slot": 1, "data": "d", "tags": []
        }))
        .unwrap();
        DeliveryRecord {
            id: id.into(),
            answer,
            state,
            failures: 0,
            next_attempt_ms: 0,
            last_error: None,
            created_ms,
        }
    }

    fn put(store: &Store, records: &[DeliveryRecord]) {
        let mut batch = Batch::new();
        for r in records {
            batch.put_delivery(r);
        }
        store.apply(&batch).unwrap();
    }

    fn counts(store: &Store) -> Vec<(String, u64)> {
        store.delivery_counts().unwrap().into_iter().collect()
    }

    #[test]
    fn counts_and_the_open_index_follow_every_transition_and_are_rebuilt_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        put(
            &store,
            &[
                record("a", DeliveryState::Signed, 10),
                record("b", DeliveryState::Pending, 5),
            ],
        );
        // Two steps of one record in one batch count once, in the last state.
        put(
            &store,
            &[
                record("a", DeliveryState::Confirmed { tx: "t".into() }, 10),
                record("c", DeliveryState::Signed, 7),
                record("c", DeliveryState::Dead { reason: "r".into() }, 7),
            ],
        );
        let want = vec![
            ("confirmed".to_string(), 1),
            ("dead".to_string(), 1),
            ("pending".to_string(), 1),
        ];
        assert_eq!(counts(&store), want);
        assert_eq!(store.open_deliveries().unwrap(), vec![("b".to_string(), 5)]);
        // A replayed dead record is open again.
        put(&store, &[record("c", DeliveryState::Pending, 7)]);
        assert_eq!(
            counts(&store),
            vec![("confirmed".to_string(), 1), ("pending".to_string(), 2)]
        );
        assert_eq!(store.open_deliveries().unwrap().len(), 2);

        // A store written before the indexes: rebuilt from the records when opened.
        store.deliveries_open.clear().unwrap();
        store.delivery_states.clear().unwrap();
        for (key, _) in store
            .meta
            .scan_prefix(b"delivery/")
            .flatten()
            .collect::<Vec<_>>()
        {
            store.meta.remove(key).unwrap();
        }
        store.flush_blocking().unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            counts(&store),
            vec![("confirmed".to_string(), 1), ("pending".to_string(), 2)]
        );
        assert_eq!(
            store.open_deliveries().unwrap(),
            vec![("b".to_string(), 5), ("c".to_string(), 7)]
        );
    }
}
