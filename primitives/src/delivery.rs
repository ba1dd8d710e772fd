//! Where an answer's delivery back to its chain stands: the typed record the node's attestation
//! room creates and the relayer's pipeline moves on, persisted in the node's store so that
//! every stage restarts from what was written (prepare → submit → confirm, like Hyperlane's).

use serde::{Deserialize, Serialize};

use crate::answer::{Answer, Attestation};

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
        /// Every transaction sent for this answer, oldest first (a replacement may lose to
        /// the one it replaces; whichever lands counts).
        txs: Vec<String>,
        /// The Ethereum nonce all of them use.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<u64>,
        /// The newest EIP-1559 fee cap sent (wei).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_fee_per_gas: Option<u128>,
        /// The newest EIP-1559 priority fee sent (wei).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_priority_fee_per_gas: Option<u128>,
        /// Solana: the block height after which the newest transaction can no longer land.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_valid_block_height: Option<u64>,
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
