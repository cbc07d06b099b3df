//! A chaos run (ignored by default; several minutes): anvil behind proxies that drop the
//! WebSocket every 0.2-5 s and cut WebSocket and HTTP together for outages, while logs are
//! emitted continuously and the chain reorganises live (`anvil_reorg`). At the end, what the
//! gap-free stream delivered (removals applied) is compared with the node's `eth_getLogs`
//! over the whole range, and so is what a plain `eth_subscribe("logs")` delivered.
//!
//! ```text
//! ANVIL_BIN=... CHAOS_SECS=300 CHAOS_SEED=7 \
//!     cargo test --all-features --test resumable_chaos -- --ignored --nocapture
//! ```

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_amb::resumable::{track_reconnects, ResumableLogsExt};
use alloy_primitives::{B256, U256};
use alloy_provider::{Provider, ProviderBuilder, RootProvider, WsConnect};
use alloy_rpc_types_eth::{Filter, Log};
use futures::StreamExt;
use support::anvil::Anvil;
use support::emitter::Emitter;
use support::tcp_proxy::TcpProxy;

type Key = (u64, u64, B256);

fn key(l: &Log) -> Key {
    (
        l.block_number.unwrap(),
        l.log_index.unwrap(),
        l.block_hash.unwrap(),
    )
}

fn topic(l: &Log) -> u64 {
    U256::from_be_bytes(l.topics()[0].0).to::<u64>()
}

/// xorshift64*: a seeded, dependency-free source of chaos.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// Delivered / expected / missing / duplicated (and extra: delivered, not canonical).
#[allow(dead_code)] // read through `Debug`
#[derive(Debug)]
struct Tally {
    delivered: usize,
    expected: usize,
    missing: usize,
    duplicated: usize,
    extra: usize,
}

/// The logs left after applying the items in order (removals undo).
fn applied_logs(items: &[Log]) -> Vec<Log> {
    let mut applied: Vec<Log> = Vec::new();
    for l in items {
        if l.removed {
            if let Some(i) = applied.iter().position(|a| key(a) == key(l)) {
                applied.remove(i);
            }
        } else {
            applied.push(l.clone());
        }
    }
    applied
}

fn tally(expected: &[Key], delivered: &[Key]) -> Tally {
    let mut seen: HashMap<Key, usize> = HashMap::new();
    for k in delivered {
        *seen.entry(*k).or_default() += 1;
    }
    let canonical: std::collections::HashSet<Key> = expected.iter().copied().collect();
    Tally {
        delivered: delivered.len(),
        expected: expected.len(),
        missing: expected.iter().filter(|k| !seen.contains_key(k)).count(),
        duplicated: seen.values().filter(|n| **n > 1).map(|n| n - 1).sum(),
        extra: seen.keys().filter(|k| !canonical.contains(k)).count(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a chaos run of several minutes: --ignored"]
async fn chaos_gap_free_vs_plain_subscription() {
    let secs: u64 = std::env::var("CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    let seed: u64 = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            std::env::var("RUST_LOG").unwrap_or_else(|_| "alloy_amb::resumable=info".into()),
        )
        .try_init();
    let Some(anvil) = Anvil::spawn("chaos_gap_free_vs_plain_subscription") else {
        return;
    };
    let emitter = Arc::new(Emitter::deploy(&anvil.http_url()).await);
    let node = format!("127.0.0.1:{}", anvil.port).parse().unwrap();
    let ws_proxy = Arc::new(TcpProxy::start(node).await);
    let http_proxy = Arc::new(TcpProxy::start(node).await);
    let filter = Filter::new().address(emitter.address);

    // The README's setup: live over the WebSocket, backfill over HTTP (both through proxies).
    let (connect, reconnects) = track_reconnects(
        WsConnect::new(ws_proxy.ws_url())
            .with_max_retries(u32::MAX)
            .with_retry_interval(Duration::from_millis(100)),
    );
    let ws = ProviderBuilder::new()
        .connect_pubsub_with(connect)
        .await
        .unwrap();
    let http = RootProvider::new_http(format!("http://{}/", http_proxy.addr).parse().unwrap());
    let mut gap_free = ws
        .resumable_logs(&filter)
        .reconnect_signal(reconnects)
        .backfill_provider(http)
        .subscribe()
        .await
        .unwrap();
    // A plain subscription through the same kind of connection.
    let plain_ws = ProviderBuilder::new()
        .connect_pubsub_with(
            WsConnect::new(ws_proxy.ws_url())
                .with_max_retries(u32::MAX)
                .with_retry_interval(Duration::from_millis(100)),
        )
        .await
        .unwrap();
    let mut plain = plain_ws
        .subscribe_logs(&filter)
        .await
        .unwrap()
        .into_stream();

    let got: Arc<Mutex<Vec<Log>>> = Arc::default();
    let plain_got: Arc<Mutex<Vec<Log>>> = Arc::default();
    let g = got.clone();
    let ended: Arc<Mutex<Option<String>>> = Arc::default();
    let why = ended.clone();
    let gap_free_task = tokio::spawn(async move {
        while let Some(item) = gap_free.next().await {
            match item {
                Ok(log) => g.lock().unwrap().push(log),
                Err(e) => {
                    *why.lock().unwrap() = Some(e.to_string());
                    break;
                }
            }
        }
    });
    let p = plain_got.clone();
    let plain_task = tokio::spawn(async move {
        while let Some(log) = plain.next().await {
            p.lock().unwrap().push(log);
        }
    });

    // The chain: a log every ~30 ms, a live reorg (1-3 blocks, with new logs) every 5-15 s.
    let end = Instant::now() + Duration::from_secs(secs);
    let e = emitter.clone();
    let chain = tokio::spawn(async move {
        let mut rng = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
        let (mut n, mut reorgs) = (0u64, 0u64);
        let mut snapshots: Vec<U256> = Vec::new();
        let mut next_reorg = Instant::now() + Duration::from_secs(rng.between(5, 15));
        while Instant::now() < end {
            n += 1;
            snapshots.push(e.snapshot().await);
            if snapshots.len() > 3 {
                snapshots.remove(0);
            }
            e.emit_mined(n).await;
            if Instant::now() >= next_reorg {
                // Revert 1-3 blocks (to a snapshot taken before them) and mine others in
                // their place, with new logs. Every emission waits for its block: anvil
                // answers the send before mining, and a revert (or `anvil_reorg`, or
                // `anvil_rollback`) racing with the mining left anvil's chain with blocks
                // whose parent is not the block below (checked at the end).
                let depth = rng.between(1, 3).min(snapshots.len() as u64);
                if depth > 0 {
                    let id = snapshots[snapshots.len() - depth as usize];
                    e.revert(id).await;
                    snapshots.clear();
                    for i in 0..depth {
                        e.emit_mined(1_000_000 + n * 10 + i).await;
                    }
                }
                reorgs += 1;
                next_reorg = Instant::now() + Duration::from_secs(rng.between(5, 15));
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        (n, reorgs)
    });
    // The network: drops every 0.2-5 s; every ~30 s an outage of 5-15 s (WS and HTTP).
    let (w, h) = (ws_proxy.clone(), http_proxy.clone());
    let network = tokio::spawn(async move {
        let mut rng = Rng(seed);
        let (mut drops, mut outages) = (0u64, 0u64);
        let mut next_outage = Instant::now() + Duration::from_secs(rng.between(20, 40));
        while Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(rng.between(200, 5000))).await;
            w.drop_all();
            drops += 1;
            if Instant::now() >= next_outage {
                outages += 1;
                w.refuse(true);
                h.refuse(true);
                h.drop_all();
                tokio::time::sleep(Duration::from_secs(rng.between(5, 15))).await;
                w.refuse(false);
                h.refuse(false);
                next_outage = Instant::now() + Duration::from_secs(rng.between(20, 40));
            }
        }
        (drops, outages)
    });
    let (emitted, reorgs) = chain.await.unwrap();
    let (drops, outages) = network.await.unwrap();

    // A last log marks the end; the gap-free stream must reach it.
    let marker = 999_999_999;
    emitter.emit(marker).await;
    let wait = Instant::now();
    while !got.lock().unwrap().iter().any(|l| topic(l) == marker) {
        if let Some(e) = ended.lock().unwrap().clone() {
            panic!("the gap-free stream ended: {e}");
        }
        assert!(
            wait.elapsed() < Duration::from_secs(120),
            "the marker never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The plain subscription gets the same moment to catch up (it never will for outages).
    tokio::time::sleep(Duration::from_secs(2)).await;

    let expected: Vec<Key> = emitter
        .http
        .get_logs(&filter.clone().from_block(0))
        .await
        .unwrap()
        .iter()
        .map(key)
        .collect();
    let items = got.lock().unwrap().clone();
    let mut applied: Vec<Key> = Vec::new();
    let mut bad_removals = 0;
    for l in &items {
        if l.removed {
            match applied.iter().position(|k| *k == key(l)) {
                Some(i) => {
                    applied.remove(i);
                }
                None => bad_removals += 1,
            }
        } else {
            applied.push(key(l));
        }
    }
    let removals = items.iter().filter(|l| l.removed).count();
    let gap_free_tally = tally(&expected, &applied);
    let plain_items: Vec<Key> = plain_got
        .lock()
        .unwrap()
        .iter()
        .filter(|l| !l.removed)
        .map(key)
        .collect();
    let plain_tally = tally(&expected, &plain_items);
    gap_free_task.abort();
    plain_task.abort();
    println!(
        "chaos: {secs} s, seed {seed}: {emitted} logs emitted, {reorgs} live reorgs, {drops} drops, {outages} outages"
    );
    println!("gap-free stream: {gap_free_tally:?}, removals {removals}, removals of undelivered logs {bad_removals}");
    println!("plain subscribe_logs: {plain_tally:?}");
    if let Ok(path) = std::env::var("CHAOS_DUMP") {
        let mut dump = String::new();
        for l in &items {
            dump += &format!(
                "got {} {} {} {}\n",
                l.block_number.unwrap(),
                topic(l),
                l.removed,
                l.block_hash.unwrap()
            );
        }
        for k in &expected {
            dump += &format!("expected {} {}\n", k.0, k.2);
        }
        std::fs::write(path, dump).unwrap();
    }
    if let Ok(path) = std::env::var("CHAOS_DUMP") {
        let mut dump = String::new();
        for l in &items {
            dump += &format!(
                "got {} {} {} {}\n",
                l.block_number.unwrap(),
                topic(l),
                l.removed,
                l.block_hash.unwrap()
            );
        }
        for k in &expected {
            dump += &format!("expected {} {}\n", k.0, k.2);
        }
        std::fs::write(path, dump).unwrap();
    }
    let canonical: std::collections::HashSet<Key> = expected.iter().copied().collect();
    // The node's own consistency: a delivered log not in `eth_getLogs` whose block is the
    // chain's block at that height (same hash) is missing from the node's log index, not an
    // orphan the stream failed to remove.
    let mut index_gaps = 0;
    for l in &applied_logs(&items) {
        if canonical.contains(&key(l)) {
            continue;
        }
        let block = emitter
            .http
            .get_block_by_number(l.block_number.unwrap().into())
            .await
            .unwrap();
        let receipt = emitter
            .http
            .get_transaction_receipt(l.transaction_hash.unwrap())
            .await
            .unwrap();
        let on_chain = block.map(|b| b.header.hash) == l.block_hash;
        println!(
            "applied, not in eth_getLogs: block {} topic {}: block hash on chain {on_chain}, receipt in block {:?}",
            l.block_number.unwrap(),
            topic(l),
            receipt.and_then(|r| r.block_number)
        );
        if on_chain {
            index_gaps += 1;
        }
    }
    println!(
        "of which the node's eth_getLogs misses, though their block is canonical: {index_gaps}"
    );
    // Is the node's chain a hash chain (each block's parent is the block below)?
    let head = emitter.http.get_block_number().await.unwrap();
    let mut broken = Vec::new();
    let mut below: Option<B256> = None;
    for n in 0..=head {
        let b = emitter.http.get_block_by_number(n.into()).await.unwrap();
        let Some(b) = b else {
            broken.push(n);
            below = None;
            continue;
        };
        if below.is_some_and(|h| h != b.header.parent_hash) {
            broken.push(n);
        }
        below = Some(b.header.hash);
    }
    println!("node chain: blocks whose parent hash is not the block below: {broken:?}");
    assert!(
        broken.is_empty(),
        "the node's chain is no reference: blocks {broken:?} do not follow the block below"
    );
    for (i, l) in items.iter().enumerate() {
        if !canonical.contains(&key(l)) {
            println!(
                "not canonical: item {i} topic {} block {} removed {} hash {}",
                topic(l),
                l.block_number.unwrap(),
                l.removed,
                l.block_hash.unwrap()
            );
        }
    }
    assert_eq!(bad_removals, 0);
    assert_eq!(
        applied, expected,
        "the gap-free stream, applied, is the chain's logs in order"
    );
}
