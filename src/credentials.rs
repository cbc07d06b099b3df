//! AWS credentials for signing: any source, cached until shortly before expiry.
//!
//! [`AmbCredentials`] is what the transports take. It wraps any
//! [`ProvideCredentials`] (static keys, a
//! profile, IMDS, an assumed role, your own type) or the standard AWS chain from `aws-config`,
//! and caches what it returns with `aws-smithy-runtime`'s [`ExpiringCache`], which also makes
//! concurrent loads single-flight: in steady state, signing a request fetches nothing.
//!
//! ```
//! use alloy_amb::credentials::AmbCredentials;
//! use aws_credential_types::Credentials;
//!
//! // Static keys (tests, or keys injected by your own secret store):
//! let creds = AmbCredentials::from_provider(Credentials::new("AKID", "SECRET", None, None, "mine"));
//! // The standard chain: env, profile, SSO, web identity, ECS, IMDS (built lazily on first use):
//! let chain = AmbCredentials::default_chain();
//! # let _ = (creds, chain);
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_runtime::expiring_cache::ExpiringCache;
use tokio::sync::OnceCell;

use crate::error::AmbError;

/// How long before their expiry cached credentials are replaced.
pub const DEFAULT_REFRESH_BUFFER: Duration = Duration::from_secs(60);

/// Credentials that never expire are cached until this far in the future.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A cached, shareable source of AWS credentials for the transports.
///
/// Cloning is cheap and clones share the cache. `Debug` shows the source's name only.
#[derive(Clone)]
pub struct AmbCredentials {
    inner: Arc<Inner>,
}

struct Inner {
    source: Source,
    cache: ExpiringCache<Credentials, CredentialsError>,
    fetches: AtomicU64,
}

enum Source {
    Provider(SharedCredentialsProvider),
    DefaultChain {
        region: Option<String>,
        chain: OnceCell<SharedCredentialsProvider>,
    },
}

impl AmbCredentials {
    /// The standard AWS credential chain from `aws-config` (environment, profile, SSO, web
    /// identity, ECS, IMDS), built on first use.
    pub fn default_chain() -> Self {
        Self::from_source(Source::DefaultChain {
            region: None,
            chain: OnceCell::new(),
        })
    }

    /// The standard chain, with the region its STS/SSO calls use when no region is configured.
    pub(crate) fn default_chain_in(region: Option<String>) -> Self {
        Self::from_source(Source::DefaultChain {
            region,
            chain: OnceCell::new(),
        })
    }

    /// Any credentials provider: static [`Credentials`], an `aws-config` provider, or your own
    /// type implementing [`ProvideCredentials`].
    pub fn from_provider(provider: impl ProvideCredentials + 'static) -> Self {
        Self::from_source(Source::Provider(SharedCredentialsProvider::new(provider)))
    }

    fn from_source(source: Source) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                cache: ExpiringCache::new(DEFAULT_REFRESH_BUFFER),
                fetches: AtomicU64::new(0),
            }),
        }
    }

    /// How many times the underlying source was asked for credentials (cache misses).
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// Current credentials: cached, or loaded once for all concurrent callers.
    pub async fn credentials(&self) -> Result<Credentials, AmbError> {
        let now = SystemTime::now();
        if let Some(creds) = self.inner.cache.yield_or_clear_if_expired(now).await {
            return Ok(creds);
        }
        self.inner
            .cache
            .get_or_load(|| self.load())
            .await
            .map_err(|e| AmbError::Credentials {
                message: flatten(&e),
            })
    }

    async fn load(&self) -> Result<(Credentials, SystemTime), CredentialsError> {
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        let provider = self.provider().await;
        let creds = provider.provide_credentials().await?;
        let expiry = creds.expiry().unwrap_or_else(|| SystemTime::now() + NEVER);
        tracing::debug!(
            source = provider_name(&provider),
            access_key_id = %mask(creds.access_key_id()),
            expires_in = ?expiry.duration_since(SystemTime::now()).ok(),
            "loaded AWS credentials"
        );
        Ok((creds, expiry))
    }

    async fn provider(&self) -> SharedCredentialsProvider {
        match &self.inner.source {
            Source::Provider(p) => p.clone(),
            Source::DefaultChain { region, chain } => chain
                .get_or_init(|| async {
                    let mut builder =
                        aws_config::default_provider::credentials::DefaultCredentialsChain::builder(
                        );
                    if let Some(region) = region {
                        let fallback =
                            aws_config::meta::region::RegionProviderChain::default_provider()
                                .or_else(aws_config::Region::new(region.clone()));
                        builder = builder.region(fallback);
                    }
                    SharedCredentialsProvider::new(builder.build().await)
                })
                .await
                .clone(),
        }
    }
}

impl<T: ProvideCredentials + 'static> From<T> for AmbCredentials {
    fn from(provider: T) -> Self {
        Self::from_provider(provider)
    }
}

fn provider_name(provider: &SharedCredentialsProvider) -> String {
    // `Debug` of aws-config providers names the provider and never holds secrets; keep only the
    // type-ish prefix to be safe.
    let dbg = format!("{provider:?}");
    dbg.split(['(', '{', ' '])
        .next()
        .unwrap_or("provider")
        .to_owned()
}

/// Masks an access key id: `AKIA****************WXYZ` → `AKIA…WXYZ`.
pub(crate) fn mask(access_key_id: &str) -> String {
    if access_key_id.len() <= 8 {
        return "****".into();
    }
    format!(
        "{}…{}",
        &access_key_id[..4],
        &access_key_id[access_key_id.len() - 4..]
    )
}

/// The error and its sources on one line.
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
        let source = match &self.inner.source {
            Source::Provider(_) => "custom provider",
            Source::DefaultChain { .. } => "default chain",
        };
        f.debug_struct("AmbCredentials")
            .field("source", &source)
            .field("fetches", &self.fetch_count())
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

    #[tokio::test]
    async fn caches_and_debug_hides_secrets() {
        let creds = AmbCredentials::from_provider(Credentials::new(
            "AKIDEXAMPLE1234",
            "TOPSECRETKEY",
            Some("SESSIONTOKEN".into()),
            None,
            "test",
        ));
        for _ in 0..10 {
            creds.credentials().await.unwrap();
        }
        assert_eq!(creds.fetch_count(), 1);
        let dbg = format!("{creds:?}");
        assert!(!dbg.contains("TOPSECRETKEY") && !dbg.contains("SESSIONTOKEN"));
    }
}
