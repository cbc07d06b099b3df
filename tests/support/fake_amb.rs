//! The emulator crate's HTTP gateway and its constants (`alloy_amb_testing`).
pub use alloy_amb_testing::*;
