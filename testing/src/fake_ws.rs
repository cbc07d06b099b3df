//! The WebSocket side of the fake AMB gateway: a tokio-tungstenite server on `127.0.0.1:0` beside
//! the wiremock one, sharing its keys, billing tokens, region/service, clock and chain
//! (`SharedGateway`).
//!
//! - It verifies the signed upgrade (GET) with the same independent verifier and refuses like
//!   AMB: 403, `{"message": ...}`, a `Date` on the fake's clock.
//! - It serves `eth_subscribe`/`eth_unsubscribe` for `logs` and `newHeads` from the deterministic
//!   chain, notifying when the test mines with [`FakeWs::mine`], and answers other calls from
//!   the chain; or, with [`FakeWs::set_upstream`], proxies text frames to a real node (anvil).
//! - It closes with 1003 on any binary frame, like AMB, and records every frame's type.
//! - On command it refuses `logs` notifications as over the quota (AMB's message, no id) and
//!   holds the answers to a method until released ([`FakeWs::oversize_log_notifications`],
//!   [`FakeWs::hold_answers`]), to script what comes while a request waits.
//! - On command it drops, closes or freezes (stops reading, so no pongs) every connection, and
//!   replaces answers over a size with AMB's "message response is too large".
//! - [`FakeWs::wait_for`] gives tests deterministic signals (connections opened, subscriptions
//!   served...), with a generous timeout only as an upper bound.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::chain;
use crate::fake_amb::{httpdate, FakeAmb, Received, SharedGateway};
use crate::sigv4::SigV4Request;

/// What AMB says instead of an answer over its 512 KB WebSocket quota.
pub const MSG_TOO_LARGE: &str = "Message response is too large";

/// The longest a test waits for a signal from the fake (an upper bound, not a timing).
const SIGNAL_TIMEOUT: Duration = Duration::from_secs(30);

/// The type of a frame received from a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A text frame.
    Text,
    /// A binary frame.
    Binary,
    /// A ping.
    Ping,
    /// A pong.
    Pong,
    /// A close frame.
    Close,
}

/// One frame received from a client.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Frame {
    /// Which connection (0 for the first accepted upgrade).
    pub conn: usize,
    /// Its type.
    pub kind: Kind,
    /// Payload length in bytes.
    pub len: usize,
    /// The payload of a text frame.
    pub text: Option<String>,
}

/// Counters the tests wait on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Upgrades accepted, ever.
    pub connections: usize,
    /// Upgrades refused, ever.
    pub rejected: usize,
    /// Successful `eth_subscribe` answers sent, ever.
    pub subscriptions: usize,
    /// Connections closed with 1003 after a binary frame.
    pub closed_1003: usize,
    /// Answers replaced by [`MSG_TOO_LARGE`].
    pub too_large: usize,
    /// Pings received from clients.
    pub pings: usize,
    /// Subscriptions removed by `eth_unsubscribe`.
    pub unsubscriptions: usize,
    /// `logs` notifications replaced by [`MSG_TOO_LARGE`] ([`FakeWs::oversize_log_notifications`]).
    pub too_large_notifications: usize,
    /// Answers held back ([`FakeWs::hold_answers`]), ever.
    pub held: usize,
}

enum Cmd {
    Mined(u64),
    /// Blocks from `from` were replaced and `to` is the new head; `removed` are the old logs,
    /// marked removed.
    Reorged {
        from: u64,
        to: u64,
        removed: Vec<Value>,
        logs_first: bool,
    },
    Drop,
    Close(u16),
    Freeze,
    /// Send the held answers.
    Release,
}

struct Inner {
    amb: SharedGateway,
    upstream: Mutex<Option<String>>,
    upgrades: Mutex<Vec<Received>>,
    frames: Mutex<Vec<Frame>>,
    conns: Mutex<Vec<mpsc::UnboundedSender<Cmd>>>,
    stats: watch::Sender<Stats>,
    response_limit: Mutex<Option<usize>>,
    /// Scripted refusals `(status, message)` for the next upgrades, last first.
    refusals: Mutex<Vec<(u16, String)>>,
    /// How many `logs` notifications to come are refused as over the quota.
    oversize_logs: Mutex<usize>,
    /// Answers to this method are held until [`FakeWs::release_answers`].
    held_method: Mutex<Option<String>>,
    /// How many `logs` notifications to lose.
    lose_logs: Mutex<usize>,
}

/// The fake AMB WebSocket gateway. Dropping it stops accepting connections.
pub struct FakeWs {
    addr: SocketAddr,
    inner: Arc<Inner>,
    task: JoinHandle<()>,
}

impl Drop for FakeWs {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeWs {
    /// A WebSocket gateway that authenticates against, and answers from, `amb`.
    pub async fn start(amb: &FakeAmb) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Inner {
            amb: amb.shared(),
            upstream: Mutex::default(),
            upgrades: Mutex::default(),
            frames: Mutex::default(),
            conns: Mutex::default(),
            stats: watch::Sender::new(Stats::default()),
            response_limit: Mutex::default(),
            refusals: Mutex::default(),
            oversize_logs: Mutex::default(),
            held_method: Mutex::default(),
            lose_logs: Mutex::default(),
        });
        let task = tokio::spawn(accept_loop(listener, inner.clone()));
        Self { addr, inner, task }
    }

    /// `ws://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// `127.0.0.1:PORT`
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// Proxies the text frames of connections opened from now on to this WebSocket URL.
    pub fn set_upstream(&self, url: &str) {
        *self.inner.upstream.lock().unwrap() = Some(url.into());
    }

    /// Answers (not notifications) longer than `limit` bytes are replaced by AMB's
    /// `{"message": "Message response is too large"}`.
    pub fn set_response_limit(&self, limit: Option<usize>) {
        *self.inner.response_limit.lock().unwrap() = limit;
    }

    /// The next `count` `logs` notifications (on any connection) are replaced by AMB's
    /// `{"message": "Message response is too large"}`, which names nothing: what AMB sends for a
    /// notification over its 512 KB quota (a log with a large `data`).
    pub fn oversize_log_notifications(&self, count: usize) {
        *self.inner.oversize_logs.lock().unwrap() = count;
    }

    /// From now on, answers to requests of `method` are held back (counted in
    /// [`Stats::held`]) until [`FakeWs::release_answers`]; the rest (other answers,
    /// notifications) goes on. For scripting what arrives while a request waits.
    pub fn hold_answers(&self, method: &str) {
        *self.inner.held_method.lock().unwrap() = Some(method.to_owned());
    }

    /// Sends the held answers, in order, and stops holding.
    pub fn release_answers(&self) {
        *self.inner.held_method.lock().unwrap() = None;
        self.command(|| Cmd::Release);
    }

    /// The next upgrades are refused with these `(status, message)`, in order, whatever their
    /// signature.
    pub fn refuse_next_upgrades(&self, refusals: Vec<(u16, &str)>) {
        *self.inner.refusals.lock().unwrap() = refusals
            .into_iter()
            .rev()
            .map(|(s, m)| (s, m.to_owned()))
            .collect();
    }

    /// Mines a block on the shared chain and notifies every subscription on every connection.
    pub fn mine(&self) -> u64 {
        let n = self.inner.amb.with_chain(|c| c.mine());
        self.command(|| Cmd::Mined(n));
        n
    }

    /// Replaces the last `depth` blocks and mines one more on top, while the connections stay
    /// up, and tells the subscriptions as a node may: the new head first (`newHeads`), then the
    /// old blocks' logs with `removed: true` (newest first; to every `logs` subscription), then
    /// the new blocks' logs, in one burst. Returns the new head.
    pub fn reorg_live(&self, depth: u64) -> u64 {
        self.reorg_live_told(depth, false)
    }

    /// Like [`FakeWs::reorg_live`], told as anvil tells it: no `removed: true` logs, and each
    /// new block's logs before its head.
    pub fn reorg_live_logs_first(&self, depth: u64) -> u64 {
        self.reorg_live_told(depth, true)
    }

    fn reorg_live_told(&self, depth: u64, logs_first: bool) -> u64 {
        let (from, to, removed) = self.inner.amb.with_chain(|c| {
            let from = c.head + 1 - depth;
            let removed: Vec<Value> = (from..=c.head)
                .rev()
                .map(|n| {
                    let mut log = c.log(n);
                    log["removed"] = json!(true);
                    log
                })
                .collect();
            c.reorg(depth);
            (from, c.mine(), removed)
        });
        self.command(|| Cmd::Reorged {
            from,
            to,
            removed: if logs_first {
                Vec::new()
            } else {
                removed.clone()
            },
            logs_first,
        });
        to
    }

    /// The next `n` `logs` notifications are not sent (as when a notification is over AMB's
    /// quota and the gateway sends its "message response is too large" instead).
    pub fn lose_log_notifications(&self, n: usize) {
        *self.inner.lose_logs.lock().unwrap() += n;
    }

    /// Drops every open connection at the TCP level (no close frame), like a gateway that goes
    /// away.
    pub fn drop_connections(&self) {
        self.command(|| Cmd::Drop);
    }

    /// Closes every open connection with a close frame carrying `code`.
    pub fn close_connections(&self, code: u16) {
        self.command(|| Cmd::Close(code));
    }

    /// Every open connection stops reading (so pings get no pong) and answering.
    pub fn freeze_connections(&self) {
        self.command(|| Cmd::Freeze);
    }

    fn command(&self, cmd: impl Fn() -> Cmd) {
        for tx in self.inner.conns.lock().unwrap().iter() {
            let _ = tx.send(cmd());
        }
    }

    /// Every upgrade request (method `GET`, empty body) with its verdict.
    pub fn upgrades(&self) -> Vec<Received> {
        self.inner.upgrades.lock().unwrap().clone()
    }

    /// Every frame received from clients so far.
    pub fn frames(&self) -> Vec<Frame> {
        self.inner.frames.lock().unwrap().clone()
    }

    /// The counters as they are now.
    pub fn stats(&self) -> Stats {
        self.inner.stats.borrow().clone()
    }

    /// Waits until the counters satisfy `pred` (a deterministic signal); panics naming `what`
    /// if that does not happen within a generous upper bound.
    pub async fn wait_for(&self, what: &str, mut pred: impl FnMut(&Stats) -> bool) -> Stats {
        let mut rx = self.inner.stats.subscribe();
        let waited = tokio::time::timeout(SIGNAL_TIMEOUT, rx.wait_for(|s| pred(s))).await;
        match waited {
            Ok(Ok(stats)) => stats.clone(),
            _ => panic!(
                "the fake WebSocket gateway never saw {what}: {:?}",
                self.stats()
            ),
        }
    }
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    while let Ok((tcp, _)) = listener.accept().await {
        tokio::spawn(serve(inner.clone(), tcp));
    }
}

fn refusal(status: u16, message: &str, now: u64) -> ErrorResponse {
    let body = json!({ "message": message }).to_string();
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-errortype", "ForbiddenException")
        .header("content-length", body.len())
        .header("date", httpdate(now))
        .body(Some(body))
        .unwrap()
}

/// The upgrade callback: records the request and decides like the AMB gateway. (The error
/// type is tungstenite's.)
#[allow(clippy::result_large_err)]
fn check_upgrade(
    inner: &Inner,
    req: &Request,
    mut resp: Response,
) -> Result<Response, ErrorResponse> {
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let signable = SigV4Request {
        method: req.method().as_str(),
        path: &path,
        query: query.as_deref(),
        headers: &headers,
        body: b"",
    };
    let (verdict, signed_headers) = inner.amb.authenticate_upgrade(&signable);
    let scripted = inner.refusals.lock().unwrap().pop();
    let refused = scripted.or(verdict.err());
    inner.upgrades.lock().unwrap().push(Received {
        method: req.method().to_string(),
        path,
        query,
        headers,
        body: Vec::new(),
        rejected: refused.as_ref().map(|(_, m)| m.clone()),
        signed_headers,
    });
    let now = inner.amb.now();
    match refused {
        Some((status, message)) => {
            inner.stats.send_modify(|s| s.rejected += 1);
            Err(refusal(status, &message, now))
        }
        None => {
            resp.headers_mut()
                .insert("date", httpdate(now).parse().unwrap());
            Ok(resp)
        }
    }
}

#[allow(clippy::result_large_err)]
async fn serve(inner: Arc<Inner>, tcp: TcpStream) {
    let callback = |req: &Request, resp: Response| check_upgrade(&inner, req, resp);
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
        return;
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let conn = {
        let mut conns = inner.conns.lock().unwrap();
        conns.push(tx);
        conns.len() - 1
    };
    inner.stats.send_modify(|s| s.connections += 1);
    let upstream = inner.upstream.lock().unwrap().clone();
    let conn = Conn {
        inner,
        conn,
        ws,
        rx,
    };
    match upstream {
        Some(url) => conn.proxy(&url).await,
        None => conn.serve_chain().await,
    }
}

struct Conn {
    inner: Arc<Inner>,
    conn: usize,
    ws: WebSocketStream<TcpStream>,
    rx: mpsc::UnboundedReceiver<Cmd>,
}

/// What to do after a frame from the client or a command.
enum Next {
    Go,
    Stop,
    /// Notify the subscriptions of this block.
    Mined(u64),
    /// Notify the subscriptions of a reorg (see [`FakeWs::reorg_live`]).
    Reorged {
        from: u64,
        to: u64,
        removed: Vec<Value>,
        logs_first: bool,
    },
    /// Send the held answers.
    Release,
}

/// A subscription on one connection: `None` for `newHeads`, the filter for `logs`.
type Sub = (String, Option<Value>);

impl Conn {
    /// Records a client frame; closes with 1003 on a binary one, like AMB.
    async fn on_frame(&mut self, msg: &Message) -> Next {
        let (kind, len, text) = match msg {
            Message::Text(t) => (Kind::Text, t.len(), Some(t.as_str().to_owned())),
            Message::Binary(b) => (Kind::Binary, b.len(), None),
            Message::Ping(b) => (Kind::Ping, b.len(), None),
            Message::Pong(b) => (Kind::Pong, b.len(), None),
            Message::Close(_) => (Kind::Close, 0, None),
            Message::Frame(_) => return Next::Go,
        };
        self.inner.frames.lock().unwrap().push(Frame {
            conn: self.conn,
            kind,
            len,
            text,
        });
        match kind {
            Kind::Ping => {
                self.inner.stats.send_modify(|s| s.pings += 1);
                Next::Go
            }
            Kind::Binary => {
                let close = CloseFrame {
                    code: CloseCode::Unsupported,
                    reason: "binary frames are not supported".into(),
                };
                let _ = self.ws.send(Message::Close(Some(close))).await;
                self.inner.stats.send_modify(|s| s.closed_1003 += 1);
                Next::Stop
            }
            Kind::Close => Next::Stop,
            _ => Next::Go,
        }
    }

    /// Sends an answer, or AMB's refusal when it is over the response limit.
    async fn send_answer(&mut self, text: String) -> Result<(), ()> {
        let limit = *self.inner.response_limit.lock().unwrap();
        let text = if limit.is_some_and(|l| text.len() > l) {
            self.inner.stats.send_modify(|s| s.too_large += 1);
            json!({ "message": MSG_TOO_LARGE, "connectionId": "fake=", "requestId": "fake" })
                .to_string()
        } else {
            text
        };
        self.ws.send(Message::text(text)).await.map_err(drop)
    }

    /// Handles a command from the test.
    async fn on_command(&mut self, cmd: Option<Cmd>, frozen: &mut bool) -> Next {
        match cmd {
            None | Some(Cmd::Drop) => Next::Stop,
            Some(Cmd::Freeze) => {
                *frozen = true;
                Next::Go
            }
            Some(Cmd::Close(code)) => {
                let close = CloseFrame {
                    code: code.into(),
                    reason: "closed by the fake gateway".into(),
                };
                let _ = self.ws.send(Message::Close(Some(close))).await;
                Next::Go
            }
            Some(Cmd::Release) => Next::Release,
            Some(Cmd::Mined(n)) => Next::Mined(n),
            Some(Cmd::Reorged {
                from,
                to,
                removed,
                logs_first,
            }) => Next::Reorged {
                from,
                to,
                removed,
                logs_first,
            },
        }
    }

    /// A notification as sent: AMB's quota message instead of a `logs` one while
    /// [`FakeWs::oversize_log_notifications`] has some to refuse.
    fn oversized(&self, subs: &[Sub], note: Value) -> Value {
        let sub = &note["params"]["subscription"];
        let is_log = subs.iter().any(|(id, f)| f.is_some() && sub == id.as_str());
        let mut left = self.inner.oversize_logs.lock().unwrap();
        if !is_log || *left == 0 {
            return note;
        }
        *left -= 1;
        self.inner
            .stats
            .send_modify(|s| s.too_large_notifications += 1);
        json!({ "message": MSG_TOO_LARGE, "connectionId": "fake=", "requestId": "fake" })
    }

    /// Answers from the deterministic chain.
    async fn serve_chain(mut self) {
        let mut subs: Vec<Sub> = Vec::new();
        let mut frozen = false;
        let mut held: Vec<String> = Vec::new();
        loop {
            tokio::select! {
                cmd = self.rx.recv() => match self.on_command(cmd, &mut frozen).await {
                    Next::Stop => return,
                    Next::Release => {
                        for answer in std::mem::take(&mut held) {
                            if self.send_answer(answer).await.is_err() {
                                return;
                            }
                        }
                    }
                    Next::Mined(n) => {
                        for note in self.notifications(&subs, n) {
                            let note = self.oversized(&subs, note);
                            if self.ws.send(Message::text(note.to_string())).await.is_err() {
                                return;
                            }
                        }
                    }
                    Next::Reorged { from, to, removed, logs_first } => {
                        let heads: Vec<Sub> = subs.iter().filter(|s| s.1.is_none()).cloned().collect();
                        let logs: Vec<Sub> = subs.iter().filter(|s| s.1.is_some()).cloned().collect();
                        let mut notes = Vec::new();
                        if logs_first {
                            for n in from..=to {
                                notes.extend(self.notifications(&logs, n));
                                notes.extend(self.notifications(&heads, n));
                            }
                        } else {
                            notes.extend(self.notifications(&heads, to));
                            for (sub_id, _) in &logs {
                                notes.extend(removed.iter().map(|log| json!({
                                    "jsonrpc": "2.0",
                                    "method": "eth_subscription",
                                    "params": {"subscription": sub_id, "result": log}
                                })));
                            }
                            for n in from..=to {
                                notes.extend(self.notifications(&logs, n));
                            }
                        }
                        for note in notes {
                            let note = self.oversized(&subs, note);
                            if self.ws.feed(Message::text(note.to_string())).await.is_err() {
                                return;
                            }
                        }
                        if self.ws.flush().await.is_err() {
                            return;
                        }
                    }
                    Next::Go => {}
                },
                msg = self.ws.next(), if !frozen => {
                    let Some(Ok(msg)) = msg else { return };
                    if let Next::Stop = self.on_frame(&msg).await {
                        return;
                    }
                    if let Message::Text(text) = msg {
                        let (answer, subscribed) = self.answer(text.as_str(), &mut subs);
                        let hold = self.inner.held_method.lock().unwrap().clone();
                        let method = serde_json::from_str::<Value>(text.as_str())
                            .ok()
                            .and_then(|r| r["method"].as_str().map(str::to_owned));
                        if hold.is_some() && hold == method {
                            held.push(answer.to_string());
                            self.inner.stats.send_modify(|s| s.held += 1);
                            continue;
                        }
                        if self.send_answer(answer.to_string()).await.is_err() {
                            return;
                        }
                        if subscribed {
                            self.inner.stats.send_modify(|s| s.subscriptions += 1);
                        }
                    }
                }
            }
        }
    }

    /// The answer to one JSON-RPC request, and whether it opened a subscription.
    fn answer(&self, text: &str, subs: &mut Vec<Sub>) -> (Value, bool) {
        let Ok(req) = serde_json::from_str::<Value>(text) else {
            return (
                json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "parse error"}}),
                false,
            );
        };
        if let Value::Array(calls) = &req {
            // A batch, on targets that take them: each call answered in order.
            if !calls.is_empty() && self.inner.amb.accepts_batches() {
                let mut subscribed = false;
                let answers = calls
                    .iter()
                    .map(|call| {
                        let (answer, s) = self.answer(&call.to_string(), subs);
                        subscribed |= s;
                        answer
                    })
                    .collect();
                return (Value::Array(answers), subscribed);
            }
        }
        let id = req.get("id").cloned().unwrap_or(Value::Null);
        let ok = |result: Value| json!({"jsonrpc": "2.0", "id": id, "result": result});
        let params = &req["params"];
        match req["method"].as_str().unwrap_or("") {
            "eth_subscribe" => {
                let filter = match params[0].as_str() {
                    Some("newHeads") => None,
                    Some("logs") => Some(params.get(1).cloned().unwrap_or(json!({}))),
                    _ => {
                        let err = json!({"code": -32602, "message": "unsupported subscription"});
                        return (json!({"jsonrpc": "2.0", "id": id, "error": err}), false);
                    }
                };
                let sub_id = format!("0x{:x}{:04x}", self.conn + 1, subs.len());
                subs.push((sub_id.clone(), filter));
                (ok(json!(sub_id)), true)
            }
            "eth_unsubscribe" => {
                let before = subs.len();
                subs.retain(|(s, _)| Some(s.as_str()) != params[0].as_str());
                let removed = subs.len() < before;
                if removed {
                    self.inner.stats.send_modify(|s| s.unsubscriptions += 1);
                }
                (ok(json!(removed)), false)
            }
            _ => (self.inner.amb.with_chain(|c| c.answer(&req)), false),
        }
    }

    /// The notifications block `n` gives the subscriptions, in subscription order.
    fn notifications(&self, subs: &[Sub], n: u64) -> Vec<Value> {
        let mut out = Vec::new();
        for (sub_id, filter) in subs {
            let results = match filter {
                None => {
                    let mut header = self.inner.amb.with_chain(|c| c.block(n));
                    let obj = header.as_object_mut().unwrap();
                    obj.remove("transactions");
                    obj.remove("uncles");
                    vec![header]
                }
                Some(filter) => {
                    let mut filter = filter.clone();
                    filter["fromBlock"] = json!(chain::hex_u64(n));
                    filter["toBlock"] = json!(chain::hex_u64(n));
                    let req = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [filter]});
                    let answer = self.inner.amb.with_chain(|c| c.answer(&req));
                    answer["result"].as_array().cloned().unwrap_or_default()
                }
            };
            for result in results {
                if filter.is_some() {
                    let mut lose = self.inner.lose_logs.lock().unwrap();
                    if *lose > 0 {
                        *lose -= 1;
                        continue;
                    }
                }
                out.push(json!({
                    "jsonrpc": "2.0",
                    "method": "eth_subscription",
                    "params": {"subscription": sub_id, "result": result}
                }));
            }
        }
        out
    }

    /// Passes text frames between the client and a real node.
    async fn proxy(mut self, url: &str) {
        let Ok((mut up, _)) = tokio_tungstenite::connect_async(url).await else {
            return;
        };
        let mut subscribe_ids: HashSet<String> = HashSet::new();
        let mut frozen = false;
        loop {
            tokio::select! {
                cmd = self.rx.recv() => {
                    // anvil mines by itself: `Mined` is for the fake chain only.
                    if let Next::Stop = self.on_command(cmd, &mut frozen).await {
                        return;
                    }
                }
                msg = self.ws.next(), if !frozen => {
                    let Some(Ok(msg)) = msg else { return };
                    if let Next::Stop = self.on_frame(&msg).await {
                        return;
                    }
                    if let Message::Text(text) = msg {
                        let req: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                        if req["method"] == "eth_subscribe" {
                            subscribe_ids.insert(req["id"].to_string());
                        }
                        if up.send(Message::Text(text)).await.is_err() {
                            return;
                        }
                    }
                }
                msg = up.next(), if !frozen => {
                    let Some(Ok(Message::Text(text))) = msg else {
                        if matches!(msg, Some(Ok(Message::Ping(_) | Message::Pong(_)))) {
                            continue;
                        }
                        return;
                    };
                    let answer: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                    let subscribed = answer.get("result").is_some()
                        && subscribe_ids.remove(&answer["id"].to_string());
                    let is_answer = answer.get("id").is_some();
                    let sent = if is_answer {
                        self.send_answer(text.as_str().to_owned()).await
                    } else {
                        self.ws.send(Message::Text(text)).await.map_err(drop)
                    };
                    if sent.is_err() {
                        return;
                    }
                    if subscribed {
                        self.inner.stats.send_modify(|s| s.subscriptions += 1);
                    }
                }
            }
        }
    }
}
