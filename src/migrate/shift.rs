//! Traffic shifting and write-once failover; documented in the [`migrate`](super) module docs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use alloy_json_rpc::{RequestPacket, ResponsePacket};
use alloy_transport::{
    BoxTransport, IntoBoxTransport, TransportError, TransportErrorKind, TransportFut,
};
use tower::steer::{Picker, Steer};
use tower::Service;

use super::{is_read_only, Sampler};

#[derive(Debug)]
struct ShiftState {
    share_bits: AtomicU64,
    sampler: Sampler,
    to_old: AtomicU64,
    to_new: AtomicU64,
}

/// Picks the new endpoint (index 1) for a `share` of calls, the old one (index 0) otherwise.
#[derive(Debug, Clone)]
pub(crate) struct SharePicker {
    state: Arc<ShiftState>,
}

impl Picker<BoxTransport, RequestPacket> for SharePicker {
    fn pick(&mut self, _req: &RequestPacket, _services: &[BoxTransport]) -> usize {
        let share = f64::from_bits(self.state.share_bits.load(Ordering::Relaxed));
        if self.state.sampler.next_unit() < share {
            self.state.to_new.fetch_add(1, Ordering::Relaxed);
            1
        } else {
            self.state.to_old.fetch_add(1, Ordering::Relaxed);
            0
        }
    }
}

/// Calls routed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShiftStats {
    /// Calls (packets) sent to the old endpoint.
    pub to_old: u64,
    /// Calls (packets) sent to the new endpoint.
    pub to_new: u64,
}

/// Changes the share of a [`Shift`] at run time and reads its counters; clones share them.
#[derive(Debug, Clone)]
pub struct ShiftHandle {
    state: Arc<ShiftState>,
}

impl ShiftHandle {
    /// Sends `share` (clamped to `[0, 1]`; NaN counts as 0) of later calls to the new endpoint.
    /// `0.0` is a full rollback to the old endpoint, `1.0` a full cut-over.
    pub fn set_share(&self, share: f64) {
        let share = if share.is_nan() {
            0.0
        } else {
            share.clamp(0.0, 1.0)
        };
        self.state
            .share_bits
            .store(share.to_bits(), Ordering::Relaxed);
    }

    /// The current share.
    pub fn share(&self) -> f64 {
        f64::from_bits(self.state.share_bits.load(Ordering::Relaxed))
    }

    /// Calls routed so far.
    pub fn stats(&self) -> ShiftStats {
        ShiftStats {
            to_old: self.state.to_old.load(Ordering::Relaxed),
            to_new: self.state.to_new.load(Ordering::Relaxed),
        }
    }
}

/// An alloy transport that sends a share of calls to a new endpoint and the rest to the old one
/// (a [`Steer`] with a seeded picker). Use it as any transport:
/// `ClientBuilder::default().transport(shift, false)`.
#[derive(Debug, Clone)]
pub struct Shift {
    steer: Steer<BoxTransport, SharePicker, RequestPacket>,
}

impl Shift {
    /// `share` of calls to `new`, the rest to `old`; `seed` makes the choices repeatable.
    pub fn new(
        old: impl IntoBoxTransport,
        new: impl IntoBoxTransport,
        share: f64,
        seed: u64,
    ) -> (Self, ShiftHandle) {
        let state = Arc::new(ShiftState {
            share_bits: AtomicU64::new(0f64.to_bits()),
            sampler: Sampler::new(seed),
            to_old: AtomicU64::new(0),
            to_new: AtomicU64::new(0),
        });
        let handle = ShiftHandle {
            state: state.clone(),
        };
        handle.set_share(share);
        let steer = Steer::new(
            [old.into_box_transport(), new.into_box_transport()],
            SharePicker { state },
        );
        (Self { steer }, handle)
    }
}

/// Makes sure every inner transport is ready (alloy transports always are), then calls.
fn steer_call<F>(
    steer: &mut Steer<BoxTransport, F, RequestPacket>,
    req: RequestPacket,
) -> TransportFut<'static>
where
    F: Picker<BoxTransport, RequestPacket>,
{
    let mut cx = Context::from_waker(Waker::noop());
    match steer.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => steer.call(req),
        Poll::Ready(Err(e)) => Box::pin(async move { Err(e) }),
        Poll::Pending => Box::pin(async {
            Err(TransportErrorKind::custom_str(
                "an endpoint behind the traffic shift is not ready; the call was not sent",
            ))
        }),
    }
}

impl Service<RequestPacket> for Shift {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.steer.poll_ready(cx)
    }

    fn call(&mut self, req: RequestPacket) -> Self::Future {
        steer_call(&mut self.steer, req)
    }
}

type WritePicker = fn(&RequestPacket, &[BoxTransport]) -> usize;

/// Index 1 (the writer) for a packet with any call not on the read-only list, else 0.
fn pick_writer(req: &RequestPacket, _services: &[BoxTransport]) -> usize {
    usize::from(req.method_names().any(|m| !is_read_only(m)))
}

/// An alloy transport that sends read-only calls to `reads` (e.g. alloy's `FallbackService` over
/// AMB and the new endpoint) and every other call (`eth_sendRawTransaction`, filters,
/// subscriptions, unknown methods; a batch with any of them) to `writer` alone.
#[derive(Debug, Clone)]
pub struct ReadsFallbackWritesOnce {
    steer: Steer<BoxTransport, WritePicker, RequestPacket>,
}

/// Reads through `reads`, writes through `writer` only: see [`ReadsFallbackWritesOnce`].
///
/// ```no_run
/// # fn f(amb: alloy_amb::AmbHttp, new: alloy_transport::BoxTransport) {
/// use alloy_amb::migrate::reads_fallback_writes_once;
/// use alloy_transport::layers::FallbackLayer;
/// use tower::Layer;
///
/// let amb = alloy_transport::BoxTransport::new(amb);
/// let reads = FallbackLayer::default().layer(vec![amb.clone(), new]);
/// let transport = reads_fallback_writes_once(reads, amb);
/// let client = alloy_rpc_client::ClientBuilder::default().transport(transport, false);
/// # }
/// ```
pub fn reads_fallback_writes_once(
    reads: impl IntoBoxTransport,
    writer: impl IntoBoxTransport,
) -> ReadsFallbackWritesOnce {
    ReadsFallbackWritesOnce {
        steer: Steer::new(
            [reads.into_box_transport(), writer.into_box_transport()],
            pick_writer as WritePicker,
        ),
    }
}

impl Service<RequestPacket> for ReadsFallbackWritesOnce {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.steer.poll_ready(cx)
    }

    fn call(&mut self, req: RequestPacket) -> Self::Future {
        steer_call(&mut self.steer, req)
    }
}
