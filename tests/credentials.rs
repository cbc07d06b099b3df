//! The credential cache and its refresh policy, on a manual clock with a scripted source: no
//! sleeps, no real expiries. (Real sources and real expiries: tests/credential_sources.rs.)

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use alloy_amb::credentials::{AmbCredentials, RefreshPolicy};
use alloy_amb::AmbError;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials};
use aws_credential_types::Credentials;
use aws_smithy_async::time::TimeSource;
use futures::FutureExt;
use support::current_key as key;
use tokio::sync::{mpsc, Semaphore};

/// A clock the test moves by hand.
#[derive(Debug, Clone)]
struct ManualClock(Arc<Mutex<SystemTime>>);

impl ManualClock {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        )))
    }
    fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

impl TimeSource for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

/// A source that issues `K<n>` valid for `lifetime` on the manual clock, can be held at a gate,
/// can be made to fail, and reports each call.
#[derive(Debug, Clone)]
struct Scripted {
    clock: ManualClock,
    lifetime: Duration,
    calls: Arc<AtomicU64>,
    gate: Arc<Semaphore>,
    fail: Arc<Mutex<bool>>,
    called: mpsc::UnboundedSender<u64>,
}

impl Scripted {
    fn new(clock: &ManualClock) -> (Self, mpsc::UnboundedReceiver<u64>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Self {
                clock: clock.clone(),
                lifetime: Duration::from_secs(15 * 60),
                calls: Arc::new(AtomicU64::new(0)),
                gate: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
                fail: Arc::new(Mutex::new(false)),
                called: tx,
            },
            rx,
        )
    }

    /// Holds every following call until `open`.
    fn close(&self) {
        let n = self.gate.available_permits();
        self.gate.forget_permits(n);
    }

    fn open(&self) {
        self.gate
            .add_permits(Semaphore::MAX_PERMITS - self.gate.available_permits());
    }
}

impl ProvideCredentials for Scripted {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let _ = self.called.send(n);
            let _permit = self.gate.acquire().await.unwrap();
            if *self.fail.lock().unwrap() {
                return Err(CredentialsError::provider_error("the vault is sealed"));
            }
            Ok(Credentials::new(
                format!("K{n}"),
                format!("secret{n}"),
                Some(format!("token{n}")),
                Some(self.clock.now() + self.lifetime),
                "scripted",
            ))
        })
    }
}

fn cached(source: &Scripted, clock: &ManualClock) -> AmbCredentials {
    AmbCredentials::builder(source.clone())
        .name("scripted")
        .refresh_policy(RefreshPolicy::default())
        .time_source(clock.clone())
        .build()
}

/// Waits, without sleeping, until a background refresh has landed `want`.
async fn until_key(creds: &AmbCredentials, want: &str) {
    for _ in 0..10_000 {
        if key(creds).await == want {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{want} never landed");
}

#[tokio::test]
async fn cached_until_the_advisory_window() {
    let clock = ManualClock::new();
    let (source, _rx) = Scripted::new(&clock);
    let creds = cached(&source, &clock);
    assert_eq!(key(&creds).await, "K1");
    clock.advance(Duration::from_secs(9 * 60)); // 6 minutes left: before the 5-minute window
    for _ in 0..100 {
        assert_eq!(key(&creds).await, "K1");
    }
    assert_eq!(creds.fetch_count(), 1);
}

#[tokio::test]
async fn advisory_refresh_runs_in_the_background_and_never_blocks() {
    let clock = ManualClock::new();
    let (source, mut called) = Scripted::new(&clock);
    let creds = cached(&source, &clock);
    assert_eq!(key(&creds).await, "K1");
    assert_eq!(called.recv().await, Some(1));

    clock.advance(Duration::from_secs(11 * 60)); // 4 minutes left: advisory window
    source.close();
    // The source is held, yet callers get the current credentials without waiting.
    for _ in 0..200 {
        // `unconstrained`: tokio's co-operative budget would otherwise report Pending after
        // ~128 lock acquisitions in one poll, which is not blocking.
        let c = tokio::task::unconstrained(creds.credentials())
            .now_or_never()
            .expect("blocked in the advisory window")
            .unwrap();
        assert_eq!(c.access_key_id(), "K1");
    }
    // Exactly one background fetch started, however many callers.
    assert_eq!(called.recv().await, Some(2));
    source.open();
    until_key(&creds, "K2").await;
    assert_eq!(creds.fetch_count(), 2);
    assert!(called.try_recv().is_err());
}

#[tokio::test]
async fn advisory_failure_keeps_the_valid_credentials_and_mandatory_failure_is_an_error() {
    let clock = ManualClock::new();
    let (source, mut called) = Scripted::new(&clock);
    let creds = cached(&source, &clock);
    assert_eq!(key(&creds).await, "K1");
    called.recv().await;

    *source.fail.lock().unwrap() = true;
    clock.advance(Duration::from_secs(11 * 60));
    assert_eq!(key(&creds).await, "K1");
    assert_eq!(called.recv().await, Some(2)); // the background attempt, which fails
                                              // Still served, and the failing source is not asked again before the retry interval.
    for _ in 0..50 {
        assert_eq!(key(&creds).await, "K1");
        tokio::task::yield_now().await;
    }
    assert_eq!(creds.fetch_count(), 2);
    clock.advance(Duration::from_secs(11));
    assert_eq!(key(&creds).await, "K1");
    assert_eq!(called.recv().await, Some(3));

    // 30 s left: mandatory window. Callers wait for the fetch, and its failure is theirs.
    clock.advance(Duration::from_secs(3 * 60 + 19));
    let err = creds.credentials().await.unwrap_err();
    assert!(
        matches!(&err, AmbError::Credentials { message, .. } if message.contains("the vault is sealed") && message.contains("scripted")),
        "{err}"
    );
    // The source recovers, but it failed 3 times in a row: until its backoff ends, callers get
    // the last error at once, typed, saying when the next attempt is; the source is not asked.
    *source.fail.lock().unwrap() = false;
    let err = creds.credentials().await.unwrap_err();
    let AmbError::CredentialsBackoff {
        message,
        failures,
        retry_in,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert!(message.contains("the vault is sealed"), "{err}");
    assert_eq!(*failures, 3);
    assert!(*retry_in > Duration::ZERO);
    assert!(err.to_string().contains("asked again in"), "{err}");
    assert_eq!(creds.fetch_count(), 4);
    // Then the next caller gets fresh credentials.
    clock.advance(*retry_in);
    assert_eq!(key(&creds).await, "K5");
}

#[tokio::test]
async fn one_fetch_for_150_callers_in_the_mandatory_window() {
    let clock = ManualClock::new();
    let (source, mut called) = Scripted::new(&clock);
    let creds = cached(&source, &clock);
    assert_eq!(key(&creds).await, "K1");
    called.recv().await;

    clock.advance(Duration::from_secs(14 * 60 + 30)); // 30 s left
    source.close();
    let tasks: Vec<_> = (0..150)
        .map(|_| {
            let creds = creds.clone();
            tokio::spawn(async move { key(&creds).await })
        })
        .collect();
    assert_eq!(called.recv().await, Some(2));
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    source.open();
    for t in tasks {
        assert_eq!(t.await.unwrap(), "K2");
    }
    assert_eq!(creds.fetch_count(), 2);
    assert_eq!(source.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn expired_credentials_are_dropped_and_early_ones_wait_for_the_clock() {
    // Keys that look expired on arrival before any gateway has told its clock (this machine's
    // may be ahead): served provisionally, and not fetched again on every call. Once the clock
    // is learned they are judged on it (`credential_sources`: the stale source, the cold start).
    let clock = ManualClock::new();
    let (mut source, _rx) = Scripted::new(&clock);
    source.lifetime = Duration::ZERO;
    let creds = cached(&source, &clock);
    assert_eq!(key(&creds).await, "K1");
    clock.advance(Duration::from_secs(60));
    assert_eq!(key(&creds).await, "K1");
    assert_eq!(creds.fetch_count(), 1);

    // Credentials past their expiry are dropped, not served: the next call fetches.
    let (source, _rx) = Scripted::new(&clock);
    let creds = cached(&source, &clock);
    assert_eq!(key(&creds).await, "K1");
    clock.advance(Duration::from_secs(16 * 60));
    assert_eq!(key(&creds).await, "K2");
}

#[tokio::test]
async fn invalidation_drops_only_the_stale_credentials() {
    let clock = ManualClock::new();
    let (source, _rx) = Scripted::new(&clock);
    let creds = cached(&source, &clock);
    let k1 = creds.credentials().await.unwrap();
    creds.invalidate(&k1).await;
    let k2 = creds.credentials().await.unwrap();
    assert_eq!(k2.access_key_id(), "K2");
    // A late invalidation of K1 must not throw K2 away.
    creds.invalidate(&k1).await;
    assert_eq!(key(&creds).await, "K2");
    assert_eq!(creds.fetch_count(), 2);
}

#[tokio::test]
async fn amb_credentials_are_a_provider_themselves() {
    let base = AmbCredentials::from_static("AKIDBASE000000000000", "s", None);
    let layered = AmbCredentials::from_provider(base.clone());
    for _ in 0..5 {
        assert_eq!(key(&layered).await, "AKIDBASE000000000000");
    }
    assert_eq!(base.fetch_count(), 1);
    assert_eq!(layered.name(), "custom");
}

// ---- Under stress: many callers, failing, short-lived and hung sources (issue 11, items 3 and 5).
// These run on tokio's paused clock: the source's latency and the callers' pacing are simulated
// time, so a "minute" takes milliseconds and nothing depends on the machine's speed.

/// The credentials' clock follows tokio's (paused) clock.
#[derive(Debug, Clone)]
struct TokioClock {
    base: SystemTime,
    start: tokio::time::Instant,
}

impl TokioClock {
    fn new() -> Self {
        Self {
            base: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            start: tokio::time::Instant::now(),
        }
    }
}

impl TimeSource for TokioClock {
    fn now(&self) -> SystemTime {
        self.base + self.start.elapsed()
    }
}

/// What a [`Paced`] source does when asked.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// Answers after `latency` with keys living `lifetime`.
    Issue {
        latency: Duration,
        lifetime: Duration,
    },
    /// Fails after `latency`.
    Fail { latency: Duration },
    /// Never answers.
    Hang,
}

#[derive(Debug, Clone)]
struct Paced {
    clock: TokioClock,
    behaviour: Behaviour,
    calls: Arc<AtomicU64>,
}

impl ProvideCredentials for Paced {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            match self.behaviour {
                Behaviour::Issue { latency, lifetime } => {
                    tokio::time::sleep(latency).await;
                    Ok(Credentials::new(
                        format!("K{n}"),
                        "secret",
                        Some("token".into()),
                        Some(self.clock.now() + lifetime),
                        "paced",
                    ))
                }
                Behaviour::Fail { latency } => {
                    tokio::time::sleep(latency).await;
                    Err(CredentialsError::provider_error("STS is throttling"))
                }
                Behaviour::Hang => futures::future::pending().await,
            }
        })
    }
}

fn paced(behaviour: Behaviour) -> (AmbCredentials, Arc<AtomicU64>) {
    let clock = TokioClock::new();
    let calls = Arc::new(AtomicU64::new(0));
    let source = Paced {
        clock: clock.clone(),
        behaviour,
        calls: calls.clone(),
    };
    let creds = AmbCredentials::builder(source)
        .name("paced")
        .time_source(clock)
        .build();
    (creds, calls)
}

/// 100 callers, each asking every 100 ms (simulated) for `run`; returns (successes, failures).
async fn hammer(creds: &AmbCredentials, run: Duration) -> (u64, u64) {
    let end = tokio::time::Instant::now() + run;
    let callers: Vec<_> = (0..100)
        .map(|_| {
            let creds = creds.clone();
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0u64, 0u64);
                while tokio::time::Instant::now() < end {
                    match tokio::time::timeout(Duration::from_secs(10), creds.credentials()).await {
                        Ok(Ok(_)) => ok += 1,
                        _ => failed += 1,
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                (ok, failed)
            })
        })
        .collect();
    let mut total = (0, 0);
    for c in callers {
        let (ok, failed) = c.await.unwrap();
        total.0 += ok;
        total.1 += failed;
    }
    total
}

#[tokio::test(start_paused = true)]
async fn a_failing_source_is_asked_a_handful_of_times_per_minute() {
    let (creds, calls) = paced(Behaviour::Fail {
        latency: Duration::from_millis(20),
    });
    let (ok, failed) = hammer(&creds, Duration::from_secs(60)).await;
    let asked = calls.load(Ordering::SeqCst);
    println!("failing source, 100 callers, 1 simulated minute: {failed} failed calls, {ok} ok, source asked {asked} times");
    assert_eq!(ok, 0);
    assert!(
        asked <= 8,
        "the failing source was asked {asked} times in a minute"
    );
}

#[tokio::test(start_paused = true)]
async fn five_second_keys_are_fetched_about_once_per_lifetime() {
    let (creds, calls) = paced(Behaviour::Issue {
        latency: Duration::from_millis(20),
        lifetime: Duration::from_secs(5),
    });
    let (ok, failed) = hammer(&creds, Duration::from_secs(60)).await;
    let fetched = calls.load(Ordering::SeqCst);
    println!("5 s keys, 100 callers, 1 simulated minute: {ok} calls served, {failed} failed, {fetched} fetches");
    assert_eq!(failed, 0);
    // 12 lifetimes in a minute: each key is used for most of its life, never refetched per call.
    assert!(
        (12..=24).contains(&fetched),
        "{fetched} fetches for 12 key lifetimes"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_source_is_asked_once_however_many_callers_time_out() {
    let (creds, calls) = paced(Behaviour::Hang);
    for _round in 0..5 {
        let callers: Vec<_> = (0..100)
            .map(|_| {
                let creds = creds.clone();
                tokio::spawn(async move {
                    tokio::time::timeout(Duration::from_secs(1), creds.credentials()).await
                })
            })
            .collect();
        for c in callers {
            assert!(c.await.unwrap().is_err(), "a hung source answered");
        }
    }
    let asked = calls.load(Ordering::SeqCst);
    println!("hung source, 5 rounds of 100 callers timing out: source asked {asked} times");
    assert_eq!(asked, 1, "the hung fetch was abandoned and restarted");
}

#[tokio::test(start_paused = true)]
async fn short_lived_keys_warn_once() {
    let (capture, _guard) = support::log_capture::capture();
    let (creds, calls) = paced(Behaviour::Issue {
        latency: Duration::from_millis(20),
        lifetime: Duration::from_secs(5),
    });
    for _ in 0..300 {
        creds.credentials().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(calls.load(Ordering::SeqCst) >= 5);
    let logs = capture.text();
    assert_eq!(
        logs.matches("AWS credentials live only 5s").count(),
        1,
        "{logs}"
    );
}
