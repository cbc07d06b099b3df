//! Whatever a server or a credential source sends back, no secret in use (secret key, session
//! token, signature, billing token) reaches an error's `Display` or `Debug`, nor the logs.
//!
//! A hostile gateway (wiremock) answers every request with a body that echoes the request's
//! headers and query, in the shapes real servers use: plain text, JSON, HTML, XML, URL-encoded,
//! with the statuses that take different paths through the transport (400, 404, 429, 5xx,
//! XML and JSON 403s, 200 with a body that is not JSON-RPC, 200 with a JSON-RPC error).

mod support;

use std::time::Duration;

use alloy_amb::{AmbCredentials, AmbHttp};
use alloy_primitives::U64;
use alloy_rpc_client::RpcClient;
use aws_credential_types::Credentials;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const AKID: &str = "ASIAREDACTIONTEST001";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYREDACTKEY1";
const SESSION: &str =
    "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+SessionTokenNeverShown/x+Y=";
const BILLING: &str = "BillingTokenNeverShown0123";

/// How the echo is shaped.
#[derive(Clone, Copy)]
enum Shape {
    Text,
    Json,
    Html,
    Xml,
    UrlEncoded,
    AwsJson,
    JsonRpcError,
}

/// Answers `status` with a body echoing the request's headers and URL in `shape`.
struct Echo(u16, Shape);

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap().replace('/', "\\/")
}

impl Respond for Echo {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let headers: Vec<(String, String)> = req
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let url = req.url.to_string();
        let lines: String = headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        let body = match self.1 {
            Shape::Text => format!("Bad request. You sent:\r\nPOST {url}\r\n{lines}\r\n"),
            Shape::Json => {
                let map: serde_json::Map<_, _> = headers
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect();
                serde_json::json!({"error": "upstream failed", "url": url, "headers": map})
                    .to_string()
                    .replace('/', "\\/")
            }
            Shape::Html => {
                let rows: String = headers
                    .iter()
                    .map(|(k, v)| format!("<tr><td>{k}</td><td>{v}</td></tr>"))
                    .collect();
                format!("<html><body><h1>502 Bad Gateway</h1><p>{url}</p><table>{rows}</table></body></html>")
            }
            Shape::Xml => {
                let auth = req
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let token = req
                    .headers
                    .get("x-amz-security-token")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                format!(
                    "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>\
                     <Message>mismatch for {url}</Message><SignatureProvided>{}</SignatureProvided>\
                     <CanonicalRequest>POST\n/\n\nhost:h\nx-amz-security-token:{token}\n</CanonicalRequest>\
                     <Authorization>{auth}</Authorization><Debug>{lines}</Debug></Error>",
                    auth.rsplit("Signature=").next().unwrap_or_default()
                )
            }
            Shape::UrlEncoded => {
                let q: Vec<String> = headers
                    .iter()
                    .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
                    .collect();
                format!("error=bad&echo={}&url={}", q.join("&"), pct(&url))
            }
            Shape::AwsJson => {
                let auth = req
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                serde_json::json!({
                    "message": format!("Authorization header requires 'Credential' parameter. Authorization={auth} url={url} token={}",
                        req.headers.get("x-amz-security-token").and_then(|v| v.to_str().ok()).unwrap_or_default()),
                })
                .to_string()
            }
            Shape::JsonRpcError => format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":0,\"error\":{{\"code\":-32000,\"message\":{},\"data\":{{\"url\":{}}}}}}}",
                json_str(&lines),
                json_str(&url)
            ),
        };
        ResponseTemplate::new(self.0).set_body_string(body)
    }
}

const CASES: [(&str, u16, Shape); 12] = [
    ("/400-text", 400, Shape::Text),
    ("/400-json", 400, Shape::Json),
    ("/404-html", 404, Shape::Html),
    ("/429-json", 429, Shape::Json),
    ("/500-text", 500, Shape::Text),
    ("/502-html", 502, Shape::Html),
    ("/503-url", 503, Shape::UrlEncoded),
    ("/403-xml", 403, Shape::Xml),
    ("/403-aws", 403, Shape::AwsJson),
    ("/200-html", 200, Shape::Html),
    ("/200-json", 200, Shape::Json),
    ("/200-rpc", 200, Shape::JsonRpcError),
];

async fn hostile() -> MockServer {
    let server = MockServer::start().await;
    for (p, status, shape) in CASES {
        Mock::given(path(p))
            .respond_with(Echo(status, shape))
            .mount(&server)
            .await;
    }
    server
}

/// Every error (`Display` and `Debug`) from calling each hostile path with `make`.
async fn errors(server: &MockServer, make: impl Fn(String) -> AmbHttp) -> String {
    let mut all = String::new();
    for (p, status, _) in CASES {
        let t = make(format!("{}{p}", server.uri()));
        let client = RpcClient::new(t, false);
        let call = client.request_noparams::<U64>("eth_chainId");
        let err = tokio::time::timeout(Duration::from_secs(20), call)
            .await
            .expect("bounded")
            .expect_err(p);
        let line = format!("{p} ({status}): {err}\n{err:?}\n");
        all.push_str(&line);
    }
    all
}

fn signatures(server_requests: &[Request]) -> Vec<String> {
    support::signatures(
        server_requests
            .iter()
            .map(|r| r.headers.get("authorization").and_then(|v| v.to_str().ok())),
    )
}

#[tokio::test]
async fn nothing_secret_in_errors_whatever_the_server_echoes() {
    let (capture, _guard) = support::log_capture::capture();
    let server = hostile().await;
    let creds = AmbCredentials::from_provider(Credentials::new(
        AKID,
        SECRET,
        Some(SESSION.into()),
        None,
        "t",
    ));
    let signed = errors(&server, |url| {
        AmbHttp::builder(url)
            .region("us-east-1")
            .credentials(creds.clone())
            .build()
            .unwrap()
    })
    .await;
    let token = errors(&server, |url| {
        AmbHttp::new(format!("{url}?billingtoken={BILLING}")).unwrap()
    })
    .await;

    let received = server.received_requests().await.unwrap();
    // The secrets did go out (so the echoes held them).
    let sigs = signatures(&received);
    assert_eq!(sigs.len(), CASES.len());
    assert!(received
        .iter()
        .any(|r| r.url.query().is_some_and(|q| q.contains(BILLING))));
    // The errors still say what happened.
    for status in ["400", "404", "429", "500", "502", "503", "403"] {
        assert!(signed.contains(status), "{status} missing in {signed}");
    }
    assert!(signed.contains("<withheld>"), "{signed}");

    let everything = format!("{signed}\n{token}\n{}", capture.text());
    if std::env::var_os("SHOW").is_some() {
        println!("{signed}");
    }
    support::assert_nothing_leaked(&everything, &[SECRET, SESSION, BILLING], &sigs);
    // Nor any URL-encoded or JSON-escaped form of them.
    for secret in [SECRET, SESSION] {
        for form in [pct(secret), secret.replace('/', "\\/")] {
            assert!(!everything.contains(&form), "{form} leaked");
        }
    }
    // And each message is bounded, however much was echoed.
    for line in everything.lines() {
        assert!(line.len() < 6000, "{} bytes: {line}", line.len());
    }
}

#[tokio::test]
async fn fake_gateway_received_debug_withholds_secrets() {
    let fake = alloy_amb_testing::FakeAmb::start().await;
    fake.add_key(AKID, SECRET, Some(SESSION));
    fake.add_billing_token(BILLING);
    let signed = AmbHttp::builder(fake.url())
        .region(alloy_amb_testing::REGION)
        .credentials_provider(Credentials::new(
            AKID,
            SECRET,
            Some(SESSION.into()),
            None,
            "t",
        ))
        .build()
        .unwrap();
    RpcClient::new(signed, false)
        .request_noparams::<U64>("eth_chainId")
        .await
        .unwrap();
    let token = AmbHttp::new(format!("{}?billingtoken={BILLING}", fake.url())).unwrap();
    RpcClient::new(token, false)
        .request_noparams::<U64>("eth_chainId")
        .await
        .unwrap();
    let received = fake.received();
    let sigs = support::signatures(received.iter().map(|r| r.header("authorization")));
    assert_eq!(sigs.len(), 1);
    let shown = format!("{received:?}");
    assert!(
        shown.contains("eth_chainId") && shown.contains("x-amz-date"),
        "{shown}"
    );
    support::assert_nothing_leaked(&shown, &[SECRET, SESSION, BILLING], &sigs);
}

/// A `credential_process` that fails and prints its (would-be) credentials and environment to
/// stderr: the error names the failure, never the secrets.
#[cfg(unix)]
#[tokio::test]
async fn credential_process_stderr_is_withheld() {
    let (capture, _guard) = support::log_capture::capture();
    let script = format!(
        "printf '%s\\n' 'fetch failed; got {{\"Version\":1,\"AccessKeyId\":\"{AKID}\",\"SecretAccessKey\":\"{SECRET}\",\"SessionToken\":\"{SESSION}\"}}' 'AWS_SESSION_TOKEN={SESSION}' 'key {SECRET} token {SESSION}' >&2; exit 1"
    );
    // aws-config runs it with `sh -c`.
    let provider = aws_config::credential_process::CredentialProcessProvider::new(script);
    let creds = AmbCredentials::from_provider(provider);
    let err = creds.credentials().await.unwrap_err();
    let t = AmbHttp::builder("https://nd-x.ethereum.managedblockchain.us-east-1.amazonaws.com")
        .credentials(creds.clone())
        .build()
        .unwrap();
    let call = RpcClient::new(t, false).request_noparams::<U64>("eth_chainId");
    let err2 = call.await.unwrap_err();
    let everything = format!("{err}\n{err:?}\n{err2}\n{err2:?}\n{}", capture.text());
    assert!(everything.contains("fetch failed"), "{everything}");
    support::assert_nothing_leaked(&everything, &[SECRET, SESSION], &[]);
}

/// A refused WebSocket upgrade (403 or another status) whose body quotes the secrets of the
/// upgrade: the error quotes the body with them withheld.
#[tokio::test]
async fn refused_websocket_upgrades_quote_no_secret() {
    use alloy_amb::AmbWsConnect;
    use alloy_amb_testing::FakeWs;
    let fake = alloy_amb_testing::FakeAmb::start().await;
    fake.add_key(AKID, SECRET, Some(SESSION));
    fake.add_billing_token(BILLING);
    let ws = FakeWs::start(&fake).await;
    let body = format!(
        "refused; you sent {SESSION} and {} with {BILLING}; key {SECRET}",
        pct(SESSION)
    );
    let signed = || {
        AmbWsConnect::builder(ws.url())
            .region(alloy_amb_testing::REGION)
            .credentials_provider(Credentials::new(
                AKID,
                SECRET,
                Some(SESSION.into()),
                None,
                "t",
            ))
            .build()
            .unwrap()
    };
    let token = || AmbWsConnect::new(format!("{}?billingtoken={BILLING}", ws.url())).unwrap();
    let mut all = String::new();
    for (status, connect, secrets) in [
        (403, signed(), vec![SECRET, SESSION]),
        (502, signed(), vec![SECRET, SESSION]),
        (403, token(), vec![BILLING]),
        (429, token(), vec![BILLING]),
    ] {
        ws.refuse_next_upgrades(vec![(status, &body)]);
        let err = tokio::time::timeout(
            Duration::from_secs(20),
            alloy_rpc_client::ClientBuilder::default().pubsub(connect),
        )
        .await
        .expect("bounded")
        .map(drop)
        .expect_err("refused");
        let text = format!("{err}\n{err:?}\n");
        assert!(
            text.contains(&status.to_string()) && text.contains("refused; you sent"),
            "{text}"
        );
        support::assert_nothing_leaked(&text, &secrets, &[]);
        assert!(!text.contains(&pct(SESSION)), "{text}");
        all.push_str(&text);
    }
    assert!(all.contains("<withheld>"), "{all}");
}
