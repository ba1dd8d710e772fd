//! The WebAssembly host: runs real AO process modules (aos, Lua 5.3 compiled by emscripten)
//! under wasmtime with the results `@permaweb/ao-loader@0.0.49` gives.
//!
//! * [`WasmEngine`] compiles a module once per (module bytes, format) and checks that this host
//!   can run it: every import must be one the format's glue provides (named in the error
//!   otherwise), the exports the format needs must be there, and the memory must be 64-bit for
//!   [`ModuleFormat::Wasm64`] only.
//! * [`WasmProcess`] is one live instance with its linear memory. [`WasmProcess::handle`] passes
//!   `msg` and `env` as ao-loader's `ccall` does (on the wasm stack, or through `malloc` when the
//!   stack lacks room), reads the result up to its NUL and interprets it as ao-loader does.
//!   Memory is carried in place from one call to the next: nothing is copied per call.
//!
//! Determinism: no import reads the wall clock, randomness or the network, and no host state
//! survives from one `handle` to the next except linear memory. So
//! [`WasmProcess::from_memory`] of a snapshot followed by a message gives the same result (and
//! the same memory) as the live instance. The module's clock is chosen per engine ([`Clock`]):
//! by default ao-loader's `deterministicNow` counter restarted at every call, which makes Lua's
//! string-hash seed (taken from `time(NULL)` when Lua boots) and so `pairs` order identical to
//! ao-loader's; the older formats' `_emscripten_date_now` is 0 as in their glue.
//!
//! Every call into the module runs on a scoped thread with a 12 MiB stack, so deep (but
//! Lua-bounded) C recursion behaves as under ao-loader whatever the caller's stack.
//!
//! After a [`HandleOutcome`] with `keep_memory == false` the process refuses further calls
//! ([`WasmError::Poisoned`]): rebuild it with [`WasmProcess::from_memory`] from the last good
//! memory.

mod host;
mod jstime;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, ExternType, Func, InstancePre, Linker, Module, Store, Trap, Val};

use host::{ExportNames, Exports, GrowLimiter, HostConfig, HostState, HostTrap, Longjmp};

pub use aolink_primitives::ModuleFormat;

/// Per-process limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Linear memory may not grow past this (growth then fails gracefully: Lua raises
    /// "not enough memory"). The module's own maximum applies as well.
    pub memory_bytes: u64,
    /// Per-message budget: wasmtime fuel (about one unit per instruction) and, for pre-metered
    /// binaries, the glue's gas limit.
    pub compute: u64,
}

/// Parses a `Memory-Limit` value as the CU does (`bytes.parse(value.replace('-', ''))`):
/// `1-gb` is 1073741824; units `b`, `kb`, `mb`, `gb`, `tb`, `pb` are powers of 1024; a plain
/// number is bytes.
pub fn parse_memory_limit(tag: &str) -> Result<u64, WasmError> {
    let bad = || WasmError::BadLimit(tag.to_string());
    // String.prototype.replace with a string pattern replaces the first occurrence only.
    let value = tag.replacen('-', "", 1);
    // /^((-|\+)?(\d+(?:\.\d+)?)) *(kb|mb|gb|tb|pb)$/i
    let lower = value.to_ascii_lowercase();
    let units: [(&str, f64); 5] = [
        ("kb", 1024.0),
        ("mb", 1_048_576.0),
        ("gb", 1_073_741_824.0),
        ("tb", 1_099_511_627_776.0),
        ("pb", 1_125_899_906_842_624.0),
    ];
    let mut parsed: Option<f64> = None;
    for (unit, factor) in units {
        if let Some(number) = lower.strip_suffix(unit) {
            let number = number.trim_end_matches(' ');
            let digits = number.strip_prefix(['+', '-']).unwrap_or(number);
            let valid = {
                let mut parts = digits.splitn(2, '.');
                let int = parts.next().unwrap_or("");
                let frac = parts.next();
                !int.is_empty()
                    && int.bytes().all(|b| b.is_ascii_digit())
                    && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
            };
            if valid {
                let v: f64 = number.parse().map_err(|_| bad())?;
                parsed = Some((v * factor).floor());
            }
            break;
        }
    }
    let v = match parsed {
        Some(v) => v,
        None => {
            // parseInt(value, 10): optional whitespace and sign, then leading digits.
            let t = value.trim_start();
            let (neg, rest) = match t.as_bytes().first() {
                Some(b'-') => (true, &t[1..]),
                Some(b'+') => (false, &t[1..]),
                _ => (false, t),
            };
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            if digits.is_empty() {
                return Err(bad());
            }
            let v: f64 = digits.parse().map_err(|_| bad())?;
            if neg { -v } else { v }
        }
    };
    if !v.is_finite() || v < 0.0 || v > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as u64)
}

impl From<aolink_primitives::module_format::UnsupportedFormat> for WasmError {
    fn from(e: aolink_primitives::module_format::UnsupportedFormat) -> Self {
        WasmError::UnsupportedFormat(e.0)
    }
}

/// Host and setup failures. A process's own failures (traps, limits, Lua errors) are not
/// errors: they are [`HandleOutcome`]s with an `Error`.
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    /// The `Module-Format` is not one this host runs.
    #[error("unsupported Module-Format {0:?}")]
    UnsupportedFormat(String),
    /// A `Memory-Limit` value does not parse.
    #[error("invalid memory limit {0:?}")]
    BadLimit(String),
    /// The bytes are not a valid WebAssembly module.
    #[error("invalid module: {0}")]
    Invalid(String),
    /// The module imports something this host does not provide (`module.name`).
    #[error("unsupported import {0}")]
    UnsupportedImport(String),
    /// The module does not fit its format (missing exports, wrong types, wrong memory).
    #[error("module does not fit format {format}: {reason}")]
    Mismatch {
        /// The format it was compiled for.
        format: ModuleFormat,
        /// What is wrong.
        reason: String,
    },
    /// Instantiating or initialising the module failed.
    #[error("instantiating the module failed: {0}")]
    Instantiate(String),
    /// A memory snapshot cannot be restored.
    #[error("cannot restore memory: {0}")]
    BadSnapshot(String),
    /// The process already failed a call; rebuild it from its last good memory.
    #[error("this process instance failed an earlier call and must be rebuilt from memory")]
    Poisoned,
    /// wasmtime itself failed.
    #[error("wasm engine: {0}")]
    Engine(String),
}

/// The result of one `handle` call.
#[derive(Clone, Debug)]
pub struct HandleOutcome {
    /// The result object as ao-loader returns it, minus `Memory`:
    /// `{"Output"?, "Messages"?, "Spawns"?, "Assignments"?, "Error"?, "Patches", "GasUsed"}` with
    /// absent keys left absent exactly as ao-loader returns them, or `{"Error", "GasUsed"}` when ao-loader
    /// would throw (`ok: false`, an empty or unparseable result, a trap, a limit).
    pub result: Value,
    /// False when the call failed in a way after which this instance must not be used again
    /// and its memory must be discarded: traps, limits, `ok: false`, an empty or unparseable
    /// result, a non-null `Error` in the response, or an Output ending in
    /// "not enough memory for buffer allocation" (the CU's `mergeOutput` rules, C13). The
    /// process then refuses further calls; rebuild it from its last good memory.
    pub keep_memory: bool,
}

/// Fuel available to instantiation, constructors and `main` (Lua boot), which are not
/// governed by the per-message Compute-Limit.
const INIT_FUEL: u64 = 1 << 40;
/// Stack bytes left free for the module when the message strings go on the stack.
const STACK_MARGIN: u64 = 1 << 20;
/// Native stack wasm (and the host frames between wasm frames, e.g. `invoke_*`) may use.
/// Lua bounds its own C recursion (LUAI_MAXCCALLS = 200, "C stack overflow"), and under
/// ao-loader that limit is reached before V8's stack runs out; this leaves as much room.
const MAX_WASM_STACK: usize = 8 << 20;
/// Every call into a module runs on a thread with this stack, whatever the caller's stack.
const WASM_THREAD_STACK: usize = MAX_WASM_STACK + (4 << 20);
/// Pre-metered binaries are stopped by their gas at Compute-Limit (like ao-loader); fuel is
/// then only a backstop, sized so that gas runs out first.
const METERED_FUEL_FACTOR: u64 = 8;

/// sha256 of the module bytes, the format, the clock.
type CacheKey = ([u8; 32], ModuleFormat, Clock);

struct EngineInner {
    engine: Engine,
    cache: Mutex<HashMap<CacheKey, WasmModule>>,
    disk_cache: Option<wasmtime::Cache>,
}

/// A wasmtime engine configured for AO modules (memory64, fuel). Cheap to clone and share.
#[derive(Clone)]
pub struct WasmEngine {
    inner: Arc<EngineInner>,
    clock: Clock,
}

/// What the module's clock (`emscripten_date_now`, wasm64 and emscripten3/4; the older
/// formats' `_emscripten_date_now` is always 0 as in their glue) reads. Both are deterministic:
/// results depend only on memory and the message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Clock {
    /// ao-loader's `deterministicNow`: milliseconds counting up from 10000, one per read, so
    /// `time(NULL)` is 10 as under ao-loader (protocol notes C5). Lua seeds its string hashes
    /// with `time(NULL)` when it boots (lazily, in the first `handle`), so this is what makes
    /// `pairs` order, and with it tag order in Messages and `json.encode` output, match
    /// ao-loader and the JS CU. ao-loader's counter runs on across calls (and is shared with
    /// JS-side activity); here it restarts at every `handle`.
    #[default]
    AoLoader,
    /// The scheduled message's timestamp, fixed for the whole call: `os.date()` shows the
    /// message's date, but Lua's hash seed (and so `pairs` order) differs from the JS CU's.
    MessageTimestamp,
}

impl std::fmt::Debug for WasmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmEngine").finish_non_exhaustive()
    }
}

impl WasmEngine {
    /// A new engine. With `cache_dir`, compiled machine code is kept on disk there (wasmtime's
    /// own cache, keyed by the module bytes, the engine settings and the wasmtime version), so
    /// a restarted node does not recompile aos (~10 s per module). wasmtime owns the loading
    /// of those artifacts; this crate stays free of `unsafe`. Compiled modules are also kept
    /// in memory, keyed by sha256 of the bytes, the format and the clock.
    pub fn new(cache_dir: Option<&Path>) -> Result<WasmEngine, WasmError> {
        let mut config = Config::new();
        config
            .wasm_memory64(true)
            .consume_fuel(true)
            .max_wasm_stack(MAX_WASM_STACK)
            // Only checked against max_wasm_stack: this engine runs no async calls.
            .async_stack_size(MAX_WASM_STACK + (1 << 20))
            .wasm_backtrace_max_frames(None);
        let disk_cache = match cache_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    WasmError::Engine(format!("module cache {}: {e}", dir.display()))
                })?;
                // wasmtime takes only an absolute cache path; a node is often started with a
                // relative --data-dir.
                let dir = &std::fs::canonicalize(dir).map_err(|e| {
                    WasmError::Engine(format!("module cache {}: {e}", dir.display()))
                })?;
                let mut cache_config = wasmtime::CacheConfig::new();
                cache_config.with_directory(dir);
                let cache = wasmtime::Cache::new(cache_config).map_err(|e| {
                    WasmError::Engine(format!("module cache {}: {e:#}", dir.display()))
                })?;
                config.cache(Some(cache.clone()));
                Some(cache)
            }
            None => None,
        };
        let engine = Engine::new(&config).map_err(|e| WasmError::Engine(format!("{e:#}")))?;
        Ok(WasmEngine {
            inner: Arc::new(EngineInner {
                engine,
                cache: Mutex::new(HashMap::new()),
                disk_cache,
            }),
            clock: Clock::default(),
        })
    }

    /// The same engine with modules compiled from now on reading `clock` (default
    /// [`Clock::AoLoader`]). A process must keep one clock for its whole history.
    pub fn with_clock(mut self, clock: Clock) -> WasmEngine {
        self.clock = clock;
        self
    }

    /// How many compilations the on-disk cache answered, and how many it missed (both 0
    /// without a cache directory).
    pub fn disk_cache_stats(&self) -> (usize, usize) {
        self.inner
            .disk_cache
            .as_ref()
            .map_or((0, 0), |c| (c.cache_hits(), c.cache_misses()))
    }

    /// The clock modules compiled by this engine read.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Compiles (or fetches from the cache) `bytes` as a module of `format`, refusing modules
    /// this host cannot run faithfully.
    pub fn compile(&self, bytes: &[u8], format: ModuleFormat) -> Result<WasmModule, WasmError> {
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        let key = (hash, format, self.clock);
        if let Some(m) = lock(&self.inner.cache).get(&key) {
            return Ok(m.clone());
        }
        let module = self.compile_uncached(bytes, format, hash)?;
        lock(&self.inner.cache).insert(key, module.clone());
        Ok(module)
    }

    fn compile_uncached(
        &self,
        bytes: &[u8],
        format: ModuleFormat,
        hash: [u8; 32],
    ) -> Result<WasmModule, WasmError> {
        let engine = &self.inner.engine;
        let module =
            Module::new(engine, bytes).map_err(|e| WasmError::Invalid(format!("{e:#}")))?;
        let mismatch = |reason: String| WasmError::Mismatch { format, reason };

        let has_export = |name: &str| module.exports().any(|e| e.name() == name);
        let names = if format == ModuleFormat::Emscripten {
            ExportNames::v1()
        } else {
            ExportNames::named(has_export)
        };

        let MemoryLayout {
            wide,
            initial_bytes,
            module_max_bytes,
        } = memory_layout(&module, &names, format)?;

        let metered = module.imports().any(|i| i.module() == "metering");
        let cfg = Arc::new(HostConfig {
            format,
            wide,
            heap_max: format.heap_max(),
            module_max_bytes,
            initial_bytes,
            metered,
            names: names.clone(),
            static_data_end: static_data_end(bytes),
            clock: self.clock,
        });

        // Exports the host calls, with their types ('p' = pointer width).
        let p = if wide { "j" } else { "i" };
        let export_ty = |name: &str| module.exports().find(|e| e.name() == name).map(|e| e.ty());
        let export_sig = |name: &str| match export_ty(name) {
            Some(ExternType::Func(f)) => Some(host::sig_string(&f)),
            _ => None,
        };
        let require = |name: &str, sig: &str, why: &str| -> Result<(), WasmError> {
            let expected = sig.replace('p', p);
            match export_sig(name) {
                Some(actual) if actual == expected => Ok(()),
                Some(actual) => Err(mismatch(format!(
                    "export {name} has type {actual}, expected {expected}"
                ))),
                None => Err(mismatch(format!("missing export {name} ({why})"))),
            }
        };
        let imports: Vec<(String, String, FuncTypeOwned)> = module
            .imports()
            .filter_map(|i| match i.ty() {
                ExternType::Func(f) => Some((i.module().to_string(), i.name().to_string(), f)),
                _ => None,
            })
            .collect();
        let mut canonical = Vec::with_capacity(imports.len());
        for (m, n, ty) in &imports {
            let Some(c) = host::canonical_name(&cfg, m, n) else {
                return Err(WasmError::UnsupportedImport(format!("{m}.{n}")));
            };
            host::check_sig(&cfg, c, ty)
                .map_err(|why| mismatch(format!("import {m}.{n} {why}")))?;
            canonical.push(c);
        }
        require(names.handle, "pp>p", "handle(msg, env)")?;
        require(names.stack_save, ">p", "stack save")?;
        require(names.stack_restore, "p>", "stack restore")?;
        require(names.stack_alloc, "p>p", "stack alloc")?;
        let uses = |c: &str| canonical.contains(&c);
        if uses("invoke") {
            match export_ty(names.table) {
                Some(ExternType::Table(_)) => {}
                _ => {
                    return Err(mismatch(format!(
                        "missing export {} (the table invoke_* calls)",
                        names.table
                    )));
                }
            }
        }
        if uses("invoke") || uses("_emscripten_throw_longjmp") {
            require(names.set_threw, "pi>", "setThrew, for longjmp")?;
        }
        if uses("_tzset_js") && cfg.legacy() {
            require(names.malloc, "p>p", "malloc, for _tzset_js")?;
        }
        if uses("_mktime_js") && !cfg.legacy() && !wide {
            require(
                names.tempret_set,
                "i>",
                "the tempret setter, for _mktime_js",
            )?;
        }
        if export_sig(names.main).is_some()
            && !matches!(format, ModuleFormat::Emscripten4 | ModuleFormat::Wasm64)
        {
            require(names.main, "ip>i", "main")?;
        }

        let mut linker: Linker<HostState> = Linker::new(engine);
        for ((m, n, ty), c) in imports.into_iter().zip(canonical) {
            host::define(&mut linker, &cfg, &m, &n, c, ty)
                .map_err(|e| mismatch(format!("import {m}.{n}: {e:#}")))?;
        }
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| WasmError::Instantiate(format!("{e:#}")))?;
        Ok(WasmModule {
            inner: Arc::new(ModuleInner {
                engine: engine.clone(),
                pre,
                cfg,
                hash,
            }),
        })
    }
}

type FuncTypeOwned = wasmtime::FuncType;

/// A module's memory as the host sees it.
struct MemoryLayout {
    /// A 64-bit memory (memory64).
    wide: bool,
    /// Its size at instantiation.
    initial_bytes: u64,
    /// The most the module itself declares it may grow to.
    module_max_bytes: u64,
}

/// Checks that `module` imports only functions and defines and exports its memory, 64-bit
/// exactly for wasm64, unshared; and reads the memory's bounds.
fn memory_layout(
    module: &Module,
    names: &ExportNames,
    format: ModuleFormat,
) -> Result<MemoryLayout, WasmError> {
    let mismatch = |reason: String| WasmError::Mismatch { format, reason };
    for import in module.imports() {
        if !matches!(import.ty(), ExternType::Func(_)) {
            return Err(WasmError::UnsupportedImport(format!(
                "{}.{}",
                import.module(),
                import.name()
            )));
        }
    }
    let memory_ty = match module
        .exports()
        .find(|e| e.name() == names.memory)
        .map(|e| e.ty())
    {
        Some(ExternType::Memory(m)) => m,
        _ => return Err(mismatch(format!("no exported memory {:?}", names.memory))),
    };
    let wide = format == ModuleFormat::Wasm64;
    if memory_ty.is_64() != wide {
        return Err(mismatch(if memory_ty.is_64() {
            "the module has a 64-bit memory (memory64); only wasm64-unknown-emscripten-draft_2024_02_15 modules may".into()
        } else {
            "wasm64 modules must have a 64-bit memory (memory64)".into()
        }));
    }
    if memory_ty.is_shared() {
        return Err(mismatch("shared memory is not supported".into()));
    }
    let page = memory_ty.page_size();
    let initial_bytes = memory_ty.minimum().saturating_mul(page);
    let module_max_bytes = memory_ty
        .maximum()
        .map(|m| m.saturating_mul(page))
        .unwrap_or(if wide { format.heap_max() } else { 1 << 32 });
    Ok(MemoryLayout {
        wide,
        initial_bytes,
        module_max_bytes,
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The end of the module's static data (the highest byte an active data segment with a
/// constant offset initialises), or 0 if the data section cannot be read.
fn static_data_end(bytes: &[u8]) -> u64 {
    fn leb(b: &[u8], i: &mut usize) -> Option<u64> {
        let mut r = 0u64;
        let mut shift = 0;
        loop {
            let x = *b.get(*i)?;
            *i += 1;
            if shift < 64 {
                r |= ((x & 0x7f) as u64) << shift;
            }
            shift += 7;
            if x & 0x80 == 0 {
                return Some(r);
            }
        }
    }
    fn sleb(b: &[u8], i: &mut usize) -> Option<i64> {
        let mut r = 0i64;
        let mut shift = 0;
        loop {
            let x = *b.get(*i)?;
            *i += 1;
            if shift < 64 {
                r |= ((x & 0x7f) as i64) << shift;
            }
            shift += 7;
            if x & 0x80 == 0 {
                if shift < 64 && x & 0x40 != 0 {
                    r |= -1i64 << shift;
                }
                return Some(r);
            }
        }
    }
    fn data_end(b: &[u8]) -> Option<u64> {
        let mut i = 8;
        while i < b.len() {
            let id = b[i];
            i += 1;
            let size = leb(b, &mut i)? as usize;
            let end = i.checked_add(size)?;
            if id != 11 {
                i = end;
                continue;
            }
            let mut j = i;
            let count = leb(b, &mut j)?;
            let mut max = 0u64;
            for _ in 0..count {
                let flags = leb(b, &mut j)?;
                let mut offset = None;
                if flags == 0 || flags == 2 {
                    if flags == 2 {
                        leb(b, &mut j)?;
                    }
                    let op = *b.get(j)?;
                    j += 1;
                    offset = match op {
                        0x41 | 0x42 => Some(sleb(b, &mut j)?),
                        _ => return None,
                    };
                    if *b.get(j)? != 0x0b {
                        return None;
                    }
                    j += 1;
                }
                let len = leb(b, &mut j)?;
                j = j.checked_add(len as usize)?;
                if let Some(o) = offset {
                    max = max.max((o as u64).saturating_add(len));
                }
            }
            return Some(max);
        }
        Some(0)
    }
    data_end(bytes).unwrap_or(0)
}

struct ModuleInner {
    engine: Engine,
    pre: InstancePre<HostState>,
    cfg: Arc<HostConfig>,
    hash: [u8; 32],
}

/// A compiled module, ready to instantiate. Cheap to clone.
#[derive(Clone)]
pub struct WasmModule {
    inner: Arc<ModuleInner>,
}

impl std::fmt::Debug for WasmModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmModule")
            .field("format", &self.inner.cfg.format)
            .field("sha256", &hex::encode(self.inner.hash))
            .finish()
    }
}

impl WasmModule {
    /// The format the module was compiled for.
    pub fn format(&self) -> ModuleFormat {
        self.inner.cfg.format
    }

    /// sha256 of the module bytes.
    pub fn sha256(&self) -> [u8; 32] {
        self.inner.hash
    }
}

/// One live instance of a module and its linear memory.
pub struct WasmProcess {
    module: WasmModule,
    store: Store<HostState>,
    ex: Exports,
    stack_end: u64,
    limits: Limits,
    poisoned: bool,
}

impl std::fmt::Debug for WasmProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmProcess")
            .field("module", &self.module)
            .field("limits", &self.limits)
            .field("memory_len", &self.memory_len())
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

fn instantiate_err(e: wasmtime::Error) -> WasmError {
    WasmError::Instantiate(error_text(&e, None))
}

impl WasmProcess {
    /// A fresh process: instantiation, stack init and cookie, constructors, and `main` for the
    /// formats whose glue calls it (v1 and emscripten3 as `main(0, 0)`, emscripten2 as
    /// `main(1, ["./this.program"])`; not wasm64/emscripten4, C4).
    pub fn new(module: &WasmModule, limits: Limits) -> Result<WasmProcess, WasmError> {
        let mut p = Self::instantiate(module, limits)?;
        on_wasm_stack(|| p.run_init())??;
        Ok(p)
    }

    /// A fresh instance whose memory is replaced by `memory` (a snapshot taken between calls
    /// by [`WasmProcess::memory`]), as ao-loader restores: the memory is grown to the
    /// snapshot's size (exactly, so that the instance equals the one the snapshot came from)
    /// and overwritten. The wasm stack pointer is placed where initialisation leaves it.
    pub fn from_memory(
        module: &WasmModule,
        limits: Limits,
        memory: &[u8],
    ) -> Result<WasmProcess, WasmError> {
        let cfg = module.inner.cfg.clone();
        let len = memory.len() as u64;
        if !len.is_multiple_of(65536) {
            return Err(WasmError::BadSnapshot(format!(
                "{len} bytes is not a whole number of 64 KiB pages"
            )));
        }
        if len < cfg.initial_bytes {
            return Err(WasmError::BadSnapshot(format!(
                "{len} bytes is less than the module's initial memory ({} bytes)",
                cfg.initial_bytes
            )));
        }
        if len > cfg.module_max_bytes {
            return Err(WasmError::BadSnapshot(format!(
                "{len} bytes is more than the module's maximum memory ({} bytes)",
                cfg.module_max_bytes
            )));
        }
        let mut p = Self::instantiate(module, limits)?;
        // Constructors and main only write memory, which is replaced; their one lasting effect
        // outside memory is the stack pointer, which main's argv allocation lowers (em2).
        if cfg.format == ModuleFormat::Emscripten2 && p.exports().main.is_some() {
            host::stack_alloc(&mut p.store, 8).map_err(instantiate_err)?;
            host::stack_alloc(&mut p.store, THIS_PROGRAM.len() as u64 + 1)
                .map_err(instantiate_err)?;
        }
        let ex = p.exports();
        let current = ex.memory.data_size(&p.store) as u64;
        if len > current {
            let allow = p.store.data().limiter.allow.max(len as usize);
            p.store.data_mut().limiter.allow = allow;
            ex.memory
                .grow(&mut p.store, (len - current) / 65536)
                .map_err(|e| {
                    WasmError::BadSnapshot(format!("growing memory to {len} bytes failed: {e:#}"))
                })?;
        }
        let data = ex.memory.data_mut(&mut p.store);
        data[..memory.len()].copy_from_slice(memory);
        Ok(p)
    }

    fn instantiate(module: &WasmModule, limits: Limits) -> Result<WasmProcess, WasmError> {
        let inner = &module.inner;
        let cfg = inner.cfg.clone();
        let cap = cfg.module_max_bytes.min(limits.memory_bytes);
        let allow = usize::try_from(cap.max(cfg.initial_bytes)).unwrap_or(usize::MAX);
        let state = HostState {
            cfg: cfg.clone(),
            ex: None,
            gas_used: 0,
            gas_limit: i128::MAX,
            timestamp_ms: 0,
            clock_ms: 10_000.0,
            tempret0: 0,
            cap,
            limiter: GrowLimiter { allow },
        };
        let mut store = Store::new(&inner.engine, state);
        store.limiter(|s| &mut s.limiter);
        store
            .set_fuel(INIT_FUEL)
            .map_err(|e| WasmError::Engine(format!("{e:#}")))?;
        let instance = inner.pre.instantiate(&mut store).map_err(instantiate_err)?;
        let n = &cfg.names;
        let func = |store: &mut Store<HostState>, name: &str| -> Option<Func> {
            if name.is_empty() {
                None
            } else {
                instance.get_func(&mut *store, name)
            }
        };
        let missing = |what: &str| WasmError::Instantiate(format!("missing export {what}"));
        let memory = instance
            .get_memory(&mut store, n.memory)
            .ok_or_else(|| missing(n.memory))?;
        let ex = Exports {
            memory,
            table: instance.get_table(&mut store, n.table),
            handle: func(&mut store, n.handle).ok_or_else(|| missing(n.handle))?,
            main: func(&mut store, n.main),
            ctors: func(&mut store, n.ctors),
            malloc: func(&mut store, n.malloc),
            free: func(&mut store, n.free),
            errno_location: func(&mut store, n.errno_location),
            set_threw: func(&mut store, n.set_threw),
            stack_save: func(&mut store, n.stack_save).ok_or_else(|| missing(n.stack_save))?,
            stack_restore: func(&mut store, n.stack_restore)
                .ok_or_else(|| missing(n.stack_restore))?,
            stack_alloc: func(&mut store, n.stack_alloc).ok_or_else(|| missing(n.stack_alloc))?,
            stack_init: func(&mut store, n.stack_init),
            stack_get_end: func(&mut store, n.stack_get_end),
            tempret_set: func(&mut store, n.tempret_set),
        };
        store.data_mut().ex = Some(ex);
        if let Some(init) = ex.stack_init {
            init.call(&mut store, &[], &mut [])
                .map_err(instantiate_err)?;
        }
        // The low end of the stack, where it would overflow into static data. Read once: calls
        // into a pre-metered module cost gas, and ao-loader makes none besides its own.
        let mut stack_end = cfg.static_data_end;
        if let Some(get_end) = ex.stack_get_end {
            // writeStackCookie()
            let mut end = host::call_u64(&mut store, get_end, &[]).map_err(instantiate_err)?;
            stack_end = end;
            if end == 0 {
                end += 4;
            }
            let mem = memory.data_mut(&mut store);
            let mut put = |at: u64, v: u32| {
                if let Ok(at) = usize::try_from(at)
                    && at + 4 <= mem.len()
                {
                    mem[at..at + 4].copy_from_slice(&v.to_le_bytes());
                }
            };
            put(end, 0x0213_5467);
            put(end + 4, 0x89BA_CDFE);
            put(0, 0x6373_6D65);
        }
        Ok(WasmProcess {
            module: module.clone(),
            store,
            ex,
            stack_end,
            limits,
            poisoned: false,
        })
    }

    fn exports(&self) -> Exports {
        self.ex
    }

    fn run_init(&mut self) -> Result<(), WasmError> {
        let ex = self.exports();
        let cfg = self.module.inner.cfg.clone();
        // The glue's gas limit already applies while it loads (pre-metered binaries only).
        self.store.data_mut().gas_limit = gas_limit(self.limits.compute);
        if let Some(ctors) = ex.ctors {
            ctors
                .call(&mut self.store, &[], &mut [])
                .map_err(instantiate_err)?;
        }
        let main_args = match (cfg.format, ex.main) {
            (ModuleFormat::Emscripten | ModuleFormat::Emscripten3, Some(main)) => {
                Some((main, 0, 0))
            }
            (ModuleFormat::Emscripten2, Some(main)) => {
                // callMain: argv = stackAlloc(8); argv[0] = allocateUTF8OnStack(thisProgram).
                // The glue never restores the stack pointer afterwards.
                let argv = host::stack_alloc(&mut self.store, 8).map_err(instantiate_err)?;
                let arg0 = host::stack_alloc(&mut self.store, THIS_PROGRAM.len() as u64 + 1)
                    .map_err(instantiate_err)?;
                let mem = ex.memory.data_mut(&mut self.store);
                let (a, b) = (arg0 as usize, argv as usize);
                if a + THIS_PROGRAM.len() < mem.len() && b + 8 <= mem.len() {
                    mem[a..a + THIS_PROGRAM.len()].copy_from_slice(THIS_PROGRAM.as_bytes());
                    mem[a + THIS_PROGRAM.len()] = 0;
                    mem[b..b + 4].copy_from_slice(&(arg0 as u32).to_le_bytes());
                    mem[b + 4..b + 8].copy_from_slice(&0u32.to_le_bytes());
                }
                Some((main, 1, argv))
            }
            _ => None,
        };
        if let Some((main, argc, argv)) = main_args {
            let mut out = [Val::I32(0)];
            let args = [Val::I32(argc), host::ptr_val(cfg.wide, argv)];
            if let Err(e) = main.call(&mut self.store, &args, &mut out) {
                // callMain swallows ExitStatus; any other exception escapes into a promise
                // chain after the module is already handed out, so the instance is used
                // as main left it. E.g. a Compute-Limit below the Lua boot's gas (447M for the
                // counter, 6.2e9 for aos-wasm32-em2) leaves Lua half-booted and every `handle`
                // returns "" under ao-loader; the same happens here.
                if !matches!(e.downcast_ref::<HostTrap>(), Some(HostTrap::Exit(_))) {
                    tracing::debug!(
                        target: "aolink::wasm",
                        "main failed at load (continuing as the glue does): {}",
                        error_text(&e, Some(&self.limits))
                    );
                }
            }
        }
        self.store.data_mut().gas_used = 0;
        Ok(())
    }

    /// Evaluates one message. `timestamp_ms` is the scheduled message's timestamp: the clock
    /// the module sees during this call.
    ///
    /// Returns `Err` only for host failures, and [`WasmError::Poisoned`] when called again
    /// after an outcome with `keep_memory == false`.
    pub fn handle(
        &mut self,
        msg_json: &str,
        env_json: &str,
        timestamp_ms: i64,
    ) -> Result<HandleOutcome, WasmError> {
        if self.poisoned {
            return Err(WasmError::Poisoned);
        }
        let cfg = self.module.inner.cfg.clone();
        let compute = self.limits.compute;
        {
            let s = self.store.data_mut();
            s.gas_used = 0;
            s.gas_limit = gas_limit(compute);
            s.timestamp_ms = timestamp_ms;
            s.clock_ms = 10_000.0;
            s.tempret0 = 0;
        }
        let fuel = if cfg.metered {
            compute.saturating_mul(METERED_FUEL_FACTOR)
        } else {
            compute
        };
        self.store
            .set_fuel(fuel)
            .map_err(|e| WasmError::Engine(format!("{e:#}")))?;
        let called = on_wasm_stack(|| self.call_handle(msg_json, env_json))?;
        let gas = self.store.data().gas_used;
        let (result, keep_memory) = match called {
            Ok(text) => interpret(&text, gas),
            Err(e) => (error_result(error_text(&e, Some(&self.limits)), gas), false),
        };
        if !keep_memory {
            self.poisoned = true;
        }
        Ok(HandleOutcome {
            result,
            keep_memory,
        })
    }

    /// Passes the strings as ao-loader's `ccall` does and returns `handle`'s result string.
    fn call_handle(&mut self, msg: &str, env: &str) -> wasmtime::Result<String> {
        let ex = self.exports();
        let cfg = self.module.inner.cfg.clone();
        let store = &mut self.store;
        let sp = host::stack_save(&mut *store)?;
        // em2/v1 reserve (length in UTF-16 units << 2) + 1 bytes per string; newer glues the
        // exact UTF-8 length + 1.
        let reserve = |s: &str| -> u64 {
            if cfg.legacy() {
                ((s.encode_utf16().count() as u64) << 2) + 1
            } else {
                s.len() as u64 + 1
            }
        };
        let (rm, re) = (reserve(msg), reserve(env));
        let free = sp.saturating_sub(self.stack_end);
        let align = |n: u64| n.saturating_add(15) & !15;
        let on_stack = align(rm)
            .saturating_add(align(re))
            .saturating_add(STACK_MARGIN)
            <= free;
        let mut allocated = Vec::new();
        let mut place =
            |store: &mut Store<HostState>, s: &str, reserve: u64| -> wasmtime::Result<u64> {
                let ptr = if on_stack {
                    host::stack_alloc(&mut *store, reserve)?
                } else {
                    let malloc = ex.malloc.ok_or_else(|| {
                        wasmtime::Error::new(HostTrap::Js(
                            "message too large for the stack and no malloc export".into(),
                        ))
                    })?;
                    let p = host::call_u64(
                        &mut *store,
                        malloc,
                        &[host::ptr_val(cfg.wide, s.len() as u64 + 1)],
                    )?;
                    if p == 0 {
                        return Err(wasmtime::Error::new(HostTrap::Js(
                            "RangeError: not enough memory to pass the message to the module"
                                .into(),
                        )));
                    }
                    allocated.push(p);
                    p
                };
                let mem = ex.memory.data_mut(&mut *store);
                let at = usize::try_from(ptr).unwrap_or(usize::MAX);
                let end = at
                    .checked_add(s.len() + 1)
                    .filter(|&e| e <= mem.len())
                    .ok_or_else(|| {
                        wasmtime::Error::new(HostTrap::Js(
                            "RangeError: message string outside memory".into(),
                        ))
                    })?;
                mem[at..end - 1].copy_from_slice(s.as_bytes());
                mem[end - 1] = 0;
                Ok(ptr)
            };
        let pm = place(store, msg, rm)?;
        let pe = place(store, env, re)?;
        let ret = host::call_u64(
            &mut *store,
            ex.handle,
            &[host::ptr_val(cfg.wide, pm), host::ptr_val(cfg.wide, pe)],
        )?;
        // The result belongs to Lua and is only valid until the next call: copy it now.
        let text = host::c_string(ex.memory.data(&*store), ret);
        host::stack_restore(&mut *store, sp)?;
        if let Some(free) = ex.free {
            for p in allocated {
                free.call(&mut *store, &[host::ptr_val(cfg.wide, p)], &mut [])?;
            }
        }
        Ok(text)
    }

    /// The current linear memory (borrowed; valid until the next call).
    pub fn memory(&self) -> &[u8] {
        self.exports().memory.data(&self.store)
    }

    /// The current linear memory size in bytes.
    pub fn memory_len(&self) -> usize {
        self.exports().memory.data_size(&self.store)
    }

    /// The module this process runs.
    pub fn module(&self) -> &WasmModule {
        &self.module
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// True after an outcome with `keep_memory == false`: the instance refuses further calls.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }
}

const THIS_PROGRAM: &str = "./this.program";

/// Runs `f` on a scoped thread with a [`WASM_THREAD_STACK`] stack, so that the module's native
/// stack use never depends on the calling thread (tokio workers have 2 MiB).
fn on_wasm_stack<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R, WasmError> {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("aolink-wasm".into())
            .stack_size(WASM_THREAD_STACK)
            .spawn_scoped(scope, f)
            .map_err(|e| WasmError::Engine(format!("cannot start the wasm thread: {e}")))?;
        match handle.join() {
            Ok(r) => Ok(r),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// The glue's gas limit: `computeLimit || DEFAULT_GAS_LIMIT` (9e15).
fn gas_limit(compute: u64) -> i128 {
    if compute == 0 {
        9_000_000_000_000_000
    } else {
        compute as i128
    }
}

/// The text ao-loader's caller sees for a thrown error (`String(err)` for JS `Error`s).
fn error_text(e: &wasmtime::Error, limits: Option<&Limits>) -> String {
    if let Some(t) = e.downcast_ref::<HostTrap>() {
        return t.to_string();
    }
    if e.is::<Longjmp>() {
        // A longjmp with no invoke_* frame to catch it: JS lets `Infinity` escape.
        return "Infinity".into();
    }
    if let Some(trap) = e.downcast_ref::<Trap>() {
        return match trap {
            Trap::OutOfFuel => match limits {
                Some(l) => format!("compute limit exceeded (Compute-Limit {})", l.compute),
                None => "compute limit exceeded".into(),
            },
            Trap::StackOverflow => "RangeError: Maximum call stack size exceeded".into(),
            Trap::MemoryOutOfBounds => "RuntimeError: memory access out of bounds".into(),
            Trap::UnreachableCodeReached => "RuntimeError: unreachable".into(),
            Trap::IntegerDivisionByZero => "RuntimeError: divide by zero".into(),
            Trap::IntegerOverflow => "RuntimeError: divide result unrepresentable".into(),
            Trap::BadConversionToInteger => {
                "RuntimeError: float unrepresentable in integer range".into()
            }
            Trap::IndirectCallToNull | Trap::BadSignature => {
                "RuntimeError: null function or function signature mismatch".into()
            }
            Trap::TableOutOfBounds => "RuntimeError: table index is out of bounds".into(),
            other => format!("RuntimeError: {other}"),
        };
    }
    format!("RuntimeError: {e:#}")
}

fn error_result(text: String, gas: i64) -> Value {
    let mut m = Map::new();
    m.insert("Error".into(), Value::String(text));
    m.insert("GasUsed".into(), Value::from(gas));
    Value::Object(m)
}

/// JavaScript truthiness of a JSON value.
fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// `JSON.parse` numbers are doubles: re-express every number as `JSON.stringify` would print it
/// and `serde_json` would read that back (integers as integers, large values rounded).
fn js_numbers(v: Value) -> Value {
    match v {
        Value::Number(n) => Value::Number(js_number(&n)),
        Value::Array(a) => Value::Array(a.into_iter().map(js_numbers).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, js_numbers(v))).collect()),
        other => other,
    }
}

fn js_number(n: &Number) -> Number {
    if n.is_u64() && n.as_u64().is_some_and(|u| u <= 1 << 53)
        || n.is_i64() && n.as_i64().is_some_and(|i| i.unsigned_abs() <= 1 << 53)
    {
        return n.clone();
    }
    let Some(f) = n.as_f64() else {
        return n.clone();
    };
    if f == f.trunc() && f.abs() < 1e21 {
        if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
            return Number::from(f as u64);
        }
        if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
            return Number::from(f as i64);
        }
    }
    Number::from_f64(f).unwrap_or_else(|| n.clone())
}

/// What ao-loader makes of `handle`'s result string (then the CU's defaults and its rules for
/// discarding memory).
fn interpret(text: &str, gas: i64) -> (Value, bool) {
    let fail = |t: String| (error_result(t, gas), false);
    if text.is_empty() {
        return fail("SyntaxError: Unexpected end of JSON input".into());
    }
    let parsed: Value = match serde_json::from_str(text) {
        Ok(v) => js_numbers(v),
        Err(e) => return fail(format!("SyntaxError: {e}")),
    };
    let (ok, response) = match &parsed {
        Value::Null => {
            return fail(
                "TypeError: Cannot destructure property 'ok' of 'JSON.parse(...)' as it is null."
                    .into(),
            );
        }
        Value::Object(m) => (m.get("ok"), m.get("response")),
        _ => (None, None),
    };
    if !truthy(ok) {
        // `throw response`
        let thrown = match response {
            None => "undefined".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        };
        return fail(thrown);
    }
    let fields = match response {
        None => {
            return fail("TypeError: Cannot read properties of undefined (reading 'Error')".into());
        }
        Some(Value::Null) => {
            return fail("TypeError: Cannot read properties of null (reading 'Error')".into());
        }
        Some(Value::Object(m)) => Some(m),
        Some(_) => None,
    };
    let get = |k: &str| fields.and_then(|m| m.get(k));
    let mut out = Map::new();
    if let Some(o) = get("Output") {
        out.insert("Output".into(), o.clone());
    }
    // Absent lists stay absent, as in ao-loader's result; the node's CU layer defaults them to
    // `[]` when it stores a result (as the CU's mergeOutput does).
    for k in ["Messages", "Spawns", "Assignments"] {
        if let Some(v) = get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    let error = get("Error");
    if let Some(e) = error {
        out.insert("Error".into(), e.clone());
    }
    let patches = get("Patches");
    out.insert(
        "Patches".into(),
        if truthy(patches) {
            patches.cloned().unwrap_or_default()
        } else {
            Value::Array(Vec::new())
        },
    );
    out.insert("GasUsed".into(), Value::from(gas));
    let out_of_buffers = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .is_some_and(|s| s.ends_with("not enough memory for buffer allocation"))
    };
    let output = get("Output");
    let failed = error.is_some_and(|e| !e.is_null());
    let keep =
        !failed && !out_of_buffers(output) && !out_of_buffers(output.and_then(|o| o.get("data")));
    (Value::Object(out), keep)
}
