//! Endpoint parsing: validated once, normalised the way AMB signs it.
//!
//! - The host is lowercased (AMB rejects signatures over upper-case node ids) and a default port
//!   (`:443` for `https`/`wss`, `:80` for `http`/`ws`) is dropped, so `wss://h:443/` is signed and
//!   sent as host `h`.
//! - `http://` and `ws://` are accepted only for loopback hosts.
//! - A `billingtoken` query parameter is taken out of the URL and kept as a secret; it is put back
//!   only on the wire.
//! - AMB hosts (`nd-*.ethereum.managedblockchain.<region>.amazonaws.com`,
//!   `nd-*.wss.ethereum.managedblockchain.<region>.amazonaws.com`,
//!   `<network>.<chain>.managedblockchain.<region>.amazonaws.com`) give the signing region, as
//!   do API Gateway, Lambda function URL and VPC Lattice hosts: see [`Target`].
//! - For a host that is neither AWS's nor loopback ([`Target::Other`], e.g. a third-party
//!   provider with its key in the URL), `Debug` and `Display` show `https://host/…`: the path
//!   and query are withheld.

use std::fmt;
use std::net::IpAddr;

use url::Url;

use crate::error::AmbError;
use crate::secret::Secret;
use crate::target::{self, Target};

/// The query parameter AMB reads accessor (billing) tokens from.
pub(crate) const BILLING_TOKEN_PARAM: &str = "billingtoken";

/// Which transport an endpoint is for (TLS or not is the URL's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `https://` (or `http://` on loopback).
    Http,
    /// `wss://` (or `ws://` on loopback).
    Ws,
}

/// A parsed, validated and normalised endpoint.
///
/// `Debug` and `Display` show the URL without the billing token; for a [`Target::Other`] host
/// (neither AWS's nor loopback) without its path and query either (`https://host/…`), since a
/// provider's key may be there.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL without the billing token, host normalised.
    url: Url,
    /// `host[:port]` exactly as signed and sent in the `Host` header.
    authority: String,
    scheme: Scheme,
    billing_token: Option<Secret>,
    amb: Option<AmbHost>,
    /// `user:password` from the URL (HTTP Basic auth), taken out of it.
    userinfo: Option<(String, Secret)>,
    /// What the host name says: the target, and the region in it.
    target: Target,
    host_region: Option<String>,
}

/// What an AMB host name says about the endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmbHost {
    /// The region in the host name, e.g. `us-east-1`.
    pub region: String,
    /// The node id (`nd-...`) for dedicated nodes, `None` for public (token-based) endpoints.
    pub node_id: Option<String>,
    /// The chain label, e.g. `ethereum` or `polygon`.
    pub chain: String,
}

impl Endpoint {
    /// Parses and validates an endpoint URL.
    pub fn parse(input: &str) -> Result<Self, AmbError> {
        if let Some(reason) = missing_scheme(input.trim()) {
            return Err(AmbError::InvalidUrl { reason });
        }
        let mut url = Url::parse(input.trim()).map_err(|e| AmbError::InvalidUrl {
            reason: format!("{e} (in {:?})", redact_query(input)),
        })?;
        let (scheme, secure) = match url.scheme() {
            "https" => (Scheme::Http, true),
            "http" => (Scheme::Http, false),
            "wss" => (Scheme::Ws, true),
            "ws" => (Scheme::Ws, false),
            other => {
                return Err(AmbError::UnsupportedScheme {
                    scheme: other.to_owned(),
                    expected: "https:// or wss:// (http:// and ws:// on loopback only)",
                })
            }
        };
        let host = match url.host_str() {
            Some(h) if !h.is_empty() => h.to_ascii_lowercase(),
            _ => {
                return Err(AmbError::InvalidUrl {
                    reason: "the URL has no host".into(),
                })
            }
        };
        let userinfo = take_userinfo(&mut url)?;
        if url.fragment().is_some() {
            url.set_fragment(None);
        }
        if !secure && !is_loopback(&host) {
            return Err(AmbError::InsecureEndpoint { host });
        }
        // `url` already lowercases special-scheme hosts and drops default ports; keep both
        // explicit so the invariant does not depend on it.
        let default_port = if secure { 443 } else { 80 };
        if url.port() == Some(default_port) {
            let _ = url.set_port(None);
        }
        let _ = url.set_host(Some(&host));

        let billing_token = take_billing_token(&mut url)?;

        let authority = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or(&host)),
            None => url.host_str().unwrap_or(&host).to_owned(),
        };
        let amb = AmbHost::parse(&host);
        let (target, host_region) = match (&amb, target::region_from_host(&host)) {
            (Some(amb), _) => (Target::Amb, Some(amb.region.clone())),
            (None, Some((target, region))) => (target, Some(region)),
            (None, None) if is_loopback(&host) => (Target::Loopback, None),
            (None, None) => (Target::Other, None),
        };
        Ok(Self {
            url,
            authority,
            scheme,
            billing_token,
            amb,
            userinfo,
            target,
            host_region,
        })
    }

    /// The URL without the billing token.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The host name, lowercased, without port.
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// `host[:port]`, as signed and sent in the `Host` header.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Whether this is an HTTP or a WebSocket endpoint.
    pub(crate) fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// What the AMB host name says, when this is an AMB host.
    pub fn amb_host(&self) -> Option<&AmbHost> {
        self.amb.as_ref()
    }

    /// The target the host name names (AMB, API Gateway, Lambda URL, VPC Lattice, loopback or
    /// other): see [`Target`]. The builders' `.target(..)` overrides it for signing.
    pub fn target(&self) -> Target {
        self.target
    }

    /// The region in the host name (AMB, API Gateway, Lambda URL and VPC Lattice hosts).
    pub fn host_region(&self) -> Option<&str> {
        self.host_region.as_deref()
    }

    /// The URL as shown in `Debug`, `Display` and messages: for a [`Target::Other`] host, only
    /// `scheme://authority/…` when there is a path or query (a provider key may be there).
    fn shown(&self) -> std::borrow::Cow<'_, str> {
        let elide =
            self.target == Target::Other && (self.url.path() != "/" || self.url.query().is_some());
        if elide {
            format!("{}://{}/…", self.url.scheme(), self.authority).into()
        } else {
            self.url.as_str().into()
        }
    }

    /// Whether a billing token was given in the URL.
    pub fn has_billing_token(&self) -> bool {
        self.billing_token.is_some()
    }

    pub(crate) fn take_billing_token(&mut self) -> Option<Secret> {
        self.billing_token.take()
    }

    /// Whether `user:password@` was given in the URL (taken out of it, for HTTP Basic auth).
    pub fn has_userinfo(&self) -> bool {
        self.userinfo.is_some()
    }

    /// `user:password` from the URL, percent-decoded.
    pub(crate) fn take_userinfo(&mut self) -> Option<(String, Secret)> {
        self.userinfo.take()
    }

    /// Whether the host is a loopback address or `localhost`.
    pub fn is_loopback(&self) -> bool {
        is_loopback(self.host())
    }

    /// The URL to put on the wire, with `billingtoken` appended when one is given.
    pub(crate) fn wire_url(&self, billing_token: Option<&Secret>) -> Url {
        let mut url = self.url.clone();
        if let Some(token) = billing_token {
            url.query_pairs_mut()
                .append_pair(BILLING_TOKEN_PARAM, token.expose());
        }
        url
    }
}

impl AmbHost {
    /// Recognises AMB host names and extracts the region.
    pub(crate) fn parse(host: &str) -> Option<Self> {
        let labels: Vec<&str> = host.split('.').collect();
        let mb = labels.iter().position(|l| *l == "managedblockchain")?;
        let region = *labels.get(mb + 1)?;
        let rest = &labels[mb + 2..];
        if !(rest == ["amazonaws", "com"] || rest == ["amazonaws", "com", "cn"]) {
            return None;
        }
        if !looks_like_region(region) {
            return None;
        }
        let prefix = &labels[..mb];
        match prefix {
            // nd-<id>.ethereum / nd-<id>.wss.ethereum
            [node, chain] | [node, "wss", chain] if node.starts_with("nd-") => Some(Self {
                region: region.to_owned(),
                node_id: Some((*node).to_owned()),
                chain: (*chain).to_owned(),
            }),
            // <network>.<chain> (public token-based endpoints), optionally wss.
            [_network, chain] | [_network, "wss", chain] => Some(Self {
                region: region.to_owned(),
                node_id: None,
                chain: (*chain).to_owned(),
            }),
            _ => None,
        }
    }
}

pub(crate) fn looks_like_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

/// A loopback IP literal (127.0.0.0/8, ::1) or exactly `localhost`: names under `.localhost`
/// are not trusted, a resolver may send them anywhere.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// When `input` has no `scheme://` (`localhost:8545`, `nd-x.ethereum...amazonaws.com`,
/// `127.0.0.1:8545`), says which scheme to add instead of the URL parser's words ("relative
/// URL without a base", or a host taken for a scheme).
fn missing_scheme(input: &str) -> Option<String> {
    if input.is_empty() {
        return Some("the endpoint URL is empty".into());
    }
    if input.contains("://") {
        return None;
    }
    let shown = redact_query(input);
    let lower = input.to_ascii_lowercase();
    if ["http:", "https:", "ws:", "wss:"]
        .iter()
        .any(|s| lower.starts_with(s))
    {
        return None;
    }
    let authority = input.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    };
    let add = if is_loopback(host) {
        format!("`http://{shown}` (or `ws://{shown}` for a WebSocket endpoint; cleartext is allowed on loopback only)")
    } else {
        format!("`https://{shown}` (or `wss://{shown}` for a WebSocket endpoint)")
    };
    Some(format!("`{shown}` has no scheme: write {add}"))
}

/// Takes `user:password@` out of the URL (as alloy does, for HTTP Basic auth), percent-decoded.
/// The password is a secret; errors never show it.
fn take_userinfo(url: &mut Url) -> Result<Option<(String, Secret)>, AmbError> {
    if url.username().is_empty() && url.password().is_none() {
        return Ok(None);
    }
    let decode = |s: &str, what: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| AmbError::InvalidUrl {
                reason: format!("the {what} in the URL's user info is not UTF-8 once decoded"),
            })
    };
    let user = decode(url.username(), "user name")?;
    let password = decode(url.password().unwrap_or_default(), "password")?;
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok(Some((user, Secret::new(password))))
}

fn take_billing_token(url: &mut Url) -> Result<Option<Secret>, AmbError> {
    if url.query().is_none() {
        return Ok(None);
    }
    let mut token = None;
    let mut kept = Vec::new();
    for (k, v) in url.query_pairs() {
        if k.eq_ignore_ascii_case(BILLING_TOKEN_PARAM) {
            if v.is_empty() {
                return Err(AmbError::InvalidUrl {
                    reason: "the `billingtoken` query parameter is empty".into(),
                });
            }
            if token.is_some() {
                return Err(AmbError::InvalidUrl {
                    reason: "the URL has more than one `billingtoken` query parameter: give the \
                             token once"
                        .into(),
                });
            }
            token = Some(Secret::new(v.into_owned()));
        } else {
            kept.push((k.into_owned(), v.into_owned()));
        }
    }
    if token.is_some() {
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    Ok(token)
}

/// Removes the query string (and any `user:password@`) from a URL-ish string for error
/// messages.
fn redact_query(input: &str) -> String {
    let input = &*withhold_userinfo(input);
    let (head, query) = match input.split_once('?') {
        Some((head, _)) => (head, "?<query redacted>"),
        None => (input, ""),
    };
    // A provider's key may be in the path (`/v2/<key>`): shown as `/…`.
    let start = head.find("://").map_or(0, |i| i + 3);
    let head = match head[start..].find('/') {
        Some(slash) if head.len() > start + slash + 1 => {
            format!("{}/…", &head[..start + slash])
        }
        _ => head.to_owned(),
    };
    format!("{head}{query}")
}

/// `input` with the user info of its authority (`user:password@`) withheld.
fn withhold_userinfo(input: &str) -> std::borrow::Cow<'_, str> {
    let start = input.find("://").map_or(0, |i| i + 3);
    let authority_end = input[start..]
        .find(['/', '?', '#'])
        .map_or(input.len(), |i| start + i);
    match input[start..authority_end].rfind('@') {
        Some(at) => format!("{}<withheld>{}", &input[..start], &input[start + at..]).into(),
        None => input.into(),
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.shown())
            .field("authority", &self.authority)
            .field(
                "billing_token",
                &self.billing_token.as_ref().map(|_| "** redacted **"),
            )
            .field("amb", &self.amb)
            .field(
                "userinfo",
                &self.userinfo.as_ref().map(|_| "** redacted **"),
            )
            .field("target", &self.target)
            .finish()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_region_from_amb_hosts() {
        let cases = [
            (
                "https://nd-6eaj5va43jggnpxouzp7y47e4y.ethereum.managedblockchain.us-east-1.amazonaws.com",
                "us-east-1",
                Some("nd-6eaj5va43jggnpxouzp7y47e4y"),
            ),
            (
                "wss://nd-abc.wss.ethereum.managedblockchain.eu-west-2.amazonaws.com/",
                "eu-west-2",
                Some("nd-abc"),
            ),
            (
                "https://mainnet.ethereum.managedblockchain.ap-southeast-1.amazonaws.com/",
                "ap-southeast-1",
                None,
            ),
            (
                "https://mainnet.polygon.managedblockchain.us-east-1.amazonaws.com?billingtoken=x",
                "us-east-1",
                None,
            ),
        ];
        for (url, region, node) in cases {
            let ep = Endpoint::parse(url).unwrap();
            let amb = ep.amb_host().expect(url);
            assert_eq!(amb.region, region);
            assert_eq!(amb.node_id.as_deref(), node);
        }
    }

    #[test]
    fn other_hosts_have_no_amb_region() {
        for url in [
            "https://abc.execute-api.us-east-1.amazonaws.com/prod",
            "https://managedblockchain.example.com/",
            "https://nd-x.ethereum.managedblockchain.notaregion.amazonaws.com/",
            "http://127.0.0.1:8545",
        ] {
            assert!(Endpoint::parse(url).unwrap().amb_host().is_none(), "{url}");
        }
    }

    #[test]
    fn other_hosts_show_no_path_or_query() {
        for (url, shown) in [
            (
                "https://eth-mainnet.g.alchemy.com/v2/SECRETKEY",
                "https://eth-mainnet.g.alchemy.com/…",
            ),
            (
                "wss://x.quiknode.pro:8443/SECRETKEY/?k=SECRETQ",
                "wss://x.quiknode.pro:8443/…",
            ),
            (
                "https://rpc.example.com/?key=SECRETQ",
                "https://rpc.example.com/…",
            ),
            // Nothing to hide: shown as is.
            ("https://rpc.example.com/", "https://rpc.example.com/"),
            // AWS and loopback targets keep their path (API Gateway's stage) and query.
            (
                "https://abc.execute-api.us-east-1.amazonaws.com/prod?a=1",
                "https://abc.execute-api.us-east-1.amazonaws.com/prod?a=1",
            ),
            ("http://127.0.0.1:8545/rpc", "http://127.0.0.1:8545/rpc"),
            (
                "https://nd-a.ethereum.managedblockchain.us-east-1.amazonaws.com/x",
                "https://nd-a.ethereum.managedblockchain.us-east-1.amazonaws.com/x",
            ),
        ] {
            let ep = Endpoint::parse(url).unwrap();
            assert_eq!(ep.to_string(), shown);
            let debug = format!("{ep:?}");
            assert!(debug.contains(&format!("{shown:?}")), "{debug}");
            assert!(
                !debug.contains("SECRET") && !shown.contains("SECRET"),
                "{debug}"
            );
            // The wire still has it all.
            assert_eq!(
                ep.wire_url(None).as_str().trim_end_matches('/'),
                url.trim_end_matches('/')
            );
        }
    }

    #[test]
    fn lowercases_host_and_drops_default_port() {
        let ep = Endpoint::parse(
            "wss://ND-ABC.WSS.Ethereum.ManagedBlockchain.us-east-1.amazonaws.com:443/",
        )
        .unwrap();
        assert_eq!(
            ep.authority(),
            "nd-abc.wss.ethereum.managedblockchain.us-east-1.amazonaws.com"
        );
        assert_eq!(ep.scheme(), Scheme::Ws);
        let ep = Endpoint::parse("https://EXAMPLE.com:443/x").unwrap();
        assert_eq!(ep.authority(), "example.com");
        let ep = Endpoint::parse("http://LocalHost:8545/").unwrap();
        assert_eq!(ep.authority(), "localhost:8545");
        let ep = Endpoint::parse("https://example.com:8443/").unwrap();
        assert_eq!(ep.authority(), "example.com:8443");
    }

    #[test]
    fn refuses_cleartext_off_loopback() {
        for url in [
            "http://example.com/",
            "ws://10.0.0.1:8546",
            "http://[fe80::1]/",
        ] {
            assert!(
                matches!(Endpoint::parse(url), Err(AmbError::InsecureEndpoint { .. })),
                "{url}"
            );
        }
        for url in [
            "http://127.0.0.1:1/",
            "ws://localhost:2/",
            "http://[::1]:3/",
            "http://127.8.9.10/",
        ] {
            assert!(Endpoint::parse(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn refuses_other_schemes_and_garbage() {
        assert!(matches!(
            Endpoint::parse("ftp://example.com"),
            Err(AmbError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            Endpoint::parse("not a url"),
            Err(AmbError::InvalidUrl { .. })
        ));
        assert!(matches!(
            Endpoint::parse("https://example.com/?billingtoken="),
            Err(AmbError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn billing_token_is_taken_out_and_redacted() {
        let mut ep =
            Endpoint::parse("https://mainnet.polygon.managedblockchain.us-east-1.amazonaws.com/?a=1&billingtoken=SECRETTOKEN")
                .unwrap();
        assert!(ep.has_billing_token());
        assert_eq!(ep.url().query(), Some("a=1"));
        assert!(!format!("{ep:?} {ep}").contains("SECRETTOKEN"));
        let token = ep.take_billing_token().unwrap();
        let wire = ep.wire_url(Some(&token));
        assert_eq!(wire.query(), Some("a=1&billingtoken=SECRETTOKEN"));
        let err = Endpoint::parse("nope://x?billingtoken=SECRETTOKEN").unwrap_err();
        assert!(!err.to_string().contains("SECRETTOKEN"));
        let err = Endpoint::parse("https://[bad?billingtoken=SECRETTOKEN").unwrap_err();
        assert!(!err.to_string().contains("SECRETTOKEN"), "{err}");
    }

    #[test]
    fn userinfo_is_taken_out_decoded_and_never_shown() {
        let mut ep = Endpoint::parse("https://us%65r:p%40ss%2Fw0rd@name.kaleido.io/rpc").unwrap();
        assert!(ep.has_userinfo());
        assert_eq!(ep.url().as_str(), "https://name.kaleido.io/rpc");
        assert!(!format!("{ep:?} {ep}").contains("w0rd"));
        let (user, password) = ep.take_userinfo().unwrap();
        assert_eq!((user.as_str(), password.expose()), ("user", "p@ss/w0rd"));
        // A URL that does not parse never quotes its password.
        let err = Endpoint::parse("https://user:S3cretPass@[bad/").unwrap_err();
        assert!(!err.to_string().contains("S3cretPass"), "{err}");
        let err = Endpoint::parse("user:S3cretPass@host.example").unwrap_err();
        assert!(!err.to_string().contains("S3cretPass"), "{err}");
    }

    #[test]
    fn parse_errors_never_quote_a_key_in_the_path() {
        for url in [
            "eth-mainnet.g.alchemy.com/v2/SECRETKEY123",
            "https://eth-mainnet.g.alchemy.com:99999/v2/SECRETKEY123",
            "https://[bad/v2/SECRETKEY123",
            "https://SECRETKEY123@[bad/",
        ] {
            let err = Endpoint::parse(url).unwrap_err().to_string();
            assert!(!err.contains("SECRETKEY123"), "{err}");
        }
        let shown = Endpoint::parse("https://SECRETKEY123@rpc.example/").unwrap();
        assert!(!format!("{shown:?} {shown}").contains("SECRETKEY123"));
    }
}
