//! Each target mode enforces its service's rules: a raw request that breaks a rule is refused
//! with that service's status and message, and one that follows them is answered. Requests are
//! written byte by byte and signed with the crate's own spec-step signer (`sigv4::sign`), never
//! with the signer the emulator is meant to check.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{SystemTime, UNIX_EPOCH};

use alloy_amb_testing::sigv4::{self, SignParams};
use alloy_amb_testing::*;
use serde_json::Value;

const CHAIN_ID: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
const BATCH: &[u8] = br#"[{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]},{"jsonrpc":"2.0","id":2,"method":"eth_blockNumber","params":[]}]"#;

/// An answer: status, headers (lowercase names), body.
#[derive(Clone)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn message(&self) -> String {
        let v: Value = serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body));
        v["message"].as_str().unwrap_or_default().to_owned()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one HTTP/1.1 request exactly as given (plus `content-length` and `connection: close`)
/// and reads the whole answer.
fn raw(addr: SocketAddr, path: &str, headers: &[(String, String)], body: &[u8]) -> Answer {
    let mut req = format!("POST {path} HTTP/1.1\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(req.as_bytes()).unwrap();
    tcp.write_all(body).unwrap();
    let mut bytes = Vec::new();
    tcp.read_to_end(&mut bytes).unwrap();
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes[split + 4..]).into_owned(),
    }
}

fn now_amz() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    fmt_amz(secs)
}

/// A request with `host` and `content-type` and the `extra` headers, signed for `service` over
/// `signed_path`, minus the headers named in `leave_unsigned`.
fn signed(
    addr: SocketAddr,
    service: &str,
    signed_path: &str,
    extra: &[(&str, &str)],
    body: &[u8],
    leave_unsigned: &[&str],
) -> Vec<(String, String)> {
    let mut headers = vec![
        ("host".to_owned(), addr.to_string()),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let params = SignParams {
        access_key: ACCESS_KEY,
        secret: SECRET_KEY,
        session_token: None,
        region: REGION,
        service,
        amz_date: now_amz(),
        region_set: None,
    };
    sigv4::sign(
        &params,
        "POST",
        signed_path,
        None,
        &mut headers,
        body,
        leave_unsigned,
    );
    headers
}

/// Runs `f` off the runtime (the raw client blocks).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

async fn fake(target: FakeTarget) -> FakeAmb {
    let amb = FakeAmb::start().await;
    amb.set_target(target);
    amb
}

const UNSIGNED: (&str, &str) = ("x-amz-content-sha256", UNSIGNED_PAYLOAD);

#[tokio::test]
async fn lattice_takes_a_signed_unsigned_payload_header() {
    let amb = fake(FakeTarget::VpcLattice).await;
    let addr = amb.address();
    let a = blocking(move || {
        let h = signed(addr, SERVICE_VPC_LATTICE, "/", &[UNSIGNED], CHAIN_ID, &[]);
        raw(addr, "/", &h, CHAIN_ID)
    })
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("\"result\""), "{}", a.body);
}

#[tokio::test]
async fn lattice_refuses_a_signed_payload_or_no_header() {
    let amb = fake(FakeTarget::VpcLattice).await;
    let addr = amb.address();
    let hash = sigv4::sha256_hex(CHAIN_ID);
    let (with_hash, without) = blocking(move || {
        let h = signed(
            addr,
            SERVICE_VPC_LATTICE,
            "/",
            &[("x-amz-content-sha256", &hash)],
            CHAIN_ID,
            &[],
        );
        let with_hash = raw(addr, "/", &h, CHAIN_ID);
        let h = signed(addr, SERVICE_VPC_LATTICE, "/", &[], CHAIN_ID, &[]);
        (with_hash, raw(addr, "/", &h, CHAIN_ID))
    })
    .await;
    for a in [with_hash, without] {
        assert_eq!(a.status, 403, "{}", a.body);
        assert_eq!(a.message(), MSG_LATTICE_PAYLOAD_SIGNED);
    }
    assert_eq!(amb.accepted().len(), 0);
}

#[tokio::test]
async fn lattice_refuses_an_unsigned_payload_header_left_out_of_the_signature() {
    let amb = fake(FakeTarget::VpcLattice).await;
    let addr = amb.address();
    let a = blocking(move || {
        let h = signed(
            addr,
            SERVICE_VPC_LATTICE,
            "/",
            &[UNSIGNED],
            CHAIN_ID,
            &["x-amz-content-sha256"],
        );
        raw(addr, "/", &h, CHAIN_ID)
    })
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(a.message(), MSG_LATTICE_PAYLOAD_HEADER_UNSIGNED);
}

#[tokio::test]
async fn lattice_refuses_another_service_in_the_scope() {
    let amb = fake(FakeTarget::VpcLattice).await;
    let addr = amb.address();
    let a = blocking(move || {
        let h = signed(addr, SERVICE, "/", &[UNSIGNED], CHAIN_ID, &[]);
        raw(addr, "/", &h, CHAIN_ID)
    })
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        a.message()
            .contains("Credential should be scoped to correct service: 'vpc-lattice-svcs'"),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn lattice_and_lambda_refuse_websocket_upgrades() {
    for target in [FakeTarget::VpcLattice, FakeTarget::LambdaUrl] {
        let amb = fake(target.clone()).await;
        let ws = FakeWs::start(&amb).await;
        let err = tokio_tungstenite::connect_async(ws.url())
            .await
            .unwrap_err();
        let tokio_tungstenite::tungstenite::Error::Http(resp) = err else {
            panic!("{target:?}: {err}");
        };
        assert_eq!(resp.status(), 400, "{target:?}");
        let body = String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).into_owned();
        assert!(body.contains(MSG_NO_WEBSOCKET), "{target:?}: {body}");
        assert_eq!(ws.upgrades().len(), 1);
    }
}

#[tokio::test]
async fn lambda_takes_a_signed_body_and_batches() {
    let amb = fake(FakeTarget::LambdaUrl).await;
    let addr = amb.address();
    let (single, batch) = blocking(move || {
        let h = signed(addr, SERVICE_LAMBDA, "/", &[], CHAIN_ID, &[]);
        let single = raw(addr, "/", &h, CHAIN_ID);
        let h = signed(addr, SERVICE_LAMBDA, "/", &[], BATCH, &[]);
        (single, raw(addr, "/", &h, BATCH))
    })
    .await;
    assert_eq!(single.status, 200, "{}", single.body);
    assert_eq!(batch.status, 200, "{}", batch.body);
    let answers: Value = serde_json::from_str(&batch.body).unwrap();
    assert_eq!(answers.as_array().map(Vec::len), Some(2), "{}", batch.body);
}

#[tokio::test]
async fn lambda_refuses_an_unsigned_payload() {
    let amb = fake(FakeTarget::LambdaUrl).await;
    let addr = amb.address();
    let a = blocking(move || {
        let h = signed(addr, SERVICE_LAMBDA, "/", &[UNSIGNED], CHAIN_ID, &[]);
        raw(addr, "/", &h, CHAIN_ID)
    })
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.message().starts_with(MSG_BAD_SIGNATURE), "{}", a.body);
    // The canonical request it shows hashes the body, not the header's literal.
    assert!(
        a.message().contains(&sigv4::sha256_hex(CHAIN_ID)),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn lambda_caps_answers_at_6_mb_even_with_gzip() {
    let amb = fake(FakeTarget::LambdaUrl).await;
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"result":"{}"}}"#,
        "a".repeat(LAMBDA_RESPONSE_LIMIT)
    );
    let fits = format!(
        r#"{{"jsonrpc":"2.0","id":1,"result":"{}"}}"#,
        "a".repeat(LAMBDA_RESPONSE_LIMIT - 100)
    );
    amb.on_call(
        0,
        CallHook::ExecuteThenFail {
            status: 200,
            body: big,
        },
    );
    amb.on_call(
        1,
        CallHook::ExecuteThenFail {
            status: 200,
            body: fits,
        },
    );
    let addr = amb.address();
    let (over, under) = blocking(move || {
        let gzip = [("accept-encoding", "gzip")];
        let h = signed(addr, SERVICE_LAMBDA, "/", &gzip, CHAIN_ID, &[]);
        let over = raw(addr, "/", &h, CHAIN_ID);
        let h = signed(addr, SERVICE_LAMBDA, "/", &[], CHAIN_ID, &[]);
        (over, raw(addr, "/", &h, CHAIN_ID))
    })
    .await;
    assert_eq!(over.status, 502);
    assert_eq!(over.message(), MSG_RESPONSE_TOO_LARGE);
    assert_eq!(under.status, 200);
    assert!(under.body.len() > LAMBDA_RESPONSE_LIMIT - 100);
}

#[tokio::test]
async fn lambda_refuses_a_request_over_6_mb_with_413() {
    let amb = fake(FakeTarget::LambdaUrl).await;
    let addr = amb.address();
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["{}"]}}"#,
        "a".repeat(LAMBDA_RESPONSE_LIMIT)
    );
    let a = blocking(move || {
        let h = signed(addr, SERVICE_LAMBDA, "/", &[], body.as_bytes(), &[]);
        raw(addr, "/", &h, body.as_bytes())
    })
    .await;
    assert_eq!(a.status, 413, "{}", a.body);
    assert_eq!(a.message(), MSG_LAMBDA_REQUEST_TOO_LARGE);
    assert_eq!(amb.calls(), 0, "not executed");
}

#[tokio::test]
async fn api_gateway_takes_the_stage_path_and_batches() {
    let amb = fake(FakeTarget::api_gateway("prod")).await;
    let addr = amb.address();
    let answers = blocking(move || {
        ["/prod", "/prod/", "/prod/rpc"]
            .map(|path| {
                let h = signed(addr, SERVICE_API_GATEWAY, path, &[], BATCH, &[]);
                raw(addr, path, &h, BATCH)
            })
            .to_vec()
    })
    .await;
    for a in answers {
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(a.body.starts_with('['), "{}", a.body);
    }
}

#[tokio::test]
async fn api_gateway_refuses_paths_outside_the_stage_and_a_signature_without_it() {
    let amb = fake(FakeTarget::api_gateway("prod")).await;
    let addr = amb.address();
    let (outside, unsigned_stage, wrong_service) = blocking(move || {
        let outside = ["/", "/production", "/dev/rpc"].map(|path| {
            let h = signed(addr, SERVICE_API_GATEWAY, path, &[], CHAIN_ID, &[]);
            raw(addr, path, &h, CHAIN_ID)
        });
        // Signed for "/" but sent to the stage: the signed path must include the stage.
        let h = signed(addr, SERVICE_API_GATEWAY, "/", &[], CHAIN_ID, &[]);
        let unsigned_stage = raw(addr, "/prod", &h, CHAIN_ID);
        let h = signed(addr, SERVICE, "/prod", &[], CHAIN_ID, &[]);
        let wrong_service = raw(addr, "/prod", &h, CHAIN_ID);
        (outside, unsigned_stage, wrong_service)
    })
    .await;
    for a in outside {
        assert_eq!(a.status, 403, "{}", a.body);
        assert_eq!(a.message(), MSG_MISSING);
    }
    assert_eq!(unsigned_stage.status, 403);
    assert!(unsigned_stage.message().starts_with(MSG_BAD_SIGNATURE));
    assert_eq!(wrong_service.status, 403);
    assert!(wrong_service
        .message()
        .contains("Credential should be scoped to correct service: 'execute-api'"));
}

#[tokio::test]
async fn provider_wants_its_header_and_no_sigv4() {
    let amb = fake(FakeTarget::provider("x-token", "QN-TOKEN-1")).await;
    let addr = amb.address();
    let host = ("host".to_owned(), addr.to_string());
    let (none, wrong, right, batch, sigv4_only) = blocking(move || {
        let with = |v: &str| vec![host.clone(), ("X-Token".to_owned(), v.to_owned())];
        (
            raw(addr, "/", std::slice::from_ref(&host), CHAIN_ID),
            raw(addr, "/", &with("nope"), CHAIN_ID),
            raw(addr, "/", &with("QN-TOKEN-1"), CHAIN_ID),
            raw(addr, "/", &with("QN-TOKEN-1"), BATCH),
            raw(
                addr,
                "/",
                &signed(addr, SERVICE, "/", &[], CHAIN_ID, &[]),
                CHAIN_ID,
            ),
        )
    })
    .await;
    assert_eq!(none.status, 401);
    assert_eq!(none.message(), MSG_PROVIDER_MISSING);
    assert_eq!(wrong.status, 403);
    assert_eq!(wrong.message(), MSG_PROVIDER_INVALID);
    assert_eq!(right.status, 200, "{}", right.body);
    assert_eq!(batch.status, 200, "{}", batch.body);
    assert!(batch.body.starts_with('['));
    assert_eq!(sigv4_only.status, 401, "a SigV4 signature is not the key");
}

#[tokio::test]
async fn provider_header_guards_the_websocket_upgrade() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let amb = fake(FakeTarget::provider("x-token", "QN-TOKEN-1")).await;
    let ws = FakeWs::start(&amb).await;
    let err = tokio_tungstenite::connect_async(ws.url())
        .await
        .unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(resp) = err else {
        panic!("{err}");
    };
    assert_eq!(resp.status(), 401);
    let mut req = ws.url().into_client_request().unwrap();
    req.headers_mut()
        .insert("x-token", "QN-TOKEN-1".parse().unwrap());
    let (mut conn, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    // A provider takes batches on the WebSocket too.
    use futures::{SinkExt, StreamExt};
    let batch = String::from_utf8(BATCH.to_vec()).unwrap();
    conn.send(tokio_tungstenite::tungstenite::Message::text(batch))
        .await
        .unwrap();
    let answer = conn.next().await.unwrap().unwrap();
    let answers: Value = serde_json::from_str(answer.to_text().unwrap()).unwrap();
    let ids: Vec<&Value> = answers
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["id"])
        .collect();
    assert_eq!(ids, [1, 2], "{answers}");
}

#[tokio::test]
async fn bearer_and_basic_answer_401_with_a_challenge() {
    let cases = [
        (
            FakeTarget::bearer("JWT-1"),
            "Bearer JWT-1",
            "Bearer JWT-2",
            "Bearer",
        ),
        (
            // base64("alice:pw")
            FakeTarget::basic("alice", "pw"),
            "Basic YWxpY2U6cHc=",
            "Basic YWxpY2U6cHg=",
            "Basic realm=\"fake\"",
        ),
    ];
    for (target, good, bad, challenge) in cases {
        let amb = fake(target.clone()).await;
        let addr = amb.address();
        let (ok, refused, missing) = blocking(move || {
            let host = ("host".to_owned(), addr.to_string());
            let auth = |v: &str| vec![host.clone(), ("authorization".to_owned(), v.to_owned())];
            (
                raw(addr, "/", &auth(good), CHAIN_ID),
                raw(addr, "/", &auth(bad), CHAIN_ID),
                raw(addr, "/", std::slice::from_ref(&host), CHAIN_ID),
            )
        })
        .await;
        assert_eq!(ok.status, 200, "{target:?}: {}", ok.body);
        for a in [refused, missing] {
            assert_eq!(a.status, 401, "{target:?}");
            assert_eq!(a.message(), MSG_UNAUTHORIZED);
            assert_eq!(a.header("www-authenticate"), Some(challenge));
        }
    }
}

#[tokio::test]
async fn amb_is_the_default_and_refuses_batches() {
    let amb = FakeAmb::start().await;
    assert_eq!(amb.target(), FakeTarget::Amb);
    amb.set_target(FakeTarget::VpcLattice);
    amb.set_target(FakeTarget::Amb);
    let addr = amb.address();
    let (single, batch) = blocking(move || {
        let h = signed(addr, SERVICE, "/", &[], CHAIN_ID, &[]);
        let single = raw(addr, "/", &h, CHAIN_ID);
        let h = signed(addr, SERVICE, "/", &[], BATCH, &[]);
        (single, raw(addr, "/", &h, BATCH))
    })
    .await;
    assert_eq!(single.status, 200, "{}", single.body);
    assert_eq!(batch.status, 400);
    assert_eq!(batch.message(), MSG_BATCH);
}

/// What aws-sigv4 signs for Lattice (an `UNSIGNED-PAYLOAD` it also sends and signs in
/// `x-amz-content-sha256`) is what the Lattice fake takes; its default (a signed body) is
/// refused. The signer the crate under test builds on, held to the fake's rule.
#[tokio::test]
async fn lattice_takes_aws_sigv4_unsigned_payload_and_refuses_its_default() {
    use aws_sigv4::http_request::{
        sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
    };
    let amb = fake(FakeTarget::VpcLattice).await;
    let addr = amb.address();
    let aws_signed = move |unsigned: bool| {
        let identity =
            aws_credential_types::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test")
                .into();
        let mut settings = SigningSettings::default();
        if unsigned {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name(SERVICE_VPC_LATTICE)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let host = addr.to_string();
        let body = if unsigned {
            SignableBody::UnsignedPayload
        } else {
            SignableBody::Bytes(CHAIN_ID)
        };
        let headers = [("host", host.as_str())];
        let url = format!("http://{host}/");
        let signable = SignableRequest::new("POST", &url, headers.into_iter(), body).unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let (added, _) = instructions.into_parts();
        std::iter::once(("host".to_owned(), host.clone()))
            .chain(
                added
                    .into_iter()
                    .map(|h| (h.name().to_owned(), h.value().to_owned())),
            )
            .collect::<Vec<_>>()
    };
    let (unsigned, default) = blocking(move || {
        (
            raw(addr, "/", &aws_signed(true), CHAIN_ID),
            raw(addr, "/", &aws_signed(false), CHAIN_ID),
        )
    })
    .await;
    assert_eq!(unsigned.status, 200, "{}", unsigned.body);
    assert_eq!(default.status, 403);
    assert_eq!(default.message(), MSG_LATTICE_PAYLOAD_SIGNED);
}

/// API Gateway's stage rule holds on the WebSocket upgrade too.
#[tokio::test]
async fn api_gateway_refuses_an_upgrade_outside_the_stage() {
    let amb = fake(FakeTarget::api_gateway("prod")).await;
    let ws = FakeWs::start(&amb).await;
    let err = tokio_tungstenite::connect_async(ws.url())
        .await
        .unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(resp) = err else {
        panic!("{err}");
    };
    assert_eq!(resp.status(), 403);
    let body = String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).into_owned();
    assert!(body.contains(MSG_MISSING), "{body}");
}
