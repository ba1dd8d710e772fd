//! Differential test of aolink's WebAssembly host against the reference evaluator, the real
//! `@permaweb/ao-loader` 0.0.49 (tests/js/ao-loader-eval.mjs).
//!
//! For each fixture module, the same message sequence (tests/js/messages/*.jsonl, written by
//! tests/js/messages/generate.mjs) goes through
//!   `node tests/js/ao-loader-eval.mjs --module M --format F --messages S`   and
//!   `aolink eval                      --module M --format F --messages S`,
//! each printing one JSON result per message, and the results must agree message by message on
//! Output, Messages, Spawns, Assignments and Error (a key absent on both sides counts as equal;
//! absent on one side only is a difference). Memory and GasUsed are not compared
//! (ao-protocol.md C1, C3).
//!
//! Test data: the fixture modules are read from `$AOLINK_FIXTURES` or
//! `<repo>/../shared/fixtures/ao-modules`, and node must have tests/js/node_modules (`npm ci` in
//! tests/js). When either is missing the test fails under CI (env `CI` set) and otherwise prints
//! a SKIPPED notice and passes.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aolink_testkit::{fixtures_dir, prerequisite_missing, workspace_root};
use serde_json::Value;

/// The keys compared, in the order reported.
const KEYS: [&str; 5] = ["Output", "Messages", "Spawns", "Assignments", "Error"];
/// A whole sequence must finish within this (ao-loader needs ~11 s for the aos sequences).
const TIMEOUT: Duration = Duration::from_secs(600);

/// Everything the test needs from outside the repository, or `None` after `skip`.
fn prerequisites(module: &str) -> Option<PathBuf> {
    let wasm = fixtures_dir().join(module);
    if !wasm.is_file() {
        prerequisite_missing(&format!(
            "fixture {} not found (set AOLINK_FIXTURES to the ao-modules folder)",
            wasm.display()
        ));
        return None;
    }
    let loader = workspace_root().join("tests/js/node_modules/@permaweb/ao-loader/package.json");
    if !loader.is_file() {
        prerequisite_missing(
            "tests/js/node_modules/@permaweb/ao-loader is missing (run `npm ci` in tests/js)",
        );
        return None;
    }
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => Some(wasm),
        _ => {
            prerequisite_missing("`node` is not on PATH");
            None
        }
    }
}

struct Finished {
    stdout: String,
    stderr: String,
    success: bool,
    elapsed: Duration,
}

/// Runs a command to completion, reading both pipes concurrently; kills it after `TIMEOUT`.
fn run(mut command: Command, what: &str) -> Finished {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        out.read_to_end(&mut buf).map(|_| buf)
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        err.read_to_end(&mut buf).map(|_| buf)
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_reader.join().unwrap().expect("reading stdout");
    let stderr = err_reader.join().unwrap().expect("reading stderr");
    Finished {
        stdout: String::from_utf8(stdout)
            .unwrap_or_else(|e| panic!("{what} printed invalid UTF-8 on stdout: {e}")),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        success: status.success(),
        elapsed: started.elapsed(),
    }
}

/// Parses one JSON object per non-empty line.
fn parse_results(what: &str, finished: &Finished) -> Vec<Value> {
    assert!(
        finished.success,
        "{what} failed:\n--- stderr ---\n{}\n--- stdout (first 4000 chars) ---\n{}",
        finished.stderr,
        clip(&finished.stdout, 4000)
    );
    finished
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!(
                    "{what}: result line {} is not JSON ({e}): {}",
                    i + 1,
                    clip(line, 2000)
                )
            });
            assert!(
                v.is_object(),
                "{what}: result {i} is not an object: {}",
                clip(line, 2000)
            );
            v
        })
        .collect()
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} more bytes]", &s[..end], s.len() - end)
}

/// The message with long strings shortened, for reports.
fn shorten(v: &Value) -> Value {
    match v {
        Value::String(s) if s.len() > 300 => Value::String(clip(s, 300)),
        Value::Array(a) if a.len() > 40 => {
            let mut out: Vec<Value> = a.iter().take(40).map(shorten).collect();
            out.push(Value::String(format!("… {} more elements", a.len() - 40)));
            Value::Array(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(shorten).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), shorten(v))).collect()),
        other => other.clone(),
    }
}

/// JSON equality as the JS CU sees it: ao-loader's results go through `JSON.parse`, where every
/// number is an f64, so `1024` and `1024.0` are the same value (and integers beyond 2^53 round).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Where two values first differ: a JSON path and a short description.
fn first_difference(path: &str, a: Option<&Value>, b: Option<&Value>) -> Option<String> {
    match (a, b) {
        (None, None) => None,
        (Some(x), None) => Some(format!("{path}: only ao-loader has it ({})", kind(x))),
        (None, Some(y)) => Some(format!("{path}: only aolink has it ({})", kind(y))),
        (Some(x), Some(y)) if same(x, y) => None,
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .find_map(|k| first_difference(&format!("{path}.{k}"), x.get(k), y.get(k)))
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            let common = x.len().min(y.len());
            (0..common)
                .find_map(|i| first_difference(&format!("{path}[{i}]"), Some(&x[i]), Some(&y[i])))
                .or_else(|| {
                    Some(format!(
                        "{path}: ao-loader has {} elements, aolink {}",
                        x.len(),
                        y.len()
                    ))
                })
        }
        (Some(Value::String(x)), Some(Value::String(y))) => {
            let at = x
                .char_indices()
                .zip(y.chars())
                .find(|((_, cx), cy)| cx != cy)
                .map(|((i, _), _)| i)
                .unwrap_or(x.len().min(y.len()));
            let from = x[..at].char_indices().rev().nth(30).map_or(0, |(i, _)| i);
            Some(format!(
                "{path}: strings differ at byte {at} (lengths {} vs {}): ao-loader …{:?}… vs aolink …{:?}…",
                x.len(),
                y.len(),
                clip(&x[from..], at - from + 60),
                clip(y.get(from..).unwrap_or(""), at - from + 60),
            ))
        }
        (Some(x), Some(y)) => Some(format!(
            "{path}: ao-loader {} vs aolink {}",
            clip(&x.to_string(), 300),
            clip(&y.to_string(), 300)
        )),
    }
}

fn kind(v: &Value) -> String {
    clip(&v.to_string(), 200)
}

fn pretty(v: Option<&Value>) -> String {
    match v {
        None => "<absent>".to_string(),
        Some(v) => clip(&serde_json::to_string_pretty(v).unwrap(), 6000),
    }
}

fn differential(module: &str, format: &str, sequence: &str) {
    let Some(wasm) = prerequisites(module) else {
        return;
    };
    let root = workspace_root();
    let messages_file = root.join("tests/js/messages").join(sequence);
    let messages: Vec<Value> = std::fs::read_to_string(&messages_file)
        .unwrap_or_else(|e| panic!("reading {}: {e}", messages_file.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("message lines are JSON"))
        .collect();
    assert!(
        messages.len() >= 50,
        "{sequence} should hold at least 50 messages"
    );

    let args = |cmd: &mut Command| {
        cmd.arg("--module")
            .arg(&wasm)
            .args(["--format", format, "--messages"])
            .arg(&messages_file);
    };
    let mut reference = Command::new("node");
    reference.arg(root.join("tests/js/ao-loader-eval.mjs"));
    args(&mut reference);
    let mut ours = Command::new(env!("CARGO_BIN_EXE_aolink"));
    ours.arg("eval").env("AOLINK_LOG", "warn");
    args(&mut ours);

    let js = run(reference, "ao-loader-eval.mjs");
    let rs = run(ours, "aolink eval");
    // Exact, including Lua `pairs` order (tag order in Messages/Spawns, json.encode output):
    // it follows Lua's string-hash seed, which ao-loader-eval.mjs makes reproducible by pinning
    // the command line the legacy glues read (thisProgram, `_`, emscripten2's main argv), so a
    // host with a different clock, environment, argv or string placement on the stack shows up.
    let expected = parse_results("ao-loader-eval.mjs", &js);
    let actual = parse_results("aolink eval", &rs);
    let _ = writeln!(
        std::io::stderr(),
        "{module}: {} messages; ao-loader {:.1} s, aolink eval {:.1} s",
        messages.len(),
        js.elapsed.as_secs_f64(),
        rs.elapsed.as_secs_f64()
    );
    assert_eq!(
        expected.len(),
        messages.len(),
        "ao-loader-eval.mjs printed {} results for {} messages",
        expected.len(),
        messages.len()
    );

    let mut differing = Vec::new();
    let mut first = None;
    for (i, (e, a)) in expected.iter().zip(&actual).enumerate() {
        let diffs: Vec<String> = KEYS
            .iter()
            .filter_map(|k| first_difference(k, e.get(*k), a.get(*k)))
            .collect();
        if !diffs.is_empty() {
            differing.push(i);
            if first.is_none() {
                first = Some((i, diffs));
            }
        }
    }
    if let Some((i, diffs)) = first {
        let (e, a) = (&expected[i], &actual[i]);
        let mut report = format!(
            "{module} ({format}), {sequence}: {} of {} messages differ from ao-loader: {:?}\n\n\
             first differing message #{i}:\n{}\n\nwhere they differ:\n  {}\n",
            differing.len(),
            messages.len(),
            differing,
            serde_json::to_string_pretty(&shorten(&messages[i])).unwrap(),
            diffs.join("\n  "),
        );
        for key in KEYS {
            if first_difference(key, e.get(key), a.get(key)).is_some() {
                report.push_str(&format!(
                    "\n{key} from ao-loader:\n{}\n{key} from aolink eval:\n{}\n",
                    pretty(e.get(key)),
                    pretty(a.get(key))
                ));
            }
        }
        if !rs.stderr.trim().is_empty() {
            report.push_str(&format!(
                "\naolink eval stderr:\n{}\n",
                clip(&rs.stderr, 4000)
            ));
        }
        panic!("{report}");
    }
    assert_eq!(
        actual.len(),
        expected.len(),
        "aolink eval printed {} results for {} messages (the first {} agree)",
        actual.len(),
        expected.len(),
        actual.len().min(expected.len())
    );
}

#[test]
fn aos_wasm64_matches_ao_loader() {
    differential(
        "aos-wasm64.wasm",
        "wasm64-unknown-emscripten-draft_2024_02_15",
        "aos2.jsonl",
    );
}

#[test]
fn aos_wasm32_em4_matches_ao_loader() {
    differential(
        "aos-wasm32-em4.wasm",
        "wasm32-unknown-emscripten4",
        "aos2.jsonl",
    );
}

#[test]
fn aos_wasm32_em2_matches_ao_loader() {
    differential(
        "aos-wasm32-em2.wasm",
        "wasm32-unknown-emscripten2",
        "aos1.jsonl",
    );
}

#[test]
fn counter_wasm32_matches_ao_loader() {
    differential(
        "counter-wasm32.wasm",
        "wasm32-unknown-emscripten",
        "counter.jsonl",
    );
}

/// The comparison itself must catch differences: a changed, added or missing key, and a
/// string differing in one character, are reported; equal values and keys absent on both
/// sides are not.
#[test]
fn comparison_detects_differences() {
    let a: Value = serde_json::json!({"data": "hello world", "list": [1, 2, {"x": true}]});
    assert_eq!(first_difference("Output", Some(&a), Some(&a.clone())), None);
    assert_eq!(first_difference("Error", None, None), None);
    let mut b = a.clone();
    b["data"] = "hello World".into();
    let d = first_difference("Output", Some(&a), Some(&b)).unwrap();
    assert!(
        d.starts_with("Output.data: strings differ at byte 6"),
        "{d}"
    );
    let mut c = a.clone();
    c["list"][2]["x"] = false.into();
    let d = first_difference("Output", Some(&a), Some(&c)).unwrap();
    assert!(d.starts_with("Output.list[2].x"), "{d}");
    let mut e = a.clone();
    e["list"].as_array_mut().unwrap().push(3.into());
    assert!(first_difference("Output", Some(&a), Some(&e)).is_some());
    assert!(first_difference("Assignments", Some(&serde_json::json!([])), None).is_some());
    // numbers compare as JS numbers
    let (one, one_float, two) = (
        serde_json::json!(1),
        serde_json::json!(1.0),
        serde_json::json!(2),
    );
    assert_eq!(
        first_difference("Output", Some(&one), Some(&one_float)),
        None
    );
    assert!(first_difference("Output", Some(&one), Some(&two)).is_some());
    assert!(first_difference("Output", Some(&one), Some(&serde_json::json!("1"))).is_some());
    assert!(
        first_difference(
            "Output",
            Some(&serde_json::json!({"a": 1})),
            Some(&serde_json::json!({"a": 1, "b": null}))
        )
        .is_some()
    );
}
