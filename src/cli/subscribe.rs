//! `amb subscribe logs|heads [--address A] [--topic0 T] [--count N]`

use std::io::Write;
use std::process::ExitCode;

use alloy_primitives::{Address, B256};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_types_eth::Filter;
use clap::{Args, ValueEnum};
use futures::StreamExt;

use super::{CliResult, Conn};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum What {
    /// Logs (`eth_subscribe` `logs`).
    Logs,
    /// New block headers (`eth_subscribe` `newHeads`).
    Heads,
}

#[derive(Args, Debug)]
pub struct SubscribeArgs {
    #[command(flatten)]
    conn: Conn,
    /// What to subscribe to.
    what: What,
    /// Only logs of this contract.
    #[arg(long)]
    address: Option<Address>,
    /// Only logs with this first topic (event signature).
    #[arg(long)]
    topic0: Option<B256>,
    /// Exit after this many items [default: never].
    #[arg(long)]
    count: Option<usize>,
}

pub async fn run(a: SubscribeArgs) -> CliResult {
    let url = a.conn.endpoint_or(&["AMB_WS_ENDPOINT"])?;
    let provider = ProviderBuilder::new()
        .connect_pubsub_with(a.conn.ws(&url)?)
        .await
        .map_err(|e| super::call::describe(&e))?;
    let limit = a.count.unwrap_or(usize::MAX);
    let mut out = std::io::stdout().lock();
    match a.what {
        What::Logs => {
            let mut filter = Filter::new();
            if let Some(addr) = a.address {
                filter = filter.address(addr);
            }
            if let Some(t) = a.topic0 {
                filter = filter.event_signature(t);
            }
            let sub = provider
                .subscribe_logs(&filter)
                .await
                .map_err(|e| super::call::describe(&e))?;
            let mut stream = sub.into_stream().take(limit);
            while let Some(log) = stream.next().await {
                writeln!(out, "{}", serde_json::to_string(&log)?)?;
                out.flush()?;
            }
        }
        What::Heads => {
            let sub = provider
                .subscribe_blocks()
                .await
                .map_err(|e| super::call::describe(&e))?;
            let mut stream = sub.into_stream().take(limit);
            while let Some(head) = stream.next().await {
                writeln!(out, "{}", serde_json::to_string(&head)?)?;
                out.flush()?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
