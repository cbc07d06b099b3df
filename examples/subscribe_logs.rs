//! Prints logs from a WebSocket endpoint (an AMB node's, a provider's, your own node's) as they
//! arrive, one JSON object per line, and exits after `LOG_COUNT` of them.
//!
//! ```text
//! RPC_URL=wss://nd-xxxx.wss.ethereum.managedblockchain.us-east-1.amazonaws.com \
//! LOG_ADDRESS=0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48 \
//! LOG_TOPIC0=0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef \
//!     cargo run --example subscribe_logs
//! {"address":"0xa0b8...","topics":["0xddf2...",...],"data":"0x...","blockNumber":"0x...",...}
//! ```
//!
//! - `RPC_URL` (required): the `wss://` endpoint; `?billingtoken=...` on an AMB URL selects
//!   token-based access instead of SigV4. The other `RPC_*` variables (or `RPC_CONFIG`) choose
//!   another auth (`alloy_amb::EndpointConfig::from_env("RPC")`, see the README's "Targets"):
//!   `RPC_AUTH=bearer RPC_TOKEN=env:JWT`, `RPC_AUTH=header RPC_HEADERS='x-token: env:QN_TOKEN'`...
//! - `LOG_ADDRESS`, `LOG_TOPIC0` (optional): only logs of this contract / with this first topic.
//! - `LOG_COUNT` (optional, default 3): how many logs to print before exiting 0.
//!
//! Credentials come from the standard AWS chain (environment, profile, SSO, instance role...);
//! the region from the AMB host name, or `AWS_REGION` / the profile for other hosts. If the
//! gateway drops the connection, the subscription is reopened (signed anew) and goes on. On
//! failure it prints the error's message and exits 1.
//!
//! Logs emitted while the connection is down are not replayed by `eth_subscribe`: for every log
//! exactly once (outages, reorgs, restarts), see `examples/gap_free_logs.rs`.

use std::error::Error;
use std::io::Write;

use alloy_amb::EndpointConfig;
use alloy_primitives::{Address, B256};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_types_eth::Filter;
use futures::StreamExt;

/// What to subscribe to.
pub struct Config {
    /// The `wss://` endpoint and its auth.
    pub endpoint: EndpointConfig,
    /// Only logs of this contract.
    pub address: Option<Address>,
    /// Only logs with this first topic (event signature).
    pub topic0: Option<B256>,
    /// How many logs to print.
    pub count: usize,
}

impl Config {
    /// Reads `RPC_URL` (and the other `RPC_*`), `LOG_ADDRESS`, `LOG_TOPIC0` and `LOG_COUNT`.
    pub fn from_env() -> Result<Self, Box<dyn Error>> {
        let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let endpoint = EndpointConfig::from_env("RPC")?;
        let address = match var("LOG_ADDRESS") {
            Some(a) => Some(a.trim().parse().map_err(|e| format!("LOG_ADDRESS: {e}"))?),
            None => None,
        };
        let topic0 = match var("LOG_TOPIC0") {
            Some(t) => Some(t.trim().parse().map_err(|e| format!("LOG_TOPIC0: {e}"))?),
            None => None,
        };
        let count = match var("LOG_COUNT") {
            Some(c) => c.trim().parse().map_err(|e| format!("LOG_COUNT: {e}"))?,
            None => 3,
        };
        Ok(Self {
            endpoint,
            address,
            topic0,
            count,
        })
    }
}

/// Subscribes and writes `config.count` logs to `out`, one JSON object per line; returns how
/// many were written.
pub async fn run(config: Config, out: &mut impl Write) -> Result<usize, Box<dyn Error>> {
    let provider = ProviderBuilder::new()
        .connect_pubsub_with(config.endpoint.ws()?)
        .await?;
    let mut filter = Filter::new();
    if let Some(address) = config.address {
        filter = filter.address(address);
    }
    if let Some(topic0) = config.topic0 {
        filter = filter.event_signature(topic0);
    }
    let mut logs = provider.subscribe_logs(&filter).await?.into_stream();
    let mut printed = 0;
    while printed < config.count {
        let log = logs
            .next()
            .await
            .ok_or("the subscription ended (the connection could not be reopened)")?;
        writeln!(out, "{}", serde_json::to_string(&log)?)?;
        out.flush()?;
        printed += 1;
    }
    Ok(printed)
}

#[allow(dead_code)]
#[tokio::main]
async fn main() {
    let result = match Config::from_env() {
        Ok(config) => run(config, &mut std::io::stdout().lock()).await,
        Err(err) => Err(err),
    };
    if let Err(err) = result {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}
