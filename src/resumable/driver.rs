//! The I/O of a gap-free stream: calls with retries and adaptive range splitting, reorg
//! checks and backfills (shared by both modes), and the live WebSocket loop.

use std::pin::Pin;
use std::sync::Arc;

use alloy_provider::{DynProvider, Provider};
use alloy_pubsub::Subscription;
use alloy_rpc_types_eth::{BlockNumberOrTag, Filter, Header, Log};
use alloy_transport::{TransportError, TransportResult};
use futures::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, watch};

use super::error::{classify, usable_head, Failure, StreamError};
use super::state::{Backfilled, Head, Live, Span, Tracker};
use super::stats::{Counter, Counters};
use super::RetryPolicy;

const TARGET: &str = "alloy_amb::resumable";

/// What the driver sends to the stream.
#[derive(Debug)]
pub(crate) enum Msg {
    Log(Log),
    End(StreamError),
}

/// Why a step stops.
pub(crate) enum Stop {
    /// The user dropped the stream.
    Closed,
    /// A terminal cause.
    End(StreamError),
    /// The chain moved during a backfill: check again.
    Conflict,
}

/// Which kind of backfill signal fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignalKind {
    /// The WebSocket reconnected.
    Reconnect,
    /// Something else asked for a backfill (e.g. a notification may have been lost).
    Other,
}

/// Every backfill signal, merged: yields the kind of each change.
pub(crate) fn merge_signals(
    signals: Vec<(SignalKind, watch::Receiver<u64>)>,
) -> Pin<Box<dyn Stream<Item = SignalKind> + Send>> {
    let streams = signals.into_iter().map(|(kind, mut rx)| {
        rx.borrow_and_update();
        futures::stream::unfold(rx, move |mut rx| async move {
            rx.changed().await.ok()?;
            Some((kind, rx))
        })
        .boxed()
    });
    let merged = futures::stream::select_all(streams);
    // With no signal at all, never yield (rather than end).
    merged.chain(futures::stream::pending()).boxed()
}

/// The state and I/O shared by the WebSocket and the polling modes.
pub(crate) struct Core {
    pub(crate) backfill: DynProvider,
    pub(crate) filter: Filter,
    pub(crate) policy: RetryPolicy,
    pub(crate) span: Span,
    pub(crate) tracker: Tracker,
    pub(crate) tx: mpsc::Sender<Msg>,
    pub(crate) counters: Arc<Counters>,
    /// How many times to ask again when the backfill provider is behind the wanted block
    /// before taking its head as the chain's (the chain may have become shorter).
    pub(crate) behind_patience: u32,
}

impl Core {
    pub(crate) async fn send(&self, log: Log) -> Result<(), Stop> {
        let counter = if log.removed {
            Counter::Removals
        } else {
            Counter::Delivered
        };
        self.tx
            .send(Msg::Log(log))
            .await
            .map_err(|_| Stop::Closed)?;
        self.counters.add(counter, 1);
        Ok(())
    }

    /// Ends the stream with `err` (the stream adds the cursor).
    pub(crate) async fn end(&self, stop: Stop) {
        if let Stop::End(err) = stop {
            tracing::warn!(target: TARGET, error = %err, "gap-free log stream ended");
            let _ = self.tx.send(Msg::End(err)).await;
        }
    }

    /// Makes one call, retrying transient failures with capped exponential backoff for as
    /// long as the policy allows. A "too large" answer is returned as `Err(Some(err))` when
    /// `splittable`, else retried; `Err(None)` is never returned.
    async fn call<T, F, Fut>(
        &self,
        what: &str,
        splittable: bool,
        mut call: F,
    ) -> Result<Result<T, TransportError>, Stop>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = TransportResult<T>>,
    {
        let mut backoff = self.policy.initial_backoff;
        let mut attempt: u32 = 1;
        loop {
            let err = match call().await {
                Ok(v) => return Ok(Ok(v)),
                Err(e) => e,
            };
            match classify(&err) {
                Failure::TooLarge if splittable => return Ok(Err(err)),
                // Asked again twice, in case it was about the node's state after all.
                Failure::Invalid if attempt >= 3 => {
                    return Err(Stop::End(StreamError::InvalidFilter {
                        message: err.to_string(),
                        resume: Default::default(),
                    }))
                }
                _ => {}
            }
            if self.policy.max_attempts.is_some_and(|max| attempt >= max) {
                return Err(Stop::End(StreamError::RetriesExhausted {
                    attempts: attempt,
                    last: err.to_string(),
                    resume: Default::default(),
                }));
            }
            let total = self.counters.add(Counter::RetriedErrors, 1);
            tracing::warn!(
                target: TARGET,
                call = what,
                attempt,
                retried_errors = total,
                retry_in = ?backoff,
                error = %err,
                "gap-free log stream: call failed, retrying"
            );
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2).min(self.policy.max_backoff);
            attempt = attempt.saturating_add(1);
        }
    }

    /// The backfill provider's head, asked again (a bounded number of times) while it is
    /// below `at_least`.
    async fn head(&self, at_least: Option<u64>) -> Result<u64, Stop> {
        let mut asked = 0;
        loop {
            let p = self.backfill.clone();
            let head = self
                .call("eth_blockNumber", false, || {
                    let p = p.clone();
                    async move { p.get_block_number().await.and_then(usable_head) }
                })
                .await?
                .unwrap_or_default();
            match at_least {
                Some(want) if head < want && asked < self.behind_patience => {
                    asked += 1;
                    self.counters.add(Counter::RetriedErrors, 1);
                    tracing::warn!(
                        target: TARGET,
                        head,
                        want,
                        "gap-free log stream: the backfill node is behind; asking again"
                    );
                    tokio::time::sleep(self.policy.initial_backoff).await;
                }
                _ => return Ok(head),
            }
        }
    }

    /// Checks the remembered blocks against the chain and removes orphaned logs (newest
    /// first), then backfills every log through the backfill node's head (at least
    /// `at_least` if it gets there).
    pub(crate) async fn resync(&mut self, why: &str, at_least: Option<u64>) -> Result<(), Stop> {
        loop {
            let want = match (at_least, self.tracker.known_tip()) {
                (Some(a), Some(t)) => Some(a.max(t)),
                (a, t) => a.or(t),
            };
            let head = self.head(want).await?;
            self.check_reorg(head).await?;
            match self.backfill_to(why, head).await {
                Err(Stop::Conflict) => continue,
                other => return other,
            }
        }
    }

    async fn check_reorg(&mut self, head: u64) -> Result<(), Stop> {
        let mut canonical = Vec::new();
        let mut orphaned = 0;
        for (number, recorded, confirmed) in self.tracker.remembered() {
            let hash = if number > head {
                None
            } else {
                let p = self.backfill.clone();
                self.call("eth_getBlockByNumber", false, || {
                    let p = p.clone();
                    async move {
                        p.get_block_by_number(BlockNumberOrTag::Number(number))
                            .await
                            .map(|b| b.map(|b| b.header.hash))
                    }
                })
                .await?
                .unwrap_or_default()
            };
            canonical.push((number, hash));
            if hash.is_some() && hash == recorded {
                if confirmed {
                    break;
                }
                continue;
            }
            orphaned += 1;
        }
        if orphaned == 0 {
            return Ok(());
        }
        tracing::debug!(target: TARGET, ?canonical, "reorg check");
        let (removals, deep) = self.tracker.reorg(&canonical);
        let reorgs = self.counters.add(Counter::Reorgs, 1);
        tracing::info!(
            target: TARGET,
            blocks = orphaned,
            removals = removals.len(),
            reorgs,
            "gap-free log stream: reorg, removing orphaned logs"
        );
        for log in removals {
            self.send(log).await?;
        }
        if let Some(deep) = deep {
            let resume = Box::new(self.tracker.cursor_after_deep(&deep));
            return Err(Stop::End(StreamError::DeepReorg {
                oldest: deep.oldest,
                newest: deep.newest,
                resume,
            }));
        }
        Ok(())
    }

    /// Delivers every log from the first block not known complete through `to`, in ranges
    /// that halve on a "too large" answer (down to one block) and grow back after successes.
    async fn backfill_to(&mut self, why: &str, to: u64) -> Result<(), Stop> {
        let start = self.tracker.backfill_from();
        if start > to {
            return Ok(());
        }
        let backfills = self.counters.add(Counter::Backfills, 1);
        tracing::info!(target: TARGET, from = start, to, why, backfills, "gap-free log stream: backfilling");
        let mut from = start;
        while from <= to {
            let end = self.span.end(from, to);
            let filter = self.filter.clone().from_block(from).to_block(end);
            let p = self.backfill.clone();
            let answer = self
                .call("eth_getLogs", true, || {
                    let p = p.clone();
                    let f = filter.clone();
                    async move { p.get_logs(&f).await }
                })
                .await?;
            let logs = match answer {
                Ok(logs) => logs,
                Err(err) => {
                    if from == end {
                        return Err(Stop::End(StreamError::BlockTooLarge {
                            block: from,
                            message: err.to_string(),
                            resume: Default::default(),
                        }));
                    }
                    self.span.too_large(from, end);
                    let splits = self.counters.add(Counter::RangeSplits, 1);
                    tracing::info!(
                        target: TARGET,
                        from,
                        to = end,
                        next_span = self.span.current(),
                        splits,
                        "gap-free log stream: answer too large, splitting the range"
                    );
                    continue;
                }
            };
            self.span.ok();
            for log in logs {
                match self.tracker.backfilled(log) {
                    Backfilled::Deliver(log) => self.send(log).await?,
                    Backfilled::Duplicate => {}
                    Backfilled::Conflict => return Err(Stop::Conflict),
                }
            }
            self.tracker.backfilled_through(end);
            self.counters.add(Counter::BlocksBackfilled, end - from + 1);
            // `end` is at most the head, below u64::MAX (`usable_head`); stop rather than wrap.
            match end.checked_add(1) {
                Some(next) => from = next,
                None => break,
            }
        }
        Ok(())
    }

    /// A live log: delivered, dropped as a duplicate, or first a backfill / reorg check.
    pub(crate) async fn on_live_log(&mut self, log: Log) -> Result<(), Stop> {
        let mut log = Some(log);
        for _ in 0..2 {
            let Some(l) = log.take() else { return Ok(()) };
            let verdict = self.tracker.live_log(l.clone());
            tracing::trace!(target: TARGET, block = ?l.block_number, hash = ?l.block_hash, removed = l.removed, ?verdict, "live log");
            match verdict {
                Live::Deliver(l) => return self.send(l).await,
                Live::Duplicate => return Ok(()),
                Live::Gap { through } => {
                    self.resync("a log ahead of the known head", Some(through))
                        .await?;
                    log = Some(l);
                }
                Live::Reorg { through } => {
                    return self
                        .resync("a log contradicting a delivered block", Some(through))
                        .await
                }
            }
        }
        Ok(())
    }

    /// A head: in sequence, or first a backfill / reorg check.
    pub(crate) async fn on_head(
        &mut self,
        number: u64,
        hash: alloy_primitives::B256,
        parent: alloy_primitives::B256,
    ) -> Result<(), Stop> {
        let verdict = self.tracker.head(number, hash, parent);
        tracing::trace!(target: TARGET, number, %hash, %parent, ?verdict, "head");
        match verdict {
            Head::Ok => Ok(()),
            Head::Gap { through } => self.resync("a gap in heads", Some(through)).await,
            Head::Reorg { through } => self.resync("a reorg in heads", Some(through)).await,
        }
    }

    pub(crate) fn on_signal(&self, kind: SignalKind) -> &'static str {
        match kind {
            SignalKind::Reconnect => {
                let n = self.counters.add(Counter::Reconnects, 1);
                tracing::info!(target: TARGET, reconnects = n, "gap-free log stream: reconnected");
                "a reconnect"
            }
            SignalKind::Other => "a backfill signal",
        }
    }
}

/// The live WebSocket mode: `newHeads` and `logs` subscriptions plus backfill signals.
pub(crate) async fn run_live(
    mut core: Core,
    mut heads: Subscription<Header>,
    mut logs: Subscription<Log>,
    mut signals: Pin<Box<dyn Stream<Item = SignalKind> + Send>>,
    resync_first: bool,
) {
    if resync_first {
        if let Err(stop) = core.resync("the start", None).await {
            return core.end(stop).await;
        }
    }
    loop {
        let step = tokio::select! {
            biased;
            _ = core.tx.closed() => return,
            Some(kind) = signals.next() => {
                let why = core.on_signal(kind);
                core.resync(why, None).await
            }
            // Logs before heads: the two subscriptions are separate channels, and a head
            // means its parent's logs are complete only if every log that arrived before it
            // has been taken first.
            log = logs.recv() => match log {
                Ok(log) => core.on_live_log(log).await,
                Err(RecvError::Lagged(_)) => core.resync("lagging logs", None).await,
                Err(RecvError::Closed) => Err(Stop::End(StreamError::LiveEnded { resume: Default::default() })),
            },
            head = heads.recv() => match head {
                Ok(h) => core.on_head(h.number, h.hash, h.parent_hash).await,
                Err(RecvError::Lagged(_)) => core.resync("lagging heads", None).await,
                Err(RecvError::Closed) => Err(Stop::End(StreamError::LiveEnded { resume: Default::default() })),
            },
        };
        if let Err(stop) = step {
            return core.end(stop).await;
        }
    }
}
