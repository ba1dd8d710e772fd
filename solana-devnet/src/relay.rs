//! The memo relay: a builtin program standing in for a dApp's on-chain program that calls AO by
//! a cross-program invocation of the SPL Memo program, so the real SVM records the memo as an
//! inner instruction (there is no SBF toolchain here; a builtin makes a real CPI all the same).
//! Also the transactions of the gateway memo convention, top-level and relayed.

use solana_hash::Hash;
use solana_instruction::error::InstructionError;
use solana_instruction::{AccountMeta, Instruction};
use solana_keypair::Keypair;
use solana_message::Message;
use solana_program_runtime::declare_process_instruction;
use solana_program_runtime::solana_sbpf::program::BuiltinFunctionDefinition;
use solana_program_runtime::stable_log;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use solana_transaction::Transaction;

/// The SPL Memo program (v2 and later), loaded in every ledger.
pub const MEMO_PROGRAM: Pubkey =
    Pubkey::from_str_const("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");

/// The memo relay's program id: the SHA-256 of `aolink-solana-devnet:memo-relay`, in base58
/// (no key pair exists for it). Loaded in every ledger.
pub const MEMO_RELAY: Pubkey =
    Pubkey::from_str_const("5Z1okhiCSedTzg76ex5j4aGKodXHpk5bijhDV3E1ZCSm");

/// Compute units the relay itself takes (the memo it invokes takes its own).
const RELAY_COMPUTE_UNITS: u64 = 500;

declare_process_instruction!(MemoRelay, RELAY_COMPUTE_UNITS, |invoke_context| {
    // The instruction data is the memo; the memo's accounts are the relay's signer accounts,
    // in order, read-only and signing; every other account (the gateway, the Memo program
    // itself, which a CPI needs among the caller's accounts) stays behind.
    let (data, signers) = {
        let context = invoke_context
            .transaction_context
            .get_current_instruction_context()?;
        let mut signers = Vec::new();
        for index in 0..context.get_number_of_instruction_accounts() {
            if context.is_instruction_account_signer(index)? {
                signers.push(*context.get_key_of_instruction_account(index)?);
            }
        }
        (context.get_instruction_data().to_vec(), signers)
    };
    if signers.is_empty() {
        stable_log::program_log(
            &invoke_context.get_log_collector(),
            "memo relay: no account signs this instruction; the memo needs a signer",
        );
        return Err(InstructionError::MissingRequiredSignature);
    }
    let memo = Instruction {
        program_id: MEMO_PROGRAM,
        accounts: signers
            .into_iter()
            .map(|key| AccountMeta::new_readonly(key, true))
            .collect(),
        data,
    };
    invoke_context.native_invoke_signed(memo, &[])
});

/// Loads the relay into `svm`.
pub(crate) fn load(svm: &mut litesvm::LiteSVM) {
    svm.add_builtin(MEMO_RELAY, MemoRelay::register);
}

/// A memo relay instruction: `text` as its data, `signer` signing (read-only), the gateway
/// read-only and not signing, and the Memo program (read-only), which the relay invokes with
/// `text` and `signer` alone.
pub fn memo_relay_instruction(signer: &Pubkey, gateway: &Pubkey, text: &str) -> Instruction {
    Instruction::new_with_bytes(
        MEMO_RELAY,
        text.as_bytes(),
        vec![
            AccountMeta::new_readonly(*signer, true),
            AccountMeta::new_readonly(*gateway, false),
            AccountMeta::new_readonly(MEMO_PROGRAM, false),
        ],
    )
}

/// The gateway convention at top level: an SPL memo of `text` signed by `sender` (who also pays),
/// with the gateway appended to the message as an extra read-only, non-signer key, since the
/// Memo program wants every account it is given to sign.
pub fn memo_call_transaction(
    sender: &Keypair,
    gateway: &Pubkey,
    text: &str,
    blockhash: Hash,
) -> Transaction {
    let memo = Instruction::new_with_bytes(
        MEMO_PROGRAM,
        text.as_bytes(),
        vec![AccountMeta::new_readonly(sender.pubkey(), true)],
    );
    let mut message = Message::new_with_blockhash(&[memo], Some(&sender.pubkey()), &blockhash);
    message.account_keys.push(*gateway);
    message.header.num_readonly_unsigned_accounts += 1;
    Transaction::new(&[sender], message, blockhash)
}

/// The gateway convention through a program: one [`memo_relay_instruction`] signed by
/// `sender` (who also pays), so the memo is an inner instruction of the relay's.
pub fn relay_call_transaction(
    sender: &Keypair,
    gateway: &Pubkey,
    text: &str,
    blockhash: Hash,
) -> Transaction {
    let relay = memo_relay_instruction(&sender.pubkey(), gateway, text);
    let message = Message::new_with_blockhash(&[relay], Some(&sender.pubkey()), &blockhash);
    Transaction::new(&[sender], message, blockhash)
}
