//! A dApp's round trip through several `aolink` instances on Solana: a gateway address, the
//! instances' ed25519 attestation keys as the 2-of-3 signer set, a funded fee payer per
//! instance, one configuration per instance (ports picked up front so each names the others
//! as peers), and a dApp account that calls by memo and reads its answers from its history.

use std::time::{Duration, Instant};

use aolink_node::ans104::DataItem;
use aolink_node::attest::AttestKeys;
use aolink_primitives::answer::{
    AnswerMemo, Ed25519SignerSet, SOLANA_ANSWER_MEMO_PREFIX, SolanaPayload, answer_id,
    verify_answer_instructions,
};
use aolink_solana::cluster;
use aolink_solana::transaction;
use aolink_solana_devnet::memo_call_transaction;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client::rpc_client::GetConfirmedSignaturesForAddress2Config;
use solana_signer::Signer;

use super::answers::{ATTEST, deliveries, quorum_toml, start_instance};
use super::{RunningNode, SolanaCluster, free_ports, key_file};

const SOL: u64 = 1_000_000_000;

/// Everything but the running instances.
pub struct SolanaRound {
    pub cluster: SolanaCluster,
    pub rpc: RpcClient,
    pub chain_id: String,
    pub gateway: Pubkey,
    /// The dApp: it calls, pays for its calls and is where the answers go.
    pub dapp: Keypair,
    pub dir: tempfile::TempDir,
    pub ports: Vec<u16>,
    /// The attestation keys' public keys (base58), instance by instance.
    pub signers: Vec<String>,
}

/// A funded fresh keypair.
pub async fn funded(rpc: &RpcClient) -> Keypair {
    let key = Keypair::new();
    let airdrop = rpc.request_airdrop(&key.pubkey(), SOL).await.unwrap();
    rpc.poll_for_signature_with_commitment(&airdrop, CommitmentConfig::confirmed())
        .await
        .unwrap();
    key
}

impl SolanaRound {
    /// Funds the dApp and the instances' fee payers, and writes the instances' configurations.
    pub async fn new(cluster: SolanaCluster, backup_after_ms: u64) -> SolanaRound {
        let rpc =
            RpcClient::new_with_commitment(cluster.url.clone(), CommitmentConfig::confirmed());
        let genesis = rpc.get_genesis_hash().await.unwrap().to_string();
        let signers: Vec<String> = ATTEST
            .iter()
            .map(|s| AttestKeys::none().with_solana(s).solana_public().unwrap())
            .collect();
        let round = SolanaRound {
            chain_id: cluster::chain_id(&genesis),
            gateway: Keypair::new().pubkey(),
            dapp: funded(&rpc).await,
            dir: tempfile::tempdir().unwrap(),
            ports: free_ports(3),
            signers,
            cluster,
            rpc,
        };
        for i in 0..3 {
            let payer = funded(&round.rpc).await;
            round.write_config(i, &genesis, &payer, backup_after_ms);
        }
        round
    }

    pub fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }

    fn write_config(&self, i: usize, genesis: &str, payer: &Keypair, backup_after_ms: u64) {
        let dir = self.dir.path();
        let payer_file = dir.join(format!("payer-{i}.key"));
        key_file(&payer_file, payer.secret_bytes());
        let peers: Vec<String> = (0..3).filter(|j| *j != i).map(|j| self.url(j)).collect();
        let text = format!(
            r#"
[[solana]]
cluster = "{genesis}"
rpc = "{rpc}"
commitment = "confirmed"
poll_interval_ms = 20

[[solana.gateways]]
address = "{gateway}"

[solana.delivery]
key_file = "{payer}"
{quorum}"#,
            rpc = self.cluster.url,
            gateway = self.gateway,
            payer = payer_file.display(),
            quorum = quorum_toml("solana", dir, i, &self.signers, &peers, backup_after_ms),
        );
        std::fs::write(dir.join(format!("aolink-{i}.toml")), text).unwrap();
    }

    /// Starts (or restarts) instance `i`.
    pub fn start(&self, i: usize) -> RunningNode {
        start_instance(self.dir.path(), self.ports[i], i).0
    }

    /// The dApp asks `process` by a memo call to the gateway. Returns the answer's id.
    pub async fn ask(&self, process: &DataItem) -> String {
        let text = format!(
            "aolink:v1:{}",
            serde_json::json!({"process": process.id_b64(), "action": "Ask", "data": "meaning?"})
        );
        let blockhash = self.rpc.get_latest_blockhash().await.unwrap();
        let tx = memo_call_transaction(&self.dapp, &self.gateway, &text, blockhash);
        let signature = self.rpc.send_and_confirm_transaction(&tx).await.unwrap();
        answer_id(
            &self.chain_id,
            &self.gateway.to_string(),
            &format!("{signature}:0"),
        )
    }

    /// The signer set the instances form, as a Solana client trusts it.
    pub fn set(&self) -> Ed25519SignerSet {
        Ed25519SignerSet {
            epoch: 0,
            members: self
                .signers
                .iter()
                .map(|s| bs58::decode(s).into_vec().unwrap().try_into().unwrap())
                .collect(),
            threshold: 2,
        }
    }

    /// The dApp's successful transactions whose memo delivers answer `id`.
    pub async fn deliveries_on_chain(&self, id: &str) -> Vec<String> {
        let marker = format!("{SOLANA_ANSWER_MEMO_PREFIX}{id}:");
        self.rpc
            .get_signatures_for_address_with_config(
                &self.dapp.pubkey(),
                GetConfirmedSignaturesForAddress2Config {
                    commitment: Some(CommitmentConfig::confirmed()),
                    ..GetConfirmedSignaturesForAddress2Config::default()
                },
            )
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s.err.is_none() && s.memo.as_deref().is_some_and(|m| m.contains(&marker)))
            .map(|s| s.signature)
            .collect()
    }

    /// Waits up to `limit` for answer `id` to reach the dApp; returns the delivering
    /// transaction, read and verified as a client does: its Ed25519 instruction a quorum of
    /// the set, its memo the answer that quorum signed.
    pub async fn wait_answer(
        &self,
        id: &str,
        limit: Duration,
        show: &[String],
    ) -> (String, SolanaPayload, AnswerMemo) {
        let deadline = Instant::now() + limit;
        let signature = loop {
            if let Some(first) = self.deliveries_on_chain(id).await.into_iter().next() {
                break first;
            }
            assert!(
                Instant::now() < deadline,
                "no answer in {limit:?}; deliveries: {:?}",
                deliveries(show, id).await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let read = transaction::fetch(&self.rpc, &signature, CommitmentConfig::confirmed())
            .await
            .unwrap();
        assert!(!read.failed);
        assert!(
            read.keys.contains(&self.dapp.pubkey()),
            "the dApp is a key of the delivery"
        );
        let instructions = read.program_data();
        let (payload, memo) = verify_answer_instructions(&instructions, &[self.set()])
            .unwrap_or_else(|e| panic!("the delivery does not verify: {e}"));
        (signature, payload, memo)
    }
}
