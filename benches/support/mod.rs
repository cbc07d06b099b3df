//! Shared by the bench binaries: fast loopback upstreams (HTTP and WebSocket) that answer at
//! once and check no signature, latency statistics, RSS, the machine description, and where
//! results are written.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy_primitives::U64;
use alloy_rpc_client::RpcClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The block number the upstreams answer `eth_blockNumber` with.
pub const BLOCK_NUMBER: u64 = 0x1b4;

/// Static test credentials (never valid anywhere).
pub const ACCESS_KEY: &str = "AKIDBENCHEXAMPLE0001";
pub const SECRET_KEY: &str = "benchSECRETkeyNotRealAtAll0123456789abcd";

/// A session token of the size STS hands out for an assumed role (about 1 KB).
pub fn session_token() -> String {
    let mut t = String::from("IQoJb3JpZ2luX2VjEHsaCXVzLWVhc3QtMSJHMEUCIQD");
    while t.len() < 1040 {
        t.push_str("aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789+/");
    }
    t.truncate(1040);
    t.push_str("==");
    t
}

/// Runs `f` on a new thread with its own single-threaded tokio runtime (an upstream gets one
/// core, the client under test the other).
fn spawn_runtime_thread<F, Fut>(name: &str, f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f())
        })
        .unwrap();
}

/// A minimal HTTP/1.1 JSON-RPC upstream on 127.0.0.1: answers every POST at once with
/// `{"jsonrpc":"2.0","id":<the request's id>,"result":"0x1b4"}` and a current `Date`; no
/// signature checking. Returns its address and the number of requests answered so far.
pub fn start_http_upstream() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicU64::new(0));
    let counter = served.clone();
    spawn_runtime_thread("http-upstream", move || async move {
        let listener = TcpListener::from_std(listener).unwrap();
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            tokio::spawn(serve_http(sock, counter.clone()));
        }
    });
    (addr, served)
}

async fn serve_http(mut sock: TcpStream, served: Arc<AtomicU64>) {
    let _ = sock.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    let mut date = HttpDate::default();
    let finder = memchr::memmem::Finder::new(b"\r\n\r\n");
    loop {
        let mut start = 0;
        while let Some(end) = finder.find(&buf[start..]) {
            let head = &buf[start..start + end];
            let body_start = start + end + 4;
            let total = body_start + content_length(head);
            if buf.len() < total {
                break;
            }
            respond(&mut out, &buf[body_start..total], date.now());
            served.fetch_add(1, Ordering::Relaxed);
            start = total;
        }
        buf.drain(..start);
        if !out.is_empty() {
            if sock.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        match sock.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn respond(out: &mut Vec<u8>, body: &[u8], date: &str) {
    let id = json_id(body).unwrap_or(b"null");
    let mut payload = Vec::with_capacity(64);
    payload.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    payload.extend_from_slice(id);
    payload.extend_from_slice(format!(r#","result":"0x{BLOCK_NUMBER:x}"}}"#).as_bytes());
    out.extend_from_slice(
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ndate: {date}\r\ncontent-length: {}\r\n\r\n",
            payload.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&payload);
}

/// The raw value of the top-level `"id"` of a JSON-RPC request (alloy writes it unspaced).
pub fn json_id(body: &[u8]) -> Option<&[u8]> {
    let at = find(body, br#""id":"#)? + 5;
    let rest = &body[at..];
    let end = rest.iter().position(|b| matches!(b, b',' | b'}'))?;
    Some(&rest[..end])
}

fn content_length(head: &[u8]) -> usize {
    const NAME: &[u8] = b"content-length:";
    for nl in memchr::memchr_iter(b'\n', head) {
        let line = &head[nl + 1..];
        if line.len() > NAME.len() && line[..NAME.len()].eq_ignore_ascii_case(NAME) {
            let value = &line[NAME.len()..];
            let end = memchr::memchr(b'\r', value).unwrap_or(value.len());
            return std::str::from_utf8(&value[..end])
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
        }
    }
    0
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// An RFC 7231 date, formatted once per second.
#[derive(Default)]
struct HttpDate {
    secs: u64,
    text: String,
}

impl HttpDate {
    fn now(&mut self) -> &str {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        if secs != self.secs || self.text.is_empty() {
            self.secs = secs;
            self.text = http_date(secs);
        }
        &self.text
    }
}

fn http_date(secs: u64) -> String {
    aws_smithy_types::DateTime::from_secs(secs as i64)
        .fmt(aws_smithy_types::date_time::Format::HttpDate)
        .unwrap_or_default()
}

/// A WebSocket JSON-RPC upstream on 127.0.0.1 (no signature checking): answers requests at once
/// (`eth_blockNumber` with [`BLOCK_NUMBER`], `eth_subscribe` with a new subscription id,
/// anything else with `null`); on `bench_notify` it answers `true` and then pushes
/// `notifications` notifications of about 500 B for the latest subscription, as fast as the
/// socket takes them.
pub fn start_ws_upstream(notifications: u64) -> SocketAddr {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    spawn_runtime_thread("ws-upstream", move || async move {
        let listener = TcpListener::from_std(listener).unwrap();
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let _ = sock.set_nodelay(true);
                let Ok(ws) = tokio_tungstenite::accept_async(sock).await else {
                    return;
                };
                let (mut tx, mut rx) = ws.split();
                let mut next_sub = 0u64;
                while let Some(Ok(msg)) = rx.next().await {
                    let text = match msg {
                        Message::Text(t) => t,
                        Message::Ping(p) => {
                            let _ = tx.send(Message::Pong(p)).await;
                            continue;
                        }
                        Message::Close(_) => return,
                        _ => continue,
                    };
                    let body = text.as_bytes();
                    let id = String::from_utf8_lossy(json_id(body).unwrap_or(b"null")).into_owned();
                    if find(body, b"\"eth_subscribe\"").is_some() {
                        next_sub += 1;
                        let answer =
                            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":"0x{next_sub:x}"}}"#);
                        if tx.send(Message::text(answer)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    if find(body, b"\"bench_notify\"").is_some() {
                        // Answer, then push the notifications of the latest subscription (the
                        // client is listening by now: nothing is lost to the race between
                        // the `eth_subscribe` answer and alloy's subscription channel).
                        let answer = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":true}}"#);
                        if tx.send(Message::text(answer)).await.is_err() {
                            return;
                        }
                        let sub = format!("0x{next_sub:x}");
                        for i in 0..notifications {
                            if tx.feed(Message::text(notification(&sub, i))).await.is_err() {
                                return;
                            }
                        }
                        if tx.flush().await.is_err() {
                            return;
                        }
                        continue;
                    }
                    let result = if find(body, b"\"eth_blockNumber\"").is_some() {
                        format!("\"0x{BLOCK_NUMBER:x}\"")
                    } else {
                        "null".to_owned()
                    };
                    let answer = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#);
                    if tx.send(Message::text(answer)).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// An `eth_subscription` notification carrying a log (about 500 B).
fn notification(sub: &str, i: u64) -> String {
    format!(
        concat!(
            r#"{{"jsonrpc":"2.0","method":"eth_subscription","params":{{"subscription":"{}","result":"#,
            r#"{{"address":"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48","#,
            r#""topics":["0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef","#,
            r#""0x0000000000000000000000004838b106fce9647bdf1e7877bf73ce8b0bad5f97","#,
            r#""0x000000000000000000000000beefbabeea323f07c59926295205d3b7a17e8638"],"#,
            r#""data":"0x00000000000000000000000000000000000000000000000000000000000f4240","#,
            r#""blockNumber":"0x{:x}","transactionHash":"0x{:064x}","transactionIndex":"0x1","#,
            r#""blockHash":"0x{:064x}","logIndex":"0x{:x}","removed":false}}}}}}"#
        ),
        sub,
        i / 100,
        i,
        i / 100,
        i % 100
    )
}

/// The single-threaded runtime the clients under test share (the upstream has its own thread).
pub fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One client at one concurrency level for a while.
pub struct Run {
    pub requests: u64,
    pub latencies: Latencies,
    pub wall: Duration,
    /// CPU time of the client (the calling thread, which runs the client runtime).
    pub cpu: Duration,
    /// CPU time of the rest of the process (the upstream's thread).
    pub upstream_cpu: Duration,
    /// Allocations in the whole process during the run (with [`Counting`] installed).
    pub allocs: u64,
}

impl Run {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64()
    }

    /// µs of `d` per request.
    pub fn us_per_request(&self, d: Duration) -> f64 {
        d.as_nanos() as f64 / 1000.0 / self.requests as f64
    }
}

/// `eth_blockNumber` round trips through `client`, `concurrency` at a time, for `secs`.
pub async fn round_trips(client: &RpcClient, concurrency: usize, secs: Duration) -> Run {
    let cpu0 = thread_cpu();
    let process0 = process_cpu();
    let (allocs0, _) = allocations();
    let start = Instant::now();
    let deadline = start + secs;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut lat = Latencies::default();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let n: U64 = client
                        .request_noparams("eth_blockNumber")
                        .await
                        .expect("eth_blockNumber");
                    lat.record(t);
                    assert_eq!(n.to::<u64>(), BLOCK_NUMBER);
                }
                lat
            })
        })
        .collect();
    let mut latencies = Latencies::default();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let cpu = thread_cpu() - cpu0;
    Run {
        requests: latencies.0.len() as u64,
        latencies,
        wall: start.elapsed(),
        cpu,
        upstream_cpu: (process_cpu() - process0).saturating_sub(cpu),
        allocs: allocations().0 - allocs0,
    }
}

/// Exactly `requests` `eth_blockNumber` round trips through `client`, `concurrency` at a time.
pub async fn send(client: &RpcClient, concurrency: usize, requests: usize) {
    let tasks: Vec<_> = (0..concurrency)
        .map(|i| {
            let client = client.clone();
            let n = requests / concurrency + usize::from(i < requests % concurrency);
            tokio::spawn(async move {
                for _ in 0..n {
                    let b: U64 = client.request_noparams("eth_blockNumber").await.unwrap();
                    assert_eq!(b.to::<u64>(), BLOCK_NUMBER);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// [`send`] on `runtime`, in a function of its own for
/// `valgrind --tool=callgrind --toggle-collect='*profile_run'`.
#[inline(never)]
pub fn profile_run(
    runtime: &tokio::runtime::Runtime,
    client: &RpcClient,
    concurrency: usize,
    requests: usize,
) {
    runtime.block_on(send(client, concurrency, requests));
}

/// Latency samples (nanoseconds) and summary statistics.
#[derive(Default, Clone)]
pub struct Latencies(pub Vec<u64>);

impl Latencies {
    pub fn record(&mut self, since: Instant) {
        self.0.push(since.elapsed().as_nanos() as u64);
    }

    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// The `p`-th percentile (0..=100) in microseconds.
    pub fn percentile_us(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.sort_unstable();
        let rank = ((p / 100.0) * (self.0.len() - 1) as f64).round() as usize;
        self.0[rank] as f64 / 1000.0
    }
}

pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// (min, max) of finite values.
pub fn spread(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        })
}

/// `VmRSS` and `VmHWM` (peak) of this process, in KiB.
pub fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `nproc`, the CPU model and the compiler, for the results.
pub fn machine() -> serde_json::Value {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_default();
    let rustc = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    serde_json::json!({ "nproc": cpus, "cpu": model, "rustc": rustc })
}

/// Where results go: `$BENCH_OUT`, else `target/bench-results/`.
pub fn results_dir() -> PathBuf {
    let dir = std::env::var_os("BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // CARGO_TARGET_TMPDIR is `<target>/tmp`.
            PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .map(|t| t.join("bench-results"))
                .unwrap_or_else(|| PathBuf::from("bench-results"))
        });
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `value` to `<results_dir>/<name>.json` and says where.
pub fn write_results(name: &str, value: &serde_json::Value) {
    let path = results_dir().join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    println!("\nresults written to {}", path.display());
}

/// A duration from the environment variable `name` in seconds (fractions allowed), or `default`.
pub fn env_secs(name: &str, default: f64) -> Duration {
    Duration::from_secs_f64(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// A count from the environment variable `name`, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time consumed by the calling thread (not wall time: a bench preempted by other work on
/// a shared machine is not charged for the time it did not run).
pub fn thread_cpu() -> Duration {
    cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time consumed by the whole process (all threads).
pub fn process_cpu() -> Duration {
    cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn cpu_clock(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime({clock})");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A global allocator that counts allocations (including reallocations) and their bytes; a
/// bench binary installs it with `#[global_allocator]`.
pub struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALLOC_BYTES: AtomicU64 = AtomicU64::new(0);

/// (allocations, bytes allocated) so far, process-wide.
pub fn allocations() -> (u64, u64) {
    (
        ALLOCS.load(Ordering::Relaxed),
        ALLOC_BYTES.load(Ordering::Relaxed),
    )
}

fn count(bytes: usize) {
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    ALLOC_BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
