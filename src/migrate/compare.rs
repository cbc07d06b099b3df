//! Compare two endpoints at fixed blocks (`amb compare`); documented in the [`migrate`](super) module docs.

use std::collections::BTreeSet;
use std::fmt;

use alloy_json_rpc::RpcError;
use alloy_rpc_client::RpcClient;
use alloy_transport::{TransportError, TransportErrorKind};
use serde_json::{json, Value};

use super::{short_diff, splitmix64};

/// What to sample.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// How many blocks to read (the pinned head and `blocks - 1` more, drawn from the chain).
    pub blocks: usize,
    /// The confirmation depth: the pinned head is the lower head minus this.
    pub depth: u64,
    /// Seeds the block and transaction sample; the same seed on the same chains reads the same.
    pub seed: u64,
    /// Receipts (and `eth_call` replays) sampled per block.
    pub receipts_per_block: usize,
    /// `eth_getLogs` ranges span this many blocks, ending at each sampled block.
    pub log_range: u64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            blocks: 10,
            depth: 12,
            seed: 0,
            receipts_per_block: 2,
            log_range: 8,
        }
    }
}

/// Which endpoint a failure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `--from`.
    From,
    /// `--to`.
    To,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::From => "from",
            Side::To => "to",
        })
    }
}

/// The result of one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Equal answers (or JSON-RPC errors with the same code).
    Match,
    /// Different answers: the first difference, `$.path: from != to`.
    Mismatch(String),
    /// The call failed on one side without a JSON-RPC answer (transport, HTTP or auth failure).
    Failed {
        /// Which endpoint.
        side: Side,
        /// The error, as the transport reports it, through [`printable`](super::printable): URLs
        /// cut to scheme and host, secrets withheld, length capped.
        message: String,
    },
}

/// One read of the comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The JSON-RPC method.
    pub method: String,
    /// The block it was pinned to (a number, a range `a..b`), or `chain`.
    pub block: String,
    /// What was read, in a few words (`full txs`, `by hash`, an address).
    pub what: String,
    /// The outcome.
    pub outcome: Outcome,
}

/// All the reads of a comparison.
#[derive(Debug, Clone, Default)]
pub struct CompareReport {
    /// The head of `from`, of `to`, and the pinned head (the lower minus the depth).
    pub heads: (u64, u64, u64),
    /// The sampled block numbers, ascending.
    pub blocks: Vec<u64>,
    /// Every read, in order.
    pub checks: Vec<Check>,
}

impl CompareReport {
    /// Reads that matched.
    pub fn matched(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.outcome == Outcome::Match)
            .count()
    }

    /// Reads that did not match or failed.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.outcome != Outcome::Match)
    }

    /// True when every read matched.
    pub fn is_ok(&self) -> bool {
        self.failures().next().is_none()
    }
}

/// Progress of a run: `done` of `total` steps, and what is being read.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// Steps done.
    pub done: usize,
    /// Steps in all.
    pub total: usize,
    /// What the current step reads.
    pub step: &'a str,
}

type Answer = Result<Value, RpcError<TransportErrorKind>>;

async fn ask(c: &RpcClient, method: &'static str, params: Value) -> Answer {
    c.request::<Value, Value>(method, params).await
}

fn judge(a: &Answer, b: &Answer) -> Outcome {
    match (a, b) {
        (Ok(x), Ok(y)) => short_diff(x, y).map_or(Outcome::Match, Outcome::Mismatch),
        (Err(RpcError::ErrorResp(x)), Err(RpcError::ErrorResp(y))) if x.code == y.code => {
            Outcome::Match
        }
        (Err(RpcError::ErrorResp(x)), Err(RpcError::ErrorResp(y))) => {
            Outcome::Mismatch(format!("error {} != error {}", x.code, y.code))
        }
        (Ok(_), Err(RpcError::ErrorResp(y))) => {
            Outcome::Mismatch(format!("result != error {}", y.code))
        }
        (Err(RpcError::ErrorResp(x)), Ok(_)) => {
            Outcome::Mismatch(format!("error {} != result", x.code))
        }
        // A transport failure is on the side that had it (the other side may have answered
        // a JSON-RPC error).
        (Err(e), _) if !matches!(e, RpcError::ErrorResp(_)) => Outcome::Failed {
            side: Side::From,
            message: super::printable(&e.to_string()),
        },
        (_, Err(e)) => Outcome::Failed {
            side: Side::To,
            message: super::printable(&e.to_string()),
        },
        (Err(e), _) => Outcome::Failed {
            side: Side::From,
            message: super::printable(&e.to_string()),
        },
    }
}

struct Run<'a> {
    from: &'a RpcClient,
    to: &'a RpcClient,
    checks: Vec<Check>,
}

impl Run<'_> {
    /// Reads from both, records the check, returns `from`'s answer.
    async fn check(
        &mut self,
        method: &'static str,
        block: String,
        what: String,
        params: Value,
    ) -> Option<Value> {
        let (a, b) = futures::join!(
            ask(self.from, method, params.clone()),
            ask(self.to, method, params)
        );
        self.checks.push(Check {
            method: method.to_string(),
            block,
            what,
            outcome: judge(&a, &b),
        });
        a.ok()
    }
}

fn hex(n: u64) -> String {
    format!("{n:#x}")
}

fn parse_u64(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.strip_prefix("0x")?, 16).ok()
}

fn fatal(what: &str, e: RpcError<TransportErrorKind>) -> TransportError {
    TransportErrorKind::custom_str(&super::printable(&format!("{what}: {e}")))
}

async fn head_of(c: &RpcClient, side: &'static str) -> Result<u64, TransportError> {
    let v = ask(c, "eth_blockNumber", json!([]))
        .await
        .map_err(|e| fatal(&format!("reading the head of `{side}`"), e))?;
    parse_u64(&v).ok_or_else(|| {
        TransportErrorKind::custom_str(&super::printable(&format!(
            "`{side}` answered eth_blockNumber with {v}"
        )))
    })
}

/// Compares `from` and `to`; `progress` is called before each step. Fails only when a head or
/// the chain id cannot be read; every other failure is a [`Check`] with [`Outcome::Failed`].
pub async fn compare(
    from: &RpcClient,
    to: &RpcClient,
    opts: &CompareOptions,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<CompareReport, TransportError> {
    let mut run = Run {
        from,
        to,
        checks: Vec::new(),
    };
    let blocks_wanted = opts.blocks.max(1);
    let total = blocks_wanted.saturating_add(2);
    progress(Progress {
        done: 0,
        total,
        step: "chain id and heads",
    });
    run.check("eth_chainId", "chain".into(), String::new(), json!([]))
        .await;
    let (hf, ht) = futures::try_join!(head_of(from, "from"), head_of(to, "to"))?;
    let head = hf.min(ht).saturating_sub(opts.depth);

    // The sample: the pinned head and `blocks - 1` draws from [0, head].
    let mut sample = BTreeSet::from([head]);
    let mut n = 0u64;
    while sample.len() < blocks_wanted && (sample.len() as u64) <= head {
        // Saturating: a node answering `u64::MAX` as its head must not overflow this.
        let draw = splitmix64(opts.seed ^ n.wrapping_mul(0xA24B_AED4_963E_E407));
        sample.insert(draw % head.saturating_add(1));
        n += 1;
    }
    let blocks: Vec<u64> = sample.into_iter().collect();

    let mut calls: Vec<Value> = Vec::new();
    let mut accounts: BTreeSet<String> = BTreeSet::new();
    let mut head_miner = None;
    for (i, &b) in blocks.iter().enumerate() {
        progress(Progress {
            done: i + 1,
            total,
            step: "blocks",
        });
        let label = b.to_string();
        run.check(
            "eth_getBlockByNumber",
            label.clone(),
            "hashes".into(),
            json!([hex(b), false]),
        )
        .await;
        let full = run
            .check(
                "eth_getBlockByNumber",
                label.clone(),
                "full txs".into(),
                json!([hex(b), true]),
            )
            .await;
        let Some(full) = full.filter(|v| !v.is_null()) else {
            continue;
        };
        if b == head {
            head_miner = full
                .get("miner")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        if let Some(h) = full.get("hash").and_then(Value::as_str) {
            run.check(
                "eth_getBlockByHash",
                label.clone(),
                "hashes".into(),
                json!([h, false]),
            )
            .await;
            run.check(
                "eth_getBlockByHash",
                label.clone(),
                "full txs".into(),
                json!([h, true]),
            )
            .await;
            run.check(
                "eth_getLogs",
                label.clone(),
                "by block hash".into(),
                json!([{ "blockHash": h }]),
            )
            .await;
        }
        let lo = b.saturating_sub(opts.log_range.saturating_sub(1));
        run.check(
            "eth_getLogs",
            format!("{lo}..{b}"),
            String::new(),
            json!([{ "fromBlock": hex(lo), "toBlock": hex(b) }]),
        )
        .await;
        let txs = full
            .get("transactions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut picked = BTreeSet::new();
        for k in 0..txs.len() as u64 {
            if picked.len() >= opts.receipts_per_block.min(txs.len()) {
                break;
            }
            picked.insert((splitmix64(opts.seed ^ b ^ (k << 32)) % txs.len() as u64) as usize);
        }
        for idx in picked {
            let tx = &txs[idx];
            if let Some(h) = tx.get("hash").and_then(Value::as_str) {
                run.check(
                    "eth_getTransactionReceipt",
                    label.clone(),
                    format!("tx {idx}"),
                    json!([h]),
                )
                .await;
            }
            for key in ["from", "to"] {
                if let Some(a) = tx.get(key).and_then(Value::as_str) {
                    accounts.insert(a.to_string());
                }
            }
            if let (Some(to_addr), Some(input)) = (
                tx.get("to").and_then(Value::as_str),
                tx.get("input").and_then(Value::as_str),
            ) {
                let call = json!({ "from": tx.get("from"), "to": to_addr, "data": input });
                if !calls.contains(&call) {
                    calls.push(call);
                }
            }
        }
    }

    progress(Progress {
        done: total - 1,
        total,
        step: "state at the pinned head",
    });
    accounts.extend(head_miner);
    if accounts.is_empty() {
        accounts.insert(format!("0x{}", "0".repeat(40)));
    }
    let at = hex(head);
    let label = head.to_string();
    for a in accounts.iter().take(16) {
        run.check("eth_getBalance", label.clone(), a.clone(), json!([a, at]))
            .await;
        run.check("eth_getCode", label.clone(), a.clone(), json!([a, at]))
            .await;
        run.check(
            "eth_getStorageAt",
            label.clone(),
            format!("{a} slot 0"),
            json!([a, "0x0", at]),
        )
        .await;
    }
    for c in calls.iter().take(8) {
        let what = c
            .get("to")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        run.check("eth_call", label.clone(), what, json!([c, at]))
            .await;
    }
    progress(Progress {
        done: total,
        total,
        step: "done",
    });
    Ok(CompareReport {
        heads: (hf, ht, head),
        blocks,
        checks: run.checks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_json_rpc::ErrorPayload;

    fn rpc_error(code: i64) -> Answer {
        Err(RpcError::ErrorResp(ErrorPayload {
            code,
            message: "nope".into(),
            data: None,
        }))
    }

    fn transport_error() -> Answer {
        Err(RpcError::Transport(TransportErrorKind::Custom(
            "connection refused for url (http://10.0.0.1:8545/v2/SECRETKEY)".into(),
        )))
    }

    #[test]
    fn a_transport_failure_is_blamed_on_the_side_that_had_it() {
        let Outcome::Failed { side, message } = judge(&rpc_error(-32000), &transport_error())
        else {
            panic!("not a failure");
        };
        assert_eq!(side, Side::To);
        assert!(!message.contains("SECRETKEY"), "{message}");
        let Outcome::Failed { side, .. } = judge(&transport_error(), &rpc_error(-32000)) else {
            panic!("not a failure");
        };
        assert_eq!(side, Side::From);
        let Outcome::Failed { side, .. } = judge(&transport_error(), &transport_error()) else {
            panic!("not a failure");
        };
        assert_eq!(side, Side::From);
        assert_eq!(judge(&rpc_error(3), &rpc_error(3)), Outcome::Match);
    }
}
