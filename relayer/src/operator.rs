//! The operator's commands around a node: `init` (a commented configuration and fresh keys),
//! `keys show` (every address this instance signs with) and `status` (a running node's
//! health, chains and deliveries, in a few lines).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use aolink_node::attest::AttestKeys;
use aolink_node::keys::{KEY_FILE, NodeKey};
use rand_core::{OsRng, RngCore};
use serde_json::Value;

use crate::chains::ADAPTER_KEY_FILE;
use crate::config;

/// The configuration `init` writes, with `{data}`, `{eth_key}` and `{sol_key}` filled in.
const TEMPLATE: &str = r#"# aolink configuration, written by `aolink init`. Every key can also be set from the
# environment: AOLINK__<PATH> in upper case, parts joined by "__" (AOLINK__ETHEREUM__0__RPC=...).
# Run: aolink node --data-dir {data} --config <this file>

# This instance's attestation keys (0600 files; AOLINK_ATTEST_ETHEREUM_KEY and
# AOLINK_ATTEST_SOLANA_KEY override them). `aolink keys show` prints their addresses: put them in
# the gateways' signer sets and in [[attest.sets]] below.
[attest]
epoch = 0
ethereum_key_file = "{eth_key}"
solana_key_file = "{sol_key}"
# The other instances of the signer set, whose signatures complete a quorum.
peers = []

# One per family and epoch: the signers a quorum is counted against.
# [[attest.sets]]
# family = "ethereum"
# epoch = 0
# threshold = 2
# signers = ["0x...", "0x...", "0x..."]

# This instance's place among those delivering the same answers.
[delivery]
rank = 0
instances = 1
# backup_after_ms = 15000

# An EVM chain to watch (docs/ethereum.md), and where answers are delivered.
# [[ethereum]]
# chain_id = 1
# rpc = "https://eth.example/rpc"
# finality = "finalized"
#
# [[ethereum.contracts]]
# address = "0x..."            # the AOGateway, the bridge contracts
# start_block = 0
#
# [ethereum.delivery]
# key_file = "/etc/aolink/relayer-eth.key"

# A Solana cluster to watch (docs/solana.md).
# [[solana]]
# cluster = "mainnet-beta"
# rpc = "https://sol.example/rpc"
#
# [[solana.gateways]]
# address = "<base58 gateway address>"
#
# [solana.delivery]
# key_file = "/etc/aolink/relayer-sol.json"
"#;

/// Writes `bytes` to a new file only its owner can read; an existing file is left alone.
fn create_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => config::fault(format!(
                "{} exists already: `aolink init` never overwrites (move it away to start afresh)",
                path.display()
            )),
            _ => anyhow::Error::new(e).context(format!("creating {}", path.display())),
        })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

fn random_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    secret
}

/// `aolink init`: `dir/aolink.toml`, the attestation keys in `dir/keys/`, and the node key in
/// `dir/data/`; prints what it wrote and the addresses.
pub fn init(dir: &Path) -> Result<()> {
    let keys_dir = dir.join("keys");
    let data_dir = dir.join("data");
    let config_path = dir.join("aolink.toml");
    for path in [&config_path, &keys_dir.join("attest-ethereum.key")] {
        if path.exists() {
            return Err(config::fault(format!(
                "{} exists already: `aolink init` never overwrites (move it away to start afresh)",
                path.display()
            )));
        }
    }
    for d in [dir, &keys_dir, &data_dir] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let eth_key = keys_dir.join("attest-ethereum.key");
    let sol_key = keys_dir.join("attest-solana.key");
    for path in [&eth_key, &sol_key] {
        create_private(
            path,
            format!("{}\n", hex::encode(random_secret())).as_bytes(),
        )?;
    }
    let absolute = |p: &Path| -> PathBuf { std::path::absolute(p).unwrap_or_else(|_| p.into()) };
    let text = TEMPLATE
        .replace("{data}", &absolute(&data_dir).display().to_string())
        .replace("{eth_key}", &absolute(&eth_key).display().to_string())
        .replace("{sol_key}", &absolute(&sol_key).display().to_string());
    create_private(&config_path, text.as_bytes())?;
    NodeKey::load_or_create_file(&data_dir.join(KEY_FILE))
        .with_context(|| format!("creating the node key in {}", data_dir.display()))?;
    println!("wrote {}", config_path.display());
    println!("wrote {} and {}", eth_key.display(), sol_key.display());
    keys_show(&data_dir, Some(&config_path))?;
    println!(
        "next: aolink node --data-dir {} --config {}",
        data_dir.display(),
        config_path.display()
    );
    Ok(())
}

/// `aolink keys show`: the node and adapter addresses of a data directory and the attestation
/// signers of a configuration (the environment's keys first), without a running node.
pub fn keys_show(data_dir: &Path, config_path: Option<&Path>) -> Result<()> {
    let read = |file: &str| -> Result<Option<String>> {
        let path = data_dir.join(file);
        if !path.exists() {
            return Ok(None);
        }
        let (key, _) = NodeKey::load_or_create_file(&path)
            .map_err(|e| config::fault(format!("{}: {e}", path.display())))?;
        Ok(Some(key.address()))
    };
    let shown = |v: Option<String>, missing: &str| v.unwrap_or_else(|| missing.to_string());
    println!(
        "node address: {}",
        shown(
            read(KEY_FILE)?,
            "(none yet: created on the node's first start)"
        )
    );
    println!(
        "adapter address: {}",
        shown(
            read(ADAPTER_KEY_FILE)?,
            "(none yet: created when a chain is first watched)"
        )
    );
    let attest = match config_path {
        Some(path) => crate::chains::load(path)?.attest,
        None => Default::default(),
    };
    let keys = AttestKeys::load(
        attest.ethereum_key_file.as_deref(),
        attest.solana_key_file.as_deref(),
    )
    .map_err(|e| config::fault(format!("[attest]: {e}")))?;
    println!(
        "attestation signer (ethereum): {}",
        shown(keys.ethereum_address(), "(no key)")
    );
    println!(
        "attestation signer (solana): {}",
        shown(keys.solana_public(), "(no key)")
    );
    Ok(())
}

/// `aolink status`: a running node's `/status` in a few lines (or as it is, with `json`).
/// Fails when the node reports itself unhealthy, so a script can act on it.
pub async fn status(node: &str, json: bool) -> Result<()> {
    let url = format!("{}/status", node.trim_end_matches('/'));
    let status: Value = reqwest::get(&url)
        .await
        .with_context(|| {
            format!("reaching the node at {node} (is it running? --node sets its URL)")
        })?
        .json()
        .await
        .with_context(|| format!("reading {url}"))?;
    if json {
        println!("{status:#}");
    } else {
        print!("{}", summary(&status));
    }
    if status["healthy"] != true {
        bail!("the node at {node} reports itself unhealthy");
    }
    Ok(())
}

/// The lines `aolink status` prints for a `/status` answer.
pub fn summary(status: &Value) -> String {
    let mut out = String::new();
    let healthy = if status["healthy"] == true {
        "healthy"
    } else {
        "UNHEALTHY"
    };
    out.push_str(&format!(
        "node {}: {healthy}\n",
        status["address"].as_str().unwrap_or("?")
    ));
    for (name, c) in status["components"].as_object().into_iter().flatten() {
        let behind = c["contracts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k["behind"].as_u64())
            .max();
        out.push_str(&format!(
            "  {name}: {} head {} behind {}{}\n",
            if c["healthy"] == true {
                "ok"
            } else {
                "FAILING"
            },
            c["head"].as_u64().map_or("-".into(), |h| h.to_string()),
            behind.map_or("-".into(), |b| b.to_string()),
            c["lastError"]
                .as_str()
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default()
        ));
    }
    let d = &status["deliveries"];
    if d.is_object() {
        let states: Vec<String> = d["byState"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        out.push_str(&format!(
            "  deliveries: {} open{}{}\n",
            d["open"].as_u64().unwrap_or(0),
            if states.is_empty() { "" } else { "; " },
            states.join(", ")
        ));
    }
    if let Some(reason) = status["attest"]["halted"]["reason"].as_str() {
        out.push_str(&format!(
            "  signer HALTED: {reason} (aolink resume-signer once resolved)\n"
        ));
    }
    out
}
