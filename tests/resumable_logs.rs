//! Gap-free log streams against a real node (anvil) behind a proxy that cuts connections:
//! every log exactly once, in order, across reconnects, long outages (chunked backfill) and
//! reorgs.

mod support;

use std::time::Duration;

use alloy_amb::resumable::{track_reconnects, ResumableLogs, ResumableLogsExt};
use alloy_amb::{AmbHttp, ProviderBuilderExt};
use alloy_amb_testing::{FakeAmb, REGION};
use alloy_primitives::{B256, U256};
use alloy_provider::{Provider, ProviderBuilder, WsConnect};
use alloy_rpc_types_eth::{Filter, Log};
use futures::StreamExt;
use support::anvil::Anvil;
use support::emitter::Emitter;
use support::tcp_proxy::TcpProxy;

struct Rig {
    _anvil: Anvil,
    emitter: Emitter,
    proxy: TcpProxy,
}

async fn rig(test: &str) -> Option<Rig> {
    let anvil = Anvil::spawn(test)?;
    let emitter = Emitter::deploy(&anvil.http_url()).await;
    let proxy = TcpProxy::start(format!("127.0.0.1:{}", anvil.port).parse().unwrap()).await;
    Some(Rig {
        _anvil: anvil,
        emitter,
        proxy,
    })
}

fn topic(log: &Log) -> u64 {
    U256::from_be_bytes(log.topics()[0].0).to::<u64>()
}

/// Reads `n` items; the bound only guards a broken build.
async fn take(stream: &mut ResumableLogs, n: usize) -> Vec<Log> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let item = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("no log within 30 s")
            .expect("stream ended")
            .expect("stream error");
        out.push(item);
    }
    out
}

/// The node's own view of every log of the contract, for the exactly-once comparison.
async fn all_logs(rig: &Rig) -> Vec<Log> {
    rig.emitter
        .http
        .get_logs(&Filter::new().address(rig.emitter.address).from_block(0))
        .await
        .unwrap()
}

/// `got` is exactly the node's logs of the contract, each once, in chain order.
async fn assert_exactly_once(rig: &Rig, got: &[Log]) {
    let expected = all_logs(rig).await;
    assert_eq!(
        got.iter().map(key).collect::<Vec<_>>(),
        expected.iter().map(key).collect::<Vec<_>>(),
        "exactly once, in order"
    );
}

fn key(log: &Log) -> (u64, u64, B256) {
    (
        log.block_number.unwrap(),
        log.log_index.unwrap(),
        log.transaction_hash.unwrap(),
    )
}

async fn ws_provider(
    proxy: &TcpProxy,
) -> (impl Provider + Clone, tokio::sync::watch::Receiver<u64>) {
    let (connect, reconnects) = track_reconnects(
        WsConnect::new(proxy.ws_url())
            .with_max_retries(10_000)
            .with_retry_interval(Duration::from_millis(50)),
    );
    let provider = ProviderBuilder::new()
        .connect_pubsub_with(connect)
        .await
        .unwrap();
    (provider, reconnects)
}

#[tokio::test]
async fn every_log_exactly_once_across_repeated_disconnects() {
    let Some(rig) = rig("every_log_exactly_once_across_repeated_disconnects").await else {
        return;
    };
    let (provider, reconnects) = ws_provider(&rig.proxy).await;
    let filter = Filter::new().address(rig.emitter.address);
    let mut stream = provider
        .resumable_logs(&filter)
        .reconnect_signal(reconnects)
        .subscribe()
        .await
        .unwrap();

    let mut got = Vec::new();
    let mut n = 0;
    for round in 0..4u64 {
        // Logs while connected...
        for _ in 0..5 {
            n += 1;
            rig.emitter.emit(n).await;
        }
        got.extend(take(&mut stream, 5).await);
        // ...the gateway drops the connection, and logs keep coming while it reconnects.
        let before = rig.proxy.accepted();
        rig.proxy.drop_all();
        for _ in 0..5 {
            n += 1;
            rig.emitter.emit(n).await;
        }
        rig.proxy.wait_accepted(before + 1).await;
        got.extend(take(&mut stream, 5).await);
        assert_eq!(got.len() as u64, (round + 1) * 10);
    }
    // And live again after the last reconnect.
    n += 1;
    rig.emitter.emit(n).await;
    got.extend(take(&mut stream, 1).await);

    let expected = all_logs(&rig).await;
    assert_eq!(expected.len() as u64, n);
    assert_eq!(
        got.iter().map(key).collect::<Vec<_>>(),
        expected.iter().map(key).collect::<Vec<_>>(),
        "exactly once, in order"
    );
    assert_eq!(
        got.iter().map(topic).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>()
    );
    assert!(got.iter().all(|l| !l.removed));
}

#[tokio::test]
async fn a_long_outage_is_backfilled_in_chunks_over_http() {
    let Some(rig) = rig("a_long_outage_is_backfilled_in_chunks_over_http").await else {
        return;
    };
    // Backfill over HTTP through the fake AMB gateway, which records each eth_getLogs.
    let gateway = FakeAmb::start().await;
    gateway.set_upstream(&rig._anvil.http_url());
    let http = ProviderBuilder::new().on_transport(
        AmbHttp::builder(gateway.url())
            .region(REGION)
            .credentials_provider(support::fake_credentials())
            .build()
            .unwrap(),
    );
    let (provider, reconnects) = ws_provider(&rig.proxy).await;
    let mut stream = provider
        .resumable_logs(&Filter::new().address(rig.emitter.address))
        .reconnect_signal(reconnects)
        .backfill_provider(http)
        .chunk_blocks(7)
        .subscribe()
        .await
        .unwrap();
    rig.emitter.emit(1).await;
    let mut got = take(&mut stream, 1).await;

    // Outage: connections cut and refused while 30 blocks with logs are mined.
    let before = rig.proxy.accepted();
    rig.proxy.refuse(true);
    rig.proxy.drop_all();
    rig.proxy.wait_refused(1).await;
    for n in 2..=31 {
        rig.emitter.emit(n).await;
    }
    rig.proxy.refuse(false);
    rig.proxy.wait_accepted(before + 1).await;
    got.extend(take(&mut stream, 30).await);
    assert_eq!(
        got.iter().map(topic).collect::<Vec<_>>(),
        (1..=31).collect::<Vec<_>>()
    );
    assert_exactly_once(&rig, &got).await;

    let ranges: Vec<(u64, u64)> = gateway
        .accepted()
        .iter()
        .filter_map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
            (body["method"] == "eth_getLogs").then(|| {
                let f = &body["params"][0];
                let n = |k: &str| {
                    u64::from_str_radix(f[k].as_str().unwrap().trim_start_matches("0x"), 16)
                        .unwrap()
                };
                (n("fromBlock"), n("toBlock"))
            })
        })
        .collect();
    // The property, not the timing: every block of the outage was fetched over HTTP, and no
    // call spanned more than 7 blocks. (How many calls depends on when the stream noticed.)
    assert!(
        ranges.iter().all(|(a, b)| b >= a && b - a < 7),
        "{ranges:?}"
    );
    for log in &got[1..] {
        let block = log.block_number.unwrap();
        assert!(
            ranges.iter().any(|(a, b)| (*a..=*b).contains(&block)),
            "block {block} of the outage was not backfilled over HTTP: {ranges:?}"
        );
    }
}

#[tokio::test]
async fn a_reorg_during_an_outage_removes_the_orphaned_logs_first() {
    let Some(rig) = rig("a_reorg_during_an_outage_removes_the_orphaned_logs_first").await else {
        return;
    };
    let (provider, reconnects) = ws_provider(&rig.proxy).await;
    let mut stream = provider
        .resumable_logs(&Filter::new().address(rig.emitter.address))
        .reconnect_signal(reconnects)
        .subscribe()
        .await
        .unwrap();
    for n in 1..=3 {
        rig.emitter.emit(n).await;
    }
    // Log 3 delivered means its block is mined: only then is the snapshot taken above it.
    let mut got = take(&mut stream, 3).await;
    let snapshot = rig.emitter.snapshot().await;
    for n in 4..=5 {
        rig.emitter.emit(n).await;
    }
    got.extend(take(&mut stream, 2).await);
    let orphaned: Vec<_> = got[3..].iter().map(key).collect();

    // While disconnected, the chain drops the blocks of logs 4 and 5 and grows another way.
    let before = rig.proxy.accepted();
    rig.proxy.refuse(true);
    rig.proxy.drop_all();
    rig.proxy.wait_refused(1).await;
    rig.emitter.revert(snapshot).await;
    for n in 6..=8 {
        rig.emitter.emit(n).await;
    }
    rig.proxy.refuse(false);
    rig.proxy.wait_accepted(before + 1).await;
    got.extend(take(&mut stream, 5).await);

    let summary: Vec<(u64, bool)> = got.iter().map(|l| (topic(l), l.removed)).collect();
    assert_eq!(
        summary,
        [
            (1, false),
            (2, false),
            (3, false),
            (4, false),
            (5, false),
            (5, true),
            (4, true),
            (6, false),
            (7, false),
            (8, false)
        ]
    );
    let removed: Vec<_> = got[5..7].iter().rev().map(key).collect();
    assert_eq!(removed, orphaned);
    // What is left, applied in order, is exactly the canonical chain's logs.
    let canonical = all_logs(&rig).await;
    assert_eq!(
        canonical.iter().map(topic).collect::<Vec<_>>(),
        [1, 2, 3, 6, 7, 8]
    );
}

#[tokio::test]
async fn without_a_reconnect_signal_the_next_block_reveals_the_gap() {
    let Some(rig) = rig("without_a_reconnect_signal_the_next_block_reveals_the_gap").await else {
        return;
    };
    let provider = ProviderBuilder::new()
        .connect_pubsub_with(
            WsConnect::new(rig.proxy.ws_url())
                .with_max_retries(10_000)
                .with_retry_interval(Duration::from_millis(50)),
        )
        .await
        .unwrap();
    let mut stream = provider
        .resumable_logs(&Filter::new().address(rig.emitter.address))
        .subscribe()
        .await
        .unwrap();
    rig.emitter.emit(1).await;
    let mut got = take(&mut stream, 1).await;
    let before = rig.proxy.accepted();
    rig.proxy.drop_all();
    for n in 2..=6 {
        rig.emitter.emit(n).await;
    }
    rig.proxy.wait_accepted(before + 1).await;
    // The first block after the reconnect shows the gap in newHeads / logs.
    rig.emitter.emit(7).await;
    got.extend(take(&mut stream, 6).await);
    assert_eq!(
        got.iter().map(topic).collect::<Vec<_>>(),
        (1..=7).collect::<Vec<_>>()
    );
    assert_exactly_once(&rig, &got).await;
}

fn amb_ws(gateway: &alloy_amb_testing::FakeWs) -> alloy_amb::AmbWsConnect {
    alloy_amb::AmbWsConnect::builder(gateway.url())
        .region(REGION)
        .credentials_provider(support::fake_credentials())
        .max_retries(1000)
        .retry_interval(Duration::from_millis(50))
        .build()
        .unwrap()
}

#[tokio::test]
async fn amb_ws_through_the_fake_gateway_to_anvil_exactly_once() {
    let Some(rig) = rig("amb_ws_through_the_fake_gateway_to_anvil_exactly_once").await else {
        return;
    };
    let amb = FakeAmb::start().await;
    let gateway = alloy_amb_testing::FakeWs::start(&amb).await;
    gateway.set_upstream(&rig._anvil.ws_url());
    let (connect, reconnects) = track_reconnects(amb_ws(&gateway));
    let provider = ProviderBuilder::new()
        .connect_pubsub_with(connect)
        .await
        .unwrap();
    let mut stream = provider
        .resumable_logs(&Filter::new().address(rig.emitter.address))
        .reconnect_signal(reconnects)
        .subscribe()
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut n = 0;
    for _ in 0..3 {
        for _ in 0..3 {
            n += 1;
            rig.emitter.emit(n).await;
        }
        got.extend(take(&mut stream, 3).await);
        let before = gateway.stats().connections;
        gateway.drop_connections();
        for _ in 0..3 {
            n += 1;
            rig.emitter.emit(n).await;
        }
        gateway
            .wait_for("a signed reconnect", |s| s.connections > before)
            .await;
        got.extend(take(&mut stream, 3).await);
    }
    assert_exactly_once(&rig, &got).await;
    assert_eq!(
        got.iter().map(topic).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>()
    );
    // Every upgrade, first and reconnects, was signed and accepted.
    assert!(gateway.upgrades().iter().all(|u| u.rejected.is_none()));
    assert!(gateway.upgrades().len() >= 4);
}

/// Each log's block number and whether it is a removal.
fn numbers_and_removals(logs: &[Log]) -> Vec<(u64, bool)> {
    logs.iter()
        .map(|l| (l.block_number.unwrap(), l.removed))
        .collect()
}

/// A provider through `AmbWsConnect` to the fake gateway (reconnects tracked), and a resumable
/// stream of the fake chain's logs, once both its subscriptions are open.
async fn fake_chain_logs(
    gateway: &alloy_amb_testing::FakeWs,
) -> (impl alloy_provider::Provider, ResumableLogs) {
    use alloy_amb_testing::chain::LOG_ADDRESS;
    let (connect, reconnects) = track_reconnects(amb_ws(gateway));
    let provider = ProviderBuilder::new()
        .connect_pubsub_with(connect)
        .await
        .unwrap();
    let stream = provider
        .resumable_logs(
            &Filter::new().address(LOG_ADDRESS.parse::<alloy_primitives::Address>().unwrap()),
        )
        .reconnect_signal(reconnects)
        .subscribe()
        .await
        .unwrap();
    gateway
        .wait_for("both subscriptions", |s| s.subscriptions >= 2)
        .await;
    (provider, stream)
}

#[tokio::test]
async fn a_reorg_on_the_fake_chain_produces_the_removals() {
    let amb = FakeAmb::start().await;
    let gateway = alloy_amb_testing::FakeWs::start(&amb).await;
    let (_provider, mut stream) = fake_chain_logs(&gateway).await;
    let first = gateway.mine();
    gateway.mine();
    let last = gateway.mine();
    let delivered = take(&mut stream, 3).await;
    assert_eq!(
        delivered
            .iter()
            .map(|l| l.block_number.unwrap())
            .collect::<Vec<_>>(),
        (first..=last).collect::<Vec<_>>()
    );

    // The gateway drops us; meanwhile the last two blocks are replaced.
    gateway.drop_connections();
    amb.with_chain(|c| c.reorg(2));
    let next = gateway.mine();
    let after = take(&mut stream, 5).await;
    let summary = numbers_and_removals(&after);
    assert_eq!(
        summary,
        [
            (last, true),
            (last - 1, true),
            (last - 1, false),
            (last, false),
            (next, false)
        ]
    );
    // The removals are exactly what had been delivered; the replacements carry the new hashes.
    assert_eq!(after[0].block_hash, delivered[2].block_hash);
    assert_eq!(after[1].block_hash, delivered[1].block_hash);
    assert_ne!(after[2].block_hash, delivered[1].block_hash);
    let canonical = amb.with_chain(|c| c.hash(last));
    assert_eq!(after[3].block_hash.unwrap().to_string(), canonical);
}

/// A reorg while connected, told as a node may tell it: the new head (on top of the replaced
/// block) arrives before the old log's removal and the new logs. The head makes the stream
/// check the replaced block (it removes the old log and fetches the new one); the node's own
/// removal and new log that follow are then duplicates: each log, and each removal, reaches
/// the user exactly once.
#[tokio::test]
async fn a_live_reorg_told_head_first_delivers_each_log_and_removal_once() {
    let amb = FakeAmb::start().await;
    let gateway = alloy_amb_testing::FakeWs::start(&amb).await;
    let (_provider, mut stream) = fake_chain_logs(&gateway).await;
    gateway.mine();
    let last = gateway.mine();
    let delivered = take(&mut stream, 2).await;
    assert_eq!(delivered[1].block_number, Some(last));

    let top = gateway.reorg_live(1);
    // A block after the reorg marks the end: whatever the reorg produced comes before it.
    let next = gateway.mine();
    let mut after = Vec::new();
    while after.last().map(|l: &Log| l.block_number) != Some(Some(next)) {
        after.extend(take(&mut stream, 1).await);
    }
    let summary = numbers_and_removals(&after);
    assert_eq!(
        summary,
        [(last, true), (last, false), (top, false), (next, false)]
    );
    assert_eq!(after[0].block_hash, delivered[1].block_hash);
    let canonical = amb.with_chain(|c| c.hash(last));
    assert_eq!(after[1].block_hash.unwrap().to_string(), canonical);
}

/// Applies delivered items in order (a removal undoes its log); fails on a duplicate or on a
/// removal of something not applied. Returns `(block, log index, block hash)` of what is left.
fn apply(items: &[Log]) -> Vec<(u64, u64, B256)> {
    let mut applied: Vec<(u64, u64, B256)> = Vec::new();
    for log in items {
        let k = (
            log.block_number.unwrap(),
            log.log_index.unwrap(),
            log.block_hash.unwrap(),
        );
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

/// What is left after applying `got` is exactly the node's logs, over the whole range.
async fn assert_applied_is_canonical(rig: &Rig, got: &[Log]) {
    let expected: Vec<_> = all_logs(rig)
        .await
        .iter()
        .map(|l| {
            (
                l.block_number.unwrap(),
                l.log_index.unwrap(),
                l.block_hash.unwrap(),
            )
        })
        .collect();
    assert_eq!(apply(got), expected);
}

/// Items until (and including) the log with topic `n`.
async fn until_topic(stream: &mut ResumableLogs, n: u64) -> Vec<Log> {
    let mut out = Vec::new();
    loop {
        let log = take(stream, 1).await.remove(0);
        let done = !log.removed && topic(&log) == n;
        out.push(log);
        if done {
            return out;
        }
    }
}

/// Issue 12, fault 1, on a real node: anvil tells a live reorg with the new blocks' logs
/// before their heads and never sends `removed: true`; the replacement logs sit at heights
/// already delivered.
#[tokio::test]
async fn a_live_reorg_on_anvil_delivers_the_removals_and_the_replacements() {
    let Some(rig) = rig("a_live_reorg_on_anvil_delivers_the_removals_and_the_replacements").await
    else {
        return;
    };
    let (provider, reconnects) = ws_provider(&rig.proxy).await;
    let mut stream = provider
        .resumable_logs(&Filter::new().address(rig.emitter.address))
        .reconnect_signal(reconnects)
        .subscribe()
        .await
        .unwrap();
    for n in 1..=3 {
        rig.emitter.emit(n).await;
    }
    let mut got = take(&mut stream, 3).await;
    // The blocks of logs 2 and 3 are replaced by blocks with logs 4 and 5.
    rig.emitter.reorg(2, &[(4, 0), (5, 1)]).await;
    rig.emitter.emit(6).await;
    got.extend(until_topic(&mut stream, 6).await);
    let summary: Vec<(u64, bool)> = got.iter().map(|l| (topic(l), l.removed)).collect();
    assert_eq!(
        summary,
        [
            (1, false),
            (2, false),
            (3, false),
            (3, true),
            (2, true),
            (4, false),
            (5, false),
            (6, false)
        ]
    );
    assert_applied_is_canonical(&rig, &got).await;
    assert!(stream.stats().reorgs >= 1);
}

/// A rollback, then a new block at the same height (`anvil_rollback`, then a transaction).
#[tokio::test]
async fn a_rollback_on_anvil_then_a_new_block_replaces_the_log() {
    let Some(rig) = rig("a_rollback_on_anvil_then_a_new_block_replaces_the_log").await else {
        return;
    };
    let (provider, reconnects) = ws_provider(&rig.proxy).await;
    let mut stream = provider
        .resumable_logs(&Filter::new().address(rig.emitter.address))
        .reconnect_signal(reconnects)
        .subscribe()
        .await
        .unwrap();
    for n in 1..=3 {
        rig.emitter.emit(n).await;
    }
    let mut got = take(&mut stream, 3).await;
    rig.emitter.rollback(1).await;
    rig.emitter.emit(7).await;
    got.extend(until_topic(&mut stream, 7).await);
    let summary: Vec<(u64, bool)> = got.iter().map(|l| (topic(l), l.removed)).collect();
    assert_eq!(
        summary,
        [(1, false), (2, false), (3, false), (3, true), (7, false)]
    );
    assert_applied_is_canonical(&rig, &got).await;
}

/// Capability 6 on a real node: the HTTP-only (polling) mode, through a live reorg.
#[tokio::test]
async fn polling_over_http_on_anvil_through_a_reorg() {
    let Some(rig) = rig("polling_over_http_on_anvil_through_a_reorg").await else {
        return;
    };
    let mut stream = rig
        .emitter
        .http
        .resumable_logs(&Filter::new().address(rig.emitter.address))
        .poll_interval(Duration::from_millis(20))
        .subscribe()
        .await
        .unwrap();
    for n in 1..=3 {
        rig.emitter.emit(n).await;
    }
    let mut got = until_topic(&mut stream, 3).await;
    rig.emitter.reorg(2, &[(4, 0), (5, 1)]).await;
    rig.emitter.emit(6).await;
    got.extend(until_topic(&mut stream, 6).await);
    assert_applied_is_canonical(&rig, &got).await;
    assert_eq!(stream.stats().removals, 2);
}
