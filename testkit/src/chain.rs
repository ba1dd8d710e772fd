//! A devnet chain: anvil as `contracts/build` installs it, the committed contract artifacts
//! as alloy bindings, and transactions mined the way reorg tests need.

use std::path::PathBuf;
use std::time::Duration;

use alloy::contract::{CallBuilder, CallDecoder};
use alloy::network::{Ethereum, EthereumWallet};
use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{B256, U256};
use alloy::providers::{PendingTransactionBuilder, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use alloy::sol_types::SolEvent;
use serde_json::Value;

sol!(
    #[sol(rpc)]
    AOBridge,
    "../contracts/artifacts/AOBridge.json"
);
sol!(
    #[sol(rpc)]
    AOGateway,
    "../contracts/artifacts/AOGateway.json"
);
sol!(
    #[sol(rpc)]
    SampleDapp,
    "../contracts/artifacts/SampleDapp.json"
);
sol!(
    #[sol(rpc)]
    DevStETH,
    "../contracts/artifacts/DevStETH.json"
);
sol!(
    #[sol(rpc)]
    DevDAI,
    "../contracts/artifacts/DevDAI.json"
);
sol!(
    #[sol(rpc)]
    DevPot,
    "../contracts/artifacts/DevPot.json"
);
sol!(
    #[sol(rpc)]
    DevDsrManager,
    "../contracts/artifacts/DevDsrManager.json"
);
sol!(
    #[sol(rpc)]
    DevEventBurst,
    "../contracts/artifacts/DevEventBurst.json"
);

/// The anvil binary: `$AOLINK_ANVIL`, or the one `contracts/build` installs.
pub fn anvil_path() -> PathBuf {
    std::env::var_os("AOLINK_ANVIL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            crate::workspace_root()
                .join("contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
        })
}

/// A fresh anvil, or `None` (with a notice) outside CI when the binary is missing.
pub fn anvil() -> Option<AnvilInstance> {
    let path = anvil_path();
    if !path.exists() {
        crate::prerequisite_missing(&format!(
            "anvil is missing at {} (run contracts/build)",
            path.display()
        ));
        return None;
    }
    Some(Anvil::at(path).try_spawn().expect("anvil starts"))
}

/// anvil's first funded account.
pub fn deployer_key(anvil: &AnvilInstance) -> PrivateKeySigner {
    anvil.keys()[0].clone().into()
}

/// A provider that signs with anvil's first funded account.
pub fn wallet_provider(anvil: &AnvilInstance) -> impl Provider + Clone + 'static {
    ProviderBuilder::new()
        .wallet(EthereumWallet::from(deployer_key(anvil)))
        .connect_http(anvil.endpoint_url())
}

/// Waits for a sent transaction's receipt by asking for it (alloy's block heartbeat does not
/// survive `anvil_reorg`).
pub async fn mined<P: Provider>(
    provider: &P,
    pending: PendingTransactionBuilder<Ethereum>,
) -> TransactionReceipt {
    let hash: B256 = *pending.tx_hash();
    for _ in 0..1000 {
        if let Some(receipt) = provider.get_transaction_receipt(hash).await.unwrap() {
            assert!(receipt.status(), "transaction {hash} reverted");
            return receipt;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("transaction {hash} was not mined in 10 s");
}

/// Sends a contract call and waits for its receipt (alloy's own heartbeat; use [`mined`]
/// where the test reorgs the chain).
pub async fn landed<P: Provider, D: CallDecoder>(call: CallBuilder<P, D>) -> TransactionReceipt {
    let receipt = call.send().await.unwrap().get_receipt().await.unwrap();
    assert!(
        receipt.status(),
        "transaction {} reverted",
        receipt.transaction_hash
    );
    receipt
}

/// The first `E` event in `receipt`, decoded.
pub fn event_in<E: SolEvent>(receipt: &TransactionReceipt) -> E {
    receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<E>().ok())
        .map(|l| l.inner.data)
        .unwrap_or_else(|| panic!("no {} in {}", E::SIGNATURE, receipt.transaction_hash))
}

/// `count` bridge-shaped stakes from the burst contract in one transaction, mined.
pub async fn burst_stakes<P: Provider>(
    contract: &DevEventBurst::DevEventBurstInstance<P>,
    count: u64,
    first: u64,
    arweave: B256,
) -> TransactionReceipt {
    let pending = contract
        .burst(U256::from(count), U256::from(first), arweave)
        .send()
        .await
        .unwrap();
    mined(contract.provider(), pending).await
}

/// Mines `n` blocks.
pub async fn mine<P: Provider>(provider: &P, n: u64) {
    if n > 0 {
        let _: Value = provider
            .raw_request("anvil_mine".into(), (n,))
            .await
            .unwrap();
    }
}
