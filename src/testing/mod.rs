//! A local AMB emulator for testing code that talks to AMB, without AWS (feature `testing`).
//!
//! - [`fake_amb::FakeAmb`]: the HTTP gateway (wiremock on `127.0.0.1`). It checks SigV4 like the
//!   AWS gateway in front of AMB, with the independent verifier in [`sigv4`] (it shares no code
//!   with this crate's signer nor with `aws-sigv4`), refuses with 403 and AMB's JSON messages,
//!   accepts `?billingtoken=`, refuses JSON-RPC batches, and answers from the deterministic
//!   [`chain::Chain`] or forwards to a real node ([`fake_amb::FakeAmb::set_upstream`]).
//! - [`fake_ws::FakeWs`]: the WebSocket gateway beside it, sharing its keys, clock and chain;
//!   it serves `eth_subscribe` for `logs` and `newHeads` as blocks are mined, and can drop,
//!   close or freeze its connections on command.
//! - [`front::InFlightFront`]: an HTTP front before the gateway that counts the requests in
//!   flight at once, and can hold them until a number are waiting.
//!
//! ```no_run
//! # async fn f() {
//! use alloy_amb::testing::{fake_amb::{FakeAmb, ACCESS_KEY, REGION, SECRET_KEY}, fake_ws::FakeWs};
//! let amb = FakeAmb::start().await;
//! let ws = FakeWs::start(&amb).await;
//! let http = alloy_amb::AmbHttp::builder(amb.url())
//!     .region(REGION)
//!     .credentials_provider(aws_credential_types::Credentials::new(
//!         ACCESS_KEY, SECRET_KEY, None, None, "test",
//!     ))
//!     .build()
//!     .unwrap();
//! // ... use `http` (and `ws.url()`) as against AMB; `amb.mine()` adds a block.
//! # let _ = (http, ws);
//! # }
//! ```
//!
//! The emulator runs on the caller's tokio runtime (`FakeWs::start` spawns onto it).

pub mod chain;
pub mod fake_amb;
pub mod fake_ws;
pub mod front;
pub mod sigv4;
