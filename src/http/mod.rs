//! [`AmbHttp`]: a SigV4-signed (or billing-token) HTTP transport for alloy.
//!
//! - this file: the transport, and its `tower::Service` (one async path per packet kind);
//! - `wire`: one signed POST, its answer read within the size limit, and what the answer means
//!   (`wire::Failure`: throttled, not sent, outcome unknown, or a bad answer);
//! - `batch`: a batch split into single calls, each with its own outcome;
//! - `builder`: [`AmbHttpBuilder`].

use std::sync::Arc;
use std::task;
use std::time::Duration;

use alloy_json_rpc::{RequestPacket, ResponsePacket, SerializedRequest};
use alloy_transport::{TransportError, TransportFut, TransportResult};
use alloy_transport_http::reqwest;
use tower::Service;
use tracing::{debug_span, Instrument};

use crate::auth::Auth;
use crate::credentials::AmbCredentials;
use crate::endpoint::Endpoint;
use crate::error::AmbError;

mod batch;
mod builder;
mod wire;

pub use batch::{SPLIT_BAD_ANSWER, SPLIT_NOT_SENT, SPLIT_OUTCOME_UNKNOWN};
pub use builder::AmbHttpBuilder;

/// The default per-request timeout (documented on [`AmbHttpBuilder::timeout`]).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default limit on an answer's size, after decompression: 128 MiB (why: see
/// [`AmbHttpBuilder::max_response_size`]).
pub(crate) const DEFAULT_MAX_RESPONSE_SIZE: usize = 128 * 1024 * 1024;

/// The default number of single calls a split batch has in flight at once.
pub(crate) const DEFAULT_BATCH_CONCURRENCY: usize = 8;

/// The default bound on retrying one throttled (HTTP 429) call of a split batch: retries.
pub(crate) const DEFAULT_BATCH_RETRIES: u32 = 3;

/// The default bound on retrying one throttled (HTTP 429) call of a split batch: total wait.
pub(crate) const DEFAULT_BATCH_RETRY_WAIT: Duration = Duration::from_secs(10);

/// An alloy HTTP transport that signs every JSON-RPC POST with SigV4 (or adds an AMB billing
/// token).
///
/// It is a `tower::Service<RequestPacket>` with alloy's transport error and future types, so it
/// is an alloy [`Transport`](alloy_transport::Transport). Signing happens inside `call()` over
/// the exact bytes that are sent, so every retry by alloy's `RetryBackoffLayer` is signed anew
/// with a fresh `X-Amz-Date`.
///
/// ```no_run
/// use alloy_amb::{AmbHttp, ProviderBuilderExt};
/// use alloy_provider::{Provider, ProviderBuilder};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let url = "https://nd-xxxx.ethereum.managedblockchain.us-east-1.amazonaws.com";
/// let provider = ProviderBuilder::new().on_transport(AmbHttp::new(url)?);
/// println!("{}", provider.get_block_number().await?);
/// # Ok(())
/// # }
/// ```
///
/// Cloning is cheap; clones share the connection pool and the credential cache.
#[derive(Clone, Debug)]
pub struct AmbHttp {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    endpoint: Endpoint,
    /// The `Host` header (the signed authority), built once.
    host: http::HeaderValue,
    auth: Auth,
    client: reqwest::Client,
    /// The proxy the client built here goes through, as shown in errors.
    proxy: Option<String>,
    /// `None`: batches are sent as they are.
    split: Option<batch::Split>,
    timeout: Duration,
    max_response_size: usize,
    /// Send `Accept: application/gzip`, as AMB's documentation asks for compressed answers.
    accept_gzip: bool,
}

impl AmbHttp {
    /// A transport for `url` with the defaults: SigV4 for `managedblockchain` (or token mode if
    /// the URL has `?billingtoken=`), the region from the AMB host name or the AWS region chain,
    /// credentials from the standard AWS chain, a 10 s timeout, batches split, gzip asked for
    /// from AMB hosts, answers up to 128 MiB.
    pub fn new(url: impl AsRef<str>) -> Result<Self, AmbError> {
        Self::builder(url).build()
    }

    /// A builder for `url`, to set region, service, credentials, token, timeout...
    pub fn builder(url: impl AsRef<str>) -> AmbHttpBuilder {
        AmbHttpBuilder::new(url.as_ref())
    }

    crate::auth::auth_accessors!();

    async fn send_packet(self, packet: RequestPacket) -> TransportResult<ResponsePacket> {
        match packet {
            RequestPacket::Single(req) => self.send_single(req).await,
            // AMB rejects JSON-RPC batches: each call on its own, with its own outcome.
            RequestPacket::Batch(reqs) if self.inner.split.is_some() => {
                batch::send_split(&self, reqs).await
            }
            batch => {
                // The calls' extra headers, read before `serialize` consumes the batch (no copy
                // of the batch).
                let headers = batch.headers();
                let body = batch.serialize().map_err(TransportError::ser_err)?;
                let body = bytes_of(body);
                let answer = self.post(body, &headers, "batch").await;
                answer.map_err(wire::Failure::into_error)
            }
        }
    }

    async fn send_single(self, req: SerializedRequest) -> TransportResult<ResponsePacket> {
        // The method, id and extra headers are borrowed from the request's metadata, the body
        // taken from it: nothing is copied per request.
        let (meta, body) = req.decompose();
        let no_headers = http::HeaderMap::new();
        let headers = meta.headers().unwrap_or(&no_headers);
        let method: &str = &meta.method;
        let span = debug_span!("amb_request", method = %method, id = %meta.id, status = tracing::field::Empty, latency_ms = tracing::field::Empty);
        let answer = self
            .post(bytes_of(body), headers, method)
            .instrument(span)
            .await;
        answer.map_err(wire::Failure::into_error)
    }
}

fn bytes_of(raw: Box<serde_json::value::RawValue>) -> bytes::Bytes {
    let s: Box<str> = raw.into();
    bytes::Bytes::from(String::from(s))
}

impl Service<RequestPacket> for AmbHttp {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut task::Context<'_>) -> task::Poll<Result<(), Self::Error>> {
        task::Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, req: RequestPacket) -> Self::Future {
        Box::pin(self.clone().send_packet(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_an_alloy_transport() {
        fn assert_transport<T: alloy_transport::Transport + Clone + Send + Sync + 'static>() {}
        assert_transport::<AmbHttp>();
    }

    #[test]
    fn debug_never_shows_the_billing_token() {
        let t = AmbHttp::new("https://mainnet.polygon.managedblockchain.us-east-1.amazonaws.com/?billingtoken=SECRETTOKEN").unwrap();
        assert!(!format!("{t:?}").contains("SECRETTOKEN"));
        let b = AmbHttp::builder("https://x.example").billing_token("OTHERSECRET");
        assert!(!format!("{b:?}").contains("OTHERSECRET"));
        let b = AmbHttp::builder("https://x.example/?billingtoken=URLSECRET");
        assert!(!format!("{b:?}").contains("URLSECRET"));
        let b = AmbHttp::builder("nope://x.example/?billingtoken=URLSECRET");
        assert!(!format!("{b:?}").contains("URLSECRET"));
    }

    #[test]
    fn refuses_wss_and_zero_timeout() {
        assert!(matches!(
            AmbHttp::new("wss://nd-a.wss.ethereum.managedblockchain.us-east-1.amazonaws.com"),
            Err(AmbError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            AmbHttp::builder("https://a.example")
                .service("execute-api")
                .region("us-east-1")
                .timeout(Duration::ZERO)
                .build(),
            Err(AmbError::Config(_))
        ));
    }

    #[test]
    fn refuses_zero_limits() {
        let b = || {
            AmbHttp::builder("https://a.example")
                .service("execute-api")
                .region("us-east-1")
        };
        assert!(matches!(
            b().max_response_size(0).build(),
            Err(AmbError::Config(_))
        ));
        assert!(matches!(
            b().batch_concurrency(0).build(),
            Err(AmbError::Config(_))
        ));
    }

    #[test]
    fn batches_are_split_by_default_only_for_amb_and_loopback() {
        let creds = || aws_credential_types::Credentials::new("a", "b", None, None, "x");
        for (url, split) in [
            (
                "https://nd-abc.ethereum.managedblockchain.us-east-1.amazonaws.com",
                true,
            ),
            ("http://127.0.0.1:8545", true),
            (
                "https://abc.execute-api.us-east-1.amazonaws.com/prod",
                false,
            ),
            ("https://abc.lambda-url.us-east-1.on.aws/", false),
            (
                "https://svc-1.abc.vpc-lattice-svcs.us-east-1.on.aws/",
                false,
            ),
        ] {
            let t = AmbHttp::builder(url)
                .credentials_provider(creds())
                .build()
                .unwrap();
            assert_eq!(t.inner.split.is_some(), split, "{url}");
            // Always overridable.
            let t = AmbHttp::builder(url)
                .credentials_provider(creds())
                .split_batches(!split)
                .build()
                .unwrap();
            assert_eq!(t.inner.split.is_some(), !split, "{url}");
        }
        // A custom domain set to AMB's target splits.
        let t = AmbHttp::builder("https://rpc.mycorp.example/")
            .target(crate::Target::Amb)
            .region("us-east-1")
            .build()
            .unwrap();
        assert!(t.inner.split.is_some());
    }

    #[test]
    fn gzip_is_asked_for_by_default_from_amb_hosts_only() {
        let amb = AmbHttp::new("https://nd-abc.ethereum.managedblockchain.us-east-1.amazonaws.com")
            .unwrap();
        assert!(amb.inner.accept_gzip);
        let other = AmbHttp::builder("https://a.example")
            .service("execute-api")
            .region("us-east-1")
            .build()
            .unwrap();
        assert!(!other.inner.accept_gzip);
        let on = AmbHttp::builder("https://a.example")
            .service("execute-api")
            .region("us-east-1")
            .gzip(true)
            .build()
            .unwrap();
        assert!(on.inner.accept_gzip);
        let off =
            AmbHttp::builder("https://nd-abc.ethereum.managedblockchain.us-east-1.amazonaws.com")
                .gzip(false)
                .build()
                .unwrap();
        assert!(!off.inner.accept_gzip);
    }

    #[test]
    fn token_and_credentials_conflict() {
        let r = AmbHttp::builder("https://a.example/?billingtoken=t")
            .credentials_provider(aws_credential_types::Credentials::new(
                "a", "b", None, None, "x",
            ))
            .build();
        assert!(matches!(r, Err(AmbError::Config(_))));
    }

    #[tokio::test]
    async fn a_refused_connection_keeps_its_cause_and_withholds_the_token() {
        // Port 1 on loopback: nothing listens.
        let http = AmbHttp::new("http://127.0.0.1:1/?billingtoken=SECRETTOKEN1").unwrap();
        let client = alloy_rpc_client::RpcClient::new(http, true);
        let err = client
            .request_noparams::<serde_json::Value>("eth_chainId")
            .await
            .unwrap_err();
        let amb = AmbError::from_transport_error(&err).expect("an AmbError");
        assert!(matches!(amb, AmbError::Connect { .. }), "{amb:?}");
        let mut chain = vec![amb.to_string()];
        let mut source = std::error::Error::source(amb);
        while let Some(s) = source {
            chain.push(format!("{s} {s:?}"));
            source = s.source();
        }
        assert!(chain.len() > 1, "no source: {chain:?}");
        assert!(
            !chain.iter().any(|t| t.contains("SECRETTOKEN1")),
            "{chain:?}"
        );
    }
}
