//! The gateway convention, version 1: a Solana dApp calls an AO process with an SPL Memo
//! instruction whose text is `aolink:v1:` followed by a JSON object
//!
//! ```json
//! {"process": "<AO process id, 43 characters>", "action": "Ping", "data": "hello", "tags": {"Name": "value"}}
//! ```
//!
//! (`data` and `tags` optional), in a transaction that carries the gateway's address as a
//! read-only, non-signer account key (the Memo program wants every account it is given to
//! sign, so the key is an extra key of the message, as Solana Pay adds its `reference` keys;
//! `getSignaturesForAddress(gateway)` then finds the transaction). The sender is the memo's
//! first signer, or the fee payer when the memo names no account. Memos reached through a
//! program's cross-program invocation count as well as top-level ones: the watcher hands
//! [`calls`] every instruction, inner ones included, in execution order.

use std::collections::BTreeMap;

use aolink_primitives::chain::{ChainEvent, EventFields, REQUEST_SENT, Request};
use serde::Deserialize;
use solana_pubkey::Pubkey;

/// What a memo starts with to be a call.
pub const PREFIX: &str = "aolink:v1:";

/// The SPL Memo programs (v1, and v2 onwards at one address).
pub const MEMO_PROGRAMS: [Pubkey; 2] = [
    solana_pubkey::pubkey!("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo"),
    solana_pubkey::pubkey!("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"),
];

/// One executed instruction, as the watcher reads it from a transaction: top-level ones and
/// the inner ones of each, in execution order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executed {
    /// The program it ran.
    pub program: Pubkey,
    /// Its accounts, each with whether it signed the transaction.
    pub accounts: Vec<(Pubkey, bool)>,
    /// Its data.
    pub data: Vec<u8>,
}

/// A call's JSON, as the dApp writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    process: String,
    action: String,
    #[serde(default)]
    data: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// A call found in a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Its place among the transaction's executed instructions (the event's `logIndex`).
    pub index: u64,
    /// Who called: the memo's first signer, or the fee payer.
    pub sender: Pubkey,
    /// The AO process called.
    pub process: String,
    /// Its `Action`.
    pub action: String,
    /// Its data.
    pub data: String,
    /// The tags the caller set.
    pub tags: BTreeMap<String, String>,
}

/// A memo that starts with [`PREFIX`] but is not a call; reported, never delivered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("instruction {index}: {reason}")]
pub struct Malformed {
    /// The instruction's place.
    pub index: u64,
    /// What is wrong.
    pub reason: String,
}

/// What a transaction holds for the gateway: its calls, and the memos that tried to be calls.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// Well-formed calls, in execution order.
    pub calls: Vec<Call>,
    /// `aolink:v1:` memos that are not calls.
    pub malformed: Vec<Malformed>,
}

/// The calls in a transaction whose message keys are `keys` (fee payer first) and whose
/// executed instructions are `executed`. Nothing when the gateway is not among the keys; memos
/// without the prefix are someone else's and are skipped.
pub fn calls(gateway: &Pubkey, keys: &[Pubkey], executed: &[Executed]) -> Found {
    let mut found = Found::default();
    if !keys.contains(gateway) {
        return found;
    }
    for (index, ix) in (0u64..).zip(executed) {
        if !MEMO_PROGRAMS.contains(&ix.program) {
            continue;
        }
        let Some(json) = std::str::from_utf8(&ix.data)
            .ok()
            .and_then(|text| text.strip_prefix(PREFIX))
        else {
            continue;
        };
        let malformed = |reason: String| Malformed { index, reason };
        let written: Written = match serde_json::from_str(json) {
            Ok(w) => w,
            Err(e) => {
                found.malformed.push(malformed(format!("not a call: {e}")));
                continue;
            }
        };
        let sender = ix
            .accounts
            .iter()
            .find(|(_, signed)| *signed)
            .map(|(key, _)| *key)
            .or_else(|| keys.first().copied());
        let Some(sender) = sender else {
            found.malformed.push(malformed("no signer".into()));
            continue;
        };
        found.calls.push(Call {
            index,
            sender,
            process: written.process,
            action: written.action,
            data: written.data,
            tags: written.tags,
        });
    }
    found
}

impl Call {
    /// The call as the Chain-Event the gateway's mirror reads (`RequestSent`, as an EVM
    /// gateway's call): `blockNumber` is the slot, `txHash` the signature, `logIndex` the
    /// instruction's place, and the request id is `<signature>:<index>`. Solana blocks are
    /// read at a commitment that does not roll back, so `blockHash` is left empty.
    pub fn chain_event(&self, signature: &str, slot: u64, block_time: Option<u64>) -> ChainEvent {
        ChainEvent {
            block_hash: String::new(),
            block_number: slot,
            block_timestamp: block_time,
            event: REQUEST_SENT.into(),
            fields: EventFields::Request(Request {
                action: self.action.clone(),
                data: self.data.clone(),
                data_encoding: None,
                process: self.process.clone(),
                request_id: format!("{signature}:{}", self.index),
                sender: self.sender.to_string(),
                tags: self.tags.clone(),
            }),
            log_index: self.index,
            tx_hash: signature.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROCESS: &str = "PROCESSppppppppppppppppppppppppppppppppppp";

    fn memo(text: &str, signer: Option<Pubkey>) -> Executed {
        Executed {
            program: MEMO_PROGRAMS[1],
            accounts: signer.into_iter().map(|s| (s, true)).collect(),
            data: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_memo_call_names_its_process_action_data_tags_and_signer() {
        let (payer, signer, gateway) = (
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
        );
        let text = format!(
            r#"aolink:v1:{{"process":"{PROCESS}","action":"Ping","data":"hi","tags":{{"Note":"n"}}}}"#
        );
        let other_program = Executed {
            program: Pubkey::new_unique(),
            accounts: vec![],
            data: vec![1],
        };
        let found = calls(
            &gateway,
            &[payer, signer, gateway],
            &[
                other_program,
                memo(&text, Some(signer)),
                memo("just a note", Some(signer)),
            ],
        );
        assert!(found.malformed.is_empty());
        assert_eq!(found.calls.len(), 1, "memos without the prefix are skipped");
        let call = &found.calls[0];
        assert_eq!((call.index, call.sender), (1, signer));
        assert_eq!((call.action.as_str(), call.data.as_str()), ("Ping", "hi"));
        assert_eq!(call.tags.get("Note").map(String::as_str), Some("n"));
        let event = call.chain_event("SIG", 9, Some(1_700_000_000));
        assert_eq!(event.key(), "SIG:1", "a base58 signature keeps its case");
        assert_eq!(event.check(), Ok(()));
        let request = event.fields.request().unwrap();
        assert_eq!(request.request_id, "SIG:1");
        assert_eq!(request.sender, signer.to_string());
        assert_eq!(request.process, PROCESS);
    }

    #[test]
    fn without_the_gateway_key_nothing_is_a_call_and_bad_calls_are_reported() {
        let (payer, gateway) = (Pubkey::new_unique(), Pubkey::new_unique());
        let good = format!(r#"aolink:v1:{{"process":"{PROCESS}","action":"Ping"}}"#);
        assert_eq!(
            calls(&gateway, &[payer], &[memo(&good, None)]),
            Found::default()
        );
        let found = calls(
            &gateway,
            &[payer, gateway],
            &[
                memo("aolink:v1:not json", None),
                memo(r#"aolink:v1:{"process":"x"}"#, None),
                memo(&good, None),
            ],
        );
        assert_eq!(found.malformed.len(), 2);
        assert_eq!(found.malformed[0].index, 0);
        assert!(
            found.malformed[1].reason.contains("action"),
            "{:?}",
            found.malformed[1]
        );
        assert_eq!(found.calls.len(), 1);
        assert_eq!(
            found.calls[0].sender, payer,
            "a memo naming no account: the fee payer"
        );
    }
}
