//! Re-export of the emulator now in the crate (`alloy_amb::testing::fake_amb`).
pub use alloy_amb::testing::fake_amb::*;
