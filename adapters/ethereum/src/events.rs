//! The contract events the adapter understands, decoded with `sol!` bindings into the
//! primitives' [`ChainEvent`], the one Chain-Event type the mirrors read (`docs/devices.md`).
//!
//! Hashes and addresses are written as `0x` + lower-case hex, 256-bit numbers as decimal
//! strings, AO process ids as base64url; the batch's bytes are the primitives' encoding, so an
//! item's id does not depend on which adapter wrote it.

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::Log;
use alloy::sol_types::SolEvent;
use aolink_primitives::ans104::b64url_encode;
use aolink_primitives::chain::{ChainEvent, Delivery, EventFields, Request, Transfer};

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

/// Bytes as `0x` + lower-case hex (hashes, addresses), in one allocation: a backfill writes
/// several per event, millions of events.
fn hex_of(bytes: impl AsRef<[u8]>) -> String {
    let bytes = bytes.as_ref();
    let mut out = vec![b'0'; 2 + 2 * bytes.len()];
    out[1] = b'x';
    // The buffer is exactly twice the input, so this cannot fail.
    let _ = hex::encode_to_slice(bytes, &mut out[2..]);
    String::from_utf8(out).unwrap_or_default()
}

/// `log` decoded as the event `E` (its name is `name`), its fields made by `fields`.
fn decoded<E: SolEvent>(
    log: &Log,
    name: &'static str,
    fields: impl FnOnce(E) -> EventFields,
) -> Result<(&'static str, EventFields), DecodeError> {
    let event = E::decode_log(&log.inner).map_err(|e| DecodeError::Malformed {
        event: name,
        reason: e.to_string(),
    })?;
    Ok((name, fields(event.data)))
}

fn transfer(
    user: Address,
    amount: U256,
    arweave_address: B256,
    pool_id: Option<U256>,
) -> EventFields {
    EventFields::Transfer(Transfer {
        amount: decimal(amount),
        arweave_address: hex_of(arweave_address),
        pool_id: pool_id.map(decimal),
        user: hex_of(user),
    })
}

/// A 256-bit number in decimal; real amounts fit 128 bits, whose formatting is much cheaper.
fn decimal(value: U256) -> String {
    match u128::try_from(value) {
        Ok(small) => small.to_string(),
        Err(_) => value.to_string(),
    }
}

/// The event name and decoded fields of `log`.
pub fn decode_fields(log: &Log) -> Result<(&'static str, EventFields), DecodeError> {
    let topic = log
        .topics()
        .first()
        .copied()
        .ok_or_else(|| DecodeError::Unknown("(none)".into()))?;
    Ok(if topic == bridge::UserStaked::SIGNATURE_HASH {
        decoded(log, "UserStaked", |e: bridge::UserStaked| {
            transfer(e.user, e.amount, e.arweaveAddress, Some(e.poolId))
        })?
    } else if topic == bridge::UserWithdrawn::SIGNATURE_HASH {
        decoded(log, "UserWithdrawn", |e: bridge::UserWithdrawn| {
            transfer(e.user, e.amount, e.arweaveAddress, Some(e.poolId))
        })?
    } else if topic == usds::UserStaked::SIGNATURE_HASH {
        decoded(log, "UserStaked", |e: usds::UserStaked| {
            transfer(e.user, e.amount, e.arweaveAddress, None)
        })?
    } else if topic == usds::UserWithdrawn::SIGNATURE_HASH {
        decoded(log, "UserWithdrawn", |e: usds::UserWithdrawn| {
            transfer(e.user, e.amount, e.arweaveAddress, None)
        })?
    } else if topic == gateway::RequestSent::SIGNATURE_HASH {
        decoded(log, "RequestSent", |e: gateway::RequestSent| {
            let (data, data_encoding) = match String::from_utf8(e.data.to_vec()) {
                Ok(text) => (text, None),
                Err(e) => (hex_of(e.as_bytes()), Some("hex".to_string())),
            };
            EventFields::Request(Request {
                action: e.action,
                data,
                data_encoding,
                process: b64url_encode(e.process.as_slice()),
                request_id: decimal(e.requestId),
                sender: hex_of(e.sender),
                tags: Default::default(),
            })
        })?
    } else if topic == gateway::ResultDelivered::SIGNATURE_HASH {
        decoded(log, "ResultDelivered", |e: gateway::ResultDelivered| {
            EventFields::Delivery(Delivery {
                callback_ok: e.callbackOk,
                process: b64url_encode(e.process.as_slice()),
                request_id: decimal(e.requestId),
            })
        })?
    } else {
        return Err(DecodeError::Unknown(format!("{topic:#x}")));
    })
}

/// The chain event of `log`.
pub fn decode(log: &Log) -> Result<ChainEvent, DecodeError> {
    let (event, fields) = decode_fields(log)?;
    Ok(ChainEvent {
        block_hash: hex_of(log.block_hash.ok_or(DecodeError::Incomplete("blockHash"))?),
        block_number: log
            .block_number
            .ok_or(DecodeError::Incomplete("blockNumber"))?,
        block_timestamp: log.block_timestamp,
        event: event.into(),
        fields,
        log_index: log.log_index.ok_or(DecodeError::Incomplete("logIndex"))?,
        tx_hash: hex_of(
            log.transaction_hash
                .ok_or(DecodeError::Incomplete("transactionHash"))?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Bytes, address};
    use aolink_primitives::chain::{ChainEventBatch, ChainHead};
    use serde_json::{Value, json};

    fn log_of(event: &impl SolEvent) -> Log {
        Log {
            inner: alloy::primitives::Log {
                address: address!("0x00000000000000000000000000000000000000aa"),
                data: event.encode_log_data(),
            },
            block_hash: Some(B256::repeat_byte(0xbb)),
            block_number: Some(7),
            block_timestamp: Some(1_700_000_000),
            transaction_hash: Some(B256::repeat_byte(0xcc)),
            transaction_index: Some(0),
            log_index: Some(3),
            removed: false,
        }
    }

    /// The bytes an item carries are exactly sorted-key JSON (what a `serde_json::Value` of
    /// the same object prints), so ids do not depend on how the JSON was written.
    fn assert_canonical(log: &Log, fields: Value, name: &str) {
        let event = decode(log).unwrap();
        let expected = json!({
            "blockHash": format!("0x{}", "bb".repeat(32)),
            "blockNumber": 7,
            "blockTimestamp": 1_700_000_000u64,
            "event": name,
            "fields": fields,
            "logIndex": 3,
            "txHash": format!("0x{}", "cc".repeat(32)),
        });
        assert_eq!(serde_json::to_string(&event).unwrap(), expected.to_string());
        let head = B256::repeat_byte(0xdd);
        let batch = ChainEventBatch::new(
            vec![event],
            Some(ChainHead {
                hash: format!("{head:#x}"),
                number: 9,
            }),
        );
        let whole =
            json!({"events": [expected], "head": {"hash": format!("{head:#x}"), "number": 9}});
        assert_eq!(
            String::from_utf8(batch.encode()).unwrap(),
            whole.to_string()
        );
    }

    #[test]
    fn bridge_events_are_written_as_sorted_json_with_decimal_amounts() {
        let user = address!("0x1234567890abcdef1234567890abcdef12345678");
        let amount = U256::from(10u128).pow(U256::from(30u8)) + U256::from(7u8);
        let fields = json!({
            "amount": amount.to_string(),
            "arweaveAddress": format!("0x{}", "0e".repeat(32)),
            "poolId": "1",
            "user": "0x1234567890abcdef1234567890abcdef12345678",
        });
        let staked = bridge::UserStaked {
            poolId: U256::from(1u8),
            user,
            amount,
            arweaveAddress: B256::repeat_byte(0x0e),
        };
        assert_canonical(&log_of(&staked), fields.clone(), "UserStaked");
        let withdrawn = bridge::UserWithdrawn {
            poolId: U256::from(1u8),
            user,
            amount,
            arweaveAddress: B256::repeat_byte(0x0e),
        };
        assert_canonical(&log_of(&withdrawn), fields.clone(), "UserWithdrawn");
        let mut no_pool = fields;
        no_pool.as_object_mut().unwrap().remove("poolId");
        let usds = usds::UserStaked {
            user,
            amount,
            arweaveAddress: B256::repeat_byte(0x0e),
        };
        assert_canonical(&log_of(&usds), no_pool, "UserStaked");
    }

    #[test]
    fn gateway_events_carry_text_as_text_and_other_bytes_as_hex() {
        let process = B256::repeat_byte(0x42);
        let sender = address!("0x00000000000000000000000000000000000000d0");
        let text = gateway::RequestSent {
            requestId: U256::from(5u8),
            sender,
            process,
            action: "Ask \"quoted\"".into(),
            data: Bytes::from_static(b"hello\n"),
        };
        let expected = json!({
            "action": "Ask \"quoted\"",
            "data": "hello\n",
            "process": b64url_encode(process.as_slice()),
            "requestId": "5",
            "sender": "0x00000000000000000000000000000000000000d0",
        });
        assert_canonical(&log_of(&text), expected.clone(), "RequestSent");
        let binary = gateway::RequestSent {
            data: Bytes::from_static(&[0xff, 0x00]),
            ..text
        };
        let mut as_hex = expected;
        as_hex["data"] = json!("0xff00");
        as_hex["dataEncoding"] = json!("hex");
        assert_canonical(&log_of(&binary), as_hex, "RequestSent");
        let delivered = gateway::ResultDelivered {
            requestId: U256::from(5u8),
            process,
            callbackOk: false,
        };
        let expected = json!({
            "callbackOk": false,
            "process": b64url_encode(process.as_slice()),
            "requestId": "5",
        });
        assert_canonical(&log_of(&delivered), expected, "ResultDelivered");
    }

    #[test]
    fn unknown_and_pending_logs_are_refused_by_name() {
        let staked = bridge::UserStaked {
            poolId: U256::from(1u8),
            user: Address::ZERO,
            amount: U256::from(1u8),
            arweaveAddress: B256::ZERO,
        };
        let mut pending = log_of(&staked);
        pending.block_hash = None;
        assert_eq!(decode(&pending), Err(DecodeError::Incomplete("blockHash")));
        let mut unknown = log_of(&staked);
        unknown.inner.data =
            alloy::primitives::LogData::new_unchecked(vec![B256::repeat_byte(1)], Bytes::new());
        assert_eq!(
            decode(&unknown),
            Err(DecodeError::Unknown(format!("0x{}", "01".repeat(32))))
        );
        let mut truncated = log_of(&staked);
        truncated.inner.data = alloy::primitives::LogData::new_unchecked(
            truncated.inner.data.topics().to_vec(),
            Bytes::from_static(&[1, 2, 3]),
        );
        assert!(matches!(
            decode(&truncated),
            Err(DecodeError::Malformed {
                event: "UserStaked",
                ..
            })
        ));
    }
}
