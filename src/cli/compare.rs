//! `amb compare --from URL_A --to URL_B`: reads the same things from both endpoints at fixed
//! blocks and prints what matched and what did not (the logic is `alloy_amb::migrate::compare`).

use std::io::Write;
use std::process::ExitCode;

use alloy_amb::migrate::{compare, CompareOptions, Outcome};
use alloy_rpc_client::{ClientBuilder, RpcClient};
use clap::{Args, ValueEnum};

use super::{CliResult, Conn};

/// How one endpoint authenticates.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// A billing token when the URL carries `?billingtoken=`, else SigV4 with the credentials.
    Auto,
    /// SigV4 with the credentials (`--*-profile`, else the standard chain).
    Sigv4,
    /// No authentication (a local or self-managed node behind its own network controls).
    None,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The endpoint migrated from (e.g. AMB), HTTP(S).
    #[arg(long)]
    from: String,
    /// How `--from` authenticates.
    #[arg(long, value_enum, default_value = "auto")]
    from_auth: Auth,
    /// The signing region of `--from` [default: from the AMB host name, AWS_REGION or the profile].
    #[arg(long)]
    from_region: Option<String>,
    /// The SigV4 service name of `--from` [default: managedblockchain].
    #[arg(long)]
    from_service: Option<String>,
    /// The AWS profile for `--from`.
    #[arg(long)]
    from_profile: Option<String>,
    /// The endpoint migrated to, HTTP(S).
    #[arg(long)]
    to: String,
    /// How `--to` authenticates.
    #[arg(long, value_enum, default_value = "auto")]
    to_auth: Auth,
    /// The signing region of `--to`.
    #[arg(long)]
    to_region: Option<String>,
    /// The SigV4 service name of `--to` (e.g. `execute-api`, `lambda`, `vpc-lattice-svcs`).
    #[arg(long)]
    to_service: Option<String>,
    /// The AWS profile for `--to`.
    #[arg(long)]
    to_profile: Option<String>,
    /// How many blocks to sample (the pinned head included).
    #[arg(long, default_value_t = 10)]
    blocks: usize,
    /// Confirmation depth: read at (the lower head) minus this.
    #[arg(long, default_value_t = 12)]
    depth: u64,
    /// Seed of the block and transaction sample (repeat a run with the same seed).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn client(
    url: &str,
    auth: Auth,
    region: &Option<String>,
    service: &Option<String>,
    profile: &Option<String>,
) -> Result<RpcClient, Box<dyn std::error::Error>> {
    if super::is_ws(url) {
        return Err(format!(
            "`amb compare` reads over HTTP(S); {} is a WebSocket URL",
            scheme_and_host(url)
        )
        .into());
    }
    if auth == Auth::None {
        let parsed = url::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
        return Ok(
            ClientBuilder::default().transport(alloy_transport_http::Http::new(parsed), false)
        );
    }
    let conn = Conn {
        endpoint: Some(url.to_string()),
        region: region.clone(),
        profile: profile.clone(),
        service: service.clone(),
        billing_token: None,
    };
    if auth == Auth::Sigv4 && alloy_amb::Endpoint::parse(url).is_ok_and(|e| e.has_billing_token()) {
        return Err("`sigv4` auth with a `?billingtoken=` URL: drop one of them".into());
    }
    Ok(ClientBuilder::default().transport(conn.http(url)?, false))
}

/// `scheme://host` only: never the path or query (a token may be in either).
fn scheme_and_host(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or("?")))
        .unwrap_or_else(|_| "the URL".into())
}

pub async fn run(a: CompareArgs) -> CliResult {
    let from = client(
        &a.from,
        a.from_auth,
        &a.from_region,
        &a.from_service,
        &a.from_profile,
    )
    .map_err(|e| format!("--from: {e}"))?;
    let to = client(&a.to, a.to_auth, &a.to_region, &a.to_service, &a.to_profile)
        .map_err(|e| format!("--to: {e}"))?;
    let opts = CompareOptions {
        blocks: a.blocks,
        depth: a.depth,
        seed: a.seed,
        ..Default::default()
    };
    let report = compare(&from, &to, &opts, |p| {
        eprintln!("compare: [{}/{}] {}", p.done, p.total, p.step);
    })
    .await?;
    let (hf, ht, head) = report.heads;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "from {} (head {hf}) vs to {} (head {ht}); pinned head {head} (depth {}), seed {}, blocks {:?}",
        scheme_and_host(&a.from),
        scheme_and_host(&a.to),
        a.depth,
        a.seed,
        report.blocks
    )?;
    writeln!(
        out,
        "{:<28} {:<14} {:<48} RESULT",
        "METHOD", "BLOCK", "WHAT"
    )?;
    for c in &report.checks {
        let what: String = c.what.chars().take(48).collect();
        let result = match &c.outcome {
            Outcome::Match => "match".to_string(),
            Outcome::Mismatch(d) => format!("MISMATCH {d}"),
            Outcome::Failed { side, message } => format!("FAILED on {side}: {message}"),
        };
        writeln!(
            out,
            "{:<28} {:<14} {:<48} {result}",
            c.method, c.block, what
        )?;
    }
    let failed = report.failures().count();
    writeln!(
        out,
        "{} matched, {failed} mismatched or failed",
        report.matched()
    )?;
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
