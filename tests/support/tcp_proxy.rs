//! A loopback TCP proxy that can cut every connection and refuse new ones, to simulate a
//! gateway dropping WebSockets and long outages in front of any upstream.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

struct State {
    upstream: SocketAddr,
    refusing: AtomicBool,
    accepted: AtomicU64,
    refused: AtomicU64,
    conns: Mutex<Vec<AbortHandle>>,
    changed: Notify,
}

pub struct TcpProxy {
    pub addr: SocketAddr,
    state: Arc<State>,
    accept: AbortHandle,
}

impl TcpProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            upstream,
            refusing: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            conns: Mutex::new(Vec::new()),
            changed: Notify::new(),
        });
        let s = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if s.refusing.load(Ordering::SeqCst) {
                    drop(inbound);
                    s.refused.fetch_add(1, Ordering::SeqCst);
                    s.changed.notify_waiters();
                    continue;
                }
                let upstream = s.upstream;
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                s.conns.lock().unwrap().push(task.abort_handle());
                s.accepted.fetch_add(1, Ordering::SeqCst);
                s.changed.notify_waiters();
            }
        })
        .abort_handle();
        Self {
            addr,
            state,
            accept,
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Closes every open connection.
    pub fn drop_all(&self) {
        for c in self.state.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    /// While refusing, new connections are closed at once (an outage).
    pub fn refuse(&self, refusing: bool) {
        self.state.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` connections have been accepted.
    pub async fn wait_accepted(&self, n: u64) {
        self.wait_for(|s| s.accepted.load(Ordering::SeqCst) >= n)
            .await
    }

    /// Waits until a connection attempt has been refused since [`TcpProxy::refuse`]: the client
    /// noticed the outage and is trying to reconnect.
    pub async fn wait_refused(&self, n: u64) {
        self.wait_for(|s| s.refused.load(Ordering::SeqCst) >= n)
            .await
    }

    async fn wait_for(&self, done: impl Fn(&State) -> bool) {
        loop {
            let changed = self.state.changed.notified();
            if done(&self.state) {
                return;
            }
            changed.await;
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.drop_all();
    }
}
