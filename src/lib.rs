#![doc = include_str!("../docs/crate.md")]
#![warn(missing_docs)]
#![deny(unsafe_code)]
// docs.rs (`--cfg docsrs`, Cargo.toml's `[package.metadata.docs.rs]`) badges feature-gated items.
#![cfg_attr(docsrs, feature(doc_cfg))]
// Without a transport feature the shared signing core has no user.
#![cfg_attr(not(feature = "http"), allow(dead_code))]
#![cfg_attr(
    not(any(feature = "http", feature = "ws")),
    allow(unused_macros, unused_imports)
)]

pub mod auth;
pub mod config;
pub mod credentials;
pub mod endpoint;
pub mod error;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
pub mod migrate;
#[cfg(any(feature = "http", feature = "ws"))]
mod net;
mod provider_ext;
mod redact;
#[cfg(feature = "ws")]
#[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
pub mod resumable;
mod secret;
mod sigv4;
pub mod target;
#[cfg(feature = "ws")]
#[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
pub mod ws;

pub use auth::BearerToken;
pub use auth::AMB_SERVICE;
pub use config::{AuthSpec, EndpointConfig, HeaderSpec, SecretValue};
pub use credentials::AmbCredentials;
pub use endpoint::Endpoint;
pub use error::{AmbError, AuthFailure, ConfigError};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use http::{AmbHttp, AmbHttpBuilder};
pub use provider_ext::ProviderBuilderExt;
pub use target::Target;
#[cfg(feature = "ws")]
#[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
pub use ws::{AmbWsConnect, AmbWsConnectBuilder};

/// Not part of the API: what the differential test and the benchmarks reach into, with no
/// stability promise.
#[doc(hidden)]
pub mod __private {
    /// The SigV4 fast path and aws-sigv4's `sign()` behind it.
    pub mod sign_fast {
        pub use crate::sigv4::{
            sign, sign_with_aws_sigv4, sign_with_identity, try_sign, Algorithm, Input, Payload,
            Request, SigningKeyCache, UNSIGNED_PAYLOAD,
        };
    }
}

/// The `reqwest` (0.13, the one `alloy-transport-http` 2.5 uses) whose `Client`
/// [`AmbHttpBuilder::client`] takes: build your client with `alloy_amb::reqwest::Client::builder()`
/// so the versions always match.
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use alloy_transport_http::reqwest;

/// The `rustls` (0.23, the one reqwest 0.13 and the WebSocket use) whose `ClientConfig`
/// `tls_config(..)` takes on both builders: build your configuration with
/// `alloy_amb::rustls::ClientConfig` so the versions always match.
#[cfg(any(feature = "http", feature = "ws"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "http", feature = "ws"))))]
pub use rustls;

/// The README's examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
