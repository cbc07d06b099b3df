//! The environment's network settings, in a binary of their own (the environment is
//! process-wide): `SSL_CERT_FILE` and `SSL_CERT_DIR` for both transports' default trust (read
//! at each `build()`, as reqwest does), and `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` read
//! the same way by the WebSocket as by reqwest (hyper-util's matcher for both).
//!
//! One test function, so nothing else runs while the variables change; they are changed only
//! between `block_on` calls of a current-thread runtime, when no client is running.

mod support;

use alloy_amb::{AmbError, AmbHttp, AmbWsConnect, ConfigError};
use alloy_amb_testing::chain::GENESIS_HEAD;
use alloy_amb_testing::FakeWs;
use alloy_amb_testing::{ConnectProxy, TestCa, TlsFront};
use alloy_amb_testing::{FakeAmb, REGION};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_transport::TransportError;
use support::fake_credentials;

const PROXY_VARS: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

fn set(vars: &[(&str, &str)]) {
    for name in PROXY_VARS {
        std::env::remove_var(name);
    }
    for (name, value) in vars {
        std::env::set_var(name, value);
    }
}

struct Setup {
    amb: FakeAmb,
    gw: FakeWs,
    https: TlsFront,
    wss: TlsFront,
    proxy: ConnectProxy,
}

/// The transports to `http_url` and `ws_url`.
fn transports(http_url: &str, ws_url: &str, no_proxy: bool) -> (AmbHttp, AmbWsConnect) {
    let mut t = AmbHttp::builder(http_url)
        .region(REGION)
        .credentials_provider(fake_credentials());
    let mut c = AmbWsConnect::builder(ws_url)
        .region(REGION)
        .credentials_provider(fake_credentials())
        .max_retries(0);
    if no_proxy {
        t = t.no_proxy();
        c = c.no_proxy();
    }
    (t.build().unwrap(), c.build().unwrap())
}

/// Block numbers over HTTP and over the WebSocket, or the errors.
async fn try_both(
    (t, c): (AmbHttp, AmbWsConnect),
) -> (Result<u64, TransportError>, Result<u64, TransportError>) {
    let http = ProviderBuilder::new()
        .connect_client(alloy_rpc_client::RpcClient::new(t, false))
        .get_block_number()
        .await;
    let ws = match ProviderBuilder::new().connect_pubsub_with(c).await {
        Ok(provider) => provider.get_block_number().await,
        Err(e) => Err(e),
    };
    (http, ws)
}

/// Block numbers over HTTP and over the WebSocket to `http_url` and `ws_url`.
async fn both(http_url: &str, ws_url: &str, no_proxy: bool) -> (u64, u64) {
    let (http, ws) = try_both(transports(http_url, ws_url, no_proxy)).await;
    (http.unwrap(), ws.unwrap())
}

#[test]
fn environment_trust_and_proxies_for_both_transports() {
    let ca = TestCa::new();
    let ca_file =
        std::env::temp_dir().join(format!("alloy-amb-test-ca-{}.pem", std::process::id()));
    ca.write_ca_pem(&ca_file).unwrap();
    let ca_dir = std::env::temp_dir().join(format!("alloy-amb-test-certs-{}", std::process::id()));
    std::fs::create_dir_all(&ca_dir).unwrap();
    ca.write_ca_pem(&ca_dir.join("private-ca.pem")).unwrap();
    set(&[]);
    std::env::remove_var("SSL_CERT_DIR");
    std::env::remove_var("SSL_CERT_FILE");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = rt.block_on(async {
        let amb = FakeAmb::start().await;
        let gw = FakeWs::start(&amb).await;
        let https = TlsFront::start(&ca, amb.address()).await;
        let wss = TlsFront::start(&ca, gw.authority().parse().unwrap()).await;
        let proxy = ConnectProxy::start().await;
        Setup {
            amb,
            gw,
            https,
            wss,
            proxy,
        }
    });
    let (https_url, wss_url) = (s.https.https_url(), s.wss.wss_url());
    let tls_targets = vec![
        format!("localhost:{}", s.https.port()),
        format!("localhost:{}", s.wss.port()),
    ];
    let expected = (GENESIS_HEAD, GENESIS_HEAD);

    // The system's roots: the private CA is trusted by neither.
    let (http, ws) = rt.block_on(try_both(transports(&https_url, &wss_url, false)));
    for err in [http.unwrap_err(), ws.unwrap_err()] {
        let amb = AmbError::from_transport_error(&err);
        assert!(matches!(amb, Some(AmbError::Tls { .. })), "{err:?}");
    }

    // SSL_CERT_DIR, then SSL_CERT_FILE: the private CA is trusted by both, with no
    // configuration in code, read again at each build.
    std::env::set_var("SSL_CERT_DIR", &ca_dir);
    assert_eq!(rt.block_on(both(&https_url, &wss_url, false)), expected);
    std::env::remove_var("SSL_CERT_DIR");
    std::env::set_var("SSL_CERT_FILE", &ca_file);
    assert_eq!(rt.block_on(both(&https_url, &wss_url, false)), expected);
    assert_eq!((s.https.handshakes(), s.wss.handshakes()), (2, 2));
    assert!(s.proxy.requests().is_empty());

    // HTTPS_PROXY: both tunnel, `localhost` included (loopback is not exempt by itself).
    set(&[("HTTPS_PROXY", &s.proxy.url())]);
    assert_eq!(rt.block_on(both(&https_url, &wss_url, false)), expected);
    assert_eq!(s.proxy.tunnels(), tls_targets);

    // NO_PROXY exempts the host for both; `.no_proxy()` ignores the variables.
    set(&[
        ("HTTPS_PROXY", &s.proxy.url()),
        ("NO_PROXY", "example.com, localhost"),
    ]);
    assert_eq!(rt.block_on(both(&https_url, &wss_url, false)), expected);
    set(&[("https_proxy", &s.proxy.url())]);
    assert_eq!(rt.block_on(both(&https_url, &wss_url, true)), expected);
    assert_eq!(s.proxy.requests().len(), 2);

    // ALL_PROXY when HTTPS_PROXY is not set; HTTP_PROXY is not for https:// or wss://.
    let unreachable = "http://127.0.0.1:9";
    set(&[("ALL_PROXY", &s.proxy.url()), ("HTTP_PROXY", unreachable)]);
    assert_eq!(rt.block_on(both(&https_url, &wss_url, false)), expected);
    assert_eq!(
        s.proxy.tunnels(),
        [tls_targets.clone(), tls_targets.clone()].concat()
    );

    // Cleartext on loopback: HTTP_PROXY is the one for http:// and ws:// (reqwest forwards
    // the HTTP request in absolute form; the WebSocket tunnels), and NO_PROXY by IP.
    set(&[("HTTP_PROXY", &s.proxy.url()), ("HTTPS_PROXY", unreachable)]);
    assert_eq!(
        rt.block_on(both(&s.amb.url(), &s.gw.url(), false)),
        expected
    );
    assert_eq!(s.proxy.forwarded(), vec![s.amb.address().to_string()]);
    assert_eq!(s.proxy.tunnels().last(), Some(&s.gw.authority()));
    let seen = s.proxy.requests().len();
    set(&[("HTTP_PROXY", &s.proxy.url()), ("NO_PROXY", "127.0.0.0/8")]);
    assert_eq!(
        rt.block_on(both(&s.amb.url(), &s.gw.url(), false)),
        expected
    );
    assert_eq!(s.proxy.requests().len(), seen);

    // An https:// proxy (TLS to the proxy, trusted like the endpoint, then CONNECT inside):
    // both transports go through it.
    let tls_proxy = rt.block_on(TlsFront::start(&ca, s.proxy.address()));
    let tunnels = s.proxy.tunnels().len();
    let https_proxy = format!("https://localhost:{}", tls_proxy.port());
    set(&[("HTTPS_PROXY", &https_proxy)]);
    assert_eq!(rt.block_on(both(&https_url, &wss_url, false)), expected);
    assert_eq!(tls_proxy.handshakes(), 2);
    assert_eq!(s.proxy.tunnels()[tunnels..], tls_targets[..]);

    // A proxy the WebSocket cannot use (socks) in the environment: `build()` still
    // succeeds; each connect fails with a typed error naming the variables and the ways out,
    // and NO_PROXY or `.no_proxy()` take the direct way.
    for (name, value) in [
        ("ALL_PROXY", "socks5://user:pw@127.0.0.1:1"),
        ("HTTPS_PROXY", "socks5h://127.0.0.1:1"),
    ] {
        set(&[(name, value)]);
        let ws = AmbWsConnect::builder(&wss_url)
            .region(REGION)
            .credentials_provider(fake_credentials())
            .max_retries(0)
            .build()
            .unwrap_or_else(|e| panic!("{name}={value} broke build(): {e}"));
        let err = rt
            .block_on(ProviderBuilder::new().connect_pubsub_with(ws))
            .map(|_| ())
            .unwrap_err();
        match AmbError::from_transport_error(&err) {
            Some(AmbError::Config(ConfigError::UnusableEnvProxy {
                proxy, variable, ..
            })) => {
                assert!(variable.contains(name), "{variable}");
                assert!(!proxy.contains("pw"), "{proxy}");
            }
            other => panic!("{name}={value}: {other:?}"),
        }
        let text = err.to_string();
        for hint in ["NO_PROXY", ".no_proxy()", "http://"] {
            assert!(text.contains(hint), "{text}");
        }
        assert!(!text.contains("pw"), "{text}");
        let hosts = format!("{name}={value}");
        set(&[(name, value), ("NO_PROXY", "localhost")]);
        assert_eq!(
            rt.block_on(both(&https_url, &wss_url, false)),
            expected,
            "{hosts}"
        );
        set(&[(name, value)]);
        assert_eq!(
            rt.block_on(both(&https_url, &wss_url, true)),
            expected,
            "{hosts}"
        );
    }

    set(&[]);
    let _ = std::fs::remove_file(&ca_file);
    let _ = std::fs::remove_dir_all(&ca_dir);
}
