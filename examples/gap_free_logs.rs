//! Prints every log of a filter exactly once, in chain order, one JSON object per line (with
//! `"removed": true` for logs of blocks a reorg replaced), through outages and restarts.
//!
//! ```text
//! RPC_WS_URL=wss://nd-xxxx.wss.ethereum.managedblockchain.us-east-1.amazonaws.com \
//! RPC_URL=https://nd-xxxx.ethereum.managedblockchain.us-east-1.amazonaws.com \
//! LOG_ADDRESS=0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48 \
//! CURSOR_FILE=usdc.cursor.json \
//!     cargo run --example gap_free_logs
//! ```
//!
//! - `RPC_WS_URL` (and the other `RPC_WS_*`, or `RPC_WS_CONFIG`): live over the WebSocket;
//!   `RPC_URL` (and `RPC_*`, or `RPC_CONFIG`): backfills over HTTP (no 512 KB quota). With only
//!   `RPC_URL` (VPC Lattice, Lambda URL, API Gateway have no WebSocket), the stream polls.
//!   Each is an `alloy_amb::EndpointConfig` (README, "Targets"), so each has its own auth.
//! - `LOG_ADDRESS`, `LOG_TOPIC0` (optional): the filter.
//! - `CURSOR_FILE` (optional): where the stream starts from if the file exists, and where its
//!   position is saved after every line, so a restart goes on with no gap and no duplicate.
//! - `LOG_COUNT` (optional): stop after this many lines.
//!
//! Progress (reconnects, backfills, reorgs, retried errors) goes to stderr every 100 lines.

use std::error::Error;
use std::io::Write;

use alloy_amb::resumable::{track_reconnects, Cursor, ResumableLogsExt, StreamError};
use alloy_amb::{EndpointConfig, ProviderBuilderExt};
use alloy_provider::ProviderBuilder;
use alloy_rpc_types_eth::Filter;
use futures::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v: &String| !v.trim().is_empty())
    };
    let mut filter = Filter::new();
    if let Some(a) = var("LOG_ADDRESS") {
        filter = filter.address(a.trim().parse::<alloy_primitives::Address>()?);
    }
    if let Some(t) = var("LOG_TOPIC0") {
        filter = filter.event_signature(t.trim().parse::<alloy_primitives::B256>()?);
    }
    let count: Option<u64> = var("LOG_COUNT").map(|c| c.parse()).transpose()?;
    let cursor_file = var("CURSOR_FILE");
    let saved: Option<Cursor> = match &cursor_file {
        Some(path) if std::path::Path::new(path).exists() => {
            Some(serde_json::from_str(&std::fs::read_to_string(path)?)?)
        }
        _ => None,
    };
    // An endpoint is configured when its `_URL` or `_CONFIG` is set.
    let configured = |p: &str| {
        var(&format!("{p}_URL"))
            .or(var(&format!("{p}_CONFIG")))
            .is_some()
    };
    let http = if configured("RPC") {
        let http = EndpointConfig::from_env("RPC")?.http()?;
        Some(ProviderBuilder::new().on_transport(http))
    } else {
        None
    };
    let ws = if configured("RPC_WS") {
        Some(EndpointConfig::from_env("RPC_WS")?.ws()?)
    } else {
        None
    };
    let mut builder = match (ws, http) {
        (Some(connect), http) => {
            let (connect, reconnects) = track_reconnects(connect);
            let ws = ProviderBuilder::new().connect_pubsub_with(connect).await?;
            let builder = ws.resumable_logs(&filter).reconnect_signal(reconnects);
            match http {
                Some(http) => builder.backfill_provider(http),
                None => builder,
            }
        }
        (None, Some(http)) => http.resumable_logs(&filter),
        (None, None) => {
            return Err("set RPC_WS_URL and/or RPC_URL (or RPC_WS_CONFIG / RPC_CONFIG)".into())
        }
    };
    if let Some(cursor) = saved {
        builder = builder.from_cursor(cursor);
    }
    let mut logs = builder.subscribe().await?;
    let mut out = std::io::stdout().lock();
    let mut printed = 0u64;
    while let Some(item) = logs.next().await {
        let log = match item {
            Ok(log) => log,
            Err(err) => {
                if let (Some(e), Some(path)) =
                    (StreamError::from_transport_error(&err), &cursor_file)
                {
                    std::fs::write(path, serde_json::to_string(e.resume())?)?;
                }
                return Err(err.into());
            }
        };
        writeln!(out, "{}", serde_json::to_string(&log)?)?;
        out.flush()?;
        if let Some(path) = &cursor_file {
            std::fs::write(path, serde_json::to_string(&logs.cursor())?)?;
        }
        printed += 1;
        if printed.is_multiple_of(100) {
            eprintln!("{:?}", logs.stats());
        }
        if count.is_some_and(|c| printed >= c) {
            break;
        }
    }
    Ok(())
}
