//! `aolink devnet` end to end, as a newcomer runs it: the walk-through completes (both stakes
//! credited, a question from each chain answered and delivered back, a mint period passed),
//! `/status` shows the deliveries confirmed and the chains followed, and SIGINT stops it with
//! status 0 leaving none of its children (anvil, the node) behind.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aolink_testkit::*;

mod support;

/// The pids whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …: comm may hold spaces, so read after its closing paren.
        let after = &stat[stat.rfind(')').unwrap_or(0) + 1..];
        let ppid = after.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

/// Stops the devnet if the test fails before it does: no devnet outlives its test.
struct Stopper(u32);

impl Drop for Stopper {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.to_string()])
            .status();
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s[s.rfind(')').unwrap_or(0) + 1..]
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_devnet_walks_through_everything_and_stops_cleanly() {
    // The fixture read in place (the check that it is there, loudly in CI, is `fixture`'s).
    if fixture("aos-wasm64.wasm").is_none() {
        return;
    }
    let module = fixtures_dir().join("aos-wasm64.wasm");
    if anvil().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_ports(1)[0];
    let listen = format!("127.0.0.1:{port}");
    let mut devnet = Command::new(env!("CARGO_BIN_EXE_aolink"))
        .args(["devnet", "--listen", &listen, "--dir"])
        .arg(dir.path().join("devnet"))
        .arg("--aos-module")
        .arg(&module)
        .arg("--tools")
        .arg(dir.path().join("tools"))
        .env("AOLINK_ANVIL", anvil_path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = devnet.stdout.take().unwrap();
    let guard = Stopper(devnet.id());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("devnet| {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut said = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(420);
    while !said.iter().any(|l: &String| l.starts_with("status page:")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => said.push(line),
            Err(e) => panic!(
                "the devnet did not finish its walk-through ({e}):\n{}",
                said.join("\n")
            ),
        }
    }
    let text = said.join("\n");
    for step in [
        "==> staking stETH and DAI",
        "the ledger credits stETH",
        "==> a dApp on Ethereum asks it",
        "SampleDapp holds the answer: \"forty-two\"",
        "==> a dApp on Solana asks it",
        "verified on chain by the Ed25519 program",
        "periods minted",
        "==> walk-through done",
    ] {
        assert!(text.contains(step), "{step:?} not in:\n{text}");
    }

    // What the node says: both answers delivered, both chains followed.
    let url = format!("http://{listen}");
    let client = reqwest::Client::new();
    // The Ethereum delivery is final one block after it landed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let status = get_json(&client, &format!("{url}/status")).await;
        if status["deliveries"]["byState"]["confirmed"] == 2 {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "both round trips confirmed: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status["healthy"], true, "{status}");
    let components = status["components"].as_object().unwrap();
    assert!(components.keys().any(|k| k.starts_with("ethereum/31337")));
    assert!(components.keys().any(|k| k.starts_with("solana/")));
    let ethereum = &status["components"]["ethereum/31337"];
    assert!(
        ethereum["eventsDelivered"].as_u64().unwrap_or(0) >= 3,
        "the request and both stakes: {ethereum}"
    );
    let data = get_json(&client, &format!("{url}/ui/data")).await;
    assert!(
        data["mint"][0]["info"]["mintedPeriods"]
            .as_u64()
            .unwrap_or(0)
            >= 1,
        "{data}"
    );

    // The status page of the running devnet, in a browser: both deliveries confirmed, both
    // chains followed, the mint's periods shown as the ledger reports them.
    if let Some(browser) = support::browser::chromium() {
        use support::browser::{cell, headless, row, screenshot};
        let profile = tempfile::tempdir().unwrap();
        let page = format!("{url}/ui");
        let dom = headless(&browser, profile.path(), &page, &["--dump-dom"]);
        assert_eq!(
            cell(row(&dom, "data-state=\"confirmed\""), "num count"),
            "2"
        );
        assert!(dom.contains("data-component=\"ethereum/31337\""));
        assert!(dom.contains("data-component=\"solana/"));
        let ledger = data["mint"][0]["process"].as_str().unwrap();
        let minted: u64 = cell(
            row(&dom, &format!("data-process=\"{ledger}\"")),
            "num minted-periods",
        )
        .parse()
        .unwrap();
        assert!(minted >= 1, "{dom}");
        screenshot(&browser, profile.path(), &page, "devnet-status-page.png");
    }

    // Ctrl-C: every child stops, and the devnet exits 0.
    let children = children_of(devnet.id());
    assert!(children.len() >= 2, "anvil and the node: {children:?}");
    let status = Command::new("kill")
        .args(["-INT", &devnet.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = devnet.wait().unwrap();
    std::mem::forget(guard);
    assert!(exit.success(), "the devnet exited with {exit}");
    let left: Vec<u32> = children.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "children left behind: {left:?}");
}
