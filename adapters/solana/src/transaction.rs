//! A fetched transaction (`getTransaction`, `json` encoding) read into what the gateway
//! convention looks at: the message's account keys and every executed instruction, the inner
//! ones (cross-program invocations) right after the top-level instruction that made them.
//! Instructions are read from the message and `meta.innerInstructions`, never from the logs,
//! which a validator truncates.

use solana_commitment_config::CommitmentConfig;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client_api::config::RpcTransactionConfig;
use solana_signature::Signature;
use solana_transaction_status_client_types::option_serializer::OptionSerializer;
use solana_transaction_status_client_types::{
    EncodedConfirmedTransactionWithStatusMeta, EncodedTransaction, UiCompiledInstruction,
    UiInstruction, UiMessage, UiTransactionEncoding,
};

use crate::memo::Executed;

/// A transaction as the convention reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    /// Its slot.
    pub slot: u64,
    /// Its block time (Unix seconds), when the RPC knows it.
    pub block_time: Option<u64>,
    /// Whether it failed on chain.
    pub failed: bool,
    /// The message's keys, fee payer first, then the keys loaded from lookup tables (writable,
    /// then read-only), as instructions index them.
    pub keys: Vec<Pubkey>,
    /// Executed instructions in execution order.
    pub executed: Vec<Executed>,
}

/// Why a fetched transaction could not be read (the RPC's answer is not what a validator
/// sends; the watcher retries rather than pass over it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("transaction {signature}: {reason}")]
pub struct Unreadable {
    /// The transaction's signature.
    pub signature: String,
    /// What is wrong.
    pub reason: String,
}

fn key(text: &str) -> Result<Pubkey, String> {
    text.parse()
        .map_err(|e| format!("account key {text:?} is not a public key: {e:?}"))
}

/// Reads `fetched` (the answer for `signature`).
pub fn read(
    signature: &str,
    fetched: &EncodedConfirmedTransactionWithStatusMeta,
) -> Result<Read, Unreadable> {
    let unreadable = |reason: String| Unreadable {
        signature: signature.to_string(),
        reason,
    };
    let EncodedTransaction::Json(tx) = &fetched.transaction.transaction else {
        return Err(unreadable("not in the json encoding".into()));
    };
    let UiMessage::Raw(message) = &tx.message else {
        return Err(unreadable("a parsed message, not a raw one".into()));
    };
    let meta = fetched
        .transaction
        .meta
        .as_ref()
        .ok_or_else(|| unreadable("no meta".into()))?;
    let mut keys = message
        .account_keys
        .iter()
        .map(|k| key(k))
        .collect::<Result<Vec<_>, _>>()
        .map_err(unreadable)?;
    let signers = usize::from(message.header.num_required_signatures);
    let statics = keys.len();
    if let OptionSerializer::Some(loaded) = &meta.loaded_addresses {
        for k in loaded.writable.iter().chain(&loaded.readonly) {
            keys.push(key(k).map_err(unreadable)?);
        }
    }
    let resolve = |ix: &UiCompiledInstruction| -> Result<Executed, String> {
        let at = |i: u8| {
            keys.get(usize::from(i))
                .copied()
                .ok_or_else(|| format!("account index {i} past the {} keys", keys.len()))
        };
        let accounts = ix
            .accounts
            .iter()
            .map(|&i| Ok((at(i)?, usize::from(i) < signers.min(statics))))
            .collect::<Result<Vec<_>, String>>()?;
        let data = bs58::decode(&ix.data)
            .into_vec()
            .map_err(|e| format!("instruction data is not base58: {e}"))?;
        Ok(Executed {
            program: at(ix.program_id_index)?,
            accounts,
            data,
        })
    };
    let inner: &[_] = match &meta.inner_instructions {
        OptionSerializer::Some(inner) => inner,
        _ => &[],
    };
    let mut executed = Vec::new();
    for (index, ix) in message.instructions.iter().enumerate() {
        executed.push(resolve(ix).map_err(unreadable)?);
        for group in inner.iter().filter(|g| usize::from(g.index) == index) {
            for ix in &group.instructions {
                let UiInstruction::Compiled(ix) = ix else {
                    return Err(unreadable("a parsed inner instruction".into()));
                };
                executed.push(resolve(ix).map_err(unreadable)?);
            }
        }
    }
    Ok(Read {
        slot: fetched.slot,
        block_time: fetched.block_time.and_then(|t| u64::try_from(t).ok()),
        failed: meta.err.is_some(),
        keys,
        executed,
    })
}

impl Read {
    /// Every executed instruction as `(program id, data)`, in execution order: what
    /// [`aolink_primitives::answer::verify_answer_instructions`] reads of a delivery.
    pub fn program_data(&self) -> Vec<([u8; 32], &[u8])> {
        self.executed
            .iter()
            .map(|e| (e.program.to_bytes(), e.data.as_slice()))
            .collect()
    }
}

/// How a transaction is fetched to be [`read`]: `json` encoding, versioned messages, at
/// `commitment`.
pub fn fetch_config(commitment: CommitmentConfig) -> RpcTransactionConfig {
    RpcTransactionConfig {
        encoding: Some(UiTransactionEncoding::Json),
        commitment: Some(commitment),
        max_supported_transaction_version: Some(0),
    }
}

/// Fetches the transaction `signature` at `commitment` and reads it (one attempt; the
/// watcher wraps its own in retries).
pub async fn fetch(
    rpc: &RpcClient,
    signature: &str,
    commitment: CommitmentConfig,
) -> Result<Read, Unreadable> {
    let unreadable = |reason: String| Unreadable {
        signature: signature.to_string(),
        reason,
    };
    let parsed: Signature = signature
        .parse()
        .map_err(|_| unreadable("not a transaction signature".into()))?;
    let fetched = rpc
        .get_transaction_with_config(&parsed, fetch_config(commitment))
        .await
        .map_err(|e| unreadable(format!("getTransaction: {e}")))?;
    read(signature, &fetched)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELAY: Pubkey = Pubkey::new_from_array([3; 32]);

    /// A validator's `getTransaction` answer (json encoding) for a transaction whose first
    /// instruction is a program that called Memo by CPI and whose second is a top-level memo.
    fn answer(inner_index: u8) -> EncodedConfirmedTransactionWithStatusMeta {
        let [payer, gateway] = [
            Pubkey::new_from_array([1; 32]),
            Pubkey::new_from_array([2; 32]),
        ]
        .map(|k| k.to_string());
        let relay = RELAY.to_string();
        let memo = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr";
        let data = bs58::encode("hello").into_string();
        serde_json::from_value(serde_json::json!({
            "slot": 42,
            "blockTime": 1_700_000_000,
            "transaction": {
                "signatures": ["sig"],
                "message": {
                    "header": {"numRequiredSignatures": 1, "numReadonlySignedAccounts": 0, "numReadonlyUnsignedAccounts": 3},
                    "accountKeys": [payer, gateway, relay, memo],
                    "recentBlockhash": "11111111111111111111111111111111",
                    "instructions": [
                        {"programIdIndex": 2, "accounts": [0, 1], "data": data, "stackHeight": null},
                        {"programIdIndex": 3, "accounts": [0], "data": data, "stackHeight": null}
                    ]
                }
            },
            "meta": {
                "err": null, "status": {"Ok": null}, "fee": 5000,
                "preBalances": [1, 1, 1, 1], "postBalances": [1, 1, 1, 1],
                "innerInstructions": [{"index": inner_index, "instructions": [
                    {"programIdIndex": 3, "accounts": [0], "data": data, "stackHeight": 2}
                ]}],
                "logMessages": []
            }
        }))
        .unwrap()
    }

    #[test]
    fn inner_instructions_follow_the_instruction_that_made_them() {
        let read = read("sig", &answer(0)).unwrap();
        assert_eq!(
            (read.slot, read.block_time, read.failed),
            (42, Some(1_700_000_000), false)
        );
        let programs: Vec<String> = read
            .executed
            .iter()
            .map(|e| e.program.to_string())
            .collect();
        assert_eq!(
            programs,
            [
                RELAY.to_string().as_str(),
                "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",
                "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"
            ]
        );
        assert_eq!(read.executed[1].data, b"hello");
        assert_eq!(read.executed[1].accounts, vec![(read.keys[0], true)]);
        assert_eq!(
            read.executed[0].accounts[1],
            (read.keys[1], false),
            "the gateway does not sign"
        );
        let later = super::read("sig", &answer(1)).unwrap();
        assert_eq!(
            later.executed[2].program.to_string(),
            "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"
        );
        assert_eq!(later.executed[1].program, later.executed[2].program);
    }

    #[test]
    fn an_answer_that_is_not_a_validators_is_refused_by_name() {
        let mut bad = answer(0);
        if let EncodedTransaction::Json(tx) = &mut bad.transaction.transaction
            && let UiMessage::Raw(m) = &mut tx.message
        {
            m.instructions[0].program_id_index = 9;
        }
        let e = read("sig", &bad).unwrap_err();
        assert!(e.to_string().contains("account index 9"), "{e}");
        bad.transaction.meta = None;
        assert!(read("sig", &bad).unwrap_err().reason.contains("no meta"));
    }
}
