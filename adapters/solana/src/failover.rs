//! Several RPC URLs for one cluster, used as one `solana-rpc-client` transport.
//!
//! As on Ethereum: requests go to the current URL; a transport failure there (connection
//! refused, a timeout, an HTTP error status: 5xx, or 429 once the client's own pauses for it
//! are spent) sends the same request to the next URL at once, which then stays current; while a
//! later URL is current the first is tried again every `retry_first_after`. JSON-RPC error
//! answers are answers and go back to the caller unchanged.
//!
//! A URL is used only once it has said which cluster it serves (`getGenesisHash`), so a
//! fallback pointing at another cluster never feeds a mirror. URLs are logged by scheme and
//! host only, since paths often carry API keys.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use solana_rpc_client::http_sender::HttpSender;
use solana_rpc_client::rpc_sender::{RpcSender, RpcTransportStats};
use solana_rpc_client_api::client_error::{Error as ClientError, ErrorKind, Result};
use solana_rpc_client_api::request::RpcRequest;

use aolink_primitives::adapter::shown_url as shown;

use crate::cluster;

const UNCHECKED: u8 = 0;
const RIGHT_CLUSTER: u8 = 1;
const WRONG_CLUSTER: u8 = 2;

struct Endpoint {
    sender: HttpSender,
    /// The whole URL as errors print it, to be replaced by `shown`.
    full: String,
    /// Scheme and host, for logs.
    shown: String,
    cluster: AtomicU8,
}

struct Inner {
    /// The cluster's name (`devnet`, or a genesis hash's first 32 characters).
    cluster: String,
    endpoints: Vec<Endpoint>,
    current: AtomicUsize,
    away_since: Mutex<Option<Instant>>,
    retry_first_after: Duration,
}

/// The transport over a cluster's RPC URLs.
#[derive(Clone)]
pub struct Failover {
    inner: Arc<Inner>,
}

/// What probing a URL found.
#[derive(Debug)]
pub enum Probe {
    /// It serves the cluster with this name.
    Serves(String),
    /// It did not answer.
    Unreachable(String),
}

/// Whether `error` is the transport failing (try another URL) rather than an answer.
fn is_transport(error: &ClientError) -> bool {
    matches!(
        error.kind(),
        ErrorKind::Io(_) | ErrorKind::Reqwest(_) | ErrorKind::Middleware(_)
    )
}

impl Failover {
    /// A transport over `urls` (in order of preference) for the cluster named `cluster`, each
    /// request with `timeout`.
    pub fn new(
        cluster: &str,
        urls: &[url::Url],
        timeout: Duration,
        retry_first_after: Duration,
    ) -> Self {
        let endpoints = urls
            .iter()
            .map(|url| Endpoint {
                sender: HttpSender::new_with_timeout(url.as_str(), timeout),
                full: url.as_str().trim_end_matches('/').to_string(),
                shown: shown(url),
                cluster: AtomicU8::new(UNCHECKED),
            })
            .collect();
        Failover {
            inner: Arc::new(Inner {
                cluster: cluster.to_string(),
                endpoints,
                current: AtomicUsize::new(0),
                away_since: Mutex::new(None),
                retry_first_after,
            }),
        }
    }

    /// Asks every URL for its cluster, at once; remembers what each answered.
    pub async fn probe(&self) -> Vec<Probe> {
        let asks: Vec<_> = (0..self.inner.endpoints.len())
            .map(|i| Box::pin(self.inner.cluster_of(i)))
            .collect();
        futures::future::join_all(asks)
            .await
            .into_iter()
            .map(|answer| match answer {
                Ok(name) => Probe::Serves(name),
                Err(e) => Probe::Unreachable(e),
            })
            .collect()
    }

    /// The URL currently in use, as logged.
    pub fn current(&self) -> &str {
        let i = self.inner.current.load(Ordering::SeqCst);
        &self.inner.endpoints[i].shown
    }
}

impl Endpoint {
    /// `error`'s text without this URL's path, query or credentials.
    fn redacted(&self, error: &ClientError) -> String {
        error.to_string().replace(&self.full, &self.shown)
    }
}

impl Inner {
    /// Asks URL `i` which cluster it serves and remembers whether it is this one.
    async fn cluster_of(&self, i: usize) -> std::result::Result<String, String> {
        let e = &self.endpoints[i];
        let answer = e
            .sender
            .send(RpcRequest::GetGenesisHash, serde_json::Value::Null)
            .await
            .map_err(|error| e.redacted(&error))?;
        let hash = answer
            .as_str()
            .ok_or_else(|| format!("getGenesisHash answered {answer}, not a hash"))?;
        let name = cluster::name(hash);
        let state = if name == self.cluster {
            RIGHT_CLUSTER
        } else {
            WRONG_CLUSTER
        };
        if e.cluster.swap(state, Ordering::SeqCst) != state && state == WRONG_CLUSTER {
            tracing::error!(chain = %self.cluster, url = %e.shown, serves = %name, "RPC URL serves another cluster; never used");
        }
        Ok(name)
    }

    async fn usable(&self, i: usize) -> std::result::Result<bool, String> {
        match self.endpoints[i].cluster.load(Ordering::SeqCst) {
            RIGHT_CLUSTER => Ok(true),
            WRONG_CLUSTER => Ok(false),
            _ => Ok(self.cluster_of(i).await? == self.cluster),
        }
    }

    /// The URLs to try, current first (the first URL when it is due another try).
    fn order(&self) -> Vec<usize> {
        let n = self.endpoints.len();
        let mut start = self.current.load(Ordering::SeqCst);
        if start != 0 {
            let away = self.away_since.lock().unwrap_or_else(|p| p.into_inner());
            if away.is_some_and(|t| t.elapsed() >= self.retry_first_after) {
                start = 0;
            }
        }
        (0..n).map(|k| (start + k) % n).collect()
    }

    fn make_current(&self, i: usize) {
        let before = self.current.swap(i, Ordering::SeqCst);
        let mut away = self.away_since.lock().unwrap_or_else(|p| p.into_inner());
        if i == 0 {
            *away = None;
        } else if before != i || away.is_none() {
            *away = Some(Instant::now());
        }
        if before != i {
            tracing::warn!(chain = %self.cluster, from = %self.endpoints[before].shown, to = %self.endpoints[i].shown, "RPC failover");
        }
    }
}

#[async_trait]
impl RpcSender for Failover {
    async fn send(
        &self,
        request: RpcRequest,
        params: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let inner = &self.inner;
        let mut last: Option<String> = None;
        for i in inner.order() {
            let e = &inner.endpoints[i];
            match inner.usable(i).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(error) => {
                    last = Some(format!("{}: {error}", e.shown));
                    continue;
                }
            }
            match e.sender.send(request, params.clone()).await {
                Ok(answer) => {
                    inner.make_current(i);
                    return Ok(answer);
                }
                Err(error) if is_transport(&error) => {
                    let text = e.redacted(&error);
                    tracing::debug!(chain = %inner.cluster, url = %e.shown, %request, error = %text, "RPC URL failed; trying the next");
                    last = Some(text);
                }
                // An answer: the request reached a node of this cluster.
                Err(error) => {
                    inner.make_current(i);
                    return Err(error);
                }
            }
        }
        Err(ErrorKind::Custom(format!(
            "every RPC URL failed; the last: {}",
            last.unwrap_or_else(|| "none serves this cluster".into())
        ))
        .into())
    }

    fn get_transport_stats(&self) -> RpcTransportStats {
        let mut total = RpcTransportStats::default();
        for e in &self.inner.endpoints {
            let stats = e.sender.get_transport_stats();
            total.request_count += stats.request_count;
            total.elapsed_time += stats.elapsed_time;
            total.rate_limited_time += stats.rate_limited_time;
        }
        total
    }

    fn url(&self) -> String {
        self.current().to_string()
    }
}
