//! Re-export of the emulator now in the crate (`alloy_amb::testing::chain`).
pub use alloy_amb::testing::chain::*;
