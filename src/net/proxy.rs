//! The WebSocket's way through an HTTP proxy: which proxy (hyper-util's matcher, the one reqwest
//! 0.13 reads `HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY` with) and the `CONNECT` tunnel (hyper's
//! HTTP/1.1 client and its upgrade, which keeps any bytes read past the proxy's answer).

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{shown, ProxyChoice};
use crate::endpoint::Endpoint;
use crate::error::{AmbError, ConfigError};

/// The proxy a WebSocket endpoint is reached through, decided at `build()`.
#[derive(Clone)]
pub(crate) struct ProxyRoute {
    /// Where to open the TCP connection.
    host: String,
    port: u16,
    /// `http://host:port`, without credentials: for errors and logs.
    shown: String,
    /// `Basic …` from the proxy URL's userinfo (a secret).
    auth: Option<HeaderValue>,
    /// Why a proxy from the environment cannot carry the WebSocket (e.g. `socks5://`): each
    /// connect fails with this, `build()` does not.
    unusable: bool,
    /// For an `https://` proxy: TLS to the proxy with this configuration (the transport's
    /// own), then `CONNECT` inside it.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for ProxyRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyRoute")
            .field("proxy", &self.shown)
            .field("auth", &self.auth.as_ref().map(|_| "** redacted **"))
            .field("unusable", &self.unusable)
            .finish()
    }
}

/// The proxy for `endpoint` (`ws://` as `http://`, `wss://` as `https://`), or `None` for a
/// direct connection.
/// `tls` gives the TLS configuration for an `https://` proxy from the environment.
pub(crate) fn route(
    choice: &ProxyChoice,
    endpoint: &Endpoint,
    tls: impl FnOnce() -> Result<Arc<rustls::ClientConfig>, AmbError>,
) -> Result<Option<ProxyRoute>, AmbError> {
    let Some((intercept, from)) = super::intercept(choice, endpoint) else {
        return Ok(None);
    };
    let uri = intercept.uri();
    let shown = shown(&uri.to_string());
    let invalid = |reason| ConfigError::InvalidProxy {
        proxy: format!("{from} {shown}"),
        reason,
    };
    let env = matches!(choice, ProxyChoice::Environment);
    let https = env && uri.scheme_str() == Some("https");
    if !https && uri.scheme_str() != Some("http") && env {
        // A variable meant for other programs (reqwest takes `socks5://` with its `socks`
        // feature) must not stop `build()`: the error comes with each connect.
        return Ok(Some(ProxyRoute {
            host: String::new(),
            port: 0,
            unusable: true,
            shown,
            auth: None,
            tls: None,
        }));
    }
    if !https && uri.scheme_str() != Some("http") {
        return Err(invalid(
            "only http:// proxies (HTTP CONNECT) are supported for the WebSocket; use `.no_proxy()` \
             or `.proxy(\"http://…\")`",
        )
        .into());
    }
    let host = uri.host().ok_or_else(|| invalid("it has no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok(Some(ProxyRoute {
        host,
        port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
        shown,
        auth: intercept.basic_auth().cloned(),
        unusable: false,
        tls: if https { Some(tls()?) } else { None },
    }))
}

/// A connection to `target` (`host:port`) through the proxy: TCP to the proxy, then `CONNECT`.
/// `host` names the endpoint in errors.
pub(crate) async fn tunnel(
    route: &ProxyRoute,
    target: &str,
    host: &str,
) -> Result<TokioIo<hyper::upgrade::Upgraded>, AmbError> {
    let failed = |what: &str, e: Box<dyn std::error::Error + Send + Sync>| AmbError::Connect {
        host: host.to_owned(),
        reason: format!("{what} the proxy `{}`: {e}", route.shown),
        source: Some(e),
    };
    if route.unusable {
        return Err(ConfigError::UnusableEnvProxy {
            proxy: route.shown.clone(),
            variable: "HTTPS_PROXY, ALL_PROXY or HTTP_PROXY",
            reason: "the WebSocket goes only through http:// and https:// proxies (HTTP CONNECT), not socks",
        }
        .into());
    }
    let tcp = TcpStream::connect((route.host.as_str(), route.port))
        .await
        .map_err(|e| failed("could not reach", e.into()))?;
    let _ = tcp.set_nodelay(true);
    match &route.tls {
        Some(config) => {
            let name = rustls::pki_types::ServerName::try_from(route.host.clone())
                .map_err(|e| failed("no TLS server name for", e.into()))?;
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| failed("TLS failed with", e.into()))?;
            connect_over(tls, route, target, host).await
        }
        None => connect_over(tcp, route, target, host).await,
    }
}

/// `CONNECT` over `io`, the open connection to the proxy.
async fn connect_over<T>(
    io: T,
    route: &ProxyRoute,
    target: &str,
    host: &str,
) -> Result<TokioIo<hyper::upgrade::Upgraded>, AmbError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let failed = |what: &str, e: Box<dyn std::error::Error + Send + Sync>| AmbError::Connect {
        host: host.to_owned(),
        reason: format!("{what} the proxy `{}`: {e}", route.shown),
        source: Some(e),
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| failed("could not talk to", e.into()))?;
    let mut request = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(target)
        .header(http::header::HOST, target);
    if let Some(auth) = &route.auth {
        request = request.header(http::header::PROXY_AUTHORIZATION, auth.clone());
    }
    let request = request
        .body(String::new())
        .map_err(|e| failed("could not ask", e.into()))?;
    let exchange = async move {
        let answer = sender
            .send_request(request)
            .await
            .map_err(|e| failed("no answer to CONNECT from", e.into()))?;
        let status = answer.status();
        if !status.is_success() {
            return Err(AmbError::ProxyRefused {
                proxy: route.shown.clone(),
                status: status.as_u16(),
                host: host.to_owned(),
            });
        }
        hyper::upgrade::on(answer)
            .await
            .map_err(|e| failed("the tunnel failed at", e.into()))
        // `sender` is dropped here, so the connection task below ends after a refusal too.
    };
    // The connection is driven here, not spawned: it ends when the tunnel is handed over (or
    // the exchange failed and dropped the sender).
    let (_, tunnel) = tokio::join!(conn.with_upgrades(), exchange);
    Ok(TokioIo::new(tunnel?))
}
