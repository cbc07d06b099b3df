//! The HTTP-only mode: the same stream, by polling, for endpoints with no WebSocket (VPC
//! Lattice, Lambda function URLs, API Gateway).
//!
//! Built on alloy's [`watch_canonical_logs_from`](alloy_provider::Provider::watch_canonical_logs_from)
//! (one block at a time: the block and its logs, with reorg detection by parent hash), wrapped
//! where it does not fit a gap-free stream:
//! - it ends at its first error: here the error is retried (capped backoff, `warn`, counted)
//!   and the watcher restarted from the stream's own position, up to the retry policy's
//!   `max_attempts` failures in a row ([`StreamError::RetriesExhausted`](super::StreamError::RetriesExhausted));
//!   a watcher that ends without an error is restarted after the same backoff (and counts as
//!   a failure too), never in a tight loop;
//! - it starts from a block number with no memory of earlier blocks, and ends with an error on
//!   a reorg deeper than its buffer: here each (re)start first checks the blocks the stream
//!   remembers (or a saved [`Cursor`](super::Cursor)) and emits their removals, and deep
//!   reorgs are the typed [`StreamError::DeepReorg`](super::StreamError::DeepReorg);
//! - it asks two calls per block, however far behind it is: here catching up (after a start
//!   from a cursor, or an outage) is done with ranged `eth_getLogs` calls (split on "too large"
//!   answers), and the watcher only follows the head.

use std::pin::Pin;
use std::time::Duration;

use alloy_provider::{CanonicalEvent, Provider};
use futures::{Stream, StreamExt};

use super::driver::{Core, SignalKind, Stop};
use super::StreamError;

const TARGET: &str = "alloy_amb::resumable";

/// Polls the backfill provider every `interval`.
pub(crate) async fn run_polling(
    mut core: Core,
    interval: Duration,
    mut signals: Pin<Box<dyn Stream<Item = SignalKind> + Send>>,
) {
    let mut why = "the start";
    let mut backoff = core.policy.initial_backoff;
    // Polling failures (errors, or the watcher ending) since the last block it delivered.
    let mut failures: u32 = 0;
    loop {
        if let Err(stop) = core.resync(why, None).await {
            return core.end(stop).await;
        }
        let from = core.tracker.backfill_from();
        let mut blocks = core
            .backfill
            .watch_canonical_logs_from(from, &core.filter)
            .poll_interval(interval)
            .into_stream();
        why = loop {
            let step = tokio::select! {
                biased;
                _ = core.tx.closed() => return,
                Some(kind) = signals.next() => break core.on_signal(kind),
                event = blocks.next() => event,
            };
            let result = match step {
                Some(Ok(CanonicalEvent::Added(block))) => {
                    backoff = core.policy.initial_backoff;
                    failures = 0;
                    let h = &block.block.header;
                    match core.on_head(h.number, h.hash, h.parent_hash).await {
                        Ok(()) => {
                            let mut r = Ok(());
                            for log in block.logs {
                                r = core.on_live_log(log).await;
                                if r.is_err() {
                                    break;
                                }
                            }
                            r
                        }
                        Err(e) => Err(e),
                    }
                }
                // alloy saw a reorg: the stream removes from its own record.
                Some(Ok(CanonicalEvent::Removed(_))) => break "a reorg seen by the poller",
                Some(Err(err)) => {
                    let last = err.to_string();
                    match failed(&core, &mut failures, &mut backoff, last).await {
                        Some(stop) => return core.end(stop).await,
                        None => break "a polling error",
                    }
                }
                // alloy's watcher ended without an error: restarted after the same backoff.
                None => {
                    let last = "alloy's block watcher ended".to_owned();
                    match failed(&core, &mut failures, &mut backoff, last).await {
                        Some(stop) => return core.end(stop).await,
                        None => break "the poller ended",
                    }
                }
            };
            if let Err(stop) = result {
                if let Stop::Closed = stop {
                    return;
                }
                return core.end(stop).await;
            }
        };
    }
}

/// One more polling failure in a row: the end of the stream once the retry policy's
/// `max_attempts` is reached, else a `warn` and the backoff (capped, doubling).
async fn failed(
    core: &Core,
    failures: &mut u32,
    backoff: &mut Duration,
    last: String,
) -> Option<Stop> {
    *failures = failures.saturating_add(1);
    if core.policy.max_attempts.is_some_and(|max| *failures >= max) {
        return Some(Stop::End(StreamError::RetriesExhausted {
            attempts: *failures,
            last,
            resume: Default::default(),
        }));
    }
    let total = core.counters.add(super::stats::Counter::RetriedErrors, 1);
    tracing::warn!(
        target: TARGET,
        error = %last,
        attempt = *failures,
        retried_errors = total,
        retry_in = ?*backoff,
        "gap-free log stream: polling failed, restarting from the last position"
    );
    tokio::time::sleep(*backoff).await;
    *backoff = backoff.saturating_mul(2).min(core.policy.max_backoff);
    None
}
