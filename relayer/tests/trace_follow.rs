//! One `AOLINK_LOG=debug` run, logging JSON lines (the default off a terminal), follows a
//! Chain-Event end to end: the transaction's event in the
//! adapter's item, the item's slot on the mirror, its evaluation, and what the mirror forwarded
//! from that slot, tied together by the message id, process and slot the lines carry.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use alloy::primitives::B256;
use aolink_testkit::{DevEventBurst, anvil, burst_stakes, wallet_provider};
use support::RunningNode;

/// A process id no node here holds: the mirror forwards to it, and the node logs that the
/// relayer, not it, would deliver there.
const SUBSCRIBER: &str = "SUBSCRIBERsssssssssssssssssssssssssssssssss";

/// The value of `field=` in `line` (up to the next space, `}` or `,`).
fn field<'a>(line: &'a str, field: &str) -> Option<&'a str> {
    let start = line.find(&format!("{field}="))? + field.len() + 1;
    let rest = &line[start..];
    let end = rest.find([' ', '}', ',']).unwrap_or(rest.len());
    Some(rest[..end].trim_matches('"'))
}

/// The log's lines: JSON objects (the format when stderr is not a terminal), each written
/// back as `span{k=v …}: … message k=v …` so the checks below read spans and fields alike.
fn lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| flatten(&v))
        .collect()
}

fn flatten(line: &serde_json::Value) -> String {
    let pairs = |object: &serde_json::Value, skip: &str| -> String {
        object
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.as_str() != skip)
            .map(|(k, v)| match v.as_str() {
                Some(text) => format!("{k}={text}"),
                None => format!("{k}={v}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = String::new();
    for span in line["spans"].as_array().into_iter().flatten() {
        let name = span["name"].as_str().unwrap_or("");
        out.push_str(&format!("{name}{{{}}}: ", pairs(span, "name")));
    }
    let message = line["fields"]["message"].as_str().unwrap_or("");
    out.push_str(&format!(" {message} {}", pairs(&line["fields"], "message")));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_debug_log_follows_a_chain_event_from_its_transaction_to_what_the_mirror_forwards() {
    let Some(anvil) = anvil() else {
        return;
    };
    let provider = wallet_provider(&anvil);
    let burst = DevEventBurst::deploy(&provider).await.unwrap();
    let receipt = burst_stakes(&burst, 3, 0, B256::repeat_byte(9)).await;
    let tx = format!("{:#x}", receipt.transaction_hash);

    let dir = tempfile::tempdir().unwrap();
    let (data_dir, config, log) = (
        dir.path().join("data"),
        dir.path().join("aolink.toml"),
        dir.path().join("aolink.log"),
    );
    std::fs::write(
        &config,
        format!(
            "[[ethereum]]\nchain_id = 31337\nrpc = \"{}\"\nfinality = 0\npoll_interval_ms = 50\n\n\
             [[ethereum.contracts]]\naddress = \"{:#x}\"\nstart_block = 1\n\
             subscribe = [\"*:{SUBSCRIBER}\"]\n",
            anvil.endpoint_url(),
            burst.address()
        ),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let (node, printed) = RunningNode::start_logged(&data_dir, &args, "debug", &log);
    let mirror = support::printed_mirror(&printed, "31337");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lines(&log)
        .iter()
        .any(|l| l.contains("forward{") && l.contains(SUBSCRIBER))
    {
        assert!(
            Instant::now() < deadline,
            "the mirror forwarded nothing in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node.stop();
    let lines = lines(&log);
    if std::env::var_os("AOLINK_SHOW_LOG").is_some() {
        eprintln!("{}", lines.join("\n"));
    }
    let show = || lines.join("\n");

    // The adapter: the transaction's events, each with the id of the item that carries it.
    let carried: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("event in Chain-Event") && field(l, "tx") == Some(&tx))
        .collect();
    assert_eq!(carried.len(), 3, "one line per event of {tx}:\n{}", show());
    let item = field(carried[0], "message_id")
        .expect("the item's id")
        .to_string();
    assert!(carried.iter().all(|l| field(l, "chain") == Some("31337")));
    assert!(
        lines.iter().any(|l| l.contains("Chain-Event delivered")
            && field(l, "message_id") == Some(&item)
            && field(l, "process") == Some(&mirror)),
        "the adapter names the item and its mirror:\n{}",
        show()
    );
    // The node: the item's intake and its slot on the mirror.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("intake{") && l.contains(&item)),
        "the intake span names the item:\n{}",
        show()
    );
    let scheduled = lines
        .iter()
        .find(|l| {
            l.contains(" scheduled ")
                && field(l, "message_id") == Some(&item)
                && field(l, "process") == Some(&mirror)
        })
        .unwrap_or_else(|| panic!("the item's slot is logged:\n{}", show()));
    let slot = field(scheduled, "slot").expect("the slot").to_string();
    // Its evaluation, and what the mirror forwarded from that slot.
    let at_slot = |l: &&String, span: &str| {
        l.contains(&format!("{span}{{"))
            && field(l, "process") == Some(&mirror)
            && field(l, "slot") == Some(&slot)
            && field(l, "message_id") == Some(&item)
    };
    assert!(
        lines
            .iter()
            .any(|l| at_slot(&l, "evaluate") && l.contains("evaluated")),
        "the evaluation of slot {slot} is logged:\n{}",
        show()
    );
    assert!(
        lines
            .iter()
            .any(|l| at_slot(&l, "forward") && l.contains(SUBSCRIBER)),
        "what slot {slot} forwarded is logged under it:\n{}",
        show()
    );
    drop(anvil);
}
