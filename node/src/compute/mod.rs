//! Compute (the CU role): evaluates each process's schedule, in slot order, on its module.
//!
//! [`wasm`] hosts AO process modules under wasmtime; [`Compute`] drives them: it builds each
//! message as the CU hands it to `handle`, keeps the process's memory from message to message,
//! discards the memory changes of a message whose result has an `Error`, persists every result,
//! and writes compressed memory checkpoints so a restart resumes without replaying everything.
//! [`messenger`] turns results' outboxes into scheduled messages (the MU's crank).

pub mod cron;
mod evaluator;
pub mod latency;
pub mod message;
pub mod messenger;
pub mod wasm;

pub use evaluator::{
    Compute, ComputeConfig, ComputeError, ProcessSetup, Program, evaluate_sequence, public_result,
};
