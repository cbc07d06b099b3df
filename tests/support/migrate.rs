//! Support for the migration tests (issue 15): a pair of anvil nodes that start with the same
//! chain, and fake transports that record what reaches them.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use alloy_json_rpc::{RequestPacket, Response, ResponsePacket, ResponsePayload, SerializedRequest};
use alloy_rpc_client::{ClientBuilder, RpcClient};
use alloy_transport::{TransportError, TransportFut};
use serde_json::{json, value::RawValue, Value};

/// An anvil whose genesis (and so every block built the same way) is the same on every start.
pub struct Node {
    child: Child,
    pub port: u16,
}

impl Node {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn client(&self) -> RpcClient {
        ClientBuilder::default().transport(
            alloy_transport_http::Http::new(self.url().parse().unwrap()),
            true,
        )
    }

    pub async fn rpc(&self, method: &'static str, params: Value) -> Value {
        self.client()
            .request::<Value, Value>(method, params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    fn binary() -> Option<PathBuf> {
        if let Ok(p) = std::env::var("ANVIL_BIN") {
            return Some(PathBuf::from(p));
        }
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
        p.exists().then_some(p)
    }

    /// `None` (skip, loudly) when anvil is not installed and this is not CI.
    pub async fn spawn(test: &str) -> Option<Self> {
        let Some(bin) = Self::binary() else {
            if std::env::var_os("CI").is_some() {
                panic!("anvil is not installed but CI is set (see .ci/run) or set ANVIL_BIN");
            }
            eprintln!("\n!!!!! SKIPPED {test}: anvil not found (set ANVIL_BIN) !!!!!\n");
            return None;
        };
        let mut child = Command::new(&bin)
            .args([
                "--port",
                "0",
                "--host",
                "127.0.0.1",
                "--chain-id",
                "31337",
                "--timestamp",
                "1700000000",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.trim().strip_prefix("Listening on ") {
                    let _ = tx.send(addr.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()));
                }
            }
        });
        // anvil's own "Listening on" line is the signal; the timeout only bounds a broken install.
        let port = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
            .await
            .unwrap()
            .ok()
            .flatten()
            .expect("anvil did not print its listening address");
        let node = Self { child, port };
        // Block timestamps from the previous block, not the wall clock: same blocks, same hashes.
        node.rpc("anvil_setBlockTimestampInterval", json!([12]))
            .await;
        Some(node)
    }

    /// Sends `value` wei from anvil's first account to its second (mined at once, one block).
    pub async fn transfer(&self, value: u64) -> String {
        let tx = json!({ "from": FROM, "to": TO, "value": format!("{value:#x}") });
        self.rpc("eth_sendTransaction", json!([tx]))
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Deploys a contract whose every call emits `LOG1` with the call data's first word as
    /// topic (as tests/support/emitter.rs); its address (the same on both nodes of a pair).
    pub async fn deploy_emitter(&self) -> String {
        let tx = json!({ "from": FROM, "data": "0x6009600c60003960096000f360003560006000a100", "gas": "0x30000" });
        let hash = self.rpc("eth_sendTransaction", json!([tx])).await;
        // anvil mines on send; the receipt can trail the answer: ask again, a bounded number of times.
        for _ in 0..1000 {
            let r = self.rpc("eth_getTransactionReceipt", json!([hash])).await;
            if let Some(a) = r["contractAddress"].as_str() {
                return a.to_string();
            }
            tokio::task::yield_now().await;
        }
        panic!("no receipt for the emitter's deployment");
    }

    /// Calls the emitter: one block, one log with `topic`.
    pub async fn emit(&self, emitter: &str, topic: u64) -> String {
        let tx = json!({ "from": FROM, "to": emitter, "data": format!("0x{topic:064x}"), "gas": "0x10000" });
        self.rpc("eth_sendTransaction", json!([tx]))
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn head(&self) -> u64 {
        let v = self.rpc("eth_blockNumber", json!([])).await;
        u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// anvil's first two dev accounts.
pub const FROM: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
pub const TO: &str = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";

/// Two nodes with the same `blocks` transfers; `None` when anvil is missing (skipped).
pub async fn same_pair(test: &str, blocks: u64) -> Option<(Node, Node)> {
    let (a, b) = (Node::spawn(test).await?, Node::spawn(test).await?);
    for i in 0..blocks {
        assert_eq!(
            a.transfer(i + 1).await,
            b.transfer(i + 1).await,
            "the pair must build the same chain"
        );
    }
    Some((a, b))
}

/// What a fake transport does with a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Answers at once.
    Now,
    /// Answers after one yield (so racing callers see it pending first).
    AfterYield,
    /// Never answers.
    Never,
}

/// How a fake answers: `(method, params) -> result`.
pub type Answer = Arc<dyn Fn(&str, &Value) -> Value + Send + Sync>;

/// A fake transport: records `(name, method)` of every call it receives, answers
/// `"<name>:<method>"` or what `answer` says.
#[derive(Clone)]
pub struct Fake {
    pub name: &'static str,
    pub log: Arc<Mutex<Vec<(&'static str, String)>>>,
    pub mode: Mode,
    pub answer: Answer,
}

impl Fake {
    pub fn new(
        name: &'static str,
        log: &Arc<Mutex<Vec<(&'static str, String)>>>,
        mode: Mode,
    ) -> Self {
        Self {
            name,
            log: log.clone(),
            mode,
            answer: Arc::new(move |m, _| json!(format!("{name}:{m}"))),
        }
    }

    pub fn answering(mut self, f: impl Fn(&str, &Value) -> Value + Send + Sync + 'static) -> Self {
        self.answer = Arc::new(f);
        self
    }
}

fn reply(
    answer: &(dyn Fn(&str, &Value) -> Value + Send + Sync),
    r: &SerializedRequest,
) -> Response {
    let params: Value = r
        .params()
        .map(|p| serde_json::from_str(p.get()).unwrap())
        .unwrap_or(Value::Null);
    let v = answer(r.method(), &params);
    Response {
        id: r.id().clone(),
        payload: ResponsePayload::Success(RawValue::from_string(v.to_string()).unwrap()),
    }
}

impl tower::Service<RequestPacket> for Fake {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: RequestPacket) -> Self::Future {
        let mut log = self.log.lock().unwrap();
        for m in req.method_names() {
            log.push((self.name, m.to_string()));
        }
        let answer = match &req {
            RequestPacket::Single(r) => ResponsePacket::Single(reply(&*self.answer, r)),
            RequestPacket::Batch(b) => {
                ResponsePacket::Batch(b.iter().map(|r| reply(&*self.answer, r)).collect())
            }
        };
        let mode = self.mode;
        Box::pin(async move {
            match mode {
                Mode::Now => {}
                Mode::AfterYield => tokio::task::yield_now().await,
                Mode::Never => futures::future::pending::<()>().await,
            }
            Ok(answer)
        })
    }
}

/// A request packet of one call.
pub fn single(method: &'static str, params: Value, id: u64) -> RequestPacket {
    let r = alloy_json_rpc::Request::new(method, alloy_json_rpc::Id::Number(id), params);
    RequestPacket::Single(r.serialize().unwrap())
}

/// A batch of calls.
pub fn batch(calls: &[(&'static str, Value)]) -> RequestPacket {
    RequestPacket::Batch(
        calls
            .iter()
            .enumerate()
            .map(|(i, (m, p))| {
                alloy_json_rpc::Request::new(*m, alloy_json_rpc::Id::Number(i as u64), p.clone())
                    .serialize()
                    .unwrap()
            })
            .collect(),
    )
}
