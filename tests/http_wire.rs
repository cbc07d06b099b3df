//! The HTTP wire: gzip for large answers (AMB refuses uncompressed answers over 5.9 MB), and
//! a cap on answer size that is enforced while reading.

mod support;

use alloy_amb::http::SPLIT_BAD_ANSWER;
use alloy_amb::{AmbError, AmbHttp, ProviderBuilderExt};
use alloy_amb_testing::chain::{self, CHAIN_ID};
use alloy_amb_testing::{FakeAmb, MSG_RESPONSE_TOO_LARGE, REGION, RESPONSE_LIMIT};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_client::RpcClient;
use alloy_rpc_types_eth::Filter;
use alloy_transport::{TransportError, TransportErrorKind};
use serde_json::Value;
use support::fake_credentials;

fn transport(fake: &FakeAmb) -> alloy_amb::AmbHttpBuilder {
    AmbHttp::builder(fake.url())
        .region(REGION)
        .credentials_provider(fake_credentials())
}

/// A fake whose chain has `blocks` blocks, so `eth_getLogs` over all of them is large (about
/// 600 bytes per log).
async fn fake_with_blocks(blocks: u64) -> FakeAmb {
    let fake = FakeAmb::start().await;
    while fake.head() < blocks {
        fake.mine();
    }
    fake
}

fn all_logs(head: u64) -> Filter {
    Filter::new().from_block(0).to_block(head).address(
        chain::LOG_ADDRESS
            .parse::<alloy_primitives::Address>()
            .unwrap(),
    )
}

#[tokio::test]
async fn large_answers_come_gzipped_and_are_decompressed() {
    let fake = fake_with_blocks(15_000).await;
    let provider =
        ProviderBuilder::new().on_transport(transport(&fake).gzip(true).build().unwrap());
    assert_eq!(provider.get_chain_id().await.unwrap(), CHAIN_ID);
    let logs = provider.get_logs(&all_logs(fake.head())).await.unwrap();
    assert_eq!(logs.len(), 15_001);
    assert_eq!(logs[14_000].block_number, Some(14_000));
    // Uncompressed, the answer is over AMB's limit: only gzip got it through.
    let uncompressed = serde_json::to_vec(&logs).unwrap().len();
    assert!(uncompressed > RESPONSE_LIMIT, "{uncompressed}");
    for r in fake.accepted() {
        assert!(r.header("accept-encoding").unwrap().contains("gzip"));
        assert_eq!(r.header("accept"), Some("application/gzip"));
        // Neither is signed: a proxy adjusting them does not break the signature.
        assert!(!r.signed_headers.iter().any(|h| h.starts_with("accept")));
    }
}

#[tokio::test]
async fn without_gzip_answers_over_5_9_mb_are_refused() {
    let fake = fake_with_blocks(15_000).await;
    let provider =
        ProviderBuilder::new().on_transport(transport(&fake).gzip(false).build().unwrap());
    // Small answers pass uncompressed.
    assert_eq!(provider.get_chain_id().await.unwrap(), CHAIN_ID);
    let err = match provider.get_logs(&all_logs(fake.head())).await {
        Ok(logs) => panic!("{} logs got through", logs.len()),
        Err(err) => err,
    };
    match &err {
        TransportError::Transport(TransportErrorKind::HttpError(e)) => {
            assert_eq!(e.status, 502);
            assert!(e.body.contains(MSG_RESPONSE_TOO_LARGE), "{}", e.body);
        }
        other => panic!("{other:?}"),
    }
    let r = fake.accepted().pop().unwrap();
    assert!(r.header("accept-encoding").is_none());
    assert!(r.header("accept").is_none_or(|a| a != "application/gzip"));
}

fn too_large(err: &TransportError) -> (&str, usize) {
    match AmbError::from_transport_error(err) {
        Some(AmbError::ResponseTooLarge { method, limit, .. }) => (method, *limit),
        _ => panic!("not ResponseTooLarge: {err:?}"),
    }
}

/// Over the limit (after decompression), with or without gzip: a short typed error naming the
/// method and the limit.
#[tokio::test]
async fn answers_over_the_limit_are_a_short_typed_error() {
    let fake = fake_with_blocks(2_000).await;
    for gzip in [true, false] {
        // 512 KiB: below the answer (about 1 MB), above it gzipped (about 40 KB).
        let t = transport(&fake).gzip(gzip).max_response_size(512 * 1024);
        let provider = ProviderBuilder::new().on_transport(t.build().unwrap());
        // Under the limit: fine.
        assert_eq!(provider.get_chain_id().await.unwrap(), CHAIN_ID);
        let err = match provider.get_logs(&all_logs(fake.head())).await {
            Ok(logs) => panic!("{} logs got through", logs.len()),
            Err(err) => err,
        };
        assert_eq!(too_large(&err), ("eth_getLogs", 524_288), "gzip {gzip}");
        let text = err.to_string();
        assert!(text.len() < 300, "{text}");
        assert!(text.contains("max_response_size"), "{text}");
    }
}

/// In a split batch, an answer over the limit is that call's error only.
#[tokio::test]
async fn an_answer_over_the_limit_in_a_batch_is_its_calls_error() {
    let fake = fake_with_blocks(2_000).await;
    let t = transport(&fake)
        .max_response_size(64 * 1024)
        .build()
        .unwrap();
    let client = RpcClient::new(t, false);
    let mut batch = client.new_batch();
    let logs = batch
        .add_call::<_, Value>(
            "eth_getLogs",
            &(serde_json::json!({"fromBlock": "0x0", "toBlock": "latest"}),),
        )
        .unwrap();
    let id = batch
        .add_call::<_, alloy_primitives::U64>("eth_chainId", &())
        .unwrap();
    batch.send().await.unwrap();
    let err = match logs.await {
        Ok(logs) => panic!("logs got through: {} bytes", logs.to_string().len()),
        Err(err) => err,
    };
    let payload = err.as_error_resp().expect("an error answer");
    assert_eq!(payload.code, SPLIT_BAD_ANSWER);
    assert!(
        payload.message.contains("eth_getLogs"),
        "{}",
        payload.message
    );
    assert_eq!(id.await.unwrap().to::<u64>(), CHAIN_ID);
}

/// A 100 MB answer (with a `Content-Length`, and chunked without one) is never read whole:
/// the transport stops at the limit and the server sees the connection go.
#[tokio::test]
async fn a_100_mb_answer_is_never_read_whole() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const TOTAL: usize = 100 * 1024 * 1024;
    const CHUNK: usize = 1024 * 1024;
    for (status, chunked) in [(200, false), (200, true), (502, true)] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            let _ = sock.read(&mut buf).await.unwrap();
            let head = if chunked {
                format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
            } else {
                format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {TOTAL}\r\n\r\n")
            };
            sock.write_all(head.as_bytes()).await.unwrap();
            let data = vec![b' '; CHUNK];
            let mut written = 0;
            while written < TOTAL {
                let sent = if chunked {
                    let size = format!("{CHUNK:x}\r\n");
                    sock.write_all(size.as_bytes()).await.is_ok()
                        && sock.write_all(&data).await.is_ok()
                        && sock.write_all(b"\r\n").await.is_ok()
                } else {
                    sock.write_all(&data).await.is_ok()
                };
                if !sent {
                    break;
                }
                written += CHUNK;
            }
            written
        });
        let t = AmbHttp::builder(format!("http://{addr}/?billingtoken=T"))
            .max_response_size(CHUNK)
            .build()
            .unwrap();
        let provider = ProviderBuilder::new().on_transport(t);
        let err = provider
            .raw_request::<_, Value>("debug_traceBlockByNumber".into(), ("latest",))
            .await
            .unwrap_err();
        if status == 200 {
            assert_eq!(too_large(&err), ("debug_traceBlockByNumber", CHUNK));
        } else {
            // An error answer is quoted, from its first 64 KiB at most.
            let http = err
                .as_transport_err()
                .and_then(|k| k.as_http_error())
                .unwrap();
            assert_eq!(http.status, 502);
            assert!(http.body.len() <= 64 * 1024, "{}", http.body.len());
        }
        drop(provider);
        let written = server.await.unwrap();
        assert!(
            written < TOTAL,
            "{status}, chunked {chunked}: the whole answer was read"
        );
    }
}

/// What the README says about retries (alloy 2.5's default `RetryBackoffLayer` policy): 429,
/// 503 and answers with `Retry-After` are retried; 502, 504 and a 500 without `Retry-After`
/// fail after one attempt; the README's own policy retries 502 and 504 too.
#[tokio::test]
async fn retries_are_what_the_readme_says() {
    use alloy_rpc_client::ClientBuilder;
    use alloy_transport::layers::{RateLimitRetryPolicy, RetryBackoffLayer};

    let cases: [(u16, Option<u64>, usize); 6] = [
        (429, None, 2),
        (503, None, 2),
        (500, Some(0), 2),
        (502, None, 1),
        (504, None, 1),
        (500, None, 1),
    ];
    for (status, retry_after, attempts) in cases {
        let fake = FakeAmb::start().await;
        fake.script(vec![(status, "{\"message\": \"x\"}", retry_after)]);
        let client = ClientBuilder::default()
            .layer(RetryBackoffLayer::new(3, 1, 10_000))
            .transport(transport(&fake).build().unwrap(), false);
        let answer = ProviderBuilder::new()
            .connect_client(client)
            .get_chain_id()
            .await;
        assert_eq!(answer.is_ok(), attempts == 2, "{status}: {answer:?}");
        assert_eq!(fake.received().len(), attempts, "{status} {retry_after:?}");
    }

    // The README's policy for reads.
    for status in [502, 504] {
        let fake = FakeAmb::start().await;
        fake.script(vec![(status, "bad gateway", None)]);
        let policy = RateLimitRetryPolicy::default().or(|err: &TransportError| {
            err.as_transport_err()
                .and_then(|kind| kind.as_http_error())
                .is_some_and(|http| matches!(http.status, 500 | 502 | 504))
        });
        let client = ClientBuilder::default()
            .layer(RetryBackoffLayer::new_with_policy(3, 1, 10_000, policy))
            .transport(transport(&fake).build().unwrap(), false);
        let provider = ProviderBuilder::new().connect_client(client);
        assert_eq!(provider.get_chain_id().await.unwrap(), CHAIN_ID);
        assert_eq!(fake.received().len(), 2);
    }
}

/// A large answer that is JSON but not JSON-RPC is quoted from its start only.
#[tokio::test]
async fn a_large_answer_that_is_not_json_rpc_is_quoted_from_its_start() {
    let fake = FakeAmb::start().await;
    let body = format!("{{\"data\": \"{}\"}}", "a".repeat(10_000_000));
    fake.script(vec![(200, body.as_str(), None)]);
    let provider = ProviderBuilder::new().on_transport(transport(&fake).build().unwrap());
    let err = provider.get_chain_id().await.unwrap_err();
    assert!(matches!(err, TransportError::DeserError { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.len() < 70_000, "{} bytes", text.len());
}
