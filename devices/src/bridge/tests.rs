use proptest::prelude::*;

use super::*;

const T0: i64 = 1_700_000_000_000;
const PERIOD: i64 = 300_000;
const MIRROR: &str = "MIRRORmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm";
const ORACLE: &str = "ORACLEooooooooooooooooooooooooooooooooooooo";
const SNAPSHOT: &str = "SNAPSHOTsssssssssssssssssssssssssssssssssss";
const REPORTS: &str = "REPORTSrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr";
const BRIDGE: &str = "0x00000000000000000000000000000000000000b1";

fn env(extra: &[(&str, &str)]) -> DeviceEnv {
    let t0 = T0.to_string();
    let mut tags: Vec<(String, String)> = [
        ("Mirror", MIRROR),
        ("Asset", &format!("stETH:31337:{BRIDGE}:0")),
        ("Asset", &format!("DAI:31337:{BRIDGE}:1")),
        ("Oracle", ORACLE),
        ("Snapshot-Authority", SNAPSHOT),
        ("Mint-T0", &t0),
        ("Bridge-Start", &t0),
        ("Accrual-Delay", "0"),
        ("Report-To", REPORTS),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    // Extra tags replace the defaults of the same name.
    tags.retain(|(n, _)| !extra.iter().any(|(e, _)| e == n));
    tags.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    DeviceEnv {
        process_id: "bridge".into(),
        owner: "owner".into(),
        tags,
    }
}

fn recipient(n: u8) -> (String, String) {
    let bytes = [n; 32];
    (
        format!("0x{}", hex::encode(bytes)),
        aolink_primitives::ans104::b64url_encode(&bytes),
    )
}

fn event(name: &str, tx: u64, pool: u8, user: &str, amount: u128, to: u8) -> Value {
    let hex = if to == 0 {
        format!("0x{}", "00".repeat(32))
    } else {
        recipient(to).0
    };
    json!({
        "event": name, "txHash": format!("0x{tx:064x}"), "logIndex": 0,
        "blockNumber": tx, "blockHash": format!("0x{tx:064x}"),
        "fields": {"poolId": pool.to_string(), "user": user, "amount": amount.to_string(), "arweaveAddress": hex}
    })
}

fn msg(action: &str, from: &str, data: Value, timestamp: i64) -> Message {
    Message {
        id: Some(format!("m{timestamp}")),
        from: from.into(),
        owner: from.into(),
        tags: vec![
            ("Action".into(), action.into()),
            ("Chain-Id".into(), "31337".into()),
            ("Contract".into(), BRIDGE.into()),
        ],
        data: data.to_string(),
        timestamp,
        block_height: 1,
        slot: Some(1),
        read_only: false,
    }
}

fn events(list: Vec<Value>, at: i64) -> Message {
    msg("Chain-Event", MIRROR, json!({"events": list}), at)
}

fn quotes(at: i64) -> Message {
    msg(
        "Oracle-Update",
        ORACLE,
        json!({"quotes": {"stETH": {"price": "300000000000", "yieldBps": "300"}, "DAI": {"price": "100000000", "yieldBps": "500"}}}),
        at,
    )
}

fn snapshot(at: i64, holders: &[(&str, u64)]) -> Message {
    let balances: BTreeMap<&str, String> =
        holders.iter().map(|(a, b)| (*a, b.to_string())).collect();
    msg("AR-Snapshot", SNAPSHOT, json!({"balances": balances}), at)
}

fn principal(b: &Bridge, user: &str, asset: &str, to: u8) -> String {
    b.state
        .positions
        .get(&position_key(user, asset, &recipient(to).1))
        .map(|p| sum(&p.tranches).to_string())
        .unwrap_or_else(|| "0".into())
}

/// Σ balances + undistributed == supply == the schedule of the periods minted, ≤ MAX.
fn assert_conserved(b: &Bridge) {
    let paid: u128 = b.state.all_balances().values().sum();
    assert_eq!(paid + b.state.undistributed, b.state.supply);
    assert_eq!(
        b.state.supply,
        mint::schedule(b.state.minted_periods, b.config.rate)
    );
    assert!(b.state.supply <= mint::MAX_SUPPLY);
}

#[test]
fn config_errors_name_the_tag() {
    let bad = |f: &dyn Fn(&mut DeviceEnv)| {
        let mut e = env(&[]);
        f(&mut e);
        match Bridge::new(&e) {
            Err(DeviceError::Config { tag, .. }) => tag,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(bad(&|e| e.tags.retain(|(n, _)| n != "Mirror")), "Mirror");
    assert_eq!(
        bad(&|e| e.tags.push(("Asset".into(), "nonsense".into()))),
        "Asset"
    );
    assert_eq!(
        bad(&|e| e.tags.push(("Mint-Rate".into(), "monthly".into()))),
        "Mint-Rate"
    );
    assert_eq!(
        bad(&|e| e.tags.push(("AR-Share".into(), "4/3".into()))),
        "AR-Share"
    );
    assert_eq!(
        bad(&|e| e.tags.push(("Withdraw-Lock-DAI".into(), "-1".into()))),
        "Withdraw-Lock-DAI"
    );
}

#[test]
fn unauthorised_inputs_change_nothing_and_answer_an_error() {
    let mut b = Bridge::new(&env(&[])).unwrap();
    b.handle(&events(
        vec![event("UserStaked", 1, 0, "0xu", 10, 1)],
        T0 + 10,
    ));
    let before = b.save();
    let later = T0 + 10 * PERIOD;
    let mut forged = events(vec![event("UserStaked", 2, 0, "0xu", 10, 1)], later);
    forged.from = "intruder".into();
    let r = b.handle(&forged);
    assert!(
        r.error.as_deref().unwrap().contains("not a Mirror"),
        "{r:?}"
    );
    let mut o = quotes(later);
    o.from = MIRROR.into();
    assert!(b.handle(&o).error.unwrap().contains("not an Oracle"));
    let mut s = snapshot(later, &[("x", 1)]);
    s.from = ORACLE.into();
    assert!(b.handle(&s).error.unwrap().contains("Snapshot-Authority"));
    let mut reorg = msg("Chain-Reorg", "intruder", json!({"retracted": []}), later);
    reorg.from = "intruder".into();
    assert!(b.handle(&reorg).error.is_some());
    assert_eq!(
        b.save(),
        before,
        "no state change, not even the mint catch-up"
    );
}

#[test]
fn stakes_and_withdrawals_use_the_credited_amounts() {
    let mut b = Bridge::new(&env(&[])).unwrap();
    let at = T0 + 1;
    // stETH credited 1–2 wei under the requested 10 ETH (C4); DAI exactly.
    let r = b.handle(&events(
        vec![
            event("UserStaked", 1, 0, "0xAlice", 9_999_999_999_999_999_998, 1),
            event(
                "UserStaked",
                2,
                1,
                "0xalice",
                1_000_000_000_000_000_000_013,
                1,
            ),
            event("UserStaked", 3, 1, "0xalice", 500, 2),
            event("OverplusBridged", 4, 0, "0xalice", 1, 1),
        ],
        at,
    ));
    assert_eq!(r.error, None, "{r:?}");
    assert_eq!(r.output["applied"], 3);
    assert_eq!(principal(&b, "0xalice", "stETH", 1), "9999999999999999998");
    assert_eq!(principal(&b, "0xalice", "DAI", 1), "1000000000000000000013");
    // DAI exit paid wad+1 (C1): the event carries …014, the ledger debits it, from the
    // event's recipient first.
    let r = b.handle(&events(
        vec![event(
            "UserWithdrawn",
            5,
            1,
            "0xalice",
            1_000_000_000_000_000_000_014,
            1,
        )],
        at + 1,
    ));
    assert_eq!(r.error, None, "{r:?}");
    assert_eq!(principal(&b, "0xalice", "DAI", 1), "0");
    assert_eq!(
        principal(&b, "0xalice", "DAI", 2),
        "499",
        "the extra wei came from the other recipient"
    );
    // More than the depositor holds: refused whole.
    let before = b.save();
    let r = b.handle(&events(
        vec![
            event("UserWithdrawn", 6, 1, "0xalice", 1, 2),
            event("UserWithdrawn", 7, 1, "0xalice", 1000, 2),
        ],
        at + 2,
    ));
    assert!(r.error.unwrap().contains("holds"));
    assert_eq!(b.save(), before);
    // ejectStakedFunds names no recipient.
    let r = b.handle(&events(
        vec![event(
            "UserWithdrawn",
            8,
            0,
            "0xalice",
            9_999_999_999_999_999_998,
            0,
        )],
        at + 3,
    ));
    assert_eq!(r.error, None, "{r:?}");
    assert_eq!(principal(&b, "0xalice", "stETH", 1), "0");
    // A repeated event is counted once.
    b.handle(&events(
        vec![event("UserStaked", 3, 1, "0xalice", 500, 2)],
        at + 4,
    ));
    assert_eq!(principal(&b, "0xalice", "DAI", 2), "499");
}

#[test]
fn a_reorg_undoes_events_which_may_then_come_again() {
    let mut b = Bridge::new(&env(&[])).unwrap();
    let a = event("UserStaked", 1, 0, "0xu", 100, 1);
    let w = event("UserWithdrawn", 2, 0, "0xu", 30, 1);
    b.handle(&events(vec![a.clone()], T0 + 1));
    let only_a = b.save();
    b.handle(&events(vec![w.clone()], T0 + 2));
    assert_eq!(principal(&b, "0xu", "stETH", 1), "70");
    let r = b.handle(&msg(
        "Chain-Reorg",
        MIRROR,
        json!({"fromBlock": 2, "retracted": [w]}),
        T0 + 3,
    ));
    assert_eq!(r.error, None, "{r:?}");
    assert_eq!(r.output["undone"], 1);
    assert_eq!(b.save(), only_a);
    b.handle(&events(vec![w], T0 + 4));
    assert_eq!(principal(&b, "0xu", "stETH", 1), "70");
}

#[test]
fn the_mint_pays_ar_holders_then_bridgers() {
    let mut b = Bridge::new(&env(&[])).unwrap();
    // Period 0 ends with nobody to pay: undistributed.
    b.handle(&snapshot(
        T0 + PERIOD + 1,
        &[("holderA", 3), ("holderB", 1)],
    ));
    assert_eq!(b.state.undistributed, mint::schedule(1, Rate::SITE));
    // Period 1: AR holders only (no bridged weight), 3:1.
    let r = b.handle(&quotes(T0 + 2 * PERIOD + 1));
    let m1 = mint::period_mint(mint::schedule(1, Rate::SITE), Rate::SITE);
    assert_eq!(
        r.messages.len(),
        1,
        "one report, for period 1: {:?}",
        r.messages
    );
    let report: Value = serde_json::from_str(&r.messages[0].data).unwrap();
    assert_eq!(report["period"], 1);
    assert_eq!(report["minted"], m1.to_string());
    let a: u128 = b.state.balances["holderA"];
    let hb: u128 = b.state.balances["holderB"];
    assert_eq!(a + hb, m1);
    assert!(a == m1 * 3 / 4 || a == m1 * 3 / 4 + 1);
    // Stakes: from period 3 on, 2/3 go to the bridged positions by price × yield.
    b.handle(&events(
        vec![
            event("UserStaked", 1, 0, "0xs", 1_000_000_000_000_000_000, 7),
            event("UserStaked", 2, 1, "0xd", 3_000_000_000_000_000_000_000, 8),
        ],
        T0 + 3 * PERIOD + 5,
    ));
    let before: u128 = b.state.supply;
    let r = b.handle(&msg("Info", "anyone", json!(null), T0 + 4 * PERIOD));
    let m3 = b.state.supply - before;
    assert_eq!(r.messages.len(), 1);
    let ar = m3 / 3;
    let steth: u128 = b.state.balance(&recipient(7).1);
    let dai: u128 = b.state.balance(&recipient(8).1);
    assert_eq!(steth + dai, m3 - ar);
    // Weights 1e18·3e11·300 : 3e21·1e8·500 = 9e31 : 1.5e32, i.e. 3 : 5.
    assert!(
        steth * 5 / 3 <= dai + 2 && dai <= steth * 5 / 3 + 2,
        "{steth} {dai}"
    );
    assert_conserved(&b);
    let bal = b.handle(&{
        let mut m = msg("Balance", "x", json!(null), T0 + 4 * PERIOD);
        m.tags.push(("Recipient".into(), recipient(7).1));
        m
    });
    assert_eq!(bal.output, json!(steth.to_string()));
    let info = b
        .handle(&msg("Info", "x", json!(null), T0 + 4 * PERIOD))
        .output;
    assert_eq!(info["mintedPeriods"], 4);
    assert_eq!(info["totals"]["stETH"], "1000000000000000000");
}

#[test]
fn deposits_accrue_only_after_the_delay() {
    let mut b = Bridge::new(&env(&[("Accrual-Delay", "600")])).unwrap();
    b.handle(&quotes(T0 + 1));
    b.handle(&snapshot(T0 + 2, &[("holder", 1)]));
    b.handle(&events(
        vec![event("UserStaked", 1, 0, "0xs", 1000, 7)],
        T0 + 3,
    ));
    // Periods 0 and 1 end before the deposit is 600 s old: AR holders take everything.
    b.handle(&msg("Info", "x", json!(null), T0 + 2 * PERIOD));
    assert!(b.state.balance(&recipient(7).1) == 0);
    assert_eq!(b.state.balances["holder"], mint::schedule(2, Rate::SITE));
    // Period 2 ends at 900 s: it accrues.
    b.handle(&msg("Info", "x", json!(null), T0 + 3 * PERIOD));
    assert!(b.state.balance(&recipient(7).1) > 0);
    assert_conserved(&b);
}

fn gap_setup(b: &mut Bridge) {
    b.handle(&quotes(T0 + 1));
    b.handle(&snapshot(T0 + 2, &[("h1", 5), ("h2", 7)]));
    b.handle(&events(
        vec![event("UserStaked", 1, 0, "0xs", 1234, 7)],
        T0 + 3,
    ));
}

#[test]
fn split_by_period_catching_up_after_a_gap_equals_evaluating_every_period() {
    let mut gap = Bridge::new(&env(&[("Mint-Split", "period")])).unwrap();
    gap_setup(&mut gap);
    let r = gap.handle(&msg("Info", "x", json!(null), T0 + 500 * PERIOD + 7));
    assert_eq!(r.messages.len(), 500, "a report per period");
    let mut steady = Bridge::new(&env(&[("Mint-Split", "period")])).unwrap();
    gap_setup(&mut steady);
    for k in 1..=500 {
        steady.handle(&msg("Info", "x", json!(null), T0 + k * PERIOD + 7));
    }
    assert_eq!(gap.save(), steady.save());
    assert_conserved(&gap);
}

#[test]
fn split_by_run_a_gap_is_one_split_exact_to_the_armstrong() {
    let mut gap = Bridge::new(&env(&[])).unwrap();
    gap_setup(&mut gap);
    let r = gap.handle(&msg("Info", "x", json!(null), T0 + 500 * PERIOD + 7));
    assert_eq!(r.messages.len(), 1, "one run, one report");
    let report: Value = serde_json::from_str(&r.messages[0].data).unwrap();
    assert_eq!(
        (report["period"].as_u64(), report["periods"].as_u64()),
        (Some(0), Some(500))
    );
    assert_conserved(&gap);
    // Each part is within one armstrong of its exact share of the 500 periods.
    let mut supply = 0u128;
    let mut ar = 0u128;
    for _ in 0..500 {
        let m = mint::period_mint(supply, Rate::SITE);
        supply += m;
        ar += m / 3;
    }
    assert_eq!(report["minted"], supply.to_string());
    let h1 = gap.state.balances["h1"];
    let h2 = gap.state.balances["h2"];
    assert_eq!(h1 + h2, ar);
    assert!(h1.abs_diff(ar * 5 / 12) <= 1, "{h1} vs {}", ar * 5 / 12);
    assert_eq!(gap.state.balance(&recipient(7).1), supply - ar);
    // With a message every period, runs are periods: the same bytes as Mint-Split period.
    let mut steady = Bridge::new(&env(&[])).unwrap();
    let mut by_period = Bridge::new(&env(&[("Mint-Split", "period")])).unwrap();
    gap_setup(&mut steady);
    gap_setup(&mut by_period);
    for k in 1..=50 {
        let m = msg("Info", "x", json!(null), T0 + k * PERIOD + 7);
        steady.handle(&m);
        by_period.handle(&m);
    }
    assert_eq!(steady.state, by_period.state);
}

#[test]
fn runs_break_where_a_deposit_starts_to_accrue_and_at_the_bridge_start() {
    // Bridge start at period 10; a deposit at period 3 with a 1000 s delay accrues from the
    // period ending at or after 3·300+1000 s = 1900 s, i.e. period 6 (ends at 2100 s).
    let start = (T0 + 10 * PERIOD).to_string();
    let mut b = Bridge::new(&env(&[("Bridge-Start", &start), ("Accrual-Delay", "1000")])).unwrap();
    b.handle(&quotes(T0 + 1));
    b.handle(&snapshot(T0 + 2, &[("h", 1)]));
    b.handle(&events(
        vec![event("UserStaked", 1, 0, "0xs", 1000, 7)],
        T0 + 3 * PERIOD + 500,
    ));
    let r = b.handle(&msg("Info", "x", json!(null), T0 + 20 * PERIOD));
    let runs: Vec<(u64, u64)> = r
        .messages
        .iter()
        .map(|m| {
            let v: Value = serde_json::from_str(&m.data).unwrap();
            (
                v["period"].as_u64().unwrap(),
                v["periods"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        runs,
        vec![(3, 7), (10, 10)],
        "runs: before the bridge start, then after"
    );
    assert_conserved(&b);
    // A Mint-Split of period reaches the same balances here up to the rounding of each run.
    let total: u128 = b.state.all_balances().values().sum();
    assert_eq!(total + b.state.undistributed, b.state.supply);
}

#[test]
fn checkpoint_restore_mid_stream_is_byte_identical() {
    let stream: Vec<Message> = (0..40u64)
        .map(|i| {
            let at = T0 + i as i64 * 97_000;
            match i % 4 {
                0 => quotes(at),
                1 => snapshot(at, &[("h", i + 1), ("g", 3)]),
                2 => events(
                    vec![event(
                        "UserStaked",
                        i,
                        (i % 2) as u8,
                        "0xu",
                        u128::from(i) * 1000 + 1,
                        (i % 3) as u8 + 1,
                    )],
                    at,
                ),
                _ => events(vec![event("UserWithdrawn", i, 0, "0xu", 1, 0)], at),
            }
        })
        .collect();
    let mut straight = Bridge::new(&env(&[])).unwrap();
    for m in &stream {
        straight.handle(m);
    }
    let mut first = Bridge::new(&env(&[])).unwrap();
    for m in &stream[..17] {
        first.handle(m);
    }
    let mut second = Bridge::restore(&env(&[]), &first.save()).unwrap();
    for m in &stream[17..] {
        second.handle(m);
    }
    assert_eq!(straight.save(), second.save());
    assert_conserved(&straight);
}

#[derive(Clone, Debug)]
enum Op {
    Stake {
        user: u8,
        pool: u8,
        amount: u64,
        to: u8,
    },
    Withdraw {
        user: u8,
        pool: u8,
        amount: u64,
        to: u8,
    },
    Quote {
        steth: u32,
        dai: u32,
    },
    Snapshot {
        a: u32,
        b: u32,
    },
    Jump {
        periods: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..3, 0u8..2, 1u64..1_000_000, 1u8..4).prop_map(|(user, pool, amount, to)| Op::Stake {
            user,
            pool,
            amount,
            to
        }),
        (0u8..3, 0u8..2, 1u64..1_000_000, 0u8..4).prop_map(|(user, pool, amount, to)| {
            Op::Withdraw {
                user,
                pool,
                amount,
                to,
            }
        }),
        (0u32..10_000, 0u32..10_000).prop_map(|(steth, dai)| Op::Quote { steth, dai }),
        (0u32..1000, 0u32..1000).prop_map(|(a, b)| Op::Snapshot { a, b }),
        (0u8..40).prop_map(|periods| Op::Jump { periods }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Over any sequence of deposits, withdrawals, oracle updates, snapshots and time jumps,
    /// everything minted is allocated (or held as undistributed) to the armstrong, and the
    /// supply is the schedule's and never exceeds MAX.
    #[test]
    fn allocations_always_sum_to_the_mint(ops in proptest::collection::vec(op(), 1..60), delay in 0u32..2) {
        let delay = (delay * 600).to_string();
        let mut b = Bridge::new(&env(&[("Accrual-Delay", &delay)])).unwrap();
        let mut now = T0;
        for (i, op) in ops.into_iter().enumerate() {
            now += 61_000;
            let tx = i as u64 + 1;
            let m = match op {
                Op::Stake { user, pool, amount, to } => events(vec![event("UserStaked", tx, pool, &format!("0xu{user}"), u128::from(amount), to)], now),
                Op::Withdraw { user, pool, amount, to } => events(vec![event("UserWithdrawn", tx, pool, &format!("0xu{user}"), u128::from(amount), to)], now),
                Op::Quote { steth, dai } => msg("Oracle-Update", ORACLE, json!({"quotes": {"stETH": {"price": steth.to_string(), "yieldBps": "300"}, "DAI": {"price": dai.to_string(), "yieldBps": "450"}}}), now),
                Op::Snapshot { a, b: bb } => snapshot(now, &[("ha", u64::from(a)), ("hb", u64::from(bb))]),
                Op::Jump { periods } => {
                    now += i64::from(periods) * PERIOD;
                    msg("Info", "x", json!(null), now)
                }
            };
            let before = b.save();
            let r = b.handle(&m);
            if r.error.is_some() {
                prop_assert_eq!(b.save(), before);
            }
            assert_conserved(&b);
        }
    }
}

#[test]
fn a_cron_tick_mints_the_periods_due() {
    let mut b = Bridge::new(&env(&[])).unwrap();
    b.handle(&snapshot(T0 + 1, &[("h", 1)]));
    let mut tick = msg("Cron", "owner", json!(null), T0 + 3 * PERIOD);
    tick.slot = None;
    let r = b.handle(&tick);
    assert_eq!(r.error, None);
    assert_eq!(
        r.messages.len(),
        1,
        "one report for the run of periods 0, 1, 2"
    );
    let report: Value = serde_json::from_str(&r.messages[0].data).unwrap();
    assert_eq!(report["periods"], 3);
    assert_eq!(b.state.balances["h"], mint::schedule(3, Rate::SITE));
}
