//! AWS credentials for signing: the AWS CLI's sources, cached, refreshed before they expire.
//!
//! [`AmbCredentials`] is the one type the transports take. Every source comes from `aws-config`
//! / `aws-credential-types` (this crate has no IMDS, STS or profile code of its own):
//!
//! | constructor | source |
//! | --- | --- |
//! | [`AmbCredentials::default_chain`] | environment → profile → web identity → ECS → IMDS, like the AWS CLI |
//! | [`AmbCredentials::from_env`] | `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` |
//! | [`AmbCredentials::profile`] | a named profile: config/credentials files, `source_profile` + `role_arn`, `credential_process` and SSO (features `credentials-process`, `sso`) |
//! | [`AmbCredentials::imds`] | the EC2 instance role over IMDSv2 |
//! | [`AmbCredentials::ecs`] | the ECS/EKS Pod Identity container credentials endpoint |
//! | [`AmbCredentials::web_identity`] | `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` (EKS IRSA) |
//! | [`AmbCredentials::assume_role`] | STS AssumeRole on top of any other `AmbCredentials` |
//! | [`AmbCredentials::from_static`] | fixed keys |
//! | [`AmbCredentials::from_provider`] | your own [`ProvideCredentials`] |
//!
//! Whatever the source, credentials are cached with `aws-smithy-runtime`'s [`ExpiringCache`]
//! (concurrent loads are one load) and refreshed by the [`RefreshPolicy`]:
//!
//! - in the *advisory* window before expiry (default 5 minutes), the cached credentials are
//!   still served at once while one background refresh runs; if it fails, a warning is logged
//!   and the still-valid credentials keep serving;
//! - in the *mandatory* window (default 1 minute), callers wait for the refresh: one fetch,
//!   whose result all of them get; if it fails, they get the error;
//! - credentials that have already expired are never handed out.
//!
//! ```
//! use alloy_amb::credentials::{AmbCredentials, RefreshPolicy};
//! use aws_credential_types::provider::{future, ProvideCredentials};
//! use aws_credential_types::Credentials;
//!
//! // A custom source: anything implementing `ProvideCredentials`.
//! #[derive(Debug)]
//! struct FromMyVault;
//! impl ProvideCredentials for FromMyVault {
//!     fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
//!     where
//!         Self: 'a,
//!     {
//!         future::ProvideCredentials::new(async {
//!             // ... fetch from your secret store ...
//!             Ok(Credentials::new("AKID", "SECRET", None, None, "my-vault"))
//!         })
//!     }
//! }
//! let creds = AmbCredentials::builder(FromMyVault)
//!     .name("my-vault")
//!     .refresh_policy(RefreshPolicy::default())
//!     .build();
//! # let _ = creds;
//! ```

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::provider_config::ProviderConfig;
use aws_config::Region;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource, TimeSource};
use aws_smithy_runtime::expiring_cache::ExpiringCache;
use tokio::sync::OnceCell;

use crate::error::AmbError;

/// Credentials that never expire are cached until this far in the future.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// When cached credentials are refreshed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshPolicy {
    /// How long before expiry a background refresh starts while the current credentials keep
    /// serving (default 5 minutes, as the AWS SDK for Java's prefetch time).
    pub advisory: Duration,
    /// How long before expiry callers stop using the current credentials and wait for fresh
    /// ones (default 1 minute, as the AWS SDK for Java's stale time).
    pub mandatory: Duration,
    /// The least time between two background refresh attempts, so that a failing source is
    /// not asked on every request (default 10 seconds).
    pub retry_interval: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            advisory: Duration::from_secs(5 * 60),
            mandatory: Duration::from_secs(60),
            retry_interval: Duration::from_secs(10),
        }
    }
}

impl RefreshPolicy {
    /// A policy with these windows (`advisory` is raised to `mandatory` if smaller).
    pub fn new(advisory: Duration, mandatory: Duration) -> Self {
        Self {
            advisory: advisory.max(mandatory),
            mandatory,
            ..Self::default()
        }
    }

    /// Sets the least time between two background refresh attempts.
    pub fn with_retry_interval(mut self, retry_interval: Duration) -> Self {
        self.retry_interval = retry_interval;
        self
    }
}

/// STS AssumeRole parameters for [`AmbCredentials::assume_role`].
#[derive(Clone, Debug)]
#[must_use]
pub struct AssumeRole {
    role_arn: String,
    session_name: Option<String>,
    external_id: Option<String>,
    duration: Option<Duration>,
    region: Option<String>,
    sts_endpoint: Option<String>,
}

impl AssumeRole {
    /// Assume `role_arn` (e.g. `arn:aws:iam::123456789012:role/amb-reader`).
    pub fn new(role_arn: impl Into<String>) -> Self {
        Self {
            role_arn: role_arn.into(),
            session_name: None,
            external_id: None,
            duration: None,
            region: None,
            sts_endpoint: None,
        }
    }

    /// The role session name (default: generated by aws-config).
    pub fn session_name(mut self, name: impl Into<String>) -> Self {
        self.session_name = Some(name.into());
        self
    }

    /// The external id the role's trust policy requires.
    pub fn external_id(mut self, id: impl Into<String>) -> Self {
        self.external_id = Some(id.into());
        self
    }

    /// How long the assumed credentials last (STS default: 1 hour).
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// The region of the STS endpoint (default: the AWS region chain).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// A custom STS endpoint (a VPC endpoint, or a test server). `AWS_ENDPOINT_URL_STS` is
    /// honoured too.
    pub fn sts_endpoint(mut self, url: impl Into<String>) -> Self {
        self.sts_endpoint = Some(url.into());
        self
    }
}

type ProviderFuture = Pin<Box<dyn Future<Output = SharedCredentialsProvider> + Send>>;
type MakeProvider = Arc<dyn Fn() -> ProviderFuture + Send + Sync>;

#[derive(Clone)]
enum Source {
    Ready(SharedCredentialsProvider),
    /// Built on first use (the default chain and AssumeRole need async set-up).
    Lazy(MakeProvider, OnceCell<SharedCredentialsProvider>),
}

/// A cached, refreshing, shareable source of AWS credentials for the transports.
///
/// Cloning is cheap and clones share the cache. `Debug` shows the source's name only. It is a
/// [`ProvideCredentials`] itself, so it can be the base of an [`AssumeRole`].
#[derive(Clone)]
pub struct AmbCredentials {
    inner: Arc<Inner>,
}

struct Inner {
    name: Cow<'static, str>,
    source: Source,
    policy: RefreshPolicy,
    time: SharedTimeSource,
    /// The cache; replaced whole when a background refresh lands or credentials are invalidated.
    cache: RwLock<ExpiringCache<Credentials, CredentialsError>>,
    refreshing: AtomicBool,
    /// Unix millis before which no background refresh starts.
    next_background_attempt: AtomicU64,
    fetches: AtomicU64,
}

/// Builds an [`AmbCredentials`] from any [`ProvideCredentials`]. See [`AmbCredentials::builder`].
#[must_use]
pub struct AmbCredentialsBuilder {
    name: Cow<'static, str>,
    source: Source,
    policy: RefreshPolicy,
    time: SharedTimeSource,
}

impl AmbCredentialsBuilder {
    /// The source's name in logs and errors.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// When to refresh (default: [`RefreshPolicy::default`]).
    pub fn refresh_policy(mut self, policy: RefreshPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The clock the refresh windows are measured on (default: the system clock). For tests.
    pub fn time_source(mut self, time: impl TimeSource + 'static) -> Self {
        self.time = SharedTimeSource::new(time);
        self
    }

    /// Builds the cached credentials.
    pub fn build(self) -> AmbCredentials {
        AmbCredentials {
            inner: Arc::new(Inner {
                name: self.name,
                source: self.source,
                cache: RwLock::new(ExpiringCache::new(self.policy.mandatory)),
                policy: self.policy,
                time: self.time,
                refreshing: AtomicBool::new(false),
                next_background_attempt: AtomicU64::new(0),
                fetches: AtomicU64::new(0),
            }),
        }
    }
}

impl AmbCredentials {
    /// A builder over any [`ProvideCredentials`], to set its name, refresh policy or clock.
    pub fn builder(provider: impl ProvideCredentials + 'static) -> AmbCredentialsBuilder {
        Self::builder_for(
            "custom",
            Source::Ready(SharedCredentialsProvider::new(provider)),
        )
    }

    fn builder_for(name: &'static str, source: Source) -> AmbCredentialsBuilder {
        AmbCredentialsBuilder {
            name: Cow::Borrowed(name),
            source,
            policy: RefreshPolicy::default(),
            time: SharedTimeSource::new(SystemTimeSource::new()),
        }
    }

    fn ready(name: &'static str, provider: impl ProvideCredentials + 'static) -> Self {
        Self::builder_for(
            name,
            Source::Ready(SharedCredentialsProvider::new(provider)),
        )
        .build()
    }

    fn lazy<F, Fut>(name: &'static str, make: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = SharedCredentialsProvider> + Send + 'static,
    {
        let make: MakeProvider = Arc::new(move || Box::pin(make()));
        Self::builder_for(name, Source::Lazy(make, OnceCell::new())).build()
    }

    /// Any credentials provider: static [`Credentials`], an `aws-config` provider, or your own
    /// type implementing [`ProvideCredentials`].
    pub fn from_provider(provider: impl ProvideCredentials + 'static) -> Self {
        Self::builder(provider).build()
    }

    /// Fixed keys (and session token, for temporary keys).
    pub fn from_static(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        Self::ready(
            "static",
            Credentials::new(
                access_key_id,
                secret_access_key,
                session_token,
                None,
                "static",
            ),
        )
    }

    /// The standard chain, in the AWS CLI's order: environment, profile (`AWS_PROFILE` or
    /// `default`), web identity, ECS container credentials, EC2 instance metadata. Built on first
    /// use. If none gives credentials, the error lists each source and why it gave none.
    pub fn default_chain() -> Self {
        Self::default_chain_in(None)
    }

    /// The standard chain, with the region its STS/SSO calls use when none is configured.
    pub(crate) fn default_chain_in(region: Option<String>) -> Self {
        Self::lazy("default chain", move || {
            let region = region.clone();
            async move {
                let conf = provider_config(region).await;
                SharedCredentialsProvider::new(ReportingChain::standard(&conf))
            }
        })
    }

    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
    pub fn from_env() -> Self {
        Self::ready(
            "environment",
            aws_config::environment::credentials::EnvironmentVariableCredentialsProvider::new(),
        )
    }

    /// A named profile from `~/.aws/config` and `~/.aws/credentials` (or `AWS_CONFIG_FILE` /
    /// `AWS_SHARED_CREDENTIALS_FILE`), with everything aws-config supports there:
    /// `source_profile` + `role_arn` chains, `credential_process` (feature `credentials-process`),
    /// SSO (feature `sso`), web identity. Both features are on by default; without one, such a
    /// profile fails with aws-config's error naming the feature.
    pub fn profile(name: impl Into<String>) -> Self {
        let name = name.into();
        Self::lazy("profile", move || {
            let name = name.clone();
            async move {
                // The region for the profile's own STS/SSO calls: that profile's region, else the
                // rest of the region chain, else us-east-1 (STS's global region).
                let region = aws_config::default_provider::region::DefaultRegionChain::builder()
                    .profile_name(&name)
                    .build()
                    .region()
                    .await
                    .unwrap_or_else(|| Region::from_static("us-east-1"));
                let conf = ProviderConfig::without_region().with_region(Some(region));
                SharedCredentialsProvider::new(
                    aws_config::profile::ProfileFileCredentialsProvider::builder()
                        .configure(&conf)
                        .profile_name(name)
                        .build(),
                )
            }
        })
    }

    /// The EC2 instance role, over IMDSv2 (honours `AWS_EC2_METADATA_SERVICE_ENDPOINT` and
    /// `AWS_EC2_METADATA_DISABLED`).
    pub fn imds() -> Self {
        Self::ready(
            "imds",
            aws_config::imds::credentials::ImdsCredentialsProvider::builder().build(),
        )
    }

    /// The EC2 instance role through this IMDS client (custom endpoint, timeouts, retries).
    pub fn imds_with_client(client: aws_config::imds::Client) -> Self {
        Self::ready(
            "imds",
            aws_config::imds::credentials::ImdsCredentialsProvider::builder()
                .imds_client(client)
                .build(),
        )
    }

    /// ECS task role / EKS Pod Identity (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI`).
    pub fn ecs() -> Self {
        Self::ready(
            "ecs",
            aws_config::ecs::EcsCredentialsProvider::builder().build(),
        )
    }

    /// Web identity federation (EKS IRSA): `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`,
    /// `AWS_ROLE_SESSION_NAME`.
    pub fn web_identity() -> Self {
        Self::lazy("web identity", || async {
            let conf = provider_config(None).await;
            SharedCredentialsProvider::new(
                aws_config::web_identity_token::WebIdentityTokenCredentialsProvider::builder()
                    .configure(&conf)
                    .build(),
            )
        })
    }

    /// STS AssumeRole, signed with `base` credentials; the assumed credentials are cached and
    /// refreshed like any other.
    pub fn assume_role(role: AssumeRole, base: AmbCredentials) -> Self {
        Self::lazy("assume role", move || {
            let role = role.clone();
            let base = base.clone();
            async move {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .credentials_provider(base);
                if let Some(region) = &role.region {
                    loader = loader.region(Region::new(region.clone()));
                }
                if let Some(url) = &role.sts_endpoint {
                    loader = loader.endpoint_url(url.clone());
                }
                let conf = loader.load().await;
                let mut builder =
                    aws_config::sts::AssumeRoleProvider::builder(role.role_arn).configure(&conf);
                if let Some(name) = role.session_name {
                    builder = builder.session_name(name);
                }
                if let Some(id) = role.external_id {
                    builder = builder.external_id(id);
                }
                if let Some(d) = role.duration {
                    builder = builder.session_length(d);
                }
                SharedCredentialsProvider::new(builder.build().await)
            }
        })
    }

    /// The same source with another refresh policy (and an empty cache of its own).
    pub fn with_refresh_policy(self, policy: RefreshPolicy) -> Self {
        self.rebuild(|b| b.refresh_policy(policy))
    }

    /// The same source measured on another clock (and an empty cache of its own). For tests.
    pub fn with_time_source(self, time: impl TimeSource + 'static) -> Self {
        self.rebuild(|b| b.time_source(time))
    }

    fn rebuild(self, f: impl FnOnce(AmbCredentialsBuilder) -> AmbCredentialsBuilder) -> Self {
        let inner = &self.inner;
        f(AmbCredentialsBuilder {
            name: inner.name.clone(),
            source: inner.source.clone(),
            policy: inner.policy,
            time: inner.time.clone(),
        })
        .build()
    }

    /// The source's name (`environment`, `profile`, `imds`, `assume role`, ...).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The refresh policy in force.
    pub fn refresh_policy(&self) -> RefreshPolicy {
        self.inner.policy
    }

    /// How many times the underlying source was asked for credentials.
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    fn cache(&self) -> ExpiringCache<Credentials, CredentialsError> {
        self.inner
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn replace_cache(&self, cache: ExpiringCache<Credentials, CredentialsError>) {
        *self.inner.cache.write().unwrap_or_else(|e| e.into_inner()) = cache;
    }

    /// Current credentials: cached; refreshed in the background in the advisory window; loaded
    /// once for all concurrent callers in the mandatory window or when none are cached.
    pub async fn credentials(&self) -> Result<Credentials, AmbError> {
        let now = self.inner.time.now();
        let cache = self.cache();
        if let Some(creds) = cache.yield_or_clear_if_expired(now).await {
            self.maybe_refresh_in_background(&creds, now);
            return Ok(creds);
        }
        cache
            .get_or_load(|| self.fetch())
            .await
            .map_err(|e| AmbError::Credentials {
                message: format!("{} credentials: {}", self.inner.name, flatten(&e)),
            })
    }

    /// Drops `stale` from the cache (when AMB says they are expired or unknown), so the next
    /// call fetches anew. Newer credentials already cached are kept.
    pub async fn invalidate(&self, stale: &Credentials) {
        let current = self
            .cache()
            .yield_or_clear_if_expired(self.inner.time.now())
            .await;
        let same = current.as_ref().is_none_or(|c| {
            c.access_key_id() == stale.access_key_id() && c.session_token() == stale.session_token()
        });
        if same {
            tracing::debug!(source = %self.inner.name, access_key_id = %mask(stale.access_key_id()), "invalidated cached AWS credentials");
            self.replace_cache(ExpiringCache::new(self.inner.policy.mandatory));
        }
    }

    fn maybe_refresh_in_background(&self, creds: &Credentials, now: SystemTime) {
        let Some(expiry) = creds.expiry() else {
            return;
        };
        let advisory_start = expiry
            .checked_sub(self.inner.policy.advisory)
            .unwrap_or(UNIX_EPOCH);
        if now < advisory_start {
            return;
        }
        let now_ms = millis(now);
        if now_ms < self.inner.next_background_attempt.load(Ordering::Acquire) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.inner.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        runtime.spawn(async move {
            match this.fetch().await {
                Ok(fresh) => {
                    let cache = ExpiringCache::new(this.inner.policy.mandatory);
                    let _ = cache.get_or_load(|| async { Ok(fresh) }).await;
                    this.replace_cache(cache);
                }
                Err(err) => tracing::warn!(
                    source = %this.inner.name,
                    error = %flatten(&err),
                    expires_in = ?expiry.duration_since(this.inner.time.now()).ok(),
                    "background refresh of AWS credentials failed; the current credentials stay in use until the mandatory refresh window"
                ),
            }
            let next = millis(this.inner.time.now() + this.inner.policy.retry_interval);
            this.inner
                .next_background_attempt
                .store(next, Ordering::Release);
            this.inner.refreshing.store(false, Ordering::Release);
        });
    }

    async fn fetch(&self) -> Result<(Credentials, SystemTime), CredentialsError> {
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        let provider = self.provider().await;
        let creds = provider.provide_credentials().await?;
        let now = self.inner.time.now();
        let expiry = match creds.expiry() {
            Some(e) if e <= now => {
                return Err(CredentialsError::provider_error(format!(
                    "the {} source returned credentials that expired {:?} ago",
                    self.inner.name,
                    now.duration_since(e).unwrap_or_default()
                )))
            }
            Some(e) => e,
            None => now + NEVER,
        };
        tracing::debug!(
            source = %self.inner.name,
            provider = creds_provider_name(&creds),
            access_key_id = %mask(creds.access_key_id()),
            expires_in = ?creds.expiry().and_then(|e| e.duration_since(now).ok()),
            "fetched AWS credentials"
        );
        Ok((creds, expiry))
    }

    async fn provider(&self) -> SharedCredentialsProvider {
        match &self.inner.source {
            Source::Ready(p) => p.clone(),
            Source::Lazy(make, cell) => cell.get_or_init(|| make()).await.clone(),
        }
    }
}

impl ProvideCredentials for AmbCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.credentials()
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}

async fn provider_config(region: Option<String>) -> ProviderConfig {
    match region {
        Some(r) => ProviderConfig::without_region().with_region(Some(Region::new(r))),
        None => ProviderConfig::with_default_region().await,
    }
}

fn creds_provider_name(creds: &Credentials) -> String {
    // `Credentials`' Debug starts with its provider name and never holds the secret.
    format!("{creds:?}")
        .split("provider_name: \"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("unknown")
        .to_owned()
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// aws-config's providers in the AWS CLI's order, remembering why each gave nothing.
#[derive(Debug)]
struct ReportingChain {
    sources: Vec<(&'static str, SharedCredentialsProvider)>,
}

impl ReportingChain {
    fn standard(conf: &ProviderConfig) -> Self {
        use aws_config::{ecs, environment, imds, profile, web_identity_token};
        Self {
            sources: vec![
                (
                    "environment",
                    SharedCredentialsProvider::new(
                        environment::credentials::EnvironmentVariableCredentialsProvider::new(),
                    ),
                ),
                (
                    "profile",
                    SharedCredentialsProvider::new(
                        profile::ProfileFileCredentialsProvider::builder()
                            .configure(conf)
                            .build(),
                    ),
                ),
                (
                    "web identity",
                    SharedCredentialsProvider::new(
                        web_identity_token::WebIdentityTokenCredentialsProvider::builder()
                            .configure(conf)
                            .build(),
                    ),
                ),
                (
                    "ecs",
                    SharedCredentialsProvider::new(
                        ecs::EcsCredentialsProvider::builder()
                            .configure(conf)
                            .build(),
                    ),
                ),
                (
                    "imds",
                    SharedCredentialsProvider::new(
                        imds::credentials::ImdsCredentialsProvider::builder()
                            .configure(conf)
                            .build(),
                    ),
                ),
            ],
        }
    }

    async fn resolve(&self) -> Result<Credentials, CredentialsError> {
        let mut tried = Vec::new();
        for (name, provider) in &self.sources {
            match provider.provide_credentials().await {
                Ok(creds) => {
                    tracing::debug!(source = name, "credential source answered");
                    return Ok(creds);
                }
                Err(e @ CredentialsError::CredentialsNotLoaded(_)) => {
                    tried.push(format!("{name}: {}", flatten(&e)));
                }
                Err(other) => {
                    return Err(CredentialsError::provider_error(format!(
                        "{name}: {}",
                        flatten(&other)
                    )))
                }
            }
        }
        Err(CredentialsError::not_loaded(format!(
            "no credentials in any source; tried {}",
            tried.join("; ")
        )))
    }
}

impl ProvideCredentials for ReportingChain {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.resolve())
    }
}

/// Masks an access key id for display: `AKIAIOSFODNN7EXAMPLE` → `AKIA…MPLE` (`****` when too
/// short to mask).
pub fn mask(access_key_id: &str) -> String {
    if access_key_id.len() <= 8 || !access_key_id.is_ascii() {
        return "****".into();
    }
    format!(
        "{}…{}",
        &access_key_id[..4],
        &access_key_id[access_key_id.len() - 4..]
    )
}

/// An error and its sources on one line (`a: b: c`), each source once.
pub fn flatten(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

impl fmt::Debug for AmbCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmbCredentials")
            .field("source", &self.inner.name)
            .field("policy", &self.inner.policy)
            .field("fetches", &self.fetch_count())
            .finish()
    }
}

impl fmt::Debug for AmbCredentialsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmbCredentialsBuilder")
            .field("name", &self.name)
            .field("policy", &self.policy)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_key_ids() {
        assert_eq!(mask("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(mask("short"), "****");
    }

    #[test]
    fn policy_keeps_advisory_at_least_mandatory() {
        let p = RefreshPolicy::new(Duration::from_secs(1), Duration::from_secs(5));
        assert_eq!(p.advisory, Duration::from_secs(5));
    }

    #[tokio::test]
    async fn caches_and_debug_hides_secrets() {
        let creds = AmbCredentials::from_static(
            "AKIDEXAMPLE1234",
            "TOPSECRETKEY",
            Some("SESSIONTOKEN".into()),
        );
        for _ in 0..10 {
            creds.credentials().await.unwrap();
        }
        assert_eq!(creds.fetch_count(), 1);
        let dbg = format!("{creds:?}");
        assert!(!dbg.contains("TOPSECRETKEY") && !dbg.contains("SESSIONTOKEN"));
    }

    #[tokio::test]
    async fn invalidate_forces_one_fetch() {
        let creds = AmbCredentials::from_static("AKIDEXAMPLE1234", "s", None);
        let c = creds.credentials().await.unwrap();
        creds.invalidate(&c).await;
        creds.credentials().await.unwrap();
        creds.credentials().await.unwrap();
        assert_eq!(creds.fetch_count(), 2);
    }
}
