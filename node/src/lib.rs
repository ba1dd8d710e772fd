//! The embedded AO node of aolink.
//!
//! A library first: [`ans104`] holds the data-item format, [`store`] is the only module that
//! touches sled, [`scheduler`] plays the SU role (slots, timestamps, hash chain, assignments),
//! and [`http`] serves the MU/SU HTTP API that the real AO clients (aoconnect) speak.
//! [`Node`] assembles them; the `aolink` binary is a thin layer on top.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod clock;
pub mod compute;
pub mod devices;
pub mod http;
pub mod keys;
mod node;
pub mod scheduler;
pub mod store;

/// The data-item format lives in `aolink-primitives`; re-exported so `aolink_node::ans104` stays.
pub use aolink_primitives::ans104;
pub use aolink_primitives::{ao, chain};

pub use node::{Node, NodeConfig, NodeError};
