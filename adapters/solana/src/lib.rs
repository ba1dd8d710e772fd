//! aolink's Solana adapter. So far: the gateway convention ([`memo`]), by which a Solana dApp
//! calls an AO process without an on-chain program of its own; the watcher that pages a
//! gateway's signatures into Chain-Events is the next step (issue 12).
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cluster;
pub mod memo;

/// The chain family this adapter serves: its configuration section and status `kind`.
pub const FAMILY: &str = "solana";
