//! [`AmbHttp`]: a SigV4-signed (or billing-token) HTTP transport for alloy.

use std::sync::Arc;
use std::task;
use std::time::{Duration, Instant};

use alloy_json_rpc::{RequestPacket, ResponsePacket, SerializedRequest};
use alloy_transport::{TransportError, TransportErrorKind, TransportFut, TransportResult};
use alloy_transport_http::reqwest;
use futures::future::try_join_all;
use tower::Service;
use tracing::{debug, debug_span, Instrument};

use crate::credentials::AmbCredentials;
use crate::endpoint::{Endpoint, Scheme};
use crate::error::AmbError;
use crate::signer::{Auth, AuthConfig, Authorization, ToSign};

/// The default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

const CONTENT_TYPE_JSON: &str = "application/json";
use crate::error::SNIPPET_LEN;

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
    split_batches: bool,
    timeout: Duration,
    /// The last `x-amz-security-token` value sent: the same (about 1 KB) for every request
    /// until the credentials change, so it is checked and copied once, not per request.
    token: LastToken,
}

/// A session token header value; `Debug` never shows it.
#[derive(Default)]
struct LastToken(std::sync::Mutex<Option<http::HeaderValue>>);

impl std::fmt::Debug for LastToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LastToken(** redacted **)")
    }
}

impl Inner {
    /// The header value for `value` when `name` is the session token header.
    fn same_token(&self, name: &http::HeaderName, value: &str) -> Option<http::HeaderValue> {
        if name != X_AMZ_SECURITY_TOKEN {
            return None;
        }
        let mut last = self.token.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(token) = last.as_ref().filter(|t| t.as_bytes() == value.as_bytes()) {
            return Some(token.clone());
        }
        let mut token = http::HeaderValue::from_str(value).ok()?;
        token.set_sensitive(true);
        *last = Some(token.clone());
        Some(token)
    }
}

impl AmbHttp {
    /// A transport for `url` with the defaults: SigV4 for `managedblockchain` (or token mode if
    /// the URL has `?billingtoken=`), the region from the AMB host name or the AWS region chain,
    /// credentials from the standard AWS chain, a 10 s timeout, batches split.
    pub fn new(url: impl AsRef<str>) -> Result<Self, AmbError> {
        Self::builder(url).build()
    }

    /// A builder for `url`, to set region, service, credentials, token, timeout...
    pub fn builder(url: impl AsRef<str>) -> AmbHttpBuilder {
        AmbHttpBuilder {
            endpoint: Endpoint::parse(url.as_ref()),
            auth: AuthConfig::default(),
            timeout: DEFAULT_TIMEOUT,
            split_batches: true,
            client: None,
        }
    }

    crate::signer::auth_accessors!();

    async fn send_packet(self, packet: RequestPacket) -> TransportResult<ResponsePacket> {
        match packet {
            RequestPacket::Single(req) => self.send_single(req).await,
            RequestPacket::Batch(reqs) if self.inner.split_batches => {
                // AMB rejects JSON-RPC batches: send each call on its own, concurrently, and
                // answer with a batch in the original order.
                let calls = reqs.into_iter().map(|req| self.clone().send_single(req));
                let answers = try_join_all(calls).await?;
                let mut out = Vec::with_capacity(answers.len());
                for answer in answers {
                    match answer {
                        ResponsePacket::Single(r) => out.push(r),
                        ResponsePacket::Batch(rs) => out.extend(rs),
                    }
                }
                Ok(ResponsePacket::Batch(out))
            }
            RequestPacket::Batch(reqs) => {
                let headers = RequestPacket::Batch(reqs.clone()).headers();
                let body = RequestPacket::Batch(reqs)
                    .serialize()
                    .map_err(TransportError::ser_err)?;
                let body = bytes_of(body);
                self.post(body, headers, "batch").await
            }
        }
    }

    async fn send_single(self, req: SerializedRequest) -> TransportResult<ResponsePacket> {
        let headers = req.headers().cloned().unwrap_or_default();
        // Borrowed for alloy's own method names: nothing allocated per request for logging.
        let method = req.method_clone();
        let span = debug_span!("amb_request", method = %method, id = %req.id(), status = tracing::field::Empty, latency_ms = tracing::field::Empty);
        let body = bytes_of(req.take_request());
        self.post(body, headers, &method).instrument(span).await
    }

    async fn post(
        self,
        body: bytes::Bytes,
        extra_headers: http::HeaderMap,
        method: &str,
    ) -> TransportResult<ResponsePacket> {
        let inner = &self.inner;
        let started = Instant::now();
        let mut retried = false;
        loop {
            let mut auth = inner
                .auth
                .authorize_within(
                    &inner.endpoint,
                    ToSign {
                        method: "POST",
                        headers: &[("content-type", CONTENT_TYPE_JSON)],
                        body: &body,
                    },
                    inner.timeout,
                )
                .await?;
            let signed = std::mem::take(&mut auth.headers);
            let (status, retry_after, bytes) = self
                .send_signed(&auth, signed, body.clone(), &extra_headers)
                .await;
            let span = tracing::Span::current();
            span.record("status", status);
            span.record("latency_ms", started.elapsed().as_millis() as u64);
            debug!(%method, status, latency_ms = started.elapsed().as_millis() as u64, "AMB response");
            if status == 403 {
                let bytes = bytes?;
                let refusal = AmbError::from_gateway_refusal(
                    status,
                    &bytes,
                    inner.endpoint.host(),
                    inner.auth.is_token(),
                );
                let kind = refusal.auth_failure();
                let recoverable = match kind {
                    Some(kind) if !retried => inner.auth.recover(kind, &auth).await,
                    _ => false,
                };
                if recoverable {
                    // Clock skew (now learned) or rotated credentials (now dropped): sign once
                    // more, never more than once.
                    debug!(%method, reason = ?kind, "signing again after a 403");
                    retried = true;
                    continue;
                }
                return auth.withhold(Err(refusal.into()));
            }
            return auth.withhold(self.answer(status, retry_after, bytes));
        }
    }

    /// Sends one signed attempt; returns the status, `Retry-After`, and the body (or the
    /// network error). Learns the gateway's clock from `Date`. The timeout covers sending and
    /// reading the whole answer.
    async fn send_signed(
        &self,
        auth: &Authorization,
        signed: Vec<(&'static str, String)>,
        body: bytes::Bytes,
        extra_headers: &http::HeaderMap,
    ) -> (u16, Option<Duration>, TransportResult<bytes::Bytes>) {
        let inner = &self.inner;
        let mut request = reqwest::Request::new(reqwest::Method::POST, auth.url.clone());
        let headers = request.headers_mut();
        headers.reserve(extra_headers.len() + 8);
        for (name, value) in extra_headers {
            headers.append(name.clone(), value.clone());
        }
        // What is signed goes last, replacing any header of the same name.
        headers.insert(http::header::HOST, inner.host.clone());
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(CONTENT_TYPE_JSON),
        );
        // Static names and owned values: no header name or value is copied per request.
        for (name, value) in signed {
            let name = header_name(name);
            let value = match inner.same_token(&name, &value) {
                Some(token) => token,
                None => match http::HeaderValue::try_from(value) {
                    Ok(value) => value,
                    Err(_) => {
                        let err =
                            AmbError::Signing(format!("`{name}` is not a valid header value"));
                        return (0, None, Err(err.into()));
                    }
                },
            };
            headers.insert(name, value);
        }
        *request.body_mut() = Some(body.into());
        // The status and `Retry-After` once the head has arrived: a 5xx or 429 whose body then
        // stalls stays an HTTP error that alloy's retry layer retries.
        let mut head: Option<(u16, Option<Duration>)> = None;
        let exchange = async {
            let resp = match inner.client.execute(request).await {
                Ok(r) => r,
                Err(e) => return (0, None, Err(self.network_error(e))),
            };
            let status = resp.status().as_u16();
            let header = |name| resp.headers().get(name).and_then(|v| v.to_str().ok());
            inner.auth.observe_date(header(http::header::DATE));
            let retry_after = header(http::header::RETRY_AFTER)
                .and_then(|v| v.trim().parse().ok())
                .map(Duration::from_secs);
            head = Some((status, retry_after));
            if (300..400).contains(&status) {
                let location = resp.headers().get(http::header::LOCATION);
                return (status, retry_after, Err(self.redirected(status, location)));
            }
            let bytes = match resp.bytes().await {
                Ok(b) => Ok(b),
                Err(e) if status >= 500 || status == 429 => {
                    // `without_url`: the URL may hold a billing token.
                    Err(TransportErrorKind::http_error_with_retry_after(
                        status,
                        format!("<failed to read response body: {}>", e.without_url()),
                        retry_after,
                    ))
                }
                Err(e) => Err(self.network_error(e)),
            };
            (status, retry_after, bytes)
        };
        let answer = tokio::time::timeout(inner.timeout, exchange).await;
        match (answer, head) {
            (Ok(answer), _) => answer,
            (Err(_elapsed), Some((status, retry_after))) if status >= 500 || status == 429 => {
                let err = TransportErrorKind::http_error_with_retry_after(
                    status,
                    format!(
                        "<timed out after {:?} reading the response body>",
                        inner.timeout
                    ),
                    retry_after,
                );
                (status, retry_after, Err(err))
            }
            (Err(_elapsed), _) => (0, None, Err(self.timed_out())),
        }
    }

    /// Turns a non-403 answer into alloy's result.
    fn answer(
        &self,
        status: u16,
        retry_after: Option<Duration>,
        bytes: TransportResult<bytes::Bytes>,
    ) -> TransportResult<ResponsePacket> {
        let bytes = bytes?;
        match status {
            200..=299 => match serde_json::from_slice::<ResponsePacket>(&bytes) {
                Ok(packet) => Ok(packet),
                Err(e) if looks_like_json(&bytes) => Err(TransportError::deser_err(
                    e,
                    String::from_utf8_lossy(&bytes),
                )),
                Err(_) => Err(self.unexpected(status, &bytes)),
            },
            429 | 500..=599 => Err(TransportErrorKind::http_error_with_retry_after(
                status,
                String::from_utf8_lossy(&bytes).into_owned(),
                retry_after,
            )),
            _ => match parse_packet(&bytes) {
                // A JSON-RPC error answer with a non-2xx status: hand it to alloy as is.
                Some(packet) => Ok(packet),
                None if looks_like_json(&bytes) => Err(TransportErrorKind::http_error(
                    status,
                    String::from_utf8_lossy(&bytes).into_owned(),
                )),
                None => Err(self.unexpected(status, &bytes)),
            },
        }
    }

    fn unexpected(&self, status: u16, body: &[u8]) -> TransportError {
        let end = body.len().min(SNIPPET_LEN);
        AmbError::UnexpectedResponse {
            status,
            snippet: String::from_utf8_lossy(&body[..end]).into_owned(),
            host: self.inner.endpoint.host().to_owned(),
        }
        .into()
    }

    /// A 3xx answer: never followed (the signature is for this host; the session token must
    /// not go where `Location` points). Names where it points, without its query.
    fn redirected(&self, status: u16, location: Option<&http::HeaderValue>) -> TransportError {
        let location = location
            .and_then(|v| v.to_str().ok())
            .map(|v| match self.inner.endpoint.url().join(v) {
                Ok(mut url) => {
                    url.set_query(None);
                    url.set_fragment(None);
                    let _ = url.set_password(None);
                    let _ = url.set_username("");
                    url.to_string()
                }
                Err(_) => "<not a URL>".to_owned(),
            })
            .unwrap_or_default();
        AmbError::Redirected {
            status,
            location,
            host: self.inner.endpoint.host().to_owned(),
        }
        .into()
    }

    fn timed_out(&self) -> TransportError {
        AmbError::Timeout {
            host: self.inner.endpoint.host().to_owned(),
            after: self.inner.timeout,
        }
        .into()
    }

    fn network_error(&self, err: reqwest::Error) -> TransportError {
        let host = self.inner.endpoint.host().to_owned();
        // The URL may hold a billing token: never let it into the message.
        let err = err.without_url();
        let amb = if err.is_timeout() {
            // The transport's own timeout is the `tokio::time::timeout` in `send_signed`: this
            // is one set on a client passed to the builder.
            AmbError::Request {
                host,
                reason: format!(
                    "the timeout of the reqwest client passed to the builder elapsed: {}",
                    crate::credentials::flatten(&err)
                ),
            }
        } else if err.is_connect() {
            AmbError::Connect {
                host,
                reason: crate::credentials::flatten(&err),
            }
        } else {
            AmbError::Request {
                host,
                reason: crate::credentials::flatten(&err),
            }
        };
        amb.into()
    }
}

const X_AMZ_DATE: http::HeaderName = http::HeaderName::from_static("x-amz-date");
const X_AMZ_SECURITY_TOKEN: http::HeaderName =
    http::HeaderName::from_static("x-amz-security-token");

/// The header name of a signed header, without looking it up per request for the usual ones.
fn header_name(name: &'static str) -> http::HeaderName {
    match name {
        "x-amz-date" => X_AMZ_DATE,
        "authorization" => http::header::AUTHORIZATION,
        "x-amz-security-token" => X_AMZ_SECURITY_TOKEN,
        other => http::HeaderName::from_static(other),
    }
}

fn bytes_of(raw: Box<serde_json::value::RawValue>) -> bytes::Bytes {
    let s: Box<str> = raw.into();
    bytes::Bytes::from(String::from(s))
}

fn parse_packet(bytes: &[u8]) -> Option<ResponsePacket> {
    serde_json::from_slice(bytes).ok()
}

fn looks_like_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
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

/// Builds an [`AmbHttp`]. Obtained from [`AmbHttp::builder`].
#[derive(Debug)]
#[must_use]
pub struct AmbHttpBuilder {
    /// Parsed when the builder is made, so that `Debug` never shows a billing token.
    endpoint: Result<Endpoint, AmbError>,
    auth: AuthConfig,
    timeout: Duration,
    split_batches: bool,
    client: Option<reqwest::Client>,
}

impl AmbHttpBuilder {
    crate::signer::auth_setters!();

    /// Per-request timeout (default 10 s). It bounds loading credentials (when not cached)
    /// and, separately, sending the request and reading the whole answer: a credential source
    /// that does not answer in time fails the request with [`AmbError::Credentials`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether to split JSON-RPC batches into concurrent single calls (default `true`, since AMB
    /// rejects batches). Turn off for endpoints that accept batches.
    pub fn split_batches(mut self, split: bool) -> Self {
        self.split_batches = split;
        self
    }

    /// Use this `reqwest` client (connection pool, proxy, TLS settings). The transport's own
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
            return Err(AmbError::Config(
                "the timeout must be more than zero".into(),
            ));
        }
        let auth = self.auth.build(&mut endpoint)?;
        let client = match self.client {
            Some(c) => c,
            // Redirects are never followed: a signature is valid for one host, and reqwest
            // would resend `x-amz-security-token` to another host (it strips only
            // `Authorization`). A 3xx becomes `AmbError::Redirected`.
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| AmbError::Config(format!("could not build the HTTP client: {e}")))?,
        };
        let host = http::HeaderValue::from_str(endpoint.authority())
            .map_err(|e| AmbError::Config(format!("invalid host: {e}")))?;
        Ok(AmbHttp {
            inner: Arc::new(Inner {
                host,
                endpoint,
                auth,
                client,
                split_batches: self.split_batches,
                timeout: self.timeout,
                token: Default::default(),
            }),
        })
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
                .region("us-east-1")
                .timeout(Duration::ZERO)
                .build(),
            Err(AmbError::Config(_))
        ));
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
}
