//! Re-export of the emulator now in the crate (`alloy_amb::testing::fake_ws`).
pub use alloy_amb::testing::fake_ws::*;
