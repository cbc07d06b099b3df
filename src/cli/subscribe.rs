//! `amb subscribe logs|heads [--address A] [--topic0 T] [--count N]`, and
//! `amb subscribe logs --gap-free [--from-block N] [--http-endpoint URL] ...`

use std::io::Write;
use std::process::ExitCode;

use alloy_amb::resumable::ResumableLogsExt;
use alloy_amb::ProviderBuilderExt;
use alloy_primitives::{Address, B256};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_types_eth::Filter;
use clap::{Args, ValueEnum};
use futures::StreamExt;

use super::{CliResult, Conn};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum What {
    /// Logs (`eth_subscribe` `logs`).
    Logs,
    /// New block headers (`eth_subscribe` `newHeads`).
    Heads,
}

#[derive(Args, Debug)]
#[command(mut_arg("endpoint", |a| a.help(
    "The wss:// endpoint URL [default: AMB_WS_ENDPOINT]"
)))]
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
    /// Logs only: every log exactly once, in chain order, through disconnects, outages and
    /// reorgs (what was missed is fetched with eth_getLogs; a reorg prints the orphaned logs
    /// again with "removed": true). Reconnects are retried without end.
    #[arg(long)]
    gap_free: bool,
    /// With --gap-free: start from this block (fetched first) [default: the current head].
    #[arg(long, value_name = "N", requires = "gap_free")]
    from_block: Option<u64>,
    /// With --gap-free: fetch missed logs over this http(s):// endpoint, same credentials
    /// (recommended on AMB: no 512 KB WebSocket quota) [default: over the WebSocket].
    #[arg(long, value_name = "URL", requires = "gap_free")]
    http_endpoint: Option<String>,
}

pub async fn run(a: SubscribeArgs) -> CliResult {
    let url = a.conn.endpoint_or(&["AMB_WS_ENDPOINT"])?;
    if a.gap_free {
        if a.what != What::Logs {
            return Err("--gap-free applies to `logs` only".into());
        }
        return gap_free(&a, &url).await;
    }
    let provider = ProviderBuilder::new()
        .connect_pubsub_with(a.conn.ws(&url)?)
        .await
        .map_err(|e| super::call::describe(&e))?;
    let limit = a.count.unwrap_or(usize::MAX);
    let mut out = std::io::stdout().lock();
    match a.what {
        What::Logs => {
            let sub = provider
                .subscribe_logs(&filter(&a))
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

fn filter(a: &SubscribeArgs) -> Filter {
    let mut filter = Filter::new();
    if let Some(addr) = a.address {
        filter = filter.address(addr);
    }
    if let Some(t) = a.topic0 {
        filter = filter.event_signature(t);
    }
    filter
}

/// `--gap-free`: a resumable log stream (public `alloy_amb::resumable` API), live over the
/// WebSocket, backfilled over `--http-endpoint` or the WebSocket after every reconnect and
/// every notification the gateway may have dropped (over its 512 KB quota): both are counted
/// by `AmbWsConnect::lost_notifications`.
async fn gap_free(a: &SubscribeArgs, url: &str) -> CliResult {
    let describe = |e: alloy_transport::TransportError| super::call::describe(&e);
    let connect = a.conn.ws_with(url, |b| b.max_retries(u32::MAX))?;
    let lost = connect.lost_notifications();
    let provider = ProviderBuilder::new()
        .connect_pubsub_with(connect)
        .await
        .map_err(describe)?;
    let mut builder = provider.resumable_logs(&filter(a)).reconnect_signal(lost);
    if let Some(http) = &a.http_endpoint {
        builder =
            builder.backfill_provider(ProviderBuilder::new().on_transport(a.conn.http(http)?));
    }
    if let Some(block) = a.from_block {
        builder = builder.from_block(block);
    }
    let stream = builder.subscribe().await.map_err(describe)?;
    let mut stream = stream.take(a.count.unwrap_or(usize::MAX));
    let mut out = std::io::stdout().lock();
    while let Some(log) = stream.next().await {
        let log = log.map_err(describe)?;
        writeln!(out, "{}", serde_json::to_string(&log)?)?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}
