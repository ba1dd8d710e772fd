//! Calls an AO process from Solana through an aolink gateway (the memo convention v1): an SPL
//! Memo instruction whose text is `aolink:v1:` + JSON, signed by the sender, in a transaction
//! that carries the gateway's address as an extra read-only, non-signer account key. Prints the
//! signature once the transaction is confirmed.
//!
//! ```sh
//! cargo run -p aolink-solana --example send_call -- --rpc http://127.0.0.1:8899 \
//!     --keypair ~/.config/solana/id.json --gateway <gateway address> \
//!     --process <AO process id> --action Ping [--data hello] [--tag Name=value ...]
//! ```

use std::collections::BTreeMap;
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use solana_commitment_config::CommitmentConfig;
use solana_hash::Hash;
use solana_instruction::{AccountMeta, Instruction};
use solana_keypair::{Keypair, read_keypair_file};
use solana_message::Message;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;

/// SPL Memo v2.
pub const MEMO_PROGRAM: Pubkey =
    Pubkey::from_str_const("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");

/// What a memo starts with to be a call (version 1 of the convention).
pub const PREFIX: &str = "aolink:v1:";

/// Sends one gateway call and prints its signature.
#[derive(Parser, Debug)]
pub struct Args {
    /// The cluster's JSON-RPC URL.
    #[arg(long)]
    pub rpc: String,
    /// The sender's keypair file (a JSON array of 64 bytes, as `solana-keygen` writes it).
    #[arg(long)]
    pub keypair: PathBuf,
    /// The gateway address the aolink node watches.
    #[arg(long)]
    pub gateway: Pubkey,
    /// The AO process called (its 43-character id).
    #[arg(long)]
    pub process: String,
    /// The call's `Action`.
    #[arg(long)]
    pub action: String,
    /// The call's data.
    #[arg(long)]
    pub data: Option<String>,
    /// A tag for the process, `Name=value` (it arrives as `X-Name`); repeatable.
    #[arg(long = "tag", value_parser = name_value)]
    pub tags: Vec<(String, String)>,
}

fn name_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .ok_or_else(|| format!("{text:?} is not Name=value"))
}

/// A call: the AO process, its `Action`, and optional data and tags.
#[derive(Clone, Debug)]
pub struct Call {
    pub process: String,
    pub action: String,
    pub data: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// The memo text of a call.
pub fn memo_text(call: &Call) -> String {
    let mut json = serde_json::json!({"process": call.process, "action": call.action});
    if let Some(data) = &call.data {
        json["data"] = data.as_str().into();
    }
    if !call.tags.is_empty() {
        json["tags"] = serde_json::json!(call.tags);
    }
    format!("{PREFIX}{json}")
}

/// The transaction of a call from `sender` (who signs the memo and pays the fee) through
/// `gateway`. The Memo program wants every account it is given to sign, so the gateway is not
/// one of the memo's accounts: it is appended to the message's keys as read-only and
/// non-signing, where `getSignaturesForAddress(gateway)` finds the transaction.
pub fn call_transaction(
    sender: &Keypair,
    gateway: &Pubkey,
    call: &Call,
    blockhash: Hash,
) -> Result<Transaction, Box<dyn Error>> {
    let memo = Instruction::new_with_bytes(
        MEMO_PROGRAM,
        memo_text(call).as_bytes(),
        vec![AccountMeta::new_readonly(sender.pubkey(), true)],
    );
    let mut message = Message::new_with_blockhash(&[memo], Some(&sender.pubkey()), &blockhash);
    if message.account_keys.contains(gateway) {
        return Err(format!("the gateway {gateway} is already an account of the call").into());
    }
    // Read-only non-signer keys come last, so appending one keeps every instruction's indexes.
    message.account_keys.push(*gateway);
    message.header.num_readonly_unsigned_accounts += 1;
    Ok(Transaction::new(&[sender], message, blockhash))
}

/// Sends a call and waits until it is confirmed (at the client's commitment).
pub async fn send_call(
    client: &RpcClient,
    sender: &Keypair,
    gateway: &Pubkey,
    call: &Call,
) -> Result<Signature, Box<dyn Error>> {
    let blockhash = client.get_latest_blockhash().await?;
    let transaction = call_transaction(sender, gateway, call, blockhash)?;
    Ok(client.send_and_confirm_transaction(&transaction).await?)
}

/// What `main` does with its arguments.
pub async fn run(args: Args) -> Result<Signature, Box<dyn Error>> {
    let is_process_id = args.process.len() == 43
        && args
            .process
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !is_process_id {
        return Err(format!("{:?} is not an AO process id", args.process).into());
    }
    if args.action.is_empty() {
        return Err("the action is empty".into());
    }
    let sender = read_keypair_file(&args.keypair)
        .map_err(|e| format!("reading {}: {e}", args.keypair.display()))?;
    let call = Call {
        process: args.process,
        action: args.action,
        data: args.data,
        tags: args.tags.into_iter().collect(),
    };
    let client = RpcClient::new_with_commitment(args.rpc, CommitmentConfig::confirmed());
    send_call(&client, &sender, &args.gateway, &call).await
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(signature) => {
            println!("{signature}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
