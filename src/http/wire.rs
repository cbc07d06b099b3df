//! One signed POST: sign, send, read the answer within the size limit, and say what it means.
//!
//! [`AmbHttp::post`] answers with the JSON-RPC packet or a [`Failure`], which says whether the
//! call may have been executed: what a split batch needs to never send a call twice.

use std::time::{Duration, Instant};

use alloy_json_rpc::ResponsePacket;
use alloy_transport::{TransportError, TransportErrorKind};
use alloy_transport_http::reqwest;
use bytes::{Bytes, BytesMut};
use tracing::debug;
use url::Url;

use super::AmbHttp;
use crate::auth::{sign_and_send, Attempt, Authorization, ToSign};
use crate::error::{AmbError, SNIPPET_LEN};

const CONTENT_TYPE_JSON: &str = "application/json";

/// The most of an error answer (not 2xx) that is read: enough for any gateway or JSON-RPC
/// error, and error texts stay short.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Why a call got no usable answer, by what it means for the call.
#[derive(Debug)]
pub(super) enum Failure {
    /// Throttled (HTTP 429): not executed; may be sent again after `retry_after`.
    Throttled {
        error: TransportError,
        retry_after: Option<Duration>,
    },
    /// Never reached the node: credentials, signing, connection refused, a 403 or a redirect.
    NotSent(TransportError),
    /// Sent, and no answer came back (timeout, connection lost, 5xx): it may have been executed.
    Unknown(TransportError),
    /// Answered, but the answer is unusable (too large, not JSON-RPC): it was executed.
    BadAnswer(TransportError),
}

impl Failure {
    /// The same failure with its error passed through `f`.
    fn map(self, f: impl FnOnce(TransportError) -> TransportError) -> Self {
        match self {
            Self::Throttled { error, retry_after } => Self::Throttled {
                error: f(error),
                retry_after,
            },
            Self::NotSent(error) => Self::NotSent(f(error)),
            Self::Unknown(error) => Self::Unknown(f(error)),
            Self::BadAnswer(error) => Self::BadAnswer(f(error)),
        }
    }

    /// The error alloy sees for a single call: unchanged from what it always was (429 and 5xx
    /// stay alloy's `HttpError`, which `RetryBackoffLayer` may retry).
    pub(super) fn into_error(self) -> TransportError {
        match self {
            Self::Throttled { error, .. }
            | Self::NotSent(error)
            | Self::Unknown(error)
            | Self::BadAnswer(error) => error,
        }
    }

    pub(super) fn error(&self) -> &TransportError {
        match self {
            Self::Throttled { error, .. }
            | Self::NotSent(error)
            | Self::Unknown(error)
            | Self::BadAnswer(error) => error,
        }
    }
}

/// What one signed attempt came back with.
struct Reply {
    /// The HTTP status; 0 when no answer head arrived (then `body` is the failure).
    status: u16,
    /// The answer body, read within the limit, or why there is none.
    body: Result<Bytes, Failure>,
    retry_after: Option<Duration>,
    /// The `Date` header (the gateway's clock).
    date: Option<http::HeaderValue>,
}

impl Reply {
    fn failed(failure: Failure) -> Self {
        Self {
            status: 0,
            body: Err(failure),
            retry_after: None,
            date: None,
        }
    }
}

/// The answer to a request signed with `auth`, with the secrets it carried (session token,
/// signature, billing token) withheld from every text that came from the network: see
/// [`crate::redact`].
fn withhold(
    auth: &Authorization,
    answer: Result<ResponsePacket, Failure>,
) -> Result<ResponsePacket, Failure> {
    match answer {
        Ok(packet) => auth.withhold(Ok(packet)).map_err(Failure::BadAnswer),
        Err(failure) => Err(failure.map(|e| crate::redact::withhold_error(e, &auth.known()))),
    }
}

impl AmbHttp {
    /// Signs and sends `body`, once more after a 403 that fresh credentials or the learned
    /// clock skew can fix ([`crate::auth::sign_and_send`]); answers with the JSON-RPC packet or
    /// what went wrong.
    pub(super) async fn post(
        &self,
        body: Bytes,
        extra_headers: &http::HeaderMap,
        method: &str,
    ) -> Result<ResponsePacket, Failure> {
        let inner = &self.inner;
        let started = Instant::now();
        let to_sign = post_to_sign(&body);
        let sent = sign_and_send(
            &inner.auth,
            &inner.endpoint,
            to_sign,
            inner.timeout,
            |mut auth: Authorization| {
                let body = body.clone();
                async move {
                    // Kept where they are secrets to withhold from the answer (provider headers).
                    let signed = if inner.auth.keeps_headers() {
                        auth.headers.clone()
                    } else {
                        std::mem::take(&mut auth.headers)
                    };
                    let reply = self
                        .send_signed(&auth, signed, body, extra_headers, method)
                        .await;
                    let latency_ms = started.elapsed().as_millis() as u64;
                    let span = tracing::Span::current();
                    span.record("status", reply.status);
                    span.record("latency_ms", latency_ms);
                    debug!(%method, status = reply.status, latency_ms, "AMB response");
                    let date = reply.date.clone();
                    let attempt = Attempt {
                        date,
                        outcome: self.refused(reply),
                    };
                    (auth, attempt)
                }
            },
        )
        .await
        .map_err(|e| Failure::NotSent(e.into()))?;
        let answer = match sent.outcome {
            Ok(answer) => answer,
            // Refused, and signing again could not help.
            Err(refusal) => Err(Failure::NotSent(refusal.into())),
        };
        withhold(&sent.authorization, answer)
    }

    /// What signing a POST of `body` signs now: the canonical request and the string to sign
    /// (never the secret key or the signature; the session token redacted). `None` in
    /// billing-token mode, where nothing is signed.
    pub async fn signing_report(
        &self,
        body: &[u8],
    ) -> Result<Option<crate::auth::SigningReport>, AmbError> {
        let to_sign = post_to_sign(body);
        self.inner
            .auth
            .signing_report(&self.inner.endpoint, to_sign)
            .await
    }

    /// A 403 (or, in a provider mode, a 401) is the gateway's refusal (typed, for
    /// [`sign_and_send`] to judge); anything else is the answer.
    fn refused(&self, reply: Reply) -> Result<Result<ResponsePacket, Failure>, AmbError> {
        if reply.status == 401 && !self.inner.auth.is_provider() {
            // AMB and API Gateway refuse SigV4 and billing tokens with 403: a 401 comes from
            // behind them (a Lambda function's own code, an API's backend), which may have run
            // the call.
            return Ok(match self.classify(reply) {
                Err(Failure::BadAnswer(e)) => Err(Failure::Unknown(e)),
                other => other,
            });
        }
        if !matches!(reply.status, 401 | 403) {
            return Ok(self.classify(reply));
        }
        match reply.body {
            Ok(body) => Err(AmbError::from_gateway_refusal(
                reply.status,
                &body,
                self.inner.endpoint.host(),
                self.inner.auth.is_token(),
            )),
            Err(failure) => Ok(Err(failure)),
        }
    }

    /// Sends one signed attempt and reads the answer within the size limit. Learns the
    /// gateway's clock from `Date`. The timeout covers sending and reading the whole answer.
    async fn send_signed(
        &self,
        auth: &Authorization,
        signed: Vec<(&'static str, String)>,
        body: Bytes,
        extra_headers: &http::HeaderMap,
        method: &str,
    ) -> Reply {
        let inner = &self.inner;
        let mut request = reqwest::Request::new(reqwest::Method::POST, Url::clone(&auth.url));
        let headers = request.headers_mut();
        headers.reserve(extra_headers.len() + 8);
        for (name, value) in extra_headers {
            headers.append(name.clone(), value.clone());
        }
        if inner.accept_gzip {
            // AMB's documentation asks for both; `Accept-Encoding: gzip` is the client's own
            // (reqwest's `gzip`), which also decompresses. Not signed.
            headers.insert(
                http::header::ACCEPT,
                http::HeaderValue::from_static("application/gzip"),
            );
        }
        // What is signed goes last, replacing any header of the same name.
        headers.insert(http::header::HOST, inner.host.clone());
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(CONTENT_TYPE_JSON),
        );
        // Static names and owned values: the signer's strings become the header values
        // without being copied (nor locked, nor compared with the last request's).
        for (name, value) in signed {
            let name = header_name(name);
            let mut value = match http::HeaderValue::try_from(value) {
                Ok(value) => value,
                Err(_) => {
                    let err = AmbError::Signing(format!("`{name}` is not a valid header value"));
                    return Reply::failed(Failure::NotSent(err.into()));
                }
            };
            // Everything but the date is a credential (signature, session token, a provider's
            // key): never indexed by HTTP/2 header compression, never in `Debug`.
            value.set_sensitive(name != X_AMZ_DATE);
            headers.insert(name, value);
        }
        *request.body_mut() = Some(body.into());
        // The status and `Retry-After` once the head has arrived: a 5xx or 429 whose body then
        // stalls stays an HTTP error that alloy's retry layer retries.
        let mut head: Option<(u16, Option<Duration>, Option<http::HeaderValue>)> = None;
        let exchange = async {
            let mut resp = match inner.client.execute(request).await {
                Ok(r) => r,
                Err(e) => return Reply::failed(self.network_error(e)),
            };
            let status = resp.status().as_u16();
            let header = |name| resp.headers().get(name).and_then(|v| v.to_str().ok());
            let date = resp.headers().get(http::header::DATE).cloned();
            let retry_after = header(http::header::RETRY_AFTER)
                .and_then(|v| v.trim().parse().ok())
                .map(Duration::from_secs);
            head = Some((status, retry_after, date.clone()));
            if (300..400).contains(&status) {
                let location = resp.headers().get(http::header::LOCATION);
                let failure = Failure::NotSent(self.redirected(status, location));
                return Reply {
                    status,
                    body: Err(failure),
                    retry_after,
                    date,
                };
            }
            let body = match read_body(&mut resp, status, inner.max_response_size).await {
                Ok(Some(bytes)) => Ok(bytes),
                Ok(None) => Err(Failure::BadAnswer(self.too_large(method))),
                Err(e) if status >= 500 || status == 429 => {
                    // `without_url`: the URL may hold a billing token.
                    let reason = format!("<failed to read response body: {}>", e.without_url());
                    Err(http_failure(status, reason, retry_after))
                }
                Err(e) => Err(self.network_error(e)),
            };
            Reply {
                status,
                body,
                retry_after,
                date,
            }
        };
        let answer = tokio::time::timeout(inner.timeout, exchange).await;
        match (answer, head) {
            (Ok(reply), _) => reply,
            (Err(_elapsed), Some((status, retry_after, date)))
                if status >= 500 || status == 429 =>
            {
                let reason = format!(
                    "<timed out after {:?} reading the response body>",
                    inner.timeout
                );
                Reply {
                    status,
                    body: Err(http_failure(status, reason, retry_after)),
                    retry_after,
                    date,
                }
            }
            (Err(_elapsed), _) => Reply::failed(Failure::Unknown(self.timed_out())),
        }
    }

    /// What a non-403 answer means.
    fn classify(&self, reply: Reply) -> Result<ResponsePacket, Failure> {
        let Reply {
            status,
            body,
            retry_after,
            ..
        } = reply;
        let bytes = body?;
        match status {
            200..=299 => match serde_json::from_slice::<ResponsePacket>(&bytes) {
                Ok(packet) => Ok(packet),
                // Quoted from its start only: an answer may be up to `max_response_size`.
                Err(e) if looks_like_json(&bytes) => Err(Failure::BadAnswer(
                    TransportError::deser_err(e, String::from_utf8_lossy(head(&bytes))),
                )),
                Err(_) => Err(Failure::BadAnswer(self.unexpected(status, &bytes))),
            },
            429 | 500..=599 => Err(http_failure(
                status,
                String::from_utf8_lossy(&bytes).into_owned(),
                retry_after,
            )),
            _ => match serde_json::from_slice(&bytes) {
                // A JSON-RPC error answer with a non-2xx status: hand it to alloy as is.
                Ok(packet) => Ok(packet),
                Err(_) if looks_like_json(&bytes) => {
                    Err(Failure::BadAnswer(TransportErrorKind::http_error(
                        status,
                        String::from_utf8_lossy(&bytes).into_owned(),
                    )))
                }
                Err(_) => Err(Failure::BadAnswer(self.unexpected(status, &bytes))),
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

    fn too_large(&self, method: &str) -> TransportError {
        AmbError::ResponseTooLarge {
            host: self.inner.endpoint.host().to_owned(),
            method: method.to_owned(),
            limit: self.inner.max_response_size,
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

    /// A failed exchange: not sent when the connection could not be made, else unknown.
    fn network_error(&self, err: reqwest::Error) -> Failure {
        let host = self.inner.endpoint.host().to_owned();
        // The URL may hold a billing token: never let it into the message.
        let err = err.without_url();
        let proxy = self.inner.proxy.as_deref();
        if let Some(refused) = crate::net::proxy_refusal(&err, proxy, &host) {
            return Failure::NotSent(refused.into());
        }
        let tls = crate::net::tls::tls_cause(&err).cloned();
        if let (Some(cause), true) = (&tls, err.is_connect()) {
            // The handshake failed: nothing was sent.
            return Failure::NotSent(crate::net::tls::tls_error(&host, cause, err.into()).into());
        }
        if err.is_connect() {
            return Failure::NotSent(
                AmbError::Connect {
                    host,
                    reason: crate::credentials::flatten(&err),
                    source: Some(err.into()),
                }
                .into(),
            );
        }
        let reason = if let Some(cause) = tls {
            // A TLS failure on an established connection (a fatal alert, a corrupt record) may
            // come after the request was written: it may have been executed.
            format!("the TLS connection failed after the request may have been sent: {cause}")
        } else if err.is_timeout() {
            // The transport's own timeout is the `tokio::time::timeout` in `send_signed`: this
            // is one set on a client passed to the builder.
            format!(
                "the timeout of the reqwest client passed to the builder elapsed: {}",
                crate::credentials::flatten(&err)
            )
        } else {
            crate::credentials::flatten(&err)
        };
        Failure::Unknown(
            AmbError::Request {
                host,
                reason,
                source: Some(err.into()),
            }
            .into(),
        )
    }
}

/// What is signed of a JSON-RPC POST.
fn post_to_sign(body: &[u8]) -> ToSign<'_> {
    ToSign {
        method: "POST",
        headers: &[("content-type", CONTENT_TYPE_JSON)],
        body,
    }
}

/// A 429 or 5xx answer as alloy's HTTP error: throttled (not executed) or unknown.
fn http_failure(status: u16, body: String, retry_after: Option<Duration>) -> Failure {
    let error = TransportErrorKind::http_error_with_retry_after(status, body, retry_after);
    if status == 429 {
        Failure::Throttled { error, retry_after }
    } else {
        Failure::Unknown(error)
    }
}

/// Reads the body chunk by chunk (decompressed, when gzip is on). A 2xx body over `limit` is
/// `None` as soon as it is known to be: never buffered whole. Other bodies are cut at
/// [`ERROR_BODY_LIMIT`].
async fn read_body(
    resp: &mut reqwest::Response,
    status: u16,
    limit: usize,
) -> Result<Option<Bytes>, reqwest::Error> {
    let success = (200..300).contains(&status);
    let limit = if success {
        limit
    } else {
        limit.min(ERROR_BODY_LIMIT)
    };
    // Exact only when not decompressed.
    let expected = resp.content_length().map(|n| n as usize);
    if success && expected.is_some_and(|n| n > limit) {
        return Ok(None);
    }
    // One chunk (the usual case) is kept as is; more are copied together.
    let mut first: Option<Bytes> = None;
    let mut rest = BytesMut::new();
    while let Some(chunk) = resp.chunk().await? {
        let have = first.as_ref().map_or(0, Bytes::len) + rest.len();
        if have + chunk.len() > limit {
            if success {
                return Ok(None);
            }
            let keep = limit - have;
            append(&mut first, &mut rest, chunk.slice(..keep), expected);
            break;
        }
        append(&mut first, &mut rest, chunk, expected);
    }
    Ok(Some(match first {
        Some(first) if rest.is_empty() => first,
        Some(_) => rest.freeze(),
        None => Bytes::new(),
    }))
}

fn append(first: &mut Option<Bytes>, rest: &mut BytesMut, chunk: Bytes, expected: Option<usize>) {
    match first {
        None => *first = Some(chunk),
        Some(head) => {
            if rest.is_empty() {
                rest.reserve(expected.unwrap_or(0).max(head.len() + chunk.len()));
                rest.extend_from_slice(head);
            }
            rest.extend_from_slice(&chunk);
        }
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

/// The start of a body, as much as error texts quote.
fn head(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len().min(ERROR_BODY_LIMIT)]
}

fn looks_like_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
}
