//! The network part of a transport builder, shared by HTTP and WebSocket: the proxy
//! ([`proxy`](crate::AmbHttpBuilder::proxy), [`no_proxy`](crate::AmbHttpBuilder::no_proxy),
//! the `HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY` environment by default) and the TLS configuration
//! ([`tls_config`](crate::AmbHttpBuilder::tls_config), the platform's trust store by default).

use std::fmt;
use std::sync::Arc;

use crate::error::{AmbError, ConfigError};
use crate::secret::Secret;

#[cfg(feature = "ws")]
pub(crate) mod proxy;
#[cfg(feature = "http")]
mod refusal;
#[cfg(feature = "http")]
pub(crate) use refusal::proxy_refusal;
pub(crate) mod tls;

/// Which proxy a transport goes through.
#[derive(Clone, Default)]
pub(crate) enum ProxyChoice {
    /// `HTTPS_PROXY`/`https_proxy`, `ALL_PROXY`/`all_proxy` (and `HTTP_PROXY` for `ws://` and
    /// `http://`), minus `NO_PROXY`/`no_proxy`, as reqwest reads them.
    #[default]
    Environment,
    /// No proxy, whatever the environment says.
    Off,
    /// This proxy (its URL may hold credentials).
    Url(Secret),
}

/// The network settings of a builder (`net: NetConfig`).
#[derive(Clone, Default)]
pub(crate) struct NetConfig {
    pub(crate) proxy: ProxyChoice,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
}

/// The network setters of a transport builder (a struct with a `net: NetConfig` field), the
/// same for HTTP and WebSocket.
macro_rules! net_setters {
    () => {
        /// Connect through this HTTP proxy (`http://[user:password@]host:port`), with an HTTP
        /// `CONNECT` tunnel for `https://` and `wss://` endpoints; userinfo in the URL is sent
        /// as `Proxy-Authorization: Basic` and never shown. Only `http://` proxy URLs are
        /// accepted (`build()` fails with [`ConfigError::InvalidProxy`](crate::ConfigError::InvalidProxy)
        /// otherwise). It carries all traffic of this transport, loopback included, and
        /// `NO_PROXY` does not apply to it.
        ///
        /// Without this setting the environment decides, as for reqwest: `HTTPS_PROXY` /
        /// `https_proxy` (`HTTP_PROXY` for `http://` and `ws://`), else `ALL_PROXY` /
        /// `all_proxy`, except for hosts in `NO_PROXY` / `no_proxy`. There the WebSocket also
        /// takes `https://` proxies (TLS to the proxy with this transport's TLS configuration,
        /// then `CONNECT`), as reqwest does; a `socks` proxy from the environment does not stop
        /// `build()`, but each WebSocket connect then fails with
        /// [`ConfigError::UnusableEnvProxy`](crate::ConfigError::UnusableEnvProxy).
        pub fn proxy(mut self, url: impl AsRef<str>) -> Self {
            self.net.proxy =
                $crate::net::ProxyChoice::Url($crate::secret::Secret::new(url.as_ref()));
            self
        }

        /// Connect directly: ignore `HTTPS_PROXY`, `ALL_PROXY` and `HTTP_PROXY` (and any
        /// [`proxy`](Self::proxy) set before).
        pub fn no_proxy(mut self) -> Self {
            self.net.proxy = $crate::net::ProxyChoice::Off;
            self
        }

        /// Use this TLS configuration (trust roots, client certificates, protocol versions)
        /// instead of the default: the platform's trust store through
        /// `rustls-platform-verifier`, as reqwest 0.13 does, which on Linux honours
        /// `SSL_CERT_FILE` and `SSL_CERT_DIR`. Build it with the rustls this crate re-exports,
        /// [`alloy_amb::rustls`](crate::rustls), so the versions match.
        ///
        /// The WebSocket offers ALPN `http/1.1` whatever the configuration says (the upgrade
        /// is HTTP/1.1).
        pub fn tls_config(mut self, config: $crate::rustls::ClientConfig) -> Self {
            self.net.tls = Some(std::sync::Arc::new(config));
            self
        }
    };
}
pub(crate) use net_setters;

impl NetConfig {
    /// A TLS configuration for a cleartext (loopback `http://`/`ws://`) endpoint would be
    /// ignored: refused instead, so that a setting is never silently dropped.
    pub(crate) fn check_tls_for(
        &self,
        endpoint: &crate::endpoint::Endpoint,
    ) -> Result<(), AmbError> {
        let tls = matches!(endpoint.url().scheme(), "https" | "wss");
        if self.tls.is_some() && !tls {
            return Err(ConfigError::TlsConfigWithoutTls {
                url: endpoint.to_string(),
            }
            .into());
        }
        Ok(())
    }

    /// Checks an explicit proxy URL: `http://host[:port]`, nothing else.
    pub(crate) fn check(&self) -> Result<(), AmbError> {
        if let ProxyChoice::Url(url) = &self.proxy {
            check_proxy_url(url.expose())?;
        }
        Ok(())
    }

    /// The reqwest client builder with these settings (HTTP transport, client built here).
    #[cfg(feature = "http")]
    pub(crate) fn apply_reqwest(
        &self,
        builder: alloy_transport_http::reqwest::ClientBuilder,
    ) -> Result<alloy_transport_http::reqwest::ClientBuilder, AmbError> {
        use alloy_transport_http::reqwest;
        self.check()?;
        let builder = match &self.proxy {
            // reqwest reads the same variables through the same hyper-util matcher.
            ProxyChoice::Environment => builder,
            ProxyChoice::Off => builder.no_proxy(),
            ProxyChoice::Url(url) => {
                let proxy =
                    reqwest::Proxy::all(url.expose()).map_err(|_| ConfigError::InvalidProxy {
                        proxy: shown(url.expose()),
                        reason: "reqwest does not accept it as a proxy URL",
                    })?;
                builder.proxy(proxy)
            }
        };
        let tls = match &self.tls {
            Some(config) => Some((**config).clone()),
            // reqwest's own rustls configuration is the platform verifier with aws-lc-rs;
            // with `ring`, the same verifier with the ring provider.
            None if cfg!(feature = "ring") => Some((*tls::default_config()?).clone()),
            None => None,
        };
        Ok(match tls {
            Some(config) => builder.tls_backend_preconfigured(config),
            None => builder,
        })
    }
}

/// The proxy `choice` picks for `endpoint` (`ws://` as `http://`, `wss://` as `https://`),
/// through hyper-util's matcher, the one reqwest 0.13 reads the environment with; and where
/// it came from, for errors.
pub(crate) fn intercept(
    choice: &ProxyChoice,
    endpoint: &crate::endpoint::Endpoint,
) -> Option<(hyper_util::client::proxy::matcher::Intercept, &'static str)> {
    use hyper_util::client::proxy::matcher::Matcher;
    let (matcher, from) = match choice {
        ProxyChoice::Off => return None,
        // `from_system`, as reqwest's `Matcher::system()`: the variables below, and the OS
        // settings too should anything enable hyper-util's `client-proxy-system`.
        ProxyChoice::Environment => (
            Matcher::from_system(),
            "the proxy from the environment (HTTPS_PROXY, ALL_PROXY or HTTP_PROXY)",
        ),
        ProxyChoice::Url(url) => (Matcher::builder().all(url.expose()).build(), "the proxy"),
    };
    let scheme = match endpoint.url().scheme() {
        "wss" | "https" => "https",
        _ => "http",
    };
    let target = format!("{scheme}://{}/", endpoint.authority())
        .parse::<http::Uri>()
        .ok()?;
    Some((matcher.intercept(&target)?, from))
}

/// Checks a proxy URL given to `.proxy(..)`.
fn check_proxy_url(url: &str) -> Result<(), ConfigError> {
    let invalid = |reason| ConfigError::InvalidProxy {
        proxy: shown(url),
        reason,
    };
    let parsed = url::Url::parse(url).map_err(|_| invalid("it is not a URL (http://host:port)"))?;
    if parsed.scheme() != "http" {
        return Err(invalid(
            "only http:// proxies (HTTP CONNECT) are supported; https:// and socks proxies are not",
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    Ok(())
}

/// A proxy URL as it may be shown: scheme, host and port, never userinfo, path or query.
pub(crate) fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}", u.scheme()),
            (Some(host), None) => format!("{}://{host}", u.scheme()),
            (None, _) => format!("{}://…", u.scheme()),
        },
        Err(_) => "<not a URL>".to_owned(),
    }
}

impl fmt::Debug for NetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proxy = match &self.proxy {
            ProxyChoice::Environment => "from the environment".to_owned(),
            ProxyChoice::Off => "none".to_owned(),
            ProxyChoice::Url(url) => shown(url.expose()),
        };
        f.debug_struct("NetConfig")
            .field("proxy", &proxy)
            .field(
                "tls",
                &if self.tls.is_some() {
                    "user ClientConfig"
                } else {
                    "platform trust store"
                },
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_are_checked_and_shown_without_credentials() {
        assert!(check_proxy_url("http://proxy.corp:3128").is_ok());
        assert!(check_proxy_url("http://user:pass@proxy.corp:3128").is_ok());
        for bad in [
            "https://proxy:443",
            "socks5://proxy:1080",
            "proxy:3128",
            "not a url",
        ] {
            let err = check_proxy_url(bad).unwrap_err();
            assert!(
                matches!(err, ConfigError::InvalidProxy { .. }),
                "{bad}: {err}"
            );
        }
        let err = check_proxy_url("socks5://alice:SECRETPW@proxy:1080").unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(
            !text.contains("SECRETPW") && !text.contains("alice"),
            "{text}"
        );
        assert!(text.contains("socks5://proxy:1080"), "{text}");
        assert_eq!(
            shown("http://u:SECRET@p.example:8080/x?y=1"),
            "http://p.example:8080"
        );
        let net = NetConfig {
            proxy: ProxyChoice::Url(Secret::new("http://u:SECRETPW@p.example:8080")),
            tls: None,
        };
        assert!(!format!("{net:?}").contains("SECRETPW"));
    }
}
