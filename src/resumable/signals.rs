//! Backfill signals: a reconnect counter around any pub/sub connector.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use alloy_pubsub::{ConnectionHandle, PubSubConnect};
use alloy_transport::TransportResult;
use tokio::sync::watch;

/// Counts reconnects of any alloy pub/sub connector. See [`track_reconnects`].
#[derive(Debug)]
pub struct TrackReconnects<C> {
    inner: C,
    count: Arc<AtomicU64>,
    tx: watch::Sender<u64>,
}

/// Wraps a pub/sub connector (`AmbWsConnect`, alloy's `WsConnect`, ...) so that its reconnects
/// can be observed: the receiver's value is the number of reconnects so far. Give it to
/// [`ResumableLogsBuilder::reconnect_signal`](super::ResumableLogsBuilder::reconnect_signal).
pub fn track_reconnects<C: PubSubConnect>(
    connect: C,
) -> (TrackReconnects<C>, watch::Receiver<u64>) {
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
