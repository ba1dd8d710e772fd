//! The Solana sender against the local devnet, whose SVM runs the real Ed25519 precompile: a
//! delivery verifies and lands, and is then found delivered (by a trusted quorum only); a
//! forged signature is refused by the chain's own check, in simulation and on chain; an
//! expired blockhash is seen as such and a re-signed transaction lands; an answer too long
//! for one transaction is refused with its size named.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aolink_primitives::ans104::b64url_encode;
use aolink_primitives::answer::{
    Answer, Attestation, Ed25519SignerSet, SolanaPayload, verify_answer_instructions,
};
use aolink_primitives::delivery::{AnswerSender, Landing, SendError, Submission};
use aolink_solana::sender::{MAX_TRANSACTION_BYTES, SolanaSender, keypair_of};
use aolink_solana::{cluster, transaction};
use aolink_solana_devnet::{Devnet, DevnetConfig};
use ed25519_dalek::{Signer as _, SigningKey};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_signer::Signer;

struct Setup {
    devnet: Devnet,
    rpc: Arc<RpcClient>,
    sender: Arc<SolanaSender>,
    signers: Vec<SigningKey>,
    chain_id: String,
}

async fn setup() -> Setup {
    let devnet = Devnet::start(DevnetConfig {
        slot_interval: None,
        ..DevnetConfig::default()
    })
    .await
    .unwrap();
    let rpc = Arc::new(RpcClient::new_with_commitment(
        devnet.url.clone(),
        CommitmentConfig::confirmed(),
    ));
    let payer = Keypair::new();
    rpc.request_airdrop(&payer.pubkey(), 1_000_000_000)
        .await
        .unwrap();
    devnet.advance(3);
    let chain_id = cluster::chain_id(&rpc.get_genesis_hash().await.unwrap().to_string());
    let sender = SolanaSender::new(
        chain_id.clone(),
        rpc.clone(),
        payer,
        CommitmentConfig::confirmed(),
        20,
    );
    let signers: Vec<SigningKey> = (1..=3u8)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .collect();
    sender.trust_signer_sets(vec![set(&signers)]);
    Setup {
        devnet,
        rpc,
        sender,
        signers,
        chain_id,
    }
}

fn set(signers: &[SigningKey]) -> Ed25519SignerSet {
    Ed25519SignerSet {
        epoch: 0,
        members: signers
            .iter()
            .map(|k| k.verifying_key().to_bytes())
            .collect(),
        threshold: 2,
    }
}

fn answer(chain_id: &str, data: &str) -> Answer {
    let mut signature = Keypair::new().pubkey().to_bytes().to_vec();
    signature.extend(Keypair::new().pubkey().to_bytes());
    let request = bs58::encode(signature).into_string();
    Answer {
        chain_id: chain_id.into(),
        gateway: Keypair::new().pubkey().to_string(),
        target: Keypair::new().pubkey().to_string(),
        request_id: format!("{request}:0"),
        request_tx: request,
        process: b64url_encode(&[3u8; 32]),
        requested_process: b64url_encode(&[3u8; 32]),
        message: b64url_encode(&[4u8; 32]),
        mirror: b64url_encode(&[5u8; 32]),
        slot: 9,
        data: data.into(),
        data_encoding: None,
        tags: vec![("Action".into(), "Answer".into())],
    }
}

fn attest(answer: &Answer, key: &SigningKey) -> Attestation {
    let payload = SolanaPayload::from_payload(&answer.payload(0).unwrap())
        .unwrap()
        .encode();
    Attestation {
        id: answer.id(),
        epoch: 0,
        signer: bs58::encode(key.verifying_key().to_bytes()).into_string(),
        signature: format!("0x{}", hex::encode(key.sign(&payload).to_bytes())),
        answer: answer.clone(),
    }
}

impl Setup {
    /// Follows `submission` until it is final or failed, closing slots as a cluster would.
    async fn settle(&self, submission: &Submission) -> Landing {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.sender.landing(submission).await.unwrap() {
                Landing::Waiting => {}
                other => return other,
            }
            assert!(Instant::now() < deadline, "never settled");
            self.devnet.advance(1);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The executed instructions of a landed transaction, as a client reads them.
    async fn instructions(&self, signature: &str) -> Vec<([u8; 32], Vec<u8>)> {
        let read = transaction::fetch(&self.rpc, signature, CommitmentConfig::confirmed())
            .await
            .unwrap();
        assert!(!read.failed);
        read.program_data()
            .into_iter()
            .map(|(program, data)| (program, data.to_vec()))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quorum_delivery_lands_and_is_then_found_delivered() {
    let s = setup().await;
    let a = answer(&s.chain_id, "forty-two");
    assert!(!s.sender.delivered(&a).await.unwrap());
    let sigs = [attest(&a, &s.signers[0]), attest(&a, &s.signers[2])];
    let prepared = s
        .sender
        .prepare(&a, 0, &sigs, None, None, false)
        .await
        .unwrap();
    assert_eq!(prepared.submission.txs.len(), 1);
    assert!(prepared.raw.len() <= MAX_TRANSACTION_BYTES);
    // Rebuilt from the record: the same bytes, so a restart re-sends what it sent.
    let again = s
        .sender
        .prepare(&a, 0, &sigs, None, Some(&prepared.submission), false)
        .await
        .unwrap();
    assert_eq!(again.raw, prepared.raw);
    s.sender.broadcast(&prepared.raw).await.unwrap();
    s.sender.broadcast(&prepared.raw).await.unwrap();
    let tx = match s.settle(&prepared.submission).await {
        Landing::Final { tx } => tx,
        other => panic!("{other:?}"),
    };
    assert_eq!(tx, prepared.submission.txs[0]);
    assert!(s.sender.delivered(&a).await.unwrap());

    // What a client checks: the quorum and the memo, from the transaction's instructions.
    let instructions = s.instructions(&tx).await;
    let borrowed: Vec<([u8; 32], &[u8])> = instructions
        .iter()
        .map(|(p, d)| (*p, d.as_slice()))
        .collect();
    let (payload, memo) = verify_answer_instructions(&borrowed, &[set(&s.signers)]).unwrap();
    assert_eq!(payload.answer_id(), a.id());
    assert_eq!(memo.data, "forty-two");
    let strangers: Vec<SigningKey> = (7..=9u8)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .collect();
    assert!(verify_answer_instructions(&borrowed, &[set(&strangers)]).is_err());

    // Found delivered only by a quorum of a set the sender trusts.
    s.sender.trust_signer_sets(vec![set(&strangers)]);
    assert!(!s.sender.delivered(&a).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_signature_is_refused_by_the_chain() {
    let s = setup().await;
    let a = answer(&s.chain_id, "forty-two");
    let mut forged = attest(&a, &s.signers[1]);
    forged.signature = format!("0x{}", "ab".repeat(64));
    let sigs = [attest(&a, &s.signers[0]), forged];
    match s.sender.prepare(&a, 0, &sigs, None, None, false).await {
        Err(SendError::Refused(reason)) => {
            assert!(reason.contains("the chain refuses"), "{reason}")
        }
        other => panic!("expected a refusal: {other:?}"),
    }
    // Sent anyway (skipping the simulation), it lands failed: the chain checks, not us.
    let blockhash = s.rpc.get_latest_blockhash().await.unwrap();
    let tx = s.sender.transaction(&a, 0, &sigs, blockhash).unwrap();
    let raw = bincode::serialize(&tx).unwrap();
    s.sender.broadcast(&raw).await.unwrap();
    let submission = Submission {
        txs: vec![tx.signatures[0].to_string()],
        blockhash: Some(blockhash.to_string()),
        last_valid_block_height: Some(u64::MAX),
        ..Submission::default()
    };
    match s.settle(&submission).await {
        Landing::Failed { reason, .. } => assert!(reason.contains("failed on chain"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(!s.sender.delivered(&a).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_blockhash_is_replaced_by_a_re_signed_transaction() {
    let s = setup().await;
    let a = answer(&s.chain_id, "forty-two");
    let sigs = [attest(&a, &s.signers[0]), attest(&a, &s.signers[1])];
    let first = s
        .sender
        .prepare(&a, 0, &sigs, None, None, false)
        .await
        .unwrap();
    // Never sent: the cluster moves past the blockhash's last valid height.
    s.devnet.advance(200);
    assert_eq!(
        s.sender.landing(&first.submission).await.unwrap(),
        Landing::Expired
    );
    let second = s
        .sender
        .prepare(&a, 0, &sigs, None, Some(&first.submission), true)
        .await
        .unwrap();
    assert_ne!(second.submission.blockhash, first.submission.blockhash);
    assert_eq!(second.submission.txs.len(), 2, "both are followed");
    s.sender.broadcast(&second.raw).await.unwrap();
    match s.settle(&second.submission).await {
        Landing::Final { tx } => assert_eq!(tx, second.submission.txs[1]),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_too_long_for_a_transaction_is_refused_with_its_size() {
    let s = setup().await;
    let a = answer(&s.chain_id, &"x".repeat(900));
    let sigs = [attest(&a, &s.signers[0]), attest(&a, &s.signers[1])];
    match s.sender.prepare(&a, 0, &sigs, None, None, false).await {
        Err(SendError::Refused(reason)) => assert!(reason.contains("too long"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn fee_payer_keys_read_as_solana_keygen_writes_them_or_as_hex() {
    let pair = Keypair::new();
    let json = serde_json::to_string(&pair.to_bytes().to_vec()).unwrap();
    assert_eq!(keypair_of(&json, "f").unwrap().pubkey(), pair.pubkey());
    let hex_secret = hex::encode(pair.secret_bytes());
    assert_eq!(
        keypair_of(&hex_secret, "f").unwrap().pubkey(),
        pair.pubkey()
    );
    let mut wrong = pair.to_bytes();
    wrong[40] ^= 1;
    let err = keypair_of(&serde_json::to_string(&wrong.to_vec()).unwrap(), "f").unwrap_err();
    assert!(err.contains("key f"), "{err}");
    assert!(keypair_of("[1,2]", "f").unwrap_err().contains("64 bytes"));
}
