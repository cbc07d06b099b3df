//! The auth part of a transport builder, shared by HTTP and WebSocket: its setters, the
//! transport's accessors, and the choice of [`Auth`] mode at build time.

use std::fmt;
use std::sync::Arc;

use super::clock::GatewayClock;
use super::mode::{Auth, SigV4};
use super::provider::{Credential, CredentialSetting, Provider, StaticHeaders};
use super::region::{check_region, Region};
use super::AMB_SERVICE;
use crate::credentials::AmbCredentials;
use crate::endpoint::Endpoint;
use crate::error::{AmbError, ConfigError};
use crate::secret::Secret;
use crate::sigv4::SigningKeyCache;

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

        /// A header sent with every request (the HTTP POST and the WebSocket upgrade alike),
        /// e.g. QuickNode's `x-token`; repeatable, one value per name. Its value is a secret:
        /// never shown in `Debug`, logs or errors. The name is checked at `build()`
        /// ([`ConfigError::InvalidHeader`](crate::ConfigError::InvalidHeader)). Sent in every
        /// auth mode; given alone for a host that is not AWS's, no SigV4 is used.
        pub fn header(mut self, name: impl AsRef<str>, value: impl Into<String>) -> Self {
            self.auth.headers.push((
                name.as_ref().to_owned(),
                $crate::secret::Secret::new(value.into()),
            ));
            self
        }

        /// Send `Authorization: Bearer <token>` (a third-party provider's API key or JWT)
        /// instead of SigV4. The token is never shown in `Debug`, logs or errors.
        pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
            self.auth.credential = Some($crate::auth::provider::CredentialSetting::Bearer(
                $crate::secret::Secret::new(token.into()),
            ));
            self
        }

        /// Send `Authorization: Bearer <token>` with a token from `fetch` (e.g. a JWT from an
        /// identity provider) instead of SigV4. The token is kept until 30 seconds before its
        /// [`expires_at`](crate::auth::BearerToken::expires_at) (or for good without one), one
        /// fetch at a time however many requests wait for it, bounded by the transport's
        /// timeout; after a 401 (or 403) it is fetched once more and the request sent once
        /// more. A failing `fetch` fails the request with
        /// [`AmbError::TokenProvider`](crate::AmbError::TokenProvider).
        pub fn bearer_token_provider<F, Fut>(mut self, fetch: F) -> Self
        where
            F: Fn() -> Fut + Send + Sync + 'static,
            Fut: std::future::Future<
                    Output = Result<$crate::auth::BearerToken, $crate::auth::BoxError>,
                > + Send
                + 'static,
        {
            self.auth.credential = Some($crate::auth::provider::CredentialSetting::Refreshing(
                $crate::auth::provider::fetch_token(fetch),
            ));
            self
        }

        /// Send HTTP Basic auth (`Authorization: Basic ...`) instead of SigV4, as Kaleido
        /// asks; `https://user:password@host/` in the URL does the same (the user info is
        /// then taken out of the URL). The password is never shown in `Debug`, logs or errors.
        pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
            self.auth.credential = Some($crate::auth::provider::CredentialSetting::Basic {
                user: user.into(),
                password: $crate::secret::Secret::new(password.into()),
            });
            self
        }

        /// Send no authentication (no SigV4, no `Authorization`): a provider whose key is in
        /// the URL's path or query, or a plain node. `.header(..)`s are still sent.
        pub fn no_auth(mut self) -> Self {
            self.auth.no_auth = true;
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
    /// `.header(..)`s, in the order given.
    pub(crate) headers: Vec<(String, Secret)>,
    /// `.bearer_token(..)`, `.bearer_token_provider(..)` or `.basic_auth(..)`.
    pub(crate) credential: Option<CredentialSetting>,
    /// `.no_auth()`.
    pub(crate) no_auth: bool,
}

impl AuthConfig {
    /// Decides the auth mode for `endpoint`; a billing token in the URL or on the builder
    /// selects token mode.
    pub(crate) fn build(mut self, endpoint: &mut Endpoint) -> Result<Auth, AmbError> {
        if let Some(provider) = self.provider(endpoint)? {
            return Ok(Auth::Provider(Arc::new(provider)));
        }
        let static_headers = self.sigv4_headers(endpoint)?;
        if let Some(region) = &self.region {
            check_region(region)?;
        }
        let token = match (self.billing_token, endpoint.take_billing_token()) {
            (Some(given), Some(in_url)) if given != in_url => {
                return Err(ConfigError::BillingTokenTwice.into())
            }
            (Some(given), _) => Some(given),
            (None, in_url) => in_url,
        };
        if let Some(token) = token {
            check_billing_token(&token)?;
            if self.credentials.is_some() {
                return Err(ConfigError::TokenAndCredentials.into());
            }
            let url = Arc::new(endpoint.wire_url(Some(&token)));
            return Ok(Auth::BillingToken(token, url));
        }
        let service = self.service.unwrap_or_else(|| AMB_SERVICE.to_owned());
        if service.is_empty() || service.contains(char::is_whitespace) {
            return Err(ConfigError::InvalidService { service }.into());
        }
        let region = Region::resolve(self.region, endpoint);
        let credentials = match self.credentials {
            Some(c) => c,
            None => AmbCredentials::default_chain_in(region.known().map(|(r, _)| r.to_owned())),
        };
        Ok(Auth::SigV4(Arc::new(SigV4 {
            service: service.into(),
            region,
            url: Arc::new(endpoint.wire_url(None)),
            clock: GatewayClock::new(credentials.clock_skew()),
            credentials,
            keys: SigningKeyCache::new(),
            static_headers,
        })))
    }
}

impl AuthConfig {
    /// Third-party provider auth, when the settings (or user info in the URL) ask for it:
    /// a bearer token, basic auth, `no_auth()`, or `.header(..)`s alone for a host that is not
    /// AWS's. `None`: another mode (SigV4, billing token), with the headers left in `self`.
    fn provider(&mut self, endpoint: &mut Endpoint) -> Result<Option<Provider>, AmbError> {
        let credential = match (self.credential.take(), endpoint.take_userinfo()) {
            (given, None) => given,
            (None, Some((user, password))) => Some(CredentialSetting::Basic { user, password }),
            (Some(CredentialSetting::Basic { user, password }), Some((u, p)))
                if user == u && password == p =>
            {
                Some(CredentialSetting::Basic { user, password })
            }
            (Some(CredentialSetting::Basic { .. }), Some(_)) => {
                return Err(ConfigError::AuthConflict {
                    first: "`.basic_auth(..)`",
                    second: "a different user:password in the URL",
                }
                .into())
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::AuthConflict {
                    first: "a bearer token",
                    second: "user:password in the URL",
                }
                .into())
            }
        };
        let headers_only = credential.is_none()
            && !self.no_auth
            && !self.headers.is_empty()
            && !self.asks_for_aws()
            && !sigv4_host(endpoint);
        if credential.is_none() && !self.no_auth && !headers_only {
            return Ok(None);
        }
        let chosen = match (&credential, self.no_auth) {
            (Some(CredentialSetting::Basic { .. }), _) => "HTTP Basic auth",
            (Some(_), _) => "a bearer token",
            (None, true) => "`.no_auth()`",
            (None, false) => "`.header(..)`",
        };
        if let (Some(_), true) = (&credential, self.no_auth) {
            return Err(ConfigError::AuthConflict {
                first: "`.no_auth()`",
                second: "a bearer token or basic auth",
            }
            .into());
        }
        if self.billing_token.is_some() || endpoint.has_billing_token() {
            return Err(ConfigError::AuthConflict {
                first: chosen,
                second: "an AMB billing token",
            }
            .into());
        }
        if self.credentials.is_some() {
            return Err(ConfigError::AuthConflict {
                first: chosen,
                second: "SigV4 credentials",
            }
            .into());
        }
        let headers =
            StaticHeaders::build(std::mem::take(&mut self.headers), credential.is_some())?;
        let credential = Credential::from_setting(credential)?;
        Ok(Some(Provider::new(
            endpoint.wire_url(None),
            headers,
            credential,
        )))
    }

    /// The `.header(..)`s sent (unsigned) with SigV4 requests, e.g. API Gateway's `x-api-key`;
    /// refused with a billing token (AMB's token mode takes nothing else).
    fn sigv4_headers(&mut self, endpoint: &Endpoint) -> Result<StaticHeaders, AmbError> {
        if self.headers.is_empty() {
            return Ok(StaticHeaders::default());
        }
        if self.billing_token.is_some() || endpoint.has_billing_token() {
            return Err(ConfigError::AuthConflict {
                first: "`.header(..)`",
                second: "an AMB billing token",
            }
            .into());
        }
        StaticHeaders::build(std::mem::take(&mut self.headers), true)
    }

    /// Whether a setting only SigV4 uses was given.
    fn asks_for_aws(&self) -> bool {
        self.service.is_some() || self.credentials.is_some() || self.region.is_some()
    }
}

/// Whether `endpoint` is a host SigV4 is meant for: AMB, other AWS hosts (API Gateway, Lambda
/// function URLs, VPC Lattice), loopback (the emulator, a local gateway).
// aws14's `Target::infer` replaces this at merge (`Target::Other` is the only non-SigV4 target).
fn sigv4_host(endpoint: &Endpoint) -> bool {
    let host = endpoint.host();
    endpoint.amb_host().is_some()
        || endpoint.is_loopback()
        || host.ends_with(".amazonaws.com")
        || host.ends_with(".amazonaws.com.cn")
        || host.ends_with(".on.aws")
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
    Err(ConfigError::InvalidBillingToken { problem: bad }.into())
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("region", &self.region)
            .field("service", &self.service)
            .field("credentials", &self.credentials)
            .field("billing_token", &self.billing_token)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("credential", &self.credential)
            .field("no_auth", &self.no_auth)
            .finish()
    }
}
