//! Steady state over 100k requests: credential fetches (expected: the first one only) and
//! resident memory (expected flat), for `AmbHttp` with expiring temporary credentials, next to
//! alloy's plain `Http<reqwest::Client>`. Each client runs in its own process (this binary runs
//! itself), so that each peak RSS (`VmHWM`) is its own.
//!
//! ```sh
//! cargo bench --bench steady_state
//! ```
//!
//! `STEADY_REQUESTS` (default 100000) and `STEADY_CONCURRENCY` (default 64) tune the run.

mod support;

use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use alloy_amb::{AmbCredentials, AmbHttp};
use alloy_rpc_client::RpcClient;
use alloy_transport_http::{reqwest, Http};
use aws_credential_types::provider::{future, ProvideCredentials};
use aws_credential_types::Credentials;
use serde_json::json;

/// Temporary credentials valid for an hour, like an assumed role's.
#[derive(Debug)]
struct Sts;

impl ProvideCredentials for Sts {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Ok(Credentials::new(
            support::ACCESS_KEY,
            support::SECRET_KEY,
            Some(support::session_token()),
            Some(SystemTime::now() + Duration::from_secs(3600)),
            "bench-sts",
        )))
    }
}

/// The measurement, in a child process: prints one JSON line.
fn child(which: &str) {
    let requests = support::env_usize("STEADY_REQUESTS", 100_000);
    let concurrency = support::env_usize("STEADY_CONCURRENCY", 64);
    let (addr, _) = support::start_http_upstream();
    let url = format!("http://127.0.0.1:{}/", addr.port());
    let runtime = support::client_runtime();
    let _guard = runtime.enter();
    let credentials = AmbCredentials::builder(Sts).name("bench-sts").build();
    let client = match which {
        "plain" => RpcClient::new(
            Http::with_client(reqwest::Client::new(), url.parse().unwrap()),
            true,
        ),
        _ => RpcClient::new(
            AmbHttp::builder(&url)
                .region("us-east-1")
                .credentials(credentials.clone())
                .build()
                .unwrap(),
            true,
        ),
    };
    runtime.block_on(support::send(&client, 1, 1));
    let fetches_first = credentials.fetch_count();
    runtime.block_on(support::send(&client, concurrency, 1000));
    let (rss_warm, hwm_warm) = support::rss_kib();
    let mut samples =
        vec![json!({ "requests": 0, "rss_kib": rss_warm, "fetches": credentials.fetch_count() })];
    let chunk = requests / 10;
    let started = Instant::now();
    for i in 1..=10 {
        runtime.block_on(support::send(&client, concurrency, chunk));
        let (rss, _) = support::rss_kib();
        samples.push(json!({
            "requests": i * chunk,
            "rss_kib": rss,
            "fetches": credentials.fetch_count(),
        }));
    }
    let took = started.elapsed();
    let (rss_end, hwm_end) = support::rss_kib();
    println!(
        "{}",
        json!({
            "client": which,
            "requests": chunk * 10,
            "concurrency": concurrency,
            "seconds": took.as_secs_f64(),
            "fetches_after_first_request": fetches_first,
            "fetches_after_all": credentials.fetch_count(),
            "rss_kib_after_warmup": rss_warm,
            "hwm_kib_after_warmup": hwm_warm,
            "rss_kib_end": rss_end,
            "hwm_kib_end": hwm_end,
            "samples": samples,
        })
    );
}

fn main() {
    if let Ok(which) = std::env::var("STEADY_CHILD") {
        child(&which);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut results = Vec::new();
    println!("steady state: 100k eth_blockNumber requests, each client in its own process\n");
    println!("| client | credential fetches (first request / after all) | RSS after warm-up | RSS after 10k … 100k (min–max) | peak RSS (VmHWM) | requests/s |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for which in ["plain", "amb"] {
        let out = Command::new(&exe)
            .env("STEADY_CHILD", which)
            .output()
            .expect("run the measurement");
        assert!(
            out.status.success(),
            "{which}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        let rss: Vec<f64> = v["samples"]
            .as_array()
            .unwrap()
            .iter()
            .skip(1)
            .map(|s| s["rss_kib"].as_f64().unwrap())
            .collect();
        let (lo, hi) = support::spread(&rss);
        let mib = |k: f64| k / 1024.0;
        println!(
            "| {} | {} | {:.1} MiB | {:.1}–{:.1} MiB | {:.1} MiB | {:.0} |",
            if which == "plain" {
                "alloy Http<reqwest> (no credentials)"
            } else {
                "AmbHttp (1 h STS-style credentials)"
            },
            if which == "plain" {
                "–".to_owned()
            } else {
                format!(
                    "{} / {}",
                    v["fetches_after_first_request"], v["fetches_after_all"]
                )
            },
            mib(v["rss_kib_after_warmup"].as_f64().unwrap()),
            mib(lo),
            mib(hi),
            mib(v["hwm_kib_end"].as_f64().unwrap()),
            v["requests"].as_f64().unwrap() / v["seconds"].as_f64().unwrap(),
        );
        results.push(v);
    }
    support::write_results(
        "steady_state",
        &json!({ "machine": support::machine(), "runs": results }),
    );
}
