//! The signing region and where it came from.

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::endpoint::Endpoint;
use crate::error::{AmbError, ConfigError};

/// Where the signing region came from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegionSource {
    /// Set on the builder (`.region(..)`).
    Builder,
    /// Read from the endpoint's host name (AMB, API Gateway, Lambda function URL and VPC
    /// Lattice hosts name their region).
    EndpointHost,
    /// An environment variable: `AWS_REGION` or `AWS_DEFAULT_REGION` (named).
    Environment(&'static str),
    /// aws-config's default region chain (profile, IMDS), read on first use.
    DefaultChain,
}

/// The signing region the transports use for `endpoint`, and where it comes from, in their
/// order: the builder's `given` region, the region in the host name (AMB, API Gateway, Lambda
/// URL and VPC Lattice hosts: [`Endpoint::host_region`]), `AWS_REGION`, `AWS_DEFAULT_REGION`.
///
/// `None` when none of these has one: the transports then read aws-config's default region
/// chain (the AWS profile, instance metadata) on first use ([`RegionSource::DefaultChain`]).
pub fn resolve_region(given: Option<&str>, endpoint: &Endpoint) -> Option<(String, RegionSource)> {
    if let Some(r) = given {
        return Some((r.to_owned(), RegionSource::Builder));
    }
    if let Some(region) = endpoint.host_region() {
        return Some((region.to_owned(), RegionSource::EndpointHost));
    }
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Ok(r) = std::env::var(var) {
            if !r.trim().is_empty() {
                return Some((r.trim().to_owned(), RegionSource::Environment(var)));
            }
        }
    }
    None
}

/// The signing region: known at construction, or looked up in the AWS profile on first use.
#[derive(Clone)]
pub(crate) enum Region {
    Known(String, RegionSource),
    Lazy(Arc<OnceCell<Option<String>>>),
}

impl Region {
    /// See [`resolve_region`]; if it finds none, the profile (and the rest of aws-config's
    /// region chain) is read on first use.
    pub(crate) fn resolve(given: Option<String>, endpoint: &Endpoint) -> Self {
        match resolve_region(given.as_deref(), endpoint) {
            Some((r, source)) => Self::Known(r, source),
            None => Self::Lazy(Arc::new(OnceCell::new())),
        }
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

    pub(crate) async fn get(&self, endpoint: &Endpoint) -> Result<&str, AmbError> {
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
                    looked: "the builder (`.region(..)`), the endpoint host name (not one \
                             that names a region), AWS_REGION, AWS_DEFAULT_REGION, the AWS profile \
                             (AWS_PROFILE, ~/.aws/config) and instance metadata"
                        .into(),
                }),
        }
    }
}

/// A signing region is lowercase letters, digits and dashes (`us-east-1`, `cn-north-1`,
/// `us-gov-west-1`): anything else (empty, spaces, a line break) is refused before anything is
/// signed or sent.
pub(crate) fn check_region(region: &str) -> Result<(), AmbError> {
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
        Err(ConfigError::InvalidRegion {
            region: region.to_owned(),
        }
        .into())
    }
}
