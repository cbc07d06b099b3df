//! An HTTP/1.1 front before the fake gateway that counts the requests in flight at once.
//!
//! A request is in flight from when its body has arrived until its answer is about to be
//! written back (the count drops before the client can see the answer, so a client that
//! starts its next request on an answer never makes the count overshoot). With
//! [`InFlightFront::hold_until`], requests are held until that many are waiting, then let
//! through together: a client that keeps `n` requests in flight then shows exactly `n`, by
//! counting, not by timing.
//!
//! It speaks just enough HTTP/1.1 for `reqwest` and wiremock: `Content-Length` bodies,
//! keep-alive, one request at a time per connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::fake_amb::FakeAmb;

#[derive(Default)]
struct Hold {
    /// Let through when this many are held (`0`: never hold).
    until: usize,
    /// Let the rest through once this many requests have arrived in all.
    total: usize,
    held: usize,
}

struct State {
    upstream: SocketAddr,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    requests: AtomicUsize,
    hold: Mutex<Hold>,
    /// Bumped each time held requests are let through.
    release: watch::Sender<u64>,
}

/// The front; dropping it stops it.
pub struct InFlightFront {
    addr: SocketAddr,
    state: Arc<State>,
    accept: AbortHandle,
}

impl Drop for InFlightFront {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl InFlightFront {
    /// A front on `127.0.0.1:0` passing requests to `gateway`. Spawns onto the caller's
    /// tokio runtime.
    pub async fn start(gateway: &FakeAmb) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            upstream: gateway.address(),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            hold: Mutex::new(Hold::default()),
            release: watch::channel(0).0,
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

    /// `http://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Holds each request until `n` are waiting, then lets them all through; once `total`
    /// requests have arrived in all, the last ones go through whatever their number.
    pub fn hold_until(&self, n: usize, total: usize) {
        *self.state.hold.lock().unwrap() = Hold {
            until: n,
            total,
            held: 0,
        };
    }

    /// The most requests that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }
}

impl State {
    /// Waits until held requests are let through (at once when not holding).
    async fn pass(&self) {
        let mut release = self.release.subscribe();
        {
            let arrived = self.requests.load(Ordering::SeqCst);
            let mut hold = self.hold.lock().unwrap();
            if hold.until == 0 {
                return;
            }
            hold.held += 1;
            if hold.held >= hold.until || arrived >= hold.total {
                hold.held = 0;
                self.release.send_modify(|n| *n += 1);
                return;
            }
            release.mark_unchanged();
        }
        let _ = release.changed().await;
    }
}

async fn serve(state: Arc<State>, client: TcpStream) {
    let Ok(upstream) = TcpStream::connect(state.upstream).await else {
        return;
    };
    let (client_read, mut client_write) = client.into_split();
    let (upstream_read, mut upstream_write) = upstream.into_split();
    let mut client_read = BufReader::new(client_read);
    let mut upstream_read = BufReader::new(upstream_read);
    while let Some(request) = read_message(&mut client_read).await {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        state.requests.fetch_add(1, Ordering::SeqCst);
        state.pass().await;
        let answer = match upstream_write.write_all(&request).await {
            Ok(()) => read_message(&mut upstream_read).await,
            Err(_) => None,
        };
        state.in_flight.fetch_sub(1, Ordering::SeqCst);
        let Some(answer) = answer else { return };
        if client_write.write_all(&answer).await.is_err() {
            return;
        }
    }
}

/// One HTTP/1.1 message (head and `Content-Length` body), as raw bytes; `None` at the end of
/// the connection.
async fn read_message<R: tokio::io::AsyncRead + Unpin>(r: &mut BufReader<R>) -> Option<Vec<u8>> {
    let mut message = Vec::new();
    let mut length = 0usize;
    loop {
        let start = message.len();
        if r.read_until(b'\n', &mut message).await.ok()? == 0 {
            return None;
        }
        let line = std::str::from_utf8(&message[start..]).ok()?;
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let start = message.len();
    message.resize(start + length, 0);
    r.read_exact(&mut message[start..]).await.ok()?;
    Some(message)
}
