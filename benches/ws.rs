//! WebSocket end to end: `AmbWsConnect` (upgrade signed with SigV4, temporary credentials)
//! versus alloy's `WsConnect`, both through alloy's pub/sub `RpcClient`, against the same
//! loopback WebSocket upstream that answers at once and checks no signature: `eth_blockNumber`
//! round trips (requests/s, p50/p99, client CPU per request) at several concurrency levels, and
//! subscription notification throughput (notifications/s of ~500 B log notifications). The
//! clients take turns; each ratio is taken round by round.
//!
//! ```sh
//! cargo bench --bench ws
//! ```
//!
//! `WS_BENCH_CONCURRENCY` (default `1,64`), `WS_BENCH_ROUNDS` (default 6), `WS_BENCH_SECS`
//! (default 1) and `WS_BENCH_NOTIFICATIONS` (per subscription, default 20000) tune the run.
//! `WS_BENCH_PROFILE=<plain|amb>` only sends `WS_BENCH_REQUESTS` (default 20000) round trips
//! through one client at the first concurrency level, for
//! `valgrind --tool=callgrind --toggle-collect='*profile_run'`.

mod support;

use std::time::{Duration, Instant};

use alloy_amb::{AmbCredentials, AmbWsConnect};
use alloy_provider::{Provider, RootProvider, WsConnect};
use alloy_rpc_client::RpcClient;
use serde_json::json;
use serde_json::value::RawValue;
use support::Latencies;

#[global_allocator]
static GLOBAL: support::Counting = support::Counting;

const NAMES: [&str; 2] = ["alloy WsConnect", "AmbWsConnect"];

/// Subscribes, asks the upstream to push, and receives `n` notifications: (notifications/s,
/// client CPU µs/notification).
async fn notifications(provider: &RootProvider, n: usize) -> (f64, f64) {
    let mut sub = provider
        .subscribe::<_, Box<RawValue>>(("logs", json!({})))
        .await
        .expect("eth_subscribe");
    let cpu0 = support::thread_cpu();
    let start = Instant::now();
    let _: bool = provider
        .client()
        .request_noparams("bench_notify")
        .await
        .expect("bench_notify");
    let mut got = 0;
    while got < n {
        match sub.recv().await {
            Ok(_) => got += 1,
            Err(e) => panic!("subscription: {e} after {got} notifications"),
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = (support::thread_cpu() - cpu0).as_nanos() as f64 / 1000.0;
    drop(sub);
    (n as f64 / wall, cpu / n as f64)
}

fn main() {
    let levels: Vec<usize> = std::env::var("WS_BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "1,64".into())
        .split(',')
        .map(|c| c.trim().parse().expect("WS_BENCH_CONCURRENCY: numbers"))
        .collect();
    let rounds = support::env_usize("WS_BENCH_ROUNDS", 6);
    let secs = support::env_secs("WS_BENCH_SECS", 1.0);
    let n = support::env_usize("WS_BENCH_NOTIFICATIONS", 20_000);

    let addr = support::start_ws_upstream(n as u64);
    let url = format!("ws://127.0.0.1:{}/", addr.port());
    let runtime = support::client_runtime();

    let (plain, amb) = runtime.block_on(async {
        let plain = RpcClient::connect_pubsub(WsConnect::new(url.clone()))
            .await
            .expect("WsConnect");
        let credentials = AmbCredentials::from_static(
            support::ACCESS_KEY,
            support::SECRET_KEY,
            Some(support::session_token()),
        );
        let amb = RpcClient::connect_pubsub(
            AmbWsConnect::builder(&url)
                .region("us-east-1")
                .credentials(credentials)
                .build()
                .unwrap(),
        )
        .await
        .expect("AmbWsConnect");
        (plain, amb)
    });
    let clients = [plain, amb];
    if let Ok(which) = std::env::var("WS_BENCH_PROFILE") {
        let i = match which.as_str() {
            "plain" => 0,
            "amb" => 1,
            other => panic!("WS_BENCH_PROFILE={other}: expected plain or amb"),
        };
        let requests = support::env_usize("WS_BENCH_REQUESTS", 20_000);
        support::profile_run(&runtime, &clients[i], levels[0], requests);
        return;
    }
    let providers: Vec<RootProvider> = clients
        .iter()
        .map(|c| {
            // Room for every notification of a subscription: none is dropped as lagging.
            c.pubsub_frontend().unwrap().set_channel_size(n + 16);
            RootProvider::new(c.clone())
        })
        .collect();

    println!(
        "ws: {rounds} rounds of {secs:?} per client and concurrency, {n} notifications per subscription, loopback upstream\n"
    );
    println!(
        "| measurement | client | requests/s | p50 | p99 | client CPU / request | AmbWsConnect / WsConnect |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    let mut rows = Vec::new();
    for &c in &levels {
        for client in &clients {
            runtime.block_on(support::round_trips(
                client,
                c,
                secs.min(Duration::from_millis(300)),
            ));
        }
        let mut rps = [Vec::new(), Vec::new()];
        let mut cpu = [Vec::new(), Vec::new()];
        let mut lat = [Latencies::default(), Latencies::default()];
        let mut ratios = Vec::new();
        for round in 0..rounds {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            let mut this = [0.0; 2];
            for i in order {
                let r = runtime.block_on(support::round_trips(&clients[i], c, secs));
                this[i] = r.per_second();
                rps[i].push(this[i]);
                cpu[i].push(r.us_per_request(r.cpu));
                lat[i].extend(r.latencies);
            }
            ratios.push(this[1] / this[0]);
        }
        let ratio = support::median(&ratios);
        let mut entry = serde_json::Map::new();
        for i in 0..2 {
            let (p50, p99) = (lat[i].percentile_us(50.0), lat[i].percentile_us(99.0));
            let (m_rps, m_cpu) = (support::median(&rps[i]), support::median(&cpu[i]));
            println!(
                "| eth_blockNumber, concurrency {c} | {} | {m_rps:.0} | {p50:.0} µs | {p99:.0} µs | {m_cpu:.1} µs | {} |",
                NAMES[i],
                if i == 1 { format!("{ratio:.3}×") } else { String::new() }
            );
            entry.insert(
                ["plain", "amb"][i].into(),
                json!({
                    "rps_median": m_rps,
                    "rps_rounds": rps[i],
                    "p50_us": p50,
                    "p99_us": p99,
                    "cpu_us_per_request_median": m_cpu,
                }),
            );
        }
        entry.insert("concurrency".into(), json!(c));
        entry.insert("ratio_rps".into(), json!(ratio));
        entry.insert("ratio_rps_rounds".into(), json!(ratios));
        rows.push(serde_json::Value::Object(entry));
    }

    // Subscription throughput.
    for provider in &providers {
        runtime.block_on(notifications(provider, n / 4));
    }
    let mut rate = [Vec::new(), Vec::new()];
    let mut cpu = [Vec::new(), Vec::new()];
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut this = [0.0; 2];
        for i in order {
            let (r, c) = runtime.block_on(notifications(&providers[i], n));
            this[i] = r;
            rate[i].push(r);
            cpu[i].push(c);
        }
        ratios.push(this[1] / this[0]);
    }
    let ratio = support::median(&ratios);
    let mut subs = serde_json::Map::new();
    for i in 0..2 {
        let (m_rate, m_cpu) = (support::median(&rate[i]), support::median(&cpu[i]));
        println!(
            "| notifications ({n} per subscription) | {} | {m_rate:.0} /s | | | {m_cpu:.2} µs | {} |",
            NAMES[i],
            if i == 1 { format!("{ratio:.3}×") } else { String::new() }
        );
        subs.insert(
            ["plain", "amb"][i].into(),
            json!({ "per_second_median": m_rate, "per_second_rounds": rate[i], "cpu_us_per_notification_median": m_cpu }),
        );
    }
    subs.insert("ratio".into(), json!(ratio));
    subs.insert("ratio_rounds".into(), json!(ratios));
    subs.insert("notifications_per_subscription".into(), json!(n));
    support::write_results(
        "ws",
        &json!({
            "machine": support::machine(),
            "rounds": rounds,
            "secs_per_round": secs.as_secs_f64(),
            "round_trips": rows,
            "subscription": subs,
        }),
    );
}
