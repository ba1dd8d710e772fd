//! The C library and runtime calls the glue implements in JS, emulated over linear memory:
//! clock and gas, errno, the environment, the stdio streams (write, fcntl, ioctl), time zone and
//! time conversion, and `invoke_*`'s longjmp catching.

use wasmtime::{Caller, Error, Val, ValType};

use super::memory::{
    arg, arg_i32, arg_i64, c_string, call_u64, exports, i53_from_i64, i53_from_pair, ptr_val,
    read_i32, read_ptr, read_u64, ret_int, stack_restore, stack_save, write_bytes, write_i32,
    write_ptr, write_u64,
};
use super::{Clock, HostConfig, HostState, HostTrap, Longjmp};
use crate::compute::wasm::jstime;

/// The module's clock (`emscripten_date_now`; see `Clock`).
pub(super) fn read_clock(s: &mut HostState) -> f64 {
    match s.cfg.clock {
        Clock::AoLoader => {
            let t = s.clock_ms;
            s.clock_ms += 1.0;
            t
        }
        Clock::MessageTimestamp => s.timestamp_ms as f64,
    }
}

pub(super) fn use_gas(caller: &mut Caller<'_, HostState>, gas: i64) -> wasmtime::Result<()> {
    let s = caller.data_mut();
    s.gas_used = s.gas_used.wrapping_add(gas);
    if s.gas_used as i128 > s.gas_limit {
        return Err(Error::new(HostTrap::OutOfGas));
    }
    Ok(())
}

/// `invoke_<sig>(index, args…)`: calls table entry `index`; a longjmp out of it (our marker)
/// restores the stack pointer and reports it through `setThrew(1, 0)` (protocol notes §3.6).
pub(super) fn invoke(
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

pub(super) fn set_errno(caller: &mut Caller<'_, HostState>, value: i32) -> wasmtime::Result<()> {
    let ex = exports(caller)?;
    if let Some(f) = ex.errno_location {
        let at = call_u64(&mut *caller, f, &[])?;
        write_i32(ex.memory.data_mut(&mut *caller), at, value);
    }
    Ok(())
}

pub(super) fn env_strings(cfg: &HostConfig) -> &'static [&'static str] {
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

pub(super) fn fd_write(
    caller: &mut Caller<'_, HostState>,
    params: &[Val],
) -> wasmtime::Result<i64> {
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
pub(super) fn fcntl(caller: &mut Caller<'_, HostState>, params: &[Val]) -> wasmtime::Result<i64> {
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
pub(super) fn ioctl(caller: &mut Caller<'_, HostState>, params: &[Val]) -> wasmtime::Result<i64> {
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
pub(super) fn tzset(caller: &mut Caller<'_, HostState>, params: &[Val]) -> wasmtime::Result<()> {
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

pub(super) fn time_to_tm(
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

pub(super) fn mktime(caller: &mut Caller<'_, HostState>, params: &[Val]) -> wasmtime::Result<i64> {
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

pub(super) fn strftime(
    caller: &mut Caller<'_, HostState>,
    params: &[Val],
) -> wasmtime::Result<i64> {
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
