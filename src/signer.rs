//! The one signing path shared by the HTTP and WebSocket transports.
//!
//! The auth mode is resolved from a builder's configuration: SigV4 (service name configurable, region
//! from the endpoint, the builder or the AWS region chain, credentials from [`AmbCredentials`]) or
//! AMB token-based access (a `billingtoken` on the URL, nothing signed). Signing itself is
//! `aws-sigv4`'s `sign()`, over exactly the bytes that go on the wire.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use tokio::sync::OnceCell;
use url::Url;

use crate::credentials::AmbCredentials;
use crate::endpoint::Endpoint;
use crate::error::AmbError;
use crate::secret::Secret;

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

    async fn get(&self, endpoint: &Endpoint) -> Result<String, AmbError> {
        match self {
            Self::Known(r, _) => Ok(r.clone()),
            Self::Lazy(cell) => cell
                .get_or_init(|| async {
                    use aws_config::meta::region::ProvideRegion;
                    aws_config::default_provider::region::default_provider()
                        .region()
                        .await
                        .map(|r| r.to_string())
                })
                .await
                .clone()
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
    SigV4 {
        service: Arc<str>,
        region: Region,
        credentials: AmbCredentials,
    },
    BillingToken(Secret),
}

/// What to add to a request so that the gateway accepts it.
pub(crate) struct Authorization {
    /// The URL to send to (with `billingtoken` in token mode).
    pub(crate) url: Url,
    /// Headers to add (`x-amz-date`, `authorization`, `x-amz-security-token`).
    pub(crate) headers: Vec<(&'static str, String)>,
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
            Self::BillingToken(token) => Ok(Authorization {
                url: endpoint.wire_url(Some(token)),
                headers: Vec::new(),
            }),
            Self::SigV4 {
                service,
                region,
                credentials,
            } => {
                let region = region.get(endpoint).await?;
                let creds = credentials.credentials().await?;
                let identity: Identity = creds.into();
                let url = endpoint.wire_url(None);
                let headers = sign_headers(
                    &identity,
                    &region,
                    service,
                    SystemTime::now(),
                    endpoint.authority(),
                    &url,
                    &req,
                )?;
                Ok(Authorization { url, headers })
            }
        }
    }

    pub(crate) fn is_token(&self) -> bool {
        matches!(self, Self::BillingToken(_))
    }
}

/// Signs with aws-sigv4 and returns the headers to add to the request.
fn sign_headers(
    identity: &Identity,
    region: &str,
    service: &str,
    time: SystemTime,
    authority: &str,
    url: &Url,
    req: &ToSign<'_>,
) -> Result<Vec<(&'static str, String)>, AmbError> {
    let settings = SigningSettings::default();
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| AmbError::Signing(e.to_string()))?
        .into();
    let headers = std::iter::once(("host", authority)).chain(req.headers.iter().copied());
    let signable = SignableRequest::new(
        req.method,
        url.as_str(),
        headers,
        SignableBody::Bytes(req.body),
    )
    .map_err(|e| AmbError::Signing(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| AmbError::Signing(e.to_string()))?
        .into_parts();
    let (headers, _params) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|h| (h.name(), h.value().to_owned()))
        .collect())
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SigV4 {
                service,
                region,
                credentials,
            } => f
                .debug_struct("SigV4")
                .field("service", service)
                .field("region", &region.known().map(|(r, _)| r))
                .field("credentials", credentials)
                .finish(),
            Self::BillingToken(t) => f.debug_tuple("BillingToken").field(t).finish(),
        }
    }
}

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
        let token = self.billing_token.or_else(|| endpoint.take_billing_token());
        if let Some(token) = token {
            if self.credentials.is_some() {
                return Err(AmbError::Config(
                    "both a billing token and SigV4 credentials were given; choose one".into(),
                ));
            }
            return Ok(Auth::BillingToken(token));
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
        Ok(Auth::SigV4 {
            service: service.into(),
            region,
            credentials,
        })
    }
}
