//! The emulator crate's independent SigV4 verifier (`alloy_amb_testing::sigv4`).
pub use alloy_amb_testing::sigv4::*;
