//! Counters of a gap-free stream, readable while it runs.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a gap-free stream has done so far ([`ResumableLogs::stats`](super::ResumableLogs::stats)).
/// Each event is also logged at `info` (retried errors at `warn`) under the target
/// `alloy_amb::resumable`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Reconnects of the WebSocket seen (through a reconnect signal).
    pub reconnects: u64,
    /// Backfills run (after a reconnect, a gap, a lag, a backfill signal, a reorg, a start).
    pub backfills: u64,
    /// Blocks covered by backfills (`eth_getLogs` ranges, summed).
    pub blocks_backfilled: u64,
    /// Reorgs that orphaned delivered logs or remembered blocks.
    pub reorgs: u64,
    /// Removals (`removed: true`) delivered.
    pub removals: u64,
    /// Failed calls that were retried.
    pub retried_errors: u64,
    /// `eth_getLogs` ranges halved after a "too large" answer.
    pub range_splits: u64,
    /// Logs delivered (not counting removals).
    pub delivered: u64,
}

/// The shared counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    reconnects: AtomicU64,
    backfills: AtomicU64,
    blocks_backfilled: AtomicU64,
    reorgs: AtomicU64,
    removals: AtomicU64,
    retried_errors: AtomicU64,
    range_splits: AtomicU64,
    delivered: AtomicU64,
}

/// One counter of [`Counters`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Counter {
    Reconnects,
    Backfills,
    BlocksBackfilled,
    Reorgs,
    Removals,
    RetriedErrors,
    RangeSplits,
    Delivered,
}

impl Counters {
    fn cell(&self, c: Counter) -> &AtomicU64 {
        match c {
            Counter::Reconnects => &self.reconnects,
            Counter::Backfills => &self.backfills,
            Counter::BlocksBackfilled => &self.blocks_backfilled,
            Counter::Reorgs => &self.reorgs,
            Counter::Removals => &self.removals,
            Counter::RetriedErrors => &self.retried_errors,
            Counter::RangeSplits => &self.range_splits,
            Counter::Delivered => &self.delivered,
        }
    }

    /// Adds `n`; returns the new total.
    pub(crate) fn add(&self, c: Counter, n: u64) -> u64 {
        self.cell(c).fetch_add(n, Ordering::Relaxed) + n
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let get = |c| self.cell(c).load(Ordering::Relaxed);
        Stats {
            reconnects: get(Counter::Reconnects),
            backfills: get(Counter::Backfills),
            blocks_backfilled: get(Counter::BlocksBackfilled),
            reorgs: get(Counter::Reorgs),
            removals: get(Counter::Removals),
            retried_errors: get(Counter::RetriedErrors),
            range_splits: get(Counter::RangeSplits),
            delivered: get(Counter::Delivered),
        }
    }
}
