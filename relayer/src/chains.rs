//! The relayer's configuration file (`--config`) and the chain adapters it starts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use aolink_ethereum::service::{self, Chain, ChainConfig};
use aolink_node::Node;
use aolink_node::ans104::{Ed25519Signer, b64url_encode};
use aolink_node::keys::NodeKey;
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The adapter key's file in the data directory: its address is the `Authority` of every
/// mirror process, kept apart from the node key so it can be rotated on its own.
pub const ADAPTER_KEY_FILE: &str = "adapter-key.json";

/// The whole configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayerConfig {
    /// One section per Ethereum chain.
    #[serde(default)]
    pub ethereum: Vec<ChainConfig>,
}

/// Reads and checks `path`; every problem names its field.
pub fn load(path: &Path) -> Result<Vec<Chain>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --config {}", path.display()))?;
    let config: RelayerConfig =
        toml::from_str(&text).with_context(|| format!("--config {}", path.display()))?;
    let mut chains = Vec::new();
    for (i, section) in config.ethereum.into_iter().enumerate() {
        let chain = section
            .check(i)
            .with_context(|| format!("--config {}", path.display()))?;
        if chains
            .iter()
            .any(|c: &Chain| c.config.chain_id == chain.config.chain_id)
        {
            bail!(
                "--config {}: {}.chain_id: chain {} is configured twice",
                path.display(),
                chain.name,
                chain.config.chain_id
            );
        }
        chains.push(chain);
    }
    Ok(chains)
}

/// The adapter key, created on first use.
pub fn adapter_key(data_dir: &Path) -> Result<Arc<Ed25519Signer>> {
    let path: PathBuf = data_dir.join(ADAPTER_KEY_FILE);
    let (key, created) = NodeKey::load_or_create_file(&path)?;
    if created {
        println!("created a new adapter key in {}", path.display());
    }
    println!("adapter address: {}", key.address());
    Ok(Arc::new(key.signer().clone()))
}

/// The running chain adapters.
pub struct Adapters {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Adapters {
    /// Spawns the mirrors a chain has not got yet (printing every mirror's process id, which
    /// ledger processes subscribe to), then starts one watcher per chain. The receiver reports
    /// a chain that stopped on its own (a configuration the RPC contradicts), so the operator
    /// sees it instead of a silently idle chain.
    pub async fn start(
        node: &Node,
        data_dir: &Path,
        chains: Vec<Chain>,
    ) -> Result<(Adapters, mpsc::UnboundedReceiver<anyhow::Error>)> {
        let (stop, _) = watch::channel(false);
        let (report, failures) = mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        // No chains, no adapter key: a node alone does not create one.
        let adapter = match chains.is_empty() {
            true => None,
            false => Some(adapter_key(data_dir)?),
        };
        for (chain, adapter) in chains.into_iter().zip(adapter.iter().cycle()) {
            let mirrors = service::ensure_mirrors(node, adapter, &chain)
                .await
                .with_context(|| format!("starting {}", chain.name))?;
            for (address, mirror) in chain.addresses.iter().zip(&mirrors) {
                println!(
                    "mirror: chain {} contract {address:#x} process {}",
                    chain.config.chain_id,
                    b64url_encode(mirror)
                );
            }
            let mut rx = stop.subscribe();
            let name = format!("{} (chain {})", chain.name, chain.config.chain_id);
            let run =
                service::run_chain(node.clone(), adapter.clone(), chain, mirrors, async move {
                    let _ = rx.wait_for(|stopped| *stopped).await;
                });
            let report = report.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = run.await {
                    let _ = report.send(anyhow::anyhow!("{name}: {e}"));
                }
            }));
        }
        Ok((Adapters { stop, tasks }, failures))
    }

    /// Stops every watcher; items already submitted are durable, the cursors with them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
