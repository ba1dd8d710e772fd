//! The evaluation loop: one runtime per process, messages in slot order, results persisted,
//! errors rolled back, memory checkpointed.
//!
//! Rolling back a message whose result has an `Error` must restore the memory from before it.
//! Copying the whole memory (~70 MB for aos) before every message is what limits the JS CU, so
//! instead each runtime keeps a *base* memory snapshot plus the slots evaluated since. The host
//! keeps no state between calls except memory and reads its clock from the scheduled
//! `Timestamp`, so rebuilding from the base and replaying those slots reaches the same bytes.
//! The base is refreshed every `snapshot_every` messages, bounding the replay.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::cron::{Cron, CronPlan, Tick, parse_crons};
use super::message::{environment, scheduled_message};
use super::wasm::{
    Limits, ModuleFormat, WasmEngine, WasmError, WasmModule, WasmProcess, parse_memory_limit,
};
use crate::ans104::{DataItem, ItemError, b64url_decode_32, b64url_encode};
use crate::devices::{self, Device, DeviceEnv};
use crate::store::{
    Batch, CheckpointRecord, CronCursor, Id, NodeMeta, Store, StoreError, cron_horizon_key,
};
use aolink_primitives::ao::Assignment;

/// How evaluation is tuned.
#[derive(Clone, Debug)]
pub struct ComputeConfig {
    /// Messages between memory checkpoints written to disk.
    pub checkpoint_every: u64,
    /// Messages between in-memory rollback snapshots (bounds the replay after an error).
    pub snapshot_every: u64,
    /// Largest `Memory-Limit` accepted, and the limit when neither process nor module names one.
    pub max_memory: u64,
    /// Largest `Compute-Limit` accepted, and the limit when neither names one.
    pub max_compute: u64,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig {
            checkpoint_every: 500,
            snapshot_every: 64,
            // The JS CU's PROCESS_WASM_MEMORY_MAX_LIMIT and PROCESS_WASM_COMPUTE_MAX_LIMIT.
            max_memory: 1024 * 1024 * 1024,
            max_compute: 9_000_000_000_000,
        }
    }
}

/// Errors from evaluation.
#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    /// The process is not scheduled by this node.
    #[error("process {0} is not scheduled by this node")]
    UnknownProcess(String),
    /// The process cannot run: its module is missing, malformed or refused.
    #[error("process {process} cannot be evaluated: {reason}")]
    Unrunnable {
        /// The process.
        process: String,
        /// Why.
        reason: String,
    },
    /// The host failed.
    #[error("wasm host: {0}")]
    Wasm(#[from] WasmError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored item does not parse.
    #[error("stored item: {0}")]
    Item(#[from] ItemError),
    /// A checkpoint file could not be written or read.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Replaying messages after a rollback did not reproduce their results: the host is not
    /// deterministic. Evaluation stops rather than compute a state no other node would.
    #[error("process {process} slot {slot}: replay diverged from the original evaluation")]
    Diverged {
        /// The process.
        process: String,
        /// The slot that diverged.
        slot: u64,
    },
}

/// What runs a process: a WASM module or a native device.
#[derive(Clone)]
pub enum Program {
    /// An AO process module under wasmtime.
    Wasm {
        /// The module id.
        module_id: Id,
        /// The compiled module.
        module: WasmModule,
        /// The limits in force.
        limits: Limits,
        /// The `env` JSON passed to every `handle`.
        env_json: String,
    },
    /// A native device (see [`crate::devices`]).
    Device {
        /// Its name (`mirror@1.0`).
        name: String,
        /// The process as the device sees it.
        env: DeviceEnv,
    },
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Program::Wasm { module_id, .. } => f
                .debug_struct("Wasm")
                .field("module", &b64url_encode(module_id))
                .finish_non_exhaustive(),
            Program::Device { name, .. } => f.debug_struct("Device").field("name", name).finish(),
        }
    }
}

/// What a process needs to run, resolved from its item (and its module's item).
#[derive(Clone, Debug)]
pub struct ProcessSetup {
    /// Its program.
    pub program: Program,
    /// Its crons (empty for most processes).
    pub crons: Vec<Cron>,
}

/// A running instance of a [`Program`]. Not boxed: a runtime holds one, and the WASM variant
/// is the common one.
#[allow(clippy::large_enum_variant)]
enum Live {
    Wasm(WasmProcess),
    Device(Box<dyn Device>),
}

impl Program {
    /// A fresh instance, or one restored from `memory` (a checkpoint or snapshot).
    fn start(&self, memory: Option<&[u8]>) -> Result<Live, ComputeError> {
        Ok(match self {
            Program::Wasm { module, limits, .. } => Live::Wasm(match memory {
                Some(memory) => WasmProcess::from_memory(module, *limits, memory)?,
                None => WasmProcess::new(module, *limits)?,
            }),
            Program::Device { name, env } => Live::Device(
                match memory {
                    Some(state) => devices::restore(name, env, state),
                    None => devices::create(name, env),
                }
                .map_err(|e| ComputeError::Unrunnable {
                    process: env.process_id.clone(),
                    reason: e.to_string(),
                })?,
            ),
        })
    }
}

impl Live {
    /// Handles one message: the result as the CU stores it, and whether the state changes
    /// stand (false when the result has an `Error`).
    fn handle(
        &mut self,
        program: &Program,
        msg: &Value,
        timestamp: i64,
    ) -> Result<(Value, bool), ComputeError> {
        match (self, program) {
            (Live::Wasm(p), Program::Wasm { env_json, .. }) => {
                let outcome = p.handle(&msg.to_string(), env_json, timestamp)?;
                Ok((cu_result(outcome.result), outcome.keep_memory))
            }
            (Live::Device(d), _) => {
                let reply = d.handle(&devices::Message::from_json(msg));
                Ok((reply.to_result(), reply.error.is_none()))
            }
            (Live::Wasm(_), Program::Device { env, .. }) => Err(ComputeError::Unrunnable {
                process: env.process_id.clone(),
                reason: "a WASM instance for a device process".into(),
            }),
        }
    }

    /// The state to checkpoint: linear memory, or the device's saved bytes.
    fn memory(&self) -> Cow<'_, [u8]> {
        match self {
            Live::Wasm(p) => Cow::Borrowed(p.memory()),
            Live::Device(d) => Cow::Owned(d.save()),
        }
    }
}

/// One evaluated message, as the rollback replays it.
#[derive(Clone, Debug)]
enum Step {
    Slot(u64),
    Tick(Tick),
}

struct CronRun {
    plan: CronPlan,
    cursor: CronCursor,
}

struct Runtime {
    pid: Id,
    program: Program,
    live: Option<Live>,
    base: Option<Arc<Vec<u8>>>,
    replay: Vec<Step>,
    next_slot: u64,
    since_checkpoint: u64,
    cron: Option<CronRun>,
}

struct Inner {
    store: Store,
    data_dir: PathBuf,
    engine: WasmEngine,
    config: ComputeConfig,
    meta: NodeMeta,
    runtimes: Mutex<HashMap<Id, Arc<Mutex<Runtime>>>>,
    modules: Mutex<HashMap<Id, WasmModule>>,
    latency: super::latency::LatencyHistogram,
}

/// The compute unit. Cheap to clone.
#[derive(Clone)]
pub struct Compute {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compute").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic mid-evaluation leaves at worst a runtime whose live instance is rebuilt from its
    // base on the next message; the data is still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Cron ticks evaluated per store batch.
const TICKS_PER_BATCH: usize = 64;

impl Compute {
    /// A compute unit over `store`, keeping compiled modules and checkpoints under `data_dir`,
    /// generating block crons on the block clock of `meta`.
    pub fn new(
        store: Store,
        data_dir: &Path,
        config: ComputeConfig,
        meta: &NodeMeta,
    ) -> Result<Compute, ComputeError> {
        let engine = WasmEngine::new(Some(&data_dir.join("module-cache")))?;
        Ok(Compute {
            inner: Arc::new(Inner {
                store,
                data_dir: data_dir.to_path_buf(),
                engine,
                config,
                meta: meta.clone(),
                runtimes: Mutex::new(HashMap::new()),
                modules: Mutex::new(HashMap::new()),
                latency: super::latency::LatencyHistogram::default(),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ComputeConfig {
        &self.inner.config
    }

    /// The WASM engine (for its module cache statistics).
    pub fn engine(&self) -> &WasmEngine {
        &self.inner.engine
    }

    /// Resolves what a process item needs to run, compiling its module or creating its
    /// device: the check a spawn must pass. Errors name what is wrong (missing module, bad
    /// format, bad limits, a module the host refuses, a device's bad configuration, bad crons).
    pub fn setup(&self, process: &DataItem) -> Result<ProcessSetup, ComputeError> {
        let pid = process.id_b64();
        let unrunnable = |reason: String| ComputeError::Unrunnable {
            process: pid.clone(),
            reason,
        };
        let tags: Vec<(String, String)> = process
            .tags
            .iter()
            .map(|t| (t.name.clone(), t.value.clone()))
            .collect();
        let crons = parse_crons(&tags).map_err(|e| unrunnable(e.to_string()))?;
        if let Some(name) = process.tag("Device").filter(|d| devices::is_native(d)) {
            let env = DeviceEnv {
                process_id: pid.clone(),
                owner: process.owner_address(),
                tags,
            };
            devices::create(name, &env).map_err(|e| unrunnable(format!("device {name}: {e}")))?;
            return Ok(ProcessSetup {
                program: Program::Device {
                    name: name.to_string(),
                    env,
                },
                crons,
            });
        }
        let module_tag = process
            .tag("Module")
            .ok_or_else(|| unrunnable("it has no Module tag".into()))?;
        let module_id =
            b64url_decode_32(module_tag, "Module").map_err(|e| unrunnable(e.to_string()))?;
        let raw = self.inner.store.item(&module_id)?.ok_or_else(|| {
            unrunnable(format!(
                "module {module_tag} is not held by this node (post its Type=Module item first)"
            ))
        })?;
        let module_item = DataItem::parse(&raw)?;
        if module_item.tag("Type") != Some("Module") {
            return Err(unrunnable(format!(
                "{module_tag} is not a Type=Module item"
            )));
        }
        let format_tag = module_item
            .tag("Module-Format")
            .ok_or_else(|| unrunnable(format!("module {module_tag} has no Module-Format tag")))?;
        let format = ModuleFormat::parse(format_tag).map_err(|e| unrunnable(e.to_string()))?;
        let config = &self.inner.config;
        // The process's tag wins over the module's, as in the CU.
        let tag = |name: &str| process.tag(name).or_else(|| module_item.tag(name));
        let memory_bytes = match tag("Memory-Limit") {
            Some(v) => {
                parse_memory_limit(v).map_err(|e| unrunnable(format!("Memory-Limit: {e}")))?
            }
            None => config.max_memory,
        };
        if memory_bytes > config.max_memory {
            return Err(unrunnable(format!(
                "Memory-Limit {memory_bytes} exceeds this node's maximum {}",
                config.max_memory
            )));
        }
        let compute = match tag("Compute-Limit") {
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map_err(|_| unrunnable(format!("Compute-Limit {v:?} is not a whole number")))?,
            None => config.max_compute,
        };
        if compute > config.max_compute {
            return Err(unrunnable(format!(
                "Compute-Limit {compute} exceeds this node's maximum {}",
                config.max_compute
            )));
        }
        let module = self
            .module(&module_id, &module_item, format)
            .map_err(|e| unrunnable(format!("module {module_tag}: {e}")))?;
        Ok(ProcessSetup {
            program: Program::Wasm {
                module_id,
                module,
                limits: Limits {
                    memory_bytes,
                    compute,
                },
                env_json: environment(process, &module_item).to_string(),
            },
            crons,
        })
    }

    fn module(
        &self,
        id: &Id,
        item: &DataItem,
        format: ModuleFormat,
    ) -> Result<WasmModule, WasmError> {
        if let Some(m) = lock(&self.inner.modules).get(id) {
            return Ok(m.clone());
        }
        let module = self.inner.engine.compile(&item.data, format)?;
        lock(&self.inner.modules).insert(*id, module.clone());
        Ok(module)
    }

    fn runtime(&self, pid: &Id) -> Result<Arc<Mutex<Runtime>>, ComputeError> {
        if let Some(rt) = lock(&self.inner.runtimes).get(pid) {
            return Ok(rt.clone());
        }
        let pid_b64 = b64url_encode(pid);
        let raw = self
            .inner
            .store
            .item(pid)?
            .ok_or_else(|| ComputeError::UnknownProcess(pid_b64.clone()))?;
        let process = DataItem::parse(&raw)?;
        let setup = self.setup(&process)?;
        let checkpoint = self.inner.store.checkpoint(pid)?;
        let cron = if setup.crons.is_empty() {
            None
        } else {
            let origin = self.assignment(pid, 0)?;
            let plan = CronPlan::new(
                setup.crons,
                pid_b64.clone(),
                process.owner_address(),
                (origin.timestamp, origin.block_height),
                &self.inner.meta,
            );
            let cursor = checkpoint
                .as_ref()
                .and_then(|c| c.cron)
                .unwrap_or(CronCursor {
                    left: origin.timestamp,
                    next: origin.timestamp,
                    height: origin.block_height,
                    seq: 0,
                });
            plan.map(|plan| CronRun { plan, cursor })
        };
        let (base, next_slot) = match &checkpoint {
            Some(record) => (
                Some(Arc::new(self.read_checkpoint(record)?)),
                record.slot.saturating_add(1),
            ),
            None => (None, 0),
        };
        let runtime = Arc::new(Mutex::new(Runtime {
            pid: *pid,
            program: setup.program,
            live: None,
            base,
            replay: Vec::new(),
            next_slot,
            since_checkpoint: 0,
            cron,
        }));
        Ok(lock(&self.inner.runtimes)
            .entry(*pid)
            .or_insert(runtime)
            .clone())
    }

    fn assignment(&self, pid: &Id, slot: u64) -> Result<Assignment, ComputeError> {
        let entry = self
            .inner
            .store
            .entry(pid, slot)?
            .ok_or_else(|| StoreError::Corrupt {
                what: "schedule",
                reason: format!("slot {slot} of {} is missing", b64url_encode(pid)),
            })?;
        Ok(
            Assignment::from_item(&DataItem::parse(&entry.assignment)?)
                .map_err(StoreError::from)?,
        )
    }

    /// How long evaluations have taken since start.
    pub fn latency(&self) -> &super::latency::LatencyHistogram {
        &self.inner.latency
    }

    /// Evaluates `process` up to and including `slot` (or its newest slot), persisting every
    /// result, with the cron messages due between its messages. Blocking: call it from a
    /// blocking thread.
    pub fn evaluate_to(&self, pid: &Id, slot: Option<u64>) -> Result<u64, ComputeError> {
        let record = self
            .inner
            .store
            .process(pid)?
            .ok_or_else(|| ComputeError::UnknownProcess(b64url_encode(pid)))?;
        let newest = record.next_slot.saturating_sub(1);
        let target = slot.map_or(newest, |s| s.min(newest));
        let runtime = self.runtime(pid)?;
        let mut rt = lock(&runtime);
        self.evaluate_locked(&mut rt, target)?;
        Ok(rt.next_slot)
    }

    fn evaluate_locked(&self, rt: &mut Runtime, target: u64) -> Result<(), ComputeError> {
        let pid = rt.pid;
        let mut batch = Batch::new();
        let result = (|| {
            while rt.next_slot <= target {
                let slot = rt.next_slot;
                let (msg, a) = self.message_at(&pid, slot)?;
                let span = tracing::debug_span!(
                    "evaluate",
                    process = %a.process,
                    slot,
                    message_id = %a.message
                );
                let _in_span = span.enter();
                if let Some(left) = slot.checked_sub(1) {
                    self.run_ticks(rt, &mut batch, left, a.timestamp)?;
                }
                let started = std::time::Instant::now();
                let result = self.step(rt, Step::Slot(slot), &msg, a.timestamp)?;
                self.inner.latency.record(started.elapsed());
                tracing::debug!(
                    error = result.get("Error").is_some(),
                    messages = result["Messages"].as_array().map_or(0, Vec::len),
                    "evaluated"
                );
                batch.put_result(&pid, slot, result.to_string().as_bytes());
                rt.next_slot = slot.saturating_add(1);
                if let Some(cron) = rt.cron.as_mut() {
                    cron.cursor = CronCursor {
                        left: a.timestamp,
                        next: a.timestamp,
                        height: a.block_height,
                        seq: 0,
                    };
                }
                rt.since_checkpoint = rt.since_checkpoint.saturating_add(1);
                if rt.since_checkpoint >= self.inner.config.checkpoint_every {
                    self.inner.store.apply(&std::mem::take(&mut batch))?;
                    self.checkpoint(rt)?;
                } else if batch.len() >= 64 {
                    self.inner.store.apply(&std::mem::take(&mut batch))?;
                }
            }
            Ok(())
        })();
        // Keep what was evaluated before a failure too: the cursors have moved past it.
        if !batch.is_empty() {
            self.inner.store.apply(&batch)?;
        }
        result
    }

    /// Evaluates the cron ticks after slot `left` up to (not including) `right`, adding their
    /// results to `batch` (flushed every few ticks: the runtime's cursor has moved past them).
    fn run_ticks(
        &self,
        rt: &mut Runtime,
        batch: &mut Batch,
        left: u64,
        right: i64,
    ) -> Result<(), ComputeError> {
        loop {
            let Some(cron) = rt.cron.as_ref() else {
                return Ok(());
            };
            let c = cron.cursor;
            let (ticks, next, height) =
                cron.plan
                    .ticks(c.left, c.next, c.height, right, TICKS_PER_BATCH);
            let done = ticks.len() < TICKS_PER_BATCH;
            for tick in ticks {
                let Some(cron) = rt.cron.as_ref() else {
                    return Ok(());
                };
                let msg = cron.plan.message(&tick);
                let label = cron.plan.label(&tick);
                let seq = cron.cursor.seq;
                let timestamp = tick.timestamp;
                let result = self.step(rt, Step::Tick(tick), &msg, timestamp)?;
                let stored = json!({"timestamp": timestamp, "cron": label, "result": result});
                batch.put_cron(&rt.pid, left, seq, stored.to_string().as_bytes());
                if let Some(cron) = rt.cron.as_mut() {
                    cron.cursor.seq = seq.saturating_add(1);
                }
            }
            if let Some(cron) = rt.cron.as_mut() {
                cron.cursor.next = next;
                cron.cursor.height = height;
            }
            if !batch.is_empty() {
                self.inner.store.apply(&std::mem::take(batch))?;
            }
            if done {
                return Ok(());
            }
        }
    }

    /// Evaluates everything scheduled, then the process's cron ticks up to (not including)
    /// `horizon`. The caller must make sure nothing is scheduled on the process before
    /// `horizon` from now on (the scheduler's `reserve_cron_horizon` does); the
    /// horizon is recorded with the results so that this holds across restarts too.
    pub fn evaluate_crons(&self, pid: &Id, horizon: i64) -> Result<(), ComputeError> {
        let runtime = self.runtime(pid)?;
        let mut rt = lock(&runtime);
        let record = self
            .inner
            .store
            .process(pid)?
            .ok_or_else(|| ComputeError::UnknownProcess(b64url_encode(pid)))?;
        self.evaluate_locked(&mut rt, record.next_slot.saturating_sub(1))?;
        let Some(left) = rt.next_slot.checked_sub(1) else {
            return Ok(());
        };
        if rt.cron.is_none() {
            return Ok(());
        }
        // A message scheduled since (the caller's reservation keeps its timestamp at or past
        // the horizon, so this only matters to direct callers) bounds the ticks.
        let horizon = match self.inner.store.entry(pid, rt.next_slot)? {
            Some(entry) => horizon.min(entry.timestamp),
            None => horizon,
        };
        let mut batch = Batch::new();
        self.run_ticks(&mut rt, &mut batch, left, horizon)?;
        let mut batch = Batch::new();
        batch.put_meta(
            &cron_horizon_key(&b64url_encode(pid)),
            &horizon.to_be_bytes(),
        );
        self.inner.store.apply(&batch)?;
        Ok(())
    }

    /// Builds the `msg` of `slot` from the schedule.
    fn message_at(&self, pid: &Id, slot: u64) -> Result<(Value, Assignment), ComputeError> {
        let store = &self.inner.store;
        let missing = |what: String| StoreError::Corrupt {
            what: "schedule",
            reason: what,
        };
        let entry = store
            .entry(pid, slot)?
            .ok_or_else(|| missing(format!("slot {slot} of {} is missing", b64url_encode(pid))))?;
        let assignment = Assignment::from_item(&DataItem::parse(&entry.assignment)?)
            .map_err(StoreError::from)?;
        let raw = store.item(&entry.message_id)?.ok_or_else(|| {
            missing(format!(
                "message {} is missing",
                b64url_encode(&entry.message_id)
            ))
        })?;
        let item = DataItem::parse(&raw)?;
        Ok((scheduled_message(&item, &assignment), assignment))
    }

    /// Evaluates one message on the runtime, rolling its state back if the result is an error.
    fn step(
        &self,
        rt: &mut Runtime,
        step: Step,
        msg: &Value,
        timestamp: i64,
    ) -> Result<Value, ComputeError> {
        self.ensure_live(rt)?;
        let live = rt.live.as_mut().ok_or_else(|| ComputeError::Unrunnable {
            process: b64url_encode(&rt.pid),
            reason: "no live instance".into(),
        })?;
        let (result, keep) = live.handle(&rt.program, msg, timestamp)?;
        if keep {
            rt.replay.push(step);
            if rt.replay.len() as u64 >= self.inner.config.snapshot_every {
                let memory = live.memory().into_owned();
                rt.base = Some(Arc::new(memory));
                rt.replay.clear();
            }
        } else {
            // The instance may be corrupt (a trap) or hold this message's changes: drop it.
            rt.live = None;
        }
        Ok(result)
    }

    /// Rebuilds the live instance from the base snapshot and the messages evaluated since.
    fn ensure_live(&self, rt: &mut Runtime) -> Result<(), ComputeError> {
        if rt.live.is_some() {
            return Ok(());
        }
        let mut live = rt.program.start(rt.base.as_deref().map(Vec::as_slice))?;
        for step in rt.replay.clone() {
            let (msg, timestamp, slot) = match &step {
                Step::Slot(slot) => {
                    let (msg, a) = self.message_at(&rt.pid, *slot)?;
                    (msg, a.timestamp, *slot)
                }
                Step::Tick(tick) => match &rt.cron {
                    Some(cron) => (cron.plan.message(tick), tick.timestamp, rt.next_slot),
                    None => continue,
                },
            };
            let (_, keep) = live.handle(&rt.program, &msg, timestamp)?;
            if !keep {
                return Err(ComputeError::Diverged {
                    process: b64url_encode(&rt.pid),
                    slot,
                });
            }
        }
        rt.live = Some(live);
        Ok(())
    }

    fn checkpoint_path(&self, pid: &Id, slot: u64) -> (PathBuf, String) {
        let relative = format!("checkpoints/{}/{slot:020}.zst", b64url_encode(pid));
        (self.inner.data_dir.join(&relative), relative)
    }

    /// Writes the runtime's current state as a checkpoint: the compressed file is synced and
    /// renamed into place before the record that names it is committed, so a record never
    /// points at a partial file.
    fn checkpoint(&self, rt: &mut Runtime) -> Result<(), ComputeError> {
        self.ensure_live(rt)?;
        let Some(live) = rt.live.as_ref() else {
            return Ok(());
        };
        let Some(slot) = rt.next_slot.checked_sub(1) else {
            return Ok(());
        };
        let memory = live.memory().into_owned();
        let (path, relative) = self.checkpoint_path(&rt.pid, slot);
        let fail = |reason: String| ComputeError::Checkpoint {
            path: path.clone(),
            reason,
        };
        let dir = path
            .parent()
            .ok_or_else(|| fail("no parent directory".into()))?;
        fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let compressed = zstd::bulk::compress(&memory, 1).map_err(|e| fail(e.to_string()))?;
        let tmp = path.with_extension("zst.tmp");
        let mut file = fs::File::create(&tmp).map_err(|e| fail(e.to_string()))?;
        file.write_all(&compressed)
            .map_err(|e| fail(e.to_string()))?;
        file.sync_all().map_err(|e| fail(e.to_string()))?;
        fs::rename(&tmp, &path).map_err(|e| fail(e.to_string()))?;
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| fail(e.to_string()))?;
        let previous = self.inner.store.checkpoint(&rt.pid)?;
        let mut batch = Batch::new();
        batch.put_checkpoint(
            &rt.pid,
            &CheckpointRecord {
                slot,
                file: relative.clone(),
                memory_len: memory.len() as u64,
                memory_sha256: hex::encode(Sha256::digest(&memory)),
                cron: rt.cron.as_ref().map(|c| c.cursor),
            },
        )?;
        self.inner.store.apply(&batch)?;
        self.inner.store.flush_blocking()?;
        if let Some(old) = previous.filter(|p| p.file != relative) {
            // Best effort: a leftover file costs disk, never correctness.
            let _ = fs::remove_file(self.inner.data_dir.join(old.file));
        }
        rt.base = Some(Arc::new(memory));
        rt.replay.clear();
        rt.since_checkpoint = 0;
        Ok(())
    }

    fn read_checkpoint(&self, record: &CheckpointRecord) -> Result<Vec<u8>, ComputeError> {
        let path = self.inner.data_dir.join(&record.file);
        let fail = |reason: String| ComputeError::Checkpoint {
            path: path.clone(),
            reason,
        };
        let compressed = fs::read(&path).map_err(|e| fail(e.to_string()))?;
        let capacity = usize::try_from(record.memory_len).map_err(|e| fail(e.to_string()))?;
        let memory =
            zstd::bulk::decompress(&compressed, capacity).map_err(|e| fail(e.to_string()))?;
        if hex::encode(Sha256::digest(&memory)) != record.memory_sha256 {
            return Err(fail("memory does not match its recorded sha256".into()));
        }
        Ok(memory)
    }

    /// Checkpoints every live process (on shutdown).
    pub fn checkpoint_all(&self) -> Result<(), ComputeError> {
        let runtimes: Vec<_> = lock(&self.inner.runtimes).values().cloned().collect();
        for runtime in runtimes {
            let mut rt = lock(&runtime);
            let ticked = rt.cron.as_ref().is_some_and(|c| c.cursor.seq > 0);
            if rt.since_checkpoint > 0 || ticked {
                self.checkpoint(&mut rt)?;
            }
        }
        Ok(())
    }

    /// Forgets every in-memory runtime, so the next evaluation restores from checkpoints
    /// (tests of restart; an operator's memory pressure valve).
    pub fn unload_all(&self) {
        lock(&self.inner.runtimes).clear();
    }

    /// sha256 of a process's state after evaluating everything scheduled, and the slot count.
    pub fn memory_hash(&self, pid: &Id) -> Result<(String, u64), ComputeError> {
        let (memory, last) = self.state(pid)?;
        Ok((
            hex::encode(Sha256::digest(&memory)),
            last.map_or(0, |l| l.saturating_add(1)),
        ))
    }

    /// The process's state (memory, or a device's saved bytes) after evaluating everything
    /// scheduled, and the last slot in it.
    pub fn state(&self, pid: &Id) -> Result<(Vec<u8>, Option<u64>), ComputeError> {
        let next = self.evaluate_to(pid, None)?;
        let runtime = self.runtime(pid)?;
        let mut rt = lock(&runtime);
        self.ensure_live(&mut rt)?;
        let memory = rt
            .live
            .as_ref()
            .map(|l| l.memory().into_owned())
            .unwrap_or_default();
        Ok((memory, next.checked_sub(1)))
    }

    /// Evaluates `msg` on a copy of the process's current state; nothing is kept or stored.
    pub fn dry_run(&self, pid: &Id, msg: &Value) -> Result<Value, ComputeError> {
        self.evaluate_to(pid, None)?;
        let runtime = self.runtime(pid)?;
        let mut rt = lock(&runtime);
        self.ensure_live(&mut rt)?;
        // Restore straight from the live state: no intermediate copy of it.
        let mut scratch = match rt.live.as_ref() {
            Some(live) => rt.program.start(Some(&live.memory()))?,
            None => rt.program.start(None)?,
        };
        let timestamp = msg["Timestamp"].as_i64().unwrap_or(0);
        let (result, _) = scratch.handle(&rt.program, msg, timestamp)?;
        Ok(result)
    }

    /// The stored result of `slot`, evaluating up to it first.
    pub fn result(&self, pid: &Id, slot: u64) -> Result<Value, ComputeError> {
        self.evaluate_to(pid, Some(slot))?;
        let raw = self
            .inner
            .store
            .result(pid, slot)?
            .ok_or(StoreError::Corrupt {
                what: "result",
                reason: format!("slot {slot} was evaluated but has no result"),
            })?;
        serde_json::from_slice(&raw).map_err(|e| {
            ComputeError::Store(StoreError::Corrupt {
                what: "result",
                reason: e.to_string(),
            })
        })
    }
}

/// Evaluates `messages` (each a `msg` object as ao-loader's `handle` takes it) one after the
/// other on a fresh instance of `module`, carrying memory from one to the next and discarding
/// the memory changes of any message whose result is an error, exactly as the node does (with
/// the same base-snapshot-and-replay rollback, so no memory is copied per message).
/// This is `aolink eval`: a process developer's local loop, and the differential test's side.
pub fn evaluate_sequence(
    module: &WasmModule,
    limits: Limits,
    env: &Value,
    messages: &[Value],
    snapshot_every: usize,
) -> Result<Vec<Value>, ComputeError> {
    let env_json = env.to_string();
    let timestamp = |msg: &Value| {
        msg["Timestamp"]
            .as_i64()
            .or_else(|| msg["Timestamp"].as_str().and_then(|t| t.parse().ok()))
            .unwrap_or(0)
    };
    let mut base: Option<Vec<u8>> = None;
    let mut replay: Vec<usize> = Vec::new();
    let mut live: Option<WasmProcess> = None;
    let mut results = Vec::with_capacity(messages.len());
    for (index, msg) in messages.iter().enumerate() {
        let process = match live.as_mut() {
            Some(p) => p,
            None => {
                let mut fresh = match &base {
                    Some(memory) => WasmProcess::from_memory(module, limits, memory)?,
                    None => WasmProcess::new(module, limits)?,
                };
                for &i in &replay {
                    let again = &messages[i];
                    if !fresh
                        .handle(&again.to_string(), &env_json, timestamp(again))?
                        .keep_memory
                    {
                        return Err(ComputeError::Diverged {
                            process: "eval".into(),
                            slot: i as u64,
                        });
                    }
                }
                live.insert(fresh)
            }
        };
        let outcome = process.handle(&msg.to_string(), &env_json, timestamp(msg))?;
        if outcome.keep_memory {
            replay.push(index);
            if replay.len() >= snapshot_every.max(1) {
                base = Some(process.memory().to_vec());
                replay.clear();
            }
        } else {
            live = None;
        }
        results.push(outcome.result);
    }
    Ok(results)
}

/// A result as the CU stores and serves it: missing `Messages`, `Spawns` and `Assignments`
/// default to `[]` (`mergeOutput`), which ao-loader itself leaves absent.
pub fn cu_result(mut result: Value) -> Value {
    if let Value::Object(map) = &mut result {
        for key in ["Messages", "Spawns", "Assignments"] {
            if map.get(key).is_none_or(Value::is_null) {
                map.insert(key.to_string(), Value::Array(Vec::new()));
            }
        }
    }
    result
}

/// The result fields `aolink eval` prints and the differential test compares.
pub fn public_result(result: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for key in ["Output", "Messages", "Spawns", "Assignments", "Error"] {
        if let Some(v) = result.get(key) {
            out.insert(key.to_string(), v.clone());
        }
    }
    Value::Object(out)
}
