//! HTTP end to end: `eth_blockNumber` through `AmbHttp` (SigV4 with temporary credentials and
//! their 1 KB session token, and with static keys) versus alloy's plain `Http<reqwest::Client>`,
//! all through alloy's
//! `RpcClient`, against the same loopback upstream that answers at once and checks no
//! signature. Requests/s, p50/p99 latency, client CPU and allocations per request, at several
//! concurrency levels; the ratio AmbHttp/plain is taken round by round (the clients take turns,
//! each going first in turn).
//!
//! ```sh
//! cargo bench --bench http
//! ```
//!
//! `HTTP_BENCH_CONCURRENCY` (default `1,4,16,64`), `HTTP_BENCH_ROUNDS` (default 12) and
//! `HTTP_BENCH_SECS` (seconds per client and round, default 0.5) tune the run.
//! `HTTP_BENCH_PROFILE=<plain|amb|amb_static|amb_token>` only sends `HTTP_BENCH_REQUESTS` (default 20000) requests
//! through one client at the first concurrency level, for
//! `valgrind --tool=callgrind --toggle-collect='*profile_run'`. The upstream runs
//! on its own thread and runtime; the clients share one single-threaded runtime on the main
//! thread (one core each on a 2-core machine).

mod support;

#[global_allocator]
static GLOBAL: support::Counting = support::Counting;

use std::time::Duration;

use alloy_amb::{AmbCredentials, AmbHttp};
use alloy_rpc_client::RpcClient;
use alloy_transport_http::{reqwest, Http};
use serde_json::json;
use support::Latencies;

fn main() {
    let levels: Vec<usize> = std::env::var("HTTP_BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "1,4,16,64".into())
        .split(',')
        .map(|c| c.trim().parse().expect("HTTP_BENCH_CONCURRENCY: numbers"))
        .collect();
    // Short rounds: a round's ratio compares clients measured within a second of each other.
    let rounds = support::env_usize("HTTP_BENCH_ROUNDS", 12);
    let secs = support::env_secs("HTTP_BENCH_SECS", 0.5);

    let (addr, _served) = support::start_http_upstream();
    let url = format!("http://127.0.0.1:{}/", addr.port());
    let runtime = support::client_runtime();
    let _guard = runtime.enter();

    let plain = RpcClient::new(
        Http::with_client(reqwest::Client::new(), url.parse().unwrap()),
        true,
    );
    let amb = |session_token: Option<String>| {
        RpcClient::new(
            AmbHttp::builder(&url)
                .region("us-east-1")
                .credentials(AmbCredentials::from_static(
                    support::ACCESS_KEY,
                    support::SECRET_KEY,
                    session_token,
                ))
                .build()
                .unwrap(),
            true,
        )
    };
    // The first is the baseline; the others are compared with it round by round.
    let clients = [
        ("plain", "alloy Http<reqwest>", plain),
        (
            "amb",
            "AmbHttp, temporary credentials (1 KB session token)",
            amb(Some(support::session_token())),
        ),
        ("amb_static", "AmbHttp, static keys", amb(None)),
        (
            "amb_token",
            "AmbHttp, billing token (nothing signed)",
            RpcClient::new(
                AmbHttp::builder(&url)
                    .billing_token("bench-billing-token")
                    .build()
                    .unwrap(),
                true,
            ),
        ),
    ];

    if let Ok(which) = std::env::var("HTTP_BENCH_PROFILE") {
        let (_, _, client) = clients
            .iter()
            .find(|(key, _, _)| *key == which)
            .unwrap_or_else(|| {
                panic!("HTTP_BENCH_PROFILE={which}: expected plain, amb, amb_static or amb_token")
            });
        let c = levels[0];
        let n = support::env_usize("HTTP_BENCH_REQUESTS", 20_000);
        runtime.block_on(support::send(client, c, 200.max(c)));
        support::profile_run(&runtime, client, c, n);
        return;
    }

    println!(
        "http: eth_blockNumber, {rounds} rounds of {secs:?} per client and concurrency, loopback upstream\n"
    );
    println!("| concurrency | client | requests/s | p50 | p99 | client CPU / request | upstream CPU / request | allocations / request | ratio to plain (requests/s) |");
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let k = clients.len();
    let mut rows = Vec::new();
    for &c in &levels {
        // Warm up all (connections opened, credentials loaded, key derived).
        for (_, _, client) in &clients {
            runtime.block_on(support::round_trips(
                client,
                c,
                secs.min(Duration::from_millis(300)),
            ));
        }
        let mut rps = vec![Vec::new(); k];
        let mut cpu_per_req = vec![Vec::new(); k];
        let mut upstream_per_req = vec![Vec::new(); k];
        let mut allocs_per_req = vec![Vec::new(); k];
        let mut lat = vec![Latencies::default(); k];
        let mut ratios = vec![Vec::new(); k];
        for round in 0..rounds {
            // Each client goes first in turn.
            let mut this = vec![0.0; k];
            for j in 0..k {
                let i = (round + j) % k;
                let r = runtime.block_on(support::round_trips(&clients[i].2, c, secs));
                this[i] = r.per_second();
                rps[i].push(this[i]);
                cpu_per_req[i].push(r.us_per_request(r.cpu));
                upstream_per_req[i].push(r.us_per_request(r.upstream_cpu));
                allocs_per_req[i].push(r.allocs as f64 / r.requests as f64);
                lat[i].extend(r.latencies);
            }
            for i in 0..k {
                ratios[i].push(this[i] / this[0]);
            }
        }
        let mut entry = serde_json::Map::new();
        entry.insert("concurrency".into(), json!(c));
        for (i, (key, name, _)) in clients.iter().enumerate() {
            let (p50, p99) = (lat[i].percentile_us(50.0), lat[i].percentile_us(99.0));
            let m_rps = support::median(&rps[i]);
            let m_cpu = support::median(&cpu_per_req[i]);
            let m_up = support::median(&upstream_per_req[i]);
            let m_allocs = support::median(&allocs_per_req[i]);
            let ratio = support::median(&ratios[i]);
            println!(
                "| {c} | {name} | {m_rps:.0} | {p50:.0} µs | {p99:.0} µs | {m_cpu:.1} µs | {m_up:.1} µs | {m_allocs:.0} | {} |",
                if i == 0 { String::new() } else { format!("{ratio:.3}×") },
            );
            entry.insert(
                (*key).into(),
                json!({
                    "name": name,
                    "rps_median": m_rps,
                    "rps_rounds": rps[i],
                    "p50_us": p50,
                    "p99_us": p99,
                    "cpu_us_per_request_median": m_cpu,
                    "cpu_us_per_request_rounds": cpu_per_req[i],
                    "upstream_cpu_us_per_request_median": m_up,
                    "allocations_per_request_median": m_allocs,
                    "ratio_rps_to_plain": ratio,
                    "ratio_rps_to_plain_rounds": ratios[i],
                    "ratio_cpu_per_request_to_plain": m_cpu / support::median(&cpu_per_req[0]),
                }),
            );
        }
        rows.push(serde_json::Value::Object(entry));
    }
    support::write_results(
        "http",
        &json!({
            "machine": support::machine(),
            "rounds": rounds,
            "secs_per_round": secs.as_secs_f64(),
            "levels": rows,
        }),
    );
}
