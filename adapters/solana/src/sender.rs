//! Delivers attested answers to a Solana dApp: one transaction holding an Ed25519-program
//! instruction that verifies the quorum's signatures over the answer's [`SolanaPayload`], and a
//! memo instruction carrying the answer itself ([`AnswerMemo`]), with the dApp's address (the
//! request's sender) as an extra read-only key, so `getSignaturesForAddress(dApp)` lists it.
//! The transaction lands only if every signature verifies: the chain itself checks them.
//!
//! A transaction is tied to its recent blockhash. It is re-sent as it is until that blockhash
//! expires, and only then re-signed with a fresh one, never before: two live transactions
//! for one answer could both land. There is no gateway program keeping the delivered
//! requests, so whether an answer is on chain already is read from the dApp's own history:
//! a successful transaction with this answer's memo whose signatures are a quorum of a trusted
//! set ([`verify_answer_instructions`]).
//!
//! ```toml
//! [[solana]]
//! # ...
//! [solana.delivery]
//! key_file = "/etc/aolink/solana-relayer.json"   # the fee payer, as solana-keygen writes it
//! ```

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use aolink_primitives::adapter::ConfigError;
use aolink_primitives::answer::{
    Answer, AnswerMemo, Attestation, ED25519_PROGRAM, Ed25519SignerSet, SOLANA_ANSWER_MEMO_PREFIX,
    SolanaPayload, ed25519_instruction_data, verify_answer_instructions,
};
use aolink_primitives::delivery::{
    AnswerSender, Landing, Prepared, SendError, SendFuture, Submission,
};
use aolink_primitives::secret::read_private_file;
use base64::Engine;
use serde::Deserialize;
use solana_commitment_config::CommitmentConfig;
use solana_hash::Hash;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_message::Message;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client::rpc_client::GetConfirmedSignaturesForAddress2Config;
use solana_rpc_client_api::config::RpcSimulateTransactionConfig;
use solana_rpc_client_api::request::RpcRequest;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;

use crate::memo::MEMO_PROGRAMS;
use crate::transaction;

/// The environment variable that holds the fee payer's key (overrides `key_file`).
pub const RELAYER_KEY_ENV: &str = "AOLINK_SOLANA_RELAYER_KEY";

/// The largest transaction a cluster takes (`PACKET_DATA_SIZE`).
pub const MAX_TRANSACTION_BYTES: usize = 1_232;

/// How many of the dApp's newest transactions are searched for an earlier delivery.
const HISTORY_SEARCHED: usize = 1_000;

/// `[solana.delivery]`: how answers are sent back to this cluster.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// A file (mode 0600) holding the fee payer's key: a `solana-keygen` JSON array of 64
    /// bytes, or a 32-byte secret as hex. The environment variable `AOLINK_SOLANA_RELAYER_KEY`
    /// (the same formats) overrides it.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

impl DeliveryConfig {
    /// Checks the section; `at` is where it sits (`solana[0].delivery`).
    pub fn check(&self, at: &str) -> Result<(), ConfigError> {
        if self.key_file.is_none() && std::env::var(RELAYER_KEY_ENV).is_err() {
            return Err(ConfigError {
                field: format!("{at}.key_file"),
                reason: format!(
                    "needed (or set {RELAYER_KEY_ENV}): the account that pays for deliveries"
                ),
            });
        }
        Ok(())
    }

    /// The fee payer, from the environment or the key file.
    pub fn keypair(&self) -> Result<Keypair, String> {
        match (std::env::var(RELAYER_KEY_ENV), &self.key_file) {
            (Ok(text), _) => keypair_of(&text, RELAYER_KEY_ENV),
            (Err(_), Some(path)) => {
                let text = read_private_file(path).map_err(|e| e.to_string())?;
                keypair_of(&text, &path.display().to_string())
            }
            (Err(_), None) => Err(format!("needed (or set {RELAYER_KEY_ENV})")),
        }
    }
}

/// A key pair from `solana-keygen`'s JSON array of 64 bytes, or from a 32-byte hex secret.
pub fn keypair_of(text: &str, source: &str) -> Result<Keypair, String> {
    let text = text.trim();
    if text.starts_with('[') {
        let bytes: Vec<u8> = serde_json::from_str(text)
            .map_err(|e| format!("key {source}: not a JSON array of bytes ({e})"))?;
        return Keypair::try_from(bytes.as_slice())
            .map_err(|e| format!("key {source}: not a key pair of 64 bytes ({e})"));
    }
    let secret = aolink_primitives::secret::secret_of(text, source).map_err(|e| e.to_string())?;
    Ok(Keypair::new_from_array(secret))
}

/// Sends answers to the dApps of one Solana cluster.
pub struct SolanaSender {
    chain_id: String,
    rpc: Arc<RpcClient>,
    payer: Keypair,
    commitment: CommitmentConfig,
    poll_interval_ms: u64,
    sets: RwLock<Vec<Ed25519SignerSet>>,
}

fn retry(what: &str, e: impl std::fmt::Display) -> SendError {
    SendError::Retry(format!("{what}: {e}"))
}

fn refused(e: impl std::fmt::Display) -> SendError {
    SendError::Refused(e.to_string())
}

fn ed25519_program() -> Pubkey {
    solana_pubkey::pubkey!("Ed25519SigVerify111111111111111111111111111")
}

impl SolanaSender {
    /// A sender over `rpc` (the cluster's RPC failover), paying with `payer`, following
    /// transactions to `commitment` every `poll_interval_ms`.
    pub fn new(
        chain_id: String,
        rpc: Arc<RpcClient>,
        payer: Keypair,
        commitment: CommitmentConfig,
        poll_interval_ms: u64,
    ) -> Arc<SolanaSender> {
        debug_assert_eq!(ed25519_program().to_string(), ED25519_PROGRAM);
        Arc::new(SolanaSender {
            chain_id,
            rpc,
            payer,
            commitment,
            poll_interval_ms,
            sets: RwLock::new(Vec::new()),
        })
    }

    /// The delivery of `answer` with `signatures` of `epoch`'s set, signed with `blockhash`.
    pub fn transaction(
        &self,
        answer: &Answer,
        epoch: u64,
        signatures: &[Attestation],
        blockhash: Hash,
    ) -> Result<Transaction, SendError> {
        let payload = answer.payload(epoch).map_err(refused)?;
        let signed = SolanaPayload::from_payload(&payload)
            .map_err(refused)?
            .encode();
        let mut pairs = Vec::with_capacity(signatures.len());
        for a in signatures {
            let key: [u8; 32] = bs58::decode(&a.signer)
                .into_vec()
                .ok()
                .and_then(|k| k.try_into().ok())
                .ok_or_else(|| refused(format!("signer {:?} is not a public key", a.signer)))?;
            let signature: [u8; 64] = a
                .signature_bytes()
                .map_err(refused)?
                .try_into()
                .map_err(|_| refused(format!("{}'s signature is not 64 bytes", a.signer)))?;
            pairs.push((key, signature));
        }
        let target: Pubkey = answer
            .target
            .parse()
            .map_err(|_| refused(format!("target {:?} is not a public key", answer.target)))?;
        let verify = Instruction::new_with_bytes(
            ed25519_program(),
            &ed25519_instruction_data(&signed, &pairs),
            vec![],
        );
        let memo = Instruction::new_with_bytes(
            MEMO_PROGRAMS[1],
            AnswerMemo::of(answer).encode().as_bytes(),
            vec![],
        );
        let mut message =
            Message::new_with_blockhash(&[verify, memo], Some(&self.payer.pubkey()), &blockhash);
        // The Memo program wants every account it is given to sign, so the dApp is an extra
        // read-only key of the message, as a Solana Pay reference.
        message.account_keys.push(target);
        message.header.num_readonly_unsigned_accounts += 1;
        let tx = Transaction::new(&[&self.payer], message, blockhash);
        let size = wire(&tx)?.len();
        if size > MAX_TRANSACTION_BYTES {
            return Err(refused(format!(
                "the delivery is {size} bytes, more than a Solana transaction's \
                 {MAX_TRANSACTION_BYTES}: the answer's data and tags are too long for Solana"
            )));
        }
        Ok(tx)
    }

    /// Whether the transaction `signature` delivered `answer` with a trusted quorum.
    async fn delivers(&self, signature: &str, answer: &Answer) -> Result<bool, SendError> {
        let read = transaction::fetch(&self.rpc, signature, self.commitment)
            .await
            .map_err(|e| retry("reading a delivery", e))?;
        if read.failed {
            return Ok(false);
        }
        let instructions = read.program_data();
        let sets = self.sets.read().map(|s| s.clone()).unwrap_or_default();
        Ok(match verify_answer_instructions(&instructions, &sets) {
            Ok((payload, _)) => payload.answer_id() == answer.id(),
            Err(e) => {
                tracing::warn!(tx = signature, error = %e, "a memo names this answer without a trusted quorum");
                false
            }
        })
    }
}

/// A transaction's wire bytes.
fn wire(tx: &Transaction) -> Result<Vec<u8>, SendError> {
    bincode::serialize(tx).map_err(|e| refused(format!("encoding the delivery: {e}")))
}

impl AnswerSender for SolanaSender {
    fn chain_id(&self) -> String {
        self.chain_id.clone()
    }

    fn account(&self) -> String {
        self.payer.pubkey().to_string()
    }

    fn delivered<'a>(&'a self, answer: &'a Answer) -> SendFuture<'a, bool> {
        Box::pin(async move {
            let target: Pubkey = answer
                .target
                .parse()
                .map_err(|_| refused(format!("target {:?} is not a public key", answer.target)))?;
            let listed = self
                .rpc
                .get_signatures_for_address_with_config(
                    &target,
                    GetConfirmedSignaturesForAddress2Config {
                        before: None,
                        until: None,
                        limit: Some(HISTORY_SEARCHED),
                        commitment: Some(self.commitment),
                    },
                )
                .await
                .map_err(|e| retry("reading the dApp's transactions", e))?;
            let marker = format!("{SOLANA_ANSWER_MEMO_PREFIX}{}:", answer.id());
            for entry in listed {
                let names_it = entry.memo.as_deref().is_some_and(|m| m.contains(&marker));
                if entry.err.is_none()
                    && names_it
                    && self.delivers(&entry.signature, answer).await?
                {
                    return Ok(true);
                }
            }
            Ok(false)
        })
    }

    fn chain_nonce(&self) -> SendFuture<'_, Option<u64>> {
        Box::pin(async { Ok(None) })
    }

    fn prepare<'a>(
        &'a self,
        answer: &'a Answer,
        epoch: u64,
        signatures: &'a [Attestation],
        _nonce: Option<u64>,
        previous: Option<&'a Submission>,
        bump: bool,
    ) -> SendFuture<'a, Prepared> {
        Box::pin(async move {
            let kept = previous
                .filter(|_| !bump)
                .and_then(|p| Some((p.blockhash.as_deref()?, p.last_valid_block_height?)));
            let (blockhash, last_valid) = match kept {
                Some((hash, height)) => (
                    hash.parse::<Hash>().map_err(|_| {
                        refused(format!("recorded blockhash {hash:?} is not a hash"))
                    })?,
                    height,
                ),
                None => self
                    .rpc
                    .get_latest_blockhash_with_commitment(self.commitment)
                    .await
                    .map_err(|e| retry("reading a recent blockhash", e))?,
            };
            let tx = self.transaction(answer, epoch, signatures, blockhash)?;
            let raw = wire(&tx)?;
            if kept.is_none() {
                self.simulate(&raw).await?;
            }
            let signature = tx.signatures[0].to_string();
            let mut txs = previous.map(|p| p.txs.clone()).unwrap_or_default();
            if !txs.contains(&signature) {
                txs.push(signature);
            }
            Ok(Prepared {
                submission: Submission {
                    txs,
                    blockhash: Some(blockhash.to_string()),
                    last_valid_block_height: Some(last_valid),
                    // Stamped by the pipeline when it records a new transaction.
                    sent_ms: previous.map_or(0, |p| p.sent_ms),
                    ..Submission::default()
                },
                raw,
            })
        })
    }

    fn broadcast<'a>(&'a self, raw: &'a [u8]) -> SendFuture<'a, ()> {
        Box::pin(async move {
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
            // Checked by the simulation when it was prepared; a re-send must not be refused
            // by a preflight that sees it processed already.
            let config = serde_json::json!({
                "encoding": "base64",
                "skipPreflight": true,
                "maxRetries": 0,
            });
            match self
                .rpc
                .send::<String>(
                    RpcRequest::SendTransaction,
                    serde_json::json!([encoded, config]),
                )
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.to_string().contains("already been processed") => Ok(()),
                Err(e) => Err(retry("sending the delivery", e)),
            }
        })
    }

    fn landing<'a>(&'a self, submission: &'a Submission) -> SendFuture<'a, Landing> {
        Box::pin(async move {
            let mut signatures = Vec::with_capacity(submission.txs.len());
            for tx in &submission.txs {
                signatures.push(tx.parse::<Signature>().map_err(|_| {
                    refused(format!("recorded transaction {tx:?} is not a signature"))
                })?);
            }
            let statuses = self
                .rpc
                .get_signature_statuses_with_history(&signatures)
                .await
                .map_err(|e| retry("reading the deliveries' statuses", e))?
                .value;
            let mut seen = false;
            for (tx, status) in submission.txs.iter().zip(statuses).rev() {
                let Some(status) = status else { continue };
                seen = true;
                if !status.satisfies_commitment(self.commitment) {
                    continue;
                }
                return Ok(match status.err {
                    None => Landing::Final { tx: tx.clone() },
                    Some(err) => Landing::Failed {
                        tx: tx.clone(),
                        reason: format!("the delivery failed on chain: {err}"),
                    },
                });
            }
            if seen {
                return Ok(Landing::Waiting);
            }
            // None landed: once the newest blockhash is past its last valid height at the
            // followed commitment, none of them ever can.
            let Some(last_valid) = submission.last_valid_block_height else {
                return Ok(Landing::Expired);
            };
            let height = self
                .rpc
                .get_block_height_with_commitment(self.commitment)
                .await
                .map_err(|e| retry("reading the block height", e))?;
            Ok(if height > last_valid {
                Landing::Expired
            } else {
                Landing::Waiting
            })
        })
    }

    /// A transaction is replaced only when its blockhash expires ([`Landing::Expired`]).
    fn resubmit_after_ms(&self) -> u64 {
        u64::MAX
    }

    fn poll_interval_ms(&self) -> u64 {
        self.poll_interval_ms
    }

    fn trust_signer_sets(&self, sets: Vec<Ed25519SignerSet>) {
        if let Ok(mut known) = self.sets.write() {
            *known = sets;
        }
    }
}

impl SolanaSender {
    /// Runs the delivery against the chain's current state without sending it: a failing
    /// Ed25519 verification or memo is the chain's refusal.
    async fn simulate(&self, raw: &[u8]) -> Result<(), SendError> {
        let tx: Transaction = bincode::deserialize(raw).map_err(refused)?;
        let config = RpcSimulateTransactionConfig {
            sig_verify: true,
            commitment: Some(self.commitment),
            ..RpcSimulateTransactionConfig::default()
        };
        let result = self
            .rpc
            .simulate_transaction_with_config(&tx, config)
            .await
            .map_err(|e| retry("simulating the delivery", e))?
            .value;
        match result.err {
            None => Ok(()),
            // The payer's funds or a blockhash the RPC has not seen yet: passing troubles.
            Some(err) if is_passing(&err.to_string()) => Err(retry("simulating the delivery", err)),
            Some(err) => Err(refused(format!(
                "the chain refuses the delivery: {err}{}",
                result
                    .logs
                    .map(|l| format!(" (logs: {})", l.join(" | ")))
                    .unwrap_or_default()
            ))),
        }
    }
}

/// Whether a simulation's error may pass on its own.
fn is_passing(err: &str) -> bool {
    let err = err.to_ascii_lowercase();
    ["insufficient", "blockhash", "account not found", "fee"]
        .iter()
        .any(|word| err.contains(word))
}
