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
    /// A billing token when the URL carries `?billingtoken=`, SigV4 for an AWS host name
    /// (`*.amazonaws.com`, `*.on.aws`); any other host is refused (name `sigv4` or `none`), so
    /// AWS credentials are never sent to a third party by default.
    Auto,
    /// SigV4 with the credentials (`--*-profile`, else the standard chain).
    Sigv4,
    /// No authentication (a local or self-managed node behind its own network controls).
    None,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The endpoint migrated from (e.g. AMB), HTTP(S) [default: --from-config-env's URL].
    #[arg(long, required_unless_present = "from_config_env")]
    from: Option<String>,
    /// Read `--from` and its auth from PREFIX_URL, PREFIX_AUTH, ... or PREFIX_CONFIG (the
    /// `EndpointConfig` convention, any target and auth: SigV4, billing token, bearer, Basic,
    /// headers); `--from-region`/`--from-service`/`--from-profile` override it.
    #[arg(long, value_name = "PREFIX", conflicts_with = "from_auth")]
    from_config_env: Option<String>,
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
    /// The endpoint migrated to, HTTP(S) [default: --to-config-env's URL].
    #[arg(long, required_unless_present = "to_config_env")]
    to: Option<String>,
    /// Read `--to` and its auth from PREFIX_URL, PREFIX_AUTH, ... or PREFIX_CONFIG (as
    /// `--from-config-env`).
    #[arg(long, value_name = "PREFIX", conflicts_with = "to_auth")]
    to_config_env: Option<String>,
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

/// One side's endpoint options.
struct Side<'a> {
    name: &'a str,
    url: &'a Option<String>,
    config_env: &'a Option<String>,
    auth: Auth,
    region: &'a Option<String>,
    service: &'a Option<String>,
    profile: &'a Option<String>,
}

/// The side's client and URL.
fn client(side: Side<'_>) -> Result<(RpcClient, String), Box<dyn std::error::Error>> {
    let Side {
        name: side,
        url,
        config_env,
        auth,
        region,
        service,
        profile,
    } = side;
    let url = match (url, config_env) {
        (Some(u), _) => u.clone(),
        (None, Some(prefix)) => alloy_amb::EndpointConfig::from_env(prefix)?.url,
        (None, None) => return Err(format!("pass --{side} or --{side}-config-env").into()),
    };
    let url = url.as_str();
    if super::is_ws(url) {
        return Err(format!(
            "`amb compare` reads over HTTP(S); {} is a WebSocket URL",
            scheme_and_host(url)
        )
        .into());
    }
    if let Some(prefix) = config_env {
        // The configuration says how to authenticate; the library refuses a host that is not
        // AWS's and names no auth, so AWS credentials are not sent to a third party unasked.
        let conn = Conn {
            endpoint: Some(url.to_string()),
            config_env: Some(prefix.clone()),
            region: region.clone(),
            profile: profile.clone(),
            service: service.clone(),
            ..Conn::default()
        };
        return Ok((
            ClientBuilder::default().transport(conn.http(url)?, false),
            url.to_owned(),
        ));
    }
    if auth == Auth::Auto {
        auto_allowed(side, url)?;
    }
    if auth == Auth::None {
        let parsed = url::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
        return Ok((
            ClientBuilder::default().transport(alloy_transport_http::Http::new(parsed), false),
            url.to_owned(),
        ));
    }
    let conn = Conn {
        endpoint: Some(url.to_string()),
        region: region.clone(),
        profile: profile.clone(),
        service: service.clone(),
        ..Conn::default()
    };
    if auth == Auth::Sigv4 && alloy_amb::Endpoint::parse(url).is_ok_and(|e| e.has_billing_token()) {
        return Err("`sigv4` auth with a `?billingtoken=` URL: drop one of them".into());
    }
    Ok((
        ClientBuilder::default().transport(conn.http(url)?, false),
        url.to_owned(),
    ))
}

/// Whether `auto` may go ahead for `url`: a billing token in the URL, or an AWS host name (SigV4).
/// Any other host is an error naming the flags, so AWS credentials (the key id, the session
/// token) are never sent to a third party unasked.
fn auto_allowed(side: &str, url: &str) -> Result<(), String> {
    if alloy_amb::Endpoint::parse(url).is_ok_and(|e| e.has_billing_token()) {
        return Ok(());
    }
    let host = url::Url::parse(url)
        .map_err(|e| format!("not a URL ({e})"))?
        .host_str()
        .unwrap_or_default()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if host.ends_with(".amazonaws.com") || host.ends_with(".on.aws") {
        return Ok(());
    }
    Err(format!(
        "{} is not an AWS host name and has no `?billingtoken=`: choose how it authenticates, \
         `--{side}-auth sigv4` to sign with your AWS credentials or `--{side}-auth none` for a \
         node or a provider whose key is in the URL",
        scheme_and_host(url)
    ))
}

/// `scheme://host` only: never the path or query (a token may be in either).
fn scheme_and_host(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or("?")))
        .unwrap_or_else(|_| "the URL".into())
}

pub async fn run(a: CompareArgs) -> CliResult {
    // Every error printed has its URLs cut to scheme and host and secrets withheld.
    run_inner(a)
        .await
        .map_err(|e| alloy_amb::migrate::printable(&e.to_string()).into())
}

async fn run_inner(a: CompareArgs) -> CliResult {
    let (from, from_url) = client(Side {
        name: "from",
        url: &a.from,
        config_env: &a.from_config_env,
        auth: a.from_auth,
        region: &a.from_region,
        service: &a.from_service,
        profile: &a.from_profile,
    })
    .map_err(|e| format!("--from: {e}"))?;
    let (to, to_url) = client(Side {
        name: "to",
        url: &a.to,
        config_env: &a.to_config_env,
        auth: a.to_auth,
        region: &a.to_region,
        service: &a.to_service,
        profile: &a.to_profile,
    })
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
        scheme_and_host(&from_url),
        scheme_and_host(&to_url),
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
            Outcome::Failed { side, message } => {
                // Already printable (the library's `Outcome::Failed`); once more costs nothing.
                format!(
                    "FAILED on {side}: {}",
                    alloy_amb::migrate::printable(message)
                )
            }
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

#[cfg(test)]
mod tests {
    use super::auto_allowed;

    #[test]
    fn auto_signs_only_for_aws_hosts_or_uses_the_billing_token() {
        for ok in [
            "https://nd-abc.ethereum.managedblockchain.us-east-1.amazonaws.com/",
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
            "https://abc.lambda-url.us-east-1.on.aws/",
            "https://NODE.ethereum.managedblockchain.us-east-1.AMAZONAWS.com./",
            "https://rpc.example.com/?billingtoken=Token12345678",
        ] {
            assert!(auto_allowed("to", ok).is_ok(), "{ok}");
        }
        for refused in [
            "https://rpc.example.com/v2/KEY",
            "http://127.0.0.1:8545/",
            "https://amazonaws.com.attacker.example/",
            "https://fakeamazonaws.com/",
            "https://x.on.aws.example/",
        ] {
            let e = auto_allowed("to", refused).unwrap_err();
            assert!(e.contains("--to-auth sigv4") && !e.contains("KEY"), "{e}");
        }
    }
}
