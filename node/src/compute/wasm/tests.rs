//! Tests against the real AO process modules (read from the shared fixtures, never copied).

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use serde_json::{Value, json};

use super::*;

const BIG: Limits = Limits {
    memory_bytes: 1 << 30,
    compute: 9_000_000_000_000,
};

use aolink_testkit::fixture;

fn engine() -> &'static WasmEngine {
    static ENGINE: OnceLock<WasmEngine> = OnceLock::new();
    ENGINE.get_or_init(|| WasmEngine::new(None).unwrap())
}

/// Each fixture is compiled once for the whole test run.
fn module(name: &str, format: ModuleFormat) -> Option<WasmModule> {
    static MODULES: OnceLock<Mutex<HashMap<String, WasmModule>>> = OnceLock::new();
    let bytes = fixture(name)?;
    let cache = MODULES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap();
    if let Some(m) = cache.get(name) {
        return Some(m.clone());
    }
    let m = engine().compile(&bytes, format).unwrap();
    cache.insert(name.to_string(), m.clone());
    Some(m)
}

fn aos_msg(data: &str) -> String {
    json!({
        "Target": "1",
        "From": "FOOBAR",
        "Owner": "FOOBAR",
        "Module": "FOO",
        "Id": "1",
        "Block-Height": "1000",
        "Timestamp": 1_712_345_678_901i64,
        "Tags": [{"name": "Action", "value": "Eval"}],
        "Data": data,
    })
    .to_string()
}

fn aos_env() -> String {
    json!({"Process": {"Id": "1", "Owner": "FOOBAR", "Tags": [{"name": "Name", "value": "TEST_PROCESS_OWNER"}]}})
        .to_string()
}

fn eval(p: &mut WasmProcess, code: &str) -> HandleOutcome {
    p.handle(&aos_msg(code), &aos_env(), 1_712_345_678_901)
        .unwrap()
}

/// `Output.data` for aos 2.x, `Output.data.output` for aos 1.x (C17), numbers as text.
fn output_data(result: &Value) -> Value {
    let data = &result["Output"]["data"];
    let v = match data.get("output") {
        Some(v) => v.clone(),
        None => data.clone(),
    };
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        other => other,
    }
}

const AOS: [(&str, ModuleFormat); 3] = [
    ("aos-wasm64.wasm", ModuleFormat::Wasm64),
    ("aos-wasm32-em4.wasm", ModuleFormat::Emscripten4),
    ("aos-wasm32-em2.wasm", ModuleFormat::Emscripten2),
];

#[test]
fn hello_world_and_state_carry_over() {
    for (name, format) in AOS {
        let Some(m) = module(name, format) else {
            return;
        };
        let mut p = WasmProcess::new(&m, BIG).unwrap();
        let out = eval(&mut p, "return 'Hello World'");
        assert!(out.keep_memory, "{name}: {}", out.result);
        assert_eq!(
            output_data(&out.result),
            json!("Hello World"),
            "{name}: {}",
            out.result
        );
        assert!(out.result["GasUsed"].is_u64(), "{name}: {}", out.result);
        // aos 1.x (em2) has no Assignments key; ao-loader leaves absent keys absent.
        for key in ["Messages", "Spawns", "Assignments", "Patches"] {
            assert!(
                out.result.get(key).is_none_or(Value::is_array),
                "{name}: {key} in {}",
                out.result
            );
        }
        assert!(out.result["Messages"].is_array(), "{name}: {}", out.result);
        let one = eval(&mut p, "count = 1 return count");
        let two = eval(&mut p, "count = count + 1 return count");
        assert_eq!(
            output_data(&one.result),
            json!("1"),
            "{name}: {}",
            one.result
        );
        assert_eq!(
            output_data(&two.result),
            json!("2"),
            "{name}: {}",
            two.result
        );
    }
}

#[test]
fn restored_memory_behaves_like_the_live_process() {
    for (name, format) in AOS {
        let Some(m) = module(name, format) else {
            return;
        };
        let mut live = WasmProcess::new(&m, BIG).unwrap();
        eval(&mut live, "x = 41");
        let snapshot = live.memory().to_vec();
        let mut restored = WasmProcess::from_memory(&m, BIG, &snapshot).unwrap();
        assert_eq!(restored.memory(), live.memory(), "{name}: restore is exact");
        let a = eval(&mut live, "x = x + 1 return x .. ' ' .. os.date('%c')");
        let b = eval(&mut restored, "x = x + 1 return x .. ' ' .. os.date('%c')");
        assert_eq!(a.result, b.result, "{name}");
        assert!(a.keep_memory);
        assert_eq!(live.memory_len(), restored.memory_len(), "{name}");
        assert!(
            live.memory() == restored.memory(),
            "{name}: memories diverged after the same message"
        );
    }
}

#[test]
fn lua_errors_and_pcall_longjmp() {
    for (name, format) in AOS {
        let Some(m) = module(name, format) else {
            return;
        };
        let mut p = WasmProcess::new(&m, BIG).unwrap();
        let ok = eval(
            &mut p,
            "local ok, e = pcall(error, 'x') return tostring(ok) .. ':' .. tostring(e)",
        );
        assert!(ok.keep_memory, "{name}: {}", ok.result);
        assert_eq!(
            output_data(&ok.result),
            json!("false:x"),
            "{name}: {}",
            ok.result
        );
        let boom = eval(&mut p, "error('boom')");
        let text = boom.result.to_string();
        assert!(text.contains("boom"), "{name}: {text}");
        assert!(
            !boom.keep_memory || boom.result.get("Error").is_none(),
            "{name}: {text}"
        );
        if boom.result.get("Error").is_some() {
            assert!(p.is_poisoned());
            assert!(matches!(
                p.handle(&aos_msg("return 1"), &aos_env(), 0),
                Err(WasmError::Poisoned)
            ));
        }
    }
}

#[test]
fn clocks_environment_and_system_follow_the_glue() {
    for (name, format) in AOS {
        let Some(m) = module(name, format) else {
            return;
        };
        let mut p = WasmProcess::new(&m, BIG).unwrap();
        let date = eval(&mut p, "return os.date('%Y-%m-%d')");
        let home = eval(&mut p, "return tostring(os.getenv('HOME'))");
        let zone = eval(&mut p, "return os.date('%Z')");
        let sys = eval(
            &mut p,
            "local a, b, c = os.execute('true') return tostring(a) .. '|' .. tostring(b) .. '|' .. tostring(c)",
        );
        let io = eval(&mut p, "return tostring(io.open('/data/nothing'))");
        if format == ModuleFormat::Emscripten2 {
            // time(NULL) == 0 on em2 (C5), 7 environment variables (C6), malloc'd zone names (C7).
            assert_eq!(
                output_data(&date.result),
                json!("1970-01-01"),
                "{}",
                date.result
            );
            assert_eq!(
                output_data(&home.result),
                json!("/home/web_user"),
                "{}",
                home.result
            );
            assert_eq!(
                output_data(&zone.result),
                json!("Coordinated Universal Time"),
                "{}",
                zone.result
            );
        } else {
            // Clock::AoLoader: time(NULL) is 10, as under ao-loader (C5).
            assert_eq!(
                output_data(&date.result),
                json!("1970-01-01"),
                "{name}: {}",
                date.result
            );
            let full = eval(&mut p, "return os.date()");
            assert_eq!(
                output_data(&full.result),
                json!("Thu Jan 01 00:00:10 1970"),
                "{name}: {}",
                full.result
            );
            assert_eq!(
                output_data(&home.result),
                json!("nil"),
                "{name}: {}",
                home.result
            );
            assert_eq!(
                output_data(&zone.result),
                json!("UTC"),
                "{name}: {}",
                zone.result
            );
        }
        assert_eq!(
            output_data(&sys.result),
            json!("nil|Function not implemented|52"),
            "{name}: {}",
            sys.result
        );
        assert_eq!(
            output_data(&io.result),
            json!("nil"),
            "{name}: {}",
            io.result
        );
    }
}

/// Slow in debug builds (Lua parses 1.4 MB with gas metering): run with `--ignored`.
#[test]
#[ignore]
fn messages_larger_than_the_stack_go_through_malloc() {
    // em2 reserves 4 bytes per UTF-16 unit on its 5 MiB stack (C2): 1.4 M chars cannot fit.
    let Some(m) = module("aos-wasm32-em2.wasm", ModuleFormat::Emscripten2) else {
        return;
    };
    let mut p = WasmProcess::new(&m, BIG).unwrap();
    let code = format!("return #[[{}]]", "x".repeat(1_400_000));
    let out = eval(&mut p, &code);
    assert_eq!(output_data(&out.result), json!("1400000"), "{}", out.result);
    let again = eval(&mut p, "return 'small again'");
    assert_eq!(
        output_data(&again.result),
        json!("small again"),
        "{}",
        again.result
    );
}

#[test]
fn fresh_aos_matches_the_loader_tests() {
    // ao:loader/test/loader.test.js on a fresh process (§3.11).
    for (name, format) in &AOS[..2] {
        let Some(m) = module(name, *format) else {
            return;
        };
        let mut p = WasmProcess::new(&m, BIG).unwrap();
        let r = eval(&mut p, "return math.random(1,10)");
        assert_eq!(output_data(&r.result), json!("4"), "{name}: {}", r.result);
    }
}

#[test]
fn message_timestamp_clock() {
    let Some(bytes) = fixture("aos-wasm64.wasm") else {
        return;
    };
    let engine = engine().clone().with_clock(Clock::MessageTimestamp);
    let m = engine.compile(&bytes, ModuleFormat::Wasm64).unwrap();
    let mut p = WasmProcess::new(&m, BIG).unwrap();
    let r = eval(&mut p, "return os.date('!%Y-%m-%d %H:%M:%S')");
    assert_eq!(
        output_data(&r.result),
        json!("2024-04-05 19:34:38"),
        "{}",
        r.result
    );
}

fn counter_msg(action: &str, data: &str) -> String {
    json!({"Owner": "tom", "Target": "1", "Tags": [{"name": "Action", "value": action}], "Data": data}).to_string()
}

fn counter_env() -> String {
    json!({"Process": {"Id": "1", "Tags": []}}).to_string()
}

fn counter_value(result: &Value) -> Option<i64> {
    match &result["Output"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[test]
fn counter_echo_inc_and_limits() {
    let Some(m) = module("counter-wasm32.wasm", ModuleFormat::Emscripten) else {
        return;
    };
    let env = counter_env();
    let mut p = WasmProcess::new(&m, BIG).unwrap();
    let echo = p
        .handle(&counter_msg("echo", "Hello World"), &env, 1)
        .unwrap();
    assert_eq!(
        echo.result["Output"],
        json!("Hello World"),
        "{}",
        echo.result
    );
    assert!(
        echo.result["GasUsed"].as_u64().unwrap() > 0,
        "pre-metered: {}",
        echo.result
    );
    let one = p.handle(&counter_msg("inc", ""), &env, 2).unwrap();
    assert_eq!(counter_value(&one.result), Some(1), "{}", one.result);
    let good = p.memory().to_vec();
    let two = p.handle(&counter_msg("inc", ""), &env, 3).unwrap();
    assert_eq!(counter_value(&two.result), Some(2), "{}", two.result);

    // Unbounded allocation under a small memory limit: a graceful Error, never a host trap.
    let small = Limits {
        memory_bytes: 8 << 20,
        compute: BIG.compute,
    };
    let mut p = WasmProcess::from_memory(&m, small, &good).unwrap();
    let mem = p.handle(&counter_msg("Memory", ""), &env, 4).unwrap();
    assert!(!mem.keep_memory, "{}", mem.result);
    assert!(mem.result.get("Error").is_some(), "{}", mem.result);
    assert!(p.memory_len() <= 8 << 20);
    let mut p = WasmProcess::from_memory(&m, small, &good).unwrap();
    let again = p.handle(&counter_msg("inc", ""), &env, 5).unwrap();
    assert_eq!(counter_value(&again.result), Some(2), "{}", again.result);

    // An unknown action loops forever: stopped by the compute limit.
    let tight = Limits {
        memory_bytes: BIG.memory_bytes,
        compute: 50_000_000,
    };
    let mut p = WasmProcess::from_memory(&m, tight, &good).unwrap();
    let looped = p.handle(&counter_msg("Spin", ""), &env, 6).unwrap();
    assert!(!looped.keep_memory, "{}", looped.result);
    assert!(looped.result["Error"].is_string(), "{}", looped.result);
    let mut p = WasmProcess::from_memory(&m, tight, &good).unwrap();
    let again = p.handle(&counter_msg("inc", ""), &env, 7).unwrap();
    assert_eq!(counter_value(&again.result), Some(2), "{}", again.result);
}

#[test]
fn compiled_modules_are_cached_on_disk_across_engines() {
    let Some(bytes) = fixture("counter-wasm32.wasm") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let first = WasmEngine::new(Some(dir.path())).unwrap();
    let m = first.compile(&bytes, ModuleFormat::Emscripten).unwrap();
    assert_eq!(first.disk_cache_stats(), (0, 1), "a cold cache misses once");
    drop(m);

    // A restarted node: a new engine over the same directory loads the artifact.
    let second = WasmEngine::new(Some(dir.path())).unwrap();
    let m = second.compile(&bytes, ModuleFormat::Emscripten).unwrap();
    assert_eq!(second.disk_cache_stats(), (1, 0), "the artifact is reused");
    let env = counter_env();
    let mut p = WasmProcess::new(&m, BIG).unwrap();
    let one = p.handle(&counter_msg("inc", ""), &env, 1).unwrap();
    assert_eq!(counter_value(&one.result), Some(1), "{}", one.result);

    // A corrupt artifact is a miss, never a crash: wasmtime recompiles and rewrites it.
    for entry in walk(dir.path()) {
        std::fs::write(&entry, b"not a module").unwrap();
    }
    let third = WasmEngine::new(Some(dir.path())).unwrap();
    let m = third.compile(&bytes, ModuleFormat::Emscripten).unwrap();
    assert_eq!(
        third.disk_cache_stats().0,
        0,
        "a corrupt artifact is not used"
    );
    let mut p = WasmProcess::new(&m, BIG).unwrap();
    let one = p.handle(&counter_msg("inc", ""), &env, 1).unwrap();
    assert_eq!(counter_value(&one.result), Some(1), "{}", one.result);
}

/// Every regular file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn refuses_modules_it_cannot_host() {
    let unknown = wat::parse_str(
        r#"(module
            (import "env" "foo" (func (param i32)))
            (memory (export "memory") 1)
            (func (export "handle") (param i32 i32) (result i32) i32.const 0)
            (func (export "stackSave") (result i32) i32.const 0)
            (func (export "stackRestore") (param i32))
            (func (export "stackAlloc") (param i32) (result i32) i32.const 0))"#,
    )
    .unwrap();
    let err = engine()
        .compile(&unknown, ModuleFormat::Emscripten2)
        .unwrap_err();
    assert!(
        err.to_string().contains("unsupported import env.foo"),
        "{err}"
    );

    let bad_type = wat::parse_str(
        r#"(module
            (import "env" "_emscripten_date_now" (func (result i32)))
            (memory (export "memory") 1))"#,
    )
    .unwrap();
    let err = engine()
        .compile(&bad_type, ModuleFormat::Emscripten2)
        .unwrap_err();
    assert!(err.to_string().contains("_emscripten_date_now"), "{err}");

    let err = engine()
        .compile(b"\0asm\x01\0\0\0garbage", ModuleFormat::Emscripten4)
        .unwrap_err();
    assert!(matches!(err, WasmError::Invalid(_)), "{err}");

    if let Some(bytes) = fixture("aos-wasm64.wasm") {
        let err = engine()
            .compile(&bytes, ModuleFormat::Emscripten4)
            .unwrap_err();
        assert!(err.to_string().contains("memory64"), "{err}");
    }
    if let Some(bytes) = fixture("aos-wasm32-em4.wasm") {
        let err = engine().compile(&bytes, ModuleFormat::Wasm64).unwrap_err();
        assert!(err.to_string().contains("64-bit memory"), "{err}");
    }
}

#[test]
fn parses_formats_and_memory_limits() {
    for f in [
        ModuleFormat::Emscripten,
        ModuleFormat::Emscripten2,
        ModuleFormat::Emscripten3,
        ModuleFormat::Emscripten4,
        ModuleFormat::Wasm64,
    ] {
        assert_eq!(ModuleFormat::parse(f.as_str()).unwrap(), f);
    }
    assert!(ModuleFormat::parse("wasm64-unknown-emscripten-draft_2024_10_16-metering").is_err());
    assert_eq!(parse_memory_limit("1-gb").unwrap(), 1 << 30);
    assert_eq!(parse_memory_limit("16-gb").unwrap(), 16 << 30);
    assert_eq!(parse_memory_limit("500-mb").unwrap(), 500 << 20);
    assert_eq!(parse_memory_limit("1.5-kb").unwrap(), 1536);
    assert_eq!(parse_memory_limit("2 TB").unwrap(), 2 << 40);
    assert_eq!(parse_memory_limit("1048576").unwrap(), 1 << 20);
    assert_eq!(parse_memory_limit("12abc").unwrap(), 12); // parseInt's leniency
    assert!(parse_memory_limit("gb").is_err());
    assert!(parse_memory_limit("").is_err());
    assert!(parse_memory_limit("--5").is_err());
}

#[test]
fn interprets_results_like_ao_loader() {
    let (v, keep) = interpret("", 0);
    assert!(!keep);
    assert_eq!(
        v["Error"],
        json!("SyntaxError: Unexpected end of JSON input")
    );
    let (v, keep) = interpret(r#"{"ok":false,"response":"bad"}"#, 0);
    assert!(!keep);
    assert_eq!(v["Error"], json!("bad"));
    let (v, keep) = interpret(
        r#"{"ok":true,"response":{"Output":{"data":1.0},"Error":"e"}}"#,
        7,
    );
    assert!(!keep);
    assert_eq!(v["Output"]["data"], json!(1));
    assert_eq!(v["Error"], json!("e"));
    assert!(
        v.get("Messages").is_none(),
        "absent stays absent, as in ao-loader: {v}"
    );
    assert_eq!(v["GasUsed"], json!(7));
    let (v, keep) = interpret(
        r#"{"ok":true,"response":{"Output":"x","Messages":[{"n":9007199254740993}]}}"#,
        0,
    );
    assert!(keep);
    assert_eq!(v["Messages"][0]["n"], json!(9_007_199_254_740_992u64));
    assert_eq!(v["Patches"], json!([]));
}

#[test]
fn handles_are_send() {
    fn send<T: Send>() {}
    fn sync<T: Send + Sync>() {}
    sync::<WasmEngine>();
    sync::<WasmModule>();
    send::<WasmProcess>();
}

/// Ad-hoc throughput check: `cargo test --release -p aolink-node --lib bench_ -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_wasm64_trivial_eval() {
    let Some(m) = module("aos-wasm64.wasm", ModuleFormat::Wasm64) else {
        return;
    };
    let mut p = WasmProcess::new(&m, BIG).unwrap();
    eval(&mut p, "return 1");
    let n = 300;
    let start = std::time::Instant::now();
    for i in 0..n {
        let out = eval(&mut p, &format!("return {i}"));
        assert!(out.keep_memory);
    }
    let secs = start.elapsed().as_secs_f64();
    let mut err = std::io::stderr();
    let _ = writeln!(
        err,
        "aos-wasm64 trivial Eval: {n} messages in {secs:.3}s = {:.1} msg/s",
        n as f64 / secs
    );
    let start = std::time::Instant::now();
    let snapshot = p.memory().to_vec();
    let _restored = WasmProcess::from_memory(&m, BIG, &snapshot).unwrap();
    let _ = writeln!(
        err,
        "snapshot + from_memory of {} bytes: {:.3}s",
        snapshot.len(),
        start.elapsed().as_secs_f64()
    );
}

#[test]
#[ignore]
fn bench_counter_steps() {
    let Some(m) = module("counter-wasm32.wasm", ModuleFormat::Emscripten) else {
        return;
    };
    let env = counter_env();
    let mut err = std::io::stderr();
    let t = std::time::Instant::now();
    let mut p = WasmProcess::new(&m, BIG).unwrap();
    let _ = writeln!(err, "new: {:.3}s", t.elapsed().as_secs_f64());
    let t = std::time::Instant::now();
    let fuel0 = BIG.compute;
    let one = p.handle(&counter_msg("inc", ""), &env, 2).unwrap();
    let fuel_used = fuel0.saturating_mul(METERED_FUEL_FACTOR) - p.store.get_fuel().unwrap();
    let _ = writeln!(
        err,
        "inc: {:.3}s gas {} fuel {}",
        t.elapsed().as_secs_f64(),
        one.result["GasUsed"],
        fuel_used
    );
    let good = p.memory().to_vec();
    for (limits, action) in [
        (
            Limits {
                memory_bytes: 8 << 20,
                compute: BIG.compute,
            },
            "Memory",
        ),
        (
            Limits {
                memory_bytes: BIG.memory_bytes,
                compute: 50_000_000,
            },
            "Spin",
        ),
    ] {
        let t = std::time::Instant::now();
        let mut p = WasmProcess::from_memory(&m, limits, &good).unwrap();
        let out = p.handle(&counter_msg(action, ""), &env, 4).unwrap();
        let _ = writeln!(
            err,
            "{action}: {:.3}s {} mem {}",
            t.elapsed().as_secs_f64(),
            out.result,
            p.memory_len()
        );
    }
}

/// Runs a message file through this host the way `tests/js/ao-loader-eval.mjs` runs it through
/// ao-loader (same default env, same memory rules) and writes one result line per message:
/// `AOLINK_DIFF_MODULE=… AOLINK_DIFF_FORMAT=… AOLINK_DIFF_MESSAGES=… AOLINK_DIFF_OUT=…
///  cargo test -p aolink-node --lib differential_dump -- --ignored`.
#[test]
#[ignore]
fn differential_dump() {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let bytes = std::fs::read(var("AOLINK_DIFF_MODULE")).unwrap();
    let format = ModuleFormat::parse(&var("AOLINK_DIFF_FORMAT")).unwrap();
    let compute = std::env::var("AOLINK_DIFF_COMPUTE")
        .ok()
        .map(|v| v.parse().unwrap())
        .unwrap_or(BIG.compute);
    let limits = Limits {
        memory_bytes: BIG.memory_bytes,
        compute,
    };
    // Lines are passed verbatim (as JSON.stringify would print them): key order matters to Lua.
    let lines: Vec<String> = std::fs::read_to_string(var("AOLINK_DIFF_MESSAGES"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    let messages: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let first = &messages[0];
    // In the harness's key order (serde_json would sort the keys).
    let field = |k: &str, default: Value| first.get(k).cloned().unwrap_or(default).to_string();
    let env = format!(
        r#"{{"Process":{{"Id":{},"Owner":{},"Tags":{}}},"Module":{{"Id":"AOLINK0DEFAULT0MODULE0000000000000000000000","Owner":"AOLINK0DEFAULT0MODULE0OWNER000000000000000","Tags":[]}}}}"#,
        field(
            "Target",
            json!("AOLINK0DEFAULT0PROCESS000000000000000000000")
        ),
        field(
            "Owner",
            json!("AOLINK0DEFAULT0OWNER00000000000000000000000")
        ),
        field("Tags", json!([])),
    );
    let m = engine().compile(&bytes, format).unwrap();
    let mut good: Option<Vec<u8>> = None;
    let mut live: Option<WasmProcess> = None;
    let mut out = String::new();
    for (msg, line) in messages.iter().zip(&lines) {
        let p = match live.as_mut() {
            Some(p) => p,
            None => live.insert(match &good {
                Some(mem) => WasmProcess::from_memory(&m, limits, mem).unwrap(),
                None => WasmProcess::new(&m, limits).unwrap(),
            }),
        };
        let ts = msg["Timestamp"].as_i64().unwrap_or(0);
        let outcome = p.handle(line, &env, ts).unwrap();
        if outcome.keep_memory {
            good = Some(p.memory().to_vec());
        } else {
            live = None;
        }
        out.push_str(&outcome.result.to_string());
        out.push('\n');
    }
    std::fs::write(var("AOLINK_DIFF_OUT"), out).unwrap();
}
