//! The emulator crate's deterministic chain (`alloy_amb_testing::chain`).
pub use alloy_amb_testing::chain::*;
