#![doc = include_str!("../docs/crate.md")]
#![warn(missing_docs)]
#![deny(unsafe_code)]
// Without a transport feature the shared signing core has no user.
#![cfg_attr(not(feature = "http"), allow(dead_code))]
#![cfg_attr(
    not(any(feature = "http", feature = "ws")),
    allow(unused_macros, unused_imports)
)]

pub mod credentials;
pub mod endpoint;
pub mod error;
#[cfg(feature = "http")]
pub mod http;
mod provider_ext;
mod redact;
#[cfg(feature = "ws")]
pub mod resumable;
mod secret;
#[doc(hidden)]
pub mod sign_fast;
pub mod signer;
#[cfg(feature = "ws")]
pub mod ws;

pub use credentials::AmbCredentials;
pub use endpoint::Endpoint;
pub use error::{AmbError, AuthFailure};
#[cfg(feature = "http")]
pub use http::{AmbHttp, AmbHttpBuilder};
pub use provider_ext::ProviderBuilderExt;
pub use signer::{RegionSource, AMB_SERVICE};
#[cfg(feature = "ws")]
pub use ws::{AmbWsConnect, AmbWsConnectBuilder};

/// The README's examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
