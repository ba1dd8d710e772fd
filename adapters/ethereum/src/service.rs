//! An Ethereum chain as the relayer runs it: its configuration section, the mirror processes
//! spawned on first start, and the watcher task.
//!
//! ```toml
//! [[ethereum]]
//! chain_id = 1
//! rpc = "https://eth.example/rpc"    # or a list, in order of preference:
//! # rpc = ["https://a.example/rpc", "https://b.example/rpc"]
//! finality = "finalized"        # "safe", or a number of confirmations (0 = the head)
//! poll_interval_ms = 2000       # how often the head is read once caught up
//! ws = "wss://eth.example/ws"   # optional: new heads wake the watcher at once
//!
//! [[ethereum.contracts]]
//! address = "0x…"
//! start_block = 20000000
//! subscribe = ["*:<ledger process id>"]   # optional: the mirror's Subscribe tags
//! ```

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::Address;
use alloy::providers::{Provider, ProviderBuilder, WsConnect};
use alloy::rpc::client::RpcClient;
use aolink_primitives::adapter::{
    ChainAdapter, ChainId, ChainSink, ChainStatus, MirrorOf, MirrorSpawn, ReadyLimits, Started,
    Stop, check_subscriptions, ensure_mirror,
};
pub use aolink_primitives::adapter::{ConfigError, RpcSetting, StartError};
use aolink_primitives::ans104::{Ed25519Signer, Signer, b64url_encode};
use aolink_primitives::delivery::AnswerSender;
use aolink_primitives::secret::{read_key_file, secret_of};
use serde::Deserialize;
use tokio::sync::Notify;

use crate::failover::{self, Failover, Probe};
use crate::finality::Finality;
use crate::sender::{DeliveryConfig, EthereumSender, RELAYER_KEY_ENV};
use crate::watcher::{Id, WatchedContract, Watcher, WatcherConfig};

/// One `[[ethereum]]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// The EVM chain id; checked against the RPC's `eth_chainId` at start.
    pub chain_id: u64,
    /// The HTTP JSON-RPC URL, or several in order of preference (see [`crate::failover`]).
    pub rpc: RpcSetting,
    /// Optional WebSocket URL: new heads seen there wake the watcher at once (polling over
    /// HTTP goes on regardless, so a dropped socket delays nothing past `poll_interval_ms`).
    #[serde(default)]
    pub ws: Option<String>,
    /// `"finalized"` (default), `"safe"`, or a number of confirmations.
    #[serde(default = "default_finality")]
    pub finality: FinalitySetting,
    /// How often the head is read once caught up, in ms (default 2000).
    #[serde(default = "default_poll_interval")]
    pub poll_interval_ms: u64,
    /// `/readyz`: how many blocks a contract's mirror may trail the final head (default 64).
    #[serde(default = "default_max_lag_blocks")]
    pub max_lag_blocks: u64,
    /// `/readyz`: how long without a successful poll, in ms (default 60000).
    #[serde(default = "default_max_silence")]
    pub max_silence_ms: u64,
    /// Largest `eth_getLogs` range in blocks (default 2000; providers often cap it).
    #[serde(default = "default_max_range")]
    pub max_range: u64,
    /// Per-request timeout in ms (default 30000).
    #[serde(default = "default_timeout")]
    pub rpc_timeout_ms: u64,
    /// With several RPC URLs: how long a later URL serves before the first is tried again,
    /// in ms (default 60000).
    #[serde(default = "default_retry_first")]
    pub rpc_retry_first_ms: u64,
    /// The watched contracts.
    pub contracts: Vec<ContractConfig>,
    /// Delivery of attested answers to this chain's gateways (absent: this instance only
    /// watches and signs; another delivers).
    #[serde(default)]
    pub delivery: Option<DeliveryConfig>,
}

/// One `[[ethereum.contracts]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractConfig {
    /// The contract address (0x + 40 hex).
    pub address: String,
    /// The first block to read (the contract's deployment block).
    pub start_block: u64,
    /// `Subscribe` tags of its mirror: `<Event>:<process id>` or `*:<process id>`.
    #[serde(default)]
    pub subscribe: Vec<String>,
}

/// A finality policy as written in the configuration: a word or a number.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum FinalitySetting {
    /// A number of confirmations.
    Confirmations(u64),
    /// `"finalized"`, `"safe"`, or a number as a string.
    Named(String),
}

fn default_finality() -> FinalitySetting {
    FinalitySetting::Named("finalized".into())
}
fn default_max_lag_blocks() -> u64 {
    64
}
fn default_max_silence() -> u64 {
    60_000
}
fn default_poll_interval() -> u64 {
    2_000
}
fn default_max_range() -> u64 {
    2_000
}
fn default_timeout() -> u64 {
    30_000
}
fn default_retry_first() -> u64 {
    60_000
}

/// A chain section checked and ready to run.
#[derive(Clone, Debug)]
pub struct Chain {
    /// Where it sits in the configuration (`ethereum[i]`), for messages.
    pub name: String,
    /// The checked settings.
    pub config: ChainConfig,
    /// The parsed finality policy.
    pub finality: Finality,
    /// The parsed contract addresses, in configuration order.
    pub addresses: Vec<Address>,
    /// The RPC URLs in order of preference, each with its field name (`rpc` or `rpc[i]`).
    pub rpc_urls: Vec<(String, reqwest::Url)>,
}

impl ChainConfig {
    /// Checks the section (`index` is its position, for error messages).
    pub fn check(self, index: usize) -> Result<Chain, ConfigError> {
        let name = format!("{}[{index}]", crate::FAMILY);
        let err = |field: &str, reason: String| ConfigError {
            field: format!("{name}.{field}"),
            reason,
        };
        let rpc_urls = self.rpc.checked(&name)?;
        if let Some(ws) = &self.ws {
            let url = reqwest::Url::parse(ws)
                .map_err(|e| err("ws", format!("{ws:?} is not a URL: {e}")))?;
            if !matches!(url.scheme(), "ws" | "wss") {
                return Err(err("ws", format!("{ws:?} is not a ws(s) URL")));
            }
        }
        let finality = match &self.finality {
            FinalitySetting::Confirmations(n) => Finality::Confirmations(*n),
            FinalitySetting::Named(s) => s.parse().map_err(|e| err("finality", format!("{e}")))?,
        };
        if self.poll_interval_ms == 0 {
            return Err(err("poll_interval_ms", "must be at least 1".into()));
        }
        if self.max_range == 0 {
            return Err(err("max_range", "must be at least 1 block".into()));
        }
        if self.rpc_timeout_ms == 0 {
            return Err(err("rpc_timeout_ms", "must be at least 1".into()));
        }
        if self.rpc_retry_first_ms == 0 {
            return Err(err("rpc_retry_first_ms", "must be at least 1".into()));
        }
        if self.contracts.is_empty() {
            return Err(err("contracts", "no contracts to watch".into()));
        }
        if let Some(delivery) = &self.delivery {
            delivery.check(&format!("{name}.delivery"))?;
        }
        let mut addresses = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, c) in self.contracts.iter().enumerate() {
            let field = format!("contracts[{i}].address");
            let address = parse_address(&c.address).ok_or_else(|| {
                err(
                    &field,
                    format!("{:?} is not an address (0x + 40 hex digits)", c.address),
                )
            })?;
            if !seen.insert(address) {
                return Err(err(&field, format!("{address:#x} is listed twice")));
            }
            check_subscriptions(&format!("{name}.contracts[{i}].subscribe"), &c.subscribe)?;
            addresses.push(address);
        }
        Ok(Chain {
            name,
            finality,
            addresses,
            rpc_urls,
            config: self,
        })
    }
}

fn parse_address(text: &str) -> Option<Address> {
    let hex = text.strip_prefix("0x")?;
    (hex.len() == 40).then_some(())?;
    hex.parse().ok()
}

/// The store key of a contract's mirror process id.
pub fn mirror_key(chain_id: u64, contract: &Address) -> String {
    format!("eth/{chain_id}/{contract:#x}/mirror")
}

/// The mirror process of each configured contract, spawned (signed by the node key, with the
/// adapter key as its `Authority`) the first time the contract is configured. The id is kept
/// by the sink with the spawn in one batch; later starts reuse it, so changing a contract's
/// `subscribe` list afterwards takes a `Subscribe` message, not a new mirror.
pub async fn ensure_mirrors<S: ChainSink>(
    sink: &S,
    adapter: &Ed25519Signer,
    chain: &Chain,
) -> Result<Vec<Id>, StartError> {
    let mut mirrors = Vec::new();
    for (contract, address) in chain.config.contracts.iter().zip(&chain.addresses) {
        let (chain_id, contract_text) =
            (chain.config.chain_id.to_string(), format!("{address:#x}"));
        let spawn = MirrorSpawn {
            chain_id: &chain_id,
            contract: &contract_text,
            start_block: contract.start_block,
            authority: adapter.address(),
            subscribe: &contract.subscribe,
            reorg_window: None,
        };
        let key = mirror_key(chain.config.chain_id, address);
        let (pid, spawned) = ensure_mirror(sink, key, spawn).await?;
        if spawned {
            tracing::info!(chain = chain.config.chain_id, contract = %address, mirror = %b64url_encode(&pid), "spawned mirror process");
        }
        mirrors.push(pid);
    }
    Ok(mirrors)
}

/// The watcher settings of a checked chain with its mirrors.
pub fn watcher_config(chain: &Chain, mirrors: &[Id]) -> WatcherConfig {
    let contracts = chain
        .config
        .contracts
        .iter()
        .zip(&chain.addresses)
        .zip(mirrors)
        .map(|((c, address), mirror)| WatchedContract {
            address: *address,
            start_block: c.start_block,
            mirror: *mirror,
        })
        .collect();
    let mut config = WatcherConfig::new(chain.config.chain_id, chain.finality, contracts);
    config.ready_limits = Some(ReadyLimits {
        max_lag: chain.config.max_lag_blocks,
        max_silence_ms: chain.config.max_silence_ms,
    });
    let max = chain.config.max_range;
    config.range = (config.range.0.min(max), 1, max);
    config
}

/// The chain's RPC URLs as one transport, with its request timeout.
pub fn rpc_transport(chain: &Chain) -> Result<Failover, ConfigError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(chain.config.rpc_timeout_ms))
        .build()
        .map_err(|e| ConfigError {
            field: format!("{}.rpc", chain.name),
            reason: format!("building the HTTP client: {e}"),
        })?;
    let urls: Vec<reqwest::Url> = chain.rpc_urls.iter().map(|(_, u)| u.clone()).collect();
    Ok(Failover::new(
        chain.config.chain_id,
        &urls,
        client,
        Duration::from_millis(chain.config.rpc_retry_first_ms),
    ))
}

/// The sender of answers to this chain, paying with the configured key.
fn delivery_sender(
    chain: &Chain,
    delivery: &DeliveryConfig,
) -> Result<Arc<dyn AnswerSender>, StartError> {
    let key_error = |reason: String| {
        StartError::Config(ConfigError {
            field: format!("{}.delivery.key_file", chain.name),
            reason,
        })
    };
    let secret = match (std::env::var(RELAYER_KEY_ENV), &delivery.key_file) {
        (Ok(text), _) => secret_of(&text, RELAYER_KEY_ENV),
        (Err(_), Some(path)) => read_key_file(path),
        (Err(_), None) => return Err(key_error(format!("needed (or set {RELAYER_KEY_ENV})"))),
    }
    .map_err(|e| key_error(e.to_string()))?;
    let transport = rpc_transport(chain)?;
    let is_local = transport.is_local();
    let sender = EthereumSender::new(
        chain.config.chain_id,
        RpcClient::new(transport, is_local),
        &secret,
        chain.finality,
        delivery.clone(),
        chain.config.poll_interval_ms,
    )
    .map_err(key_error)?;
    tracing::info!(chain = chain.config.chain_id, account = %sender.account(), "delivering answers");
    Ok(sender)
}

/// The chain's component name in the node's `GET /status`.
pub fn status_name(chain: &Chain) -> String {
    format!("{}/{}", crate::FAMILY, chain.config.chain_id)
}

/// Waits until one RPC URL answers for the configured chain. A URL that answers for another
/// chain is a configuration error (the node stops rather than risk mirroring the wrong
/// network); URLs that do not answer yet are checked when first used. `None`: stopped.
async fn check_chain_id<S: ChainSink>(
    sink: &S,
    chain: &Chain,
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
        for ((field, url), probe) in chain.rpc_urls.iter().zip(&probes) {
            match probe {
                Probe::Serves(id) if *id == chain.config.chain_id => serving = true,
                Probe::Serves(id) => {
                    return Err(StartError::Config(ConfigError {
                        field: format!("{}.{field}", chain.name),
                        reason: format!(
                            "configured chain_id {} but {} serves chain {id}",
                            chain.config.chain_id,
                            failover::shown(url)
                        ),
                    }));
                }
                Probe::Unreachable(e) => {
                    tracing::warn!(chain = chain.config.chain_id, url = %failover::shown(url), error = %e, "RPC URL not reachable");
                }
            }
        }
        if serving {
            return Ok(Some(()));
        }
        tracing::warn!(chain = chain.config.chain_id, retry_in = ?pause, "no RPC URL reachable");
        sink.report_status(
            &status_name(chain),
            &ChainStatus {
                last_error: Some("no RPC URL reachable (waiting to check the chain id)".into()),
                ..ChainStatus::unhealthy(crate::FAMILY, ChainId::Number(chain.config.chain_id))
            },
        );
        tokio::select! {
            _ = &mut stop => return Ok(None),
            _ = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}

/// Runs a chain's watcher, feeding `mirrors` (from [`ensure_mirrors`]), until `stop`
/// resolves. The RPC's chain id is checked first, so a URL pointing at the wrong network
/// never feeds a mirror.
pub async fn run_chain<S: ChainSink>(
    sink: S,
    adapter: Arc<Ed25519Signer>,
    chain: Chain,
    mirrors: Vec<Id>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), StartError> {
    let transport = rpc_transport(&chain)?;
    tokio::pin!(stop);
    if check_chain_id(&sink, &chain, &transport, stop.as_mut())
        .await?
        .is_none()
    {
        return Ok(());
    }
    let is_local = transport.is_local();
    let in_use = transport.clone();
    let provider = ProviderBuilder::new().connect_client(RpcClient::new(transport, is_local));
    tracing::info!(chain = chain.config.chain_id, finality = %chain.finality, contracts = chain.addresses.len(), "watching");
    let config = watcher_config(&chain, &mirrors);
    let mut watcher = Watcher::new(provider, sink, adapter, config);
    watcher.report_status_as(status_name(&chain), move || in_use.current().to_string());
    let wake = chain.config.ws.clone().map(|url| {
        let wake = Arc::new(Notify::new());
        let heads = tokio::spawn(follow_heads(chain.config.chain_id, url, wake.clone()));
        (wake, heads)
    });
    watcher
        .run(
            Duration::from_millis(chain.config.poll_interval_ms),
            wake.as_ref().map(|(w, _)| w.clone()),
            stop,
        )
        .await;
    if let Some((_, heads)) = wake {
        heads.abort();
    }
    Ok(())
}

impl ChainAdapter for Chain {
    const FAMILY: &'static str = crate::FAMILY;
    type Section = ChainConfig;

    fn check(section: ChainConfig, index: usize) -> Result<Chain, ConfigError> {
        section.check(index)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn chain_id(&self) -> ChainId {
        ChainId::Number(self.config.chain_id)
    }

    fn component(&self) -> String {
        status_name(self)
    }

    async fn start<S: ChainSink>(
        self,
        sink: S,
        signer: Arc<Ed25519Signer>,
        stop: Stop,
    ) -> Result<Started, StartError> {
        let ids = ensure_mirrors(&sink, &signer, &self).await?;
        let mirrors = self
            .addresses
            .iter()
            .zip(&ids)
            .map(|(address, process)| MirrorOf {
                contract: format!("{address:#x}"),
                process: *process,
            })
            .collect();
        let sender = match &self.config.delivery {
            Some(delivery) => Some(delivery_sender(&self, delivery)?),
            None => None,
        };
        Ok(Started {
            mirrors,
            watch: Box::pin(run_chain(sink, signer, self, ids, stop)),
            sender,
        })
    }
}

/// Subscribes to new heads over `url` and notifies `wake` for each; reconnects with a back-off
/// when the socket fails. Only a latency aid: every delivery still goes through HTTP polls.
async fn follow_heads(chain_id: u64, url: String, wake: Arc<Notify>) {
    let shown_ws = reqwest::Url::parse(&url)
        .map(|u| failover::shown(&u))
        .unwrap_or_else(|_| "(ws)".into());
    let mut pause = Duration::from_millis(500);
    loop {
        let connected = async {
            let provider = ProviderBuilder::new()
                .connect_ws(WsConnect::new(url.clone()))
                .await?;
            let mut heads = provider.subscribe_blocks().await?;
            tracing::info!(chain = chain_id, "following new heads over WebSocket");
            while heads.recv().await.is_ok() {
                wake.notify_one();
            }
            Ok::<(), alloy::transports::TransportError>(())
        };
        match connected.await {
            Ok(()) => {
                tracing::warn!(
                    chain = chain_id,
                    "WebSocket subscription ended; reconnecting"
                );
                pause = Duration::from_millis(500);
            }
            Err(e) => {
                // The URL's path may carry an API key: errors show scheme and host only.
                let error = e.to_string().replace(&url, &shown_ws);
                tracing::warn!(chain = chain_id, %error, retry_in = ?pause, "WebSocket failed; polling over HTTP meanwhile")
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> Result<Chain, String> {
        #[derive(Deserialize)]
        struct File {
            ethereum: Vec<ChainConfig>,
        }
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let chain = file.ethereum.into_iter().next().ok_or("no section")?;
        chain.check(0).map_err(|e| e.to_string())
    }

    const GOOD: &str = r#"
[[ethereum]]
chain_id = 1
rpc = "http://127.0.0.1:8545"
finality = 12

[[ethereum.contracts]]
address = "0xfE08D40Eb5A9F0AF4d1A9dB8bCE09D8c27bDf55E"
start_block = 100
subscribe = ["*:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]
"#;

    #[test]
    fn a_good_section_parses_with_defaults() {
        let chain = section(GOOD).unwrap();
        assert_eq!(chain.finality, Finality::Confirmations(12));
        assert_eq!(chain.config.poll_interval_ms, 2_000);
        assert_eq!(chain.config.max_range, 2_000);
        assert_eq!(chain.addresses.len(), 1);
        let named = section(&GOOD.replace("finality = 12", "finality = \"safe\"")).unwrap();
        assert_eq!(named.finality, Finality::Safe);
        let default = section(&GOOD.replace("finality = 12\n", "")).unwrap();
        assert_eq!(default.finality, Finality::Finalized);
    }

    #[test]
    fn every_mistake_names_its_field() {
        for (from, to, field) in [
            (
                "rpc = \"http://127.0.0.1:8545\"",
                "rpc = \"ftp://x\"",
                "ethereum[0].rpc",
            ),
            (
                "rpc = \"http://127.0.0.1:8545\"",
                "rpc = \"not a url\"",
                "ethereum[0].rpc",
            ),
            (
                "finality = 12",
                "finality = \"latest\"",
                "ethereum[0].finality",
            ),
            (
                "0xfE08D40Eb5A9F0AF4d1A9dB8bCE09D8c27bDf55E",
                "0x1234",
                "ethereum[0].contracts[0].address",
            ),
            (
                "*:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                "*:short",
                "ethereum[0].contracts[0].subscribe[0]",
            ),
            (
                "finality = 12",
                "finality = 12\nmax_range = 0",
                "ethereum[0].max_range",
            ),
        ] {
            let text = GOOD.replace(from, to);
            let err = section(&text).unwrap_err();
            assert!(err.starts_with(field), "{to}: {err}");
        }
        let twice = format!(
            "{GOOD}\n[[ethereum.contracts]]\naddress = \"0xfe08d40eb5a9f0af4d1a9db8bce09d8c27bdf55e\"\nstart_block = 1\n"
        );
        let err = section(&twice).unwrap_err();
        assert!(
            err.contains("contracts[1].address") && err.contains("twice"),
            "{err}"
        );
        let typo = GOOD.replace("start_block", "startblock");
        assert!(section(&typo).unwrap_err().contains("startblock"));
    }

    #[test]
    fn several_rpc_urls_are_listed_in_order_and_each_is_checked() {
        let one = "rpc = \"http://127.0.0.1:8545\"";
        let two = "rpc = [\"http://127.0.0.1:8545\", \"https://eth.example/v3/key\"]";
        let chain = section(&GOOD.replace(one, two)).unwrap();
        let fields: Vec<&str> = chain.rpc_urls.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["rpc[0]", "rpc[1]"]);
        assert_eq!(chain.rpc_urls[1].1.as_str(), "https://eth.example/v3/key");
        assert_eq!(chain.config.rpc_retry_first_ms, 60_000);
        for (to, field, reason) in [
            ("rpc = []", "ethereum[0].rpc:", "no RPC URL"),
            (
                "rpc = [\"http://127.0.0.1:8545\", \"ftp://x\"]",
                "ethereum[0].rpc[1]:",
                "not an http(s) URL",
            ),
            (
                "rpc = [\"http://127.0.0.1:8545\", \"http://127.0.0.1:8545\"]",
                "ethereum[0].rpc[1]:",
                "listed twice",
            ),
        ] {
            let err = section(&GOOD.replace(one, to)).unwrap_err();
            assert!(
                err.starts_with(field) && err.contains(reason),
                "{to}: {err}"
            );
        }
    }
}
