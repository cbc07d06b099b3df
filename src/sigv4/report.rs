//! What the signer signed: the canonical request and the string to sign of one request, for
//! `amb doctor -v`. Never the secret key or the signature; a session token shows as its length.
//!
//! The canonical request is aws-sigv4's own (the one it reports, with the session token
//! redacted, at TRACE level while signing); the string to sign is rebuilt from it and checked:
//! the signature it gives must be the one the transport's signer produced for the same request
//! at the same time, so the report is what was signed, or an error.

use std::sync::{Arc, Mutex};

use aws_sigv4::sign::v4;
#[cfg(feature = "sigv4a")]
use aws_sigv4::sign::v4a;
use sha2_sigv4::{Digest, Sha256};

use super::{format_date_time, sign, sign_with_aws_sigv4, Algorithm, Input, SigningKeyCache};
use crate::error::AmbError;

/// The canonical request (session token redacted) and the string to sign of `input`, signed
/// as the transports sign it (with `cache`).
pub(crate) fn report(
    cache: &SigningKeyCache,
    input: &Input<'_>,
) -> Result<(String, String), AmbError> {
    let Input {
        credentials: creds,
        region,
        service,
        time,
        ..
    } = *input;
    let failed = |why: &str| AmbError::Signing(format!("cannot report what was signed: {why}"));
    let ours = sign(cache, input)?;
    let capture = Capture::default();
    let theirs = tracing::subscriber::with_default(capture.clone(), || sign_with_aws_sigv4(input))?;
    if ours != theirs {
        return Err(failed("the signer and aws-sigv4 disagree"));
    }
    let redacted = capture
        .take()
        .ok_or_else(|| failed("aws-sigv4's TRACE events are compiled out"))?;
    // The canonical request as signed: the session token back in place of its redaction.
    let full = match creds.session_token() {
        Some(token) => {
            let masked = format!("** redacted (length={}) **", token.len());
            redacted.replacen(
                &format!("x-amz-security-token:{masked}"),
                &format!("x-amz-security-token:{token}"),
                1,
            )
        }
        None => redacted.clone(),
    };
    let date_time = format_date_time(time).ok_or_else(|| failed("the time is out of range"))?;
    let date_time = std::str::from_utf8(&date_time).map_err(|_| failed("bad time"))?;
    let creq_hash = hex(&Sha256::digest(full.as_bytes()));
    let date = &date_time[..8];
    // SigV4A's scope has no region (the region set is a signed header); its ECDSA signature
    // is deterministic (RFC 6979), so it can be checked the same way.
    let (string_to_sign, signature) = match input.algorithm {
        Algorithm::V4 => {
            let sts = format!(
                "AWS4-HMAC-SHA256\n{date_time}\n{date}/{region}/{service}/aws4_request\n{creq_hash}"
            );
            let key = v4::generate_signing_key(creds.secret_access_key(), time, region, service);
            let signature = v4::calculate_signature(key, sts.as_bytes());
            (sts, signature)
        }
        #[cfg(not(feature = "sigv4a"))]
        Algorithm::V4a => return Err(failed(super::NO_SIGV4A)),
        #[cfg(feature = "sigv4a")]
        Algorithm::V4a => {
            let sts = format!(
                "AWS4-ECDSA-P256-SHA256\n{date_time}\n{date}/{service}/aws4_request\n{creq_hash}"
            );
            let key = v4a::generate_signing_key(creds.access_key_id(), creds.secret_access_key());
            let signature = v4a::calculate_signature(key, sts.as_bytes());
            (sts, signature)
        }
    };
    let signed = ours
        .iter()
        .find(|(name, _)| *name == "authorization")
        .is_some_and(|(_, value)| value.ends_with(&format!("Signature={signature}")));
    if !signed {
        return Err(failed(
            "the rebuilt string to sign does not give the signature sent",
        ));
    }
    Ok((redacted, string_to_sign))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A subscriber that keeps the `canonical_request` field of aws-sigv4's events.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Option<String>>>);

impl Capture {
    fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl tracing::field::Visit for &Capture {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "canonical_request" {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{value:?}"));
        }
    }
}

impl tracing::Subscriber for Capture {
    fn register_callsite(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if self.enabled(meta) {
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        meta.target().starts_with("aws_sigv4")
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        event.record(&mut &*self);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}
