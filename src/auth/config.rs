//! The auth part of a transport builder, shared by HTTP and WebSocket: its setters, the
//! transport's accessors, and the choice of [`Auth`] mode at build time.

use std::fmt;
use std::sync::Arc;

use super::clock::GatewayClock;
use super::mode::{Auth, SigV4};
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
        })))
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
    Err(ConfigError::InvalidBillingToken { problem: bad }.into())
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
