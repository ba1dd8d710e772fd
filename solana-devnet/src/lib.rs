//! A local Solana devnet: the real SVM (litesvm) behind a JSON-RPC server on loopback, with
//! the slots, commitments and signature statuses of a validator, so the Solana adapter and a
//! sender can be tested with `solana-rpc-client` as against a real cluster. Dev-only: the tests
//! use it as a library ([`Devnet::start`], [`Devnet::start_on`]), and `aolink devnet` runs the
//! binary.
//!
//! What it answers so far: `getVersion`, `getHealth`, `getGenesisHash`, `getSlot` and
//! `getBlockHeight` per commitment, `getLatestBlockhash`, `isBlockhashValid`, `getBalance`,
//! `getMinimumBalanceForRentExemption`, `getAccountInfo` (binary, base58, base64,
//! base64+zstd), `getFeeForMessage`, `simulateTransaction`, `requestAirdrop`,
//! `sendTransaction` (base58 and base64, preflight or not), `getSignatureStatuses`,
//! `getSignaturesForAddress` (newest first, `before`, `until`, `limit`, commitment, the memos
//! of top-level instructions) and `getTransaction` (json, base64 and base58, inner
//! instructions with their stack height, logs, `maxSupportedTransactionVersion`). Known
//! differences from a validator: account reads answer from the processed state at every
//! commitment; a failed transaction that lands keeps its fee payer's balance (litesvm does not
//! charge it); simulations ignore `replaceRecentBlockhash` and `sigVerify: false`; airdrops
//! have a status but no transaction; transactions loading accounts through address lookup
//! tables are refused.
//!
//! # Programs
//!
//! Besides litesvm's (the system program, SPL Token and Token-2022, associated token accounts,
//! SPL Memo v1 and v2, ..., and the native Ed25519 and secp256k1 precompiles, agave's own),
//! every ledger has the **memo relay**,
//! [`MEMO_RELAY`] = `5Z1okhiCSedTzg76ex5j4aGKodXHpk5bijhDV3E1ZCSm` (the SHA-256 of
//! `aolink-solana-devnet:memo-relay`; no key pair exists for it). It stands in for a dApp's
//! program that calls AO by a cross-program invocation of the SPL Memo program: a builtin,
//! since there is no SBF toolchain here, but its CPI is a real one, recorded by the SVM as an
//! inner instruction at stack height 2. Its instruction data is the memo text; it invokes
//! SPL Memo v2 ([`MEMO_PROGRAM`]) with that data and, as the memo's accounts, exactly its own
//! signer accounts (read-only, signing, in order); its other accounts, such as the aolink
//! gateway's address, are not forwarded. The Memo program must be among its accounts, as for
//! any CPI. Without a signer account it fails with `MissingRequiredSignature` and logs why.
//! [`memo_relay_instruction`] builds one; [`relay_call_transaction`] and
//! [`memo_call_transaction`] build the gateway convention's transactions through the relay and
//! at top level. A relayed memo is not a signature's `memo` in `getSignaturesForAddress` (a
//! validator lists top-level memos only); `getTransaction`'s inner instructions carry it.
//!
//! # The binary
//!
//! `aolink-solana-devnet [--listen ADDR] [--slot-interval-ms N] [--confirmed-lag N]
//! [--finalized-lag N]` serves on `ADDR` (default `127.0.0.1:8899`; loopback only, port 0
//! takes a free port), closes a slot every `N` ms (default 400, at least 1), with the lags of
//! [`Lag::default`] unless given. Once it serves, it prints one line to stdout and flushes it:
//!
//! ```text
//! solana devnet: rpc http://127.0.0.1:PORT genesis <base58 genesis hash>
//! ```
//!
//! SIGTERM or Ctrl-C (handled from before that line) stops it with exit status 0. Logs go to
//! stderr, filtered by `AOLINK_LOG` (default `info`).

mod encode;
pub mod ledger;
pub mod relay;
pub mod rpc;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

pub use ledger::{Commitment, Lag, Ledger};
pub use relay::{
    MEMO_PROGRAM, MEMO_RELAY, memo_call_transaction, memo_relay_instruction, relay_call_transaction,
};

/// How the devnet runs.
#[derive(Clone, Debug)]
pub struct DevnetConfig {
    /// How often a slot closes on its own; `None`: only on [`Devnet::advance`].
    pub slot_interval: Option<Duration>,
    /// How far confirmed and finalized trail the processed slot.
    pub lag: Lag,
}

impl Default for DevnetConfig {
    fn default() -> Self {
        DevnetConfig {
            slot_interval: Some(Duration::from_millis(50)),
            lag: Lag::default(),
        }
    }
}

/// A running devnet; stopped when dropped.
pub struct Devnet {
    /// Its RPC URL (`http://127.0.0.1:<port>`).
    pub url: String,
    ledger: Arc<Mutex<Ledger>>,
    /// The RPC server and what stops it gracefully.
    server: Option<(JoinHandle<()>, tokio::sync::oneshot::Sender<()>)>,
    /// The slot timer, when there is one.
    tasks: Vec<JoinHandle<()>>,
}

fn lock(ledger: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(|p| p.into_inner())
}

/// One JSON-RPC request object's response.
fn respond(ledger: &Mutex<Ledger>, request: &Value) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return json!({"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid request"}, "id": id});
    };
    let params = request.get("params").cloned().unwrap_or(json!([]));
    let answer = rpc::handle(&mut lock(ledger), method, &params);
    tracing::trace!(method, ok = answer.is_ok(), "devnet rpc");
    match answer {
        Ok(result) => json!({"jsonrpc": "2.0", "result": result, "id": id}),
        Err(error) => json!({"jsonrpc": "2.0", "error": error.to_json(), "id": id}),
    }
}

async fn serve_rpc(
    State(ledger): State<Arc<Mutex<Ledger>>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    Json(match &body {
        Value::Array(batch) => Value::Array(batch.iter().map(|r| respond(&ledger, r)).collect()),
        request => respond(&ledger, request),
    })
}

impl Devnet {
    /// Starts a devnet on a free loopback port.
    pub async fn start(config: DevnetConfig) -> std::io::Result<Devnet> {
        Devnet::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
    }

    /// Starts a devnet serving on `addr`, which must be a loopback address (port 0: a free
    /// one; [`Devnet::url`] names the port taken).
    pub async fn start_on(addr: SocketAddr, config: DevnetConfig) -> std::io::Result<Devnet> {
        if !addr.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{addr} is not a loopback address: the devnet serves loopback only"),
            ));
        }
        let ledger = Arc::new(Mutex::new(Ledger::new(config.lag)));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let app = axum::Router::new()
            .route("/", axum::routing::post(serve_rpc))
            .with_state(ledger.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "devnet RPC server stopped");
            }
        });
        let mut tasks = Vec::new();
        if let Some(interval) = config.slot_interval {
            let ticking = ledger.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(interval);
                loop {
                    tick.tick().await;
                    lock(&ticking).advance();
                }
            }));
        }
        Ok(Devnet {
            url,
            ledger,
            server: Some((server, stop)),
            tasks,
        })
    }

    /// Stops serving: requests under way are answered (for up to five seconds), then the
    /// listener and the slot timer stop.
    pub async fn stop(mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some((mut server, stop)) = self.server.take() {
            let _ = stop.send(());
            if tokio::time::timeout(Duration::from_secs(5), &mut server)
                .await
                .is_err()
            {
                server.abort();
            }
        }
    }

    /// Closes `slots` slots now.
    pub fn advance(&self, slots: u64) {
        let mut ledger = lock(&self.ledger);
        for _ in 0..slots {
            ledger.advance();
        }
    }

    /// The chain, for what the RPC does not expose.
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        lock(&self.ledger)
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some((server, _)) = &self.server {
            server.abort();
        }
    }
}
