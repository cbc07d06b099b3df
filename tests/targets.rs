//! Each target end to end against the emulator's target modes, which enforce that service's
//! rules with an independent verifier: VPC Lattice (payload unsigned, refused when signed),
//! Lambda function URLs (payload signed, refused when unsigned), API Gateway with a stage path,
//! and the WebSocket refused at build for targets without one.

mod support;

use alloy_amb::{AmbError, AmbHttp, AmbWsConnect, ConfigError, ProviderBuilderExt, Target};
use alloy_amb_testing::chain::CHAIN_ID;
use alloy_amb_testing::{
    FakeAmb, FakeTarget, FakeWs, MSG_LATTICE_PAYLOAD_SIGNED, REGION, UNSIGNED_PAYLOAD,
};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_client::RpcClient;
use alloy_transport::TransportError;
use support::fake_credentials;

fn amb_err(err: &TransportError) -> &AmbError {
    AmbError::from_transport_error(err).unwrap_or_else(|| panic!("not an AmbError: {err:?}"))
}

async fn fake(target: FakeTarget) -> FakeAmb {
    let amb = FakeAmb::start().await;
    amb.set_target(target);
    amb
}

/// A transport to `url` for `target` (the fake is on loopback, so the target is set as for a
/// custom domain), signed with the fake's keys for its region.
fn http(url: &str, target: Target) -> alloy_amb::AmbHttpBuilder {
    AmbHttp::builder(url)
        .target(target)
        .region(REGION)
        .credentials_provider(fake_credentials())
}

async fn chain_id(t: AmbHttp) -> Result<u64, TransportError> {
    ProviderBuilder::new().on_transport(t).get_chain_id().await
}

#[tokio::test]
async fn lattice_accepts_the_unsigned_payload_it_requires() {
    let fake = fake(FakeTarget::VpcLattice).await;
    let t = http(&fake.url(), Target::VpcLattice).build().unwrap();
    assert_eq!(chain_id(t).await.unwrap(), CHAIN_ID);
    let r = &fake.received()[0];
    assert_eq!(r.rejected, None);
    assert_eq!(r.header("x-amz-content-sha256"), Some(UNSIGNED_PAYLOAD));
    assert_eq!(
        r.signed_headers,
        ["content-type", "host", "x-amz-content-sha256", "x-amz-date"]
    );
    assert!(r
        .header("authorization")
        .unwrap()
        .contains("/vpc-lattice-svcs/aws4_request"));
}

#[tokio::test]
async fn lattice_refuses_a_signed_payload() {
    let fake = fake(FakeTarget::VpcLattice).await;
    let t = http(&fake.url(), Target::VpcLattice)
        .unsigned_payload(false)
        .build()
        .unwrap();
    let err = chain_id(t).await.unwrap_err();
    assert!(
        matches!(amb_err(&err), AmbError::AuthRejected { status: 403, .. }),
        "{err}"
    );
    let received = fake.received();
    assert_eq!(
        received[0].rejected.as_deref(),
        Some(MSG_LATTICE_PAYLOAD_SIGNED)
    );
}

#[tokio::test]
async fn lattice_takes_batches_whole() {
    let fake = fake(FakeTarget::VpcLattice).await;
    let client = RpcClient::new(
        http(&fake.url(), Target::VpcLattice).build().unwrap(),
        false,
    );
    let mut batch = client.new_batch();
    let a = batch
        .add_call::<_, alloy_primitives::U64>("eth_chainId", &())
        .unwrap();
    let b = batch
        .add_call::<_, alloy_primitives::U64>("eth_chainId", &())
        .unwrap();
    batch.send().await.unwrap();
    assert_eq!(a.await.unwrap().to::<u64>(), CHAIN_ID);
    assert_eq!(b.await.unwrap().to::<u64>(), CHAIN_ID);
    let received = fake.received();
    assert_eq!(received.len(), 1, "one request for the batch");
    assert!(received[0].body.starts_with(b"["));
}

#[tokio::test]
async fn lambda_url_accepts_a_signed_payload() {
    let fake = fake(FakeTarget::LambdaUrl).await;
    let t = http(&fake.url(), Target::LambdaUrl).build().unwrap();
    assert_eq!(chain_id(t).await.unwrap(), CHAIN_ID);
    let r = &fake.received()[0];
    assert_eq!(r.rejected, None);
    assert_eq!(r.header("x-amz-content-sha256"), None);
    assert!(r
        .header("authorization")
        .unwrap()
        .contains("/lambda/aws4_request"));
}

#[tokio::test]
async fn lambda_url_refuses_an_unsigned_payload() {
    // At build, for the Lambda URL target.
    let fake = fake(FakeTarget::LambdaUrl).await;
    let err = http(&fake.url(), Target::LambdaUrl)
        .unsigned_payload(true)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            AmbError::Config(ConfigError::UnsignedPayloadRefused { .. })
        ),
        "{err}"
    );
    // And by the fake, when the target is not said (service only).
    let t = AmbHttp::builder(fake.url())
        .service("lambda")
        .region(REGION)
        .credentials_provider(fake_credentials())
        .unsigned_payload(true)
        .build()
        .unwrap();
    let err = chain_id(t).await.unwrap_err();
    assert!(
        matches!(amb_err(&err), AmbError::AuthRejected { status: 403, .. }),
        "{err}"
    );
    let r = &fake.received()[0];
    assert_eq!(r.header("x-amz-content-sha256"), Some(UNSIGNED_PAYLOAD));
    assert!(r.rejected.is_some());
}

#[tokio::test]
async fn api_gateway_signs_the_stage_path() {
    let fake = fake(FakeTarget::api_gateway("prod")).await;
    // `https://<id>.execute-api.<r>.amazonaws.com/prod`, pointed at the fake.
    let url = format!("{}prod", fake.url());
    let t = http(&url, Target::ApiGateway).build().unwrap();
    assert_eq!(chain_id(t).await.unwrap(), CHAIN_ID);
    let r = &fake.received()[0];
    assert_eq!(r.rejected, None);
    assert_eq!(r.path, "/prod");
    assert!(r
        .header("authorization")
        .unwrap()
        .contains("/execute-api/aws4_request"));
    // Without the stage, API Gateway answers "Missing Authentication Token".
    let t = http(&fake.url(), Target::ApiGateway).build().unwrap();
    let err = chain_id(t).await.unwrap_err();
    assert!(
        matches!(amb_err(&err), AmbError::AuthRejected { status: 403, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn websocket_is_refused_at_build_for_lattice_and_lambda() {
    for (target, fake_target, name) in [
        (Target::VpcLattice, FakeTarget::VpcLattice, "VPC Lattice"),
        (
            Target::LambdaUrl,
            FakeTarget::LambdaUrl,
            "Lambda function URL",
        ),
    ] {
        let amb = fake(fake_target).await;
        let ws = FakeWs::start(&amb).await;
        let err = AmbWsConnect::builder(ws.url())
            .target(target)
            .region(REGION)
            .credentials_provider(fake_credentials())
            .build()
            .unwrap_err();
        assert!(
            matches!(&err, AmbError::Config(ConfigError::NoWebSocket { target }) if *target == name),
            "{err}"
        );
        assert!(err.to_string().contains("does not support WebSockets"));
        // Nothing was attempted.
        assert!(ws.upgrades().is_empty());
    }
}

#[tokio::test]
async fn api_gateway_websocket_with_unsigned_payload_upgrade() {
    // The upgrade (a GET without body) carries the unsigned-payload header the same way.
    let amb = fake(FakeTarget::api_gateway("prod")).await;
    let ws = FakeWs::start(&amb).await;
    let url = format!("{}prod", ws.url());
    let connect = AmbWsConnect::builder(&url)
        .target(Target::ApiGateway)
        .region(REGION)
        .credentials_provider(fake_credentials())
        .unsigned_payload(true)
        .build()
        .unwrap();
    let provider = ProviderBuilder::new()
        .connect_pubsub_with(connect)
        .await
        .unwrap();
    assert_eq!(provider.get_chain_id().await.unwrap(), CHAIN_ID);
    let upgrade = &ws.upgrades()[0];
    assert_eq!(upgrade.rejected, None);
    assert_eq!(
        upgrade.header("x-amz-content-sha256"),
        Some(UNSIGNED_PAYLOAD)
    );
    assert!(upgrade
        .signed_headers
        .iter()
        .any(|h| h == "x-amz-content-sha256"));
}

#[tokio::test]
async fn sigv4a_over_http_is_accepted_by_lattice() {
    let fake = fake(FakeTarget::VpcLattice).await;
    for set in [None, Some("us-west-2,us-east-1")] {
        // No region: SigV4A is scoped to a region set (`*` by default).
        let mut b = AmbHttp::builder(fake.url())
            .target(Target::VpcLattice)
            .credentials_provider(fake_credentials())
            .sigv4a(true);
        if let Some(set) = set {
            b = b.region_set(set);
        }
        assert_eq!(chain_id(b.build().unwrap()).await.unwrap(), CHAIN_ID);
        let r = fake.received().pop().unwrap();
        assert_eq!(r.rejected, None, "{set:?}");
        assert_eq!(r.header("x-amz-region-set"), Some(set.unwrap_or("*")));
        assert_eq!(r.header("x-amz-content-sha256"), Some(UNSIGNED_PAYLOAD));
        assert!(r
            .header("authorization")
            .unwrap()
            .starts_with("AWS4-ECDSA-P256-SHA256 Credential="));
    }
    // A region set without the fake's region is refused by its verifier.
    let t = AmbHttp::builder(fake.url())
        .target(Target::VpcLattice)
        .credentials_provider(fake_credentials())
        .region_set("eu-west-1")
        .build()
        .unwrap();
    let err = chain_id(t).await.unwrap_err();
    assert!(
        matches!(amb_err(&err), AmbError::AuthRejected { status: 403, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn sigv4a_over_the_websocket_upgrade_is_accepted_by_api_gateway() {
    let amb = fake(FakeTarget::api_gateway("prod")).await;
    let ws = FakeWs::start(&amb).await;
    let connect = AmbWsConnect::builder(format!("{}prod", ws.url()))
        .target(Target::ApiGateway)
        .credentials_provider(fake_credentials())
        .sigv4a(true)
        .build()
        .unwrap();
    let provider = ProviderBuilder::new()
        .connect_pubsub_with(connect)
        .await
        .unwrap();
    assert_eq!(provider.get_chain_id().await.unwrap(), CHAIN_ID);
    let upgrade = &ws.upgrades()[0];
    assert_eq!(upgrade.rejected, None);
    assert_eq!(upgrade.header("x-amz-region-set"), Some("*"));
    assert!(upgrade
        .header("authorization")
        .unwrap()
        .starts_with("AWS4-ECDSA-P256-SHA256 Credential="));
}

#[tokio::test]
async fn sigv4a_is_refused_where_the_target_does_not_take_it() {
    // AMB and Lambda function URLs verify SigV4 only: SigV4A there is refused at build, for
    // both transports, whether asked with `.sigv4a(true)` or a region set.
    let fake = fake(FakeTarget::LambdaUrl).await;
    for target in [Target::LambdaUrl, Target::Amb] {
        let mut errs = vec![
            http(&fake.url(), target).sigv4a(true).build().unwrap_err(),
            http(&fake.url(), target)
                .region_set("*")
                .build()
                .unwrap_err(),
        ];
        if target == Target::Amb {
            // (Lambda function URLs have no WebSocket at all.)
            errs.push(
                AmbWsConnect::builder(fake.url().replace("http", "ws"))
                    .target(target)
                    .region(REGION)
                    .credentials_provider(fake_credentials())
                    .sigv4a(true)
                    .build()
                    .unwrap_err(),
            );
        }
        for err in errs {
            assert!(
                matches!(err, AmbError::Config(ConfigError::SigV4aRefused { .. })),
                "{target:?}: {err}"
            );
        }
    }
    // And by the fake, when the target is not said (service only): a 403.
    let t = AmbHttp::builder(fake.url())
        .service("lambda")
        .region(REGION)
        .credentials_provider(fake_credentials())
        .sigv4a(true)
        .build()
        .unwrap();
    let err = chain_id(t).await.unwrap_err();
    assert!(
        matches!(amb_err(&err), AmbError::AuthRejected { status: 403, .. }),
        "{err}"
    );
    // No secret of the request in the error.
    let text = format!("{err} {err:?}");
    let r = &fake.received()[0];
    let signature = r
        .header("authorization")
        .unwrap()
        .rsplit_once("Signature=")
        .unwrap()
        .1;
    assert!(!text.contains(signature), "{text}");
}

#[test]
fn a_region_set_with_sigv4a_off_is_a_conflict() {
    let err = http(
        "https://x.vpc-lattice-svcs.us-east-1.on.aws/",
        Target::VpcLattice,
    )
    .region_set("us-*")
    .sigv4a(false)
    .build()
    .unwrap_err();
    assert!(
        matches!(err, AmbError::Config(ConfigError::RegionSetWithoutSigV4a)),
        "{err}"
    );
}

/// `.sigv4a(true).region(r)` without a region set is scoped to `r`, not to every region.
#[tokio::test]
async fn sigv4a_with_a_region_is_scoped_to_that_region() {
    let fake = fake(FakeTarget::VpcLattice).await;
    let t = http(&fake.url(), Target::VpcLattice).sigv4a(true);
    assert_eq!(chain_id(t.build().unwrap()).await.unwrap(), CHAIN_ID);
    let r = fake.received().pop().unwrap();
    assert_eq!(r.rejected, None);
    assert_eq!(r.header("x-amz-region-set"), Some(REGION));
}
