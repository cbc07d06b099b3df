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
//!   `<network>.<chain>.managedblockchain.<region>.amazonaws.com`) give the signing region.

use std::fmt;
use std::net::IpAddr;

use url::Url;

use crate::error::AmbError;
use crate::secret::Secret;

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
/// `Debug` and `Display` show the URL without the billing token.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL without the billing token, host normalised.
    url: Url,
    /// `host[:port]` exactly as signed and sent in the `Host` header.
    authority: String,
    scheme: Scheme,
    billing_token: Option<Secret>,
    amb: Option<AmbHost>,
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
        if !url.username().is_empty() || url.password().is_some() {
            return Err(AmbError::InvalidUrl {
                reason: "user:password in the URL is not supported; use SigV4 or a billing token"
                    .into(),
            });
        }
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
        Ok(Self {
            url,
            authority,
            scheme,
            billing_token,
            amb,
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

    /// Whether a billing token was given in the URL.
    pub fn has_billing_token(&self) -> bool {
        self.billing_token.is_some()
    }

    pub(crate) fn take_billing_token(&mut self) -> Option<Secret> {
        self.billing_token.take()
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

fn looks_like_region(s: &str) -> bool {
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

/// Removes the query string from a URL-ish string for error messages.
fn redact_query(input: &str) -> String {
    match input.split_once('?') {
        Some((head, _)) => format!("{head}?<query redacted>"),
        None => input.to_owned(),
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url.as_str())
            .field("authority", &self.authority)
            .field(
                "billing_token",
                &self.billing_token.as_ref().map(|_| "** redacted **"),
            )
            .field("amb", &self.amb)
            .finish()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
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
}
