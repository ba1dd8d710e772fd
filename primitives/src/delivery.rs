//! Where an answer's delivery back to its chain stands: the typed record the node's attestation
//! room creates and the relayer's pipeline moves on, persisted in the node's store so that
//! every stage restarts from what was written (prepare → submit → confirm, like Hyperlane's).

use serde::{Deserialize, Serialize};

use crate::answer::{Answer, Attestation, Ed25519SignerSet};

/// The stages of one answer's delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "name",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum DeliveryState {
    /// Answered, not signed here (this instance has no key for the chain, or its signer is
    /// halted): the quorum must come from peers.
    Pending,
    /// Signed here; collecting the other signers'.
    Signed,
    /// Enough valid signatures of one epoch's set, ordered as the chain wants them.
    Quorum {
        /// The epoch the signatures are for.
        epoch: u64,
        /// The signatures.
        signatures: Vec<Attestation>,
    },
    /// Sent to the chain, waiting for it to be final there.
    Submitted {
        /// The epoch the signatures are for.
        epoch: u64,
        /// The signatures sent.
        signatures: Vec<Attestation>,
        /// What was sent.
        submission: Box<Submission>,
    },
    /// Final on the chain.
    Confirmed {
        /// The transaction that delivered it (empty when another relayer did).
        tx: String,
    },
    /// Given up: `aolink replay <id>` tries again.
    Dead {
        /// Why.
        reason: String,
    },
}

impl DeliveryState {
    /// Every state's name, in pipeline order.
    pub const NAMES: [&'static str; 6] = [
        "pending",
        "signed",
        "quorum",
        "submitted",
        "confirmed",
        "dead",
    ];

    /// The state's name, as `/status` and `/metrics` label it.
    pub fn name(&self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Signed => "signed",
            DeliveryState::Quorum { .. } => "quorum",
            DeliveryState::Submitted { .. } => "submitted",
            DeliveryState::Confirmed { .. } => "confirmed",
            DeliveryState::Dead { .. } => "dead",
        }
    }

    /// Whether nothing more happens to the delivery (until an operator replays a dead one).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            DeliveryState::Confirmed { .. } | DeliveryState::Dead { .. }
        )
    }
}

/// The transactions sent for one answer: enough to rebuild the newest byte for byte (signing
/// is deterministic), so a restart re-sends it instead of sending something new.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Submission {
    /// Every transaction sent for this answer, oldest first (a replacement may lose to the
    /// one it replaces; whichever lands counts).
    pub txs: Vec<String>,
    /// The account's nonce all of them use (EVM chains).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<u64>,
    /// The gas limit (EVM chains).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gas_limit: Option<u64>,
    /// The newest EIP-1559 fee cap, wei.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "decimal")]
    pub max_fee_per_gas: Option<u128>,
    /// The newest EIP-1559 priority fee, wei.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "decimal")]
    pub max_priority_fee_per_gas: Option<u128>,
    /// The first fee cap sent: bumps stop at a configured multiple of it.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "decimal")]
    pub first_max_fee_per_gas: Option<u128>,
    /// Solana: the recent blockhash the newest transaction was signed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blockhash: Option<String>,
    /// Solana: the block height after which the newest transaction can no longer land.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_valid_block_height: Option<u64>,
    /// When the newest transaction was sent (ms since the epoch): stamped by the pipeline
    /// when it records a new transaction; a sender rebuilding one keeps it.
    pub sent_ms: u64,
}

/// Wei amounts as decimal strings: JSON numbers lose precision past 2^53, and serde's
/// internally tagged enums cannot carry a u128 at all.
mod decimal {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(value: &Option<u128>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_str(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u128>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| {
                t.parse()
                    .map_err(|_| D::Error::custom(format!("{t:?} is not a decimal amount")))
            })
            .transpose()
    }
}

/// Where a submission stands on its chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Landing {
    /// Not final yet (not included, or included and not final).
    Waiting,
    /// Final, and it delivered the answer.
    Final {
        /// The transaction that landed.
        tx: String,
    },
    /// Final, and it failed: the reason the chain gave.
    Failed {
        /// The transaction that landed.
        tx: String,
        /// Why it failed.
        reason: String,
    },
    /// None can land any more (a Solana blockhash expired): prepare a new one.
    Expired,
}

/// Why a sender could not do what was asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The chain or its RPC failed in a way that may pass: try again later.
    #[error("{0}")]
    Retry(String),
    /// The chain refuses this answer for good (its gateway reverts): the delivery is dead.
    #[error("{0}")]
    Refused(String),
}

/// A transaction built and signed, not yet sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// What to record before sending.
    pub submission: Submission,
    /// The signed transaction.
    pub raw: Vec<u8>,
}

/// A boxed future of a sender.
pub type SendFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, SendError>> + Send + 'a>>;

/// What the delivery pipeline asks of a chain family to bring answers back to one chain.
/// The pipeline records every [`Prepared`] submission before it [`broadcast`]s it, so a crash
/// at any point leaves a record a restart can finish.
///
/// [`broadcast`]: AnswerSender::broadcast
pub trait AnswerSender: Send + Sync {
    /// The chain it delivers to, as answers name it (`31337`, `solana:devnet`).
    fn chain_id(&self) -> String;

    /// The account paying for deliveries (its nonces are the pipeline's to hand out).
    fn account(&self) -> String;

    /// Whether the chain's gateway already holds an answer to this request (from anyone).
    fn delivered<'a>(&'a self, answer: &'a Answer) -> SendFuture<'a, bool>;

    /// The account's next nonce as the chain sees it, pending transactions included (`None`
    /// on chains without nonces).
    fn chain_nonce(&self) -> SendFuture<'_, Option<u64>>;

    /// Builds and signs the transaction delivering `answer` with `signatures` (of `epoch`'s
    /// set, ordered as the chain wants them). With `previous` and no `bump`, rebuilds the
    /// same transaction; with `bump`, a replacement with higher fees (or, on Solana, a fresh
    /// blockhash). Reads the chain, sends nothing.
    fn prepare<'a>(
        &'a self,
        answer: &'a Answer,
        epoch: u64,
        signatures: &'a [Attestation],
        nonce: Option<u64>,
        previous: Option<&'a Submission>,
        bump: bool,
    ) -> SendFuture<'a, Prepared>;

    /// Sends a prepared transaction; sending one the chain already has is not an error.
    fn broadcast<'a>(&'a self, raw: &'a [u8]) -> SendFuture<'a, ()>;

    /// Where `submission` stands, under the chain's finality policy.
    fn landing<'a>(&'a self, submission: &'a Submission) -> SendFuture<'a, Landing>;

    /// How long a submission may wait unincluded before it is replaced (ms).
    fn resubmit_after_ms(&self) -> u64;

    /// How often a submission's landing is read (ms): about the chain's block time, as its
    /// section's `poll_interval_ms` says.
    fn poll_interval_ms(&self) -> u64;

    /// The ed25519 signer sets whose quorum makes someone else's delivery count as one, on
    /// chains with no gateway contract that keeps the delivered requests (Solana), where
    /// [`delivered`](AnswerSender::delivered) must check the delivering transactions itself.
    /// Ignored where the gateway checks.
    fn trust_signer_sets(&self, _sets: Vec<Ed25519SignerSet>) {}
}

/// One answer's delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliveryRecord {
    /// The answer's id.
    pub id: String,
    /// The answer.
    pub answer: Answer,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts that failed so far (the back-off's exponent; kept across restarts).
    #[serde(default)]
    pub failures: u32,
    /// Not to be tried again before this time (ms since the epoch, wall clock: delivery is the
    /// relayer's business, never a process's).
    #[serde(default)]
    pub next_attempt_ms: u64,
    /// The last failure, for `/status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the answer was first recorded (ms since the epoch).
    pub created_ms: u64,
}

impl DeliveryRecord {
    /// The record's bytes in the store.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a stored record.
    pub fn decode(bytes: &[u8]) -> Result<DeliveryRecord, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_submitted_record_with_fees_past_u64_reads_back() {
        let answer: Answer = serde_json::from_value(serde_json::json!({
            "chainId": "1", "gateway": "0x00", "target": "0x01", "requestId": "1",
            "requestTx": "0x02", "process": "p", "requestedProcess": "p", "message": "m",
            "mirror": "r", "slot": 1, "data": "d", "tags": []
        }))
        .unwrap();
        let record = DeliveryRecord {
            id: "x".into(),
            answer,
            state: DeliveryState::Submitted {
                epoch: 0,
                signatures: vec![],
                submission: Box::new(Submission {
                    txs: vec!["0xab".into()],
                    nonce: Some(3),
                    max_fee_per_gas: Some(u128::MAX),
                    max_priority_fee_per_gas: Some(1),
                    first_max_fee_per_gas: Some(u128::from(u64::MAX) + 1),
                    ..Submission::default()
                }),
            },
            failures: 0,
            next_attempt_ms: 0,
            last_error: None,
            created_ms: 1,
        };
        let bytes = record.encode();
        assert!(String::from_utf8_lossy(&bytes).contains(&format!("\"{}\"", u128::MAX)));
        assert_eq!(DeliveryRecord::decode(&bytes).unwrap(), record);
    }
}
