//! [`ConnectProxy`]: a small HTTP proxy on `127.0.0.1` for tests of clients behind a corporate
//! proxy. It opens `CONNECT` tunnels (and forwards absolute-form requests, as reqwest sends
//! them for `http://` targets), counts them with their target authorities, can require
//! `Proxy-Authorization: Basic`, and can refuse every request with a status.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

/// The most a request head may be.
const MAX_HEAD: usize = 16 * 1024;

/// What the proxy was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyRequest {
    /// `CONNECT` or, for a forwarded request, its method.
    pub method: String,
    /// The target authority (`host:port`).
    pub target: String,
    /// The `Proxy-Authorization` header, if any.
    pub authorization: Option<String>,
    /// The status the proxy answered with (`200` for an open tunnel; a forwarded request is
    /// answered by the target and shows `0`).
    pub status: u16,
}

#[derive(Default)]
struct Rules {
    /// `Basic …` expected in `Proxy-Authorization`.
    auth: Option<String>,
    /// Refuse everything with this status.
    refuse: Option<u16>,
}

struct State {
    rules: Mutex<Rules>,
    requests: watch::Sender<Vec<ProxyRequest>>,
}

/// The proxy; dropping it stops accepting connections (open tunnels run to their end).
pub struct ConnectProxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept: AbortHandle,
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl ConnectProxy {
    /// A proxy on `127.0.0.1:0`. Spawns onto the caller's tokio runtime.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            rules: Mutex::default(),
            requests: watch::Sender::new(Vec::new()),
        });
        let accept = tokio::spawn({
            let state = state.clone();
            async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    tokio::spawn(serve(state.clone(), tcp));
                }
            }
        })
        .abort_handle();
        Self {
            addr,
            state,
            accept,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://user:password@127.0.0.1:PORT`
    pub fn url_with_credentials(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@{}", self.addr)
    }

    /// The proxy's address.
    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// Answer 407 to requests without `Proxy-Authorization: Basic base64(user:password)`.
    pub fn require_basic_auth(&self, user: &str, password: &str) {
        self.state.rules.lock().unwrap().auth = Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        ));
    }

    /// Refuse every request with `status` (e.g. 403: policy, 502: cannot reach the target);
    /// `None` to stop refusing.
    pub fn refuse_with(&self, status: Option<u16>) {
        self.state.rules.lock().unwrap().refuse = status;
    }

    /// Everything asked so far, in order.
    pub fn requests(&self) -> Vec<ProxyRequest> {
        self.state.requests.borrow().clone()
    }

    /// The targets of the tunnels opened so far (`CONNECT` answered 200), in order.
    pub fn tunnels(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "CONNECT" && r.status == 200)
            .map(|r| r.target)
            .collect()
    }

    /// The targets of the requests forwarded so far (absolute-form, not `CONNECT`).
    pub fn forwarded(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.method != "CONNECT")
            .map(|r| r.target)
            .collect()
    }

    /// Waits until `n` requests have been seen (no timing: it returns as soon as they have).
    pub async fn wait_for_requests(&self, n: usize) {
        let mut rx = self.state.requests.subscribe();
        let _ = rx.wait_for(|r| r.len() >= n).await;
    }
}

async fn serve(state: Arc<State>, mut client: TcpStream) {
    let _ = client.set_nodelay(true);
    let mut buf = Vec::with_capacity(1024);
    let head_len = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if buf.len() > MAX_HEAD {
            let _ = client
                .write_all(
                    b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n",
                )
                .await;
            return;
        }
        let mut chunk = [0u8; 2048];
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let uri = request_line.next().unwrap_or_default().to_owned();
    let authorization = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, v)| v.trim().to_owned());
    let target = if method == "CONNECT" {
        uri.clone()
    } else {
        // Absolute form: `http://host:port/path`.
        let rest = uri.split_once("://").map(|(_, r)| r).unwrap_or_default();
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        }
    };
    let refusal = {
        let rules = state.rules.lock().unwrap();
        match (&rules.refuse, &rules.auth) {
            (Some(status), _) => Some(*status),
            (None, Some(expected)) if authorization.as_deref() != Some(expected.as_str()) => {
                Some(407)
            }
            _ => None,
        }
    };
    let record = |status| {
        state.requests.send_modify(|r| {
            r.push(ProxyRequest {
                method: method.clone(),
                target: target.clone(),
                authorization: authorization.clone(),
                status,
            })
        })
    };
    if let Some(status) = refusal {
        record(status);
        let extra = if status == 407 {
            "Proxy-Authenticate: Basic realm=\"test\"\r\n"
        } else {
            ""
        };
        let _ = client
            .write_all(
                format!("HTTP/1.1 {status} Refused\r\n{extra}Content-Length: 7\r\n\r\nrefused")
                    .as_bytes(),
            )
            .await;
        return;
    }
    let Ok(mut upstream) = TcpStream::connect(target.as_str()).await else {
        record(502);
        let _ = client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    let _ = upstream.set_nodelay(true);
    if method == "CONNECT" {
        record(200);
        if client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
        // Bytes the client sent right after its CONNECT (e.g. a TLS ClientHello).
        if upstream.write_all(&buf[head_len..]).await.is_err() {
            return;
        }
    } else {
        record(0);
        // HTTP/1.1 servers accept the absolute form: pass the request on as it came.
        if upstream.write_all(&buf).await.is_err() {
            return;
        }
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}
