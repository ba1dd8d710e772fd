//! The `aolink-solana-devnet` binary: it says where it serves in one line, answers there, and
//! stops cleanly on SIGTERM; it refuses to serve beyond loopback.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use solana_commitment_config::CommitmentConfig;
use solana_hash::Hash;
use solana_rpc_client::rpc_client::RpcClient;

const BINARY: &str = env!("CARGO_BIN_EXE_aolink-solana-devnet");

/// Kills the child if the test fails before it stops it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_binary_prints_its_url_and_genesis_serves_rpc_and_stops_on_sigterm() {
    let mut child = Running(
        Command::new(BINARY)
            .args(["--listen", "127.0.0.1:0", "--slot-interval-ms", "20"])
            .stdout(Stdio::piped())
            .env("AOLINK_LOG", "warn")
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn aolink-solana-devnet"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the devnet did not say where it serves within 30 s");
    let rest = line
        .strip_prefix("solana devnet: rpc ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let (url, genesis) = rest
        .split_once(" genesis ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let port: u16 = url
        .strip_prefix("http://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("not a loopback URL with a port: {url:?}"));
    assert_ne!(port, 0, "the port actually taken");
    let genesis: Hash = genesis.parse().expect("a base58 genesis hash");

    let client = RpcClient::new_with_commitment(url.to_string(), CommitmentConfig::processed());
    assert_eq!(client.get_genesis_hash().unwrap(), genesis);
    let first = client.get_slot().unwrap();
    assert!(first >= 1);
    // Slots close on their own, every 20 ms here.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while client.get_slot().unwrap() <= first {
        assert!(std::time::Instant::now() < deadline, "no new slot in 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exit = child.0.wait().expect("wait");
    assert!(exit.success(), "the devnet exited with {exit}");
    assert!(
        rx.recv_timeout(Duration::from_secs(5)).is_err(),
        "one line on stdout, nothing more"
    );
}

#[test]
fn the_binary_refuses_a_non_loopback_address_and_a_zero_slot_interval() {
    for args in [
        ["--listen", "0.0.0.0:0"].as_slice(),
        ["--slot-interval-ms", "0"].as_slice(),
        ["--confirmed-lag", "3", "--finalized-lag", "2"].as_slice(),
    ] {
        let out = Command::new(BINARY)
            .args(args)
            .args(
                ["--listen", "127.0.0.1:0"]
                    .iter()
                    .filter(|_| args[0] != "--listen"),
            )
            .output()
            .expect("run aolink-solana-devnet");
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(out.stdout.is_empty(), "{args:?} printed {:?}", out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let says = match args[0] {
            "--listen" => "the devnet serves loopback only",
            "--slot-interval-ms" => "--slot-interval-ms",
            _ => "must be at least --confirmed-lag",
        };
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
