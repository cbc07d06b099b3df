//! The fallback: aws-sigv4's own `sign()`, for every request the fast path does not handle,
//! and the reference `tests/sign_differential.rs` holds the fast path to.

use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use super::{Request, SignedHeaders};
use crate::error::AmbError;

/// Signs `req` with aws-sigv4's `sign()` and `SigningSettings::default()`: the reference the
/// fast path must match, and the fallback for what it does not handle.
pub fn sign_with_aws_sigv4(
    identity: &Identity,
    region: &str,
    service: &str,
    time: SystemTime,
    req: &Request<'_>,
) -> Result<SignedHeaders, AmbError> {
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
    let headers = std::iter::once(("host", req.authority)).chain(req.headers.iter().copied());
    let signable = SignableRequest::new(
        req.method,
        req.url.as_str(),
        headers,
        SignableBody::Bytes(req.body),
    )
    .map_err(|e| AmbError::Signing(e.to_string()))?;
    let (instructions, _signature) = aws_sigv4::http_request::sign(signable, &params)
        .map_err(|e| AmbError::Signing(e.to_string()))?
        .into_parts();
    let (headers, _params) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|h| (h.name(), h.value().to_owned()))
        .collect())
}
