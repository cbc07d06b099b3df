//! One value that describes an endpoint and how to reach it: switch from AMB to API Gateway, a
//! Lambda function URL, VPC Lattice or a third-party provider at deploy time, with no code change.
//!
//! [`EndpointConfig`] deserializes with serde (JSON, TOML, YAML: any format, unknown fields are
//! refused) and reads the environment by a fixed convention ([`EndpointConfig::from_env`]):
//!
//! | Variable | Field | Value |
//! |---|---|---|
//! | `{P}_URL` | `url` | `https://…` or `wss://…` (required) |
//! | `{P}_AUTH` | `auth` | `auto` (default), `sigv4`, `billing-token`, `bearer`, `basic`, `header`, `none` |
//! | `{P}_REGION` | `region` | the SigV4 signing region |
//! | `{P}_SERVICE` | `service` | the SigV4 service name (`execute-api`, `lambda`, `vpc-lattice-svcs`, …) |
//! | `{P}_TARGET` | `target` | `amb`, `api-gateway`, `lambda-url`, `vpc-lattice`, `other` (for custom domains) |
//! | `{P}_UNSIGNED_PAYLOAD` | `unsigned_payload` | `true`/`false` |
//! | `{P}_SIGV4A` | `sigv4a` | `true`/`false` |
//! | `{P}_REGION_SET` | `region_set` | the SigV4A region set, e.g. `us-east-1,us-west-2` |
//! | `{P}_TOKEN` | `token` | a billing or bearer token (secret) |
//! | `{P}_USER`, `{P}_PASSWORD` | `user`, `password` | HTTP Basic (the password is secret) |
//! | `{P}_HEADERS` | `headers` | `"x-token: env:QN_TOKEN; x-other: v"` (values are secret) |
//! | `{P}_PROXY` | `proxy` | an `http://` CONNECT proxy |
//! | `{P}_CONFIG` | all | the whole value as JSON (instead of the variables above) |
//!
//! A secret ([`SecretValue`]: `token`, `password`, header values) written `env:VAR` is read from
//! the variable `VAR` when the transport is built, so secrets stay out of configuration files.
//! Secrets never appear in `Debug` or in an error; errors name the field or variable to fix.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use crate::error::{AmbError, ConfigError};

/// An endpoint and its authentication, as one serde value or a set of environment variables.
///
/// ```no_run
/// # #[cfg(feature = "http")]
/// # fn run() -> Result<(), alloy_amb::AmbError> {
/// use alloy_amb::EndpointConfig;
///
/// // RPC_URL=https://abc.vpc-lattice-svcs.us-east-1.on.aws/ (or RPC_CONFIG='{"url": ...}')
/// let http = EndpointConfig::from_env("RPC")?.http()?;
///
/// let config: EndpointConfig = serde_json::from_str(
///     r#"{"url": "https://eth.example.com/", "auth": "header",
///         "headers": [{"name": "x-token", "value": "env:QN_TOKEN"}]}"#,
/// ).unwrap();
/// let provider_http = config.http()?;
/// # let _ = (http, provider_http); Ok(()) }
/// ```
///
/// `Debug` withholds the token, the password, header values, the URL's path and query (a
/// provider's key may be there) and the proxy's user and password.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// The endpoint URL: `https://` (HTTP) or `wss://` (WebSocket).
    pub url: String,
    /// How to authenticate ([`AuthSpec::Auto`] by default).
    #[serde(default)]
    pub auth: AuthSpec,
    /// The SigV4 signing region (default: from the host name, `AWS_REGION` or the profile).
    #[serde(default)]
    pub region: Option<String>,
    /// The SigV4 service name (default: the target's, e.g. `execute-api` for API Gateway).
    #[serde(default)]
    pub service: Option<String>,
    /// The target kind, for a custom domain whose host name says nothing: `amb`,
    /// `api-gateway`, `lambda-url`, `vpc-lattice`, `loopback` or `other`.
    #[serde(default)]
    pub target: Option<String>,
    /// Sign `UNSIGNED-PAYLOAD` instead of the body's hash (default: `true` on VPC Lattice).
    #[serde(default)]
    pub unsigned_payload: Option<bool>,
    /// Sign with SigV4A (multi-region; VPC Lattice).
    #[serde(default)]
    pub sigv4a: Option<bool>,
    /// The SigV4A region set (default `*`).
    #[serde(default)]
    pub region_set: Option<String>,
    /// The billing token (`auth: billing-token`) or bearer token (`auth: bearer`).
    #[serde(default)]
    pub token: Option<SecretValue>,
    /// The HTTP Basic user name (`auth: basic`).
    #[serde(default)]
    pub user: Option<String>,
    /// The HTTP Basic password (`auth: basic`).
    #[serde(default)]
    pub password: Option<SecretValue>,
    /// Headers sent on every request and WebSocket upgrade (e.g. QuickNode's `x-token`).
    #[serde(default)]
    pub headers: Vec<HeaderSpec>,
    /// An `http://` CONNECT proxy for this endpoint (default: `HTTPS_PROXY` and friends).
    #[serde(default)]
    pub proxy: Option<String>,
}

/// Where an [`EndpointConfig`] was read from: errors name the variable (`RPC_TOKEN`), the
/// variable and field (`token` in `RPC_CONFIG`) or the field (`token`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Origin {
    #[default]
    Value,
    Vars(String),
    Json(String),
}

/// How an [`EndpointConfig`] authenticates (`auth`, `{P}_AUTH`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AuthSpec {
    /// Chosen from what is given: `token` is a billing token on an AMB host (other hosts must
    /// say `billing-token` or `bearer`), `user` means HTTP Basic, only `headers` means headers
    /// alone; otherwise SigV4 for AWS host names (AMB, API Gateway, Lambda URLs, VPC Lattice,
    /// or `service`/`target` set) and an error naming the choices for any other host.
    #[default]
    Auto,
    /// SigV4 with the standard AWS credential chain.
    Sigv4,
    /// AMB token-based access: `token` is the accessor (billing) token.
    BillingToken,
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// HTTP Basic with `user` and `password`.
    Basic,
    /// Only the `headers` (e.g. `x-token`), nothing signed.
    Header,
    /// No authentication (a key in the URL, or a node behind its own network controls).
    None,
}

impl AuthSpec {
    /// The value's name, as written in configuration: `auto`, `sigv4`, `billing-token`, ...
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Sigv4 => "sigv4",
            Self::BillingToken => "billing-token",
            Self::Bearer => "bearer",
            Self::Basic => "basic",
            Self::Header => "header",
            Self::None => "none",
        }
    }

    const ALL: [AuthSpec; 7] = [
        Self::Auto,
        Self::Sigv4,
        Self::BillingToken,
        Self::Bearer,
        Self::Basic,
        Self::Header,
        Self::None,
    ];
}

impl FromStr for AuthSpec {
    type Err = ConfigValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| ConfigValueError::Invalid {
                field: "auth".into(),
                value: Some(s.to_owned()),
                expected: "one of auto, sigv4, billing-token, bearer, basic, header, none",
            })
    }
}

impl fmt::Display for AuthSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A secret in configuration: the value itself, or `env:VAR` to read it from the environment
/// variable `VAR` when the transport is built. `Debug` shows `env:VAR` (the name is no secret)
/// or `** redacted **`, never the value.
///
/// A literal value cannot start with `env:` (that prefix always means a variable).
#[derive(Clone)]
pub struct SecretValue {
    source: Source,
    /// How errors name this value when it was read from variables (`RPC_TOKEN`).
    label: Option<String>,
}

/// Equal when they hold the same secret or name the same variable.
impl PartialEq for SecretValue {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for SecretValue {}

#[derive(Clone, PartialEq, Eq)]
enum Source {
    Literal(crate::secret::Secret),
    Env(String),
}

impl SecretValue {
    /// Parses a configured value: `env:VAR` is a variable, anything else the secret itself.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        match value.strip_prefix("env:") {
            Some(var) => Self::env(var.trim()),
            None => Self::from_source(Source::Literal(crate::secret::Secret::new(value))),
        }
    }

    fn from_source(source: Source) -> Self {
        Self {
            source,
            label: None,
        }
    }

    /// The secret is in the environment variable `var`, read when the transport is built.
    pub fn env(var: impl Into<String>) -> Self {
        Self::from_source(Source::Env(var.into()))
    }

    /// The variable the secret is read from, when it is `env:VAR`.
    pub fn env_var(&self) -> Option<&str> {
        match &self.source {
            Source::Env(v) => Some(v),
            Source::Literal(_) => None,
        }
    }

    /// The secret: the literal, or the variable's value now. `field` names this value in the
    /// error (a variable that is unset, empty or not Unicode), unless it was read from
    /// environment variables ([`EndpointConfig::from_env`]), which name it themselves; the
    /// error never holds the secret.
    pub fn resolve(&self, field: &str) -> Result<String, ConfigValueError> {
        let field = self.label.as_deref().unwrap_or(field);
        match &self.source {
            Source::Literal(s) => Ok(s.expose().to_owned()),
            Source::Env(var) => {
                if var.is_empty() || var.contains(['=', '\0']) {
                    return Err(ConfigValueError::Invalid {
                        field: field.to_owned(),
                        value: None,
                        expected: "`env:NAME` with a variable name after `env:`",
                    });
                }
                match std::env::var(var) {
                    Ok(v) if !v.trim().is_empty() => Ok(v),
                    Ok(_) | Err(std::env::VarError::NotPresent) => {
                        Err(ConfigValueError::EnvUnset {
                            field: field.to_owned(),
                            variable: var.clone(),
                        })
                    }
                    Err(std::env::VarError::NotUnicode(_)) => Err(ConfigValueError::Invalid {
                        field: format!("{field} (from {var})"),
                        value: None,
                        expected: "valid UTF-8",
                    }),
                }
            }
        }
    }
}

impl From<&str> for SecretValue {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for SecretValue {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Env(v) => write!(f, "env:{v}"),
            Source::Literal(_) => f.write_str("** redacted **"),
        }
    }
}

impl<'de> Deserialize<'de> for SecretValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor of our own: a value of the wrong type is reported by its kind only (serde's
        // usual message quotes strings, and a misplaced secret must not end up in an error).
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SecretValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string (the secret, or env:VAR)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SecretValue, E> {
                Ok(SecretValue::new(v))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<SecretValue, E> {
                Ok(SecretValue::new(v))
            }
        }
        d.deserialize_str(V)
    }
}

/// A header sent on every request and WebSocket upgrade; its value is a secret.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderSpec {
    /// The header name, e.g. `x-token`.
    pub name: String,
    /// The value (or `env:VAR`).
    pub value: SecretValue,
}

impl HeaderSpec {
    /// A header.
    pub fn new(name: impl Into<String>, value: impl Into<SecretValue>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }

    /// Parses `Name: value` (as `--header` and `{P}_HEADERS` take it). The error names the
    /// header (never its value).
    pub fn parse(text: &str) -> Result<Self, ConfigValueError> {
        let (name, value) = text.split_once(':').ok_or(ConfigValueError::Invalid {
            field: "header".into(),
            value: None,
            expected: "`Name: value` (a colon between the name and the value)",
        })?;
        let header = Self::new(name.trim(), value.trim());
        header.check_name()?;
        Ok(header)
    }

    /// A header name must be a token (RFC 9110): letters, digits and `!#$%&'*+-.^_`|~`.
    fn check_name(&self) -> Result<(), ConfigValueError> {
        let ok = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if ok {
            Ok(())
        } else {
            Err(ConfigValueError::Invalid {
                field: "header name".into(),
                value: Some(self.name.chars().take(64).collect()),
                expected: "a header name: letters, digits and -",
            })
        }
    }
}

/// What is wrong with an [`EndpointConfig`] (inside
/// [`ConfigError::Endpoint`]). Every message names the field or
/// environment variable to fix; none holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigValueError {
    /// A required value is missing.
    #[error("{field} is not set{hint}")]
    Missing {
        /// The field or variable.
        field: String,
        /// What else would do.
        hint: String,
    },
    /// A value that cannot be used (shown only when it is not a secret).
    #[error("{field}{}: expected {expected}", value.as_ref().map(|v| format!(" = {v:?}")).unwrap_or_default())]
    Invalid {
        /// The field or variable.
        field: String,
        /// The value, for fields that are never secret (`auth`, `target`, booleans).
        value: Option<String>,
        /// What is accepted.
        expected: &'static str,
    },
    /// `env:VAR` names a variable that is not set (or empty).
    #[error("{field} is `env:{variable}` but {variable} is not set (or empty)")]
    EnvUnset {
        /// The field or variable holding `env:VAR`.
        field: String,
        /// The variable it points to.
        variable: String,
    },
    /// `{P}_CONFIG` (JSON) does not parse. String values in serde's message are withheld.
    #[error("{variable} is not a valid endpoint configuration (JSON, line {line} column {column}): {message}")]
    Json {
        /// The variable.
        variable: String,
        /// Where in the JSON.
        line: usize,
        /// Where in the JSON.
        column: usize,
        /// What serde said, with every quoted string withheld.
        message: String,
    },
    /// Two settings that exclude each other.
    #[error("{first} and {second} were both given: {why}")]
    Conflict {
        /// One setting.
        first: String,
        /// The other.
        second: String,
        /// Why they do not go together.
        why: &'static str,
    },
}

impl From<ConfigValueError> for AmbError {
    fn from(e: ConfigValueError) -> Self {
        ConfigError::Endpoint(e).into()
    }
}

/// Every environment variable suffix, in the order of the table above.
const SUFFIXES: [&str; 13] = [
    "URL",
    "AUTH",
    "REGION",
    "SERVICE",
    "TARGET",
    "UNSIGNED_PAYLOAD",
    "SIGV4A",
    "REGION_SET",
    "TOKEN",
    "USER",
    "PASSWORD",
    "HEADERS",
    "PROXY",
];

impl EndpointConfig {
    /// A configuration with only the URL (automatic auth); set the other fields as needed.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// Reads the configuration from the environment variables `{prefix}_URL`,
    /// `{prefix}_AUTH`, ... (see the [module docs](crate::config)), or from `{prefix}_CONFIG`
    /// holding the whole value as JSON. Empty variables count as unset. Secrets given as
    /// `env:VAR` are read later, when the transport is built.
    pub fn from_env(prefix: &str) -> Result<Self, AmbError> {
        Self::from_lookup(prefix, |name| std::env::var(name).ok())
    }

    /// [`EndpointConfig::from_env`] with another source of variables (a map, a secrets
    /// manager, a test).
    pub fn from_lookup(
        prefix: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, AmbError> {
        let prefix = prefix.trim_end_matches('_');
        let var = |suffix: &str| {
            let name = format!("{prefix}_{suffix}");
            lookup(&name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name, v))
        };
        if let Some((name, json)) = var("CONFIG") {
            if let Some((other, _)) = SUFFIXES.iter().find_map(|s| var(s)) {
                return Err(ConfigValueError::Conflict {
                    first: name,
                    second: other,
                    why: "the JSON holds the whole configuration; set one or the other",
                }
                .into());
            }
            let mut config: Self =
                serde_json::from_str(&json).map_err(|e| json_error(&name, &e))?;
            let origin = Origin::Json(name);
            config.label_secrets(&origin);
            config.check_in(&origin)?;
            return Ok(config);
        }
        let Some((_, url)) = var("URL") else {
            return Err(ConfigValueError::Missing {
                field: format!("{prefix}_URL"),
                hint: format!(
                    " (the endpoint, https://... or wss://...; or set {prefix}_CONFIG to the \
                     whole configuration as JSON)"
                ),
            }
            .into());
        };
        let mut config = Self::new(url.trim());
        let origin = Origin::Vars(prefix.to_owned());
        let plain = |s: &str| var(s).map(|(_, v)| v.trim().to_owned());
        let flag = |s: &str| -> Result<Option<bool>, ConfigValueError> {
            var(s).map(|(name, v)| parse_bool(&name, &v)).transpose()
        };
        if let Some((_, a)) = var("AUTH") {
            config.auth = a
                .parse()
                .map_err(|e| rename(e, &format!("{prefix}_AUTH")))?;
        }
        config.region = plain("REGION");
        config.service = plain("SERVICE");
        config.target = plain("TARGET");
        config.unsigned_payload = flag("UNSIGNED_PAYLOAD")?;
        config.sigv4a = flag("SIGV4A")?;
        config.region_set = plain("REGION_SET");
        config.token = var("TOKEN").map(|(_, v)| SecretValue::new(v.trim()));
        config.user = plain("USER");
        config.password = var("PASSWORD").map(|(_, v)| SecretValue::new(v));
        if let Some((name, list)) = var("HEADERS") {
            config.headers = list
                .split(';')
                .filter(|h| !h.trim().is_empty())
                .map(HeaderSpec::parse)
                .collect::<Result<_, _>>()
                .map_err(|e| rename(e, &name))?;
        }
        config.proxy = plain("PROXY");
        config.label_secrets(&origin);
        config.check_in(&origin)?;
        Ok(config)
    }

    /// How errors name `field`: the variable (`RPC_TOKEN`), or the field and where it came from.
    fn label_secrets(&mut self, origin: &Origin) {
        if let Some(t) = &mut self.token {
            t.label = Some(name(origin, "token"));
        }
        if let Some(p) = &mut self.password {
            p.label = Some(name(origin, "password"));
        }
        for h in &mut self.headers {
            h.value.label = Some(format!("{} ({})", name(origin, "headers"), h.name));
        }
    }

    fn field(&self, field: &str) -> String {
        name(&Origin::Value, field)
    }
}

/// How errors name `field`: the variable (`RPC_TOKEN`), or the field and where it came from.
fn name(origin: &Origin, field: &str) -> String {
    match origin {
        Origin::Value => format!("`{field}`"),
        Origin::Vars(p) => format!("{p}_{}", field.to_ascii_uppercase()),
        Origin::Json(v) => format!("`{field}` in {v}"),
    }
}

impl EndpointConfig {
    /// Checks what can be checked without the environment or a builder: the auth mode has what
    /// it needs and nothing it would ignore; the target is known; header names are valid.
    pub fn check(&self) -> Result<(), ConfigValueError> {
        self.check_in(&Origin::Value)
    }

    fn check_in(&self, o: &Origin) -> Result<(), ConfigValueError> {
        if self.url.trim().is_empty() {
            return Err(ConfigValueError::Missing {
                field: name(o, "url"),
                hint: " (the endpoint, https://... or wss://...)".into(),
            });
        }
        if let Some(t) = &self.target {
            parse_target(t).map_err(|e| rename(e, &name(o, "target")))?;
        }
        for h in &self.headers {
            h.check_name().map_err(|e| rename(e, &name(o, "headers")))?;
        }
        if self.password.is_some() && self.user.is_none() {
            return Err(ConfigValueError::Missing {
                field: name(o, "user"),
                hint: " (a password was given: HTTP Basic needs the user name too)".into(),
            });
        }
        let needs = |field: &str, why: &str| ConfigValueError::Missing {
            field: name(o, field),
            hint: format!(" (auth is `{}`: {why})", self.auth),
        };
        let excludes = |field: &str| ConfigValueError::Conflict {
            first: name(o, "auth"),
            second: name(o, field),
            why: "that auth mode does not use it; remove it or change auth",
        };
        match self.auth {
            AuthSpec::Auto => {
                if self.token.is_some() && self.user.is_some() {
                    return Err(ConfigValueError::Conflict {
                        first: name(o, "token"),
                        second: name(o, "user"),
                        why: "choose a token or HTTP Basic (set auth to say which)",
                    });
                }
            }
            AuthSpec::BillingToken | AuthSpec::Bearer => {
                if self.token.is_none() {
                    return Err(needs("token", "it sends the token"));
                }
                if self.user.is_some() {
                    return Err(excludes("user"));
                }
            }
            AuthSpec::Basic => {
                if self.user.is_none() {
                    return Err(needs("user", "HTTP Basic needs a user and password"));
                }
                if self.token.is_some() {
                    return Err(excludes("token"));
                }
            }
            AuthSpec::Header => {
                if self.headers.is_empty() {
                    return Err(needs("headers", "it sends only the headers"));
                }
                if self.token.is_some() {
                    return Err(excludes("token"));
                }
                if self.user.is_some() {
                    return Err(excludes("user"));
                }
            }
            AuthSpec::Sigv4 | AuthSpec::None => {
                if self.token.is_some() {
                    return Err(excludes("token"));
                }
                if self.user.is_some() {
                    return Err(excludes("user"));
                }
            }
        }
        let sigv4_only = matches!(
            self.auth,
            AuthSpec::BillingToken
                | AuthSpec::Bearer
                | AuthSpec::Basic
                | AuthSpec::Header
                | AuthSpec::None
        );
        if sigv4_only {
            for (field, set) in [
                ("sigv4a", self.sigv4a == Some(true)),
                ("unsigned_payload", self.unsigned_payload == Some(true)),
                ("region_set", self.region_set.is_some()),
            ] {
                if set {
                    return Err(excludes(field));
                }
            }
        }
        if self.region_set.is_some() && self.sigv4a != Some(true) {
            return Err(ConfigValueError::Missing {
                field: name(o, "sigv4a"),
                hint: " (region_set is the SigV4A region set: set sigv4a to true)".into(),
            });
        }
        if self.auth == AuthSpec::Sigv4 && self.service.is_none() && self.target.is_none() {
            let other = crate::Endpoint::parse(self.url.trim())
                .is_ok_and(|e| e.target() == crate::Target::Other);
            if other {
                return Err(ConfigValueError::Missing {
                    field: name(o, "service"),
                    hint: " (auth is `sigv4` and the host name names no AWS service: set the \
                           service, e.g. execute-api, lambda or vpc-lattice-svcs, or the target)"
                        .into(),
                });
            }
        }
        self.effective_auth(o)?;
        Ok(())
    }

    /// The auth mode to apply: `auto` with a token is a billing token on an AMB host and an
    /// error elsewhere (a token is never sent as a bearer token to a host nobody named).
    fn effective_auth(&self, o: &Origin) -> Result<AuthSpec, ConfigValueError> {
        Ok(match self.auth {
            AuthSpec::Auto if self.token.is_some() => {
                let amb = crate::Endpoint::parse(&self.url)
                    .map(|e| e.amb_host().is_some())
                    .unwrap_or(false);
                if !amb {
                    return Err(ConfigValueError::Missing {
                        field: name(o, "auth"),
                        hint: " (a token was given for a host that is not AMB: set auth to \
                               `bearer` or `billing-token`)"
                            .into(),
                    });
                }
                AuthSpec::BillingToken
            }
            AuthSpec::Auto if self.user.is_some() => AuthSpec::Basic,
            other => other,
        })
    }

    fn secret(&self, value: &SecretValue, field: &str) -> Result<String, ConfigValueError> {
        value.resolve(&self.field(field))
    }

    fn missing(&self, field: &str) -> ConfigValueError {
        ConfigValueError::Missing {
            field: self.field(field),
            hint: format!(" (auth is `{}`)", self.auth),
        }
    }

    /// A secret the auth mode needs ([`EndpointConfig::check`] made sure it is there).
    fn required_secret(
        &self,
        value: &Option<SecretValue>,
        field: &str,
    ) -> Result<String, ConfigValueError> {
        self.secret(value.as_ref().ok_or_else(|| self.missing(field))?, field)
    }
}

/// Applies an [`EndpointConfig`] to a transport builder (the HTTP and WebSocket builders have
/// the same setters).
macro_rules! apply {
    ($config:expr, $builder:expr) => {{
        let c: &EndpointConfig = $config;
        c.check()?;
        let auth = c.effective_auth(&Origin::Value)?;
        let mut b = $builder;
        if let Some(r) = &c.region {
            b = b.region(r.clone());
        }
        if let Some(s) = &c.service {
            b = b.service(s.clone());
        }
        if let Some(t) = &c.target {
            b = b.target(to_target(parse_target(t)?));
        }
        if let Some(u) = c.unsigned_payload {
            b = b.unsigned_payload(u);
        }
        if let Some(a) = c.sigv4a {
            b = b.sigv4a(a);
        }
        if let Some(r) = &c.region_set {
            b = b.region_set(r.clone());
        }
        match auth {
            AuthSpec::Auto | AuthSpec::Sigv4 => {}
            AuthSpec::BillingToken => {
                b = b.billing_token(c.required_secret(&c.token, "token")?);
            }
            AuthSpec::Bearer => {
                b = b.bearer_token(c.required_secret(&c.token, "token")?);
            }
            AuthSpec::Basic => {
                let user = c.user.clone().ok_or_else(|| c.missing("user"))?;
                let password = match &c.password {
                    Some(p) => c.secret(p, "password")?,
                    None => String::new(),
                };
                b = b.basic_auth(user, password);
            }
            AuthSpec::Header | AuthSpec::None => b = b.no_auth(),
        }
        for h in &c.headers {
            let field = format!("{} ({})", c.field("headers"), h.name);
            b = b.header(&h.name, h.value.resolve(&field)?);
        }
        if let Some(p) = &c.proxy {
            b = b.proxy(p);
        }
        Ok(b)
    }};
}

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl EndpointConfig {
    /// An HTTP transport builder with this configuration applied (further setters may follow).
    pub fn http_builder(&self) -> Result<crate::AmbHttpBuilder, AmbError> {
        apply!(self, crate::AmbHttp::builder(self.url.trim()))
    }

    /// The HTTP transport.
    pub fn http(&self) -> Result<crate::AmbHttp, AmbError> {
        self.http_builder()?.build()
    }
}

#[cfg(feature = "ws")]
#[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
impl EndpointConfig {
    /// A WebSocket connector builder with this configuration applied.
    pub fn ws_builder(&self) -> Result<crate::AmbWsConnectBuilder, AmbError> {
        apply!(self, crate::AmbWsConnect::builder(self.url.trim()))
    }

    /// The WebSocket connector.
    pub fn ws(&self) -> Result<crate::AmbWsConnect, AmbError> {
        self.ws_builder()?.build()
    }
}

impl EndpointConfig {
    /// The target this configuration reaches: `target` when given, else the target whose
    /// SigV4 service `service` names (for a host that says nothing), else the one the URL's
    /// host name names ([`Endpoint::target`](crate::Endpoint::target)).
    pub fn resolved_target(&self) -> Result<crate::Target, AmbError> {
        if let Some(t) = &self.target {
            return Ok(to_target(parse_target(t)?));
        }
        let inferred = crate::Endpoint::parse(self.url.trim())?.target();
        let by_service = self
            .service
            .as_deref()
            .and_then(crate::Target::of_service)
            .filter(|_| inferred == crate::Target::Other);
        Ok(by_service.unwrap_or(inferred))
    }
}

/// The [`Target`](crate::Target) of a name [`parse_target`] accepted.
fn to_target(name: &str) -> crate::Target {
    use crate::Target;
    match name {
        "amb" => Target::Amb,
        "api-gateway" => Target::ApiGateway,
        "lambda-url" => Target::LambdaUrl,
        "vpc-lattice" => Target::VpcLattice,
        "loopback" => Target::Loopback,
        _ => Target::Other,
    }
}

/// The target names `target` takes.
const TARGETS: [&str; 6] = [
    "amb",
    "api-gateway",
    "lambda-url",
    "vpc-lattice",
    "loopback",
    "other",
];

/// Checks a target name (`amb`, `api-gateway`, `lambda-url`, `vpc-lattice`, `loopback`,
/// `other`; case and `_`/`-` do not matter) and returns it normalised.
fn parse_target(name: &str) -> Result<&'static str, ConfigValueError> {
    let norm = name.trim().to_ascii_lowercase().replace('_', "-");
    TARGETS
        .into_iter()
        .find(|t| *t == norm)
        .ok_or_else(|| ConfigValueError::Invalid {
            field: "target".into(),
            value: Some(name.trim().chars().take(64).collect()),
            expected: "one of amb, api-gateway, lambda-url, vpc-lattice, loopback, other",
        })
}

fn parse_bool(name: &str, value: &str) -> Result<bool, ConfigValueError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => Err(ConfigValueError::Invalid {
            field: name.to_owned(),
            value: Some(other.chars().take(16).collect()),
            expected: "true or false",
        }),
    }
}

/// The same error about another field name (the variable it came from).
fn rename(e: ConfigValueError, to: &str) -> ConfigValueError {
    match e {
        ConfigValueError::Invalid {
            value, expected, ..
        } => ConfigValueError::Invalid {
            field: to.to_owned(),
            value,
            expected,
        },
        ConfigValueError::Missing { hint, .. } => ConfigValueError::Missing {
            field: to.to_owned(),
            hint,
        },
        other => other,
    }
}

/// A serde_json error about `{P}_CONFIG`, with every quoted string of its message withheld
/// (serde quotes the offending value: `invalid type: string "…", expected a boolean`).
fn json_error(variable: &str, e: &serde_json::Error) -> ConfigValueError {
    let text = e.to_string();
    // serde_json appends " at line L column C"; the fields carry them.
    let text = text
        .rsplit_once(" at line ")
        .map(|(head, _)| head)
        .unwrap_or(&text);
    ConfigValueError::Json {
        variable: variable.to_owned(),
        line: e.line(),
        column: e.column(),
        message: withhold_quoted(text),
    }
}

/// `a "secret" b` → `a "…" b`.
fn withhold_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut parts = text.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for (i, part) in parts.enumerate() {
        out.push('"');
        out.push_str(if i % 2 == 0 { "…" } else { part });
    }
    out
}

impl fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("url", &elide_url(&self.url))
            .field("auth", &self.auth)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("target", &self.target)
            .field("unsigned_payload", &self.unsigned_payload)
            .field("sigv4a", &self.sigv4a)
            .field("region_set", &self.region_set)
            .field("token", &self.token)
            .field("user", &self.user)
            .field("password", &self.password)
            .field("headers", &self.headers)
            .field("proxy", &self.proxy.as_deref().map(elide_url))
            .finish()
    }
}

/// `scheme://host[:port]/…`: no user, password, path or query (a provider's key may be in any).
fn elide_url(url: &str) -> String {
    match url::Url::parse(url.trim()) {
        Ok(u) => {
            let host = u.host_str().unwrap_or_default();
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let rest = if u.path() == "/" && u.query().is_none() {
                "/"
            } else {
                "/…"
            };
            format!("{}://{host}{port}{rest}", u.scheme())
        }
        Err(_) => "<not a URL>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn value_error(e: AmbError) -> ConfigValueError {
        match e {
            AmbError::Config(ConfigError::Endpoint(v)) => v,
            other => panic!("not an endpoint config error: {other:?}"),
        }
    }

    #[test]
    fn every_variable_is_read() {
        let c = EndpointConfig::from_lookup(
            "RPC",
            lookup(&[
                ("RPC_URL", " https://a.vpc-lattice-svcs.us-east-1.on.aws/ "),
                ("RPC_AUTH", "SigV4"),
                ("RPC_REGION", "us-east-1"),
                ("RPC_SERVICE", "vpc-lattice-svcs"),
                ("RPC_TARGET", "vpc_lattice"),
                ("RPC_UNSIGNED_PAYLOAD", "true"),
                ("RPC_SIGV4A", "yes"),
                ("RPC_REGION_SET", "us-east-1,us-west-2"),
                ("RPC_HEADERS", "x-a: 1; x-b: env:B ;"),
                ("RPC_PROXY", "http://proxy:3128"),
            ]),
        )
        .unwrap();
        assert_eq!(c.url, "https://a.vpc-lattice-svcs.us-east-1.on.aws/");
        assert_eq!(c.auth, AuthSpec::Sigv4);
        assert_eq!(c.region.as_deref(), Some("us-east-1"));
        assert_eq!(c.service.as_deref(), Some("vpc-lattice-svcs"));
        assert_eq!(c.target.as_deref(), Some("vpc_lattice"));
        assert_eq!(c.unsigned_payload, Some(true));
        assert_eq!(c.sigv4a, Some(true));
        assert_eq!(c.region_set.as_deref(), Some("us-east-1,us-west-2"));
        assert_eq!(
            c.headers,
            vec![
                HeaderSpec::new("x-a", "1"),
                HeaderSpec::new("x-b", SecretValue::env("B"))
            ]
        );
        assert_eq!(c.proxy.as_deref(), Some("http://proxy:3128"));

        let c = EndpointConfig::from_lookup(
            "P_",
            lookup(&[
                ("P_URL", "https://x.example/"),
                ("P_AUTH", "basic"),
                ("P_USER", "u"),
                ("P_PASSWORD", "env:PW"),
            ]),
        )
        .unwrap();
        assert_eq!(c.user.as_deref(), Some("u"));
        assert_eq!(c.password, Some(SecretValue::env("PW")));
        let c = EndpointConfig::from_lookup(
            "P",
            lookup(&[
                ("P_URL", "https://x.example/"),
                ("P_AUTH", "bearer"),
                ("P_TOKEN", "t0k"),
            ]),
        )
        .unwrap();
        assert_eq!(c.token, Some(SecretValue::new("t0k")));
    }

    #[test]
    fn bad_variables_are_named() {
        let cases: [(&[(&str, &str)], &str); 8] = [
            (&[], "RPC_URL is not set"),
            (&[("RPC_URL", "  ")], "RPC_URL is not set"),
            (
                &[("RPC_URL", "https://h/"), ("RPC_AUTH", "bearr")],
                "RPC_AUTH = \"bearr\"",
            ),
            (
                &[("RPC_URL", "https://h/"), ("RPC_SIGV4A", "maybe")],
                "RPC_SIGV4A = \"maybe\"",
            ),
            (
                &[("RPC_URL", "https://h/"), ("RPC_TARGET", "lattice")],
                "RPC_TARGET = \"lattice\"",
            ),
            (
                &[("RPC_URL", "https://h/"), ("RPC_HEADERS", "x-token s3cret")],
                "RPC_HEADERS",
            ),
            (
                &[("RPC_URL", "https://h/"), ("RPC_AUTH", "bearer")],
                "RPC_TOKEN is not set",
            ),
            (
                &[
                    ("RPC_CONFIG", "{\"url\":\"https://h/\"}"),
                    ("RPC_REGION", "x"),
                ],
                "RPC_CONFIG and RPC_REGION",
            ),
        ];
        for (vars, want) in cases {
            let e = value_error(EndpointConfig::from_lookup("RPC", lookup(vars)).unwrap_err());
            assert!(e.to_string().contains(want), "{e} (wanted {want})");
            assert!(!e.to_string().contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn json_errors_withhold_strings() {
        for (json, want) in [
            (
                r#"{"url":"https://h/","sigv4a":"s3cret"}"#,
                "expected a boolean",
            ),
            (
                r#"{"url":"https://h/","headers":"x-token: s3cret"}"#,
                "expected a sequence",
            ),
            (r#"{"url":"https://h/","tokn":"s3cret"}"#, "unknown field"),
            (r#"{"url":"https://h/","token":5}"#, "a string (the secret"),
            (r#"{"url":"https://h/","token":"s3cret""#, "EOF"),
            (
                r#"{"url":"https://h/","auth":"header"}"#,
                "`headers` in RPC_CONFIG is not set",
            ),
        ] {
            let e = EndpointConfig::from_lookup("RPC", lookup(&[("RPC_CONFIG", json)]))
                .unwrap_err()
                .to_string();
            assert!(
                !e.contains("s3cret") && e.contains(want),
                "{e} (wanted {want})"
            );
        }
    }

    #[test]
    fn withholds_quoted_strings() {
        assert_eq!(
            withhold_quoted(r#"invalid type: string "abc", expected x"#),
            r#"invalid type: string "…", expected x"#
        );
        assert_eq!(withhold_quoted(r#"a "b" c "d"#), r#"a "…" c "…"#);
        assert_eq!(withhold_quoted("none"), "none");
    }

    #[test]
    fn debug_withholds_secrets() {
        let mut c = EndpointConfig::new("https://user:pw@eth.example.com/v2/KEY123?k=Q456");
        c.auth = AuthSpec::Bearer;
        c.token = Some("TOKEN789".into());
        c.user = Some("alice".into());
        c.password = Some("PASS000".into());
        c.headers = vec![
            HeaderSpec::new("x-token", "HDR111"),
            HeaderSpec::new("x-e", "env:QN"),
        ];
        c.proxy = Some("http://puser:PPASS@proxy:3128".into());
        let d = format!("{c:?}");
        for secret in [
            "KEY123", "Q456", "TOKEN789", "PASS000", "HDR111", "PPASS", "pw@",
        ] {
            assert!(!d.contains(secret), "{secret} in {d}");
        }
        assert!(
            d.contains("https://eth.example.com/…") && d.contains("env:QN"),
            "{d}"
        );
        assert!(d.contains("http://proxy:3128/"), "{d}");
    }

    #[test]
    fn auth_modes_need_their_fields_and_refuse_others() {
        let base = || EndpointConfig::new("https://h.example/");
        let mut c = base();
        c.auth = AuthSpec::Basic;
        assert!(c.check().unwrap_err().to_string().contains("`user`"));
        let mut c = base();
        c.auth = AuthSpec::None;
        c.token = Some("x".into());
        assert!(matches!(c.check(), Err(ConfigValueError::Conflict { .. })));
        let mut c = base();
        c.auth = AuthSpec::Header;
        assert!(c.check().unwrap_err().to_string().contains("`headers`"));
        let mut c = base();
        c.auth = AuthSpec::Bearer;
        c.token = Some("x".into());
        c.sigv4a = Some(true);
        assert!(matches!(c.check(), Err(ConfigValueError::Conflict { .. })));
        let mut c = base();
        c.region_set = Some("*".into());
        assert!(c.check().unwrap_err().to_string().contains("sigv4a"));
        let mut c = base();
        c.password = Some("p".into());
        assert!(c.check().unwrap_err().to_string().contains("`user`"));
        // auto: a token for a host that is not AMB must say what it is.
        let mut c = base();
        c.token = Some("x".into());
        assert!(c
            .effective_auth(&Origin::Value)
            .unwrap_err()
            .to_string()
            .contains("`bearer`"));
        c.url = "https://nd-abc.ethereum.managedblockchain.us-east-1.amazonaws.com/".into();
        assert_eq!(
            c.effective_auth(&Origin::Value).unwrap(),
            AuthSpec::BillingToken
        );
        let mut c = base();
        c.user = Some("u".into());
        assert_eq!(c.effective_auth(&Origin::Value).unwrap(), AuthSpec::Basic);
        // sigv4 to a custom domain must say which service.
        let mut c = base();
        c.auth = AuthSpec::Sigv4;
        assert!(c
            .check()
            .unwrap_err()
            .to_string()
            .contains("`service` is not set"));
        c.service = Some("execute-api".into());
        c.check().unwrap();
        c.url = "https://abc.execute-api.eu-west-1.amazonaws.com/prod".into();
        c.service = None;
        c.check().unwrap();
    }

    #[test]
    fn header_parsing() {
        assert_eq!(
            HeaderSpec::parse(" x-token :  abc ").unwrap(),
            HeaderSpec::new("x-token", "abc")
        );
        assert_eq!(
            HeaderSpec::parse("Authorization: Bearer a:b")
                .unwrap()
                .value,
            SecretValue::new("Bearer a:b")
        );
        for bad in ["no-colon", ": v", "bad name: v", "x\u{e9}: v"] {
            assert!(HeaderSpec::parse(bad).is_err(), "{bad}");
        }
        let e = HeaderSpec::parse("x-token s3cret").unwrap_err().to_string();
        assert!(!e.contains("s3cret"), "{e}");
    }

    #[test]
    fn targets_parse() {
        for t in [
            "amb",
            "API-Gateway",
            "lambda_url",
            " vpc-lattice ",
            "other",
            "loopback",
        ] {
            assert!(parse_target(t).is_ok(), "{t}");
        }
        assert!(parse_target("lattice").is_err());
    }
}
