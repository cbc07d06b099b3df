//! End to end: AmbHttp → fake AMB gateway (SigV4 checked) → a real node (anvil).

mod support;

use alloy_amb::{AmbHttp, ProviderBuilderExt};
use alloy_primitives::{address, U256, U64};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_client::RpcClient;
use support::anvil::Anvil;
use support::fake_amb::{FakeAmb, REGION};
use support::fake_credentials;

async fn gateway_to(anvil: &Anvil) -> (FakeAmb, AmbHttp) {
    let fake = FakeAmb::start().await;
    fake.set_upstream(&anvil.http_url());
    let t = AmbHttp::builder(fake.url())
        .region(REGION)
        .credentials_provider(fake_credentials())
        .build()
        .unwrap();
    (fake, t)
}

#[tokio::test]
async fn signed_calls_reach_anvil() {
    let Some(anvil) = Anvil::spawn("signed_calls_reach_anvil") else {
        return;
    };
    let (fake, t) = gateway_to(&anvil).await;
    let provider = ProviderBuilder::new().on_transport(t);
    assert_eq!(provider.get_chain_id().await.unwrap(), 31337);
    let before = provider.get_block_number().await.unwrap();
    let _: String = provider.raw_request("evm_mine".into(), ()).await.unwrap();
    assert_eq!(provider.get_block_number().await.unwrap(), before + 1);
    let block = provider
        .get_block_by_number(alloy_rpc_types_eth::BlockNumberOrTag::Latest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(block.header.number, before + 1);
    // anvil's first dev account holds 10_000 ETH.
    let balance = provider
        .get_balance(address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"))
        .await
        .unwrap();
    assert_eq!(
        balance,
        U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18))
    );
    let received = fake.received();
    assert_eq!(received.len(), 6);
    assert!(received.iter().all(|r| r.rejected.is_none()));
}

#[tokio::test]
async fn batches_reach_anvil_as_single_signed_calls() {
    let Some(anvil) = Anvil::spawn("batches_reach_anvil_as_single_signed_calls") else {
        return;
    };
    let (fake, t) = gateway_to(&anvil).await;
    let client = RpcClient::new(t, false);
    let mut batch = client.new_batch();
    let ids: Vec<_> = (0..5)
        .map(|_| batch.add_call::<_, U64>("eth_chainId", &()).unwrap())
        .collect();
    let number = batch.add_call::<_, U64>("eth_blockNumber", &()).unwrap();
    batch.send().await.unwrap();
    for id in ids {
        assert_eq!(id.await.unwrap().to::<u64>(), 31337);
    }
    assert_eq!(number.await.unwrap().to::<u64>(), 0);
    let received = fake.received();
    assert_eq!(received.len(), 6);
    assert!(received
        .iter()
        .all(|r| r.rejected.is_none() && r.body.first() == Some(&b'{')));
}
