//! The devnet's answers checked through `solana-rpc-client` itself: the client is the test.

use aolink_solana_devnet::{Devnet, DevnetConfig};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_message::Message;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;

const SOL: u64 = 1_000_000_000;

/// A fresh keypair holding `lamports`, once the airdrop reaches the client's commitment.
async fn funded(client: &RpcClient, lamports: u64) -> Keypair {
    let payer = Keypair::new();
    let signature = client
        .request_airdrop(&payer.pubkey(), lamports)
        .await
        .unwrap();
    client
        .poll_for_signature_with_commitment(&signature, client.commitment())
        .await
        .unwrap();
    payer
}

#[tokio::test]
async fn a_transfer_is_sent_confirmed_and_read_back_through_the_real_client() {
    let devnet = Devnet::start(DevnetConfig::default()).await.unwrap();
    let client = RpcClient::new_with_commitment(devnet.url.clone(), CommitmentConfig::confirmed());
    let version = client.get_version().await.unwrap();
    assert_eq!(version.solana_core, "4.2.2");
    let payer = funded(&client, 2 * SOL).await;
    assert_eq!(client.get_balance(&payer.pubkey()).await.unwrap(), 2 * SOL);

    let to = Keypair::new().pubkey();
    let transfer = solana_system_interface::instruction::transfer(&payer.pubkey(), &to, SOL);
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let tx = Transaction::new(
        &[&payer],
        Message::new(&[transfer], Some(&payer.pubkey())),
        blockhash,
    );
    let signature = client.send_and_confirm_transaction(&tx).await.unwrap();
    assert_eq!(signature, tx.signatures[0]);
    assert_eq!(client.get_balance(&to).await.unwrap(), SOL);
    let fee = SOL - client.get_balance(&payer.pubkey()).await.unwrap();
    assert_eq!(fee, 5_000, "one signature's fee");

    // The same transaction again is refused, not applied twice.
    let again = client.send_transaction(&tx).await.unwrap_err();
    assert_eq!(
        again.get_transaction_error(),
        Some(TransactionError::AlreadyProcessed),
        "{again}"
    );
    assert_eq!(client.get_balance(&to).await.unwrap(), SOL);

    // Commitments trail each other, and a status climbs them.
    let processed = client
        .get_slot_with_commitment(CommitmentConfig::processed())
        .await
        .unwrap();
    let finalized = client
        .get_slot_with_commitment(CommitmentConfig::finalized())
        .await
        .unwrap();
    assert!(finalized < processed, "{finalized} < {processed}");
    devnet.advance(3);
    let status = client
        .get_signature_status_with_commitment(&signature, CommitmentConfig::finalized())
        .await
        .unwrap();
    assert_eq!(status, Some(Ok(())));
}

#[tokio::test]
async fn transactions_the_chain_would_refuse_are_refused_with_the_validators_errors() {
    let devnet = Devnet::start(DevnetConfig {
        slot_interval: None,
        ..DevnetConfig::default()
    })
    .await
    .unwrap();
    let client = RpcClient::new_with_commitment(devnet.url.clone(), CommitmentConfig::processed());
    let payer = funded(&client, SOL).await;
    let to = Keypair::new().pubkey();
    let blockhash = client.get_latest_blockhash().await.unwrap();
    // Too little for the recipient to be rent-exempt: the real SVM refuses it in preflight.
    let dust = solana_system_interface::instruction::transfer(&payer.pubkey(), &to, 1_000);
    let tx = Transaction::new(
        &[&payer],
        Message::new(&[dust], Some(&payer.pubkey())),
        blockhash,
    );
    let err = client.send_transaction(&tx).await.unwrap_err();
    assert_eq!(
        err.get_transaction_error(),
        Some(TransactionError::InsufficientFundsForRent { account_index: 1 }),
        "{err}"
    );
    assert_eq!(
        client
            .get_signature_status(&tx.signatures[0])
            .await
            .unwrap(),
        None
    );

    // A blockhash older than 150 slots is no longer valid.
    devnet.advance(151);
    assert!(
        !client
            .is_blockhash_valid(&blockhash, CommitmentConfig::processed())
            .await
            .unwrap()
    );
    let transfer = solana_system_interface::instruction::transfer(&payer.pubkey(), &to, SOL / 2);
    let stale = Transaction::new(
        &[&payer],
        Message::new(&[transfer], Some(&payer.pubkey())),
        blockhash,
    );
    let err = client.send_transaction(&stale).await.unwrap_err();
    assert_eq!(
        err.get_transaction_error(),
        Some(TransactionError::BlockhashNotFound),
        "{err}"
    );
    assert_eq!(client.get_balance(&to).await.unwrap(), 0);
}

#[tokio::test]
async fn accounts_fees_and_simulations_answer_as_a_validator() {
    let devnet = Devnet::start(DevnetConfig::default()).await.unwrap();
    let client = RpcClient::new_with_commitment(devnet.url.clone(), CommitmentConfig::confirmed());
    let payer = funded(&client, SOL).await;
    let account = client.get_account(&payer.pubkey()).await.unwrap();
    assert_eq!(account.lamports, SOL);
    assert_eq!(account.owner, solana_system_interface::program::ID);
    assert!(account.data.is_empty() && !account.executable);
    assert!(
        client.get_account(&Keypair::new().pubkey()).await.is_err(),
        "an account that does not exist is reported missing"
    );
    assert_eq!(
        client
            .get_minimum_balance_for_rent_exemption(0)
            .await
            .unwrap(),
        890_880
    );

    let to = Keypair::new().pubkey();
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let ok = Message::new_with_blockhash(
        &[solana_system_interface::instruction::transfer(
            &payer.pubkey(),
            &to,
            SOL / 2,
        )],
        Some(&payer.pubkey()),
        &blockhash,
    );
    assert_eq!(client.get_fee_for_message(&ok).await.unwrap(), 5_000);
    let sim = client
        .simulate_transaction(&Transaction::new(&[&payer], ok, blockhash))
        .await
        .unwrap()
        .value;
    assert!(sim.err.is_none(), "{sim:?}");
    assert!(sim.logs.unwrap().iter().any(|l| l.ends_with("success")));
    // A simulation changes nothing.
    assert_eq!(client.get_balance(&to).await.unwrap(), 0);
    let too_much = Message::new_with_blockhash(
        &[solana_system_interface::instruction::transfer(
            &payer.pubkey(),
            &to,
            2 * SOL,
        )],
        Some(&payer.pubkey()),
        &blockhash,
    );
    let sim = client
        .simulate_transaction(&Transaction::new(&[&payer], too_much, blockhash))
        .await
        .unwrap()
        .value;
    assert!(sim.err.is_some(), "a transfer beyond the balance fails");
}
