//! The refresh policy and the cache's state machine: pure (no I/O, no clock of its own, no
//! task), so every rule is tested on its own below.
//!
//! Two clocks come in with every step: `local` (the credentials' time source, for backoff and
//! for how long a fetch has run) and `aws` (the same corrected by the skew learned from the
//! gateway's `Date`, for judging expiry: expiries are AWS's times).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;

/// When cached credentials are refreshed, and how a failing source is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshPolicy {
    /// How long before expiry a background refresh starts while the current credentials keep
    /// serving (default 5 minutes, as the AWS SDK for Java's prefetch time). Never more than a
    /// third of the credentials' lifetime.
    pub advisory: Duration,
    /// How long before expiry callers stop using the current credentials and wait for fresh
    /// ones (default 1 minute, as the AWS SDK for Java's stale time). Never more than a sixth of
    /// the credentials' lifetime.
    pub mandatory: Duration,
    /// The wait after a failed fetch before the source is asked again (default 2 seconds); it
    /// doubles with each failure in a row, up to [`max_retry_interval`](Self::max_retry_interval).
    pub retry_interval: Duration,
    /// The longest wait between two attempts on a failing source (default 1 minute).
    pub max_retry_interval: Duration,
    /// Whether each wait is drawn between half and all of its nominal value, so that many
    /// processes hit by the same outage do not retry in step (default true).
    pub jitter: bool,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            advisory: Duration::from_secs(5 * 60),
            mandatory: Duration::from_secs(60),
            retry_interval: Duration::from_secs(2),
            max_retry_interval: Duration::from_secs(60),
            jitter: true,
        }
    }
}

impl RefreshPolicy {
    /// A policy with these windows (`advisory` is raised to `mandatory` if smaller).
    pub fn new(advisory: Duration, mandatory: Duration) -> Self {
        Self {
            advisory: advisory.max(mandatory),
            mandatory,
            ..Self::default()
        }
    }

    /// Sets the first wait after a failed fetch (it doubles with each failure in a row).
    pub fn with_retry_interval(mut self, retry_interval: Duration) -> Self {
        self.retry_interval = retry_interval;
        self.max_retry_interval = self.max_retry_interval.max(retry_interval);
        self
    }

    /// Sets the longest wait between two attempts on a failing source.
    pub fn with_max_retry_interval(mut self, max: Duration) -> Self {
        self.max_retry_interval = max.max(self.retry_interval);
        self
    }

    /// Turns the jitter on the waits on or off.
    pub fn with_jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// The wait after `failures` failures in a row; `unit` in `[0, 1)` draws the jitter.
    pub(crate) fn backoff(&self, failures: u32, unit: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        let nominal = self
            .retry_interval
            .saturating_mul(1 << doublings)
            .min(self.max_retry_interval);
        if self.jitter {
            nominal.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
        } else {
            nominal
        }
    }

    /// The windows for credentials that live `lifetime`: the policy's, shrunk to a third
    /// (advisory) and a sixth (mandatory) of the lifetime, so that short-lived keys are used
    /// for most of their life instead of being fetched again on every request.
    pub(crate) fn windows(&self, lifetime: Duration) -> Windows {
        let advisory = self.advisory.min(lifetime / 3);
        let mandatory = self.mandatory.min(lifetime / 6).min(advisory);
        Windows {
            advisory,
            mandatory,
            // Worth a warning when the keys live less than twice the advisory window: the
            // refresh then runs far more often than the policy meant.
            short: lifetime < self.advisory * 2,
        }
    }
}

/// The refresh windows in force for one set of credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Windows {
    pub(crate) advisory: Duration,
    pub(crate) mandatory: Duration,
    /// The keys live much shorter than the policy's windows assume.
    pub(crate) short: bool,
}

/// Cached credentials with their expiry (on AWS's clock) and windows.
#[derive(Clone, Debug)]
struct Current {
    creds: Credentials,
    /// `None`: long-term keys, never refreshed.
    expiry: Option<SystemTime>,
    windows: Windows,
    /// Served provisionally: the keys looked expired on arrival while the gateway's clock was
    /// not known yet. Judged (and their windows set, with this policy) once it is.
    provisional: Option<RefreshPolicy>,
}

/// Why the last fetch failed, for everyone who waited on it and for callers during the backoff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Failure(pub(crate) std::sync::Arc<str>);

impl Failure {
    pub(crate) fn new(message: impl Into<std::sync::Arc<str>>) -> Self {
        Self(message.into())
    }
}

/// What a caller does now.
#[derive(Debug)]
pub(crate) enum Decision {
    /// Use these credentials.
    Serve(Credentials),
    /// Use these, and start one background fetch (the advisory window).
    ServeAndRefresh(Credentials),
    /// Start a fetch and wait for it.
    Fetch,
    /// Wait for the fetch in flight.
    Join,
    /// The source failed recently: fail at once with its last error.
    BackingOff {
        failure: Failure,
        failures: u32,
        retry_in: Duration,
    },
}

/// What a finished fetch left behind.
#[derive(Debug)]
pub(crate) enum Landed {
    /// Fresh credentials, now cached; `warn_short` the first time keys live much shorter than
    /// the policy's windows (lifetime, advisory window in force); `warn_clock` the first time
    /// keys that look expired on arrival are served provisionally because the gateway's clock
    /// is not known yet (how long ago they look expired: this machine's clock is at least that
    /// much ahead, or the source is stale).
    Fresh {
        creds: Credentials,
        warn_short: Option<(Duration, Windows)>,
        warn_clock: Option<Duration>,
    },
    /// The fetch failed (or brought credentials that are already expired); the next attempt is
    /// in `retry_in`.
    Failed {
        failure: Failure,
        failures: u32,
        retry_in: Duration,
    },
}

/// The cache's state.
#[derive(Debug, Default)]
pub(crate) struct State {
    current: Option<Current>,
    /// Failures in a row; 0 after a success.
    failures: u32,
    last_failure: Option<Failure>,
    /// No fetch starts before this (local clock).
    next_attempt: Option<SystemTime>,
    /// When the fetch in flight started (local clock).
    fetching_since: Option<SystemTime>,
    warned_short: bool,
    warned_clock: bool,
}

impl State {
    /// What a caller at `local` / `aws` does; `learned`: whether `aws` is corrected by a skew
    /// learned from the gateway's `Date`. Credentials past their expiry are dropped.
    /// Provisional credentials are served as they are until the gateway's clock is learned,
    /// then judged on it like any other (and dropped if they really are expired: the fetch
    /// that follows says the source is stale).
    pub(crate) fn decide(&mut self, local: SystemTime, aws: SystemTime, learned: bool) -> Decision {
        if let Some(cur) = &mut self.current {
            if let (Some(policy), Some(expiry)) = (cur.provisional, cur.expiry) {
                if !learned {
                    return Decision::Serve(cur.creds.clone());
                }
                match expiry.duration_since(aws) {
                    Ok(lifetime) if !lifetime.is_zero() => {
                        cur.windows = policy.windows(lifetime);
                        cur.provisional = None;
                    }
                    _ => self.current = None,
                }
            }
        }
        if let Some(cur) = &self.current {
            let Some(expiry) = cur.expiry else {
                return Decision::Serve(cur.creds.clone());
            };
            if aws < sub(expiry, cur.windows.mandatory) {
                let advisory = aws >= sub(expiry, cur.windows.advisory);
                if advisory && self.fetching_since.is_none() && self.may_attempt(local) {
                    return Decision::ServeAndRefresh(cur.creds.clone());
                }
                return Decision::Serve(cur.creds.clone());
            }
            if aws >= expiry {
                self.current = None;
            }
        }
        if self.fetching_since.is_some() {
            return Decision::Join;
        }
        match (&self.last_failure, self.next_attempt) {
            (Some(failure), Some(next)) if local < next => Decision::BackingOff {
                failure: failure.clone(),
                failures: self.failures,
                retry_in: next.duration_since(local).unwrap_or_default(),
            },
            _ => Decision::Fetch,
        }
    }

    /// Whether cached credentials are served without waiting at `aws`.
    pub(crate) fn serving(&self, aws: SystemTime) -> bool {
        self.current.as_ref().is_some_and(|c| {
            c.expiry
                .is_none_or(|expiry| aws < sub(expiry, c.windows.mandatory))
        })
    }

    fn may_attempt(&self, local: SystemTime) -> bool {
        self.next_attempt.is_none_or(|next| local >= next)
    }

    /// A fetch started at `local` (after [`Decision::Fetch`] or [`Decision::ServeAndRefresh`]).
    pub(crate) fn started(&mut self, local: SystemTime) {
        self.fetching_since = Some(local);
    }

    /// How long the fetch in flight has run, if one is.
    pub(crate) fn fetching_for(&self, local: SystemTime) -> Option<Duration> {
        self.fetching_since
            .map(|since| local.duration_since(since).unwrap_or_default())
    }

    /// The fetch finished with `result`. `skew_ms` is the learned skew (AWS minus local), if
    /// any; `jitter` in `[0, 1)`.
    pub(crate) fn land(
        &mut self,
        result: Result<Credentials, Failure>,
        local: SystemTime,
        aws: SystemTime,
        skew_ms: Option<i64>,
        policy: &RefreshPolicy,
        jitter: f64,
    ) -> Landed {
        self.fetching_since = None;
        let mut provisional = None;
        let result = result.and_then(|creds| match creds.expiry() {
            // The gateway's clock is not known yet: this machine's may be ahead. Served
            // provisionally; the gateway's first answer teaches its clock, and they are judged
            // on it then.
            Some(expiry) if expiry <= aws && skew_ms.is_none() => {
                provisional = Some(aws.duration_since(expiry).unwrap_or_default());
                Ok(creds)
            }
            Some(expiry) if expiry <= aws => Err(expired_on_arrival(expiry, aws, skew_ms)),
            _ => Ok(creds),
        });
        match result {
            Ok(creds) if provisional.is_some() => {
                self.current = Some(Current {
                    creds: creds.clone(),
                    expiry: creds.expiry(),
                    windows: Windows {
                        advisory: Duration::ZERO,
                        mandatory: Duration::ZERO,
                        short: false,
                    },
                    provisional: Some(*policy),
                });
                self.failures = 0;
                self.last_failure = None;
                self.next_attempt = None;
                let warn_clock =
                    provisional.filter(|_| !std::mem::replace(&mut self.warned_clock, true));
                Landed::Fresh {
                    creds,
                    warn_short: None,
                    warn_clock,
                }
            }
            Ok(creds) => {
                let expiry = creds.expiry();
                let lifetime = expiry.map(|e| e.duration_since(aws).unwrap_or_default());
                let windows = match lifetime {
                    Some(l) => policy.windows(l),
                    None => Windows {
                        advisory: Duration::ZERO,
                        mandatory: Duration::ZERO,
                        short: false,
                    },
                };
                let warn_short = match lifetime {
                    Some(l) if windows.short && !self.warned_short => {
                        self.warned_short = true;
                        Some((l, windows))
                    }
                    _ => None,
                };
                self.current = Some(Current {
                    creds: creds.clone(),
                    expiry,
                    windows,
                    provisional: None,
                });
                self.failures = 0;
                self.last_failure = None;
                self.next_attempt = None;
                Landed::Fresh {
                    creds,
                    warn_short,
                    warn_clock: None,
                }
            }
            Err(failure) => {
                self.failures = self.failures.saturating_add(1);
                let retry_in = policy.backoff(self.failures, jitter);
                self.next_attempt = Some(local + retry_in);
                self.last_failure = Some(failure.clone());
                Landed::Failed {
                    failure,
                    failures: self.failures,
                    retry_in,
                }
            }
        }
    }

    /// Drops the cached credentials if they are the same key as `stale`; true if dropped.
    pub(crate) fn invalidate(&mut self, stale: &Credentials) -> bool {
        let same = self.current.as_ref().is_none_or(|c| {
            c.creds.access_key_id() == stale.access_key_id()
                && c.creds.session_token() == stale.session_token()
        });
        if same {
            self.current = None;
        }
        same
    }
}

fn sub(t: SystemTime, d: Duration) -> SystemTime {
    t.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The failure for credentials that are already expired when they arrive: either the source
/// handed out stale keys, or this machine's clock is ahead (by at least that much).
fn expired_on_arrival(expiry: SystemTime, aws: SystemTime, skew_ms: Option<i64>) -> Failure {
    let ago = aws.duration_since(expiry).unwrap_or_default();
    let ago = Duration::from_secs(ago.as_secs());
    let clock = match skew_ms {
        Some(skew) if skew != 0 => format!(
            "judged on AWS's clock (this machine's clock is {} {} the gateway's, learned from \
             its Date header), so the source handed out stale credentials",
            human(Duration::from_millis(skew.unsigned_abs())),
            if skew < 0 { "ahead of" } else { "behind" },
        ),
        Some(_) => "judged on AWS's clock (this machine's clock agrees with the gateway's Date \
                    header), so the source handed out stale credentials"
            .to_owned(),
        None => format!(
            "if the source just issued them, this machine's clock is probably ahead of AWS's by \
             at least {}: synchronise it (NTP/chrony); `amb doctor` measures the offset",
            human(ago)
        ),
    };
    Failure::new(format!(
        "the source returned credentials that expired {} ago; {clock}",
        human(ago)
    ))
}

/// `1h 5m 3s`, `4m 0s`, `12s`, `350ms`.
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        1..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m {}s", s / 3600, s % 3600 / 60, s % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + secs)
    }

    fn key(id: &str, expires: Option<u64>) -> Credentials {
        Credentials::new(id, "s", None, expires.map(at), "test")
    }

    fn policy() -> RefreshPolicy {
        RefreshPolicy::default().with_jitter(false)
    }

    fn land_ok(s: &mut State, creds: Credentials, now: u64) -> Landed {
        s.land(Ok(creds), at(now), at(now), None, &policy(), 0.0)
    }

    fn land_err(s: &mut State, now: u64) -> Landed {
        s.land(
            Err(Failure::new("boom")),
            at(now),
            at(now),
            None,
            &policy(),
            0.0,
        )
    }

    #[test]
    fn windows_shrink_with_the_lifetime_and_warn_only_when_short() {
        let p = policy();
        let w = p.windows(Duration::from_secs(3600));
        assert_eq!(
            (w.advisory, w.mandatory, w.short),
            (p.advisory, p.mandatory, false)
        );
        // STS's shortest session: the default windows fit, nothing to warn about.
        let w = p.windows(Duration::from_secs(15 * 60));
        assert_eq!(
            (w.advisory, w.mandatory, w.short),
            (p.advisory, p.mandatory, false)
        );
        let w = p.windows(Duration::from_secs(5));
        assert_eq!(w.advisory, Duration::from_secs(5) / 3);
        assert_eq!(w.mandatory, Duration::from_secs(5) / 6);
        assert!(w.short);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_within_half() {
        let p = policy();
        let waits: Vec<_> = (1..=8).map(|n| p.backoff(n, 0.0).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(p.backoff(u32::MAX, 0.0), p.max_retry_interval);
        let j = RefreshPolicy::default();
        for unit in [0.0, 0.3, 0.999] {
            let d = j.backoff(3, unit);
            assert!(
                d >= Duration::from_secs(4) && d <= Duration::from_secs(8),
                "{d:?}"
            );
        }
    }

    #[test]
    fn one_fetch_then_cached_until_the_advisory_window() {
        let mut s = State::default();
        assert!(matches!(s.decide(at(0), at(0), true), Decision::Fetch));
        s.started(at(0));
        // Everyone else waits for that fetch.
        assert!(matches!(s.decide(at(0), at(0), true), Decision::Join));
        land_ok(&mut s, key("K1", Some(900)), 0);
        assert!(matches!(
            s.decide(at(500), at(500), true),
            Decision::Serve(_)
        ));
        // Advisory window: one caller starts the refresh, the others are served.
        assert!(matches!(
            s.decide(at(700), at(700), true),
            Decision::ServeAndRefresh(_)
        ));
        s.started(at(700));
        assert!(matches!(
            s.decide(at(701), at(701), true),
            Decision::Serve(_)
        ));
        // Mandatory window with the refresh still in flight: wait for it, do not start another.
        assert!(matches!(s.decide(at(850), at(850), true), Decision::Join));
        assert_eq!(s.fetching_for(at(850)), Some(Duration::from_secs(150)));
    }

    #[test]
    fn failures_back_off_and_callers_get_the_last_error_at_once() {
        let mut s = State::default();
        let mut asked = 0;
        let mut backing_off = 0;
        // A caller every 100 ms for a minute.
        for tenth in 0..600u64 {
            let now = at(0) + Duration::from_millis(tenth * 100);
            match s.decide(now, now, true) {
                Decision::Fetch => {
                    asked += 1;
                    s.started(now);
                    s.land(Err(Failure::new("boom")), now, now, None, &policy(), 0.0);
                }
                Decision::BackingOff {
                    failure, retry_in, ..
                } => {
                    backing_off += 1;
                    assert_eq!(&*failure.0, "boom");
                    assert!(retry_in > Duration::ZERO);
                }
                other => panic!("{other:?}"),
            }
        }
        // 0, 2, 6, 14, 30 s: five attempts in the first minute, then one a minute.
        assert_eq!(asked, 5);
        assert_eq!(backing_off, 595);
        // A success ends the backoff.
        let mut s = State::default();
        land_err(&mut s, 0);
        assert!(matches!(
            s.decide(at(1), at(1), true),
            Decision::BackingOff { failures: 1, .. }
        ));
        assert!(matches!(s.decide(at(2), at(2), true), Decision::Fetch));
        land_ok(&mut s, key("K1", Some(900)), 2);
        land_err(&mut s, 850);
        assert!(
            matches!(
                s.decide(at(851), at(851), true),
                Decision::BackingOff { failures: 1, .. }
            ),
            "the failure count restarts after a success"
        );
    }

    #[test]
    fn a_failed_background_refresh_keeps_serving_the_valid_credentials() {
        let mut s = State::default();
        land_ok(&mut s, key("K1", Some(900)), 0);
        assert!(matches!(
            s.decide(at(700), at(700), true),
            Decision::ServeAndRefresh(_)
        ));
        s.started(at(700));
        land_err(&mut s, 700);
        // Served, and no new background attempt before the backoff ends.
        assert!(matches!(
            s.decide(at(701), at(701), true),
            Decision::Serve(_)
        ));
        assert!(matches!(
            s.decide(at(702), at(702), true),
            Decision::ServeAndRefresh(_)
        ));
        s.started(at(702));
        land_err(&mut s, 702);
        // The mandatory window during the backoff: the last error at once.
        assert!(matches!(s.decide(at(850), at(850), true), Decision::Fetch));
        s.started(at(850));
        land_err(&mut s, 850);
        assert!(matches!(
            s.decide(at(851), at(851), true),
            Decision::BackingOff { failures: 3, .. }
        ));
    }

    #[test]
    fn expiry_is_judged_on_the_corrected_clock() {
        // This machine's clock is 20 minutes ahead: local = aws + 1200 s.
        let mut s = State::default();
        let landed = s.land(
            Ok(key("K1", Some(900))),
            at(1200),
            at(0),
            Some(-1_200_000),
            &policy(),
            0.0,
        );
        assert!(matches!(landed, Landed::Fresh { .. }), "{landed:?}");
        assert!(matches!(
            s.decide(at(1300), at(100), true),
            Decision::Serve(_)
        ));
        // With the skew known, stale keys are the source's fault.
        let mut s = State::default();
        let Landed::Failed { failure, .. } = s.land(
            Ok(key("K1", Some(900))),
            at(2400),
            at(1200),
            Some(-1_200_000),
            &policy(),
            0.0,
        ) else {
            panic!()
        };
        assert!(
            failure.0.contains("20m 0s ahead of the gateway's"),
            "{}",
            failure.0
        );
    }

    /// Keys judged on this machine's clock 20 minutes ahead (local = aws + 1200 s) before the
    /// gateway's clock is known: 15-minute keys look expired 5 minutes ago.
    fn land_cold(s: &mut State, creds: Credentials) -> Landed {
        s.land(Ok(creds), at(1200), at(1200), None, &policy(), 0.0)
    }

    #[test]
    fn keys_expired_on_arrival_are_provisional_until_the_gateway_clock_is_learned() {
        let mut s = State::default();
        assert!(matches!(
            s.decide(at(1200), at(1200), false),
            Decision::Fetch
        ));
        s.started(at(1200));
        let Landed::Fresh {
            warn_clock,
            warn_short,
            ..
        } = land_cold(&mut s, key("K1", Some(900)))
        else {
            panic!()
        };
        assert_eq!(warn_clock, Some(Duration::from_secs(300)));
        assert!(warn_short.is_none());
        // Served as they are, without a refetch, while the clock is unknown.
        for t in [1200, 1201, 1500, 5000] {
            assert!(matches!(
                s.decide(at(t), at(t), false),
                Decision::Serve(ref c) if c.access_key_id() == "K1"
            ));
        }
        // The gateway's Date says AWS is 20 minutes behind: 15 minutes left, judged as usual
        // from now on, with the windows of a 15-minute key.
        assert!(matches!(
            s.decide(at(1201), at(1), true),
            Decision::Serve(_)
        ));
        assert!(matches!(
            s.decide(at(1200 + 700), at(700), true),
            Decision::ServeAndRefresh(_)
        ));
        s.started(at(1900));
        let Landed::Fresh { warn_clock, .. } = s.land(
            Ok(key("K2", Some(1600))),
            at(1900),
            at(700),
            Some(-1_200_000),
            &policy(),
            0.0,
        ) else {
            panic!()
        };
        assert_eq!(warn_clock, None, "a known clock is nothing to warn about");
        // The warning is given once per cache.
        let mut s = State::default();
        land_cold(&mut s, key("K1", Some(900)));
        s.invalidate(&key("K1", Some(900)));
        let Landed::Fresh { warn_clock, .. } = land_cold(&mut s, key("K2", Some(900))) else {
            panic!()
        };
        assert_eq!(warn_clock, None);
    }

    #[test]
    fn provisional_keys_that_are_truly_expired_are_dropped_and_the_source_blamed_once() {
        let mut s = State::default();
        s.started(at(1200));
        land_cold(&mut s, key("K1", Some(900)));
        // The gateway's clock agrees with this machine's: the keys really are expired.
        assert!(matches!(
            s.decide(at(1201), at(1201), true),
            Decision::Fetch
        ));
        s.started(at(1201));
        // The source hands out the same stale keys again: a failure naming the source, with
        // the usual backoff; nothing is served, and nothing loops.
        let Landed::Failed {
            failure, failures, ..
        } = s.land(
            Ok(key("K1", Some(900))),
            at(1201),
            at(1201),
            Some(0),
            &policy(),
            0.0,
        )
        else {
            panic!()
        };
        assert_eq!(failures, 1);
        assert!(
            failure.0.contains("source handed out stale credentials"),
            "{}",
            failure.0
        );
        assert!(matches!(
            s.decide(at(1202), at(1202), true),
            Decision::BackingOff { failures: 1, .. }
        ));
    }

    #[test]
    fn long_term_keys_are_never_refreshed_and_invalidation_is_per_key() {
        let mut s = State::default();
        land_ok(&mut s, key("K1", None), 0);
        assert!(matches!(
            s.decide(at(1 << 30), at(1 << 30), true),
            Decision::Serve(_)
        ));
        assert!(!s.invalidate(&key("K0", None)));
        assert!(s.invalidate(&key("K1", None)));
        assert!(matches!(s.decide(at(1), at(1), true), Decision::Fetch));
    }

    #[test]
    fn short_lived_keys_warn_once() {
        let mut s = State::default();
        let Landed::Fresh { warn_short, .. } = land_ok(&mut s, key("K1", Some(5)), 0) else {
            panic!()
        };
        assert!(warn_short.is_some());
        let Landed::Fresh { warn_short, .. } = land_ok(&mut s, key("K2", Some(10)), 5) else {
            panic!()
        };
        assert!(warn_short.is_none());
    }
}
