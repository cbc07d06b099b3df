//! AMB's "message response is too large" names no request, and AMB sends it both for an answer
//! and for a notification over its 512 KB quota. Against the fake gateway, which can refuse a
//! `logs` notification that way and hold a request's answer back: no request gets another's
//! error or waits forever, and a resumable stream gets the lost log by backfill.
//!
//! No test sleeps: the fake's counters and the streams are the signals; bounds are upper limits.

mod support;

use std::time::Duration;

use alloy_amb::resumable::ResumableLogsExt;
use alloy_amb::ws::quota_error;
use alloy_amb::{AmbError, AmbHttp, AmbWsConnect, AmbWsConnectBuilder};
use alloy_amb_testing::chain::{LOG_ADDRESS, TOPIC0};
use alloy_amb_testing::{FakeAmb, REGION};
use alloy_amb_testing::{FakeWs, MSG_TOO_LARGE};
use alloy_primitives::{Address, B256};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_types_eth::{BlockNumberOrTag, Filter, Log};
use alloy_transport::TransportError;
use support::bounded::{bounded, next};
use support::fake_credentials;

struct Gateway {
    amb: FakeAmb,
    ws: FakeWs,
}

async fn gateway() -> Gateway {
    let amb = FakeAmb::start().await;
    let ws = FakeWs::start(&amb).await;
    Gateway { amb, ws }
}

fn connector(ws: &FakeWs) -> AmbWsConnectBuilder {
    AmbWsConnect::builder(ws.url())
        .region(REGION)
        .credentials_provider(fake_credentials())
        .retry_interval(Duration::from_millis(10))
}

async fn provider(connect: AmbWsConnect) -> impl Provider + Clone {
    ProviderBuilder::new()
        .connect_pubsub_with(connect)
        .await
        .expect("connect")
}

fn chain_filter() -> Filter {
    Filter::new()
        .address(LOG_ADDRESS.parse::<Address>().unwrap())
        .event_signature(TOPIC0.parse::<B256>().unwrap())
}

/// The log filter for one block: its answer (one log) is small.
fn one_block(n: u64) -> Filter {
    chain_filter().from_block(n).to_block(n)
}

/// The answer to a whole block is over this; one block's logs are under it.
const RESPONSE_LIMIT: usize = 1000;

fn assert_too_large(result: Result<impl std::fmt::Debug, TransportError>, expected: &str) {
    let err = result.expect_err("a refusal");
    match quota_error(&err) {
        Some(AmbError::WsResponseTooLarge {
            method, message, ..
        }) => {
            assert_eq!(method, expected);
            assert_eq!(message, MSG_TOO_LARGE);
        }
        other => panic!("{other:?} from {err}"),
    }
}

/// A subscription is open; a request's answer is on its way when the gateway refuses a log
/// notification (no id). The request gets its own answer, the subscription goes on, and the
/// connector counts a possibly lost notification. (Before: the refusal was pinned on the
/// waiting request, whose real answer was then dropped.)
#[tokio::test]
async fn an_oversized_notification_leaves_a_waiting_request_its_own_answer() {
    bounded(async {
        let g = gateway().await;
        let connect = connector(&g.ws).build().unwrap();
        let lost = connect.lost_notifications();
        let p = provider(connect).await;
        let mut logs = p
            .subscribe_logs(&chain_filter())
            .await
            .unwrap()
            .into_stream();
        let block = g.amb.head();
        g.ws.hold_answers("eth_getLogs");
        let script = async {
            g.ws.wait_for("the held eth_getLogs", |s| s.held == 1).await;
            g.ws.oversize_log_notifications(1);
            g.ws.mine();
            g.ws.wait_for("the refused notification", |s| {
                s.too_large_notifications == 1
            })
            .await;
            // The answer leaves after the refusal, on the same connection.
            g.ws.release_answers();
        };
        let filter = one_block(block);
        let (answer, ()) = tokio::join!(p.get_logs(&filter), script);
        let answer = answer.expect("the request's own answer");
        assert_eq!(answer.len(), 1);
        assert_eq!(answer[0].block_number, Some(block));
        assert_eq!(
            *lost.borrow(),
            1,
            "a possibly lost notification is signalled"
        );
        // The subscription goes on with the next block.
        let next_block = g.ws.mine();
        let log: Log = next(&mut logs).await;
        assert_eq!(log.block_number, Some(next_block));
        assert_eq!(g.ws.stats().connections, 1);
    })
    .await
}

/// An answer over the quota while a subscription is open: the refusal may stand for a
/// notification, so it is signalled; the request, still unanswered after the attribution wait,
/// gets the typed error (it does not wait forever), and the connection serves on.
#[tokio::test]
async fn an_oversized_answer_while_subscribed_fails_that_request_and_is_signalled() {
    bounded(async {
        let g = gateway().await;
        let connect = connector(&g.ws)
            .attribution_wait(Duration::from_millis(200))
            .build()
            .unwrap();
        let lost = connect.lost_notifications();
        let p = provider(connect).await;
        let mut logs = p
            .subscribe_logs(&chain_filter())
            .await
            .unwrap()
            .into_stream();
        g.ws.set_response_limit(Some(RESPONSE_LIMIT));
        let refused = p.get_block_by_number(BlockNumberOrTag::Latest).await;
        assert_too_large(refused, "eth_getBlockByNumber");
        assert_eq!(*lost.borrow(), 1);
        assert_eq!(g.ws.stats().too_large, 1);
        // Small answers still come, and notifications, on the same connection.
        assert_eq!(p.get_block_number().await.unwrap(), g.amb.head());
        let mined = g.ws.mine();
        assert_eq!(next(&mut logs).await.block_number, Some(mined));
        assert_eq!(g.ws.stats().connections, 1);
    })
    .await
}

/// Without a subscription the same refusal is certain: the request fails at once, and no lost
/// notification is signalled.
#[tokio::test]
async fn an_oversized_answer_without_subscriptions_is_never_signalled() {
    bounded(async {
        let g = gateway().await;
        // A wait longer than the test: the error must come without it.
        let connect = connector(&g.ws)
            .attribution_wait(Duration::from_secs(3600))
            .build()
            .unwrap();
        let lost = connect.lost_notifications();
        let p = provider(connect).await;
        g.ws.set_response_limit(Some(RESPONSE_LIMIT));
        let refused = p.get_block_by_number(BlockNumberOrTag::Latest).await;
        assert_too_large(refused, "eth_getBlockByNumber");
        assert_eq!(*lost.borrow(), 0);
    })
    .await
}

/// Once the only subscription is ended, a refusal is certain again: the request fails at
/// once, nothing is signalled.
#[tokio::test]
async fn after_unsubscribing_an_oversized_answer_is_certain_again() {
    bounded(async {
        let g = gateway().await;
        let connect = connector(&g.ws)
            .attribution_wait(Duration::from_secs(3600))
            .build()
            .unwrap();
        let lost = connect.lost_notifications();
        let p = provider(connect).await;
        let heads = p.subscribe_blocks().await.unwrap();
        p.unsubscribe(*heads.local_id()).await.unwrap();
        g.ws.wait_for("the eth_unsubscribe", |s| s.unsubscriptions == 1)
            .await;
        g.ws.set_response_limit(Some(RESPONSE_LIMIT));
        let refused = p.get_block_by_number(BlockNumberOrTag::Latest).await;
        assert_too_large(refused, "eth_getBlockByNumber");
        assert_eq!(*lost.borrow(), 0);
    })
    .await
}

/// Both at once: request A's answer is on its way; request B's answer is refused (no id);
/// then a log notification is refused (no id); then A's answer comes. A gets its own answer,
/// B the typed error, and both refusals are signalled. (Before: the second refusal failed A
/// too, and its answer was dropped.)
#[tokio::test]
async fn an_oversized_answer_and_notification_interleaved_around_a_waiting_request() {
    bounded(async {
        let g = gateway().await;
        // The default wait (5 s): A's answer comes well within it; B's error at its end.
        let connect = connector(&g.ws).build().unwrap();
        let lost = connect.lost_notifications();
        let p = provider(connect).await;
        let _logs = p.subscribe_logs(&chain_filter()).await.unwrap();
        g.ws.set_response_limit(Some(RESPONSE_LIMIT));
        let block = g.amb.head();
        g.ws.hold_answers("eth_getLogs");
        let filter = one_block(block);
        let a = p.get_logs(&filter);
        let b = async {
            g.ws.wait_for("the held eth_getLogs", |s| s.held == 1).await;
            p.get_block_by_number(BlockNumberOrTag::Latest).await
        };
        let script = async {
            g.ws.wait_for("the refused answer", |s| s.too_large == 1)
                .await;
            g.ws.oversize_log_notifications(1);
            g.ws.mine();
            g.ws.wait_for("the refused notification", |s| {
                s.too_large_notifications == 1
            })
            .await;
            g.ws.release_answers();
        };
        let (a, b, ()) = tokio::join!(a, b, script);
        let a = a.expect("A's own answer");
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].block_number, Some(block));
        assert_too_large(b, "eth_getBlockByNumber");
        assert_eq!(*lost.borrow(), 2);
        assert_eq!(g.ws.stats().connections, 1);
    })
    .await
}

/// A resumable stream (WebSocket live, HTTP backfill) whose live log notification for one
/// block is refused as over the quota: the connector's signal makes it backfill, and the log
/// arrives over HTTP. Delivered: exactly `eth_getLogs` over the range, in order. (Before: the
/// log was never delivered and nothing was raised.)
#[tokio::test]
async fn a_resumable_stream_gets_an_oversized_log_by_backfill() {
    bounded(async {
        let g = gateway().await;
        let connect = connector(&g.ws).build().unwrap();
        let lost = connect.lost_notifications();
        let p = provider(connect).await;
        let http = ProviderBuilder::new().connect_client(alloy_rpc_client::RpcClient::new(
            AmbHttp::builder(g.amb.url())
                .region(REGION)
                .credentials_provider(fake_credentials())
                .build()
                .unwrap(),
            false,
        ));
        let mut stream = p
            .resumable_logs(&chain_filter())
            .reconnect_signal(lost.clone())
            .backfill_provider(http.clone())
            .subscribe()
            .await
            .unwrap();
        g.ws.wait_for("both subscriptions", |s| s.subscriptions >= 2)
            .await;
        let first = g.ws.mine();
        let mut got: Vec<Log> = vec![next(&mut stream).await.unwrap()];
        g.ws.oversize_log_notifications(1);
        let oversized = g.ws.mine();
        let last = g.ws.mine();
        while got.last().and_then(|l| l.block_number) != Some(last) {
            got.push(next(&mut stream).await.unwrap());
        }
        let expected = http
            .get_logs(&chain_filter().from_block(first).to_block(last))
            .await
            .unwrap();
        let key = |l: &Log| (l.block_number, l.log_index, l.block_hash, l.removed);
        assert_eq!(
            got.iter().map(key).collect::<Vec<_>>(),
            expected.iter().map(key).collect::<Vec<_>>(),
            "exactly eth_getLogs over {first}..={last}"
        );
        assert!(got.iter().any(|l| l.block_number == Some(oversized)));
        assert_eq!(g.ws.stats().too_large_notifications, 1);
        assert_eq!(*lost.borrow(), 1);
        // The lost log came over HTTP.
        assert!(g
            .amb
            .received()
            .iter()
            .any(|r| { String::from_utf8_lossy(&r.body).contains("eth_getLogs") }));
    })
    .await
}

/// Notifications sent while the connection was down are gone: every reconnect counts too, so
/// the one signal covers both causes.
#[tokio::test]
async fn every_reconnect_counts_as_possibly_lost_notifications() {
    bounded(async {
        let g = gateway().await;
        let connect = connector(&g.ws).build().unwrap();
        let mut lost = connect.lost_notifications();
        let p = provider(connect).await;
        let _logs = p.subscribe_logs(&chain_filter()).await.unwrap();
        assert_eq!(*lost.borrow_and_update(), 0);
        for reconnects in 1..=2 {
            g.ws.drop_connections();
            lost.changed().await.unwrap();
            assert_eq!(*lost.borrow_and_update(), reconnects);
            g.ws.wait_for("the resubscription", |s| {
                s.subscriptions > reconnects as usize
            })
            .await;
        }
    })
    .await
}
