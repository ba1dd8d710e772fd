//! The import table: which `(module, name)` pairs this host provides, under which canonical
//! emscripten name, with which accepted types, and the host function defined for each.

use wasmtime::{Caller, Error, FuncType, Linker, Val, ValType};

use super::libc::{
    env_strings, fcntl, fd_write, invoke, ioctl, mktime, read_clock, set_errno, strftime,
    time_to_tm, tzset, use_gas,
};
use super::memory::{
    arg, arg_i32, arg_i64, c_string, copy_within_js, exports, i53_from_i64, i53_from_pair,
    resize_heap, ret_f64, ret_int, write_bytes, write_ptr, write_u64,
};
use super::{HostConfig, HostState, HostTrap, Longjmp, ModuleFormat};
use crate::compute::wasm::jstime;

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

/// One import to define: where it goes in the linker, the module's type for it, and the
/// module's config.
pub(super) struct Import<'a> {
    pub linker: &'a mut Linker<HostState>,
    pub cfg: &'a HostConfig,
    pub module: &'a str,
    pub name: &'a str,
    pub ty: FuncType,
}

// Defines `$import` as a host function with exactly the module's type, so that one body serves
// every shape `accepted_sigs` allows for it.
macro_rules! host {
    ($import:ident, |$caller:ident, $params:ident, $results:ident| $body:block) => {
        $import.linker.func_new(
            $import.module,
            $import.name,
            $import.ty.clone(),
            move |mut $caller: Caller<'_, HostState>, $params: &[Val], $results: &mut [Val]| {
                let _ = &mut $caller;
                let _ = &$params;
                let _ = &$results;
                $body
            },
        )?
    };
    // An import that answers a constant.
    ($import:ident, returns $value:expr) => {{
        let ret_ty: Option<ValType> = $import.ty.results().next();
        host!($import, |caller, params, results| {
            ret_int(results, &ret_ty, $value);
            Ok(())
        })
    }};
    // An import whose int result a function of the caller and the arguments computes.
    ($import:ident, calls $f:ident) => {{
        let ret_ty: Option<ValType> = $import.ty.results().next();
        host!($import, |caller, params, results| {
            let r = $f(&mut caller, params)?;
            ret_int(results, &ret_ty, r);
            Ok(())
        })
    }};
}

// Each `define_*` defines `canonical` if it belongs to its group and answers whether it did.

/// Gas accounting of pre-metered binaries.
pub(super) fn define_metering(import: &mut Import<'_>, canonical: &str) -> wasmtime::Result<bool> {
    match canonical {
        // The hot path of pre-metered binaries: a typed function.
        "usegas" => {
            if matches!(import.ty.params().next(), Some(ValType::I64)) {
                import.linker.func_wrap(
                    import.module,
                    import.name,
                    |mut caller: Caller<'_, HostState>, gas: i64| use_gas(&mut caller, gas),
                )?;
            } else {
                import.linker.func_wrap(
                    import.module,
                    import.name,
                    |mut caller: Caller<'_, HostState>, gas: i32| use_gas(&mut caller, gas as i64),
                )?;
            }
        }
        "metering_gasUsed" => {
            let ret_ty: Option<ValType> = import.ty.results().next();
            host!(import, |caller, params, results| {
                let g = caller.data().gas_used;
                ret_int(results, &ret_ty, jstime::to_int32(g as f64) as i64);
                Ok(())
            });
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// `invoke_*` and the ways out of the module other than a return: longjmp, abort, a failed
/// assertion, exit.
pub(super) fn define_control(import: &mut Import<'_>, canonical: &str) -> wasmtime::Result<bool> {
    let ret_ty: Option<ValType> = import.ty.results().next();
    match canonical {
        "invoke" => {
            host!(import, |caller, params, results| {
                invoke(&mut caller, params, results, &ret_ty)
            });
        }
        "_emscripten_throw_longjmp" => {
            host!(import, |caller, params, results| {
                Err(Error::new(Longjmp))
            });
        }
        "abort" | "_abort_js" => {
            host!(import, |caller, params, results| {
                Err(Error::new(HostTrap::Abort(
                    "native code called abort()".into(),
                )))
            });
        }
        "__assert_fail" => {
            host!(import, |caller, params, results| {
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
            host!(import, |caller, params, results| {
                Err(Error::new(HostTrap::Exit(arg_i32(params, 0))))
            });
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The emscripten runtime's own imports: `tempRet0`, `system`, memcpy, the heap, stderr.
pub(super) fn define_runtime(import: &mut Import<'_>, canonical: &str) -> wasmtime::Result<bool> {
    let ret_ty: Option<ValType> = import.ty.results().next();
    let cfg = import.cfg;
    match canonical {
        "getTempRet0" => {
            host!(import, |caller, params, results| {
                let v = caller.data().tempret0;
                ret_int(results, &ret_ty, v as i64);
                Ok(())
            });
        }
        "setTempRet0" => {
            host!(import, |caller, params, results| {
                caller.data_mut().tempret0 = arg_i32(params, 0);
                Ok(())
            });
        }
        "system" => {
            // em2/v1: setErrNo(52) through the module's __errno_location, return -1 (C10).
            host!(import, |caller, params, results| {
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
            host!(import, |caller, params, results| {
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
            host!(import, |caller, params, results| {
                let ex = exports(&caller)?;
                let mem = ex.memory.data_mut(&mut caller);
                copy_within_js(mem, arg(params, 0), arg(params, 1), arg(params, 2));
                Ok(())
            });
        }
        "emscripten_get_heap_max" => {
            host!(import, |caller, params, results| {
                let v = caller.data().cfg.heap_max;
                ret_int(results, &ret_ty, v as i64);
                Ok(())
            });
        }
        "emscripten_resize_heap" => {
            host!(import, |caller, params, results| {
                let ok = resize_heap(&mut caller, arg(params, 0))?;
                ret_int(results, &ret_ty, ok as i64);
                Ok(())
            });
        }
        "emscripten_err" => {
            host!(import, |caller, params, results| {
                let ex = exports(&caller)?;
                let text = c_string(ex.memory.data(&caller), arg(params, 0));
                tracing::debug!(target: "aolink::wasm", "module stderr: {text}");
                Ok(())
            });
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The clock and time conversion: `strftime`, the time zone, `mktime`, `localtime`/`gmtime`,
/// the `now` functions.
pub(super) fn define_time(import: &mut Import<'_>, canonical: &str) -> wasmtime::Result<bool> {
    let ret_ty: Option<ValType> = import.ty.results().next();
    let cfg = import.cfg;
    match canonical {
        "strftime" | "strftime_l" => {
            host!(import, |caller, params, results| {
                let n = strftime(&mut caller, params)?;
                ret_int(results, &ret_ty, n);
                Ok(())
            });
        }
        "_tzset_js" => {
            host!(import, |caller, params, results| {
                tzset(&mut caller, params)
            });
        }
        "_mktime_js" => {
            host!(import, |caller, params, results| {
                let v = mktime(&mut caller, params)?;
                ret_int(results, &ret_ty, v);
                Ok(())
            });
        }
        "_localtime_js" | "_gmtime_js" => {
            let local = canonical == "_localtime_js";
            host!(import, |caller, params, results| {
                time_to_tm(&mut caller, params, local)
            });
        }
        "_emscripten_date_now" => {
            // em2/v1: the glue returns 0, so time(NULL) == 0 (C5).
            host!(import, |caller, params, results| {
                ret_f64(results, 0.0);
                Ok(())
            });
        }
        "emscripten_date_now" => {
            // Never the wall clock: ao-loader's counter (restarted by every `handle`) or the
            // scheduled message's timestamp, per `Clock`.
            host!(import, |caller, params, results| {
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
            host!(import, |caller, params, results| {
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
            host!(import, returns 1);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The file-system syscalls (there is no file system) and WeaveDrive.
pub(super) fn define_syscalls(import: &mut Import<'_>, canonical: &str) -> wasmtime::Result<bool> {
    let ret_ty: Option<ValType> = import.ty.results().next();
    let cfg = import.cfg;
    let wide = import.cfg.wide;
    match canonical {
        "__syscall_openat" => {
            // No file system: nothing exists (the wasm64/em4 aos shim routes fopen to
            // WeaveDrive anyway, C9). The v1 glue's stub returns undefined, i.e. 0.
            let v = if cfg.v1() { 0 } else { -44 };
            host!(import, |caller, params, results| {
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
            host!(import, |caller, params, results| {
                ret_int(results, &ret_ty, v);
                Ok(())
            });
        }
        "__syscall_readlinkat" => {
            host!(import, |caller, params, results| {
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
            host!(import, |caller, params, results| {
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
            host!(import, |caller, params, results| {
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
            host!(import, |caller, params, results| {
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
            host!(import, calls fcntl);
        }
        "__syscall_ioctl" => {
            host!(import, calls ioctl);
        }
        "__asyncjs__weavedrive_open"
        | "__asyncjs__weavedrive_read"
        | "__asyncjs__weavedrive_close" => {
            // No WeaveDrive: every open is "not found", which the aos shim reports as 0 (C9).
            host!(import, returns 0);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The WASI file-descriptor calls on the three stdio streams.
pub(super) fn define_fd(import: &mut Import<'_>, canonical: &str) -> wasmtime::Result<bool> {
    let ret_ty: Option<ValType> = import.ty.results().next();
    let cfg = import.cfg;
    let wide = import.cfg.wide;
    match canonical {
        "fd_write" => {
            host!(import, calls fd_write);
        }
        "fd_read" => {
            let v1 = cfg.v1();
            host!(import, |caller, params, results| {
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
            host!(import, |caller, params, results| {
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
            host!(import, |caller, params, results| {
                let fd = arg_i32(params, 0);
                ret_int(results, &ret_ty, if (0..=2).contains(&fd) { 0 } else { 8 });
                Ok(())
            });
        }
        "fd_fdstat_get" => {
            host!(import, |caller, params, results| {
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
            host!(import, |caller, params, results| {
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
        _ => return Ok(false),
    }
    Ok(true)
}

/// The WASI environment calls.
pub(super) fn define_environ(import: &mut Import<'_>, canonical: &str) -> wasmtime::Result<bool> {
    let ret_ty: Option<ValType> = import.ty.results().next();
    let wide = import.cfg.wide;
    match canonical {
        "environ_sizes_get" => {
            host!(import, |caller, params, results| {
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
            host!(import, |caller, params, results| {
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
        _ => return Ok(false),
    }
    Ok(true)
}
