//! `amb`: call, subscribe to and diagnose AMB (and other SigV4-protected) JSON-RPC endpoints,
//! or run `amb demo` on a local AMB emulator (no AWS account needed).
//!
//! Built with the `cli` feature (`demo` adds the emulator): `cargo run --features demo --bin amb -- demo`.

#[path = "../cli/mod.rs"]
mod cli;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    cli::run(cli::Cli::parse()).await
}
