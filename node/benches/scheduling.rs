//! Durable scheduling throughput: data items verified, scheduled and fsynced per second,
//! through the same path `POST /` takes (`Node::submit`), without HTTP.
//!
//! `sequential`: one client, every item waits for its own fsync (the worst case).
//! `concurrent/64`: 64 submissions in flight; their fsyncs are shared (group commit).
//! `reference/append_fsync`: the same machine's floor for one-at-a-time durability: append an
//! item-sized record to a plain file and `fdatasync` it, no parsing, signing or indexing.

use std::time::{Duration, Instant};

use aolink_node::ans104::{DataItem, Ed25519Signer, Tag, b64url_encode};
use aolink_node::{Node, NodeConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn signed_messages(
    signer: &Ed25519Signer,
    process: [u8; 32],
    start: u64,
    count: u64,
) -> Vec<Vec<u8>> {
    (start..start + count)
        .map(|n| {
            DataItem::sign(
                signer,
                Some(process),
                None,
                vec![
                    Tag::new("Data-Protocol", "ao"),
                    Tag::new("Variant", "ao.TN.1"),
                    Tag::new("Type", "Message"),
                    Tag::new("Action", "Bench"),
                    Tag::new("N", n.to_string()),
                ],
                vec![b'x'; 256],
            )
            .map(|item| item.to_bytes())
        })
        .collect::<Result<_, _>>()
        .unwrap_or_default()
}

fn bench_scheduling(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let node = Node::open(NodeConfig::new(dir.path())).unwrap_or_else(|e| panic!("open: {e}"));
    let signer = Ed25519Signer::generate();
    let process = DataItem::sign(
        &signer,
        None,
        None,
        vec![
            Tag::new("Data-Protocol", "ao"),
            Tag::new("Type", "Process"),
            Tag::new("Module", b64url_encode(&[7u8; 32])),
        ],
        b"bench".to_vec(),
    )
    .unwrap_or_else(|e| panic!("sign: {e}"));
    runtime
        .block_on(node.submit(process.to_bytes()))
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let mut next = 0u64;

    let mut group = c.benchmark_group("durable_scheduling");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("sequential", |b| {
        b.iter_custom(|iters| {
            let items = signed_messages(&signer, process.id(), next, iters);
            next += iters;
            let start = Instant::now();
            runtime.block_on(async {
                for item in items {
                    node.submit(item)
                        .await
                        .unwrap_or_else(|e| panic!("submit: {e}"));
                }
            });
            start.elapsed()
        })
    });
    group.bench_function("concurrent/64", |b| {
        b.iter_custom(|iters| {
            let items = signed_messages(&signer, process.id(), next, iters);
            next += iters;
            let start = Instant::now();
            runtime.block_on(async {
                let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
                let mut tasks = Vec::with_capacity(items.len());
                for item in items {
                    let node = node.clone();
                    let permit = semaphore.clone().acquire_owned().await;
                    tasks.push(tokio::spawn(async move {
                        let _permit = permit;
                        node.submit(item).await.map(|_| ())
                    }));
                }
                for task in tasks {
                    task.await
                        .unwrap_or_else(|e| panic!("join: {e}"))
                        .unwrap_or_else(|e| panic!("submit: {e}"));
                }
            });
            start.elapsed()
        })
    });
    group.bench_function("reference/append_fsync", |b| {
        use std::io::Write;
        let path = dir.path().join("reference.log");
        let mut file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("create: {e}"));
        let record = vec![b'x'; 512];
        b.iter(|| {
            file.write_all(&record)
                .unwrap_or_else(|e| panic!("write: {e}"));
            file.sync_data().unwrap_or_else(|e| panic!("fsync: {e}"));
        })
    });
    group.finish();
}

criterion_group!(benches, bench_scheduling);
criterion_main!(benches);
