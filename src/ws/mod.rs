//! [`AmbWsConnect`]: SigV4-signed (or billing-token) WebSocket pub/sub for alloy.
//!
//! ```no_run
//! use alloy_amb::AmbWsConnect;
//! use alloy_provider::{Provider, ProviderBuilder};
//! use alloy_rpc_types_eth::Filter;
//! use futures::StreamExt;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let url = "wss://nd-xxxx.wss.ethereum.managedblockchain.us-east-1.amazonaws.com";
//! let provider = ProviderBuilder::new().connect_pubsub_with(AmbWsConnect::new(url)?).await?;
//! let mut logs = provider.subscribe_logs(&Filter::new()).await?.into_stream();
//! while let Some(log) = logs.next().await {
//!     println!("{log:?}");
//! }
//! # Ok(()) }
//! ```
//!
//! - The upgrade request is signed (SigV4 over `host`, `x-amz-date` and the session token, in
//!   headers) on every connect and every reconnect, with the credentials current at that moment
//!   and a fresh `X-Amz-Date`; in token mode the billing token goes on the URL instead.
//! - alloy's pub/sub service reconnects when the connection is lost (the gateway drops it, a
//!   ping goes unanswered) and re-sends `eth_subscribe`; the caller's streams go on.
//! - Requests leave as text frames; requests over the 512 KB message quota are refused before
//!   they are sent, and "message response is too large" answers become typed errors
//!   ([`quota_error`]).
//! - AMB's "message response is too large" names no request, and also replaces a notification
//!   over the quota. While a subscription is open such a message is ambiguous: it is counted
//!   on [`AmbWsConnect::lost_notifications`] at once (as every reconnect is; give that signal
//!   to a resumable log stream, which then backfills what was missed), and a request that may
//!   be its subject keeps waiting for its own answer, up to
//!   [`AmbWsConnectBuilder::attribution_wait`].

mod backend;
mod handshake;
mod quota;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_pubsub::{ConnectionHandle, PubSubConnect};
use alloy_transport::TransportResult;
use tokio::sync::watch;
use tracing::{debug, debug_span, Instrument};

pub use quota::{
    quota_error, OUTCOME_UNKNOWN_CODE, REQUEST_TOO_LARGE_CODE, RESPONSE_TOO_LARGE_CODE,
};
use quota::{DEFAULT_ATTRIBUTION_WAIT, DEFAULT_MAX_MESSAGE_SIZE};

use crate::auth::{sign_and_send, Attempt, Auth, AuthConfig, Authorization, ToSign};
use crate::credentials::AmbCredentials;
use crate::endpoint::{Endpoint, Scheme};
use crate::error::{AmbError, ConfigError};

/// The default interval between keepalive pings.
const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// The default time allowed to open a connection (TCP, TLS and the upgrade).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default number of reconnect attempts after the connection is lost.
const DEFAULT_MAX_RETRIES: u32 = 10;
/// The default base interval between reconnect attempts (alloy backs off exponentially from it,
/// up to 30 s).
const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(3);

/// Connects alloy's pub/sub to an AMB node's WebSocket endpoint, signing the upgrade with SigV4
/// (or adding an AMB billing token). It is an [`alloy_pubsub::PubSubConnect`]:
///
/// ```no_run
/// use alloy_amb::AmbWsConnect;
/// use alloy_provider::{Provider, ProviderBuilder};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let url = "wss://nd-xxxx.wss.ethereum.managedblockchain.us-east-1.amazonaws.com";
/// let provider = ProviderBuilder::new().connect_pubsub_with(AmbWsConnect::new(url)?).await?;
/// let mut heads = provider.subscribe_blocks().await?;
/// println!("{}", heads.recv().await?.number);
/// # Ok(()) }
/// ```
///
/// It shares endpoint parsing, auth modes, credentials and the signer with
/// [`AmbHttp`](crate::AmbHttp). Cloning is cheap; clones share the credential cache. `Debug`
/// never shows the billing token or credentials.
#[derive(Clone)]
pub struct AmbWsConnect {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    auth: Auth,
    tls: Option<Arc<rustls::ClientConfig>>,
    proxy: Option<crate::net::proxy::ProxyRoute>,
    max_retries: u32,
    retry_interval: Duration,
    keepalive_interval: Duration,
    max_message_size: usize,
    connect_timeout: Duration,
    attribution_wait: Duration,
    lost_notifications: watch::Sender<u64>,
}

impl AmbWsConnect {
    /// A connector for `url` (`wss://`, or `ws://` on loopback) with the defaults: SigV4 for
    /// `managedblockchain` (or token mode if the URL has `?billingtoken=`), the region from the
    /// AMB host name or the AWS region chain, credentials from the standard AWS chain, 10
    /// reconnect attempts 3 s apart (backing off), a ping every 10 s, the 512 KB message quota.
    pub fn new(url: impl AsRef<str>) -> Result<Self, AmbError> {
        Self::builder(url).build()
    }

    /// A builder for `url`, to set region, service, credentials, token, reconnects, keepalive...
    pub fn builder(url: impl AsRef<str>) -> AmbWsConnectBuilder {
        AmbWsConnectBuilder {
            endpoint: Endpoint::parse(url.as_ref()),
            auth: AuthConfig::default(),
            max_retries: DEFAULT_MAX_RETRIES,
            retry_interval: DEFAULT_RETRY_INTERVAL,
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            attribution_wait: DEFAULT_ATTRIBUTION_WAIT,
            net: Default::default(),
        }
    }

    crate::auth::auth_accessors!();

    /// A signal that counts the moments after which a subscription on this connector (or a
    /// clone) may have missed notifications:
    /// - every reconnect: what the node sent while the connection was down is not replayed;
    /// - every "message response is too large" (AMB's 512 KB quota) that came while a
    ///   subscription was open. Such a message names nothing; it may stand for a notification
    ///   over the quota (e.g. a log with a large `data`).
    ///
    /// Give it to a resumable log stream as its backfill signal, so what was missed is fetched
    /// with `eth_getLogs` (best over an HTTP backfill provider, which has no 512 KB quota). The
    /// count changes before anything that arrives after the event is passed on, so a stream
    /// that looks at the signal first backfills before it sees later notifications:
    ///
    /// ```no_run
    /// use alloy_amb::resumable::ResumableLogsExt;
    /// use alloy_amb::AmbWsConnect;
    /// use alloy_provider::ProviderBuilder;
    /// use alloy_rpc_types_eth::Filter;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let connect = AmbWsConnect::new("wss://nd-xxxx.wss.ethereum.managedblockchain.us-east-1.amazonaws.com")?;
    /// let lost = connect.lost_notifications();
    /// let provider = ProviderBuilder::new().connect_pubsub_with(connect).await?;
    /// let logs = provider
    ///     .resumable_logs(&Filter::new())
    ///     .reconnect_signal(lost)
    ///     .subscribe()
    ///     .await?;
    /// # drop(logs); Ok(()) }
    /// ```
    ///
    /// A count, not a certainty: a refusal of a request's answer while a subscription is open
    /// counts too (the gateway's message cannot be told apart), which costs one backfill that
    /// finds nothing new. Cheap to clone; every receiver sees every change. It covers what
    /// [`track_reconnects`](crate::resumable::track_reconnects) signals, so with this connector
    /// that wrapper is not needed.
    pub fn lost_notifications(&self) -> watch::Receiver<u64> {
        self.inner.lost_notifications.subscribe()
    }

    /// Signs the upgrade now, opens the WebSocket and starts its loop.
    async fn open(&self) -> TransportResult<ConnectionHandle> {
        let inner = &self.inner;
        let started = Instant::now();
        let to_sign = ToSign {
            method: "GET",
            headers: &[],
            body: b"",
        };
        let sent = sign_and_send(
            &inner.auth,
            &inner.endpoint,
            to_sign,
            inner.connect_timeout,
            |auth: Authorization| async move {
                let (date, outcome) = handshake::open(
                    &inner.endpoint,
                    handshake::Upgrade {
                        url: &auth.url,
                        headers: &auth.headers,
                        tls: inner.tls.as_ref(),
                        proxy: inner.proxy.as_ref(),
                        token_mode: inner.auth.is_token(),
                        timeout: inner.connect_timeout,
                    },
                )
                .await;
                let attempt = Attempt {
                    date: date.and_then(|d| http::HeaderValue::try_from(d).ok()),
                    outcome,
                };
                (auth, attempt)
            },
        )
        .await?;
        let socket = sent.outcome?;
        let (handle, interface) = ConnectionHandle::new();
        backend::Backend::new(
            socket,
            interface,
            inner.keepalive_interval,
            inner.max_message_size,
            inner.endpoint.host().to_owned(),
            inner.attribution_wait,
            inner.lost_notifications.clone(),
            sent.authorization.known(),
        )
        .spawn();
        debug!(
            latency_ms = started.elapsed().as_millis() as u64,
            "AMB WebSocket open"
        );
        Ok(handle
            .with_max_retries(inner.max_retries)
            .with_retry_interval(inner.retry_interval))
    }
}

impl PubSubConnect for AmbWsConnect {
    fn is_local(&self) -> bool {
        self.inner.endpoint.is_loopback()
    }

    async fn connect(&self) -> TransportResult<ConnectionHandle> {
        let span =
            debug_span!("amb_ws_connect", host = %self.inner.endpoint.host(), reconnect = false);
        self.open().instrument(span).await
    }

    async fn try_reconnect(&self) -> TransportResult<ConnectionHandle> {
        let span =
            debug_span!("amb_ws_connect", host = %self.inner.endpoint.host(), reconnect = true);
        let handle = self.open().instrument(span).await?;
        // Notifications sent while the connection was down are gone.
        self.inner.lost_notifications.send_modify(|n| *n += 1);
        Ok(handle)
    }
}

impl fmt::Debug for AmbWsConnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("AmbWsConnect")
            .field("endpoint", &inner.endpoint)
            .field("auth", &inner.auth)
            .field("proxy", &inner.proxy)
            .field("max_retries", &inner.max_retries)
            .field("retry_interval", &inner.retry_interval)
            .field("keepalive_interval", &inner.keepalive_interval)
            .field("max_message_size", &inner.max_message_size)
            .field("connect_timeout", &inner.connect_timeout)
            .field("attribution_wait", &inner.attribution_wait)
            .field("lost_notifications", &*inner.lost_notifications.borrow())
            .finish()
    }
}

/// Builds an [`AmbWsConnect`]. Obtained from [`AmbWsConnect::builder`].
#[must_use]
pub struct AmbWsConnectBuilder {
    /// Parsed when the builder is made, so that `Debug` never shows a billing token.
    endpoint: Result<Endpoint, AmbError>,
    auth: AuthConfig,
    max_retries: u32,
    retry_interval: Duration,
    keepalive_interval: Duration,
    max_message_size: usize,
    connect_timeout: Duration,
    attribution_wait: Duration,
    net: crate::net::NetConfig,
}

impl AmbWsConnectBuilder {
    crate::auth::auth_setters!();

    crate::net::net_setters!();

    /// How many reconnect attempts alloy makes after the connection is lost before it gives up
    /// and ends the subscriptions (default 10).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The base interval between reconnect attempts (default 3 s); alloy doubles it after each
    /// failed attempt, up to 30 s. The first attempt is immediate.
    pub fn retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = interval;
        self
    }

    /// How often a ping is sent (default 10 s). A ping still unanswered when the next one is due
    /// ends the connection, and alloy reconnects.
    pub fn keepalive_interval(mut self, interval: Duration) -> Self {
        self.keepalive_interval = interval;
        self
    }

    /// The largest request sent, in bytes (default 512 KB, AMB's WebSocket message quota).
    /// Larger requests are answered with [`AmbError::WsRequestTooLarge`] without being sent.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The time allowed to open a connection: TCP, TLS and the upgrade (default 10 s). Loading
    /// credentials for the upgrade (when not cached) gets the same time again; a source that
    /// does not answer in it fails the connect with [`AmbError::Credentials`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a request may still get its own answer after a gateway refusal that names no
    /// request and may be its answer (default 5 s).
    ///
    /// AMB's "message response is too large" carries no id. Without a subscription open it
    /// answers one of the requests waiting when it came, and is attributed as soon as that is
    /// certain (at once when only one could be the cause; requests whose answers are always
    /// small, such as `eth_blockNumber`, never are). With a subscription open it may instead
    /// stand for a notification over the quota: the requests that may be its subject keep
    /// waiting for their own answers, and those still unanswered this long after the message
    /// fail with [`AmbError::WsResponseTooLarge`] (their answer would otherwise never come);
    /// when one message's wait ends on several such requests, each fails instead with
    /// [`OUTCOME_UNKNOWN_CODE`] (the message was one of theirs, not necessarily its own).
    /// Longer: a slow answer is less likely to be taken for refused (it would then be
    /// dropped); shorter: an oversized answer fails sooner.
    pub fn attribution_wait(mut self, wait: Duration) -> Self {
        self.attribution_wait = wait;
        self
    }

    /// Validates the configuration and builds the connector. Nothing is connected yet.
    pub fn build(self) -> Result<AmbWsConnect, AmbError> {
        let mut endpoint = self.endpoint?;
        if endpoint.scheme() != Scheme::Ws {
            return Err(AmbError::UnsupportedScheme {
                scheme: endpoint.url().scheme().to_owned(),
                expected: "wss:// (ws:// on loopback); use AmbHttp for https://",
            });
        }
        for (name, zero) in [
            ("keepalive_interval", self.keepalive_interval.is_zero()),
            ("connect_timeout", self.connect_timeout.is_zero()),
            ("max_message_size", self.max_message_size == 0),
            ("attribution_wait", self.attribution_wait.is_zero()),
        ] {
            if zero {
                return Err(ConfigError::Zero { setting: name }.into());
            }
        }
        let target = self.auth.target_for(&endpoint);
        if !target.has_websocket() {
            return Err(ConfigError::NoWebSocket {
                target: target.name(),
            }
            .into());
        }
        let auth = self.auth.build(&mut endpoint)?;
        self.net.check()?;
        self.net.check_tls_for(&endpoint)?;
        let user_tls = self.net.tls.clone();
        let tls = match endpoint.url().scheme() {
            "wss" => Some(handshake::tls_config(self.net.tls)?),
            _ => None,
        };
        let proxy = crate::net::proxy::route(&self.net.proxy, &endpoint, || {
            handshake::tls_config(user_tls)
        })?;
        Ok(AmbWsConnect {
            inner: Arc::new(Inner {
                endpoint,
                auth,
                tls,
                proxy,
                max_retries: self.max_retries,
                retry_interval: self.retry_interval,
                keepalive_interval: self.keepalive_interval,
                max_message_size: self.max_message_size,
                connect_timeout: self.connect_timeout,
                attribution_wait: self.attribution_wait,
                lost_notifications: watch::Sender::new(0),
            }),
        })
    }
}

impl fmt::Debug for AmbWsConnectBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmbWsConnectBuilder")
            .field("endpoint", &self.endpoint)
            .field("region", &self.auth.region)
            .field("service", &self.auth.service)
            .field("credentials", &self.auth.credentials)
            .field("billing_token", &self.auth.billing_token)
            .field("max_retries", &self.max_retries)
            .field("retry_interval", &self.retry_interval)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("max_message_size", &self.max_message_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("attribution_wait", &self.attribution_wait)
            .field("net", &self.net)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Target;

    const TOKEN_URL: &str =
        "wss://mainnet.ethereum.managedblockchain.us-east-1.amazonaws.com/?billingtoken=SECRETTOKEN";

    #[test]
    fn debug_never_shows_the_billing_token() {
        let c = AmbWsConnect::new(TOKEN_URL).unwrap();
        assert!(c.region().is_none() && c.credentials().is_none());
        assert!(!format!("{c:?}").contains("SECRETTOKEN"));
        let b = AmbWsConnect::builder(TOKEN_URL);
        assert!(!format!("{b:?}").contains("SECRETTOKEN"), "{b:?}");
        let b = AmbWsConnect::builder("wss://x.example").billing_token("OTHERSECRET");
        assert!(!format!("{b:?}").contains("OTHERSECRET"));
        let err = AmbWsConnect::new("wss://[bad?billingtoken=SECRETTOKEN").unwrap_err();
        assert!(!format!("{err} {err:?}").contains("SECRETTOKEN"));
    }

    #[test]
    fn region_comes_from_the_wss_host() {
        let c = AmbWsConnect::builder(
            "wss://nd-abc.wss.ethereum.managedblockchain.eu-west-2.amazonaws.com/",
        )
        .credentials_provider(aws_credential_types::Credentials::new(
            "a", "b", None, None, "x",
        ))
        .build()
        .unwrap();
        assert_eq!(c.region(), Some("eu-west-2"));
        assert!(!c.is_local());
        assert!(c.inner.tls.is_some());
    }

    #[test]
    fn refuses_https_cleartext_and_zero_settings() {
        assert!(matches!(
            AmbWsConnect::new("https://nd-a.ethereum.managedblockchain.us-east-1.amazonaws.com"),
            Err(AmbError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            AmbWsConnect::new("ws://example.com/"),
            Err(AmbError::InsecureEndpoint { .. })
        ));
        let zeroes: [fn(AmbWsConnectBuilder) -> AmbWsConnectBuilder; 4] = [
            |b| b.keepalive_interval(Duration::ZERO),
            |b| b.connect_timeout(Duration::ZERO),
            |b| b.max_message_size(0),
            |b| b.attribution_wait(Duration::ZERO),
        ];
        for zero in zeroes {
            let b = AmbWsConnect::builder("ws://127.0.0.1:1/").region("us-east-1");
            assert!(matches!(zero(b).build(), Err(AmbError::Config(_))));
        }
    }

    #[test]
    fn token_and_credentials_conflict() {
        let r = AmbWsConnect::builder("wss://a.example/?billingtoken=t")
            .credentials_provider(aws_credential_types::Credentials::new(
                "a", "b", None, None, "x",
            ))
            .build();
        assert!(matches!(r, Err(AmbError::Config(_))));
    }

    #[test]
    fn targets_without_websocket_are_refused_at_build() {
        let creds = || aws_credential_types::Credentials::new("a", "b", None, None, "x");
        for (b, target) in [
            (
                AmbWsConnect::builder("wss://svc-1.abc.vpc-lattice-svcs.us-east-1.on.aws/"),
                "VPC Lattice",
            ),
            (
                AmbWsConnect::builder("wss://abc.lambda-url.us-east-1.on.aws/"),
                "Lambda function URL",
            ),
            (
                AmbWsConnect::builder("wss://rpc.mycorp.example/").target(Target::VpcLattice),
                "VPC Lattice",
            ),
            (
                AmbWsConnect::builder("ws://127.0.0.1:1/").target(Target::LambdaUrl),
                "Lambda function URL",
            ),
            (
                AmbWsConnect::builder("wss://rpc.mycorp.example/").service("vpc-lattice-svcs"),
                "VPC Lattice",
            ),
        ] {
            let err = b.credentials_provider(creds()).build().unwrap_err();
            assert!(
                matches!(err, AmbError::Config(ConfigError::NoWebSocket { target: t }) if t == target),
                "{err}"
            );
            let text = err.to_string();
            assert!(
                text.contains("does not support WebSockets") && text.contains("AmbHttp"),
                "{text}"
            );
        }
        // API Gateway (WebSocket APIs exist) and AMB build.
        for url in [
            "wss://abc.execute-api.us-east-1.amazonaws.com/prod",
            "wss://nd-abc.wss.ethereum.managedblockchain.us-east-1.amazonaws.com/",
        ] {
            assert!(AmbWsConnect::builder(url)
                .credentials_provider(creds())
                .build()
                .is_ok());
        }
    }

    #[test]
    fn is_a_pubsub_connector() {
        fn assert_connect<T: PubSubConnect + Clone + fmt::Debug>() {}
        assert_connect::<AmbWsConnect>();
    }
}
