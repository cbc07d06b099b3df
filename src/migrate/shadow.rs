//! The shadow layer; documented in the [`migrate`](super) module docs.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use alloy_json_rpc::{RequestPacket, ResponsePacket, ResponsePayload};
use alloy_transport::{BoxTransport, IntoBoxTransport, TransportError, TransportFut};
use serde_json::Value;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};

use super::{is_read_only, pinned_block, short_diff, Sampler};

/// How much to mirror.
#[derive(Debug, Clone)]
pub struct ShadowConfig {
    /// The fraction of eligible (pinned, read-only) calls mirrored, in `[0, 1]`.
    pub fraction: f64,
    /// Seeds the sampler: the same seed and the same sequence of eligible calls mirror the same
    /// calls.
    pub seed: u64,
    /// At most this many mirrored calls at once; more are dropped (counted).
    pub max_in_flight: usize,
    /// How many recent mismatches [`ShadowHandle::mismatches`] keeps.
    pub keep_mismatches: usize,
    /// How long a mirrored call may wait for the secondary (readiness and answer); past it the
    /// call is abandoned, counted in [`ShadowStats::secondary_errors`], and its slot freed, so a
    /// secondary that never answers cannot stop the mirroring.
    pub secondary_timeout: Duration,
}

impl Default for ShadowConfig {
    fn default() -> Self {
        Self {
            fraction: 1.0,
            seed: 0,
            max_in_flight: 32,
            keep_mismatches: 64,
            secondary_timeout: Duration::from_secs(30),
        }
    }
}

/// Counters of the shadow layer (a snapshot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShadowStats {
    /// Calls not eligible (a write, not pinned, not on the allow-list, a batch with such a call).
    pub ineligible: u64,
    /// Eligible calls the sampler passed over.
    pub not_sampled: u64,
    /// Sampled calls dropped because `max_in_flight` mirrored calls were running.
    pub dropped: u64,
    /// Sampled calls not mirrored because the primary failed (nothing to compare with).
    pub primary_errors: u64,
    /// Mirrored calls the secondary failed (transport error) or did not answer within
    /// [`ShadowConfig::secondary_timeout`].
    pub secondary_errors: u64,
    /// Answers compared (one per call of a batch).
    pub compared: u64,
    /// Of those, equal.
    pub matched: u64,
    /// Of those, different.
    pub mismatched: u64,
}

/// One answer that differed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowMismatch {
    /// The JSON-RPC method.
    pub method: String,
    /// Where the call was pinned: a block number, a block hash, a range, or `chain`.
    pub block: String,
    /// The first difference (`$.path: primary != secondary`), cut short.
    pub diff: String,
}

#[derive(Debug)]
struct State {
    config: ShadowConfig,
    sampler: Sampler,
    permits: Arc<Semaphore>,
    ineligible: AtomicU64,
    not_sampled: AtomicU64,
    dropped: AtomicU64,
    primary_errors: AtomicU64,
    secondary_errors: AtomicU64,
    compared: AtomicU64,
    matched: AtomicU64,
    mismatched: AtomicU64,
    in_flight: AtomicUsize,
    idle: Notify,
    mismatches: Mutex<VecDeque<ShadowMismatch>>,
}

/// Reads the shadow layer's counters and mismatches; clones share them.
#[derive(Debug, Clone)]
pub struct ShadowHandle {
    state: Arc<State>,
}

impl ShadowHandle {
    /// The counters now.
    pub fn stats(&self) -> ShadowStats {
        let s = &self.state;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ShadowStats {
            ineligible: l(&s.ineligible),
            not_sampled: l(&s.not_sampled),
            dropped: l(&s.dropped),
            primary_errors: l(&s.primary_errors),
            secondary_errors: l(&s.secondary_errors),
            compared: l(&s.compared),
            matched: l(&s.matched),
            mismatched: l(&s.mismatched),
        }
    }

    /// The most recent mismatches (at most [`ShadowConfig::keep_mismatches`]), oldest first.
    pub fn mismatches(&self) -> Vec<ShadowMismatch> {
        self.state
            .mismatches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Mirrored calls started and not yet compared.
    pub fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::Acquire)
    }

    /// Resolves when no mirrored call is in flight (e.g. before reading the counters at shutdown
    /// or in a test).
    pub async fn idle(&self) {
        loop {
            let notified = self.state.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// A tower [`Layer`] that mirrors a sample of pinned read-only calls to a secondary transport.
#[derive(Debug, Clone)]
pub struct ShadowLayer {
    secondary: BoxTransport,
    state: Arc<State>,
}

impl ShadowLayer {
    /// Mirrors to `secondary` (any alloy transport, e.g. an `AmbHttp` or alloy's `Http`).
    /// A `fraction` outside `[0, 1]` is clamped (NaN counts as 0); `max_in_flight` 0 mirrors
    /// nothing.
    pub fn new(secondary: impl IntoBoxTransport, mut config: ShadowConfig) -> Self {
        config.fraction = if config.fraction.is_nan() {
            0.0
        } else {
            config.fraction.clamp(0.0, 1.0)
        };
        let permits = Arc::new(Semaphore::new(config.max_in_flight));
        let state = State {
            sampler: Sampler::new(config.seed),
            config,
            permits,
            ineligible: AtomicU64::new(0),
            not_sampled: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            primary_errors: AtomicU64::new(0),
            secondary_errors: AtomicU64::new(0),
            compared: AtomicU64::new(0),
            matched: AtomicU64::new(0),
            mismatched: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            mismatches: Mutex::new(VecDeque::new()),
        };
        Self {
            secondary: secondary.into_box_transport(),
            state: Arc::new(state),
        }
    }

    /// The handle to its counters.
    pub fn handle(&self) -> ShadowHandle {
        ShadowHandle {
            state: self.state.clone(),
        }
    }
}

impl<S> Layer<S> for ShadowLayer {
    type Service = ShadowService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ShadowService {
            inner,
            secondary: self.secondary.clone(),
            state: self.state.clone(),
        }
    }
}

/// The service [`ShadowLayer`] makes: the primary transport, plus mirroring.
#[derive(Debug, Clone)]
pub struct ShadowService<S> {
    inner: S,
    secondary: BoxTransport,
    state: Arc<State>,
}

/// One mirrored call: its permit, and `in_flight` counted until it is dropped.
struct InFlight {
    state: Arc<State>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.state.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.state.idle.notify_waiters();
        }
    }
}

/// `(method, pinned block)` of every call in the packet, or `None` if any is not eligible.
fn plan(req: &RequestPacket) -> Option<Vec<(String, String)>> {
    let calls = match req {
        RequestPacket::Single(r) => std::slice::from_ref(r),
        RequestPacket::Batch(b) if !b.is_empty() => b.as_slice(),
        RequestPacket::Batch(_) => return None,
    };
    calls
        .iter()
        .map(|r| {
            let method = r.method();
            if !is_read_only(method) {
                return None;
            }
            let params: Value = match r.params() {
                Some(p) => serde_json::from_str(p.get()).ok()?,
                None => Value::Array(vec![]),
            };
            pinned_block(method, &params).map(|b| (method.to_string(), b))
        })
        .collect()
}

impl<S> ShadowService<S> {
    /// Decides whether to mirror `req`; on yes, the request copy and its in-flight slot.
    fn sample(&self, req: &RequestPacket) -> Option<(Vec<(String, String)>, InFlight)> {
        let s = &self.state;
        let Some(plan) = plan(req) else {
            s.ineligible.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        if s.sampler.next_unit() >= s.config.fraction {
            s.not_sampled.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            s.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let Ok(permit) = s.permits.clone().try_acquire_owned() else {
            s.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        s.in_flight.fetch_add(1, Ordering::AcqRel);
        Some((
            plan,
            InFlight {
                state: s.clone(),
                _permit: permit,
            },
        ))
    }
}

impl<S> Service<RequestPacket> for ShadowService<S>
where
    S: Service<
            RequestPacket,
            Response = ResponsePacket,
            Error = TransportError,
            Future = TransportFut<'static>,
        > + Send
        + 'static,
{
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: RequestPacket) -> Self::Future {
        let mirror = self
            .sample(&req)
            .map(|(plan, slot)| (plan, slot, req.clone()));
        let primary = self.inner.call(req);
        let secondary = self.secondary.clone();
        Box::pin(async move {
            let answer = primary.await;
            if let Some((plan, slot, req)) = mirror {
                match &answer {
                    Ok(resp) => {
                        let resp = resp.clone();
                        tokio::spawn(mirror_and_compare(secondary, req, resp, plan, slot));
                    }
                    Err(_) => {
                        slot.state.primary_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            answer
        })
    }
}

/// Sends `req` to the secondary and compares its answer with the primary's.
async fn mirror_and_compare(
    mut secondary: BoxTransport,
    req: RequestPacket,
    primary: ResponsePacket,
    plan: Vec<(String, String)>,
    slot: InFlight,
) {
    let s = slot.state.clone();
    let ids: Vec<_> = match &req {
        RequestPacket::Single(r) => vec![r.id().clone()],
        RequestPacket::Batch(b) => b.iter().map(|r| r.id().clone()).collect(),
    };
    let call = async {
        futures::future::poll_fn(|cx| secondary.poll_ready(cx)).await?;
        secondary.call(req).await
    };
    let secondary = match tokio::time::timeout(s.config.secondary_timeout, call).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            s.secondary_errors.fetch_add(1, Ordering::Relaxed);
            // The transport's text may quote the secondary's URL (a provider key in its path)
            // or its answer: URLs cut to scheme and host, secrets withheld.
            let error = super::printable(&e.to_string());
            tracing::debug!(target: "alloy_amb::shadow", %error, "shadow call failed");
            return;
        }
        Err(_) => {
            s.secondary_errors.fetch_add(1, Ordering::Relaxed);
            let timeout = s.config.secondary_timeout;
            tracing::debug!(target: "alloy_amb::shadow", ?timeout, "shadow call timed out");
            return;
        }
    };
    let find = |p: &ResponsePacket, id: &alloy_json_rpc::Id| {
        p.payloads_with_ids()
            .find(|(i, _)| *i == id)
            .map(|(_, payload)| payload.clone())
    };
    for (id, (method, block)) in ids.iter().zip(plan) {
        let diff = payload_diff(find(&primary, id).as_ref(), find(&secondary, id).as_ref());
        s.compared.fetch_add(1, Ordering::Relaxed);
        match diff {
            None => {
                s.matched.fetch_add(1, Ordering::Relaxed);
            }
            Some(diff) => {
                s.mismatched.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(target: "alloy_amb::shadow", %method, %block, %diff, "shadow mismatch");
                let mut kept = s.mismatches.lock().unwrap_or_else(|e| e.into_inner());
                if kept.len() >= s.config.keep_mismatches.max(1) {
                    kept.pop_front();
                }
                kept.push_back(ShadowMismatch {
                    method,
                    block,
                    diff,
                });
            }
        }
    }
    drop(slot);
}

trait PayloadsWithIds {
    fn payloads_with_ids(
        &self,
    ) -> Box<dyn Iterator<Item = (&alloy_json_rpc::Id, &ResponsePayload)> + '_>;
}

impl PayloadsWithIds for ResponsePacket {
    fn payloads_with_ids(
        &self,
    ) -> Box<dyn Iterator<Item = (&alloy_json_rpc::Id, &ResponsePayload)> + '_> {
        match self {
            ResponsePacket::Single(r) => Box::new(std::iter::once((&r.id, &r.payload))),
            ResponsePacket::Batch(b) => Box::new(b.iter().map(|r| (&r.id, &r.payload))),
        }
    }
}

/// `None` when the two answers agree: equal JSON results, or errors with the same code (error
/// messages differ between clients).
pub(crate) fn payload_diff(
    a: Option<&ResponsePayload>,
    b: Option<&ResponsePayload>,
) -> Option<String> {
    let parse = |r: &serde_json::value::RawValue| {
        serde_json::from_str::<Value>(r.get()).unwrap_or(Value::Null)
    };
    match (a, b) {
        (Some(ResponsePayload::Success(x)), Some(ResponsePayload::Success(y))) => {
            short_diff(&parse(x), &parse(y))
        }
        (Some(ResponsePayload::Failure(x)), Some(ResponsePayload::Failure(y))) => {
            (x.code != y.code).then(|| format!("error {} != error {}", x.code, y.code))
        }
        (Some(ResponsePayload::Success(_)), Some(ResponsePayload::Failure(y))) => {
            Some(format!("result != error {}", y.code))
        }
        (Some(ResponsePayload::Failure(x)), Some(ResponsePayload::Success(_))) => {
            Some(format!("error {} != result", x.code))
        }
        (Some(_), None) => Some("answer != (no answer for this id)".into()),
        (None, Some(_)) => Some("(no answer for this id) != answer".into()),
        (None, None) => None,
    }
}
