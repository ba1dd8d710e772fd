//! The assembled node: key, store and scheduler over one data directory.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::ans104::{DataItem, ItemError};
use crate::clock::{Clock, SystemClock};
use crate::keys::{KeyError, NodeKey};
use crate::scheduler::{Outcome, ScheduleError, Scheduler};
use crate::store::{Batch, NodeMeta, Store, StoreError};

/// On-disk format version written into new data directories.
pub const FORMAT_VERSION: u32 = 1;

/// Where the node's local block height starts: a height of the real Arweave chain at which the
/// CU verifies hash chains (≥ 1,440,000), so processes scheduled here are checked like mainnet's.
pub const DEFAULT_GENESIS_HEIGHT: u64 = 1_500_000;

/// How a node is set up.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The data directory: the key, the store, everything durable.
    pub data_dir: PathBuf,
    /// The local block height at creation of a new data directory.
    pub genesis_height: u64,
}

impl NodeConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        NodeConfig {
            data_dir: data_dir.into(),
            genesis_height: DEFAULT_GENESIS_HEIGHT,
        }
    }
}

/// Errors opening a node or submitting to it.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The data directory could not be created.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The node key could not be loaded or created.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The data directory belongs to a different key, or was written by a newer aolink.
    #[error("data directory {path}: {reason}")]
    Mismatch {
        /// The directory.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// The item is malformed or its signature does not verify.
    #[error("{0}")]
    Invalid(#[from] ItemError),
    /// The item was valid but could not be scheduled.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A worker thread died.
    #[error("internal: {0}")]
    Internal(String),
}

struct Inner {
    key: Arc<NodeKey>,
    key_created: bool,
    store: Store,
    scheduler: Scheduler,
    config: NodeConfig,
}

/// The embedded AO node. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("address", &self.address())
            .field("data_dir", &self.inner.config.data_dir)
            .finish()
    }
}

impl Node {
    /// Opens the node in `config.data_dir`, creating the directory, key and store on first start.
    pub fn open(config: NodeConfig) -> Result<Node, NodeError> {
        Self::open_with_clock(config, Arc::new(SystemClock))
    }

    /// As [`Node::open`], with a given clock (tests).
    pub fn open_with_clock(config: NodeConfig, clock: Arc<dyn Clock>) -> Result<Node, NodeError> {
        let dir = &config.data_dir;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| NodeError::DataDir {
                path: dir.clone(),
                source,
            })?;
        let (key, key_created) = NodeKey::load_or_create(dir)?;
        let key = Arc::new(key);
        let store = Store::open(&dir.join("db"))?;
        let meta = Self::load_or_init_meta(&store, &key, &config, clock.as_ref())?;
        let scheduler = Scheduler::new(store.clone(), key.clone(), clock, meta);
        Ok(Node {
            inner: Arc::new(Inner {
                key,
                key_created,
                store,
                scheduler,
                config,
            }),
        })
    }

    fn load_or_init_meta(
        store: &Store,
        key: &NodeKey,
        config: &NodeConfig,
        clock: &dyn Clock,
    ) -> Result<NodeMeta, NodeError> {
        let mismatch = |reason: String| NodeError::Mismatch {
            path: config.data_dir.clone(),
            reason,
        };
        if let Some(bytes) = store.meta("node")? {
            let meta: NodeMeta =
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                    what: "node metadata",
                    reason: e.to_string(),
                })?;
            if meta.format > FORMAT_VERSION {
                return Err(mismatch(format!(
                    "written by a newer aolink (format {}, this build reads up to {FORMAT_VERSION})",
                    meta.format
                )));
            }
            if meta.address != key.address() {
                // Its schedules are signed by another key: continuing would fork every hash chain.
                return Err(mismatch(format!(
                    "created by node {} but the key in it is {}; restore the original node-key.json",
                    meta.address,
                    key.address()
                )));
            }
            return Ok(meta);
        }
        let meta = NodeMeta {
            format: FORMAT_VERSION,
            address: key.address(),
            genesis_ms: clock.now_ms(),
            genesis_height: config.genesis_height,
        };
        let json = serde_json::to_vec(&meta).map_err(|e| StoreError::Corrupt {
            what: "node metadata",
            reason: e.to_string(),
        })?;
        let mut batch = Batch::new();
        batch.put_meta("node", &json);
        store.apply(&batch)?;
        store.flush_blocking()?;
        Ok(meta)
    }

    /// The node's address (its key's).
    pub fn address(&self) -> &str {
        self.inner.scheduler.address()
    }

    /// Whether this start created the node key.
    pub fn key_created(&self) -> bool {
        self.inner.key_created
    }

    /// The node key.
    pub fn key(&self) -> &NodeKey {
        &self.inner.key
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The scheduler.
    pub fn scheduler(&self) -> &Scheduler {
        &self.inner.scheduler
    }

    /// The configuration the node was opened with.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// Verifies and schedules a raw data item, and returns once the result is durable.
    /// A rejected item leaves nothing behind.
    pub async fn submit(&self, raw: Vec<u8>) -> Result<Outcome, NodeError> {
        let node = self.clone();
        let outcome = tokio::task::spawn_blocking(move || -> Result<Outcome, NodeError> {
            let item = DataItem::parse_verified(&raw)?;
            Ok(node.inner.scheduler.submit(&item, &raw)?)
        })
        .await
        .map_err(|e| NodeError::Internal(e.to_string()))??;
        self.inner.store.flush().await?;
        Ok(outcome)
    }

    /// Assigns a message this node holds to one of its processes, durably.
    pub async fn assign(
        &self,
        process: String,
        message: String,
        exclude: Vec<String>,
    ) -> Result<Outcome, NodeError> {
        let node = self.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            node.inner.scheduler.assign(&process, &message, &exclude)
        })
        .await
        .map_err(|e| NodeError::Internal(e.to_string()))??;
        self.inner.store.flush().await?;
        Ok(outcome)
    }
}
