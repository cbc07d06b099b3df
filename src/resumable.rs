//! Gap-free log subscriptions: every log exactly once, in order, across reconnects and reorgs.
//!
//! A plain `eth_subscribe("logs")` only delivers what happens while the connection is up:
//! alloy-pubsub resubscribes after a reconnect, but logs emitted during the outage are lost.
//! [`subscribe_logs_resumable`] returns a stream that remembers the last delivered position
//! (block number, block hash, log index) and, after any reconnect, a gap in `newHeads`, or a
//! lagging subscription channel, backfills with `eth_getLogs` from there to the current head
//! (in chunks, with retries), then continues live, dropping duplicates.
//!
//! Reorgs: logs with `removed: true` from the node are passed through (once). After a
//! reconnect or gap, the stream checks the hashes of the blocks it delivered logs from; if the
//! chain changed under it, it emits the orphaned logs again with `removed: true` (newest first)
//! before the replacement logs.
//!
//! ```no_run
//! use alloy_amb::resumable::{track_reconnects, ResumableLogsExt};
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
//!     let log = log?;
//!     if log.removed { /* undo */ } else { /* apply */ }
//! }
//! # Ok(()) }
//! ```
//!
//! Limits: the stream is as good as the node's `eth_getLogs`; a reorg deeper than the remembered
//! history (default 128 blocks) produces removals only for what is remembered; without a
//! reconnect signal ([`track_reconnects`]), an outage is noticed through `newHeads` (a block
//! number gap), so logs of the last block before a disconnect are re-checked only when the next
//! head arrives.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use alloy_provider::{DynProvider, Provider};
use alloy_pubsub::{ConnectionHandle, PubSubConnect};
use alloy_rpc_types_eth::{BlockNumberOrTag, Filter, FilterBlockOption, Header, Log};
use alloy_transport::{TransportError, TransportErrorKind, TransportResult};
use futures::Stream;
use tokio::sync::{broadcast::error::RecvError, mpsc, watch};

/// Default span of one `eth_getLogs` backfill call, in blocks.
pub const DEFAULT_CHUNK_BLOCKS: u64 = 500;
/// Default number of recent blocks whose delivered logs are remembered for reorg handling.
pub const DEFAULT_HISTORY_BLOCKS: usize = 128;

/// Counts reconnects of any alloy pub/sub connector. See [`track_reconnects`].
#[derive(Debug)]
pub struct TrackReconnects<C> {
    inner: C,
    count: Arc<AtomicU64>,
    tx: watch::Sender<u64>,
}

/// A signal that fires on every reconnect of the connector it came from.
pub type ReconnectSignal = watch::Receiver<u64>;

/// Wraps a pub/sub connector (`AmbWsConnect`, alloy's `WsConnect`, ...) so that its reconnects
/// can be observed; give the signal to [`ResumableLogsBuilder::reconnect_signal`].
pub fn track_reconnects<C: PubSubConnect>(connect: C) -> (TrackReconnects<C>, ReconnectSignal) {
    let (tx, rx) = watch::channel(0);
    (
        TrackReconnects {
            inner: connect,
            count: Arc::new(AtomicU64::new(0)),
            tx,
        },
        rx,
    )
}

impl<C: PubSubConnect> PubSubConnect for TrackReconnects<C> {
    fn is_local(&self) -> bool {
        self.inner.is_local()
    }

    async fn connect(&self) -> TransportResult<ConnectionHandle> {
        self.inner.connect().await
    }

    async fn try_reconnect(&self) -> TransportResult<ConnectionHandle> {
        let handle = self.inner.try_reconnect().await?;
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        self.tx.send_replace(n);
        Ok(handle)
    }
}

/// Adds [`resumable_logs`](ResumableLogsExt::resumable_logs) to every alloy provider.
pub trait ResumableLogsExt {
    /// A builder for a gap-free log stream over this (pub/sub) provider.
    fn resumable_logs(&self, filter: &Filter) -> ResumableLogsBuilder;
}

impl<P: Provider + Clone + 'static> ResumableLogsExt for P {
    fn resumable_logs(&self, filter: &Filter) -> ResumableLogsBuilder {
        ResumableLogsBuilder::new(self.clone().erased(), filter.clone())
    }
}

/// A gap-free log stream with the default settings over `provider` (which must support
/// subscriptions). See the [module docs](self).
pub async fn subscribe_logs_resumable<P: Provider + Clone + 'static>(
    provider: &P,
    filter: &Filter,
) -> TransportResult<ResumableLogs> {
    provider.resumable_logs(filter).subscribe().await
}

/// Configures a [`ResumableLogs`] stream.
#[must_use]
pub struct ResumableLogsBuilder {
    live: DynProvider,
    backfill: Option<DynProvider>,
    filter: Filter,
    chunk: u64,
    retries: u32,
    backoff: Duration,
    history: usize,
    reconnects: Option<ReconnectSignal>,
    from_block: Option<u64>,
}

impl ResumableLogsBuilder {
    fn new(live: DynProvider, filter: Filter) -> Self {
        Self {
            live,
            backfill: None,
            filter,
            chunk: DEFAULT_CHUNK_BLOCKS,
            retries: 5,
            backoff: Duration::from_millis(250),
            history: DEFAULT_HISTORY_BLOCKS,
            reconnects: None,
            from_block: None,
        }
    }

    /// Backfill over this provider instead (e.g. an `AmbHttp` one: AMB's WebSocket messages are
    /// limited to 512 KB, large `eth_getLogs` answers belong on HTTP).
    pub fn backfill_provider(mut self, provider: impl Provider + 'static) -> Self {
        self.backfill = Some(provider.erased());
        self
    }

    /// Blocks per `eth_getLogs` call when backfilling (default 500).
    pub fn chunk_blocks(mut self, blocks: u64) -> Self {
        self.chunk = blocks.max(1);
        self
    }

    /// Attempts per backfill call before the error is surfaced, and the first backoff
    /// (doubling; default 5 attempts from 250 ms).
    pub fn retries(mut self, attempts: u32, initial_backoff: Duration) -> Self {
        self.retries = attempts.max(1);
        self.backoff = initial_backoff;
        self
    }

    /// How many recent blocks' delivered logs are remembered for reorg removals (default 128).
    pub fn history_blocks(mut self, blocks: usize) -> Self {
        self.history = blocks.max(1);
        self
    }

    /// Backfill after every reconnect of the connector behind this signal (see
    /// [`track_reconnects`]); without it, outages are noticed through `newHeads` gaps.
    pub fn reconnect_signal(mut self, signal: ReconnectSignal) -> Self {
        self.reconnects = Some(signal);
        self
    }

    /// Start from this block (backfilled first) instead of from the current head.
    pub fn from_block(mut self, block: u64) -> Self {
        self.from_block = Some(block);
        self
    }

    /// Subscribes (`newHeads` and `logs`) and starts the stream.
    pub async fn subscribe(self) -> TransportResult<ResumableLogs> {
        if matches!(self.filter.block_option, FilterBlockOption::AtBlockHash(_)) {
            return Err(TransportErrorKind::custom_str(
                "a resumable log stream takes a filter without a block hash",
            ));
        }
        let heads = self.live.subscribe_blocks().await?;
        let logs = self.live.subscribe_logs(&self.filter).await?;
        let head = self.live.get_block_number().await?;
        let complete_through = match self.from_block {
            Some(b) => b.saturating_sub(1),
            None => head,
        };
        let (tx, rx) = mpsc::channel(1024);
        let mut driver = Driver {
            backfill: self.backfill.unwrap_or_else(|| self.live.clone()),
            filter: self.filter,
            chunk: self.chunk,
            retries: self.retries,
            backoff: self.backoff,
            history_cap: self.history,
            tx,
            complete_through,
            cursor: None,
            history: BTreeMap::new(),
            last_head: None,
        };
        let mut reconnects = self.reconnects;
        if let Some(r) = &mut reconnects {
            r.borrow_and_update();
        }
        let task = tokio::spawn(async move {
            if complete_through < head {
                match driver.backfill_to(head).await {
                    Ok(()) => {}
                    Err(Stop::Failed(e)) => {
                        let _ = driver.tx.send(Err(e)).await;
                        return;
                    }
                    Err(Stop::Closed) => return,
                }
            }
            driver.run(heads, logs, reconnects).await;
        });
        Ok(ResumableLogs { rx, task })
    }
}

/// A stream of logs, each exactly once, in chain order; removals (`removed: true`) when the
/// chain reorganises. Ends with an error when a backfill keeps failing or the connection is
/// gone for good. Dropping it unsubscribes.
pub struct ResumableLogs {
    rx: mpsc::Receiver<TransportResult<Log>>,
    task: tokio::task::JoinHandle<()>,
}

impl Stream for ResumableLogs {
    type Item = TransportResult<Log>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for ResumableLogs {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for ResumableLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResumableLogs").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ResumableLogsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResumableLogsBuilder")
            .field("filter", &self.filter)
            .field("chunk", &self.chunk)
            .field("retries", &self.retries)
            .field("history", &self.history)
            .finish_non_exhaustive()
    }
}

/// `(block number, log index)`: the order logs are delivered in.
type Position = (u64, u64);

fn position(log: &Log) -> Option<Position> {
    Some((log.block_number?, log.log_index?))
}

struct Driver {
    backfill: DynProvider,
    filter: Filter,
    chunk: u64,
    retries: u32,
    backoff: Duration,
    history_cap: usize,
    tx: mpsc::Sender<TransportResult<Log>>,
    /// Every log of every block up to here has been delivered.
    complete_through: u64,
    /// The last delivered log.
    cursor: Option<Position>,
    /// Recent blocks we delivered logs from: hash and logs.
    history: BTreeMap<u64, (Option<alloy_primitives::B256>, Vec<Log>)>,
    last_head: Option<(u64, alloy_primitives::B256)>,
}

/// Why the driver stops.
enum Stop {
    /// The user dropped the stream.
    Closed,
    /// A backfill kept failing, or the connection is gone for good.
    Failed(TransportError),
}

impl From<TransportError> for Stop {
    fn from(e: TransportError) -> Self {
        Self::Failed(e)
    }
}

impl Driver {
    async fn run(
        &mut self,
        mut heads: alloy_pubsub::Subscription<Header>,
        mut logs: alloy_pubsub::Subscription<Log>,
        mut reconnects: Option<ReconnectSignal>,
    ) {
        loop {
            let step = tokio::select! {
                biased;
                _ = self.tx.closed() => return,
                changed = async {
                    match &mut reconnects {
                        Some(r) => r.changed().await,
                        None => std::future::pending().await,
                    }
                } => match changed {
                    Ok(()) => {
                        tracing::debug!("reconnected: backfilling logs");
                        self.catch_up(None).await
                    }
                    Err(_) => {
                        reconnects = None;
                        Ok(())
                    }
                },
                head = heads.recv() => match head {
                    Ok(head) => self.on_head(head).await,
                    Err(RecvError::Lagged(_)) => self.catch_up(None).await,
                    Err(RecvError::Closed) => Err(Stop::Failed(TransportErrorKind::backend_gone())),
                },
                log = logs.recv() => match log {
                    Ok(log) => self.on_live_log(log).await,
                    Err(RecvError::Lagged(_)) => self.catch_up(None).await,
                    Err(RecvError::Closed) => Err(Stop::Failed(TransportErrorKind::backend_gone())),
                },
            };
            match step {
                Ok(()) => {}
                Err(Stop::Failed(err)) => {
                    let _ = self.tx.send(Err(err)).await;
                    return;
                }
                Err(Stop::Closed) => return,
            }
        }
    }

    async fn on_head(&mut self, head: Header) -> Result<(), Stop> {
        let (number, hash, parent) = (head.number, head.hash, head.parent_hash);
        if let Some((last, last_hash)) = self.last_head {
            if number > last + 1 {
                tracing::debug!(last, number, "newHeads gap: backfilling logs");
                self.catch_up(Some(number - 1)).await?;
            } else if number <= last || parent != last_hash {
                // The chain reorganised while we watched. The node sends `removed` logs (passed
                // through once); in case some were lost, check what we delivered, and fetch the
                // replacement blocks' logs (duplicates are dropped).
                tracing::debug!(last, number, "newHeads reorg: checking delivered logs");
                self.catch_up(Some(number.saturating_sub(1))).await?;
            }
        }
        self.last_head = Some((number, hash));
        self.complete_through = self.complete_through.max(number.saturating_sub(1));
        Ok(())
    }

    async fn on_live_log(&mut self, log: Log) -> Result<(), Stop> {
        if log.removed {
            return self.pass_removal(log).await;
        }
        // A live log beyond the next block means heads (and maybe logs) were missed: fetch
        // what lies between first, so that order holds.
        let seen = self
            .last_head
            .map_or(self.complete_through, |(n, _)| n.max(self.complete_through));
        if let Some(block) = log.block_number.filter(|b| *b > seen + 1) {
            tracing::debug!(
                seen,
                block,
                "log ahead of the known head: backfilling first"
            );
            self.catch_up(Some(block - 1)).await?;
        }
        self.deliver(log).await
    }

    /// Delivers a log unless it is at or before the cursor (a duplicate).
    async fn deliver(&mut self, log: Log) -> Result<(), Stop> {
        let Some(pos) = position(&log) else {
            // Pending logs have no position: nothing to order or dedupe them by.
            return self.send(log).await;
        };
        if self.cursor.is_some_and(|c| pos <= c) {
            return Ok(());
        }
        self.cursor = Some(pos);
        let entry = self
            .history
            .entry(pos.0)
            .or_insert_with(|| (log.block_hash, Vec::new()));
        entry.1.push(log.clone());
        while self.history.len() > self.history_cap {
            self.history.pop_first();
        }
        self.send(log).await
    }

    async fn send(&self, log: Log) -> Result<(), Stop> {
        self.tx.send(Ok(log)).await.map_err(|_| Stop::Closed)
    }

    /// A `removed` log from the node: passed through once, if we delivered it. The block hash
    /// must match too: the replacement at the same height and index may already be delivered
    /// (a head ahead of the removal made us check the block), and is not what is removed.
    async fn pass_removal(&mut self, log: Log) -> Result<(), Stop> {
        let Some((block, index)) = position(&log) else {
            return Ok(());
        };
        let delivered = self
            .history
            .get_mut(&block)
            .and_then(|(_, logs)| {
                let i = logs
                    .iter()
                    .position(|l| l.log_index == Some(index) && l.block_hash == log.block_hash)?;
                Some(logs.remove(i))
            })
            .is_some();
        if self.history.get(&block).is_some_and(|(_, l)| l.is_empty()) {
            self.history.remove(&block);
        }
        if !delivered {
            return Ok(());
        }
        self.rewind_to(block.saturating_sub(1));
        self.send(log).await
    }

    /// Forgets positions after `block`, so replacement logs are delivered.
    fn rewind_to(&mut self, block: u64) {
        if self.cursor.is_some_and(|(b, _)| b > block) {
            self.cursor = Some(
                self.history
                    .range(..=block)
                    .next_back()
                    .and_then(|(_, (_, logs))| logs.last().and_then(position))
                    .unwrap_or((block, u64::MAX)),
            );
        }
        self.complete_through = self.complete_through.min(block);
    }

    /// After an outage: removals for orphaned logs, then every log up to `to` (or the current
    /// head).
    async fn catch_up(&mut self, to: Option<u64>) -> Result<(), Stop> {
        self.check_reorg().await?;
        let head = match to {
            Some(h) => h,
            None => {
                let backfill = self.backfill.clone();
                self.retry(|| {
                    let p = backfill.clone();
                    async move { p.get_block_number().await }
                })
                .await?
            }
        };
        self.backfill_to(head).await
    }

    /// Emits removals for delivered logs whose block is no longer canonical.
    async fn check_reorg(&mut self) -> Result<(), Stop> {
        let mut orphaned = Vec::new();
        let blocks: Vec<u64> = self.history.keys().rev().copied().collect();
        for block in blocks {
            let recorded = self.history[&block].0;
            let backfill = self.backfill.clone();
            let canonical = self
                .retry(|| {
                    let p = backfill.clone();
                    async move {
                        p.get_block_by_number(BlockNumberOrTag::Number(block))
                            .await
                            .map(|b| b.map(|b| b.header.hash))
                    }
                })
                .await?;
            if canonical.is_some() && canonical == recorded {
                break;
            }
            orphaned.push(block);
        }
        if orphaned.is_empty() {
            return Ok(());
        }
        let fork = orphaned.last().map(|b| b.saturating_sub(1)).unwrap_or(0);
        tracing::debug!(
            fork,
            blocks = orphaned.len(),
            "reorg: removing orphaned logs"
        );
        for block in orphaned {
            if let Some((_, logs)) = self.history.remove(&block) {
                for mut log in logs.into_iter().rev() {
                    log.removed = true;
                    self.send(log).await?;
                }
            }
        }
        self.rewind_to(fork);
        Ok(())
    }

    /// Fetches and delivers every log from the first block not known complete (and the last
    /// head's block, whose logs may have been cut off) through `head`, in chunks.
    async fn backfill_to(&mut self, head: u64) -> Result<(), Stop> {
        let mut from = self.complete_through + 1;
        if let Some((last, _)) = self.last_head {
            from = from.min(last);
        }
        if let Some((b, _)) = self.cursor {
            from = from.min(b);
        }
        while from <= head {
            let to = head.min(from + self.chunk - 1);
            let filter = self.filter.clone().from_block(from).to_block(to);
            let backfill = self.backfill.clone();
            let logs = self
                .retry(|| {
                    let p = backfill.clone();
                    let f = filter.clone();
                    async move { p.get_logs(&f).await }
                })
                .await?;
            tracing::debug!(from, to, logs = logs.len(), "backfilled logs");
            for log in logs {
                self.deliver(log).await?;
            }
            self.complete_through = self.complete_through.max(to);
            from = to + 1;
        }
        Ok(())
    }

    async fn retry<T, F, Fut>(&self, mut call: F) -> TransportResult<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = TransportResult<T>>,
    {
        let mut backoff = self.backoff;
        let mut attempt = 1;
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(e) if attempt >= self.retries => return Err(e),
                Err(e) => {
                    tracing::debug!(attempt, error = %e, "backfill call failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                    attempt += 1;
                }
            }
        }
    }
}
