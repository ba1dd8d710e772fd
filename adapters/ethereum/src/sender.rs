//! Delivers attested answers to `AOGateway.deliver` on an EVM chain: EIP-1559 transactions
//! with the nonce the relayer's pipeline hands out, fees bumped per replacement up to a
//! configured multiple of the first, and receipts followed to the chain's finality policy.
//!
//! Signing is deterministic (RFC 6979), so a transaction rebuilt from a recorded
//! [`Submission`] is the same bytes and the same hash: a restart re-sends what it sent.

use std::path::PathBuf;
use std::sync::Arc;

use alloy::eips::BlockNumberOrTag;
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{Ethereum, EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use aolink_primitives::adapter::ConfigError;
use aolink_primitives::answer::{Answer, Attestation};
use aolink_primitives::delivery::{
    AnswerSender, Landing, Prepared, SendError, SendFuture, Submission,
};
use serde::Deserialize;

use crate::finality::Finality;

alloy::sol! {
    /// `AOGateway`'s delivery, answer format version 2.
    function deliver(uint256 requestId, bytes data, bytes32 tagsHash, uint64 epoch, bytes[] signatures) external;
    /// Whether a request has an answer recorded.
    function delivered(uint256 requestId) external view returns (bool);
}

/// The environment variable that holds the paying account's secret (overrides `key_file`).
pub const RELAYER_KEY_ENV: &str = "AOLINK_ETHEREUM_RELAYER_KEY";

/// `[ethereum.delivery]`: how answers are sent back to this chain.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// A file (mode 0600) holding the paying account's secret as hex; the environment
    /// variable `AOLINK_ETHEREUM_RELAYER_KEY` overrides it.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// How much each replacement raises both fees, in percent (default 20; nodes want ≥ 10).
    #[serde(default = "default_bump")]
    pub fee_bump_percent: u64,
    /// The highest fee cap a replacement may reach, as a multiple of the first (default 3).
    #[serde(default = "default_multiple")]
    pub max_fee_multiple: u64,
    /// How long a transaction may stay unincluded before it is replaced, in ms (default 30000).
    #[serde(default = "default_resubmit")]
    pub resubmit_after_ms: u64,
}

fn default_bump() -> u64 {
    20
}
fn default_multiple() -> u64 {
    3
}
fn default_resubmit() -> u64 {
    30_000
}

impl DeliveryConfig {
    /// Checks the section; `at` is where it sits (`ethereum[0].delivery`).
    pub fn check(&self, at: &str) -> Result<(), ConfigError> {
        let err = |field: &str, reason: &str| ConfigError {
            field: format!("{at}.{field}"),
            reason: reason.to_string(),
        };
        if !(10..=1000).contains(&self.fee_bump_percent) {
            return Err(err(
                "fee_bump_percent",
                "must be 10 to 1000 (nodes refuse replacements under 10%)",
            ));
        }
        if !(1..=100).contains(&self.max_fee_multiple) {
            return Err(err("max_fee_multiple", "must be 1 to 100"));
        }
        if self.resubmit_after_ms == 0 {
            return Err(err("resubmit_after_ms", "must be at least 1"));
        }
        if self.key_file.is_none() && std::env::var(RELAYER_KEY_ENV).is_err() {
            return Err(err(
                "key_file",
                &format!("needed (or set {RELAYER_KEY_ENV}): the account that pays for deliveries"),
            ));
        }
        Ok(())
    }
}

/// Sends answers to the gateways of one EVM chain.
pub struct EthereumSender {
    chain_id: u64,
    provider: DynProvider,
    signer: PrivateKeySigner,
    wallet: EthereumWallet,
    finality: Finality,
    config: DeliveryConfig,
    poll_interval_ms: u64,
}

fn retry(what: &str, e: impl std::fmt::Display) -> SendError {
    SendError::Retry(format!("{what}: {e}"))
}

fn parse_u256(text: &str, what: &str) -> Result<U256, SendError> {
    U256::from_str_radix(text, 10)
        .map_err(|_| SendError::Refused(format!("{what} {text:?} is not a decimal number")))
}

fn parse_address(text: &str, what: &str) -> Result<Address, SendError> {
    text.parse()
        .map_err(|_| SendError::Refused(format!("{what} {text:?} is not an address")))
}

/// The reason inside an `eth_call`/`eth_estimateGas` revert, as far as the RPC says it.
fn revert_reason(e: &impl std::fmt::Display) -> Option<String> {
    let text = e.to_string();
    let at = text.find("AOGateway: ")?;
    let rest = &text[at..];
    let end = rest.find(['"', '\'', ',', ')']).unwrap_or(rest.len());
    Some(rest[..end].trim().to_string())
}

impl EthereumSender {
    /// A sender over `transport` (the chain's RPC failover) paying with `secret`, reading
    /// receipts every `poll_interval_ms`.
    pub fn new(
        chain_id: u64,
        client: RpcClient,
        secret: &[u8; 32],
        finality: Finality,
        config: DeliveryConfig,
        poll_interval_ms: u64,
    ) -> Result<Arc<EthereumSender>, String> {
        let signer = PrivateKeySigner::from_bytes(&B256::from(*secret))
            .map_err(|e| format!("the relayer key is not a secp256k1 secret: {e}"))?;
        let wallet = EthereumWallet::from(signer.clone());
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_client(client)
            .erased();
        Ok(Arc::new(EthereumSender {
            chain_id,
            provider,
            signer,
            wallet,
            finality,
            config,
            poll_interval_ms,
        }))
    }

    /// The calldata of `deliver` for `answer`.
    fn calldata(
        answer: &Answer,
        epoch: u64,
        signatures: &[Attestation],
    ) -> Result<Bytes, SendError> {
        let data = answer
            .data_bytes()
            .map_err(|e| SendError::Refused(e.to_string()))?;
        let mut sigs = Vec::with_capacity(signatures.len());
        for a in signatures {
            sigs.push(Bytes::from(
                a.signature_bytes()
                    .map_err(|e| SendError::Refused(e.to_string()))?,
            ));
        }
        let call = deliverCall {
            requestId: parse_u256(&answer.request_id, "request id")?,
            data: data.into(),
            tagsHash: B256::from(answer.tags_hash()),
            epoch,
            signatures: sigs,
        };
        Ok(call.abi_encode().into())
    }

    async fn fresh_fees(&self) -> Result<(u128, u128), SendError> {
        let fees = self
            .provider
            .estimate_eip1559_fees()
            .await
            .map_err(|e| retry("estimating fees", e))?;
        Ok((fees.max_fee_per_gas, fees.max_priority_fee_per_gas))
    }
}

/// The fees of a replacement for `previous`: both raised by `bump_percent` (and at least the
/// market's `fresh` ones), the cap held under `multiple` × the first cap and never lowered.
fn bumped_fees(
    previous: &Submission,
    fresh: (u128, u128),
    bump_percent: u64,
    multiple: u64,
) -> (u128, u128) {
    let raise = |old: u128| old.saturating_mul(100 + u128::from(bump_percent)) / 100 + 1;
    let old_max = previous.max_fee_per_gas.unwrap_or(fresh.0);
    let old_tip = previous.max_priority_fee_per_gas.unwrap_or(fresh.1);
    let first = previous.first_max_fee_per_gas.unwrap_or(old_max);
    let ceiling = first.saturating_mul(u128::from(multiple));
    let max = raise(old_max).max(fresh.0).min(ceiling).max(old_max);
    let tip = raise(old_tip).max(fresh.1).min(max);
    (max, tip)
}

impl AnswerSender for EthereumSender {
    fn chain_id(&self) -> String {
        self.chain_id.to_string()
    }

    fn account(&self) -> String {
        format!("{:#x}", self.signer.address())
    }

    fn delivered<'a>(&'a self, answer: &'a Answer) -> SendFuture<'a, bool> {
        Box::pin(async move {
            let gateway = parse_address(&answer.gateway, "gateway")?;
            let call = deliveredCall {
                requestId: parse_u256(&answer.request_id, "request id")?,
            };
            let tx = TransactionRequest::default()
                .with_to(gateway)
                .with_input(Bytes::from(call.abi_encode()));
            let out = self
                .provider
                .call(tx)
                .await
                .map_err(|e| retry("reading delivered()", e))?;
            deliveredCall::abi_decode_returns(&out).map_err(|e| retry("decoding delivered()", e))
        })
    }

    fn chain_nonce(&self) -> SendFuture<'_, Option<u64>> {
        Box::pin(async move {
            let n = self
                .provider
                .get_transaction_count(self.signer.address())
                .pending()
                .await
                .map_err(|e| retry("reading the account's nonce", e))?;
            Ok(Some(n))
        })
    }

    fn prepare<'a>(
        &'a self,
        answer: &'a Answer,
        epoch: u64,
        signatures: &'a [Attestation],
        nonce: Option<u64>,
        previous: Option<&'a Submission>,
        bump: bool,
    ) -> SendFuture<'a, Prepared> {
        Box::pin(async move {
            let nonce = nonce
                .or(previous.and_then(|p| p.nonce))
                .ok_or_else(|| SendError::Retry("no nonce handed out".into()))?;
            let gateway = parse_address(&answer.gateway, "gateway")?;
            let input = Self::calldata(answer, epoch, signatures)?;
            let base = TransactionRequest::default()
                .with_from(self.signer.address())
                .with_to(gateway)
                .with_input(input)
                .with_nonce(nonce)
                .with_chain_id(self.chain_id);
            let (max_fee, tip, gas_limit, first) = match previous {
                Some(p) if !bump => (
                    p.max_fee_per_gas.unwrap_or_default(),
                    p.max_priority_fee_per_gas.unwrap_or_default(),
                    p.gas_limit.unwrap_or_default(),
                    p.first_max_fee_per_gas,
                ),
                Some(p) => {
                    let (max, tip) = bumped_fees(
                        p,
                        self.fresh_fees().await?,
                        self.config.fee_bump_percent,
                        self.config.max_fee_multiple,
                    );
                    (
                        max,
                        tip,
                        p.gas_limit.unwrap_or_default(),
                        p.first_max_fee_per_gas,
                    )
                }
                None => {
                    // The gateway's own checks run here: a revert is the chain's answer.
                    let gas = match self.provider.estimate_gas(base.clone()).await {
                        Ok(gas) => gas,
                        Err(e) => {
                            return Err(match revert_reason(&e) {
                                Some(reason) => SendError::Refused(reason),
                                None => retry("estimating gas", e),
                            });
                        }
                    };
                    let (max, tip) = self.fresh_fees().await?;
                    // A margin over the estimate: the dApp's callback gets the gas left.
                    (max, tip, gas.saturating_mul(13) / 10 + 10_000, Some(max))
                }
            };
            let request = base
                .with_gas_limit(gas_limit)
                .with_max_fee_per_gas(max_fee)
                .with_max_priority_fee_per_gas(tip);
            let envelope = <TransactionRequest as NetworkTransactionBuilder<Ethereum>>::build(
                request,
                &self.wallet,
            )
            .await
            .map_err(|e| SendError::Retry(format!("signing the delivery: {e}")))?;
            let tx = format!("{:#x}", envelope.tx_hash());
            let mut txs = previous.map(|p| p.txs.clone()).unwrap_or_default();
            if !txs.contains(&tx) {
                txs.push(tx);
            }
            Ok(Prepared {
                submission: Submission {
                    txs,
                    nonce: Some(nonce),
                    gas_limit: Some(gas_limit),
                    max_fee_per_gas: Some(max_fee),
                    max_priority_fee_per_gas: Some(tip),
                    first_max_fee_per_gas: first,
                    blockhash: None,
                    last_valid_block_height: None,
                    // Stamped by the pipeline when it records a new transaction.
                    sent_ms: previous.map_or(0, |p| p.sent_ms),
                },
                raw: envelope.encoded_2718(),
            })
        })
    }

    fn broadcast<'a>(&'a self, raw: &'a [u8]) -> SendFuture<'a, ()> {
        Box::pin(async move {
            match self.provider.send_raw_transaction(raw).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    let text = e.to_string().to_ascii_lowercase();
                    // The node has it already, or it was mined: sending it again is done.
                    if text.contains("already known")
                        || text.contains("nonce too low")
                        || text.contains("already imported")
                    {
                        Ok(())
                    } else {
                        Err(retry("sending the delivery", e))
                    }
                }
            }
        })
    }

    fn landing<'a>(&'a self, submission: &'a Submission) -> SendFuture<'a, Landing> {
        Box::pin(async move {
            for tx in submission.txs.iter().rev() {
                let hash: B256 = tx
                    .parse()
                    .map_err(|_| SendError::Refused(format!("recorded tx {tx:?} is not a hash")))?;
                let Some(receipt) = self
                    .provider
                    .get_transaction_receipt(hash)
                    .await
                    .map_err(|e| retry("reading a receipt", e))?
                else {
                    continue;
                };
                let Some(block) = receipt.block_number else {
                    return Ok(Landing::Waiting);
                };
                if block > self.final_head().await? {
                    return Ok(Landing::Waiting);
                }
                return Ok(if receipt.status() {
                    Landing::Final { tx: tx.clone() }
                } else {
                    Landing::Failed {
                        tx: tx.clone(),
                        reason: "the delivery reverted".into(),
                    }
                });
            }
            Ok(Landing::Waiting)
        })
    }

    fn resubmit_after_ms(&self) -> u64 {
        self.config.resubmit_after_ms
    }

    fn poll_interval_ms(&self) -> u64 {
        self.poll_interval_ms
    }
}

impl EthereumSender {
    async fn final_head(&self) -> Result<u64, SendError> {
        let tag = match self.finality {
            Finality::Finalized => BlockNumberOrTag::Finalized,
            Finality::Safe => BlockNumberOrTag::Safe,
            Finality::Confirmations(n) => {
                let latest = self
                    .provider
                    .get_block_number()
                    .await
                    .map_err(|e| retry("reading the head", e))?;
                return Ok(latest.saturating_sub(n));
            }
        };
        let block = self
            .provider
            .get_block_by_number(tag)
            .await
            .map_err(|e| retry("reading the final block", e))?
            .ok_or_else(|| SendError::Retry(format!("the RPC has no {tag} block")))?;
        Ok(block.header.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revert_reason_is_read_out_of_the_rpc_error() {
        let e = "server returned an error response: error code 3: execution reverted: AOGateway: already delivered, data: \"0x08c3\"";
        assert_eq!(
            revert_reason(&e).as_deref(),
            Some("AOGateway: already delivered")
        );
        assert_eq!(revert_reason(&"connection refused"), None);
    }

    #[test]
    fn replacements_raise_both_fees_and_stop_at_the_ceiling() {
        let first = Submission {
            max_fee_per_gas: Some(100),
            max_priority_fee_per_gas: Some(10),
            first_max_fee_per_gas: Some(100),
            ..Submission::default()
        };
        assert_eq!(bumped_fees(&first, (50, 5), 20, 2), (121, 13));
        // A market above the bump wins.
        assert_eq!(bumped_fees(&first, (150, 30), 20, 2), (150, 30));
        let mut p = first.clone();
        for _ in 0..10 {
            let (max, tip) = bumped_fees(&p, (50, 5), 20, 2);
            assert!(max >= p.max_fee_per_gas.unwrap() && tip <= max);
            p.max_fee_per_gas = Some(max);
            p.max_priority_fee_per_gas = Some(tip);
        }
        assert_eq!(p.max_fee_per_gas, Some(200), "held at 2x the first cap");
    }
}
