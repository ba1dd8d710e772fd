//! Compute against the real fixture modules: limits, rollback of errored messages, spawn
//! refusal, and checkpoint/restart reaching exactly the state a full replay reaches.

mod support;

use std::path::Path;
use std::sync::Arc;

use aolink_node::ans104::Ed25519Signer;
use aolink_node::clock::ManualClock;
use aolink_node::compute::ComputeConfig;
use serde_json::Value;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_limits_stop_runaway_messages_and_the_next_one_still_answers() {
    let Some(wasm) = fixture("counter-wasm32.wasm") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let node = open(dir.path(), clock, ComputeConfig::default());
    let signer = Ed25519Signer::generate();
    let module = module_item(&signer, wasm, "wasm32-unknown-emscripten");
    node.submit(module.to_bytes()).await.unwrap();
    let process = process_item(
        &signer,
        &node,
        &module,
        &[("Memory-Limit", "64-mb"), ("Compute-Limit", "2000000000")],
    );
    node.submit(process.to_bytes()).await.unwrap();
    let mut slot = 0;
    let mut send = |action: &str| {
        slot += 1;
        (message(&signer, &process, action, ""), slot)
    };
    let (inc1, s_inc1) = send("inc");
    let (memory, s_memory) = send("Memory");
    let (runaway, s_runaway) = send("Loop-Forever");
    let (inc2, s_inc2) = send("inc");
    for item in [&inc1, &memory, &runaway, &inc2] {
        node.submit(item.to_bytes()).await.unwrap();
    }
    assert_eq!(output_text(&result_of(&node, &process, s_inc1).await), "1");
    let r = result_of(&node, &process, s_memory).await;
    assert!(
        r.get("Error").is_some_and(|e| !e.is_null()),
        "Action=Memory must hit the memory limit: {r}"
    );
    let r = result_of(&node, &process, s_runaway).await;
    assert!(
        r.get("Error").is_some_and(|e| !e.is_null()),
        "an endless loop must hit the compute limit: {r}"
    );
    assert_eq!(
        output_text(&result_of(&node, &process, s_inc2).await),
        "2",
        "state after the failed messages is the state before them"
    );
}

#[tokio::test]
async fn a_module_needing_an_unknown_import_is_refused_at_spawn() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_default(dir.path());
    let signer = Ed25519Signer::generate();
    let wasm = wat::parse_str(
        r#"(module (import "env" "definitely_not_emscripten" (func)) (memory (export "memory") 1)
            (func (export "handle") (param i32 i32) (result i32) i32.const 0))"#,
    )
    .unwrap();
    let module = module_item(&signer, wasm, "wasm32-unknown-emscripten4");
    node.submit(module.to_bytes()).await.unwrap();
    let before = node.store().counts();
    let process = process_item(&signer, &node, &module, &[]);
    let err = node
        .submit(process.to_bytes())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tags.Module") && err.contains("definitely_not_emscripten"),
        "{err}"
    );
    assert_eq!(
        node.store().counts(),
        before,
        "a refused spawn stores nothing"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_from_a_checkpoint_reaches_the_state_a_full_replay_reaches() {
    let Some(wasm) = fixture("aos-wasm64.wasm") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("node");
    let clock = Arc::new(ManualClock::new(T0));
    let signer = Ed25519Signer::generate();
    let evals = [
        "x = 1; return x",
        "x = x + 1; return x",
        "error('boom')",
        "t = {}; for i = 1, 100 do t[i] = i * i end; return #t",
        "x = x + 10; return x",
        "return nosuchfunction()",
        "s = string.rep('ab', 5000); return #s",
        "x = x * 2; return x",
        "Handlers.add('hi', Handlers.utils.hasMatchingTag('Action','Hi'), function(m) Seen = (Seen or 0) + 1 end); return 'ok'",
        "return Seen",
        "x = x - 1; return x",
        "return x",
    ];
    let pid = {
        let node = open(&work, clock.clone(), ComputeConfig::default());
        let module = module_item(&signer, wasm, "wasm64-unknown-emscripten-draft_2024_02_15");
        node.submit(module.to_bytes()).await.unwrap();
        let process = process_item(
            &signer,
            &node,
            &module,
            &[("Memory-Limit", "1-gb"), ("Compute-Limit", "9000000000000")],
        );
        node.submit(process.to_bytes()).await.unwrap();
        for (n, code) in evals.iter().enumerate() {
            clock.set(T0 + 1000 * (n as i64 + 1));
            node.submit(message(&signer, &process, "Eval", code).to_bytes())
                .await
                .unwrap();
        }
        process.id()
    };
    let replay_dir = dir.path().join("replay");
    copy_dir(&work, &replay_dir);

    let checkpointing = ComputeConfig {
        checkpoint_every: 4,
        snapshot_every: 3,
        ..ComputeConfig::default()
    };
    let (straight, slots) = {
        let node = open(&work, clock.clone(), checkpointing.clone());
        let compute = node.compute().clone();
        tokio::task::spawn_blocking(move || compute.memory_hash(&pid))
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(slots, evals.len() as u64 + 1);
    let node = open(&work, clock.clone(), checkpointing);
    let checkpoint = node
        .store()
        .checkpoint(&pid)
        .unwrap()
        .expect("a checkpoint was written");
    assert!(
        checkpoint.slot >= 8 && checkpoint.slot < slots - 1,
        "restart must resume mid-schedule (checkpoint at {})",
        checkpoint.slot
    );
    let compute = node.compute().clone();
    let (restarted, _) = tokio::task::spawn_blocking(move || compute.memory_hash(&pid))
        .await
        .unwrap()
        .unwrap();
    let restarted_results: Vec<_> = node
        .store()
        .results_from(&pid, 0)
        .map(|r| r.unwrap())
        .collect();
    drop(node);

    let replay = open(
        &replay_dir,
        clock,
        ComputeConfig {
            checkpoint_every: u64::MAX,
            snapshot_every: 1000,
            ..ComputeConfig::default()
        },
    );
    assert!(replay.store().checkpoint(&pid).unwrap().is_none());
    let compute = replay.compute().clone();
    let (full, _) = tokio::task::spawn_blocking(move || compute.memory_hash(&pid))
        .await
        .unwrap()
        .unwrap();
    let replay_results: Vec<_> = replay
        .store()
        .results_from(&pid, 0)
        .map(|r| r.unwrap())
        .collect();

    assert_eq!(
        straight, full,
        "evaluation with checkpoints and rollbacks differs from a plain replay"
    );
    assert_eq!(
        restarted, full,
        "restart from a checkpoint differs from a full replay"
    );
    assert_eq!(restarted_results, replay_results, "results differ");
    let last: Value = serde_json::from_slice(&replay_results.last().unwrap().1).unwrap();
    assert_eq!(
        output_text(&last),
        "23",
        "x = ((1+1)+10)*2-1 with the errors discarded: {last}"
    );
}
