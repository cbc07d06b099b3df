//! `amb doctor`: checks a setup step by step and says what to fix.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy_amb::auth::{resolve_region, RegionSource};
use alloy_amb::{AmbError, AmbHttp, AuthFailure, AuthSpec, Endpoint, EndpointConfig, Target};
use alloy_primitives::U64;
use alloy_rpc_client::{ClientBuilder, RpcClient};
use alloy_transport::TransportError;
use clap::Args;

use super::{cli_words, is_ws, CliResult, Conn};

/// Clock skew beyond this is flagged (AWS refuses signatures more than 5 minutes off).
const MAX_SKEW_SECS: i64 = 120;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    #[command(flatten)]
    conn: Conn,
    /// The WebSocket endpoint for the upgrade check [default: AMB_WS_ENDPOINT, else derived
    /// from an AMB HTTP host name].
    #[arg(long)]
    ws_endpoint: Option<String>,
    /// Also show the canonical request and string to sign of the signed `eth_chainId`
    /// (never the secret nor the signature).
    #[arg(short, long)]
    verbose: bool,
}

/// Prints check results and remembers whether any failed.
#[derive(Default)]
struct Report {
    failed: Vec<&'static str>,
}

impl Report {
    fn pass(&mut self, check: &'static str, detail: impl AsRef<str>) {
        println!("✓ {check:<12} {}", detail.as_ref());
    }

    /// A failed check; library wording (`.region(..)`) becomes the CLI's (`--region`).
    fn fail(&mut self, check: &'static str, detail: impl AsRef<str>, hint: impl AsRef<str>) {
        println!("✗ {check:<12} {}", cli_words(detail.as_ref()));
        println!("  {:<12} hint: {}", "", cli_words(hint.as_ref()));
        self.failed.push(check);
    }

    /// Reports a signed `eth_chainId` (bounded to 30 s): its answer, or the typed failure.
    async fn chain_id(
        &mut self,
        check: &'static str,
        what: &str,
        call: impl std::future::IntoFuture<Output = Result<U64, TransportError>>,
    ) {
        match tokio::time::timeout(Duration::from_secs(30), call).await {
            Ok(Ok(id)) => self.pass(check, format!("{what} = {id}")),
            Ok(Err(e)) => {
                let (text, hint) = explain(&e);
                self.fail(check, text, hint)
            }
            Err(_) => self.fail(
                check,
                "no answer within 30s",
                "check the network path to the endpoint",
            ),
        }
    }

    /// A problem that is not a failure of this setup (e.g. a WebSocket URL for a target without
    /// WebSockets): printed with a hint, the exit code unchanged.
    fn warn(&mut self, check: &'static str, detail: impl AsRef<str>, hint: impl AsRef<str>) {
        println!("! {check:<12} {}", cli_words(detail.as_ref()));
        println!("  {:<12} hint: {}", "", cli_words(hint.as_ref()));
    }

    fn skip(&mut self, check: &'static str, why: impl AsRef<str>) {
        println!("- {check:<12} skipped: {}", why.as_ref());
    }
}

/// `https://nd-x.ethereum.managedblockchain.r.amazonaws.com` ⇄ `wss://nd-x.wss.ethereum...`
fn derive_ws(http: &str) -> Option<String> {
    let e = Endpoint::parse(http).ok()?;
    e.amb_host()?.node_id.as_ref()?;
    let host = e.host();
    if host.contains(".wss.") {
        return None;
    }
    let (node, rest) = host.split_once('.')?;
    Some(format!("wss://{node}.wss.{rest}/"))
}

fn derive_http(ws: &str) -> Option<String> {
    let e = Endpoint::parse(ws).ok()?;
    e.amb_host()?.node_id.as_ref()?;
    Some(format!("https://{}/", e.host().replacen(".wss.", ".", 1)))
}

/// A hint for a refused request: the library's (classified there, for HTTP and WebSocket
/// alike), sharpened for scope errors.
fn auth_hint(err: &AmbError) -> String {
    if let AmbError::AuthRejected { kind, .. } = err {
        return match kind {
            AuthFailure::WrongRegion => {
                "the signing region is not the node's: pass --region with the region in the \
                 node's host name (or fix AWS_REGION / the profile's region)"
                    .into()
            }
            AuthFailure::WrongService => {
                "the service name is wrong: AMB takes `managedblockchain` (--service)".into()
            }
            kind => kind.hint().into(),
        };
    }
    match err {
        AmbError::Connect { .. } | AmbError::Timeout { .. } => {
            "check the endpoint URL, DNS and network access (VPC endpoints, security groups, proxies)"
                .into()
        }
        _ => "see the message above".into(),
    }
}

/// A transport error's text and hint.
fn explain(e: &TransportError) -> (String, String) {
    match AmbError::from_transport_error(e) {
        // The library's message ends with the hint; the report prints the hint on its own line.
        Some(
            amb @ AmbError::AuthRejected {
                kind,
                status,
                message,
                host,
                ..
            },
        ) => (
            format!("{kind:?}: `{host}` answered HTTP {status}: \"{message}\""),
            auth_hint(amb),
        ),
        Some(amb) => (amb.to_string(), auth_hint(amb)),
        None => (e.to_string(), "see the message above".into()),
    }
}

/// Parses an HTTP `Date` (`Tue, 24 Nov 2026 21:22:40 GMT`) to Unix seconds.
fn parse_http_date(s: &str) -> Option<i64> {
    use aws_smithy_types::date_time::{DateTime, Format};
    DateTime::from_str(s.trim(), Format::HttpDate)
        .ok()
        .map(|t| t.secs())
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn human(secs: i64) -> String {
    let a = secs.abs();
    if a >= 3600 {
        format!("{}h{:02}m", a / 3600, (a % 3600) / 60)
    } else if a >= 60 {
        format!("{}m{:02}s", a / 60, a % 60)
    } else {
        format!("{a}s")
    }
}

/// Where the signing region comes from: the library's own resolution, in the CLI's words.
fn region_and_source(
    conn: &Conn,
    config: &EndpointConfig,
    endpoint: &Endpoint,
) -> (Option<String>, &'static str) {
    let flag = if conn.region.is_some() {
        "--region"
    } else {
        "--config-env"
    };
    match resolve_region(config.region.as_deref(), endpoint) {
        Some((r, RegionSource::Builder)) => (Some(r), flag),
        Some((r, RegionSource::EndpointHost)) => (Some(r), "the host name"),
        Some((r, RegionSource::Environment(var))) => (Some(r), var),
        Some((r, _)) => (Some(r), "the AWS default region chain"),
        None => (None, "the AWS profile (looked up on first use)"),
    }
}

/// How the transports will authenticate: `None` for SigV4, else what is sent instead.
fn auth_mode(config: &EndpointConfig, endpoint: &Endpoint, target: Target) -> Option<&'static str> {
    match config.auth {
        AuthSpec::BillingToken => Some("billing-token access"),
        AuthSpec::Bearer => Some("bearer token"),
        AuthSpec::Basic => Some("HTTP Basic"),
        AuthSpec::Header => Some("headers only"),
        AuthSpec::None => Some("no authentication"),
        AuthSpec::Sigv4 => None,
        _ if endpoint.has_billing_token() || config.token.is_some() => Some("billing-token access"),
        _ if config.user.is_some() => Some("HTTP Basic"),
        _ if target.is_sigv4() || config.service.is_some() => None,
        _ if !config.headers.is_empty() => Some("headers only"),
        _ => Some("no authentication configured"),
    }
}

/// `VPC Lattice (from the host name): SigV4 service vpc-lattice-svcs, UNSIGNED-PAYLOAD, no
/// WebSocket, batches sent as they are`.
fn describe_target(target: Target, source: &str, mode: Option<&str>) -> String {
    let ws = if target.has_websocket() {
        "WebSocket"
    } else {
        "no WebSocket"
    };
    let batches = if target.accepts_batches() {
        "batches sent as they are"
    } else {
        "batches split"
    };
    match (mode, target.default_service()) {
        (None, Some(service)) => {
            let payload = if target.unsigned_payload() {
                "UNSIGNED-PAYLOAD"
            } else {
                "body signed"
            };
            format!(
                "{} (from {source}): SigV4 service {service}, {payload}, {ws}, {batches}",
                target.name()
            )
        }
        (None, None) => format!("{} (from {source}): SigV4, {ws}, {batches}", target.name()),
        (Some(mode), _) => format!("{} (from {source}): {mode}, {ws}, {batches}", target.name()),
    }
}

/// The target's SigV4 rules: service, payload mode, SigV4A.
fn check_signing(r: &mut Report, config: &EndpointConfig, target: Target, source: &str) {
    if let (Some(given), Some(own)) = (&config.service, target.default_service()) {
        if given != own && target != Target::Loopback && source == "the host name" {
            r.fail(
                "service",
                format!(
                    "--service {given} but the host is {} (service {own})",
                    target.name()
                ),
                format!("drop --service, or pass --service {own}"),
            );
        }
    }
    let unsigned = config
        .unsigned_payload
        .unwrap_or_else(|| target.unsigned_payload());
    if target == Target::VpcLattice && !unsigned {
        r.fail(
            "payload",
            "the body is signed, but VPC Lattice does not support payload signing",
            "drop unsigned_payload=false: Lattice needs x-amz-content-sha256: UNSIGNED-PAYLOAD",
        );
    } else if unsigned && !target.allows_unsigned_payload() {
        r.fail(
            "payload",
            format!(
                "UNSIGNED-PAYLOAD, but a {} refuses unsigned payloads",
                target.name()
            ),
            "drop --unsigned-payload: the body's SHA-256 must be signed",
        );
    } else if config.sigv4a == Some(true) && matches!(target, Target::Amb | Target::LambdaUrl) {
        r.fail(
            "payload",
            format!("SigV4A, which {} does not accept", target.name()),
            "drop --sigv4a (VPC Lattice and API Gateway take SigV4A)",
        );
    } else {
        let how = if unsigned {
            "UNSIGNED-PAYLOAD (x-amz-content-sha256)"
        } else {
            "the body's SHA-256 is signed"
        };
        let algo = if config.sigv4a == Some(true) {
            format!(
                ", SigV4A (region set {})",
                // As the signer decides: the region set given, else the one region given,
                // else every region.
                config
                    .region_set
                    .as_deref()
                    .or(config.region.as_deref())
                    .unwrap_or("*")
            )
        } else {
            String::new()
        };
        r.pass("payload", format!("{how}{algo}"));
    }
}

/// An access key id for display: `AKIAIOSFODNN7EXAMPLE` → `AKIA…MPLE` (`****` when too short).
fn mask(access_key_id: &str) -> String {
    if access_key_id.len() <= 8 || !access_key_id.is_ascii() {
        return "****".into();
    }
    let n = access_key_id.len();
    format!("{}…{}", &access_key_id[..4], &access_key_id[n - 4..])
}

/// An error and its sources on one line (`a: b: c`).
fn flatten(err: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(err), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

pub async fn run(a: DoctorArgs) -> CliResult {
    let mut r = Report::default();
    let given = a
        .conn
        .endpoint_or(&["AMB_HTTP_ENDPOINT", "AMB_WS_ENDPOINT"])?;
    let (http_url, ws_url) = if is_ws(&given) {
        (derive_http(&given), Some(given.clone()))
    } else {
        let ws = a
            .ws_endpoint
            .clone()
            .or_else(|| Conn::env("AMB_WS_ENDPOINT"))
            .or_else(|| derive_ws(&given));
        (Some(given.clone()), ws)
    };

    // 1. Endpoint and region.
    let endpoint = match Endpoint::parse(&given) {
        Ok(e) => e,
        Err(e) => {
            r.fail("endpoint", e.to_string(), "pass the node's URL from the AMB console, e.g. https://nd-xxxx.ethereum.managedblockchain.us-east-1.amazonaws.com/");
            return Ok(ExitCode::FAILURE);
        }
    };
    let what = match endpoint.amb_host() {
        Some(h) => format!(
            "AMB {} {}",
            h.chain,
            h.node_id.as_deref().unwrap_or("public endpoint")
        ),
        None => "not an AMB host name".into(),
    };
    r.pass("endpoint", format!("{endpoint} ({what})"));

    // 1b. The target (inferred from the host, or --target) and its rules.
    let config = match a.conn.config(&given) {
        Ok(c) => c,
        Err(e) => {
            r.fail(
                "config",
                e.to_string(),
                "fix the option or variable named above",
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let target_source = if config.target.is_some() {
        "--target"
    } else if config.resolved_target().ok() == Some(endpoint.target()) {
        "the host name"
    } else {
        "--service"
    };
    let target = match config.resolved_target() {
        Ok(t) => t,
        Err(e) => {
            r.fail(
                "target",
                e.to_string(),
                "--target takes amb, api-gateway, lambda-url, vpc-lattice or other",
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let mode = auth_mode(&config, &endpoint, target);
    let sigv4 = mode.is_none();
    r.pass("target", describe_target(target, target_source, mode));
    if sigv4 {
        check_signing(&mut r, &config, target, target_source);
    }

    let (region, source) = region_and_source(&a.conn, &config, &endpoint);
    match (&region, endpoint.host_region()) {
        _ if !sigv4 => r.pass(
            "region",
            format!(
                "not needed: {} (nothing is signed)",
                mode.unwrap_or("no SigV4")
            ),
        ),
        (Some(reg), Some(h)) if reg != h => r.fail(
            "region",
            format!("{reg} (from {source}) but the host is in {h}"),
            format!("sign for the host's region: --region {h} (or drop --region)"),
        ),
        (Some(reg), _) => r.pass("region", format!("{reg} (from {source})")),
        (None, _) => r.pass("region", format!("not set; from {source}")),
    }

    // 2. Credentials.
    let creds = a.conn.credentials();
    if !sigv4 {
        r.pass(
            "credentials",
            format!("not needed: {}", mode.unwrap_or("no SigV4")),
        );
    } else {
        match tokio::time::timeout(Duration::from_secs(30), creds.credentials()).await {
            Ok(Ok(c)) => {
                let answered = format!("{c:?}")
                    .split("provider_name: \"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                    .map(str::to_owned)
                    .unwrap_or_else(|| creds.name().to_owned());
                let expiry = match c.expiry() {
                    None => "no expiry (long-term key)".to_owned(),
                    Some(t) => match t.duration_since(SystemTime::now()) {
                        Ok(left) => format!("expires in {}", human(left.as_secs() as i64)),
                        Err(_) => "EXPIRED".to_owned(),
                    },
                };
                r.pass(
                    "credentials",
                    format!(
                        "{} from {answered} ({}), {expiry}",
                        mask(c.access_key_id()),
                        creds.name()
                    ),
                );
            }
            Ok(Err(e)) => r.fail(
                "credentials",
                e.to_string(),
                "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, pass --profile, or log in (aws sso login)",
            ),
            Err(_) => r.fail(
                "credentials",
                "no credential source answered within 30s",
                "check the profile / instance role; pass --profile",
            ),
        }
    }

    // 3. Clock vs the endpoint's Date header (an unsigned request: the answer is a 403).
    let mut reachable = true;
    if let Some(url) = &http_url {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()?;
        match client.get(url).send().await {
            Ok(resp) => match resp
                .headers()
                .get("date")
                .and_then(|d| d.to_str().ok())
                .and_then(parse_http_date)
            {
                Some(theirs) => {
                    let skew = theirs - now_secs();
                    let side = if skew > 0 { "behind" } else { "ahead of" };
                    if skew.abs() > MAX_SKEW_SECS {
                        r.fail(
                            "clock",
                            format!("this machine is {} {side} the endpoint's clock", human(skew)),
                            "synchronise this machine's clock (NTP/chrony, `timedatectl set-ntp true`): AWS refuses signatures more than 5 minutes off",
                        );
                    } else {
                        r.pass(
                            "clock",
                            format!("within {} of the endpoint's Date", human(skew)),
                        );
                    }
                }
                None => r.skip("clock", "the endpoint sent no Date header"),
            },
            Err(e) => {
                reachable = false;
                r.fail(
                    "reachable",
                    format!("{endpoint}: {}", flatten(&e.without_url())),
                    "check the endpoint URL, DNS and network access (VPC endpoints, security groups, proxies)",
                );
            }
        }
    }

    // 4. A signed eth_chainId over HTTP.
    match &http_url {
        None => r.skip(
            "http call",
            "no HTTP endpoint (pass --endpoint https://...)",
        ),
        Some(_) if !reachable => r.skip("http call", "the endpoint is unreachable"),
        Some(url) => match a.conn.http(url) {
            Err(e) => r.fail("http call", e.to_string(), auth_hint(&e)),
            Ok(http) => {
                if a.verbose && sigv4 {
                    show_signing(&http).await;
                }
                let client = RpcClient::new(http, false);
                let call = client.request_noparams("eth_chainId");
                let what = if sigv4 {
                    "signed eth_chainId"
                } else {
                    "eth_chainId"
                };
                r.chain_id("http call", what, call).await;
            }
        },
    }

    // 5. A signed WSS upgrade (then eth_chainId on it); not on a target without WebSockets.
    let ws_target =
        ws_url
            .as_deref()
            .map(|u| match a.conn.config(u).map(|c| c.resolved_target()) {
                Ok(Ok(t)) => t,
                _ => target,
            });
    match &ws_url {
        None if !target.has_websocket() => r.skip(
            "wss upgrade",
            format!("{} has no WebSocket (HTTP only)", target.name()),
        ),
        None => r.skip(
            "wss upgrade",
            "no WebSocket endpoint (pass --ws-endpoint or set AMB_WS_ENDPOINT)",
        ),
        Some(_) if ws_target.is_some_and(|t| !t.has_websocket()) => r.warn(
            "wss upgrade",
            format!(
                "{} does not support WebSockets: the upgrade was not tried",
                ws_target.unwrap_or(target).name()
            ),
            "use HTTP (https://) for this endpoint, or point the WebSocket at the node's own endpoint",
        ),
        Some(url) => match a.conn.ws(url) {
            Err(e) => r.fail("wss upgrade", e.to_string(), auth_hint(&e)),
            Ok(connect) => {
                let attempt = async {
                    let client = ClientBuilder::default().pubsub(connect).await?;
                    client.request_noparams("eth_chainId").await
                };
                r.chain_id(
                    "wss upgrade",
                    "signed upgrade accepted; eth_chainId",
                    attempt,
                )
                .await;
            }
        },
    }

    println!();
    if r.failed.is_empty() {
        println!("all checks passed");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "{} check(s) failed: {}",
            r.failed.len(),
            r.failed.join(", ")
        );
        Ok(ExitCode::FAILURE)
    }
}

/// Prints the canonical request and string to sign of a signed `eth_chainId` POST, as the
/// transport's signer signs it now ([`AmbHttp::signing_report`]: never the secret key or the
/// signature; the session token redacted).
async fn show_signing(http: &AmbHttp) {
    let body = br#"{"method":"eth_chainId","params":[],"id":0,"jsonrpc":"2.0"}"#;
    match http.signing_report(body).await {
        Ok(Some(report)) => {
            println!(
                "  canonical request (body {}):",
                String::from_utf8_lossy(body)
            );
            for line in report.canonical_request.lines() {
                println!("    | {line}");
            }
            println!("  string to sign:");
            for line in report.string_to_sign.lines() {
                println!("    | {line}");
            }
        }
        Ok(None) => {}
        Err(e) => println!("  (cannot show the canonical request: {e})"),
    }
}
