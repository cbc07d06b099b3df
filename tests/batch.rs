//! Split batches: every call keeps its own outcome, nothing answered is sent again, and a
//! split has a bounded number of calls in flight.

mod support;

use std::time::Duration;

use alloy_amb::http::{SPLIT_NOT_SENT, SPLIT_OUTCOME_UNKNOWN};
use alloy_amb::AmbHttp;
use alloy_amb_testing::chain::{self, GENESIS_HEAD};
use alloy_amb_testing::InFlightFront;
use alloy_amb_testing::{CallHook, FakeAmb, REGION};
use alloy_primitives::U64;
use alloy_rpc_client::{ClientBuilder, RpcClient};
use alloy_transport::layers::RetryBackoffLayer;
use alloy_transport::{TransportError, TransportErrorKind};
use serde_json::Value;
use support::fake_credentials;

fn transport(url: &str) -> alloy_amb::AmbHttpBuilder {
    AmbHttp::builder(url)
        .region(REGION)
        .credentials_provider(fake_credentials())
}

/// The block number each accepted `eth_getBlockByNumber` asked for, with repeats.
fn blocks_asked(fake: &FakeAmb) -> Vec<u64> {
    let mut asked: Vec<u64> = fake
        .accepted()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .filter(|b| b["method"] == "eth_getBlockByNumber")
        .map(|b| {
            u64::from_str_radix(
                b["params"][0].as_str().unwrap().trim_start_matches("0x"),
                16,
            )
            .unwrap()
        })
        .collect();
    asked.sort_unstable();
    asked
}

/// A batch of `eth_getBlockByNumber` for blocks `0..n`: each answer must be its own block.
async fn blocks_batch(
    client: &RpcClient,
    n: u64,
) -> (
    Result<(), TransportError>,
    Vec<Result<Value, TransportError>>,
) {
    let mut batch = client.new_batch();
    let waiters: Vec<_> = (0..n)
        .map(|i| {
            batch
                .add_call::<_, Value>("eth_getBlockByNumber", &(chain::hex_u64(i), false))
                .unwrap()
        })
        .collect();
    let sent = batch.send().await;
    let mut answers = Vec::new();
    for w in waiters {
        answers.push(w.await);
    }
    (sent, answers)
}

fn error_code(err: &TransportError) -> Option<i64> {
    err.as_error_resp().map(|e| e.code)
}

/// One call throttled (429, not executed): it alone is sent again, after `Retry-After`; the
/// batch answers every call with its own answer, and no answered call is sent twice, also
/// under alloy's `RetryBackoffLayer` (which would resend the whole batch on a batch error).
#[tokio::test]
async fn a_throttled_call_is_retried_alone() {
    let fake = FakeAmb::start().await;
    fake.on_call(6, CallHook::throttle(Some(1)));
    let client = ClientBuilder::default()
        .layer(RetryBackoffLayer::new(3, 10, 10_000))
        .transport(transport(&fake.url()).build().unwrap(), false);
    let (sent, answers) = blocks_batch(&client, 10).await;
    sent.unwrap();
    for (i, answer) in answers.into_iter().enumerate() {
        let block = answer.unwrap();
        assert_eq!(block["hash"], chain::block_hash(i as u64), "call {i}");
    }
    // Ten calls, one of them twice (throttled, then answered): 11 accepted requests.
    assert_eq!(fake.calls(), 11);
    let asked = blocks_asked(&fake);
    assert_eq!(asked.len(), 11);
    let mut distinct = asked.clone();
    distinct.dedup();
    assert_eq!(distinct, (0..10).collect::<Vec<_>>());
}

/// A call throttled on every attempt gets its own "not executed" error; the others their
/// answers.
#[tokio::test]
async fn a_call_throttled_past_the_bound_gets_its_own_error() {
    let fake = FakeAmb::start().await;
    for n in 3..6 {
        fake.on_call(n, CallHook::throttle(None));
    }
    let t = transport(&fake.url())
        .batch_concurrency(1)
        .batch_retries(2, Duration::from_secs(5));
    let client = RpcClient::new(t.build().unwrap(), false);
    let (sent, answers) = blocks_batch(&client, 5).await;
    sent.unwrap();
    for (i, answer) in answers.iter().enumerate() {
        if i == 3 {
            let err = answer.as_ref().unwrap_err();
            assert_eq!(error_code(err), Some(SPLIT_NOT_SENT), "{err}");
            assert!(err.to_string().contains("429"), "{err}");
        } else {
            assert_eq!(
                answer.as_ref().unwrap()["hash"],
                chain::block_hash(i as u64)
            );
        }
    }
    // Call 3 three times (twice retried), the others once.
    assert_eq!(fake.calls(), 7);
}

/// When no call can have been executed (all throttled), the batch fails as a whole with the
/// 429, which alloy's retry layer may resend safely.
#[tokio::test]
async fn a_batch_with_nothing_executed_fails_whole_and_retryable() {
    let fake = FakeAmb::start().await;
    for n in 0..3 {
        fake.on_call(n, CallHook::throttle(Some(3)));
    }
    let t = transport(&fake.url()).batch_retries(0, Duration::ZERO);
    let client = RpcClient::new(t.build().unwrap(), false);
    let (sent, answers) = blocks_batch(&client, 3).await;
    let err = sent.unwrap_err();
    match &err {
        TransportError::Transport(
            kind @ TransportErrorKind::HttpErrorWithRetryAfter { error, retry_after },
        ) => {
            assert_eq!(error.status, 429);
            assert_eq!(*retry_after, Duration::from_secs(3));
            assert!(kind.is_retry_err());
        }
        other => panic!("{other:?}"),
    }
    assert!(answers.iter().all(Result::is_err));
    assert_eq!(fake.calls(), 3);
}

/// A 502 after the node executed a call, and a call whose answer never comes (timeout): each
/// gets its own "outcome unknown" error, is not sent again, and every other call gets its
/// own answer.
#[tokio::test]
async fn unknown_outcomes_are_their_calls_errors_only() {
    let fake = FakeAmb::start().await;
    fake.on_call(
        2,
        CallHook::ExecuteThenFail {
            status: 502,
            body: r#"{"message": "Internal server error"}"#.into(),
        },
    );
    fake.on_call(7, CallHook::Delay(Duration::from_secs(30)));
    let t = transport(&fake.url()).timeout(Duration::from_millis(500));
    let client = RpcClient::new(t.build().unwrap(), false);
    let (sent, answers) = blocks_batch(&client, 10).await;
    sent.unwrap();
    let mut unknown = 0;
    for (i, answer) in answers.iter().enumerate() {
        match answer {
            Ok(block) => assert_eq!(block["hash"], chain::block_hash(i as u64), "call {i}"),
            Err(err) => {
                assert_eq!(error_code(err), Some(SPLIT_OUTCOME_UNKNOWN), "{err}");
                unknown += 1;
            }
        }
    }
    assert_eq!(unknown, 2);
    assert_eq!(fake.calls(), 10);
    assert_eq!(blocks_asked(&fake), (0..10).collect::<Vec<_>>());
}

/// Under alloy's retry layer, a batch with an unknown outcome is not sent again. (alloy's
/// `RetryBackoffService` turns a batch whose first error answer is not retryable into that
/// error for the whole batch, so the other calls' answers are lost there: alloy's behaviour
/// for any batch with an error answer.)
#[tokio::test]
async fn an_unknown_outcome_is_not_resent_under_the_retry_layer() {
    let fake = FakeAmb::start().await;
    fake.on_call(
        4,
        CallHook::ExecuteThenFail {
            status: 503,
            body: "Service Unavailable".into(),
        },
    );
    let client = ClientBuilder::default()
        .layer(RetryBackoffLayer::new(5, 10, 10_000))
        .transport(transport(&fake.url()).build().unwrap(), false);
    let (sent, _) = blocks_batch(&client, 10).await;
    assert_eq!(error_code(&sent.unwrap_err()), Some(SPLIT_OUTCOME_UNKNOWN));
    assert_eq!(fake.calls(), 10);
    assert_eq!(blocks_asked(&fake), (0..10).collect::<Vec<_>>());
}

/// A 1,000-call batch has at most the configured number of calls in flight, counted at the
/// gateway (which holds requests until that many wait, so the bound is also reached).
#[tokio::test]
async fn a_split_batch_has_a_bounded_number_in_flight() {
    for limit in [8, 3] {
        let fake = FakeAmb::start().await;
        let front = InFlightFront::start(&fake).await;
        front.hold_until(limit, 1000);
        let mut t = transport(&front.url());
        if limit != 8 {
            t = t.batch_concurrency(limit);
        }
        let client = RpcClient::new(t.build().unwrap(), false);
        let mut batch = client.new_batch();
        let waiters: Vec<_> = (0..1000)
            .map(|_| batch.add_call::<_, U64>("eth_blockNumber", &()).unwrap())
            .collect();
        batch.send().await.unwrap();
        for w in waiters {
            assert_eq!(w.await.unwrap().to::<u64>(), GENESIS_HEAD);
        }
        assert_eq!(front.requests(), 1000);
        assert_eq!(front.max_in_flight(), limit, "limit {limit}");
    }
}

/// A TLS failure after the request was written (the server's side sends a corrupt record
/// instead of an answer) leaves the call's outcome unknown: never "not sent", since the call
/// may have run (e.g. `eth_sendRawTransaction`).
#[tokio::test]
async fn a_tls_failure_after_the_request_is_an_unknown_outcome() {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::Notify;

    support::bounded::bounded(async {
        let received = Arc::new(Notify::new());
        // The backend behind the TLS front: reads a whole request, says so, never answers.
        let backend = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let backend_addr = backend.local_addr().unwrap();
        tokio::spawn({
            let received = received.clone();
            async move {
                while let Ok((mut conn, _)) = backend.accept().await {
                    let received = received.clone();
                    tokio::spawn(async move {
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 4096];
                        loop {
                            let n = conn.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                return;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                            let text = String::from_utf8_lossy(&buf).to_lowercase();
                            let Some(end) = text.find("\r\n\r\n") else {
                                continue;
                            };
                            let length = text
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                            if buf.len() >= end + 4 + length {
                                break;
                            }
                        }
                        received.notify_one();
                        // Hold the connection open (a close would end TLS cleanly).
                        while conn.read(&mut chunk).await.unwrap_or(0) > 0 {}
                    });
                }
            }
        });
        let ca = alloy_amb_testing::TestCa::new();
        let front = alloy_amb_testing::TlsFront::start(&ca, backend_addr).await;
        // Between the client and the front: passes TLS records through, and once the backend
        // has the request, sends the client a corrupt record (a TLS failure, not an EOF).
        let relay = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay_port = relay.local_addr().unwrap().port();
        let front_port = front.port();
        tokio::spawn({
            let received = received.clone();
            async move {
                while let Ok((client, _)) = relay.accept().await {
                    let received = received.clone();
                    tokio::spawn(async move {
                        let upstream = TcpStream::connect(("127.0.0.1", front_port)).await.unwrap();
                        let (mut client_read, mut client_write) = client.into_split();
                        let (mut up_read, mut up_write) = upstream.into_split();
                        let _up = tokio::spawn(async move {
                            let _ = tokio::io::copy(&mut client_read, &mut up_write).await;
                        });
                        loop {
                            let mut header = [0u8; 5];
                            tokio::select! {
                                biased;
                                () = received.notified() => break,
                                read = up_read.read_exact(&mut header) => {
                                    if read.is_err() { return; }
                                }
                            }
                            let len = u16::from_be_bytes([header[3], header[4]]) as usize;
                            let mut body = vec![0u8; len];
                            if up_read.read_exact(&mut body).await.is_err() {
                                return;
                            }
                            let _ = client_write.write_all(&header).await;
                            let _ = client_write.write_all(&body).await;
                        }
                        let mut corrupt = vec![0x17, 0x03, 0x03, 0x00, 0x20];
                        corrupt.extend_from_slice(&[0x42; 0x20]);
                        let _ = client_write.write_all(&corrupt).await;
                        // Keep the connection open: the client ends it.
                        let mut rest = [0u8; 1024];
                        while up_read.read(&mut rest).await.unwrap_or(0) > 0 {}
                    });
                }
            }
        });
        let mut roots = alloy_amb::rustls::RootCertStore::empty();
        roots.add(ca.ca_der()).unwrap();
        let tls = alloy_amb::rustls::ClientConfig::builder_with_provider(Arc::new(
            alloy_amb::rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let t = transport(&format!("https://localhost:{relay_port}/"))
            .tls_config(tls)
            .split_batches(true)
            .batch_concurrency(1)
            .timeout(Duration::from_secs(20));
        let client = RpcClient::new(t.build().unwrap(), false);
        let (sent, answers) = blocks_batch(&client, 2).await;
        sent.unwrap();
        for answer in &answers {
            let err = answer.as_ref().unwrap_err();
            assert_eq!(error_code(err), Some(SPLIT_OUTCOME_UNKNOWN), "{err}");
            assert!(err.to_string().contains("TLS"), "{err}");
        }
    })
    .await;
}

/// A 401 with SigV4 comes from behind the gateway (AMB and API Gateway refuse with 403): the
/// call may have run, so its outcome is unknown, never "not sent".
#[tokio::test]
async fn a_401_after_sigv4_is_an_unknown_outcome() {
    let fake = FakeAmb::start().await;
    fake.on_call(
        1,
        CallHook::ExecuteThenFail {
            status: 401,
            body: r#"{"message": "Unauthorized"}"#.into(),
        },
    );
    let client = RpcClient::new(transport(&fake.url()).build().unwrap(), false);
    let (sent, answers) = blocks_batch(&client, 3).await;
    sent.unwrap();
    for (i, answer) in answers.iter().enumerate() {
        if i == 1 {
            let err = answer.as_ref().unwrap_err();
            assert_eq!(error_code(err), Some(SPLIT_OUTCOME_UNKNOWN), "{err}");
        } else {
            assert_eq!(
                answer.as_ref().unwrap()["hash"],
                chain::block_hash(i as u64)
            );
        }
    }
    assert_eq!(fake.calls(), 3);
}

/// In a provider mode (bearer token) a 401 is the provider refusing the credentials: not
/// executed, so a split batch refused throughout fails whole with the typed refusal.
#[tokio::test]
async fn a_401_in_a_provider_mode_is_a_refusal() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_string("invalid token"))
        .mount(&server)
        .await;
    let t = AmbHttp::builder(server.uri())
        .bearer_token("t0ken")
        .split_batches(true)
        .batch_concurrency(1);
    let client = RpcClient::new(t.build().unwrap(), false);
    let (sent, answers) = blocks_batch(&client, 2).await;
    let err = sent.unwrap_err();
    assert!(
        matches!(
            alloy_amb::AmbError::from_transport_error(&err),
            Some(alloy_amb::AmbError::AuthRejected {
                status: 401,
                kind: alloy_amb::AuthFailure::ProviderRefused,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(answers.iter().all(Result::is_err));
}
