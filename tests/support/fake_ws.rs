//! The emulator crate's WebSocket gateway (`alloy_amb_testing`).
pub use alloy_amb_testing::{FakeWs, Frame, Kind, Stats, MSG_TOO_LARGE};
