//! `aolink devnet`: the whole system on one machine, in one command. It finds (or installs into
//! a tools folder) anvil, starts it and the local Solana devnet, deploys the contracts, starts
//! an `aolink node` (a child process of this one) configured for both chains, then walks
//! through what aolink is for, printing each step: stETH and DAI staked into the bridge, a
//! dApp's question from each chain answered by an aos process and delivered back with the
//! node's signature, and mint periods passing with the minted AO shown. It keeps running with
//! the status page's URL printed until Ctrl-C, which stops every child.
//!
//! Every run is a fresh pair of chains, so the node's data directory is made afresh too; the
//! keys (`DIR/keys/`) and the tools are kept for the next run.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::network::EthereumWallet;
use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, Result, bail};
use aolink_node::ans104::{DataItem, Ed25519Signer, Tag};
use aolink_node::attest::AttestKeys;
use aolink_primitives::answer::{SOLANA_ANSWER_MEMO_PREFIX, answer_id};
use aolink_primitives::ao::{AoTags, ItemType};
use aolink_solana_devnet::{Devnet, DevnetConfig, memo_call_transaction};
use serde_json::{Value, json};
use solana_keypair::Keypair;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_signer::Signer as _;

use crate::config;

alloy::sol!(
    #[sol(rpc)]
    AOBridge,
    "../contracts/artifacts/AOBridge.json"
);
alloy::sol!(
    #[sol(rpc)]
    AOGateway,
    "../contracts/artifacts/AOGateway.json"
);
alloy::sol!(
    #[sol(rpc)]
    SampleDapp,
    "../contracts/artifacts/SampleDapp.json"
);
alloy::sol!(
    #[sol(rpc)]
    DevStETH,
    "../contracts/artifacts/DevStETH.json"
);
alloy::sol!(
    #[sol(rpc)]
    DevDAI,
    "../contracts/artifacts/DevDAI.json"
);
alloy::sol!(
    #[sol(rpc)]
    DevPot,
    "../contracts/artifacts/DevPot.json"
);
alloy::sol!(
    #[sol(rpc)]
    DevDsrManager,
    "../contracts/artifacts/DevDsrManager.json"
);

/// The anvil release the tools folder gets (the one the contracts are tested with).
const ANVIL_PACKAGE: &str = "@foundry-rs/anvil-linux-amd64@1.7.1";

/// The module format of the aos module the walk-through runs.
const AOS_FORMAT: &str = "wasm64-unknown-emscripten-draft_2024_02_15";

/// The mint period of the devnet's bridge ledger, in seconds: short, so periods pass while
/// you watch.
const MINT_PERIOD_S: u64 = 5;

/// What the devnet's aos process answers to `Ask`.
const ANSWER: &str = "forty-two";

/// `aolink devnet`'s options.
#[derive(clap::Args, Debug)]
pub struct DevnetArgs {
    /// Where the devnet keeps its configuration, keys, node data and logs.
    #[arg(long, default_value = "aolink-devnet")]
    pub dir: PathBuf,
    /// The node's HTTP address (the status page is at /ui).
    #[arg(long, default_value = "127.0.0.1:4010")]
    pub listen: SocketAddr,
    /// The aos module the walk-through's process runs (a wasm64 aos 2.0 build, Module-Format
    /// wasm64-unknown-emscripten-draft_2024_02_15). Without one, the cross-chain round trips
    /// are skipped.
    #[arg(long, env = "AOLINK_DEVNET_AOS_MODULE")]
    pub aos_module: Option<PathBuf>,
    /// Where anvil is installed when it is not on the PATH (default ~/.cache/aolink/tools).
    #[arg(long, env = "AOLINK_TOOLS")]
    pub tools: Option<PathBuf>,
}

/// A line for whoever watches; a closed stdout (the terminal gone) is not a reason to stop
/// anything.
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

fn step(text: &str) {
    say(&format!("==> {text}"));
}

fn done(text: &str) {
    say(&format!("    {text}"));
}

/// anvil: `$AOLINK_ANVIL`, one on the PATH, the tools folder's, or installed there from npm.
fn anvil_binary(tools: &Path) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("AOLINK_ANVIL") {
        return Ok(PathBuf::from(path));
    }
    if let Some(found) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("anvil"))
        .find(|p| p.is_file())
    {
        return Ok(found);
    }
    let installed = tools.join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if installed.is_file() {
        return Ok(installed);
    }
    done(&format!(
        "installing {ANVIL_PACKAGE} into {}",
        tools.display()
    ));
    std::fs::create_dir_all(tools).with_context(|| format!("creating {}", tools.display()))?;
    let status = Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
        ])
        .arg(tools)
        .arg(ANVIL_PACKAGE)
        .status()
        .context("running npm (install Node.js and npm, or put anvil on the PATH)")?;
    if !status.success() || !installed.is_file() {
        bail!(
            "npm could not install {ANVIL_PACKAGE} into {}",
            tools.display()
        );
    }
    Ok(installed)
}

fn default_tools() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("aolink/tools")
}

/// A 32-byte secret kept in `path` (0600), made on first use.
fn kept_secret(path: &Path) -> Result<[u8; 32]> {
    if path.exists() {
        return aolink_primitives::secret::read_key_file(path)
            .map_err(|e| config::fault(e.to_string()));
    }
    let mut secret = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
    write_private(path, &format!("{}\n", hex::encode(secret)))?;
    Ok(secret)
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// The contracts the walk-through uses.
struct Deployed {
    gateway: Address,
    dapp: Address,
    bridge: Address,
    steth: Address,
    dai: Address,
}

async fn deploy(provider: &DynProvider, signer: Address) -> Result<Deployed> {
    let gateway = AOGateway::deploy(provider.clone(), vec![signer], U256::from(1)).await?;
    let dapp = SampleDapp::deploy(provider.clone(), *gateway.address()).await?;
    let steth = DevStETH::deploy(provider.clone()).await?;
    let dai = DevDAI::deploy(provider.clone()).await?;
    let pot = DevPot::deploy(provider.clone()).await?;
    let manager = DevDsrManager::deploy(provider.clone(), *pot.address(), *dai.address()).await?;
    dai.setMinter(*manager.address())
        .send()
        .await?
        .get_receipt()
        .await?;
    let bridge = AOBridge::deploy(
        provider.clone(),
        *steth.address(),
        *dai.address(),
        *manager.address(),
        Address::repeat_byte(0x7e),
    )
    .await?;
    Ok(Deployed {
        gateway: *gateway.address(),
        dapp: *dapp.address(),
        bridge: *bridge.address(),
        steth: *steth.address(),
        dai: *dai.address(),
    })
}

/// The running node child: its URL, the lines it printed, and the process.
struct NodeChild {
    child: Child,
    url: String,
    printed: Vec<String>,
    data_dir: PathBuf,
}

impl NodeChild {
    fn mirror_of(&self, chain: &str, contract: &str) -> Result<String> {
        let prefix = format!("mirror: chain {chain} contract {contract} process ");
        self.printed
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(|p| p.trim().to_string())
            .with_context(|| format!("the node printed no mirror for {contract} on {chain}"))
    }

    /// Stops the node with SIGTERM and waits for it.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn start_node(dir: &Path, listen: SocketAddr, config: &Path) -> Result<NodeChild> {
    let log = std::fs::File::create(dir.join("node.log")).context("creating node.log")?;
    let mut child = Command::new(std::env::current_exe().context("finding aolink itself")?)
        .args(["node", "--listen", &listen.to_string(), "--data-dir"])
        .arg(dir.join("data"))
        .arg("--config")
        .arg(config)
        .env("AOLINK_LOG_FORMAT", "text")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .context("starting aolink node")?;
    let stdout = child.stdout.take().context("the node's stdout")?;
    let mut printed = Vec::new();
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let Some(line) = lines
            .next()
            .transpose()
            .context("reading the node's output")?
        else {
            let status = child.wait()?;
            bail!(
                "the node stopped ({status}) before serving: see {}",
                dir.join("node.log").display()
            );
        };
        if let Some(url) = line.strip_prefix("aolink node listening on ") {
            break url.trim().to_string();
        }
        printed.push(line);
    };
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    Ok(NodeChild {
        child,
        url,
        printed,
        data_dir: dir.join("data"),
    })
}

/// A fresh Solana key pair with `lamports` from the devnet's faucet.
async fn funded(rpc: &RpcClient, lamports: u64) -> Result<Keypair> {
    let key = Keypair::new();
    let airdrop = rpc.request_airdrop(&key.pubkey(), lamports).await?;
    rpc.poll_for_signature_with_commitment(
        &airdrop,
        solana_commitment_config::CommitmentConfig::confirmed(),
    )
    .await?;
    Ok(key)
}

/// The node's key, from the data directory it created.
fn node_key(node: &NodeChild) -> Result<Ed25519Signer> {
    let path = node.data_dir.join(aolink_node::keys::KEY_FILE);
    let (key, _) = aolink_node::keys::NodeKey::load_or_create_file(&path)
        .with_context(|| format!("reading the node key {}", path.display()))?;
    Ok(key.signer().clone())
}

/// A signed AO item with the protocol tags, `extra` tags and `data`.
fn ao_item(
    signer: &Ed25519Signer,
    target: Option<[u8; 32]>,
    extra: &[(&str, &str)],
    data: &[u8],
) -> Result<DataItem> {
    let mut tags = AoTags::default().protocol().variant().build();
    tags.extend(extra.iter().map(|(n, v)| Tag::new(*n, *v)));
    Ok(DataItem::sign(signer, target, None, tags, data.to_vec())?)
}

async fn post(client: &reqwest::Client, node: &str, item: &DataItem) -> Result<()> {
    let response = client
        .post(format!("{node}/"))
        .body(item.to_bytes())
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("the node refused an item: {}", response.text().await?);
    }
    Ok(())
}

async fn dry_run(client: &reqwest::Client, node: &str, pid: &str, action: &str) -> Result<Value> {
    Ok(client
        .post(format!("{node}/dry-run?process-id={pid}"))
        .json(&json!({"Tags": [{"name": "Action", "value": action}]}))
        .send()
        .await?
        .json()
        .await?)
}

/// Waits up to `limit` for `check` to give a value.
async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("{what}: not within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the devnet until Ctrl-C (or SIGTERM).
pub async fn run(args: DevnetArgs) -> Result<()> {
    let stop = crate::shutdown_signal();
    tokio::pin!(stop);
    let dir = std::path::absolute(&args.dir).unwrap_or(args.dir.clone());
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).with_context(|| format!("creating {}", keys.display()))?;
    let data = dir.join("data");
    if data.exists() {
        std::fs::remove_dir_all(&data)
            .with_context(|| format!("clearing the last run's {}", data.display()))?;
    }
    let module = match &args.aos_module {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| config::fault(format!("--aos-module {}: {e}", path.display())))?,
        ),
        None => None,
    };

    step("tools");
    let tools = args.tools.clone().unwrap_or_else(default_tools);
    let anvil_path = anvil_binary(&tools)?;
    done(&format!("anvil: {}", anvil_path.display()));

    step("chains");
    let anvil: AnvilInstance = Anvil::at(&anvil_path)
        .block_time(1)
        .try_spawn()
        .context("starting anvil")?;
    done(&format!("anvil (chain 31337): {}", anvil.endpoint_url()));
    let solana = Devnet::start(DevnetConfig {
        slot_interval: Some(Duration::from_millis(100)),
        ..DevnetConfig::default()
    })
    .await
    .context("starting the Solana devnet")?;
    let sol_rpc = RpcClient::new_with_commitment(
        solana.url.clone(),
        solana_commitment_config::CommitmentConfig::confirmed(),
    );
    let genesis = sol_rpc.get_genesis_hash().await?.to_string();
    done(&format!(
        "Solana devnet (cluster {genesis}): {}",
        solana.url
    ));

    step("keys and contracts");
    let attest_eth = kept_secret(&keys.join("attest-ethereum.key"))?;
    let attest_sol = kept_secret(&keys.join("attest-solana.key"))?;
    let signers = AttestKeys::none()
        .with_ethereum(&attest_eth, "attest-ethereum.key")
        .map_err(|e| config::fault(e.to_string()))?
        .with_solana(&attest_sol);
    let eth_signer = signers.ethereum_address().unwrap_or_default();
    let sol_signer = signers.solana_public().unwrap_or_default();
    let deployer = PrivateKeySigner::from_bytes(&B256::from_slice(&anvil.keys()[0].to_bytes()))?;
    let user = deployer.address();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(deployer))
        .connect_http(anvil.endpoint_url())
        .erased();
    let contracts = deploy(&provider, eth_signer.parse()?).await?;
    done(&format!(
        "AOGateway {:#x} (signer {eth_signer}, 1 of 1), SampleDapp {:#x}, AOBridge {:#x}",
        contracts.gateway, contracts.dapp, contracts.bridge
    ));
    let relayer_key = keys.join("relayer-ethereum.key");
    write_private(
        &relayer_key,
        &format!("{}\n", hex::encode(anvil.keys()[1].to_bytes())),
    )?;
    let payer = funded(&sol_rpc, 10_000_000_000).await?;
    let payer_file = keys.join("relayer-solana.key");
    write_private(
        &payer_file,
        &format!("{}\n", hex::encode(payer.secret_bytes())),
    )?;
    let sol_gateway = Keypair::new().pubkey();
    done(&format!(
        "Solana gateway address {sol_gateway} (signer {sol_signer}, 1 of 1)"
    ));

    let config_path = dir.join("aolink.toml");
    let text = format!(
        r#"# Written by `aolink devnet` for this run's chains.
[attest]
epoch = 0
ethereum_key_file = "{eth_key}"
solana_key_file = "{sol_key}"

[[attest.sets]]
family = "ethereum"
epoch = 0
threshold = 1
signers = ["{eth_signer}"]

[[attest.sets]]
family = "solana"
epoch = 0
threshold = 1
signers = ["{sol_signer}"]

[[ethereum]]
chain_id = 31337
rpc = "{anvil_url}"
finality = 1
poll_interval_ms = 200

[[ethereum.contracts]]
address = "{gateway:#x}"
start_block = 0

[[ethereum.contracts]]
address = "{bridge:#x}"
start_block = 0

[ethereum.delivery]
key_file = "{relayer_key}"

[[solana]]
cluster = "{genesis}"
rpc = "{sol_url}"
commitment = "confirmed"
poll_interval_ms = 200

[[solana.gateways]]
address = "{sol_gateway}"

[solana.delivery]
key_file = "{payer_file}"
"#,
        eth_key = keys.join("attest-ethereum.key").display(),
        sol_key = keys.join("attest-solana.key").display(),
        anvil_url = anvil.endpoint_url(),
        gateway = contracts.gateway,
        bridge = contracts.bridge,
        relayer_key = relayer_key.display(),
        sol_url = solana.url,
        payer_file = payer_file.display(),
    );
    write_private(&config_path, &text)?;

    step("node");
    let node = start_node(&dir, args.listen, &config_path)?;
    done(&format!(
        "aolink node: {} (logs in {})",
        node.url,
        dir.join("node.log").display()
    ));
    let walk = walk_through(
        &node,
        &provider,
        user,
        &contracts,
        &sol_rpc,
        &sol_gateway,
        &genesis,
        module,
    );
    let outcome = tokio::select! {
        _ = &mut stop => None,
        result = walk => Some(result),
    };
    match outcome {
        Some(Ok(())) => {
            step("walk-through done");
            say(&format!(
                "status page: {}/ui (Ctrl-C stops the devnet)",
                node.url
            ));
            stop.await;
        }
        Some(Err(e)) => {
            eprintln!("error: the walk-through failed: {e:#}");
            say(&format!(
                "status page: {}/ui (Ctrl-C stops the devnet)",
                node.url
            ));
            stop.await;
        }
        None => {}
    }
    step("stopping");
    node.stop();
    solana.stop().await;
    drop(anvil);
    done("stopped: the node, the Solana devnet and anvil");
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn walk_through(
    node: &NodeChild,
    provider: &DynProvider,
    user: Address,
    contracts: &Deployed,
    sol_rpc: &RpcClient,
    sol_gateway: &solana_pubkey::Pubkey,
    genesis: &str,
    module: Option<Vec<u8>>,
) -> Result<()> {
    let client = reqwest::Client::new();
    let url = &node.url;
    let owner = Ed25519Signer::generate();
    let node_address: String = client
        .get(format!("{url}/health"))
        .send()
        .await?
        .json::<Value>()
        .await?["address"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    step("the bridge ledger and the mint");
    let bridge_hex = format!("{:#x}", contracts.bridge);
    let mirror = node.mirror_of("31337", &bridge_hex)?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis()
        .to_string();
    let ledger = ao_item(
        &owner,
        None,
        &[
            ("Type", "Process"),
            ("Device", "bridge@1.0"),
            ("Name", "devnet bridge ledger"),
            ("Mirror", &mirror),
            ("Asset", &format!("stETH:31337:{bridge_hex}:0")),
            ("Asset", &format!("DAI:31337:{bridge_hex}:1")),
            ("Mint-T0", &now_ms),
            ("Bridge-Start", &now_ms),
            ("Mint-Period", &MINT_PERIOD_S.to_string()),
            ("Accrual-Delay", "0"),
            ("Report-To", "none"),
        ],
        b"",
    )?;
    post(&client, url, &ledger).await?;
    // The mirror is the node's (spawned with its key): its owner subscribes the ledger.
    let node_key = node_key(node)?;
    let subscribe = ao_item(
        &node_key,
        Some(
            aolink_node::ans104::b64url_decode_32(&mirror, "mirror")
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        ),
        &[
            ("Type", "Message"),
            ("Action", "Subscribe"),
            ("Event", "*"),
            ("Subscriber", &ledger.id_b64()),
        ],
        b"",
    )?;
    post(&client, url, &subscribe).await?;
    done(&format!(
        "ledger process {} (bridge@1.0, a period every {MINT_PERIOD_S} s) fed by the bridge's mirror {mirror}",
        ledger.id_b64()
    ));

    step("staking stETH and DAI");
    let ether = U256::from(10).pow(U256::from(18));
    let steth = DevStETH::new(contracts.steth, provider.clone());
    let dai = DevDAI::new(contracts.dai, provider.clone());
    let bridge = AOBridge::new(contracts.bridge, provider.clone());
    steth
        .mint(user, U256::from(10) * ether)
        .send()
        .await?
        .get_receipt()
        .await?;
    dai.mint(user, U256::from(5_000) * ether)
        .send()
        .await?
        .get_receipt()
        .await?;
    steth
        .approve(contracts.bridge, U256::MAX)
        .send()
        .await?
        .get_receipt()
        .await?;
    dai.approve(contracts.bridge, U256::MAX)
        .send()
        .await?
        .get_receipt()
        .await?;
    let recipient = B256::repeat_byte(0x42);
    for (pool, amount, asset) in [
        (0u64, U256::from(2) * ether, "stETH"),
        (1, U256::from(1_000) * ether, "DAI"),
    ] {
        // A fixed gas limit: the DAI path drips the pot, whose cost depends on the time the
        // block is mined, not on the time the gas was estimated.
        let receipt = bridge
            .stake(U256::from(pool), amount, recipient)
            .gas(600_000)
            .send()
            .await?
            .get_receipt()
            .await?;
        if !receipt.status() {
            bail!("the {asset} stake {:#x} reverted", receipt.transaction_hash);
        }
        done(&format!(
            "staked {asset} in {:#x}",
            receipt.transaction_hash
        ));
    }
    let ledger_id = ledger.id_b64();
    let (c, lid) = (&client, &ledger_id);
    let totals = wait_for(
        "the ledger crediting both stakes",
        Duration::from_secs(60),
        || async move {
            let info = dry_run(c, url, lid, "Info").await?;
            let totals = &info["Output"]["totals"];
            Ok((totals["stETH"].is_string() && totals["DAI"].is_string()).then(|| totals.clone()))
        },
    )
    .await?;
    done(&format!(
        "the ledger credits stETH {} and DAI {} (wei)",
        totals["stETH"].as_str().unwrap_or("?"),
        totals["DAI"].as_str().unwrap_or("?")
    ));

    if let Some(wasm) = module {
        step("an aos process answering both chains");
        let module_item = DataItem::sign(
            &owner,
            None,
            None,
            AoTags::new(ItemType::Module)
                .with("Module-Format", AOS_FORMAT)
                .with("Input-Encoding", "JSON-1")
                .with("Output-Encoding", "JSON-1")
                .with("Content-Type", "application/wasm")
                .build(),
            wasm,
        )?;
        let module_id = module_item.id_b64();
        let process = ao_item(
            &owner,
            None,
            &[
                ("Type", "Process"),
                ("Module", &module_id),
                ("Name", "devnet answerer"),
                ("Authority", &node_address),
            ],
            b"1984",
        )?;
        let handler = format!(
            "Handlers.add('ask', Handlers.utils.hasMatchingTag('Action', 'Ask'), \
             function(m) m.reply({{Action = 'Answer', Data = '{ANSWER}'}}) end); return 'ok'"
        );
        let eval = ao_item(
            &owner,
            Some(process.id()),
            &[("Type", "Message"), ("Action", "Eval")],
            handler.as_bytes(),
        )?;
        for item in [&module_item, &process, &eval] {
            post(&client, url, item).await?;
        }
        done(&format!(
            "process {} (aos, replies '{ANSWER}' to Ask)",
            process.id_b64()
        ));

        step("a dApp on Ethereum asks it");
        let dapp = SampleDapp::new(contracts.dapp, provider.clone());
        let receipt = dapp
            .ask(
                B256::from(process.id()),
                "Ask".into(),
                b"meaning?".to_vec().into(),
            )
            .send()
            .await?
            .get_receipt()
            .await?;
        if !receipt.status() {
            bail!("SampleDapp.ask {:#x} reverted", receipt.transaction_hash);
        }
        done(&format!(
            "SampleDapp.ask in {:#x}",
            receipt.transaction_hash
        ));
        let d = &dapp;
        let answer = wait_for(
            "the answer on Ethereum",
            Duration::from_secs(120),
            || async move {
                let answer = d.answers(U256::from(1)).call().await?;
                Ok((!answer.is_empty()).then_some(answer))
            },
        )
        .await?;
        done(&format!(
            "SampleDapp holds the answer: {:?}",
            String::from_utf8_lossy(&answer)
        ));

        step("a dApp on Solana asks it");
        let asker = funded(sol_rpc, 1_000_000_000).await?;
        let memo = format!(
            "aolink:v1:{}",
            json!({"process": process.id_b64(), "action": "Ask", "data": "meaning?"})
        );
        let blockhash = sol_rpc.get_latest_blockhash().await?;
        let signature = sol_rpc
            .send_and_confirm_transaction(&memo_call_transaction(
                &asker,
                sol_gateway,
                &memo,
                blockhash,
            ))
            .await?;
        done(&format!("memo call {signature} from {}", asker.pubkey()));
        let chain_id = aolink_solana::cluster::chain_id(genesis);
        let id = answer_id(
            &chain_id,
            &sol_gateway.to_string(),
            &format!("{signature}:0"),
        );
        let marker = format!("{SOLANA_ANSWER_MEMO_PREFIX}{id}:");
        let (who, marker) = (asker.pubkey(), &marker);
        let delivered = wait_for(
            "the answer on Solana",
            Duration::from_secs(120),
            || async move {
                let listed = sol_rpc.get_signatures_for_address(&who).await?;
                Ok(listed
                    .into_iter()
                    .find(|s| {
                        s.err.is_none() && s.memo.as_deref().is_some_and(|m| m.contains(marker))
                    })
                    .map(|s| s.signature))
            },
        )
        .await?;
        done(&format!(
            "delivered to {} in {delivered}, verified on chain by the Ed25519 program",
            asker.pubkey()
        ));
    } else {
        step("cross-chain round trips skipped");
        done("they need an aos module: --aos-module FILE (or AOLINK_DEVNET_AOS_MODULE)");
    }

    step("mint periods");
    let ledger_target = ledger.id();
    let (client, ledger_id, owner) = (&client, &ledger_id, &owner);
    let mut nonce = 0u64;
    let info = wait_for(
        "a mint period",
        Duration::from_secs(4 * MINT_PERIOD_S),
        || {
            nonce += 1;
            let tick = ao_item(
                owner,
                Some(ledger_target),
                &[
                    ("Type", "Message"),
                    ("Action", "Info"),
                    ("Nonce", &nonce.to_string()),
                ],
                b"",
            );
            async move {
                // A scheduled message: the ledger mints every period that ended before it.
                post(client, url, &tick?).await?;
                let info = dry_run(client, url, ledger_id, "Info").await?;
                let minted = info["Output"]["mintedPeriods"].as_u64().unwrap_or(0);
                Ok((minted >= 1).then(|| info["Output"].clone()))
            }
        },
    )
    .await?;
    done(&format!(
        "{} periods minted, supply {} armstrong",
        info["mintedPeriods"],
        info["supply"].as_str().unwrap_or("?")
    ));
    Ok(())
}
