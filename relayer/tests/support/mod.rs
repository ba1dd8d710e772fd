//! Starting and stopping the real `aolink` binary in tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use aolink_node::ans104::{DataItem, Ed25519Signer, Tag, b64url_encode};

pub mod answers;
pub mod browser;
pub mod proxy;
pub mod solana_answers;

/// A running `aolink node`.
pub struct RunningNode {
    pub child: Child,
    pub url: String,
    pub address: String,
}

impl RunningNode {
    /// Starts `aolink node` on a free loopback port and waits until it serves.
    pub fn start(data_dir: &Path) -> RunningNode {
        Self::start_with(data_dir, &[]).0
    }

    /// Starts `aolink node` with extra arguments; also returns the lines it printed before
    /// serving (key and mirror announcements).
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> (RunningNode, Vec<String>) {
        Self::start_in(Path::new("."), data_dir, extra)
    }

    /// As [`RunningNode::start_with`], run from the directory `cwd` (where a relative
    /// `data_dir` is).
    pub fn start_in(cwd: &Path, data_dir: &Path, extra: &[&str]) -> (RunningNode, Vec<String>) {
        Self::spawn(cwd, data_dir, "127.0.0.1:0", extra, None)
    }

    /// As [`RunningNode::start_with`], listening on `listen` (a port picked before, so peers
    /// can be configured with it) and logging at `filter` into `log`.
    pub fn start_on(
        data_dir: &Path,
        listen: &str,
        extra: &[&str],
        filter: &str,
        log: &Path,
    ) -> (RunningNode, Vec<String>) {
        Self::spawn(Path::new("."), data_dir, listen, extra, Some((filter, log)))
    }

    /// As [`RunningNode::start_with`], logging at `AOLINK_LOG=filter` into the file `log`.
    pub fn start_logged(
        data_dir: &Path,
        extra: &[&str],
        filter: &str,
        log: &Path,
    ) -> (RunningNode, Vec<String>) {
        Self::spawn(
            Path::new("."),
            data_dir,
            "127.0.0.1:0",
            extra,
            Some((filter, log)),
        )
    }

    fn spawn(
        cwd: &Path,
        data_dir: &Path,
        listen: &str,
        extra: &[&str],
        log: Option<(&str, &Path)>,
    ) -> (RunningNode, Vec<String>) {
        let (filter, stderr) = match log {
            Some((filter, path)) => (
                filter,
                Stdio::from(std::fs::File::create(path).expect("create the log file")),
            ),
            None => ("warn", Stdio::inherit()),
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_aolink"))
            .current_dir(cwd)
            .args(["node", "--listen", listen, "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("AOLINK_LOG", filter)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn aolink node");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut url, mut address) = (None, None);
        let mut printed = Vec::new();
        while url.is_none() || address.is_none() {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("aolink node did not start within 30 s");
            printed.push(line.clone());
            if let Some(a) = line.strip_prefix("node address: ") {
                address = Some(a.trim().to_string());
            }
            if let Some(u) = line.strip_prefix("aolink node listening on ") {
                url = Some(u.trim().to_string());
            }
        }
        let node = RunningNode {
            child,
            url: url.unwrap(),
            address: address.unwrap(),
        };
        (node, printed)
    }

    /// The newest slot (`Nonce`) of `pid`'s schedule, 0 before any.
    pub async fn latest_slot(&self, client: &reqwest::Client, pid: &str) -> u64 {
        let latest = aolink_testkit::get_json(client, &format!("{}/{pid}/latest", self.url)).await;
        latest["assignment"]["tags"]
            .as_array()
            .and_then(|tags| tags.iter().find(|t| t["name"] == "Nonce"))
            .and_then(|t| t["value"].as_str())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// SIGKILL, no chance to flush anything.
    pub fn kill9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("wait");
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        assert!(exit.success(), "node exited with {exit}");
    }
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Free loopback ports, found by binding and letting go (the test then binds them again).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local address").port())
        .collect()
}

/// Writes `secret` as a 0600 key file.
pub fn key_file(path: &Path, secret: &[u8]) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .expect("create a key file");
    writeln!(f, "{}", hex::encode(secret)).expect("write a key file");
}

/// A signed `Type=Process` item for the node at `scheduler`.
pub fn process_item(signer: &Ed25519Signer, scheduler: &str, nonce: u32) -> DataItem {
    DataItem::sign(
        signer,
        None,
        None,
        vec![
            Tag::new("Data-Protocol", "ao"),
            Tag::new("Variant", "ao.TN.1"),
            Tag::new("Type", "Process"),
            Tag::new("Module", b64url_encode(&[7u8; 32])),
            Tag::new("Scheduler", scheduler),
            Tag::new("Test-Nonce", nonce.to_string()),
        ],
        b"process".to_vec(),
    )
    .expect("sign process")
}

/// A signed `Type=Message` item to `process`.
pub fn message_item(signer: &Ed25519Signer, process: [u8; 32], n: u32) -> DataItem {
    DataItem::sign(
        signer,
        Some(process),
        None,
        vec![
            Tag::new("Data-Protocol", "ao"),
            Tag::new("Variant", "ao.TN.1"),
            Tag::new("Type", "Message"),
            Tag::new("Action", "Burst"),
            Tag::new("N", n.to_string()),
        ],
        format!("message {n}").into_bytes(),
    )
    .expect("sign message")
}

/// The process id of the mirror `aolink node` printed for the first contract of `chain`.
pub fn printed_mirror(printed: &[String], chain: &str) -> String {
    printed
        .iter()
        .find_map(|l| l.strip_prefix(&format!("mirror: chain {chain} contract ")))
        .and_then(|l| l.split(" process ").nth(1))
        .expect("the mirror's process id is printed")
        .trim()
        .to_string()
}

/// The Solana cluster a test runs against: a real validator at `SOLANA_RPC_URL` when that is
/// set (`scripts/solana-test-validator run`), else a local devnet closing a slot every 10 ms.
pub struct SolanaCluster {
    pub url: String,
    /// The local devnet, when there is one.
    pub devnet: Option<aolink_solana_devnet::Devnet>,
}

pub async fn solana_cluster() -> SolanaCluster {
    if let Ok(url) = std::env::var("SOLANA_RPC_URL")
        && !url.is_empty()
    {
        eprintln!("Solana tests against SOLANA_RPC_URL={url}");
        return SolanaCluster { url, devnet: None };
    }
    let devnet = aolink_solana_devnet::Devnet::start(aolink_solana_devnet::DevnetConfig {
        slot_interval: Some(Duration::from_millis(10)),
        ..Default::default()
    })
    .await
    .expect("start the Solana devnet");
    SolanaCluster {
        url: devnet.url.clone(),
        devnet: Some(devnet),
    }
}
