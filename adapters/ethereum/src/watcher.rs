//! The watcher: follows one chain's configured contracts and delivers their events to the
//! contracts' mirror processes through a [`ChainSink`] (the node).
//!
//! Each contract has its own cursor (the last block delivered, with its hash, and the recent
//! cursors for reorg detection), kept by the sink. Every `Chain-Event` item is submitted with
//! the cursor of the blocks it completes in one atomic batch (a range's items in one call, made
//! durable together), and items end only at block boundaries, so a crash at any point resumes
//! exactly after the last delivered block: no gap and no event twice in the mirror's schedule.
//! Items are signed deterministically, so a re-sent item is recognised by the node as already
//! scheduled.
//!
//! Per poll: the safe head under the finality policy; for policies that can see reorgs, each
//! cursor's block hash is checked against the chain (a mismatch walks back the recent
//! cursors to the fork and sends `Chain-Reorg`); then one `eth_getLogs` over all contracts in
//! an adaptive range, bracketed by two reads of the range end's hash so a reorg during the
//! query is retried rather than delivered.

use std::sync::Arc;
use std::time::Duration;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use aolink_primitives::adapter::{
    ChainId, ChainSink, ChainStatus, ContractStatus, CursorWrite, ReadyLimits, mirror_message_tags,
};
use aolink_primitives::ans104::{DataItem, Ed25519Signer, b64url_encode};
use aolink_primitives::chain::{ChainEvent, ChainEventBatch, ChainHead, ChainReorg};
use serde::{Deserialize, Serialize};

use crate::events::decode;
use crate::finality::Finality;
use crate::ranges::AdaptiveRange;

/// A process id.
pub type Id = [u8; 32];

/// One watched contract.
#[derive(Clone, Debug)]
pub struct WatchedContract {
    /// Its address.
    pub address: Address,
    /// The first block to read.
    pub start_block: u64,
    /// The mirror process its events go to.
    pub mirror: Id,
}

/// How a chain is watched.
#[derive(Clone, Debug)]
pub struct WatcherConfig {
    /// The EVM chain id (the `Chain-Id` tag).
    pub chain_id: u64,
    /// When a block is final enough.
    pub finality: Finality,
    /// The contracts.
    pub contracts: Vec<WatchedContract>,
    /// `eth_getLogs` range: initial, smallest and largest size in blocks.
    pub range: (u64, u64, u64),
    /// Events per `Chain-Event` item (items still end at block boundaries).
    pub events_per_item: usize,
    /// Recent cursors kept per contract for finding a fork.
    pub reorg_window: usize,
    /// Attempts per RPC call before the poll gives up (and retries after a back-off): a
    /// provider that fails now and then slows ingestion down but never stops it.
    pub rpc_attempts: u32,
    /// The readiness limits its status carries (none: it never holds `/readyz` back but
    /// when unhealthy).
    pub ready_limits: Option<ReadyLimits>,
}

impl WatcherConfig {
    /// Sensible defaults for `contracts` on `chain_id`.
    pub fn new(chain_id: u64, finality: Finality, contracts: Vec<WatchedContract>) -> Self {
        WatcherConfig {
            chain_id,
            finality,
            contracts,
            range: (2_000, 1, 10_000),
            events_per_item: 500,
            reorg_window: 128,
            rpc_attempts: 6,
            ready_limits: None,
        }
    }
}

/// Why a poll failed; the watcher retries after a pause, nothing was lost.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The RPC failed (an error, a timeout, a rate limit).
    #[error("rpc: {0}")]
    Rpc(String),
    /// The node refused or failed to store what was sent.
    #[error("node: {0}")]
    Node(String),
    /// A log or item could not be built (a bug, not the chain's fault).
    #[error("building an item: {0}")]
    Build(String),
    /// A reorg reached past every cursor still remembered: an operator must look.
    #[error("reorg of contract {contract} reaches past its {window} remembered blocks")]
    DeepReorg {
        /// The contract.
        contract: String,
        /// How many cursors were remembered.
        window: usize,
    },
    /// A gateway's request ids skip: the RPC's logs lack events (an index lagging or broken).
    /// Nothing from that block on is delivered until an answer is complete.
    #[error(
        "gateway {contract}: request {found} in block {block} where {expected} was due: the RPC's logs are missing events; reading the range again"
    )]
    RequestGap {
        /// The gateway.
        contract: String,
        /// The request id due.
        expected: u64,
        /// The one found.
        found: u64,
        /// Its block.
        block: u64,
    },
}

/// A contract's cursor as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The last block delivered.
    pub number: u64,
    /// Its hash (empty before the first delivery).
    pub hash: String,
    /// Earlier cursors, oldest first, for finding a fork.
    pub recent: Vec<(u64, String)>,
    /// For a gateway: the request id its next `RequestSent` must carry (ids count up by one),
    /// once one has been seen; unknown again after a reorg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_request: Option<u64>,
}

/// What a poll did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Events delivered.
    pub events: usize,
    /// Items submitted.
    pub items: usize,
    /// Reorgs handled.
    pub reorgs: usize,
    /// Whether every contract is at the safe head.
    pub caught_up: bool,
}

/// Whether a provider's `eth_getLogs` error asks for a smaller query (providers word it in
/// many ways: too many results, block range too large, response size exceeded, -32005).
fn is_range_complaint(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    [
        "too many",
        "range",
        "limit exceeded",
        "response size",
        "-32005",
        "query returned more",
    ]
    .iter()
    .any(|needle| e.contains(needle))
}

/// The store key of a contract's cursor.
pub fn cursor_key(chain_id: u64, contract: &Address) -> String {
    format!("eth/{chain_id}/{contract:#x}/cursor")
}

/// The logs of one range, read between two reads of its end's hash.
struct Fetched {
    from: u64,
    to: u64,
    logs: Arc<Vec<Log>>,
    end_hash: B256,
}

/// What reading a range gave.
enum Fetch {
    Got(Fetched),
    /// The range end's hash changed during the read.
    Moved,
    /// The provider wants a smaller range.
    TooLarge,
}

/// Where a watcher reports itself (its component in the node's `GET /status`) and how it
/// names its RPC.
struct StatusReport {
    name: String,
    rpc: Box<dyn Fn() -> String + Send + Sync>,
}

/// What the watcher has seen since it started, for its status report.
#[derive(Default)]
struct Seen {
    /// The newest head under the finality policy.
    head: Option<u64>,
    caught_up: bool,
    events: u64,
    reorgs: u64,
    /// Unix time (ms) of the last successful poll.
    last_success_ms: Option<u64>,
    failures_in_a_row: u32,
    last_error: Option<String>,
}

/// Failed polls in a row after which a watcher reports itself unhealthy: each poll retries
/// its calls first, so this is about 5 s of calls failing at once, longer when they time out.
const UNHEALTHY_AFTER_FAILURES: u32 = 3;

/// Watches one chain, delivering to the sink `S`.
pub struct Watcher<P, S> {
    provider: P,
    sink: S,
    signer: Arc<Ed25519Signer>,
    config: WatcherConfig,
    range: AdaptiveRange,
    /// The next range, read while the last one was delivered.
    prefetched: Option<Fetched>,
    status: Option<StatusReport>,
    seen: Seen,
}

impl<P: Provider, S: ChainSink> Watcher<P, S> {
    /// A watcher reading `provider`, delivering to `sink`, signing with the adapter key.
    pub fn new(provider: P, sink: S, signer: Arc<Ed25519Signer>, config: WatcherConfig) -> Self {
        let (initial, min, max) = config.range;
        Watcher {
            provider,
            sink,
            signer,
            range: AdaptiveRange::new(initial, min, max),
            config,
            prefetched: None,
            status: None,
            seen: Seen::default(),
        }
    }

    /// Reports the watcher's state to the sink after every poll, as component `name`; `rpc`
    /// names the RPC URL in use.
    pub fn report_status_as(
        &mut self,
        name: impl Into<String>,
        rpc: impl Fn() -> String + Send + Sync + 'static,
    ) {
        self.status = Some(StatusReport {
            name: name.into(),
            rpc: Box::new(rpc),
        });
    }

    /// Records a poll's outcome and reports the watcher's state, if it reports.
    fn note_poll(&mut self, outcome: &Result<Progress, WatchError>) {
        match outcome {
            Ok(p) => {
                self.seen.events += p.events as u64;
                self.seen.reorgs += p.reorgs as u64;
                self.seen.caught_up = p.caught_up;
                self.seen.failures_in_a_row = 0;
                self.seen.last_error = None;
                self.seen.last_success_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_millis() as u64);
            }
            Err(e) => {
                self.seen.failures_in_a_row = self.seen.failures_in_a_row.saturating_add(1);
                self.seen.last_error = Some(e.to_string());
            }
        }
        let Some(report) = &self.status else {
            return;
        };
        let contracts: Vec<_> = self
            .config
            .contracts
            .iter()
            .map(|c| {
                let through = self.cursor(c).ok().map(|cursor| cursor.number);
                ContractStatus {
                    address: format!("{:#x}", c.address),
                    mirror: mirror_id(c),
                    delivered_through: through,
                    behind: self
                        .seen
                        .head
                        .zip(through)
                        .map(|(h, t)| h.saturating_sub(t)),
                    passed_over: None,
                }
            })
            .collect();
        let deep_reorg = matches!(outcome, Err(WatchError::DeepReorg { .. }));
        let status = ChainStatus {
            kind: crate::FAMILY.into(),
            chain_id: ChainId::Number(self.config.chain_id),
            finality: Some(self.config.finality.to_string()),
            rpc: Some((report.rpc)()),
            head: self.seen.head,
            caught_up: Some(self.seen.caught_up),
            contracts,
            events_delivered: Some(self.seen.events),
            reorgs: Some(self.seen.reorgs),
            last_success_ms: self.seen.last_success_ms,
            failures_in_a_row: Some(self.seen.failures_in_a_row),
            last_error: self.seen.last_error.clone(),
            healthy: !deep_reorg && self.seen.failures_in_a_row < UNHEALTHY_AFTER_FAILURES,
            ready_limits: self.config.ready_limits,
        };
        self.sink.report_status(&report.name, &status);
    }

    /// The stored cursor of `contract` (before its start block when there is none).
    pub fn cursor(&self, contract: &WatchedContract) -> Result<Cursor, WatchError> {
        let raw = self
            .sink
            .cursor(&cursor_key(self.config.chain_id, &contract.address))
            .map_err(|e| WatchError::Node(e.to_string()))?;
        match raw {
            Some(raw) => serde_json::from_slice(&raw).map_err(|e| WatchError::Node(e.to_string())),
            None => Ok(Cursor {
                number: contract.start_block.saturating_sub(1),
                ..Cursor::default()
            }),
        }
    }

    /// Runs an RPC call, retrying failures (errors, timeouts, 429s) with a short exponential
    /// pause, up to `rpc_attempts` times.
    async fn with_retries<T, E, F, Fut>(&self, what: &str, call: F) -> Result<T, WatchError>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        self.retrying(what, |_| false, call)
            .await
            .map_err(|(_, e)| e)
    }

    /// As [`Self::with_retries`], but an error `refused` recognises is not retried: it comes
    /// back at once, marked `true`.
    async fn retrying<T, E, F, Fut>(
        &self,
        what: &str,
        refused: impl Fn(&str) -> bool,
        mut call: F,
    ) -> Result<T, (bool, WatchError)>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let mut pause = Duration::from_millis(50);
        let mut attempt = 1;
        loop {
            let error = match call().await {
                Ok(v) => return Ok(v),
                Err(e) => e.to_string(),
            };
            if refused(&error) {
                return Err((true, WatchError::Rpc(format!("{what}: {error}"))));
            }
            if attempt >= self.config.rpc_attempts {
                return Err((false, WatchError::Rpc(format!("{what}: {error}"))));
            }
            tracing::debug!(chain = self.config.chain_id, call = what, attempt, %error, "rpc call failed; retrying");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
            attempt += 1;
        }
    }

    async fn head(&self) -> Result<u64, WatchError> {
        let tag = match self.config.finality {
            Finality::Finalized => BlockNumberOrTag::Finalized,
            Finality::Safe => BlockNumberOrTag::Safe,
            Finality::Confirmations(n) => {
                let latest = self
                    .with_retries("eth_blockNumber", || self.provider.get_block_number())
                    .await?;
                return Ok(latest.saturating_sub(n));
            }
        };
        let block = self
            .with_retries("eth_getBlockByNumber", || {
                self.provider.get_block_by_number(tag).into_future()
            })
            .await?
            .ok_or_else(|| WatchError::Rpc(format!("no {tag} block")))?;
        Ok(block.header.number)
    }

    async fn hash_of(&self, number: u64) -> Result<Option<B256>, WatchError> {
        Ok(self
            .with_retries("eth_getBlockByNumber", || {
                self.provider
                    .get_block_by_number(BlockNumberOrTag::Number(number))
                    .into_future()
            })
            .await?
            .map(|b| b.header.hash))
    }

    fn advanced(&self, cursor: &Cursor, number: u64, hash: String) -> Cursor {
        self.builder().advanced(cursor, number, hash)
    }

    fn builder(&self) -> ItemBuilder {
        ItemBuilder {
            signer: self.signer.clone(),
            chain_id: self.config.chain_id,
            events_per_item: self.config.events_per_item,
            reorg_window: self.config.reorg_window,
        }
    }

    async fn submit(&self, item: DataItem, key: String, cursor: &Cursor) -> Result<(), WatchError> {
        self.sink
            .submit(item, vec![cursor_write(key, cursor)?])
            .await
            .map_err(|e| WatchError::Node(e.to_string()))
    }

    /// Checks a contract's cursor against the chain; on a fork, retracts what the mirror got
    /// from the orphaned blocks and rewinds the cursor (in one batch). Returns whether it did.
    async fn check_reorg(
        &self,
        contract: &WatchedContract,
        cursor: &Cursor,
    ) -> Result<bool, WatchError> {
        if cursor.hash.is_empty() {
            return Ok(false);
        }
        let on_chain = self.hash_of(cursor.number).await?;
        if on_chain.map(|h| format!("{h:#x}")).as_deref() == Some(cursor.hash.as_str()) {
            return Ok(false);
        }
        // Walk back through the remembered cursors to the newest still on the chain.
        let mut fork = None;
        for (i, (number, hash)) in cursor.recent.iter().enumerate().rev() {
            let current = self.hash_of(*number).await?;
            if current.map(|h| format!("{h:#x}")).as_deref() == Some(hash.as_str()) {
                fork = Some(i);
                break;
            }
        }
        let Some(i) = fork else {
            return Err(WatchError::DeepReorg {
                contract: format!("{:#x}", contract.address),
                window: cursor.recent.len(),
            });
        };
        let (number, hash) = cursor.recent[i].clone();
        let rewound = Cursor {
            number,
            hash: hash.clone(),
            recent: cursor.recent[..i].to_vec(),
            // The new branch may carry other requests: the sequence starts afresh.
            next_request: None,
        };
        let data = ChainReorg::new(number + 1, Some(ChainHead { hash, number })).encode();
        let item = self.builder().item(contract, "Chain-Reorg", data)?;
        tracing::warn!(chain = self.config.chain_id, contract = %contract.address, from = number + 1, message_id = %item.id_b64(), "reorg: retracting orphaned events");
        self.submit(
            item,
            cursor_key(self.config.chain_id, &contract.address),
            &rewound,
        )
        .await?;
        Ok(true)
    }

    /// Reads the logs of `from..=to` between two reads of `to`'s hash, retrying failures.
    async fn fetch(&self, from: u64, to: u64) -> Result<Fetch, WatchError> {
        let before = self.hash_of(to).await?;
        let filter = Filter::new()
            .address(
                self.config
                    .contracts
                    .iter()
                    .map(|c| c.address)
                    .collect::<Vec<_>>(),
            )
            .from_block(from)
            .to_block(to);
        let logs = match self
            .retrying("eth_getLogs", is_range_complaint, || {
                self.provider.get_logs(&filter)
            })
            .await
        {
            Ok(logs) => logs,
            Err((true, e)) => {
                tracing::debug!(chain = self.config.chain_id, from, to, error = %e, "eth_getLogs range too large; shrinking");
                return Ok(Fetch::TooLarge);
            }
            Err((false, e)) => return Err(e),
        };
        let after = self.hash_of(to).await?;
        Ok(match before.filter(|b| Some(*b) == after) {
            Some(end) => Fetch::Got(Fetched {
                from,
                to,
                logs: Arc::new(logs),
                end_hash: end,
            }),
            // The chain moved under the query: read it again.
            None => Fetch::Moved,
        })
    }

    /// One poll: reorg checks, then one range of logs delivered. While a range is being
    /// delivered (signed, durably scheduled), the next one is already being read, so a
    /// backfill costs little more than reading the logs.
    pub async fn poll_once(&mut self) -> Result<Progress, WatchError> {
        let mut progress = Progress::default();
        let head = self.head().await?;
        self.seen.head = Some(head);
        let mut cursors = Vec::with_capacity(self.config.contracts.len());
        for contract in self.config.contracts.clone() {
            let mut cursor = self.cursor(&contract)?;
            if self.config.finality.may_reorg() && self.check_reorg(&contract, &cursor).await? {
                progress.reorgs += 1;
                cursor = self.cursor(&contract)?;
            }
            cursors.push(cursor);
        }
        let Some(from) = cursors.iter().map(|c| c.number.saturating_add(1)).min() else {
            progress.caught_up = true;
            return Ok(progress);
        };
        let fetched = match self.prefetched.take() {
            // Read during the last poll, for exactly where the cursors now stand.
            Some(f) if f.from == from && f.to <= head => f,
            _ => {
                let Some((from, to)) = self.range.next(from, head) else {
                    progress.caught_up = true;
                    return Ok(progress);
                };
                match self.fetch(from, to).await {
                    Ok(Fetch::Got(f)) => {
                        self.range.succeeded();
                        f
                    }
                    Ok(Fetch::Moved) => return Ok(progress),
                    Ok(Fetch::TooLarge) => {
                        self.range.failed();
                        return Ok(progress);
                    }
                    Err(e) => {
                        self.range.failed();
                        return Err(e);
                    }
                }
            }
        };
        let next = if fetched.to < head {
            self.range.next(fetched.to + 1, head)
        } else {
            None
        };
        let (delivered, ahead) = tokio::join!(self.deliver_range(&fetched, cursors), async {
            match next {
                Some((from, to)) => Some(self.fetch(from, to).await),
                None => None,
            }
        });
        match ahead {
            Some(Ok(Fetch::Got(f))) => {
                self.range.succeeded();
                self.prefetched = Some(f);
            }
            // The next poll reads it again, smaller.
            Some(Ok(Fetch::TooLarge)) | Some(Err(_)) => {
                self.range.failed();
            }
            Some(Ok(Fetch::Moved)) | None => {}
        }
        let (items, events) = delivered?;
        progress.items = items;
        progress.events = events;
        progress.caught_up = fetched.to >= head;
        Ok(progress)
    }

    /// Delivers a fetched range to every contract's mirror; a contract with nothing in it has
    /// its cursor moved to the range end. Decoding and signing run on a blocking thread, so
    /// the next range's response is read meanwhile.
    async fn deliver_range(
        &self,
        fetched: &Fetched,
        cursors: Vec<Cursor>,
    ) -> Result<(usize, usize), WatchError> {
        let (mut item_count, mut events) = (0, 0);
        let mut idle: Vec<CursorWrite> = Vec::new();
        for (contract, cursor) in self.config.contracts.iter().zip(cursors) {
            let key = cursor_key(self.config.chain_id, &contract.address);
            let (builder, logs, to, end_hash) = (
                self.builder(),
                fetched.logs.clone(),
                fetched.to,
                fetched.end_hash,
            );
            let (c, start) = (contract.clone(), cursor.clone());
            let built = tokio::task::spawn_blocking(move || {
                builder.build(&c, &start, &logs, to, &end_hash)
            })
            .await
            .map_err(|e| WatchError::Build(e.to_string()))??;
            if built.is_empty() && cursor.number < fetched.to {
                let next = self.advanced(&cursor, fetched.to, format!("{:#x}", fetched.end_hash));
                idle.push(cursor_write(key.clone(), &next)?);
            }
            if built.is_empty() {
                continue;
            }
            // The range's items go in one call: the node makes them durable with one flush.
            let mut items = Vec::with_capacity(built.len());
            let mut sent = Vec::with_capacity(built.len());
            for (item, next, count) in built {
                sent.push((item.id_b64(), count, next.number));
                items.push((item, vec![cursor_write(key.clone(), &next)?]));
                events += count;
            }
            item_count += items.len();
            self.sink
                .submit_all(items)
                .await
                .map_err(|e| WatchError::Node(e.to_string()))?;
            for (id, count, through) in sent {
                tracing::debug!(
                    chain = self.config.chain_id,
                    contract = %contract.address,
                    process = %mirror_id(contract),
                    message_id = %id,
                    events = count,
                    through,
                    "Chain-Event delivered"
                );
            }
        }
        if !idle.is_empty() {
            self.sink
                .put_cursors(idle)
                .map_err(|e| WatchError::Node(e.to_string()))?;
        }
        Ok((item_count, events))
    }

    /// Polls until `stop` resolves: catching up as fast as the RPC allows, then following the
    /// head every `interval`, or sooner when `wake` is notified (a new head seen over a
    /// WebSocket); failures back off exponentially (to 30 s) and lose nothing.
    pub async fn run(
        &mut self,
        interval: Duration,
        wake: Option<Arc<tokio::sync::Notify>>,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let mut backoff = Duration::from_millis(250);
        loop {
            let outcome = self.poll_once().await;
            self.note_poll(&outcome);
            let (wait, wakeable) = match outcome {
                Ok(p) => {
                    backoff = Duration::from_millis(250);
                    if p.caught_up {
                        (interval, true)
                    } else {
                        (Duration::ZERO, false)
                    }
                }
                Err(e) => {
                    tracing::warn!(chain = self.config.chain_id, error = %e, retry_in = ?backoff, "poll failed");
                    let wait = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    (wait, false)
                }
            };
            let woken = async {
                match (&wake, wakeable) {
                    (Some(w), true) => w.notified().await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(wait) => {}
                _ = woken => {}
            }
        }
    }
}

/// Turns a contract's logs into signed `Chain-Event` items; owned, so it runs on a blocking
/// thread.
#[derive(Clone)]
struct ItemBuilder {
    signer: Arc<Ed25519Signer>,
    chain_id: u64,
    events_per_item: usize,
    reorg_window: usize,
}

impl ItemBuilder {
    fn item(
        &self,
        contract: &WatchedContract,
        action: &str,
        data: Vec<u8>,
    ) -> Result<DataItem, WatchError> {
        let tags = mirror_message_tags(
            action,
            &self.chain_id.to_string(),
            &format!("{:#x}", contract.address),
        );
        DataItem::sign(
            self.signer.as_ref(),
            Some(contract.mirror),
            None,
            tags,
            data,
        )
        .map_err(|e| WatchError::Build(e.to_string()))
    }

    fn advanced(&self, cursor: &Cursor, number: u64, hash: String) -> Cursor {
        let mut recent = cursor.recent.clone();
        if !cursor.hash.is_empty() {
            recent.push((cursor.number, cursor.hash.clone()));
        }
        let excess = recent.len().saturating_sub(self.reorg_window);
        recent.drain(..excess);
        Cursor {
            number,
            hash,
            recent,
            next_request: cursor.next_request,
        }
    }

    /// The contract's logs of a range (past its cursor) as items that end at block
    /// boundaries, each with the cursor it completes and its event count.
    fn build(
        &self,
        contract: &WatchedContract,
        cursor: &Cursor,
        logs: &[Log],
        to: u64,
        end_hash: &B256,
    ) -> Result<Vec<(DataItem, Cursor, usize)>, WatchError> {
        let mine = logs.iter().filter(|l| {
            l.address() == contract.address
                && !l.removed
                && l.block_number.is_some_and(|n| n > cursor.number)
        });
        let mut events: Vec<ChainEvent> = mine
            .filter_map(|log| match decode(log) {
                Ok(event) => Some(event),
                Err(e) => {
                    tracing::debug!(contract = %contract.address, reason = %e, "log not mirrored");
                    None
                }
            })
            .collect();
        // Chain order (providers already return it, so this is one linear pass).
        events.sort_by_key(|e| (e.block_number, e.log_index));
        let due_after = request_sequence(contract, cursor.next_request, &events)?;
        // Where items end: (events in it, the block it completes, that block's hash, the
        // request due after it). Then the events are moved into their items, not copied.
        let mut cuts = Vec::new();
        let (mut start, mut block_start) = (0, 0);
        while block_start < events.len() {
            let number = events[block_start].block_number;
            let block_end = events[block_start..]
                .iter()
                .position(|e| e.block_number != number)
                .map_or(events.len(), |n| block_start + n);
            let last = block_end == events.len();
            if block_end - start >= self.events_per_item || last {
                // The final item also covers the quiet blocks up to the range end.
                let (through, through_hash) = if last {
                    (to, format!("{end_hash:#x}"))
                } else {
                    (number, events[block_start].block_hash.clone())
                };
                cuts.push((
                    block_end - start,
                    through,
                    through_hash,
                    due_after[block_end - 1],
                ));
                start = block_end;
            }
            block_start = block_end;
        }
        let mut built = Vec::with_capacity(cuts.len());
        let mut cursor = cursor.clone();
        let mut events = events.into_iter();
        for (count, through, hash, due) in cuts {
            let head = ChainHead {
                hash: hash.clone(),
                number: through,
            };
            let data = ChainEventBatch::new(events.by_ref().take(count).collect(), Some(head));
            let item = self.item(contract, "Chain-Event", data.encode())?;
            if tracing::enabled!(tracing::Level::DEBUG) {
                let id = item.id_b64();
                for event in &data.events {
                    tracing::debug!(
                        chain = self.chain_id,
                        tx = %event.tx_hash,
                        log_index = event.log_index,
                        block = event.block_number,
                        event = %event.event,
                        message_id = %id,
                        "event in Chain-Event"
                    );
                }
            }
            let mut next = self.advanced(&cursor, through, hash);
            next.next_request = due;
            built.push((item, next.clone(), count));
            cursor = next;
        }
        Ok(built)
    }
}

/// Checks a gateway's request ids in `events` (in chain order) against the one due after the
/// cursor, `due`: they count up by one, so a skip means the RPC's answer lacks logs. Returns
/// the id due after each event (unchanged by events that are not requests; unknown when an id
/// does not fit 64 bits).
fn request_sequence(
    contract: &WatchedContract,
    mut due: Option<u64>,
    events: &[ChainEvent],
) -> Result<Vec<Option<u64>>, WatchError> {
    let mut after = Vec::with_capacity(events.len());
    for event in events {
        if let Some(request) = event.fields.request() {
            let id = request.request_id.parse::<u64>().ok();
            match (due, id) {
                (Some(expected), Some(found)) if found != expected => {
                    return Err(WatchError::RequestGap {
                        contract: format!("{:#x}", contract.address),
                        expected,
                        found,
                        block: event.block_number,
                    });
                }
                (_, id) => due = id.and_then(|id| id.checked_add(1)),
            }
        }
        after.push(due);
    }
    Ok(after)
}

/// A cursor as the sink stores it.
fn cursor_write(key: String, cursor: &Cursor) -> Result<CursorWrite, WatchError> {
    let value = serde_json::to_vec(cursor).map_err(|e| WatchError::Build(e.to_string()))?;
    Ok((key, value))
}

/// The base64url process id of a mirror, for logs.
pub fn mirror_id(contract: &WatchedContract) -> String {
    b64url_encode(&contract.mirror)
}
