//! Prints the chain id and the latest block number of an AMB node over signed HTTP.
//!
//! ```text
//! AMB_HTTP_ENDPOINT=https://nd-xxxx.ethereum.managedblockchain.us-east-1.amazonaws.com \
//!     cargo run --example block_number
//! chain_id=1
//! block_number=21000000
//! ```
//!
//! Credentials come from the standard AWS chain (environment, profile, SSO, instance role...);
//! the region from the AMB host name, or `AWS_REGION` / the profile for other hosts. A
//! `?billingtoken=...` on the URL selects token-based access instead. On failure it prints the
//! error's message and exits 1.

use alloy_amb::{AmbHttp, ProviderBuilderExt};
use alloy_provider::{Provider, ProviderBuilder};

/// Reads `AMB_HTTP_ENDPOINT` and returns `(chain_id, block_number)`.
pub async fn run() -> Result<(u64, u64), Box<dyn std::error::Error>> {
    let url = std::env::var("AMB_HTTP_ENDPOINT")
        .map_err(|_| "set AMB_HTTP_ENDPOINT to your node's HTTPS endpoint")?;
    let provider = ProviderBuilder::new().on_transport(AmbHttp::new(url)?);
    let chain_id = provider.get_chain_id().await?;
    let block_number = provider.get_block_number().await?;
    Ok((chain_id, block_number))
}

#[allow(dead_code)]
#[tokio::main]
async fn main() {
    match run().await {
        Ok((chain_id, block_number)) => {
            println!("chain_id={chain_id}");
            println!("block_number={block_number}");
        }
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(1);
        }
    }
}
