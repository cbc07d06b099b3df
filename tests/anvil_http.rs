//! End to end: AmbHttp → fake AMB gateway (SigV4 checked) → a real node (anvil).

mod support;

use alloy_amb::{AmbHttp, ProviderBuilderExt};
use alloy_amb_testing::{FakeAmb, REGION};
use alloy_primitives::{address, U256, U64};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_client::RpcClient;
use support::anvil::Anvil;
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

/// A batch of 10 `eth_sendTransaction` from anvil's first dev account, the last call to
/// arrive throttled (429, not executed) by the gateway, under alloy's `RetryBackoffLayer`:
/// only that call is sent again, so each transaction is mined once and the nonce is exactly
/// 10. (Before per-call outcomes, the 429 failed the whole batch and the retry layer sent all
/// 10 again: nonce 19.)
#[tokio::test]
async fn a_throttled_transaction_in_a_batch_is_mined_once() {
    use alloy_amb_testing::CallHook;
    use alloy_primitives::B256;
    use alloy_rpc_client::ClientBuilder;
    use alloy_transport::layers::RetryBackoffLayer;

    let Some(anvil) = Anvil::spawn("a_throttled_transaction_in_a_batch_is_mined_once") else {
        return;
    };
    let (fake, t) = gateway_to(&anvil).await;
    let from = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    let to = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");
    // The gateway executes calls one at a time: the 10th to arrive comes after 9 executed.
    fake.on_call(9, CallHook::throttle(Some(1)));
    let client = ClientBuilder::default()
        .layer(RetryBackoffLayer::new(5, 100, 10_000))
        .transport(t.clone(), false);
    let mut batch = client.new_batch();
    let waiters: Vec<_> = (0..10u64)
        .map(|i| {
            let tx = serde_json::json!({"from": from, "to": to, "value": U64::from(i + 1)});
            batch
                .add_call::<_, B256>("eth_sendTransaction", &(tx,))
                .unwrap()
        })
        .collect();
    batch.send().await.unwrap();
    let mut hashes = Vec::new();
    for w in waiters {
        hashes.push(w.await.unwrap());
    }

    let provider = ProviderBuilder::new().on_transport(t);
    assert_eq!(
        provider
            .get_transaction_count(from)
            .pending()
            .await
            .unwrap(),
        10
    );
    let mut values = Vec::new();
    for hash in &hashes {
        let tx: serde_json::Value = provider
            .raw_request("eth_getTransactionByHash".into(), (hash,))
            .await
            .unwrap();
        assert!(tx["blockNumber"].is_string(), "not mined: {tx}");
        values.push(serde_json::from_value::<U256>(tx["value"].clone()).unwrap());
    }
    values.sort_unstable();
    assert_eq!(values, (1..=10u64).map(U256::from).collect::<Vec<_>>());
    let sends = fake
        .accepted()
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("eth_sendTransaction"))
        .count();
    assert_eq!(sends, 11, "10 transactions, the throttled one twice");
}

/// A transaction the node executed but whose answer was lost (a 502 from the gateway after
/// anvil ran it): that call's answer is "outcome unknown" and it is not sent again; the 9
/// others get their own hashes. The nonce is 10: each transaction ran once.
#[tokio::test]
async fn a_transaction_with_a_lost_answer_is_not_sent_again() {
    use alloy_amb::http::SPLIT_OUTCOME_UNKNOWN;
    use alloy_amb_testing::CallHook;
    use alloy_primitives::B256;

    let Some(anvil) = Anvil::spawn("a_transaction_with_a_lost_answer_is_not_sent_again") else {
        return;
    };
    let (fake, t) = gateway_to(&anvil).await;
    let from = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    let to = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");
    fake.on_call(
        4,
        CallHook::ExecuteThenFail {
            status: 502,
            body: r#"{"message": "Internal server error"}"#.into(),
        },
    );
    let client = RpcClient::new(t.clone(), false);
    let mut batch = client.new_batch();
    let waiters: Vec<_> = (0..10u64)
        .map(|i| {
            let tx = serde_json::json!({"from": from, "to": to, "value": U64::from(i + 1)});
            batch
                .add_call::<_, B256>("eth_sendTransaction", &(tx,))
                .unwrap()
        })
        .collect();
    batch.send().await.unwrap();
    let (mut hashes, mut unknown) = (0, 0);
    for w in waiters {
        match w.await {
            Ok(_) => hashes += 1,
            Err(e) => {
                assert_eq!(
                    e.as_error_resp().map(|p| p.code),
                    Some(SPLIT_OUTCOME_UNKNOWN)
                );
                unknown += 1;
            }
        }
    }
    assert_eq!((hashes, unknown), (9, 1));
    let provider = ProviderBuilder::new().on_transport(t);
    assert_eq!(
        provider
            .get_transaction_count(from)
            .pending()
            .await
            .unwrap(),
        10
    );
    assert_eq!(
        fake.calls(),
        11,
        "10 sends and the nonce query: nothing sent twice"
    );
}
