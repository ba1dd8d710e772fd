//! A landed transaction as `getTransaction` and `getSignaturesForAddress` write it.

use base64::Engine;
use serde_json::{Value, json};
use solana_message::VersionedMessage;
use solana_message::compiled_instruction::CompiledInstruction;
use solana_transaction::versioned::VersionedTransaction;

use crate::ledger::{Landed, Ledger};

fn instruction(ix: &CompiledInstruction, stack_height: Option<u8>) -> Value {
    json!({
        "programIdIndex": ix.program_id_index,
        "accounts": ix.accounts,
        "data": bs58::encode(&ix.data).into_string(),
        "stackHeight": stack_height,
    })
}

/// The `json` encoding of the transaction itself.
fn transaction_json(tx: &VersionedTransaction) -> Value {
    let message = &tx.message;
    let header = message.header();
    let mut out = json!({
        "accountKeys": message.static_account_keys().iter().map(|k| k.to_string()).collect::<Vec<_>>(),
        "header": {
            "numRequiredSignatures": header.num_required_signatures,
            "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
            "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
        },
        "recentBlockhash": message.recent_blockhash().to_string(),
        "instructions": message.instructions().iter().map(|ix| instruction(ix, None)).collect::<Vec<_>>(),
    });
    if let VersionedMessage::V0(_) = message {
        out["addressTableLookups"] = json!([]);
    }
    json!({
        "signatures": tx.signatures.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "message": out,
    })
}

/// The `status` member: `{"Ok": null}` or `{"Err": <error>}`.
pub fn status(landed: &Landed) -> Value {
    match &landed.err {
        None => json!({"Ok": null}),
        Some(err) => json!({"Err": err}),
    }
}

fn meta(landed: &Landed) -> Value {
    let inner: Vec<Value> = landed
        .meta
        .inner_instructions
        .iter()
        .enumerate()
        .filter(|(_, list)| !list.is_empty())
        .map(|(index, list)| {
            json!({
                "index": index,
                "instructions": list
                    .iter()
                    .map(|i| instruction(&i.instruction, Some(i.stack_height)))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "err": landed.err,
        "status": status(landed),
        "fee": landed.meta.fee,
        "preBalances": landed.pre_balances,
        "postBalances": landed.post_balances,
        "innerInstructions": inner,
        "logMessages": landed.meta.logs,
        "preTokenBalances": [],
        "postTokenBalances": [],
        "rewards": [],
        "loadedAddresses": {"writable": [], "readonly": []},
        "computeUnitsConsumed": landed.meta.compute_units_consumed,
    })
}

/// Why a transaction cannot be answered in the encoding asked.
pub enum EncodeError {
    /// The client did not say it reads v0 transactions (`maxSupportedTransactionVersion`).
    VersionNotSupported(u8),
    /// An encoding this devnet does not write.
    Encoding(String),
}

/// `getTransaction`'s answer for `landed`, in `encoding`, for a client reading transactions up
/// to version `max_version` (`None`: legacy only, and no `version` field).
pub fn transaction(
    landed: &Landed,
    tx: &VersionedTransaction,
    encoding: &str,
    max_version: Option<u8>,
) -> Result<Value, EncodeError> {
    let version = match &tx.message {
        VersionedMessage::Legacy(_) => None,
        _ => Some(0u8),
    };
    if let Some(v) = version
        && max_version.is_none_or(|max| v > max)
    {
        return Err(EncodeError::VersionNotSupported(v));
    }
    let encoded = match encoding {
        "json" => transaction_json(tx),
        "base64" | "base58" => {
            let bytes = bincode::serialize(tx).map_err(|e| EncodeError::Encoding(e.to_string()))?;
            let text = if encoding == "base64" {
                base64::engine::general_purpose::STANDARD.encode(bytes)
            } else {
                bs58::encode(bytes).into_string()
            };
            json!([text, encoding])
        }
        other => return Err(EncodeError::Encoding(other.to_string())),
    };
    let mut out = json!({
        "slot": landed.slot,
        "blockTime": landed.block_time,
        "transaction": encoded,
        "meta": meta(landed),
    });
    if max_version.is_some() {
        out["version"] = match version {
            None => json!("legacy"),
            Some(v) => json!(v),
        };
    }
    Ok(out)
}

/// The SPL Memo programs (v1 and v2+), whose top-level instructions a validator lists as a
/// signature's `memo`.
const MEMO_PROGRAMS: [&str; 2] = [
    "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo",
    "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",
];

/// The memos of a transaction's top-level instructions as a validator writes them:
/// `[<bytes>] <text>` (`(unparsable)` for data that is not UTF-8), joined by `; `. A memo
/// made by a cross-program invocation is not listed, as by a validator: it is only among the
/// transaction's inner instructions.
fn memos(landed: &Landed) -> Option<String> {
    let message = &landed.transaction.as_ref()?.message;
    let keys = message.static_account_keys();
    let memos: Vec<String> = message
        .instructions()
        .iter()
        .filter(|ix| {
            keys.get(usize::from(ix.program_id_index))
                .is_some_and(|p| MEMO_PROGRAMS.contains(&p.to_string().as_str()))
        })
        .map(|ix| {
            let text = std::str::from_utf8(&ix.data).unwrap_or("(unparsable)");
            format!("[{}] {text}", ix.data.len())
        })
        .collect();
    (!memos.is_empty()).then(|| memos.join("; "))
}

/// One entry of `getSignaturesForAddress`.
pub fn signature_entry(ledger: &Ledger, landed: &Landed) -> Value {
    let status = ledger.commitment_of(landed.slot);
    json!({
        "signature": landed.signature.to_string(),
        "slot": landed.slot,
        "err": landed.err,
        "memo": memos(landed),
        "blockTime": landed.block_time,
        "confirmationStatus": status.as_str(),
    })
}
