//! The `amb` binary's commands (feature `cli`).

mod call;
mod compare;
#[cfg(feature = "demo")]
mod demo;
mod doctor;
mod subscribe;

use std::process::ExitCode;

use alloy_amb::{AmbCredentials, AmbHttp, AmbWsConnect, AmbWsConnectBuilder};
use clap::{Args, Parser, Subcommand};

/// Call, subscribe to and diagnose AMB (and other SigV4-protected) JSON-RPC endpoints.
#[derive(Parser, Debug)]
#[command(name = "amb", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sends one JSON-RPC call over HTTP or WSS (by the URL scheme) and prints the result.
    Call(call::CallArgs),
    /// Prints one JSON line per log or new head, over WSS (`--gap-free`: every log exactly once).
    Subscribe(subscribe::SubscribeArgs),
    /// Checks endpoint, region, credentials, clock, a signed HTTP call and a signed WSS upgrade.
    Doctor(doctor::DoctorArgs),
    /// Runs the library against a local AMB emulator started in-process (no AWS account;
    /// feature `demo`).
    Demo,
    /// Reads the same things from two endpoints at fixed blocks and prints what differs.
    Compare(compare::CompareArgs),
}

/// Applies `--region`, `--service` and `--billing-token` (or the credentials) to a transport
/// builder (the HTTP and WebSocket builders share these setters) and builds it. An endpoint
/// that carries `?billingtoken=` is token access: no credentials are set (unless `--profile`
/// asks for them, which the builder then refuses as a conflict).
macro_rules! configure {
    ($conn:expr, $url:expr, $builder:expr) => {{
        let token_in_url = alloy_amb::Endpoint::parse($url).is_ok_and(|e| e.has_billing_token());
        let mut b = $builder;
        if let Some(r) = &$conn.region {
            b = b.region(r.clone());
        }
        if let Some(s) = &$conn.service {
            b = b.service(s.clone());
        }
        b = match &$conn.billing_token {
            Some(t) => b.billing_token(t.clone()),
            None if token_in_url && $conn.profile.is_none() => b,
            None => b.credentials($conn.credentials()),
        };
        b.build()
    }};
}

/// Where to connect and how to authenticate, as on the transport builders.
#[derive(Args, Debug, Clone)]
pub struct Conn {
    /// The endpoint URL [default: AMB_HTTP_ENDPOINT, else AMB_WS_ENDPOINT].
    #[arg(long)]
    endpoint: Option<String>,
    /// The signing region [default: from the AMB host name, AWS_REGION or the profile].
    #[arg(long)]
    region: Option<String>,
    /// The AWS profile to take credentials from [default: the standard credential chain].
    #[arg(long)]
    profile: Option<String>,
    /// The SigV4 service name [default: managedblockchain].
    #[arg(long)]
    service: Option<String>,
    /// An AMB accessor (billing) token: token-based access instead of SigV4.
    #[arg(long, env = "AMB_BILLING_TOKEN", hide_env_values = true)]
    billing_token: Option<String>,
}

impl Conn {
    fn env(name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }

    /// `--endpoint`, else the first of the environment variables that is set.
    fn endpoint_or(&self, vars: &[&str]) -> Result<String, String> {
        if let Some(e) = &self.endpoint {
            return Ok(e.clone());
        }
        vars.iter()
            .find_map(|v| Self::env(v))
            .ok_or_else(|| format!("no endpoint: pass --endpoint or set {}", vars.join(" or ")))
    }

    fn credentials(&self) -> AmbCredentials {
        match &self.profile {
            Some(p) => AmbCredentials::profile(p.clone()),
            None => AmbCredentials::default_chain(),
        }
    }

    fn http(&self, url: &str) -> Result<AmbHttp, alloy_amb::AmbError> {
        configure!(self, url, AmbHttp::builder(url))
    }

    fn ws(&self, url: &str) -> Result<AmbWsConnect, alloy_amb::AmbError> {
        configure!(self, url, AmbWsConnect::builder(url))
    }

    /// [`Conn::ws`] with `tune` applied to the builder first.
    fn ws_with(
        &self,
        url: &str,
        tune: impl FnOnce(AmbWsConnectBuilder) -> AmbWsConnectBuilder,
    ) -> Result<AmbWsConnect, alloy_amb::AmbError> {
        configure!(self, url, tune(AmbWsConnect::builder(url)))
    }
}

/// `ws://` or `wss://`.
fn is_ws(url: &str) -> bool {
    let u = url.trim_start().to_ascii_lowercase();
    u.starts_with("ws://") || u.starts_with("wss://")
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Call(a) => call::run(a).await,
        Command::Subscribe(a) => subscribe::run(a).await,
        Command::Doctor(a) => doctor::run(a).await,
        #[cfg(feature = "demo")]
        Command::Demo => demo::run().await,
        Command::Compare(a) => compare::run(a).await,
        #[cfg(not(feature = "demo"))]
        Command::Demo => Err(
            "`amb demo` needs the `demo` feature (it builds the emulator, \
             alloy-amb-testing): `cargo run --features demo --bin amb -- demo`, or \
             `cargo install alloy-amb --features demo`"
                .into(),
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", cli_words(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// A library message in the CLI's words: the builder setters it names are these flags.
pub(crate) fn cli_words(text: &str) -> String {
    text.replace("`.region(..)` on the builder", "`--region`")
        .replace("`.region(..)`", "`--region`")
        .replace("`.service(..)`", "`--service`")
        .replace("`.billing_token(..)`", "`--billing-token`")
        .replace("`?billingtoken=`", "`?billingtoken=` in the endpoint")
}

/// A command's error, already worded for the user.
type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;
