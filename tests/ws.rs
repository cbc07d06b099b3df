//! `AmbWsConnect` against the fake AMB WebSocket gateway (signed upgrades checked by the
//! independent verifier, subscriptions served from the deterministic chain).
//!
//! No test sleeps: they wait on the fake's signals (connections opened, subscriptions served)
//! and on the streams themselves, with generous timeouts only as upper bounds.

mod support;

#[path = "../examples/subscribe_logs.rs"]
mod example;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use alloy_amb::ws::quota_error;
use alloy_amb::{AmbCredentials, AmbError, AmbWsConnect, AmbWsConnectBuilder, AuthFailure};
use alloy_amb_testing::chain::{self, CHAIN_ID, GENESIS_HEAD, LOG_ADDRESS, TOPIC0};
use alloy_amb_testing::{self as fake_amb, FakeAmb, REGION};
use alloy_amb_testing::{FakeWs, Kind, MSG_TOO_LARGE};
use alloy_primitives::{Address, B256};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_types_eth::{BlockNumberOrTag, Filter, Log};
use aws_credential_types::provider::{future, ProvideCredentials};
use aws_credential_types::Credentials;
use futures::{SinkExt, Stream};
use serde_json::{json, Value};
use support::bounded::{bounded, next, NEXT_BOUND as BOUND};
use support::fake_credentials;
use support::log_capture;
use tokio_tungstenite::tungstenite::Message;

struct Gateway {
    amb: FakeAmb,
    ws: FakeWs,
}

async fn gateway() -> Gateway {
    let amb = FakeAmb::start().await;
    let ws = FakeWs::start(&amb).await;
    Gateway { amb, ws }
}

/// A connector to the fake with its keys; reconnects are retried quickly.
fn connector(ws: &FakeWs) -> AmbWsConnectBuilder {
    AmbWsConnect::builder(ws.url())
        .region(REGION)
        .credentials_provider(fake_credentials())
        .retry_interval(Duration::from_millis(10))
}

async fn provider(connect: AmbWsConnect) -> impl Provider {
    ProviderBuilder::new()
        .connect_pubsub_with(connect)
        .await
        .expect("connect")
}

/// A gateway, and a provider connected to it with the fake's keys.
async fn connected() -> (Gateway, impl Provider) {
    let g = gateway().await;
    let p = provider(connector(&g.ws).build().unwrap()).await;
    (g, p)
}

/// A stream of the chain's logs (one per block).
async fn chain_logs(p: &impl Provider) -> impl Stream<Item = Log> + Unpin {
    p.subscribe_logs(&chain_filter())
        .await
        .unwrap()
        .into_stream()
}

fn log_address() -> Address {
    LOG_ADDRESS.parse().unwrap()
}

fn topic0() -> B256 {
    TOPIC0.parse().unwrap()
}

fn chain_filter() -> Filter {
    Filter::new()
        .address(log_address())
        .event_signature(topic0())
}

/// The `eth_subscribe` requests the fake received, as JSON.
fn subscribe_requests(ws: &FakeWs) -> Vec<(usize, Value)> {
    ws.frames()
        .into_iter()
        .filter_map(|f| {
            Some((
                f.conn,
                serde_json::from_str::<Value>(f.text.as_deref()?).ok()?,
            ))
        })
        .filter(|(_, v)| v["method"] == "eth_subscribe")
        .collect()
}

#[tokio::test]
async fn logs_with_an_address_and_topic_filter_arrive_exactly() {
    bounded(async {
        let (g, p) = connected().await;
        // Subscribed first, so that the fake would notify them before the matching one.
        let mut other_address = p
            .subscribe_logs(&Filter::new().address(Address::repeat_byte(0x0b)))
            .await
            .unwrap();
        let mut other_topic = p
            .subscribe_logs(
                &Filter::new()
                    .address(log_address())
                    .event_signature(B256::repeat_byte(1)),
            )
            .await
            .unwrap();
        let mut logs = chain_logs(&p).await;

        let mined: Vec<u64> = (0..3).map(|_| g.ws.mine()).collect();
        assert_eq!(
            mined,
            [GENESIS_HEAD + 1, GENESIS_HEAD + 2, GENESIS_HEAD + 3]
        );
        for n in mined {
            let log = next(&mut logs).await;
            assert_eq!(log.block_number, Some(n));
            assert_eq!(log.address(), log_address());
            assert_eq!(
                log.topics(),
                [topic0(), B256::from(alloy_primitives::U256::from(n))]
            );
        }
        // The other filters matched nothing; their notifications would have been delivered first.
        assert!(other_address.try_recv().is_err());
        assert!(other_topic.try_recv().is_err());

        // The filter reached the gateway as given.
        let subs = subscribe_requests(&g.ws);
        assert_eq!(subs.len(), 3);
        let sent = &subs[2].1["params"];
        assert_eq!(sent[0], "logs");
        assert_eq!(
            sent[1]["address"].as_str().unwrap().to_lowercase(),
            LOG_ADDRESS
        );
        assert_eq!(sent[1]["topics"][0], TOPIC0);
    })
    .await
}

#[tokio::test]
async fn new_heads_arrive_in_order() {
    bounded(async {
        let (g, p) = connected().await;
        assert_eq!(p.get_chain_id().await.unwrap(), CHAIN_ID);
        let mut heads = p.subscribe_blocks().await.unwrap().into_stream();
        let a = g.ws.mine();
        let b = g.ws.mine();
        let first = next(&mut heads).await;
        let second = next(&mut heads).await;
        assert_eq!((first.number, second.number), (a, b));
        assert_eq!(first.hash.to_string(), chain::block_hash(a));
        assert_eq!(second.parent_hash, first.hash);
        assert_eq!(p.get_block_number().await.unwrap(), b);
    })
    .await
}

#[tokio::test]
async fn unsubscribing_reaches_the_gateway_with_its_id() {
    bounded(async {
        let (g, p) = connected().await;
        let heads = p.subscribe_blocks().await.unwrap();
        p.unsubscribe(*heads.local_id()).await.unwrap();
        g.ws.wait_for("the eth_unsubscribe", |s| s.unsubscriptions == 1)
            .await;
        let unsubscribe =
            g.ws.frames()
                .into_iter()
                .filter_map(|f| serde_json::from_str::<Value>(f.text.as_deref()?).ok())
                .find(|v| v["method"] == "eth_unsubscribe")
                .unwrap();
        // The gateway's own id for the subscription (connection 1, first subscription).
        assert_eq!(unsubscribe["params"], json!(["0x10000"]));
    })
    .await
}

#[tokio::test]
async fn a_dropped_connection_reconnects_resubscribes_and_the_stream_goes_on() {
    bounded(async {
        let (g, p) = connected().await;
        let mut sub = p.subscribe_logs(&chain_filter()).await.unwrap();
        let id = *sub.local_id();
        let first = g.ws.mine();
        assert_eq!(sub.recv().await.unwrap().block_number, Some(first));

        g.ws.drop_connections();
        g.ws.wait_for("the subscription re-sent on a new connection", |s| {
            s.connections == 2 && s.subscriptions == 2
        })
        .await;
        let second = g.ws.mine();
        let log = tokio::time::timeout(BOUND, sub.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(log.block_number, Some(second));
        assert_eq!(*sub.local_id(), id);

        // Both upgrades were signed and accepted; the second carried its own signature.
        let upgrades = g.ws.upgrades();
        assert_eq!(upgrades.len(), 2);
        assert!(upgrades.iter().all(|u| u.rejected.is_none()));
        for u in &upgrades {
            assert!(u.signed_headers.contains(&"host".to_owned()));
            assert!(u.header("x-amz-date").is_some());
        }
        // alloy re-sent the same eth_subscribe on the new connection.
        let subs = subscribe_requests(&g.ws);
        assert_eq!(subs.iter().map(|(c, _)| *c).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(subs[0].1["params"], subs[1].1["params"]);
    })
    .await
}

/// Hands out the credentials in its slot; they expire `lifetime` after each fetch.
#[derive(Clone, Debug)]
struct Rotating {
    slot: Arc<Mutex<(&'static str, &'static str, &'static str)>>,
    lifetime: Option<Duration>,
}

impl Rotating {
    fn new(first: (&'static str, &'static str, &'static str), lifetime: Option<Duration>) -> Self {
        Self {
            slot: Arc::new(Mutex::new(first)),
            lifetime,
        }
    }

    fn rotate(&self, to: (&'static str, &'static str, &'static str)) {
        *self.slot.lock().unwrap() = to;
    }
}

impl ProvideCredentials for Rotating {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let (akid, secret, token) = *self.slot.lock().unwrap();
        let expiry = self.lifetime.map(|l| SystemTime::now() + l);
        future::ProvideCredentials::ready(Ok(Credentials::new(
            akid,
            secret,
            Some(token.into()),
            expiry,
            "rotating",
        )))
    }
}

const OLD: (&str, &str, &str) = ("ASIAOLDKEY0000000001", "old-secret-0000000000", "old-token");
const NEW: (&str, &str, &str) = ("ASIANEWKEY0000000002", "new-secret-0000000000", "new-token");

fn register(amb: &FakeAmb, key: (&str, &str, &str)) {
    amb.add_key(key.0, key.1, Some(key.2));
}

async fn rotation_after_first_log(source: Rotating) -> Gateway {
    let g = gateway().await;
    register(&g.amb, OLD);
    register(&g.amb, NEW);
    let connect = AmbWsConnect::builder(g.ws.url())
        .region(REGION)
        .credentials_provider(source.clone())
        .retry_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    let p = provider(connect).await;
    let mut logs = chain_logs(&p).await;
    let first = g.ws.mine();
    assert_eq!(next(&mut logs).await.block_number, Some(first));

    // The source rotates and the old key is revoked; then the gateway drops the connection.
    source.rotate(NEW);
    g.amb.revoke_key(OLD.0);
    g.ws.drop_connections();
    g.ws.wait_for("the subscription re-sent after the rotation", |s| {
        s.subscriptions == 2
    })
    .await;
    let second = g.ws.mine();
    assert_eq!(next(&mut logs).await.block_number, Some(second));
    g
}

#[tokio::test]
async fn rotated_credentials_sign_the_reconnect() {
    bounded(async {
        // Credentials living 30 s are cached for most of their life (the refresh windows shrink
        // with the lifetime): the reconnect is first signed with the revoked key, the gateway's
        // 403 drops it from the cache, and the upgrade is signed with what the source hands out.
        let g = rotation_after_first_log(Rotating::new(OLD, Some(Duration::from_secs(30)))).await;
        let keys: Vec<_> =
            g.ws.upgrades()
                .into_iter()
                .map(|u| {
                    let token = u.header("x-amz-security-token").map(str::to_owned);
                    (u.access_key_id().unwrap().to_owned(), u.rejected, token)
                })
                .collect();
        assert_eq!(
            keys,
            [
                (OLD.0.to_owned(), None, Some(OLD.2.to_owned())),
                (
                    OLD.0.to_owned(),
                    Some(fake_amb::MSG_UNKNOWN_KEY.to_owned()),
                    Some(OLD.2.to_owned())
                ),
                (NEW.0.to_owned(), None, Some(NEW.2.to_owned())),
            ]
        );
    })
    .await
}

#[tokio::test]
async fn a_revoked_key_on_reconnect_is_dropped_and_the_upgrade_signed_again() {
    bounded(async {
        // Credentials without expiry stay cached: the reconnect is first signed with the revoked
        // key, the gateway's 403 drops it from the cache, and the upgrade is signed once more.
        let g = rotation_after_first_log(Rotating::new(OLD, None)).await;
        let upgrades = g.ws.upgrades();
        let seen: Vec<_> = upgrades
            .iter()
            .map(|u| (u.access_key_id().unwrap().to_owned(), u.rejected.clone()))
            .collect();
        assert_eq!(
            seen,
            [
                (OLD.0.to_owned(), None),
                (OLD.0.to_owned(), Some(fake_amb::MSG_UNKNOWN_KEY.to_owned())),
                (NEW.0.to_owned(), None),
            ]
        );
    })
    .await
}

async fn connect_err(connect: AmbWsConnect) -> AmbError {
    let err = ProviderBuilder::new()
        .connect_pubsub_with(connect)
        .await
        .map(drop)
        .expect_err("the upgrade should have been refused");
    let text = err.to_string();
    let typed = match err {
        alloy_transport::TransportError::Transport(
            alloy_transport::TransportErrorKind::Custom(inner),
        ) => inner.downcast::<AmbError>().ok(),
        _ => None,
    };
    match typed.map(|amb| *amb) {
        Some(amb @ (AmbError::AuthRejected { .. } | AmbError::WsUpgradeRejected { .. })) => amb,
        _ => panic!("not a typed upgrade refusal: {text}"),
    }
}

#[tokio::test]
async fn refused_upgrades_are_typed_auth_errors() {
    bounded(async {
    let g = gateway().await;
    g.amb.add_temporary_key(
        "ASIAEXPIRED000000001",
        "expired-secret",
        "expired-token",
        SystemTime::now() + Duration::from_secs(3600),
    );
    g.amb.expire_key("ASIAEXPIRED000000001");
    let with = |creds: Credentials| connector(&g.ws).credentials_provider(creds);
    let cases = [
        (
            with(Credentials::new(
                fake_amb::ACCESS_KEY,
                "wrong",
                None,
                None,
                "t",
            )),
            AuthFailure::InvalidSignature,
            "secret access key",
        ),
        (
            with(Credentials::new(
                "AKIDUNKNOWN000000001",
                "x",
                None,
                None,
                "t",
            )),
            AuthFailure::UnknownAccessKey,
            "AWS_PROFILE",
        ),
        (
            with(Credentials::new(
                "ASIAEXPIRED000000001",
                "expired-secret",
                Some("expired-token".into()),
                None,
                "t",
            )),
            AuthFailure::ExpiredToken,
            "refresh",
        ),
        (
            connector(&g.ws).region("eu-west-1"),
            AuthFailure::WrongRegion,
            "region",
        ),
    ];
    for (builder, kind, hint) in cases {
        let err = connect_err(builder.build().unwrap()).await;
        assert_eq!(err.auth_failure(), Some(kind), "{err}");
        let text = err.to_string();
        assert!(text.contains("403") && text.contains(hint), "{text}");
        assert!(
            text.contains("127.0.0.1") && !text.contains("ws://"),
            "{text}"
        );
    }
    // Unknown and expired keys are signed once more (their cache entry dropped) before giving up.
    let rejected: Vec<_> =
        g.ws.upgrades()
            .into_iter()
            .map(|u| u.rejected.unwrap())
            .collect();
    assert_eq!(rejected.len(), 6, "{rejected:?}");
    assert_eq!(g.ws.stats().connections, 0);

    // A clock more than 5 minutes off, even after learning the gateway's clock.
    let expired = "Signature expired: 20240101T000000Z is now earlier than 20240101T001000Z (20240101T001500Z - 5 min.)";
    g.ws.refuse_next_upgrades(vec![(403, expired), (403, expired)]);
    let err = connect_err(connector(&g.ws).build().unwrap()).await;
    assert_eq!(err.auth_failure(), Some(AuthFailure::SignatureExpired));
    assert!(err.to_string().contains("clock"), "{err}");

    // Any other refusal quotes the status and the body.
    g.ws.refuse_next_upgrades(vec![(503, "Service Unavailable")]);
    match connect_err(connector(&g.ws).build().unwrap()).await {
        AmbError::WsUpgradeRejected {
            status, snippet, ..
        } => {
            assert_eq!(status, 503);
            assert!(snippet.contains("Service Unavailable"), "{snippet}");
        }
        other => panic!("{other}"),
    }
    })
    .await
}

#[tokio::test]
async fn an_unsigned_upgrade_is_refused_like_amb() {
    bounded(async {
        let g = gateway().await;
        let err = tokio_tungstenite::connect_async(g.ws.url())
            .await
            .unwrap_err();
        let tokio_tungstenite::tungstenite::Error::Http(resp) = err else {
            panic!("{err}");
        };
        assert_eq!(resp.status(), 403);
        assert!(resp.headers().contains_key("date"));
        let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
        assert_eq!(body, json!({ "message": fake_amb::MSG_MISSING }));
        assert_eq!(
            g.ws.upgrades()[0].rejected.as_deref(),
            Some(fake_amb::MSG_MISSING)
        );
    })
    .await
}

#[tokio::test]
async fn a_gateway_clock_15_minutes_off_is_learned_and_the_upgrade_signed_again() {
    bounded(async {
        for offset in [15 * 60, -15 * 60] {
            let g = gateway().await;
            g.amb.set_clock_offset(offset);
            let p = provider(connector(&g.ws).build().unwrap()).await;
            assert_eq!(p.get_block_number().await.unwrap(), GENESIS_HEAD);
            let upgrades = g.ws.upgrades();
            assert_eq!(upgrades.len(), 2);
            let first = upgrades[0].rejected.as_deref().unwrap();
            assert!(first.starts_with("Signature "), "{first}");
            assert_eq!(upgrades[1].rejected, None);
        }
    })
    .await
}

#[tokio::test]
async fn only_text_frames_are_ever_sent() {
    bounded(async {
        let g = gateway().await;
        // A raw client's binary frame is recorded and answered with 1003, like AMB: the check
        // below can see a binary frame.
        g.amb.add_billing_token("raw");
        let raw_url = format!("{}?billingtoken=raw", g.ws.url());
        let (mut raw, _) = tokio_tungstenite::connect_async(raw_url).await.unwrap();
        raw.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
        match next(&mut raw).await.unwrap() {
            Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1003),
            other => panic!("{other:?}"),
        }
        assert_eq!(g.ws.stats().closed_1003, 1);
        let raw_conn = g.ws.frames().last().unwrap().conn;

        // A session with calls, subscriptions, pings and a reconnect: text frames only.
        let connect = connector(&g.ws)
            .keepalive_interval(Duration::from_millis(20))
            .build()
            .unwrap();
        let p = provider(connect).await;
        let mut logs = chain_logs(&p).await;
        let mut heads = p.subscribe_blocks().await.unwrap().into_stream();
        p.get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .unwrap();
        g.ws.mine();
        next(&mut logs).await;
        next(&mut heads).await;
        g.ws.drop_connections();
        g.ws.wait_for("both subscriptions re-sent", |s| s.subscriptions == 4)
            .await;
        assert_eq!(p.get_chain_id().await.unwrap(), CHAIN_ID);
        g.ws.wait_for("a keepalive ping", |s| s.pings >= 1).await;

        let ours: Vec<_> =
            g.ws.frames()
                .into_iter()
                .filter(|f| f.conn != raw_conn)
                .collect();
        let binary: Vec<_> = ours.iter().filter(|f| f.kind == Kind::Binary).collect();
        assert!(binary.is_empty(), "binary frames were sent: {binary:?}");
        let methods: Vec<Value> = ours
            .iter()
            .filter(|f| f.kind == Kind::Text)
            .map(|f| {
                serde_json::from_str::<Value>(f.text.as_deref().unwrap()).unwrap()["method"].clone()
            })
            .collect();
        let expected = [
            "eth_subscribe",
            "eth_subscribe",
            "eth_getBlockByNumber",
            "eth_subscribe",
            "eth_subscribe",
            "eth_chainId",
        ];
        assert_eq!(methods, expected);
        assert!(ours.iter().any(|f| f.kind == Kind::Ping));
        assert_eq!(g.ws.stats().closed_1003, 1);
    })
    .await
}

#[tokio::test]
async fn a_1003_close_is_explained_and_the_subscription_reopens() {
    bounded(async {
        let (logs_out, _guard) = log_capture::capture();
        let (g, p) = connected().await;
        let mut logs = chain_logs(&p).await;
        g.ws.close_connections(1003);
        g.ws.wait_for("the subscription re-sent after the 1003 close", |s| {
            s.connections == 2 && s.subscriptions == 2
        })
        .await;
        let n = g.ws.mine();
        assert_eq!(next(&mut logs).await.block_number, Some(n));
        let text = logs_out.text();
        assert!(
            text.contains("closed the WebSocket with code 1003")
                && text.contains("text frames only")
                && text.contains("closed by the fake gateway"),
            "{text}"
        );
    })
    .await
}

#[tokio::test]
async fn an_oversized_request_is_refused_before_it_is_sent() {
    bounded(async {
    let g = gateway().await;
    let p = provider(connector(&g.ws).build().unwrap()).await;
    let call = |len: usize| json!([{ "to": LOG_ADDRESS, "data": format!("0x{}", "ab".repeat(len / 2)) }, "latest"]);
    let err = p
        .raw_request::<_, Value>("eth_call".into(), call(600 * 1024))
        .await
        .unwrap_err();
    match quota_error(&err) {
        Some(AmbError::WsRequestTooLarge {
            method,
            size,
            limit,
            ..
        }) => {
            assert_eq!(method, "eth_call");
            assert!(size > 600 * 1024, "{size}");
            assert_eq!(limit, 512 * 1024);
        }
        other => panic!("{other:?} from {err}"),
    }
    assert!(err.to_string().contains("AmbHttp"), "{err}");
    assert!(
        g.ws.frames().iter().all(|f| f.len <= 512 * 1024),
        "an oversized frame reached the gateway"
    );

    // Just under the quota goes out; the connection was never cut.
    let answer: Value = p
        .raw_request("eth_call".into(), call(500 * 1024))
        .await
        .unwrap();
    assert_eq!(answer, chain::CALL_RESULT);
    assert!(g.ws.frames().iter().any(|f| f.len > 500 * 1024));
    assert_eq!(g.ws.stats().connections, 1);

    // The quota is configurable (for endpoints without AMB's).
    let small = provider(connector(&g.ws).max_message_size(100).build().unwrap()).await;
    let err = small
        .raw_request::<_, Value>("eth_call".into(), call(200))
        .await
        .unwrap_err();
    assert!(matches!(
        quota_error(&err),
        Some(AmbError::WsRequestTooLarge { limit: 100, .. })
    ));
    })
    .await
}

/// Requests issued together go out together (one flush for all that are waiting): each is
/// still sent once, as its own text frame, and answered by its own id; one over the quota in the
/// middle of the burst is answered with the typed error and does not hold up the others.
#[tokio::test]
async fn a_burst_of_requests_is_sent_once_each_and_answered_by_id() {
    bounded(async {
        let g = gateway().await;
        let p = provider(connector(&g.ws).max_message_size(300).build().unwrap()).await;
        let before = g.ws.frames().len();
        const N: u64 = 200;
        let oversized = |i: u64| i % 50 == 25;
        let calls = (0..N).map(|i| {
            let p = &p;
            async move {
                if oversized(i) {
                    let data = format!("0x{}", "ab".repeat(200));
                    let params = json!([{ "to": LOG_ADDRESS, "data": data }, "latest"]);
                    let err = p
                        .raw_request::<_, Value>("eth_call".into(), params)
                        .await
                        .unwrap_err();
                    assert!(
                        matches!(quota_error(&err), Some(AmbError::WsRequestTooLarge { .. })),
                        "request {i}: {err}"
                    );
                    None
                } else {
                    let n = i % (GENESIS_HEAD + 1);
                    let block: Value = p
                        .raw_request("eth_getBlockByNumber".into(), (format!("{n:#x}"), false))
                        .await
                        .unwrap();
                    assert_eq!(block["number"], json!(format!("{n:#x}")), "request {i}");
                    Some(i)
                }
            }
        });
        let answered = futures::future::join_all(calls).await;
        let sent = answered.iter().flatten().count();
        assert_eq!(
            sent as u64,
            N - (0..N).filter(|&i| oversized(i)).count() as u64
        );
        let frames: Vec<_> = g.ws.frames().into_iter().skip(before).collect();
        let requests: Vec<Value> = frames
            .iter()
            .filter_map(|f| f.text.as_deref())
            .map(|t| serde_json::from_str(t).unwrap())
            .filter(|v: &Value| v["method"] == "eth_getBlockByNumber")
            .collect();
        assert_eq!(requests.len(), sent, "every request exactly once");
        let mut ids: Vec<_> = requests.iter().map(|r| r["id"].clone()).collect();
        ids.sort_by_key(|id| id.as_u64());
        ids.dedup();
        assert_eq!(ids.len(), sent, "no request sent twice");
        assert!(frames.iter().all(|f| f.kind == Kind::Text), "{frames:?}");
        assert_eq!(g.ws.stats().connections, 1);
    })
    .await
}

#[tokio::test]
async fn a_too_large_answer_is_a_typed_error() {
    bounded(async {
        let (g, p) = connected().await;
        g.ws.set_response_limit(Some(1000));
        let err = p
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .unwrap_err();
        match quota_error(&err) {
            Some(AmbError::WsResponseTooLarge {
                method, message, ..
            }) => {
                assert_eq!(method, "eth_getBlockByNumber");
                assert_eq!(message, MSG_TOO_LARGE);
            }
            other => panic!("{other:?} from {err}"),
        }
        assert!(err.to_string().contains("AmbHttp"), "{err}");
        assert_eq!(g.ws.stats().too_large, 1);
        // Small answers still come, on the same connection.
        assert_eq!(p.get_block_number().await.unwrap(), GENESIS_HEAD);
        assert_eq!(g.ws.stats().connections, 1);
    })
    .await
}

#[tokio::test]
async fn a_missed_pong_reconnects() {
    bounded(async {
        let (logs_out, _guard) = log_capture::capture();
        let g = gateway().await;
        let connect = connector(&g.ws)
            .keepalive_interval(Duration::from_millis(200))
            .build()
            .unwrap();
        let p = provider(connect).await;
        let mut logs = chain_logs(&p).await;
        g.ws.freeze_connections();
        let stats =
            g.ws.wait_for("a reconnect after the missed pong", |s| {
                s.connections >= 2 && s.subscriptions >= 2
            })
            .await;
        let n = g.ws.mine();
        assert_eq!(next(&mut logs).await.block_number, Some(n));
        assert!(stats.connections >= 2);
        let text = logs_out.text();
        assert!(text.contains("did not answer a WebSocket ping"), "{text}");
    })
    .await
}

#[tokio::test]
async fn token_mode_puts_the_token_on_the_url_and_signs_nothing() {
    bounded(async {
        let g = gateway().await;
        g.amb.add_billing_token("good-token");
        for connect in [
            AmbWsConnect::new(format!("{}?billingtoken=good-token", g.ws.url())).unwrap(),
            AmbWsConnect::builder(g.ws.url())
                .billing_token("good-token")
                .build()
                .unwrap(),
        ] {
            assert!(connect.credentials().is_none());
            let p = provider(connect).await;
            let mut logs = chain_logs(&p).await;
            let n = g.ws.mine();
            assert_eq!(next(&mut logs).await.block_number, Some(n));
        }
        for u in g.ws.upgrades() {
            assert_eq!(u.query.as_deref(), Some("billingtoken=good-token"));
            assert!(u.header("authorization").is_none() && u.header("x-amz-date").is_none());
            assert!(u.rejected.is_none());
        }
        let err = connect_err(
            AmbWsConnect::new(format!("{}?billingtoken=bad-token", g.ws.url())).unwrap(),
        )
        .await;
        assert_eq!(err.auth_failure(), Some(AuthFailure::InvalidBillingToken));
        assert!(!err.to_string().contains("bad-token"), "{err}");
    })
    .await
}

#[tokio::test]
async fn reconnect_retries_come_from_every_handle() {
    bounded(async {
        let g = gateway().await;
        let connect = connector(&g.ws).max_retries(2).build().unwrap();
        let p = provider(connect).await;
        let mut sub = p.subscribe_logs(&chain_filter()).await.unwrap();
        // A first reconnect succeeds: alloy now holds the handle returned by `try_reconnect`.
        g.ws.drop_connections();
        g.ws.wait_for("the first reconnect", |s| s.subscriptions == 2)
            .await;
        // Then the gateway refuses 5 upgrades: with 2 retries from that handle, alloy gives up
        // after 2 (the default 10 would get through on the 6th).
        g.ws.refuse_next_upgrades(vec![(503, "unavailable"); 5]);
        g.ws.drop_connections();
        let ended = tokio::time::timeout(BOUND, sub.recv())
            .await
            .expect("bound");
        assert!(
            ended.is_err(),
            "the subscription should end after the retries"
        );
        assert_eq!(g.ws.stats().rejected, 2);
        assert_eq!(g.ws.stats().connections, 2);
    })
    .await
}

#[tokio::test]
async fn the_subscribe_logs_example_prints_one_json_line_per_log() {
    bounded(async {
        let g = gateway().await;
        g.amb.add_billing_token("example-token");
        let config = example::Config {
            endpoint: alloy_amb::EndpointConfig::new(format!(
                "{}?billingtoken=example-token",
                g.ws.url()
            )),
            address: Some(log_address()),
            topic0: Some(topic0()),
            count: 3,
        };
        let mut out = Vec::new();
        let mine = async {
            g.ws.wait_for("the example's subscription", |s| s.subscriptions == 1)
                .await;
            (0..3).map(|_| g.ws.mine()).collect::<Vec<_>>()
        };
        let (printed, mined) = tokio::join!(example::run(config, &mut out), mine);
        assert_eq!(printed.unwrap(), 3);
        let lines: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let blocks: Vec<Value> = mined.iter().map(|n| json!(chain::hex_u64(*n))).collect();
        assert_eq!(
            lines
                .iter()
                .map(|l| l["blockNumber"].clone())
                .collect::<Vec<_>>(),
            blocks
        );
        assert!(lines
            .iter()
            .all(|l| l["address"].as_str().unwrap().to_lowercase() == LOG_ADDRESS));
    })
    .await
}

const SECRET: &str = "WsSuperSecretAccessKeyValue0000000000000";
const SESSION: &str = "WsSessionTokenValueThatMustNeverBeLogged";
const BILLING: &str = "WsBillingTokenThatMustNeverBeLogged";

#[tokio::test]
async fn secrets_never_reach_logs_or_debug() {
    bounded(async {
    let (logs_out, _guard) = log_capture::capture();
    let g = gateway().await;
    g.amb.add_key("ASIAWSSECRETSTEST001", SECRET, Some(SESSION));
    g.amb.add_billing_token(BILLING);
    let creds = AmbCredentials::from_provider(Credentials::new(
        "ASIAWSSECRETSTEST001",
        SECRET,
        Some(SESSION.into()),
        None,
        "test",
    ));
    let builder = connector(&g.ws).credentials(creds.clone());
    let builder_dbg = format!("{builder:?}");
    let signed = builder.build().unwrap();
    let p = provider(signed.clone()).await;
    let mut logs = chain_logs(&p).await;
    g.ws.mine();
    next(&mut logs).await;
    g.ws.drop_connections();
    g.ws.wait_for("the reconnect", |s| s.subscriptions == 2)
        .await;
    g.ws.mine();
    next(&mut logs).await;

    let token_url = format!("{}?billingtoken={BILLING}", g.ws.url());
    let token_builder = AmbWsConnect::builder(&token_url);
    let token_builder_dbg = format!("{token_builder:?}");
    let token = token_builder.build().unwrap();
    let tp = provider(token.clone()).await;
    tp.get_block_number().await.unwrap();

    let bad = connector(&g.ws)
        .credentials_provider(Credentials::new(
            "ASIAWSSECRETSTEST001",
            "wrong",
            Some(SESSION.into()),
            None,
            "t",
        ))
        .build()
        .unwrap();
    let err1 = connect_err(bad).await;
    let bad_token = AmbWsConnect::new(format!("{token_url}x")).unwrap();
    let err2 = connect_err(bad_token.clone()).await;

    let upgrades = g.ws.upgrades();
    let signatures = support::signatures(upgrades.iter().map(|u| u.header("authorization")));
    assert_eq!(signatures.len(), 3);

    let logs = logs_out.text();
    // Logging did happen, at every level, the connection's own lines included.
    assert!(logs.contains("amb_ws_connect"), "{logs}");
    assert!(logs.contains("AMB WebSocket connection lost"), "{logs}");
    assert!(logs.contains("TRACE"), "{logs}");
    let everything = format!(
        "{logs}\n{builder_dbg}\n{token_builder_dbg}\n{signed:?}\n{token:?}\n{bad_token:?}\n{creds:?}\n{err1}\n{err1:?}\n{err2}\n{err2:?}\n{:?}",
        token.endpoint(),
    );
    support::assert_nothing_leaked(&everything, &[SECRET, SESSION, BILLING], &signatures);
    })
    .await
}

/// AMB's "response too large" names no request. With two requests waiting and the gateway
/// refusing the second one's answer before the first is answered, the refusal must not be
/// pinned on the first (which then loses its real answer) while the second waits forever: it
/// is attributed once the first has its answer.
#[tokio::test]
async fn a_refusal_that_names_no_request_reaches_the_right_one() {
    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let mut ids = std::collections::HashMap::new();
            while ids.len() < 2 {
                if let Some(Ok(Message::Text(text))) = futures::StreamExt::next(&mut ws).await {
                    let v: Value = serde_json::from_str(text.as_str()).unwrap();
                    ids.insert(v["method"].as_str().unwrap().to_owned(), v["id"].clone());
                }
            }
            // The big answer is refused first, then the slow call is answered.
            let refusal =
                json!({ "message": MSG_TOO_LARGE, "connectionId": "c=", "requestId": "r" });
            ws.send(Message::text(refusal.to_string())).await.unwrap();
            let answer = json!({ "jsonrpc": "2.0", "id": ids["slow_call"], "result": "0x01" });
            ws.send(Message::text(answer.to_string())).await.unwrap();
            // Keep the connection open until the client is done.
            while futures::StreamExt::next(&mut ws).await.is_some() {}
        });
        let connect = AmbWsConnect::new(format!("ws://127.0.0.1:{port}/?billingtoken=t")).unwrap();
        let client = alloy_rpc_client::ClientBuilder::default()
            .pubsub(connect)
            .await
            .unwrap();
        let slow = client.request::<_, String>("slow_call", ());
        let big = client.request::<_, String>("big_call", ());
        let (slow, big) = tokio::join!(slow, big);
        assert_eq!(slow.unwrap(), "0x01");
        let err = big.unwrap_err();
        match quota_error(&err) {
            Some(AmbError::WsResponseTooLarge { method, .. }) => assert_eq!(method, "big_call"),
            other => panic!("{other:?} from {err}"),
        }
        drop(client);
        server.abort();
    })
    .await
}

/// A credential source that never answers.
#[derive(Debug)]
struct Silent;

impl ProvideCredentials for Silent {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(std::future::pending())
    }
}

/// The connect timeout covers loading credentials for the upgrade: a source that never
/// answers fails the connect (typed) instead of holding it forever; no upgrade is sent.
#[tokio::test]
async fn a_credential_source_that_never_answers_fails_the_connect() {
    bounded(async {
        let g = gateway().await;
        let connect = AmbWsConnect::builder(g.ws.url())
            .region(REGION)
            .credentials_provider(Silent)
            .connect_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let err = ProviderBuilder::new()
            .connect_pubsub_with(connect)
            .await
            .map(drop)
            .expect_err("no credentials, no connection");
        match AmbError::from_transport_error(&err) {
            Some(AmbError::Credentials { message, .. }) => {
                assert!(message.contains("did not answer within 300ms"), "{message}")
            }
            other => panic!("{other:?} from {err}"),
        }
        assert!(g.ws.upgrades().is_empty());
    })
    .await
}

/// A gateway message that names no request is the server's text: whatever it echoes (a
/// session token, a signature), the caller's error and the logs get it withheld.
#[tokio::test]
async fn a_gateway_message_echoing_secrets_reaches_the_caller_withheld() {
    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            // One request, answered with a message naming none that echoes secrets.
            while !matches!(
                futures::StreamExt::next(&mut ws).await,
                Some(Ok(Message::Text(_)))
            ) {}
            let echo =
                "Forbidden: X-Amz-Security-Token=FwoGZXIvYXdzEBYaDLeakedSessionTokenValue123456 \
                        Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/x, Signature=\
                        0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
            let refusal = json!({ "message": echo });
            ws.send(Message::text(refusal.to_string())).await.unwrap();
            while futures::StreamExt::next(&mut ws).await.is_some() {}
        });
        let (logs, _guard) = log_capture::capture();
        let connect = AmbWsConnect::new(format!("ws://127.0.0.1:{port}/?billingtoken=t")).unwrap();
        let client = alloy_rpc_client::ClientBuilder::default()
            .pubsub(connect)
            .await
            .unwrap();
        let err = client
            .request::<_, String>("eth_call", ())
            .await
            .unwrap_err();
        // Our logs only: the test's own server (tungstenite) logs what it sends at TRACE.
        let ours: Vec<String> = logs
            .text()
            .lines()
            .filter(|l| l.contains("alloy_amb"))
            .map(str::to_owned)
            .collect();
        let shown = format!("{err} {err:?} {}", ours.join("\n"));
        assert!(
            shown.contains("gateway error instead of an answer"),
            "{shown}"
        );
        for secret in [
            "FwoGZXIvYXdzEBYaDLeakedSessionTokenValue123456",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        drop(client);
        server.abort();
    })
    .await
}
