//! A local Amazon Managed Blockchain (AMB) Ethereum emulator for testing code that talks to AMB,
//! without AWS.
//!
//! - [`FakeAmb`]: the HTTP gateway on `127.0.0.1`. It checks SigV4 like the AWS gateway in front
//!   of AMB, with the independent verifier in [`sigv4`] (SigV4 and SigV4A; it shares no code
//!   with `alloy-amb`'s signer nor with `aws-sigv4`), refuses with 403 and AMB's JSON messages, accepts
//!   `?billingtoken=`, refuses JSON-RPC batches, and answers from the deterministic
//!   [`chain::Chain`] or forwards to a real node ([`FakeAmb::set_upstream`]).
//! - [`FakeWs`]: the WebSocket gateway beside it, sharing its keys, clock and chain; it serves
//!   `eth_subscribe` for `logs` and `newHeads` as blocks are mined, and can drop, close or freeze
//!   its connections on command.
//! - [`ConnectProxy`]: an HTTP `CONNECT` proxy that counts its tunnels and their targets, and
//!   can require credentials or refuse; [`TlsFront`]: a TLS front with a private CA
//!   ([`TestCa`]) before either gateway.
//! - [`InFlightFront`]: an HTTP front before the gateway that counts the requests in flight at
//!   once, and can hold them until a number are waiting.
//! - [`FakeTarget`]: what the gateways play, set with [`FakeAmb::set_target`]: AMB (default), a
//!   VPC Lattice service (`UNSIGNED-PAYLOAD` required and signed, no WebSocket), a Lambda
//!   function URL (signed body, 6 MB answers, no WebSocket), an API Gateway stage (path under
//!   `/<stage>`), or a third-party provider (a header, a bearer token or HTTP Basic, no SigV4);
//!   all but AMB take JSON-RPC batches, and Lattice and API Gateway take SigV4A. The table is on
//!   [`FakeTarget`].
//!
//! This crate does not depend on `alloy-amb`: use it as a dev-dependency beside it.
//!
//! ```no_run
//! # async fn f() {
//! use alloy_amb_testing::{FakeAmb, FakeWs, ACCESS_KEY, REGION, SECRET_KEY};
//! let amb = FakeAmb::start().await;
//! let ws = FakeWs::start(&amb).await;
//! // Point a client at `amb.url()` (HTTP) or `ws.url()` (WebSocket), signing for `REGION` with
//! // `ACCESS_KEY`/`SECRET_KEY`, e.g. with alloy-amb:
//! //   AmbHttp::builder(amb.url()).region(REGION)
//! //       .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
//! //       .build()
//! let head = amb.mine(); // adds a block (seen by both gateways)
//! assert_eq!(amb.accepted().len(), 0);
//! # let _ = (ws, head, ACCESS_KEY, REGION, SECRET_KEY);
//! # }
//! ```
//!
//! The emulator runs on the caller's tokio runtime (`FakeWs::start` spawns onto it).
#![warn(missing_docs)]

pub mod chain;
mod fake_amb;
mod fake_ws;
mod front;
mod proxy;
pub mod sigv4;
mod target;
mod tls;

pub use fake_amb::*;
pub use fake_ws::*;
pub use front::*;
pub use proxy::*;
pub use target::*;
pub use tls::*;
