//! The host side of the emscripten ABI: every import the supported formats declare, with the
//! behaviour of ao-loader 0.0.49's glue for that format (`dist/index.cjs`), made deterministic.
//!
//! Imports are generated from the module's import section: each `(module, name)` is mapped to a
//! canonical emscripten name (through the minified letter table for the v1 format), its type is
//! checked against the shapes the glues use, and a host function is defined with exactly the
//! module's type. `invoke_*` wrappers are built for whatever signature the module asks for.

use std::sync::Arc;

use wasmtime::{
    AsContextMut, Caller, Error, Func, FuncType, Linker, Memory, ResourceLimiter, Table, Val,
    ValType,
};

use super::jstime;
use super::{Clock, ModuleFormat};

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

// ---------------------------------------------------------------------------------------------
// Small helpers

pub(crate) fn ptr_val(wide: bool, v: u64) -> Val {
    if wide {
        Val::I64(v as i64)
    } else {
        Val::I32(v as u32 as i32)
    }
}

pub(crate) fn val_u64(v: &Val) -> u64 {
    match v {
        Val::I32(x) => *x as u32 as u64,
        Val::I64(x) => *x as u64,
        _ => 0,
    }
}

fn arg(params: &[Val], i: usize) -> u64 {
    params.get(i).map(val_u64).unwrap_or(0)
}

fn arg_i32(params: &[Val], i: usize) -> i32 {
    match params.get(i) {
        Some(Val::I32(x)) => *x,
        Some(Val::I64(x)) => *x as i32,
        _ => 0,
    }
}

fn arg_i64(params: &[Val], i: usize) -> i64 {
    match params.get(i) {
        Some(Val::I32(x)) => *x as i64,
        Some(Val::I64(x)) => *x,
        _ => 0,
    }
}

/// Stores an integer result with the result's type.
fn ret_int(results: &mut [Val], ty: &Option<ValType>, v: i64) {
    if let Some(slot) = results.first_mut() {
        *slot = match ty {
            Some(ValType::I64) => Val::I64(v),
            Some(ValType::F64) => Val::F64((v as f64).to_bits()),
            Some(ValType::F32) => Val::F32((v as f32).to_bits()),
            _ => Val::I32(v as i32),
        };
    }
}

fn ret_f64(results: &mut [Val], v: f64) {
    if let Some(slot) = results.first_mut() {
        *slot = Val::F64(v.to_bits());
    }
}

fn exports(caller: &Caller<'_, HostState>) -> wasmtime::Result<Exports> {
    caller
        .data()
        .ex
        .ok_or_else(|| Error::msg("an import was called before the instance was set up"))
}

/// Calls `f` with pointer-or-integer arguments and returns its first result as u64.
pub(crate) fn call_u64(
    mut store: impl AsContextMut,
    f: Func,
    args: &[Val],
) -> wasmtime::Result<u64> {
    let n = f.ty(&store).results().len();
    let mut out = vec![Val::I32(0); n];
    f.call(&mut store, args, &mut out)?;
    Ok(out.first().map(val_u64).unwrap_or(0))
}

pub(crate) fn stack_save(mut store: impl AsContextMut<Data = HostState>) -> wasmtime::Result<u64> {
    let Some(ex) = store.as_context().data().ex else {
        return Err(Error::msg("instance not set up"));
    };
    call_u64(&mut store, ex.stack_save, &[])
}

pub(crate) fn stack_restore(
    mut store: impl AsContextMut<Data = HostState>,
    sp: u64,
) -> wasmtime::Result<()> {
    let ctx = store.as_context();
    let wide = ctx.data().cfg.wide;
    let Some(ex) = ctx.data().ex else {
        return Err(Error::msg("instance not set up"));
    };
    ex.stack_restore
        .call(&mut store, &[ptr_val(wide, sp)], &mut [])
}

pub(crate) fn stack_alloc(
    mut store: impl AsContextMut<Data = HostState>,
    size: u64,
) -> wasmtime::Result<u64> {
    let ctx = store.as_context();
    let wide = ctx.data().cfg.wide;
    let Some(ex) = ctx.data().ex else {
        return Err(Error::msg("instance not set up"));
    };
    call_u64(&mut store, ex.stack_alloc, &[ptr_val(wide, size)])
}

// Memory access with the glue's typed-array semantics: out-of-range writes are dropped and
// out-of-range reads give 0 (`undefined` coerced), never a host panic.

fn write_bytes(mem: &mut [u8], at: u64, bytes: &[u8]) {
    let Ok(at) = usize::try_from(at) else { return };
    if let Some(end) = at.checked_add(bytes.len())
        && end <= mem.len()
    {
        mem[at..end].copy_from_slice(bytes);
    }
}

fn read_array<const N: usize>(mem: &[u8], at: u64) -> [u8; N] {
    let mut out = [0u8; N];
    if let Ok(at) = usize::try_from(at)
        && let Some(end) = at.checked_add(N)
        && end <= mem.len()
    {
        out.copy_from_slice(&mem[at..end]);
    }
    out
}

fn read_i32(mem: &[u8], at: u64) -> i32 {
    i32::from_le_bytes(read_array(mem, at))
}

fn read_u64(mem: &[u8], at: u64) -> u64 {
    u64::from_le_bytes(read_array(mem, at))
}

fn write_i32(mem: &mut [u8], at: u64, v: i32) {
    write_bytes(mem, at, &v.to_le_bytes());
}

fn write_u64(mem: &mut [u8], at: u64, v: u64) {
    write_bytes(mem, at, &v.to_le_bytes());
}

/// Reads a pointer-sized unsigned value.
fn read_ptr(mem: &[u8], wide: bool, at: u64) -> u64 {
    if wide {
        read_u64(mem, at)
    } else {
        read_i32(mem, at) as u32 as u64
    }
}

/// Writes a pointer-sized unsigned value (`HEAPU32`/`HEAPU64`).
fn write_ptr(mem: &mut [u8], wide: bool, at: u64, v: u64) {
    if wide {
        write_u64(mem, at, v)
    } else {
        write_i32(mem, at, v as u32 as i32)
    }
}

/// `UTF8ToString(ptr)`: bytes up to the first NUL (or the end of memory), lossily decoded.
pub(crate) fn c_string(mem: &[u8], ptr: u64) -> String {
    if ptr == 0 {
        return String::new();
    }
    let Ok(start) = usize::try_from(ptr) else {
        return String::new();
    };
    if start >= mem.len() {
        return String::new();
    }
    let tail = &mem[start..];
    let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
    String::from_utf8_lossy(&tail[..end]).into_owned()
}

/// `convertI32PairToI53Checked(lo, hi)`.
fn i53_from_pair(lo: i32, hi: i32) -> f64 {
    let ok = ((hi as i64 + 2_097_152) as u32 as u64) < (4_194_305 - (lo != 0) as u64);
    if ok {
        (lo as u32) as f64 + hi as f64 * 4_294_967_296.0
    } else {
        f64::NAN
    }
}

/// `bigintToI53Checked(v)`.
fn i53_from_i64(v: i64) -> f64 {
    const MAX: i64 = 9_007_199_254_740_992;
    if !(-MAX..=MAX).contains(&v) {
        f64::NAN
    } else {
        v as f64
    }
}

// ---------------------------------------------------------------------------------------------
// The import table

/// Maps a v1 (minified) import to its canonical name (protocol notes C14, the v1 glue's
/// `asmLibraryArg`).
fn v1_name(letter: &str) -> Option<&'static str> {
    Some(match letter {
        "a" => "_emscripten_date_now",
        "b" => "setTempRet0",
        "c" => "fd_close",
        "d" => "__syscall_fcntl64",
        "e" => "__syscall_unlinkat",
        "f" => "fd_write",
        "g" => "__syscall_openat",
        "h" => "getTempRet0",
        "i" => "_mktime_js",
        "j" => "_tzset_js",
        "k" => "emscripten_memcpy_big",
        "l" => "exit",
        "m" => "system",
        "n" => "strftime",
        "o" => "fd_seek",
        "p" => "_emscripten_throw_longjmp",
        "q" => "emscripten_resize_heap",
        "r" => "__syscall_lstat64",
        "s" => "__syscall_renameat",
        "t" => "__syscall_rmdir",
        "u" => "environ_get",
        "v" => "environ_sizes_get",
        "w" => "__syscall_dup3",
        "x" => "invoke",
        "y" => "fd_read",
        "z" => "__syscall_ioctl",
        "A" => "_emscripten_get_now_is_monotonic",
        "B" => "_gmtime_js",
        "C" => "_localtime_js",
        "D" => "abort",
        _ => return None,
    })
}

/// The canonical name of an import, or `None` when this host does not provide it.
pub(crate) fn canonical_name(cfg: &HostConfig, module: &str, name: &str) -> Option<&'static str> {
    match module {
        "metering" if name == "usegas" => Some("usegas"),
        "a" if cfg.v1() => v1_name(name),
        "env" | "wasi_snapshot_preview1" | "wasi_unstable" => {
            if name.starts_with("invoke_") {
                return Some("invoke");
            }
            let known: &[&'static str] = if module == "env" {
                ENV_IMPORTS
            } else {
                WASI_IMPORTS
            };
            known.iter().copied().find(|k| *k == name)
        }
        _ => None,
    }
}

const ENV_IMPORTS: &[&str] = &[
    "_emscripten_throw_longjmp",
    "abort",
    "_abort_js",
    "__assert_fail",
    "exit",
    "getTempRet0",
    "setTempRet0",
    "strftime",
    "strftime_l",
    "system",
    "_emscripten_system",
    "emscripten_memcpy_big",
    "_emscripten_memcpy_js",
    "emscripten_memcpy_js",
    "_tzset_js",
    "_mktime_js",
    "_localtime_js",
    "_gmtime_js",
    "_emscripten_date_now",
    "emscripten_date_now",
    "emscripten_get_now",
    "_emscripten_get_now_is_monotonic",
    "emscripten_get_heap_max",
    "emscripten_resize_heap",
    "emscripten_err",
    "__syscall_openat",
    "__syscall_fcntl64",
    "__syscall_ioctl",
    "__syscall_dup3",
    "__syscall_unlinkat",
    "__syscall_rmdir",
    "__syscall_renameat",
    "__syscall_lstat64",
    "__syscall_stat64",
    "__syscall_newfstatat",
    "__syscall_readlinkat",
    "__syscall_getcwd",
    "__syscall_faccessat",
    "__asyncjs__weavedrive_open",
    "__asyncjs__weavedrive_read",
    "__asyncjs__weavedrive_close",
    "metering_gasUsed",
];

const WASI_IMPORTS: &[&str] = &[
    "fd_write",
    "fd_read",
    "fd_close",
    "fd_seek",
    "fd_sync",
    "fd_fdstat_get",
    "environ_sizes_get",
    "environ_get",
    "proc_exit",
];

/// The import's type as a compact string: `i` i32, `j` i64, `f` f32, `d` f64, `>` before the
/// results.
pub(crate) fn sig_string(ty: &FuncType) -> String {
    let code = |t: ValType| match t {
        ValType::I32 => 'i',
        ValType::I64 => 'j',
        ValType::F32 => 'f',
        ValType::F64 => 'd',
        _ => '?',
    };
    let mut s: String = ty.params().map(code).collect();
    s.push('>');
    s.extend(ty.results().map(code));
    s
}

/// The shapes the glues use for each import (`p` = pointer width).
fn accepted_sigs(canonical: &str) -> &'static [&'static str] {
    match canonical {
        "_emscripten_throw_longjmp" | "abort" | "_abort_js" => &[">"],
        "__assert_fail" => &["ppip>"],
        "exit" | "proc_exit" => &["i>"],
        "getTempRet0" => &[">i"],
        "setTempRet0" => &["i>"],
        "strftime" => &["pppp>p"],
        "strftime_l" => &["ppppp>p"],
        "system" | "_emscripten_system" => &["p>i"],
        "emscripten_memcpy_big" | "_emscripten_memcpy_js" | "emscripten_memcpy_js" => &["ppp>"],
        "_tzset_js" => &["ppp>", "pppp>"],
        "_mktime_js" => &["p>p"],
        // wasm64: (time, tm); emscripten ≥3 wasm32: (lo, hi, tm); legacy: (time_t*, tm)
        "_localtime_js" | "_gmtime_js" => &["pp>", "iip>"],
        "_emscripten_date_now" | "emscripten_date_now" | "emscripten_get_now" => &[">d"],
        "_emscripten_get_now_is_monotonic" => &[">i"],
        "emscripten_get_heap_max" => &[">p"],
        "emscripten_resize_heap" => &["p>i"],
        "emscripten_err" => &["p>"],
        "__syscall_openat" => &["ipip>i"],
        "__syscall_fcntl64" | "__syscall_ioctl" => &["iip>i"],
        "__syscall_dup3" => &["iii>i"],
        "__syscall_unlinkat" => &["ipi>i"],
        "__syscall_rmdir" => &["p>i"],
        "__syscall_renameat" => &["ipip>i"],
        "__syscall_lstat64" | "__syscall_stat64" => &["pp>i"],
        "__syscall_newfstatat" => &["ippi>i"],
        "__syscall_readlinkat" => &["ippp>i"],
        "__syscall_getcwd" => &["pp>i"],
        "__syscall_faccessat" => &["ipii>i"],
        "__asyncjs__weavedrive_open" => &["pp>i"],
        "__asyncjs__weavedrive_read" => &["ipp>i"],
        "__asyncjs__weavedrive_close" => &["i>i"],
        "metering_gasUsed" => &[">i"],
        "fd_write" | "fd_read" => &["ippp>i"],
        "fd_close" | "fd_sync" => &["i>i"],
        // wasm64: (fd, i64 offset, whence, newOffset*); wasm32: (fd, lo, hi, whence, newOffset*)
        "fd_seek" => &["ijip>i", "iiiip>i"],
        "fd_fdstat_get" => &["ip>i"],
        "environ_sizes_get" | "environ_get" => &["pp>i"],
        "usegas" => &["i>", "j>"],
        _ => &[],
    }
}

/// Checks an import's type against the accepted shapes; `Err` describes the mismatch.
pub(crate) fn check_sig(cfg: &HostConfig, canonical: &str, ty: &FuncType) -> Result<(), String> {
    let actual = sig_string(ty);
    if canonical == "invoke" {
        let first = actual.chars().next();
        let ok = first == Some(if cfg.wide { 'j' } else { 'i' }) || first == Some('i');
        return if ok && !actual.contains('?') && ty.results().len() <= 1 {
            Ok(())
        } else {
            Err(format!("has type {actual}, not an invoke wrapper"))
        };
    }
    let p = if cfg.wide { "j" } else { "i" };
    let accepted = accepted_sigs(canonical);
    if accepted.iter().any(|s| s.replace('p', p) == actual) {
        Ok(())
    } else {
        let expected: Vec<String> = accepted.iter().map(|s| s.replace('p', p)).collect();
        Err(format!(
            "has type {actual}, expected {}",
            expected.join(" or ")
        ))
    }
}

/// Defines the host function for one import in `linker`.
pub(crate) fn define(
    linker: &mut Linker<HostState>,
    cfg: &Arc<HostConfig>,
    module: &str,
    name: &str,
    canonical: &'static str,
    ty: FuncType,
) -> wasmtime::Result<()> {
    let ret_ty: Option<ValType> = ty.results().next();
    let wide = cfg.wide;
    let cfg = cfg.clone();

    // The hot path of pre-metered binaries: a typed function.
    if canonical == "usegas" {
        if matches!(ty.params().next(), Some(ValType::I64)) {
            linker.func_wrap(
                module,
                name,
                |mut caller: Caller<'_, HostState>, gas: i64| use_gas(&mut caller, gas),
            )?;
        } else {
            linker.func_wrap(
                module,
                name,
                |mut caller: Caller<'_, HostState>, gas: i32| use_gas(&mut caller, gas as i64),
            )?;
        }
        return Ok(());
    }

    macro_rules! host {
        (|$caller:ident, $params:ident, $results:ident| $body:block) => {
            linker.func_new(
                module,
                name,
                ty,
                move |mut $caller: Caller<'_, HostState>, $params: &[Val], $results: &mut [Val]| {
                    let _ = &mut $caller;
                    let _ = &$params;
                    let _ = &$results;
                    $body
                },
            )?
        };
        // An import that answers a constant.
        (returns $value:expr) => {
            host!(|caller, params, results| {
                ret_int(results, &ret_ty, $value);
                Ok(())
            })
        };
        // An import whose int result a function of the caller and the arguments computes.
        (calls $f:ident) => {
            host!(|caller, params, results| {
                let r = $f(&mut caller, params)?;
                ret_int(results, &ret_ty, r);
                Ok(())
            })
        };
    }

    match canonical {
        "invoke" => {
            host!(|caller, params, results| { invoke(&mut caller, params, results, &ret_ty) });
        }
        "_emscripten_throw_longjmp" => {
            host!(|caller, params, results| { Err(Error::new(Longjmp)) });
        }
        "abort" | "_abort_js" => {
            host!(|caller, params, results| {
                Err(Error::new(HostTrap::Abort(
                    "native code called abort()".into(),
                )))
            });
        }
        "__assert_fail" => {
            host!(|caller, params, results| {
                let ex = exports(&caller)?;
                let mem = ex.memory.data(&caller);
                let text = format!(
                    "Assertion failed: {}, at: {}",
                    c_string(mem, arg(params, 0)),
                    [
                        c_string(mem, arg(params, 1)),
                        arg_i32(params, 2).to_string(),
                        c_string(mem, arg(params, 3))
                    ]
                    .join(",")
                );
                Err(Error::new(HostTrap::Abort(text)))
            });
        }
        "exit" | "proc_exit" => {
            host!(|caller, params, results| {
                Err(Error::new(HostTrap::Exit(arg_i32(params, 0))))
            });
        }
        "getTempRet0" => {
            host!(|caller, params, results| {
                let v = caller.data().tempret0;
                ret_int(results, &ret_ty, v as i64);
                Ok(())
            });
        }
        "setTempRet0" => {
            host!(|caller, params, results| {
                caller.data_mut().tempret0 = arg_i32(params, 0);
                Ok(())
            });
        }
        "strftime" | "strftime_l" => {
            host!(|caller, params, results| {
                let n = strftime(&mut caller, params)?;
                ret_int(results, &ret_ty, n);
                Ok(())
            });
        }
        "system" => {
            // em2/v1: setErrNo(52) through the module's __errno_location, return -1 (C10).
            host!(|caller, params, results| {
                if arg(params, 0) == 0 {
                    ret_int(results, &ret_ty, 0);
                    return Ok(());
                }
                set_errno(&mut caller, 52)?;
                ret_int(results, &ret_ty, -1);
                Ok(())
            });
        }
        "_emscripten_system" => {
            // wasm64's glue: 0 for a null command, else -52 (ENOSYS). em4's glue under Node
            // answers 1 ("a shell exists") for a null command and really runs any other command
            // on the host (C10); nothing is ever executed here: -52.
            let null_answer = if cfg.format == ModuleFormat::Emscripten4 {
                1
            } else {
                0
            };
            host!(|caller, params, results| {
                ret_int(
                    results,
                    &ret_ty,
                    if arg(params, 0) == 0 {
                        null_answer
                    } else {
                        -52
                    },
                );
                Ok(())
            });
        }
        "emscripten_memcpy_big" | "_emscripten_memcpy_js" | "emscripten_memcpy_js" => {
            host!(|caller, params, results| {
                let ex = exports(&caller)?;
                let mem = ex.memory.data_mut(&mut caller);
                copy_within_js(mem, arg(params, 0), arg(params, 1), arg(params, 2));
                Ok(())
            });
        }
        "_tzset_js" => {
            host!(|caller, params, results| { tzset(&mut caller, params) });
        }
        "_mktime_js" => {
            host!(|caller, params, results| {
                let v = mktime(&mut caller, params)?;
                ret_int(results, &ret_ty, v);
                Ok(())
            });
        }
        "_localtime_js" | "_gmtime_js" => {
            let local = canonical == "_localtime_js";
            host!(|caller, params, results| { time_to_tm(&mut caller, params, local) });
        }
        "_emscripten_date_now" => {
            // em2/v1: the glue returns 0, so time(NULL) == 0 (C5).
            host!(|caller, params, results| {
                ret_f64(results, 0.0);
                Ok(())
            });
        }
        "emscripten_date_now" => {
            // Never the wall clock: ao-loader's counter (restarted by every `handle`) or the
            // scheduled message's timestamp, per `Clock`.
            host!(|caller, params, results| {
                let t = read_clock(caller.data_mut());
                ret_f64(results, t);
                Ok(())
            });
        }
        "emscripten_get_now" => {
            // em2: `process.hrtime()` after the glue replaced it by `Date.now` gives NaN
            // (`os.clock()` then reads 0.0, C5); v1: 0; emscripten3: the same
            // `deterministicNow` counter as `Date.now`.
            let format = cfg.format;
            host!(|caller, params, results| {
                let t = match format {
                    ModuleFormat::Emscripten2 => f64::NAN,
                    ModuleFormat::Emscripten => 0.0,
                    _ => read_clock(caller.data_mut()),
                };
                ret_f64(results, t);
                Ok(())
            });
        }
        "_emscripten_get_now_is_monotonic" => {
            host!(returns 1);
        }
        "emscripten_get_heap_max" => {
            host!(|caller, params, results| {
                let v = caller.data().cfg.heap_max;
                ret_int(results, &ret_ty, v as i64);
                Ok(())
            });
        }
        "emscripten_resize_heap" => {
            host!(|caller, params, results| {
                let ok = resize_heap(&mut caller, arg(params, 0))?;
                ret_int(results, &ret_ty, ok as i64);
                Ok(())
            });
        }
        "emscripten_err" => {
            host!(|caller, params, results| {
                let ex = exports(&caller)?;
                let text = c_string(ex.memory.data(&caller), arg(params, 0));
                tracing::debug!(target: "aolink::wasm", "module stderr: {text}");
                Ok(())
            });
        }
        "__syscall_openat" => {
            // No file system: nothing exists (the wasm64/em4 aos shim routes fopen to
            // WeaveDrive anyway, C9). The v1 glue's stub returns undefined, i.e. 0.
            let v = if cfg.v1() { 0 } else { -44 };
            host!(|caller, params, results| {
                ret_int(results, &ret_ty, v);
                Ok(())
            });
        }
        "__syscall_unlinkat"
        | "__syscall_rmdir"
        | "__syscall_renameat"
        | "__syscall_lstat64"
        | "__syscall_stat64"
        | "__syscall_newfstatat" => {
            let v = if cfg.v1() { 0 } else { -44 };
            host!(|caller, params, results| {
                ret_int(results, &ret_ty, v);
                Ok(())
            });
        }
        "__syscall_readlinkat" => {
            host!(|caller, params, results| {
                let size = if wide {
                    arg_i64(params, 3)
                } else {
                    arg_i32(params, 3) as i64
                };
                ret_int(results, &ret_ty, if size <= 0 { -28 } else { -44 });
                Ok(())
            });
        }
        "__syscall_faccessat" => {
            host!(|caller, params, results| {
                ret_int(
                    results,
                    &ret_ty,
                    if arg_i32(params, 2) & !7 != 0 {
                        -28
                    } else {
                        -44
                    },
                );
                Ok(())
            });
        }
        "__syscall_getcwd" => {
            host!(|caller, params, results| {
                let (buf, size) = (arg(params, 0), arg(params, 1));
                let r = if size == 0 {
                    -28
                } else if size < 2 {
                    -68
                } else {
                    let ex = exports(&caller)?;
                    write_bytes(ex.memory.data_mut(&mut caller), buf, b"/\0");
                    2
                };
                ret_int(results, &ret_ty, r);
                Ok(())
            });
        }
        "__syscall_dup3" => {
            let v1 = cfg.v1();
            host!(|caller, params, results| {
                let fd = arg_i32(params, 0);
                let r = if v1 {
                    0
                } else if !(0..=2).contains(&fd) {
                    -8
                } else {
                    // Duplicating a stdio stream would need host fd state; refused.
                    -28
                };
                ret_int(results, &ret_ty, r);
                Ok(())
            });
        }
        "__syscall_fcntl64" => {
            host!(calls fcntl);
        }
        "__syscall_ioctl" => {
            host!(calls ioctl);
        }
        "__asyncjs__weavedrive_open"
        | "__asyncjs__weavedrive_read"
        | "__asyncjs__weavedrive_close" => {
            // No WeaveDrive: every open is "not found", which the aos shim reports as 0 (C9).
            host!(returns 0);
        }
        "metering_gasUsed" => {
            host!(|caller, params, results| {
                let g = caller.data().gas_used;
                ret_int(results, &ret_ty, jstime::to_int32(g as f64) as i64);
                Ok(())
            });
        }
        "fd_write" => {
            host!(calls fd_write);
        }
        "fd_read" => {
            let v1 = cfg.v1();
            host!(|caller, params, results| {
                let fd = arg_i32(params, 0);
                let r = if v1 {
                    52
                } else if fd == 0 {
                    // stdin is empty: 0 bytes read.
                    let ex = exports(&caller)?;
                    write_ptr(ex.memory.data_mut(&mut caller), wide, arg(params, 3), 0);
                    0
                } else {
                    8
                };
                ret_int(results, &ret_ty, r);
                Ok(())
            });
        }
        "fd_close" => {
            let v1 = cfg.v1();
            host!(|caller, params, results| {
                let fd = arg_i32(params, 0);
                ret_int(
                    results,
                    &ret_ty,
                    if v1 {
                        52
                    } else if (0..=2).contains(&fd) {
                        0
                    } else {
                        8
                    },
                );
                Ok(())
            });
        }
        "fd_sync" => {
            host!(|caller, params, results| {
                let fd = arg_i32(params, 0);
                ret_int(results, &ret_ty, if (0..=2).contains(&fd) { 0 } else { 8 });
                Ok(())
            });
        }
        "fd_fdstat_get" => {
            host!(|caller, params, results| {
                let fd = arg_i32(params, 0);
                let r = if (0..=2).contains(&fd) {
                    let ex = exports(&caller)?;
                    let mem = ex.memory.data_mut(&mut caller);
                    let at = arg(params, 1);
                    write_bytes(mem, at, &[2]);
                    if wide {
                        write_bytes(mem, at + 2, &[0, 0]);
                        write_u64(mem, at + 8, 0);
                        write_u64(mem, at + 16, 0);
                    }
                    0
                } else {
                    8
                };
                ret_int(results, &ret_ty, r);
                Ok(())
            });
        }
        "fd_seek" => {
            let v1 = cfg.v1();
            host!(|caller, params, results| {
                let fd = arg_i32(params, 0);
                let offset = if params.len() == 4 {
                    i53_from_i64(arg_i64(params, 1))
                } else {
                    i53_from_pair(arg_i32(params, 1), arg_i32(params, 2))
                };
                let r = if v1 {
                    70
                } else if offset.is_nan() {
                    61
                } else if (0..=2).contains(&fd) {
                    70 // ESPIPE: ttys do not seek
                } else {
                    8
                };
                ret_int(results, &ret_ty, r);
                Ok(())
            });
        }
        "environ_sizes_get" => {
            host!(|caller, params, results| {
                let strings = env_strings(&caller.data().cfg);
                let count = strings.len() as u64;
                let size: u64 = strings.iter().map(|s| s.len() as u64 + 1).sum();
                let ex = exports(&caller)?;
                let mem = ex.memory.data_mut(&mut caller);
                write_ptr(mem, wide, arg(params, 0), count);
                write_ptr(mem, wide, arg(params, 1), size);
                ret_int(results, &ret_ty, 0);
                Ok(())
            });
        }
        "environ_get" => {
            host!(|caller, params, results| {
                let strings = env_strings(&caller.data().cfg);
                let (environ, buf) = (arg(params, 0), arg(params, 1));
                let ptr_size = caller.data().cfg.ptr_size();
                let ex = exports(&caller)?;
                let mem = ex.memory.data_mut(&mut caller);
                let mut offset = 0u64;
                for (i, s) in strings.iter().enumerate() {
                    let at = buf + offset;
                    write_ptr(mem, wide, environ + i as u64 * ptr_size, at);
                    let mut bytes = s.as_bytes().to_vec();
                    bytes.push(0);
                    write_bytes(mem, at, &bytes);
                    offset += s.len() as u64 + 1;
                }
                ret_int(results, &ret_ty, 0);
                Ok(())
            });
        }
        other => return Err(Error::msg(format!("no host implementation for {other}"))),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Implementations

/// The module's clock (`emscripten_date_now`; see `Clock`).
fn read_clock(s: &mut HostState) -> f64 {
    match s.cfg.clock {
        Clock::AoLoader => {
            let t = s.clock_ms;
            s.clock_ms += 1.0;
            t
        }
        Clock::MessageTimestamp => s.timestamp_ms as f64,
    }
}

fn use_gas(caller: &mut Caller<'_, HostState>, gas: i64) -> wasmtime::Result<()> {
    let s = caller.data_mut();
    s.gas_used = s.gas_used.wrapping_add(gas);
    if s.gas_used as i128 > s.gas_limit {
        return Err(Error::new(HostTrap::OutOfGas));
    }
    Ok(())
}

/// `invoke_<sig>(index, args…)`: calls table entry `index`; a longjmp out of it (our marker)
/// restores the stack pointer and reports it through `setThrew(1, 0)` (protocol notes §3.6).
fn invoke(
    caller: &mut Caller<'_, HostState>,
    params: &[Val],
    results: &mut [Val],
    ret_ty: &Option<ValType>,
) -> wasmtime::Result<()> {
    let index = arg(params, 0);
    let sp = stack_save(&mut *caller)?;
    let ex = exports(caller)?;
    let table = ex
        .table
        .ok_or_else(|| Error::msg("invoke_*: the module exports no table"))?;
    let func = table
        .get(&mut *caller, index)
        .and_then(|r| r.as_func().flatten().copied());
    let Some(func) = func else {
        return Err(Error::new(HostTrap::Js(format!(
            "TypeError: invoke: table index {index} is not a function"
        ))));
    };
    match func.call(&mut *caller, &params[1..], results) {
        Ok(()) => Ok(()),
        Err(e) => {
            if !e.is::<Longjmp>() {
                return Err(e);
            }
            stack_restore(&mut *caller, sp)?;
            let wide = caller.data().cfg.wide;
            let set_threw = ex
                .set_threw
                .ok_or_else(|| Error::msg("longjmp: the module exports no setThrew"))?;
            set_threw.call(&mut *caller, &[ptr_val(wide, 1), Val::I32(0)], &mut [])?;
            ret_int(results, ret_ty, 0);
            Ok(())
        }
    }
}

fn set_errno(caller: &mut Caller<'_, HostState>, value: i32) -> wasmtime::Result<()> {
    let ex = exports(caller)?;
    if let Some(f) = ex.errno_location {
        let at = call_u64(&mut *caller, f, &[])?;
        write_i32(ex.memory.data_mut(&mut *caller), at, value);
    }
    Ok(())
}

/// `HEAPU8.copyWithin(dst, src, src + n)`, with the typed array's clamping.
fn copy_within_js(mem: &mut [u8], dst: u64, src: u64, n: u64) {
    let len = mem.len() as u64;
    let dst = dst.min(len);
    let src = src.min(len);
    let end = src.saturating_add(n).min(len);
    let count = end.saturating_sub(src).min(len - dst);
    if count > 0 {
        mem.copy_within(src as usize..(src + count) as usize, dst as usize);
    }
}

/// `emscripten_resize_heap(requested)`: the glue's growth steps (§3.4). The process's
/// Memory-Limit acts like the glue's `heapMax` (requests above it fail, growth steps are
/// clamped to it); a step beyond the module's own maximum fails like a failed `memory.grow`.
/// Returns false (Lua then raises "not enough memory") rather than trapping.
fn resize_heap(caller: &mut Caller<'_, HostState>, requested: u64) -> wasmtime::Result<bool> {
    let ex = exports(caller)?;
    let old = ex.memory.data_size(&*caller) as u64;
    if requested <= old {
        return Ok(true);
    }
    let (heap_max, module_max) = {
        let s = caller.data();
        (s.cfg.heap_max.min(s.cap), s.cfg.module_max_bytes)
    };
    if requested > heap_max {
        return Ok(false);
    }
    let align_up = |x: f64, m: f64| x + (m - x % m) % m;
    for cut_down in [1.0f64, 2.0, 4.0] {
        let over = (old as f64 * (1.0 + 0.2 / cut_down)).min(requested as f64 + 100_663_296.0);
        let new_size =
            (heap_max as f64).min(align_up((requested as f64).max(over), 65536.0)) as u64;
        if new_size > module_max || new_size <= old {
            continue;
        }
        let pages = (new_size - old).div_ceil(65536);
        if ex.memory.grow(&mut *caller, pages).is_ok() {
            return Ok(true);
        }
    }
    Ok(false)
}

fn env_strings(cfg: &HostConfig) -> &'static [&'static str] {
    if cfg.has_environment() {
        &[
            "USER=web_user",
            "LOGNAME=web_user",
            "PATH=/",
            "PWD=/",
            "HOME=/home/web_user",
            "LANG=C.UTF-8",
            "_=./this.program",
        ]
    } else {
        &[]
    }
}

fn fd_write(caller: &mut Caller<'_, HostState>, params: &[Val]) -> wasmtime::Result<i64> {
    let (fd, iov, iovcnt, pnum) = (
        arg_i32(params, 0),
        arg(params, 1),
        arg(params, 2),
        arg(params, 3),
    );
    let (wide, v1) = {
        let c = &caller.data().cfg;
        (c.wide, c.v1())
    };
    let ex = exports(caller)?;
    let mem = ex.memory.data_mut(&mut *caller);
    let step = if wide { 16 } else { 8 };
    let mut total: u64 = 0;
    for i in 0..iovcnt.min(1 << 20) {
        let at = iov + i * step;
        let len = read_ptr(mem, wide, at + step / 2);
        total = total.wrapping_add(len);
    }
    if fd != 1 && fd != 2 {
        if v1 {
            if total > 0 {
                return Err(Error::new(HostTrap::Js(
                    "TypeError: Cannot read properties of undefined (reading 'push')".into(),
                )));
            }
        } else {
            return Ok(8); // EBADF (stdin is read-only; nothing else is open)
        }
    }
    write_ptr(mem, wide, pnum, total);
    Ok(0)
}

/// The glue's `___syscall_fcntl64` on the three stdio streams.
fn fcntl(caller: &mut Caller<'_, HostState>, params: &[Val]) -> wasmtime::Result<i64> {
    let (fd, cmd, varargs) = (arg_i32(params, 0), arg_i32(params, 1), arg(params, 2));
    let (wide, v1, legacy) = {
        let c = &caller.data().cfg;
        (c.wide, c.v1(), c.legacy())
    };
    if v1 {
        return Ok(0);
    }
    if !(0..=2).contains(&fd) {
        return Ok(-8);
    }
    Ok(match cmd {
        0 => -28, // F_DUPFD would need host fd state
        1 | 2 | 4 | 6 | 7 => 0,
        3 => i64::from(fd != 0), // stdin O_RDONLY, stdout/stderr O_WRONLY
        5 => {
            let ex = exports(caller)?;
            let mem = ex.memory.data_mut(&mut *caller);
            let arg_ptr = read_ptr(mem, wide, varargs);
            write_bytes(mem, arg_ptr, &2i16.to_le_bytes());
            0
        }
        9 if legacy => {
            set_errno(caller, 28)?;
            -1
        }
        _ => -28,
    })
}

/// The glue's `___syscall_ioctl`: fds 0 and 1 are `/dev/tty` (termios and a 24×80 winsize),
/// fd 2 is `/dev/tty1` (no termios/winsize callbacks), anything else is EBADF.
fn ioctl(caller: &mut Caller<'_, HostState>, params: &[Val]) -> wasmtime::Result<i64> {
    let (fd, op, varargs) = (arg_i32(params, 0), arg_i32(params, 1), arg(params, 2));
    let (wide, v1, legacy) = {
        let c = &caller.data().cfg;
        (c.wide, c.v1(), c.legacy())
    };
    if v1 {
        return Ok(0);
    }
    if !(0..=2).contains(&fd) {
        return Ok(-8);
    }
    let ex = exports(caller)?;
    let vararg_ptr =
        |caller: &mut Caller<'_, HostState>| read_ptr(ex.memory.data(&*caller), wide, varargs);
    Ok(match op {
        21509 | 21505 if legacy => 0,
        21509 | 21510 | 21511 | 21512 | 21524 => 0,
        21515 if !legacy => 0,
        21505 => {
            if fd != 2 {
                let argp = vararg_ptr(caller);
                let mem = ex.memory.data_mut(&mut *caller);
                write_i32(mem, argp, 25856);
                write_i32(mem, argp + 4, 5);
                write_i32(mem, argp + 8, 191);
                write_i32(mem, argp + 12, 35387);
                let cc: [u8; 32] = [
                    3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0, 0, 0, 0, 0, 0, 0,
                    0, 0, 0, 0, 0, 0, 0, 0, 0,
                ];
                write_bytes(mem, argp + 17, &cc);
            }
            0
        }
        21506..=21508 => 0,
        21519 => {
            let argp = vararg_ptr(caller);
            write_i32(ex.memory.data_mut(&mut *caller), argp, 0);
            0
        }
        21520 => -28,
        21531 => -59, // FIONBIO: ttys have no stream ioctl
        21523 => {
            if fd != 2 && !legacy {
                let argp = vararg_ptr(caller);
                let mem = ex.memory.data_mut(&mut *caller);
                write_bytes(mem, argp, &24i16.to_le_bytes());
                write_bytes(mem, argp + 2, &80i16.to_le_bytes());
            }
            0
        }
        _ if legacy => {
            return Err(Error::new(HostTrap::Abort(format!(
                "bad ioctl syscall {op}"
            ))));
        }
        _ => -28,
    })
}

/// `_tzset_js` as on a UTC host. Legacy glues `malloc` the zone names once per instance; here
/// "once" is read from memory (`tzname[]` already set), so that a restored instance behaves as
/// the live one did.
fn tzset(caller: &mut Caller<'_, HostState>, params: &[Val]) -> wasmtime::Result<()> {
    let wide = caller.data().cfg.wide;
    let ex = exports(caller)?;
    if params.len() == 3 {
        let (timezone, daylight, tzname) = (arg(params, 0), arg(params, 1), arg(params, 2));
        {
            let mem = ex.memory.data(&*caller);
            if read_i32(mem, tzname) != 0 || read_i32(mem, tzname + 4) != 0 {
                return Ok(());
            }
        }
        {
            let mem = ex.memory.data_mut(&mut *caller);
            write_i32(mem, timezone, 0);
            write_i32(mem, daylight, 0);
        }
        let name = b"Coordinated Universal Time\0";
        let malloc = ex
            .malloc
            .ok_or_else(|| Error::msg("_tzset_js: the module exports no malloc"))?;
        let winter = call_u64(&mut *caller, malloc, &[ptr_val(wide, name.len() as u64)])?;
        if winter != 0 {
            write_bytes(ex.memory.data_mut(&mut *caller), winter, name);
        }
        let summer = call_u64(&mut *caller, malloc, &[ptr_val(wide, name.len() as u64)])?;
        if summer != 0 {
            write_bytes(ex.memory.data_mut(&mut *caller), summer, name);
        }
        let mem = ex.memory.data_mut(&mut *caller);
        // summerOffset < winterOffset is false in UTC: tzname = [summer, winter].
        write_i32(mem, tzname, summer as u32 as i32);
        write_i32(mem, tzname + 4, winter as u32 as i32);
    } else {
        let (timezone, daylight, std_name, dst_name) = (
            arg(params, 0),
            arg(params, 1),
            arg(params, 2),
            arg(params, 3),
        );
        let mem = ex.memory.data_mut(&mut *caller);
        write_ptr(mem, wide, timezone, 0);
        write_i32(mem, daylight, 0);
        write_bytes(mem, dst_name, b"UTC\0");
        write_bytes(mem, std_name, b"UTC\0");
    }
    Ok(())
}

fn write_tm(mem: &mut [u8], wide: bool, tm: u64, w: &jstime::TmWrite) -> wasmtime::Result<()> {
    for (i, v) in w.ints.iter().enumerate() {
        if let Some(v) = v {
            write_i32(mem, tm + 4 * i as u64, *v);
        }
    }
    if let Some(off) = w.gmtoff {
        if wide {
            if off.is_nan() {
                return Err(Error::new(HostTrap::Js(
                    "RangeError: The number NaN cannot be converted to a BigInt because it is not an integer".into(),
                )));
            }
            write_u64(mem, tm + 40, off as i64 as u64);
        } else {
            write_i32(mem, tm + 36, jstime::to_int32(off));
        }
    }
    Ok(())
}

fn time_to_tm(
    caller: &mut Caller<'_, HostState>,
    params: &[Val],
    local: bool,
) -> wasmtime::Result<()> {
    let (wide, legacy) = {
        let c = &caller.data().cfg;
        (c.wide, c.legacy())
    };
    let ex = exports(caller)?;
    let mem = ex.memory.data_mut(&mut *caller);
    let (seconds, tm) = if params.len() == 3 {
        (
            i53_from_pair(arg_i32(params, 0), arg_i32(params, 1)),
            arg(params, 2),
        )
    } else if wide {
        (i53_from_i64(arg_i64(params, 0)), arg(params, 1))
    } else {
        (read_i32(mem, arg(params, 0)) as f64, arg(params, 1))
    };
    let t_ms = seconds * 1000.0;
    let w = if local {
        jstime::localtime(t_ms, legacy)
    } else {
        jstime::gmtime(t_ms)
    };
    write_tm(mem, wide, tm, &w)
}

fn mktime(caller: &mut Caller<'_, HostState>, params: &[Val]) -> wasmtime::Result<i64> {
    let (wide, legacy) = {
        let c = &caller.data().cfg;
        (c.wide, c.legacy())
    };
    let tm = arg(params, 0);
    let ex = exports(caller)?;
    let mem = ex.memory.data_mut(&mut *caller);
    let mut fields = [0i32; 9];
    for (i, f) in fields.iter_mut().enumerate() {
        *f = read_i32(mem, tm + 4 * i as u64);
    }
    let (w, seconds) = jstime::mktime(fields, !legacy);
    write_tm(mem, wide, tm, &w)?;
    if legacy {
        return Ok(jstime::to_int32(seconds) as i64);
    }
    let ret = if seconds.is_nan() {
        -1i64
    } else {
        seconds as i64
    };
    if wide {
        return Ok(ret);
    }
    // emscripten ≥3 on wasm32: the low word is returned, the high word goes through the
    // module's tempret export.
    if let Some(f) = ex.tempret_set {
        f.call(&mut *caller, &[Val::I32((ret >> 32) as i32)], &mut [])?;
    }
    Ok(ret as u32 as i32 as i64)
}

fn strftime(caller: &mut Caller<'_, HostState>, params: &[Val]) -> wasmtime::Result<i64> {
    let wide = caller.data().cfg.wide;
    let (s, maxsize, format, tm) = (
        arg(params, 0),
        arg(params, 1),
        arg(params, 2),
        arg(params, 3),
    );
    let ex = exports(caller)?;
    let mem = ex.memory.data_mut(&mut *caller);
    let (gmtoff, zone_ptr) = if wide {
        (read_u64(mem, tm + 40) as i64 as f64, read_u64(mem, tm + 48))
    } else {
        (
            read_i32(mem, tm + 36) as f64,
            read_i32(mem, tm + 40) as u32 as u64,
        )
    };
    let f = |i: u64| read_i32(mem, tm + 4 * i);
    let fields = jstime::Tm {
        sec: f(0),
        min: f(1),
        hour: f(2),
        mday: f(3),
        mon: f(4),
        year: f(5),
        wday: f(6),
        yday: f(7),
        gmtoff,
        zone: c_string(mem, zone_ptr),
    };
    let pattern = c_string(mem, format);
    match jstime::strftime(&pattern, &fields, maxsize) {
        Ok(Some(bytes)) => {
            write_bytes(mem, s, &bytes);
            Ok(bytes.len() as i64 - 1)
        }
        Ok(None) => Ok(0),
        Err(jstime::JsThrow(text)) => Err(Error::new(HostTrap::Js(text))),
    }
}
