//! The fallback: aws-sigv4's own `sign()`, for every request the fast path does not handle,
//! and the reference `tests/sign_differential.rs` holds the fast path to.

use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningParams, SigningSettings,
};
use aws_sigv4::sign::v4;
#[cfg(feature = "sigv4a")]
use aws_sigv4::sign::v4a;
use aws_smithy_runtime_api::client::identity::Identity;

use super::{Algorithm, Input, Payload, SignedHeaders};
use crate::error::AmbError;

/// The aws-sigv4 settings and body for `payload`: the defaults and the body's bytes, or
/// `x-amz-content-sha256` sent and signed and `UNSIGNED-PAYLOAD`.
fn settings(payload: Payload, body: &[u8]) -> (SigningSettings, SignableBody<'_>) {
    let mut settings = SigningSettings::default();
    match payload {
        Payload::Signed => (settings, SignableBody::Bytes(body)),
        Payload::Unsigned => {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            (settings, SignableBody::UnsignedPayload)
        }
    }
}

/// Signs `input` with aws-sigv4's `sign()` (SigV4, or SigV4A with the `sigv4a` feature) and
/// `SigningSettings::default()` (with `PayloadChecksumKind::XAmzSha256` and
/// `SignableBody::UnsignedPayload` for [`Payload::Unsigned`]): the reference the fast path
/// must match, and the signer of everything it does not handle.
pub fn sign_with_aws_sigv4(input: &Input<'_>) -> Result<SignedHeaders, AmbError> {
    let identity: Identity = input.credentials.clone().into();
    sign_with_identity(&identity, input)
}

/// [`sign_with_aws_sigv4`] with the identity already made (`input.credentials` is not read).
pub fn sign_with_identity(
    identity: &Identity,
    input: &Input<'_>,
) -> Result<SignedHeaders, AmbError> {
    let failed = |e: &dyn std::fmt::Display| AmbError::Signing(e.to_string());
    let req = &input.request;
    let (settings, body) = settings(input.payload, req.body);
    let params: SigningParams<'_> = match input.algorithm {
        Algorithm::V4 => v4::SigningParams::builder()
            .identity(identity)
            .region(input.region)
            .name(input.service)
            .time(input.time)
            .settings(settings)
            .build()
            .map_err(|e| failed(&e))?
            .into(),
        #[cfg(not(feature = "sigv4a"))]
        Algorithm::V4a => return Err(AmbError::Signing(super::NO_SIGV4A.to_owned())),
        #[cfg(feature = "sigv4a")]
        Algorithm::V4a => v4a::SigningParams::builder()
            .identity(identity)
            .region_set(input.region)
            .name(input.service)
            .time(input.time)
            .settings(settings)
            .build()
            .map_err(|e| failed(&e))?
            .into(),
    };
    let headers = std::iter::once(("host", req.authority)).chain(req.headers.iter().copied());
    let signable = SignableRequest::new(req.method, req.url.as_str(), headers, body)
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
