//! Solana's JSON-RPC over the [`Ledger`]: the request and answer shapes of a real validator
//! (agave 4.2), so `solana-rpc-client` and the web3 clients talk to it unchanged.

use base64::Engine;
use serde_json::{Value, json};
use solana_hash::Hash;
use solana_message::VersionedMessage;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;

use crate::encode::{self, EncodeError};
use crate::ledger::{Commitment, Ledger, SendError};

/// The validator version this devnet answers like.
pub const VERSION: &str = "4.2.2";

/// A JSON-RPC error: its code, message and optional data.
#[derive(Debug)]
pub struct RpcError {
    code: i64,
    message: String,
    data: Option<Value>,
}

impl RpcError {
    fn invalid_params(message: impl Into<String>) -> RpcError {
        RpcError {
            code: -32602,
            message: message.into(),
            data: None,
        }
    }

    fn method_not_found(method: &str) -> RpcError {
        RpcError {
            code: -32601,
            message: format!("Method not found: {method}"),
            data: None,
        }
    }

    /// The error member of a response.
    pub fn to_json(&self) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(data) = &self.data {
            error["data"] = data.clone();
        }
        error
    }
}

fn param(params: &Value, index: usize) -> Option<&Value> {
    params.as_array().and_then(|p| p.get(index))
}

fn text_param<'a>(params: &'a Value, index: usize, what: &str) -> Result<&'a str, RpcError> {
    param(params, index)
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params(format!("Invalid params: missing {what}")))
}

fn pubkey_param(params: &Value, index: usize) -> Result<Pubkey, RpcError> {
    let text = text_param(params, index, "pubkey")?;
    text.parse()
        .map_err(|_| RpcError::invalid_params(format!("Invalid param: {text:?} is not a pubkey")))
}

/// The commitment in the config object at `index` (finalized when none, as a validator).
fn commitment_param(params: &Value, index: usize) -> Result<Commitment, RpcError> {
    match param(params, index).and_then(|c| c.get("commitment")) {
        None | Some(Value::Null) => Ok(Commitment::Finalized),
        Some(Value::String(name)) => Commitment::parse(name).ok_or_else(|| {
            RpcError::invalid_params(format!("Invalid param: unknown commitment {name:?}"))
        }),
        Some(other) => Err(RpcError::invalid_params(format!(
            "Invalid param: commitment {other} is not a string"
        ))),
    }
}

fn with_context(ledger: &Ledger, commitment: Commitment, value: Value) -> Value {
    json!({"context": {"slot": ledger.slot(commitment), "apiVersion": VERSION}, "value": value})
}

fn send_error(error: SendError) -> RpcError {
    match error {
        SendError::Simulation(failed) => RpcError {
            code: -32002,
            message: format!("Transaction simulation failed: {}", failed.err),
            data: Some(json!({
                "err": failed.err,
                "logs": failed.meta.logs,
                "accounts": null,
                "unitsConsumed": failed.meta.compute_units_consumed,
                "returnData": null,
                "innerInstructions": null,
            })),
        },
        SendError::BlockhashNotFound => RpcError {
            code: -32002,
            message: "Transaction simulation failed: Blockhash not found".into(),
            data: Some(json!({"err": "BlockhashNotFound", "logs": [], "accounts": null})),
        },
        SendError::AlreadyProcessed => RpcError {
            code: -32002,
            message: "Transaction simulation failed: This transaction has already been processed"
                .into(),
            data: Some(json!({"err": "AlreadyProcessed", "logs": [], "accounts": null})),
        },
        SendError::Unsigned => RpcError::invalid_params("invalid transaction: no signature"),
        SendError::Unsupported(why) => {
            RpcError::invalid_params(format!("invalid transaction: {why}"))
        }
    }
}

/// Decodes `sendTransaction`'s first parameter in the encoding its config names.
fn wire_transaction(params: &Value) -> Result<VersionedTransaction, RpcError> {
    let text = text_param(params, 0, "transaction")?;
    let encoding = param(params, 1)
        .and_then(|c| c.get("encoding"))
        .and_then(Value::as_str)
        .unwrap_or("base58");
    let bytes = match encoding {
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| RpcError::invalid_params(format!("invalid base64 encoding: {e}")))?,
        "base58" => bs58::decode(text)
            .into_vec()
            .map_err(|e| RpcError::invalid_params(format!("invalid base58 encoding: {e}")))?,
        other => {
            return Err(RpcError::invalid_params(format!(
                "unsupported encoding: {other}. Supported encodings: base58, base64"
            )));
        }
    };
    bincode::deserialize(&bytes).map_err(|e| {
        RpcError::invalid_params(format!("failed to deserialize VersionedTransaction: {e}"))
    })
}

fn signature_status(ledger: &Ledger, signature: &Signature) -> Value {
    let Some(landed) = ledger.landed(signature) else {
        return Value::Null;
    };
    let status = ledger.commitment_of(landed.slot);
    let confirmations = match status {
        Commitment::Finalized => Value::Null,
        _ => json!(ledger.slot(Commitment::Processed) - landed.slot),
    };
    json!({
        "slot": landed.slot,
        "confirmations": confirmations,
        "err": landed.err,
        "status": encode::status(landed),
        "confirmationStatus": status.as_str(),
    })
}

/// Answers one request: its `result`, or the error to send.
pub fn handle(ledger: &mut Ledger, method: &str, params: &Value) -> Result<Value, RpcError> {
    Ok(match method {
        "getVersion" => json!({"solana-core": VERSION, "feature-set": 0}),
        "getHealth" => json!("ok"),
        "getGenesisHash" => json!(ledger.genesis_hash().to_string()),
        "getSlot" | "getBlockHeight" => json!(ledger.slot(commitment_param(params, 0)?)),
        "getLatestBlockhash" => {
            let commitment = commitment_param(params, 0)?;
            let (hash, last_valid) = ledger.latest_blockhash(commitment);
            with_context(
                ledger,
                commitment,
                json!({"blockhash": hash.to_string(), "lastValidBlockHeight": last_valid}),
            )
        }
        "isBlockhashValid" => {
            let text = text_param(params, 0, "blockhash")?;
            let hash: Hash = text.parse().map_err(|_| {
                RpcError::invalid_params(format!("Invalid param: {text:?} is not a hash"))
            })?;
            let commitment = commitment_param(params, 1)?;
            let valid = ledger.is_blockhash_valid(&hash);
            with_context(ledger, commitment, json!(valid))
        }
        "getBalance" => {
            let address = pubkey_param(params, 0)?;
            let commitment = commitment_param(params, 1)?;
            let lamports = ledger.balance(&address);
            with_context(ledger, commitment, json!(lamports))
        }
        "getMinimumBalanceForRentExemption" => {
            let len = param(params, 0).and_then(Value::as_u64).ok_or_else(|| {
                RpcError::invalid_params("Invalid params: missing the data length")
            })?;
            json!(ledger.rent_exempt_minimum(len as usize))
        }
        "requestAirdrop" => {
            let address = pubkey_param(params, 0)?;
            let lamports = param(params, 1)
                .and_then(Value::as_u64)
                .ok_or_else(|| RpcError::invalid_params("Invalid params: missing lamports"))?;
            json!(
                ledger
                    .airdrop(&address, lamports)
                    .map_err(send_error)?
                    .to_string()
            )
        }
        "sendTransaction" => {
            let tx = wire_transaction(params)?;
            let skip_preflight = param(params, 1)
                .and_then(|c| c.get("skipPreflight"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            json!(
                ledger
                    .send(tx, !skip_preflight)
                    .map_err(send_error)?
                    .to_string()
            )
        }
        "getSignatureStatuses" => {
            let list = param(params, 0)
                .and_then(Value::as_array)
                .ok_or_else(|| RpcError::invalid_params("Invalid params: missing signatures"))?;
            if list.len() > 256 {
                return Err(RpcError::invalid_params(
                    "Too many inputs provided; max 256",
                ));
            }
            let mut statuses = Vec::with_capacity(list.len());
            for item in list {
                let signature: Signature =
                    item.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
                        RpcError::invalid_params(format!(
                            "Invalid param: {item} is not a signature"
                        ))
                    })?;
                statuses.push(signature_status(ledger, &signature));
            }
            with_context(ledger, Commitment::Processed, json!(statuses))
        }
        "getSignaturesForAddress" => signatures_for_address(ledger, params)?,
        "getAccountInfo" => account_info(ledger, params)?,
        "getFeeForMessage" => {
            let text = text_param(params, 0, "message")?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| RpcError::invalid_params(format!("invalid base64 encoding: {e}")))?;
            let message: VersionedMessage = bincode::deserialize(&bytes).map_err(|e| {
                RpcError::invalid_params(format!("failed to deserialize the message: {e}"))
            })?;
            let commitment = commitment_param(params, 1)?;
            // Null for a message whose blockhash has expired, as a validator.
            let fee = ledger
                .is_blockhash_valid(message.recent_blockhash())
                .then(|| ledger.fee(message.header().num_required_signatures));
            with_context(ledger, commitment, json!(fee))
        }
        "simulateTransaction" => {
            let tx = wire_transaction(params)?;
            let commitment = commitment_param(params, 1)?;
            let (err, meta) = ledger.simulate(tx);
            with_context(
                ledger,
                commitment,
                json!({
                    "err": err,
                    "logs": meta.logs,
                    "accounts": null,
                    "unitsConsumed": meta.compute_units_consumed,
                    "returnData": null,
                    "innerInstructions": null,
                }),
            )
        }
        "getTransaction" => get_transaction(ledger, params)?,
        other => return Err(RpcError::method_not_found(other)),
    })
}

fn signature_param(value: Option<&Value>, what: &str) -> Result<Option<Signature>, RpcError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or_else(|| {
                RpcError::invalid_params(format!("Invalid param: {what} {v} is not a signature"))
            }),
    }
}

/// Commitments below `confirmed` are refused by the history methods, as by a validator.
fn history_commitment(params: &Value, index: usize) -> Result<Commitment, RpcError> {
    let commitment = commitment_param(params, index)?;
    if commitment == Commitment::Processed {
        return Err(RpcError::invalid_params(
            "Method does not support commitment below `confirmed`",
        ));
    }
    Ok(commitment)
}

fn signatures_for_address(ledger: &Ledger, params: &Value) -> Result<Value, RpcError> {
    const MAX_LIMIT: u64 = 1_000;
    let address = pubkey_param(params, 0)?;
    let config = param(params, 1);
    let limit = match config.and_then(|c| c.get("limit")) {
        None | Some(Value::Null) => MAX_LIMIT,
        Some(v) => v
            .as_u64()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| RpcError::invalid_params(format!("Invalid limit; max {MAX_LIMIT}")))?,
    };
    let before = signature_param(config.and_then(|c| c.get("before")), "before")?;
    let until = signature_param(config.and_then(|c| c.get("until")), "until")?;
    let commitment = history_commitment(params, 1)?;
    let list: Vec<Value> = ledger
        .signatures_for(
            &address,
            before.as_ref(),
            until.as_ref(),
            limit as usize,
            commitment,
        )
        .into_iter()
        .map(|landed| encode::signature_entry(ledger, landed))
        .collect();
    Ok(json!(list))
}

fn get_transaction(ledger: &Ledger, params: &Value) -> Result<Value, RpcError> {
    let signature = signature_param(param(params, 0), "signature")?
        .ok_or_else(|| RpcError::invalid_params("Invalid params: missing signature"))?;
    // The second parameter is a config object, or (old clients) the encoding itself.
    let config = param(params, 1);
    let encoding = match config {
        Some(Value::String(e)) => e.as_str(),
        Some(c) => c.get("encoding").and_then(Value::as_str).unwrap_or("json"),
        None => "json",
    };
    let max_version = config
        .and_then(|c| c.get("maxSupportedTransactionVersion"))
        .and_then(Value::as_u64)
        .map(|v| v.min(u8::MAX as u64) as u8);
    let commitment = history_commitment(params, 1)?;
    let Some((landed, tx)) = ledger
        .landed(&signature)
        .filter(|l| l.slot <= ledger.slot(commitment))
        .and_then(|l| Some((l, l.transaction.as_ref()?)))
    else {
        return Ok(Value::Null);
    };
    encode::transaction(landed, tx, encoding, max_version).map_err(|e| match e {
        EncodeError::VersionNotSupported(v) => RpcError {
            code: -32015,
            message: format!(
                "Transaction version ({v}) is not supported by the requesting client. Please try the request again with the following configuration parameter: \"maxSupportedTransactionVersion\": {v}"
            ),
            data: None,
        },
        EncodeError::Encoding(other) => RpcError::invalid_params(format!(
            "unsupported encoding: {other}. Supported encodings: json, base58, base64"
        )),
    })
}

fn account_info(ledger: &Ledger, params: &Value) -> Result<Value, RpcError> {
    let address = pubkey_param(params, 0)?;
    let encoding = param(params, 1)
        .and_then(|c| c.get("encoding"))
        .and_then(Value::as_str)
        .unwrap_or("binary");
    let commitment = commitment_param(params, 1)?;
    let Some(account) = ledger.account(&address) else {
        return Ok(with_context(ledger, commitment, Value::Null));
    };
    let data = match encoding {
        "base64" => json!([
            base64::engine::general_purpose::STANDARD.encode(&account.data),
            "base64"
        ]),
        "base64+zstd" => {
            let packed = zstd::encode_all(account.data.as_slice(), 0)
                .map_err(|e| RpcError::invalid_params(format!("compressing the data: {e}")))?;
            json!([
                base64::engine::general_purpose::STANDARD.encode(packed),
                "base64+zstd"
            ])
        }
        "base58" => json!([bs58::encode(&account.data).into_string(), "base58"]),
        // The deprecated default: base58 as a bare string.
        "binary" => json!(bs58::encode(&account.data).into_string()),
        other => {
            return Err(RpcError::invalid_params(format!(
                "unsupported encoding: {other}. Supported encodings: binary, base58, base64, base64+zstd"
            )));
        }
    };
    Ok(with_context(
        ledger,
        commitment,
        json!({
            "lamports": account.lamports,
            "owner": account.owner.to_string(),
            "data": data,
            "executable": account.executable,
            "rentEpoch": account.rent_epoch,
            "space": account.data.len(),
        }),
    ))
}
