//! Prints the chain id and the latest block number of an endpoint over HTTP: an AMB node, API
//! Gateway, a Lambda function URL, VPC Lattice, a third-party provider or your own node, chosen
//! by the `RPC_*` environment variables (`alloy_amb::EndpointConfig::from_env("RPC")`).
//!
//! ```text
//! RPC_URL=https://nd-xxxx.ethereum.managedblockchain.us-east-1.amazonaws.com \
//!     cargo run --example block_number
//! chain_id=1
//! block_number=21000000
//!
//! # the same program after leaving AMB: only the environment changes
//! RPC_URL=https://rpc.example.vpc-lattice-svcs.us-east-1.on.aws/ cargo run --example block_number
//! RPC_URL=https://eth.quiknode.pro/abc/ RPC_AUTH=header RPC_HEADERS='x-token: env:QN_TOKEN' \
//!     cargo run --example block_number
//! ```
//!
//! SigV4 credentials come from the standard AWS chain (environment, profile, SSO, instance
//! role...); the region from the host name, `RPC_REGION`, or `AWS_REGION` / the profile. A
//! `?billingtoken=...` on an AMB URL (or `RPC_TOKEN`) selects token-based access instead. On
//! failure it prints the error's message and exits 1.

use alloy_amb::{EndpointConfig, ProviderBuilderExt};
use alloy_provider::{Provider, ProviderBuilder};

/// Reads `RPC_URL` (and the other `RPC_*` variables, or `RPC_CONFIG`) and returns
/// `(chain_id, block_number)`.
pub async fn run() -> Result<(u64, u64), Box<dyn std::error::Error>> {
    let http = EndpointConfig::from_env("RPC")?.http()?;
    let provider = ProviderBuilder::new().on_transport(http);
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
