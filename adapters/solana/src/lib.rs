//! aolink's Solana adapter: the gateway convention ([`memo`]), by which a Solana dApp calls an
//! AO process without an on-chain program of its own, and the watcher ([`watcher`]) that reads
//! each configured gateway's transactions into Chain-Events for its mirror process, started by
//! the relayer as the `solana` chain family ([`service::Cluster`]), and the sender
//! ([`sender`]) that delivers attested answers back to the dApps.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cluster;
pub mod failover;
pub mod memo;
pub mod sender;
pub mod service;
pub mod transaction;
pub mod watcher;

/// The chain family this adapter serves: its configuration section and status `kind`.
pub const FAMILY: &str = "solana";
