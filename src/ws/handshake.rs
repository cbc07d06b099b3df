//! Opening the WebSocket: TCP (directly or through an HTTP proxy's `CONNECT` tunnel), TLS
//! (rustls with the platform's trust store, or the user's configuration), and the HTTP/1.1
//! upgrade.
//!
//! The upgrade request is written here rather than by tungstenite's client handshake, which logs
//! the whole request (the `Authorization` signature, the session token and a billing token in
//! the URL) at TRACE level through the `log` crate. Only the framing of the open connection is
//! tungstenite's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use url::{Host, Position, Url};

use crate::endpoint::Endpoint;
use crate::error::{AmbError, SNIPPET_LEN};
use crate::redact::Known;

/// A byte stream the WebSocket runs over: plain TCP on loopback, TLS elsewhere.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// An open WebSocket.
pub(crate) type Socket = WebSocketStream<Box<dyn Io>>;

/// The most a server may send as upgrade response headers.
const MAX_HEAD: usize = 16 * 1024;
/// The most of a refusal's body that is read (it is only classified and quoted).
const MAX_REFUSAL_BODY: usize = 64 * 1024;

/// The TLS client configuration: the user's, or the shared default (the platform's trust
/// store, see [`crate::net::tls`]); ALPN `http/1.1` (the upgrade is HTTP/1.1).
pub(crate) fn tls_config(user: Option<Arc<ClientConfig>>) -> Result<Arc<ClientConfig>, AmbError> {
    let http11 = |config: &ClientConfig| {
        let mut config = config.clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    };
    match user {
        Some(config) => Ok(http11(&config)),
        None => Ok(http11(&*crate::net::tls::default_config()?)),
    }
}

/// Where the TCP connection goes when there is no proxy.
enum Addr<'a> {
    Name(&'a str),
    Ip(SocketAddr),
}

/// What the upgrade needs besides the endpoint.
pub(crate) struct Upgrade<'a> {
    /// The URL to request (with `billingtoken` in token mode).
    pub(crate) url: &'a Url,
    /// The signing headers (`authorization`, `x-amz-date`, `x-amz-security-token`).
    pub(crate) headers: &'a [(&'static str, String)],
    pub(crate) tls: Option<&'a Arc<ClientConfig>>,
    /// The HTTP proxy to tunnel through, if any.
    pub(crate) proxy: Option<&'a crate::net::proxy::ProxyRoute>,
    pub(crate) token_mode: bool,
    pub(crate) timeout: Duration,
}

/// Connects to `endpoint` and upgrades to a WebSocket, within `up.timeout`. Also returns the
/// `Date` header of the server's answer, if there was one (the gateway's clock).
pub(crate) async fn open(
    endpoint: &Endpoint,
    up: Upgrade<'_>,
) -> (Option<String>, Result<Socket, AmbError>) {
    let mut date = None;
    let opened = tokio::time::timeout(up.timeout, open_inner(endpoint, &up, &mut date)).await;
    let opened = opened.unwrap_or_else(|_| {
        Err(AmbError::Timeout {
            host: endpoint.host().to_owned(),
            after: up.timeout,
        })
    });
    (date, opened)
}

async fn open_inner(
    endpoint: &Endpoint,
    up: &Upgrade<'_>,
    date: &mut Option<String>,
) -> Result<Socket, AmbError> {
    let host = endpoint.host();
    let connect_err = |reason: String| AmbError::Connect {
        host: host.to_owned(),
        reason,
        source: None,
    };
    let port = up
        .url
        .port_or_known_default()
        .ok_or_else(|| connect_err("the URL has no port".into()))?;
    let (addr, server_name) = match up.url.host() {
        Some(Host::Domain(domain)) => (
            Addr::Name(domain),
            ServerName::try_from(domain.to_owned()).ok(),
        ),
        Some(Host::Ipv4(ip)) => (
            Addr::Ip(SocketAddr::from((ip, port))),
            Some(ServerName::IpAddress(ip.into())),
        ),
        Some(Host::Ipv6(ip)) => (
            Addr::Ip(SocketAddr::from((ip, port))),
            Some(ServerName::IpAddress(ip.into())),
        ),
        None => return Err(connect_err("the URL has no host".into())),
    };
    let stream: Box<dyn Io> = match up.proxy {
        Some(proxy) => {
            let target = format!("{}:{port}", up.url.host_str().unwrap_or_default());
            Box::new(crate::net::proxy::tunnel(proxy, &target, host).await?)
        }
        None => {
            let tcp = match addr {
                Addr::Name(domain) => TcpStream::connect((domain, port)).await,
                Addr::Ip(addr) => TcpStream::connect(addr).await,
            };
            let tcp = tcp.map_err(|e| AmbError::Connect {
                host: host.to_owned(),
                reason: e.to_string(),
                source: Some(e.into()),
            })?;
            // No Nagle wait behind an unacknowledged request; the backend batches the
            // requests that are waiting together into one write itself.
            let _ = tcp.set_nodelay(true);
            Box::new(tcp)
        }
    };
    let mut io: Box<dyn Io> = match up.tls {
        Some(config) => {
            let name = server_name
                .ok_or_else(|| connect_err("the host is not a valid TLS server name".into()))?;
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name, stream)
                .await
                .map_err(|e| match crate::net::tls::tls_cause(&e) {
                    Some(cause) => {
                        let cause = cause.clone();
                        crate::net::tls::tls_error(host, &cause, e.into())
                    }
                    None => AmbError::Connect {
                        host: host.to_owned(),
                        reason: format!("TLS handshake failed: {e}"),
                        source: Some(e.into()),
                    },
                })?;
            Box::new(tls)
        }
        None => stream,
    };

    let key = generate_key();
    let request = upgrade_request(endpoint.authority(), up.url, &key, up.headers);
    let lost = |e: std::io::Error| AmbError::Request {
        host: host.to_owned(),
        reason: format!("the connection failed during the WebSocket upgrade: {e}"),
        source: Some(e.into()),
    };
    io.write_all(request.as_bytes()).await.map_err(lost)?;
    io.flush().await.map_err(lost)?;

    let mut buf = Vec::with_capacity(1024);
    let (status, head_len, headers) = loop {
        let mut chunk = [0u8; 2048];
        let n = io.read(&mut chunk).await.map_err(lost)?;
        if n == 0 {
            return Err(AmbError::Request {
                host: host.to_owned(),
                reason: "the server closed the connection during the WebSocket upgrade".into(),
                source: None,
            });
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(head) = parse_head(&buf, host)? {
            break head;
        }
        if buf.len() > MAX_HEAD {
            return Err(AmbError::Request {
                host: host.to_owned(),
                reason: "the WebSocket upgrade response headers are too long".into(),
                source: None,
            });
        }
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    *date = header("date").map(str::to_owned);

    if status != 101 {
        let length = header("content-length").and_then(|v| v.trim().parse::<usize>().ok());
        let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
        let mut body = buf.split_off(head_len);
        read_body(&mut io, &mut body, length, chunked).await;
        if chunked {
            body = dechunk(&body);
        }
        // The refusal's text is classified in one place (`AmbError::gateway_refusal`, shared
        // with HTTP) and quoted with this upgrade's secrets withheld.
        let mut known = Known::default();
        known.add_wire(up.headers, up.url);
        return Err(if matches!(status, 401 | 403) {
            AmbError::gateway_refusal(status, &body, host, up.token_mode, &known)
        } else {
            AmbError::WsUpgradeRejected {
                status,
                snippet: crate::redact::withhold_snippet(&body, &known, SNIPPET_LEN),
                host: host.to_owned(),
            }
        });
    }

    let upgrade_ok = header("upgrade").is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
        && header("connection").is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        });
    let accept_ok = header("sec-websocket-accept")
        .is_some_and(|v| v.trim() == derive_accept_key(key.as_bytes()));
    if !(upgrade_ok && accept_ok) {
        return Err(AmbError::Request {
            host: host.to_owned(),
            reason: "the server answered 101 but not with a valid WebSocket upgrade (Upgrade, \
                     Connection or Sec-WebSocket-Accept is wrong); is a proxy in the way?"
                .into(),
            source: None,
        });
    }
    // Frames the server sent right after its answer are already in `buf`.
    let rest = buf.split_off(head_len);
    Ok(WebSocketStream::from_partially_read(
        io,
        rest,
        Role::Client,
        Some(WebSocketConfig::default()),
    )
    .await)
}

/// The upgrade request. `Host` is exactly the authority that was signed.
fn upgrade_request(
    authority: &str,
    url: &Url,
    key: &str,
    auth_headers: &[(&'static str, String)],
) -> String {
    let target = &url[Position::BeforePath..Position::AfterQuery];
    let target = if target.is_empty() { "/" } else { target };
    let mut request = format!(
        "GET {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: Upgrade\r\nUpgrade: \
         websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\nUser-Agent: \
         alloy-amb/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    for (name, value) in auth_headers {
        request.push_str(name);
        request.push_str(": ");
        request.push_str(value);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request
}

type Head = (u16, usize, Vec<(String, String)>);

/// Parses the response head once it is complete: status, head length and headers.
fn parse_head(buf: &[u8], host: &str) -> Result<Option<Head>, AmbError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let status = response.code.unwrap_or(0);
            let headers = response
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_owned(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            Ok(Some((status, len, headers)))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(AmbError::Request {
            host: host.to_owned(),
            reason: format!("the WebSocket upgrade response is not valid HTTP: {e}"),
            source: Some(e.into()),
        }),
    }
}

/// Reads (at most [`MAX_REFUSAL_BODY`] of) a refusal's body: `length` bytes, the chunks up to
/// the last one, or to the end of the connection. A failure to read leaves what was read.
async fn read_body(io: &mut Box<dyn Io>, body: &mut Vec<u8>, length: Option<usize>, chunked: bool) {
    let want = length.unwrap_or(MAX_REFUSAL_BODY).min(MAX_REFUSAL_BODY);
    let mut chunk = [0u8; 4096];
    while body.len() < want && !(chunked && body.ends_with(b"0\r\n\r\n")) {
        match io.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(want);
}

/// The data of a chunked body (as much as is complete).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..eol])
            .ok()
            .and_then(|line| usize::from_str_radix(line.split(';').next()?.trim(), 16).ok());
        let start = eol + 2;
        // The size is the peer's: never trusted to fit (`checked_add`, `get`).
        let data = size
            .filter(|&size| size > 0)
            .and_then(|size| Some((size, start.checked_add(size)?)))
            .and_then(|(size, end)| Some((size, raw.get(start..end)?)));
        match data {
            Some((size, data)) => {
                out.extend_from_slice(data);
                raw = raw.get(start + size + 2..).unwrap_or_default();
            }
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_has_the_signed_host_and_target() {
        let url = Url::parse("wss://h.example/path?a=1&billingtoken=t").unwrap();
        let req = upgrade_request(
            "h.example",
            &url,
            "KEY==",
            &[("x-amz-date", "20240101T000000Z".into())],
        );
        assert!(req.starts_with("GET /path?a=1&billingtoken=t HTTP/1.1\r\nHost: h.example\r\n"));
        assert!(req.contains("\r\nx-amz-date: 20240101T000000Z\r\n"));
        assert!(req.contains("\r\nSec-WebSocket-Key: KEY==\r\n"));
        assert!(req.ends_with("\r\n\r\n"));
    }

    #[test]
    fn parses_heads() {
        let head = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\n{}";
        let (status, len, headers) = parse_head(head, "h").unwrap().unwrap();
        assert_eq!((status, len), (403, head.len() - 2));
        assert_eq!(headers[0], ("Content-Length".into(), "2".into()));
        assert!(parse_head(b"HTTP/1.1 101 Switch", "h").unwrap().is_none());
        assert!(parse_head(b"nonsense\r\n\r\n", "h").is_err());
    }

    #[test]
    fn dechunks_bodies() {
        let body = b"7\r\n{\"messa\r\n0e\r\nge\": \"denied\"}\r\n0\r\n\r\n";
        assert_eq!(dechunk(body), b"{\"message\": \"denied\"}");
        assert_eq!(dechunk(b"5\r\nabc"), b"");
        // A chunk size near usize::MAX from a hostile peer: no overflow, no panic.
        assert_eq!(dechunk(b"fffffffffffffffe\r\nabc\r\n0\r\n\r\n"), b"");
        assert_eq!(dechunk(b"ffffffffffffffff\r\n"), b"");
        assert_eq!(dechunk(b"2\r\nab\r\nfffffffffffffffe\r\nabc"), b"ab");
    }
}
