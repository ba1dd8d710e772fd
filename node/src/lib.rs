//! The embedded AO node of aolink.
//!
//! A library first: [`store`] is the only module that touches sled, [`scheduler`] plays the SU
//! role (slots, timestamps, hash chain, assignments), [`compute`] the CU role (WASM modules and
//! the native [`devices`]), and [`http`] serves the MU/SU HTTP API that the real AO clients
//! (aoconnect) speak. [`Node`] assembles them; the `aolink` binary is a thin layer on top.
//! The data-item format, the AO vocabulary and the Chain-Event types come from
//! `aolink-primitives`, the devices from `aolink-devices`: both are pure, and re-exported here.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod attest;
mod chain_sink;
pub mod clock;
pub mod compute;
pub mod http;
pub mod keys;
mod node;
pub mod scheduler;
pub mod store;

pub use aolink_devices as devices;
pub use aolink_primitives::{adapter, ans104, ao, chain};

pub use node::{Node, NodeConfig, NodeError};
