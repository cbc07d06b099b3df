//! Typed errors that say what went wrong and what to check.
//!
//! Every error the transports produce at run time reaches alloy as
//! [`TransportErrorKind::Custom`] wrapping an
//! [`AmbError`], except HTTP 429 and 5xx answers, which stay alloy's own `HttpError` so that
//! alloy's `RetryBackoffLayer` retries them. Use [`AmbError::from_transport_error`] to get the
//! typed error back:
//!
//! ```
//! use alloy_amb::{AmbError, AuthFailure};
//! # fn handle(err: alloy_transport::TransportError) {
//! match AmbError::from_transport_error(&err) {
//!     Some(AmbError::AuthRejected { kind: AuthFailure::SignatureExpired, .. }) => {
//!         eprintln!("check the clock of this machine");
//!     }
//!     Some(other) => eprintln!("{other}"),
//!     None => eprintln!("{err}"),
//! }
//! # }
//! ```
//!
//! No error message contains a secret: URLs are reduced to their host (AMB billing tokens travel
//! in the query string), credentials are never formatted, and every text that comes from the
//! network or a credential source (answer bodies, gateway messages, a `credential_process`'s
//! stderr) has the secrets in use withheld and its length capped, whatever its shape.

use std::time::Duration;

use alloy_transport::{TransportError, TransportErrorKind};

use crate::redact::{self, Known};

/// Why AMB (or an AWS gateway in front of a node) refused a request with HTTP 403.
///
/// Classified from the `message` field of the gateway's JSON body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthFailure {
    /// `Missing Authentication Token`: the request carried no signature (or was sent to a path
    /// the gateway does not serve).
    MissingAuthentication,
    /// `The request signature we calculated does not match ...`: the signature is wrong.
    InvalidSignature,
    /// `The security token included in the request is invalid.`: the access key id (or session
    /// token) is unknown to AWS.
    UnknownAccessKey,
    /// `The security token included in the request is expired`: temporary credentials expired.
    ExpiredToken,
    /// `Signature expired: ...`: the request time is more than 5 minutes away from AWS's clock.
    SignatureExpired,
    /// A billing token was refused (token-based access).
    InvalidBillingToken,
    /// `Credential should be scoped to a valid region`: the request was signed for a region
    /// other than the endpoint's.
    WrongRegion,
    /// `Credential should be scoped to correct service`: the request was signed for another
    /// SigV4 service name than the endpoint's.
    WrongService,
    /// Any other 403 answer; the gateway's message is quoted.
    Other,
    /// A third-party RPC provider refused the request's credentials (HTTP 401, or 403): the
    /// bearer token, basic auth, `.header(..)` value or the key in the URL. After a 401, a
    /// refreshed bearer token
    /// ([`bearer_token_provider`](crate::AmbHttpBuilder::bearer_token_provider)) was fetched
    /// once more and sent again before this is reported.
    ProviderRefused,
}

impl AuthFailure {
    /// Classify the `message` of an AWS gateway 403 answer.
    pub(crate) fn classify(message: &str) -> Self {
        let m = message.to_ascii_lowercase();
        if m.contains("scoped to a valid region")
            || (m.contains("region") && m.contains("is wrong; expecting"))
        {
            Self::WrongRegion
        } else if m.contains("scoped to correct service") {
            Self::WrongService
        } else if m.contains("missing authentication token") {
            Self::MissingAuthentication
        } else if m.contains("signature we calculated does not match")
            || m.contains("signaturedoesnotmatch")
        {
            Self::InvalidSignature
        } else if m.contains("security token included in the request is expired")
            || m.contains("expiredtoken")
        {
            Self::ExpiredToken
        } else if m.contains("security token included in the request is invalid")
            || m.contains("unrecognizedclient")
        {
            Self::UnknownAccessKey
        } else if m.contains("signature expired") || m.contains("signature not yet current") {
            Self::SignatureExpired
        } else if m.contains("billing") && m.contains("token") {
            Self::InvalidBillingToken
        } else {
            Self::Other
        }
    }

    /// What to check for this kind of failure.
    pub fn hint(self) -> &'static str {
        match self {
            Self::MissingAuthentication => {
                "the request was not signed: check that SigV4 auth is enabled (not billing-token \
                 mode without a token) and that the endpoint URL and path are right"
            }
            Self::InvalidSignature => {
                "check the AWS secret access key, the signing region and the service name \
                 (`managedblockchain` for AMB, `execute-api` for API Gateway), and that no proxy \
                 rewrites the host, path or body"
            }
            Self::UnknownAccessKey => {
                "AWS does not know this access key id or session token: check which credentials \
                 were loaded (AWS_PROFILE, AWS_ACCESS_KEY_ID) and that the key is active"
            }
            Self::ExpiredToken => {
                "the temporary credentials (session token) have expired: refresh them (aws sso \
                 login, re-assume the role) or use a credential source that refreshes"
            }
            Self::SignatureExpired => {
                "the request time differs from AWS's clock by more than 5 minutes: synchronise \
                 this machine's clock (NTP/chrony)"
            }
            Self::InvalidBillingToken => {
                "check the AMB accessor (billing) token: it may be wrong, deleted or for another \
                 network"
            }
            Self::WrongRegion => {
                "the request was signed for another region than the endpoint's: sign for the \
                 endpoint's region (the region in an AMB node's host name) with `.region(..)`, \
                 or fix AWS_REGION or the profile's region"
            }
            Self::WrongService => {
                "the request was signed for another service than the endpoint's: set the SigV4 \
                 service name with `.service(..)`: `managedblockchain` for AMB (the default), \
                 `execute-api` for API Gateway, `lambda` for Lambda function URLs, \
                 `vpc-lattice-svcs` for VPC Lattice"
            }
            Self::Other => {
                "check the IAM policy of these credentials (managedblockchain:POST/GET/Invoke) \
                 and the endpoint"
            }
            Self::ProviderRefused => {
                "the provider refused the credentials: check the API key or token given with \
                 `.bearer_token(..)`, `.bearer_token_provider(..)`, `.basic_auth(..)` (or \
                 user:password in the URL), `.header(..)` or in the URL, that it is meant for \
                 this endpoint and has not expired or been revoked (after a 401 a refreshed \
                 bearer token was already fetched once more)"
            }
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::MissingAuthentication => "missing authentication",
            Self::InvalidSignature => "invalid signature",
            Self::UnknownAccessKey => "unknown access key or invalid security token",
            Self::ExpiredToken => "expired security token",
            Self::SignatureExpired => "signature expired (clock skew)",
            Self::InvalidBillingToken => "invalid billing token",
            Self::WrongRegion => "credentials scoped to the wrong region",
            Self::WrongService => "credentials scoped to the wrong service",
            Self::Other => "access denied",
            Self::ProviderRefused => "the provider refused the credentials",
        }
    }
}

impl std::fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// Why a builder refused its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `.region(..)` is not a region name.
    #[error(
        "invalid region {region:?} given with `.region(..)`: a region is lowercase letters, \
         digits and dashes, such as `us-east-1` (an AMB node's region is in its host name)"
    )]
    InvalidRegion {
        /// The region given.
        region: String,
    },
    /// `.service(..)` is not a SigV4 service name.
    #[error("invalid SigV4 service name {service:?}")]
    InvalidService {
        /// The service name given.
        service: String,
    },
    /// An [`EndpointConfig`](crate::EndpointConfig) that cannot be used: the message names the
    /// field or environment variable.
    #[error(transparent)]
    Endpoint(crate::config::ConfigValueError),
    /// A billing token in the URL and another on the builder.
    #[error(
        "a billing token was given twice, in the URL (`?billingtoken=`) and with \
         `.billing_token(..)`, and they differ: give it once"
    )]
    BillingTokenTwice,
    /// Both a billing token and SigV4 credentials.
    #[error("both a billing token and SigV4 credentials were given; choose one")]
    TokenAndCredentials,
    /// The billing token cannot be sent (its value is never shown).
    #[error(
        "the billing token (`.billing_token(..)` or `?billingtoken=`) {problem}: pass the \
         accessor token's id as the AMB console shows it"
    )]
    InvalidBillingToken {
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A duration or size that must be more than zero is zero.
    #[error("{setting} must be more than zero")]
    Zero {
        /// The builder setting.
        setting: &'static str,
    },
    /// The endpoint's host cannot go into a `Host` header.
    #[error("invalid host: it cannot go into a `Host` header")]
    InvalidHost(#[source] http::header::InvalidHeaderValue),
    /// The HTTP client (or the WebSocket's TLS) could not be set up.
    #[error("could not set up {what}")]
    Client {
        /// The HTTP client or TLS.
        what: &'static str,
        /// Why (the underlying reqwest or rustls error).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A `.header(name, value)` cannot be sent: its name is not a header name, is one the
    /// transport sets itself, or its value holds a line break (the value is never shown).
    #[error("the header `{name}` given with `.header(..)` {problem}")]
    InvalidHeader {
        /// The header name (lowercased when valid).
        name: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A bearer token, basic user name or password cannot be sent (its value is never shown).
    #[error("{what} {problem}: it cannot be sent in a request header")]
    InvalidSecret {
        /// Which setting.
        what: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Two auth settings that exclude each other.
    #[error("both {first} and {second} were given: choose one")]
    AuthConflict {
        /// The first setting.
        first: &'static str,
        /// The second setting.
        second: &'static str,
    },
    /// `AmbWsConnect` for a target that has no WebSocket (VPC Lattice, a Lambda function URL).
    #[error(
        "{target} does not support WebSockets; use AmbHttp (HTTP) for this endpoint, or point \
         the WebSocket at the node's own endpoint"
    )]
    NoWebSocket {
        /// The target's name, e.g. "VPC Lattice".
        target: &'static str,
    },
    /// A host that is neither AWS's nor loopback, and nothing said how to authenticate to it.
    #[error(
        "no authentication configured for {host}, which is not an AWS endpoint the crate \
         recognises: for SigV4 behind a custom domain set `.service(\"execute-api\")` (or \
         `.target(..)`) and `.region(..)`; for a provider use `.bearer_token(..)`, \
         `.header(..)` or `.basic_auth(..)`; or `.no_auth()` when the key is in the URL or the \
         node is open"
    )]
    NoAuthForHost {
        /// The host name.
        host: String,
    },
    /// `.unsigned_payload(true)` for a target that refuses unsigned payloads.
    #[error(
        "{target} refuses unsigned payloads (`.unsigned_payload(true)`): its requests must sign \
         the body's SHA-256; remove `.unsigned_payload(true)`"
    )]
    UnsignedPayloadRefused {
        /// The target's name, e.g. "Lambda function URL".
        target: &'static str,
    },
    /// `.region_set(..)` is not a SigV4A region set.
    #[error(
        "invalid SigV4A region set {region_set:?} given with `.region_set(..)`: `*`, or \
         regions separated by commas, such as `us-east-1,us-west-2`"
    )]
    InvalidRegionSet {
        /// The region set given.
        region_set: String,
    },
    /// A billing token together with a SigV4 setting (`.sigv4a`, `.unsigned_payload`,
    /// `.region_set`): token mode signs nothing.
    #[error(
        "a billing token was given, which signs nothing, together with `{setting}`; choose one"
    )]
    TokenAndSigV4 {
        /// The SigV4 setting, e.g. `.sigv4a(..)`.
        setting: &'static str,
    },
    /// The proxy URL (`.proxy(..)` or the environment's `HTTPS_PROXY`/`ALL_PROXY`) cannot be
    /// used. Its credentials are never shown.
    #[error("cannot use {proxy} as a proxy: {reason}")]
    InvalidProxy {
        /// The proxy, as `scheme://host:port` (no userinfo).
        proxy: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two settings that cannot go together, e.g. a client of your own (`.client(..)`) and a
    /// network setting (`.proxy(..)`, `.no_proxy()`, `.tls_config(..)`) that only applies to
    /// the client the builder makes.
    #[error("{first} and {second} cannot be used together: {hint}")]
    Conflict {
        /// The first setting.
        first: &'static str,
        /// The second setting.
        second: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// The proxy chosen by an environment variable cannot carry this transport (the WebSocket
    /// speaks only HTTP `CONNECT`, to an `http://` or `https://` proxy; not socks). Reported when connecting, not at
    /// `build()`, so a variable meant for other programs does not stop a transport that would
    /// not use it.
    #[error(
        "cannot connect through {proxy} (from {variable}): {reason}; add the host to NO_PROXY, \
         call `.no_proxy()`, or set `.proxy(\"http://…\")`"
    )]
    UnusableEnvProxy {
        /// The proxy, as `scheme://host:port` (no userinfo).
        proxy: String,
        /// The environment variables it may come from.
        variable: &'static str,
        /// Why it cannot be used.
        reason: &'static str,
    },
    /// `.region_set(..)` together with `.sigv4a(false)`: a region set is used by SigV4A only.
    #[error(
        "`.region_set(..)` was given with `.sigv4a(false)`: a region set scopes SigV4A \
         signatures only; remove one of them"
    )]
    RegionSetWithoutSigV4a,
    /// `.sigv4a(true)` (or `.region_set(..)`) for a target that takes SigV4 only.
    #[error(
        "{target} verifies SigV4 only and refuses SigV4A (`.sigv4a(true)` or `.region_set(..)`); \
         remove them to sign with SigV4"
    )]
    SigV4aRefused {
        /// The target's name, e.g. "AMB".
        target: &'static str,
    },
    /// SigV4A asked for (`.sigv4a(true)`, `.region_set(..)`) in a build without the `sigv4a`
    /// Cargo feature.
    #[error(
        "SigV4A (`.sigv4a(true)` or `.region_set(..)`) needs alloy-amb's `sigv4a` Cargo feature          (on by default): enable it, or sign with SigV4"
    )]
    NoSigV4aFeature,
    /// `.tls_config(..)` for a cleartext (`http://` or `ws://`, loopback) endpoint, where it
    /// would be ignored.
    #[error(
        "`.tls_config(..)` was given for the cleartext endpoint {url}, where no TLS is used:          use an `https://`/`wss://` URL, or remove `.tls_config(..)`"
    )]
    TlsConfigWithoutTls {
        /// The endpoint, as shown (no secrets).
        url: String,
    },
}

/// Any text as a configuration reason, for tests of code that only needs some error.
#[cfg(test)]
impl From<&str> for ConfigError {
    fn from(text: &str) -> Self {
        Self::InvalidService {
            service: text.to_owned(),
        }
    }
}

impl From<ConfigError> for AmbError {
    fn from(err: ConfigError) -> Self {
        Self::Config(err)
    }
}

/// Everything that can go wrong in `alloy-amb`, with a message that says what to check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AmbError {
    /// The endpoint URL could not be parsed.
    #[error("invalid endpoint URL: {reason}")]
    #[non_exhaustive]
    InvalidUrl {
        /// What is wrong with it.
        reason: String,
    },

    /// The URL scheme does not fit the transport.
    #[error("unsupported URL scheme `{scheme}`: this transport takes {expected}")]
    #[non_exhaustive]
    UnsupportedScheme {
        /// The scheme found.
        scheme: String,
        /// The schemes this transport takes.
        expected: &'static str,
    },

    /// A cleartext (`http://`, `ws://`) endpoint that is not on loopback.
    #[error(
        "refusing cleartext endpoint `{host}`: requests carry credentials (signatures, session \
         tokens or billing tokens), so only https:// and wss:// are allowed except on loopback \
         (localhost, 127.0.0.0/8, ::1)"
    )]
    #[non_exhaustive]
    InsecureEndpoint {
        /// The endpoint's host.
        host: String,
    },

    /// No signing region could be found.
    #[error(
        "no AWS region for signing requests to `{host}`: looked in {looked}; set one with \
         `.region(..)` on the builder, or AWS_REGION, or `region` in the AWS profile"
    )]
    #[non_exhaustive]
    NoRegion {
        /// The endpoint's host.
        host: String,
        /// Where the region was looked for, in order.
        looked: String,
    },

    /// Invalid configuration on a builder: [`ConfigError`] says which.
    #[error("invalid configuration: {0}")]
    Config(#[source] ConfigError),

    /// Credentials could not be loaded.
    #[error(
        "could not load AWS credentials: {message}; check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, \
         AWS_PROFILE and ~/.aws/config, or the instance/task role"
    )]
    #[non_exhaustive]
    Credentials {
        /// The credential source's error, flattened to text.
        message: String,
    },

    /// The credential source failed recently and is not asked again before its backoff ends
    /// (see [`RefreshPolicy`](crate::credentials::RefreshPolicy)): the request fails at once
    /// with the source's last error.
    #[error(
        "could not load AWS credentials: {message}; after {failures} failed attempt(s) in a row \
         the source is asked again in {retry_in:?} (requests fail at once until then); check \
         AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws/config, or the \
         instance/task role"
    )]
    #[non_exhaustive]
    CredentialsBackoff {
        /// The credential source's last error, flattened to text.
        message: String,
        /// Failed attempts in a row.
        failures: u32,
        /// When the source is asked again.
        retry_in: Duration,
    },

    /// aws-sigv4 refused to sign the request.
    #[error("could not sign the request: {0}")]
    Signing(String),

    /// The gateway (or a provider) refused the request with 403 (or 401).
    #[error("request to `{host}` refused with HTTP {status}: {kind}: \"{message}\"; {hint}", hint = kind.hint())]
    #[non_exhaustive]
    AuthRejected {
        /// The classification of the gateway's message.
        kind: AuthFailure,
        /// The HTTP status (403, or 401).
        status: u16,
        /// The gateway's own message, quoted.
        message: String,
        /// The endpoint's host.
        host: String,
    },

    /// The endpoint answered with something that is not JSON.
    #[error(
        "unexpected HTTP {status} answer from `{host}` that is not JSON; it begins with: {snippet:?}"
    )]
    #[non_exhaustive]
    UnexpectedResponse {
        /// The HTTP status.
        status: u16,
        /// The first bytes of the body, lossily decoded.
        snippet: String,
        /// The endpoint's host.
        host: String,
    },

    /// The endpoint answered with a redirect. alloy-amb never follows one: a SigV4 signature
    /// is valid for one host only, and following would send the session token (and the
    /// request) to wherever `Location` points.
    #[error(
        "`{host}` answered HTTP {status}, a redirect to {location:?}, which alloy-amb does not follow; use the final endpoint URL in the configuration"
    )]
    #[non_exhaustive]
    Redirected {
        /// The HTTP status (3xx).
        status: u16,
        /// Where `Location` points: scheme, host, port and path, without any query (which
        /// may hold a token); empty when the answer had none.
        location: String,
        /// The endpoint's host.
        host: String,
    },

    /// The request did not complete in time.
    #[error("request to `{host}` timed out after {after:?}; check the network path to the endpoint or raise the timeout")]
    #[non_exhaustive]
    Timeout {
        /// The endpoint's host.
        host: String,
        /// The timeout in force.
        after: Duration,
    },

    /// The endpoint could not be reached.
    #[error("could not connect to `{host}`: {reason}; check the endpoint URL, DNS and network access (VPC endpoints, security groups, proxies)")]
    #[non_exhaustive]
    Connect {
        /// The endpoint's host.
        host: String,
        /// What the network stack said (URL removed), with its causes, secrets withheld.
        reason: String,
        /// The underlying error (reqwest's, without the URL, or the socket's), when there is
        /// one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// The HTTP proxy refused to open a tunnel (`CONNECT`) to the endpoint.
    #[error(
        "the proxy `{proxy}` refused to open a tunnel to `{host}` with HTTP {status}; {hint}",
        hint = proxy_hint(*status)
    )]
    #[non_exhaustive]
    ProxyRefused {
        /// The proxy, as `http://host:port` (its credentials are never shown).
        proxy: String,
        /// The proxy's HTTP status (407: credentials needed or wrong; 403: the proxy's
        /// policy forbids the destination; 502/503/504: the proxy could not reach it).
        status: u16,
        /// The endpoint's host.
        host: String,
    },

    /// The TLS handshake with the endpoint failed: most often its certificate is not trusted.
    #[error(
        "TLS with `{host}` failed: {reason}; if the endpoint's certificate comes from a private \
         CA, add the CA with SSL_CERT_FILE or SSL_CERT_DIR, or give a rustls ClientConfig that \
         trusts it with `.tls_config(..)`"
    )]
    #[non_exhaustive]
    Tls {
        /// The endpoint's host.
        host: String,
        /// What rustls said.
        reason: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// Any other failure while sending the request or reading the answer.
    #[error("request to `{host}` failed: {reason}")]
    #[non_exhaustive]
    Request {
        /// The endpoint's host.
        host: String,
        /// What went wrong (URL removed), with its causes, secrets withheld.
        reason: String,
        /// The underlying error (reqwest's, without the URL, or the socket's), when there is
        /// one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// The WebSocket upgrade was answered with an HTTP status other than 101 (switching
    /// protocols) and other than 401 and 403 (a refusal: [`AmbError::AuthRejected`]).
    #[error(
        "WebSocket upgrade to `{host}` refused with HTTP {status}: {snippet:?}; check the \
         endpoint URL (an AMB node's WebSocket endpoint is \
         wss://nd-<id>.wss.ethereum.managedblockchain.<region>.amazonaws.com/); on 429 or 5xx \
         the subscription is reopened with backoff"
    )]
    #[non_exhaustive]
    WsUpgradeRejected {
        /// The HTTP status of the answer.
        status: u16,
        /// The first bytes of the answer's body, lossily decoded.
        snippet: String,
        /// The endpoint's host.
        host: String,
    },

    /// The server closed the WebSocket with close code 1003 (unsupported data). The AMB gateway
    /// does this when it receives a binary frame.
    #[error(
        "`{host}` closed the WebSocket with code 1003 (unsupported data{reason}): the AMB \
         gateway accepts text frames only and closes the connection on a binary frame; \
         alloy-amb sends every request as a text frame, so look for a proxy or middleware that \
         re-frames messages as binary; the subscription is reopened"
    )]
    #[non_exhaustive]
    WsUnsupportedData {
        /// The endpoint's host.
        host: String,
        /// The close reason the server gave, as `: <reason>`, or empty.
        reason: String,
    },

    /// The WebSocket closed or broke for another reason (the gateway dropped it, the network
    /// failed, the server sent a close frame). The subscription is reopened.
    #[error("the WebSocket to `{host}` closed: {detail}; the subscription is reopened")]
    #[non_exhaustive]
    WsClosed {
        /// The endpoint's host.
        host: String,
        /// The close code, when the server sent a close frame.
        code: Option<u16>,
        /// What happened.
        detail: String,
    },

    /// A keepalive ping got no pong before the next ping was due: the connection is considered
    /// dead and is reopened.
    #[error(
        "`{host}` did not answer a WebSocket ping within {after:?}: the connection is \
         considered dead and is reopened; raise `keepalive_interval` on a slow network"
    )]
    #[non_exhaustive]
    WsKeepaliveTimeout {
        /// The endpoint's host.
        host: String,
        /// The keepalive interval in force.
        after: Duration,
    },

    /// A request is larger than the WebSocket message quota (AMB: 512 KB); it was not sent.
    #[error(
        "request `{method}` of {size} bytes exceeds the {limit}-byte WebSocket message quota \
         (AMB allows 512 KB per WebSocket message) and was not sent: make this call over HTTP \
         with `AmbHttp`, which has no such limit on requests"
    )]
    #[non_exhaustive]
    WsRequestTooLarge {
        /// The JSON-RPC method of the request.
        method: String,
        /// The size of the request in bytes.
        size: usize,
        /// The quota in force (`max_message_size`).
        limit: usize,
    },

    /// The gateway refused to send an answer over the WebSocket because it is larger than its
    /// message quota (AMB: "message response is too large", 512 KB).
    #[error(
        "`{host}` could not return the answer to `{method}` over the WebSocket: \"{message}\" \
         (AMB's 512 KB WebSocket message quota): make this call over HTTP with `AmbHttp` \
         (answers up to about 5.9 MB), or ask for less (e.g. a smaller eth_getLogs block range)"
    )]
    #[non_exhaustive]
    WsResponseTooLarge {
        /// The endpoint's host.
        host: String,
        /// The JSON-RPC method whose answer was too large.
        method: String,
        /// The gateway's own message, quoted.
        message: String,
    },
    /// An HTTP answer (after decompression) was larger than the transport's limit
    /// ([`AmbHttpBuilder::max_response_size`](crate::AmbHttpBuilder::max_response_size)). It was
    /// read only up to the limit, then dropped.
    #[error("the answer to `{method}` from {host} is larger than the {limit} byte limit; ask for less (e.g. a narrower eth_getLogs block range) or raise it with .max_response_size(..)")]
    #[non_exhaustive]
    ResponseTooLarge {
        /// The endpoint's host.
        host: String,
        /// The JSON-RPC method whose answer was too large (`batch` for an unsplit batch).
        method: String,
        /// The limit, in bytes.
        limit: usize,
    },

    /// The [`bearer_token_provider`](crate::AmbHttpBuilder::bearer_token_provider) closure
    /// failed, did not answer in time, or returned a token that cannot be sent; nothing was sent.
    /// Its error text is quoted with secrets withheld; the token is never shown.
    #[error(
        "the bearer token provider (the `.bearer_token_provider(..)` closure) failed: {message}"
    )]
    #[non_exhaustive]
    TokenProvider {
        /// What went wrong, secrets withheld.
        message: String,
    },
}

impl AmbError {
    /// Finds an [`AmbError`] inside an alloy [`TransportError`], if there is one.
    pub fn from_transport_error(err: &TransportError) -> Option<&AmbError> {
        match err {
            TransportError::Transport(
                TransportErrorKind::Custom(inner) | TransportErrorKind::NonRetryable(inner),
            ) => inner.downcast_ref::<AmbError>(),
            _ => None,
        }
    }

    /// Builds [`AmbError::AuthRejected`] from a gateway refusal (HTTP 403 answer or refused
    /// WebSocket upgrade): classifies AWS's JSON `{"message": ...}` (or quotes the body).
    /// In billing-token mode an unclassified refusal is a bad token.
    pub(crate) fn from_gateway_refusal(
        status: u16,
        body: &[u8],
        host: &str,
        token_mode: bool,
    ) -> Self {
        Self::gateway_refusal(status, body, host, token_mode, &Known::default())
    }

    /// [`from_gateway_refusal`](Self::from_gateway_refusal), with the secrets in use (`known`)
    /// withheld from the quoted message by value too.
    pub(crate) fn gateway_refusal(
        status: u16,
        body: &[u8],
        host: &str,
        token_mode: bool,
        known: &Known,
    ) -> Self {
        let (kind, message) = gateway_message(body, known);
        let kind = match kind {
            AuthFailure::Other | AuthFailure::MissingAuthentication if token_mode => {
                AuthFailure::InvalidBillingToken
            }
            kind => kind,
        };
        Self::AuthRejected {
            kind,
            status,
            message,
            host: host.to_owned(),
        }
    }

    /// Builds [`AmbError::Credentials`] from a credential source's error text (which may
    /// quote a `credential_process`'s stderr): secrets withheld, length capped.
    pub(crate) fn credentials(message: impl AsRef<str>) -> Self {
        Self::Credentials {
            message: redact::withhold_unknown(message.as_ref()),
        }
    }

    /// This error with every text that came from the network or a credential source passed
    /// through [`crate::redact`] again, withholding the secrets in use (`known`) by value.
    pub(crate) fn withhold(self, known: &Known) -> Self {
        let w = |text: String| redact::withhold(&text, known);
        match self {
            Self::AuthRejected {
                kind,
                status,
                message,
                host,
            } => Self::AuthRejected {
                kind,
                status,
                message: w(message),
                host,
            },
            Self::UnexpectedResponse {
                status,
                snippet,
                host,
            } => Self::UnexpectedResponse {
                status,
                snippet: w(snippet),
                host,
            },
            Self::WsUpgradeRejected {
                status,
                snippet,
                host,
            } => Self::WsUpgradeRejected {
                status,
                snippet: w(snippet),
                host,
            },
            Self::Credentials { message } => Self::Credentials {
                message: w(message),
            },
            Self::Connect {
                host,
                reason,
                source,
            } => Self::Connect {
                host,
                reason: w(reason),
                source,
            },
            Self::Request {
                host,
                reason,
                source,
            } => Self::Request {
                host,
                reason: w(reason),
                source,
            },
            Self::Signing(reason) => Self::Signing(w(reason)),
            Self::TokenProvider { message } => Self::TokenProvider {
                message: w(message),
            },
            Self::Redirected {
                status,
                location,
                host,
            } => Self::Redirected {
                status,
                location: w(location),
                host,
            },
            Self::WsClosed { host, code, detail } => Self::WsClosed {
                host,
                code,
                detail: w(detail),
            },
            Self::WsUnsupportedData { host, reason } => Self::WsUnsupportedData {
                host,
                reason: w(reason),
            },
            Self::WsResponseTooLarge {
                host,
                method,
                message,
            } => Self::WsResponseTooLarge {
                host,
                method,
                message: w(message),
            },
            other => other,
        }
    }

    /// The 403 classification, when this is an [`AmbError::AuthRejected`].
    pub fn auth_failure(&self) -> Option<AuthFailure> {
        match self {
            Self::AuthRejected { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// What to check after a proxy's refusal, by status.
fn proxy_hint(status: u16) -> &'static str {
    match status {
        407 => {
            "the proxy wants credentials, or refused the ones given: put them in the proxy URL \
                (`http://user:password@proxy:port`, in `.proxy(..)` or HTTPS_PROXY)"
        }
        403 => {
            "the proxy's policy forbids this destination (an allow-list of hosts or ports); \
                ask for the endpoint's host to be allowed, or set NO_PROXY for it"
        }
        502..=504 => {
            "the proxy could not reach the endpoint: check the endpoint URL and the \
                      proxy's own network access"
        }
        _ => "check the proxy URL (`.proxy(..)` or HTTPS_PROXY / ALL_PROXY) and NO_PROXY",
    }
}

/// How much of an unexpected body is quoted in errors.
pub(crate) const SNIPPET_LEN: usize = 200;

/// The `message` (or `Message`) of an AWS gateway error body, or the body itself, with
/// secrets withheld and its length capped (see [`crate::redact`]).
fn gateway_message(bytes: &[u8], known: &Known) -> (AuthFailure, String) {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(alias = "Message")]
        message: String,
    }
    // Classified on the gateway's own words, quoted with the secrets withheld.
    let (raw, cut) = match serde_json::from_slice::<Body>(bytes) {
        Ok(b) => (b.message, false),
        Err(_) => {
            let end = bytes.len().min(QUOTED_BODY);
            (
                String::from_utf8_lossy(&bytes[..end]).into_owned(),
                end < bytes.len(),
            )
        }
    };
    let mut shown = redact::withhold(raw.trim(), known);
    if cut && !shown.ends_with('…') {
        shown.push('…');
    }
    (AuthFailure::classify(&raw), shown)
}

/// How much of a refusal's body that is not AWS's JSON is classified and quoted (before the
/// quote is capped).
const QUOTED_BODY: usize = 16 * 1024;

impl From<AmbError> for TransportError {
    fn from(err: AmbError) -> Self {
        TransportErrorKind::custom(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_canonical_requests_keep_everything_but_tokens() {
        let aws =
            "The request signature we calculated does not match the signature you provided.\n\n\
            The Canonical String for this request should have been\n\
            'POST\n/\nX-Amz-Security-Token=QTOKEN%2B1&a=b\ncontent-type:application/json\n\
            host:h.example\nx-amz-date:20261124T000000Z\nX-Amz-Security-Token: HTOKEN/2+=\n\n\
            content-type;host;x-amz-date;x-amz-security-token\nabc123'\n\n\
            The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20261124T000000Z'\n\
            url https://h.example/?billingtoken=BTOKEN";
        let body = serde_json::json!({ "message": aws }).to_string();
        let shown = gateway_message(body.as_bytes(), &Known::default()).1;
        for secret in ["QTOKEN", "HTOKEN", "BTOKEN"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("\nX-Amz-Security-Token: <withheld>\n"),
            "{shown}"
        );
        assert!(
            shown.contains("X-Amz-Security-Token=<withheld>&a=b"),
            "{shown}"
        );
        assert!(shown.contains("?billingtoken=<withheld>"), "{shown}");
        // Everything else is quoted as it came.
        assert_eq!(
            shown.replace("<withheld>", ""),
            aws.replace("QTOKEN%2B1", "")
                .replace("HTOKEN/2+=", "")
                .replace("BTOKEN", "")
        );
        // A token as the first line of the quote, and a body that is not JSON.
        assert_eq!(
            gateway_message(b"'x-amz-security-token:T'\nnext", &Known::default()).1,
            "'x-amz-security-token:<withheld>'\nnext"
        );
        assert_eq!(
            gateway_message("é x-amz-security-token=é&".as_bytes(), &Known::default()).1,
            "é x-amz-security-token=<withheld>&"
        );
    }

    #[test]
    fn classifies_amb_messages() {
        let cases = [
            (
                "Missing Authentication Token",
                AuthFailure::MissingAuthentication,
            ),
            (
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. Consult the service \
                 documentation for details.",
                AuthFailure::InvalidSignature,
            ),
            (
                "The security token included in the request is invalid.",
                AuthFailure::UnknownAccessKey,
            ),
            (
                "The security token included in the request is expired",
                AuthFailure::ExpiredToken,
            ),
            (
                "Signature expired: 20240101T000000Z is now earlier than 20240101T001000Z \
                 (20240101T001500Z - 5 min.)",
                AuthFailure::SignatureExpired,
            ),
            (
                "Credential should be scoped to a valid region, not 'eu-west-1'. ",
                AuthFailure::WrongRegion,
            ),
            (
                "Credential should be scoped to correct service: 'execute-api'. ",
                AuthFailure::WrongService,
            ),
            ("User is not authorized to perform: x", AuthFailure::Other),
        ];
        for (message, kind) in cases {
            assert_eq!(AuthFailure::classify(message), kind, "{message}");
        }
    }

    #[test]
    fn every_text_from_the_network_is_withheld() {
        let mut known = Known::default();
        known.add("KnownSessionToken0001");
        let texts = |e: &AmbError| format!("{e} {e:?}");
        let errors = [
            AmbError::Redirected {
                status: 302,
                location: "https://elsewhere.example/KnownSessionToken0001/x".into(),
                host: "h".into(),
            },
            AmbError::UnexpectedResponse {
                status: 200,
                snippet: "<p>KnownSessionToken0001</p>".into(),
                host: "h".into(),
            },
            AmbError::Request {
                host: "h".into(),
                reason: "echo KnownSessionToken0001".into(),
                source: None,
            },
            AmbError::Credentials {
                message: "stderr: KnownSessionToken0001".into(),
            },
        ];
        for err in errors {
            assert!(texts(&err).contains("KnownSessionToken0001"));
            let shown = texts(&err.withhold(&known));
            assert!(!shown.contains("KnownSessionToken0001"), "{shown}");
            assert!(shown.contains("<withheld>"), "{shown}");
        }
    }

    #[test]
    fn round_trips_through_transport_error() {
        let err: TransportError = AmbError::Config("x".into()).into();
        assert!(matches!(
            AmbError::from_transport_error(&err),
            Some(AmbError::Config(_))
        ));
    }
}
