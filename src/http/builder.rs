//! [`AmbHttpBuilder`]: the configuration of an [`AmbHttp`], checked at `build()`.

use std::sync::Arc;
use std::time::Duration;

use alloy_transport_http::reqwest;

use super::batch::Split;
use super::{
    AmbHttp, Inner, DEFAULT_BATCH_CONCURRENCY, DEFAULT_BATCH_RETRIES, DEFAULT_BATCH_RETRY_WAIT,
    DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_TIMEOUT,
};
use crate::auth::AuthConfig;
use crate::endpoint::{Endpoint, Scheme};
use crate::error::{AmbError, ConfigError};

/// Builds an [`AmbHttp`]. Obtained from [`AmbHttp::builder`].
#[derive(Debug)]
#[must_use]
pub struct AmbHttpBuilder {
    /// Parsed when the builder is made, so that `Debug` never shows a billing token.
    endpoint: Result<Endpoint, AmbError>,
    auth: AuthConfig,
    timeout: Duration,
    /// `None`: split for targets that do not accept batches (AMB, loopback).
    split_batches: Option<bool>,
    batch_concurrency: usize,
    batch_retries: u32,
    batch_retry_wait: Duration,
    max_response_size: usize,
    /// `None`: on for AMB hosts, off elsewhere.
    gzip: Option<bool>,
    client: Option<reqwest::Client>,
    net: crate::net::NetConfig,
}

impl AmbHttpBuilder {
    pub(super) fn new(url: &str) -> Self {
        Self {
            endpoint: Endpoint::parse(url),
            auth: AuthConfig::default(),
            timeout: DEFAULT_TIMEOUT,
            split_batches: None,
            batch_concurrency: DEFAULT_BATCH_CONCURRENCY,
            batch_retries: DEFAULT_BATCH_RETRIES,
            batch_retry_wait: DEFAULT_BATCH_RETRY_WAIT,
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
            gzip: None,
            client: None,
            net: Default::default(),
        }
    }

    crate::auth::auth_setters!();

    crate::net::net_setters!();

    /// Per-request timeout (default 10 s). It bounds loading credentials (when not cached)
    /// and, separately, sending the request and reading the whole answer: a credential source
    /// that does not answer in time fails the request with [`AmbError::Credentials`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether to split JSON-RPC batches into single calls. Default: split for AMB (which
    /// rejects batches) and loopback (the emulator plays AMB), not for other targets
    /// ([`Target::accepts_batches`](crate::Target::accepts_batches)).
    ///
    /// Each call of a split batch has its own outcome; see
    /// [`batch_concurrency`](Self::batch_concurrency) and [`batch_retries`](Self::batch_retries).
    pub fn split_batches(mut self, split: bool) -> Self {
        self.split_batches = Some(split);
        self
    }

    /// How many calls of a split batch are in flight at once (default 8, at least 1): a
    /// 1,000-call batch opens at most this many requests at a time.
    pub fn batch_concurrency(mut self, calls: usize) -> Self {
        self.batch_concurrency = calls;
        self
    }

    /// How a throttled (HTTP 429) call of a split batch is retried, on its own: at most
    /// `retries` times and `max_wait` of waiting in all (default 3 times, 10 s), after the
    /// `Retry-After` the gateway asked for (else 0.5 s, doubling). A 429 means the call was
    /// not executed, so this never runs anything twice. Past the bound the call's answer in
    /// the batch is a JSON-RPC error with code [`SPLIT_NOT_SENT`](super::SPLIT_NOT_SENT).
    /// `batch_retries(0, ..)` turns this off.
    pub fn batch_retries(mut self, retries: u32, max_wait: Duration) -> Self {
        self.batch_retries = retries;
        self.batch_retry_wait = max_wait;
        self
    }

    /// The largest answer accepted, in bytes after decompression (default 128 MiB). A larger
    /// answer is read only up to the limit and fails with [`AmbError::ResponseTooLarge`],
    /// naming the method; memory stays bounded by the limit.
    ///
    /// Uncompressed, AMB answers stop at 5.9 MB; gzip shrinks JSON-RPC answers (hex, repeated
    /// keys) 5 to 30 times (`eth_getLogs`: about 27), so a compressed AMB answer can decompress
    /// to 30 to 170 MB. An answer costs several times its size in memory while alloy parses it
    /// (a 100 MB one took over 600 MiB), so the default stops at 128 MiB, which covers all but
    /// the largest traces; ask for less (narrower block ranges) or raise the limit here.
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.max_response_size = bytes;
        self
    }

    /// Ask for gzip-compressed answers (`Accept-Encoding: gzip` and, as AMB's documentation
    /// asks, `Accept: application/gzip`) and decompress them. Default: on for AMB hosts
    /// (`*.managedblockchain.<region>.amazonaws.com`, which refuse uncompressed answers over
    /// 5.9 MB), off elsewhere. Neither header is signed.
    ///
    /// With a client of your own ([`client`](Self::client)), that client's `gzip` setting
    /// decides about `Accept-Encoding` and decompression (reqwest's default is on); this
    /// setting then only adds `Accept: application/gzip`.
    pub fn gzip(mut self, on: bool) -> Self {
        self.gzip = Some(on);
        self
    }

    /// Use this `reqwest` client (connection pool, proxy, TLS settings). Its proxy and TLS
    /// settings then decide: together with [`proxy`](Self::proxy), [`no_proxy`](Self::no_proxy)
    /// or [`tls_config`](Self::tls_config), `build()` fails with
    /// [`ConfigError::Conflict`](crate::ConfigError::Conflict). The transport's own
    /// timeout ([`timeout`](Self::timeout)) applies on top of any timeout set on the client:
    /// whichever is shorter ends the request.
    ///
    /// Build it with `.redirect(reqwest::redirect::Policy::none())`, as the default client is:
    /// reqwest follows redirects by default, and on a redirect to another host it drops
    /// `Authorization` but resends the session token (`x-amz-security-token`). With redirects
    /// off, a 3xx answer is [`AmbError::Redirected`].
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Validates the configuration and builds the transport.
    pub fn build(self) -> Result<AmbHttp, AmbError> {
        let mut endpoint = self.endpoint?;
        if endpoint.scheme() != Scheme::Http {
            return Err(AmbError::UnsupportedScheme {
                scheme: endpoint.url().scheme().to_owned(),
                expected: "https:// (http:// on loopback); use AmbWsConnect for wss://",
            });
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::Zero {
                setting: "the timeout",
            }
            .into());
        }
        if self.max_response_size == 0 {
            return Err(ConfigError::Zero {
                setting: "max_response_size",
            }
            .into());
        }
        if self.batch_concurrency == 0 {
            return Err(ConfigError::Zero {
                setting: "batch_concurrency",
            }
            .into());
        }
        let gzip = self.gzip.unwrap_or(endpoint.amb_host().is_some());
        let target_splits = !self.auth.target_for(&endpoint).accepts_batches();
        let auth = self.auth.build(&mut endpoint)?;
        // A provider (bearer, basic, headers, no auth) is not AMB, even on loopback.
        let split_batches = self
            .split_batches
            .unwrap_or(target_splits && !auth.is_provider());
        if self.client.is_some() {
            let setting = match (&self.net.proxy, &self.net.tls) {
                (crate::net::ProxyChoice::Url(_), _) => Some(".proxy(..)"),
                (crate::net::ProxyChoice::Off, _) => Some(".no_proxy()"),
                (_, Some(_)) => Some(".tls_config(..)"),
                _ => None,
            };
            if let Some(second) = setting {
                return Err(ConfigError::Conflict {
                    first: ".client(..)",
                    second,
                    hint: "set the proxy and TLS configuration on your reqwest client instead",
                }
                .into());
            }
        }
        self.net.check_tls_for(&endpoint)?;
        // Where the client built here goes (reqwest decides the same way), named in errors.
        let proxy = match self.client {
            Some(_) => None,
            None => crate::net::intercept(&self.net.proxy, &endpoint)
                .map(|(intercept, _)| crate::net::shown(&intercept.uri().to_string())),
        };
        let client = match self.client {
            Some(c) => c,
            // Redirects are never followed: a signature is valid for one host, and reqwest
            // would resend `x-amz-security-token` to another host (it strips only
            // `Authorization`). A 3xx becomes `AmbError::Redirected`.
            None => self
                .net
                .apply_reqwest(
                    reqwest::Client::builder()
                        .redirect(reqwest::redirect::Policy::none())
                        .gzip(gzip),
                )?
                .build()
                .map_err(|e| ConfigError::Client {
                    what: "the HTTP client",
                    source: e.into(),
                })?,
        };
        let host =
            http::HeaderValue::from_str(endpoint.authority()).map_err(ConfigError::InvalidHost)?;
        let split = split_batches.then_some(Split {
            concurrency: self.batch_concurrency,
            retries: self.batch_retries,
            retry_wait: self.batch_retry_wait,
        });
        Ok(AmbHttp {
            inner: Arc::new(Inner {
                host,
                endpoint,
                auth,
                client,
                proxy,
                split,
                timeout: self.timeout,
                max_response_size: self.max_response_size,
                accept_gzip: gzip,
            }),
        })
    }
}
