//! End to end over WebSocket: AmbWsConnect → fake AMB WebSocket gateway (signed upgrade checked,
//! frames recorded) → a real node (anvil), with logs from a contract deployed on it.

mod support;

use std::time::Duration;

use alloy_amb::AmbWsConnect;
use alloy_amb_testing::{FakeAmb, REGION};
use alloy_amb_testing::{FakeWs, Kind};
use alloy_primitives::{B256, U256};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_types_eth::Filter;
use support::anvil::Anvil;
use support::bounded::{bounded, next};
use support::emitter::Emitter;
use support::fake_credentials;

struct Gateway {
    _amb: FakeAmb,
    ws: FakeWs,
}

/// The fake gateway in front of anvil's WebSocket.
async fn gateway_to(anvil: &Anvil) -> Gateway {
    let amb = FakeAmb::start().await;
    let ws = FakeWs::start(&amb).await;
    ws.set_upstream(&anvil.ws_url());
    Gateway { _amb: amb, ws }
}

async fn provider(ws: &FakeWs) -> impl Provider {
    let connect = AmbWsConnect::builder(ws.url())
        .region(REGION)
        .credentials_provider(fake_credentials())
        .retry_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    ProviderBuilder::new()
        .connect_pubsub_with(connect)
        .await
        .unwrap()
}

fn topic(n: u64) -> B256 {
    B256::from(U256::from(n))
}

/// The block a transaction was mined in.
async fn block_of(emitter: &Emitter, tx: B256) -> u64 {
    let receipt = emitter
        .http
        .get_transaction_receipt(tx)
        .await
        .unwrap()
        .expect("mined");
    receipt.block_number.unwrap()
}

#[tokio::test]
async fn anvil_logs_with_an_address_and_topic_filter_arrive_exactly() {
    bounded(async {
        let Some(anvil) =
            Anvil::spawn("anvil_logs_with_an_address_and_topic_filter_arrive_exactly")
        else {
            return;
        };
        let g = gateway_to(&anvil).await;
        let a = Emitter::deploy(&anvil.http_url()).await;
        let b = Emitter::deploy(&anvil.http_url()).await;
        let p = provider(&g.ws).await;
        assert_eq!(p.get_chain_id().await.unwrap(), 31337);
        let filter = Filter::new().address(a.address).event_signature(topic(7));
        let mut logs = p.subscribe_logs(&filter).await.unwrap().into_stream();

        let first = a.emit(7).await;
        a.emit(8).await; // wrong topic
        b.emit(7).await; // wrong address
        let last = a.emit(7).await;
        let expected = [block_of(&a, first).await, block_of(&a, last).await];
        for block in expected {
            let log = next(&mut logs).await;
            assert_eq!(log.address(), a.address);
            assert_eq!(log.topics(), [topic(7)]);
            assert_eq!(log.block_number, Some(block));
        }
        // A log the filter should have dropped would have come before the last one.

        // Every upgrade was signed and accepted, and only text frames went through.
        let upgrades = g.ws.upgrades();
        assert_eq!(upgrades.len(), 1);
        assert!(upgrades[0].rejected.is_none() && upgrades[0].header("authorization").is_some());
        assert!(g.ws.frames().iter().all(|f| f.kind != Kind::Binary));
    })
    .await
}

#[tokio::test]
async fn anvil_new_heads_arrive_through_the_gateway() {
    bounded(async {
        let Some(anvil) = Anvil::spawn("anvil_new_heads_arrive_through_the_gateway") else {
            return;
        };
        let g = gateway_to(&anvil).await;
        let p = provider(&g.ws).await;
        let mut heads = p.subscribe_blocks().await.unwrap().into_stream();
        let before = p.get_block_number().await.unwrap();
        let _: String = p.raw_request("evm_mine".into(), ()).await.unwrap();
        let _: String = p.raw_request("evm_mine".into(), ()).await.unwrap();
        let first = next(&mut heads).await;
        let second = next(&mut heads).await;
        assert_eq!((first.number, second.number), (before + 1, before + 2));
        assert_eq!(second.parent_hash, first.hash);
    })
    .await
}

#[tokio::test]
async fn anvil_logs_keep_coming_after_the_gateway_drops_the_connection() {
    bounded(async {
        let Some(anvil) =
            Anvil::spawn("anvil_logs_keep_coming_after_the_gateway_drops_the_connection")
        else {
            return;
        };
        let g = gateway_to(&anvil).await;
        let emitter = Emitter::deploy(&anvil.http_url()).await;
        let p = provider(&g.ws).await;
        let filter = Filter::new().address(emitter.address);
        let mut logs = p.subscribe_logs(&filter).await.unwrap().into_stream();
        emitter.emit(1).await;
        assert_eq!(next(&mut logs).await.topics(), [topic(1)]);

        g.ws.drop_connections();
        g.ws.wait_for("the subscription re-sent to anvil", |s| {
            s.connections == 2 && s.subscriptions == 2
        })
        .await;
        let tx = emitter.emit(2).await;
        let log = next(&mut logs).await;
        assert_eq!(log.topics(), [topic(2)]);
        assert_eq!(log.block_number, Some(block_of(&emitter, tx).await));
        assert!(g.ws.upgrades().iter().all(|u| u.rejected.is_none()));
    })
    .await
}

#[tokio::test]
async fn anvil_pending_transactions_arrive_through_the_gateway() {
    bounded(async {
        let Some(anvil) = Anvil::spawn("anvil_pending_transactions_arrive_through_the_gateway")
        else {
            return;
        };
        let g = gateway_to(&anvil).await;
        let emitter = Emitter::deploy(&anvil.http_url()).await;
        let p = provider(&g.ws).await;
        let mut pending = p
            .subscribe_pending_transactions()
            .await
            .unwrap()
            .into_stream();
        let tx = emitter.emit(3).await;
        assert_eq!(next(&mut pending).await, tx);
    })
    .await
}
