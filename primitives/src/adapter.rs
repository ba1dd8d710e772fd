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

use crate::ans104::{DataItem, Ed25519Signer, Tag};

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
}

impl ChainStatus {
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
        }
    }
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
