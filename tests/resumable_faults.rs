//! Gap-free log streams under each fault of issue 12, on the fake AMB gateway's deterministic
//! chain (no node needed): live reorgs told in either order, long HTTP failures, answers over
//! the WebSocket quota, lost notifications, restarts from a cursor, deep reorgs, and the
//! HTTP-only (polling) mode. Each test compares what was delivered, with removals applied,
//! to the chain's own `eth_getLogs` over the whole range.

mod support;

use std::time::Duration;

use alloy_amb::resumable::{
    track_reconnects, Cursor, ResumableLogs, ResumableLogsBuilder, ResumableLogsExt, RetryPolicy,
    StreamError,
};
use alloy_amb::{AmbHttp, ProviderBuilderExt};
use alloy_amb_testing::chain::LOG_ADDRESS;
use alloy_amb_testing::FakeWs;
use alloy_amb_testing::{FakeAmb, REGION};
use alloy_primitives::{Address, B256};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_types_eth::{Filter, Log};
use futures::StreamExt;

fn filter() -> Filter {
    Filter::new().address(LOG_ADDRESS.parse::<Address>().unwrap())
}

fn amb_ws(gateway: &FakeWs) -> alloy_amb::AmbWsConnect {
    alloy_amb::AmbWsConnect::builder(gateway.url())
        .region(REGION)
        .credentials_provider(support::fake_credentials())
        .max_retries(1000)
        .retry_interval(Duration::from_millis(20))
        .build()
        .unwrap()
}

fn amb_http(amb: &FakeAmb) -> impl Provider + Clone {
    ProviderBuilder::new().on_transport(
        AmbHttp::builder(amb.url())
            .region(REGION)
            .credentials_provider(support::fake_credentials())
            .build()
            .unwrap(),
    )
}

/// Fast retries, so that many failures take little time (the count is what is asserted).
fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        max_attempts: None,
    }
}

/// A WebSocket provider through the fake gateway (reconnects tracked) and a builder for a
/// stream of the fake chain's logs.
async fn ws_builder(gateway: &FakeWs) -> (impl Provider + Clone, ResumableLogsBuilder) {
    let (connect, reconnects) = track_reconnects(amb_ws(gateway));
    let provider = ProviderBuilder::new()
        .connect_pubsub_with(connect)
        .await
        .unwrap();
    let builder = provider
        .resumable_logs(&filter())
        .reconnect_signal(reconnects)
        .retry_policy(fast_retries());
    (provider, builder)
}

async fn subscribed(gateway: &FakeWs, builder: ResumableLogsBuilder) -> ResumableLogs {
    let before = gateway.stats().subscriptions;
    let stream = builder.subscribe().await.unwrap();
    gateway
        .wait_for("both subscriptions", |s| s.subscriptions >= before + 2)
        .await;
    stream
}

async fn next(stream: &mut ResumableLogs) -> Result<Log, alloy_transport::TransportError> {
    tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .expect("nothing within 30 s")
        .expect("the stream ended")
}

/// Items until (and including) the first log of block `block`.
async fn until_block(stream: &mut ResumableLogs, block: u64) -> Vec<Log> {
    let mut out = Vec::new();
    loop {
        let log = next(stream).await.expect("stream error");
        let done = !log.removed && log.block_number == Some(block);
        out.push(log);
        if done {
            return out;
        }
    }
}

fn key(log: &Log) -> (u64, u64, B256) {
    (
        log.block_number.unwrap(),
        log.log_index.unwrap(),
        log.block_hash.unwrap(),
    )
}

/// Applies the delivered items in order (a removal undoes its log); fails on a duplicate
/// or on a removal of something not applied.
fn apply(items: &[Log]) -> Vec<(u64, u64, B256)> {
    let mut applied: Vec<(u64, u64, B256)> = Vec::new();
    for log in items {
        let k = key(log);
        if log.removed {
            let i = applied
                .iter()
                .position(|a| *a == k)
                .unwrap_or_else(|| panic!("removal of {k:?}, which was not delivered"));
            applied.remove(i);
        } else {
            assert!(!applied.contains(&k), "{k:?} delivered twice");
            applied.push(k);
        }
    }
    applied
}

/// What the chain says, over the whole range.
fn canonical(amb: &FakeAmb, from: u64) -> Vec<(u64, u64, B256)> {
    let to = amb.head();
    amb.with_chain(|c| {
        (from..=to)
            .map(|n| {
                let log: Log = serde_json::from_value(c.log(n)).unwrap();
                key(&log)
            })
            .collect()
    })
}

fn summary(items: &[Log]) -> Vec<(u64, bool)> {
    items
        .iter()
        .map(|l| (l.block_number.unwrap(), l.removed))
        .collect()
}

/// Fault 1: anvil tells a live reorg with the new blocks' logs before their heads, and no
/// `removed: true`. The replacement logs are at heights already delivered; they used to be
/// dropped as duplicates.
#[tokio::test]
async fn a_live_reorg_told_logs_first_delivers_the_removals_and_the_replacements() {
    let amb = FakeAmb::start().await;
    let gateway = FakeWs::start(&amb).await;
    let (_p, builder) = ws_builder(&gateway).await;
    let mut stream = subscribed(&gateway, builder).await;
    let first = gateway.mine();
    gateway.mine();
    let last = gateway.mine();
    let mut got = until_block(&mut stream, last).await;

    let top = gateway.reorg_live_logs_first(2);
    let end = gateway.mine();
    got.extend(until_block(&mut stream, end).await);
    assert_eq!(
        summary(&got[3..]),
        [
            (last, true),
            (last - 1, true),
            (last - 1, false),
            (last, false),
            (top, false),
            (end, false)
        ]
    );
    assert_eq!(apply(&got), canonical(&amb, first));
    let stats = stream.stats();
    assert!(stats.reorgs >= 1 && stats.removals == 2, "{stats:?}");
}

/// Geth tells it head first, then `removed: true`, then the new logs: each log and each
/// removal still reaches the user once.
#[tokio::test]
async fn a_live_reorg_told_head_first_with_removed_logs_is_applied_once() {
    let amb = FakeAmb::start().await;
    let gateway = FakeWs::start(&amb).await;
    let (_p, builder) = ws_builder(&gateway).await;
    let mut stream = subscribed(&gateway, builder).await;
    let first = gateway.mine();
    let last = gateway.mine();
    let mut got = until_block(&mut stream, last).await;
    gateway.reorg_live(2);
    let end = gateway.mine();
    got.extend(until_block(&mut stream, end).await);
    assert_eq!(apply(&got), canonical(&amb, first));
    assert_eq!(stream.stats().removals, 2);
}

/// Fault 2: the HTTP backfill provider fails (503) many times in a row, more than the old 5
/// attempts over 3.75 s, while the WebSocket upgrade is refused during the outage: the
/// stream retries and delivers everything.
#[tokio::test]
async fn long_http_failures_and_refused_upgrades_do_not_end_the_stream() {
    let amb = FakeAmb::start().await;
    let gateway = FakeWs::start(&amb).await;
    let (_p, builder) = ws_builder(&gateway).await;
    let mut stream = subscribed(&gateway, builder.backfill_provider(amb_http(&amb))).await;
    let first = gateway.mine();
    let mut got = until_block(&mut stream, first).await;

    amb.script(vec![(503, "Service Unavailable", None); 40]);
    gateway.refuse_next_upgrades(vec![(503, "Service Unavailable"); 3]);
    let before = gateway.stats().connections;
    gateway.drop_connections();
    for _ in 0..5 {
        amb.mine();
    }
    gateway
        .wait_for("a reconnect", |s| s.connections > before)
        .await;
    let end = gateway.mine();
    got.extend(until_block(&mut stream, end).await);
    assert_eq!(apply(&got), canonical(&amb, first));
    let stats = stream.stats();
    assert!(stats.retried_errors >= 40, "{stats:?}");
    assert!(stats.reconnects >= 1 && stats.backfills >= 1, "{stats:?}");
}

/// Fault 3: a backfill over the WebSocket whose answer is over the quota ("Message response
/// is too large") is split until it fits, and nothing is lost.
#[tokio::test]
async fn a_websocket_backfill_over_the_quota_is_split_until_it_fits() {
    let amb = FakeAmb::start().await;
    let gateway = FakeWs::start(&amb).await;
    let (_p, builder) = ws_builder(&gateway).await;
    let mut stream = subscribed(&gateway, builder.chunk_blocks(500)).await;
    let first = gateway.mine();
    let mut got = until_block(&mut stream, first).await;

    // About four logs fit in an answer.
    gateway.set_response_limit(Some(3000));
    let before = gateway.stats().connections;
    gateway.drop_connections();
    for _ in 0..30 {
        amb.mine();
    }
    gateway
        .wait_for("a reconnect", |s| s.connections > before)
        .await;
    let end = gateway.mine();
    got.extend(until_block(&mut stream, end).await);
    assert_eq!(apply(&got), canonical(&amb, first));
    assert!(gateway.stats().too_large >= 1);
    assert!(stream.stats().range_splits >= 1, "{:?}", stream.stats());
}

/// An HTTP transport whose `eth_getLogs` always gets what a Lambda function URL answers over
/// its 6 MB limit (HTTP 413); every other call goes through.
#[derive(Clone)]
struct LogsTooLarge(AmbHttp);

const LAMBDA_413: &str =
    r#"{"message":"Response payload size exceeded maximum allowed payload size (6291556 bytes)."}"#;

impl tower::Service<alloy_json_rpc::RequestPacket> for LogsTooLarge {
    type Response = alloy_json_rpc::ResponsePacket;
    type Error = alloy_transport::TransportError;
    type Future = alloy_transport::TransportFut<'static>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: alloy_json_rpc::RequestPacket) -> Self::Future {
        let logs =
            matches!(&req, alloy_json_rpc::RequestPacket::Single(r) if r.method() == "eth_getLogs");
        if logs {
            Box::pin(async {
                Err(alloy_transport::TransportErrorKind::http_error(
                    413,
                    LAMBDA_413.into(),
                ))
            })
        } else {
            self.0.call(req)
        }
    }
}

/// Fault 3, the end of the line: one block too large even alone (HTTP 413, as a Lambda
/// function URL answers over 6 MB): the range is split down to one block, then a typed error
/// names the block, with the cursor to go on from.
#[tokio::test]
async fn one_block_too_large_ends_with_a_typed_error_naming_it() {
    let amb = FakeAmb::start().await;
    let first = amb.mine();
    for _ in 0..6 {
        amb.mine();
    }
    let transport = AmbHttp::builder(amb.url())
        .region(REGION)
        .credentials_provider(support::fake_credentials())
        .build()
        .unwrap();
    let http = ProviderBuilder::new().on_transport(LogsTooLarge(transport));
    let mut stream = http
        .resumable_logs(&filter())
        .from_block(first)
        .retry_policy(fast_retries())
        .poll_interval(Duration::from_millis(10))
        .subscribe()
        .await
        .unwrap();
    let err = next(&mut stream).await.unwrap_err();
    match StreamError::from_transport_error(&err) {
        Some(StreamError::BlockTooLarge { block, resume, .. }) => {
            assert_eq!(*block, first);
            assert_eq!(resume.next_block(), first);
        }
        other => panic!("{err}: {other:?}"),
    }
    assert!(err.to_string().contains(&format!("block {first}")), "{err}");
    assert!(stream.stats().range_splits >= 2, "{:?}", stream.stats());
}

/// `AmbHttp`'s own answer-size limit (`max_response_size`) on the backfill provider: a
/// range whose logs are over it is split until it fits (it used to be retried, identical,
/// forever), and nothing is lost.
#[tokio::test]
async fn an_http_answer_over_max_response_size_is_split_until_it_fits() {
    let amb = FakeAmb::start().await;
    let first = amb.mine();
    for _ in 0..30 {
        amb.mine();
    }
    let last = amb.head();
    // A few logs fit in an answer, and one block's header.
    let http = ProviderBuilder::new().on_transport(
        AmbHttp::builder(amb.url())
            .region(REGION)
            .credentials_provider(support::fake_credentials())
            .max_response_size(4000)
            .build()
            .unwrap(),
    );
    let mut stream = http
        .resumable_logs(&filter())
        .from_block(first)
        .retry_policy(RetryPolicy {
            max_attempts: Some(20),
            ..fast_retries()
        })
        .poll_interval(Duration::from_millis(10))
        .subscribe()
        .await
        .unwrap();
    let got = until_block(&mut stream, last).await;
    assert_eq!(apply(&got), canonical(&amb, first));
    assert!(stream.stats().range_splits >= 1, "{:?}", stream.stats());
}

/// A Lambda function URL's payload limit (the emulator's Lambda mode answers 502 "Response
/// payload size exceeded maximum allowed payload size", lowered here so a few logs exceed it):
/// the range is split until it fits. A 502 is otherwise transient, and this one used to be
/// retried, identical, forever.
#[tokio::test]
async fn a_lambda_url_answer_over_its_payload_limit_is_split_until_it_fits() {
    let amb = FakeAmb::start().await;
    amb.set_target(alloy_amb_testing::FakeTarget::LambdaUrl);
    amb.set_response_limit(Some(4000));
    let first = amb.mine();
    for _ in 0..30 {
        amb.mine();
    }
    let last = amb.head();
    let http = ProviderBuilder::new().on_transport(
        AmbHttp::builder(amb.url())
            .target(alloy_amb::Target::LambdaUrl)
            .region(REGION)
            .credentials_provider(support::fake_credentials())
            .build()
            .unwrap(),
    );
    let mut stream = http
        .resumable_logs(&filter())
        .from_block(first)
        .retry_policy(RetryPolicy {
            max_attempts: Some(20),
            ..fast_retries()
        })
        .poll_interval(Duration::from_millis(10))
        .subscribe()
        .await
        .unwrap();
    let got = until_block(&mut stream, last).await;
    assert_eq!(apply(&got), canonical(&amb, first));
    assert!(stream.stats().range_splits >= 1, "{:?}", stream.stats());
}

/// An HTTP transport whose `eth_getLogs` by block hash always fails with HTTP 503: alloy's
/// block watcher asks it (for a block whose logs by number were empty), the stream's own
/// catch-up never does. Every other call goes through, and each `eth_blockNumber` first mines
/// a block, so that the watcher always has a new block to fetch (and fail on).
#[derive(Clone)]
struct LogsByHashFail(AmbHttp, std::sync::Arc<FakeAmb>);

impl tower::Service<alloy_json_rpc::RequestPacket> for LogsByHashFail {
    type Response = alloy_json_rpc::ResponsePacket;
    type Error = alloy_transport::TransportError;
    type Future = alloy_transport::TransportFut<'static>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: alloy_json_rpc::RequestPacket) -> Self::Future {
        let by_hash = matches!(&req, alloy_json_rpc::RequestPacket::Single(r)
            if r.method() == "eth_getLogs" && r.serialized().get().contains("blockHash"));
        if matches!(&req, alloy_json_rpc::RequestPacket::Single(r) if r.method() == "eth_blockNumber")
        {
            self.1.mine();
        }
        if by_hash {
            Box::pin(async {
                Err(alloy_transport::TransportErrorKind::http_error(
                    503,
                    "Service Unavailable".into(),
                ))
            })
        } else {
            self.0.call(req)
        }
    }
}

/// The HTTP-only poller honours the retry bound: when polling keeps failing (while the
/// catch-up calls succeed), the stream ends with `RetriesExhausted` after the policy's
/// attempts (it used to retry forever).
#[tokio::test]
async fn polling_failures_end_the_stream_at_the_retry_bound() {
    let amb = std::sync::Arc::new(FakeAmb::start().await);
    let first = amb.mine();
    let transport = AmbHttp::builder(amb.url())
        .region(REGION)
        .credentials_provider(support::fake_credentials())
        .build()
        .unwrap();
    let http = ProviderBuilder::new().on_transport(LogsByHashFail(transport, amb.clone()));
    // No log matches: alloy's watcher then asks each block's logs by hash.
    let nothing = Filter::new().address(Address::repeat_byte(0xee));
    let mut stream = http
        .resumable_logs(&nothing)
        .from_block(first)
        .retry_policy(RetryPolicy {
            max_attempts: Some(3),
            ..fast_retries()
        })
        .poll_interval(Duration::from_millis(10))
        .subscribe()
        .await
        .unwrap();
    let err = next(&mut stream).await.unwrap_err();
    match StreamError::from_transport_error(&err) {
        Some(StreamError::RetriesExhausted { attempts, .. }) => assert_eq!(*attempts, 3),
        other => panic!("{err}: {other:?}"),
    }
    assert!(next_is_end(&mut stream).await);
}

/// A node whose head is `u64::MAX` (broken or hostile): the stream neither panics nor wraps
/// to block 0 nor backfills towards 2^64. Starting at the head is refused with an error;
/// running, the answer is retried within the retry bound, then the stream ends with
/// `RetriesExhausted`.
#[tokio::test]
async fn a_head_at_u64_max_is_refused_not_overflowed() {
    let amb = FakeAmb::start().await;
    let first = amb.mine();
    let http = amb_http(&amb);
    amb.with_chain(|c| c.head = u64::MAX);
    let Err(err) = http
        .resumable_logs(&filter())
        .poll_interval(Duration::from_millis(10))
        .subscribe()
        .await
    else {
        panic!("a stream from the head u64::MAX")
    };
    assert!(err.to_string().contains("u64::MAX"), "{err}");

    let mut stream = http
        .resumable_logs(&filter())
        .from_block(first)
        .retry_policy(RetryPolicy {
            max_attempts: Some(3),
            ..fast_retries()
        })
        .poll_interval(Duration::from_millis(10))
        .subscribe()
        .await
        .unwrap();
    let err = next(&mut stream).await.unwrap_err();
    match StreamError::from_transport_error(&err) {
        Some(StreamError::RetriesExhausted { last, resume, .. }) => {
            assert!(last.contains("u64::MAX"), "{last}");
            assert_eq!(resume.next_block(), first);
        }
        other => panic!("{err}: {other:?}"),
    }
}

/// Fault 4's remedy, on the stream's side: a log notification is lost; a backfill signal
/// (what the WebSocket transport bumps when a notification may have been lost) makes the
/// stream fetch it.
#[tokio::test]
async fn a_lost_notification_is_fetched_on_a_backfill_signal() {
    let amb = FakeAmb::start().await;
    let gateway = FakeWs::start(&amb).await;
    let (_p, builder) = ws_builder(&gateway).await;
    let (lost_tx, lost) = tokio::sync::watch::channel(0u64);
    let mut stream = subscribed(&gateway, builder.backfill_on(lost)).await;
    let first = gateway.mine();
    let mut got = until_block(&mut stream, first).await;
    gateway.lose_log_notifications(1);
    let lost_block = gateway.mine();
    lost_tx.send_replace(1);
    got.extend(until_block(&mut stream, lost_block).await);
    let end = gateway.mine();
    got.extend(until_block(&mut stream, end).await);
    assert_eq!(apply(&got), canonical(&amb, first));
}

/// Capability 5: a stream restarted from a saved cursor after a reorg while the process was
/// down removes the remembered logs of the replaced blocks, then delivers the replacements
/// and what came after: no gap, no duplicate.
#[tokio::test]
async fn a_restart_from_a_cursor_removes_what_a_reorg_replaced_meanwhile() {
    let amb = FakeAmb::start().await;
    let gateway = FakeWs::start(&amb).await;
    let (_p, builder) = ws_builder(&gateway).await;
    let mut stream = subscribed(&gateway, builder).await;
    let first = gateway.mine();
    gateway.mine();
    let last = gateway.mine();
    let mut got = until_block(&mut stream, last).await;
    let saved = serde_json::to_string(&stream.cursor()).unwrap();
    drop(stream);

    // While down: the last two blocks are replaced and two more are mined.
    amb.with_chain(|c| c.reorg(2));
    amb.mine();
    let end = amb.mine();
    let cursor: Cursor = serde_json::from_str(&saved).unwrap();
    let (_p2, builder) = ws_builder(&gateway).await;
    let mut stream = subscribed(&gateway, builder.from_cursor(cursor)).await;
    let after = until_block(&mut stream, end).await;
    assert_eq!(
        summary(&after),
        [
            (last, true),
            (last - 1, true),
            (last - 1, false),
            (last, false),
            (end - 1, false),
            (end, false)
        ]
    );
    got.extend(after);
    assert_eq!(apply(&got), canonical(&amb, first));
}

/// Capability 7: a reorg replacing every remembered block ends the stream with a typed
/// error, after the removals of what is remembered, carrying where to go on from.
#[tokio::test]
async fn a_reorg_deeper_than_the_history_is_a_typed_error_with_the_position() {
    let amb = FakeAmb::start().await;
    let gateway = FakeWs::start(&amb).await;
    let (_p, builder) = ws_builder(&gateway).await;
    let mut stream = subscribed(&gateway, builder.history_blocks(3)).await;
    let mut last = 0;
    for _ in 0..6 {
        last = gateway.mine();
    }
    until_block(&mut stream, last).await;
    gateway.drop_connections();
    amb.with_chain(|c| c.reorg(5));
    let mut removals = 0;
    let err = loop {
        match next(&mut stream).await {
            Ok(log) => {
                assert!(log.removed, "{log:?} {:?}", stream.stats());
                removals += 1;
            }
            Err(err) => break err,
        }
    };
    match StreamError::from_transport_error(&err) {
        Some(StreamError::DeepReorg {
            oldest,
            newest,
            resume,
        }) => {
            assert_eq!((*oldest, *newest), (last - 2, last));
            assert_eq!(resume.next_block(), last - 2);
        }
        other => panic!("{err}: {other:?}"),
    }
    assert_eq!(removals, 3);
    assert!(next_is_end(&mut stream).await);
}

async fn next_is_end(stream: &mut ResumableLogs) -> bool {
    tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .expect("the stream neither ended nor yielded")
        .is_none()
}

/// Capability 6: the same stream over an HTTP-only provider, by polling: every log once,
/// and a reorg's removals then replacements.
#[tokio::test]
async fn polling_over_http_delivers_every_log_and_the_reorgs() {
    let amb = FakeAmb::start().await;
    let http = amb_http(&amb);
    let mut stream = http
        .resumable_logs(&filter())
        .retry_policy(fast_retries())
        .poll_interval(Duration::from_millis(10))
        .subscribe()
        .await
        .unwrap();
    let first = amb.mine();
    amb.mine();
    let last = amb.mine();
    let mut got = until_block(&mut stream, last).await;
    amb.with_chain(|c| c.reorg(2));
    let end = amb.mine();
    got.extend(until_block(&mut stream, end).await);
    assert_eq!(apply(&got), canonical(&amb, first));
    assert_eq!(stream.stats().removals, 2);
    // And it restarts from its cursor over HTTP too.
    let cursor = stream.cursor();
    drop(stream);
    let more = amb.mine();
    let mut stream = http
        .resumable_logs(&filter())
        .from_cursor(cursor)
        .poll_interval(Duration::from_millis(10))
        .subscribe()
        .await
        .unwrap();
    got.extend(until_block(&mut stream, more).await);
    assert_eq!(apply(&got), canonical(&amb, first));
}

/// xorshift64*: seeded chaos without a dependency.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Seeded random drops, reorgs while disconnected and live reorgs told in both orders, while
/// blocks are mined: what is delivered, applied, is the chain's logs (bounded: a few hundred
/// blocks on the fake chain).
#[tokio::test]
async fn seeded_random_drops_and_reorgs_lose_nothing() {
    for seed in [1u64, 2, 3] {
        let amb = FakeAmb::start().await;
        let gateway = FakeWs::start(&amb).await;
        let (_p, builder) = ws_builder(&gateway).await;
        let mut stream = subscribed(&gateway, builder).await;
        let first = gateway.mine();
        let mut got = until_block(&mut stream, first).await;
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        for _ in 0..60 {
            match rng.below(8) {
                0 => {
                    gateway.drop_connections();
                    if rng.below(2) == 0 {
                        amb.with_chain(|c| c.reorg(1 + rng.below(3)));
                    }
                }
                1 => {
                    gateway.reorg_live(1 + rng.below(2));
                }
                2 => {
                    gateway.reorg_live_logs_first(1 + rng.below(2));
                }
                _ => {}
            }
            for _ in 0..1 + rng.below(3) {
                gateway.mine();
            }
        }
        // A last drop, and a last block once resubscribed, mark the end.
        let before = gateway.stats();
        gateway.drop_connections();
        gateway
            .wait_for("a reconnect and both subscriptions", |s| {
                s.connections > before.connections && s.subscriptions >= before.subscriptions + 2
            })
            .await;
        let end = gateway.mine();
        got.extend(until_block(&mut stream, end).await);
        assert_eq!(
            apply(&got),
            canonical(&amb, first),
            "seed {seed}, end {end}"
        );
    }
}
