//! The relayer's configuration file (`--config`) and the chain adapters it starts.
//!
//! Each top-level section of the file (`[[ethereum]]`, ...) belongs to one chain family, whose
//! adapter implements [`ChainAdapter`]: it checks its own sections and starts against the node
//! as a [`aolink_node::adapter::ChainSink`]. Nothing here knows a family beyond the one line
//! in [`load`] that names it.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Result;
use aolink_node::Node;
use aolink_node::adapter::{ChainAdapter, StartError, Started, Stop};
use aolink_node::ans104::{Ed25519Signer, b64url_encode};
use aolink_node::keys::NodeKey;
use aolink_primitives::delivery::AnswerSender;
use tokio::sync::{mpsc, watch};

use crate::config::{self, ConfigFault, Overrides};
use tokio::task::JoinHandle;

/// The adapter key's file in the data directory: its address is the `Authority` of every
/// mirror process, kept apart from the node key so it can be rotated on its own.
pub const ADAPTER_KEY_FILE: &str = "adapter-key.json";

type Starting = Pin<Box<dyn Future<Output = Result<Started, StartError>> + Send>>;

/// One configured chain, checked, of whichever family.
pub struct ConfiguredChain {
    /// Where it sits in the configuration (`ethereum[0]`).
    pub name: String,
    /// Its component name in the node's status (`ethereum/1`).
    pub component: String,
    /// Its chain id, as the family writes it.
    pub chain_id: String,
    start: Box<dyn FnOnce(Node, Arc<Ed25519Signer>, Stop) -> Starting + Send>,
}

/// Takes the sections of family `A` out of `file`, checking each.
fn take<A: ChainAdapter>(
    file: &mut toml::Table,
    overrides: &Overrides,
    known: &mut Vec<&'static str>,
    chains: &mut Vec<ConfiguredChain>,
) -> Result<(), ConfigFault> {
    known.push(A::FAMILY);
    let Some(value) = file.remove(A::FAMILY) else {
        return Ok(());
    };
    let sections: Vec<A::Section> = config::parse(value, A::FAMILY, overrides)?;
    for (index, section) in sections.into_iter().enumerate() {
        let chain = A::check(section, index)
            .map_err(|e| ConfigFault(overrides.describe(&e.field, &e.reason)))?;
        let (name, component) = (chain.name().to_string(), chain.component());
        let chain_id = chain.chain_id().to_string();
        if let Some(first) = chains.iter().find(|c| c.component == component) {
            return Err(ConfigFault(format!(
                "{name}: {component} is configured twice (first as {})",
                first.name
            )));
        }
        chains.push(ConfiguredChain {
            name,
            component,
            chain_id,
            start: Box::new(move |node, signer, stop| Box::pin(chain.start(node, signer, stop))),
        });
    }
    Ok(())
}

/// `[attest]`: this instance's attestation keys, its peers and the signer sets it checks.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestSection {
    /// The epoch this instance signs for (default 0).
    #[serde(default)]
    pub epoch: u64,
    /// The secp256k1 key file (0600) for EVM chains; `AOLINK_ATTEST_ETHEREUM_KEY` overrides.
    #[serde(default)]
    pub ethereum_key_file: Option<PathBuf>,
    /// The ed25519 key file (0600) for Solana; `AOLINK_ATTEST_SOLANA_KEY` overrides.
    #[serde(default)]
    pub solana_key_file: Option<PathBuf>,
    /// The other instances' base URLs, whose `GET /attestations/{id}` complete the quorum.
    #[serde(default)]
    pub peers: Vec<String>,
    /// The signer sets, per family and epoch.
    #[serde(default)]
    pub sets: Vec<crate::delivery::quorum::SetConfig>,
}

/// The whole configuration file, checked.
pub struct Config {
    /// The chains, in file order.
    pub chains: Vec<ConfiguredChain>,
    /// `[attest]`.
    pub attest: AttestSection,
    /// `[delivery]`.
    pub delivery: crate::delivery::DeliverySettings,
}

fn section<T: serde::de::DeserializeOwned + Default>(
    file: &mut toml::Table,
    name: &str,
    overrides: &Overrides,
) -> Result<T, ConfigFault> {
    match file.remove(name) {
        Some(value) => config::parse(value, name, overrides),
        None => Ok(T::default()),
    }
}

/// Reads and checks `path`, with the `AOLINK__…` overrides of the environment; every problem
/// is a [`ConfigFault`] naming the file and the key (and the variable that set it).
pub fn load(path: &Path) -> Result<Config> {
    load_with(path, std::env::vars())
}

/// As [`load`], with the overrides of `vars`.
pub fn load_with(path: &Path, vars: impl IntoIterator<Item = (String, String)>) -> Result<Config> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| config::fault(format!("--config {shown}: cannot be read: {e}")))?;
    let mut file: toml::Table = toml::from_str(&text).map_err(|e| {
        let at = e
            .span()
            .map(|span| {
                let line = text[..span.start.min(text.len())].lines().count().max(1);
                format!(" at line {line}")
            })
            .unwrap_or_default();
        config::fault(format!("--config {shown}: not TOML{at}: {}", e.message()))
    })?;
    checked(&mut file, vars).map_err(|e| config::fault(format!("--config {shown}: {e}")))
}

fn checked(
    file: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigFault> {
    let overrides = config::apply_overrides(file, vars)?;
    let attest: AttestSection = section(file, "attest", &overrides)?;
    for (i, peer) in attest.peers.iter().enumerate() {
        let ok = reqwest::Url::parse(peer).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !ok {
            let path = format!("attest.peers[{i}]");
            return Err(ConfigFault(
                overrides.describe(&path, &format!("{peer:?} is not an http(s) URL")),
            ));
        }
    }
    crate::delivery::quorum::SignerSets::new(attest.sets.clone())
        .map_err(|e| ConfigFault(format!("{e:#}")))?;
    let delivery: crate::delivery::DeliverySettings = section(file, "delivery", &overrides)?;
    if delivery.instances == 0 || delivery.rank >= delivery.instances {
        return Err(ConfigFault(overrides.describe(
            "delivery.rank",
            &format!(
                "{} is not 0 to delivery.instances - 1 ({} instances)",
                delivery.rank, delivery.instances
            ),
        )));
    }
    let (mut known, mut chains) = (Vec::new(), Vec::new());
    // One line per chain family.
    take::<aolink_ethereum::service::Chain>(file, &overrides, &mut known, &mut chains)?;
    take::<aolink_solana::service::Cluster>(file, &overrides, &mut known, &mut chains)?;
    if let Some(unknown) = file.keys().next() {
        return Err(ConfigFault(format!(
            "unknown section {unknown:?} (chain families: {}; and attest, delivery)",
            known.join(", ")
        )));
    }
    Ok(Config {
        chains,
        attest,
        delivery,
    })
}

/// A chain that could not start or stopped: a configuration error when the configuration (or
/// the chain contradicting it) is at fault.
fn start_error(name: &str, e: StartError) -> anyhow::Error {
    match e {
        StartError::Config(e) => config::fault(format!("{name}: {e}")),
        other => anyhow::Error::new(other).context(name.to_string()),
    }
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
    /// The chains' answer senders, for those whose sections configure delivery.
    pub senders: Vec<Arc<dyn AnswerSender>>,
}

impl Adapters {
    /// Spawns the mirrors a chain has not got yet (printing every mirror's process id, which
    /// ledger processes subscribe to), then starts one watcher per chain. The receiver reports
    /// a chain that stopped on its own (a configuration the RPC contradicts), so the operator
    /// sees it instead of a silently idle chain.
    pub async fn start(
        node: &Node,
        data_dir: &Path,
        chains: Vec<ConfiguredChain>,
    ) -> Result<(Adapters, mpsc::UnboundedReceiver<anyhow::Error>)> {
        let (stop, _) = watch::channel(false);
        let (report, failures) = mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        let mut senders = Vec::new();
        // No chains, no adapter key: a node alone does not create one.
        let adapter = match chains.is_empty() {
            true => None,
            false => Some(adapter_key(data_dir)?),
        };
        for (chain, adapter) in chains.into_iter().zip(adapter.iter().cycle()) {
            let mut rx = stop.subscribe();
            let stopped: Stop = Box::pin(async move {
                let _ = rx.wait_for(|stopped| *stopped).await;
            });
            let started = (chain.start)(node.clone(), adapter.clone(), stopped)
                .await
                .map_err(|e| start_error(&chain.name, e))?;
            for mirror in &started.mirrors {
                println!(
                    "mirror: chain {} contract {} process {}",
                    chain.chain_id,
                    mirror.contract,
                    b64url_encode(&mirror.process)
                );
            }
            senders.extend(started.sender.clone());
            let name = format!("{} (chain {})", chain.name, chain.chain_id);
            let report = report.clone();
            let watch = started.watch;
            tasks.push(tokio::spawn(async move {
                if let Err(e) = watch.await {
                    let _ = report.send(start_error(&name, e));
                }
            }));
        }
        Ok((
            Adapters {
                stop,
                tasks,
                senders,
            },
            failures,
        ))
    }

    /// Stops every watcher; items already submitted are durable, the cursors with them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAIN: &str = "[[ethereum]]\nchain_id = 1\nrpc = \"http://127.0.0.1:8545\"\n\n\
                         [[ethereum.contracts]]\naddress = \"0xfe08d40eb5a9f0af4d1a9db8bce09d8c27bdf55e\"\nstart_block = 1\n";

    fn load_text(text: &str) -> Result<Vec<ConfiguredChain>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("aolink.toml");
        std::fs::write(&path, text)?;
        Ok(load(&path)?.chains)
    }

    fn error(text: &str) -> String {
        match load_text(text) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn the_example_configurations_in_deploy_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/config");
        for (name, chains) in [("mainnet.toml", 2), ("sepolia.toml", 2)] {
            let config = load_with(&root.join(name), Vec::new())
                .unwrap_or_else(|e| panic!("deploy/config/{name}: {e:#}"));
            assert_eq!(config.chains.len(), chains, "{name}");
        }
    }

    #[test]
    fn each_family_takes_its_own_sections() {
        let chains = load_text(CHAIN).unwrap();
        assert_eq!(chains.len(), 1);
        assert_eq!(chains[0].name, "ethereum[0]");
        assert_eq!(chains[0].component, "ethereum/1");
        assert_eq!(chains[0].chain_id, "1");
        assert!(load_text("").unwrap().is_empty());
    }

    #[test]
    fn an_unknown_section_is_named_with_the_families_there_are() {
        let e = error(&format!("{CHAIN}\n[[etherium]]\nchain_id = 2\n"));
        assert!(
            e.contains("unknown section \"etherium\"") && e.contains("chain families: ethereum"),
            "{e}"
        );
    }

    #[test]
    fn a_chain_configured_twice_is_refused_naming_both_places() {
        let e = error(&format!("{CHAIN}\n{CHAIN}"));
        assert!(
            e.contains("ethereum[1]: ethereum/1 is configured twice (first as ethereum[0])"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_field_is_named_by_its_family_section() {
        let e = error(&CHAIN.replace("http://127.0.0.1:8545", "ftp://x"));
        assert!(e.contains("ethereum[0].rpc"), "{e}");
        let e = error(&CHAIN.replace("start_block", "startblock"));
        assert!(e.contains("startblock"), "{e}");
    }
}
