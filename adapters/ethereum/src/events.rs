//! The contract events the adapter understands, decoded with `sol!` bindings into the
//! chain-event objects of `docs/devices.md`.

use alloy::primitives::{B256, U256};
use alloy::rpc::types::Log;
use alloy::sol_types::SolEvent;
use aolink_node::ans104::b64url_encode;
use serde_json::{Map, Value, json};

/// The real AO bridges' events (stETH and DAI bridges, and aolink's devnet `AOBridge`, which
/// keeps their ABI).
pub mod bridge {
    alloy::sol! {
        /// A stake, with the amount the bridge credited.
        event UserStaked(uint256 indexed poolId, address indexed user, uint256 amount, bytes32 arweaveAddress);
        /// A withdrawal, with the amount debited.
        event UserWithdrawn(uint256 indexed poolId, address indexed user, uint256 amount, bytes32 arweaveAddress);
    }
}

/// The gateway's events (aolink's `AOGateway`): calls from dApps to AO processes, and their
/// delivered results.
pub mod gateway {
    alloy::sol! {
        /// A dApp's call of an AO process.
        event RequestSent(uint256 indexed requestId, address indexed sender, bytes32 indexed process, string action, bytes data);
        /// A result delivered back to the dApp.
        event ResultDelivered(uint256 indexed requestId, bytes32 indexed process, bool callbackOk);
    }
}

/// The USDS bridge's events: no pools.
pub mod usds {
    alloy::sol! {
        /// A stake.
        event UserStaked(address indexed user, uint256 amount, bytes32 arweaveAddress);
        /// A withdrawal.
        event UserWithdrawn(address indexed user, uint256 amount, bytes32 arweaveAddress);
    }
}

fn hex32(v: &B256) -> String {
    format!("{v:#x}")
}

fn dec(v: &U256) -> Value {
    Value::String(v.to_string())
}

/// A log the adapter cannot turn into an event.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// No known event has this topic0 (or the log has no topics).
    #[error("unknown event topic {0}")]
    Unknown(String),
    /// The log claims a known event but its data does not decode.
    #[error("{event}: {reason}")]
    Malformed {
        /// The event.
        event: &'static str,
        /// Why.
        reason: String,
    },
    /// The log lacks its position (a pending log).
    #[error("log without {0}")]
    Incomplete(&'static str),
}

/// The event name and decoded fields of `log`.
pub fn decode_fields(log: &Log) -> Result<(&'static str, Map<String, Value>), DecodeError> {
    let topic = log
        .topics()
        .first()
        .copied()
        .ok_or_else(|| DecodeError::Unknown("(none)".into()))?;
    let malformed = |event: &'static str| {
        move |e: alloy::sol_types::Error| DecodeError::Malformed {
            event,
            reason: e.to_string(),
        }
    };
    let mut fields = Map::new();
    let name = if topic == bridge::UserStaked::SIGNATURE_HASH {
        let e = bridge::UserStaked::decode_log(&log.inner).map_err(malformed("UserStaked"))?;
        fields.insert("poolId".into(), dec(&e.poolId));
        fields.insert("user".into(), json!(format!("{:#x}", e.user)));
        fields.insert("amount".into(), dec(&e.amount));
        fields.insert("arweaveAddress".into(), json!(hex32(&e.arweaveAddress)));
        "UserStaked"
    } else if topic == bridge::UserWithdrawn::SIGNATURE_HASH {
        let e =
            bridge::UserWithdrawn::decode_log(&log.inner).map_err(malformed("UserWithdrawn"))?;
        fields.insert("poolId".into(), dec(&e.poolId));
        fields.insert("user".into(), json!(format!("{:#x}", e.user)));
        fields.insert("amount".into(), dec(&e.amount));
        fields.insert("arweaveAddress".into(), json!(hex32(&e.arweaveAddress)));
        "UserWithdrawn"
    } else if topic == usds::UserStaked::SIGNATURE_HASH {
        let e = usds::UserStaked::decode_log(&log.inner).map_err(malformed("UserStaked"))?;
        fields.insert("user".into(), json!(format!("{:#x}", e.user)));
        fields.insert("amount".into(), dec(&e.amount));
        fields.insert("arweaveAddress".into(), json!(hex32(&e.arweaveAddress)));
        "UserStaked"
    } else if topic == usds::UserWithdrawn::SIGNATURE_HASH {
        let e = usds::UserWithdrawn::decode_log(&log.inner).map_err(malformed("UserWithdrawn"))?;
        fields.insert("user".into(), json!(format!("{:#x}", e.user)));
        fields.insert("amount".into(), dec(&e.amount));
        fields.insert("arweaveAddress".into(), json!(hex32(&e.arweaveAddress)));
        "UserWithdrawn"
    } else if topic == gateway::RequestSent::SIGNATURE_HASH {
        let e = gateway::RequestSent::decode_log(&log.inner).map_err(malformed("RequestSent"))?;
        fields.insert("requestId".into(), dec(&e.requestId));
        fields.insert("sender".into(), json!(format!("{:#x}", e.sender)));
        // AO process ids are the base64url form of the 32 bytes.
        fields.insert("process".into(), json!(b64url_encode(e.process.as_slice())));
        fields.insert("action".into(), json!(e.action));
        // Text stays text (what aos handlers expect in msg.Data); other bytes travel as hex.
        match std::str::from_utf8(&e.data.data) {
            Ok(text) => {
                fields.insert("data".into(), json!(text));
            }
            Err(_) => {
                fields.insert(
                    "data".into(),
                    json!(format!("0x{}", hex::encode(&e.data.data))),
                );
                fields.insert("dataEncoding".into(), json!("hex"));
            }
        }
        "RequestSent"
    } else if topic == gateway::ResultDelivered::SIGNATURE_HASH {
        let e = gateway::ResultDelivered::decode_log(&log.inner)
            .map_err(malformed("ResultDelivered"))?;
        fields.insert("requestId".into(), dec(&e.requestId));
        fields.insert("process".into(), json!(b64url_encode(e.process.as_slice())));
        fields.insert("callbackOk".into(), json!(e.callbackOk));
        "ResultDelivered"
    } else {
        return Err(DecodeError::Unknown(hex32(&topic)));
    };
    Ok((name, fields))
}

/// A chain-event object (`docs/devices.md`) for `log`.
pub fn chain_event(log: &Log) -> Result<Value, DecodeError> {
    let (name, fields) = decode_fields(log)?;
    let tx = log
        .transaction_hash
        .ok_or(DecodeError::Incomplete("transactionHash"))?;
    let index = log.log_index.ok_or(DecodeError::Incomplete("logIndex"))?;
    let number = log
        .block_number
        .ok_or(DecodeError::Incomplete("blockNumber"))?;
    let hash = log.block_hash.ok_or(DecodeError::Incomplete("blockHash"))?;
    let mut event = json!({
        "event": name,
        "txHash": hex32(&tx),
        "logIndex": index,
        "blockNumber": number,
        "blockHash": hex32(&hash),
        "fields": fields,
    });
    if let Some(ts) = log.block_timestamp {
        event["blockTimestamp"] = json!(ts);
    }
    Ok(event)
}
