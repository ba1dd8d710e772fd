//! The chain behind the devnet's RPC: the real SVM (litesvm) executing every transaction, with
//! the slots, commitments, recent blockhashes and signature statuses a validator keeps.
//!
//! A slot is a block: transactions land in the slot being filled (the processed one), and the
//! slot advances on a timer or on demand. `confirmed` and `finalized` trail the processed slot
//! by a configurable lag. A blockhash stays valid for [`BLOCKHASH_VALIDITY`] slots, as on a real
//! cluster, which is why litesvm's own check (latest blockhash only) is off and this ledger
//! checks instead.

use std::collections::{HashMap, VecDeque};

use litesvm::LiteSVM;
use litesvm::types::{FailedTransactionMetadata, TransactionMetadata};
use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_message::VersionedMessage;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_error::TransactionError;

/// The fee of one signature (litesvm's and the cluster's default).
pub const LAMPORTS_PER_SIGNATURE: u64 = 5_000;

/// How many slots a blockhash can be used for (the cluster's `MAX_PROCESSING_AGE`).
pub const BLOCKHASH_VALIDITY: u64 = 150;

/// A commitment level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Commitment {
    /// The slot being filled.
    Processed,
    /// Voted on by a supermajority (here: `confirmed_lag` slots behind).
    Confirmed,
    /// Rooted (here: `finalized_lag` slots behind).
    Finalized,
}

impl Commitment {
    /// The name the RPC uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Commitment::Processed => "processed",
            Commitment::Confirmed => "confirmed",
            Commitment::Finalized => "finalized",
        }
    }

    /// A commitment named in a request (`recent`, `single` and `max` are the old names).
    pub fn parse(name: &str) -> Option<Commitment> {
        Some(match name {
            "processed" | "recent" => Commitment::Processed,
            "confirmed" | "single" | "singleGossip" => Commitment::Confirmed,
            "finalized" | "max" | "root" => Commitment::Finalized,
            _ => return None,
        })
    }
}

/// How far behind the processed slot the other commitments are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lag {
    /// Slots from processed to confirmed.
    pub confirmed: u64,
    /// Slots from processed to finalized (at least `confirmed`).
    pub finalized: u64,
}

impl Default for Lag {
    fn default() -> Self {
        Lag {
            confirmed: 1,
            finalized: 2,
        }
    }
}

/// A transaction that landed in a slot.
#[derive(Clone, Debug)]
pub struct Landed {
    /// Its signature.
    pub signature: Signature,
    /// Its slot.
    pub slot: u64,
    /// Its slot's time (Unix seconds).
    pub block_time: i64,
    /// The lamports of its account keys before and after it.
    pub pre_balances: Vec<u64>,
    /// See `pre_balances`.
    pub post_balances: Vec<u64>,
    /// Why it failed, when it did (it still landed: its fee was charged).
    pub err: Option<TransactionError>,
    /// The transaction (none for an airdrop: litesvm's faucet does not hand it out).
    pub transaction: Option<VersionedTransaction>,
    /// Its place in landing order (none for an airdrop, which is not listed by address).
    pub position: Option<usize>,
    /// What the SVM reported (logs, inner instructions, fee, compute units).
    pub meta: TransactionMetadata,
}

/// Why a transaction was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Its blockhash is unknown or older than [`BLOCKHASH_VALIDITY`] slots.
    #[error("Blockhash not found")]
    BlockhashNotFound,
    /// Its signature has landed already.
    #[error("This transaction has already been processed")]
    AlreadyProcessed,
    /// Preflight simulation failed.
    #[error("Transaction simulation failed: {}", .0.err)]
    Simulation(Box<FailedTransactionMetadata>),
    /// It has no signature.
    #[error("the transaction has no signature")]
    Unsigned,
    /// It loads accounts through address lookup tables, or is a message version this devnet
    /// does not take.
    #[error("{0}")]
    Unsupported(&'static str),
}

/// The devnet's chain.
pub struct Ledger {
    svm: LiteSVM,
    slot: u64,
    lag: Lag,
    /// Blockhashes of the recent slots, oldest first, with the slot each was made for.
    recent: VecDeque<(Hash, u64)>,
    landed: HashMap<Signature, Landed>,
    /// Landed transactions in landing order.
    order: Vec<Signature>,
    /// For each account key, the positions in `order` of the transactions naming it.
    by_address: HashMap<Pubkey, Vec<usize>>,
    /// When the slot being filled was opened (Unix seconds).
    slot_time: i64,
    /// The cluster's identity: fresh for every ledger, so a node's data directory from an
    /// earlier devnet (whose signatures this one never had) is refused as another cluster.
    genesis: Hash,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Ledger {
    /// A fresh chain at slot 1 (the genesis blockhash is slot 0's).
    pub fn new(lag: Lag) -> Ledger {
        // The SVM's own history only tells whether a failed transaction was included (its
        // fee payer could pay); the ledger keeps every landed transaction itself.
        let mut svm = LiteSVM::new()
            .with_blockhash_check(false)
            .with_transaction_history(64);
        crate::relay::load(&mut svm);
        let first_blockhash = svm.latest_blockhash();
        let genesis = Hash::new_from_array(Keypair::new().pubkey().to_bytes());
        let mut ledger = Ledger {
            svm,
            slot: 0,
            lag: Lag {
                confirmed: lag.confirmed,
                finalized: lag.finalized.max(lag.confirmed),
            },
            recent: VecDeque::from([(first_blockhash, 0)]),
            landed: HashMap::new(),
            order: Vec::new(),
            by_address: HashMap::new(),
            slot_time: unix_now(),
            genesis,
        };
        ledger.advance();
        ledger
    }

    /// The genesis hash (what identifies the cluster).
    pub fn genesis_hash(&self) -> Hash {
        self.genesis
    }

    /// The newest slot at `commitment`.
    pub fn slot(&self, commitment: Commitment) -> u64 {
        match commitment {
            Commitment::Processed => self.slot,
            Commitment::Confirmed => self.slot.saturating_sub(self.lag.confirmed),
            Commitment::Finalized => self.slot.saturating_sub(self.lag.finalized),
        }
    }

    /// The highest commitment slot `slot` has reached.
    pub fn commitment_of(&self, slot: u64) -> Commitment {
        if slot <= self.slot(Commitment::Finalized) {
            Commitment::Finalized
        } else if slot <= self.slot(Commitment::Confirmed) {
            Commitment::Confirmed
        } else {
            Commitment::Processed
        }
    }

    /// Closes the slot being filled and opens the next, with a new blockhash.
    pub fn advance(&mut self) {
        self.slot += 1;
        self.slot_time = unix_now();
        self.svm.warp_to_slot(self.slot);
        self.svm.expire_blockhash();
        self.recent
            .push_back((self.svm.latest_blockhash(), self.slot));
        while self
            .recent
            .front()
            .is_some_and(|(_, slot)| slot + BLOCKHASH_VALIDITY < self.slot)
        {
            self.recent.pop_front();
        }
    }

    /// The newest blockhash at `commitment` and the last block height it is valid for.
    pub fn latest_blockhash(&self, commitment: Commitment) -> (Hash, u64) {
        let at = self.slot(commitment);
        self.recent
            .iter()
            .rev()
            .find(|(_, slot)| *slot <= at)
            .or(self.recent.front())
            .map(|(hash, slot)| (*hash, slot + BLOCKHASH_VALIDITY))
            .unwrap_or((Hash::default(), BLOCKHASH_VALIDITY))
    }

    /// Whether `hash` may still be used by a transaction landing now.
    pub fn is_blockhash_valid(&self, hash: &Hash) -> bool {
        self.recent.iter().any(|(h, _)| h == hash)
    }

    /// Lamports held by `address` (in the processed state).
    pub fn balance(&self, address: &Pubkey) -> u64 {
        self.svm.get_balance(address).unwrap_or(0)
    }

    /// The account at `address` (in the processed state).
    pub fn account(&self, address: &Pubkey) -> Option<solana_account::Account> {
        self.svm.get_account(address)
    }

    /// The fee of a message with `signatures` required signatures.
    pub fn fee(&self, signatures: u8) -> u64 {
        u64::from(signatures) * LAMPORTS_PER_SIGNATURE
    }

    /// Runs `tx` against the processed state without keeping anything: its error, if it
    /// fails, and what the SVM reported.
    pub fn simulate(
        &self,
        tx: VersionedTransaction,
    ) -> (Option<TransactionError>, TransactionMetadata) {
        match self.svm.simulate_transaction(tx) {
            Ok(info) => (None, info.meta),
            Err(failed) => (Some(failed.err), failed.meta),
        }
    }

    /// The rent-exempt minimum for an account of `len` bytes.
    pub fn rent_exempt_minimum(&self, len: usize) -> u64 {
        self.svm.minimum_balance_for_rent_exemption(len)
    }

    /// Gives `address` `lamports` from the faucet.
    pub fn airdrop(&mut self, address: &Pubkey, lamports: u64) -> Result<Signature, SendError> {
        match self.svm.airdrop(address, lamports) {
            Ok(meta) => {
                let signature = meta.signature;
                self.landed.insert(
                    signature,
                    Landed {
                        signature,
                        slot: self.slot,
                        block_time: self.slot_time,
                        pre_balances: Vec::new(),
                        post_balances: Vec::new(),
                        err: None,
                        transaction: None,
                        position: None,
                        meta,
                    },
                );
                Ok(signature)
            }
            Err(failed) => Err(SendError::Simulation(Box::new(failed))),
        }
    }

    /// Executes `tx` in the slot being filled. With `preflight`, a transaction that would fail
    /// is refused without landing (as the RPC's preflight simulation does); without, it lands
    /// failed when it could be included (its fee payer could pay), and is dropped otherwise.
    /// litesvm does not charge a failed transaction's fee, so a failed transaction leaves
    /// balances as they were (a real cluster keeps the fee).
    pub fn send(
        &mut self,
        tx: VersionedTransaction,
        preflight: bool,
    ) -> Result<Signature, SendError> {
        let signature = *tx.signatures.first().ok_or(SendError::Unsigned)?;
        if self.landed.contains_key(&signature) {
            return Err(SendError::AlreadyProcessed);
        }
        match &tx.message {
            VersionedMessage::Legacy(_) => {}
            VersionedMessage::V0(m) if m.address_table_lookups.is_empty() => {}
            VersionedMessage::V0(_) => {
                return Err(SendError::Unsupported(
                    "address lookup tables are not supported by this devnet",
                ));
            }
            _ => {
                return Err(SendError::Unsupported(
                    "only legacy and v0 transactions are supported",
                ));
            }
        }
        if !self.is_blockhash_valid(tx.message.recent_blockhash()) {
            return Err(SendError::BlockhashNotFound);
        }
        if preflight && let Err(failed) = self.svm.simulate_transaction(tx.clone()) {
            return Err(SendError::Simulation(Box::new(failed)));
        }
        let keys = tx.message.static_account_keys().to_vec();
        let pre_balances: Vec<u64> = keys.iter().map(|k| self.balance(k)).collect();
        let (err, meta) = match self.svm.send_transaction(tx.clone()) {
            Ok(meta) => (None, meta),
            Err(failed) => {
                if self.svm.get_transaction(&signature).is_none() {
                    // Not included: a real cluster drops it too.
                    return Ok(signature);
                }
                (Some(failed.err), failed.meta)
            }
        };
        let post_balances = keys.iter().map(|k| self.balance(k)).collect();
        let position = self.order.len();
        self.order.push(signature);
        for key in keys {
            let list = self.by_address.entry(key).or_default();
            if list.last() != Some(&position) {
                list.push(position);
            }
        }
        self.landed.insert(
            signature,
            Landed {
                signature,
                slot: self.slot,
                block_time: self.slot_time,
                pre_balances,
                post_balances,
                err,
                transaction: Some(tx),
                position: Some(position),
                meta,
            },
        );
        Ok(signature)
    }

    /// The transactions naming `address`, newest first, at `commitment`: after `before`
    /// (exclusive) when given, down to `until` (exclusive) when given, at most `limit`. An
    /// unknown `before` lists nothing, as a validator.
    pub fn signatures_for(
        &self,
        address: &Pubkey,
        before: Option<&Signature>,
        until: Option<&Signature>,
        limit: usize,
        commitment: Commitment,
    ) -> Vec<&Landed> {
        let at = self.slot(commitment);
        let Some(positions) = self.by_address.get(address) else {
            return Vec::new();
        };
        let position_of = |s: &Signature| self.landed.get(s).and_then(|l| l.position);
        let start = match before {
            Some(b) => match position_of(b) {
                Some(p) => p,
                None => return Vec::new(),
            },
            None => usize::MAX,
        };
        let stop = until.and_then(position_of);
        positions
            .iter()
            .rev()
            .filter(|p| **p < start)
            .take_while(|p| stop.is_none_or(|s| **p > s))
            .filter_map(|p| self.landed.get(&self.order[*p]))
            .filter(|l| l.slot <= at)
            .take(limit)
            .collect()
    }

    /// Where `signature` landed, if it did.
    pub fn landed(&self, signature: &Signature) -> Option<&Landed> {
        self.landed.get(signature)
    }
}
