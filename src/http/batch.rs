//! A JSON-RPC batch split into single calls (AMB rejects batches), each with its own outcome.
//!
//! - An answered call is never sent again.
//! - A throttled call (HTTP 429: not executed) is retried on its own, after `Retry-After`,
//!   within a bound; past it, its answer is a JSON-RPC error ([`SPLIT_NOT_SENT`]).
//! - A call whose outcome is unknown (timeout, connection lost, 5xx) is not sent again: its
//!   answer is a JSON-RPC error ([`SPLIT_OUTCOME_UNKNOWN`]); one with an unusable answer (too
//!   large, not JSON-RPC) gets [`SPLIT_BAD_ANSWER`].
//! - The batch answers `Ok` with every call's own answer, in order. Only when no call can have
//!   been executed (all throttled or refused before reaching the node) does the whole batch
//!   fail, with the first call's error, so that alloy's `RetryBackoffLayer` may safely send it
//!   all again.
//!
//! The codes and messages are none that alloy's `RetryBackoffLayer` retries (it would resend
//! the whole batch).

use std::borrow::Cow;
use std::time::Duration;

use alloy_json_rpc::{
    ErrorPayload, Id, Response, ResponsePacket, ResponsePayload, SerializedRequest,
};
use alloy_transport::{TransportError, TransportResult};
use futures::stream::{self, StreamExt};
use tracing::{debug, debug_span, Instrument};

use super::wire::Failure;
use super::{bytes_of, AmbHttp};
use crate::error::AmbError;

/// The JSON-RPC error code of a split batch's call that was sent but got no answer (timeout,
/// connection lost, HTTP 5xx): it may have been executed, and was not sent again. Check its
/// effect (a nonce, a receipt) before sending it again.
pub const SPLIT_OUTCOME_UNKNOWN: i64 = -32091;

/// The JSON-RPC error code of a split batch's call that was not executed: throttled (HTTP 429)
/// on every attempt, or refused before reaching the node (credentials, signature, connection).
/// It is safe to send again.
pub const SPLIT_NOT_SENT: i64 = -32092;

/// The JSON-RPC error code of a split batch's call that was answered with something unusable
/// (larger than the size limit, not JSON-RPC). It was executed.
pub const SPLIT_BAD_ANSWER: i64 = -32093;

/// How batches are split.
#[derive(Clone, Copy, Debug)]
pub(super) struct Split {
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Retries of a throttled call.
    pub retries: u32,
    /// Total wait for retries of a throttled call.
    pub retry_wait: Duration,
}

impl Split {
    /// How long to wait before sending a throttled call again, after `tries` attempts and
    /// `waited` so far; `None` when the bound is reached (or the wait asked for exceeds it).
    fn next_wait(
        &self,
        tries: u32,
        retry_after: Option<Duration>,
        waited: Duration,
    ) -> Option<Duration> {
        let wait = retry_after
            .unwrap_or_else(|| FIRST_BACKOFF.saturating_mul(1 << tries.saturating_sub(1).min(16)));
        // `Retry-After` is the server's number: a huge one must end the retries, not overflow.
        let within = waited
            .checked_add(wait)
            .is_some_and(|total| total <= self.retry_wait);
        (tries <= self.retries && within).then_some(wait)
    }
}

/// The first wait before retrying a 429 that named no `Retry-After`; doubles each retry.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// One call's outcome.
enum Outcome {
    Answered(Response),
    Failed {
        id: Id,
        failure: Failure,
        tries: u32,
    },
}

pub(super) async fn send_split(
    t: &AmbHttp,
    reqs: Vec<SerializedRequest>,
) -> TransportResult<ResponsePacket> {
    let split = t.inner.split.expect("only called when splitting");
    let mut outcomes: Vec<(usize, Outcome)> = stream::iter(reqs.into_iter().enumerate())
        .map(|(i, req)| async move { (i, send_call(t, req, split).await) })
        .buffer_unordered(split.concurrency)
        .collect()
        .await;
    outcomes.sort_unstable_by_key(|(i, _)| *i);
    // Nothing executed anywhere: the whole batch may be sent again, so say why it failed.
    let none_executed = outcomes.iter().all(|(_, o)| {
        matches!(
            o,
            Outcome::Failed {
                failure: Failure::Throttled { .. } | Failure::NotSent(_),
                ..
            }
        )
    });
    if none_executed {
        if let Some((_, Outcome::Failed { failure, .. })) = outcomes.into_iter().next() {
            return Err(failure.into_error());
        }
        return Ok(ResponsePacket::Batch(Vec::new()));
    }
    let answers = outcomes
        .into_iter()
        .map(|(_, outcome)| match outcome {
            Outcome::Answered(r) => r,
            Outcome::Failed { id, failure, tries } => error_answer(id, &failure, tries, split),
        })
        .collect();
    Ok(ResponsePacket::Batch(answers))
}

/// Sends one call of a split batch, retrying it alone while it is throttled.
async fn send_call(t: &AmbHttp, req: SerializedRequest, split: Split) -> Outcome {
    let headers = req.headers().cloned().unwrap_or_default();
    let method = req.method_clone();
    let id = req.id().clone();
    let span = debug_span!("amb_request", method = %method, id = %id, status = tracing::field::Empty, latency_ms = tracing::field::Empty);
    let body = bytes_of(req.take_request());
    let mut waited = Duration::ZERO;
    let mut tries = 0u32;
    loop {
        tries += 1;
        let answer = t
            .post(body.clone(), &headers, &method)
            .instrument(span.clone())
            .await;
        let failure = match answer {
            Ok(packet) => return answered(id, packet),
            Err(failure) => failure,
        };
        let Failure::Throttled { retry_after, .. } = &failure else {
            debug!(%method, %id, reason = %reason(failure.error()), "this call of the batch failed; not sent again");
            return Outcome::Failed { id, failure, tries };
        };
        let Some(wait) = split.next_wait(tries, *retry_after, waited) else {
            debug!(%method, %id, tries, "throttled (429) past the bound: not sent again");
            return Outcome::Failed { id, failure, tries };
        };
        debug!(%method, %id, ?wait, "throttled (429): retrying this call of the batch alone");
        tokio::time::sleep(wait).await;
        waited += wait;
    }
}

/// The answer for `id` in what the node sent back.
fn answered(id: Id, packet: ResponsePacket) -> Outcome {
    match packet {
        ResponsePacket::Single(r) => Outcome::Answered(r),
        ResponsePacket::Batch(rs) => match rs.into_iter().find(|r| r.id == id) {
            Some(r) => Outcome::Answered(r),
            None => Outcome::Failed {
                id,
                failure: Failure::BadAnswer(TransportError::local_usage_str(
                    "the answer to this single call was a batch without its id",
                )),
                tries: 1,
            },
        },
    }
}

/// A failed call's answer in the batch: a JSON-RPC error with a code and message that say
/// whether it may have been executed.
fn error_answer(id: Id, failure: &Failure, tries: u32, split: Split) -> Response {
    let mut payload = error_payload(failure, tries, split, true);
    if payload.is_retry_err() {
        // The quoted reason reads like a rate limit to alloy: say it without the reason.
        payload = error_payload(failure, tries, split, false);
    }
    Response {
        id,
        payload: ResponsePayload::Failure(payload),
    }
}

fn error_payload(failure: &Failure, tries: u32, split: Split, quote: bool) -> ErrorPayload {
    let reason = |e: &TransportError| {
        if quote {
            reason(e)
        } else {
            "reason withheld".to_owned()
        }
    };
    let (code, message) = match failure {
        Failure::Throttled { .. } => (
            SPLIT_NOT_SENT,
            format!(
                "throttled by the gateway (HTTP 429) on each of {tries} attempts (at most {} retries within {:?}); not executed, safe to send again",
                split.retries, split.retry_wait
            ),
        ),
        Failure::NotSent(e) => (
            SPLIT_NOT_SENT,
            format!("not sent ({}); not executed, safe to send again", reason(e)),
        ),
        Failure::Unknown(e) => (
            SPLIT_OUTCOME_UNKNOWN,
            format!(
                "sent, but no answer came back ({}); it may have been executed, so it was not sent again: check its effect before resending",
                reason(e)
            ),
        ),
        Failure::BadAnswer(e) => (
            SPLIT_BAD_ANSWER,
            format!("executed, but the answer is unusable: {}", reason(e)),
        ),
    };
    ErrorPayload {
        code,
        message: Cow::Owned(message),
        data: None,
    }
}

/// A short reason for a call's failure. HTTP errors give their status only: a gateway's body
/// (e.g. "Rate exceeded") could make alloy's `RetryBackoffLayer` resend the whole batch.
fn reason(err: &TransportError) -> String {
    if let Some(http) = err.as_transport_err().and_then(|k| k.as_http_error()) {
        return format!("HTTP {}", http.status);
    }
    if let Some(amb) = AmbError::from_transport_error(err) {
        return amb.to_string();
    }
    let mut text = err.to_string();
    if text.len() > crate::error::SNIPPET_LEN {
        let mut end = crate::error::SNIPPET_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_transport::layers::{RateLimitRetryPolicy, RetryPolicy};
    use alloy_transport::TransportErrorKind;

    fn split() -> Split {
        Split {
            concurrency: 8,
            retries: 3,
            retry_wait: Duration::from_secs(10),
        }
    }

    /// No error answer a split makes is one alloy's `RetryBackoffLayer` retries: it would
    /// resend the whole batch, answered calls included.
    #[test]
    fn error_answers_are_never_retryable_by_alloy() {
        let bodies = [
            "Rate exceeded",
            "Too Many Requests",
            "rate limit",
            "header not found",
        ];
        let mut failures = Vec::new();
        for body in bodies {
            failures.push(Failure::Throttled {
                error: TransportErrorKind::http_error_with_retry_after(
                    429,
                    body.into(),
                    Some(Duration::from_secs(1)),
                ),
                retry_after: Some(Duration::from_secs(1)),
            });
            failures.push(Failure::Unknown(TransportErrorKind::http_error(
                503,
                body.into(),
            )));
            failures.push(Failure::BadAnswer(TransportErrorKind::http_error(
                400,
                body.into(),
            )));
            failures.push(Failure::NotSent(TransportErrorKind::custom_str(body)));
        }
        failures.push(Failure::Unknown(
            AmbError::Timeout {
                host: "h".into(),
                after: Duration::from_secs(1),
            }
            .into(),
        ));
        for failure in &failures {
            let answer = error_answer(Id::Number(7), failure, 4, split());
            assert_eq!(answer.id, Id::Number(7));
            let ResponsePayload::Failure(payload) = &answer.payload else {
                panic!("not an error answer")
            };
            assert!(
                !RateLimitRetryPolicy::default()
                    .should_retry(&TransportError::ErrorResp(payload.clone())),
                "{payload:?} from {:?}",
                failure.error()
            );
        }
    }

    #[test]
    fn throttled_calls_wait_as_asked_within_the_bound() {
        let s = split();
        let secs = Duration::from_secs;
        // Retry-After is honoured as given.
        assert_eq!(s.next_wait(1, Some(secs(2)), secs(0)), Some(secs(2)));
        assert_eq!(s.next_wait(1, Some(secs(0)), secs(0)), Some(secs(0)));
        // Without one: 0.5 s, doubling.
        assert_eq!(
            s.next_wait(1, None, secs(0)),
            Some(Duration::from_millis(500))
        );
        assert_eq!(s.next_wait(3, None, secs(0)), Some(secs(2)));
        // At most `retries` retries (3: after tries 1, 2 and 3).
        assert_eq!(s.next_wait(4, Some(secs(0)), secs(0)), None);
        // Within the total wait: a Retry-After past it ends the retries at once.
        assert_eq!(s.next_wait(1, Some(secs(11)), secs(0)), None);
        assert_eq!(s.next_wait(2, Some(secs(4)), secs(6)), Some(secs(4)));
        assert_eq!(s.next_wait(2, Some(secs(5)), secs(6)), None);
        // A server's Retry-After of u64::MAX seconds after a first wait: no overflow, no retry.
        assert_eq!(
            s.next_wait(2, Some(secs(u64::MAX)), Duration::from_millis(500)),
            None
        );
        // Off.
        let off = Split { retries: 0, ..s };
        assert_eq!(off.next_wait(1, Some(secs(0)), secs(0)), None);
    }

    #[test]
    fn codes_say_whether_the_call_may_have_run() {
        let code = |f: &Failure| match error_answer(Id::Number(1), f, 1, split()).payload {
            ResponsePayload::Failure(p) => p.code,
            _ => unreachable!(),
        };
        let e = || TransportErrorKind::http_error(502, String::new());
        assert_eq!(code(&Failure::Unknown(e())), SPLIT_OUTCOME_UNKNOWN);
        assert_eq!(code(&Failure::NotSent(e())), SPLIT_NOT_SENT);
        assert_eq!(code(&Failure::BadAnswer(e())), SPLIT_BAD_ANSWER);
    }
}
