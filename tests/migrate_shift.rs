//! Traffic shifting (issue 15): the share is honoured and changeable at run time, every call
//! (writes included) reaches exactly one endpoint; alloy's `FallbackLayer` races writes, the
//! composition `reads_fallback_writes_once` does not.

#[path = "support/migrate.rs"]
mod migrate_support;

use std::sync::{Arc, Mutex};

use alloy_amb::migrate::{reads_fallback_writes_once, Shift};
use alloy_json_rpc::{RequestPacket, ResponsePacket};
use alloy_rpc_client::ClientBuilder;
use alloy_transport::layers::FallbackLayer;
use alloy_transport::BoxTransport;
use migrate_support::{batch, same_pair, single, Fake, Mode, FROM, TO};
use serde_json::{json, Value};
use tower::{Layer, Service};

type Log = Arc<Mutex<Vec<(&'static str, String)>>>;

async fn send<
    S: Service<RequestPacket, Response = ResponsePacket, Error = alloy_transport::TransportError>,
>(
    s: &mut S,
    req: RequestPacket,
) {
    futures::future::poll_fn(|cx| s.poll_ready(cx))
        .await
        .unwrap();
    s.call(req).await.unwrap();
}

fn count(log: &Log, who: &str, method: &str) -> usize {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(w, m)| *w == who && m == method)
        .count()
}

async fn route(
    seed: u64,
    share: f64,
    n: u64,
) -> (
    Vec<&'static str>,
    alloy_amb::migrate::ShiftHandle,
    Shift,
    Log,
) {
    let log: Log = Arc::default();
    let (mut shift, handle) = Shift::new(
        Fake::new("old", &log, Mode::Now),
        Fake::new("new", &log, Mode::Now),
        share,
        seed,
    );
    for i in 0..n {
        send(&mut shift, single("eth_chainId", json!([]), i)).await;
    }
    let order = log.lock().unwrap().iter().map(|(w, _)| *w).collect();
    (order, handle, shift, log)
}

#[tokio::test]
async fn the_share_is_honoured_repeatable_and_changeable_at_run_time() {
    let (order, handle, mut shift, log) = route(42, 0.3, 10_000).await;
    let to_new = order.iter().filter(|w| **w == "new").count();
    // Binomial(10000, 0.3): mean 3000, sd 45.8; ±5 sd.
    assert!(
        (2771..=3229).contains(&to_new),
        "{to_new} of 10000 to the new endpoint"
    );
    assert_eq!(
        order.len(),
        10_000,
        "each call reached exactly one endpoint"
    );
    let s = handle.stats();
    assert_eq!(
        (s.to_new as usize, s.to_old as usize),
        (to_new, 10_000 - to_new)
    );
    assert_eq!(
        order,
        route(42, 0.3, 10_000).await.0,
        "same seed, same routing"
    );

    // Rollback is a config change: from now on everything goes to the old endpoint.
    handle.set_share(0.0);
    log.lock().unwrap().clear();
    for i in 0..1000 {
        send(&mut shift, single("eth_chainId", json!([]), i)).await;
    }
    assert_eq!(count(&log, "old", "eth_chainId"), 1000);
    // Full cut-over, through a clone of the transport (as alloy clones it per call).
    handle.set_share(1.0);
    let mut clone = shift.clone();
    for i in 0..1000 {
        send(&mut clone, single("eth_chainId", json!([]), i)).await;
    }
    assert_eq!(count(&log, "new", "eth_chainId"), 1000);
    handle.set_share(f64::NAN);
    assert_eq!(handle.share(), 0.0);
    handle.set_share(7.0);
    assert_eq!(handle.share(), 1.0);
}

#[tokio::test]
async fn a_shifted_write_reaches_exactly_one_endpoint() {
    let log: Log = Arc::default();
    let (mut shift, _h) = Shift::new(
        Fake::new("old", &log, Mode::Now),
        Fake::new("new", &log, Mode::Now),
        0.5,
        3,
    );
    for i in 0..1000 {
        send(
            &mut shift,
            single("eth_sendRawTransaction", json!([format!("0x{i:04x}")]), i),
        )
        .await;
    }
    let (old, new) = (
        count(&log, "old", "eth_sendRawTransaction"),
        count(&log, "new", "eth_sendRawTransaction"),
    );
    assert_eq!(old + new, 1000, "never both, never none");
    assert!(old > 0 && new > 0);
}

fn fallback_over(log: &Log) -> alloy_transport::layers::FallbackService<BoxTransport> {
    // AfterYield: each transport is seen pending once, as a real one is on the network.
    FallbackLayer::default().layer(vec![
        BoxTransport::new(Fake::new("amb", log, Mode::AfterYield)),
        BoxTransport::new(Fake::new("new", log, Mode::AfterYield)),
    ])
}

#[tokio::test]
async fn alloys_fallback_layer_alone_races_a_raw_transaction_to_both_endpoints() {
    // What the composition below exists for: if alloy ever stops racing writes, this fails and
    // docs/leaving-amb.md should say so.
    let log: Log = Arc::default();
    let mut fallback = fallback_over(&log);
    send(
        &mut fallback,
        single("eth_sendRawTransaction", json!(["0x02f8"]), 1),
    )
    .await;
    assert_eq!(
        count(&log, "amb", "eth_sendRawTransaction") + count(&log, "new", "eth_sendRawTransaction"),
        2
    );
}

#[tokio::test]
async fn reads_fall_back_and_writes_reach_one_endpoint_only() {
    let log: Log = Arc::default();
    let writer = Fake::new("amb", &log, Mode::AfterYield);
    let mut t = reads_fallback_writes_once(fallback_over(&log), writer);
    for i in 0..50 {
        send(
            &mut t,
            single("eth_sendRawTransaction", json!([format!("0x{i:04x}")]), i),
        )
        .await;
        send(
            &mut t,
            single("eth_sendTransaction", json!([{ "from": FROM }]), i),
        )
        .await;
        send(&mut t, single("eth_newFilter", json!([{}]), i)).await;
    }
    send(
        &mut t,
        batch(&[
            ("eth_chainId", json!([])),
            ("eth_sendRawTransaction", json!(["0x02"])),
        ]),
    )
    .await;
    for m in [
        "eth_sendRawTransaction",
        "eth_sendTransaction",
        "eth_newFilter",
    ] {
        assert_eq!(count(&log, "new", m), 0, "{m} raced to the new endpoint");
    }
    assert_eq!(count(&log, "amb", "eth_sendRawTransaction"), 51);
    // Reads still go through the fallback (here: raced to both).
    send(
        &mut t,
        single("eth_getBlockByNumber", json!(["0x1", false]), 99),
    )
    .await;
    assert_eq!(
        count(&log, "amb", "eth_getBlockByNumber") + count(&log, "new", "eth_getBlockByNumber"),
        2
    );
}

/// A raw transaction anvil signs for its dev account (nonce given, so both nodes accept it).
async fn raw_tx(node: &migrate_support::Node, nonce: u64) -> String {
    let tx = json!({ "from": FROM, "to": TO, "value": "0x1", "nonce": format!("{nonce:#x}"), "gas": "0x5208",
                     "maxFeePerGas": "0x77359400", "maxPriorityFeePerGas": "0x1", "chainId": "0x7a69" });
    node.rpc("eth_signTransaction", json!([tx]))
        .await
        .as_str()
        .unwrap()
        .to_string()
}

async fn has_tx(node: &migrate_support::Node, hash: &Value) -> bool {
    !node
        .rpc("eth_getTransactionByHash", json!([hash]))
        .await
        .is_null()
}

#[tokio::test]
async fn on_two_nodes_a_raw_transaction_lands_on_one_node_only() {
    let Some((amb, new)) = same_pair("fallback writes", 1).await else {
        return;
    };
    let http = |n: &migrate_support::Node| {
        BoxTransport::new(alloy_transport_http::Http::new(n.url().parse().unwrap()))
    };
    let nonce = 1;

    // Plain FallbackLayer: the same signed transaction reaches both nodes.
    let fallback = FallbackLayer::default().layer(vec![http(&amb), http(&new)]);
    let raced = ClientBuilder::default().transport(fallback.clone(), true);
    let hash: Value = raced
        .request("eth_sendRawTransaction", json!([raw_tx(&amb, nonce).await]))
        .await
        .unwrap();
    assert!(
        has_tx(&amb, &hash).await && has_tx(&new, &hash).await,
        "alloy's FallbackLayer no longer races writes"
    );

    // The composition: reads through the fallback, the write to `amb` only.
    let client =
        ClientBuilder::default().transport(reads_fallback_writes_once(fallback, http(&amb)), true);
    let hash: Value = client
        .request(
            "eth_sendRawTransaction",
            json!([raw_tx(&amb, nonce + 1).await]),
        )
        .await
        .unwrap();
    assert!(has_tx(&amb, &hash).await, "the writer got it");
    assert!(
        !has_tx(&new, &hash).await,
        "the write reached the other node too"
    );
    let id: Value = client.request("eth_chainId", json!([])).await.unwrap();
    assert_eq!(id, json!("0x7a69"));
}
