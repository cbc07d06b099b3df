//! Sign, send, and after a recoverable 403 recover and sign once more: the one place this
//! policy lives, for the HTTP POST and the WebSocket upgrade alike.

use std::future::Future;
use std::time::Duration;

use tracing::debug;

use super::mode::{Auth, Authorization, ToSign};
use crate::endpoint::Endpoint;
use crate::error::AmbError;

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
        let refusal = match attempt.outcome {
            Err(refusal) if !retried => refusal,
            outcome => {
                return Ok(Sent {
                    authorization,
                    outcome,
                })
            }
        };
        let kind = refusal.auth_failure();
        let recoverable = match kind {
            Some(kind) => auth.recover(kind, &authorization).await,
            None => false,
        };
        if !recoverable {
            return Ok(Sent {
                authorization,
                outcome: Err(refusal),
            });
        }
        // Clock skew (now learned) or rotated credentials (now dropped): sign once more.
        debug!(reason = ?kind, "signing again after a 403");
        retried = true;
    }
}
