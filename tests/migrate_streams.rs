//! Streams move with you (issue 15): a gap-free log stream stopped on one endpoint resumes on
//! another from its saved cursor with no gap and no duplicate; when the new endpoint's chain
//! differs in the remembered blocks, the stream first removes the logs it had delivered from them.

#[path = "support/migrate.rs"]
mod migrate_support;

use std::time::Duration;

use alloy_amb::resumable::{Cursor, ResumableLogs, ResumableLogsExt};
use alloy_provider::RootProvider;
use alloy_rpc_types_eth::Filter;
use futures::StreamExt;
use migrate_support::{same_pair, Node};
use serde_json::json;

async fn stream(node: &Node, emitter: &str, start: Cursor) -> ResumableLogs {
    let provider = RootProvider::new_http(node.url().parse().unwrap());
    let filter = Filter::new().address(emitter.parse::<alloy_primitives::Address>().unwrap());
    provider
        .resumable_logs(&filter)
        .poll_interval(Duration::from_millis(50))
        .from_cursor(start)
        .subscribe()
        .await
        .unwrap()
}

/// The next item as `(topic, removed)`; the timeout only turns a hang into a failure.
async fn next(s: &mut ResumableLogs) -> (u64, bool) {
    let log = tokio::time::timeout(Duration::from_secs(60), s.next())
        .await
        .expect("no log within a minute")
        .expect("the stream ended")
        .expect("the stream failed");
    let t = log.topics()[0];
    (u64::from_be_bytes(t[24..].try_into().unwrap()), log.removed)
}

/// A pair with the emitter deployed (block 1) and topics 1..=3 emitted (blocks 2..=4) on both.
async fn pair(test: &str) -> Option<(Node, Node, String)> {
    let (a, b) = same_pair(test, 0).await?;
    let emitter = a.deploy_emitter().await;
    assert_eq!(emitter, b.deploy_emitter().await);
    for topic in 1..=3 {
        a.emit(&emitter, topic).await;
        b.emit(&emitter, topic).await;
    }
    Some((a, b, emitter))
}

#[tokio::test]
async fn a_stream_stopped_on_one_endpoint_resumes_on_the_other_exactly_once() {
    let Some((a, b, emitter)) = pair("stream moves").await else {
        return;
    };
    let mut on_a = stream(&a, &emitter, Cursor::from_block(0)).await;
    let first = [
        next(&mut on_a).await,
        next(&mut on_a).await,
        next(&mut on_a).await,
    ];
    assert_eq!(first, [(1, false), (2, false), (3, false)]);
    let saved = on_a.cursor();
    drop(on_a);
    // Both go on while no stream runs.
    for topic in 4..=5 {
        a.emit(&emitter, topic).await;
        b.emit(&emitter, topic).await;
    }
    let mut on_b = stream(&b, &emitter, saved).await;
    assert_eq!(next(&mut on_b).await, (4, false));
    assert_eq!(next(&mut on_b).await, (5, false));
    // Nothing delivered twice before it: the next item is the next new log.
    b.emit(&emitter, 6).await;
    assert_eq!(next(&mut on_b).await, (6, false));
}

#[tokio::test]
async fn on_a_diverging_endpoint_the_stream_removes_what_it_no_longer_has() {
    let Some((a, b, emitter)) = pair("stream moves to a divergent chain").await else {
        return;
    };
    let mut on_a = stream(&a, &emitter, Cursor::from_block(0)).await;
    for topic in 1..=3 {
        assert_eq!(next(&mut on_a).await, (topic, false));
    }
    let saved = on_a.cursor();
    drop(on_a);
    // `b` replaces blocks 3 and 4 (topics 2 and 3) with blocks without those transactions.
    b.rpc("anvil_reorg", json!([2, []])).await;
    let mut on_b = stream(&b, &emitter, saved).await;
    assert_eq!(next(&mut on_b).await, (3, true), "newest removal first");
    assert_eq!(next(&mut on_b).await, (2, true));
    b.emit(&emitter, 7).await;
    assert_eq!(
        next(&mut on_b).await,
        (7, false),
        "then new logs, nothing delivered twice"
    );
}
