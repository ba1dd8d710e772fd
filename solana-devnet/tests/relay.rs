//! The memo relay, checked with `solana-rpc-client`: a program calling the SPL Memo program by
//! CPI, as a dApp calling AO would, is recorded by the real SVM as an inner instruction, and
//! `getTransaction` renders it as a validator does.

use aolink_solana_devnet::{
    Devnet, DevnetConfig, MEMO_PROGRAM, MEMO_RELAY, memo_relay_instruction, relay_call_transaction,
};
use solana_commitment_config::CommitmentConfig;
use solana_instruction::error::InstructionError;
use solana_instruction::{AccountMeta, Instruction};
use solana_keypair::Keypair;
use solana_message::Message;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client::rpc_client::GetConfirmedSignaturesForAddress2Config;
use solana_rpc_client_api::config::{RpcSendTransactionConfig, RpcTransactionConfig};
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;
use solana_transaction_status_client_types::{
    EncodedTransaction, UiInnerInstructions, UiInstruction, UiMessage, UiTransactionEncoding,
};

const SOL: u64 = 1_000_000_000;

async fn funded(client: &RpcClient) -> Keypair {
    let payer = Keypair::new();
    let airdrop = client.request_airdrop(&payer.pubkey(), SOL).await.unwrap();
    client
        .poll_for_signature_with_commitment(&airdrop, CommitmentConfig::confirmed())
        .await
        .unwrap();
    payer
}

fn config(encoding: UiTransactionEncoding) -> RpcTransactionConfig {
    RpcTransactionConfig {
        encoding: Some(encoding),
        commitment: Some(CommitmentConfig::confirmed()),
        max_supported_transaction_version: Some(0),
    }
}

/// The inner instructions of a transaction's meta, checked to be the relay's one memo CPI:
/// index 0, stack height 2, program and accounts as indexes into `keys`. Returns the memo's
/// data and account keys.
fn the_one_inner_memo(inner: Vec<UiInnerInstructions>, keys: &[Pubkey]) -> (Vec<u8>, Vec<Pubkey>) {
    assert_eq!(inner.len(), 1, "{inner:?}");
    assert_eq!(inner[0].index, 0, "the relay is instruction 0");
    assert_eq!(inner[0].instructions.len(), 1, "{inner:?}");
    let UiInstruction::Compiled(memo) = &inner[0].instructions[0] else {
        panic!("a compiled instruction: {inner:?}");
    };
    assert_eq!(memo.stack_height, Some(2));
    assert_eq!(keys[usize::from(memo.program_id_index)], MEMO_PROGRAM);
    let data = bs58::decode(&memo.data).into_vec().expect("base58 data");
    let accounts = memo
        .accounts
        .iter()
        .map(|a| keys[usize::from(*a)])
        .collect();
    (data, accounts)
}

#[tokio::test]
async fn a_relayed_memo_is_an_inner_instruction_at_depth_two_and_listed_under_the_gateway() {
    let devnet = Devnet::start(DevnetConfig::default()).await.unwrap();
    let client = RpcClient::new_with_commitment(devnet.url.clone(), CommitmentConfig::confirmed());
    let sender = funded(&client).await;
    let gateway = Pubkey::new_unique();
    let text = r#"aolink:v1:{"process":"x","action":"Ping"}"#;
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let tx = relay_call_transaction(&sender, &gateway, text, blockhash);
    let signature = client.send_and_confirm_transaction(&tx).await.unwrap();

    // json: the message's own keys resolve the inner instruction.
    let got = client
        .get_transaction_with_config(&signature, config(UiTransactionEncoding::Json))
        .await
        .unwrap();
    let EncodedTransaction::Json(ui) = got.transaction.transaction else {
        panic!("json encoding asked");
    };
    let UiMessage::Raw(raw) = ui.message else {
        panic!("a raw message");
    };
    let keys: Vec<Pubkey> = raw
        .account_keys
        .iter()
        .map(|k| k.parse().unwrap())
        .collect();
    assert_eq!(raw.instructions.len(), 1);
    assert_eq!(
        keys[usize::from(raw.instructions[0].program_id_index)],
        MEMO_RELAY
    );
    assert_eq!(
        raw.instructions[0].stack_height, None,
        "a top-level instruction has no stack height"
    );
    let meta = got.transaction.meta.expect("meta");
    assert!(meta.err.is_none());
    let inner: Option<Vec<UiInnerInstructions>> = meta.inner_instructions.into();
    let (data, accounts) = the_one_inner_memo(inner.expect("inner instructions"), &keys);
    assert_eq!(data, text.as_bytes());
    assert_eq!(
        accounts,
        [sender.pubkey()],
        "the signer alone: not the gateway"
    );
    let logs: Option<Vec<String>> = meta.log_messages.into();
    let logs = logs.expect("logs");
    let invoked = |program: &Pubkey, depth: u8| {
        logs.iter()
            .position(|l| *l == format!("Program {program} invoke [{depth}]"))
    };
    let relay_at = invoked(&MEMO_RELAY, 1).unwrap_or_else(|| panic!("{logs:#?}"));
    let memo_at = invoked(&MEMO_PROGRAM, 2).unwrap_or_else(|| panic!("{logs:#?}"));
    assert!(relay_at < memo_at, "{logs:#?}");
    assert!(
        logs[memo_at..]
            .windows(2)
            .any(|w| w[0] == "Program log: Signed by:"
                && w[1] == format!("Program log: {}", sender.pubkey())),
        "the Memo program checked the signer: {logs:#?}"
    );
    assert!(logs.contains(&format!("Program log: {text}")), "{logs:#?}");
    assert!(
        logs.iter()
            .any(|l| *l == format!("Program {MEMO_RELAY} success")),
        "{logs:#?}"
    );

    // base64: the transaction's static keys resolve the same inner instruction.
    let got = client
        .get_transaction_with_config(&signature, config(UiTransactionEncoding::Base64))
        .await
        .unwrap();
    let decoded = got.transaction.transaction.decode().expect("base64");
    assert_eq!(decoded.signatures[0], signature);
    let keys = decoded.message.static_account_keys();
    let inner: Option<Vec<UiInnerInstructions>> = got
        .transaction
        .meta
        .expect("meta")
        .inner_instructions
        .into();
    let (data, accounts) = the_one_inner_memo(inner.expect("inner instructions"), keys);
    assert_eq!(data, text.as_bytes());
    assert_eq!(accounts, [sender.pubkey()]);

    // Listed under the gateway, a read-only key of the message. Its memo is null: a validator
    // lists the memos of top-level instructions only, and this one is an inner instruction.
    let listed = client
        .get_signatures_for_address_with_config(
            &gateway,
            GetConfirmedSignaturesForAddress2Config::default(),
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].signature, signature.to_string());
    assert!(listed[0].err.is_none());
    assert_eq!(listed[0].memo, None);
}

#[tokio::test]
async fn the_relay_forwards_every_signer_in_order_and_fails_without_one() {
    let devnet = Devnet::start(DevnetConfig::default()).await.unwrap();
    let client = RpcClient::new_with_commitment(devnet.url.clone(), CommitmentConfig::confirmed());
    let payer = funded(&client).await;
    let cosigner = Keypair::new();
    let gateway = Pubkey::new_unique();

    // Two signers (the second neither paying nor first) and a writable non-signer: the memo
    // gets the two signers, in the relay's order, and nothing else.
    let mut relay = memo_relay_instruction(&cosigner.pubkey(), &gateway, "two");
    relay
        .accounts
        .push(AccountMeta::new_readonly(payer.pubkey(), true));
    relay
        .accounts
        .push(AccountMeta::new(Pubkey::new_unique(), false));
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let tx = Transaction::new(
        &[&payer, &cosigner],
        Message::new(&[relay], Some(&payer.pubkey())),
        blockhash,
    );
    let signature = client.send_and_confirm_transaction(&tx).await.unwrap();
    let got = client
        .get_transaction_with_config(&signature, config(UiTransactionEncoding::Base64))
        .await
        .unwrap();
    let decoded = got.transaction.transaction.decode().expect("base64");
    let inner: Option<Vec<UiInnerInstructions>> = got
        .transaction
        .meta
        .expect("meta")
        .inner_instructions
        .into();
    let (data, accounts) = the_one_inner_memo(
        inner.expect("inner instructions"),
        decoded.message.static_account_keys(),
    );
    assert_eq!(data, b"two");
    assert_eq!(accounts, [cosigner.pubkey(), payer.pubkey()]);

    // No account of the relay's signs (the fee payer signs the transaction, not the relay).
    let unsigned = Instruction::new_with_bytes(
        MEMO_RELAY,
        b"nobody",
        vec![
            AccountMeta::new_readonly(gateway, false),
            AccountMeta::new_readonly(MEMO_PROGRAM, false),
        ],
    );
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let tx = Transaction::new(
        &[&payer],
        Message::new(&[unsigned], Some(&payer.pubkey())),
        blockhash,
    );
    let expected =
        TransactionError::InstructionError(0, InstructionError::MissingRequiredSignature);
    // Preflight refuses it, saying why.
    let refused = client.send_transaction(&tx).await.unwrap_err();
    assert_eq!(
        refused.get_transaction_error(),
        Some(expected.clone()),
        "{refused}"
    );
    // Sent anyway, it lands failed and its status says why.
    let failed = client
        .send_transaction_with_config(
            &tx,
            RpcSendTransactionConfig {
                skip_preflight: true,
                ..RpcSendTransactionConfig::default()
            },
        )
        .await
        .unwrap();
    let status = poll_status(&client, &failed).await;
    assert_eq!(status, Err(expected.clone()));
    let got = client
        .get_transaction_with_config(&failed, config(UiTransactionEncoding::Json))
        .await
        .unwrap();
    let meta = got.transaction.meta.expect("meta");
    assert_eq!(meta.err.map(TransactionError::from), Some(expected));
    let logs: Option<Vec<String>> = meta.log_messages.into();
    assert!(
        logs.unwrap()
            .iter()
            .any(|l| l.contains("memo relay: no account signs")),
        "the relay says why"
    );
    let inner: Option<Vec<UiInnerInstructions>> = meta.inner_instructions.into();
    assert_eq!(inner, Some(Vec::new()), "no memo was invoked");
}

/// The status of `signature` once it is confirmed.
async fn poll_status(client: &RpcClient, signature: &Signature) -> Result<(), TransactionError> {
    for _ in 0..200 {
        if let Some(status) = client
            .get_signature_status_with_commitment(signature, CommitmentConfig::confirmed())
            .await
            .unwrap()
        {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{signature} not confirmed within 5 s");
}
