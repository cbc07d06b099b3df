//! AmbHttp against the fake AMB gateway (signature verification independent of the crate).

mod support;

use std::time::Duration;

use alloy_amb::{AmbError, AmbHttp, AuthFailure, ProviderBuilderExt};
use alloy_amb_testing::chain::{self, CHAIN_ID, GENESIS_HEAD};
use alloy_amb_testing::{self as fake_amb, FakeAmb, ACCESS_KEY, REGION};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_client::{ClientBuilder, RpcClient};
use alloy_transport::layers::RetryBackoffLayer;
use alloy_transport::{TransportError, TransportErrorKind};
use aws_credential_types::Credentials;
use support::fake_credentials;

fn transport(fake: &FakeAmb) -> AmbHttp {
    AmbHttp::builder(fake.url())
        .region(REGION)
        .credentials_provider(fake_credentials())
        .build()
        .unwrap()
}

/// STS-style temporary credentials (with a session token).
fn temp_credentials() -> Credentials {
    Credentials::new(
        "ASIATEMPKEY000000001",
        "tempsecret",
        Some("SESSIONTOKENVALUE".into()),
        None,
        "test",
    )
}

fn amb_err(err: &TransportError) -> &AmbError {
    AmbError::from_transport_error(err).unwrap_or_else(|| panic!("not an AmbError: {err:?}"))
}

async fn block_number_err(t: AmbHttp) -> TransportError {
    let provider = ProviderBuilder::new().on_transport(t);
    provider.get_block_number().await.unwrap_err()
}

#[tokio::test]
async fn one_liner_and_plain_alloy_form_both_work() {
    let fake = FakeAmb::start().await;
    let provider = ProviderBuilder::new().on_transport(transport(&fake));
    assert_eq!(provider.get_chain_id().await.unwrap(), CHAIN_ID);
    assert_eq!(provider.get_block_number().await.unwrap(), GENESIS_HEAD);
    fake.mine();
    assert_eq!(provider.get_block_number().await.unwrap(), GENESIS_HEAD + 1);

    let provider = ProviderBuilder::new().connect_client(RpcClient::new(transport(&fake), false));
    let block = provider
        .get_block_by_number(alloy_rpc_types_eth::BlockNumberOrTag::Latest)
        .await
        .unwrap()
        .expect("latest block");
    assert_eq!(block.header.number, GENESIS_HEAD + 1);
    assert_eq!(
        block.header.hash.to_string(),
        chain::block_hash(GENESIS_HEAD + 1)
    );

    let logs = provider
        .get_logs(
            &alloy_rpc_types_eth::Filter::new()
                .from_block(GENESIS_HEAD - 2)
                .to_block(GENESIS_HEAD)
                .address(
                    chain::LOG_ADDRESS
                        .parse::<alloy_primitives::Address>()
                        .unwrap(),
                ),
        )
        .await
        .unwrap();
    assert_eq!(logs.len(), 3);

    let received = fake.received();
    assert_eq!(received.len(), 5);
    assert!(
        received.iter().all(|r| r.rejected.is_none()),
        "{received:#?}"
    );
}

#[tokio::test]
async fn signs_host_date_content_type_over_the_exact_body() {
    let fake = FakeAmb::start().await;
    let provider = ProviderBuilder::new().on_transport(transport(&fake));
    provider.get_chain_id().await.unwrap();
    let r = &fake.received()[0];
    assert_eq!(r.rejected, None);
    assert_eq!(r.method, "POST");
    assert_eq!(r.signed_headers, ["content-type", "host", "x-amz-date"]);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("x-amz-security-token").is_none());
    let auth = r.header("authorization").unwrap();
    assert!(auth.starts_with(&format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{}/{REGION}/managedblockchain/aws4_request",
        &r.header("x-amz-date").unwrap()[..8]
    )));
    // The verifier hashed the received body; accepted means the signed bytes are the sent bytes.
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["method"], "eth_chainId");
}

#[tokio::test]
async fn session_token_is_sent_and_signed() {
    let fake = FakeAmb::start().await;
    fake.add_key(
        "ASIATEMPKEY000000001",
        "tempsecret",
        Some("SESSIONTOKENVALUE"),
    );
    let t = AmbHttp::builder(fake.url())
        .region(REGION)
        .credentials_provider(temp_credentials())
        .build()
        .unwrap();
    let provider = ProviderBuilder::new().on_transport(t);
    assert_eq!(provider.get_chain_id().await.unwrap(), CHAIN_ID);
    let r = &fake.received()[0];
    assert_eq!(r.rejected, None);
    assert_eq!(
        r.signed_headers,
        ["content-type", "host", "x-amz-date", "x-amz-security-token"]
    );
    assert_eq!(r.header("x-amz-security-token"), Some("SESSIONTOKENVALUE"));
}

#[tokio::test]
async fn configurable_service_name_for_api_gateway() {
    let fake = FakeAmb::start().await;
    fake.set_service("execute-api");
    let t = AmbHttp::builder(fake.url())
        .region(REGION)
        .service("execute-api")
        .credentials_provider(fake_credentials())
        .build()
        .unwrap();
    let provider = ProviderBuilder::new().on_transport(t);
    assert_eq!(provider.get_chain_id().await.unwrap(), CHAIN_ID);
    // And the default service is refused by an execute-api gateway.
    let err = block_number_err(transport(&fake)).await;
    assert!(matches!(
        amb_err(&err),
        AmbError::AuthRejected { kind: AuthFailure::WrongService, message, .. } if message.contains("correct service")
    ));
}

#[tokio::test]
async fn batches_are_split_into_signed_single_calls_in_order() {
    let fake = FakeAmb::start().await;
    let client = RpcClient::new(transport(&fake), false);
    let mut batch = client.new_batch();
    let chain_id = batch
        .add_call::<_, alloy_primitives::U64>("eth_chainId", &())
        .unwrap();
    let number = batch
        .add_call::<_, alloy_primitives::U64>("eth_blockNumber", &())
        .unwrap();
    let version = batch
        .add_call::<_, String>("web3_clientVersion", &())
        .unwrap();
    batch.send().await.unwrap();
    assert_eq!(chain_id.await.unwrap().to::<u64>(), CHAIN_ID);
    assert_eq!(number.await.unwrap().to::<u64>(), GENESIS_HEAD);
    assert_eq!(version.await.unwrap(), "fake-amb/1.0");
    let received = fake.received();
    assert_eq!(received.len(), 3);
    for r in &received {
        assert_eq!(r.rejected, None);
        assert!(serde_json::from_slice::<serde_json::Value>(&r.body)
            .unwrap()
            .is_object());
    }
}

#[tokio::test]
async fn batches_go_whole_when_splitting_is_off() {
    let fake = FakeAmb::start().await;
    let t = AmbHttp::builder(fake.url())
        .region(REGION)
        .credentials_provider(fake_credentials())
        .split_batches(false)
        .build()
        .unwrap();
    let client = RpcClient::new(t, false);
    let mut batch = client.new_batch();
    let a = batch
        .add_call::<_, alloy_primitives::U64>("eth_chainId", &())
        .unwrap();
    let _b = batch
        .add_call::<_, alloy_primitives::U64>("eth_blockNumber", &())
        .unwrap();
    let sent = batch.send().await;
    // The fake, like AMB, refuses the array.
    assert!(sent.is_err() || a.await.is_err());
    let received = fake.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rejected.as_deref(), Some(fake_amb::MSG_BATCH));
}

/// A whole (unsplit) batch carries its calls' extra headers (alloy's per-request `HeaderMap`
/// extension) and every call, signed: the batch is serialized once, never copied to read them.
#[tokio::test]
async fn a_whole_batch_carries_its_calls_extra_headers() {
    use alloy_json_rpc::{Id, Request, RequestPacket};
    use tower::Service;

    let fake = FakeAmb::start().await;
    let mut t = AmbHttp::builder(fake.url())
        .region(REGION)
        .credentials_provider(temp_credentials())
        .split_batches(false)
        .build()
        .unwrap();
    fake.add_key(
        "ASIATEMPKEY000000001",
        "tempsecret",
        Some("SESSIONTOKENVALUE"),
    );
    let call = |method: &'static str, id: u64, header: Option<(&'static str, &'static str)>| {
        let mut req = Request::new(method, Id::Number(id), ())
            .serialize()
            .unwrap();
        if let Some((name, value)) = header {
            req.headers_mut()
                .insert(name, http::HeaderValue::from_static(value));
        }
        req
    };
    let packet = RequestPacket::Batch(vec![
        call("eth_chainId", 1, Some(("x-first", "one"))),
        call("eth_blockNumber", 2, Some(("x-second", "two"))),
    ]);
    // The fake, like AMB, refuses the array; what it received is what counts here.
    let _ = t.call(packet).await;
    let received = fake.received();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(r.rejected.as_deref(), Some(fake_amb::MSG_BATCH));
    assert_eq!(r.header("x-first"), Some("one"));
    assert_eq!(r.header("x-second"), Some("two"));
    assert_eq!(r.header("x-amz-security-token"), Some("SESSIONTOKENVALUE"));
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let methods: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["eth_chainId", "eth_blockNumber"]);
}

/// A single call's extra headers (alloy's per-request `HeaderMap` extension) are sent with it.
#[tokio::test]
async fn a_single_call_carries_its_extra_headers() {
    use alloy_json_rpc::{Id, Request, RequestPacket, ResponsePacket};
    use tower::Service;

    let fake = FakeAmb::start().await;
    let mut t = transport(&fake);
    let mut req = Request::new("eth_chainId", Id::Number(7), ())
        .serialize()
        .unwrap();
    req.headers_mut()
        .insert("x-extra", http::HeaderValue::from_static("yes"));
    let answer = t.call(RequestPacket::Single(req)).await.unwrap();
    assert!(matches!(answer, ResponsePacket::Single(r) if r.payload.is_success()));
    let received = fake.accepted();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header("x-extra"), Some("yes"));
}

#[tokio::test]
async fn wrong_secret_is_an_invalid_signature() {
    let fake = FakeAmb::start().await;
    let t = AmbHttp::builder(fake.url())
        .region(REGION)
        .credentials_provider(Credentials::new(ACCESS_KEY, "wrong", None, None, "test"))
        .build()
        .unwrap();
    let err = block_number_err(t).await;
    let amb = amb_err(&err);
    assert_eq!(amb.auth_failure(), Some(AuthFailure::InvalidSignature));
    let text = amb.to_string();
    assert!(
        text.contains("403") && text.contains("secret access key"),
        "{text}"
    );
    assert!(text.contains(fake_amb::MSG_BAD_SIGNATURE), "{text}");
}

#[tokio::test]
async fn unknown_key_expired_token_and_skew_are_told_apart_and_retried_once() {
    let fake = FakeAmb::start().await;
    let with = |akid: &str, token: Option<&str>| {
        AmbHttp::builder(fake.url())
            .region(REGION)
            .credentials_provider(Credentials::new(
                akid,
                "s3cr3t",
                token.map(Into::into),
                None,
                "test",
            ))
            .build()
            .unwrap()
    };
    // Unknown key: credentials are dropped and fetched again once, then the error surfaces.
    let t = with("AKIDUNKNOWN000000000", None);
    let creds = t.credentials().unwrap().clone();
    let err = block_number_err(t).await;
    assert_eq!(
        amb_err(&err).auth_failure(),
        Some(AuthFailure::UnknownAccessKey)
    );
    assert_eq!(
        fake.received().len(),
        2,
        "one forced refresh, one retry, no loop"
    );
    assert_eq!(creds.fetch_count(), 2);

    fake.add_key("ASIAEXPIRED000000001", "s3cr3t", Some("tok"));
    fake.expire_key("ASIAEXPIRED000000001");
    let err = block_number_err(with("ASIAEXPIRED000000001", Some("tok"))).await;
    assert_eq!(
        amb_err(&err).auth_failure(),
        Some(AuthFailure::ExpiredToken)
    );
    assert_eq!(fake.received().len(), 4);

    // A gateway that keeps saying "signature expired": one re-signed retry, then the error.
    let expired = r#"{"message":"Signature expired: 20240101T000000Z is now earlier than 20240101T001000Z (20240101T001500Z - 5 min.)"}"#;
    fake.script(vec![(403, expired, None), (403, expired, None)]);
    let err = block_number_err(transport(&fake)).await;
    let amb = amb_err(&err);
    assert_eq!(amb.auth_failure(), Some(AuthFailure::SignatureExpired));
    assert!(amb.to_string().contains("clock"), "{amb}");
    assert_eq!(fake.received().len(), 6);
}

#[tokio::test]
async fn a_gateway_clock_15_minutes_off_is_learned_and_the_retry_succeeds() {
    for offset in [15 * 60, -15 * 60] {
        let fake = FakeAmb::start().await;
        fake.set_clock_offset(offset);
        let provider = ProviderBuilder::new().on_transport(transport(&fake));
        assert_eq!(provider.get_block_number().await.unwrap(), GENESIS_HEAD);
        let received = fake.received();
        assert_eq!(received.len(), 2);
        let first = received[0].rejected.as_deref().unwrap();
        assert!(first.starts_with("Signature "), "{first}");
        assert_eq!(received[1].rejected, None);
        // The skew is remembered: the next call is signed right the first time.
        assert_eq!(provider.get_chain_id().await.unwrap(), CHAIN_ID);
        assert_eq!(fake.received().len(), 3);
        assert_eq!(fake.received()[2].rejected, None);
    }
}

#[tokio::test]
async fn wrong_region_is_refused_and_quoted() {
    let fake = FakeAmb::start().await;
    let t = AmbHttp::builder(fake.url())
        .region("eu-west-1")
        .credentials_provider(fake_credentials())
        .build()
        .unwrap();
    let err = block_number_err(t).await;
    match amb_err(&err) {
        AmbError::AuthRejected {
            kind: AuthFailure::WrongRegion,
            message,
            status: 403,
            ..
        } => assert!(message.contains("eu-west-1"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn missing_authentication_is_classified() {
    let fake = FakeAmb::start().await;
    // An unsigned request (plain alloy HTTP) is refused by the fake...
    let plain = ProviderBuilder::new().connect_client(RpcClient::new(
        alloy_transport_http::Http::new(fake.url().parse().unwrap()),
        true,
    ));
    let err = plain.get_block_number().await.unwrap_err();
    assert!(err.to_string().contains(fake_amb::MSG_MISSING), "{err}");
    // ...and the same answer reaching AmbHttp is typed.
    fake.script(vec![(
        403,
        r#"{"message":"Missing Authentication Token"}"#,
        None,
    )]);
    let err = block_number_err(transport(&fake)).await;
    assert_eq!(
        amb_err(&err).auth_failure(),
        Some(AuthFailure::MissingAuthentication)
    );
}

#[tokio::test]
async fn billing_token_mode_signs_nothing() {
    let fake = FakeAmb::start().await;
    fake.add_billing_token("GOODTOKEN123");
    let t = AmbHttp::new(format!("{}?billingtoken=GOODTOKEN123", fake.url())).unwrap();
    assert!(t.credentials().is_none());
    let provider = ProviderBuilder::new().on_transport(t);
    assert_eq!(provider.get_chain_id().await.unwrap(), CHAIN_ID);
    let r = &fake.received()[0];
    assert_eq!(r.rejected, None);
    assert_eq!(r.query.as_deref(), Some("billingtoken=GOODTOKEN123"));
    assert!(r.header("authorization").is_none());
    assert!(r.header("x-amz-date").is_none());

    // Set on the builder instead of the URL; a wrong token is typed.
    let t = AmbHttp::builder(fake.url())
        .billing_token("BADTOKEN")
        .build()
        .unwrap();
    let err = block_number_err(t).await;
    assert_eq!(
        amb_err(&err).auth_failure(),
        Some(AuthFailure::InvalidBillingToken)
    );
    assert!(!err.to_string().contains("BADTOKEN"));
}

#[tokio::test]
async fn throttling_and_server_errors_stay_retryable_http_errors() {
    let fake = FakeAmb::start().await;
    fake.script(vec![
        (429, "Too Many Requests", Some(3)),
        (503, "Service Unavailable", None),
    ]);
    let provider = ProviderBuilder::new().on_transport(transport(&fake));
    let err = provider.get_block_number().await.unwrap_err();
    match &err {
        TransportError::Transport(kind @ TransportErrorKind::HttpErrorWithRetryAfter { .. }) => {
            assert_eq!(kind.as_http_error().unwrap().status, 429);
            assert_eq!(kind.retry_after(), Some(Duration::from_secs(3)));
            assert!(kind.is_retry_err());
        }
        other => panic!("{other:?}"),
    }
    let err = provider.get_block_number().await.unwrap_err();
    match &err {
        TransportError::Transport(kind @ TransportErrorKind::HttpError(e)) => {
            assert_eq!(e.status, 503);
            assert!(kind.is_retry_err());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn retries_are_signed_again_with_a_fresh_date() {
    let fake = FakeAmb::start().await;
    // Retry-After: 1 makes the retry layer wait at least a second, so the second attempt has a
    // later X-Amz-Date.
    fake.script(vec![(503, "busy", Some(1))]);
    let client = ClientBuilder::default()
        .layer(RetryBackoffLayer::new(3, 10, 10_000))
        .transport(transport(&fake), false);
    let provider = ProviderBuilder::new().connect_client(client);
    assert_eq!(provider.get_block_number().await.unwrap(), GENESIS_HEAD);
    let received = fake.received();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|r| r.rejected.is_none()));
    let (a, b) = (&received[0], &received[1]);
    assert!(b.header("x-amz-date").unwrap() > a.header("x-amz-date").unwrap());
    assert_ne!(a.header("authorization"), b.header("authorization"));
    assert_eq!(a.body, b.body);
}

#[tokio::test]
async fn non_json_answers_quote_status_and_first_bytes() {
    let fake = FakeAmb::start().await;
    fake.script(vec![
        (404, "<html><body>Not Found</body></html>", None),
        (200, "<html>gateway maintenance</html>", None),
    ]);
    let err = block_number_err(transport(&fake)).await;
    match amb_err(&err) {
        AmbError::UnexpectedResponse {
            status: 404,
            snippet,
            ..
        } => assert!(snippet.starts_with("<html><body>Not Found")),
        other => panic!("{other:?}"),
    }
    let err = block_number_err(transport(&fake)).await;
    assert!(
        matches!(amb_err(&err), AmbError::UnexpectedResponse { status: 200, snippet, .. } if snippet.contains("maintenance"))
    );
}

/// A 503 whose body stalls after the head: the timeout ends it as the HTTP error it is (with
/// its `Retry-After`, so alloy's retry layer retries it), and the billing token on the URL
/// reaches no message.
#[tokio::test]
async fn a_5xx_body_that_stalls_is_a_retryable_http_error_without_the_token() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = sock.read(&mut buf).await;
        let head = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
                    retry-after: 2\r\ncontent-length: 100\r\n\r\n{\"message\":";
        sock.write_all(head.as_bytes()).await.unwrap();
        // Hold the connection open, the body unfinished, until the test is over.
        let _ = done_rx.await;
    });
    let t = AmbHttp::builder(format!("http://{addr}/?billingtoken=STALLTOKEN"))
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = block_number_err(t).await;
    drop(done_tx);
    let kind = err.as_transport_err().expect("a transport error");
    let http = kind
        .as_http_error()
        .unwrap_or_else(|| panic!("not an HTTP error: {err:?}"));
    assert_eq!(http.status, 503, "{err}");
    assert!(http.body.contains("timed out"), "{err}");
    assert_eq!(kind.retry_after(), Some(Duration::from_secs(2)), "{err:?}");
    use alloy_transport::layers::{RateLimitRetryPolicy, RetryPolicy};
    assert!(
        RateLimitRetryPolicy::default().should_retry(&err),
        "alloy retries it: {err:?}"
    );
    let text = format!("{err} {err:?}");
    assert!(!text.contains("STALLTOKEN"), "{text}");
}

/// A redirect is never followed: the session token must not reach the host `Location` names
/// (reqwest strips only `Authorization` on a cross-host redirect), and the error says where it
/// pointed, without the query.
#[tokio::test]
async fn redirects_are_not_followed_and_the_token_goes_nowhere_else() {
    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let elsewhere = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"jsonrpc":"2.0","id":0,"result":"0x1"}"#),
        )
        .mount(&elsewhere)
        .await;
    let redirecting = MockServer::start().await;
    let target = format!("{}/rpc?billingtoken=NOTFORTHEERROR", elsewhere.uri());
    for status in [301, 307, 308] {
        redirecting.reset().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(status).insert_header("location", target.as_str()))
            .mount(&redirecting)
            .await;
        let t = AmbHttp::builder(redirecting.uri())
            .region(REGION)
            .credentials_provider(temp_credentials())
            .build()
            .unwrap();
        let err = block_number_err(t).await;
        match amb_err(&err) {
            AmbError::Redirected {
                status: s,
                location,
                ..
            } => {
                assert_eq!(*s, status);
                assert_eq!(location, &format!("{}/rpc", elsewhere.uri()));
            }
            other => panic!("{other:?}"),
        }
        assert!(!err.to_string().contains("NOTFORTHEERROR"), "{err}");
        assert!(err.to_string().contains("does not follow"), "{err}");
        assert_eq!(redirecting.received_requests().await.unwrap().len(), 1);
    }
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the redirect was followed"
    );
}

/// A `Date` from something broken on the path (year 9999, or 1970) is not learned as the
/// gateway's clock: requests after it are still signed at the right time (and nothing panics).
#[tokio::test]
async fn an_implausible_date_header_is_not_learned() {
    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    for date in [
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
    ] {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("date", date)
                    .set_body_string(r#"{"jsonrpc":"2.0","id":0,"result":"0x1"}"#),
            )
            .mount(&server)
            .await;
        let t = AmbHttp::builder(server.uri())
            .region(REGION)
            .credentials_provider(fake_credentials())
            .build()
            .unwrap();
        let provider = ProviderBuilder::new().on_transport(t);
        for _ in 0..2 {
            assert_eq!(provider.get_block_number().await.unwrap(), 1, "{date}");
        }
        let year =
            |r: &wiremock::Request| r.headers["x-amz-date"].to_str().unwrap()[..4].to_owned();
        let this_year = year(&server.received_requests().await.unwrap()[0]);
        for r in server.received_requests().await.unwrap() {
            assert_eq!(year(&r), this_year, "{date}");
        }
    }
}

#[tokio::test]
async fn json_rpc_errors_pass_through() {
    let fake = FakeAmb::start().await;
    let client = RpcClient::new(transport(&fake), false);
    let err = client
        .request_noparams::<String>("eth_doesNotExist")
        .await
        .unwrap_err();
    let payload = err.as_error_resp().expect("JSON-RPC error payload");
    assert_eq!(payload.code, -32601);
}

#[tokio::test]
async fn timeouts_name_the_host_but_not_the_query() {
    let fake = FakeAmb::start().await;
    fake.add_billing_token("TIMEOUTTOKEN");
    fake.set_delay(Duration::from_secs(30));
    let t = AmbHttp::builder(format!("{}?billingtoken=TIMEOUTTOKEN", fake.url()))
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = block_number_err(t).await;
    let amb = amb_err(&err);
    assert!(
        matches!(amb, AmbError::Timeout { host, after, .. } if host == "127.0.0.1" && *after == Duration::from_millis(200)),
        "{amb:?}"
    );
    let text = format!("{err} {err:?}");
    assert!(!text.contains("TIMEOUTTOKEN"), "{text}");
    assert!(!text.contains("billingtoken"), "{text}");
}

#[tokio::test]
async fn connection_failures_name_the_host_but_not_the_query() {
    // A port nobody listens on: bind, read the port, close.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let t = AmbHttp::new(format!("http://127.0.0.1:{port}/?billingtoken=CONNTOKEN")).unwrap();
    let err = block_number_err(t).await;
    assert!(
        matches!(amb_err(&err), AmbError::Connect { host, .. } if host == "127.0.0.1"),
        "{err:?}"
    );
    let text = format!("{err} {err:?}");
    assert!(!text.contains("CONNTOKEN"), "{text}");
}

#[tokio::test]
async fn credential_errors_are_typed_and_nothing_is_sent() {
    #[derive(Debug)]
    struct Broken;
    impl aws_credential_types::provider::ProvideCredentials for Broken {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            aws_credential_types::provider::future::ProvideCredentials::ready(Err(
                aws_credential_types::provider::error::CredentialsError::not_loaded(
                    "no keys in the vault",
                ),
            ))
        }
    }
    let fake = FakeAmb::start().await;
    let t = AmbHttp::builder(fake.url())
        .region(REGION)
        .credentials_provider(Broken)
        .build()
        .unwrap();
    let err = block_number_err(t).await;
    assert!(
        matches!(amb_err(&err), AmbError::Credentials { message, .. } if message.contains("no keys in the vault")),
        "{err:?}"
    );
    assert!(fake.received().is_empty());
}

#[tokio::test]
async fn credentials_are_fetched_once_in_steady_state() {
    let fake = FakeAmb::start().await;
    let t = transport(&fake);
    let creds = t.credentials().unwrap().clone();
    let provider = ProviderBuilder::new().on_transport(t);
    let calls = (0..50).map(|_| provider.get_block_number());
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(creds.fetch_count(), 1);
    assert_eq!(fake.accepted().len(), 50);
}

/// A credential source that never answers.
#[derive(Debug)]
struct Silent;

impl aws_credential_types::provider::ProvideCredentials for Silent {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::new(std::future::pending())
    }
}

/// The transport's timeout covers loading credentials: a source that never answers fails the
/// request (typed, naming the wait) instead of holding it forever; nothing is sent.
#[tokio::test]
async fn a_credential_source_that_never_answers_times_out() {
    let fake = FakeAmb::start().await;
    let t = AmbHttp::builder(fake.url())
        .region(REGION)
        .credentials_provider(Silent)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(30), block_number_err(t))
        .await
        .expect("the request was held past its timeout");
    match amb_err(&err) {
        AmbError::Credentials { message, .. } => {
            assert!(message.contains("did not answer within 300ms"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(fake.received().is_empty());
}
