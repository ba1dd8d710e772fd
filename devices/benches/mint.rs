//! The fair-launch mint inside `bridge@1.0`: catching up a year of 300 s periods (105,120)
//! over 10,000 positions, and one period over 1,000,000 positions. Each sample restores the
//! ledger from its saved bytes (outside the timing) and times the one message that mints.
//!
//! Goals (issue 4): the year under 1 s, the million-position period under 0.5 s. The
//! reference in the same run is the cost of restoring the same ledger from its bytes, which
//! every checkpointed process pays anyway.

use std::time::Duration;

use aolink_devices::{self as devices, Device, DeviceEnv, Message};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

const T0: i64 = 1_700_000_000_000;
const PERIOD: i64 = 300_000;
const YEAR: i64 = 105_120;
const MIRROR: &str = "MIRRORmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm";
const ORACLE: &str = "ORACLEooooooooooooooooooooooooooooooooooooo";
const SNAPSHOT: &str = "SNAPSHOTsssssssssssssssssssssssssssssssssss";
const BRIDGE: &str = "0x00000000000000000000000000000000000000b1";

fn env(report: bool) -> DeviceEnv {
    let t0 = T0.to_string();
    let mut tags = vec![
        ("Mirror", MIRROR.to_string()),
        ("Asset", format!("stETH:1:{BRIDGE}:0")),
        ("Asset", format!("DAI:1:{BRIDGE}:1")),
        ("Oracle", ORACLE.to_string()),
        ("Snapshot-Authority", SNAPSHOT.to_string()),
        ("Mint-T0", t0.clone()),
        ("Bridge-Start", t0),
        ("Accrual-Delay", "0".to_string()),
    ];
    if !report {
        tags.push(("Report-To", "none".to_string()));
    }
    DeviceEnv {
        process_id: "bridge".into(),
        owner: "owner".into(),
        tags: tags.into_iter().map(|(n, v)| (n.to_string(), v)).collect(),
    }
}

fn msg(action: &str, from: &str, data: Value, timestamp: i64) -> Message {
    Message {
        id: Some(format!("m{timestamp}")),
        from: from.into(),
        owner: from.into(),
        tags: vec![
            ("Action".into(), action.into()),
            ("Chain-Id".into(), "1".into()),
            ("Contract".into(), BRIDGE.into()),
        ],
        data: data.to_string(),
        timestamp,
        block_height: 1,
        slot: Some(1),
        read_only: false,
    }
}

/// A ledger with `positions` stakes (distinct depositors and recipients, both assets, varied
/// amounts), quotes for both assets and a 1,000-holder AR snapshot, saved as bytes.
fn ledger(positions: u64, report: bool) -> Vec<u8> {
    let env = env(report);
    let mut bridge = devices::create(devices::bridge::NAME, &env).unwrap();
    let quotes = json!({"quotes": {
        "stETH": {"price": "300000000000", "yieldBps": "300"},
        "DAI": {"price": "100000000", "yieldBps": "500"},
    }});
    assert!(
        bridge
            .handle(&msg("Oracle-Update", ORACLE, quotes, T0 + 1))
            .error
            .is_none()
    );
    let holders: serde_json::Map<String, Value> = (0..1000u64)
        .map(|i| {
            (
                format!("holder{i:06}"),
                json!((1_000_000 + i * 7919).to_string()),
            )
        })
        .collect();
    let snapshot = json!({"balances": holders});
    assert!(
        bridge
            .handle(&msg("AR-Snapshot", SNAPSHOT, snapshot, T0 + 2))
            .error
            .is_none()
    );
    let chunk = 100_000;
    for start in (0..positions).step_by(chunk as usize) {
        let events: Vec<Value> = (start..(start + chunk).min(positions))
            .map(|i| {
                json!({
                    "event": "UserStaked", "txHash": format!("0x{i:064x}"), "logIndex": 0,
                    "blockNumber": 1, "blockHash": format!("0x{:064x}", 1),
                    "fields": {"poolId": (i % 2).to_string(), "user": format!("0x{i:040x}"),
                               "amount": (1_000_000_000_000_000u64 + i * 1_000_003).to_string(),
                               "arweaveAddress": format!("0x{:064x}", i + 1)}
                })
            })
            .collect();
        let r = bridge.handle(&msg(
            "Chain-Event",
            MIRROR,
            json!({"events": events}),
            T0 + 3,
        ));
        assert!(r.error.is_none(), "{:?}", r.error);
    }
    bridge.save()
}

fn restore(state: &[u8], report: bool) -> Box<dyn Device> {
    devices::restore(devices::bridge::NAME, &env(report), state).unwrap()
}

fn cron(at: i64) -> Message {
    let mut m = msg("Cron", "owner", Value::Null, at);
    m.slot = None;
    m
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("mint");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));

    // A year of periods over 10,000 positions, with the per-recipient Mint-Report.
    let year = ledger(10_000, true);
    group.bench_function("catch_up_one_year/10k_positions", |b| {
        b.iter_batched(
            || restore(&year, true),
            |mut bridge| {
                let r = bridge.handle(&cron(T0 + YEAR * PERIOD + 10));
                assert!(r.error.is_none());
                assert_eq!(r.messages.len(), 1, "one run, one report");
                bridge
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("reference/restore/10k_positions", |b| {
        b.iter(|| restore(&year, true))
    });

    // One period over 1,000,000 positions (reports off: one would list a million records),
    // in steady state: every recipient already holds a balance from the period before.
    let million = ledger(1_000_000, false);
    let steady = {
        let mut bridge = restore(&million, false);
        assert!(bridge.handle(&cron(T0 + PERIOD + 10)).error.is_none());
        bridge.save()
    };
    group.bench_function("one_period/1m_positions", |b| {
        b.iter_batched(
            || restore(&steady, false),
            |mut bridge| {
                let r = bridge.handle(&cron(T0 + 2 * PERIOD + 10));
                assert!(r.error.is_none());
                bridge
            },
            BatchSize::PerIteration,
        )
    });
    // The very first period, which also creates the million balances.
    group.bench_function("first_period/1m_positions", |b| {
        b.iter_batched(
            || restore(&million, false),
            |mut bridge| {
                let r = bridge.handle(&cron(T0 + PERIOD + 10));
                assert!(r.error.is_none());
                bridge
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("reference/restore/1m_positions", |b| {
        b.iter(|| restore(&steady, false))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
