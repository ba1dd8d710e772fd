//! What a chain adapter tells a mirror: the typed, versioned Chain-Event and Chain-Reorg
//! formats (one type, one byte encoding, written by the adapters and read by the devices).
//! The seam the adapter writes them through is [`crate::adapter`].
//!
//! # Encoding
//! The data of a `Chain-Event` item is the JSON of [`ChainEventBatch`] with its keys in sorted
//! order (the struct fields below are declared alphabetically so that serde writes them so).
//! That is byte for byte what the first release wrote, which keeps every stored item's id
//! valid. Version 1 has no version key; a later version adds `"v"`, and a reader refuses a
//! version it does not know rather than misread it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The Chain-Event encoding this build writes.
pub const CHAIN_EVENT_VERSION: u32 = 1;

/// The `Device` tag of the process that mirrors one watched contract: adapters spawn it, the
/// devices crate runs it. Version 1.1 takes the answers to the gateway calls it forwards.
pub const MIRROR_DEVICE: &str = "mirror@1.1";

/// The first mirror version, without answers: processes spawned with it compute exactly as
/// they always did (a device's behaviour is part of what its processes' bytes depend on).
pub const MIRROR_DEVICE_1_0: &str = "mirror@1.0";

fn version_1() -> u32 {
    1
}

fn is_version_1(v: &u32) -> bool {
    *v == 1
}

/// The data of a `Chain-Event` item: a contract's events in chain order, and the last block
/// the item covers (so a quiet range still moves the mirror's head).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEventBatch {
    /// The events, in chain order.
    pub events: Vec<ChainEvent>,
    /// The last block covered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<ChainHead>,
    /// The encoding version ([`CHAIN_EVENT_VERSION`]; absent means 1).
    #[serde(default = "version_1", skip_serializing_if = "is_version_1")]
    pub v: u32,
}

impl ChainEventBatch {
    /// Events with their covering head, in the current encoding.
    pub fn new(events: Vec<ChainEvent>, head: Option<ChainHead>) -> Self {
        ChainEventBatch {
            events,
            head,
            v: CHAIN_EVENT_VERSION,
        }
    }

    /// Decodes a `Chain-Event` item's data, checking the version and every event.
    pub fn decode(data: &[u8]) -> Result<Self, ChainEventError> {
        let batch: ChainEventBatch =
            serde_json::from_slice(data).map_err(|e| explain_batch_error(data, e))?;
        check_version(batch.v)?;
        for (index, event) in batch.events.iter().enumerate() {
            event
                .check()
                .map_err(|reason| ChainEventError::Event { index, reason })?;
        }
        Ok(batch)
    }

    /// The encoded bytes (sorted-key JSON).
    pub fn encode(&self) -> Vec<u8> {
        // ~400 bytes an event; one allocation for the common case.
        let mut out = Vec::with_capacity(128 + self.events.len() * 448);
        // Serializing plain strings, numbers and maps into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, self);
        out
    }

    /// [`ChainEventBatch::encode`] as text (what a device's outbox message carries).
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A batch that does not decode, said precisely: when the data is JSON with an `events` array,
/// the first event that is not a Chain-Event is named by its index. Only paid on failure.
fn explain_batch_error(data: &[u8], error: serde_json::Error) -> ChainEventError {
    let events = serde_json::from_slice::<Value>(data)
        .ok()
        .and_then(|v| v.get("events").and_then(Value::as_array).cloned());
    for (index, event) in events.into_iter().flatten().enumerate() {
        if let Err(e) = serde_json::from_value::<ChainEvent>(event) {
            return ChainEventError::Event {
                index,
                reason: e.to_string(),
            };
        }
    }
    ChainEventError::Decode(error.to_string())
}

fn check_version(v: u32) -> Result<(), ChainEventError> {
    if v == CHAIN_EVENT_VERSION {
        Ok(())
    } else {
        Err(ChainEventError::Version(v))
    }
}

/// The data of a `Chain-Reorg` item: every event from `fromBlock` on is orphaned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainReorg {
    /// The first orphaned block.
    pub from_block: u64,
    /// The block the chain now continues from (the newest one still on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<ChainHead>,
    /// The encoding version (absent means 1).
    #[serde(default = "version_1", skip_serializing_if = "is_version_1")]
    pub v: u32,
}

impl ChainReorg {
    /// A reorg from `from_block`, in the current encoding.
    pub fn new(from_block: u64, head: Option<ChainHead>) -> Self {
        ChainReorg {
            from_block,
            head,
            v: CHAIN_EVENT_VERSION,
        }
    }

    /// Decodes a `Chain-Reorg` item's data.
    pub fn decode(data: &[u8]) -> Result<Self, ChainEventError> {
        let reorg: ChainReorg =
            serde_json::from_slice(data).map_err(|e| ChainEventError::Decode(e.to_string()))?;
        check_version(reorg.v)?;
        Ok(reorg)
    }

    /// The encoded bytes (sorted-key JSON).
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// [`ChainReorg::encode`] as text.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What a mirror forwards to a subscriber when a reorg orphans events it had forwarded: the
/// events, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Retraction {
    /// The first orphaned block.
    pub from_block: u64,
    /// The orphaned events, newest first.
    pub retracted: Vec<ChainEvent>,
}

impl Retraction {
    /// Decodes a forwarded `Chain-Reorg`'s data.
    pub fn decode(data: &[u8]) -> Result<Self, ChainEventError> {
        serde_json::from_slice(data).map_err(|e| ChainEventError::Decode(e.to_string()))
    }

    /// The encoded text (sorted-key JSON).
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A Chain-Event or Chain-Reorg that does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainEventError {
    /// The JSON does not have the Chain-Event shape; serde's message names the field.
    #[error("data does not decode: {0}")]
    Decode(String),
    /// A version this build does not read.
    #[error("version {0} is not one this node reads (it reads {CHAIN_EVENT_VERSION})")]
    Version(u32),
    /// One event is malformed.
    #[error("event {index}: {reason}")]
    Event {
        /// The event's position in the batch.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

/// A block, by number and hash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// The block hash as the chain writes it (`0x`-hex on EVM chains).
    pub hash: String,
    /// The block number (the slot on Solana).
    pub number: u64,
}

/// One contract event, as the adapter observed it on its chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChainEvent {
    /// The block's hash.
    pub block_hash: String,
    /// The block's number.
    pub block_number: u64,
    /// The block's time (s), when the provider gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_timestamp: Option<u64>,
    /// The event's name (`UserStaked`, `RequestSent`, …): borrowed from the adapter's own
    /// table when it writes one, so a backfill does not allocate it per event.
    pub event: Cow<'static, str>,
    /// Its decoded fields.
    pub fields: EventFields,
    /// Its index among the block's logs (the instruction index on Solana).
    pub log_index: u64,
    /// The transaction that emitted it.
    pub tx_hash: String,
}

/// The names of the bridge events that move deposits.
pub const STAKED: &str = "UserStaked";
/// See [`STAKED`].
pub const WITHDRAWN: &str = "UserWithdrawn";
/// A gateway call from a dApp.
pub const REQUEST_SENT: &str = "RequestSent";

impl ChainEvent {
    /// The event's identity on its chain, `txhash:logindex`, unique per event and the same
    /// whichever node observed it. A `0x` hex hash is lower-cased (hex is case-blind); any
    /// other (a Solana signature in base58) is kept as it is, since its case is meaningful.
    pub fn key(&self) -> String {
        if self.tx_hash.starts_with("0x") || self.tx_hash.starts_with("0X") {
            format!("{}:{}", self.tx_hash.to_ascii_lowercase(), self.log_index)
        } else {
            format!("{}:{}", self.tx_hash, self.log_index)
        }
    }

    /// Whether this is a deposit (`Some(true)`), a withdrawal (`Some(false)`) or neither.
    pub fn transfer_direction(&self) -> Option<bool> {
        match self.event.as_ref() {
            STAKED => Some(true),
            WITHDRAWN => Some(false),
            _ => None,
        }
    }

    /// What a device needs of every event, beyond its shape: a name, a transaction, and for
    /// transfers a decimal amount and a user.
    pub fn check(&self) -> Result<(), String> {
        if self.event.is_empty() {
            return Err("event is missing".into());
        }
        if self.tx_hash.is_empty() {
            return Err("txHash is missing".into());
        }
        if self.transfer_direction().is_some() {
            if !self.fields.amount().is_some_and(is_decimal) {
                return Err("fields.amount is not a decimal string".into());
            }
            if self.fields.user().is_none() {
                return Err("fields.user is missing".into());
            }
        }
        Ok(())
    }
}

/// Whether `text` is a non-empty string of ASCII digits.
pub fn is_decimal(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// An event's fields: typed for the events aolink's contracts emit, kept as they came for any
/// other (a mirror forwards events it does not interpret unchanged).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventFields {
    /// `UserStaked` / `UserWithdrawn`.
    Transfer(Transfer),
    /// `RequestSent`.
    Request(Request),
    /// `ResultDelivered`.
    Delivery(Delivery),
    /// Anything else, key-sorted as it arrived.
    Other(BTreeMap<String, Value>),
}

impl EventFields {
    fn text(&self, name: &str) -> Option<&str> {
        match self {
            EventFields::Other(map) => map.get(name).and_then(Value::as_str),
            _ => None,
        }
    }

    /// A transfer's amount (decimal text).
    pub fn amount(&self) -> Option<&str> {
        match self {
            EventFields::Transfer(t) => Some(&t.amount),
            other => other.text("amount"),
        }
    }

    /// A transfer's depositor.
    pub fn user(&self) -> Option<&str> {
        match self {
            EventFields::Transfer(t) => Some(&t.user),
            other => other.text("user"),
        }
    }

    /// A transfer's pool, when the bridge has pools.
    pub fn pool_id(&self) -> Option<&str> {
        match self {
            EventFields::Transfer(t) => t.pool_id.as_deref(),
            other => other.text("poolId"),
        }
    }

    /// A transfer's Arweave recipient (`0x` + 64 hex).
    pub fn arweave_address(&self) -> Option<&str> {
        match self {
            EventFields::Transfer(t) => Some(&t.arweave_address),
            other => other.text("arweaveAddress"),
        }
    }

    /// The gateway call, when these are a `RequestSent`'s fields.
    pub fn request(&self) -> Option<&Request> {
        match self {
            EventFields::Request(r) => Some(r),
            _ => None,
        }
    }
}

/// A bridge stake or withdrawal (with a pool for the stETH/DAI bridges, without for USDS).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Transfer {
    /// The amount credited or debited (decimal).
    pub amount: String,
    /// The Arweave address the AO goes to (`0x` + 64 hex).
    pub arweave_address: String,
    /// The bridge's pool (decimal), when the bridge has pools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_id: Option<String>,
    /// The depositor (`0x` + 40 hex, lower-case).
    pub user: String,
}

/// A dApp's call of an AO process through the gateway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Request {
    /// The action to call.
    pub action: String,
    /// The payload: text as text (what aos handlers expect in `msg.Data`), other bytes as hex.
    pub data: String,
    /// `hex` when `data` is hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_encoding: Option<String>,
    /// The AO process (base64url of the 32 bytes).
    pub process: String,
    /// The request's id on its chain: the gateway's request number on EVM chains.
    pub request_id: String,
    /// The caller (the calling contract, or the signer of a Solana memo).
    pub sender: String,
    /// Tags the caller set, by name. The mirror passes them on as `X-<name>`, so they can
    /// never stand in for a tag the node sets. Absent when empty (the EVM gateway has none),
    /// which keeps the encoding of every earlier item.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// A result the gateway delivered back to a dApp.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Delivery {
    /// Whether the dApp's callback succeeded.
    pub callback_ok: bool,
    /// The AO process that answered.
    pub process: String,
    /// The request answered (decimal).
    pub request_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items written by the first release (the Ethereum adapter's typed writer of stop 9), byte
    /// for byte: each must decode and encode back to the same bytes, or stored ids break.
    const VECTORS: &[&str] = &[
        include_str!("../tests/vectors/chain-event-bridge.json"),
        include_str!("../tests/vectors/chain-event-gateway.json"),
        include_str!("../tests/vectors/chain-event-quiet.json"),
        include_str!("../tests/vectors/chain-event-other.json"),
    ];

    #[test]
    fn stored_chain_events_round_trip_byte_for_byte() {
        for vector in VECTORS {
            let vector = vector.trim_end();
            let batch = ChainEventBatch::decode(vector.as_bytes()).unwrap();
            assert_eq!(String::from_utf8(batch.encode()).unwrap(), vector);
        }
    }

    #[test]
    fn stored_events_decode_into_their_typed_fields() {
        let bridge = ChainEventBatch::decode(VECTORS[0].trim_end().as_bytes()).unwrap();
        let staked = &bridge.events[0];
        assert_eq!(staked.transfer_direction(), Some(true));
        assert!(matches!(staked.fields, EventFields::Transfer(_)));
        assert_eq!(staked.fields.pool_id(), Some("0"));
        let gateway = ChainEventBatch::decode(VECTORS[1].trim_end().as_bytes()).unwrap();
        assert!(gateway.events.iter().any(|e| e.fields.request().is_some()));
        assert!(
            gateway
                .events
                .iter()
                .any(|e| matches!(e.fields, EventFields::Delivery(_)))
        );
        let quiet = ChainEventBatch::decode(VECTORS[2].trim_end().as_bytes()).unwrap();
        assert!(quiet.events.is_empty());
        assert!(quiet.head.is_some());
        let other = ChainEventBatch::decode(VECTORS[3].trim_end().as_bytes()).unwrap();
        assert!(matches!(other.events[0].fields, EventFields::Other(_)));
    }

    #[test]
    fn a_reorg_round_trips_and_an_unknown_version_is_refused() {
        let bytes = br#"{"fromBlock":12,"head":{"hash":"0xab","number":11}}"#;
        let reorg = ChainReorg::decode(bytes).unwrap();
        assert_eq!(reorg.encode(), bytes.to_vec());
        assert_eq!(
            ChainReorg::decode(br#"{"fromBlock":1,"v":2}"#),
            Err(ChainEventError::Version(2))
        );
        let v2 = br#"{"events":[],"v":2}"#;
        assert_eq!(
            ChainEventBatch::decode(v2),
            Err(ChainEventError::Version(2))
        );
    }

    #[test]
    fn an_events_key_folds_the_case_of_hex_hashes_only() {
        let mut event = ChainEventBatch::decode(VECTORS[0].trim_end().as_bytes())
            .unwrap()
            .events
            .remove(0);
        event.tx_hash = "0xABcd".into();
        event.log_index = 3;
        assert_eq!(event.key(), "0xabcd:3");
        event.tx_hash = "5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnb".into();
        assert_eq!(
            event.key(),
            "5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnb:3"
        );
    }

    #[test]
    fn malformed_events_are_refused_naming_the_event_and_field() {
        let no_amount = br#"{"events":[{"blockHash":"0x1","blockNumber":1,"event":"UserStaked","fields":{"user":"0xa"},"logIndex":0,"txHash":"0x2"}]}"#;
        let err = ChainEventBatch::decode(no_amount).unwrap_err();
        assert_eq!(
            err,
            ChainEventError::Event {
                index: 0,
                reason: "fields.amount is not a decimal string".into()
            }
        );
        let no_tx = br#"{"events":[{"blockHash":"0x1","blockNumber":1,"event":"X","fields":{},"logIndex":0}]}"#;
        assert!(
            ChainEventBatch::decode(no_tx)
                .unwrap_err()
                .to_string()
                .contains("txHash")
        );
        let negative = br#"{"events":[{"blockHash":"0x1","blockNumber":-1,"event":"X","fields":{},"logIndex":0,"txHash":"0x2"}]}"#;
        assert!(ChainEventBatch::decode(negative).is_err());
    }
}
