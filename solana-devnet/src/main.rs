//! `aolink-solana-devnet`: the devnet as a process. Once it serves it prints one line to stdout,
//! `solana devnet: rpc http://127.0.0.1:PORT genesis <genesis hash>`, and runs until SIGTERM
//! or Ctrl-C. Logs go to stderr (`AOLINK_LOG`, default `info`).

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use aolink_solana_devnet::{Devnet, DevnetConfig, Lag};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// A local Solana devnet: the real SVM (litesvm) behind a JSON-RPC server on loopback.
#[derive(Parser, Debug)]
#[command(name = "aolink-solana-devnet", version)]
struct Cli {
    /// Where to serve JSON-RPC; loopback only (port 0: a free port, printed once listening).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8899", value_parser = loopback)]
    listen: SocketAddr,
    /// How often a slot closes, in milliseconds (at least 1).
    #[arg(long, value_name = "N", default_value_t = 400,
          value_parser = clap::value_parser!(u64).range(1..))]
    slot_interval_ms: u64,
    /// Slots from processed to confirmed.
    #[arg(long, value_name = "N", default_value_t = Lag::default().confirmed)]
    confirmed_lag: u64,
    /// Slots from processed to finalized (at least the confirmed lag).
    #[arg(long, value_name = "N", default_value_t = Lag::default().finalized)]
    finalized_lag: u64,
}

/// A socket address on loopback: the devnet has no access control, so it serves nothing else.
fn loopback(text: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = text
        .parse()
        .map_err(|e| format!("not a socket address ({e})"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{} is not a loopback address: the devnet serves loopback only (127.0.0.1 or [::1])",
            addr.ip()
        ));
    }
    Ok(addr)
}

fn main() -> ExitCode {
    let filter = std::env::var("AOLINK_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&filter).unwrap_or_else(|e| {
            eprintln!("AOLINK_LOG={filter:?} is not a log filter ({e}); logging at info");
            EnvFilter::new("info")
        }))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    if cli.finalized_lag < cli.confirmed_lag {
        eprintln!(
            "error: --finalized-lag ({}) must be at least --confirmed-lag ({})",
            cli.finalized_lag, cli.confirmed_lag
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let config = DevnetConfig {
        slot_interval: Some(Duration::from_millis(cli.slot_interval_ms)),
        lag: Lag {
            confirmed: cli.confirmed_lag,
            finalized: cli.finalized_lag,
        },
    };
    let devnet = Devnet::start_on(cli.listen, config)
        .await
        .map_err(|e| format!("serving on {}: {e}", cli.listen))?;
    // Installed before the line is printed: from then on a SIGTERM stops the devnet cleanly.
    let stop = shutdown_signal().map_err(|e| format!("installing the signal handlers: {e}"))?;
    let genesis = devnet.ledger().genesis_hash();
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "solana devnet: rpc {} genesis {genesis}",
        devnet.url
    )
    .and_then(|()| stdout.flush())
    .map_err(|e| format!("writing to stdout: {e}"))?;
    drop(stdout);
    tracing::info!(url = %devnet.url, %genesis, "solana devnet serving");
    stop.await;
    tracing::info!("solana devnet stopping");
    devnet.stop().await;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C). The handlers are in place once this returns.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    })
}
