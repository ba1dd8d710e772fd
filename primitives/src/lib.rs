//! aolink's I/O-free core: what every other crate agrees on, with no tokio, sled, wasmtime,
//! axum or chain SDK underneath, so anything built on it alone (the devices) cannot reach the
//! clock or the network.
//!
//! - [`ans104`]: byte-exact ANS-104 data items, bundles, signers and verifiers;
//! - [`ao`]: the AO tag vocabulary (built in one place), [`ao::Assignment`] and the block clock;
//! - [`module_format`]: the `Module-Format` values the node runs;
//! - [`chain`]: the typed, versioned [`chain::ChainEvent`] / [`chain::ChainReorg`] that the
//!   adapters write and the devices read;
//! - [`answer`]: an AO process's answer to a dApp's call, the payload its attestations sign,
//!   and the Solana verifier of a quorum;
//! - [`delivery`]: the typed stages of an answer's delivery back to its chain;
//! - [`secret`]: 32-byte secrets read from owner-only files;
//! - [`adapter`]: the seam between a chain family's adapter and the node
//!   ([`adapter::ChainSink`]) and between the adapter and the relayer
//!   ([`adapter::ChainAdapter`]).
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod adapter;
pub mod ans104;
pub mod answer;
pub mod ao;
pub mod chain;
pub mod delivery;
pub mod module_format;
pub mod secret;

pub use module_format::ModuleFormat;
