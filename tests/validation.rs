//! Bad configuration is a clear, typed `AmbError` before anything is sent: builder values,
//! endpoint URLs (scheme, loopback), billing tokens, and credentials that cannot go in a header.

mod support;

use alloy_amb::{AmbError, AmbHttp, AmbWsConnect};
use alloy_amb_testing::FakeWs;
use alloy_amb_testing::{FakeAmb, ACCESS_KEY, REGION, SECRET_KEY};
use alloy_primitives::U64;
use alloy_rpc_client::{ClientBuilder, RpcClient};
use aws_credential_types::Credentials;
use support::fake_credentials;

const AMB: &str = "https://nd-abc.ethereum.managedblockchain.us-east-1.amazonaws.com/";
const AMB_WS: &str = "wss://nd-abc.wss.ethereum.managedblockchain.us-east-1.amazonaws.com/";

#[test]
fn bad_regions_are_refused_at_build() {
    for region in [
        "",
        " ",
        "us east 1",
        "us-east-1\n",
        "US-EAST-1",
        "us-east-1 ",
    ] {
        let http = AmbHttp::builder(AMB)
            .region(region)
            .credentials_provider(fake_credentials())
            .build();
        let ws = AmbWsConnect::builder(AMB_WS)
            .region(region)
            .credentials_provider(fake_credentials())
            .build();
        for err in [http.err(), ws.err()] {
            match err {
                Some(AmbError::Config(m)) => {
                    let m = m.to_string();
                    assert!(m.contains("region") && m.contains("us-east-1"), "{m}")
                }
                other => panic!("{region:?}: {other:?}"),
            }
        }
    }
    for region in ["us-east-1", "cn-north-1", "us-gov-west-1", "eu-central-2"] {
        AmbHttp::builder(AMB).region(region).build().unwrap();
    }
}

#[test]
fn bad_billing_tokens_are_refused_at_build() {
    let url = "https://mainnet.polygon.managedblockchain.us-east-1.amazonaws.com/";
    for token in ["", "  ", "abc def", "abc\n"] {
        match AmbHttp::builder(url).billing_token(token).build() {
            Err(AmbError::Config(m)) => {
                let m = m.to_string();
                assert!(m.contains("billing token"), "{m}");
                assert!(token.trim().is_empty() || !m.contains(token.trim()), "{m}");
            }
            other => panic!("{token:?}: {other:?}"),
        }
    }
    // Two `billingtoken` parameters: which one was meant?
    let err =
        AmbHttp::new(format!("{url}?billingtoken=AAAA1111&billingtoken=BBBB2222")).unwrap_err();
    assert!(
        matches!(&err, AmbError::InvalidUrl { reason, .. } if reason.contains("more than one")),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("AAAA1111"));
    // A builder token does not silently replace a different one in the URL...
    let err = AmbHttp::builder(format!("{url}?billingtoken=URLTOKEN1"))
        .billing_token("BUILDERTOKEN2")
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, AmbError::Config(m) if m.to_string().contains("twice")),
        "{err:?}"
    );
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("URLTOKEN1") && !text.contains("BUILDERTOKEN2"),
        "{text}"
    );
    // ... the same token given twice is fine.
    AmbHttp::builder(format!("{url}?billingtoken=SAME1234"))
        .billing_token("SAME1234")
        .build()
        .unwrap();
}

#[test]
fn cleartext_only_on_loopback_literals_and_exactly_localhost() {
    for url in [
        "http://evil.localhost/",
        "http://localhost.evil.com/",
        "http://a.b.localhost:8545/",
    ] {
        assert!(
            matches!(AmbHttp::new(url), Err(AmbError::InsecureEndpoint { .. })),
            "{url}"
        );
    }
    assert!(matches!(
        AmbWsConnect::builder("ws://evil.localhost:8546/").build(),
        Err(AmbError::InsecureEndpoint { .. })
    ));
    for url in [
        "http://localhost:8545/",
        "http://LOCALHOST/",
        "http://127.0.0.1:8545",
        "http://127.1.2.3/",
        "http://[::1]:8545/",
    ] {
        AmbHttp::builder(url).region(REGION).build().expect(url);
    }
}

#[test]
fn urls_without_a_scheme_say_which_to_add() {
    let cases = [
        ("localhost:8545", "http://localhost:8545"),
        ("127.0.0.1:8545", "http://127.0.0.1:8545"),
        (
            "nd-abc.ethereum.managedblockchain.us-east-1.amazonaws.com",
            "https://nd-abc.ethereum.managedblockchain.us-east-1.amazonaws.com",
        ),
        // The path is not quoted (a provider's key may be in it).
        ("example.com:8443/rpc", "https://example.com:8443/…"),
    ];
    for (input, suggestion) in cases {
        for err in [
            AmbHttp::new(input).unwrap_err(),
            AmbWsConnect::builder(input).build().unwrap_err(),
        ] {
            let text = err.to_string();
            assert!(
                matches!(err, AmbError::InvalidUrl { .. }),
                "{input}: {err:?}"
            );
            assert!(text.contains(suggestion), "{input}: {text}");
            assert!(
                !text.contains("relative URL") && !text.contains("unsupported URL scheme"),
                "{input}: {text}"
            );
        }
    }
    let err = AmbHttp::new("example.com/?billingtoken=SECRETTOK").unwrap_err();
    assert!(!err.to_string().contains("SECRETTOK"), "{err}");
}

/// A session token with a line break (pasted with its newline): a typed credentials error
/// naming the field, nothing sent, no panic; over HTTP and for a WebSocket upgrade.
#[tokio::test]
async fn a_session_token_with_a_newline_is_refused_before_sending() {
    let fake = FakeAmb::start().await;
    let ws = FakeWs::start(&fake).await;
    let creds = || {
        Credentials::new(
            ACCESS_KEY,
            SECRET_KEY,
            Some("SessionTokenPastedWithItsNewline\n".into()),
            None,
            "env",
        )
    };
    let http = AmbHttp::builder(fake.url())
        .region(REGION)
        .credentials_provider(creds())
        .build()
        .unwrap();
    let err = RpcClient::new(http, false)
        .request_noparams::<U64>("eth_chainId")
        .await
        .unwrap_err();
    let connect = AmbWsConnect::builder(ws.url())
        .region(REGION)
        .credentials_provider(creds())
        .build()
        .unwrap();
    let ws_err = ClientBuilder::default()
        .pubsub(connect)
        .await
        .map(drop)
        .unwrap_err();
    for err in [&err, &ws_err] {
        match AmbError::from_transport_error(err) {
            Some(AmbError::Credentials { message, .. }) => {
                assert!(
                    message.contains("session token") && message.contains("line break"),
                    "{message}"
                );
                assert!(!message.contains("SessionTokenPasted"), "{message}");
            }
            other => panic!("{other:?} / {err}"),
        }
    }
    assert!(fake.received().is_empty());
    assert!(ws.upgrades().is_empty());
}
