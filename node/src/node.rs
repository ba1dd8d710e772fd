//! The assembled node: key, store and scheduler over one data directory.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aolink_primitives::adapter::{ChainStatus, CursorWrite};
use aolink_primitives::delivery::{DeliveryRecord, DeliveryState};

use crate::ans104::{DataItem, ItemError, b64url_decode_32, b64url_encode};
use crate::attest::{AttestConfig, AttestError, Attester};
use crate::clock::{Clock, SystemClock};
use crate::compute::messenger::{PushContext, pushes};
use crate::compute::{Compute, ComputeConfig, ComputeError};
use crate::keys::{KeyError, NodeKey};
use crate::scheduler::{Outcome, ScheduleError, Scheduler};
use crate::store::{Batch, Id, NodeMeta, Store, StoreError};

/// On-disk format version written into new data directories.
pub const FORMAT_VERSION: u32 = 1;

pub use aolink_primitives::ao::DEFAULT_GENESIS_HEIGHT;

/// How a node is set up.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The data directory: the key, the store, everything durable.
    pub data_dir: PathBuf,
    /// The local block height at creation of a new data directory.
    pub genesis_height: u64,
    /// Evaluation settings.
    pub compute: ComputeConfig,
    /// The attestation keys and epoch (none: answers are recorded for delivery, not signed).
    pub attest: AttestConfig,
}

impl NodeConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        NodeConfig {
            data_dir: data_dir.into(),
            genesis_height: DEFAULT_GENESIS_HEIGHT,
            compute: ComputeConfig::default(),
            attest: AttestConfig::default(),
        }
    }
}

/// Errors opening a node or submitting to it.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The data directory could not be created.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The node key could not be loaded or created.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The data directory belongs to a different key, or was written by a newer aolink.
    #[error("data directory {path}: {reason}")]
    Mismatch {
        /// The directory.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// The item is malformed or its signature does not verify.
    #[error("{0}")]
    Invalid(#[from] ItemError),
    /// The item was valid but could not be scheduled.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Evaluation failed.
    #[error(transparent)]
    Compute(#[from] ComputeError),
    /// A worker thread died.
    #[error("internal: {0}")]
    Internal(String),
}

struct Inner {
    key: Arc<NodeKey>,
    key_created: bool,
    store: Store,
    scheduler: Scheduler,
    compute: Compute,
    attester: Attester,
    /// Woken when answers were recorded.
    attested: tokio::sync::Notify,
    config: NodeConfig,
    /// Wakes the crank after every accepted item.
    crank: tokio::sync::Notify,
    /// Processes whose module is missing or refused: skipped by the crank until a module arrives.
    unrunnable: Mutex<HashSet<Id>>,
    /// Processes with slots the crank has not handled yet; `None` means every process (after
    /// a start, or when a new module may have made waiting processes runnable).
    due: Mutex<Option<HashSet<Id>>>,
    /// What the node's components (chain adapters) last reported of themselves, by name, for
    /// operators (`GET /status`). In memory only: it describes the running process.
    statuses: Mutex<BTreeMap<String, ChainStatus>>,
    /// Chain calls a mirror forwarded to processes this node does not have, since start.
    unrouted: Mutex<UnroutedCalls>,
}

/// Calls from a chain (a mirror's message with `Chain-Tx`) to a process this node does not
/// have: the dApp's call reaches nothing, so operators see it in `GET /status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnroutedCalls {
    /// How many since start.
    pub count: u64,
    /// The last one: its chain transaction, the process it named and why it was not scheduled.
    pub last: Option<String>,
}

/// The delivery queue at a glance, for `/status` and `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliverySummary {
    /// Records per state name.
    pub by_state: BTreeMap<String, u64>,
    /// Records not confirmed or dead.
    pub open: u64,
    /// When the oldest open record was created (ms since the epoch).
    pub oldest_open_ms: Option<u64>,
    /// How long ago that was, by the node's clock (0 with none open).
    pub oldest_open_age_ms: u64,
}

/// The embedded AO node. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("address", &self.address())
            .field("data_dir", &self.inner.config.data_dir)
            .finish()
    }
}

impl Node {
    /// Opens the node in `config.data_dir`, creating the directory, key and store on first start.
    pub fn open(config: NodeConfig) -> Result<Node, NodeError> {
        Self::open_with_clock(config, Arc::new(SystemClock))
    }

    /// As [`Node::open`], with a given clock (tests).
    pub fn open_with_clock(config: NodeConfig, clock: Arc<dyn Clock>) -> Result<Node, NodeError> {
        let dir = &config.data_dir;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| NodeError::DataDir {
                path: dir.clone(),
                source,
            })?;
        let (key, key_created) = NodeKey::load_or_create(dir)?;
        let key = Arc::new(key);
        let store = Store::open(&dir.join("db"))?;
        let meta = Self::load_or_init_meta(&store, &key, &config, clock.as_ref())?;
        let compute = Compute::new(store.clone(), dir, config.compute.clone(), &meta)?;
        let attester = Attester::new(
            store.clone(),
            config.attest.clone(),
            key.address(),
            clock.clone(),
        );
        let scheduler = Scheduler::new(store.clone(), key.clone(), clock, meta);
        Ok(Node {
            inner: Arc::new(Inner {
                key,
                key_created,
                store,
                scheduler,
                compute,
                attester,
                attested: tokio::sync::Notify::new(),
                config,
                crank: tokio::sync::Notify::new(),
                unrunnable: Mutex::new(HashSet::new()),
                due: Mutex::new(None),
                statuses: Mutex::new(BTreeMap::new()),
                unrouted: Mutex::new(UnroutedCalls::default()),
            }),
        })
    }

    fn load_or_init_meta(
        store: &Store,
        key: &NodeKey,
        config: &NodeConfig,
        clock: &dyn Clock,
    ) -> Result<NodeMeta, NodeError> {
        let mismatch = |reason: String| NodeError::Mismatch {
            path: config.data_dir.clone(),
            reason,
        };
        if let Some(bytes) = store.meta("node")? {
            let meta: NodeMeta =
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                    what: "node metadata",
                    reason: e.to_string(),
                })?;
            if meta.format > FORMAT_VERSION {
                return Err(mismatch(format!(
                    "written by a newer aolink (format {}, this build reads up to {FORMAT_VERSION})",
                    meta.format
                )));
            }
            if meta.address != key.address() {
                // Its schedules are signed by another key: continuing would fork every hash chain.
                return Err(mismatch(format!(
                    "created by node {} but the key in it is {}; restore the original node-key.json",
                    meta.address,
                    key.address()
                )));
            }
            return Ok(meta);
        }
        let meta = NodeMeta {
            format: FORMAT_VERSION,
            address: key.address(),
            genesis_ms: clock.now_ms(),
            genesis_height: config.genesis_height,
        };
        let json = serde_json::to_vec(&meta).map_err(|e| StoreError::Corrupt {
            what: "node metadata",
            reason: e.to_string(),
        })?;
        let mut batch = Batch::new();
        batch.put_meta("node", &json);
        store.apply(&batch)?;
        store.flush_blocking()?;
        Ok(meta)
    }

    /// The delivery records per state and the open ones, from the store's indexes (for
    /// `/status` and `/metrics`: no record is read).
    pub fn delivery_summary(&self) -> Result<DeliverySummary, NodeError> {
        let store = &self.inner.store;
        let open = store.open_deliveries()?;
        let oldest_open_ms = open.iter().map(|(_, created)| *created).min();
        let now = self.inner.attester.now_ms();
        Ok(DeliverySummary {
            by_state: store.delivery_counts()?,
            open: open.len() as u64,
            oldest_open_ms,
            oldest_open_age_ms: oldest_open_ms.map_or(0, |t| now.saturating_sub(t)),
        })
    }

    /// Gives a dead delivery another go (`aolink replay`): back to collecting signatures, its
    /// failures forgotten. `Ok(Err(state))` names the state of a delivery that is not dead;
    /// `Ok(Ok(None))` means there is no such delivery.
    pub async fn replay_delivery(
        &self,
        id: &str,
    ) -> Result<Result<Option<DeliveryRecord>, &'static str>, NodeError> {
        let Some(raw) = self.inner.store.delivery(id)? else {
            return Ok(Ok(None));
        };
        let mut record = DeliveryRecord::decode(&raw).map_err(|e| StoreError::Corrupt {
            what: "delivery record",
            reason: e.to_string(),
        })?;
        if !matches!(record.state, DeliveryState::Dead { .. }) {
            return Ok(Err(record.state.name()));
        }
        let signed = !self
            .inner
            .attester
            .attestations(id)
            .map_err(|e| NodeError::Internal(e.to_string()))?
            .is_empty();
        record.state = if signed {
            DeliveryState::Signed
        } else {
            DeliveryState::Pending
        };
        record.failures = 0;
        record.next_attempt_ms = 0;
        record.last_error = None;
        let mut batch = Batch::new();
        batch.put_delivery(&record);
        self.inner.store.apply(&batch)?;
        self.inner.store.flush().await?;
        tracing::info!(id, state = record.state.name(), "dead delivery replayed");
        self.inner.attested.notify_one();
        Ok(Ok(Some(record)))
    }

    /// The attestation room.
    pub fn attester(&self) -> &Attester {
        &self.inner.attester
    }

    /// Resolves once new answers were recorded (the delivery pipeline waits on it).
    pub async fn answers_recorded(&self) {
        self.inner.attested.notified().await;
    }

    /// The node's address (its key's).
    pub fn address(&self) -> &str {
        self.inner.scheduler.address()
    }

    /// Records what component `name` reports of itself (replacing its last report); served
    /// at `GET /status`.
    pub fn report_status(&self, name: &str, status: ChainStatus) {
        let mut statuses = self
            .inner
            .statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        statuses.insert(name.to_string(), status);
    }

    /// Every component's last report, by name.
    pub fn statuses(&self) -> BTreeMap<String, ChainStatus> {
        self.inner
            .statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Why the node is not ready to be relied on (`/readyz`); empty when it is. The store must
    /// take a write and make it durable, and every chain must be healthy and within its
    /// readiness limits ([`ChainStatus::unready_reason`]).
    pub async fn unready_reasons(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        let now = self.inner.attester.now_ms();
        let mut probe = Batch::new();
        probe.put_meta("readyz/probe", &now.to_be_bytes());
        let written = match self.inner.store.apply(&probe) {
            Ok(()) => self.inner.store.flush().await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            reasons.push(format!("store: not writable: {e}"));
        }
        for (name, status) in self.statuses() {
            if let Some(reason) = status.unready_reason(now) {
                reasons.push(format!("{name}: {reason}"));
            }
        }
        reasons
    }

    /// The chain calls forwarded to processes this node does not have, since start.
    pub fn unrouted_calls(&self) -> UnroutedCalls {
        self.inner
            .unrouted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether this start created the node key.
    pub fn key_created(&self) -> bool {
        self.inner.key_created
    }

    /// The node key.
    pub fn key(&self) -> &NodeKey {
        &self.inner.key
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The scheduler.
    pub fn scheduler(&self) -> &Scheduler {
        &self.inner.scheduler
    }

    /// The compute unit.
    pub fn compute(&self) -> &Compute {
        &self.inner.compute
    }

    /// The configuration the node was opened with.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// Verifies and schedules a raw data item, and returns once the result is durable.
    /// A rejected item leaves nothing behind.
    pub async fn submit(&self, raw: Vec<u8>) -> Result<Outcome, NodeError> {
        self.submit_with_meta(raw, Vec::new()).await
    }

    /// As [`Node::submit`], writing the node-wide values `meta` in the same atomic batch as
    /// the item's slot: a chain adapter persists its cursor with the events it delivers, so a
    /// crash can neither lose nor repeat them. Read them back with [`Store::meta`].
    pub async fn submit_with_meta(
        &self,
        raw: Vec<u8>,
        meta: Vec<(String, Vec<u8>)>,
    ) -> Result<Outcome, NodeError> {
        self.submit_checked(None, raw, meta).await
    }

    /// As [`Node::submit_with_meta`] for an item this process has just signed itself (a chain
    /// adapter's batch): its signature is not verified again, which on multi-megabyte batches
    /// saves a second deep hash of the data. Items from anyone else go through `submit`.
    pub async fn submit_own_with_meta(
        &self,
        item: DataItem,
        meta: Vec<(String, Vec<u8>)>,
    ) -> Result<Outcome, NodeError> {
        let raw = item.to_bytes();
        self.submit_checked(Some(item), raw, meta).await
    }

    /// As [`Node::submit_own_with_meta`] for several items in order, each with its own meta
    /// in its own atomic batch, made durable by one flush at the end: a backfill's items of a
    /// range cost one fsync, not one each. Should the node stop half way, the items it kept
    /// are a prefix, each with its meta. On an error, the items before the failing one stay
    /// scheduled.
    pub async fn submit_own_all(
        &self,
        items: Vec<(DataItem, Vec<CursorWrite>)>,
    ) -> Result<Vec<Outcome>, NodeError> {
        let node = self.clone();
        let outcomes = tokio::task::spawn_blocking(move || {
            items
                .into_iter()
                .map(|(item, meta)| {
                    let raw = item.to_bytes();
                    node.intake(Some(item), &raw, &meta)
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| NodeError::Internal(e.to_string()))?;
        // What was scheduled before a failure is flushed too.
        self.inner.store.flush().await?;
        self.inner.crank.notify_one();
        outcomes
    }

    async fn submit_checked(
        &self,
        item: Option<DataItem>,
        raw: Vec<u8>,
        meta: Vec<(String, Vec<u8>)>,
    ) -> Result<Outcome, NodeError> {
        let node = self.clone();
        let outcome = tokio::task::spawn_blocking(move || node.intake(item, &raw, &meta))
            .await
            .map_err(|e| NodeError::Internal(e.to_string()))??;
        self.inner.store.flush().await?;
        self.inner.crank.notify_one();
        Ok(outcome)
    }

    /// Verifies (unless the node signed it: `item` given) and schedules one raw item with its
    /// meta, not yet durable. Blocking.
    fn intake(
        &self,
        item: Option<DataItem>,
        raw: &[u8],
        meta: &[(String, Vec<u8>)],
    ) -> Result<Outcome, NodeError> {
        let item = match item {
            Some(item) => item,
            None => DataItem::parse_verified(raw)?,
        };
        let span = tracing::debug_span!(
            "intake",
            message_id = %item.id_b64(),
            process = %item.target.map_or_else(|| item.id_b64(), |t| b64url_encode(&t)),
            action = item.tag("Action"),
        );
        let _in_span = span.enter();
        self.check_spawn(&item)?;
        let outcome = self.inner.scheduler.submit_with(&item, raw, meta)?;
        if matches!(
            outcome,
            Outcome::Stored {
                duplicate: false,
                ..
            }
        ) {
            // A new module may make waiting processes runnable.
            self.unrunnable().clear();
            *self.due() = None;
        }
        self.mark_due(&outcome);
        Ok(outcome)
    }

    fn due(&self) -> std::sync::MutexGuard<'_, Option<HashSet<Id>>> {
        self.inner.due.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues the process that `outcome` gave a slot for the crank.
    fn mark_due(&self, outcome: &Outcome) {
        if let Outcome::Scheduled(a) = outcome
            && let Ok(pid) = b64url_decode_32(&a.process, "process")
            && let Some(due) = self.due().as_mut()
        {
            due.insert(pid);
        }
    }

    fn unrunnable(&self) -> std::sync::MutexGuard<'_, HashSet<Id>> {
        self.inner
            .unrunnable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Refuses a spawn this node could never run: bad crons, a native device's bad
    /// configuration, or a module this node holds but cannot run (bad format, a validation
    /// failure, an import the host lacks, limits over the node's maximum). A spawn naming a
    /// module the node does not hold is scheduled: the SU's job does not depend on it, and the
    /// process becomes runnable once the module is posted.
    fn check_spawn(&self, item: &DataItem) -> Result<(), NodeError> {
        if item.tag("Type") != Some("Process") {
            return Ok(());
        }
        let refuse = |field: &'static str, reason: String| {
            NodeError::Schedule(ScheduleError::Rejected {
                field,
                reason: format!("{field}: {reason}"),
            })
        };
        let tags: Vec<(String, String)> = item
            .tags
            .iter()
            .map(|t| (t.name.clone(), t.value.clone()))
            .collect();
        crate::compute::cron::parse_crons(&tags).map_err(|e| {
            let field = if e.tag == "Cron-Interval" {
                "tags.Cron-Interval"
            } else {
                "tags.Cron-Tag"
            };
            refuse(field, e.to_string())
        })?;
        let native = item.tag("Device").is_some_and(crate::devices::is_native);
        if !native {
            let Some(module) = item
                .tag("Module")
                .and_then(|m| b64url_decode_32(m, "Module").ok())
            else {
                return Ok(());
            };
            if self.inner.store.item(&module)?.is_none() {
                return Ok(());
            }
        }
        self.inner.compute.setup(item).map(|_| ()).map_err(|e| {
            let reason = e.to_string();
            let field = if native {
                "tags.Device"
            } else if reason.contains("Memory-Limit") {
                "tags.Memory-Limit"
            } else if reason.contains("Compute-Limit") {
                "tags.Compute-Limit"
            } else {
                "tags.Module"
            };
            refuse(field, reason)
        })
    }

    /// Evaluates a process's cron ticks up to now (after everything scheduled on it), so
    /// `/cron` and monitors see them. Blocking.
    pub fn advance_crons(&self, pid: &Id) -> Result<(), NodeError> {
        // A process receiving a steady stream of messages may keep this from settling; its
        // crons then advance with those messages anyway.
        for _ in 0..8 {
            let evaluated = self.inner.compute.evaluate_to(pid, None)?;
            if let Some(horizon) = self.inner.scheduler.reserve_cron_horizon(pid, evaluated)? {
                self.inner.compute.evaluate_crons(pid, horizon)?;
                return Ok(());
            }
        }
        Ok(())
    }

    /// Starts pushing the outboxes of a process's cron results (`POST /monitor/{pid}`), from
    /// the cron results evaluated after now on. Idempotent. Survives restarts.
    pub fn monitor(&self, pid: &Id) -> Result<bool, NodeError> {
        let pid_b64 = b64url_encode(pid);
        if self.inner.store.process(pid)?.is_none() {
            return Err(ScheduleError::UnknownProcess(pid_b64).into());
        }
        let key = monitor_key(&pid_b64);
        if self.inner.store.meta(&key)?.is_some() {
            return Ok(false);
        }
        self.advance_crons(pid)?;
        let last = self
            .inner
            .store
            .crons_after(pid, None)
            .last()
            .transpose()?
            .map(|(pos, _)| pos);
        let mut batch = Batch::new();
        batch.put_meta(&key, &encode_cron_position(last));
        self.inner.store.apply(&batch)?;
        self.inner.store.flush_blocking()?;
        Ok(true)
    }

    /// Stops pushing a process's cron outboxes (`DELETE /monitor/{pid}`).
    pub fn unmonitor(&self, pid: &Id) -> Result<bool, NodeError> {
        let key = monitor_key(&b64url_encode(pid));
        if self.inner.store.meta(&key)?.is_none() {
            return Ok(false);
        }
        let mut batch = Batch::new();
        batch.delete_meta(&key);
        self.inner.store.apply(&batch)?;
        self.inner.store.flush_blocking()?;
        Ok(true)
    }

    /// The monitored processes.
    pub fn monitored(&self) -> Result<Vec<Id>, NodeError> {
        let mut out = Vec::new();
        for (name, _) in self.inner.store.meta_prefix(MONITOR_PREFIX)? {
            if let Some(pid) = name
                .strip_prefix(MONITOR_PREFIX)
                .and_then(|p| b64url_decode_32(p, "process").ok())
            {
                out.push(pid);
            }
        }
        Ok(out)
    }

    /// Pushes the outboxes of a monitored process's cron results not pushed yet. Returns
    /// whether anything was scheduled.
    fn push_crons(&self, pid: &Id) -> Result<bool, NodeError> {
        let pid_b64 = b64url_encode(pid);
        let key = monitor_key(&pid_b64);
        let store = &self.inner.store;
        let Some(raw) = store.meta(&key)? else {
            return Ok(false);
        };
        let mut position = decode_cron_position(&raw);
        let module = store.process(pid)?.map(|r| r.module).unwrap_or_default();
        let mut progressed = false;
        let rows: Vec<_> = store
            .crons_after(pid, position)
            .take(256)
            .collect::<Result<_, _>>()?;
        let more = rows.len() == 256;
        for (pos, raw) in rows {
            let stored: serde_json::Value =
                serde_json::from_slice(&raw).map_err(|e| StoreError::Corrupt {
                    what: "cron result",
                    reason: e.to_string(),
                })?;
            // A cron message has no id: its pushes name the process.
            progressed |= self.push_outbox(pid, &pid_b64, &module, &stored["result"], &pid_b64)?;
            position = Some(pos);
        }
        let mut batch = Batch::new();
        batch.put_meta(&key, &encode_cron_position(position));
        store.apply(&batch)?;
        Ok(progressed || more)
    }

    /// One monitor pass: advances the crons of every monitored process to now and pushes
    /// their outboxes. Returns whether anything was scheduled. Blocking.
    pub fn monitor_once(&self) -> Result<bool, NodeError> {
        let mut progressed = false;
        for pid in self.monitored()? {
            match self.advance_crons(&pid) {
                Ok(()) => progressed |= self.push_crons(&pid)?,
                Err(e) => {
                    tracing::warn!(process = %b64url_encode(&pid), error = %e, "cron evaluation failed");
                }
            }
        }
        if progressed {
            self.inner.store.flush_blocking()?;
        }
        Ok(progressed)
    }

    /// Starts the monitor loop: every `interval`, advances the crons of monitored processes
    /// and pushes their outboxes.
    pub fn start_monitor(&self, interval: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let node = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let worker = node.clone();
                let pass = tokio::task::spawn_blocking(move || worker.monitor_once()).await;
                match pass {
                    Ok(Ok(true)) => node.inner.crank.notify_one(),
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "monitor pass failed"),
                    Err(e) => tracing::error!(error = %e, "monitor worker died"),
                }
            }
        })
    }

    /// Starts the crank: evaluates processes with unevaluated messages and pushes their
    /// outboxes (messages, spawns, assignments) until nothing is left, whenever woken.
    pub fn start_crank(&self) -> tokio::task::JoinHandle<()> {
        let node = self.clone();
        // Work may be pending from before a restart.
        node.inner.crank.notify_one();
        tokio::spawn(async move {
            loop {
                node.inner.crank.notified().await;
                loop {
                    let worker = node.clone();
                    match tokio::task::spawn_blocking(move || worker.crank_once()).await {
                        Ok(Ok(true)) => continue,
                        Ok(Ok(false)) => break,
                        Ok(Err(e)) => {
                            tracing::error!(error = %e, "crank failed; retrying on the next message");
                            break;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "crank worker died");
                            break;
                        }
                    }
                }
            }
        })
    }

    /// One pass over the processes with new slots (every process after a start): evaluate
    /// what is scheduled, push what results ask for. Returns whether anything new was
    /// scheduled (then another pass is due).
    pub fn crank_once(&self) -> Result<bool, NodeError> {
        let due = self.due().replace(HashSet::new());
        let pass = self.crank_processes(due);
        if pass.is_err() {
            // Whatever this pass did not finish is retried in full by the next one.
            *self.due() = None;
        }
        pass
    }

    fn crank_processes(&self, due: Option<HashSet<Id>>) -> Result<bool, NodeError> {
        let store = &self.inner.store;
        let mut progressed = false;
        let mut touched = false;
        let records: Vec<_> = match due {
            None => store.processes().collect::<Result<_, _>>()?,
            Some(due) => {
                let mut records = Vec::with_capacity(due.len());
                for pid in due {
                    records.extend(store.process(&pid)?);
                }
                records
            }
        };
        for record in records {
            let pid = b64url_decode_32(&record.id, "process id")?;
            let cursor_key = format!("crank/{}", record.id);
            let cursor = store
                .meta(&cursor_key)?
                .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
                .map_or(0, u64::from_be_bytes);
            if cursor >= record.next_slot || self.unrunnable().contains(&pid) {
                progressed |= self.push_crons(&pid)?;
                continue;
            }
            match self.inner.compute.evaluate_to(&pid, None) {
                Ok(_) => {}
                Err(e @ (ComputeError::Unrunnable { .. } | ComputeError::UnknownProcess(_))) => {
                    tracing::info!(process = %record.id, reason = %e, "process not runnable yet");
                    self.unrunnable().insert(pid);
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            touched = true;
            match self.inner.attester.scan(&pid, record.next_slot) {
                Ok(0) => {}
                // A permit, not a broadcast: a pipeline busy with a pass sees it when it waits.
                Ok(_) => self.inner.attested.notify_one(),
                Err(AttestError::Store(e)) => return Err(e.into()),
                Err(e) => tracing::error!(process = %record.id, error = %e, "answers not recorded"),
            }
            for slot in cursor..record.next_slot {
                progressed |= self.push_result(&pid, &record.id, &record.module, slot)?;
            }
            progressed |= self.push_crons(&pid)?;
            let mut batch = Batch::new();
            batch.put_meta(&cursor_key, &record.next_slot.to_be_bytes());
            store.apply(&batch)?;
        }
        if touched {
            store.flush_blocking()?;
        }
        Ok(progressed)
    }

    fn push_result(
        &self,
        pid: &Id,
        pid_b64: &str,
        module: &str,
        slot: u64,
    ) -> Result<bool, NodeError> {
        let store = &self.inner.store;
        let (Some(raw), Some(entry)) = (store.result(pid, slot)?, store.entry(pid, slot)?) else {
            return Ok(false);
        };
        let span = tracing::debug_span!(
            "forward",
            process = %pid_b64,
            slot,
            message_id = %b64url_encode(&entry.message_id)
        );
        let _in_span = span.enter();
        let result: serde_json::Value =
            serde_json::from_slice(&raw).map_err(|e| StoreError::Corrupt {
                what: "result",
                reason: e.to_string(),
            })?;
        // Every hop of a chain names the message that started it (the MU's `initialTxId`):
        // apps look up a reply by `Pushed-For` = the user's own message id.
        let pushed_for = match store.item(&entry.message_id)? {
            Some(raw) => DataItem::parse(&raw)?
                .tag("Pushed-For")
                .map(str::to_string)
                .unwrap_or_else(|| b64url_encode(&entry.message_id)),
            None => b64url_encode(&entry.message_id),
        };
        self.push_outbox(pid, pid_b64, module, &result, &pushed_for)
    }

    /// Schedules what a result's outbox asks for (messages, spawns, assignments) on this
    /// node's processes. Returns whether anything new was scheduled.
    fn push_outbox(
        &self,
        _pid: &Id,
        pid_b64: &str,
        module: &str,
        result: &serde_json::Value,
        pushed_for: &str,
    ) -> Result<bool, NodeError> {
        let ctx = PushContext {
            process: pid_b64.to_string(),
            module: module.to_string(),
            pushed_for: pushed_for.to_string(),
            node_address: self.address().to_string(),
        };
        let out = pushes(self.inner.key.signer(), result, &ctx)?;
        for reason in &out.skipped {
            tracing::info!(process = pid_b64, reason = %reason, "outbox entry not pushed");
        }
        let scheduler = &self.inner.scheduler;
        let mut progressed = false;
        let mut submit = |item: &DataItem| -> Result<(), NodeError> {
            match scheduler.submit(item, &item.to_bytes()) {
                Ok(outcome @ Outcome::Scheduled(_)) => {
                    tracing::debug!(
                        pushed = %item.id_b64(),
                        target = ?item.target.map(|t| b64url_encode(&t)),
                        action = item.tag("Action"),
                        tx = item.tag("Chain-Tx"),
                        "forwarded"
                    );
                    self.mark_due(&outcome);
                    progressed = true;
                }
                Ok(_) => {}
                Err(e @ (ScheduleError::UnknownProcess(_) | ScheduleError::Rejected { .. })) => {
                    let target = item.target.map(|t| b64url_encode(&t)).unwrap_or_default();
                    if let Some(tx) = item.tag("Chain-Tx") {
                        // A dApp's call names a process this node does not have.
                        tracing::warn!(process = pid_b64, %target, tx, reason = %e, "chain call reaches no process here");
                        let mut unrouted = self
                            .inner
                            .unrouted
                            .lock()
                            .unwrap_or_else(|p| p.into_inner());
                        unrouted.count += 1;
                        unrouted.last = Some(format!("{tx} -> {target}: {e}"));
                    } else {
                        // Not a process of this node: the relayer delivers remote targets.
                        tracing::info!(process = pid_b64, %target, reason = %e, "outbox message not scheduled here");
                    }
                }
                Err(e) => return Err(e.into()),
            }
            Ok(())
        };
        for message in &out.messages {
            submit(message)?;
        }
        for (process, reply) in &out.spawns {
            submit(process)?;
            submit(reply)?;
        }
        for (processes, message) in &out.assignments {
            for process in processes {
                match scheduler.assign(process, message, &[]) {
                    Ok(outcome @ Outcome::Scheduled(_)) => {
                        self.mark_due(&outcome);
                        progressed = true;
                    }
                    Ok(_) => {}
                    Err(
                        e @ (ScheduleError::UnknownProcess(_)
                        | ScheduleError::UnknownMessage(_)
                        | ScheduleError::Rejected { .. }),
                    ) => {
                        tracing::info!(process = pid_b64, reason = %e, "assignment not made");
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(progressed)
    }

    /// Checkpoints every process's memory: call before exiting.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        let compute = self.inner.compute.clone();
        tokio::task::spawn_blocking(move || compute.checkpoint_all())
            .await
            .map_err(|e| NodeError::Internal(e.to_string()))??;
        self.inner.store.flush().await?;
        Ok(())
    }

    /// Assigns a message this node holds to one of its processes, durably.
    pub async fn assign(
        &self,
        process: String,
        message: String,
        exclude: Vec<String>,
    ) -> Result<Outcome, NodeError> {
        let node = self.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            node.inner.scheduler.assign(&process, &message, &exclude)
        })
        .await
        .map_err(|e| NodeError::Internal(e.to_string()))??;
        self.mark_due(&outcome);
        self.inner.store.flush().await?;
        self.inner.crank.notify_one();
        Ok(outcome)
    }
}

const MONITOR_PREFIX: &str = "monitor/";

fn monitor_key(pid_b64: &str) -> String {
    format!("{MONITOR_PREFIX}{pid_b64}")
}

/// A monitor's position: the last cron result pushed ((slot, seq)), or none yet.
fn encode_cron_position(position: Option<(u64, u32)>) -> Vec<u8> {
    match position {
        Some((slot, seq)) => {
            let mut v = slot.to_be_bytes().to_vec();
            v.extend_from_slice(&seq.to_be_bytes());
            v
        }
        None => Vec::new(),
    }
}

fn decode_cron_position(raw: &[u8]) -> Option<(u64, u32)> {
    let slot = u64::from_be_bytes(raw.get(..8)?.try_into().ok()?);
    let seq = u32::from_be_bytes(raw.get(8..12)?.try_into().ok()?);
    Some((slot, seq))
}
