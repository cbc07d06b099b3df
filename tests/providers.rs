//! Third-party RPC provider auth end to end, on HTTP (wiremock) and on the WebSocket upgrade
//! (a small WebSocket server that checks the upgrade's headers): `x-token` headers, bearer
//! tokens (static, refreshed on expiry and after a 401, one fetch for 50 concurrent calls),
//! HTTP Basic (setter and URL user info), `no_auth()`, whole batches, and a hostile server that
//! echoes every secret back in error bodies, JSON-RPC errors and close frames.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use alloy_amb::auth::BoxError;
use alloy_amb::{AmbError, AmbHttp, AmbWsConnect, AuthFailure, BearerToken};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_client::RpcClient;
use alloy_transport::TransportError;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::log_capture;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

const X_TOKEN: &str = "qn_9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.Sfl-KxwRJSMeKKF2QT4fwpM";
const USER: &str = "kaleido-user";
const PASSWORD: &str = "p@ss/w0rd+Secret9";

fn basic(user: &str, password: &str) -> String {
    use base64_like::encode;
    format!("Basic {}", encode(format!("{user}:{password}").as_bytes()))
}

/// Standard base64, for the expected `Authorization: Basic` value (no base64 crate among the
/// dev-dependencies; this is the test's own independent encoder).
mod base64_like {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

fn chain_id() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"jsonrpc": "2.0", "id": 0, "result": "0x1"}))
}

/// Answers each JSON-RPC request (single or batch) with `0x1`, echoing the ids.
struct Answer;

impl Respond for Answer {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let one = |r: &Value| json!({"jsonrpc": "2.0", "id": r["id"], "result": "0x1"});
        match body {
            Value::Array(rs) => {
                ResponseTemplate::new(200).set_body_json(rs.iter().map(one).collect::<Value>())
            }
            r => ResponseTemplate::new(200).set_body_json(one(&r)),
        }
    }
}

async fn http_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Answer)
        .mount(&server)
        .await;
    server
}

fn headers_of(req: &wiremock::Request, name: &str) -> Option<String> {
    req.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn call(t: AmbHttp) -> Result<u64, TransportError> {
    ProviderBuilder::new()
        .connect_client(RpcClient::new(t, false))
        .get_chain_id()
        .await
}

fn amb_err(err: &TransportError) -> &AmbError {
    AmbError::from_transport_error(err).unwrap_or_else(|| panic!("not an AmbError: {err:?}"))
}

/// No 8 bytes of a secret are in `text`. Log lines of tungstenite itself (DEBUG/TRACE, frame
/// payloads as they are, the test server's included) are not ours to withhold and are skipped.
fn assert_withheld(text: &str, secrets: &[&str]) {
    let text = &text
        .lines()
        .filter(|l| !l.contains(" tungstenite::") && !l.contains(" tokio_tungstenite::"))
        .collect::<Vec<_>>()
        .join("\n");
    for secret in secrets {
        for window in secret.as_bytes().windows(8) {
            let w = std::str::from_utf8(window).unwrap();
            assert!(!text.contains(w), "{w:?} of a secret leaked in:\n{text}");
        }
    }
}

/// Every way a hostile server may quote `value` back.
fn echoes(value: &str) -> String {
    let pct: String = value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let json_escaped: String = value
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    format!(
        "raw={value} pct={pct} json=\"{json_escaped}\" slashes={} b64={}",
        value.replace('/', "\\/"),
        base64_like::encode(value.as_bytes())
    )
}

// ---------------------------------------------------------------------------------------------
// HTTP

#[tokio::test]
async fn x_token_header_over_http_and_nothing_else() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("x-token", X_TOKEN))
        .respond_with(chain_id())
        .mount(&server)
        .await;
    let builder = AmbHttp::builder(server.uri())
        .no_auth()
        .header("X-Token", X_TOKEN)
        .bearer_token_provider(|| async { Ok(BearerToken::new(JWT)) })
        .basic_auth(USER, PASSWORD);
    let shown = format!("{builder:?}");
    assert!(shown.contains("X-Token"), "{shown}");
    assert_withheld(&shown, &[X_TOKEN, PASSWORD]);
    let t = AmbHttp::builder(server.uri())
        .no_auth()
        .header("X-Token", X_TOKEN)
        .build()
        .unwrap();
    assert!(!format!("{t:?}").contains(X_TOKEN), "{t:?}");
    assert_eq!(call(t).await.unwrap(), 1);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(headers_of(&reqs[0], "authorization"), None);
    assert_eq!(headers_of(&reqs[0], "x-amz-date"), None);
}

#[tokio::test]
async fn no_auth_sends_no_authorization() {
    let server = http_server().await;
    let t = AmbHttp::builder(server.uri()).no_auth().build().unwrap();
    assert_eq!(call(t).await.unwrap(), 1);
    let req = &server.received_requests().await.unwrap()[0];
    for name in ["authorization", "x-amz-date", "x-amz-security-token"] {
        assert_eq!(headers_of(req, name), None, "{name}");
    }
}

#[tokio::test]
async fn static_bearer_is_sent_and_a_401_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("authorization", format!("Bearer {JWT}").as_str()))
        .respond_with(chain_id())
        .mount(&server)
        .await;
    let t = AmbHttp::builder(server.uri())
        .bearer_token(JWT)
        .build()
        .unwrap();
    assert!(!format!("{t:?}").contains(JWT));
    assert_eq!(call(t).await.unwrap(), 1);

    // Refused: one request, a typed and actionable error, the token nowhere in it.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_string(format!(
            "invalid token. Authorization: Bearer {JWT}; {}",
            echoes(JWT)
        )))
        .mount(&server)
        .await;
    let t = AmbHttp::builder(server.uri())
        .bearer_token(JWT)
        .build()
        .unwrap();
    let err = call(t).await.unwrap_err();
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    let amb = amb_err(&err);
    assert!(
        matches!(
            amb,
            AmbError::AuthRejected {
                kind: AuthFailure::ProviderRefused,
                status: 401,
                ..
            }
        ),
        "{amb:?}"
    );
    let text = format!("{err} {err:?}");
    assert!(text.contains("bearer_token"), "{text}");
    assert_withheld(&text, &[JWT]);
}

/// A closure that hands out `tok1`, `tok2`, ... (each valid for `ttl(n)` seconds, `None`: no
/// expiry) and counts its calls.
fn counting_provider(
    ttl: impl Fn(u32) -> Option<u64> + Send + Sync + 'static,
) -> (
    Arc<AtomicU32>,
    impl Fn() -> futures::future::Ready<Result<BearerToken, BoxError>> + Send + Sync + 'static,
) {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let f = move || {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        let token = BearerToken::new(format!("refreshed-token-{n:04}"));
        let token = match ttl(n) {
            Some(secs) => token.expires_at(SystemTime::now() + Duration::from_secs(secs)),
            None => token,
        };
        futures::future::ready(Ok(token))
    };
    (calls, f)
}

#[tokio::test]
async fn refreshed_bearer_is_fetched_again_near_expiry_only() {
    let server = http_server().await;
    // The first token expires as it arrives: used once (by the call that waited for it), then
    // replaced; the second is good for an hour.
    let (calls, fetch) = counting_provider(|n| Some(if n == 1 { 0 } else { 3600 }));
    let t = AmbHttp::builder(server.uri())
        .bearer_token_provider(fetch)
        .build()
        .unwrap();
    for _ in 0..3 {
        call(t.clone()).await.unwrap();
    }
    let sent: Vec<_> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| headers_of(r, "authorization").unwrap())
        .collect();
    assert_eq!(
        sent,
        [
            "Bearer refreshed-token-0001",
            "Bearer refreshed-token-0002",
            "Bearer refreshed-token-0002"
        ]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn refreshed_bearer_after_a_401_once_and_only_once() {
    // The provider refuses token 1 (revoked early), accepts token 2.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("authorization", "Bearer refreshed-token-0001"))
        .respond_with(ResponseTemplate::new(401).set_body_string("token revoked"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(Answer)
        .mount(&server)
        .await;
    let (calls, fetch) = counting_provider(|_| None);
    let t = AmbHttp::builder(server.uri())
        .bearer_token_provider(fetch)
        .build()
        .unwrap();
    assert_eq!(call(t.clone()).await.unwrap(), 1);
    assert_eq!(call(t).await.unwrap(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(server.received_requests().await.unwrap().len(), 3);

    // A provider that refuses every token: one refresh, one more attempt, then the typed error.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_string("{\"message\":\"Unauthorized\"}"))
        .mount(&server)
        .await;
    let (calls, fetch) = counting_provider(|_| None);
    let t = AmbHttp::builder(server.uri())
        .bearer_token_provider(fetch)
        .build()
        .unwrap();
    let err = call(t).await.unwrap_err();
    assert_eq!(
        amb_err(&err).auth_failure(),
        Some(AuthFailure::ProviderRefused),
        "{err}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // A 403 refuses the plan or the rate, not the token: typed, and not sent again.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_string("{\"message\":\"rate limited\"}"))
        .mount(&server)
        .await;
    let (calls, fetch) = counting_provider(|_| None);
    let t = AmbHttp::builder(server.uri())
        .bearer_token_provider(fetch)
        .build()
        .unwrap();
    let err = call(t).await.unwrap_err();
    assert_eq!(
        amb_err(&err).auth_failure(),
        Some(AuthFailure::ProviderRefused),
        "{err}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// Short provider secrets (a 7-byte password, a user name that is the key) are withheld too.
#[tokio::test]
async fn short_passwords_and_lone_user_keys_are_withheld() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401).set_body_string(
                "bad password hunter2 for user alice; unknown key SECRETKEY123456",
            ),
        )
        .mount(&server)
        .await;
    let t = AmbHttp::builder(server.uri())
        .basic_auth("alice", "hunter2")
        .build()
        .unwrap();
    let err = call(t).await.unwrap_err();
    assert_withheld_short(&format!("{err} {err:?}"), &["hunter2", "alice"]);
    let url = server.uri().replace("http://", "http://SECRETKEY123456@");
    let t = AmbHttp::builder(&url).build().unwrap();
    assert!(!format!("{t:?}").contains("SECRETKEY123456"));
    let err = call(t).await.unwrap_err();
    assert_withheld(&format!("{err} {err:?}"), &["SECRETKEY123456"]);
}

fn assert_withheld_short(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{secret:?} leaked in:\n{text}");
    }
}

/// 50 calls at once on a current-thread runtime: every one of them is polled up to the token
/// before the closure's answer is released, so without single flight each would call it.
#[tokio::test]
async fn one_token_fetch_for_fifty_concurrent_calls() {
    let server = http_server().await;
    let calls = Arc::new(AtomicU32::new(0));
    let (release, released) = tokio::sync::watch::channel(false);
    let first = Arc::new(tokio::sync::Notify::new());
    let (c, f) = (calls.clone(), first.clone());
    let t = AmbHttp::builder(server.uri())
        .bearer_token_provider(move || {
            c.fetch_add(1, Ordering::SeqCst);
            f.notify_one();
            let mut released = released.clone();
            async move {
                released.wait_for(|r| *r).await.unwrap();
                Ok(BearerToken::new("shared-token-123456"))
            }
        })
        .build()
        .unwrap();
    let client = RpcClient::new(t, false);
    let all = futures::future::join_all((0..50).map(|_| {
        let client = client.clone();
        async move { client.request_noparams::<String>("eth_chainId").await }
    }));
    let releaser = async {
        first.notified().await;
        release.send(true).unwrap();
    };
    let (results, ()) = tokio::join!(all, releaser);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    for r in results {
        r.unwrap();
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 50);
}

#[tokio::test]
async fn a_failing_or_hanging_closure_fails_the_call_by_name() {
    let server = http_server().await;
    let t = AmbHttp::builder(server.uri())
        .bearer_token_provider(|| async {
            Err::<BearerToken, BoxError>(format!("IdP answered 500 for Bearer {JWT}").into())
        })
        .build()
        .unwrap();
    let err = call(t).await.unwrap_err();
    assert!(
        matches!(amb_err(&err), AmbError::TokenProvider { .. }),
        "{err:?}"
    );
    let text = format!("{err} {err:?}");
    assert!(text.contains("bearer_token_provider"), "{text}");
    assert_withheld(&text, &[JWT]);

    let t = AmbHttp::builder(server.uri())
        .timeout(Duration::from_millis(200))
        .bearer_token_provider(std::future::pending)
        .build()
        .unwrap();
    let err = call(t).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(amb_err(&err), AmbError::TokenProvider { .. }) && text.contains("did not answer"),
        "{text}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn basic_auth_from_the_setter_and_from_the_url() {
    let server = http_server().await;
    let t = AmbHttp::builder(server.uri())
        .basic_auth(USER, PASSWORD)
        .build()
        .unwrap();
    assert!(!format!("{t:?}").contains(PASSWORD));
    call(t).await.unwrap();

    // `p@ss/w0rd+Secret9` percent-encoded in the URL, as a user must write it.
    let url = server
        .uri()
        .replace("http://", &format!("http://{USER}:p%40ss%2Fw0rd+Secret9@"));
    let t = AmbHttp::builder(&url).build().unwrap();
    let shown = format!("{t:?} {}", t.endpoint());
    assert!(!shown.contains("w0rd") && !shown.contains(USER), "{shown}");
    assert!(t.endpoint().url().username().is_empty());
    call(t).await.unwrap();

    let reqs = server.received_requests().await.unwrap();
    let expected = basic(USER, PASSWORD);
    for r in &reqs {
        assert_eq!(headers_of(r, "authorization").as_deref(), Some(&*expected));
    }
    assert_eq!(reqs.len(), 2);
}

#[tokio::test]
async fn conflicting_and_invalid_settings_are_typed_config_errors() {
    let url = "http://127.0.0.1:9/";
    let cases = [
        AmbHttp::builder(url).header("bad header", "v").build(),
        AmbHttp::builder(url)
            .no_auth()
            .header("x-token", "a\r\nInjected: 1")
            .build(),
        AmbHttp::builder(url)
            .no_auth()
            .header("Host", "elsewhere")
            .build(),
        AmbHttp::builder(url).bearer_token("a\nb").build(),
        AmbHttp::builder(url)
            .bearer_token(JWT)
            .basic_auth("u", "p")
            .no_auth()
            .build(),
        AmbHttp::builder(url)
            .bearer_token(JWT)
            .billing_token("AbCdEfGh12345678")
            .build(),
        AmbHttp::builder("http://u:p@127.0.0.1:9/")
            .bearer_token(JWT)
            .build(),
        AmbHttp::builder("http://u:p@127.0.0.1:9/")
            .basic_auth("u", "other")
            .build(),
        // Auth asked for that would send nothing.
        AmbHttp::builder(url).header("x-token", "").build(),
        AmbHttp::builder(url)
            .no_auth()
            .header("x-token", " ")
            .build(),
        AmbHttp::builder(url).basic_auth("", "").build(),
        AmbHttp::builder(url).bearer_token("").build(),
    ];
    for built in cases {
        let err = built.unwrap_err();
        assert!(matches!(err, AmbError::Config(_)), "{err:?}");
        assert_withheld(&format!("{err} {err:?}"), &[JWT, "Injected"]);
    }
}

#[tokio::test]
async fn batches_go_whole_to_a_provider() {
    let server = http_server().await;
    // Not split: the default for every target but AMB.
    let t = AmbHttp::builder(server.uri())
        .bearer_token(JWT)
        .build()
        .unwrap();
    let client = RpcClient::new(t, false);
    let mut batch = client.new_batch();
    let calls: Vec<_> = (0..3)
        .map(|_| batch.add_call::<_, String>("eth_chainId", &()).unwrap())
        .collect();
    batch.send().await.unwrap();
    for c in calls {
        assert_eq!(c.await.unwrap(), "0x1");
    }
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1, "one POST for the batch of 3");
    let body: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(body.as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn a_hostile_http_server_cannot_make_a_secret_show() {
    let server = MockServer::start().await;
    let body = format!(
        "you sent: x-token: {X_TOKEN}\r\nAuthorization: Basic {}\r\n{} {} {}",
        base64_like::encode(format!("{USER}:{PASSWORD}").as_bytes()),
        echoes(X_TOKEN),
        echoes(PASSWORD),
        echoes(JWT),
    );
    // As a server writes JSON: its escapes (`\/`, `\u0071`) are the JSON text's own.
    let json_escaped =
        |v: &str| -> String { v.chars().map(|c| format!("\\u{:04x}", c as u32)).collect() };
    let rpc_error = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":0,\"error\":{{\"code\":-32000,\"message\":\"bad key {X_TOKEN} / {PASSWORD}\",\
         \"data\":{{\"token\":\"{}\",\"password\":\"{}\",\"jwt\":\"{}\",\"slashes\":\"{}\",\"raw\":\"{X_TOKEN} {PASSWORD} {JWT}\"}}}}}}",
        json_escaped(X_TOKEN),
        json_escaped(PASSWORD),
        json_escaped(JWT),
        PASSWORD.replace('/', "\\/"),
    );
    let answers = [
        ResponseTemplate::new(401).set_body_string(body.clone()),
        ResponseTemplate::new(403).set_body_json(json!({"message": body.clone()})),
        ResponseTemplate::new(500).set_body_string(body.clone()),
        ResponseTemplate::new(418).set_body_string(body.clone()),
        ResponseTemplate::new(200).set_body_raw(rpc_error, "application/json"),
    ];
    let mut withheld = 0;
    for answer in answers {
        server.reset().await;
        Mock::given(method("POST"))
            .respond_with(answer)
            .mount(&server)
            .await;
        // Each transport's own secrets (the echo also quotes the other one's, which are not
        // secrets of this request).
        for (t, secrets) in [
            (
                AmbHttp::builder(server.uri())
                    .basic_auth(USER, PASSWORD)
                    .header("x-token", X_TOKEN)
                    .build()
                    .unwrap(),
                [X_TOKEN, PASSWORD],
            ),
            (
                AmbHttp::builder(server.uri())
                    .bearer_token(JWT)
                    .header("x-token", X_TOKEN)
                    .build()
                    .unwrap(),
                [X_TOKEN, JWT],
            ),
        ] {
            let (logs, guard) = log_capture::capture();
            let mut everything = format!("{t:?}\n");
            let err = call(t).await.unwrap_err();
            everything.push_str(&format!("{err}\n{err:?}\n"));
            drop(guard);
            everything.push_str(&logs.text());
            withheld += everything.matches("<withheld>").count();
            assert_withheld(&everything, &secrets);
        }
    }
    assert!(withheld > 10);
}

// ---------------------------------------------------------------------------------------------
// WebSocket

/// What the WebSocket server does with an upgrade: accept, or refuse with a status and body.
type Decide = Box<dyn Fn(&Request) -> Result<(), (u16, String)> + Send + Sync>;

/// A WebSocket server that records every upgrade's headers, answers `eth_chainId` with `0x1`,
/// `echo_error` with a JSON-RPC error quoting `echo`, and `close_echo` (on the first
/// connection only) with a close frame whose reason quotes `echo`.
struct WsServer {
    url: String,
    upgrades: Arc<Mutex<Vec<http::HeaderMap>>>,
}

async fn ws_server(decide: Decide, echo: String) -> WsServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let upgrades = Arc::new(Mutex::new(Vec::new()));
    let (seen, decide) = (upgrades.clone(), Arc::new(decide));
    tokio::spawn(async move {
        let mut conn = 0;
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            conn += 1;
            let (seen, decide, echo) = (seen.clone(), decide.clone(), echo.clone());
            tokio::spawn(async move {
                // tungstenite's callback signature: its `Err` is an HTTP response.
                #[allow(clippy::result_large_err)]
                let callback = |req: &Request, resp: Response| {
                    seen.lock().unwrap().push(req.headers().clone());
                    match decide(req) {
                        Ok(()) => Ok(resp),
                        Err((status, body)) => {
                            let mut refusal = ErrorResponse::new(Some(body));
                            *refusal.status_mut() = http::StatusCode::from_u16(status).unwrap();
                            Err(refusal)
                        }
                    }
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    let Message::Text(text) = msg else { continue };
                    let req: Value = serde_json::from_str(&text).unwrap();
                    let answer = match req["method"].as_str() {
                        Some("close_echo") if conn == 1 => {
                            let reason: String = echo.chars().take(120).collect();
                            let _ = ws
                                .send(Message::Close(Some(CloseFrame {
                                    code: CloseCode::Policy,
                                    reason: reason.into(),
                                })))
                                .await;
                            return;
                        }
                        Some("echo_error") => json!({"jsonrpc": "2.0", "id": req["id"],
                            "error": {"code": -32001, "message": echo.clone()}}),
                        _ => json!({"jsonrpc": "2.0", "id": req["id"], "result": "0x1"}),
                    };
                    if ws.send(Message::text(answer.to_string())).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    WsServer { url, upgrades }
}

fn upgrade_header(s: &WsServer, i: usize, name: &str) -> Option<String> {
    s.upgrades.lock().unwrap()[i]
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn ws_chain_id(connect: AmbWsConnect) -> Result<u64, TransportError> {
    let provider = ProviderBuilder::new().connect_pubsub_with(connect).await?;
    provider.get_chain_id().await
}

fn requires(name: &'static str, value: String) -> Decide {
    Box::new(
        move |req: &Request| match req.headers().get(name).and_then(|v| v.to_str().ok()) {
            Some(v) if v == value => Ok(()),
            _ => Err((401, format!("missing or wrong {name}"))),
        },
    )
}

#[tokio::test]
async fn x_token_bearer_and_basic_on_the_websocket_upgrade() {
    let s = ws_server(requires("x-token", X_TOKEN.into()), String::new()).await;
    let connect = AmbWsConnect::builder(&s.url)
        .no_auth()
        .header("x-token", X_TOKEN)
        .build()
        .unwrap();
    assert!(!format!("{connect:?}").contains(X_TOKEN));
    assert_eq!(ws_chain_id(connect).await.unwrap(), 1);
    assert_eq!(upgrade_header(&s, 0, "authorization"), None);

    let s = ws_server(
        requires("authorization", format!("Bearer {JWT}")),
        String::new(),
    )
    .await;
    let connect = AmbWsConnect::builder(&s.url)
        .bearer_token(JWT)
        .build()
        .unwrap();
    assert_eq!(ws_chain_id(connect).await.unwrap(), 1);

    let s = ws_server(
        requires("authorization", basic(USER, PASSWORD)),
        String::new(),
    )
    .await;
    let connect = AmbWsConnect::builder(&s.url)
        .basic_auth(USER, PASSWORD)
        .build()
        .unwrap();
    assert_eq!(ws_chain_id(connect).await.unwrap(), 1);
    let url = s
        .url
        .replace("ws://", &format!("ws://{USER}:p%40ss%2Fw0rd+Secret9@"));
    let connect = AmbWsConnect::builder(&url).build().unwrap();
    assert!(!format!("{connect:?}").contains("w0rd"));
    assert_eq!(ws_chain_id(connect).await.unwrap(), 1);
    assert_eq!(s.upgrades.lock().unwrap().len(), 2);

    let s = ws_server(Box::new(|_| Ok(())), String::new()).await;
    let connect = AmbWsConnect::builder(&s.url).no_auth().build().unwrap();
    assert_eq!(ws_chain_id(connect).await.unwrap(), 1);
    assert_eq!(upgrade_header(&s, 0, "authorization"), None);
}

#[tokio::test]
async fn websocket_upgrade_refused_with_401_fetches_the_token_once_more() {
    let s = ws_server(
        requires("authorization", "Bearer refreshed-token-0002".into()),
        String::new(),
    )
    .await;
    let (calls, fetch) = counting_provider(|_| None);
    let connect = AmbWsConnect::builder(&s.url)
        .bearer_token_provider(fetch)
        .build()
        .unwrap();
    assert_eq!(ws_chain_id(connect).await.unwrap(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(s.upgrades.lock().unwrap().len(), 2);

    // A static token refused on the upgrade: one attempt, the typed error.
    let s = ws_server(
        requires("authorization", "Bearer other".into()),
        String::new(),
    )
    .await;
    let connect = AmbWsConnect::builder(&s.url)
        .bearer_token(JWT)
        .build()
        .unwrap();
    let err = ws_chain_id(connect).await.unwrap_err();
    assert_eq!(
        amb_err(&err).auth_failure(),
        Some(AuthFailure::ProviderRefused),
        "{err}"
    );
    assert_eq!(s.upgrades.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_hostile_websocket_server_cannot_make_a_secret_show() {
    let wire_basic = basic(USER, PASSWORD);
    let echo = format!(
        "{X_TOKEN} {wire_basic} {} {} {}",
        echoes(X_TOKEN),
        echoes(PASSWORD),
        echoes(JWT)
    );
    // Refused upgrades (401, 403 and 400) whose bodies quote every secret.
    for status in [401, 403, 400] {
        let body = echo.clone();
        let s = ws_server(Box::new(move |_| Err((status, body.clone()))), echo.clone()).await;
        for (connect, secrets) in [
            (
                AmbWsConnect::builder(&s.url)
                    .basic_auth(USER, PASSWORD)
                    .header("x-token", X_TOKEN)
                    .build()
                    .unwrap(),
                [X_TOKEN, PASSWORD, &wire_basic[6..]],
            ),
            (
                AmbWsConnect::builder(&s.url)
                    .bearer_token(JWT)
                    .header("x-token", X_TOKEN)
                    .build()
                    .unwrap(),
                [X_TOKEN, JWT, JWT],
            ),
        ] {
            let (logs, guard) = log_capture::capture();
            let mut everything = format!("{connect:?}\n");
            let err = ws_chain_id(connect).await.unwrap_err();
            everything.push_str(&format!("{err}\n{err:?}\n"));
            drop(guard);
            everything.push_str(&logs.text());
            assert!(everything.contains("<withheld>"), "{everything}");
            assert_withheld(&everything, &secrets);
        }
    }

    // An open connection: a JSON-RPC error quoting the secrets, then a close frame that does.
    let (logs, _guard) = log_capture::capture();
    let s = ws_server(Box::new(|_| Ok(())), echo.clone()).await;
    let connect = AmbWsConnect::builder(&s.url)
        .bearer_token(JWT)
        .header("x-token", X_TOKEN)
        .build()
        .unwrap();
    let provider = ProviderBuilder::new()
        .connect_pubsub_with(connect)
        .await
        .unwrap();
    let err = provider
        .raw_request::<_, Value>("echo_error".into(), ())
        .await
        .unwrap_err();
    let mut everything = format!("{err}\n{err:?}\n");
    // Closed with the secrets in the reason, reconnected, and the request sent again.
    let again: Value = provider.raw_request("close_echo".into(), ()).await.unwrap();
    assert_eq!(again, "0x1");
    let logged = logs.text();
    assert!(logged.contains("connection lost"), "{logged}");
    everything.push_str(&logged);
    assert!(everything.contains("<withheld>"), "{everything}");
    assert_withheld(&everything, &[X_TOKEN, JWT]);
}

// ---------------------------------------------------------------------------------------------
// Against the emulator's provider modes (alloy-amb-testing's `FakeTarget`), HTTP and WebSocket.

mod emulator {
    use super::*;
    use alloy_amb_testing::{FakeAmb, FakeTarget, FakeWs};

    async fn fake(target: FakeTarget) -> (FakeAmb, FakeWs) {
        let amb = FakeAmb::start().await;
        amb.set_target(target);
        let ws = FakeWs::start(&amb).await;
        (amb, ws)
    }

    #[tokio::test]
    async fn x_token_provider_mode_over_http_and_ws() {
        let (amb, ws) = fake(FakeTarget::provider("x-token", X_TOKEN)).await;
        let t = AmbHttp::builder(amb.url())
            .no_auth()
            .header("x-token", X_TOKEN)
            .build()
            .unwrap();
        assert_eq!(call(t).await.unwrap(), alloy_amb_testing::chain::CHAIN_ID);
        let connect = AmbWsConnect::builder(ws.url())
            .no_auth()
            .header("x-token", X_TOKEN)
            .build()
            .unwrap();
        assert_eq!(
            ws_chain_id(connect).await.unwrap(),
            alloy_amb_testing::chain::CHAIN_ID
        );

        // Without it, or with another value: refused, typed, no retry, the value withheld.
        let t = AmbHttp::builder(amb.url()).no_auth().build().unwrap();
        let err = call(t).await.unwrap_err();
        assert_eq!(
            amb_err(&err).auth_failure(),
            Some(AuthFailure::ProviderRefused)
        );
        let wrong = "qn_wrongwrongwrongwrong0123";
        let connect = AmbWsConnect::builder(ws.url())
            .no_auth()
            .header("x-token", wrong)
            .build()
            .unwrap();
        let err = ws_chain_id(connect).await.unwrap_err();
        assert_eq!(
            amb_err(&err).auth_failure(),
            Some(AuthFailure::ProviderRefused)
        );
        assert_withheld(&format!("{err} {err:?}"), &[wrong]);
    }

    #[tokio::test]
    async fn bearer_and_basic_provider_modes_over_http_and_ws() {
        let (amb, ws) = fake(FakeTarget::bearer(JWT)).await;
        let t = AmbHttp::builder(amb.url())
            .bearer_token(JWT)
            .build()
            .unwrap();
        assert_eq!(call(t).await.unwrap(), alloy_amb_testing::chain::CHAIN_ID);
        let connect = AmbWsConnect::builder(ws.url())
            .bearer_token(JWT)
            .build()
            .unwrap();
        assert_eq!(
            ws_chain_id(connect).await.unwrap(),
            alloy_amb_testing::chain::CHAIN_ID
        );

        let (amb, ws) = fake(FakeTarget::basic(USER, PASSWORD)).await;
        let userinfo = format!("{USER}:p%40ss%2Fw0rd+Secret9@");
        let http_url = amb.url().replace("http://", &format!("http://{userinfo}"));
        let ws_url = ws.url().replace("ws://", &format!("ws://{userinfo}"));
        for t in [
            AmbHttp::builder(amb.url())
                .basic_auth(USER, PASSWORD)
                .build()
                .unwrap(),
            AmbHttp::builder(&http_url).build().unwrap(),
        ] {
            assert_eq!(call(t).await.unwrap(), alloy_amb_testing::chain::CHAIN_ID);
        }
        for connect in [
            AmbWsConnect::builder(ws.url())
                .basic_auth(USER, PASSWORD)
                .build()
                .unwrap(),
            AmbWsConnect::builder(&ws_url).build().unwrap(),
        ] {
            assert_eq!(
                ws_chain_id(connect).await.unwrap(),
                alloy_amb_testing::chain::CHAIN_ID
            );
        }
    }

    /// `.header(..)` with SigV4 (e.g. API Gateway's `x-api-key` next to IAM auth): sent
    /// unsigned, the signature still verified by the emulator's independent verifier.
    #[tokio::test]
    async fn a_header_rides_along_with_sigv4() {
        let amb = FakeAmb::start().await;
        let t = AmbHttp::builder(amb.url())
            .region(alloy_amb_testing::REGION)
            .credentials_provider(support::fake_credentials())
            .header("x-api-key", "apikey-0123456789abcdef")
            .build()
            .unwrap();
        assert!(!format!("{t:?}").contains("apikey-0123456789abcdef"));
        assert_eq!(call(t).await.unwrap(), alloy_amb_testing::chain::CHAIN_ID);
        let got = amb.accepted();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].header("x-api-key"), Some("apikey-0123456789abcdef"));
        assert!(got[0]
            .header("authorization")
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256"));
    }
}

/// A key in the URL's path or query (Alchemy's `/v2/<key>`, `?apikey=`): `no_auth()` sends it
/// as it is, and it is withheld when the provider quotes the request back.
#[tokio::test]
async fn a_key_in_the_url_is_withheld_from_what_comes_back() {
    const KEY: &str = "alchemyKEY0123456789abcdefXYZ";
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::path(format!("/v2/{KEY}")))
        .respond_with(ResponseTemplate::new(401).set_body_string(format!(
            "no such app: POST /v2/{KEY}?apikey=other-{KEY} ({})",
            echoes(KEY)
        )))
        .mount(&server)
        .await;
    let t = AmbHttp::builder(format!("{}/v2/{KEY}", server.uri()))
        .no_auth()
        .build()
        .unwrap();
    let err = call(t).await.unwrap_err();
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert_eq!(
        amb_err(&err).auth_failure(),
        Some(AuthFailure::ProviderRefused)
    );
    assert_withheld(&format!("{err} {err:?}"), &[KEY]);
}

/// A token that arrives already within 30 s of its expiry is still shared by every call that
/// waited for its fetch: 20 concurrent calls, one fetch.
#[tokio::test]
async fn calls_waiting_for_one_fetch_share_a_short_lived_token() {
    let server = http_server().await;
    let calls = Arc::new(AtomicU32::new(0));
    let (release, released) = tokio::sync::watch::channel(false);
    let first = Arc::new(tokio::sync::Notify::new());
    let (c, f) = (calls.clone(), first.clone());
    let t = AmbHttp::builder(server.uri())
        .bearer_token_provider(move || {
            c.fetch_add(1, Ordering::SeqCst);
            f.notify_one();
            let mut released = released.clone();
            async move {
                released.wait_for(|r| *r).await.unwrap();
                Ok(BearerToken::new("short-lived-token-1")
                    .expires_at(SystemTime::now() + Duration::from_secs(20)))
            }
        })
        .build()
        .unwrap();
    let client = RpcClient::new(t, false);
    let all = futures::future::join_all((0..20).map(|_| {
        let client = client.clone();
        async move { client.request_noparams::<String>("eth_chainId").await }
    }));
    let releaser = async {
        first.notified().await;
        release.send(true).unwrap();
    };
    let (results, ()) = tokio::join!(all, releaser);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    for r in results {
        r.unwrap();
    }
}

/// A fetch slower than the transport's timeout fails its call but is not cancelled: the next
/// call takes its token instead of starting over.
#[tokio::test]
async fn a_slow_fetch_outlives_the_call_that_timed_out() {
    let server = http_server().await;
    let calls = Arc::new(AtomicU32::new(0));
    let (release, released) = tokio::sync::watch::channel(false);
    let c = calls.clone();
    let t = AmbHttp::builder(server.uri())
        .timeout(Duration::from_millis(100))
        .bearer_token_provider(move || {
            c.fetch_add(1, Ordering::SeqCst);
            let mut released = released.clone();
            async move {
                released.wait_for(|r| *r).await.unwrap();
                Ok(BearerToken::new("slow-token-123456"))
            }
        })
        .build()
        .unwrap();
    let err = call(t.clone()).await.unwrap_err();
    assert!(
        matches!(amb_err(&err), AmbError::TokenProvider { .. }),
        "{err}"
    );
    release.send(true).unwrap();
    assert_eq!(call(t).await.unwrap(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let sent = server.received_requests().await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        headers_of(&sent[0], "authorization").as_deref(),
        Some("Bearer slow-token-123456")
    );
}

/// A token that lives less than the 30 s margin (20 s) is still reused: cached for half its
/// lifetime, not fetched again for every call.
#[tokio::test]
async fn a_short_lived_token_is_fetched_once_for_sequential_calls() {
    let server = http_server().await;
    let (calls, fetch) = counting_provider(|_| Some(20));
    let t = AmbHttp::builder(server.uri())
        .bearer_token_provider(fetch)
        .build()
        .unwrap();
    for _ in 0..5 {
        call(t.clone()).await.unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(server.received_requests().await.unwrap().len(), 5);
}

/// A closure that hangs once does not break the transport: after twice the timeout its fetch
/// is abandoned and a later call starts a new one (and succeeds).
#[tokio::test]
async fn a_closure_that_hangs_once_does_not_break_the_transport() {
    let server = http_server().await;
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let t = AmbHttp::builder(server.uri())
        .timeout(Duration::from_millis(100))
        .bearer_token_provider(move || {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n == 1 {
                    std::future::pending::<()>().await;
                }
                Ok(BearerToken::new("after-the-hang-123456"))
            }
        })
        .build()
        .unwrap();
    let mut results = Vec::new();
    for _ in 0..3 {
        results.push(call(t.clone()).await);
    }
    assert!(
        results.iter().any(Result::is_ok),
        "no call succeeded: {results:?}"
    );
    assert!(calls.load(Ordering::SeqCst) >= 2);
    let sent = server.received_requests().await.unwrap();
    assert!(!sent.is_empty());
    for r in &sent {
        assert_eq!(
            headers_of(r, "authorization").as_deref(),
            Some("Bearer after-the-hang-123456")
        );
    }
}

/// `https://:@host/`: the URL parser drops an empty user info, so no Basic auth is asked for
/// (never `Basic Og==`); with nothing else given, a provider host is refused at build.
#[tokio::test]
async fn empty_user_info_in_the_url_asks_for_no_basic_auth() {
    let url = "https://:@rpc.example-provider.io/v1";
    assert!(!alloy_amb::Endpoint::parse(url).unwrap().has_userinfo());
    let err = AmbHttp::builder(url).build().unwrap_err();
    assert!(matches!(err, AmbError::Config(_)), "{err:?}");
}
