//! Secrets (secret key, session token, signatures, billing token) never appear in logs at any
//! level, nor in `Debug`/`Display` of transports, builders, credentials or errors.

mod support;

use alloy_amb::{AmbCredentials, AmbHttp, ProviderBuilderExt};
use alloy_amb_testing::{FakeAmb, REGION};
use alloy_provider::{Provider, ProviderBuilder};
use aws_credential_types::Credentials;

const AKID: &str = "ASIASECRETSTEST00001";
const SECRET: &str = "SuperSecretAccessKeyValue0000000000000000";
const SESSION: &str = "SessionTokenValueThatMustNeverBeLogged";
const BILLING: &str = "BillingTokenThatMustNeverBeLogged";

#[tokio::test]
async fn secrets_never_reach_logs_or_debug() {
    let (capture, _guard) = support::log_capture::capture();

    let fake = FakeAmb::start().await;
    fake.add_key(AKID, SECRET, Some(SESSION));
    fake.add_billing_token(BILLING);
    let creds = AmbCredentials::from_provider(Credentials::new(
        AKID,
        SECRET,
        Some(SESSION.into()),
        None,
        "test",
    ));
    let builder = AmbHttp::builder(fake.url())
        .region(REGION)
        .credentials(creds.clone());
    let builder_dbg = format!("{builder:?}");
    let signed = builder.build().unwrap();
    let provider = ProviderBuilder::new().on_transport(signed.clone());
    provider.get_chain_id().await.unwrap();
    provider.get_block_number().await.unwrap();

    let token_url = format!("{}?billingtoken={BILLING}", fake.url());
    let token = AmbHttp::new(&token_url).unwrap();
    ProviderBuilder::new()
        .on_transport(token.clone())
        .get_chain_id()
        .await
        .unwrap();

    // A refused request and a refused token produce errors; format them too.
    let bad = AmbHttp::builder(fake.url())
        .region(REGION)
        .credentials_provider(Credentials::new(
            AKID,
            "wrong",
            Some(SESSION.into()),
            None,
            "t",
        ))
        .build()
        .unwrap();
    let err1 = ProviderBuilder::new()
        .on_transport(bad)
        .get_chain_id()
        .await
        .unwrap_err();
    let bad_token = AmbHttp::new(format!("{}?billingtoken={BILLING}x", fake.url())).unwrap();
    let err2 = ProviderBuilder::new()
        .on_transport(bad_token.clone())
        .get_chain_id()
        .await
        .unwrap_err();

    let received = fake.received();
    let signatures = support::signatures(received.iter().map(|r| r.header("authorization")));
    assert_eq!(signatures.len(), 3);

    let logs = capture.text();
    // Logging did happen, with the request span's fields.
    assert!(logs.contains("amb_request"), "{logs}");
    assert!(logs.contains("eth_chainId"), "{logs}");
    assert!(logs.contains("status=200"), "{logs}");
    // One debug event per credential fetch: source name, masked key id, new expiry.
    let fetch = logs
        .lines()
        .find(|l| l.contains("fetched AWS credentials"))
        .expect("no fetch event");
    assert!(fetch.contains("source=custom"), "{fetch}");
    assert!(fetch.contains("ASIA…0001"), "{fetch}");
    assert!(!fetch.contains(AKID), "{fetch}");

    let everything = format!(
        "{logs}\n{builder_dbg}\n{signed:?}\n{token:?}\n{bad_token:?}\n{creds:?}\n{err1}\n{err1:?}\n{err2}\n{err2:?}\n{:?}\n{}",
        signed.endpoint(),
        token.endpoint(),
    );
    support::assert_nothing_leaked(&everything, &[SECRET, SESSION, BILLING], &signatures);
}
