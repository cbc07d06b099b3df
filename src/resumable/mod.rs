//! Gap-free log streams: every log exactly once, in chain order, across reconnects, outages,
//! reorgs and restarts; live over a WebSocket, or by polling over HTTP only.
//!
//! A plain `eth_subscribe("logs")` only delivers what happens while the connection is up:
//! alloy-pubsub resubscribes after a reconnect, but logs emitted during the outage are lost,
//! and a node like anvil tells a reorg with no `removed: true` at all. A [`ResumableLogs`]
//! stream keeps a record of the recent blocks (hash, and the logs it delivered from each)
//! and:
//!
//! - after a reconnect ([`track_reconnects`]), any [`backfill_on`](ResumableLogsBuilder::backfill_on)
//!   signal, a gap in `newHeads` or in the logs, or a lagging channel, checks its record
//!   against the chain and backfills with `eth_getLogs` from its last position to the head
//!   (ranges halved on any "too large" answer, down to one block);
//! - on any sign of a reorg (a log or head whose block hash differs from the recorded one at
//!   that height, in whichever order the node tells them, or a `removed: true` from the node)
//!   emits the logs it delivered from the replaced blocks again with `removed: true`, newest
//!   first, then the replacement logs;
//! - retries failed calls (capped exponential backoff, a `warn` each, counted in
//!   [`Stats::retried_errors`]) for as long as they fail, unless bounded with
//!   [`retry_policy`](ResumableLogsBuilder::retry_policy); it ends only with a typed
//!   [`StreamError`] (a reorg deeper than the record, a refused filter, one block too large
//!   with no HTTP provider, the bound reached, the WebSocket given up for good), which carries
//!   the [`Cursor`] to start again from;
//! - gives [`ResumableLogs::cursor`] (serde) to save, and starts again from it with
//!   [`from_cursor`](ResumableLogsBuilder::from_cursor), checking the saved blocks first;
//! - over a provider without subscriptions, polls (built on alloy's
//!   [`watch_canonical_logs_from`](alloy_provider::Provider::watch_canonical_logs_from)) with the
//!   same item type and guarantees.
//!
//! Removals are the logs as delivered, with `removed: true` (alloy's field): undo what you
//! applied for them. Every item carries its position (`block_number`, `block_hash`,
//! `log_index`; [`Position::of`]).
//!
//! ```no_run
//! use alloy_amb::resumable::{track_reconnects, ResumableLogsExt, StreamError};
//! use alloy_amb::AmbWsConnect;
//! use alloy_provider::ProviderBuilder;
//! use alloy_rpc_types_eth::Filter;
//! use futures::StreamExt;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (connect, reconnects) = track_reconnects(AmbWsConnect::new("wss://nd-xxxx.wss.ethereum.managedblockchain.us-east-1.amazonaws.com")?);
//! let provider = ProviderBuilder::new().connect_pubsub_with(connect).await?;
//! let mut logs = provider
//!     .resumable_logs(&Filter::new().event("Transfer(address,address,uint256)"))
//!     .reconnect_signal(reconnects)
//!     .subscribe()
//!     .await?;
//! while let Some(log) = logs.next().await {
//!     match log {
//!         Ok(log) if log.removed => { /* undo */ }
//!         Ok(log) => { /* apply */ }
//!         Err(err) => {
//!             // Terminal: the error says why and carries where to go on from.
//!             let resume = StreamError::from_transport_error(&err).map(|e| e.resume().clone());
//!             return Err(err.into());
//!         }
//!     }
//!     // Save `logs.cursor()` (serde) now and then; start again with `.from_cursor(saved)`.
//! }
//! # Ok(()) }
//! ```
//!
//! See `docs/gap-free-streams.md` for the two modes side by side, and the measured numbers.

mod cursor;
mod driver;
mod error;
mod poller;
mod signals;
mod state;
mod stats;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use alloy_provider::{DynProvider, Provider};
use alloy_rpc_types_eth::{Filter, FilterBlockOption, Log};
use alloy_transport::{TransportErrorKind, TransportResult};
use futures::Stream;
use tokio::sync::{mpsc, watch};

use cursor::DEFAULT_CURSOR_BLOCKS;
pub use cursor::{Cursor, Position};
pub use error::StreamError;
pub use signals::{track_reconnects, TrackReconnects};
pub use stats::Stats;

use cursor::CursorTracker;
use driver::{merge_signals, Core, Msg, SignalKind};
use state::{Span, Tracker};
use stats::Counters;

/// Default span of one `eth_getLogs` backfill call, in blocks (halved on "too large" answers).
const DEFAULT_CHUNK_BLOCKS: u64 = 500;
/// Default number of recent blocks remembered for reorg handling.
const DEFAULT_HISTORY_BLOCKS: usize = 128;
/// Default interval between polls in the HTTP-only mode.
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(4);

/// How failed calls are retried. Transient failures (timeouts, 5xx, 429 and other rate limits,
/// dropped connections; in HTTP-only mode, the block watcher failing or ending) never end a
/// stream unless `max_attempts` is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first wait after a failure; it doubles after each failure in a row.
    pub initial_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// Attempts per call (in HTTP-only mode also: polling failures in a row) before the
    /// stream ends with [`StreamError::RetriesExhausted`]; `None` (the default): retry for as
    /// long as it takes.
    pub max_attempts: Option<u32>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            max_attempts: None,
        }
    }
}

/// Adds [`resumable_logs`](ResumableLogsExt::resumable_logs) to every alloy provider.
pub trait ResumableLogsExt {
    /// A builder for a gap-free log stream over this provider: live over a pub/sub
    /// (WebSocket) provider, by polling over an HTTP one.
    fn resumable_logs(&self, filter: &Filter) -> ResumableLogsBuilder;
}

impl<P: Provider + Clone + 'static> ResumableLogsExt for P {
    fn resumable_logs(&self, filter: &Filter) -> ResumableLogsBuilder {
        ResumableLogsBuilder::new(self.clone().erased(), filter.clone())
    }
}

/// Where a stream starts.
#[derive(Debug, Clone)]
enum Start {
    Head,
    Cursor(Cursor),
}

/// Configures a [`ResumableLogs`] stream.
#[must_use]
pub struct ResumableLogsBuilder {
    live: DynProvider,
    backfill: Option<DynProvider>,
    filter: Filter,
    chunk: u64,
    policy: RetryPolicy,
    history: usize,
    cursor_blocks: usize,
    signals: Vec<(SignalKind, watch::Receiver<u64>)>,
    start: Start,
    poll_interval: Duration,
    force_polling: bool,
}

impl ResumableLogsBuilder {
    fn new(live: DynProvider, filter: Filter) -> Self {
        Self {
            live,
            backfill: None,
            filter,
            chunk: DEFAULT_CHUNK_BLOCKS,
            policy: RetryPolicy::default(),
            history: DEFAULT_HISTORY_BLOCKS,
            cursor_blocks: DEFAULT_CURSOR_BLOCKS,
            signals: Vec::new(),
            start: Start::Head,
            poll_interval: DEFAULT_POLL_INTERVAL,
            force_polling: false,
        }
    }

    /// Backfill (and check reorgs) over this provider instead (e.g. an `AmbHttp` one: AMB's
    /// WebSocket messages are limited to 512 KB, large `eth_getLogs` answers belong on HTTP).
    pub fn backfill_provider(mut self, provider: impl Provider + 'static) -> Self {
        self.backfill = Some(provider.erased());
        self
    }

    /// The largest span of one `eth_getLogs` call when backfilling (default 500 blocks). A
    /// "too large" answer halves the span, down to one block; successes grow it back.
    pub fn chunk_blocks(mut self, blocks: u64) -> Self {
        self.chunk = blocks.max(1);
        self
    }

    /// Bounds the retries of each call to `attempts`, starting from `initial_backoff`
    /// (doubling, capped at 30 s). Without it (or [`retry_policy`](Self::retry_policy)),
    /// transient failures are retried for as long as they last.
    pub fn retries(mut self, attempts: u32, initial_backoff: Duration) -> Self {
        self.policy.max_attempts = Some(attempts.max(1));
        self.policy.initial_backoff = initial_backoff;
        self
    }

    /// How failed calls are retried (default: from 250 ms, doubling, capped at 30 s, forever).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How many recent blocks are remembered for reorg handling (default 128). A reorg that
    /// replaces all of them ends the stream with [`StreamError::DeepReorg`].
    pub fn history_blocks(mut self, blocks: usize) -> Self {
        self.history = blocks.max(1);
        self
    }

    /// How many recent blocks with delivered logs a [`Cursor`] carries (default 16), to check
    /// on restart.
    pub fn cursor_blocks(mut self, blocks: usize) -> Self {
        self.cursor_blocks = blocks.max(1);
        self
    }

    /// Backfill after every reconnect of the connector behind this signal (see
    /// [`track_reconnects`]); counted as [`Stats::reconnects`]. Without one, outages are
    /// noticed through `newHeads` gaps.
    pub fn reconnect_signal(mut self, signal: watch::Receiver<u64>) -> Self {
        self.signals.push((SignalKind::Reconnect, signal));
        self
    }

    /// Backfill whenever this signal changes (any number of signals may be given): e.g. a
    /// transport's "a notification may have been lost" counter
    /// ([`AmbWsConnect::lost_notifications`](crate::AmbWsConnect::lost_notifications)).
    pub fn backfill_on(mut self, signal: watch::Receiver<u64>) -> Self {
        self.signals.push((SignalKind::Other, signal));
        self
    }

    /// Start from this block (backfilled first) instead of from the current head.
    pub fn from_block(mut self, block: u64) -> Self {
        self.start = Start::Cursor(Cursor::from_block(block));
        self
    }

    /// Start from a saved position ([`ResumableLogs::cursor`], or the one a
    /// [`StreamError`] carries): its blocks are checked against the chain first (removals for
    /// those replaced meanwhile), then everything after it is delivered.
    pub fn from_cursor(mut self, cursor: Cursor) -> Self {
        self.start = Start::Cursor(cursor);
        self
    }

    /// Poll every `interval` in the HTTP-only mode (default 4 s).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Use the HTTP-only (polling) mode even over a pub/sub provider. It is chosen
    /// automatically for providers without subscriptions.
    pub fn polling(mut self) -> Self {
        self.force_polling = true;
        self
    }

    /// Starts the stream: subscribes (`newHeads` and `logs`) over a pub/sub provider, or
    /// starts polling over an HTTP one.
    pub async fn subscribe(self) -> TransportResult<ResumableLogs> {
        if matches!(self.filter.block_option, FilterBlockOption::AtBlockHash(_)) {
            return Err(TransportErrorKind::custom_str(
                "a resumable log stream takes a filter without a block hash",
            ));
        }
        let polling = self.force_polling || self.live.client().pubsub_frontend().is_none();
        let backfill = match (&self.backfill, polling) {
            (Some(b), _) => b.clone(),
            (None, _) => self.live.clone(),
        };
        let live_subs = if polling {
            None
        } else {
            let heads = self.live.subscribe_blocks().await?;
            let logs = self.live.subscribe_logs(&self.filter).await?;
            Some((heads, logs))
        };
        let (cursor, resync_first) = match self.start {
            Start::Cursor(c) => (c, true),
            Start::Head => {
                let head = if polling {
                    backfill.get_block_number().await?
                } else {
                    self.live.get_block_number().await?
                };
                // u64::MAX is refused (no block follows it).
                let head = error::usable_head(head)?;
                (Cursor::from_block(head + 1), false)
            }
        };
        let (tx, rx) = mpsc::channel(1024);
        let counters = Arc::new(Counters::default());
        let core = Core {
            backfill,
            filter: self.filter,
            policy: self.policy,
            span: Span::new(self.chunk),
            tracker: Tracker::from_cursor(&cursor, self.history),
            tx,
            counters: counters.clone(),
            behind_patience: 8,
        };
        let signals = merge_signals(self.signals);
        let task = match live_subs {
            Some((heads, logs)) => {
                tokio::spawn(driver::run_live(core, heads, logs, signals, resync_first))
            }
            None => tokio::spawn(poller::run_polling(core, self.poll_interval, signals)),
        };
        Ok(ResumableLogs {
            rx,
            task,
            counters,
            cursor: CursorTracker::new(cursor, self.cursor_blocks),
        })
    }
}

/// A stream of logs, each exactly once, in chain order, with removals (`removed: true`,
/// newest first) when the chain reorganises. Every log carries its position
/// ([`Position::of`]); [`cursor`](Self::cursor) is where a new stream would go on.
///
/// Transient failures never end it; it ends with an error only for a [`StreamError`] (get it
/// with [`StreamError::from_transport_error`]). Dropping it unsubscribes.
pub struct ResumableLogs {
    rx: mpsc::Receiver<Msg>,
    task: tokio::task::JoinHandle<()>,
    counters: Arc<Counters>,
    cursor: CursorTracker,
}

impl ResumableLogs {
    /// What the stream has done so far.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// The position after the last item this stream returned: save it, and give it to
    /// [`ResumableLogsBuilder::from_cursor`] to go on later with no gap and no duplicate.
    pub fn cursor(&self) -> Cursor {
        self.cursor.cursor()
    }
}

impl Stream for ResumableLogs {
    type Item = TransportResult<Log>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Msg::Log(log))) => {
                self.cursor.apply(&log);
                Poll::Ready(Some(Ok(log)))
            }
            Poll::Ready(Some(Msg::End(err))) => {
                let err = err.with_resume(self.cursor.cursor());
                Poll::Ready(Some(Err(err.into())))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for ResumableLogs {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for ResumableLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResumableLogs")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ResumableLogsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResumableLogsBuilder")
            .field("filter", &self.filter)
            .field("chunk", &self.chunk)
            .field("policy", &self.policy)
            .field("history", &self.history)
            .field("signals", &self.signals.len())
            .finish_non_exhaustive()
    }
}
