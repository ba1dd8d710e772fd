//! `aolink`: the command-line entry point. All the work lives in the `aolink-node` library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use aolink_node::http::{DEFAULT_BODY_LIMIT, HttpConfig};
use aolink_node::store::Store;
use aolink_node::{Node, NodeConfig};
use clap::{Parser, Subcommand};
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
    /// Check every schedule in a data directory (slots gap-free, hash chains, signatures).
    /// The node must not be running.
    Audit {
        /// The node's data directory.
        #[arg(long, env = "AOLINK_DATA_DIR", default_value = "aolink-data")]
        data_dir: PathBuf,
    },
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
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("AOLINK_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match cli.command {
        Command::Node(args) => runtime.block_on(run_node(args)),
        Command::Audit { data_dir } => audit(&data_dir),
    }
}

async fn run_node(args: NodeArgs) -> Result<()> {
    if !args.listen.ip().is_loopback() {
        tracing::warn!(listen = %args.listen, "serving on a non-loopback address: put TLS and access control in front of it");
    }
    let node = Node::open(NodeConfig::new(&args.data_dir))
        .with_context(|| format!("opening the node in {}", args.data_dir.display()))?;
    if node.key_created() {
        println!(
            "created a new node key in {}",
            args.data_dir.join(aolink_node::keys::KEY_FILE).display()
        );
    }
    println!("node address: {}", node.address());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let public_url = args.public_url.unwrap_or_else(|| format!("http://{bound}"));
    println!("aolink node listening on http://{bound}");
    let config = HttpConfig {
        public_url,
        body_limit: args.body_limit,
    };
    aolink_node::http::serve(node.clone(), listener, &config, shutdown_signal())
        .await
        .context("serving HTTP")?;
    // Everything acknowledged is already durable; this only hurries the last background flush.
    node.store().flush().await.context("flushing the store")?;
    println!("aolink node stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        // Without a SIGTERM handler, Ctrl-C still stops the node.
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    tracing::info!("shutting down");
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
