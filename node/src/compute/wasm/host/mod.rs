//! The host side of the emscripten ABI: every import the supported formats declare, with the
//! behaviour of ao-loader 0.0.49's glue for that format (`dist/index.cjs`), made deterministic.
//!
//! Imports are generated from the module's import section: each `(module, name)` is mapped to a
//! canonical emscripten name (through the minified letter table for the v1 format), its type is
//! checked against the shapes the glues use, and a host function is defined with exactly the
//! module's type. `invoke_*` wrappers are built for whatever signature the module asks for.

mod imports;
mod libc;
mod memory;

use std::sync::Arc;

use wasmtime::{Error, Func, FuncType, Linker, Memory, ResourceLimiter, Table};

use super::{Clock, ModuleFormat};

pub(crate) use imports::{canonical_name, check_sig, sig_string};
pub(crate) use memory::{c_string, call_u64, ptr_val, stack_alloc, stack_restore, stack_save};

/// The pointer width and format-dependent behaviour of one module, fixed at compile time.
#[derive(Debug)]
pub(crate) struct HostConfig {
    pub format: ModuleFormat,
    /// Pointers (and `size_t`) are i64 (wasm64).
    pub wide: bool,
    /// The glue's `getHeapMax()`.
    pub heap_max: u64,
    /// The module's own maximum memory, in bytes.
    pub module_max_bytes: u64,
    /// The module's initial memory, in bytes.
    pub initial_bytes: u64,
    /// The module imports `metering.usegas` (a pre-metered legacy binary).
    pub metered: bool,
    /// Export names for the runtime functions the host calls.
    pub names: ExportNames,
    /// What `emscripten_date_now` returns.
    pub clock: Clock,
    /// For modules that do not export `emscripten_stack_get_end` (v1): the end of the static
    /// data, which is where emscripten's downward-growing stack ends.
    pub static_data_end: u64,
}

impl HostConfig {
    /// emscripten2 and the v1 format: `tzset` mallocs zone names, `mktime` returns `time|0`,
    /// `localtime` takes a `time_t*`, strings are passed with `(len << 2) + 1` bytes reserved.
    pub fn legacy(&self) -> bool {
        matches!(
            self.format,
            ModuleFormat::Emscripten | ModuleFormat::Emscripten2
        )
    }

    /// The v1 format's glue stubs most syscalls to return `undefined` (0).
    pub fn v1(&self) -> bool {
        self.format == ModuleFormat::Emscripten
    }

    /// `getEnvStrings()` returns the 7 default variables (C6) rather than `[]`.
    pub fn has_environment(&self) -> bool {
        matches!(
            self.format,
            ModuleFormat::Emscripten | ModuleFormat::Emscripten2 | ModuleFormat::Emscripten3
        )
    }

    fn ptr_size(&self) -> u64 {
        if self.wide { 8 } else { 4 }
    }
}

/// Export names per format.
#[derive(Debug, Clone)]
pub(crate) struct ExportNames {
    pub memory: &'static str,
    pub table: &'static str,
    pub handle: &'static str,
    pub main: &'static str,
    pub ctors: &'static str,
    pub malloc: &'static str,
    pub free: &'static str,
    pub errno_location: &'static str,
    pub set_threw: &'static str,
    pub stack_save: &'static str,
    pub stack_restore: &'static str,
    pub stack_alloc: &'static str,
    pub stack_init: &'static str,
    pub stack_get_end: &'static str,
    pub tempret_set: &'static str,
}

impl ExportNames {
    pub fn v1() -> ExportNames {
        ExportNames {
            memory: "E",
            ctors: "F",
            handle: "G",
            main: "H",
            table: "I",
            malloc: "J",
            free: "",
            errno_location: "K",
            set_threw: "L",
            stack_save: "M",
            stack_restore: "N",
            stack_alloc: "O",
            stack_init: "",
            stack_get_end: "",
            tempret_set: "",
        }
    }

    /// Named exports; the stack functions are `stackSave`/`stackRestore`/`stackAlloc` when the
    /// module has them (emscripten2/3), else the newer `emscripten_stack_get_current`/
    /// `_emscripten_stack_restore`/`_emscripten_stack_alloc` (emscripten4, wasm64).
    pub fn named(has: impl Fn(&str) -> bool) -> ExportNames {
        let old_stack = has("stackSave");
        ExportNames {
            memory: "memory",
            ctors: "__wasm_call_ctors",
            handle: "handle",
            main: "main",
            table: "__indirect_function_table",
            malloc: "malloc",
            free: "free",
            errno_location: "__errno_location",
            set_threw: "setThrew",
            stack_save: if old_stack {
                "stackSave"
            } else {
                "emscripten_stack_get_current"
            },
            stack_restore: if old_stack {
                "stackRestore"
            } else {
                "_emscripten_stack_restore"
            },
            stack_alloc: if old_stack {
                "stackAlloc"
            } else {
                "_emscripten_stack_alloc"
            },
            stack_init: "emscripten_stack_init",
            stack_get_end: "emscripten_stack_get_end",
            tempret_set: if has("_emscripten_tempret_set") {
                "_emscripten_tempret_set"
            } else {
                "setTempRet0"
            },
        }
    }
}

/// The exports the host calls, resolved once per instance.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Exports {
    pub memory: Memory,
    pub table: Option<Table>,
    pub handle: Func,
    pub main: Option<Func>,
    pub ctors: Option<Func>,
    pub malloc: Option<Func>,
    pub free: Option<Func>,
    pub errno_location: Option<Func>,
    pub set_threw: Option<Func>,
    pub stack_save: Func,
    pub stack_restore: Func,
    pub stack_alloc: Func,
    pub stack_init: Option<Func>,
    pub stack_get_end: Option<Func>,
    pub tempret_set: Option<Func>,
}

/// Allows memory growth up to `allow` bytes: a backstop behind `emscripten_resize_heap`, which
/// enforces the process's limits itself (and fails gracefully).
#[derive(Debug)]
pub(crate) struct GrowLimiter {
    pub allow: usize,
}

impl ResourceLimiter for GrowLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.allow)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= maximum.unwrap_or(1 << 20).min(1 << 20))
    }
}

/// Per-instance host state. Nothing here survives from one `handle` to the next except what
/// is reset at its start, so results depend only on linear memory and the message.
pub(crate) struct HostState {
    pub cfg: Arc<HostConfig>,
    pub ex: Option<Exports>,
    /// `Module.gas.used` of the glue (legacy metered binaries).
    pub gas_used: i64,
    /// `Module.gas.limit` (`computeLimit || 9e15`).
    pub gas_limit: i128,
    /// The scheduled message's timestamp (`Clock::MessageTimestamp`).
    pub timestamp_ms: i64,
    /// ao-loader's `deterministicNow` counter (`Clock::AoLoader`), restarted at 10000 by
    /// every `handle`.
    pub clock_ms: f64,
    /// The legacy glue's `tempRet0` cell.
    pub tempret0: i32,
    /// The process's Memory-Limit: `emscripten_resize_heap` treats it like the glue's heapMax.
    pub cap: u64,
    pub limiter: GrowLimiter,
}

/// The marker `_emscripten_throw_longjmp` raises (JS throws `Infinity`).
#[derive(Debug)]
pub(crate) struct Longjmp;

impl std::fmt::Display for Longjmp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("longjmp")
    }
}

impl std::error::Error for Longjmp {}

/// A host-raised failure that ends the evaluation (not a longjmp).
#[derive(Debug)]
pub(crate) enum HostTrap {
    /// `metering.usegas` pushed the gas past the limit: the glue's `Error("out of gas!")`.
    OutOfGas,
    /// `exit(code)`: the glue throws `ExitStatus`.
    Exit(i32),
    /// `abort()` and friends.
    Abort(String),
    /// A JS exception the glue itself would raise (e.g. a `TypeError`), with its text.
    Js(String),
}

impl std::fmt::Display for HostTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // `String(err)` of the glue's `Error("out of gas!")`.
            HostTrap::OutOfGas => f.write_str("Error: out of gas!"),
            HostTrap::Exit(code) => write!(f, "ExitStatus: Program terminated with exit({code})"),
            HostTrap::Abort(what) => write!(f, "RuntimeError: Aborted({what})"),
            HostTrap::Js(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for HostTrap {}

/// Defines the host function for one import in `linker`.
pub(crate) fn define(
    linker: &mut Linker<HostState>,
    cfg: &Arc<HostConfig>,
    module: &str,
    name: &str,
    canonical: &'static str,
    ty: FuncType,
) -> wasmtime::Result<()> {
    let mut import = imports::Import {
        linker,
        cfg,
        module,
        name,
        ty,
    };
    let defined = imports::define_metering(&mut import, canonical)?
        || imports::define_control(&mut import, canonical)?
        || imports::define_runtime(&mut import, canonical)?
        || imports::define_time(&mut import, canonical)?
        || imports::define_syscalls(&mut import, canonical)?
        || imports::define_fd(&mut import, canonical)?
        || imports::define_environ(&mut import, canonical)?;
    if !defined {
        return Err(Error::msg(format!(
            "no host implementation for {canonical}"
        )));
    }
    Ok(())
}
