//! Several RPC URLs for one chain, used as one transport.
//!
//! Requests go to the current URL. A transport failure there (connection refused, a timeout,
//! an HTTP error status such as 429 or 5xx) sends the same request to the next URL at once,
//! which then stays current. While a later URL is current, the first one is tried again every
//! `retry_first_after`, so a node returns to the provider its operator listed first once it
//! recovers. JSON-RPC error answers (a range the provider refuses, a reverted call) are
//! answers, not failures: they go back to the caller unchanged.
//!
//! A URL is used only after it has said which chain it serves (`eth_chainId`), so a fallback
//! pointing at the wrong network can never feed a mirror: it is skipped, with an error in the
//! log. URLs are logged by scheme and host only, since paths often carry API keys.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use alloy::primitives::U64;
use alloy::rpc::client::RpcClient;
use alloy::rpc::json_rpc::{RequestPacket, ResponsePacket};
use alloy::transports::http::Http;
use alloy::transports::{TransportError, TransportErrorKind, TransportFut};

/// What is known of the chain a URL serves.
const UNCHECKED: u8 = 0;
const RIGHT_CHAIN: u8 = 1;
const WRONG_CHAIN: u8 = 2;

struct Endpoint {
    http: Http<reqwest::Client>,
    /// The whole URL as errors print it, to be replaced by `shown`.
    full: String,
    /// Scheme and host, for logs.
    shown: String,
    chain: AtomicU8,
    is_local: bool,
}

struct Inner {
    chain_id: u64,
    endpoints: Vec<Endpoint>,
    current: AtomicUsize,
    /// When a URL other than the first became current.
    away_since: Mutex<Option<Instant>>,
    retry_first_after: Duration,
}

/// The transport over a chain's RPC URLs (a `tower::Service`, hence an alloy transport).
#[derive(Clone)]
pub struct Failover {
    inner: Arc<Inner>,
}

/// What probing a URL found.
#[derive(Debug)]
pub enum Probe {
    /// It serves this chain id.
    Serves(u64),
    /// It did not answer.
    Unreachable(TransportError),
}

pub use aolink_primitives::adapter::shown_url as shown;

impl Failover {
    /// A transport over `urls` (in order of preference) for `chain_id`, each request through
    /// `client` (which carries the timeout).
    pub fn new(
        chain_id: u64,
        urls: &[reqwest::Url],
        client: reqwest::Client,
        retry_first_after: Duration,
    ) -> Self {
        let endpoints = urls
            .iter()
            .map(|url| Endpoint {
                http: Http::with_client(client.clone(), url.clone()),
                full: url.as_str().to_string(),
                shown: shown(url),
                chain: AtomicU8::new(UNCHECKED),
                is_local: url
                    .host_str()
                    .is_some_and(|h| h == "127.0.0.1" || h == "localhost" || h == "[::1]"),
            })
            .collect();
        Failover {
            inner: Arc::new(Inner {
                chain_id,
                endpoints,
                current: AtomicUsize::new(0),
                away_since: Mutex::new(None),
                retry_first_after,
            }),
        }
    }

    /// Whether every URL is on this machine.
    pub fn is_local(&self) -> bool {
        self.inner.endpoints.iter().all(|e| e.is_local)
    }

    /// Asks every URL for its chain id, at once; remembers what each answered.
    pub async fn probe(&self) -> Vec<Probe> {
        let mut asks = tokio::task::JoinSet::new();
        for i in 0..self.inner.endpoints.len() {
            let inner = self.inner.clone();
            asks.spawn(async move { (i, inner.chain_of(i).await) });
        }
        let mut found: Vec<Option<Probe>> = (0..self.inner.endpoints.len()).map(|_| None).collect();
        while let Some(joined) = asks.join_next().await {
            if let Ok((i, answer)) = joined {
                found[i] = Some(match answer {
                    Ok(id) => Probe::Serves(id),
                    Err(e) => Probe::Unreachable(e),
                });
            }
        }
        found
            .into_iter()
            .map(|p| {
                p.unwrap_or_else(|| {
                    Probe::Unreachable(TransportErrorKind::custom_str("the probe task failed"))
                })
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
    /// `error` without this URL's path, query or credentials (an HTTP client's errors name
    /// the URL, and its path often carries an API key).
    fn redacted(&self, error: TransportError) -> TransportError {
        let text = error.to_string();
        if text.contains(&self.full) {
            TransportErrorKind::custom_str(&text.replace(&self.full, &self.shown))
        } else {
            error
        }
    }
}

impl Inner {
    /// Asks URL `i` which chain it serves and remembers the answer.
    async fn chain_of(&self, i: usize) -> Result<u64, TransportError> {
        let e = &self.endpoints[i];
        let client = RpcClient::new(e.http.clone(), e.is_local);
        let id: U64 = client
            .request_noparams("eth_chainId")
            .await
            .map_err(|error| e.redacted(error))?;
        let id = id.to::<u64>();
        let state = if id == self.chain_id {
            RIGHT_CHAIN
        } else {
            WRONG_CHAIN
        };
        if e.chain.swap(state, Ordering::SeqCst) != state && state == WRONG_CHAIN {
            tracing::error!(chain = self.chain_id, url = %e.shown, serves = id, "RPC URL serves another chain; never used");
        }
        Ok(id)
    }

    /// Whether URL `i` may be used: it serves this chain (asked once, on first use).
    async fn usable(&self, i: usize) -> Result<bool, TransportError> {
        match self.endpoints[i].chain.load(Ordering::SeqCst) {
            RIGHT_CHAIN => Ok(true),
            WRONG_CHAIN => Ok(false),
            _ => Ok(self.chain_of(i).await? == self.chain_id),
        }
    }

    /// The URLs to try, in order: the current one first, or the first one when it is due
    /// another try (then also `true`).
    fn order(&self) -> (Vec<usize>, bool) {
        let n = self.endpoints.len();
        let mut start = self.current.load(Ordering::SeqCst);
        if start != 0 {
            let away = self.away_since.lock().unwrap_or_else(|p| p.into_inner());
            if away.is_some_and(|t| t.elapsed() >= self.retry_first_after) {
                start = 0;
            }
        }
        let retrying_first = start == 0 && self.current.load(Ordering::SeqCst) != 0;
        ((0..n).map(|k| (start + k) % n).collect(), retrying_first)
    }

    /// Makes URL `i` current after it answered.
    fn answered_by(&self, i: usize, retried_first: bool) {
        let before = self.current.swap(i, Ordering::SeqCst);
        let mut away = self.away_since.lock().unwrap_or_else(|p| p.into_inner());
        if i == 0 {
            *away = None;
        } else if before != i || away.is_none() || retried_first {
            // A new fallback, or the first URL failed its retry: wait a full period again.
            *away = Some(Instant::now());
        }
        if before != i {
            tracing::warn!(chain = self.chain_id, from = %self.endpoints[before].shown, to = %self.endpoints[i].shown, "RPC failover");
        }
    }

    async fn send(
        self: Arc<Self>,
        request: RequestPacket,
    ) -> Result<ResponsePacket, TransportError> {
        let mut last = None;
        let (order, retrying_first) = self.order();
        for i in order {
            match self.usable(i).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::debug!(chain = self.chain_id, url = %self.endpoints[i].shown, error = %e, "RPC URL unreachable");
                    last = Some(e);
                    continue;
                }
            }
            let mut http = self.endpoints[i].http.clone();
            let answer = tower::Service::call(&mut http, request.clone()).await;
            match answer.map_err(|error| self.endpoints[i].redacted(error)) {
                Ok(answer) => {
                    self.answered_by(i, retrying_first);
                    return Ok(answer);
                }
                Err(e) => {
                    tracing::debug!(chain = self.chain_id, url = %self.endpoints[i].shown, error = %e, "RPC request failed; trying the next URL");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            TransportErrorKind::custom_str(&format!(
                "none of the RPC URLs serves chain {}",
                self.chain_id
            ))
        }))
    }
}

impl tower::Service<RequestPacket> for Failover {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        Box::pin(self.inner.clone().send(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::providers::{Provider, ProviderBuilder};
    use alloy::rpc::types::Filter;
    use aolink_testkit::{closed_port_url, stand_in_rpc};

    fn provider(urls: &[&str], retry_first_after: Duration) -> (impl Provider + use<>, Failover) {
        let urls: Vec<reqwest::Url> = urls.iter().map(|u| u.parse().unwrap()).collect();
        let failover = Failover::new(7, &urls, reqwest::Client::new(), retry_first_after);
        let client = RpcClient::new(failover.clone(), true);
        (ProviderBuilder::new().connect_client(client), failover)
    }

    #[tokio::test]
    async fn a_failing_url_hands_the_request_to_the_next_and_the_first_is_tried_again_later() {
        let (first, second) = (stand_in_rpc(7, 100).await, stand_in_rpc(7, 200).await);
        first.set_down(true);
        let (p, failover) = provider(&[&first.url, &second.url], Duration::from_millis(300));
        assert_eq!(p.get_block_number().await.unwrap(), 200);
        assert_eq!(failover.current(), second.url);
        // The first comes back; the second stays current until the retry period is over.
        first.set_down(false);
        assert_eq!(p.get_block_number().await.unwrap(), 200);
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(p.get_block_number().await.unwrap(), 100);
        assert_eq!(failover.current(), first.url);
        assert_eq!(p.get_block_number().await.unwrap(), 100);
    }

    #[tokio::test]
    async fn a_first_url_still_down_is_tried_once_a_period_not_on_every_request() {
        let (first, second) = (stand_in_rpc(7, 100).await, stand_in_rpc(7, 200).await);
        first.set_down(true);
        let (p, _) = provider(&[&first.url, &second.url], Duration::from_millis(300));
        assert_eq!(p.get_block_number().await.unwrap(), 200);
        let tries = || first.asked.lock().unwrap().len();
        let after_failover = tries();
        tokio::time::sleep(Duration::from_millis(350)).await;
        for _ in 0..5 {
            assert_eq!(p.get_block_number().await.unwrap(), 200);
        }
        assert_eq!(tries(), after_failover + 1, "one retry of the first URL");
    }

    #[tokio::test]
    async fn a_url_serving_another_chain_is_never_used() {
        let (wrong, right) = (stand_in_rpc(8, 100).await, stand_in_rpc(7, 200).await);
        let (p, _) = provider(&[&wrong.url, &right.url], Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(p.get_block_number().await.unwrap(), 200);
        }
        assert_eq!(wrong.asked_besides_chain_id(), Vec::<String>::new());
        // Asked once which chain it serves, then never again.
        assert_eq!(wrong.asked.lock().unwrap().len(), 1);
        // With only wrong or unreachable URLs, requests fail rather than reach them.
        let (p, _) = provider(&[&closed_port_url(), &wrong.url], Duration::from_secs(60));
        assert!(p.get_block_number().await.is_err());
        assert_eq!(wrong.asked_besides_chain_id(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn json_rpc_errors_are_answers_not_failures() {
        let (first, second) = (stand_in_rpc(7, 100).await, stand_in_rpc(7, 200).await);
        let (p, failover) = provider(&[&first.url, &second.url], Duration::from_secs(60));
        let error = p.get_logs(&Filter::new()).await.unwrap_err().to_string();
        assert!(error.contains("more than 10000 results"), "{error}");
        assert_eq!(second.asked.lock().unwrap().len(), 0, "no failover");
        assert_eq!(failover.current(), first.url);
    }

    #[tokio::test]
    async fn every_url_is_probed_and_urls_are_shown_without_their_path() {
        let (right, wrong) = (stand_in_rpc(7, 1).await, stand_in_rpc(8, 1).await);
        let closed = closed_port_url();
        let urls: Vec<reqwest::Url> = [&right.url, &wrong.url, &closed]
            .iter()
            .map(|u| u.parse().unwrap())
            .collect();
        let failover = Failover::new(7, &urls, reqwest::Client::new(), Duration::from_secs(1));
        let probes = failover.probe().await;
        assert!(matches!(probes[0], Probe::Serves(7)), "{probes:?}");
        assert!(matches!(probes[1], Probe::Serves(8)), "{probes:?}");
        assert!(matches!(probes[2], Probe::Unreachable(_)), "{probes:?}");
        let secret: reqwest::Url = "https://user:pw@eth.example:8443/v3/KEY?x=1"
            .parse()
            .unwrap();
        assert_eq!(shown(&secret), "https://eth.example:8443");
    }

    #[tokio::test]
    async fn errors_name_a_url_without_its_key() {
        let keyed = format!("{}/v3/SECRETKEY", closed_port_url());
        let (p, failover) = provider(&[&keyed], Duration::from_secs(60));
        let error = p.get_block_number().await.unwrap_err().to_string();
        assert!(!error.contains("SECRETKEY"), "{error}");
        assert!(error.contains("http://127.0.0.1:"), "{error}");
        match &failover.probe().await[0] {
            Probe::Unreachable(e) => assert!(!e.to_string().contains("SECRETKEY"), "{e}"),
            other => panic!("{other:?}"),
        }
    }
}
