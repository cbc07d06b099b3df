//! Sign, send, and after a recoverable 403 recover and sign once more: the one place this
//! policy lives, for the HTTP POST and the WebSocket upgrade alike.

use std::future::Future;
use std::time::Duration;

use tracing::debug;

use super::mode::{Auth, Authorization, ToSign};
use crate::endpoint::Endpoint;
use crate::error::{AmbError, AuthFailure};

/// What one signed attempt came back with.
pub(crate) struct Attempt<T> {
    /// The answer's `Date` header (the gateway's clock), if an answer came.
    pub(crate) date: Option<http::HeaderValue>,
    /// `Err`: the gateway refused the request (a 403, typed by [`AmbError::auth_failure`]) or
    /// it failed in a way signing again cannot fix.
    pub(crate) outcome: Result<T, AmbError>,
}

/// How the request ended: the credentials and signature it was last signed with (to withhold
/// them from the answer) and what came back.
pub(crate) struct Sent<T> {
    pub(crate) authorization: Authorization,
    pub(crate) outcome: Result<T, AmbError>,
}

/// Signs `req` for `endpoint` (within `timeout`) and hands it to `send` (which hands it back,
/// with what came of it); learns the gateway's
/// clock from the answer's `Date`. A refusal that fresh credentials or the learned clock skew
/// can fix (see [`Auth::recover`]) is signed and sent once more, never more than once.
///
/// `Err` only when the request could not be signed (nothing was sent).
pub(crate) async fn sign_and_send<T, F>(
    auth: &Auth,
    endpoint: &Endpoint,
    req: ToSign<'_>,
    timeout: Duration,
    mut send: impl FnMut(Authorization) -> F,
) -> Result<Sent<T>, AmbError>
where
    F: Future<Output = (Authorization, Attempt<T>)>,
{
    let mut retried = false;
    loop {
        let authorization = auth.authorize_within(endpoint, req, timeout).await?;
        let (authorization, attempt) = send(authorization).await;
        if let Some(date) = &attempt.date {
            auth.observe_date(date.as_bytes());
        }
        let outcome = match attempt.outcome {
            // A provider's 401 or 403 is about its credentials, not AWS's.
            Err(refusal) if auth.is_provider() => Err(provider_refusal(refusal)),
            outcome => outcome,
        };
        let refusal = match outcome {
            Err(refusal) if !retried => refusal,
            // The secrets this attempt carried withheld from the refusal's text (the WebSocket
            // upgrade's error goes straight to the caller).
            Err(refusal) => {
                let refusal = refusal.withhold(&authorization.known());
                return Ok(Sent {
                    authorization,
                    outcome: Err(refusal),
                });
            }
            outcome => {
                return Ok(Sent {
                    authorization,
                    outcome,
                })
            }
        };
        let kind = match &refusal {
            // A provider's 403 refuses the plan or the rate, not the token: only a 401 is
            // worth a fresh token.
            AmbError::AuthRejected { status: 403, .. } if auth.is_provider() => None,
            _ => refusal.auth_failure(),
        };
        let recoverable = match kind {
            Some(kind) => auth.recover(kind, &authorization).await,
            None => false,
        };
        if !recoverable {
            let refusal = refusal.withhold(&authorization.known());
            return Ok(Sent {
                authorization,
                outcome: Err(refusal),
            });
        }
        // Clock skew (now learned), rotated credentials or a refused bearer token (now
        // dropped): sign once more.
        debug!(reason = ?kind, "signing again after a refusal");
        retried = true;
    }
}

/// A provider's refusal (HTTP 401 or 403) typed as [`AuthFailure::ProviderRefused`]: AWS's
/// classification (clock skew, IAM) does not apply to a third-party provider.
fn provider_refusal(refusal: AmbError) -> AmbError {
    match refusal {
        AmbError::AuthRejected {
            status,
            message,
            host,
            ..
        } => AmbError::AuthRejected {
            kind: AuthFailure::ProviderRefused,
            status,
            message,
            host,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use aws_credential_types::Credentials;

    use super::*;
    use crate::auth::AuthConfig;
    use crate::credentials::AmbCredentials;

    fn refusal(kind: AuthFailure) -> AmbError {
        AmbError::AuthRejected {
            kind,
            status: 403,
            message: String::new(),
            host: "a.example".into(),
        }
    }

    /// How many times `send` ran when every attempt is refused with `kind` (capped at 5).
    async fn attempts(url: &str, kind: AuthFailure) -> u32 {
        let mut endpoint = Endpoint::parse(url).unwrap();
        let token = endpoint.has_billing_token();
        let auth = AuthConfig {
            region: Some("us-east-1".into()),
            service: (!token).then(|| "execute-api".into()),
            credentials: (!token).then(|| {
                AmbCredentials::from_provider(Credentials::new(
                    "AKIDEXAMPLE",
                    "secret",
                    None,
                    None,
                    "test",
                ))
            }),
            ..Default::default()
        }
        .build(&mut endpoint)
        .unwrap();
        let calls = AtomicU32::new(0);
        let req = ToSign {
            method: "POST",
            headers: &[],
            body: b"{}",
        };
        let sent = sign_and_send(&auth, &endpoint, req, Duration::from_secs(5), |a| {
            let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                let outcome = if n >= 5 { Ok(()) } else { Err(refusal(kind)) };
                (
                    a,
                    Attempt {
                        date: None,
                        outcome,
                    },
                )
            }
        })
        .await
        .unwrap();
        if calls.load(Ordering::Relaxed) < 5 {
            assert_eq!(sent.outcome.unwrap_err().auth_failure(), Some(kind));
        }
        calls.load(Ordering::Relaxed)
    }

    #[tokio::test]
    async fn a_recoverable_refusal_is_signed_again_once_and_only_once() {
        for kind in [
            AuthFailure::SignatureExpired,
            AuthFailure::ExpiredToken,
            AuthFailure::UnknownAccessKey,
        ] {
            assert_eq!(attempts("https://a.example", kind).await, 2, "{kind:?}");
        }
    }

    #[tokio::test]
    async fn other_refusals_and_token_mode_are_not_retried() {
        for kind in [
            AuthFailure::InvalidSignature,
            AuthFailure::WrongRegion,
            AuthFailure::Other,
        ] {
            assert_eq!(attempts("https://a.example", kind).await, 1, "{kind:?}");
        }
        // Nothing to recover in token mode: a refused token is refused.
        let token = "https://a.example/?billingtoken=tok";
        for kind in [AuthFailure::SignatureExpired, AuthFailure::ExpiredToken] {
            assert_eq!(attempts(token, kind).await, 1, "{kind:?}");
        }
    }
}
