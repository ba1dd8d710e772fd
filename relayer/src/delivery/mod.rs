//! The delivery pipeline: moves each recorded answer through its typed stages
//! (pending → signed → quorum → submitted → confirmed | dead), every transition written to the
//! node's store before anything is sent, so a restart picks each answer up where it stood.
//!
//! - **Quorum**: this node's own signature and its peers' (`GET /attestations/{id}`), each
//!   checked against its epoch's set ([`quorum`]).
//! - **Submit**: one instance submits first (the answer's id picks it among `instances`); the
//!   others wait `backup_after_ms` per place behind it, and then check the gateway before
//!   sending. The nonce comes from a book kept in the store with the submission.
//! - **Confirm**: the sender follows the transactions to the chain's finality policy (every
//!   `poll_interval_ms` of the chain's section), replaces one left unincluded (higher fees on
//!   EVM chains, a fresh blockhash once the old one expired on Solana), and checks the gateway
//!   before every replacement.
//!
//! A failure the chain may get over (an RPC down, a peer not answering) is retried with an
//! exponential back-off that is stored with the record; only the chain's own refusal (its
//! gateway reverts) makes a delivery dead, and `aolink replay` revives it.

pub mod quorum;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use aolink_node::Node;
use aolink_node::store::Batch;
use aolink_primitives::answer::Attestation;
use aolink_primitives::delivery::{
    AnswerSender, DeliveryRecord, DeliveryState, Landing, SendError,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use quorum::SignerSets;

/// `[delivery]`: this instance's place among the relayers delivering the same answers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// This instance's place, 0 to `instances` - 1.
    #[serde(default)]
    pub rank: u64,
    /// How many instances deliver (default 1).
    #[serde(default = "one")]
    pub instances: u64,
    /// How long an instance waits per place behind an answer's first submitter before it
    /// submits itself (default 15000 ms).
    #[serde(default = "default_backup")]
    pub backup_after_ms: u64,
}

fn one() -> u64 {
    1
}
fn default_backup() -> u64 {
    15_000
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            rank: 0,
            instances: 1,
            backup_after_ms: default_backup(),
        }
    }
}

/// How often an instance waiting for its turn as a backup reads the gateway's `delivered`.
const BACKUP_CHECK_MS: u64 = 2_000;

/// The pipeline of one instance.
pub struct Pipeline {
    node: Node,
    senders: HashMap<String, Arc<dyn AnswerSender>>,
    sets: SignerSets,
    peers: Vec<String>,
    http: reqwest::Client,
    settings: DeliverySettings,
    nonces: tokio::sync::Mutex<()>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A number in `0..modulus` from the answer id and `salt`: spreads answers over instances and
/// retries over time without randomness.
fn spread(id: &str, salt: u64, modulus: u64) -> u64 {
    let mut h = Sha256::new();
    h.update(id.as_bytes());
    h.update(salt.to_be_bytes());
    let d = h.finalize();
    let n = u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
    n % modulus.max(1)
}

/// How many places instance `rank` of `instances` stands behind the one that submits answer
/// `id` first (0: it is the first).
fn places_behind_first(id: &str, rank: u64, instances: u64) -> u64 {
    let n = instances.max(1);
    (rank % n + n - spread(id, 0, n)) % n
}

/// The wait before try `failures + 1`: quick while signatures gather (peers compute the same
/// answer within moments), then exponential to an hour, with up to 10 % jitter.
fn backoff_ms(id: &str, failures: u32, collecting: bool) -> u64 {
    let base: u64 = if collecting && failures < 6 {
        50u64 << failures
    } else {
        (1_000u64 << failures.min(12)).min(3_600_000)
    };
    base + spread(id, u64::from(failures), base / 10 + 1)
}

impl Pipeline {
    /// A pipeline delivering through `senders` (by chain id).
    pub fn new(
        node: Node,
        senders: Vec<Arc<dyn AnswerSender>>,
        sets: SignerSets,
        peers: Vec<String>,
        settings: DeliverySettings,
    ) -> Result<Pipeline> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()
            .context("building the peers' HTTP client")?;
        for sender in &senders {
            sender.trust_signer_sets(sets.ed25519());
        }
        Ok(Pipeline {
            node,
            senders: senders.into_iter().map(|s| (s.chain_id(), s)).collect(),
            sets,
            peers: peers
                .into_iter()
                .map(|p| p.trim_end_matches('/').to_string())
                .collect(),
            http,
            settings,
            nonces: tokio::sync::Mutex::new(()),
        })
    }

    /// Runs until `stop` resolves.
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let wait = match self.pass().await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "delivery pass failed");
                    1_000
                }
            };
            tokio::select! {
                _ = &mut stop => return,
                _ = self.node.answers_recorded() => {}
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            }
        }
    }

    /// One pass over the open records (the store's index of them) that are due. Returns how
    /// long to wait for the next.
    pub async fn pass(self: &Arc<Self>) -> Result<u64> {
        let node = self.node.clone();
        let open: Vec<DeliveryRecord> = tokio::task::spawn_blocking(move || {
            let store = node.store();
            let mut open = Vec::new();
            for (id, _) in store.open_deliveries()? {
                let Some(raw) = store.delivery(&id)? else {
                    continue;
                };
                match DeliveryRecord::decode(&raw) {
                    Ok(record) if !record.state.is_final() => open.push(record),
                    Ok(_) => {}
                    // One unreadable record must not hold up the others.
                    Err(e) => tracing::error!(%id, error = %e, "delivery record unreadable"),
                }
            }
            Ok::<_, anyhow::Error>(open)
        })
        .await??;
        let now = now_ms();
        let mut next = 1_000u64;
        let mut steps = tokio::task::JoinSet::new();
        let mut stepped = false;
        for record in open {
            if record.next_attempt_ms > now {
                next = next.min(record.next_attempt_ms - now);
                continue;
            }
            stepped = true;
            let me = self.clone();
            steps.spawn(async move {
                let id = record.id.clone();
                if let Err(e) = me.step(record).await {
                    tracing::error!(%id, error = %format!("{e:#}"), "delivery step failed");
                }
            });
            // Bounded: at most 64 steps at once.
            while steps.len() >= 64 {
                steps.join_next().await;
            }
        }
        // A step that moved a record on leaves it due at once (signed → quorum → submitted):
        // look again right away rather than after the idle wait.
        while steps.join_next().await.is_some() {}
        Ok(if stepped { 5 } else { next.max(10) })
    }

    async fn save(&self, record: &DeliveryRecord, batch: Option<Batch>) -> Result<()> {
        let mut batch = batch.unwrap_or_default();
        batch.put_delivery(record);
        self.node.store().apply(&batch)?;
        self.node.store().flush().await?;
        Ok(())
    }

    async fn retry_later(
        &self,
        mut record: DeliveryRecord,
        error: String,
        collecting: bool,
    ) -> Result<()> {
        record.next_attempt_ms = now_ms() + backoff_ms(&record.id, record.failures, collecting);
        record.failures = record.failures.saturating_add(1);
        if !collecting {
            tracing::warn!(id = %record.id, state = record.state.name(), failures = record.failures, error = %error, "delivery will be retried");
        }
        record.last_error = Some(error);
        self.save(&record, None).await
    }

    async fn set_state(
        &self,
        mut record: DeliveryRecord,
        state: DeliveryState,
        batch: Option<Batch>,
    ) -> Result<()> {
        tracing::info!(id = %record.id, chain = %record.answer.chain_id, request = %record.answer.request_id, from = record.state.name(), to = state.name(), "delivery");
        record.state = state;
        record.failures = 0;
        record.next_attempt_ms = 0;
        record.last_error = None;
        self.save(&record, batch).await
    }

    async fn step(&self, record: DeliveryRecord) -> Result<()> {
        let span = tracing::info_span!(
            "deliver",
            id = %record.id,
            chain = %record.answer.chain_id,
            process = %record.answer.process,
            request = %record.answer.request_id,
            tx = %record.answer.request_tx,
        );
        let _in = span.enter();
        let Some(sender) = self.senders.get(&record.answer.chain_id).cloned() else {
            // Another instance delivers to this chain; look again now and then.
            let mut record = record;
            record.next_attempt_ms = now_ms() + 60_000;
            return self.save(&record, None).await;
        };
        match record.state.clone() {
            DeliveryState::Pending | DeliveryState::Signed => self.collect(record).await,
            DeliveryState::Quorum { epoch, signatures } => {
                self.submit(record, sender, epoch, signatures).await
            }
            DeliveryState::Submitted {
                epoch,
                signatures,
                submission,
            } => {
                self.confirm(record, sender, epoch, signatures, submission)
                    .await
            }
            DeliveryState::Confirmed { .. } | DeliveryState::Dead { .. } => Ok(()),
        }
    }

    /// This node's signatures and its peers', checked, for the newest epoch that reaches a
    /// quorum.
    async fn collect(&self, record: DeliveryRecord) -> Result<()> {
        let family = record.answer.family();
        let mut candidates: Vec<Attestation> = {
            let node = self.node.clone();
            let id = record.id.clone();
            tokio::task::spawn_blocking(move || node.attester().attestations(&id)).await??
        };
        for peer in &self.peers {
            match self.peer_attestations(peer, &record.id).await {
                Ok(found) => candidates.extend(found),
                Err(e) => tracing::debug!(peer, error = %e, "peer's attestations not read"),
            }
        }
        let mut epochs: Vec<u64> = candidates.iter().map(|a| a.epoch).collect();
        epochs.sort_unstable();
        epochs.dedup();
        let mut counted = Vec::new();
        let mut rejected = Vec::new();
        for epoch in epochs.into_iter().rev() {
            let of_epoch: Vec<Attestation> = candidates
                .iter()
                .filter(|a| a.epoch == epoch)
                .cloned()
                .collect();
            let Some(set) = self.sets.get(family, epoch) else {
                for a in &of_epoch {
                    rejected.push(format!(
                        "{}: epoch {epoch} has no signer set here",
                        a.signer
                    ));
                }
                continue;
            };
            match quorum::quorum(&of_epoch, &record.answer, set) {
                Ok(signatures) => {
                    let state = DeliveryState::Quorum { epoch, signatures };
                    return self.set_state(record, state, None).await;
                }
                Err(short) => {
                    counted.push(format!("epoch {epoch}: {} of {}", short.valid, short.need));
                    rejected.extend(short.rejected);
                }
            }
        }
        let mut why = format!("no quorum yet ({})", counted.join(", "));
        if counted.is_empty() {
            why = "no quorum yet (no signature of a known epoch)".into();
        }
        if !rejected.is_empty() {
            why.push_str(&format!("; not counted: {}", rejected.join("; ")));
        }
        self.retry_later(record, why, true).await
    }

    async fn peer_attestations(&self, peer: &str, id: &str) -> Result<Vec<Attestation>> {
        #[derive(Deserialize)]
        struct Served {
            attestations: Vec<Attestation>,
        }
        let response = self
            .http
            .get(format!("{peer}/attestations/{id}"))
            .send()
            .await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        let served: Served = response.error_for_status()?.json().await?;
        Ok(served.attestations)
    }

    fn my_turn_at(&self, record: &DeliveryRecord) -> u64 {
        let behind = places_behind_first(&record.id, self.settings.rank, self.settings.instances);
        record.created_ms + behind * self.settings.backup_after_ms
    }

    async fn submit(
        &self,
        record: DeliveryRecord,
        sender: Arc<dyn AnswerSender>,
        epoch: u64,
        signatures: Vec<Attestation>,
    ) -> Result<()> {
        match sender.delivered(&record.answer).await {
            Ok(true) => {
                let state = DeliveryState::Confirmed { tx: String::new() };
                return self.set_state(record, state, None).await;
            }
            Ok(false) => {}
            Err(e) => return self.retry_later(record, e.to_string(), false).await,
        }
        let turn = self.my_turn_at(&record);
        if turn > now_ms() {
            // A backup: it looks at the gateway now and then, and closes the record as soon
            // as the first submitter's delivery is there.
            let mut record = record;
            record.next_attempt_ms = turn.min(now_ms() + BACKUP_CHECK_MS);
            return self.save(&record, None).await;
        }
        let book_key = format!("delivery/nonce/{}/{}", sender.chain_id(), sender.account());
        let _nonces = self.nonces.lock().await;
        let nonce = match sender.chain_nonce().await {
            Ok(Some(chain)) => {
                let booked = self
                    .node
                    .store()
                    .meta(&book_key)?
                    .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
                    .map_or(0, u64::from_be_bytes);
                Some(chain.max(booked))
            }
            Ok(None) => None,
            Err(e) => return self.retry_later(record, e.to_string(), false).await,
        };
        let prepared = match sender
            .prepare(&record.answer, epoch, &signatures, nonce, None, false)
            .await
        {
            Ok(p) => p,
            Err(SendError::Refused(reason)) => return self.refused(record, sender, reason).await,
            Err(e) => return self.retry_later(record, e.to_string(), false).await,
        };
        let mut batch = Batch::new();
        if let Some(n) = nonce {
            batch.put_meta(&book_key, &(n + 1).to_be_bytes());
        }
        let raw = prepared.raw.clone();
        let mut submission = prepared.submission;
        submission.sent_ms = now_ms();
        let state = DeliveryState::Submitted {
            epoch,
            signatures,
            submission: Box::new(submission),
        };
        self.set_state(record, state, Some(batch)).await?;
        drop(_nonces);
        if let Err(e) = sender.broadcast(&raw).await {
            tracing::warn!(error = %e, "delivery recorded, not sent yet: it is sent again");
        }
        Ok(())
    }

    /// The chain refused: an answer someone else delivered is done; anything else is dead.
    async fn refused(
        &self,
        record: DeliveryRecord,
        sender: Arc<dyn AnswerSender>,
        reason: String,
    ) -> Result<()> {
        if matches!(sender.delivered(&record.answer).await, Ok(true)) {
            let state = DeliveryState::Confirmed { tx: String::new() };
            return self.set_state(record, state, None).await;
        }
        tracing::error!(%reason, "the chain refuses the delivery");
        self.set_state(record, DeliveryState::Dead { reason }, None)
            .await
    }

    async fn confirm(
        &self,
        record: DeliveryRecord,
        sender: Arc<dyn AnswerSender>,
        epoch: u64,
        signatures: Vec<Attestation>,
        submission: Box<aolink_primitives::delivery::Submission>,
    ) -> Result<()> {
        let landing = match sender.landing(&submission).await {
            Ok(l) => l,
            Err(e) => return self.retry_later(record, e.to_string(), false).await,
        };
        let expired = match landing {
            Landing::Final { tx } => {
                return self
                    .set_state(record, DeliveryState::Confirmed { tx }, None)
                    .await;
            }
            Landing::Failed { tx, reason } => {
                return self
                    .refused(record, sender, format!("{reason} (transaction {tx})"))
                    .await;
            }
            Landing::Expired => true,
            Landing::Waiting => false,
        };
        let stale = now_ms().saturating_sub(submission.sent_ms) >= sender.resubmit_after_ms();
        let bump = expired || stale;
        if bump && matches!(sender.delivered(&record.answer).await, Ok(true)) {
            if expired {
                // Ours can no longer land and someone else's did.
                let state = DeliveryState::Confirmed { tx: String::new() };
                return self.set_state(record, state, None).await;
            }
            // Delivered by another relayer while ours waits: ours lands and reverts, which
            // keeps the nonces in order; wait for it.
            let mut record = record;
            record.next_attempt_ms = now_ms() + 1_000;
            return self.save(&record, None).await;
        }
        let prepared = match sender
            .prepare(
                &record.answer,
                epoch,
                &signatures,
                None,
                Some(&submission),
                bump,
            )
            .await
        {
            Ok(p) => p,
            Err(SendError::Refused(reason)) => return self.refused(record, sender, reason).await,
            Err(e) => return self.retry_later(record, e.to_string(), false).await,
        };
        let mut record = record;
        if prepared.submission != *submission {
            tracing::info!(
                txs = prepared.submission.txs.len(),
                "replacing an unincluded delivery"
            );
            let mut replacement = prepared.submission;
            replacement.sent_ms = now_ms();
            record.state = DeliveryState::Submitted {
                epoch,
                signatures,
                submission: Box::new(replacement),
            };
        }
        record.next_attempt_ms = now_ms() + sender.poll_interval_ms();
        self.save(&record, None).await?;
        // Sent again each time: after a restart the chain's node may not hold it any more.
        if let Err(e) = sender.broadcast(&prepared.raw).await {
            tracing::warn!(error = %e, "delivery not sent; it is sent again");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_quick_while_collecting_then_grows_and_is_capped() {
        let id = "ab";
        assert!(backoff_ms(id, 0, true) < 60);
        assert!(backoff_ms(id, 5, true) < 1_800);
        let later: Vec<u64> = (0..40).map(|f| backoff_ms(id, f, false)).collect();
        assert!(later[..12].windows(2).all(|w| w[1] > w[0]), "{later:?}");
        assert!(
            later[12..]
                .iter()
                .all(|w| (3_600_000..=3_600_000 + 360_001).contains(w)),
            "an hour, plus at most 10 % jitter: {later:?}"
        );
        assert_ne!(
            backoff_ms("a", 3, false),
            backoff_ms("b", 3, false),
            "jitter spreads ids"
        );
    }

    #[test]
    fn every_answer_has_exactly_one_first_submitter() {
        for i in 0..50 {
            let id = format!("{i:064x}");
            let mut places: Vec<u64> = (0..3)
                .map(|rank| places_behind_first(&id, rank, 3))
                .collect();
            places.sort_unstable();
            assert_eq!(places, [0, 1, 2], "one first, one second, one third");
        }
    }
}
