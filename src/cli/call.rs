//! `amb call <METHOD> [PARAMS_JSON...]`

use std::process::ExitCode;

use alloy_amb::AmbError;
use alloy_rpc_client::{ClientBuilder, RpcClient};
use alloy_transport::{RpcError, TransportError};
use clap::Args;
use serde_json::{json, value::RawValue, Value};

use super::{is_ws, CliResult, Conn};

#[derive(Args, Debug)]
pub struct CallArgs {
    #[command(flatten)]
    conn: Conn,
    /// Print the whole JSON-RPC response, not only its result.
    #[arg(long)]
    raw: bool,
    /// The JSON-RPC method, e.g. `eth_blockNumber`.
    method: String,
    /// Parameters, one JSON value each (a bare word is taken as a string: `latest`; an
    /// object, array or quoted string must be valid JSON).
    params: Vec<String>,
}

/// One argument as JSON: itself if it parses; a bare word (`latest`, `0x10`) as a string; but
/// what starts like JSON (`{`, `[`, `"`) and does not parse is refused, not sent as a string.
fn param(n: usize, arg: &str) -> Result<Value, String> {
    match serde_json::from_str(arg) {
        Ok(v) => Ok(v),
        Err(e) if arg.trim_start().starts_with(['{', '[', '"']) => Err(format!(
            "parameter {n} is not valid JSON ({e}): {arg}; quote it for the shell, e.g. \
             '{{\"to\":\"0x...\"}}'"
        )),
        Err(_) => Ok(Value::String(arg.to_owned())),
    }
}

pub async fn run(a: CallArgs) -> CliResult {
    // Checked before connecting: a malformed parameter sends nothing.
    let params = a
        .params
        .iter()
        .enumerate()
        .map(|(n, p)| param(n + 1, p))
        .collect::<Result<Vec<_>, _>>()?;
    let params = Value::Array(params);
    let url = a
        .conn
        .endpoint_or(&["AMB_HTTP_ENDPOINT", "AMB_WS_ENDPOINT"])?;
    let client: RpcClient = if is_ws(&url) {
        ClientBuilder::default().pubsub(a.conn.ws(&url)?).await?
    } else {
        ClientBuilder::default().transport(a.conn.http(&url)?, false)
    };
    let request = client.request::<_, Box<RawValue>>(a.method.clone(), params);
    let id = serde_json::to_value(&request.request().meta.id).unwrap_or(Value::Null);
    match request.await {
        Ok(result) => {
            if a.raw {
                let result: Value = serde_json::from_str(result.get())?;
                println!("{}", json!({"jsonrpc": "2.0", "id": id, "result": result}));
            } else {
                println!("{}", result.get());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(RpcError::ErrorResp(payload)) => {
            let error = serde_json::to_value(&payload)?;
            if a.raw {
                println!("{}", json!({"jsonrpc": "2.0", "id": id, "error": error}));
            } else {
                eprintln!("JSON-RPC error: {error}");
            }
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(describe(&e).into()),
    }
}

/// A transport error as the library's typed error when it is one.
pub fn describe(e: &TransportError) -> String {
    match AmbError::from_transport_error(e) {
        Some(amb) => amb.to_string(),
        None => e.to_string(),
    }
}
