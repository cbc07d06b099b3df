//! `amb demo`: the library at work against the local AMB emulator, started in-process.

use std::future::IntoFuture;
use std::process::ExitCode;
use std::time::Duration;

use alloy_amb::{AmbError, AmbHttp, AmbWsConnect};
use alloy_amb_testing::chain::{LOG_ADDRESS, TOPIC0};
use alloy_amb_testing::{FakeAmb, FakeWs, ACCESS_KEY, REGION, SECRET_KEY};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_types_eth::Filter;
use aws_credential_types::Credentials;
use futures::StreamExt;

use super::CliResult;

/// An upper bound for each step: the emulator answers in milliseconds.
const STEP: Duration = Duration::from_secs(10);

fn throwaway(secret: &str) -> Credentials {
    Credentials::new(ACCESS_KEY, secret, None, None, "amb-demo")
}

async fn step<T>(what: &str, f: impl std::future::Future<Output = T>) -> Result<T, String> {
    tokio::time::timeout(STEP, f)
        .await
        .map_err(|_| format!("the demo got stuck at: {what}"))
}

pub async fn run() -> CliResult {
    println!("alloy-amb demo: a local AMB emulator, started in this process (no AWS account, no network)");
    let amb = FakeAmb::start().await;
    let ws = FakeWs::start(&amb).await;
    println!("  emulator  HTTP {}  WS {}", amb.url(), ws.url());
    println!("  signing   SigV4, region {REGION}, throwaway access key {ACCESS_KEY}");
    println!();

    // 1. HTTP
    let http = AmbHttp::builder(amb.url())
        .region(REGION)
        .credentials_provider(throwaway(SECRET_KEY))
        .build()?;
    let provider =
        ProviderBuilder::new().connect_client(alloy_rpc_client::RpcClient::new(http, false));
    let chain_id = step("eth_chainId", provider.get_chain_id()).await??;
    let block = step("eth_blockNumber", provider.get_block_number()).await??;
    println!("1. AmbHttp (signed POSTs)");
    println!("   eth_chainId      = {chain_id}");
    println!("   eth_blockNumber  = {block}");
    println!();

    // 2. WebSocket subscription
    println!("2. AmbWsConnect: subscribe_logs, then mine blocks");
    let connect = AmbWsConnect::builder(ws.url())
        .region(REGION)
        .credentials_provider(throwaway(SECRET_KEY))
        .retry_interval(Duration::from_millis(50))
        .build()?;
    let ws_provider = step(
        "WebSocket connect",
        ProviderBuilder::new().connect_pubsub_with(connect),
    )
    .await??;
    let filter = Filter::new()
        .address(LOG_ADDRESS.parse::<alloy_primitives::Address>()?)
        .event_signature(TOPIC0.parse::<alloy_primitives::B256>()?);
    let sub = step(
        "eth_subscribe",
        ws_provider.subscribe_logs(&filter).into_future(),
    )
    .await??;
    let mut logs = sub.into_stream();
    for _ in 0..2 {
        let mined = ws.mine();
        let log = step("a log", logs.next())
            .await?
            .ok_or("the subscription ended")?;
        println!(
            "   mined block {mined} -> log from block {} (address {}, tx {})",
            log.block_number.unwrap_or_default(),
            log.address(),
            short(
                &log.transaction_hash
                    .map(|h| h.to_string())
                    .unwrap_or_default()
            ),
        );
    }
    println!();

    // 3. Wrong secret
    println!("3. A wrong secret: the gateway answers 403, the library types it");
    let bad = AmbHttp::builder(amb.url())
        .region(REGION)
        .credentials_provider(throwaway("not-the-secret"))
        .build()?;
    let bad = ProviderBuilder::new().connect_client(alloy_rpc_client::RpcClient::new(bad, false));
    let err = step("the refused call", bad.get_block_number())
        .await?
        .expect_err("a wrong secret must be refused");
    match AmbError::from_transport_error(&err) {
        Some(e @ AmbError::AuthRejected { kind, status, .. }) => {
            println!("   AmbError::AuthRejected {{ kind: {kind:?}, status: {status} }}");
            println!("   {e}");
        }
        _ => return Err(format!("expected a typed 403, got: {err}").into()),
    }
    println!();

    // 4. Gateway disconnect
    println!("4. The gateway drops the WebSocket; the subscription carries on");
    ws.drop_connections();
    step(
        "the re-subscription",
        ws.wait_for("the subscription re-sent on a new connection", |s| {
            s.connections >= 2 && s.subscriptions >= 2
        }),
    )
    .await?;
    let stats = ws.stats();
    println!(
        "   connection dropped; reconnected and re-subscribed (connections: {}, subscriptions: {})",
        stats.connections, stats.subscriptions
    );
    let mined = ws.mine();
    let log = step("a log after the reconnect", logs.next())
        .await?
        .ok_or("the subscription ended")?;
    println!(
        "   mined block {mined} -> log from block {} on the same subscription",
        log.block_number.unwrap_or_default()
    );
    println!();
    println!("Done. Next: `amb doctor --endpoint <your AMB endpoint>` checks a real setup;");
    println!("`alloy-amb-testing` (a dev-dependency) runs this emulator in your own tests.");
    Ok(ExitCode::SUCCESS)
}

/// `0x1234…abcd`
fn short(hex: &str) -> String {
    if hex.len() > 14 {
        format!("{}…{}", &hex[..6], &hex[hex.len() - 4..])
    } else {
        hex.to_owned()
    }
}
