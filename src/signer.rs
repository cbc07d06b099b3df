//! The one signing path shared by the HTTP and WebSocket transports.
//!
//! The auth mode is resolved from a builder's configuration: SigV4 (service name configurable, region
//! from the endpoint, the builder or the AWS region chain, credentials from [`AmbCredentials`]) or
//! AMB token-based access (a `billingtoken` on the URL, nothing signed). Signing produces what
//! `aws-sigv4`'s `sign()` produces, over exactly the bytes that go on the wire: through
//! [`crate::sign_fast`] (the derived key cached per transport, proven byte-identical to `sign()`),
//! else `sign()` itself.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_smithy_types::date_time::Format;
use tokio::sync::OnceCell;
use url::Url;

use crate::credentials::{AmbCredentials, ClockSkew};
use crate::endpoint::Endpoint;
use crate::error::{AmbError, AuthFailure};
use crate::redact::Known;
use crate::secret::Secret;
use crate::sign_fast::{self, SigningKeyCache};

/// The SigV4 service name of Amazon Managed Blockchain.
pub const AMB_SERVICE: &str = "managedblockchain";

/// Where the signing region came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegionSource {
    /// Set on the builder.
    Builder,
    /// Read from the AMB host name.
    EndpointHost,
    /// `AWS_REGION` or `AWS_DEFAULT_REGION`.
    Environment,
    /// aws-config's default region chain (profile, IMDS).
    DefaultChain,
}

/// The signing region: known at construction, or looked up in the AWS profile on first use.
#[derive(Clone)]
pub(crate) enum Region {
    Known(String, RegionSource),
    Lazy(Arc<OnceCell<Option<String>>>),
}

impl Region {
    /// Resolves the region from, in order: the builder, the AMB host name, the environment.
    /// If none has one, the profile (and the rest of aws-config's region chain) is read on first
    /// use.
    pub(crate) fn resolve(builder: Option<String>, endpoint: &Endpoint) -> Self {
        if let Some(r) = builder {
            return Self::Known(r, RegionSource::Builder);
        }
        if let Some(amb) = endpoint.amb_host() {
            return Self::Known(amb.region.clone(), RegionSource::EndpointHost);
        }
        for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            if let Ok(r) = std::env::var(var) {
                if !r.trim().is_empty() {
                    return Self::Known(r.trim().to_owned(), RegionSource::Environment);
                }
            }
        }
        Self::Lazy(Arc::new(OnceCell::new()))
    }

    /// The region as known now, without looking anything up.
    pub(crate) fn known(&self) -> Option<(&str, &RegionSource)> {
        match self {
            Self::Known(r, s) => Some((r, s)),
            Self::Lazy(cell) => cell
                .get()
                .and_then(|r| r.as_deref())
                .map(|r| (r, &RegionSource::DefaultChain)),
        }
    }

    async fn get(&self, endpoint: &Endpoint) -> Result<&str, AmbError> {
        match self {
            Self::Known(r, _) => Ok(r),
            Self::Lazy(cell) => cell
                .get_or_init(|| async {
                    use aws_config::meta::region::ProvideRegion;
                    aws_config::default_provider::region::default_provider()
                        .region()
                        .await
                        .map(|r| r.to_string())
                })
                .await
                .as_deref()
                .ok_or_else(|| AmbError::NoRegion {
                    host: endpoint.host().to_owned(),
                    looked: "the builder (`.region(..)`), the endpoint host name (not an AMB \
                             host), AWS_REGION, AWS_DEFAULT_REGION, the AWS profile \
                             (AWS_PROFILE, ~/.aws/config) and instance metadata"
                        .into(),
                }),
        }
    }
}

/// How requests are authorised.
#[derive(Clone)]
pub(crate) enum Auth {
    SigV4(Arc<SigV4>),
    BillingToken(Secret, Arc<std::sync::OnceLock<Url>>),
}

/// SigV4 settings and state shared by every clone of a transport.
pub(crate) struct SigV4 {
    pub(crate) service: Arc<str>,
    pub(crate) region: Region,
    pub(crate) credentials: AmbCredentials,
    /// The gateway's clock minus ours, learned from `Date` headers; shared with the
    /// credentials, which judge expiry on the same corrected clock.
    skew: Arc<ClockSkew>,
    /// A hash (FNV-1a) of the last `Date` header the skew was learned from.
    last_date: AtomicU64,
    /// The derived signing key (changes once a day, or with the credentials).
    keys: SigningKeyCache,
}

/// What to add to a request so that the gateway accepts it.
pub(crate) struct Authorization {
    /// The URL to send to (with `billingtoken` in token mode).
    pub(crate) url: Url,
    /// Headers to add (`x-amz-date`, `authorization`, `x-amz-security-token`).
    pub(crate) headers: Vec<(&'static str, String)>,
    /// The credentials the request was signed with.
    pub(crate) credentials: Option<Credentials>,
    /// The request's signature (hex), kept to withhold it from the answer's error text.
    signature: Option<[u8; 64]>,
}

impl Authorization {
    /// The secrets of this request: secret key and session token, signature, billing token.
    pub(crate) fn known(&self) -> Known {
        let mut known = Known::default();
        if let Some(creds) = &self.credentials {
            known.add_credentials(creds);
        }
        if let Some(sig) = self
            .signature
            .as_ref()
            .and_then(|s| std::str::from_utf8(s).ok())
        {
            known.add(sig);
        }
        known.add_wire(&self.headers, &self.url);
        known
    }

    /// The answer to this request with its secrets withheld from every text that came from the
    /// network (error bodies, JSON-RPC error payloads, gateway messages): see
    /// [`crate::redact`].
    pub(crate) fn withhold(
        &self,
        result: alloy_transport::TransportResult<alloy_json_rpc::ResponsePacket>,
    ) -> alloy_transport::TransportResult<alloy_json_rpc::ResponsePacket> {
        crate::redact::withhold_result(result, || self.known())
    }
}

/// The signature in `headers` (the `authorization` header's `Signature=`), when it is the
/// usual 64 hex digits.
fn signature_of(headers: &[(&'static str, String)]) -> Option<[u8; 64]> {
    let (_, value) = headers.iter().find(|(n, _)| *n == "authorization")?;
    let (_, sig) = value.rsplit_once("Signature=")?;
    sig.as_bytes().try_into().ok()
}

/// Refuses credentials that cannot go into a header (a line break or other control character,
/// e.g. a session token pasted with its newline): a typed error, never a panic, and nothing
/// is sent. Names the field, never its value.
fn check_credentials(creds: &Credentials, source: &str) -> Result<(), AmbError> {
    let fields = [
        ("access key id", Some(creds.access_key_id())),
        ("secret access key", Some(creds.secret_access_key())),
        ("session token", creds.session_token()),
    ];
    for (what, value) in fields {
        let Some(value) = value else { continue };
        // One pass over the bytes for every request; the kind of fault only on failure.
        if !value.bytes().any(|b| b <= b' ' || b == 0x7f) {
            continue;
        }
        let bad = if value.contains(['\r', '\n']) {
            "contains a line break"
        } else {
            "contains a space or a control character"
        };
        return Err(AmbError::Credentials {
            message: format!(
                "the {what} from the {source} credential source {bad}, so it cannot be sent in \
                 a request header (nothing was sent); look for a stray newline or space where it \
                 is set (environment variable, credentials file, process output)"
            ),
        });
    }
    Ok(())
}

/// The parts of a request that are signed.
pub(crate) struct ToSign<'a> {
    pub(crate) method: &'a str,
    /// Extra headers to sign besides `host` (e.g. `content-type`).
    pub(crate) headers: &'a [(&'a str, &'a str)],
    pub(crate) body: &'a [u8],
}

impl Auth {
    /// Signs (or, in token mode, decorates) a request to `endpoint` at the current time.
    pub(crate) async fn authorize(
        &self,
        endpoint: &Endpoint,
        req: ToSign<'_>,
    ) -> Result<Authorization, AmbError> {
        match self {
            // The URL with the token is the same for every request: built once.
            Self::BillingToken(token, url) => Ok(Authorization {
                url: url.get_or_init(|| endpoint.wire_url(Some(token))).clone(),
                headers: Vec::new(),
                credentials: None,
                signature: None,
            }),
            Self::SigV4(sig) => {
                let region = sig.region.get(endpoint).await?;
                let creds = sig.credentials.credentials().await?;
                check_credentials(&creds, sig.credentials.name())?;
                let url = endpoint.wire_url(None);
                let headers = sign_headers(
                    &sig.keys,
                    &creds,
                    region,
                    &sig.service,
                    sig.signing_time(),
                    endpoint.authority(),
                    &url,
                    &req,
                )?;
                Ok(Authorization {
                    url,
                    signature: signature_of(&headers),
                    headers,
                    credentials: Some(creds),
                })
            }
        }
    }

    /// [`authorize`](Self::authorize), bounded by `timeout`: a credential source (or region
    /// lookup) that does not answer fails the request instead of holding it, and every other
    /// request behind it, forever. Costs no timer when the credentials are cached (the first
    /// poll completes).
    pub(crate) async fn authorize_within(
        &self,
        endpoint: &Endpoint,
        req: ToSign<'_>,
        timeout: Duration,
    ) -> Result<Authorization, AmbError> {
        let authorize = self.authorize(endpoint, req);
        tokio::pin!(authorize);
        if let Some(done) = futures::FutureExt::now_or_never(authorize.as_mut()) {
            return done;
        }
        match tokio::time::timeout(timeout, authorize).await {
            Ok(done) => done,
            Err(_) => Err(AmbError::Credentials {
                message: match self.credentials().and_then(AmbCredentials::fetching_for) {
                    Some(running) => format!(
                        "the {} credential source did not answer within {timeout:?}; its fetch \
                         has been running for {running:?} and is not restarted (one at a time): \
                         check that the source (credential_process, IMDS, STS, SSO) is reachable \
                         and not waiting for input",
                        self.credentials().map_or("", AmbCredentials::name)
                    ),
                    None => format!(
                        "the credential source (or the region lookup) did not answer within \
                         {timeout:?}"
                    ),
                },
            }),
        }
    }

    /// The signing region, if already known (`None` in token mode).
    pub(crate) fn known_region(&self) -> Option<&str> {
        match self {
            Self::SigV4(sig) => sig.region.known().map(|(r, _)| r),
            Self::BillingToken(..) => None,
        }
    }

    /// The credentials requests are signed with (`None` in token mode).
    pub(crate) fn credentials(&self) -> Option<&AmbCredentials> {
        match self {
            Self::SigV4(sig) => Some(&sig.credentials),
            Self::BillingToken(..) => None,
        }
    }

    pub(crate) fn is_token(&self) -> bool {
        matches!(self, Self::BillingToken(..))
    }

    /// Learns the gateway's clock from the `Date` header of any of its answers.
    pub(crate) fn observe_date(&self, date: Option<&str>) {
        if let (Self::SigV4(sig), Some(date)) = (self, date) {
            sig.observe_date(date);
        }
    }

    /// After a 403, decides whether signing again can succeed: a clock-skew refusal (the skew
    /// was learned from that answer's `Date`), or expired/unknown credentials (dropped from the
    /// cache so that signing again fetches fresh ones). The caller retries at most once.
    pub(crate) async fn recover(&self, failure: AuthFailure, used: &Authorization) -> bool {
        let Self::SigV4(sig) = self else {
            return false;
        };
        match failure {
            AuthFailure::SignatureExpired => true,
            AuthFailure::ExpiredToken | AuthFailure::UnknownAccessKey => {
                if let Some(creds) = &used.credentials {
                    sig.credentials.invalidate(creds).await;
                }
                true
            }
            _ => false,
        }
    }
}

/// The `Date` headers the gateway's clock is learned from: 2020-01-01 to 2100-01-01 (seconds).
const PLAUSIBLE_DATES: (i64, i64) = (1_577_836_800, 4_102_444_800);

impl SigV4 {
    /// Now on the gateway's clock, as far as we know it.
    fn signing_time(&self) -> SystemTime {
        self.skew.correct(SystemTime::now())
    }

    fn observe_date(&self, date: &str) {
        // Answers within the same second carry the same `Date`: parse each value once.
        let seen = date.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        if self.last_date.swap(seen, Ordering::Relaxed) == seen {
            return;
        }
        let Ok(server) = aws_smithy_types::DateTime::from_str(date.trim(), Format::HttpDate) else {
            return;
        };
        // A gateway's clock is somewhere in this century: a `Date` outside it comes from
        // something broken (or hostile) on the path, and learning it would sign every later
        // request at that time.
        if !(PLAUSIBLE_DATES.0..PLAUSIBLE_DATES.1).contains(&server.secs()) {
            tracing::warn!(date, "ignoring an implausible Date header");
            return;
        }
        let now = aws_smithy_types::DateTime::from(SystemTime::now());
        let skew_ms = (server.as_secs_f64() - now.as_secs_f64()) * 1000.0;
        // `Date` has one-second resolution: only a skew beyond that is worth correcting.
        let skew_ms = if skew_ms.abs() < 1500.0 {
            0
        } else {
            skew_ms as i64
        };
        let old = self.skew.set(skew_ms);
        if (old - skew_ms).abs() >= 1500 {
            tracing::debug!(skew_ms, "gateway clock skew updated from its Date header");
        }
    }

    /// The skew in force (gateway minus local clock).
    pub(crate) fn skew(&self) -> i64 {
        self.skew.get()
    }
}

/// Signs and returns the headers to add to the request.
#[allow(clippy::too_many_arguments)]
fn sign_headers(
    keys: &SigningKeyCache,
    creds: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
    authority: &str,
    url: &Url,
    req: &ToSign<'_>,
) -> Result<Vec<(&'static str, String)>, AmbError> {
    let req = sign_fast::Request {
        method: req.method,
        authority,
        url,
        headers: req.headers,
        body: req.body,
    };
    sign_fast::sign(keys, creds, region, service, time, &req)
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SigV4(sig) => f
                .debug_struct("SigV4")
                .field("service", &sig.service)
                .field("region", &sig.region.known().map(|(r, _)| r))
                .field("credentials", &sig.credentials)
                .field("skew_ms", &sig.skew())
                .finish(),
            Self::BillingToken(t, _) => f.debug_tuple("BillingToken").field(t).finish(),
        }
    }
}

/// The auth setters of a transport builder (a struct with an `auth: AuthConfig` field), the
/// same for HTTP and WebSocket.
macro_rules! auth_setters {
    () => {
        /// The signing region; wins over the region in an AMB host name and the environment.
        pub fn region(mut self, region: impl Into<String>) -> Self {
            self.auth.region = Some(region.into());
            self
        }

        /// The SigV4 service name: `managedblockchain` (default), `execute-api` for API
        /// Gateway with IAM auth, `vpc-lattice-svcs` for VPC Lattice.
        pub fn service(mut self, service: impl Into<String>) -> Self {
            self.auth.service = Some(service.into());
            self
        }

        /// Sign with these credentials instead of the standard AWS chain: static
        /// [`Credentials`](aws_credential_types::Credentials), any `aws-config` provider, or
        /// your own [`ProvideCredentials`](aws_credential_types::provider::ProvideCredentials).
        pub fn credentials_provider(
            mut self,
            provider: impl aws_credential_types::provider::ProvideCredentials + 'static,
        ) -> Self {
            self.auth.credentials =
                Some($crate::credentials::AmbCredentials::from_provider(provider));
            self
        }

        /// Sign with an [`AmbCredentials`](crate::AmbCredentials): its source, refresh policy
        /// and cache (shared with other transports to the same node).
        pub fn credentials(mut self, credentials: $crate::credentials::AmbCredentials) -> Self {
            self.auth.credentials = Some(credentials);
            self
        }

        /// Use AMB token-based access with this accessor (billing) token instead of SigV4.
        pub fn billing_token(mut self, token: impl Into<String>) -> Self {
            self.auth.billing_token = Some($crate::secret::Secret::new(token.into()));
            self
        }
    };
}
pub(crate) use auth_setters;

/// The endpoint/region/credentials accessors of a transport (a struct whose `inner` has
/// `endpoint: Endpoint` and `auth: Auth`), the same for HTTP and WebSocket.
macro_rules! auth_accessors {
    () => {
        /// The endpoint (without billing token).
        pub fn endpoint(&self) -> &Endpoint {
            &self.inner.endpoint
        }

        /// The signing region, if it is already known (it is looked up in the AWS profile on
        /// first use when neither the builder, the host name nor the environment gives one).
        pub fn region(&self) -> Option<&str> {
            self.inner.auth.known_region()
        }

        /// The credentials requests (or WebSocket upgrades) are signed with (`None` in
        /// billing-token mode).
        pub fn credentials(&self) -> Option<&AmbCredentials> {
            self.inner.auth.credentials()
        }
    };
}
pub(crate) use auth_accessors;

/// The auth part of a transport builder, shared by HTTP and WebSocket.
#[derive(Clone, Default)]
pub(crate) struct AuthConfig {
    pub(crate) region: Option<String>,
    pub(crate) service: Option<String>,
    pub(crate) credentials: Option<AmbCredentials>,
    pub(crate) billing_token: Option<Secret>,
}

impl AuthConfig {
    /// Decides the auth mode for `endpoint`; a billing token in the URL or on the builder
    /// selects token mode.
    pub(crate) fn build(self, endpoint: &mut Endpoint) -> Result<Auth, AmbError> {
        if let Some(region) = &self.region {
            check_region(region)?;
        }
        let token = match (self.billing_token, endpoint.take_billing_token()) {
            (Some(given), Some(in_url)) if given != in_url => {
                return Err(AmbError::Config(
                    "a billing token was given twice, in the URL (`?billingtoken=`) and with \
                     `.billing_token(..)`, and they differ: give it once"
                        .into(),
                ))
            }
            (Some(given), _) => Some(given),
            (None, in_url) => in_url,
        };
        if let Some(token) = token {
            check_billing_token(&token)?;
            if self.credentials.is_some() {
                return Err(AmbError::Config(
                    "both a billing token and SigV4 credentials were given; choose one".into(),
                ));
            }
            return Ok(Auth::BillingToken(token, Default::default()));
        }
        let service = self.service.unwrap_or_else(|| AMB_SERVICE.to_owned());
        if service.is_empty() || service.contains(char::is_whitespace) {
            return Err(AmbError::Config(format!(
                "invalid SigV4 service name {service:?}"
            )));
        }
        let region = Region::resolve(self.region, endpoint);
        let credentials = match self.credentials {
            Some(c) => c,
            None => AmbCredentials::default_chain_in(region.known().map(|(r, _)| r.to_owned())),
        };
        Ok(Auth::SigV4(Arc::new(SigV4 {
            service: service.into(),
            region,
            skew: credentials.clock_skew(),
            credentials,
            last_date: AtomicU64::new(0),
            keys: SigningKeyCache::new(),
        })))
    }
}

/// A signing region is lowercase letters, digits and dashes (`us-east-1`, `cn-north-1`,
/// `us-gov-west-1`): anything else (empty, spaces, a line break) is refused before anything is
/// signed or sent.
fn check_region(region: &str) -> Result<(), AmbError> {
    let ok = !region.is_empty()
        && region.len() <= 64
        && !region.starts_with('-')
        && !region.ends_with('-')
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(AmbError::Config(format!(
            "invalid region {region:?} given with `.region(..)`: a region is lowercase letters, \
             digits and dashes, such as `us-east-1` (an AMB node's region is in its host name)"
        )))
    }
}

/// A billing token must be something that can be sent: not empty, no spaces or control
/// characters. The message never shows the token.
fn check_billing_token(token: &Secret) -> Result<(), AmbError> {
    let value = token.expose();
    let bad = if value.trim().is_empty() {
        "is empty"
    } else if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        "contains a space, a line break or a control character"
    } else {
        return Ok(());
    };
    Err(AmbError::Config(format!(
        "the billing token (`.billing_token(..)` or `?billingtoken=`) {bad}: pass the accessor \
         token's id as the AMB console shows it"
    )))
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("region", &self.region)
            .field("service", &self.service)
            .field("credentials", &self.credentials)
            .field("billing_token", &self.billing_token)
            .finish()
    }
}
