//! Access to the module's linear memory, stack and exports with the glue's semantics: the
//! argument and result conversions every import uses, typed reads and writes that never panic,
//! and the heap growth policy.

use wasmtime::{AsContextMut, Caller, Error, Func, Val, ValType};

use super::{Exports, HostState};

pub(crate) fn ptr_val(wide: bool, v: u64) -> Val {
    if wide {
        Val::I64(v as i64)
    } else {
        Val::I32(v as u32 as i32)
    }
}

fn val_u64(v: &Val) -> u64 {
    match v {
        Val::I32(x) => *x as u32 as u64,
        Val::I64(x) => *x as u64,
        _ => 0,
    }
}

pub(super) fn arg(params: &[Val], i: usize) -> u64 {
    params.get(i).map(val_u64).unwrap_or(0)
}

pub(super) fn arg_i32(params: &[Val], i: usize) -> i32 {
    match params.get(i) {
        Some(Val::I32(x)) => *x,
        Some(Val::I64(x)) => *x as i32,
        _ => 0,
    }
}

pub(super) fn arg_i64(params: &[Val], i: usize) -> i64 {
    match params.get(i) {
        Some(Val::I32(x)) => *x as i64,
        Some(Val::I64(x)) => *x,
        _ => 0,
    }
}

/// Stores an integer result with the result's type.
pub(super) fn ret_int(results: &mut [Val], ty: &Option<ValType>, v: i64) {
    if let Some(slot) = results.first_mut() {
        *slot = match ty {
            Some(ValType::I64) => Val::I64(v),
            Some(ValType::F64) => Val::F64((v as f64).to_bits()),
            Some(ValType::F32) => Val::F32((v as f32).to_bits()),
            _ => Val::I32(v as i32),
        };
    }
}

pub(super) fn ret_f64(results: &mut [Val], v: f64) {
    if let Some(slot) = results.first_mut() {
        *slot = Val::F64(v.to_bits());
    }
}

pub(super) fn exports(caller: &Caller<'_, HostState>) -> wasmtime::Result<Exports> {
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

pub(super) fn write_bytes(mem: &mut [u8], at: u64, bytes: &[u8]) {
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

pub(super) fn read_i32(mem: &[u8], at: u64) -> i32 {
    i32::from_le_bytes(read_array(mem, at))
}

pub(super) fn read_u64(mem: &[u8], at: u64) -> u64 {
    u64::from_le_bytes(read_array(mem, at))
}

pub(super) fn write_i32(mem: &mut [u8], at: u64, v: i32) {
    write_bytes(mem, at, &v.to_le_bytes());
}

pub(super) fn write_u64(mem: &mut [u8], at: u64, v: u64) {
    write_bytes(mem, at, &v.to_le_bytes());
}

/// Reads a pointer-sized unsigned value.
pub(super) fn read_ptr(mem: &[u8], wide: bool, at: u64) -> u64 {
    if wide {
        read_u64(mem, at)
    } else {
        read_i32(mem, at) as u32 as u64
    }
}

/// Writes a pointer-sized unsigned value (`HEAPU32`/`HEAPU64`).
pub(super) fn write_ptr(mem: &mut [u8], wide: bool, at: u64, v: u64) {
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
pub(super) fn i53_from_pair(lo: i32, hi: i32) -> f64 {
    let ok = ((hi as i64 + 2_097_152) as u32 as u64) < (4_194_305 - (lo != 0) as u64);
    if ok {
        (lo as u32) as f64 + hi as f64 * 4_294_967_296.0
    } else {
        f64::NAN
    }
}

/// `bigintToI53Checked(v)`.
pub(super) fn i53_from_i64(v: i64) -> f64 {
    const MAX: i64 = 9_007_199_254_740_992;
    if !(-MAX..=MAX).contains(&v) {
        f64::NAN
    } else {
        v as f64
    }
}

/// `HEAPU8.copyWithin(dst, src, src + n)`, with the typed array's clamping.
pub(super) fn copy_within_js(mem: &mut [u8], dst: u64, src: u64, n: u64) {
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
pub(super) fn resize_heap(
    caller: &mut Caller<'_, HostState>,
    requested: u64,
) -> wasmtime::Result<bool> {
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
