//! aolink's Ethereum adapter: watches configured contracts with alloy under a finality
//! policy, backfills in adaptive ranges, detects reorgs by parent hash, and delivers each
//! contract's events to its mirror process as `Chain-Event` items, with the cursor written in
//! the same atomic batch as the events it covers.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod events;
pub mod failover;
pub mod finality;
pub mod ranges;
pub mod service;
pub mod watcher;

pub use finality::Finality;
pub use ranges::AdaptiveRange;
