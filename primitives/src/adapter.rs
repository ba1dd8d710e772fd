//! The seam between a chain family's adapter and the rest of aolink, in both directions:
//! [`ChainSink`] is what an adapter needs from the node (the node implements it), and
//! [`ChainAdapter`] is what the relayer needs from an adapter (each family implements it once).
//! An adapter depends on this crate and its chain SDK, never on the node; the relayer wires
//! the two together from its configuration.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ans104::{DataItem, Ed25519Signer, Tag, b64url_decode_32};
use crate::ao::AoTags;
use crate::chain::MIRROR_DEVICE;

/// A chain's id as the status reports it: a number on EVM chains, a name elsewhere.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChainId {
    /// An EVM chain id.
    Number(u64),
    /// A named cluster (`solana:devnet`).
    Name(String),
}

impl std::fmt::Display for ChainId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainId::Number(n) => write!(f, "{n}"),
            ChainId::Name(name) => f.write_str(name),
        }
    }
}

/// One watched contract in a chain's status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractStatus {
    /// The contract address.
    pub address: String,
    /// Its mirror process id.
    pub mirror: String,
    /// The last block whose events reached the mirror.
    pub delivered_through: Option<u64>,
    /// How many blocks that is behind the chain's head under the finality policy.
    pub behind: Option<u64>,
    /// What was read and not delivered, where the family reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed_over: Option<PassedOver>,
}

/// What a chain adapter reports about itself (`GET /status`, `GET /metrics`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainStatus {
    /// The chain family (`ethereum`, `solana`).
    pub kind: String,
    /// The chain.
    pub chain_id: ChainId,
    /// The finality policy, when the adapter runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finality: Option<String>,
    /// The RPC URL in use (scheme and host only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc: Option<String>,
    /// The head under the finality policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<u64>,
    /// Whether the backfill has reached the head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caught_up: Option<bool>,
    /// The watched contracts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contracts: Vec<ContractStatus>,
    /// Events delivered since start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_delivered: Option<u64>,
    /// Reorgs handled since start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorgs: Option<u64>,
    /// When a poll last succeeded (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_ms: Option<u64>,
    /// Failed polls in a row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures_in_a_row: Option<u32>,
    /// The last error.
    pub last_error: Option<String>,
    /// Whether the adapter is doing its job.
    pub healthy: bool,
    /// How far behind and how long without a successful poll the chain may be while the node
    /// is ready (`/readyz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_limits: Option<ReadyLimits>,
}

/// A chain's readiness limits: its `max_lag_*` and `max_silence_ms` settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadyLimits {
    /// Blocks (slots) a contract's mirror may trail the chain's head.
    pub max_lag: u64,
    /// How long since the last successful poll, in ms.
    pub max_silence_ms: u64,
}

impl ChainStatus {
    /// Why this chain keeps the node from being ready at `now_ms`, if it does: unhealthy, no
    /// successful poll for longer than its limit, or a mirror further behind than its limit.
    pub fn unready_reason(&self, now_ms: u64) -> Option<String> {
        if !self.healthy {
            return Some(format!(
                "unhealthy: {}",
                self.last_error.as_deref().unwrap_or("no reason given")
            ));
        }
        let limits = self.ready_limits?;
        match self.last_success_ms {
            None => return Some("no successful poll yet".into()),
            Some(at) if now_ms.saturating_sub(at) > limits.max_silence_ms => {
                return Some(format!(
                    "no successful poll for {} ms (limit {} ms){}",
                    now_ms.saturating_sub(at),
                    limits.max_silence_ms,
                    self.last_error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ));
            }
            Some(_) => {}
        }
        let lag = self.contracts.iter().filter_map(|c| c.behind).max()?;
        (lag > limits.max_lag)
            .then(|| format!("{lag} blocks behind the head (limit {})", limits.max_lag))
    }

    /// A status that says only that the chain is not working (set `last_error` to say why).
    pub fn unhealthy(kind: &str, chain_id: ChainId) -> ChainStatus {
        ChainStatus {
            kind: kind.into(),
            chain_id,
            finality: None,
            rpc: None,
            head: None,
            caught_up: None,
            contracts: Vec::new(),
            events_delivered: None,
            reorgs: None,
            last_success_ms: None,
            failures_in_a_row: None,
            last_error: None,
            healthy: false,
            ready_limits: None,
        }
    }
}

/// Counts a chain adapter keeps of what it read and did not deliver, since start: each says
/// why (a transaction that failed on chain, one that named the gateway without a call, a call
/// that is not well formed), so an operator sees that a dApp's call reached nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PassedOver {
    /// Transactions that failed on chain.
    pub failed_transactions: u64,
    /// Transactions that name the gateway but hold no call (a memo without the prefix).
    pub without_calls: u64,
    /// Transactions whose `aolink:v1:` memos are none of them a well-formed call.
    pub malformed_calls: u64,
    /// Signatures the RPC listed late, after newer ones had been read (found by re-listing).
    pub found_late: u64,
    /// The last one passed over: its transaction and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
}

/// A sink that failed to store what an adapter sent; nothing of the item (or cursor write) that
/// failed was stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// A cursor write: an adapter-chosen key and its bytes.
pub type CursorWrite = (String, Vec<u8>);

/// What a chain adapter needs from the node, and all it gets: the node implements it, the
/// relayer hands it to each adapter, and an adapter never sees the node's store or scheduler.
///
/// Every write is atomic: an item is scheduled together with the cursors it completes, or not
/// at all, so a crash between the two cannot lose or repeat an event.
pub trait ChainSink: Clone + Send + Sync + 'static {
    /// A cursor the adapter wrote under `key`, if any.
    fn cursor(&self, key: &str) -> Result<Option<Vec<u8>>, SinkError>;

    /// Schedules `item` (signed by the adapter's key, already verified by its maker) and
    /// writes `cursors` in the same batch; resolves once both are durable.
    fn submit(
        &self,
        item: DataItem,
        cursors: Vec<CursorWrite>,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Schedules `items` in order, each with its cursors in its own atomic batch, and resolves
    /// once all are durable. A sink may make them durable together (one flush for a range's
    /// items); should it stop half way, what it kept is a prefix of `items`, each with its
    /// cursors, so the adapter resumes right after the last one kept.
    fn submit_all(
        &self,
        items: Vec<(DataItem, Vec<CursorWrite>)>,
    ) -> impl Future<Output = Result<(), SinkError>> + Send {
        async move {
            for (item, cursors) in items {
                self.submit(item, cursors).await?;
            }
            Ok(())
        }
    }

    /// Writes `cursors` alone (a range with nothing to deliver), atomically.
    fn put_cursors(&self, cursors: Vec<CursorWrite>) -> Result<(), SinkError>;

    /// Spawns a process owned by the node (it signs the item with its own key) with `tags` and
    /// `data`, recording its id under the cursor key `id_key` in the same batch; resolves to
    /// the process id once durable. Signing is deterministic, so spawning the same tags again
    /// yields the same process, and the spawn is scheduled once.
    fn spawn(
        &self,
        tags: Vec<Tag>,
        data: Vec<u8>,
        id_key: String,
    ) -> impl Future<Output = Result<[u8; 32], SinkError>> + Send;

    /// Publishes the adapter's status under `component` (e.g. `ethereum/1`).
    fn report_status(&self, component: &str, status: &ChainStatus);
}

/// RPC URLs as written in a chain's configuration section: one, or a list in order of
/// preference.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum RpcSetting {
    /// One URL.
    One(String),
    /// Several URLs, the first preferred.
    Many(Vec<String>),
}

impl RpcSetting {
    /// The URLs in order of preference, each with its field name (`rpc` or `rpc[i]`), checked:
    /// at least one, each an `http(s)` URL, none twice. `section` names the section
    /// (`ethereum[0]`) in errors.
    pub fn checked(&self, section: &str) -> Result<Vec<(String, url::Url)>, ConfigError> {
        let err = |field: &str, reason: String| ConfigError {
            field: format!("{section}.{field}"),
            reason,
        };
        let listed: Vec<(String, &String)> = match self {
            RpcSetting::One(url) => vec![("rpc".into(), url)],
            RpcSetting::Many(urls) => urls
                .iter()
                .enumerate()
                .map(|(i, url)| (format!("rpc[{i}]"), url))
                .collect(),
        };
        if listed.is_empty() {
            return Err(err("rpc", "no RPC URL".into()));
        }
        let mut urls: Vec<(String, url::Url)> = Vec::new();
        for (field, text) in listed {
            let url = url::Url::parse(text)
                .map_err(|e| err(&field, format!("{text:?} is not a URL: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(err(&field, format!("{text:?} is not an http(s) URL")));
            }
            if urls.iter().any(|(_, u)| *u == url) {
                return Err(err(&field, format!("{text:?} is listed twice")));
            }
            urls.push((field, url));
        }
        Ok(urls)
    }
}

/// `url` as scheme://host[:port], without path, query or credentials: how logs and the status
/// name an RPC, since paths and queries often carry API keys.
pub fn shown_url(url: &url::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        _ => url.scheme().to_string(),
    }
}

/// Whether `value` is a mirror's `Subscribe` entry: `<Event>:<process id>` or `*:<process id>`.
pub fn is_subscription(value: &str) -> bool {
    value.rsplit_once(':').is_some_and(|(event, pid)| {
        !event.is_empty() && b64url_decode_32(pid, "process id").is_ok()
    })
}

/// Checks a watched contract's `subscribe` list, written at `field`
/// (`ethereum[0].contracts[1].subscribe`); an error names the entry.
pub fn check_subscriptions(field: &str, subscribe: &[String]) -> Result<(), ConfigError> {
    match subscribe.iter().position(|s| !is_subscription(s)) {
        None => Ok(()),
        Some(j) => Err(ConfigError {
            field: format!("{field}[{j}]"),
            reason: format!(
                "{:?} is not <Event>:<process id> or *:<process id>",
                subscribe[j]
            ),
        }),
    }
}

/// What a mirror process is spawned with: the chain and contract it mirrors, from where, and
/// who may feed it.
#[derive(Clone, Debug)]
pub struct MirrorSpawn<'a> {
    /// The chain (`1`, `solana:devnet`).
    pub chain_id: &'a str,
    /// The contract (or gateway address), as the family writes it.
    pub contract: &'a str,
    /// The first block (slot) it mirrors.
    pub start_block: u64,
    /// The adapter key's address: the only sender of its events.
    pub authority: String,
    /// Its `Subscribe` tags.
    pub subscribe: &'a [String],
    /// Its `Reorg-Window` in blocks, when not the mirror's default.
    pub reorg_window: Option<u64>,
}

impl MirrorSpawn<'_> {
    /// The spawn's tags, in the order that makes its id (so an unchanged mirror keeps it).
    pub fn tags(&self) -> Vec<Tag> {
        let mut tags = AoTags::process()
            .with("Device", MIRROR_DEVICE)
            .with(
                "Name",
                format!("mirror {} on {}", self.contract, self.chain_id),
            )
            .with("Chain-Id", self.chain_id)
            .with("Contract", self.contract)
            .with("Start-Block", self.start_block.to_string())
            .with("Authority", self.authority.clone());
        if let Some(window) = self.reorg_window {
            tags = tags.with("Reorg-Window", window.to_string());
        }
        tags.with_each("Subscribe", self.subscribe.iter().cloned())
            .build()
    }
}

/// The mirror process of a watched contract: the id kept under `key`, or, the first time,
/// a node-signed spawn with `spawn`'s tags (its id kept under `key` in the same batch). Later
/// starts reuse the id, so changing a contract's `subscribe` list afterwards takes a
/// `Subscribe` message, not a new mirror. Also says whether it was spawned now.
pub async fn ensure_mirror<S: ChainSink>(
    sink: &S,
    key: String,
    spawn: MirrorSpawn<'_>,
) -> Result<([u8; 32], bool), StartError> {
    let spawn_error = |reason: String| StartError::Spawn {
        contract: spawn.contract.to_string(),
        reason,
    };
    if let Some(raw) = sink.cursor(&key).map_err(|e| spawn_error(e.to_string()))? {
        let pid = raw
            .as_slice()
            .try_into()
            .map_err(|_| spawn_error(format!("stored mirror id under {key} is corrupt")))?;
        return Ok((pid, false));
    }
    let pid = sink
        .spawn(spawn.tags(), b"mirror".to_vec(), key)
        .await
        .map_err(|e| spawn_error(e.to_string()))?;
    Ok((pid, true))
}

/// The tags of an adapter's message to a mirror (`Chain-Event`, `Chain-Reorg`).
pub fn mirror_message_tags(action: &str, chain_id: &str, contract: &str) -> Vec<Tag> {
    AoTags::message()
        .with("Action", action)
        .with("Chain-Id", chain_id)
        .with("Contract", contract)
        .build()
}

/// A configuration section that cannot be used, naming the field (`ethereum[0].rpc`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    /// The field, e.g. `ethereum[0].contracts[1].address`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

/// Why a chain could not start, or stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is wrong (or the chain contradicts it).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The node refused or failed to store a mirror's spawn.
    #[error("spawning the mirror of {contract}: {reason}")]
    Spawn {
        /// The contract.
        contract: String,
        /// Why.
        reason: String,
    },
}

/// A mirror process of a watched contract, as a started chain lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorOf {
    /// The contract, as the chain family writes addresses.
    pub contract: String,
    /// The mirror's process id.
    pub process: [u8; 32],
}

/// Resolves when the relayer stops.
pub type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A task an adapter runs until [`Stop`]; an error is a chain that stopped on its own (the RPC
/// serves another chain than configured, say).
pub type Watch = Pin<Box<dyn Future<Output = Result<(), StartError>> + Send>>;

/// A chain whose mirrors exist, with the task that watches it.
pub struct Started {
    /// Its mirrors, in configuration order.
    pub mirrors: Vec<MirrorOf>,
    /// The watcher: run it until the relayer stops.
    pub watch: Watch,
    /// What delivers answers back to the chain, when its section configures delivery.
    pub sender: Option<std::sync::Arc<dyn crate::delivery::AnswerSender>>,
}

/// One chain family's adapter as the relayer runs it: one configuration section per chain
/// (`[[ethereum]]`), checked before anything is opened, then started against any
/// [`ChainSink`]. Adding a family is an implementation of this trait and one line of wiring.
pub trait ChainAdapter: Sized + Send + 'static {
    /// The family's name, which is also its configuration section.
    const FAMILY: &'static str;

    /// One section as written in the configuration.
    type Section: DeserializeOwned;

    /// Checks section number `index`; an error names the field (`ethereum[0].rpc`).
    fn check(section: Self::Section, index: usize) -> Result<Self, ConfigError>;

    /// Where the section sits in the configuration (`ethereum[0]`), for messages.
    fn name(&self) -> &str;

    /// The chain's id (`1`, `solana:devnet`).
    fn chain_id(&self) -> ChainId;

    /// The chain's component name in the node's status (`ethereum/1`): one chain, one name, so
    /// a chain configured twice is refused by it.
    fn component(&self) -> String;

    /// Spawns the mirrors the chain has not got yet (through `sink`, so the node owns them and
    /// `signer`'s address is their authority) and prepares the watcher, which feeds them
    /// through `sink` until `stop`.
    fn start<S: ChainSink>(
        self,
        sink: S,
        signer: Arc<Ed25519Signer>,
        stop: Stop,
    ) -> impl Future<Output = Result<Started, StartError>> + Send;
}
