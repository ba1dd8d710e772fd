//! Messages per second through aos on `aos-wasm64.wasm`, memory carried from message to message:
//! aolink's host (`aolink eval`, the release binary) against the reference JS host
//! (`@permaweb/ao-loader` 0.0.49 via tests/js/ao-loader-eval.mjs), in the same run.
//!
//! Workload: the process message of tests/js/messages/aos2.jsonl (aos boots on it), then N−1
//! Evals of `x = (x or 0) + 1 return x`; N = 200 for ao-loader (`$AOLINK_BENCH_MESSAGES`) and
//! 2000 for aolink (`$AOLINK_BENCH_MESSAGES_AOLINK`): at ~3 ms a message, 200 messages are less
//! than a second for aolink, the same order as the startup noise t_N − t_1 must cancel, so it
//! gets ten times more (the per-message work does not grow with N: x is one integer). Both sides
//! are external processes, so each measurement runs the N-message file and a 1-message file (the
//! process message alone) and takes (t_N − t_1)/(N − 1): startup, module compilation and the
//! Lua boot cancel out, what remains is the per-message cost with carried memory. Before timing,
//! each side's last result is checked (`Output.data == "N-1"`), so a host that stops evaluating
//! cannot look fast.
//!
//! Why criterion with `iter_custom`: one sample is one such differential pair of runs, and the
//! routine reports `iters × (t_N − t_1)/(N − 1)`, which fits criterion's model (time ∝ iters)
//! and gives its usual estimate and confidence interval, with `Throughput::Elements(1)` turning
//! them into messages per second. Criterion cannot report a ratio between two functions, so the
//! per-sample values are also collected here, and the medians and their ratio are printed at the
//! end. Flat sampling and the minimum of 10 samples keep the run to a few minutes (ao-loader
//! copies the whole ~105 MiB memory in and out of every `handle`, 70-120 ms a message).
//!
//! `cargo bench -p aolink --bench eval_vs_ao_loader`. Test data: as in tests/differential.rs
//! (`$AOLINK_FIXTURES`, tests/js/node_modules); without it the bench prints SKIPPED (fails
//! under CI).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aolink_testkit::{fixtures_dir, prerequisite_missing, workspace_root};
use criterion::{Criterion, SamplingMode, Throughput};
use serde_json::{Value, json};

const MODULE: &str = "aos-wasm64.wasm";
const FORMAT: &str = "wasm64-unknown-emscripten-draft_2024_02_15";
const EVAL: &str = "x = (x or 0) + 1 return x";

#[derive(Clone, Copy, PartialEq)]
enum Tool {
    Aolink,
    AoLoader,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Aolink => "aolink eval",
            Tool::AoLoader => "ao-loader 0.0.49",
        }
    }

    fn command(self, wasm: &Path, messages: &Path) -> Command {
        let mut cmd = match self {
            Tool::Aolink => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_aolink"));
                c.arg("eval").env("AOLINK_LOG", "warn");
                c
            }
            Tool::AoLoader => {
                let mut c = Command::new("node");
                c.arg(workspace_root().join("tests/js/ao-loader-eval.mjs"));
                c
            }
        };
        cmd.arg("--module")
            .arg(wasm)
            .args(["--format", FORMAT, "--messages"])
            .arg(messages)
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    /// Runs the whole sequence; returns the wall time and the last result line.
    fn run(self, wasm: &Path, messages: &Path) -> (Duration, String) {
        let started = Instant::now();
        let out = self
            .command(wasm, messages)
            .output()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.name()));
        let elapsed = started.elapsed();
        assert!(
            out.status.success(),
            "{} failed on {}: {}",
            self.name(),
            messages.display(),
            out.status
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        (elapsed, last.to_string())
    }
}

/// Writes the N-message and the 1-message sequence.
fn write_sequences(dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    let source = workspace_root().join("tests/js/messages/aos2.jsonl");
    let text = std::fs::read_to_string(&source)
        .unwrap_or_else(|e| panic!("reading {}: {e}", source.display()));
    let process: Value = serde_json::from_str(text.lines().next().expect("aos2.jsonl is empty"))
        .expect("the first line of aos2.jsonl is JSON");
    let mut lines = vec![process.to_string()];
    for i in 1..n {
        let mut m = process.clone();
        let obj = m.as_object_mut().expect("a message is an object");
        obj.remove("Module");
        obj.insert("Id".into(), json!(format!("BENCH{i:038}")));
        obj.insert("Tags".into(), json!([{"name": "Action", "value": "Eval"}]));
        obj.insert("Data".into(), json!(EVAL));
        for (key, step) in [("Timestamp", 1000), ("Block-Height", 1), ("Nonce", 1)] {
            let base = process[key].as_u64().unwrap_or(0);
            obj.insert(key.into(), json!(base + step * i as u64));
        }
        lines.push(m.to_string());
    }
    let all = dir.join(format!("bench-{n}.jsonl"));
    let one = dir.join("bench-1.jsonl");
    std::fs::write(&all, lines.join("\n") + "\n").expect("writing the bench sequence");
    std::fs::write(&one, lines[0].clone() + "\n").expect("writing the bench sequence");
    (all, one)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn main() {
    let wasm = fixtures_dir().join(MODULE);
    if !wasm.is_file() {
        return prerequisite_missing(&format!(
            "{} not found (set AOLINK_FIXTURES)",
            wasm.display()
        ));
    }
    if !workspace_root()
        .join("tests/js/node_modules/@permaweb/ao-loader/package.json")
        .is_file()
    {
        return prerequisite_missing(
            "tests/js/node_modules/@permaweb/ao-loader is missing (npm ci in tests/js)",
        );
    }
    let count = |var: &str, default: usize| -> usize {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n >= 2)
            .unwrap_or(default)
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let tools: Vec<(Tool, usize, PathBuf, PathBuf)> = [
        (Tool::Aolink, count("AOLINK_BENCH_MESSAGES_AOLINK", 2000)),
        (Tool::AoLoader, count("AOLINK_BENCH_MESSAGES", 200)),
    ]
    .into_iter()
    .map(|(tool, n)| {
        let (all, one) = write_sequences(dir.path(), n);
        (tool, n, all, one)
    })
    .collect();

    // Both sides must really evaluate every message (this also warms the file cache). The wall
    // time of one sample (both runs) sizes criterion's measurement time, so that it does not
    // warn about 10 samples not fitting.
    let mut sample_wall = Vec::new();
    for (tool, n, all, one) in &tools {
        let (t1, _) = tool.run(&wasm, one);
        let (tn, last) = tool.run(&wasm, all);
        sample_wall.push((t1 + tn).mul_f64(1.2));
        let result: Value = serde_json::from_str(&last)
            .unwrap_or_else(|e| panic!("{}: last result is not JSON ({e}): {last}", tool.name()));
        assert_eq!(
            result["Output"]["data"],
            json!((n - 1).to_string()),
            "{}: the last of {n} messages should return {}; got {last}",
            tool.name(),
            n - 1
        );
    }

    let samples: Mutex<Vec<(&'static str, f64)>> = Mutex::new(Vec::new());
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .configure_from_args();
    {
        let mut group = c.benchmark_group(format!("eval_vs_ao_loader/{MODULE}"));
        group.sampling_mode(SamplingMode::Flat);
        group.throughput(Throughput::Elements(1));
        for ((tool, n, all, one), wall) in tools.iter().zip(sample_wall) {
            group.measurement_time(wall * 11);
            group.bench_function(format!("{} ({n} messages)", tool.name()), |b| {
                b.iter_custom(|iters| {
                    let (t1, _) = tool.run(&wasm, one);
                    let (tn, _) = tool.run(&wasm, all);
                    let per_message = tn.saturating_sub(t1) / (*n as u32 - 1);
                    samples
                        .lock()
                        .unwrap()
                        .push((tool.name(), per_message.as_secs_f64()));
                    per_message.mul_f64(iters as f64)
                })
            });
        }
        group.finish();
    }
    c.final_summary();

    let samples = samples.into_inner().unwrap();
    if samples.is_empty() {
        return;
    }
    let rate = |tool: Tool| {
        let mut per: Vec<f64> = samples
            .iter()
            .filter(|(name, _)| *name == tool.name())
            .map(|(_, s)| *s)
            .collect();
        let count = per.len();
        let med = median(&mut per);
        let (fast, slow) = (per[0], per[count - 1]);
        (1.0 / med, 1.0 / slow, 1.0 / fast, count)
    };
    println!(
        "\neval_vs_ao_loader: {MODULE}, the process message then `{EVAL}` again and again, memory \
         carried; per-message time = (t_N − t_1)/(N − 1)"
    );
    let ours = rate(Tool::Aolink);
    let theirs = rate(Tool::AoLoader);
    for ((tool, n, _, _), (med, low, high, count)) in tools.iter().zip([ours, theirs]) {
        println!(
            "  {:<18} N = {n:<5} {med:>10.1} msgs/s (median of {count} samples; range {low:.1} .. {high:.1})",
            tool.name()
        );
    }
    println!("  ratio aolink / ao-loader: {:.2}×", ours.0 / theirs.0);
}
