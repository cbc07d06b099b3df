//! alloy's own way in: `ProviderBuilder::connect_with(&transport)` (alloy's `TransportConnect`)
//! for both transports, against the fake AMB gateways (signatures checked by the independent
//! verifier), next to the crate's `on_transport`.

mod support;

use alloy_amb::{AmbHttp, AmbWsConnect, ProviderBuilderExt};
use alloy_amb_testing::chain::{self, CHAIN_ID};
use alloy_amb_testing::FakeWs;
use alloy_amb_testing::{FakeAmb, REGION};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_transport::TransportConnect;
use support::bounded::{bounded, next};
use support::fake_credentials;

fn http(amb: &FakeAmb) -> AmbHttp {
    AmbHttp::builder(amb.url())
        .region(REGION)
        .credentials_provider(fake_credentials())
        .build()
        .unwrap()
}

#[tokio::test]
async fn http_connect_with_sends_signed_calls() {
    bounded(async {
        let amb = FakeAmb::start().await;
        let provider = ProviderBuilder::new()
            .connect_with(&http(&amb))
            .await
            .expect("connect_with");
        assert_eq!(provider.get_chain_id().await.unwrap(), CHAIN_ID);
        assert_eq!(provider.get_block_number().await.unwrap(), amb.head());
        // Both calls reached the gateway and passed its SigV4 check.
        let received = amb.received();
        assert_eq!(received.len(), 2);
        assert!(
            received.iter().all(|r| r.rejected.is_none()),
            "{received:?}"
        );
    })
    .await
}

#[tokio::test]
async fn http_connect_with_and_on_transport_reach_the_same_node() {
    bounded(async {
        let amb = FakeAmb::start().await;
        let t = http(&amb);
        let a = ProviderBuilder::new().connect_with(&t).await.unwrap();
        let b = ProviderBuilder::new().on_transport(t.clone());
        amb.mine();
        assert_eq!(
            a.get_block_number().await.unwrap(),
            b.get_block_number().await.unwrap()
        );
        assert_eq!(amb.accepted().len(), 2);
    })
    .await
}

#[test]
fn only_loopback_endpoints_count_as_local() {
    let aws = "https://nd-xxxx.ethereum.managedblockchain.us-east-1.amazonaws.com";
    let remote = AmbHttp::builder(aws)
        .credentials_provider(fake_credentials())
        .build()
        .unwrap();
    assert!(!TransportConnect::is_local(&remote));
    let local = AmbHttp::builder("http://127.0.0.1:8545")
        .region(REGION)
        .credentials_provider(fake_credentials())
        .build()
        .unwrap();
    assert!(TransportConnect::is_local(&local));
    let ws = AmbWsConnect::builder(
        "wss://nd-xxxx.wss.ethereum.managedblockchain.us-east-1.amazonaws.com",
    )
    .credentials_provider(fake_credentials())
    .build()
    .unwrap();
    assert!(!TransportConnect::is_local(&ws));
}

#[tokio::test]
async fn ws_connect_with_opens_a_signed_socket_that_subscribes() {
    bounded(async {
        let amb = FakeAmb::start().await;
        let ws = FakeWs::start(&amb).await;
        let connect = AmbWsConnect::builder(ws.url())
            .region(REGION)
            .credentials_provider(fake_credentials())
            .build()
            .unwrap();
        let provider = ProviderBuilder::new()
            .connect_with(&connect)
            .await
            .expect("connect_with");
        // The socket is open (and its upgrade signed and accepted) before the first call.
        let upgrades = ws.upgrades();
        assert_eq!(upgrades.len(), 1);
        assert!(upgrades[0].rejected.is_none(), "{upgrades:?}");
        assert_eq!(provider.get_chain_id().await.unwrap(), CHAIN_ID);
        // Subscriptions work: the provider runs on alloy's pub/sub service.
        let mut heads = provider.subscribe_blocks().await.unwrap().into_stream();
        let mined = ws.mine();
        let head = next(&mut heads).await;
        assert_eq!(head.number, mined);
        assert_eq!(head.hash.to_string(), chain::block_hash(mined));
    })
    .await
}

#[tokio::test]
async fn the_reexported_reqwest_is_the_one_the_builder_takes() {
    bounded(async {
        let amb = FakeAmb::start().await;
        let client = alloy_amb::reqwest::Client::builder()
            .redirect(alloy_amb::reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let t = AmbHttp::builder(amb.url())
            .region(REGION)
            .credentials_provider(fake_credentials())
            .client(client)
            .build()
            .unwrap();
        let provider = ProviderBuilder::new().connect_with(&t).await.unwrap();
        assert_eq!(provider.get_chain_id().await.unwrap(), CHAIN_ID);
    })
    .await
}
