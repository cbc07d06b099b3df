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
        matches!(&err, AmbError::Credentials { message } if message.contains("the vault is sealed") && message.contains("scripted")),
        "{err}"
    );
    // When the source recovers, the next caller gets fresh credentials.
    *source.fail.lock().unwrap() = false;
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
async fn expired_credentials_are_never_handed_out() {
    let clock = ManualClock::new();
    let (mut source, _rx) = Scripted::new(&clock);
    source.lifetime = Duration::ZERO;
    let creds = cached(&source, &clock);
    let err = creds.credentials().await.unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");

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
