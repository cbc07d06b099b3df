//! Re-export of the emulator now in the crate (`alloy_amb::testing::sigv4`).
pub use alloy_amb::testing::sigv4::*;
