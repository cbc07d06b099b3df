//! Networks: both transports through an HTTP `CONNECT` proxy (`ConnectProxy`, which counts
//! its tunnels and their targets) and to a TLS endpoint whose certificate comes from a private
//! CA (`TlsFront` before the emulator), trusted through a user `rustls::ClientConfig` or not
//! at all. The environment-variable cases (`HTTPS_PROXY`, `NO_PROXY`, `SSL_CERT_FILE`) run in
//! their own binary, `tests/network_env.rs`, since the environment is process-wide.

mod support;

use std::sync::Arc;

use alloy_amb::rustls;
use alloy_amb::{
    AmbError, AmbHttp, AmbHttpBuilder, AmbWsConnect, AmbWsConnectBuilder, ConfigError,
};
use alloy_amb_testing::chain::GENESIS_HEAD;
use alloy_amb_testing::FakeWs;
use alloy_amb_testing::{ConnectProxy, TestCa, TlsFront};
use alloy_amb_testing::{FakeAmb, REGION};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_transport::TransportError;
use support::bounded::bounded;
use support::fake_credentials;

fn http(url: &str) -> AmbHttpBuilder {
    AmbHttp::builder(url)
        .service(alloy_amb::AMB_SERVICE)
        .region(REGION)
        .credentials_provider(fake_credentials())
}

fn ws(url: &str) -> AmbWsConnectBuilder {
    AmbWsConnect::builder(url)
        .service(alloy_amb::AMB_SERVICE)
        .region(REGION)
        .credentials_provider(fake_credentials())
        .max_retries(0)
}

fn amb_err(err: &TransportError) -> &AmbError {
    AmbError::from_transport_error(err).unwrap_or_else(|| panic!("not an AmbError: {err:?}"))
}

async fn http_block_number(t: AmbHttp) -> Result<u64, TransportError> {
    ProviderBuilder::new()
        .connect_client(alloy_rpc_client::RpcClient::new(t, false))
        .get_block_number()
        .await
}

async fn ws_block_number(c: AmbWsConnect) -> Result<u64, TransportError> {
    let provider = ProviderBuilder::new().connect_pubsub_with(c).await?;
    provider.get_block_number().await
}

/// A client configuration that trusts `ca` only.
fn trusting(ca: &TestCa) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.ca_der()).unwrap();
    rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth()
}

#[tokio::test]
async fn both_transports_tunnel_through_an_explicit_proxy_to_a_plain_target() {
    bounded(async {
        let amb = FakeAmb::start().await;
        let gw = FakeWs::start(&amb).await;
        let proxy = ConnectProxy::start().await;

        let c = ws(&gw.url()).proxy(proxy.url()).build().unwrap();
        assert_eq!(ws_block_number(c).await.unwrap(), GENESIS_HEAD);
        // One tunnel, to the gateway's own authority (the proxy connects, not the client).
        assert_eq!(proxy.tunnels(), vec![gw.authority()]);

        // reqwest sends http:// requests to the proxy in absolute form (no tunnel).
        let t = http(&amb.url()).proxy(proxy.url()).build().unwrap();
        assert_eq!(http_block_number(t).await.unwrap(), GENESIS_HEAD);
        assert_eq!(proxy.forwarded(), vec![amb.address().to_string()]);
        assert_eq!(proxy.tunnels().len(), 1);
        // The signed requests went through unchanged: the gateway's verifier accepted them.
        assert!(!amb.accepted().is_empty());
    })
    .await
}

#[tokio::test]
async fn both_transports_reach_a_private_ca_endpoint_through_a_user_client_config() {
    bounded(async {
        let amb = FakeAmb::start().await;
        let gw = FakeWs::start(&amb).await;
        let ca = TestCa::new();
        let https = TlsFront::start(&ca, amb.address()).await;
        let wss = TlsFront::start(&ca, gw.authority().parse().unwrap()).await;

        let t = http(&https.https_url())
            .tls_config(trusting(&ca))
            .build()
            .unwrap();
        assert_eq!(http_block_number(t).await.unwrap(), GENESIS_HEAD);
        let c = ws(&wss.wss_url())
            .tls_config(trusting(&ca))
            .build()
            .unwrap();
        assert_eq!(ws_block_number(c).await.unwrap(), GENESIS_HEAD);
        assert_eq!((https.handshakes(), wss.handshakes()), (1, 1));

        // The same through the proxy: TLS to `localhost` inside a CONNECT tunnel, for both.
        let proxy = ConnectProxy::start().await;
        let t = http(&https.https_url())
            .tls_config(trusting(&ca))
            .proxy(proxy.url())
            .build()
            .unwrap();
        assert_eq!(http_block_number(t).await.unwrap(), GENESIS_HEAD);
        let c = ws(&wss.wss_url())
            .tls_config(trusting(&ca))
            .proxy(proxy.url())
            .build()
            .unwrap();
        assert_eq!(ws_block_number(c).await.unwrap(), GENESIS_HEAD);
        assert_eq!(
            proxy.tunnels(),
            vec![
                format!("localhost:{}", https.port()),
                format!("localhost:{}", wss.port())
            ]
        );
    })
    .await
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_typed_tls_error_for_both() {
    bounded(async {
        let amb = FakeAmb::start().await;
        let gw = FakeWs::start(&amb).await;
        let ca = TestCa::new();
        let https = TlsFront::start(&ca, amb.address()).await;
        let wss = TlsFront::start(&ca, gw.authority().parse().unwrap()).await;

        // `localhost` is loopback, but wss:// and https:// still mean TLS, verified.
        let t = http(&https.https_url()).build().unwrap();
        let err = http_block_number(t).await.unwrap_err();
        let e = amb_err(&err);
        assert!(matches!(e, AmbError::Tls { .. }), "{e:?}");
        assert!(e.to_string().contains("SSL_CERT_FILE"), "{e}");

        let c = ws(&wss.wss_url()).build().unwrap();
        let err = ws_block_number(c).await.unwrap_err();
        let e = amb_err(&err);
        assert!(matches!(e, AmbError::Tls { .. }), "{e:?}");
        assert!(e.to_string().contains("localhost"), "{e}");

        // Another CA's configuration does not help either.
        let other = TestCa::new();
        let c = ws(&wss.wss_url())
            .tls_config(trusting(&other))
            .build()
            .unwrap();
        let err = ws_block_number(c).await.unwrap_err();
        assert!(matches!(amb_err(&err), AmbError::Tls { .. }));
        assert_eq!((https.handshakes(), wss.handshakes()), (0, 0));
    })
    .await
}

#[tokio::test]
async fn proxy_credentials_are_sent_and_never_shown() {
    bounded(async {
        let amb = FakeAmb::start().await;
        let gw = FakeWs::start(&amb).await;
        let proxy = ConnectProxy::start().await;
        proxy.require_basic_auth("alice", "PROXYSECRET");

        // Without credentials: the proxy's 407 is a typed refusal naming proxy and status.
        let c = ws(&gw.url()).proxy(proxy.url()).build().unwrap();
        let err = ws_block_number(c).await.unwrap_err();
        match amb_err(&err) {
            AmbError::ProxyRefused {
                proxy: shown,
                status,
                host,
                ..
            } => {
                assert_eq!((shown.as_str(), *status), (proxy.url().as_str(), 407));
                assert_eq!(host, "127.0.0.1");
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("credentials"), "{err}");

        // Wrong credentials: same, and the password given is in no text.
        let c = ws(&gw.url())
            .proxy(proxy.url_with_credentials("alice", "WRONGSECRET"))
            .build()
            .unwrap();
        assert!(!format!("{c:?}").contains("WRONGSECRET"));
        let err = ws_block_number(c).await.unwrap_err();
        assert!(matches!(
            amb_err(&err),
            AmbError::ProxyRefused { status: 407, .. }
        ));
        assert!(!format!("{err} {err:?}").contains("WRONGSECRET"), "{err:?}");
        let b = ws(&gw.url()).proxy(proxy.url_with_credentials("alice", "WRONGSECRET"));
        assert!(!format!("{b:?}").contains("WRONGSECRET"), "{b:?}");
        let b = http(&amb.url()).proxy(proxy.url_with_credentials("alice", "WRONGSECRET"));
        assert!(!format!("{b:?}").contains("WRONGSECRET"), "{b:?}");
        let t = b.build().unwrap();
        assert!(!format!("{t:?}").contains("WRONGSECRET"), "{t:?}");
        let err = http_block_number(t).await.unwrap_err();
        assert!(!format!("{err} {err:?}").contains("WRONGSECRET"), "{err:?}");

        // The right ones: `Proxy-Authorization: Basic`, for both transports.
        let url = proxy.url_with_credentials("alice", "PROXYSECRET");
        let c = ws(&gw.url()).proxy(&url).build().unwrap();
        assert_eq!(ws_block_number(c).await.unwrap(), GENESIS_HEAD);
        let t = http(&amb.url()).proxy(&url).build().unwrap();
        assert_eq!(http_block_number(t).await.unwrap(), GENESIS_HEAD);
        let seen: Vec<_> = proxy
            .requests()
            .into_iter()
            .map(|r| (r.status, r.authorization))
            .collect();
        let basic = Some("Basic YWxpY2U6UFJPWFlTRUNSRVQ=".to_owned());
        assert_eq!(&seen[3..], &[(200, basic.clone()), (0, basic)]);
    })
    .await
}

#[tokio::test]
async fn a_proxy_refusal_names_the_status() {
    bounded(async {
        let amb = FakeAmb::start().await;
        let gw = FakeWs::start(&amb).await;
        let proxy = ConnectProxy::start().await;
        for status in [403, 502] {
            proxy.refuse_with(Some(status));
            let c = ws(&gw.url()).proxy(proxy.url()).build().unwrap();
            let err = ws_block_number(c).await.unwrap_err();
            match amb_err(&err) {
                AmbError::ProxyRefused { status: s, .. } => assert_eq!(*s, status),
                other => panic!("{other:?}"),
            }
            assert!(err.to_string().contains(&format!("HTTP {status}")), "{err}");
        }
        assert!(proxy.tunnels().is_empty());
        assert_eq!(amb.received().len(), 0);
    })
    .await
}

/// Over HTTP reqwest opens the tunnel (for https://): a 407 is still `ProxyRefused` naming
/// the proxy; other refusals, whose status reqwest does not keep, a `Connect` naming it.
#[tokio::test]
async fn a_proxy_refusal_over_http_names_the_proxy() {
    bounded(async {
        let amb = FakeAmb::start().await;
        let ca = TestCa::new();
        let https = TlsFront::start(&ca, amb.address()).await;
        let proxy = ConnectProxy::start().await;
        let transport = || {
            http(&https.https_url())
                .tls_config(trusting(&ca))
                .proxy(proxy.url_with_credentials("alice", "WRONGSECRET"))
                .build()
                .unwrap()
        };
        proxy.require_basic_auth("alice", "PROXYSECRET");
        let err = http_block_number(transport()).await.unwrap_err();
        match amb_err(&err) {
            AmbError::ProxyRefused {
                proxy: shown,
                status,
                host,
                ..
            } => {
                assert_eq!((shown.as_str(), *status), (proxy.url().as_str(), 407));
                assert_eq!(host, "localhost");
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{err} {err:?}").contains("WRONGSECRET"), "{err:?}");

        proxy.refuse_with(Some(403));
        let err = http_block_number(transport()).await.unwrap_err();
        match amb_err(&err) {
            AmbError::Connect { reason, .. } => {
                assert!(reason.contains(&proxy.url()), "{reason}");
                assert!(reason.contains("refused to open a tunnel"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(proxy.requests().len(), 2);
        assert_eq!(https.handshakes(), 0);
    })
    .await
}

#[test]
fn only_http_proxy_urls_are_accepted() {
    for bad in [
        "https://proxy.example:443",
        "socks5://u:SECRETPW@proxy.example:1080",
        "proxy:3128",
    ] {
        for err in [
            http("https://rpc.example/").proxy(bad).build().unwrap_err(),
            ws("wss://rpc.example/").proxy(bad).build().unwrap_err(),
        ] {
            assert!(
                matches!(err, AmbError::Config(ConfigError::InvalidProxy { .. })),
                "{bad}: {err:?}"
            );
            assert!(!format!("{err} {err:?}").contains("SECRETPW"), "{err}");
        }
    }
}

/// A proxy that answers nonsense, closes at once, or sends an endless head: a typed error
/// naming the proxy, bounded, never a panic or a hang.
#[tokio::test]
async fn a_broken_proxy_is_a_typed_connect_error() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    bounded(async {
        let answers: [&'static [u8]; 3] = [b"garbage\r\n\r\n", b"", b"HTTP/1.1 200 OK\r\nX: "];
        for answer in answers {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let proxy_url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move {
                let (mut tcp, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = tcp.read(&mut buf).await;
                let _ = tcp.write_all(answer).await;
                if answer.ends_with(b": ") {
                    // An endless header line: the client must stop reading at its bound.
                    let filler = vec![b'a'; 64 * 1024];
                    while tcp.write_all(&filler).await.is_ok() {}
                }
            });
            let c = ws("ws://127.0.0.1:1/")
                .proxy(&proxy_url)
                .connect_timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap();
            let err = ws_block_number(c).await.unwrap_err();
            match amb_err(&err) {
                AmbError::Connect { reason, .. } => {
                    assert!(reason.contains(&proxy_url), "{reason}")
                }
                other => panic!("{other:?}"),
            }
        }
    })
    .await
}

/// A client of your own and a network setting that would apply only to the client the builder
/// makes: a typed conflict naming both, never a silently ignored setting.
#[test]
fn a_user_client_with_network_settings_is_a_conflict() {
    let url = "https://nd-1.ethereum.managedblockchain.us-east-1.amazonaws.com";
    let own = || http(url).client(alloy_amb::reqwest::Client::new());
    let tls = trusting(&TestCa::new());
    for (builder, setting) in [
        (own().proxy("socks5://127.0.0.1:1"), ".proxy(..)"),
        (own().proxy("http://127.0.0.1:1"), ".proxy(..)"),
        (own().no_proxy(), ".no_proxy()"),
        (own().tls_config(tls), ".tls_config(..)"),
    ] {
        match builder.build() {
            Err(AmbError::Config(ConfigError::Conflict { first, second, .. })) => {
                assert_eq!((first, second), (".client(..)", setting));
            }
            other => panic!("{setting}: expected a conflict, got {other:?}"),
        }
    }
    own().build().expect("a client alone is fine");
}

/// A TLS configuration for a cleartext (loopback `http://` / `ws://`) endpoint would be
/// ignored: it is refused at `build()` on both transports, never silently dropped.
#[test]
fn a_tls_config_for_a_cleartext_endpoint_is_refused() {
    let tls = || trusting(&TestCa::new());
    for err in [
        http("http://127.0.0.1:8545/")
            .tls_config(tls())
            .build()
            .unwrap_err(),
        ws("ws://127.0.0.1:8546/")
            .tls_config(tls())
            .build()
            .unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                AmbError::Config(ConfigError::TlsConfigWithoutTls { .. })
            ),
            "{err:?}"
        );
    }
    // The same configuration for TLS endpoints is taken.
    http("https://localhost:8545/")
        .tls_config(tls())
        .build()
        .unwrap();
    ws("wss://localhost:8546/")
        .tls_config(tls())
        .build()
        .unwrap();
}
