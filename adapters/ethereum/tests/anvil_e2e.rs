//! End to end against a real anvil: the devnet contracts deployed with alloy from the
//! committed artifacts, stakes and withdrawals of both assets, the watcher delivering them to a
//! mirror process, and the bridge ledger holding exactly the credited amounts.

use std::path::PathBuf;
use std::sync::Arc;

use alloy::network::EthereumWallet;
use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use aolink_ethereum::watcher::{WatchedContract, Watcher, WatcherConfig};
use aolink_ethereum::{Finality, events};
use aolink_node::ans104::{DataItem, Ed25519Signer, Tag};
use aolink_node::{Node, NodeConfig};
use serde_json::{Value, json};

sol!(
    #[sol(rpc)]
    AOBridge,
    "../../contracts/artifacts/AOBridge.json"
);
sol!(
    #[sol(rpc)]
    DevStETH,
    "../../contracts/artifacts/DevStETH.json"
);
sol!(
    #[sol(rpc)]
    DevDAI,
    "../../contracts/artifacts/DevDAI.json"
);
sol!(
    #[sol(rpc)]
    DevPot,
    "../../contracts/artifacts/DevPot.json"
);
sol!(
    #[sol(rpc)]
    DevDsrManager,
    "../../contracts/artifacts/DevDsrManager.json"
);

/// The anvil binary `contracts/build` installs, or `$AOLINK_ANVIL`. Missing: a failure in CI,
/// a visible skip elsewhere.
fn anvil() -> Option<AnvilInstance> {
    let path = std::env::var_os("AOLINK_ANVIL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
        });
    if !path.exists() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "anvil is missing at {} (run contracts/build)",
                path.display()
            );
        }
        eprintln!(
            "SKIPPED: anvil not found at {} (run contracts/build)",
            path.display()
        );
        return None;
    }
    Some(Anvil::at(path).try_spawn().expect("anvil starts"))
}

fn address_of(signer: &Ed25519Signer) -> String {
    DataItem::sign(signer, None, None, Vec::new(), Vec::new())
        .unwrap()
        .owner_address()
}

fn item(signer: &Ed25519Signer, target: Option<[u8; 32]>, tags: &[(&str, &str)]) -> DataItem {
    let mut t = vec![
        Tag::new("Data-Protocol", "ao"),
        Tag::new("Variant", "ao.TN.1"),
    ];
    t.extend(tags.iter().map(|(n, v)| Tag::new(*n, *v)));
    DataItem::sign(signer, target, None, t, Vec::new()).unwrap()
}

async fn dry(node: &Node, process: &DataItem, action: &str) -> Value {
    let (c, pid) = (node.compute().clone(), process.id());
    let msg =
        json!({"Tags": [{"name": "Action", "value": action}], "From": "reader", "Owner": "reader"});
    tokio::task::spawn_blocking(move || c.dry_run(&pid, &msg).unwrap())
        .await
        .unwrap()
}

async fn crank(node: &Node) {
    let n = node.clone();
    tokio::task::spawn_blocking(move || while n.crank_once().unwrap() {})
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stakes_and_withdrawals_reach_the_bridge_ledger_with_credited_amounts() {
    let Some(anvil) = anvil() else {
        return;
    };
    let key: PrivateKeySigner = anvil.keys()[0].clone().into();
    let user = key.address();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key))
        .connect_http(anvil.endpoint_url());

    let steth = DevStETH::deploy(&provider).await.unwrap();
    let dai = DevDAI::deploy(&provider).await.unwrap();
    let pot = DevPot::deploy(&provider).await.unwrap();
    let manager = DevDsrManager::deploy(&provider, *pot.address(), *dai.address())
        .await
        .unwrap();
    dai.setMinter(*manager.address())
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let treasury = Address::repeat_byte(0x7e);
    let bridge = AOBridge::deploy(
        &provider,
        *steth.address(),
        *dai.address(),
        *manager.address(),
        treasury,
    )
    .await
    .unwrap();
    let ether = U256::from(10).pow(U256::from(18));
    // A share price that is not 1, so transfers round (C4).
    steth
        .mint(user, U256::from(118) * ether)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    steth
        .rebase(U256::from(137) * ether)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    dai.mint(user, U256::from(100_000) * ether)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    steth
        .approve(*bridge.address(), U256::MAX)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    dai.approve(*bridge.address(), U256::MAX)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();

    // The node: a mirror of the bridge contract and the ledger subscribed to it.
    let dir = tempfile::tempdir().unwrap();
    let node = Node::open(NodeConfig::new(dir.path())).unwrap();
    let adapter = Arc::new(Ed25519Signer::generate());
    let owner = Ed25519Signer::generate();
    let contract = format!("{:#x}", bridge.address());
    let mirror = item(
        &owner,
        None,
        &[
            ("Type", "Process"),
            ("Device", "mirror@1.0"),
            ("Chain-Id", "31337"),
            ("Contract", &contract),
            ("Authority", &address_of(&adapter)),
        ],
    );
    node.submit(mirror.to_bytes()).await.unwrap();
    let ledger = item(
        &owner,
        None,
        &[
            ("Type", "Process"),
            ("Device", "bridge@1.0"),
            ("Mirror", &mirror.id_b64()),
            ("Asset", &format!("stETH:31337:{contract}:0")),
            ("Asset", &format!("DAI:31337:{contract}:1")),
        ],
    );
    node.submit(ledger.to_bytes()).await.unwrap();
    let subscribe = item(
        &owner,
        Some(mirror.id()),
        &[
            ("Type", "Message"),
            ("Action", "Subscribe"),
            ("Event", "*"),
            ("Subscriber", &ledger.id_b64()),
        ],
    );
    node.submit(subscribe.to_bytes()).await.unwrap();

    // Stakes and withdrawals; the credited amounts are what the events say.
    let ar = B256::repeat_byte(0x42);
    let mut credited = [U256::ZERO, U256::ZERO];
    for (pool, amount) in [
        (0u64, U256::from(10) * ether),
        (1, U256::from(1000) * ether + U256::from(13)),
        (0, U256::from(3) * ether),
    ] {
        let receipt = bridge
            .stake(U256::from(pool), amount, ar)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        let log = receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| l.log_decode::<events::bridge::UserStaked>().ok())
            .unwrap();
        credited[pool as usize] += log.inner.data.amount;
    }
    assert_ne!(
        credited[0],
        U256::from(13) * ether,
        "stETH credits the rounded delta"
    );
    // Withdrawing in the stake's own second is locked (strict `>`, C7): move time on.
    let _: Value = provider
        .raw_request("evm_increaseTime".into(), (2u64,))
        .await
        .unwrap();
    let receipt = bridge
        .withdraw(U256::from(1), U256::from(400) * ether, ar)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let withdrawn = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<events::bridge::UserWithdrawn>().ok())
        .unwrap();
    credited[1] -= withdrawn.inner.data.amount;

    let config = WatcherConfig::new(
        31337,
        Finality::Confirmations(0),
        vec![WatchedContract {
            address: *bridge.address(),
            start_block: 1,
            mirror: mirror.id(),
        }],
    );
    let mut watcher = Watcher::new(provider.clone(), node.clone(), adapter, config);
    let mut delivered = 0;
    for _ in 0..20 {
        let p = watcher.poll_once().await.unwrap();
        delivered += p.events;
        if p.caught_up {
            break;
        }
    }
    assert_eq!(delivered, 4, "three stakes and a withdrawal");
    crank(&node).await;

    let info = dry(&node, &ledger, "Info").await;
    assert_eq!(
        info["Output"]["totals"]["stETH"],
        credited[0].to_string(),
        "{info}"
    );
    assert_eq!(
        info["Output"]["totals"]["DAI"],
        credited[1].to_string(),
        "{info}"
    );
    let view = dry(&node, &mirror, "State").await;
    assert_eq!(view["Output"]["counts"]["UserStaked"], 3, "{view}");

    // Nothing new: a poll delivers nothing and the mirror's schedule does not grow.
    let slots = node
        .store()
        .process(&mirror.id())
        .unwrap()
        .unwrap()
        .next_slot;
    let p = watcher.poll_once().await.unwrap();
    assert_eq!(p.events, 0);
    assert_eq!(
        node.store()
            .process(&mirror.id())
            .unwrap()
            .unwrap()
            .next_slot,
        slots
    );
    let _ = provider.get_block_number().await.unwrap();
}
