//! A fake AMB gateway on wiremock.
//!
//! It checks SigV4 like the AWS gateway in front of AMB does, with the independent verifier in
//! [`crate::sigv4`] (never the crate under test), rejects with 403 and AMB's JSON messages,
//! accepts `?billingtoken=`, rejects JSON-RPC batches, answers single calls from the
//! deterministic [`Chain`] or forwards them to a real node, and records everything it received.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::chain::Chain;
use crate::sigv4::{self, SigV4Request};
use crate::target::{self, FakeTarget};

/// The region the gateway expects in the credential scope by default.
pub const REGION: &str = "us-east-1";
/// The service the gateway expects in the credential scope by default.
pub const SERVICE: &str = "managedblockchain";
/// The access key id the gateway knows from the start (a throwaway).
pub const ACCESS_KEY: &str = "AKIDFAKEAMBEXAMPLE01";
/// The secret of [`ACCESS_KEY`] (a throwaway).
pub const SECRET_KEY: &str = "fakeambSECRETkeyDoNotLog0123456789abcdef";

/// AMB's answer to an unsigned request.
pub const MSG_MISSING: &str = "Missing Authentication Token";
/// The first paragraph of AMB's answer to a signature that does not match (e.g. a wrong secret); the
/// canonical request and string to sign the gateway computed follow it.
pub const MSG_BAD_SIGNATURE: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
/// AMB's answer to an unknown access key id.
pub const MSG_UNKNOWN_KEY: &str = "The security token included in the request is invalid.";
/// AMB's answer to expired temporary credentials.
pub const MSG_EXPIRED_TOKEN: &str = "The security token included in the request is expired";
/// The answer to an unknown `?billingtoken=`.
pub const MSG_BAD_BILLING_TOKEN: &str = "The billing token is invalid.";
/// The answer to a signature that does not sign `host`.
pub const MSG_UNSIGNED_HOST: &str =
    "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.";
/// The answer to a JSON-RPC batch (AMB does not support them).
pub const MSG_BATCH: &str = "Batch requests are not supported";
/// The largest answer the gateway sends uncompressed: AMB documents that HTTP answers over
/// 5.9 MB fail unless the request asks for gzip.
pub const RESPONSE_LIMIT: usize = 5_900_000;
/// The gateway's answer (HTTP 502) instead of an uncompressed answer over [`RESPONSE_LIMIT`].
/// AWS does not document AMB's exact failure; this models the AWS gateway family's answer to
/// an integration response over its payload limit.
pub const MSG_RESPONSE_TOO_LARGE: &str =
    "Response payload size exceeded maximum allowed payload size";
/// The body of [`CallHook::throttle`]'s 429, as the AWS gateway family answers it.
pub const MSG_THROTTLED: &str = "Too Many Requests";

/// What the gateway does to one accepted call instead of (or besides) answering it normally;
/// see [`FakeAmb::on_call`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum CallHook {
    /// Answers with this status, body and `Retry-After` (seconds) without passing the call on:
    /// it is not executed (a throttle, or an outage in front of the node).
    Refuse {
        /// HTTP status.
        status: u16,
        /// Body.
        body: String,
        /// `Retry-After` in seconds.
        retry_after: Option<u64>,
    },
    /// Executes the call, then answers with this status and body instead of the node's
    /// answer: the call ran, but the client cannot know (a 502 after the node executed it).
    ExecuteThenFail {
        /// HTTP status.
        status: u16,
        /// Body.
        body: String,
    },
    /// Executes the call and answers after this delay (a timeout after execution).
    Delay(Duration),
}

impl CallHook {
    /// A 429 with AWS's body and this `Retry-After`: not executed.
    pub fn throttle(retry_after: Option<u64>) -> Self {
        Self::Refuse {
            status: 429,
            body: json!({ "message": MSG_THROTTLED }).to_string(),
            retry_after,
        }
    }
}

#[derive(Clone, Debug)]
struct Key {
    secret: String,
    session_token: Option<String>,
    expired: bool,
    /// Unix seconds (real clock) from which the key is refused as expired.
    expires_at: Option<u64>,
}

/// One request as the fake received it, with its verdict.
///
/// `Debug` withholds secrets: the values of `Authorization`, `X-Amz-Security-Token` and any
/// header whose name says token, key, secret, auth or password (a provider's `x-token`), and
/// signatures and tokens in the query or anywhere else (see the crate's redaction).
#[derive(Clone)]
#[non_exhaustive]
pub struct Received {
    /// HTTP method.
    pub method: String,
    /// URL path.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Headers as received, in order.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
    /// `None` when accepted, else the 403/400 message sent back.
    pub rejected: Option<String>,
    /// The signed headers listed in the signature, if it was parsed.
    pub signed_headers: Vec<String>,
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, String)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let secret = is_secret_header(k);
                let v = if secret {
                    WITHHELD.to_owned()
                } else {
                    withhold(v)
                };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("Received")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query.as_deref().map(withhold))
            .field("headers", &headers)
            .field("body", &withhold(&String::from_utf8_lossy(&self.body)))
            .field("rejected", &self.rejected.as_deref().map(withhold))
            .field("signed_headers", &self.signed_headers)
            .finish()
    }
}

/// Whether a header's value is a secret: `Authorization`, `Proxy-Authorization`,
/// `X-Amz-Security-Token`, and any name that says token, key, secret, auth or password (a
/// provider's `x-token`, `x-api-key`).
fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["token", "key", "secret", "auth", "password"]
        .iter()
        .any(|n| name.contains(n))
}

/// What [`Received`]'s `Debug` shows in place of a secret.
const WITHHELD: &str = "<withheld>";

/// Names whose values are secrets wherever they appear (query, header value, body): the
/// signature, the session token, the secret key, AMB's billing token.
const SECRET_NAMES: [&str; 8] = [
    "signature",
    "security-token",
    "securitytoken",
    "sessiontoken",
    "session_token",
    "billingtoken",
    "secretaccesskey",
    "secret_access_key",
];

/// `text` with the value after every secret name (`name=value`, `name: value`,
/// `"name":"value"`, any case) replaced by [`WITHHELD`], up to the next delimiter.
fn withhold(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let Some(name) = SECRET_NAMES
            .iter()
            .find(|n| lower.as_bytes()[i..].starts_with(n.as_bytes()))
        else {
            i += 1;
            continue;
        };
        // Skip the name's tail (`x-amz-signature`), then separators, then the value.
        let mut j = i + name.len();
        while j < bytes.len() && matches!(bytes[j], b'"' | b'\'' | b'=' | b':' | b' ') {
            j += 1;
        }
        let start = j;
        while j < bytes.len()
            && !matches!(bytes[j], b'&' | b',' | b'"' | b'\'' | b';' | b' ' | b'}')
        {
            j += 1;
        }
        if j > start {
            out.push_str(&text[copied..start]);
            out.push_str(WITHHELD);
            copied = j;
        }
        i = j.max(i + 1);
    }
    out.push_str(&text[copied..]);
    out
}

impl Received {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    keys: Mutex<HashMap<String, Key>>,
    billing_tokens: Mutex<HashSet<String>>,
    region: Mutex<String>,
    service: Mutex<String>,
    /// Seconds added to the real clock: the fake's idea of "now".
    clock_offset: Mutex<i64>,
    received: Mutex<Vec<Received>>,
    chain: Mutex<Chain>,
    upstream: Mutex<Option<String>>,
    /// Status and body to answer with instead of the chain, for the next N accepted calls.
    scripted: Mutex<Vec<(u16, String, Option<u64>)>>,
    delay: Mutex<Option<Duration>>,
    /// Accepted single calls so far (the index [`CallHook`]s are keyed by).
    calls: Mutex<u64>,
    hooks: Mutex<HashMap<u64, CallHook>>,
    /// `None`: no limit on uncompressed answers.
    response_limit: Mutex<Option<usize>>,
    /// The endpoint played, and so the rules enforced.
    target: Mutex<FakeTarget>,
}

/// The fake AMB gateway. Dropping it stops the server.
pub struct FakeAmb {
    server: MockServer,
    state: Arc<State>,
}

impl FakeAmb {
    /// A fake on loopback that knows [`ACCESS_KEY`]/[`SECRET_KEY`] in [`REGION`], for
    /// [`SERVICE`].
    pub async fn start() -> Self {
        let state = Arc::new(State::default());
        *state.response_limit.lock().unwrap() = Some(RESPONSE_LIMIT);
        *state.region.lock().unwrap() = REGION.into();
        *state.service.lock().unwrap() = SERVICE.into();
        state.keys.lock().unwrap().insert(
            ACCESS_KEY.into(),
            Key {
                secret: SECRET_KEY.into(),
                session_token: None,
                expired: false,
                expires_at: None,
            },
        );
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(Gateway(state.clone()))
            .mount(&server)
            .await;
        Self { server, state }
    }

    /// `http://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("{}/", self.server.uri())
    }

    /// The gateway's socket address on `127.0.0.1` (its `Host`).
    pub fn address(&self) -> std::net::SocketAddr {
        *self.server.address()
    }

    /// Makes the gateway accept `akid` with `secret` (and, for temporary credentials, `session_token`).
    pub fn add_key(&self, akid: &str, secret: &str, session_token: Option<&str>) {
        self.state.keys.lock().unwrap().insert(
            akid.into(),
            Key {
                secret: secret.into(),
                session_token: session_token.map(Into::into),
                expired: false,
                expires_at: None,
            },
        );
    }

    /// A handle that other fakes (IMDS, STS) use to register the keys they issue.
    pub fn registry(&self) -> KeyRegistry {
        KeyRegistry(self.state.clone())
    }

    /// Registers temporary credentials that AMB refuses as expired from `expires_at` on.
    pub fn add_temporary_key(
        &self,
        akid: &str,
        secret: &str,
        session_token: &str,
        expires_at: SystemTime,
    ) {
        self.registry()
            .add_temporary_key(akid, secret, session_token, expires_at);
    }

    /// Marks the temporary credentials of `akid` as expired.
    pub fn expire_key(&self, akid: &str) {
        if let Some(k) = self.state.keys.lock().unwrap().get_mut(akid) {
            k.expired = true;
        }
    }

    /// Forgets `akid`: it is refused as unknown from now on.
    pub fn revoke_key(&self, akid: &str) {
        self.state.keys.lock().unwrap().remove(akid);
    }

    /// Accepts `?billingtoken=<token>` in place of a signature.
    pub fn add_billing_token(&self, token: &str) {
        self.state
            .billing_tokens
            .lock()
            .unwrap()
            .insert(token.into());
    }

    /// Plays `target`: enforces its rules (see [`FakeTarget`]) on HTTP and on the WebSocket
    /// upgrades of a [`crate::FakeWs`] beside it. Also sets the service the credential scope
    /// must name and the answer size limit to the target's defaults; call
    /// [`set_service`](Self::set_service) or [`set_response_limit`](Self::set_response_limit)
    /// afterwards to change them.
    pub fn set_target(&self, target: FakeTarget) {
        if let Some(service) = target.service() {
            *self.state.service.lock().unwrap() = service.into();
        }
        *self.state.response_limit.lock().unwrap() = target.response_limit();
        *self.state.target.lock().unwrap() = target;
    }

    /// The endpoint the fake plays.
    pub fn target(&self) -> FakeTarget {
        self.state.target.lock().unwrap().clone()
    }

    /// The region the credential scope must name (like the region of an AMB node).
    pub fn set_region(&self, region: &str) {
        *self.state.region.lock().unwrap() = region.into();
    }

    /// The service the credential scope must name.
    pub fn set_service(&self, service: &str) {
        *self.state.service.lock().unwrap() = service.into();
    }

    /// Pretends the fake's clock is `secs` seconds ahead (negative: behind).
    pub fn set_clock_offset(&self, secs: i64) {
        *self.state.clock_offset.lock().unwrap() = secs;
    }

    /// Forwards accepted calls to this JSON-RPC URL instead of answering from the chain.
    pub fn set_upstream(&self, url: &str) {
        *self.state.upstream.lock().unwrap() = Some(url.into());
    }

    /// The next accepted calls are answered with these `(status, body, retry_after)` in order.
    pub fn script(&self, answers: Vec<(u16, &str, Option<u64>)>) {
        *self.state.scripted.lock().unwrap() = answers
            .into_iter()
            .rev()
            .map(|(s, b, r)| (s, b.to_owned(), r))
            .collect();
    }

    /// Delays every answer (for timeouts).
    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = Some(delay);
    }

    /// What to do to the accepted single call number `n` (0 for the first accepted from the
    /// start of the fake), instead of answering it normally. Batches and refused requests
    /// are not counted.
    pub fn on_call(&self, n: u64, hook: CallHook) {
        self.state.hooks.lock().unwrap().insert(n, hook);
    }

    /// How many single calls were accepted so far.
    pub fn calls(&self) -> u64 {
        *self.state.calls.lock().unwrap()
    }

    /// The largest answer sent uncompressed ([`RESPONSE_LIMIT`] by default; `None`: no
    /// limit). A larger answer is refused with a 502 ([`MSG_RESPONSE_TOO_LARGE`]) unless the
    /// request carries `Accept-Encoding: gzip`; answers to such requests are always gzipped.
    pub fn set_response_limit(&self, limit: Option<usize>) {
        *self.state.response_limit.lock().unwrap() = limit;
    }

    /// Mines one block on the chain; returns the new head.
    pub fn mine(&self) -> u64 {
        self.state.chain.lock().unwrap().mine()
    }

    /// The chain's head block number.
    pub fn head(&self) -> u64 {
        self.state.chain.lock().unwrap().head
    }

    /// Runs `f` on the chain both gateways answer from (to reorg it or read a block's hash).
    /// Mining here notifies no WebSocket subscription: use [`crate::FakeWs::mine`] for that.
    pub fn with_chain<R>(&self, f: impl FnOnce(&mut Chain) -> R) -> R {
        f(&mut self.state.chain.lock().unwrap())
    }

    /// Every HTTP request received so far, with its verdict.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// The requests received so far that were accepted.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.rejected.is_none())
            .collect()
    }
}

/// Registers issued keys with a [`FakeAmb`], from another fake's thread.
#[derive(Clone)]
pub struct KeyRegistry(Arc<State>);

impl KeyRegistry {
    /// Registers temporary credentials valid until `expires_at`.
    pub fn add_temporary_key(&self, akid: &str, secret: &str, token: &str, expires_at: SystemTime) {
        self.0.keys.lock().unwrap().insert(
            akid.into(),
            Key {
                secret: secret.into(),
                session_token: Some(token.into()),
                expired: false,
                expires_at: Some(expires_at.duration_since(UNIX_EPOCH).unwrap().as_secs()),
            },
        );
    }

    /// Marks a key expired (the source rotated it).
    pub fn expire_key(&self, akid: &str) {
        if let Some(k) = self.0.keys.lock().unwrap().get_mut(akid) {
            k.expired = true;
        }
    }
}

struct Gateway(Arc<State>);

/// A refusal: status, message (the JSON body's `message`) and extra headers.
#[derive(Clone, Debug)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) message: String,
    /// `WWW-Authenticate` for a 401, if any.
    www_authenticate: Option<&'static str>,
    /// Whether it comes from an AWS front (with `x-amzn-errortype`).
    aws: bool,
}

impl Refusal {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            www_authenticate: None,
            aws: true,
        }
    }

    /// A provider's refusal (no AWS error type), with `WWW-Authenticate` for a 401.
    fn provider(status: u16, message: &str, www_authenticate: Option<&'static str>) -> Self {
        Self {
            status,
            message: message.into(),
            www_authenticate,
            aws: false,
        }
    }

    fn template(&self) -> ResponseTemplate {
        let mut t = ResponseTemplate::new(self.status)
            .insert_header("content-type", "application/json")
            .set_body_string(json!({ "message": self.message }).to_string());
        if self.aws {
            let kind = if self.status == 400 {
                "BadRequestException"
            } else {
                "ForbiddenException"
            };
            t = t.insert_header("x-amzn-errortype", kind);
        }
        if let Some(challenge) = self.www_authenticate {
            t = t.insert_header("www-authenticate", challenge);
        }
        t
    }
}

/// A 403 with this message (the AWS gateways' usual refusal).
impl From<String> for Refusal {
    fn from(message: String) -> Self {
        Self::new(403, message)
    }
}

/// Unix seconds as an `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`).
pub fn fmt_amz(secs: u64) -> String {
    // Civil date from days since epoch (Howard Hinnant's algorithm).
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// AWS's answer to a signature mismatch: [`MSG_BAD_SIGNATURE`], then the canonical request and
/// the string to sign the gateway computed, as AWS front ends with IAM auth (API Gateway among
/// them) answer. The canonical request holds every signed header's value, the session token's
/// included.
fn bad_signature(req: &SigV4Request, auth: &sigv4::ParsedAuth) -> String {
    bad_signature_with(req, auth, &sigv4::payload_hash(req))
}

/// [`bad_signature`] with the payload hash the gateway signs (`payload`).
fn bad_signature_with(req: &SigV4Request, auth: &sigv4::ParsedAuth, payload: &str) -> String {
    let creq = sigv4::canonical_request_with_payload(
        req,
        &auth.signed_headers,
        true,
        auth.presigned,
        payload,
    );
    let sts = sigv4::string_to_sign_for(auth, &creq);
    format!(
        "{MSG_BAD_SIGNATURE}\n\nThe Canonical String for this request should have been\n'{creq}'\n\nThe String-to-Sign should have been\n'{sts}'\n"
    )
}

impl Gateway {
    fn now(&self) -> u64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        (real + *self.0.clock_offset.lock().unwrap()) as u64
    }

    /// The gateway's auth decision for an HTTP request or (`upgrade`) a WebSocket upgrade,
    /// under the target's rules.
    fn authenticate(
        &self,
        req: &SigV4Request,
        signed: &mut Vec<String>,
        upgrade: bool,
    ) -> Result<(), Refusal> {
        let target = self.0.target.lock().unwrap().clone();
        if upgrade && !target.has_websocket() {
            return Err(Refusal::new(400, target::MSG_NO_WEBSOCKET));
        }
        match &target {
            FakeTarget::Provider { header, value } => {
                return match req.header_values(header).as_slice() {
                    [] => Err(Refusal::provider(401, target::MSG_PROVIDER_MISSING, None)),
                    [v] if v == value => Ok(()),
                    _ => Err(Refusal::provider(403, target::MSG_PROVIDER_INVALID, None)),
                };
            }
            FakeTarget::Bearer { token } => {
                let expected = format!("Bearer {token}");
                return match req.header_values("authorization").as_slice() {
                    [v] if *v == expected => Ok(()),
                    _ => Err(Refusal::provider(
                        401,
                        target::MSG_UNAUTHORIZED,
                        Some("Bearer"),
                    )),
                };
            }
            FakeTarget::Basic { user, password } => {
                use base64::Engine;
                let expected = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
                );
                return match req.header_values("authorization").as_slice() {
                    [v] if *v == expected => Ok(()),
                    _ => Err(Refusal::provider(
                        401,
                        target::MSG_UNAUTHORIZED,
                        Some("Basic realm=\"fake\""),
                    )),
                };
            }
            FakeTarget::ApiGateway { stage } => {
                // API Gateway answers an unknown resource (outside the stage) before checking
                // the signature, with this 403.
                let under = req
                    .path
                    .strip_prefix('/')
                    .and_then(|p| p.strip_prefix(stage.as_str()))
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
                if !under {
                    return Err(MSG_MISSING.to_string().into());
                }
            }
            FakeTarget::Amb | FakeTarget::VpcLattice | FakeTarget::LambdaUrl => {}
        }
        if target != FakeTarget::Amb {
            return self
                .authenticate_sigv4(req, signed, &target)
                .map_err(Refusal::from);
        }
        if let Some(q) = req.query {
            for pair in q.split('&') {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                if k == "billingtoken" {
                    let known = self.0.billing_tokens.lock().unwrap().contains(v);
                    return if known {
                        Ok(())
                    } else {
                        Err(MSG_BAD_BILLING_TOKEN.to_string().into())
                    };
                }
            }
        }
        self.authenticate_sigv4(req, signed, &target)
            .map_err(Refusal::from)
    }

    /// SigV4 as the target checks it.
    fn authenticate_sigv4(
        &self,
        req: &SigV4Request,
        signed: &mut Vec<String>,
        target: &FakeTarget,
    ) -> Result<(), String> {
        let auth = match sigv4::parse_auth(req) {
            Ok(a) => a,
            Err(sigv4::VerifyError::Missing) => return Err(MSG_MISSING.to_string()),
            Err(sigv4::VerifyError::Malformed(m)) if m.contains("must include host") => {
                return Err(MSG_UNSIGNED_HOST.to_string())
            }
            Err(sigv4::VerifyError::Malformed(m)) => {
                return Err(format!("Authorization header is malformed: {m}"))
            }
        };
        *signed = auth.signed_headers.clone();
        let key = self
            .0
            .keys
            .lock()
            .unwrap()
            .get(&auth.access_key_id)
            .cloned()
            .ok_or_else(|| MSG_UNKNOWN_KEY.to_string())?;
        if key.session_token.is_some() && key.session_token != auth.session_token {
            return Err(MSG_UNKNOWN_KEY.into());
        }
        let real_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        if key.expired || key.expires_at.is_some_and(|at| real_now >= at) {
            return Err(MSG_EXPIRED_TOKEN.into());
        }
        if auth.sigv4a && !target.accepts_sigv4a() {
            return Err(target::MSG_SIGV4A_REFUSED.to_string());
        }
        let region = self.0.region.lock().unwrap().clone();
        // SigV4A names a region set: one of its entries (a region, or a pattern with `*` such
        // as `us-*`) must match the gateway's region.
        let in_scope = if auth.sigv4a {
            auth.region
                .split(',')
                .map(str::trim)
                .any(|pattern| region_matches(pattern, &region))
        } else {
            auth.region == region
        };
        if !in_scope {
            return Err(format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                auth.region
            ));
        }
        let service = self.0.service.lock().unwrap().clone();
        if auth.service != service {
            return Err(format!(
                "Credential should be scoped to correct service: '{service}'. "
            ));
        }
        if !auth.signed_headers.iter().any(|h| h == "host") {
            return Err(MSG_UNSIGNED_HOST.into());
        }
        let now = self.now();
        let t = sigv4::parse_amz_date(&auth.amz_date)
            .ok_or_else(|| format!("Invalid X-Amz-Date {}", auth.amz_date))?;
        if t + 300 < now {
            return Err(format!(
                "Signature expired: {} is now earlier than {} ({} - 5 min.)",
                auth.amz_date,
                fmt_amz(now - 300),
                fmt_amz(now)
            ));
        }
        if t > now + 300 {
            return Err(format!(
                "Signature not yet current: {} is still later than {} ({} + 5 min.)",
                auth.amz_date,
                fmt_amz(now + 300),
                fmt_amz(now)
            ));
        }
        if auth.date != auth.amz_date[..8] {
            return Err(bad_signature(req, &auth));
        }
        if *target == FakeTarget::VpcLattice {
            if req.header_values("x-amz-content-sha256") != [target::UNSIGNED_PAYLOAD] {
                return Err(target::MSG_LATTICE_PAYLOAD_SIGNED.to_string());
            }
            if !auth
                .signed_headers
                .iter()
                .any(|h| h == "x-amz-content-sha256")
            {
                return Err(target::MSG_LATTICE_PAYLOAD_HEADER_UNSIGNED.to_string());
            }
        }
        if *target == FakeTarget::LambdaUrl
            && req.header_values("x-amz-content-sha256") == [target::UNSIGNED_PAYLOAD]
        {
            // Lambda signs the body's hash whatever the header says: an unsigned payload
            // fails the signature check, and the answer shows the canonical request with the
            // body's hash.
            let payload = sigv4::sha256_hex(req.body);
            return Err(bad_signature_with(req, &auth, &payload));
        }
        sigv4::verify(req, &auth, &key.secret, true).map_err(|_| bad_signature(req, &auth))
    }

    /// Answers one accepted single call: scripted, hooked, or executed (chain or upstream),
    /// then compressed or refused by size as AMB does.
    fn answer(&self, request: &Request) -> ResponseTemplate {
        let body = &request.body;
        if let Some((status, body, retry_after)) = self.0.scripted.lock().unwrap().pop() {
            return answer(status, body.into_bytes(), retry_after, "text/plain");
        }
        let n = {
            let mut calls = self.0.calls.lock().unwrap();
            *calls += 1;
            *calls - 1
        };
        let hook = self.0.hooks.lock().unwrap().remove(&n);
        if let Some(CallHook::Refuse {
            status,
            body,
            retry_after,
        }) = hook
        {
            return answer(status, body.into_bytes(), retry_after, "application/json");
        }
        let (mut status, mut bytes) = self.execute(body);
        if let Some(CallHook::ExecuteThenFail { status: s, body: b }) = &hook {
            (status, bytes) = (*s, b.clone().into_bytes());
        }
        let gzip = request
            .headers
            .get_all(http::header::ACCEPT_ENCODING)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.contains("gzip")));
        let limit = *self.0.response_limit.lock().unwrap();
        let lambda = *self.0.target.lock().unwrap() == FakeTarget::LambdaUrl;
        let too_large = limit.is_some_and(|limit| bytes.len() > limit);
        let mut template = if lambda && too_large {
            // Lambda's limit is on the function's payload: gzip does not lift it.
            let message = json!({ "message": MSG_RESPONSE_TOO_LARGE }).to_string();
            answer(502, message.into_bytes(), None, "application/json")
        } else if lambda {
            answer(status, bytes, None, "application/json")
        } else if gzip {
            answer(status, gzipped(&bytes), None, "application/json")
                .insert_header("content-encoding", "gzip")
        } else if limit.is_some_and(|limit| bytes.len() > limit) {
            let message = json!({ "message": MSG_RESPONSE_TOO_LARGE }).to_string();
            answer(502, message.into_bytes(), None, "application/json")
        } else {
            answer(status, bytes, None, "application/json")
        };
        if let Some(CallHook::Delay(delay)) = hook {
            template = template.set_delay(delay);
        }
        template
    }

    /// Executes a single call on the upstream node or the chain: status and body.
    fn execute(&self, body: &[u8]) -> (u16, Vec<u8>) {
        let upstream = self.0.upstream.lock().unwrap().clone();
        if let Some(url) = upstream {
            return forward(&url, body);
        }
        let req: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => {
                let error = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "parse error"}});
                return (400, error.to_string().into_bytes());
            }
        };
        let chain = self.0.chain.lock().unwrap();
        let answer = match &req {
            // Batches reach here only on targets that take them.
            Value::Array(calls) if calls.is_empty() => {
                json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "empty batch"}})
            }
            Value::Array(calls) => Value::Array(calls.iter().map(|c| chain.answer(c)).collect()),
            single => chain.answer(single),
        };
        (200, answer.to_string().into_bytes())
    }
}

fn answer(status: u16, body: Vec<u8>, retry_after: Option<u64>, mime: &str) -> ResponseTemplate {
    let mut t = ResponseTemplate::new(status).set_body_raw(body, mime);
    if let Some(secs) = retry_after {
        t = t.insert_header("retry-after", secs.to_string().as_str());
    }
    t
}

fn gzipped(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).expect("gzip into memory");
    gz.finish().expect("gzip into memory")
}

/// Blocking forward to a real node (runs on wiremock's own server thread).
fn forward(url: &str, body: &[u8]) -> (u16, Vec<u8>) {
    match ureq::post(url)
        .header("content-type", "application/json")
        .send(body)
    {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let bytes = resp
                .body_mut()
                .with_config()
                .limit(u64::MAX)
                .read_to_vec()
                .unwrap_or_default();
            (status, bytes)
        }
        Err(e) => (502, format!("upstream failed: {e}").into_bytes()),
    }
}

impl Respond for Gateway {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let headers: Vec<(String, String)> = request
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let path = request.url.path().to_owned();
        let query = request.url.query().map(str::to_owned);
        let signable = SigV4Request {
            method: request.method.as_str(),
            path: &path,
            query: query.as_deref(),
            headers: &headers,
            body: &request.body,
        };
        let mut signed_headers = Vec::new();
        let verdict = self.authenticate(&signable, &mut signed_headers, false);
        // Lambda refuses a request payload over its 6 MB invocation limit (after auth).
        let too_large = verdict.is_ok()
            && *self.0.target.lock().unwrap() == FakeTarget::LambdaUrl
            && request.body.len() > target::LAMBDA_RESPONSE_LIMIT;
        let verdict = if too_large {
            Err(Refusal::new(413, target::MSG_LAMBDA_REQUEST_TOO_LARGE))
        } else {
            verdict
        };
        let is_batch = request
            .body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'[')
            && !self.0.target.lock().unwrap().accepts_batches();
        let rejected = match (&verdict, is_batch) {
            (Err(r), _) => Some(r.message.clone()),
            (Ok(()), true) => Some(MSG_BATCH.to_owned()),
            (Ok(()), false) => None,
        };
        self.0.received.lock().unwrap().push(Received {
            method: request.method.to_string(),
            path,
            query,
            headers,
            body: request.body.clone(),
            rejected,
            signed_headers,
        });
        let mut template = match (verdict, is_batch) {
            (Err(r), _) => r.template(),
            (Ok(()), true) => ResponseTemplate::new(400)
                .insert_header("content-type", "application/json")
                .set_body_string(json!({ "message": MSG_BATCH }).to_string()),
            (Ok(()), false) => self.answer(request),
        };
        if let Some(delay) = *self.0.delay.lock().unwrap() {
            template = template.set_delay(delay);
        }
        template.insert_header("date", httpdate(self.now()).as_str())
    }
}

/// RFC 7231 date for the `Date` header, on the fake's clock.
pub(crate) fn httpdate(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let amz = fmt_amz(secs);
    let (y, m, d) = (&amz[0..4], &amz[4..6], &amz[6..8]);
    let m: usize = m.parse().unwrap();
    format!(
        "{}, {d} {} {y} {}:{}:{} GMT",
        DAYS[((secs / 86_400) % 7) as usize],
        MONTHS[m - 1],
        &amz[9..11],
        &amz[11..13],
        &amz[13..15]
    )
}

/// What the WebSocket side of the fake ([`crate::FakeWs`]) shares with this gateway: the same
/// keys, billing tokens, region and service, clock and chain.
#[derive(Clone)]
pub(crate) struct SharedGateway(Arc<State>);

impl FakeAmb {
    /// The state a [`crate::FakeWs`] authenticates against and answers from.
    pub(crate) fn shared(&self) -> SharedGateway {
        SharedGateway(self.state.clone())
    }
}

impl SharedGateway {
    /// The gateway's auth decision for a WebSocket upgrade (`Err((status, message))`, e.g. a
    /// 403 with AMB's message), and the headers the signature lists.
    pub(crate) fn authenticate_upgrade(
        &self,
        req: &SigV4Request,
    ) -> (Result<(), (u16, String)>, Vec<String>) {
        let mut signed = Vec::new();
        let verdict = Gateway(self.0.clone()).authenticate(req, &mut signed, true);
        (verdict.map_err(|r| (r.status, r.message)), signed)
    }

    /// Now on the fake's clock, in Unix seconds.
    pub(crate) fn now(&self) -> u64 {
        Gateway(self.0.clone()).now()
    }

    /// Whether the target takes JSON-RPC batches.
    pub(crate) fn accepts_batches(&self) -> bool {
        self.0.target.lock().unwrap().accepts_batches()
    }

    /// Runs `f` on the shared chain (to mine, reorg or read it).
    pub(crate) fn with_chain<R>(&self, f: impl FnOnce(&mut Chain) -> R) -> R {
        f(&mut self.0.chain.lock().unwrap())
    }
}

impl Received {
    /// The access key id the request was signed with, if it was signed.
    pub fn access_key_id(&self) -> Option<&str> {
        let credential = self.header("authorization")?.split("Credential=").nth(1)?;
        credential.split('/').next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_formatted_like_aws() {
        assert_eq!(fmt_amz(1_440_938_160), "20150830T123600Z");
        assert_eq!(httpdate(1_440_938_160), "Sun, 30 Aug 2015 12:36:00 GMT");
        assert_eq!(
            sigv4::parse_amz_date("20150830T123600Z"),
            Some(1_440_938_160)
        );
    }

    /// `Received`'s `Debug` withholds the signature, session token and billing token wherever
    /// they appear, and keeps everything else readable.
    #[test]
    fn received_debug_withholds_secrets() {
        let r = Received {
            method: "POST".into(),
            path: "/".into(),
            query: Some("billingtoken=BILL123&X-Amz-Signature=abcdef&x=1".into()),
            headers: vec![
                (
                    "Authorization".into(),
                    "AWS4-HMAC-SHA256 Signature=abcdef".into(),
                ),
                ("X-Amz-Security-Token".into(), "TOKEN123".into()),
                ("x-amz-date".into(), "20150830T123600Z".into()),
                ("x-echo".into(), "SecurityToken: TOKEN123; ok".into()),
                ("X-Token".into(), "QNTOKEN".into()),
                ("x-api-key".into(), "APIKEY".into()),
                ("Proxy-Authorization".into(), "Basic UFJPWFk=".into()),
            ],
            body: br#"{"method":"eth_chainId","billingToken":"BILL123","sessionToken":"TOKEN123"}"#
                .to_vec(),
            rejected: Some("bad X-Amz-Signature=abcdef".into()),
            signed_headers: vec!["host".into()],
        };
        let shown = format!("{r:?}");
        for secret in [
            "BILL123", "abcdef", "TOKEN123", "QNTOKEN", "APIKEY", "UFJPWFk",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        for kept in ["eth_chainId", "x-amz-date", "20150830T123600Z", "x=1", "ok"] {
            assert!(shown.contains(kept), "{kept} not in {shown}");
        }
    }
}

/// Whether `region` matches a SigV4A region-set entry: a region, or a pattern in which `*`
/// stands for any run of characters (`*`, `us-*`, `*-east-1`).
fn region_matches(pattern: &str, region: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = region.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty(); // no `*`: the whole region
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod region_set_tests {
    use super::region_matches;

    #[test]
    fn region_set_entries_match_like_aws_patterns() {
        for (pattern, region, want) in [
            ("*", "us-east-1", true),
            ("us-east-1", "us-east-1", true),
            ("us-east-2", "us-east-1", false),
            ("us-*", "us-east-1", true),
            ("eu-*", "us-east-1", false),
            ("*-east-1", "us-east-1", true),
            ("*-west-*", "us-east-1", false),
            ("us-*-1", "us-east-1", true),
            ("us-east-1-extra", "us-east-1", false),
        ] {
            assert_eq!(
                region_matches(pattern, region),
                want,
                "{pattern} vs {region}"
            );
        }
    }
}
