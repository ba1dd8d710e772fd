//! Largest-remainder splits.
