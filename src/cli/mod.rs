//! The `amb` binary's commands (feature `cli`).

mod call;
mod compare;
#[cfg(feature = "demo")]
mod demo;
mod doctor;
mod subscribe;

use std::process::ExitCode;

use alloy_amb::config::ConfigValueError;
use alloy_amb::{
    AmbCredentials, AmbHttp, AmbWsConnect, AmbWsConnectBuilder, AuthSpec, EndpointConfig,
    HeaderSpec, SecretValue,
};
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

/// Where to connect and how to authenticate, as on the transport builders. Everything but
/// `--profile` becomes one [`EndpointConfig`] (the library's mapping to the builders).
#[derive(Args, Debug, Clone, Default)]
pub struct Conn {
    /// The endpoint URL [default: the --config-env's URL, else AMB_HTTP_ENDPOINT, else
    /// AMB_WS_ENDPOINT].
    #[arg(long)]
    endpoint: Option<String>,
    /// Read the endpoint and its auth from the environment variables PREFIX_URL, PREFIX_AUTH,
    /// PREFIX_TOKEN, ... or PREFIX_CONFIG (JSON), as `EndpointConfig::from_env` does (README,
    /// "Targets"); the other flags override what they set.
    #[arg(long, value_name = "PREFIX")]
    config_env: Option<String>,
    /// The signing region [default: from the host name (AMB, API Gateway, Lambda URL, VPC
    /// Lattice), AWS_REGION or the profile].
    #[arg(long)]
    region: Option<String>,
    /// The AWS profile to take credentials from [default: the standard credential chain].
    #[arg(long)]
    profile: Option<String>,
    /// The SigV4 service name [default: from the host name: managedblockchain, execute-api,
    /// lambda, vpc-lattice-svcs].
    #[arg(long)]
    service: Option<String>,
    /// What the endpoint is, for a custom domain whose host name says nothing: amb,
    /// api-gateway, lambda-url, vpc-lattice, other.
    #[arg(long, value_name = "TARGET")]
    target: Option<String>,
    /// Sign `x-amz-content-sha256: UNSIGNED-PAYLOAD` instead of the body's hash (VPC Lattice
    /// does by default).
    #[arg(long)]
    unsigned_payload: bool,
    /// Sign with SigV4A (multi-region VPC Lattice services).
    #[arg(long)]
    sigv4a: bool,
    /// The SigV4A region set [default: *].
    #[arg(long, value_name = "REGIONS", requires = "sigv4a")]
    region_set: Option<String>,
    /// A header sent on every request and WebSocket upgrade, `'Name: value'` (repeatable); a
    /// value `env:VAR` is read from the variable VAR (keeps secrets out of shell history).
    #[arg(long = "header", value_name = "'NAME: VALUE'")]
    headers: Vec<String>,
    /// Send `Authorization: Bearer <token>` with the token read from the variable VAR.
    #[arg(long, value_name = "VAR", conflicts_with_all = ["billing_token", "no_auth"])]
    bearer_env: Option<String>,
    /// Send no authentication but the --header(s) (a key in the URL, a plain node).
    #[arg(long, conflicts_with = "billing_token")]
    no_auth: bool,
    /// An AMB accessor (billing) token: token-based access instead of SigV4.
    #[arg(long, env = "AMB_BILLING_TOKEN", hide_env_values = true)]
    billing_token: Option<String>,
}

impl Conn {
    fn env(name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }

    /// `--endpoint`, else the `--config-env`'s URL, else the first of the environment
    /// variables that is set.
    fn endpoint_or(&self, vars: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
        if let Some(e) = &self.endpoint {
            return Ok(e.clone());
        }
        if let Some(prefix) = &self.config_env {
            return Ok(EndpointConfig::from_env(prefix)?.url);
        }
        vars.iter().find_map(|v| Self::env(v)).ok_or_else(|| {
            format!(
                "no endpoint: pass --endpoint or --config-env, or set {}",
                vars.join(" or ")
            )
            .into()
        })
    }

    fn credentials(&self) -> AmbCredentials {
        match &self.profile {
            Some(p) => AmbCredentials::profile(p.clone()),
            None => AmbCredentials::default_chain(),
        }
    }

    /// The endpoint configuration for `url`: `--config-env`'s (if given) with the flags on top.
    pub(crate) fn config(&self, url: &str) -> Result<EndpointConfig, alloy_amb::AmbError> {
        let mut c = match &self.config_env {
            Some(prefix) => EndpointConfig::from_env(prefix)?,
            None => EndpointConfig::default(),
        };
        c.url = url.to_owned();
        if let Some(r) = &self.region {
            c.region = Some(r.clone());
        }
        if let Some(s) = &self.service {
            c.service = Some(s.clone());
        }
        if let Some(t) = &self.target {
            c.target = Some(t.clone());
        }
        if self.unsigned_payload {
            c.unsigned_payload = Some(true);
        }
        if self.sigv4a {
            c.sigv4a = Some(true);
        }
        if let Some(r) = &self.region_set {
            c.region_set = Some(r.clone());
        }
        for h in &self.headers {
            let header = HeaderSpec::parse(h).map_err(|e| {
                alloy_amb::AmbError::from(match e {
                    ConfigValueError::Invalid {
                        value, expected, ..
                    } => ConfigValueError::Invalid {
                        field: "--header".into(),
                        value,
                        expected,
                    },
                    other => other,
                })
            })?;
            c.headers.push(header);
        }
        if let Some(var) = &self.bearer_env {
            c.auth = AuthSpec::Bearer;
            c.token = Some(SecretValue::env(var.clone()));
            c.user = None;
            c.password = None;
        }
        if self.no_auth {
            c.auth = AuthSpec::None;
        }
        if let Some(t) = &self.billing_token {
            c.auth = AuthSpec::BillingToken;
            c.token = Some(SecretValue::new(t.clone()));
        }
        if matches!(c.auth, AuthSpec::None) && !c.headers.is_empty() {
            c.auth = AuthSpec::Header;
        }
        Ok(c)
    }

    fn http(&self, url: &str) -> Result<AmbHttp, alloy_amb::AmbError> {
        let mut b = self.config(url)?.http_builder()?;
        if self.profile.is_some() {
            b = b.credentials(self.credentials());
        }
        b.build()
    }

    fn ws(&self, url: &str) -> Result<AmbWsConnect, alloy_amb::AmbError> {
        self.ws_with(url, |b| b)
    }

    /// [`Conn::ws`] with `tune` applied to the builder first.
    fn ws_with(
        &self,
        url: &str,
        tune: impl FnOnce(AmbWsConnectBuilder) -> AmbWsConnectBuilder,
    ) -> Result<AmbWsConnect, alloy_amb::AmbError> {
        let mut b = tune(self.config(url)?.ws_builder()?);
        if self.profile.is_some() {
            b = b.credentials(self.credentials());
        }
        b.build()
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
        .replace("`.service(\"execute-api\")`", "`--service execute-api`")
        .replace("`.basic_auth(..)`", "`--config-env` (PREFIX_AUTH=basic)")
        .replace("use AmbHttp (HTTP)", "use an https:// endpoint")
        .replace("`.bearer_token(..)`", "`--bearer-env`")
        .replace("`.header(..)`", "`--header`")
        .replace("`.no_auth()`", "`--no-auth`")
        .replace("`.target(..)`", "`--target`")
        .replace("`.unsigned_payload(..)`", "`--unsigned-payload`")
        .replace("`.sigv4a(..)`", "`--sigv4a`")
        .replace("`?billingtoken=`", "`?billingtoken=` in the endpoint")
}

/// A command's error, already worded for the user.
type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;
