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
//! Whatever the source, credentials are cached and refreshed by the [`RefreshPolicy`]:
//!
//! - in the *advisory* window before expiry (default 5 minutes), the cached credentials are
//!   still served at once while one background refresh runs; if it fails, a warning is logged
//!   and the still-valid credentials keep serving;
//! - in the *mandatory* window (default 1 minute), callers wait for the refresh: one fetch,
//!   whose result all of them get; if it fails, they get the error;
//! - the windows shrink with the credentials' lifetime (at most a third and a sixth of it), so
//!   keys that live seconds are used for most of their life, not fetched on every request; a
//!   warning is logged once when keys live less than twice the advisory window;
//! - credentials known to have expired are never handed out. Expiry is judged on AWS's
//!   clock as the transports learned it from the gateway's `Date` header (the clock signing
//!   uses), so a machine whose clock is off still uses its keys for their whole life. Before
//!   any `Date` is known (a cold start), keys that look expired on arrival are served
//!   provisionally, with a warning once that this clock looks off; the gateway's first answer
//!   teaches its clock, and from then on keys expired on it are dropped and the error says the
//!   source handed out stale credentials.
//!
//! **One fetch at a time.** A fetch runs in a task of its own; every caller that needs it
//! waits for that one, each bounded by its own timeout (the transport's), and a caller giving up
//! neither cancels nor restarts it: a hung source (a `credential_process` that never answers)
//! is one fetch, one process, however many requests time out.
//!
//! **Backoff.** After a failed fetch the source is not asked again for
//! [`RefreshPolicy::retry_interval`] (default 2 s), doubling with each failure in a row up to
//! [`RefreshPolicy::max_retry_interval`] (default 1 minute), with jitter: a failing source is
//! asked a handful of times in the first minute and then once a minute, however many callers.
//! Meanwhile callers that need a fetch get the last error at once, as
//! [`AmbError::CredentialsBackoff`] (which says when the next attempt is).
//!
//! (`aws-smithy-runtime`'s `ExpiringCache` runs the load in the caller's future, so a caller's
//! timeout abandons it and the next caller starts another, and it has no backoff: hence this
//! small state machine, `refresh.rs`, tested without I/O.)
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

mod clock;
mod refresh;
mod sources;

use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aws_config::provider_config::ProviderConfig;
use aws_config::Region;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource, TimeSource};
use futures::future::{BoxFuture, FutureExt, Shared};
use tokio::sync::OnceCell;

use crate::error::AmbError;
pub(crate) use clock::ClockSkew;
pub use refresh::RefreshPolicy;
use refresh::{Decision, Failure, Landed, State};
use sources::{ExplainedProfile, ReportingChain};

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
    /// AWS's clock as the transports learned it: expiries are judged on it.
    skew: Arc<ClockSkew>,
    cache: Mutex<Cache>,
    fetches: AtomicU64,
    /// Draws the backoff jitter.
    random: RandomState,
}

/// The one fetch in flight, run in its own task: callers join it and may give up waiting (their
/// timeout) without abandoning it.
type Flight = Shared<BoxFuture<'static, Result<Credentials, Failure>>>;

#[derive(Default)]
struct Cache {
    state: State,
    flight: Option<Flight>,
}

/// Builds an [`AmbCredentials`] from any [`ProvideCredentials`]. See [`AmbCredentials::builder`].
#[must_use]
pub struct AmbCredentialsBuilder {
    name: Cow<'static, str>,
    source: Source,
    policy: RefreshPolicy,
    time: SharedTimeSource,
    skew: Arc<ClockSkew>,
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
                cache: Mutex::default(),
                policy: self.policy,
                time: self.time,
                skew: self.skew,
                fetches: AtomicU64::new(0),
                random: RandomState::new(),
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
            skew: Arc::default(),
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
        Self::lazy_builder(name, make).build()
    }

    fn lazy_builder<F, Fut>(name: &'static str, make: F) -> AmbCredentialsBuilder
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = SharedCredentialsProvider> + Send + 'static,
    {
        let make: MakeProvider = Arc::new(move || Box::pin(make()));
        Self::builder_for(name, Source::Lazy(make, OnceCell::new()))
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
                SharedCredentialsProvider::new(ExplainedProfile::new(
                    aws_config::profile::ProfileFileCredentialsProvider::builder()
                        .configure(&conf)
                        .profile_name(&name)
                        .build(),
                    Some(name),
                ))
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
    /// Both judge expiry on the same learned clock (the base's keys are AWS's too).
    pub fn assume_role(role: AssumeRole, base: AmbCredentials) -> Self {
        let skew = base.clock_skew();
        let mut builder = Self::lazy_builder("assume role", move || {
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
        });
        builder.skew = skew;
        builder.build()
    }

    /// The same source with another refresh policy (and an empty cache of its own; the
    /// learned clock stays shared).
    pub fn with_refresh_policy(self, policy: RefreshPolicy) -> Self {
        self.rebuild(|b| b.refresh_policy(policy))
    }

    /// The same source measured on another clock (and an empty cache of its own; the learned
    /// skew stays shared). For tests.
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
            skew: inner.skew.clone(),
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

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.inner.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Current credentials: cached; refreshed in the background in the advisory window; in the
    /// mandatory window or when none are cached, fetched once for all concurrent callers, in a
    /// task of its own that a caller giving up does not cancel. After a failure the source is
    /// not asked again before its backoff ends: callers get the last error at once.
    pub async fn credentials(&self) -> Result<Credentials, AmbError> {
        let flight = {
            let local = self.inner.time.now();
            let aws = self.inner.skew.correct(local);
            let mut cache = self.cache();
            let learned = self.inner.skew.learned().is_some();
            match cache.state.decide(local, aws, learned) {
                Decision::Serve(creds) => return Ok(creds),
                Decision::ServeAndRefresh(creds) => {
                    self.start(&mut cache, local);
                    return Ok(creds);
                }
                Decision::Fetch => self.start(&mut cache, local),
                Decision::Join => cache.flight.clone(),
                Decision::BackingOff {
                    failure,
                    failures,
                    retry_in,
                } => {
                    return Err(AmbError::CredentialsBackoff {
                        message: self.message(&failure),
                        failures,
                        // Whole milliseconds, rounded up: `7.652s`, not `7.65135296s`.
                        retry_in: Duration::from_millis(
                            retry_in.as_nanos().div_ceil(1_000_000) as u64
                        ),
                    });
                }
            }
        };
        let result = match flight {
            Some(flight) => flight.await,
            // Outside a tokio runtime: fetched by this caller.
            None => {
                let result = self.fetch().await;
                self.land(result)
            }
        };
        result.map_err(|failure| AmbError::credentials(self.message(&failure)))
    }

    /// Starts the one fetch in its own task (when there is a tokio runtime to run it).
    fn start(&self, cache: &mut Cache, local: std::time::SystemTime) -> Option<Flight> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let this = self.clone();
        let task = runtime.spawn(async move {
            // A source that panics, or a runtime that shuts down mid-fetch, still lands a
            // failure: the state never stays "fetching" with nobody fetching.
            let mut unlanded = LandOnDrop(Some(this.clone()));
            let result = this.fetch().await;
            unlanded.0 = None;
            this.land(result)
        });
        let flight = async move {
            task.await.unwrap_or_else(|e| {
                Err(Failure::new(format!(
                    "the fetch ended without an answer (the source panicked, or its runtime shut \
                     down): {e}"
                )))
            })
        }
        .boxed()
        .shared();
        cache.state.started(local);
        cache.flight = Some(flight.clone());
        Some(flight)
    }

    /// Records a finished fetch; logs what deserves it (never while the cache is locked).
    fn land(&self, result: Result<Credentials, Failure>) -> Result<Credentials, Failure> {
        let local = self.inner.time.now();
        let aws = self.inner.skew.correct(local);
        let jitter = self.inner.random.hash_one(self.fetch_count()) as f64 / u64::MAX as f64;
        let landed = {
            let mut cache = self.cache();
            cache.flight = None;
            cache.state.land(
                result,
                local,
                aws,
                self.inner.skew.learned(),
                &self.inner.policy,
                jitter,
            )
        };
        match landed {
            Landed::Fresh {
                creds,
                warn_short,
                warn_clock,
            } => {
                tracing::debug!(
                    source = %self.inner.name,
                    provider = creds_provider_name(&creds),
                    access_key_id = %mask(creds.access_key_id()),
                    expires_in = ?creds.expiry().and_then(|e| e.duration_since(aws).ok()),
                    "fetched AWS credentials"
                );
                if let Some((lifetime, windows)) = warn_short {
                    tracing::warn!(
                        source = %self.inner.name,
                        lifetime = ?lifetime,
                        advisory = ?windows.advisory,
                        mandatory = ?windows.mandatory,
                        policy = ?self.inner.policy,
                        "AWS credentials live only {}, less than twice the refresh policy's advisory window: refreshing {} before expiry instead (logged once); ask the source for longer-lived credentials",
                        refresh::human(lifetime),
                        refresh::human(windows.advisory),
                    );
                }
                if let Some(ago) = warn_clock {
                    let ago = refresh::human(Duration::from_secs(ago.as_secs()));
                    tracing::warn!(
                        source = %self.inner.name,
                        access_key_id = %mask(creds.access_key_id()),
                        "AWS credentials arrived already expired by {ago} on this machine's clock: this machine's clock looks ahead of AWS's by at least {ago} (synchronise it: NTP/chrony), unless the source handed out stale keys. They are used provisionally; the gateway's clock is learned from its first answer, and expiry is judged on it from then on (logged once)",
                    );
                }
                Ok(creds)
            }
            Landed::Failed {
                failure,
                failures,
                retry_in,
            } => {
                let still_valid = self.cache().state.serving(aws);
                tracing::warn!(
                    source = %self.inner.name,
                    error = %failure.0,
                    failures,
                    retry_in = ?retry_in,
                    "fetching AWS credentials failed; {}",
                    if still_valid {
                        "the current credentials stay in use until the mandatory refresh window"
                    } else {
                        "requests fail at once until the next attempt"
                    }
                );
                Err(failure)
            }
        }
    }

    /// `<source> credentials: <why>`.
    fn message(&self, failure: &Failure) -> String {
        format!("{} credentials: {}", self.inner.name, failure.0)
    }

    /// How long the fetch in flight has been running, if one is (for timeout messages).
    pub(crate) fn fetching_for(&self) -> Option<Duration> {
        let local = self.inner.time.now();
        let running = self.cache().state.fetching_for(local)?;
        Some(Duration::from_millis(running.as_millis() as u64))
    }

    /// The gateway's clock as learned by the transports signing with these credentials; the
    /// cache judges expiry on it.
    pub(crate) fn clock_skew(&self) -> Arc<ClockSkew> {
        self.inner.skew.clone()
    }

    /// Drops `stale` from the cache (when AMB says they are expired or unknown), so the next
    /// call fetches anew. Newer credentials already cached are kept.
    pub async fn invalidate(&self, stale: &Credentials) {
        if self.cache().state.invalidate(stale) {
            tracing::debug!(source = %self.inner.name, access_key_id = %mask(stale.access_key_id()), "invalidated cached AWS credentials");
        }
    }

    async fn fetch(&self) -> Result<Credentials, Failure> {
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        let provider = self.provider().await;
        provider
            .provide_credentials()
            .await
            .map_err(|e| Failure::new(crate::redact::withhold_unknown(&sources::describe(&e))))
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
                .map_err(|e| CredentialsError::provider_error(BaseFailed::from(e)))
        })
    }
}

/// Lands a failure for a fetch task that ends without landing (its source panicked, or the
/// runtime dropped it).
struct LandOnDrop(Option<AmbCredentials>);

impl Drop for LandOnDrop {
    fn drop(&mut self) {
        if let Some(this) = self.0.take() {
            let _ = this.land(Err(Failure::new(
                "the fetch ended without an answer (the source panicked, or its runtime shut down)",
            )));
        }
    }
}

/// Why an [`AmbCredentials`] gave nothing, for a layer on top of it (an AssumeRole over it): the
/// reason only, without what to check, which the layer's own error says (once).
#[derive(Debug)]
struct BaseFailed(String);

impl From<AmbError> for BaseFailed {
    fn from(err: AmbError) -> Self {
        Self(match err {
            AmbError::Credentials { message } => message,
            AmbError::CredentialsBackoff {
                message,
                failures,
                retry_in,
            } => format!(
                "{message} ({failures} failed attempts in a row; asked again in {})",
                refresh::human(retry_in)
            ),
            other => other.to_string(),
        })
    }
}

impl fmt::Display for BaseFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BaseFailed {}

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

/// Masks an access key id for display: `AKIAIOSFODNN7EXAMPLE` → `AKIA…MPLE` (`****` when too
/// short to mask).
pub(crate) fn mask(access_key_id: &str) -> String {
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
pub(crate) fn flatten(err: &(dyn std::error::Error + 'static)) -> String {
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

    #[test]
    fn an_assumed_role_judges_expiry_on_its_base_clock() {
        let base = AmbCredentials::from_static("AKIDEXAMPLE1234", "s", None);
        let role =
            AmbCredentials::assume_role(AssumeRole::new("arn:aws:iam::1:role/r"), base.clone());
        role.clock_skew().set(-1_200_000);
        assert_eq!(base.clock_skew().learned(), Some(-1_200_000));
        let policy = role.with_refresh_policy(RefreshPolicy::default());
        assert!(Arc::ptr_eq(&policy.clock_skew(), &base.clock_skew()));
    }

    #[derive(Debug)]
    struct PanicsOnce(AtomicU64);

    impl ProvideCredentials for PanicsOnce {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            future::ProvideCredentials::new(async move {
                if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("the vault client panicked");
                }
                Ok(Credentials::new(
                    "AKIDEXAMPLE1234",
                    "s",
                    None,
                    None,
                    "vault",
                ))
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_source_is_a_failure_and_is_asked_again_after_the_backoff() {
        /// The cache's clock follows tokio's paused clock.
        #[derive(Debug)]
        struct Paused(std::time::SystemTime, tokio::time::Instant);
        impl TimeSource for Paused {
            fn now(&self) -> std::time::SystemTime {
                self.0 + self.1.elapsed()
            }
        }
        let creds = AmbCredentials::builder(PanicsOnce(AtomicU64::new(0)))
            .time_source(Paused(
                std::time::SystemTime::now(),
                tokio::time::Instant::now(),
            ))
            .build();
        let err = creds.credentials().await.unwrap_err().to_string();
        assert!(err.contains("panicked"), "{err}");
        // Not stuck "fetching": the backoff, then a new fetch.
        assert!(matches!(
            creds.credentials().await,
            Err(AmbError::CredentialsBackoff { .. })
        ));
        tokio::time::advance(RefreshPolicy::default().max_retry_interval).await;
        assert!(creds.credentials().await.is_ok());
        assert_eq!(creds.fetch_count(), 2);
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
