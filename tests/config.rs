//! `EndpointConfig`: one value (serde or `{P}_*` environment variables) that picks the endpoint
//! and its auth, applied to the real builders and checked on the wire (the fake AMB gateway for
//! SigV4 and billing tokens, a wiremock provider for headers, bearer and Basic).

mod support;

use tokio::sync::{Mutex, MutexGuard};

use alloy_amb::config::ConfigValueError;
use alloy_amb::{AmbError, AuthSpec, ConfigError, EndpointConfig, HeaderSpec, SecretValue};
use alloy_amb_testing::{FakeAmb, REGION};
use alloy_rpc_client::ClientBuilder;
use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// Tests that set or read process environment variables take this lock (the environment is
/// process-wide; concurrent `setenv` and `getenv` are not safe).
static ENV: Mutex<()> = Mutex::const_new(());

async fn env_lock() -> MutexGuard<'static, ()> {
    ENV.lock().await
}

fn env_lock_blocking() -> MutexGuard<'static, ()> {
    ENV.blocking_lock()
}

fn value_error(e: AmbError) -> ConfigValueError {
    match e {
        AmbError::Config(ConfigError::Endpoint(v)) => v,
        other => panic!("not an EndpointConfig error: {other:?}"),
    }
}

/// A JSON-RPC node that answers `eth_chainId` with `0x1` (echoing the id) and records requests.
async fn provider() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(|req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            ResponseTemplate::new(200)
                .set_body_json(json!({"jsonrpc": "2.0", "id": body["id"], "result": "0x1"}))
        })
        .mount(&server)
        .await;
    server
}

fn fake_chain_id() -> String {
    format!("{:#x}", alloy_amb_testing::chain::CHAIN_ID)
}

async fn chain_id(config: &EndpointConfig) -> Result<String, String> {
    let http = config.http().map_err(|e| e.to_string())?;
    let client = ClientBuilder::default().transport(http, false);
    client
        .request_noparams::<String>("eth_chainId")
        .await
        .map_err(|e| e.to_string())
}

async fn last_headers(server: &MockServer) -> Vec<(String, String)> {
    let reqs = server.received_requests().await.unwrap();
    let last = reqs.last().expect("a request reached the provider");
    last.headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn header_mode_sends_the_header_from_the_environment_and_signs_nothing() {
    let server = provider().await;
    let _env = env_lock().await;
    std::env::set_var("CFGTEST_QN_TOKEN", "qn-SECRET-1");
    let config: EndpointConfig = serde_json::from_value(json!({
        "url": format!("{}/", server.uri()),
        "auth": "header",
        "headers": [{"name": "x-token", "value": "env:CFGTEST_QN_TOKEN"}],
    }))
    .unwrap();
    assert_eq!(chain_id(&config).await.unwrap(), "0x1");
    let headers = last_headers(&server).await;
    assert_eq!(header(&headers, "x-token"), Some("qn-SECRET-1"));
    assert_eq!(header(&headers, "authorization"), None);
    assert!(
        headers.iter().all(|(k, _)| !k.starts_with("x-amz-")),
        "{headers:?}"
    );
    assert!(!format!("{config:?}").contains("qn-SECRET-1"));
}

#[tokio::test]
async fn bearer_and_basic_from_environment_variables() {
    let server = provider().await;
    let _env = env_lock().await;
    std::env::set_var("CFGTEST_JWT", "jwt-SECRET-2");
    let url = format!("{}/", server.uri());
    let vars = [
        ("B_URL", url.as_str()),
        ("B_AUTH", "bearer"),
        ("B_TOKEN", "env:CFGTEST_JWT"),
    ];
    let lookup = |vars: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let config = EndpointConfig::from_lookup("B", |k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    })
    .unwrap();
    assert_eq!(chain_id(&config).await.unwrap(), "0x1");
    let headers = last_headers(&server).await;
    assert_eq!(
        header(&headers, "authorization"),
        Some("Bearer jwt-SECRET-2")
    );

    let config = EndpointConfig::from_lookup(
        "K",
        lookup(&[
            ("K_URL", "http://127.0.0.1:1/"),
            ("K_USER", "alice"),
            ("K_PASSWORD", "pw-SECRET-3"),
        ]),
    )
    .unwrap();
    // `auto` with a user is HTTP Basic.
    let mut basic = config.clone();
    basic.url = url.clone();
    assert_eq!(chain_id(&basic).await.unwrap(), "0x1");
    let headers = last_headers(&server).await;
    // alice:pw-SECRET-3
    assert_eq!(
        header(&headers, "authorization"),
        Some("Basic YWxpY2U6cHctU0VDUkVULTM=")
    );
    assert!(!format!("{config:?}").contains("pw-SECRET-3"));
}

#[tokio::test]
async fn from_env_reads_the_process_environment_and_config_json() {
    let fake = FakeAmb::start().await;
    fake.add_billing_token("CfgToken12345");
    let _env = env_lock().await;
    for (k, v) in [
        ("CFGT_URL", fake.url()),
        ("CFGT_AUTH", "billing-token".into()),
        ("CFGT_TOKEN", "env:CFGTEST_BILLING".into()),
        ("CFGTEST_BILLING", "CfgToken12345".into()),
    ] {
        std::env::set_var(k, v);
    }
    let config = EndpointConfig::from_env("CFGT").unwrap();
    assert_eq!(config.auth, AuthSpec::BillingToken);
    assert_eq!(config.token, Some(SecretValue::env("CFGTEST_BILLING")));
    assert_eq!(chain_id(&config).await.unwrap(), fake_chain_id());
    let r = fake.received().pop().unwrap();
    assert!(r.rejected.is_none(), "{r:?}");
    assert_eq!(r.query.as_deref(), Some("billingtoken=CfgToken12345"));
    assert_eq!(r.header("authorization"), None);

    // The same as one JSON value.
    let json = json!({"url": fake.url(), "auth": "billing-token", "token": "env:CFGTEST_BILLING"});
    std::env::set_var("CFGJ_CONFIG", json.to_string());
    let config = EndpointConfig::from_env("CFGJ").unwrap();
    assert_eq!(chain_id(&config).await.unwrap(), fake_chain_id());
    assert_eq!(fake.accepted().len(), 2);
    for k in ["CFGT_URL", "CFGT_AUTH", "CFGT_TOKEN", "CFGJ_CONFIG"] {
        std::env::remove_var(k);
    }
}

#[tokio::test]
async fn sigv4_through_the_config_then_more_setters() {
    let fake = FakeAmb::start().await;
    let config = EndpointConfig {
        region: Some(REGION.into()),
        service: Some("managedblockchain".into()),
        ..EndpointConfig::new(fake.url())
    };
    let http = config
        .http_builder()
        .unwrap()
        .credentials_provider(support::fake_credentials())
        .build()
        .unwrap();
    let client = ClientBuilder::default().transport(http, false);
    let id: String = client.request_noparams("eth_chainId").await.unwrap();
    assert_eq!(id, fake_chain_id());
    let r = fake.received().pop().unwrap();
    assert!(r.rejected.is_none(), "{r:?}");
    assert!(r
        .header("authorization")
        .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256")));
}

#[tokio::test]
async fn a_missing_secret_variable_is_a_typed_error_naming_it() {
    let _env = env_lock().await;
    std::env::remove_var("CFGTEST_UNSET");
    let mut config = EndpointConfig::new("https://eth.example.com/");
    config.auth = AuthSpec::Bearer;
    config.token = Some(SecretValue::new("env:CFGTEST_UNSET"));
    let e = value_error(config.http().unwrap_err());
    assert_eq!(
        e,
        ConfigValueError::EnvUnset {
            field: "`token`".into(),
            variable: "CFGTEST_UNSET".into()
        }
    );
    // From variables, the error names the variable that holds `env:..`.
    let config = EndpointConfig::from_lookup("X", |k| match k {
        "X_URL" => Some("https://eth.example.com/".into()),
        "X_HEADERS" => Some("x-token: env:CFGTEST_UNSET".into()),
        _ => None,
    })
    .unwrap();
    let e = config.http().unwrap_err().to_string();
    assert!(
        e.contains("X_HEADERS (x-token)") && e.contains("CFGTEST_UNSET is not set"),
        "{e}"
    );
    #[cfg(feature = "ws")]
    {
        let mut ws = config.clone();
        ws.url = "wss://eth.example.com/".into();
        assert!(matches!(
            value_error(ws.ws().unwrap_err()),
            ConfigValueError::EnvUnset { .. }
        ));
    }
}

#[test]
fn secrets_never_reach_errors() {
    let _env = env_lock_blocking();
    // A token the builder refuses (a line break): the builder's error names the setting only.
    std::env::set_var("CFGTEST_BAD", "bad-SECRET-4\nx");
    let mut config = EndpointConfig::new("https://eth.example.com/");
    config.auth = AuthSpec::Bearer;
    config.token = Some(SecretValue::env("CFGTEST_BAD"));
    let e = config.http().unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(!text.contains("bad-SECRET-4"), "{text}");
    // A header whose value breaks the line.
    config.auth = AuthSpec::Header;
    config.token = None;
    config.headers = vec![HeaderSpec::new("x-token", SecretValue::env("CFGTEST_BAD"))];
    let e = config.http().unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(!text.contains("bad-SECRET-4"), "{text}");
    // A secret misplaced in JSON (a string where a list goes).
    std::env::set_var(
        "CFGS_CONFIG",
        r#"{"url":"https://h/","headers":"x-token: lit-SECRET-5"}"#,
    );
    let e = EndpointConfig::from_env("CFGS").unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(
        !text.contains("lit-SECRET-5") && text.contains("CFGS_CONFIG"),
        "{text}"
    );
    std::env::remove_var("CFGS_CONFIG");
}

#[test]
fn serde_refuses_unknown_fields_and_reads_every_field() {
    let e = serde_json::from_value::<EndpointConfig>(json!({"url": "https://h/", "tokn": "x"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `tokn`"), "{e}");
    let c: EndpointConfig = serde_json::from_value(json!({
        "url": "https://a.execute-api.eu-west-1.amazonaws.com/prod",
        "auth": "sigv4",
        "region": "eu-west-1",
        "service": "execute-api",
        "target": "api-gateway",
        "unsigned_payload": false,
        "sigv4a": true,
        "region_set": "*",
        "headers": [{"name": "x-a", "value": "1"}],
        "proxy": "http://proxy:3128",
    }))
    .unwrap();
    assert_eq!(c.auth, AuthSpec::Sigv4);
    assert_eq!(c.target.as_deref(), Some("api-gateway"));
    assert_eq!(c.sigv4a, Some(true));
    assert_eq!(c.unsigned_payload, Some(false));
    assert_eq!(c.region_set.as_deref(), Some("*"));
    assert_eq!(c.proxy.as_deref(), Some("http://proxy:3128"));
    c.check().unwrap();
    let c: EndpointConfig = serde_json::from_value(json!({
        "url": "https://k.example/", "auth": "basic", "user": "u", "password": "env:P",
    }))
    .unwrap();
    assert_eq!(c.password.as_ref().and_then(|p| p.env_var()), Some("P"));
    let e = serde_json::from_value::<EndpointConfig>(json!({"url": "https://h/", "auth": "jwt"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown variant `jwt`"), "{e}");
}

/// The SigV4 fields (target, unsigned_payload, sigv4a) reach the builders: the emulator in VPC
/// Lattice mode refuses a signed payload and takes `UNSIGNED-PAYLOAD`, which `target:
/// vpc-lattice` selects for a host that says nothing (loopback here).
#[tokio::test]
async fn a_lattice_target_from_configuration_signs_unsigned_payload() {
    let fake = FakeAmb::start().await;
    fake.set_target(alloy_amb_testing::FakeTarget::VpcLattice);
    let call = |config: EndpointConfig| async move {
        let http = config
            .http_builder()?
            .credentials_provider(support::fake_credentials())
            .build()?;
        let client = ClientBuilder::default().transport(http, false);
        client
            .request_noparams::<String>("eth_chainId")
            .await
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error>)
    };
    let config: EndpointConfig = serde_json::from_value(json!({
        "url": fake.url(), "target": "vpc-lattice", "region": REGION,
    }))
    .unwrap();
    assert_eq!(
        config.resolved_target().unwrap(),
        alloy_amb::Target::VpcLattice
    );
    assert_eq!(call(config.clone()).await.unwrap(), fake_chain_id());
    let r = fake.received().pop().unwrap();
    assert!(r.rejected.is_none(), "{r:?}");
    assert_eq!(r.header("x-amz-content-sha256"), Some("UNSIGNED-PAYLOAD"));

    // `unsigned_payload: false` is applied too: the body is signed, and Lattice refuses it.
    let mut signed = config.clone();
    signed.unsigned_payload = Some(false);
    assert!(call(signed).await.is_err());
    assert!(fake.received().pop().unwrap().rejected.is_some());

    // SigV4A (region set `*`), which Lattice takes.
    let mut sigv4a = config;
    sigv4a.sigv4a = Some(true);
    assert_eq!(call(sigv4a).await.unwrap(), fake_chain_id());
    let r = fake.received().pop().unwrap();
    assert!(r.rejected.is_none(), "{r:?}");
    assert!(r
        .header("authorization")
        .is_some_and(|a| a.starts_with("AWS4-ECDSA-P256-SHA256")));
}

/// What the configuration says about the target is checked by the builders at `build()`: a
/// WebSocket to VPC Lattice, an unsigned payload to a Lambda URL.
#[cfg(feature = "ws")]
#[test]
fn target_rules_are_refused_at_build() {
    let mut ws = EndpointConfig::new("wss://svc-1.abc.vpc-lattice-svcs.us-east-1.on.aws/");
    ws.region = Some("us-east-1".into());
    let e = ws.ws().unwrap_err().to_string();
    assert!(e.contains("VPC Lattice does not support WebSockets"), "{e}");
    let mut lambda = EndpointConfig::new("https://abc.lambda-url.us-east-1.on.aws/");
    lambda.unsigned_payload = Some(true);
    let e = lambda.http().unwrap_err().to_string();
    assert!(e.contains("refuses unsigned payloads"), "{e}");
    // `target` names an unknown target: named, with the choices.
    let mut bad = EndpointConfig::new("https://rpc.example.com/");
    bad.target = Some("lattice".into());
    assert!(matches!(
        value_error(bad.http().unwrap_err()),
        ConfigValueError::Invalid { .. }
    ));
}

/// `proxy` (`{P}_PROXY`) reaches both builders: HTTP is forwarded through it, the WebSocket
/// tunnels through it (`CONNECT`), and the gateway's verifier accepts what went through.
#[tokio::test]
async fn the_proxy_field_carries_http_and_websocket() {
    let _env = env_lock().await;
    let amb = FakeAmb::start().await;
    let gw = alloy_amb_testing::FakeWs::start(&amb).await;
    let proxy = alloy_amb_testing::ConnectProxy::start().await;
    let config = |url: String| {
        EndpointConfig::from_lookup("P", |k| match k {
            "P_URL" => Some(url.clone()),
            "P_REGION" => Some(REGION.into()),
            "P_PROXY" => Some(proxy.url()),
            _ => None,
        })
        .unwrap()
    };
    let http = config(amb.url())
        .http_builder()
        .unwrap()
        .credentials_provider(support::fake_credentials())
        .build()
        .unwrap();
    let client = ClientBuilder::default().transport(http, false);
    let id: String = client.request_noparams("eth_chainId").await.unwrap();
    assert_eq!(id, fake_chain_id());
    assert_eq!(proxy.forwarded(), vec![amb.address().to_string()]);

    let ws = config(gw.url())
        .ws_builder()
        .unwrap()
        .credentials_provider(support::fake_credentials())
        .build()
        .unwrap();
    let client = ClientBuilder::default().pubsub(ws).await.unwrap();
    let id: String = client.request_noparams("eth_chainId").await.unwrap();
    assert_eq!(id, fake_chain_id());
    assert_eq!(proxy.tunnels(), vec![gw.authority()]);
    assert!(amb.accepted().iter().all(|r| r.rejected.is_none()));
}
