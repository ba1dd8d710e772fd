//! The history methods a watcher pages through, checked with `solana-rpc-client`:
//! `getSignaturesForAddress` (newest first, `before` / `until` / `limit`, across more than one
//! page of 1,000) and `getTransaction` in its encodings, failed transactions included.

use aolink_solana_devnet::{Devnet, DevnetConfig, memo_call_transaction};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_message::Message;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client::rpc_client::GetConfirmedSignaturesForAddress2Config;
use solana_rpc_client_api::config::{RpcSendTransactionConfig, RpcTransactionConfig};
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_status_client_types::{
    EncodedTransaction, UiMessage, UiTransactionEncoding,
};

const SOL: u64 = 1_000_000_000;

fn transfer(
    client_hash: solana_hash::Hash,
    payer: &Keypair,
    to: &Pubkey,
    lamports: u64,
) -> Transaction {
    let ix = solana_system_interface::instruction::transfer(&payer.pubkey(), to, lamports);
    Transaction::new(
        &[payer],
        Message::new(&[ix], Some(&payer.pubkey())),
        client_hash,
    )
}

async fn page(
    client: &RpcClient,
    address: &Pubkey,
    before: Option<Signature>,
    until: Option<Signature>,
    limit: Option<usize>,
) -> Vec<Signature> {
    client
        .get_signatures_for_address_with_config(
            address,
            GetConfirmedSignaturesForAddress2Config {
                before,
                until,
                limit,
                commitment: Some(CommitmentConfig::confirmed()),
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.signature.parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_page_newest_first_across_more_than_a_thousand_and_transactions_read_back() {
    let devnet = Devnet::start(DevnetConfig {
        slot_interval: None,
        ..DevnetConfig::default()
    })
    .await
    .unwrap();
    let client = RpcClient::new_with_commitment(devnet.url.clone(), CommitmentConfig::confirmed());
    let payer = Keypair::new();
    client
        .request_airdrop(&payer.pubkey(), 10 * SOL)
        .await
        .unwrap();
    let mut sent = Vec::new();
    for i in 0..1_050u64 {
        if i % 100 == 0 {
            devnet.advance(1);
        }
        let blockhash = devnet
            .ledger()
            .latest_blockhash(aolink_solana_devnet::Commitment::Processed)
            .0;
        let to = Pubkey::new_unique();
        sent.push(
            client
                .send_transaction(&transfer(blockhash, &payer, &to, 1_000_000))
                .await
                .unwrap(),
        );
    }
    // Not yet confirmed: nothing is listed at `confirmed`.
    assert!(page(&client, &payer.pubkey(), None, None, None).await.len() < sent.len());
    devnet.advance(2);
    let newest_first: Vec<Signature> = sent.iter().rev().copied().collect();
    let first = page(&client, &payer.pubkey(), None, None, None).await;
    assert_eq!(
        first,
        newest_first[..1_000],
        "the newest thousand, newest first"
    );
    let rest = page(&client, &payer.pubkey(), first.last().copied(), None, None).await;
    assert_eq!(
        rest,
        newest_first[1_000..],
        "then the rest, before the last one seen"
    );
    let window = page(
        &client,
        &payer.pubkey(),
        Some(sent[900]),
        Some(sent[800]),
        Some(50),
    )
    .await;
    assert_eq!(
        window,
        newest_first[150..200],
        "before is exclusive, limit caps"
    );
    let bounded = page(
        &client,
        &payer.pubkey(),
        Some(sent[900]),
        Some(sent[890]),
        None,
    )
    .await;
    assert_eq!(bounded, newest_first[150..159], "until is exclusive");

    // getTransaction: base64 gives the very transaction back; json has its keys and logs.
    let config = |encoding| RpcTransactionConfig {
        encoding: Some(encoding),
        commitment: Some(CommitmentConfig::confirmed()),
        max_supported_transaction_version: Some(0),
    };
    let got = client
        .get_transaction_with_config(&sent[7], config(UiTransactionEncoding::Base64))
        .await
        .unwrap();
    let decoded = got
        .transaction
        .transaction
        .decode()
        .expect("a base64 transaction");
    assert_eq!(decoded.signatures[0], sent[7]);
    let meta = got.transaction.meta.expect("meta");
    assert!(meta.err.is_none());
    assert_eq!(meta.fee, 5_000);
    let logs: Option<Vec<String>> = meta.log_messages.into();
    assert!(
        logs.unwrap()
            .iter()
            .any(|l| l.contains("11111111111111111111111111111111 success"))
    );
    let as_json = client
        .get_transaction_with_config(&sent[7], config(UiTransactionEncoding::Json))
        .await
        .unwrap();
    assert_eq!(as_json.slot, got.slot);
    let EncodedTransaction::Json(ui) = as_json.transaction.transaction else {
        panic!("json encoding asked");
    };
    assert_eq!(ui.signatures, [sent[7].to_string()]);
    let UiMessage::Raw(raw) = ui.message else {
        panic!("a raw message");
    };
    assert_eq!(raw.account_keys[0], payer.pubkey().to_string());
    assert_eq!(raw.instructions.len(), 1);

    // A transaction that fails on chain (preflight skipped) lands failed and says why.
    let blockhash = devnet
        .ledger()
        .latest_blockhash(aolink_solana_devnet::Commitment::Processed)
        .0;
    let too_much = transfer(blockhash, &payer, &Pubkey::new_unique(), 100 * SOL);
    let failed = client
        .send_transaction_with_config(
            &too_much,
            RpcSendTransactionConfig {
                skip_preflight: true,
                ..RpcSendTransactionConfig::default()
            },
        )
        .await
        .unwrap();
    devnet.advance(2);
    let status = client.get_signature_status(&failed).await.unwrap();
    assert!(matches!(status, Some(Err(_))), "{status:?}");
    let listed = client
        .get_signatures_for_address_with_config(
            &payer.pubkey(),
            GetConfirmedSignaturesForAddress2Config {
                limit: Some(1),
                ..GetConfirmedSignaturesForAddress2Config::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(listed[0].signature, failed.to_string());
    assert!(
        listed[0].err.is_some(),
        "the failure is listed with its error"
    );
    let got = client
        .get_transaction_with_config(&failed, config(UiTransactionEncoding::Base64))
        .await
        .unwrap();
    assert!(got.transaction.meta.unwrap().err.is_some());

    // History below `confirmed` is refused; an unknown signature is null.
    let processed = client
        .get_transaction_with_config(
            &sent[0],
            RpcTransactionConfig {
                commitment: Some(CommitmentConfig::processed()),
                ..config(UiTransactionEncoding::Json)
            },
        )
        .await;
    assert!(processed.is_err());
    assert!(
        client
            .get_transaction_with_config(&Signature::default(), config(UiTransactionEncoding::Json))
            .await
            .is_err(),
        "the client reports a null transaction as an error"
    );
}

/// The gateway convention's shape on the real SVM: a memo signed by the sender, with the
/// gateway's address as an extra read-only, non-signer key of the message (the Memo program
/// itself wants every account it is given to sign), is found by `getSignaturesForAddress` of
/// the gateway and carries its memo.
#[tokio::test]
async fn a_memo_naming_the_gateway_as_an_extra_key_is_listed_under_the_gateway() {
    let devnet = Devnet::start(DevnetConfig::default()).await.unwrap();
    let client = RpcClient::new_with_commitment(devnet.url.clone(), CommitmentConfig::confirmed());
    let sender = Keypair::new();
    let airdrop = client.request_airdrop(&sender.pubkey(), SOL).await.unwrap();
    client
        .poll_for_signature_with_commitment(&airdrop, CommitmentConfig::confirmed())
        .await
        .unwrap();
    let gateway = Pubkey::new_unique();
    let text = r#"aolink:v1:{"process":"x","action":"Ping"}"#;
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let tx = memo_call_transaction(&sender, &gateway, text, blockhash);
    let signature = client.send_and_confirm_transaction(&tx).await.unwrap();
    let listed = client
        .get_signatures_for_address_with_config(
            &gateway,
            GetConfirmedSignaturesForAddress2Config::default(),
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].signature, signature.to_string());
    assert_eq!(
        listed[0].memo.as_deref(),
        Some(format!("[{}] {text}", text.len()).as_str())
    );
    assert!(listed[0].err.is_none());
}
