//! Leaving AMB without downtime or lost events (issue 15): compare two endpoints at fixed blocks,
//! shadow reads to a second transport, shift a share of traffic at run time, fail over without
//! racing writes. The steps, in order, are in `docs/leaving-amb.md`.
//!
//! - [`compare()`]: reads the same things from two endpoints at pinned blocks and reports what
//!   differs (the library behind `amb compare`).
//! - [`ShadowLayer`]: a tower [`Layer`](tower::Layer) that mirrors a sample of pinned read-only
//!   calls to a secondary transport in the background and compares the answers.
//! - [`Shift`]: a share of calls to the new endpoint on [`tower::steer::Steer`], changeable at
//!   run time (rollback is `set_share(0.0)`), and [`reads_fallback_writes_once`], a composition
//!   with alloy's `FallbackLayer` that sends every write to one endpoint only.
//!
//! ## Compare
//!
//! Compare two endpoints at fixed blocks: the library behind `amb compare`.
//!
//! Reads the same things from both endpoints, every one pinned to a block at or below
//! `head - depth` (the head being the lower of the two endpoints' heads): the chain id; sampled
//! blocks by number and by hash, with and without full transactions; receipts of a sample of
//! their transactions; `eth_getLogs` over a range ending at each sampled block and by block hash;
//! and, at the pinned head, balances, code and storage slot 0 of the sampled transactions'
//! accounts and the block's miner, and `eth_call` replays of the sampled calls. Each read is a
//! [`Check`] whose [`Outcome`] says whether the answers were equal as JSON.
//!
//! ## Shadow
//!
//! The shadow layer: mirror a sample of pinned read-only calls to a secondary transport in the
//! background and compare the answers, without touching the primary's answer.
//!
//! ```no_run
//! # async fn f(amb: alloy_amb::AmbHttp, new: alloy_transport::BoxTransport) {
//! use alloy_amb::migrate::{ShadowConfig, ShadowLayer};
//! use alloy_rpc_client::ClientBuilder;
//!
//! let shadow = ShadowLayer::new(new, ShadowConfig { fraction: 0.1, ..Default::default() });
//! let handle = shadow.handle();
//! let client = ClientBuilder::default().layer(shadow).transport(amb, false);
//! // ... use `client` as before; then:
//! let stats = handle.stats();
//! println!("{} compared, {} mismatched", stats.compared, stats.mismatched);
//! # }
//! ```
//!
//! What is mirrored: calls whose method is on [`READ_ONLY_METHODS`]
//! and whose answer is pinned (cannot change with the head): blocks by number or hash,
//! `eth_call`/`eth_getBalance`/`eth_getCode`/`eth_getStorageAt` at a block number or hash,
//! `eth_getLogs` with numeric `fromBlock`/`toBlock` or a `blockHash`, `eth_chainId`. A batch is
//! mirrored only when every call in it is. Writes and everything else are never mirrored.
//!
//! The primary's answer is returned as it arrives, unchanged; the secondary call starts after it,
//! in a spawned task. At most [`ShadowConfig::max_in_flight`] mirrored calls (each holding one
//! copy of the request and of the primary's answer) exist at once; a sampled call over that bound
//! is dropped and counted in [`ShadowStats::dropped`].
//!
//! ## Shift
//!
//! Traffic shifting and rollback on [`tower::steer::Steer`], and failover that never races a write.
//!
//! [`Shift`] sends a share of calls to the new endpoint and the rest to the old one; the share is
//! changed at run time through [`ShiftHandle::set_share`] (rollback is `set_share(0.0)`). Every
//! call, writes included, goes to exactly one endpoint, picked by the same seeded draw.
//!
//! alloy's `FallbackLayer` (alloy-transport 2.5) sends each call to up to
//! `active_transport_count` transports at once and returns the first answer; only
//! `eth_sendRawTransactionSync`/`eth_sendTransactionSync` are tried one after another by default,
//! and even those move to the next transport after an error. So `eth_sendRawTransaction` through
//! a plain `FallbackLayer` over AMB and a new endpoint reaches both.
//! [`reads_fallback_writes_once`] keeps the fallback for reads and sends every call that is not
//! on [`READ_ONLY_METHODS`] to one writer transport only.

mod compare;
mod shadow;
mod shift;

use serde_json::Value;

pub use compare::{compare, Check, CompareOptions, CompareReport, Outcome, Progress, Side};
pub use shadow::{
    ShadowConfig, ShadowHandle, ShadowLayer, ShadowMismatch, ShadowService, ShadowStats,
};
pub use shift::{
    reads_fallback_writes_once, ReadsFallbackWritesOnce, Shift, ShiftHandle, ShiftStats,
};

/// A message about an endpoint, fit to print or log: every URL in it is cut to its scheme, host
/// and port (a provider key may be in the path, the query or the user info; transports such as
/// reqwest quote the whole URL in their errors), known secret shapes are withheld and the length
/// is capped. `amb compare` prints nothing else.
pub fn printable(text: &str) -> String {
    crate::redact::withhold_unknown(&cut_urls(text))
}

/// Replaces every `scheme://...` in `text` with `scheme://host[:port]`.
fn cut_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
            .map_or(0, |i| i + 1);
        let end = rest[at..]
            .find(|c: char| c.is_whitespace() || "()<>\"'`{},".contains(c))
            .map_or(rest.len(), |i| at + i);
        out.push_str(&rest[..start]);
        let scheme = &rest[start..at];
        match url::Url::parse(&rest[start..end]) {
            Ok(u) if u.host_str().is_some() => {
                out.push_str(&format!(
                    "{}://{}",
                    u.scheme(),
                    u.host_str().unwrap_or_default()
                ));
                if let Some(port) = u.port() {
                    out.push_str(&format!(":{port}"));
                }
            }
            _ => out.push_str(&format!("{scheme}://{}", crate::redact::WITHHELD)),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Methods that never change node state and whose answer does not depend on per-node state such
/// as filters or subscriptions. Anything else (`eth_sendRawTransaction`, `eth_sendTransaction`,
/// `eth_newFilter`, `eth_subscribe`, unknown methods) counts as a write: it is never mirrored and
/// is sent to exactly one endpoint.
pub const READ_ONLY_METHODS: &[&str] = &[
    "eth_chainId",
    "net_version",
    "web3_clientVersion",
    "eth_syncing",
    "eth_blockNumber",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_blobBaseFee",
    "eth_feeHistory",
    "eth_getBlockByNumber",
    "eth_getBlockByHash",
    "eth_getBlockReceipts",
    "eth_getBlockTransactionCountByNumber",
    "eth_getBlockTransactionCountByHash",
    "eth_getTransactionByHash",
    "eth_getTransactionByBlockNumberAndIndex",
    "eth_getTransactionByBlockHashAndIndex",
    "eth_getTransactionReceipt",
    "eth_getTransactionCount",
    "eth_getBalance",
    "eth_getCode",
    "eth_getStorageAt",
    "eth_getProof",
    "eth_call",
    "eth_estimateGas",
    "eth_createAccessList",
    "eth_getLogs",
];

/// Whether `method` is on the read-only allow-list ([`READ_ONLY_METHODS`]).
pub fn is_read_only(method: &str) -> bool {
    READ_ONLY_METHODS.contains(&method)
}

/// Where a call is pinned, when its answer cannot change with the head: `Some(label)` (a block
/// number like `0x1a`, a block hash, or `chain`), `None` when the call is not pinned (tags such as
/// `latest`, a transaction hash lookup, a write).
///
/// `eth_getTransactionReceipt` (and the other lookups by transaction hash) are deliberately not
/// pinned: a receipt is absent on a node that has not reached its block yet and moves with a
/// reorg, so comparing them live reports lag, not disagreement. `amb compare` checks receipts at
/// blocks below the confirmation depth instead.
pub(crate) fn pinned_block(method: &str, params: &Value) -> Option<String> {
    let p = |i: usize| params.get(i);
    match method {
        "eth_chainId" => Some("chain".to_string()),
        "eth_getBlockByNumber" => p(0).and_then(block_number),
        "eth_getBlockByHash" => p(0).and_then(hash),
        "eth_call" | "eth_getBalance" | "eth_getCode" => p(1).and_then(block_id),
        "eth_getStorageAt" => p(2).and_then(block_id),
        "eth_getLogs" => {
            let f = p(0)?;
            if let Some(h) = f.get("blockHash").and_then(hash) {
                return Some(h);
            }
            let from = f.get("fromBlock").and_then(block_number)?;
            let to = f.get("toBlock").and_then(block_number)?;
            Some(if from == to {
                from
            } else {
                format!("{from}..{to}")
            })
        }
        _ => None,
    }
}

/// A hex block number (`0x..`), not a tag.
fn block_number(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    let digits = s.strip_prefix("0x")?;
    (!digits.is_empty() && digits.len() <= 16 && digits.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| s.to_string())
}

/// A 32-byte hex hash.
fn hash(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    let digits = s.strip_prefix("0x")?;
    (digits.len() == 64 && digits.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_string())
}

/// A block parameter (EIP-1898): a hex number, a hash, or `{blockNumber}` / `{blockHash}`.
fn block_id(v: &Value) -> Option<String> {
    block_number(v)
        .or_else(|| hash(v))
        .or_else(|| v.get("blockHash").and_then(hash))
        .or_else(|| v.get("blockNumber").and_then(block_number))
}

/// A deterministic sampler: the `n`-th draw is a pure function of `(seed, n)` (SplitMix64), so a
/// run with the same seed and the same sequence of calls makes the same choices.
#[derive(Debug)]
pub(crate) struct Sampler {
    seed: u64,
    counter: std::sync::atomic::AtomicU64,
}

impl Sampler {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seed,
            counter: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The next draw, uniform in `[0, 1)`.
    pub(crate) fn next_unit(&self) -> f64 {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        unit(splitmix64(
            self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ))
    }
}

pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// The first place two JSON values differ, as `path: left != right`, each side cut short.
pub(crate) fn short_diff(a: &Value, b: &Value) -> Option<String> {
    fn walk(path: &mut String, a: &Value, b: &Value) -> Option<String> {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let len = path.len();
                    path.push('.');
                    path.push_str(k);
                    let r = match (x.get(k), y.get(k)) {
                        (Some(l), Some(r)) => walk(path, l, r),
                        (l, r) => Some(format!(
                            "{path}: {} != {}",
                            l.map_or("(absent)".into(), cut),
                            r.map_or("(absent)".into(), cut)
                        )),
                    };
                    if r.is_some() {
                        return r;
                    }
                    path.truncate(len);
                }
                None
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (l, r)) in x.iter().zip(y).enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    if let Some(d) = walk(path, l, r) {
                        return Some(d);
                    }
                    path.truncate(len);
                }
                None
            }
            (Value::Array(x), Value::Array(y)) => {
                Some(format!("{path}: {} items != {} items", x.len(), y.len()))
            }
            _ if a == b => None,
            _ => Some(format!("{path}: {} != {}", cut(a), cut(b))),
        }
    }
    let mut path = String::from("$");
    walk(&mut path, a, b)
}

/// A JSON value in at most 40 characters.
fn cut(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() <= 40 {
        s
    } else {
        format!("{}…", s.chars().take(39).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn printable_cuts_urls_to_scheme_and_host() {
        let e = "error sending request for url (http://127.0.0.1:1/v2/SECRETKEY?billingtoken=Tok12345678)";
        assert_eq!(
            printable(e),
            "error sending request for url (http://127.0.0.1:1)"
        );
        let e = "x https://user:Passw0rdXY@rpc.example.com/k/SECRETKEY and wss://h.example/ws?k=SECRET2";
        let p = printable(e);
        assert!(!p.contains("SECRET") && !p.contains("Passw0rd"), "{p}");
        assert!(
            p.contains("https://rpc.example.com") && p.contains("wss://h.example"),
            "{p}"
        );
        assert_eq!(printable("no url here"), "no url here");
        assert!(!printable("bad://[::zz/SECRETKEY").contains("SECRETKEY"));
    }

    #[test]
    fn pinned_calls() {
        let h = format!("0x{}", "ab".repeat(32));
        assert_eq!(
            pinned_block("eth_getBlockByNumber", &json!(["0x10", false])).as_deref(),
            Some("0x10")
        );
        assert_eq!(
            pinned_block("eth_getBlockByNumber", &json!(["latest", false])),
            None
        );
        assert_eq!(
            pinned_block("eth_getBlockByHash", &json!([h, true])),
            Some(h.clone())
        );
        assert_eq!(
            pinned_block("eth_getBalance", &json!(["0x01", "latest"])),
            None
        );
        assert!(pinned_block("eth_getBalance", &json!(["0x01", "0x5"])).is_some());
        assert!(pinned_block("eth_call", &json!([{}, {"blockHash": h}])).is_some());
        assert!(pinned_block("eth_getStorageAt", &json!(["0x01", "0x0", "0x5"])).is_some());
        assert_eq!(
            pinned_block("eth_getStorageAt", &json!(["0x01", "0x0", "pending"])),
            None
        );
        assert!(pinned_block(
            "eth_getLogs",
            &json!([{"fromBlock": "0x1", "toBlock": "0x2"}])
        )
        .is_some());
        assert_eq!(
            pinned_block(
                "eth_getLogs",
                &json!([{"fromBlock": "0x1", "toBlock": "latest"}])
            ),
            None
        );
        assert!(pinned_block("eth_getLogs", &json!([{"blockHash": h}])).is_some());
        assert_eq!(pinned_block("eth_getTransactionReceipt", &json!([h])), None);
        assert_eq!(
            pinned_block("eth_sendRawTransaction", &json!(["0x00"])),
            None
        );
        assert!(pinned_block("eth_chainId", &json!([])).is_some());
    }

    #[test]
    fn writes_are_not_read_only() {
        for m in [
            "eth_sendRawTransaction",
            "eth_sendTransaction",
            "eth_sendRawTransactionSync",
            "eth_newFilter",
            "eth_subscribe",
            "anvil_mine",
        ] {
            assert!(!is_read_only(m), "{m}");
        }
    }

    #[test]
    fn diff_names_the_path() {
        let d = short_diff(&json!({"a": {"b": [1, 2]}}), &json!({"a": {"b": [1, 3]}})).unwrap();
        assert_eq!(d, "$.a.b[1]: 2 != 3");
        assert_eq!(short_diff(&json!({"a": 1}), &json!({"a": 1})), None);
    }

    #[test]
    fn sampler_is_deterministic() {
        let a = Sampler::new(7);
        let b = Sampler::new(7);
        let xs: Vec<f64> = (0..100).map(|_| a.next_unit()).collect();
        let ys: Vec<f64> = (0..100).map(|_| b.next_unit()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
    }
}

/// docs/leaving-amb.md's examples, compiled as doc tests so they stay true.
#[cfg(all(doctest, feature = "http"))]
#[doc = include_str!("../../docs/leaving-amb.md")]
pub struct LeavingAmbDoctests;
