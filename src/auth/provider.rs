//! Third-party RPC provider auth: static headers (e.g. QuickNode's `x-token`), a bearer token
//! (static, or refreshed from a user closure), HTTP Basic, or nothing at all.
//!
//! One implementation for the HTTP POST and the WebSocket upgrade: both ask
//! [`Auth::authorize`](super::Auth) (through [`sign_and_send`](super::sign_and_send)) for the
//! headers to add. Every value here is a secret: `Debug` never shows one, and
//! [`crate::redact`] withholds them from every text that comes back from the network.

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::future::{BoxFuture, FutureExt, Shared};
use url::Url;

use crate::error::{AmbError, ConfigError};
use crate::secret::Secret;

/// The error a [`bearer_token_provider`](crate::AmbHttpBuilder::bearer_token_provider) closure
/// may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A bearer token handed out by a
/// [`bearer_token_provider`](crate::AmbHttpBuilder::bearer_token_provider) closure, with the
/// time it expires, if it does. `Debug` withholds the token.
#[derive(Clone)]
pub struct BearerToken {
    token: String,
    expires_at: Option<SystemTime>,
}

impl BearerToken {
    /// A token that does not expire (kept until the provider refuses it with 401).
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            expires_at: None,
        }
    }

    /// The time the token expires: it is fetched again 30 seconds before (halfway through a
    /// shorter lifetime), and sent until it expires while that fetch runs.
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// When the token expires, if it does.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.expires_at
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerToken")
            .field("token", &"** redacted **")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// How long before its expiry a refreshed token is fetched again (at most half its lifetime,
/// so that a short-lived token is still reused).
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(30);

/// The user closure behind [`Credential::Refreshing`].
pub(crate) type FetchToken =
    Arc<dyn Fn() -> BoxFuture<'static, Result<BearerToken, BoxError>> + Send + Sync>;

/// Wraps a user closure as a [`FetchToken`].
pub(crate) fn fetch_token<F, Fut>(f: F) -> FetchToken
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<BearerToken, BoxError>> + Send + 'static,
{
    Arc::new(move || Box::pin(f()))
}

/// What a builder was given for the `Authorization` header.
#[derive(Clone)]
pub(crate) enum CredentialSetting {
    Bearer(Secret),
    Refreshing(FetchToken),
    Basic { user: String, password: Secret },
}

impl fmt::Debug for CredentialSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bearer(_) => f.write_str("Bearer(** redacted **)"),
            Self::Refreshing(_) => f.write_str("BearerProvider(<closure>)"),
            // A lone user name may be the key (`https://KEY@host/`).
            Self::Basic { .. } => f.write_str("Basic(** redacted **)"),
        }
    }
}

/// The `Authorization` header a provider request carries, if any.
pub(crate) enum Credential {
    /// No `Authorization` header (`no_auth()`, or static headers only).
    None,
    /// A fixed header value (`Bearer <token>`, `Basic <base64>`), built once.
    Fixed(Secret),
    /// `Bearer <token>` from a user closure, cached until shortly before it expires.
    Refreshing(Refreshing),
}

/// A refreshed bearer token, single-flight: one fetch at a time, run in its own task and its
/// result (token or error) shared by every request that waits for it. A request that gives up
/// (its timeout) does not cancel the fetch: the next request takes its token. A fetch still
/// running after twice the request timeout is abandoned (its task aborted) and the next request
/// starts a new one; an error nobody waited for is dropped, not handed to a later request. While
/// a refresh runs (or after it failed) the cached token is still sent until it expires.
pub(crate) struct Refreshing {
    fetch: FetchToken,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    /// The fetch in flight, if any.
    inflight: Option<Inflight>,
}

struct Inflight {
    result: Fetch,
    started: tokio::time::Instant,
    task: tokio::task::AbortHandle,
}

/// A fetch's shared result: the token, or why there is none (secrets withheld).
type Fetch = Shared<BoxFuture<'static, Result<Cached, Arc<str>>>>;

#[derive(Clone)]
struct Cached {
    /// `Bearer <token>`.
    header: Secret,
    /// When to fetch a new one: [`REFRESH_MARGIN`] (at most half the token's lifetime) before
    /// it expires.
    refresh_at: Option<SystemTime>,
    expires_at: Option<SystemTime>,
}

impl Cached {
    fn new(header: Secret, expires_at: Option<SystemTime>, now: SystemTime) -> Self {
        let refresh_at = expires_at.map(|at| {
            let lifetime = at.duration_since(now).unwrap_or_default();
            at - REFRESH_MARGIN.min(lifetime / 2)
        });
        Self {
            header,
            refresh_at,
            expires_at,
        }
    }

    fn fresh(&self, now: SystemTime) -> bool {
        self.refresh_at.is_none_or(|at| now < at)
    }

    fn valid(&self, now: SystemTime) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

impl Refreshing {
    pub(crate) fn new(fetch: FetchToken) -> Self {
        Self {
            fetch,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `Authorization` value to send: the cached token while fresh; else the result of the
    /// fetch in flight (started here if there is none, or if it has run for twice `timeout`),
    /// or the cached token meanwhile if it has not expired yet.
    async fn header(&self, timeout: Duration) -> Result<Secret, AmbError> {
        let fetch = {
            let mut state = self.state();
            let now = SystemTime::now();
            if let Some(inflight) = &state.inflight {
                match inflight.result.clone().now_or_never() {
                    Some(Ok(token)) => {
                        state.cached = Some(token);
                        state.inflight = None;
                    }
                    // Whoever waited for it has been told; a later request starts over.
                    Some(Err(_)) => state.inflight = None,
                    None if inflight.started.elapsed() >= timeout.saturating_mul(2) => {
                        inflight.task.abort();
                        state.inflight = None;
                    }
                    None => {}
                }
            }
            let last = state.cached.as_ref().map(|c| c.header.clone());
            if let Some(c) = state.cached.as_ref().filter(|c| c.fresh(now)) {
                return Ok(c.header.clone());
            }
            let fetch = state
                .inflight
                .get_or_insert_with(|| self.start(timeout, last))
                .result
                .clone();
            if let Some(c) = state.cached.as_ref().filter(|c| c.valid(now)) {
                return Ok(c.header.clone());
            }
            fetch
        };
        let result = fetch.clone().await;
        {
            let mut state = self.state();
            if state
                .inflight
                .as_ref()
                .is_some_and(|i| i.result.ptr_eq(&fetch))
            {
                state.inflight = None;
                if let Ok(token) = &result {
                    state.cached = Some(token.clone());
                }
            }
        }
        result
            .map(|c| c.header)
            .map_err(|message| AmbError::TokenProvider {
                message: message.to_string(),
            })
    }

    /// Runs the user's closure in its own task (so that a request that times out does not
    /// cancel it) and checks the token it returns.
    /// Its error text withholds `last`, the token it replaces, as well as secrets by shape.
    fn start(&self, timeout: Duration, last: Option<Secret>) -> Inflight {
        let task = tokio::spawn((self.fetch)());
        let abort = task.abort_handle();
        let result = async move {
            let token = match task.await {
                Ok(Ok(token)) => token,
                Ok(Err(e)) => {
                    let mut known = crate::redact::Known::default();
                    if let Some(last) = &last {
                        known.add_authorization(last.expose());
                    }
                    return Err(crate::redact::withhold(&error_chain(&*e), &known).into());
                }
                Err(e) if e.is_cancelled() => {
                    return Err(format!(
                        "it did not answer within {:?} and was abandoned (nothing was sent); \
                         check what it waits for (the identity provider, the network)",
                        timeout.saturating_mul(2)
                    )
                    .into())
                }
                Err(_) => return Err("it panicked".into()),
            };
            if token.token.trim().is_empty() {
                return Err("it returned an empty token".into());
            }
            if let Err(problem) = check_value(&token.token) {
                return Err(format!(
                    "the token it returned {problem}, so it cannot be sent in a header \
                     (nothing was sent)"
                )
                .into());
            }
            Ok(Cached::new(
                Secret::new(format!("Bearer {}", token.token)),
                token.expires_at,
                SystemTime::now(),
            ))
        }
        .boxed()
        .shared();
        Inflight {
            result,
            started: tokio::time::Instant::now(),
            task: abort,
        }
    }

    /// Drops the cached token if it is still the one `used` (a request that was refused with
    /// it); another request may already have replaced it.
    fn invalidate(&self, used: &str) {
        let mut state = self.state();
        if state
            .cached
            .as_ref()
            .is_some_and(|c| c.header.expose() == used)
        {
            state.cached = None;
        }
    }
}

/// An error and its causes, as one line.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// Third-party provider auth: static headers and an `Authorization` header.
pub(crate) struct Provider {
    /// The URL requests go to (built once).
    pub(crate) url: Arc<Url>,
    pub(crate) headers: StaticHeaders,
    pub(crate) credential: Credential,
}

impl Provider {
    pub(crate) fn new(url: Url, headers: StaticHeaders, credential: Credential) -> Self {
        Self {
            url: Arc::new(url),
            headers,
            credential,
        }
    }

    /// The headers to add to a request: the static ones, then `authorization`.
    /// `timeout` is the request's: a token fetch running for twice as long is abandoned.
    pub(crate) async fn headers(
        &self,
        timeout: Duration,
    ) -> Result<Vec<(&'static str, String)>, AmbError> {
        let mut headers = self.headers.to_wire();
        let authorization = match &self.credential {
            Credential::None => None,
            Credential::Fixed(value) => Some(value.clone()),
            Credential::Refreshing(r) => Some(r.header(timeout).await?),
        };
        if let Some(value) = authorization {
            headers.push(("authorization", value.expose().to_owned()));
        }
        Ok(headers)
    }

    /// After a 401 from the provider: with a refreshed token, drop the one `used` so
    /// that the next attempt fetches a new one, and say that one more attempt may help.
    pub(crate) async fn recover(&self, used: &[(&'static str, String)]) -> bool {
        let Credential::Refreshing(r) = &self.credential else {
            return false;
        };
        if let Some((_, value)) = used.iter().find(|(n, _)| *n == "authorization") {
            r.invalidate(value);
        }
        true
    }

    /// What `Debug` shows: the header names and the kind of credential, never a value.
    pub(crate) fn describe(&self) -> String {
        let credential = match &self.credential {
            Credential::None => "none",
            Credential::Fixed(v) if v.expose().starts_with("Basic ") => "basic",
            Credential::Fixed(_) => "bearer",
            Credential::Refreshing(_) => "bearer (refreshed)",
        };
        format!(
            "Provider {{ headers: {:?}, authorization: {credential} }}",
            self.headers
                .names()
                .into_iter()
                .map(shown_name)
                .collect::<Vec<_>>()
        )
    }
}

impl Credential {
    /// The credential for a builder's setting.
    pub(crate) fn from_setting(setting: Option<CredentialSetting>) -> Result<Self, AmbError> {
        Ok(match setting {
            None => Self::None,
            Some(CredentialSetting::Bearer(token)) => {
                let problem = if token.expose().trim().is_empty() {
                    Some("is empty")
                } else {
                    check_value(token.expose()).err()
                };
                if let Some(problem) = problem {
                    return Err(ConfigError::InvalidSecret {
                        what: "the bearer token (`.bearer_token(..)`)",
                        problem,
                    }
                    .into());
                }
                Self::Fixed(Secret::new(format!("Bearer {}", token.expose())))
            }
            Some(CredentialSetting::Refreshing(fetch)) => Self::Refreshing(Refreshing::new(fetch)),
            Some(CredentialSetting::Basic { user, password }) => {
                if user.is_empty() && password.expose().is_empty() {
                    return Err(ConfigError::InvalidSecret {
                        what: "HTTP Basic auth (`.basic_auth(..)` or user:password in the URL)",
                        problem: "has an empty user name and password (nothing would authenticate)",
                    }
                    .into());
                }
                if user.contains(':') {
                    return Err(ConfigError::InvalidSecret {
                        what: "the HTTP Basic user name",
                        problem: "contains a `:` (Basic auth cannot carry it)",
                    }
                    .into());
                }
                for (what, value) in [
                    ("the HTTP Basic user name", user.as_str()),
                    ("the HTTP Basic password", password.expose()),
                ] {
                    if let Err(problem) = check_value(value) {
                        return Err(ConfigError::InvalidSecret { what, problem }.into());
                    }
                }
                let pair = format!("{user}:{}", password.expose());
                Self::Fixed(Secret::new(format!(
                    "Basic {}",
                    aws_smithy_types::base64::encode(pair)
                )))
            }
        })
    }
}

/// Why a value cannot go into a header (a line break or another control character), never
/// showing it.
fn check_value(value: &str) -> Result<(), &'static str> {
    if value.contains(['\r', '\n']) {
        Err("contains a line break")
    } else if value.chars().any(|c| c.is_control() && c != '\t') {
        Err("contains a control character")
    } else {
        Ok(())
    }
}

/// Static headers (`.header(name, value)`), validated at build: names lowercased, values
/// secret.
#[derive(Clone, Default)]
pub(crate) struct StaticHeaders(Arc<[(&'static str, Secret)]>);

impl fmt::Debug for StaticHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.0
                    .iter()
                    .map(|(n, _)| (shown_name(n), "** redacted **")),
            )
            .finish()
    }
}

/// Header names a static header may not set: the ones the transports set themselves (and
/// every `x-amz-*`, `sec-websocket-*` and `proxy-*` name).
const RESERVED: [&str; 11] = [
    "host",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "user-agent",
    "accept-encoding",
    "keep-alive",
    "trailer",
];

fn reserved(name: &str) -> bool {
    RESERVED.contains(&name)
        || ["x-amz-", "sec-websocket-", "proxy-"]
            .iter()
            .any(|p| name.starts_with(p))
}

impl StaticHeaders {
    /// Validates `.header(..)` settings: a typed error naming the header (never its value).
    /// `authorization` is refused when `credential` also sets it.
    pub(crate) fn build(
        given: Vec<(String, Secret)>,
        authorization_taken: bool,
    ) -> Result<Self, AmbError> {
        let mut out: Vec<(&'static str, Secret)> = Vec::with_capacity(given.len());
        for (name, value) in given {
            let parsed = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ConfigError::InvalidHeader {
                    name: name.chars().take(64).collect(),
                    problem: "is not a valid HTTP header name (letters, digits and `-`)",
                }
            })?;
            let lower = parsed.as_str();
            let refuse = |problem| ConfigError::InvalidHeader {
                name: lower.to_owned(),
                problem,
            };
            if reserved(lower) {
                return Err(refuse("is set by the transport itself").into());
            }
            if lower == "authorization" && authorization_taken {
                return Err(refuse(
                    "is also set by `.bearer_token(..)`, `.bearer_token_provider(..)` or \
                     `.basic_auth(..)` (or user:password in the URL): give one",
                )
                .into());
            }
            if value.expose().trim().is_empty() {
                return Err(refuse("has an empty value (nothing would authenticate)").into());
            }
            if let Err(problem) = check_value(value.expose()) {
                return Err(refuse(problem).into());
            }
            if http::HeaderValue::from_str(value.expose()).is_err() {
                return Err(refuse("has a value that cannot go into a header").into());
            }
            if out.iter().any(|(n, _)| *n == lower) {
                return Err(refuse("is given twice: give it once").into());
            }
            let Some(name) = intern(lower) else {
                return Err(refuse(
                    "is one distinct header name too many: this process keeps at most 64 KiB \
                     of them (give fewer distinct names)",
                )
                .into());
            };
            out.push((name, value));
        }
        Ok(Self(out.into()))
    }

    /// The headers as a request carries them.
    pub(crate) fn to_wire(&self) -> Vec<(&'static str, String)> {
        let mut headers = Vec::with_capacity(self.0.len() + 1);
        headers.extend(self.0.iter().map(|(n, v)| (*n, v.expose().to_owned())));
        headers
    }

    pub(crate) fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|(n, _)| *n).collect()
    }
}

/// A header name as `Debug` may show it: only if it looks like one (at most 40 letters, digits
/// and `-`), else `<withheld>` (a value given as the name by mistake, e.g. a JWT).
pub(crate) fn shown_name(name: &str) -> &str {
    let looks_like_a_name = !name.is_empty()
        && name.len() <= 40
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if looks_like_a_name {
        name
    } else {
        "<withheld>"
    }
}

/// At most this many bytes of distinct header names are kept for the process's life.
const MAX_INTERNED: usize = 64 * 1024;

/// A header name as the `&'static str` the transports' header lists hold: each distinct name
/// is allocated once per process (a handful of names, whatever the number of builders), and at
/// most [`MAX_INTERNED`] bytes of them (`None` past that), so that names from user input cannot
/// grow memory without bound.
fn intern(name: &str) -> Option<&'static str> {
    static NAMES: Mutex<(BTreeSet<&'static str>, usize)> = Mutex::new((BTreeSet::new(), 0));
    let mut guard = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let (names, used) = &mut *guard;
    if let Some(known) = names.get(name) {
        return Some(known);
    }
    if *used + name.len() > MAX_INTERNED {
        return None;
    }
    *used += name.len();
    let kept: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(kept);
    Some(kept)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const T: Duration = Duration::from_secs(10);

    fn refreshing(f: FetchToken) -> Refreshing {
        Refreshing::new(f)
    }

    #[tokio::test]
    async fn cached_until_shortly_before_expiry() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let r = refreshing(fetch_token(move || {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                // The first token has already expired; the second is good for an hour.
                let at = if n == 1 {
                    SystemTime::now() - Duration::from_secs(1)
                } else {
                    SystemTime::now() + Duration::from_secs(3600)
                };
                Ok(BearerToken::new(format!("tok{n}")).expires_at(at))
            }
        }));
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(r.header(T).await.unwrap().expose().to_owned());
        }
        assert_eq!(
            seen,
            ["Bearer tok1", "Bearer tok2", "Bearer tok2", "Bearer tok2"]
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // Invalidating a token that is no longer cached keeps the cached one.
        r.invalidate("Bearer tok1");
        assert_eq!(r.header(T).await.unwrap().expose(), "Bearer tok2");
        r.invalidate("Bearer tok2");
        assert_eq!(r.header(T).await.unwrap().expose(), "Bearer tok3");
    }

    /// A closure whose token lives 20 s (less than the 30 s margin): cached for half of it.
    #[tokio::test]
    async fn a_short_lived_token_is_reused() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let r = refreshing(fetch_token(move || {
            c.fetch_add(1, Ordering::SeqCst);
            async {
                Ok(BearerToken::new("short-tok-1")
                    .expires_at(SystemTime::now() + Duration::from_secs(20)))
            }
        }));
        for _ in 0..5 {
            assert_eq!(r.header(T).await.unwrap().expose(), "Bearer short-tok-1");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// A closure that never answers once: after twice the timeout its fetch is abandoned
    /// (aborted) and the next request starts a new one.
    #[tokio::test(start_paused = true)]
    async fn a_hung_fetch_is_abandoned_and_a_new_one_started() {
        let t = Duration::from_millis(100);
        let calls = Arc::new(AtomicU32::new(0));
        let (c, dropped) = (calls.clone(), Arc::new(tokio::sync::Notify::new()));
        let d = dropped.clone();
        let r = refreshing(fetch_token(move || {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            let guard = (n == 1).then(|| NotifyOnDrop(d.clone()));
            async move {
                if let Some(_guard) = guard {
                    std::future::pending::<()>().await;
                }
                Ok(BearerToken::new(format!("tok{n}")))
            }
        }));
        let mut results = Vec::new();
        for _ in 0..3 {
            results.push(
                tokio::time::timeout(t, r.header(t))
                    .await
                    .map(|h| h.map(|h| h.expose().to_owned())),
            );
        }
        assert!(results[0].is_err() && results[1].is_err(), "{results:?}");
        assert_eq!(
            results[2].as_ref().unwrap().as_ref().unwrap(),
            "Bearer tok2"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // The hung closure's future was dropped (its task aborted), not left running.
        dropped.notified().await;
    }

    struct NotifyOnDrop(Arc<tokio::sync::Notify>);

    impl Drop for NotifyOnDrop {
        fn drop(&mut self) {
            self.0.notify_one();
        }
    }

    /// A fetch that failed after its only waiter gave up: a request an hour later does not get
    /// that old error but a new fetch.
    #[tokio::test(start_paused = true)]
    async fn an_error_nobody_waited_for_is_not_handed_to_a_later_request() {
        let t = Duration::from_millis(100);
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let r = refreshing(fetch_token(move || {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n == 1 {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    return Err::<BearerToken, BoxError>("idp is down".into());
                }
                Ok(BearerToken::new("tok-later"))
            }
        }));
        assert!(tokio::time::timeout(t, r.header(t)).await.is_err());
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(r.header(t).await.unwrap().expose(), "Bearer tok-later");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    /// While a refresh runs (or after it failed), a token that has not expired yet is sent.
    #[tokio::test(start_paused = true)]
    async fn a_still_valid_token_is_sent_while_refreshing() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let r = refreshing(fetch_token(move || {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n == 1 {
                    std::future::pending::<()>().await;
                }
                Err::<BearerToken, BoxError>("idp is down".into())
            }
        }));
        // Bounded, so that a request that waits for the hung fetch fails instead of hanging.
        async fn within(f: impl Future<Output = Result<Secret, AmbError>>) -> Secret {
            tokio::time::timeout(T, f)
                .await
                .expect("waited for the fetch instead of sending the valid token")
                .unwrap()
        }
        let now = SystemTime::now();
        r.state().cached = Some(Cached {
            header: Secret::new("Bearer old-but-valid"),
            refresh_at: Some(now - Duration::from_secs(1)),
            expires_at: Some(now + Duration::from_secs(3600)),
        });
        // The fetch hangs: the valid token is sent meanwhile.
        assert_eq!(within(r.header(T)).await.expose(), "Bearer old-but-valid");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Abandoned, a new fetch fails: still the valid token.
        tokio::time::sleep(T * 2).await;
        assert_eq!(within(r.header(T)).await.expose(), "Bearer old-but-valid");
        tokio::task::yield_now().await;
        assert_eq!(within(r.header(T)).await.expose(), "Bearer old-but-valid");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_failing_closure_is_named_and_its_token_never_shown() {
        let r = refreshing(fetch_token(|| async {
            Err::<BearerToken, BoxError>("idp said: Authorization: Bearer eyJhbGciOi.SECRET".into())
        }));
        let err = r.header(T).await.unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.contains("bearer_token_provider"), "{text}");
        assert!(!text.contains("eyJhbGciOi"), "{text}");
        let r = refreshing(fetch_token(|| async {
            Ok(BearerToken::new("SecretTok1\r\nx: y"))
        }));
        let text = r.header(T).await.unwrap_err().to_string();
        assert!(
            text.contains("line break") && !text.contains("SecretTok1"),
            "{text}"
        );
    }

    #[test]
    fn header_names_are_validated_and_values_checked() {
        let s = |v: &str| Secret::new(v.to_owned());
        let ok = StaticHeaders::build(vec![("X-Token".into(), s("abc"))], false).unwrap();
        assert_eq!(ok.names(), ["x-token"]);
        for (name, value, taken) in [
            ("bad name", "v", false),
            ("x-token", "a\r\nb", false),
            ("x-token", "a\u{7}b", false),
            ("host", "v", false),
            ("Sec-WebSocket-Key", "v", false),
            ("User-Agent", "v", false),
            ("x-amz-region-set", "*", false),
            ("X-Amz-Content-Sha256", "v", false),
            ("proxy-authorization", "v", false),
            ("authorization", "Token x", true),
            ("", "v", false),
            ("x-token", "", false),
            ("x-token", " \t", false),
        ] {
            let err = StaticHeaders::build(vec![(name.into(), s(value))], taken).unwrap_err();
            assert!(
                matches!(err, AmbError::Config(ConfigError::InvalidHeader { .. })),
                "{name}: {err}"
            );
        }
        let twice = vec![("x-a".into(), s("1")), ("X-A".into(), s("2"))];
        assert!(StaticHeaders::build(twice, false).is_err());
        assert!(std::ptr::eq(
            intern("x-token").unwrap(),
            intern("x-token").unwrap()
        ));
    }

    #[test]
    fn debug_never_shows_a_value() {
        let token = BearerToken::new("SECRETTOKEN1");
        assert!(!format!("{token:?}").contains("SECRETTOKEN1"));
        let setting = CredentialSetting::Basic {
            user: "SECRETUSER1".into(),
            password: Secret::new("SECRETPASS1"),
        };
        let shown = format!("{setting:?}");
        assert!(!shown.contains("SECRETPASS1") && !shown.contains("SECRETUSER1"));
        // A JWT given as the name by mistake (`.header(jwt, "x-token")`) is a valid header
        // name: Debug withholds it.
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.Sfl-KxwRJSMeKKF2QT4fwpM";
        let swapped = StaticHeaders::build(vec![(jwt.into(), Secret::new("x-token"))], false);
        let provider = Provider::new(
            "https://node.example/".parse().unwrap(),
            swapped.unwrap(),
            Credential::None,
        );
        let shown = format!("{:?} {}", provider.headers, provider.describe());
        assert!(!shown.contains("eyJhbGciOiJIUzI1NiJ9"), "{shown}");
        assert!(shown.contains("<withheld>"), "{shown}");
        let named = StaticHeaders::build(vec![("X-Api-Key".into(), Secret::new("k"))], false);
        assert!(format!("{:?}", named.unwrap()).contains("x-api-key"));
    }

    /// The closure's error text quotes the token it is replacing: withheld too.
    #[tokio::test]
    async fn a_refresh_error_withholds_the_last_token() {
        let r = refreshing(fetch_token(|| async {
            Err::<BearerToken, BoxError>("cannot refresh tok=LastTok-9f8e7d6c".into())
        }));
        r.state().cached = Some(Cached {
            header: Secret::new("Bearer LastTok-9f8e7d6c"),
            refresh_at: Some(SystemTime::now() - Duration::from_secs(60)),
            expires_at: Some(SystemTime::now() - Duration::from_secs(1)),
        });
        let text = r.header(T).await.unwrap_err().to_string();
        assert!(
            text.contains("cannot refresh") && !text.contains("LastTok-9f8e7d6c"),
            "{text}"
        );
    }

    /// Interned names are bounded: past the budget a new name is refused, a known one is not.
    #[test]
    fn interned_header_names_are_bounded() {
        let known = intern("x-known-name").unwrap();
        let long = "x".repeat(MAX_INTERNED);
        assert!(intern(&long).is_none());
        assert!(std::ptr::eq(intern("x-known-name").unwrap(), known));
    }
}
