//! The watcher: follows one cluster's gateway addresses and delivers the calls found in their
//! transactions to each gateway's mirror process through a [`ChainSink`] (the node).
//!
//! A gateway's transactions are the signatures `getSignaturesForAddress` lists for it, newest
//! first, at the configured commitment (`finalized` by default, which does not roll back).
//! They are read oldest first: each is fetched (`getTransaction`, never only its logs), its
//! instructions and inner instructions are read for the memo convention ([`crate::memo`]),
//! and its calls become `Chain-Event` items for the mirror. Every item is submitted with the
//! cursor of the signatures it completes in one atomic batch, and items end only between
//! transactions, so a crash at any point resumes right after the last transaction read: no
//! gap, no call twice. Items are signed deterministically, so a re-sent one is recognised by
//! the node as already scheduled.
//!
//! The listing is checked as it is read, and a hole in it stops delivery until a listing is
//! whole (the gap detector):
//! - a backlog is walked down in pages that overlap by one signature: a page that does not
//!   start where the one above ended has a hole, and is read again;
//! - the cursor keeps the last signatures read (`recheck` of them) and every walk lists them
//!   again: one missing means the RPC's index lost what it listed before (read again, from
//!   another URL once the current one fails), and a signature listed among them for the
//!   first time is one the RPC had left out earlier: it is delivered then, once;
//! - a listing that reaches past the cursor's oldest signature (an RPC that does not know it)
//!   is refused rather than read twice;
//! - a listed transaction the RPC cannot return yet is waited for, never passed over.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aolink_primitives::adapter::{
    ChainId, ChainSink, ChainStatus, ContractStatus, CursorWrite, PassedOver, ReadyLimits,
    mirror_message_tags,
};
use aolink_primitives::ans104::{DataItem, Ed25519Signer, b64url_encode};
use aolink_primitives::chain::{ChainEvent, ChainEventBatch, ChainHead};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use solana_commitment_config::CommitmentConfig;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client::rpc_client::GetConfirmedSignaturesForAddress2Config;
use solana_rpc_client_api::config::RpcSignatureStatusConfig;
use solana_rpc_client_api::request::RpcRequest;
use solana_rpc_client_api::response::RpcConfirmedTransactionStatusWithSignature;
use solana_signature::Signature;

use crate::memo;
use crate::transaction;

/// A process id.
pub type Id = [u8; 32];

/// How final a transaction must be to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commitment {
    /// Voted on by a supermajority; rolls back only in a rare fork.
    Confirmed,
    /// Rooted: never rolls back.
    Finalized,
}

impl Commitment {
    /// The client's commitment.
    pub fn config(self) -> CommitmentConfig {
        match self {
            Commitment::Confirmed => CommitmentConfig::confirmed(),
            Commitment::Finalized => CommitmentConfig::finalized(),
        }
    }
}

impl std::fmt::Display for Commitment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Commitment::Confirmed => "confirmed",
            Commitment::Finalized => "finalized",
        })
    }
}

impl std::str::FromStr for Commitment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "confirmed" => Ok(Commitment::Confirmed),
            "finalized" => Ok(Commitment::Finalized),
            "processed" => Err(
                "\"processed\" can roll back and is never read; use \"confirmed\" or \"finalized\""
                    .into(),
            ),
            other => Err(format!(
                "{other:?} is not a commitment (\"confirmed\" or \"finalized\")"
            )),
        }
    }
}

/// One watched gateway address.
#[derive(Clone, Debug)]
pub struct WatchedGateway {
    /// Its address.
    pub address: Pubkey,
    /// The first slot read.
    pub start_slot: u64,
    /// The mirror process its calls go to.
    pub mirror: Id,
}

/// How a cluster is watched.
#[derive(Clone, Debug)]
pub struct WatcherConfig {
    /// The `Chain-Id` (`solana:<cluster>`).
    pub chain_id: String,
    /// When a transaction is final enough.
    pub commitment: Commitment,
    /// The gateways.
    pub gateways: Vec<WatchedGateway>,
    /// Signatures per `getSignaturesForAddress` page (2 to 1000).
    pub page_limit: usize,
    /// Signatures read before that every walk lists again, to find one the RPC left out.
    pub recheck: usize,
    /// `getTransaction` calls in flight at once.
    pub fetch_concurrency: usize,
    /// Events per `Chain-Event` item (items still end between transactions).
    pub events_per_item: usize,
    /// Attempts per RPC call before the poll gives up (and retries after a back-off).
    pub rpc_attempts: u32,
    /// The readiness limits its status carries (none: it never holds `/readyz` back but
    /// when unhealthy).
    pub ready_limits: Option<ReadyLimits>,
}

impl WatcherConfig {
    /// Sensible defaults for `gateways` on `chain_id`.
    pub fn new(chain_id: String, commitment: Commitment, gateways: Vec<WatchedGateway>) -> Self {
        WatcherConfig {
            chain_id,
            commitment,
            gateways,
            page_limit: 1_000,
            recheck: 64,
            fetch_concurrency: 16,
            events_per_item: 500,
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
    /// An item could not be built (a bug, not the chain's fault).
    #[error("building an item: {0}")]
    Build(String),
    /// The RPC's listing of a gateway's signatures has a hole: nothing past it is read until a
    /// listing is whole.
    #[error("gateway {gateway}: {reason}; listing it again")]
    Gap {
        /// The gateway.
        gateway: String,
        /// What does not fit.
        reason: String,
    },
    /// A fetched transaction is not what a validator sends.
    #[error(transparent)]
    Unreadable(#[from] transaction::Unreadable),
}

/// A signature as listed: the signature and its slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    /// The transaction's signature (base58).
    pub signature: String,
    /// Its slot.
    pub slot: u64,
}

/// A gateway's cursor as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Every signature of the gateway up to this slot has been read (for the status).
    pub through: u64,
    /// The last signatures read, oldest first in the RPC's order: the newest is where the
    /// next listing ends, and all of them are listed again by every walk.
    pub recent: Vec<Listed>,
}

/// What a poll did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Calls delivered.
    pub events: usize,
    /// Items submitted.
    pub items: usize,
    /// Whether every gateway has been read to the head.
    pub caught_up: bool,
}

/// The store key of a gateway's cursor.
pub fn cursor_key(chain_id: &str, gateway: &Pubkey) -> String {
    format!("{chain_id}/{gateway}/cursor")
}

/// Where a watcher reports itself and how it names its RPC.
struct StatusReport {
    name: String,
    rpc: Box<dyn Fn() -> String + Send + Sync>,
}

/// What the watcher has seen since it started, for its status report.
#[derive(Default)]
struct Seen {
    head: Option<u64>,
    caught_up: bool,
    events: u64,
    last_success_ms: Option<u64>,
    failures_in_a_row: u32,
    last_error: Option<String>,
    /// Per gateway.
    passed_over: Vec<PassedOver>,
}

/// Failed polls in a row after which a watcher reports itself unhealthy.
const UNHEALTHY_AFTER_FAILURES: u32 = 3;

/// A page of a listing: its signatures newest first, and those that failed on chain.
struct Page {
    listed: Vec<Listed>,
    failed: BTreeSet<String>,
}

/// A listing to deliver: the signatures oldest first (those read before among them), which
/// are new, and which failed on chain.
struct Listing {
    ordered: Vec<Listed>,
    is_new: Vec<bool>,
    failed: BTreeSet<String>,
}

/// What a walk found: the listing to deliver, the pages above it left for later (by their
/// `before`, the nearest last) and how many signatures it found late.
struct Walked {
    listing: Listing,
    markers: Vec<Option<Signature>>,
    late: usize,
}

/// What one transaction held for the gateway.
enum Outcome {
    Calls(Vec<ChainEvent>),
    Passed(Passed),
}

/// Why a transaction delivered nothing.
enum Passed {
    Failed,
    WithoutCalls,
    Malformed(String),
}

/// Watches one cluster, delivering to the sink `S`.
pub struct Watcher<S> {
    rpc: Arc<RpcClient>,
    sink: S,
    signer: Arc<Ed25519Signer>,
    config: WatcherConfig,
    /// Per gateway: the `before` of each page of a backlog still to read, the nearest last
    /// (`None` is the top of the listing).
    plans: Vec<Vec<Option<Signature>>>,
    status: Option<StatusReport>,
    seen: Seen,
}

fn now_ms() -> Option<u64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis() as u64)
}

impl<S: ChainSink> Watcher<S> {
    /// A watcher reading `rpc`, delivering to `sink`, signing with the adapter key.
    pub fn new(
        rpc: Arc<RpcClient>,
        sink: S,
        signer: Arc<Ed25519Signer>,
        config: WatcherConfig,
    ) -> Self {
        let gateways = config.gateways.len();
        Watcher {
            rpc,
            sink,
            signer,
            config,
            plans: vec![Vec::new(); gateways],
            status: None,
            seen: Seen {
                passed_over: vec![PassedOver::default(); gateways],
                ..Seen::default()
            },
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

    /// The stored cursor of `gateway` (empty before its first read).
    pub fn cursor(&self, gateway: &WatchedGateway) -> Result<Cursor, WatchError> {
        let raw = self
            .sink
            .cursor(&cursor_key(&self.config.chain_id, &gateway.address))
            .map_err(|e| WatchError::Node(e.to_string()))?;
        match raw {
            Some(raw) => serde_json::from_slice(&raw).map_err(|e| WatchError::Node(e.to_string())),
            None => Ok(Cursor {
                through: gateway.start_slot.saturating_sub(1),
                recent: Vec::new(),
            }),
        }
    }

    fn note_poll(&mut self, outcome: &Result<Progress, WatchError>) {
        match outcome {
            Ok(p) => {
                self.seen.events += p.events as u64;
                self.seen.caught_up = p.caught_up;
                self.seen.failures_in_a_row = 0;
                self.seen.last_error = None;
                self.seen.last_success_ms = now_ms();
            }
            Err(e) => {
                self.seen.failures_in_a_row = self.seen.failures_in_a_row.saturating_add(1);
                self.seen.last_error = Some(e.to_string());
            }
        }
        let Some(report) = &self.status else {
            return;
        };
        let gateways = self
            .config
            .gateways
            .iter()
            .zip(&self.seen.passed_over)
            .map(|(g, passed)| {
                let through = self.cursor(g).ok().map(|c| c.through);
                ContractStatus {
                    address: g.address.to_string(),
                    mirror: b64url_encode(&g.mirror),
                    delivered_through: through,
                    behind: self
                        .seen
                        .head
                        .zip(through)
                        .map(|(h, t)| h.saturating_sub(t)),
                    passed_over: Some(passed.clone()),
                }
            })
            .collect();
        let status = ChainStatus {
            kind: crate::FAMILY.into(),
            chain_id: ChainId::Name(self.config.chain_id.clone()),
            finality: Some(self.config.commitment.to_string()),
            rpc: Some((report.rpc)()),
            head: self.seen.head,
            caught_up: Some(self.seen.caught_up),
            contracts: gateways,
            events_delivered: Some(self.seen.events),
            reorgs: None,
            last_success_ms: self.seen.last_success_ms,
            failures_in_a_row: Some(self.seen.failures_in_a_row),
            last_error: self.seen.last_error.clone(),
            healthy: self.seen.failures_in_a_row < UNHEALTHY_AFTER_FAILURES,
            ready_limits: self.config.ready_limits,
        };
        self.sink.report_status(&report.name, &status);
    }

    /// Runs an RPC call, retrying failures with a short exponential pause, up to
    /// `rpc_attempts` times.
    async fn with_retries<T, E, F, Fut>(&self, what: &str, mut call: F) -> Result<T, WatchError>
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
            if attempt >= self.config.rpc_attempts {
                return Err(WatchError::Rpc(format!("{what}: {error}")));
            }
            tracing::debug!(chain = %self.config.chain_id, call = what, attempt, %error, "rpc call failed; retrying");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
            attempt += 1;
        }
    }

    /// One page of `gateway`'s signatures, newest first, checked to be in slot order.
    async fn list(
        &self,
        gateway: &WatchedGateway,
        before: Option<Signature>,
        until: Option<&Listed>,
    ) -> Result<Page, WatchError> {
        let until_signature = until
            .map(|u| parse_signature(gateway, &u.signature))
            .transpose()?;
        let page: Vec<RpcConfirmedTransactionStatusWithSignature> = self
            .with_retries("getSignaturesForAddress", || {
                self.rpc.get_signatures_for_address_with_config(
                    &gateway.address,
                    GetConfirmedSignaturesForAddress2Config {
                        before,
                        until: until_signature,
                        limit: Some(self.config.page_limit),
                        commitment: Some(self.config.commitment.config()),
                    },
                )
            })
            .await?;
        let gap = |reason: String| WatchError::Gap {
            gateway: gateway.address.to_string(),
            reason,
        };
        if page.len() > self.config.page_limit {
            return Err(gap(format!(
                "a page of {} signatures where at most {} were asked for",
                page.len(),
                self.config.page_limit
            )));
        }
        if let Some(w) = page.windows(2).find(|w| w[0].slot < w[1].slot) {
            return Err(gap(format!(
                "signature {} (slot {}) listed before {} (slot {}): not newest first",
                w[0].signature, w[0].slot, w[1].signature, w[1].slot
            )));
        }
        if let Some(until) = until
            && let Some(past) = page.iter().find(|e| e.slot < until.slot)
        {
            return Err(gap(format!(
                "the RPC lists {} (slot {}) past {} (slot {}), which it should stop at: it does not know that signature",
                past.signature, past.slot, until.signature, until.slot
            )));
        }
        let failed = page
            .iter()
            .filter(|e| e.err.is_some())
            .map(|e| e.signature.clone())
            .collect();
        let listed = page
            .into_iter()
            .map(|e| Listed {
                signature: e.signature,
                slot: e.slot,
            })
            .collect();
        Ok(Page { listed, failed })
    }

    /// One poll: for each gateway, one page of its signatures read and delivered.
    pub async fn poll_once(&mut self) -> Result<Progress, WatchError> {
        let commitment = self.config.commitment.config();
        let head = self
            .with_retries("getSlot", || self.rpc.get_slot_with_commitment(commitment))
            .await?;
        self.seen.head = Some(head);
        let mut progress = Progress {
            caught_up: true,
            ..Progress::default()
        };
        for g in 0..self.config.gateways.len() {
            let (items, events, caught_up) = self.step(g, head).await?;
            progress.items += items;
            progress.events += events;
            progress.caught_up &= caught_up;
        }
        Ok(progress)
    }

    /// Reads one page of gateway `g`: the next page of a backlog, or a walk from the top.
    /// Returns the items and calls delivered and whether the gateway is read to `head`.
    async fn step(&mut self, g: usize, head: u64) -> Result<(usize, usize, bool), WatchError> {
        let gateway = self.config.gateways[g].clone();
        let cursor = self.cursor(&gateway)?;
        if let Some(before) = self.plans[g].pop() {
            let Some(listing) = self.planned_page(g, &gateway, &cursor, before).await? else {
                return Ok((0, 0, false));
            };
            let (items, events) = self.deliver(g, &cursor, listing, None).await?;
            return Ok((items, events, false));
        }
        let walked = self.walk(&gateway, &cursor).await?;
        let caught_up = walked.markers.is_empty();
        let through = caught_up.then_some(head);
        let (items, events) = self.deliver(g, &cursor, walked.listing, through).await?;
        self.seen.passed_over[g].found_late += walked.late as u64;
        self.plans[g] = walked.markers;
        Ok((items, events, caught_up))
    }

    /// The next page of a backlog a walk left for later, the one below `before`: exactly
    /// what the walk saw there, or `None` when more has come (the next poll walks again).
    async fn planned_page(
        &mut self,
        g: usize,
        gateway: &WatchedGateway,
        cursor: &Cursor,
        before: Option<Signature>,
    ) -> Result<Option<Listing>, WatchError> {
        let Some(newest) = cursor.recent.last() else {
            self.plans[g].clear();
            return Ok(None);
        };
        let Page {
            listed: page,
            failed,
        } = self.list(gateway, before, Some(newest)).await?;
        // The walk saw a full page here, whose last is the newest read now.
        let expected = self.config.page_limit - 1;
        if page.len() > expected {
            self.plans[g].clear();
            return Ok(None);
        }
        if page.len() < expected {
            self.plans[g].clear();
            return Err(WatchError::Gap {
                gateway: gateway.address.to_string(),
                reason: format!(
                    "{} signatures listed below {} where the walk saw {expected}",
                    page.len(),
                    before.map_or_else(|| "the top".to_string(), |b| b.to_string())
                ),
            });
        }
        let mut ordered = cursor.recent.clone();
        let known = ordered.len();
        ordered.extend(page.into_iter().rev());
        let is_new: Vec<bool> = (0..ordered.len()).map(|i| i >= known).collect();
        Ok(Some(Listing {
            ordered,
            is_new,
            failed,
        }))
    }

    /// Walks `gateway`'s listing from the top down to the oldest signature remembered (or
    /// the start slot). Pages above the signatures read before are left for later, by their
    /// `before`; from the page that reaches them down, the listing is gathered whole and
    /// checked against what was read.
    async fn walk(&self, gateway: &WatchedGateway, cursor: &Cursor) -> Result<Walked, WatchError> {
        let gap = |reason: String| WatchError::Gap {
            gateway: gateway.address.to_string(),
            reason,
        };
        let anchor = cursor.recent.first();
        let newest = cursor.recent.last();
        let remembered: BTreeSet<&str> =
            cursor.recent.iter().map(|l| l.signature.as_str()).collect();
        let mut before: Option<Signature> = None;
        let mut markers = Vec::new();
        let mut overlap: Option<String> = None;
        let mut failed = BTreeSet::new();
        let mut gathered: Vec<Listed> = Vec::new();
        let mut reached = false;
        loop {
            let Page {
                listed: mut page,
                failed: failed_here,
            } = self.list(gateway, before, anchor).await?;
            if let Some(expected) = &overlap
                && page.first().map(|e| &e.signature) != Some(expected)
            {
                return Err(gap(format!(
                    "the page before {expected} does not start with it: the listing skips signatures"
                )));
            }
            let mut bottom = page.len() < self.config.page_limit;
            if anchor.is_none()
                && let Some(cut) = page.iter().position(|e| e.slot < gateway.start_slot)
            {
                page.truncate(cut);
                bottom = true;
            }
            reached |= newest.is_some_and(|n| {
                page.iter()
                    .any(|e| remembered.contains(e.signature.as_str()) || e.slot < n.slot)
            });
            if bottom {
                failed.extend(failed_here);
                gathered.extend(page);
                break;
            }
            let limit = self.config.page_limit;
            overlap = Some(page[limit - 1].signature.clone());
            let next = Some(parse_signature(gateway, &page[limit - 2].signature)?);
            if reached {
                // The last is the next page's first.
                page.truncate(limit - 1);
                failed.extend(failed_here);
                gathered.extend(page);
            } else {
                markers.push(before);
            }
            before = next;
        }
        // A short page means the listing ended: confirm it where nothing read before shows
        // it (an RPC may answer a page short), by asking what comes below.
        if !(cursor.recent.len() > 1 && reached) {
            self.confirm_end(gateway, &gathered, before, anchor).await?;
        }
        let mut ordered: Vec<Listed> = anchor.cloned().into_iter().collect();
        ordered.extend(gathered.into_iter().rev());
        let known: BTreeSet<&str> = cursor
            .recent
            .iter()
            .skip(1)
            .map(|l| l.signature.as_str())
            .collect();
        let listed: BTreeSet<&str> = ordered.iter().map(|l| l.signature.as_str()).collect();
        if let Some(lost) = known.iter().find(|s| !listed.contains(*s)) {
            return Err(gap(format!(
                "signature {lost}, read before, is no longer listed"
            )));
        }
        let is_new: Vec<bool> = ordered
            .iter()
            .enumerate()
            .map(|(i, l)| (i > 0 || anchor.is_none()) && !known.contains(l.signature.as_str()))
            .collect();
        // New signatures listed below one read before were left out by an earlier listing.
        let newest_known = ordered
            .iter()
            .rposition(|l| known.contains(l.signature.as_str()));
        let late = newest_known.map_or(0, |n| is_new[..n].iter().filter(|x| **x).count());
        if late > 0
            && let Some(anchor) = anchor
        {
            self.check_known(gateway, anchor).await?;
            tracing::warn!(chain = %self.config.chain_id, gateway = %gateway.address, late, "signatures the RPC left out of an earlier listing; delivering them now");
        }
        Ok(Walked {
            listing: Listing {
                ordered,
                is_new,
                failed,
            },
            markers,
            late,
        })
    }

    /// Checks that the listing of `gateway` really ends below `gathered` (fetched under
    /// `before`): what comes next is the anchor, or nothing (or only signatures before the
    /// start slot) when there is none.
    async fn confirm_end(
        &self,
        gateway: &WatchedGateway,
        gathered: &[Listed],
        before: Option<Signature>,
        anchor: Option<&Listed>,
    ) -> Result<(), WatchError> {
        let below = match gathered.last() {
            Some(oldest) => Some(parse_signature(gateway, &oldest.signature)?),
            None => before,
        };
        let next: Vec<RpcConfirmedTransactionStatusWithSignature> = self
            .with_retries("getSignaturesForAddress", || {
                self.rpc.get_signatures_for_address_with_config(
                    &gateway.address,
                    GetConfirmedSignaturesForAddress2Config {
                        before: below,
                        until: None,
                        limit: Some(1),
                        commitment: Some(self.config.commitment.config()),
                    },
                )
            })
            .await?;
        let ends = match (anchor, next.first()) {
            (Some(anchor), Some(next)) => next.signature == anchor.signature,
            (Some(_), None) => false,
            (None, Some(next)) => next.slot < gateway.start_slot,
            (None, None) => true,
        };
        if ends {
            return Ok(());
        }
        Err(WatchError::Gap {
            gateway: gateway.address.to_string(),
            reason: format!(
                "a page ended short, but {} follows it: the page skipped signatures",
                next.first()
                    .map_or("nothing".to_string(), |n| n.signature.clone())
            ),
        })
    }

    /// Refuses a listing whose lower end the RPC does not know (it would list past it, and
    /// what it listed there would look new).
    async fn check_known(
        &self,
        gateway: &WatchedGateway,
        anchor: &Listed,
    ) -> Result<(), WatchError> {
        let signature = parse_signature(gateway, &anchor.signature)?;
        let statuses = self
            .with_retries("getSignatureStatuses", || {
                self.rpc.send::<serde_json::Value>(
                    RpcRequest::GetSignatureStatuses,
                    serde_json::json!([
                        [signature.to_string()],
                        RpcSignatureStatusConfig {
                            search_transaction_history: true
                        }
                    ]),
                )
            })
            .await?;
        if statuses["value"][0].is_null() {
            return Err(WatchError::Gap {
                gateway: gateway.address.to_string(),
                reason: format!(
                    "the RPC does not know signature {}, read before",
                    anchor.signature
                ),
            });
        }
        Ok(())
    }

    /// Fetches a transaction (waiting for it if the RPC cannot return it yet).
    async fn fetch(
        &self,
        listed: &Listed,
        gateway: &WatchedGateway,
    ) -> Result<transaction::Read, WatchError> {
        let signature = parse_signature(gateway, &listed.signature)?;
        let config = transaction::fetch_config(self.config.commitment.config());
        let fetched = self
            .with_retries("getTransaction", || {
                self.rpc.get_transaction_with_config(&signature, config)
            })
            .await?;
        Ok(transaction::read(&listed.signature, &fetched)?)
    }

    /// What one listed transaction holds for `gateway`.
    async fn outcome(
        &self,
        gateway: &WatchedGateway,
        listed: &Listed,
        failed_in_listing: bool,
    ) -> Result<Outcome, WatchError> {
        if failed_in_listing {
            return Ok(Outcome::Passed(Passed::Failed));
        }
        let read = self.fetch(listed, gateway).await?;
        if read.failed {
            return Ok(Outcome::Passed(Passed::Failed));
        }
        let found = memo::calls(&gateway.address, &read.keys, &read.executed);
        if !found.malformed.is_empty() && found.calls.is_empty() {
            let reasons: Vec<String> = found.malformed.iter().map(|m| m.to_string()).collect();
            return Ok(Outcome::Passed(Passed::Malformed(reasons.join("; "))));
        }
        for m in &found.malformed {
            tracing::warn!(chain = %self.config.chain_id, tx = %listed.signature, reason = %m, "malformed gateway call not delivered");
        }
        if found.calls.is_empty() {
            return Ok(Outcome::Passed(Passed::WithoutCalls));
        }
        Ok(Outcome::Calls(
            found
                .calls
                .iter()
                .map(|c| c.chain_event(&listed.signature, read.slot, read.block_time))
                .collect(),
        ))
    }

    /// Delivers the new signatures of a listing: their calls in items of at most
    /// `events_per_item` calls, each with the cursor it completes, then the cursor past the
    /// last. `through` is the head once the listing reached it.
    async fn deliver(
        &mut self,
        g: usize,
        cursor: &Cursor,
        listing: Listing,
        through: Option<u64>,
    ) -> Result<(usize, usize), WatchError> {
        let gateway = self.config.gateways[g].clone();
        let Listing {
            ordered,
            is_new,
            failed,
        } = listing;
        let fresh: Vec<usize> = (0..ordered.len()).filter(|&i| is_new[i]).collect();
        let this = &*self;
        // Collected first: a stream mapping through a closure would not be `Send` for every
        // lifetime the compiler asks about.
        let fetches: Vec<_> = fresh
            .iter()
            .map(|&i| {
                let listed = &ordered[i];
                // The listing's own word on failure spares a fetch.
                let failed = failed.contains(&listed.signature);
                Box::pin(this.outcome(&gateway, listed, failed))
            })
            .collect();
        let outcomes: Vec<Result<Outcome, WatchError>> = futures::stream::iter(fetches)
            .buffered(self.config.fetch_concurrency.max(1))
            .collect()
            .await;
        let outcomes = outcomes.into_iter().collect::<Result<Vec<_>, _>>()?;

        // The cursor once the signature at `p` is read: the signatures read so far, and those
        // read before, in the listing's order.
        let cursor_after = |p: usize, through: u64| {
            let kept: Vec<Listed> = ordered
                .iter()
                .enumerate()
                .filter(|(i, _)| *i <= p || !is_new[*i])
                .map(|(_, l)| l.clone())
                .collect();
            let excess = kept.len().saturating_sub(self.config.recheck.max(1));
            Cursor {
                through,
                recent: kept[excess..].to_vec(),
            }
        };
        let key = cursor_key(&self.config.chain_id, &gateway.address);
        let (mut items, mut sent, mut passed) = (Vec::new(), Vec::new(), Vec::new());
        let mut pending: Vec<ChainEvent> = Vec::new();
        let mut slot_through = cursor.through;
        let mut last_written = None;
        for (n, (&i, outcome)) in fresh.iter().zip(outcomes).enumerate() {
            // Later signatures of the same slot may be on the next page.
            slot_through = slot_through.max(ordered[i].slot.saturating_sub(1));
            let last = n + 1 == fresh.len();
            if last && let Some(head) = through {
                slot_through = slot_through.max(head);
            }
            match outcome {
                Outcome::Calls(calls) => pending.extend(calls),
                Outcome::Passed(why) => passed.push((ordered[i].signature.clone(), why)),
            }
            if pending.len() >= self.config.events_per_item || (last && !pending.is_empty()) {
                let next = cursor_after(i, slot_through);
                let head = ChainHead {
                    hash: String::new(),
                    number: slot_through,
                };
                let count = pending.len();
                let batch = ChainEventBatch::new(std::mem::take(&mut pending), Some(head));
                let item = self.item(&gateway, batch.encode())?;
                let id = item.id_b64();
                if tracing::enabled!(tracing::Level::DEBUG) {
                    for event in &batch.events {
                        tracing::debug!(chain = %self.config.chain_id, tx = %event.tx_hash, log_index = event.log_index, block = event.block_number, event = %event.event, message_id = %id, "event in Chain-Event");
                    }
                }
                sent.push((id, count));
                items.push((item, vec![cursor_write(key.clone(), &next)?]));
                last_written = Some(next);
            }
        }
        let events: usize = sent.iter().map(|(_, count)| count).sum();
        let item_count = items.len();
        if !items.is_empty() {
            self.sink
                .submit_all(items)
                .await
                .map_err(|e| WatchError::Node(e.to_string()))?;
            for (id, count) in sent {
                tracing::debug!(chain = %self.config.chain_id, gateway = %gateway.address, process = %b64url_encode(&gateway.mirror), message_id = %id, events = count, "Chain-Event delivered");
            }
        }
        // The cursor past the last signature (and at the head, once reached), unless the last
        // item carried it already.
        let final_through = through.map_or(slot_through, |h| slot_through.max(h));
        let done = cursor_after(ordered.len().saturating_sub(1), final_through);
        if done != *cursor && last_written.as_ref() != Some(&done) {
            self.sink
                .put_cursors(vec![cursor_write(key, &done)?])
                .map_err(|e| WatchError::Node(e.to_string()))?;
        }
        self.note_passed_over(g, &gateway, passed);
        Ok((item_count, events))
    }

    /// Counts and logs the transactions that delivered nothing.
    fn note_passed_over(
        &mut self,
        g: usize,
        gateway: &WatchedGateway,
        passed: Vec<(String, Passed)>,
    ) {
        let counts = &mut self.seen.passed_over[g];
        for (signature, why) in passed {
            let reason = match why {
                Passed::Failed => {
                    counts.failed_transactions += 1;
                    "the transaction failed on chain".to_string()
                }
                Passed::WithoutCalls => {
                    counts.without_calls += 1;
                    format!("no {} call in it", memo::PREFIX)
                }
                Passed::Malformed(reason) => {
                    counts.malformed_calls += 1;
                    format!("malformed call: {reason}")
                }
            };
            tracing::info!(chain = %self.config.chain_id, gateway = %gateway.address, tx = %signature, %reason, "transaction passed over");
            counts.last = Some(format!("{signature}: {reason}"));
        }
    }

    fn item(&self, gateway: &WatchedGateway, data: Vec<u8>) -> Result<DataItem, WatchError> {
        let tags = mirror_message_tags(
            "Chain-Event",
            &self.config.chain_id,
            &gateway.address.to_string(),
        );
        DataItem::sign(self.signer.as_ref(), Some(gateway.mirror), None, tags, data)
            .map_err(|e| WatchError::Build(e.to_string()))
    }

    /// Polls until `stop` resolves: catching up as fast as the RPC allows, then following the
    /// head every `interval`; failures back off exponentially (to 30 s; 2 s for a hole in a listing)
    /// and lose nothing.
    pub async fn run(&mut self, interval: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut backoff = Duration::from_millis(250);
        loop {
            let outcome = self.poll_once().await;
            self.note_poll(&outcome);
            let wait = match outcome {
                Ok(p) => {
                    backoff = Duration::from_millis(250);
                    if p.caught_up {
                        interval
                    } else {
                        Duration::ZERO
                    }
                }
                Err(e) => {
                    // A hole in a listing is the RPC's index disagreeing with itself, not an
                    // outage: it is listed again soon.
                    let cap = match e {
                        WatchError::Gap { .. } => Duration::from_secs(2),
                        _ => Duration::from_secs(30),
                    };
                    let wait = backoff.min(cap);
                    tracing::warn!(chain = %self.config.chain_id, error = %e, retry_in = ?wait, "poll failed");
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    wait
                }
            };
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

fn parse_signature(gateway: &WatchedGateway, text: &str) -> Result<Signature, WatchError> {
    text.parse().map_err(|e| WatchError::Gap {
        gateway: gateway.address.to_string(),
        reason: format!("listed signature {text:?} is not a signature: {e}"),
    })
}

/// A cursor as the sink stores it.
fn cursor_write(key: String, cursor: &Cursor) -> Result<CursorWrite, WatchError> {
    let value = serde_json::to_vec(cursor).map_err(|e| WatchError::Build(e.to_string()))?;
    Ok((key, value))
}
