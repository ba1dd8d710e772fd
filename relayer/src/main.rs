//! `aolink`: the command-line entry point. All the work lives in the `aolink-node` library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use aolink_node::attest::{AttestConfig, AttestKeys};
use aolink_node::http::{DEFAULT_BODY_LIMIT, HttpConfig};
use aolink_node::store::Store;
use aolink_node::{Node, NodeConfig};
use clap::{Parser, Subcommand};

mod chains;
mod config;
mod delivery;
mod devnet;
mod mint;
mod operator;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "aolink",
    version,
    about = "Cross-chain bridge and relayer around an embedded AO node"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the embedded AO node: the MU/SU HTTP API and the durable scheduler.
    Node(NodeArgs),
    /// Evaluate a message sequence on a process module locally (a process developer's test
    /// loop): one JSON message per line in, one JSON result per line out, memory carried from
    /// message to message, errored messages' memory changes discarded as the node does.
    Eval(EvalArgs),
    /// Check the fair-launch mint: the total after N periods, or a largest-remainder split.
    #[command(subcommand)]
    Mint(mint::MintCommand),
    /// Give a dead delivery another go: the running node takes it back to collecting
    /// signatures, then submits it again.
    Replay {
        /// The answer's id (64 hex digits, as `/status` and the logs show it).
        id: String,
        /// The running node.
        #[arg(long, env = "AOLINK_NODE_URL", default_value = "http://127.0.0.1:4010")]
        node: String,
    },
    /// Let a halted signer sign again, once you have read why it halted (`/status` shows the
    /// reason: two different answers to one request, or the chain disagreeing with it).
    ResumeSigner {
        /// The running node.
        #[arg(long, env = "AOLINK_NODE_URL", default_value = "http://127.0.0.1:4010")]
        node: String,
    },
    /// The whole system on this machine: anvil and a Solana devnet, the contracts, a node
    /// watching both, and a walk-through (stakes, a question from each chain answered by an
    /// aos process and delivered back, mint periods), then the status page until Ctrl-C.
    Devnet(devnet::DevnetArgs),
    /// Start an instance: write a commented configuration (DIR/aolink.toml), fresh
    /// attestation keys (DIR/keys/, mode 0600) and the node key (DIR/data/), and print the
    /// addresses to put in the gateways' signer sets. Never overwrites anything.
    Init {
        /// Where to write (created if missing).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// A running node's health, chains and delivery queue in a few lines; exits 1 when the
    /// node reports itself unhealthy.
    Status {
        /// The running node.
        #[arg(long, env = "AOLINK_NODE_URL", default_value = "http://127.0.0.1:4010")]
        node: String,
        /// Print `/status` as it is (JSON).
        #[arg(long)]
        json: bool,
    },
    /// The keys of this instance.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check every schedule in a data directory (slots gap-free, hash chains, signatures).
    /// The node must not be running.
    Audit {
        /// The node's data directory.
        #[arg(long, env = "AOLINK_DATA_DIR", default_value = "aolink-data")]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print the node and adapter addresses of a data directory and the attestation signers of
    /// a configuration, without a running node.
    Show {
        /// The node's data directory.
        #[arg(long, env = "AOLINK_DATA_DIR", default_value = "aolink-data")]
        data_dir: PathBuf,
        /// The configuration whose [attest] keys to show.
        #[arg(long, env = "AOLINK_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct EvalArgs {
    /// The module's .wasm file.
    #[arg(long)]
    module: PathBuf,
    /// Its Module-Format, e.g. wasm64-unknown-emscripten-draft_2024_02_15.
    #[arg(long)]
    format: String,
    /// Messages, one JSON object per line (as ao-loader's `handle` takes them).
    #[arg(long)]
    messages: PathBuf,
    /// The environment object as ao-loader takes it ({"Process": {...}, "Module": {...}});
    /// default: built from the first message (see `default_env`).
    #[arg(long)]
    env: Option<PathBuf>,
    /// Memory limit in bytes, or with a unit ("1-gb").
    #[arg(long, default_value = "1-gb")]
    memory_limit: String,
    /// Compute limit per message.
    #[arg(long, default_value_t = 9_000_000_000_000)]
    compute_limit: u64,
}

#[derive(clap::Args)]
struct NodeArgs {
    /// Where the node keeps its key and store (created on first start).
    #[arg(long, env = "AOLINK_DATA_DIR", default_value = "aolink-data")]
    data_dir: PathBuf,
    /// Address to serve HTTP on. Port 0 picks a free port (printed at start).
    #[arg(long, env = "AOLINK_LISTEN", default_value = "127.0.0.1:4010")]
    listen: SocketAddr,
    /// The URL clients reach the node at, advertised as its Scheduler-Location
    /// (default: http://<listen address>).
    #[arg(long, env = "AOLINK_PUBLIC_URL")]
    public_url: Option<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_BODY_LIMIT)]
    body_limit: usize,
    /// The relayer configuration (TOML): the chains to watch and their contracts. Without it
    /// the node runs alone. See docs/ethereum.md.
    #[arg(long, env = "AOLINK_CONFIG")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    init_logging();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit_code(&e)
        }
    }
}

/// The exit status of a failed command: [`config::EXIT_CONFIG`] for a configuration error
/// (the file, a key, an override, a key file), 1 for anything that went wrong at run time.
/// (Usage errors exit with 2, from clap.)
fn exit_code(e: &anyhow::Error) -> ExitCode {
    if e.chain().any(|cause| cause.is::<config::ConfigFault>()) {
        ExitCode::from(config::EXIT_CONFIG)
    } else {
        ExitCode::FAILURE
    }
}

/// How log lines are written to stderr (`AOLINK_LOG_FORMAT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    /// Coloured, for a person at a terminal.
    Pretty,
    /// One JSON object per line, with the current span and its parents: for log collectors.
    Json,
    /// Plain text lines (`level target: span{fields}: message fields`), no colour.
    Text,
}

/// The format `AOLINK_LOG_FORMAT` asks for (`pretty`, `json` or `text`); by default pretty on a
/// terminal and JSON lines otherwise.
fn log_format(value: Option<&str>, terminal: bool) -> LogFormat {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some("pretty") => LogFormat::Pretty,
        Some("json") => LogFormat::Json,
        Some("text") => LogFormat::Text,
        other => {
            if let Some(other) = other {
                eprintln!(
                    "AOLINK_LOG_FORMAT={other:?} is not pretty, json or text; using the default"
                );
            }
            if terminal {
                LogFormat::Pretty
            } else {
                LogFormat::Json
            }
        }
    }
}

fn init_logging() {
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let filter = log_filter(std::env::var("AOLINK_LOG").ok().as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match log_format(std::env::var("AOLINK_LOG_FORMAT").ok().as_deref(), terminal) {
        LogFormat::Pretty => builder.with_ansi(true).init(),
        LogFormat::Text => builder.with_ansi(false).init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}

/// aolink's own crates, as `AOLINK_LOG` targets.
const OWN_CRATES: [&str; 5] = [
    "aolink",
    "aolink_node",
    "aolink_devices",
    "aolink_ethereum",
    "aolink_primitives",
];

/// The log filter `AOLINK_LOG` asks for. A bare level (`debug`) applies to aolink's own crates,
/// with the libraries under them at `info`: following an event through aolink should not
/// mean reading the storage engine's page writes. Anything else is an `EnvFilter` directive
/// list, taken as written (`AOLINK_LOG=debug,sled=trace`).
fn log_filter(value: Option<&str>) -> EnvFilter {
    let value = value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or("info");
    let bare_level = value.parse::<tracing::Level>().is_ok();
    let directives = if bare_level {
        let own: Vec<String> = OWN_CRATES.iter().map(|c| format!("{c}={value}")).collect();
        format!("info,{}", own.join(","))
    } else {
        value.to_string()
    };
    EnvFilter::try_new(&directives).unwrap_or_else(|e| {
        eprintln!("AOLINK_LOG={value:?} is not a log filter ({e}); logging at info");
        EnvFilter::new("info")
    })
}

fn run(cli: Cli) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match cli.command {
        Command::Node(args) => runtime.block_on(run_node(args)),
        Command::Audit { data_dir } => audit(&data_dir),
        Command::Eval(args) => eval(&args),
        Command::Mint(command) => mint::run(&command),
        Command::Replay { id, node } => runtime.block_on(replay(&node, &id)),
        Command::ResumeSigner { node } => runtime.block_on(resume_signer(&node)),
        Command::Init { dir } => operator::init(&dir),
        Command::Devnet(args) => runtime.block_on(devnet::run(args)),
        Command::Status { node, json } => runtime.block_on(operator::status(&node, json)),
        Command::Keys(KeysCommand::Show { data_dir, config }) => {
            operator::keys_show(&data_dir, config.as_deref())
        }
    }
}

/// `POST`s to an operator route of the running node at `node`: its JSON answer, or its error
/// as this command's.
async fn post_to_node(node: &str, path: &str) -> Result<serde_json::Value> {
    let url = format!("{}{path}", node.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .send()
        .await
        .with_context(|| {
            format!("reaching the node at {node} (is it running? --node sets its URL)")
        })?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("reading the answer of {url}"))?;
    if !status.is_success() {
        bail!("{}", body["error"].as_str().unwrap_or("the node refused"));
    }
    Ok(body)
}

async fn replay(node: &str, id: &str) -> Result<()> {
    let record = post_to_node(node, &format!("/deliveries/{id}/replay")).await?;
    println!(
        "delivery {id} is {} again: the node submits it once it has a quorum",
        record["state"]["name"].as_str().unwrap_or("open")
    );
    Ok(())
}

async fn resume_signer(node: &str) -> Result<()> {
    let answer = post_to_node(node, "/attest/resume").await?;
    match answer["cleared"]["reason"].as_str() {
        Some(reason) => println!("signer resumed; it had halted because: {reason}"),
        None => println!("the signer was not halted"),
    }
    Ok(())
}

async fn run_node(args: NodeArgs) -> Result<()> {
    if !args.listen.ip().is_loopback() {
        tracing::warn!(listen = %args.listen, "serving on a non-loopback address: put TLS and access control in front of it");
    }
    // The configuration is checked before anything is opened or created.
    let config = match &args.config {
        Some(path) => Some(chains::load(path)?),
        None => None,
    };
    let (chains, attest, delivery) = match config {
        Some(c) => (c.chains, c.attest, c.delivery),
        None => Default::default(),
    };
    let keys = AttestKeys::load(
        attest.ethereum_key_file.as_deref(),
        attest.solana_key_file.as_deref(),
    )
    .map_err(|e| config::fault(format!("[attest]: {e}")))?;
    let mut node_config = NodeConfig::new(&args.data_dir);
    node_config.attest = AttestConfig {
        epoch: attest.epoch,
        keys,
    };
    let node = Node::open(node_config)
        .with_context(|| format!("opening the node in {}", args.data_dir.display()))?;
    if let Some(address) = node.attester().keys().ethereum_address() {
        println!(
            "attestation signer (ethereum): {address} epoch {}",
            attest.epoch
        );
    }
    if let Some(public) = node.attester().keys().solana_public() {
        println!(
            "attestation signer (solana): {public} epoch {}",
            attest.epoch
        );
    }
    if node.key_created() {
        println!(
            "created a new node key in {}",
            args.data_dir.join(aolink_node::keys::KEY_FILE).display()
        );
    }
    println!("node address: {}", node.address());
    let crank = node.start_crank();
    // Cron ticks of monitored processes (`POST /monitor/{pid}`) are due every second at most.
    let monitor = node.start_monitor(std::time::Duration::from_secs(1));
    let (adapters, mut failures) = chains::Adapters::start(&node, &args.data_dir, chains).await?;
    let pipeline = std::sync::Arc::new(delivery::Pipeline::new(
        node.clone(),
        adapters.senders.clone(),
        delivery::quorum::SignerSets::new(attest.sets)?,
        attest.peers,
        delivery,
    )?);
    let (stop_delivery, stopped) = tokio::sync::watch::channel(false);
    let deliveries = tokio::spawn(pipeline.run(async move {
        let mut stopped = stopped;
        let _ = stopped.wait_for(|s| *s).await;
    }));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let public_url = args.public_url.unwrap_or_else(|| format!("http://{bound}"));
    // Installed before the node says it listens: a SIGTERM from then on stops it cleanly.
    let stop_signal = shutdown_signal();
    println!("aolink node listening on http://{bound}");
    let config = HttpConfig {
        public_url,
        body_limit: args.body_limit,
    };
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel();
    let shutdown = async move {
        tokio::select! {
            _ = stop_signal => {},
            Some(e) = failures.recv() => { let _ = failed_tx.send(e); }
        }
    };
    aolink_node::http::serve(node.clone(), listener, &config, shutdown)
        .await
        .context("serving HTTP")?;
    let _ = stop_delivery.send(true);
    let _ = deliveries.await;
    adapters.stop().await;
    crank.abort();
    monitor.abort();
    // Everything acknowledged is already durable; checkpoints spare the next start a replay.
    node.shutdown().await.context("checkpointing on shutdown")?;
    if let Ok(e) = failed_rx.await {
        return Err(e.context("a chain adapter stopped"));
    }
    println!("aolink node stopped");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, not when
/// the future is first polled, so a signal arriving in between is not the default (killing)
/// action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            // Without a SIGTERM handler, Ctrl-C still stops the node.
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        tracing::info!("shutting down");
    }
}

fn audit(data_dir: &std::path::Path) -> Result<()> {
    if !data_dir.join("db").exists() {
        bail!(
            "{} is not an aolink data directory (no db/)",
            data_dir.display()
        );
    }
    let node = Node::open(NodeConfig::new(data_dir)).with_context(|| {
        format!(
            "opening {} (is the node still running?)",
            data_dir.display()
        )
    })?;
    let store: &Store = node.store();
    let mut processes = 0u64;
    let mut slots = 0u64;
    for record in store.processes() {
        let record = record?;
        let pid = aolink_node::ans104::b64url_decode_32(&record.id, "process id")?;
        let report = node
            .scheduler()
            .audit(&pid)
            .map_err(|e| anyhow::anyhow!(e))?;
        processes += 1;
        slots += report.slots;
    }
    println!("ok: {processes} processes, {slots} slots, every hash chain and signature verifies");
    Ok(())
}

/// The environment `aolink eval` uses when none is given: the process is the first message's
/// target, owned by its owner and tagged with its tags; the module is a fixed placeholder.
/// ao-loader-eval.mjs (the differential test's reference side) uses the same default.
fn default_env(first: Option<&serde_json::Value>) -> serde_json::Value {
    let field = |name: &str, default: &str| {
        first
            .and_then(|m| m.get(name))
            .cloned()
            .unwrap_or_else(|| serde_json::json!(default))
    };
    serde_json::json!({
        "Process": {
            "Id": field("Target", DEFAULT_PROCESS_ID),
            "Owner": field("Owner", DEFAULT_OWNER),
            "Tags": first.and_then(|m| m.get("Tags")).cloned().unwrap_or_else(|| serde_json::json!([])),
        },
        "Module": { "Id": DEFAULT_MODULE_ID, "Owner": DEFAULT_MODULE_OWNER, "Tags": [] },
    })
}

const DEFAULT_PROCESS_ID: &str = "AOLINK0DEFAULT0PROCESS000000000000000000000";
const DEFAULT_OWNER: &str = "AOLINK0DEFAULT0OWNER00000000000000000000000";
const DEFAULT_MODULE_ID: &str = "AOLINK0DEFAULT0MODULE0000000000000000000000";
const DEFAULT_MODULE_OWNER: &str = "AOLINK0DEFAULT0MODULE0OWNER000000000000000";

fn eval(args: &EvalArgs) -> Result<()> {
    use aolink_node::compute::wasm::{Limits, ModuleFormat, WasmEngine, parse_memory_limit};
    use std::io::Write;
    let format = ModuleFormat::parse(&args.format).map_err(|e| anyhow::anyhow!("--format: {e}"))?;
    let bytes = std::fs::read(&args.module)
        .with_context(|| format!("reading --module {}", args.module.display()))?;
    let text = std::fs::read_to_string(&args.messages)
        .with_context(|| format!("reading --messages {}", args.messages.display()))?;
    let mut messages = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let msg: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("--messages line {}: not a JSON object", n + 1))?;
        if !msg.is_object() {
            bail!("--messages line {}: expected a JSON object", n + 1);
        }
        messages.push(msg);
    }
    let env = match &args.env {
        Some(path) => serde_json::from_str(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading --env {}", path.display()))?,
        )
        .with_context(|| format!("--env {}: not JSON", path.display()))?,
        None => default_env(messages.first()),
    };
    let limits = Limits {
        memory_bytes: parse_memory_limit(&args.memory_limit)
            .map_err(|e| anyhow::anyhow!("--memory-limit: {e}"))?,
        compute: args.compute_limit,
    };
    let engine = WasmEngine::new(None).context("starting the wasm engine")?;
    let module = engine
        .compile(&bytes, format)
        .with_context(|| format!("loading {}", args.module.display()))?;
    let results = aolink_node::compute::evaluate_sequence(&module, limits, &env, &messages, 64)
        .context("evaluating")?;
    let mut out = std::io::stdout().lock();
    for result in &results {
        writeln!(out, "{}", aolink_node::compute::public_result(result))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_pretty_on_a_terminal_json_elsewhere_and_as_asked() {
        assert_eq!(log_format(None, true), LogFormat::Pretty);
        assert_eq!(log_format(None, false), LogFormat::Json);
        assert_eq!(log_format(Some("text"), true), LogFormat::Text);
        assert_eq!(log_format(Some("json"), true), LogFormat::Json);
        assert_eq!(log_format(Some("xml"), false), LogFormat::Json);
    }
}
