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
use crate::sigv4::{Algorithm, Payload, SigningKeyCache};
use crate::target::Target;

/// The auth setters of a transport builder (a struct with an `auth: AuthConfig` field), the
/// same for HTTP and WebSocket.
macro_rules! auth_setters {
    () => {
        /// The kind of endpoint, for a custom domain in front of an AWS target (the host name
        /// gives it otherwise: [`Target::infer`](crate::Target::infer)). Sets that target's
        /// defaults: SigV4 service, payload mode, WebSocket refusal, batch splitting; each
        /// is still overridable.
        pub fn target(mut self, target: $crate::Target) -> Self {
            self.auth.target = Some(target);
            self
        }

        /// Send and sign `x-amz-content-sha256: UNSIGNED-PAYLOAD` instead of the body's
        /// SHA-256 (default: `true` for VPC Lattice, which does not support payload signing,
        /// else `false`). A Lambda function URL refuses unsigned payloads: `true` there is a
        /// [`ConfigError::UnsignedPayloadRefused`](crate::ConfigError::UnsignedPayloadRefused).
        /// On the WebSocket upgrade (a GET without body) it changes the header and payload hash
        /// the same way.
        pub fn unsigned_payload(mut self, unsigned: bool) -> Self {
            self.auth.unsigned_payload = Some(unsigned);
            self
        }

        /// Sign with SigV4A (ECDSA P-256, aws-sigv4's `sigv4a`) for the region set given with
        /// [`region_set`](Self::region_set), else the one region given with
        /// [`region`](Self::region), else `*`: for multi-region VPC Lattice services and API
        /// Gateway REST APIs. SigV4A needs no region. AMB and Lambda function URLs take SigV4
        /// only: `true` there is a
        /// [`ConfigError::SigV4aRefused`](crate::ConfigError::SigV4aRefused).
        pub fn sigv4a(mut self, sigv4a: bool) -> Self {
            self.auth.sigv4a = Some(sigv4a);
            self
        }

        /// The SigV4A region set, e.g. `"us-east-1,us-west-2"` (default `*`). Setting it
        /// signs with SigV4A; with `.sigv4a(false)` it is a
        /// [`ConfigError::RegionSetWithoutSigV4a`](crate::ConfigError::RegionSetWithoutSigV4a).
        pub fn region_set(mut self, region_set: impl Into<String>) -> Self {
            self.auth.region_set = Some(region_set.into());
            self
        }

        /// The signing region; wins over the region in an AMB host name and the environment.
        pub fn region(mut self, region: impl Into<String>) -> Self {
            self.auth.region = Some(region.into());
            self
        }

        /// The SigV4 service name. By default the target's: `managedblockchain` (AMB,
        /// loopback), `execute-api` (API Gateway), `lambda` (Lambda function URL),
        /// `vpc-lattice-svcs` (VPC Lattice). On a host that names no target (a custom domain),
        /// one of these names also selects that target's defaults, like `.target(..)`.
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
        /// timeout; after a 401 it is fetched once more and the request sent once
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
    pub(crate) target: Option<Target>,
    pub(crate) unsigned_payload: Option<bool>,
    pub(crate) sigv4a: Option<bool>,
    pub(crate) region_set: Option<String>,
}

impl AuthConfig {
    /// The target: `.target(..)`, else the host name's, else (for a host that names none) the
    /// one whose service `.service(..)` names.
    pub(crate) fn target_for(&self, endpoint: &Endpoint) -> Target {
        if let Some(target) = self.target {
            return target;
        }
        match endpoint.target() {
            Target::Other => self
                .service
                .as_deref()
                .and_then(Target::of_service)
                .unwrap_or(Target::Other),
            inferred => inferred,
        }
    }

    /// Decides the auth mode for `endpoint`:
    /// 1. a billing token in the URL or on the builder selects token mode;
    /// 2. (third-party provider modes);
    /// 3. SigV4 for an AWS or loopback target, or when a SigV4 setting (service, credentials,
    ///    target, SigV4A, unsigned payload) was given; on a host that names no service, only
    ///    with `.service(..)` or `.target(..)`;
    /// 4. (static headers only);
    /// 5. else [`ConfigError::NoAuthForHost`].
    pub(crate) fn build(mut self, endpoint: &mut Endpoint) -> Result<Auth, AmbError> {
        // 2. Third-party provider modes, decided first: they refuse a billing token or SigV4
        //    credentials given with them. `.header(..)`s otherwise ride along with SigV4.
        if let Some(provider) = self.provider(endpoint)? {
            return Ok(Auth::Provider(Arc::new(provider)));
        }
        let static_headers = self.sigv4_headers(endpoint)?;
        if let Some(region) = &self.region {
            check_region(region)?;
        }
        // 1. Token mode.
        let token = match (self.billing_token.clone(), endpoint.take_billing_token()) {
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
            for (set, setting) in [
                (self.service.is_some(), ".service(..)"),
                (self.target.is_some(), ".target(..)"),
                (self.sigv4a.is_some(), ".sigv4a(..)"),
                (self.unsigned_payload.is_some(), ".unsigned_payload(..)"),
                (self.region_set.is_some(), ".region_set(..)"),
            ] {
                if set {
                    return Err(ConfigError::TokenAndSigV4 { setting }.into());
                }
            }
            let url = Arc::new(endpoint.wire_url(Some(&token)));
            return Ok(Auth::BillingToken(token, url));
        }
        // 3. SigV4.
        let target = self.target_for(endpoint);
        if target.is_sigv4() || self.says_sigv4() {
            return self.build_sigv4(endpoint, target, static_headers);
        }
        // 5. Nothing says how to authenticate to this host.
        Err(ConfigError::NoAuthForHost {
            host: endpoint.host().to_owned(),
        }
        .into())
    }

    /// Whether a SigV4 setting was given: service, credentials, an AWS or loopback target,
    /// SigV4A or a region set, an unsigned payload.
    ///
    /// A region alone is not one (an `RPC_REGION` left set after a move from AMB to a provider
    /// must not send AWS signatures and session tokens to that provider), nor is a setting
    /// turned off (`.sigv4a(false)`, `.unsigned_payload(false)`).
    fn says_sigv4(&self) -> bool {
        self.service.is_some()
            || self.credentials.is_some()
            || self.target.is_some_and(Target::is_sigv4)
            || self.sigv4a == Some(true)
            || self.region_set.is_some()
            || self.unsigned_payload == Some(true)
    }

    fn build_sigv4(
        self,
        endpoint: &Endpoint,
        target: Target,
        static_headers: StaticHeaders,
    ) -> Result<Auth, AmbError> {
        let service = match (self.service, target.default_service()) {
            (Some(service), _) => service,
            (None, Some(service)) => service.to_owned(),
            // A host that names no service (a custom domain): signing for AMB's service there
            // can only be refused; say what to set instead.
            (None, None) if target == Target::Other => {
                return Err(ConfigError::NoAuthForHost {
                    host: endpoint.host().to_owned(),
                }
                .into())
            }
            (None, None) => AMB_SERVICE.to_owned(),
        };
        if service.is_empty() || service.contains(char::is_whitespace) {
            return Err(ConfigError::InvalidService { service }.into());
        }
        let unsigned = self
            .unsigned_payload
            .unwrap_or_else(|| target.unsigned_payload());
        if unsigned && !target.allows_unsigned_payload() {
            return Err(ConfigError::UnsignedPayloadRefused {
                target: target.name(),
            }
            .into());
        }
        if self.sigv4a == Some(false) && self.region_set.is_some() {
            return Err(ConfigError::RegionSetWithoutSigV4a.into());
        }
        let sigv4a = self.sigv4a.unwrap_or_else(|| self.region_set.is_some());
        if sigv4a && !cfg!(feature = "sigv4a") {
            return Err(ConfigError::NoSigV4aFeature.into());
        }
        if sigv4a && !sigv4a_allowed(target) {
            return Err(ConfigError::SigV4aRefused {
                target: target.name(),
            }
            .into());
        }
        // `.sigv4a(true).region(r)`: scoped to that region, not to every region.
        let region_set = match (self.region_set, &self.region) {
            (Some(set), _) => set,
            (None, Some(region)) if sigv4a => region.clone(),
            (None, _) => "*".to_owned(),
        };
        check_region_set(&region_set)?;
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
            payload: if unsigned {
                Payload::Unsigned
            } else {
                Payload::Signed
            },
            algorithm: if sigv4a {
                Algorithm::V4a
            } else {
                Algorithm::V4
            },
            region_set: region_set.into(),
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
        // 4. `.header(..)`s alone, for a host SigV4 is not meant for.
        let headers_only = credential.is_none()
            && !self.no_auth
            && !self.headers.is_empty()
            && !self.target_for(endpoint).is_sigv4()
            && !self.says_sigv4();
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
        // SigV4 settings would be dropped silently.
        for (set, setting) in [
            (self.service.is_some(), "`.service(..)`"),
            (self.target.is_some(), "`.target(..)`"),
            (self.sigv4a.is_some(), "`.sigv4a(..)`"),
            (self.unsigned_payload.is_some(), "`.unsigned_payload(..)`"),
            (self.region_set.is_some(), "`.region_set(..)`"),
        ] {
            if set {
                return Err(ConfigError::AuthConflict {
                    first: chosen,
                    second: setting,
                }
                .into());
            }
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
}

/// A SigV4A region set: `*`, or comma-separated region names (each may hold a `*` wildcard,
/// e.g. `us-*`). Anything else (empty, spaces, a line break) is refused before anything is
/// signed.
/// Whether `target` takes SigV4A: AMB and Lambda function URLs verify SigV4 only (the loopback
/// emulator and custom domains are left to the server).
fn sigv4a_allowed(target: Target) -> bool {
    !matches!(target, Target::Amb | Target::LambdaUrl)
}

fn check_region_set(set: &str) -> Result<(), AmbError> {
    let ok = !set.is_empty()
        && set.len() <= 256
        && set.split(',').all(|r| {
            !r.is_empty()
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'*')
        });
    if ok {
        Ok(())
    } else {
        Err(ConfigError::InvalidRegionSet {
            region_set: set.to_owned(),
        }
        .into())
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
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(n, _)| super::provider::shown_name(n))
                    .collect::<Vec<_>>(),
            )
            .field("credential", &self.credential)
            .field("no_auth", &self.no_auth)
            .field("target", &self.target)
            .field("unsigned_payload", &self.unsigned_payload)
            .field("sigv4a", &self.sigv4a)
            .field("region_set", &self.region_set)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use aws_credential_types::Credentials;

    use super::*;
    use crate::auth::mode::ToSign;

    fn creds() -> AmbCredentials {
        AmbCredentials::from_provider(Credentials::new("AKID", "SECRET", None, None, "t"))
    }

    fn build(url: &str, f: impl FnOnce(&mut AuthConfig)) -> Result<Auth, AmbError> {
        let mut endpoint = Endpoint::parse(url).unwrap();
        let mut config = AuthConfig::default();
        f(&mut config);
        config.build(&mut endpoint)
    }

    fn sigv4(auth: &Auth) -> &SigV4 {
        match auth {
            Auth::SigV4(sig) => sig,
            other => panic!("not SigV4: {other:?}"),
        }
    }

    fn secret(v: &str) -> Secret {
        Secret::new(v.to_owned())
    }

    #[test]
    fn provider_modes_are_chosen_by_their_settings_and_headers_alone_off_aws() {
        let quicknode = "https://name.quiknode.pro/";
        let header = |c: &mut AuthConfig| c.headers.push(("x-token".into(), secret("tok12345")));
        // Headers alone: provider mode for a host that is not AWS's, SigV4 (headers riding
        // along) for AWS and loopback hosts or with a SigV4 setting.
        assert!(build(quicknode, header).unwrap().is_provider());
        for url in [APIGW, "http://127.0.0.1:1/"] {
            let auth = build(url, |c| {
                header(c);
                c.credentials = Some(creds());
            })
            .unwrap();
            assert_eq!(sigv4(&auth).static_headers.names(), ["x-token"], "{url}");
        }
        let auth = build(quicknode, |c| {
            header(c);
            c.service = Some("execute-api".into());
            c.region = Some("us-east-1".into());
            c.credentials = Some(creds());
        })
        .unwrap();
        assert!(!auth.is_provider());
        // A credential or `no_auth()` chooses provider mode on any host.
        for url in [quicknode, APIGW, "http://127.0.0.1:1/"] {
            assert!(build(url, |c| c.no_auth = true).unwrap().is_provider());
            assert!(build(url, |c| c.credential =
                Some(CredentialSetting::Bearer(secret("t"))))
            .unwrap()
            .is_provider());
        }
        assert!(build("https://u:p@name.kaleido.io/", |_| ())
            .unwrap()
            .is_provider());
        // Nothing said for an unknown host.
        assert!(matches!(
            build(quicknode, |_| ()),
            Err(AmbError::Config(ConfigError::NoAuthForHost { .. }))
        ));
        // Conflicts.
        for conflict in [
            build(quicknode, |c| {
                c.no_auth = true;
                c.billing_token = Some(secret("AbCdEfGh12345678"));
            }),
            build(quicknode, |c| {
                c.no_auth = true;
                c.credentials = Some(creds());
            }),
            build("https://mainnet.polygon.managedblockchain.us-east-1.amazonaws.com/?billingtoken=AbCdEfGh12345678", header),
            build(quicknode, |c| {
                c.credential = Some(CredentialSetting::Bearer(secret("t")));
                c.sigv4a = Some(true);
            }),
            build(quicknode, |c| {
                c.no_auth = true;
                c.unsigned_payload = Some(true);
            }),
            build(APIGW, |c| {
                c.credential = Some(CredentialSetting::Bearer(secret("t")));
                c.service = Some("execute-api".into());
            }),
            build(quicknode, |c| {
                c.no_auth = true;
                c.region_set = Some("*".into());
            }),
        ] {
            assert!(
                matches!(conflict, Err(AmbError::Config(ConfigError::AuthConflict { .. }))),
                "{conflict:?}"
            );
        }
    }

    const LATTICE: &str = "https://rpc-0a1b.7d67968.vpc-lattice-svcs.us-west-2.on.aws/";
    const LAMBDA: &str = "https://abc.lambda-url.eu-west-1.on.aws/";
    const APIGW: &str = "https://a1b2.execute-api.ap-south-1.amazonaws.com/prod";

    #[test]
    fn each_target_gets_its_service_region_and_payload_mode() {
        for (url, service, region, payload) in [
            (LATTICE, "vpc-lattice-svcs", "us-west-2", Payload::Unsigned),
            (LAMBDA, "lambda", "eu-west-1", Payload::Signed),
            (APIGW, "execute-api", "ap-south-1", Payload::Signed),
            (
                "https://nd-x.ethereum.managedblockchain.us-east-1.amazonaws.com/",
                "managedblockchain",
                "us-east-1",
                Payload::Signed,
            ),
        ] {
            let auth = build(url, |_| {}).unwrap();
            let sig = sigv4(&auth);
            assert_eq!(&*sig.service, service, "{url}");
            assert_eq!(sig.region.known().map(|(r, _)| r), Some(region), "{url}");
            assert_eq!(sig.payload, payload, "{url}");
            assert_eq!(sig.algorithm, Algorithm::V4, "{url}");
        }
    }

    #[test]
    fn everything_inferred_is_overridable() {
        let auth = build(LATTICE, |c| {
            c.service = Some("execute-api".into());
            c.region = Some("eu-north-1".into());
            c.unsigned_payload = Some(false);
        })
        .unwrap();
        let sig = sigv4(&auth);
        assert_eq!(&*sig.service, "execute-api");
        assert_eq!(sig.region.known().map(|(r, _)| r), Some("eu-north-1"));
        assert_eq!(sig.payload, Payload::Signed);
        // A custom domain told it is Lattice, by target or by service name.
        for set in [
            |c: &mut AuthConfig| c.target = Some(Target::VpcLattice),
            |c: &mut AuthConfig| c.service = Some("vpc-lattice-svcs".into()),
        ] {
            let auth = build("https://rpc.mycorp.example/", |c| {
                set(c);
                c.region = Some("us-east-1".into());
            })
            .unwrap();
            let sig = sigv4(&auth);
            assert_eq!(&*sig.service, "vpc-lattice-svcs");
            assert_eq!(sig.payload, Payload::Unsigned);
        }
        // Unsigned payload anywhere it is allowed.
        let auth = build(APIGW, |c| c.unsigned_payload = Some(true)).unwrap();
        assert_eq!(sigv4(&auth).payload, Payload::Unsigned);
    }

    #[test]
    fn lambda_urls_refuse_unsigned_payloads_at_build() {
        let err = build(LAMBDA, |c| c.unsigned_payload = Some(true)).unwrap_err();
        assert!(
            matches!(
                err,
                AmbError::Config(ConfigError::UnsignedPayloadRefused {
                    target: "Lambda function URL"
                })
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains("refuses unsigned payloads"),
            "{err}"
        );
        let err = build("https://x.example/", |c| {
            c.target = Some(Target::LambdaUrl);
            c.region = Some("us-east-1".into());
            c.unsigned_payload = Some(true);
        })
        .unwrap_err();
        assert!(matches!(
            err,
            AmbError::Config(ConfigError::UnsignedPayloadRefused { .. })
        ));
        assert!(build(LAMBDA, |c| c.unsigned_payload = Some(false)).is_ok());
    }

    #[test]
    fn sigv4a_with_region_set() {
        let auth = build(LATTICE, |c| c.sigv4a = Some(true)).unwrap();
        let sig = sigv4(&auth);
        assert_eq!(sig.algorithm, Algorithm::V4a);
        assert_eq!(&*sig.region_set, "*");
        // A region set implies SigV4A, unless told otherwise; no region needed.
        let auth = build("https://rpc.mycorp.example/", |c| {
            c.target = Some(Target::VpcLattice);
            c.region_set = Some("us-east-1,us-west-2".into());
        })
        .unwrap();
        assert_eq!(sigv4(&auth).algorithm, Algorithm::V4a);
        assert_eq!(&*sigv4(&auth).region_set, "us-east-1,us-west-2");
        // A region set with SigV4A turned off would be ignored: a conflict.
        let err = build(LATTICE, |c| {
            c.region_set = Some("us-*".into());
            c.sigv4a = Some(false);
        })
        .unwrap_err();
        assert!(
            matches!(err, AmbError::Config(ConfigError::RegionSetWithoutSigV4a)),
            "{err}"
        );
        for bad in [
            "",
            "us-east-1, us-west-2",
            "us-east-1,",
            "US-EAST-1",
            "a\nb",
        ] {
            let err = build(LATTICE, |c| c.region_set = Some(bad.into())).unwrap_err();
            assert!(
                matches!(err, AmbError::Config(ConfigError::InvalidRegionSet { .. })),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn billing_tokens_conflict_with_sigv4_settings() {
        let url =
            "https://mainnet.polygon.managedblockchain.us-east-1.amazonaws.com/?billingtoken=tok";
        for (set, name) in [
            (
                (|c: &mut AuthConfig| c.sigv4a = Some(true)) as fn(&mut AuthConfig),
                ".sigv4a(..)",
            ),
            (|c| c.unsigned_payload = Some(true), ".unsigned_payload(..)"),
            (|c| c.region_set = Some("*".into()), ".region_set(..)"),
        ] {
            let err = build(url, set).unwrap_err();
            assert!(
                matches!(err, AmbError::Config(ConfigError::TokenAndSigV4 { setting }) if setting == name),
                "{err}"
            );
            assert!(!err.to_string().contains("tok&") && !err.to_string().contains("=tok"));
        }
        assert!(build(url, |_| {}).unwrap().is_token());
    }

    #[test]
    fn unknown_hosts_need_to_be_told_how_to_authenticate() {
        let err = build("https://eth-mainnet.g.alchemy.com/v2/SECRETKEY", |_| {}).unwrap_err();
        let AmbError::Config(ConfigError::NoAuthForHost { host }) = &err else {
            panic!("{err}");
        };
        assert_eq!(host, "eth-mainnet.g.alchemy.com");
        let text = err.to_string();
        for choice in [
            ".service(",
            ".bearer_token(",
            ".header(",
            ".basic_auth(",
            ".no_auth()",
        ] {
            assert!(text.contains(choice), "{text}");
        }
        assert!(!text.contains("SECRETKEY"), "{text}");
        // `.target(Other)` says nothing more than the host.
        assert!(matches!(
            build("https://rpc.mycorp.example/", |c| c.target =
                Some(Target::Other)),
            Err(AmbError::Config(ConfigError::NoAuthForHost { .. }))
        ));
        // A service or an AWS target says SigV4.
        for set in [
            (|c: &mut AuthConfig| c.service = Some("execute-api".into())) as fn(&mut AuthConfig),
            |c| c.target = Some(Target::ApiGateway),
        ] {
            assert!(matches!(
                build("https://rpc.mycorp.example/", set),
                Ok(Auth::SigV4(_))
            ));
        }
        // Nothing else does on a host that names no service: not a region left set after a
        // move to a provider (no AWS signature or session token goes to it), not a setting
        // turned off, and not credentials or SigV4A without a service to sign for.
        for set in [
            (|c: &mut AuthConfig| c.region = Some("us-east-1".into())) as fn(&mut AuthConfig),
            |c| c.sigv4a = Some(false),
            |c| c.unsigned_payload = Some(false),
            |c| c.credentials = Some(creds()),
            |c| c.sigv4a = Some(true),
            |c| c.unsigned_payload = Some(true),
        ] {
            assert!(matches!(
                build("https://eth-mainnet.g.alchemy.com/v2/KEY", set),
                Err(AmbError::Config(ConfigError::NoAuthForHost { .. }))
            ));
        }
        // Loopback is the emulator: SigV4 for AMB as before.
        let auth = build("http://127.0.0.1:8545/", |_| {}).unwrap();
        assert_eq!(&*sigv4(&auth).service, "managedblockchain");
    }

    /// SigV4A needs no region: signing does not look one up (which would fail here, with no
    /// region anywhere) and the scope carries no region.
    #[tokio::test]
    async fn sigv4a_signs_without_a_region() {
        let mut endpoint = Endpoint::parse("https://rpc.mycorp.example/").unwrap();
        let auth = AuthConfig {
            target: Some(Target::VpcLattice),
            sigv4a: Some(true),
            credentials: Some(creds()),
            ..AuthConfig::default()
        }
        .build(&mut endpoint)
        .unwrap();
        let req = ToSign {
            method: "POST",
            headers: &[("content-type", "application/json")],
            body: b"{}",
        };
        let signed = auth.authorize(&endpoint, req).await.unwrap();
        let header = |name: &str| {
            signed
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("x-amz-region-set"), Some("*"));
        assert_eq!(header("x-amz-content-sha256"), Some("UNSIGNED-PAYLOAD"));
        let authorization = header("authorization").unwrap();
        assert!(
            authorization.starts_with("AWS4-ECDSA-P256-SHA256 Credential=AKID/")
                && authorization.contains("/vpc-lattice-svcs/aws4_request, SignedHeaders=")
                && authorization.contains("x-amz-region-set"),
            "{authorization}"
        );
        // The DER signature is withheld like SigV4's.
        let signature = authorization.rsplit_once("Signature=").unwrap().1;
        assert!(signature.len() > 64);
        let text = format!("error from gateway: {signature}");
        assert!(!crate::redact::withhold(&text, &signed.known()).contains(signature));
    }

    /// A value given as a header name by mistake (a JWT) never shows in `Debug`.
    #[test]
    fn debug_withholds_a_header_name_that_is_not_one() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl";
        let config = AuthConfig {
            headers: vec![
                (jwt.to_owned(), Secret::new("x-token".to_owned())),
                (
                    "x-token".to_owned(),
                    Secret::new("SECRETVALUE123".to_owned()),
                ),
            ],
            ..AuthConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains(jwt), "{shown}");
        assert!(!shown.contains("SECRETVALUE123"), "{shown}");
        assert!(shown.contains("x-token"), "{shown}");
    }
}
