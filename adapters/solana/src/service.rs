//! A Solana cluster as the relayer runs it: its configuration section, the mirror processes
//! spawned on first start (one per gateway address), and the watcher task.
//!
//! ```toml
//! [[solana]]
//! cluster = "mainnet-beta"           # or devnet, testnet, or a local cluster's genesis hash
//! rpc = "https://sol.example/rpc"    # or a list, in order of preference
//! commitment = "finalized"           # or "confirmed"
//! poll_interval_ms = 1000            # how often the head is read once caught up
//!
//! [[solana.gateways]]
//! address = "<base58 address the dApps name in their memo transactions>"
//! start_slot = 300000000             # the first slot read
//! subscribe = ["*:<ledger process id>"]   # optional: the mirror's Subscribe tags
//!
//! [solana.delivery]                  # optional: deliver attested answers (see `sender`)
//! key_file = "/etc/aolink/solana-relayer.json"
//! ```

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aolink_primitives::adapter::{
    ChainAdapter, ChainId, ChainSink, ChainStatus, MirrorOf, MirrorSpawn, ReadyLimits, RpcSetting,
    Started, Stop, check_subscriptions, ensure_mirror, shown_url,
};
pub use aolink_primitives::adapter::{ConfigError, StartError};
use aolink_primitives::ans104::{Ed25519Signer, Signer, b64url_encode};
use aolink_primitives::delivery::AnswerSender;
use serde::Deserialize;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client::rpc_client::RpcClientConfig;

use crate::cluster;
use crate::failover::{Failover, Probe};
use crate::sender::{DeliveryConfig, SolanaSender};
use crate::watcher::{Commitment, Id, WatchedGateway, Watcher, WatcherConfig};

/// The mirror's reorg window on Solana, in slots. Nothing read at the configured commitment
/// rolls back; the window is how far back the mirror still recognises a call it has had
/// (and accepts one the RPC listed late): about seven minutes of slots.
pub const MIRROR_WINDOW_SLOTS: u64 = 1_024;

/// One `[[solana]]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// `mainnet-beta`, `devnet`, `testnet`, or another cluster's genesis hash; checked against
    /// every RPC's `getGenesisHash`.
    pub cluster: String,
    /// The HTTP JSON-RPC URL, or several in order of preference.
    pub rpc: RpcSetting,
    /// `"finalized"` (default) or `"confirmed"`.
    #[serde(default = "default_commitment")]
    pub commitment: String,
    /// How often the head is read once caught up, in ms (default 1000).
    #[serde(default = "default_poll_interval")]
    pub poll_interval_ms: u64,
    /// `/readyz`: how many slots a gateway's mirror may trail the head (default 300).
    #[serde(default = "default_max_lag_slots")]
    pub max_lag_slots: u64,
    /// `/readyz`: how long without a successful poll, in ms (default 60000).
    #[serde(default = "default_max_silence")]
    pub max_silence_ms: u64,
    /// Per-request timeout in ms (default 30000).
    #[serde(default = "default_timeout")]
    pub rpc_timeout_ms: u64,
    /// With several RPC URLs: how long a later URL serves before the first is tried again, in
    /// ms (default 60000).
    #[serde(default = "default_retry_first")]
    pub rpc_retry_first_ms: u64,
    /// Signatures per `getSignaturesForAddress` page (2 to 1000, default 1000).
    #[serde(default = "default_page_limit")]
    pub page_limit: usize,
    /// How many of the last signatures read every walk lists again, to find one the RPC left
    /// out before (default 64).
    #[serde(default = "default_recheck")]
    pub recheck: usize,
    /// `getTransaction` calls in flight at once (default 16).
    #[serde(default = "default_fetch_concurrency")]
    pub fetch_concurrency: usize,
    /// The watched gateway addresses.
    pub gateways: Vec<GatewayConfig>,
    /// How answers are delivered back to this cluster (none: this instance does not deliver).
    #[serde(default)]
    pub delivery: Option<DeliveryConfig>,
}

/// One `[[solana.gateways]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// The gateway address (base58).
    pub address: String,
    /// The first slot read (default 0: the whole history the RPC has).
    #[serde(default)]
    pub start_slot: u64,
    /// `Subscribe` tags of its mirror: `<Event>:<process id>` or `*:<process id>`.
    #[serde(default)]
    pub subscribe: Vec<String>,
}

fn default_commitment() -> String {
    "finalized".into()
}
fn default_max_lag_slots() -> u64 {
    300
}
fn default_max_silence() -> u64 {
    60_000
}
fn default_poll_interval() -> u64 {
    1_000
}
fn default_timeout() -> u64 {
    30_000
}
fn default_retry_first() -> u64 {
    60_000
}
fn default_page_limit() -> usize {
    1_000
}
fn default_recheck() -> usize {
    64
}
fn default_fetch_concurrency() -> usize {
    16
}

/// A cluster section checked and ready to run.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// Where it sits in the configuration (`solana[i]`), for messages.
    pub name: String,
    /// The checked settings.
    pub config: ClusterConfig,
    /// The cluster's name (`devnet`, or a genesis hash's first 32 characters).
    pub cluster: String,
    /// The parsed commitment.
    pub commitment: Commitment,
    /// The gateway addresses, in configuration order.
    pub addresses: Vec<Pubkey>,
    /// The RPC URLs in order of preference, each with its field name.
    pub rpc_urls: Vec<(String, url::Url)>,
}

/// The cluster name a `cluster` setting means: a public cluster's name as written, or the
/// first 32 characters of a genesis hash (written whole, cut, or as `solana:<name>`).
fn cluster_name(setting: &str) -> Option<String> {
    let setting = setting.strip_prefix("solana:").unwrap_or(setting);
    if ["mainnet-beta", "devnet", "testnet"].contains(&setting) {
        return Some(setting.to_string());
    }
    let base58 =
        setting.len() >= 32 && setting.len() <= 44 && bs58::decode(setting).into_vec().is_ok();
    base58.then(|| cluster::name(setting))
}

impl ClusterConfig {
    /// Checks the section (`index` is its position, for error messages).
    pub fn check(self, index: usize) -> Result<Cluster, ConfigError> {
        let name = format!("{}[{index}]", crate::FAMILY);
        let err = |field: &str, reason: String| ConfigError {
            field: format!("{name}.{field}"),
            reason,
        };
        let cluster = cluster_name(&self.cluster).ok_or_else(|| {
            err(
                "cluster",
                format!(
                    "{:?} is neither mainnet-beta, devnet, testnet nor a genesis hash",
                    self.cluster
                ),
            )
        })?;
        let rpc_urls = self.rpc.checked(&name)?;
        let commitment: Commitment = self
            .commitment
            .parse()
            .map_err(|e: String| err("commitment", e))?;
        for (field, value) in [
            ("poll_interval_ms", self.poll_interval_ms),
            ("rpc_timeout_ms", self.rpc_timeout_ms),
            ("rpc_retry_first_ms", self.rpc_retry_first_ms),
            ("recheck", self.recheck as u64),
            ("fetch_concurrency", self.fetch_concurrency as u64),
        ] {
            if value == 0 {
                return Err(err(field, "must be at least 1".into()));
            }
        }
        if !(2..=1_000).contains(&self.page_limit) {
            return Err(err(
                "page_limit",
                format!(
                    "{} is not 2 to 1000 (what getSignaturesForAddress allows)",
                    self.page_limit
                ),
            ));
        }
        if self.gateways.is_empty() {
            return Err(err("gateways", "no gateway to watch".into()));
        }
        if let Some(delivery) = &self.delivery {
            delivery.check(&format!("{name}.delivery"))?;
        }
        let mut addresses = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, g) in self.gateways.iter().enumerate() {
            let field = format!("gateways[{i}].address");
            let address: Pubkey = g.address.parse().map_err(|_| {
                err(
                    &field,
                    format!("{:?} is not a base58 Solana address", g.address),
                )
            })?;
            if !seen.insert(address) {
                return Err(err(&field, format!("{address} is listed twice")));
            }
            check_subscriptions(&format!("{name}.gateways[{i}].subscribe"), &g.subscribe)?;
            addresses.push(address);
        }
        Ok(Cluster {
            name,
            cluster,
            commitment,
            addresses,
            rpc_urls,
            config: self,
        })
    }
}

impl Cluster {
    /// The `Chain-Id` of events from this cluster.
    pub fn chain_id(&self) -> String {
        format!("solana:{}", self.cluster)
    }

    /// The cluster's component name in the node's `GET /status`.
    pub fn status_name(&self) -> String {
        format!("{}/{}", crate::FAMILY, self.cluster)
    }
}

/// The store key of a gateway's mirror process id.
pub fn mirror_key(chain_id: &str, gateway: &Pubkey) -> String {
    format!("{chain_id}/{gateway}/mirror")
}

/// The mirror process of each configured gateway, spawned (signed by the node key, with the
/// adapter key as its `Authority`) the first time the gateway is configured.
pub async fn ensure_mirrors<S: ChainSink>(
    sink: &S,
    adapter: &Ed25519Signer,
    cluster: &Cluster,
) -> Result<Vec<Id>, StartError> {
    let chain_id = cluster.chain_id();
    let mut mirrors = Vec::new();
    for (gateway, address) in cluster.config.gateways.iter().zip(&cluster.addresses) {
        let contract = address.to_string();
        let spawn = MirrorSpawn {
            chain_id: &chain_id,
            contract: &contract,
            start_block: gateway.start_slot,
            authority: adapter.address(),
            subscribe: &gateway.subscribe,
            reorg_window: Some(MIRROR_WINDOW_SLOTS),
        };
        let (pid, spawned) = ensure_mirror(sink, mirror_key(&chain_id, address), spawn).await?;
        if spawned {
            tracing::info!(chain = %chain_id, gateway = %address, mirror = %b64url_encode(&pid), "spawned mirror process");
        }
        mirrors.push(pid);
    }
    Ok(mirrors)
}

/// The watcher settings of a checked cluster with its mirrors.
pub fn watcher_config(cluster: &Cluster, mirrors: &[Id]) -> WatcherConfig {
    let gateways = cluster
        .config
        .gateways
        .iter()
        .zip(&cluster.addresses)
        .zip(mirrors)
        .map(|((g, address), mirror)| WatchedGateway {
            address: *address,
            start_slot: g.start_slot,
            mirror: *mirror,
        })
        .collect();
    let mut config = WatcherConfig::new(cluster.chain_id(), cluster.commitment, gateways);
    config.page_limit = cluster.config.page_limit;
    config.recheck = cluster.config.recheck;
    config.fetch_concurrency = cluster.config.fetch_concurrency;
    config.ready_limits = Some(ReadyLimits {
        max_lag: cluster.config.max_lag_slots,
        max_silence_ms: cluster.config.max_silence_ms,
    });
    config
}

/// The cluster's RPC URLs as one transport.
pub fn rpc_transport(cluster: &Cluster) -> Failover {
    let urls: Vec<url::Url> = cluster.rpc_urls.iter().map(|(_, u)| u.clone()).collect();
    Failover::new(
        &cluster.cluster,
        &urls,
        Duration::from_millis(cluster.config.rpc_timeout_ms),
        Duration::from_millis(cluster.config.rpc_retry_first_ms),
    )
}

/// Waits until one RPC URL answers for the configured cluster. A URL that serves another
/// cluster is a configuration error; URLs that do not answer yet are checked when first used.
/// `None`: stopped.
async fn check_cluster<S: ChainSink>(
    sink: &S,
    cluster: &Cluster,
    transport: &Failover,
    mut stop: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Result<Option<()>, StartError> {
    let mut pause = Duration::from_millis(250);
    loop {
        let probes = tokio::select! {
            _ = &mut stop => return Ok(None),
            p = transport.probe() => p,
        };
        let mut serving = false;
        for ((field, url), probe) in cluster.rpc_urls.iter().zip(&probes) {
            match probe {
                Probe::Serves(name) if *name == cluster.cluster => serving = true,
                Probe::Serves(name) => {
                    return Err(StartError::Config(ConfigError {
                        field: format!("{}.{field}", cluster.name),
                        reason: format!(
                            "configured cluster {} but {} serves solana:{name}",
                            cluster.cluster,
                            shown_url(url)
                        ),
                    }));
                }
                Probe::Unreachable(e) => {
                    tracing::warn!(chain = %cluster.chain_id(), url = %shown_url(url), error = %e, "RPC URL not reachable");
                }
            }
        }
        if serving {
            return Ok(Some(()));
        }
        tracing::warn!(chain = %cluster.chain_id(), retry_in = ?pause, "no RPC URL reachable");
        sink.report_status(
            &cluster.status_name(),
            &ChainStatus {
                last_error: Some("no RPC URL reachable (waiting to check the cluster)".into()),
                ..ChainStatus::unhealthy(crate::FAMILY, ChainId::Name(cluster.chain_id()))
            },
        );
        tokio::select! {
            _ = &mut stop => return Ok(None),
            _ = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}

/// Runs a cluster's watcher, feeding `mirrors` (from [`ensure_mirrors`]), until `stop`
/// resolves. Every RPC's genesis hash is checked first, so a URL pointing at another cluster
/// never feeds a mirror.
pub async fn run_cluster<S: ChainSink>(
    sink: S,
    adapter: Arc<Ed25519Signer>,
    cluster: Cluster,
    mirrors: Vec<Id>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), StartError> {
    let transport = rpc_transport(&cluster);
    tokio::pin!(stop);
    if check_cluster(&sink, &cluster, &transport, stop.as_mut())
        .await?
        .is_none()
    {
        return Ok(());
    }
    let in_use = transport.clone();
    let rpc = Arc::new(RpcClient::new_sender(
        transport,
        RpcClientConfig::with_commitment(cluster.commitment.config()),
    ));
    tracing::info!(chain = %cluster.chain_id(), commitment = %cluster.commitment, gateways = cluster.addresses.len(), "watching");
    let mut watcher = Watcher::new(rpc, sink, adapter, watcher_config(&cluster, &mirrors));
    watcher.report_status_as(cluster.status_name(), move || in_use.current().to_string());
    watcher
        .run(Duration::from_millis(cluster.config.poll_interval_ms), stop)
        .await;
    Ok(())
}

/// The sender of answers to this cluster, paying with the configured key.
fn delivery_sender(
    cluster: &Cluster,
    delivery: &DeliveryConfig,
) -> Result<Arc<dyn AnswerSender>, StartError> {
    let payer = delivery.keypair().map_err(|reason| {
        StartError::Config(ConfigError {
            field: format!("{}.delivery.key_file", cluster.name),
            reason,
        })
    })?;
    let rpc = Arc::new(RpcClient::new_sender(
        rpc_transport(cluster),
        RpcClientConfig::with_commitment(cluster.commitment.config()),
    ));
    let sender = SolanaSender::new(
        cluster.chain_id(),
        rpc,
        payer,
        cluster.commitment.config(),
        cluster.config.poll_interval_ms,
    );
    tracing::info!(chain = %cluster.chain_id(), account = %sender.account(), "delivering answers");
    Ok(sender)
}

impl ChainAdapter for Cluster {
    const FAMILY: &'static str = crate::FAMILY;
    type Section = ClusterConfig;

    fn check(section: ClusterConfig, index: usize) -> Result<Cluster, ConfigError> {
        section.check(index)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn chain_id(&self) -> ChainId {
        ChainId::Name(Cluster::chain_id(self))
    }

    fn component(&self) -> String {
        self.status_name()
    }

    async fn start<S: ChainSink>(
        self,
        sink: S,
        signer: Arc<Ed25519Signer>,
        stop: Stop,
    ) -> Result<Started, StartError> {
        let sender = match &self.config.delivery {
            Some(delivery) => Some(delivery_sender(&self, delivery)?),
            None => None,
        };
        let ids = ensure_mirrors(&sink, &signer, &self).await?;
        let mirrors = self
            .addresses
            .iter()
            .zip(&ids)
            .map(|(address, process)| MirrorOf {
                contract: address.to_string(),
                process: *process,
            })
            .collect();
        Ok(Started {
            mirrors,
            watch: Box::pin(run_cluster(sink, signer, self, ids, stop)),
            sender,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> Result<Cluster, String> {
        #[derive(Deserialize)]
        struct File {
            solana: Vec<ClusterConfig>,
        }
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let cluster = file.solana.into_iter().next().ok_or("no section")?;
        cluster.check(0).map_err(|e| e.to_string())
    }

    const GOOD: &str = r#"
[[solana]]
cluster = "devnet"
rpc = "http://127.0.0.1:8899"

[[solana.gateways]]
address = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"
start_slot = 100
subscribe = ["*:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]
"#;

    #[test]
    fn a_good_section_parses_with_defaults() {
        let cluster = section(GOOD).unwrap();
        assert_eq!(cluster.chain_id(), "solana:devnet");
        assert_eq!(cluster.status_name(), "solana/devnet");
        assert_eq!(cluster.commitment, Commitment::Finalized);
        assert_eq!(cluster.config.poll_interval_ms, 1_000);
        assert_eq!(cluster.config.page_limit, 1_000);
        let local = section(&GOOD.replace(
            "\"devnet\"",
            "\"GH7ome3EiwEr7tu9JuTh2dpYWBJK3z69Xm1ZE3MEE6JC\"",
        ))
        .unwrap();
        assert_eq!(local.chain_id(), "solana:GH7ome3EiwEr7tu9JuTh2dpYWBJK3z69");
        let as_written =
            section(&GOOD.replace("\"devnet\"", "\"solana:GH7ome3EiwEr7tu9JuTh2dpYWBJK3z69\""))
                .unwrap();
        assert_eq!(as_written.chain_id(), local.chain_id());
        let confirmed = section(&GOOD.replace(
            "cluster = \"devnet\"",
            "cluster = \"devnet\"\ncommitment = \"confirmed\"",
        ))
        .unwrap();
        assert_eq!(confirmed.commitment, Commitment::Confirmed);
    }

    #[test]
    fn every_mistake_names_its_field() {
        for (from, to, field, reason) in [
            (
                "\"devnet\"",
                "\"devnett\"",
                "solana[0].cluster",
                "genesis hash",
            ),
            (
                "rpc = \"http://127.0.0.1:8899\"",
                "rpc = \"ftp://x\"",
                "solana[0].rpc",
                "http(s)",
            ),
            (
                "cluster = \"devnet\"",
                "cluster = \"devnet\"\ncommitment = \"processed\"",
                "solana[0].commitment",
                "roll back",
            ),
            (
                "cluster = \"devnet\"",
                "cluster = \"devnet\"\npage_limit = 1001",
                "solana[0].page_limit",
                "2 to 1000",
            ),
            (
                "cluster = \"devnet\"",
                "cluster = \"devnet\"\nrecheck = 0",
                "solana[0].recheck",
                "at least 1",
            ),
            (
                "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",
                "0xfE08D40Eb5A9F0AF4d1A9dB8bCE09D8c27bDf55E",
                "solana[0].gateways[0].address",
                "base58",
            ),
            (
                "*:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                "*:short",
                "solana[0].gateways[0].subscribe[0]",
                "process id",
            ),
        ] {
            let err = section(&GOOD.replace(from, to)).unwrap_err();
            assert!(
                err.starts_with(field) && err.contains(reason),
                "{to}: {err}"
            );
        }
        let twice = format!(
            "{GOOD}\n[[solana.gateways]]\naddress = \"MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr\"\n"
        );
        let err = section(&twice).unwrap_err();
        assert!(
            err.contains("gateways[1].address") && err.contains("twice"),
            "{err}"
        );
        let typo = GOOD.replace("start_slot", "startslot");
        assert!(section(&typo).unwrap_err().contains("startslot"));
    }
}
