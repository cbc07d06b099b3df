//! Signing alone: ns and allocations per signature, aws-sigv4's `sign()` versus alloy-amb's
//! signing path versus the floor (SHA-256 of the body + SHA-256 of the canonical request + one
//! HMAC with a cached derived key).
//!
//! ```sh
//! cargo bench --bench signing
//! ```
//!
//! Times are thread CPU time per signature (median over rounds; the three functions take turns
//! within each round, and each ratio is taken within a round). `SIGN_BENCH_ROUNDS` (default 25) and `SIGN_BENCH_BATCH_MS` (default 8) tune the run.
//! `SIGN_BENCH_ONLY=<aws|amb|floor> SIGN_BENCH_ITERS=<n>` runs one function `n` times on the
//! 300 B eth_call (or case number `SIGN_BENCH_CASE`) and nothing else (for `valgrind --tool=callgrind`, see
//! `scripts/callgrind_signing.sh`).

mod support;

#[global_allocator]
static GLOBAL: support::Counting = support::Counting;

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy_amb::__private::sign_fast::{self, Algorithm, Input, Payload, Request, SigningKeyCache};
use alloy_amb::Endpoint;
use aws_credential_types::Credentials;
use aws_sigv4::sign::{v4, v4a};
use aws_smithy_runtime_api::client::identity::Identity;
use serde_json::json;
use sha2_sigv4::{Digest, Sha256};

const REGION: &str = "us-east-1";
const SERVICE: &str = "managedblockchain";
const HTTP_URL: &str =
    "https://nd-abcdefghijklmnopqrstuvwxyz.ethereum.managedblockchain.us-east-1.amazonaws.com";
const WS_URL: &str =
    "wss://nd-abcdefghijklmnopqrstuvwxyz.wss.ethereum.managedblockchain.us-east-1.amazonaws.com";
const CONTENT_TYPE: &[(&str, &str)] = &[("content-type", "application/json")];

/// A JSON-RPC `eth_call` of exactly `size` bytes.
fn eth_call(size: usize) -> Vec<u8> {
    let head = r#"{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"to":"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48","data":"0x"#;
    let tail = r#""},"latest"]}"#;
    let fill = size.saturating_sub(head.len() + tail.len());
    let mut body = String::with_capacity(size);
    body.push_str(head);
    body.extend(std::iter::repeat_n('a', fill));
    body.push_str(tail);
    body.into_bytes()
}

struct Case {
    name: &'static str,
    method: &'static str,
    endpoint: Endpoint,
    headers: &'static [(&'static str, &'static str)],
    body: Vec<u8>,
    identity: Identity,
}

impl Case {
    fn post(name: &'static str, size: usize, token: Option<String>) -> Self {
        Self {
            name,
            method: "POST",
            endpoint: Endpoint::parse(HTTP_URL).unwrap(),
            headers: CONTENT_TYPE,
            body: eth_call(size),
            identity: Credentials::new(ACCESS, SECRET, token, None, "bench").into(),
        }
    }

    fn request(&self) -> Request<'_> {
        Request {
            method: self.method,
            authority: self.endpoint.authority(),
            url: self.endpoint.url(),
            headers: self.headers,
            body: &self.body,
        }
    }

    fn creds(&self) -> &Credentials {
        self.identity.data::<Credentials>().unwrap()
    }

    /// SigV4 (or SigV4A with the region set `*`) of this request at `time`.
    fn input(&self, time: SystemTime, algorithm: Algorithm) -> Input<'_> {
        Input {
            credentials: self.creds(),
            region: if algorithm == Algorithm::V4a {
                "*"
            } else {
                REGION
            },
            service: SERVICE,
            time,
            payload: Payload::Signed,
            algorithm,
            request: self.request(),
        }
    }
}

use support::{ACCESS_KEY as ACCESS, SECRET_KEY as SECRET};

fn cases() -> Vec<Case> {
    vec![
        Case::post("POST 100 B", 100, None),
        Case::post("POST 300 B eth_call", 300, None),
        Case::post("POST 1 KiB", 1024, None),
        Case::post("POST 64 KiB", 64 * 1024, None),
        Case::post("POST 1 MiB", 1024 * 1024, None),
        Case {
            name: "WS upgrade (GET, empty body)",
            method: "GET",
            endpoint: Endpoint::parse(WS_URL).unwrap(),
            headers: &[],
            body: Vec::new(),
            identity: Credentials::new(ACCESS, SECRET, None, None, "bench").into(),
        },
        Case::post(
            "POST 300 B eth_call, 1 KB session token",
            300,
            Some(support::session_token()),
        ),
    ]
}

/// What the floor hashes and signs, precomputed: the canonical request and the string to sign
/// (exactly as SigV4 defines them for this request), and the derived key.
struct Floor {
    creq: Vec<u8>,
    sts: Vec<u8>,
    key: [u8; 32],
}

fn floor_inputs(case: &Case, time: SystemTime) -> Floor {
    let signed =
        sign_fast::sign_with_identity(&case.identity, &case.input(time, Algorithm::V4)).unwrap();
    let date_time = signed[0].1.clone();
    let mut headers: Vec<(String, String)> =
        vec![("host".into(), case.endpoint.authority().into())];
    headers.extend(
        case.headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    headers.push(("x-amz-date".into(), date_time.clone()));
    if let Some(t) = case.creds().session_token() {
        headers.push(("x-amz-security-token".into(), t.into()));
    }
    headers.sort();
    let mut creq = format!("{}\n/\n\n", case.method);
    for (k, v) in &headers {
        creq.push_str(&format!("{k}:{v}\n"));
    }
    let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    creq.push_str(&format!(
        "\n{}\n{}",
        names.join(";"),
        hex(&Sha256::digest(&case.body))
    ));
    let sts = format!(
        "AWS4-HMAC-SHA256\n{date_time}\n{}/{REGION}/{SERVICE}/aws4_request\n{}",
        &date_time[..8],
        hex(&Sha256::digest(creq.as_bytes()))
    );
    let key = v4::generate_signing_key(SECRET, time, REGION, SERVICE)
        .as_ref()
        .try_into()
        .unwrap();
    // The inputs are right: the floor's signature is the signature aws-sigv4 computes.
    let signature = v4::calculate_signature(key, sts.as_bytes());
    assert!(
        signed[1].1.ends_with(&signature),
        "floor inputs differ from SigV4"
    );
    Floor {
        creq: creq.into_bytes(),
        sts: sts.into_bytes(),
        key,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[inline(never)]
fn run_aws(case: &Case, time: SystemTime, iters: u64) {
    let input = case.input(time, Algorithm::V4);
    for _ in 0..iters {
        let h = sign_fast::sign_with_identity(black_box(&case.identity), black_box(&input));
        black_box(h.unwrap());
    }
}

#[inline(never)]
fn run_amb(case: &Case, cache: &SigningKeyCache, time: SystemTime, iters: u64) {
    for _ in 0..iters {
        let h = sign_fast::sign(cache, black_box(&case.input(time, Algorithm::V4)));
        black_box(h.unwrap());
    }
}

#[inline(never)]
fn run_floor(case: &Case, floor: &Floor, iters: u64) {
    for _ in 0..iters {
        black_box(Sha256::digest(black_box(&case.body)));
        black_box(Sha256::digest(black_box(&floor.creq)));
        black_box(v4::calculate_signature(
            black_box(floor.key),
            black_box(&floor.sts),
        ));
    }
}

/// Allocations and allocated bytes per call of `f` (mean over `n` calls).
fn allocs_per_call(n: u64, mut f: impl FnMut(u64)) -> (f64, f64) {
    f(1);
    let (a0, b0) = support::allocations();
    f(n);
    let (a1, b1) = support::allocations();
    ((a1 - a0) as f64 / n as f64, (b1 - b0) as f64 / n as f64)
}

/// Iterations for a batch of about `target` (at least 1).
fn calibrate(target: Duration, mut f: impl FnMut(u64)) -> u64 {
    let mut iters = 1;
    loop {
        let t = support::thread_cpu();
        f(iters);
        let took = support::thread_cpu() - t;
        if took >= target / 4 || iters >= 1 << 24 {
            let per = took.as_secs_f64() / iters as f64;
            return ((target.as_secs_f64() / per) as u64).max(1);
        }
        iters *= 4;
    }
}

/// CPU ns per iteration (thread CPU time: robust to preemption on a shared machine).
fn ns_per_iter(iters: u64, f: impl FnOnce(u64)) -> f64 {
    let t = support::thread_cpu();
    f(iters);
    (support::thread_cpu() - t).as_nanos() as f64 / iters as f64
}

fn main() {
    // 2026-11-24 20:00:00 UTC.
    let time = UNIX_EPOCH + Duration::from_secs(1_795_550_400);
    let cases = cases();

    if let Ok(only) = std::env::var("SIGN_BENCH_ONLY") {
        let iters = support::env_usize("SIGN_BENCH_ITERS", 10_000) as u64;
        let case = &cases[support::env_usize("SIGN_BENCH_CASE", 1)];
        let cache = SigningKeyCache::new();
        let floor = floor_inputs(case, time);
        run_amb(case, &cache, time, 1);
        match only.as_str() {
            "aws" => run_aws(case, time, iters),
            "amb" => run_amb(case, &cache, time, iters),
            "floor" => run_floor(case, &floor, iters),
            other => panic!("SIGN_BENCH_ONLY={other}: expected aws, amb or floor"),
        }
        return;
    }

    let rounds = support::env_usize("SIGN_BENCH_ROUNDS", 25);
    let batch = Duration::from_millis(support::env_usize("SIGN_BENCH_BATCH_MS", 8) as u64);
    println!("signing: {rounds} rounds of ~{batch:?} batches per function and case\n");
    println!(
        "| case | aws-sigv4 sign() | alloy-amb | floor | alloy-amb / floor | aws-sigv4 / floor | allocs aws-sigv4 | allocs alloy-amb | allocs floor |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut rows = Vec::new();
    for case in &cases {
        let cache = SigningKeyCache::new();
        let floor = floor_inputs(case, time);
        // Equal results first: the fast path is what is measured.
        let input = case.input(time, Algorithm::V4);
        assert_eq!(
            sign_fast::try_sign(&cache, &input),
            Some(sign_fast::sign_with_identity(&case.identity, &input).unwrap()),
        );
        let n_aws = calibrate(batch, |n| run_aws(case, time, n));
        let n_amb = calibrate(batch, |n| run_amb(case, &cache, time, n));
        let n_floor = calibrate(batch, |n| run_floor(case, &floor, n));
        let (mut aws, mut amb, mut flo) = (Vec::new(), Vec::new(), Vec::new());
        let (mut r_amb, mut r_aws) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // Rotate the order so that drift and neighbours' load spread evenly.
            let mut this = [0.0f64; 3];
            for k in 0..3 {
                match (round + k) % 3 {
                    0 => this[0] = ns_per_iter(n_aws, |n| run_aws(case, time, n)),
                    1 => this[1] = ns_per_iter(n_amb, |n| run_amb(case, &cache, time, n)),
                    _ => this[2] = ns_per_iter(n_floor, |n| run_floor(case, &floor, n)),
                }
            }
            aws.push(this[0]);
            amb.push(this[1]);
            flo.push(this[2]);
            r_amb.push(this[1] / this[2]);
            r_aws.push(this[0] / this[2]);
        }
        let alloc_n = if case.body.len() > 100_000 { 50 } else { 2000 };
        let (a_aws, b_aws) = allocs_per_call(alloc_n, |n| run_aws(case, time, n));
        let (a_amb, b_amb) = allocs_per_call(alloc_n, |n| run_amb(case, &cache, time, n));
        let (a_floor, b_floor) = allocs_per_call(alloc_n, |n| run_floor(case, &floor, n));
        let (m_aws, m_amb, m_floor) = (
            support::median(&aws),
            support::median(&amb),
            support::median(&flo),
        );
        let (ratio_amb, ratio_aws) = (support::median(&r_amb), support::median(&r_aws));
        println!(
            "| {} | {} | {} | {} | {:.2}× | {:.2}× | {:.0} | {:.0} | {:.0} |",
            case.name,
            fmt_ns(m_aws),
            fmt_ns(m_amb),
            fmt_ns(m_floor),
            ratio_amb,
            ratio_aws,
            a_aws,
            a_amb,
            a_floor
        );
        rows.push(json!({
            "case": case.name,
            "body_bytes": case.body.len(),
            "session_token": case.creds().session_token().is_some(),
            "ns": { "aws_sigv4": m_aws, "alloy_amb": m_amb, "floor": m_floor },
            "ns_spread": {
                "aws_sigv4": support::spread(&aws),
                "alloy_amb": support::spread(&amb),
                "floor": support::spread(&flo),
            },
            "ratio_to_floor": { "alloy_amb": ratio_amb, "aws_sigv4": ratio_aws },
            "ratio_to_floor_spread": { "alloy_amb": support::spread(&r_amb), "aws_sigv4": support::spread(&r_aws) },
            "allocs": { "aws_sigv4": a_aws, "alloy_amb": a_amb, "floor": a_floor },
            "alloc_bytes": { "aws_sigv4": b_aws, "alloy_amb": b_amb, "floor": b_floor },
        }));
        black_box(&floor);
    }
    let sigv4a = sigv4a_costs(&cases[1], time, batch);
    support::write_results(
        "signing",
        &json!({ "machine": support::machine(), "rounds": rounds, "cases": rows, "sigv4a": sigv4a }),
    );
}

/// SigV4A (aws-sigv4 only, no fast path): what one signature costs against SigV4, and how much
/// of it is the key derivation that a cache could save.
fn sigv4a_costs(case: &Case, time: SystemTime, batch: Duration) -> serde_json::Value {
    let cache = SigningKeyCache::new();
    let v4a_input = case.input(time, Algorithm::V4a);
    let creds = case.creds();
    let run_v4a = |n: u64| {
        for _ in 0..n {
            black_box(sign_fast::sign(&cache, black_box(&v4a_input)).unwrap());
        }
    };
    let run_key = |n: u64| {
        for _ in 0..n {
            let key = v4a::generate_signing_key(
                black_box(creds.access_key_id()),
                black_box(creds.secret_access_key()),
            );
            black_box(key.as_ref()[0]);
        }
    };
    let n_v4a = calibrate(batch, run_v4a);
    let n_key = calibrate(batch, run_key);
    let n_v4 = calibrate(batch, |n| run_aws(case, time, n));
    let (mut v4a_ns, mut key_ns, mut v4_ns) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        v4a_ns.push(ns_per_iter(n_v4a, run_v4a));
        key_ns.push(ns_per_iter(n_key, run_key));
        v4_ns.push(ns_per_iter(n_v4, |n| run_aws(case, time, n)));
    }
    let (v4a_m, key_m, v4_m) = (
        support::median(&v4a_ns),
        support::median(&key_ns),
        support::median(&v4_ns),
    );
    println!();
    println!(
        "| {} | aws-sigv4 SigV4 | aws-sigv4 SigV4A | SigV4A key derivation |",
        case.name
    );
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| per signature | {} | {} | {} |",
        fmt_ns(v4_m),
        fmt_ns(v4a_m),
        fmt_ns(key_m)
    );
    json!({ "case": case.name, "ns": { "aws_sigv4_v4": v4_m, "aws_sigv4_v4a": v4a_m, "v4a_key_derivation": key_m } })
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 100_000.0 {
        format!("{:.1} µs", ns / 1000.0)
    } else if ns >= 10_000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}
