//! aolink's Ethereum adapter: watches configured contracts with alloy under a finality
//! policy, backfills in adaptive ranges, detects reorgs by parent hash, and delivers each
//! contract's events to its mirror process as `Chain-Event` items, with the cursor written in
//! the same atomic batch as the events it covers.
//!
//! It depends on `aolink-primitives` and alloy, never on the node: it writes through the
//! [`aolink_primitives::adapter::ChainSink`] it is given, and the relayer starts it as the
//! `ethereum` family of [`aolink_primitives::adapter::ChainAdapter`] ([`service::Chain`]).
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod events;
pub mod failover;
pub mod finality;
pub mod ranges;
pub mod sender;
pub mod service;
pub mod watcher;

/// The chain family this adapter serves: its configuration section and status `kind`.
pub const FAMILY: &str = "ethereum";

pub use finality::Finality;
pub use ranges::AdaptiveRange;
