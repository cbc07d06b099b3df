//! A small deterministic chain that answers single JSON-RPC calls.
//!
//! Block `n` has hash `0x…b10c<n>` and exactly one log: address [`LOG_ADDRESS`], topics
//! `[TOPIC0, n]`, data `n`. The head starts at [`GENESIS_HEAD`] and moves with [`Chain::mine`].

use serde_json::{json, Value};

/// The chain id (`eth_chainId`) the deterministic chain answers.
pub const CHAIN_ID: u64 = 1337;
/// The head block number before anything is mined.
pub const GENESIS_HEAD: u64 = 100;
/// The contract address every block's log comes from.
pub const LOG_ADDRESS: &str = "0x00000000000000000000000000000000000a4b00";
/// The first topic of every log (an ERC-20 `Transfer`).
pub const TOPIC0: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
/// What `eth_call` answers.
pub const CALL_RESULT: &str = "0x000000000000000000000000000000000000000000000000000000000000002a";

#[derive(Debug)]
/// A deterministic chain: blocks, hashes and one log per block derive from the block number
/// (and the reorg count), so tests can predict every answer.
pub struct Chain {
    /// The latest block number.
    pub head: u64,
    /// Reorgs: from this block on, hashes (and log data) carry this salt.
    forks: Vec<(u64, u64)>,
}

impl Default for Chain {
    fn default() -> Self {
        Self {
            head: GENESIS_HEAD,
            forks: Vec::new(),
        }
    }
}

/// `n` as a JSON-RPC quantity (`0x`-prefixed, no leading zeros).
pub fn hex_u64(n: u64) -> String {
    format!("0x{n:x}")
}

/// `n` as a 32-byte `0x`-prefixed word.
pub(crate) fn word(n: u64) -> String {
    format!("0x{n:064x}")
}

/// The hash of block `n` before any reorg.
pub fn block_hash(n: u64) -> String {
    format!("0x{:064x}", 0xb10c_0000_0000u64 + n)
}

impl Chain {
    /// Mines one block; returns the new head.
    pub fn mine(&mut self) -> u64 {
        self.head += 1;
        self.head
    }

    /// Replaces the last `depth` blocks with others at the same heights (new hashes, new log
    /// data): a reorg. The head's height stays.
    pub fn reorg(&mut self, depth: u64) {
        let salt = self.forks.len() as u64 + 1;
        self.forks.push((self.head + 1 - depth, salt));
    }

    fn salt(&self, n: u64) -> u64 {
        self.forks
            .iter()
            .rev()
            .find(|(from, _)| *from <= n)
            .map_or(0, |(_, salt)| *salt)
    }

    /// The hash of block `n` on the current chain.
    pub fn hash(&self, n: u64) -> String {
        format!("0x{:064x}", 0xb10c_0000_0000u64 + n + (self.salt(n) << 40))
    }

    /// Block `n` as JSON (header fields, no transactions).
    pub fn block(&self, n: u64) -> Value {
        let mut b = block(n);
        b["hash"] = json!(self.hash(n));
        if n > 0 {
            b["parentHash"] = json!(self.hash(n - 1));
        }
        b
    }

    /// The one log of block `n` on the current chain.
    pub fn log(&self, n: u64) -> Value {
        let salt = self.salt(n);
        let mut l = log(n);
        l["blockHash"] = json!(self.hash(n));
        l["data"] = json!(word(n + (salt << 40)));
        l["transactionHash"] = json!(format!("0x{:064x}", 0x7a00_0000_0000u64 + n + (salt << 40)));
        l
    }

    /// Answers one JSON-RPC request object.
    pub fn answer(&self, req: &Value) -> Value {
        let id = req.get("id").cloned().unwrap_or(Value::Null);
        let method = req.get("method").and_then(Value::as_str).unwrap_or("");
        let params = req.get("params").cloned().unwrap_or(Value::Null);
        match self.result(method, &params) {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err((code, message)) => {
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
            }
        }
    }

    fn result(&self, method: &str, params: &Value) -> Result<Value, (i64, String)> {
        match method {
            "eth_chainId" => Ok(json!(hex_u64(CHAIN_ID))),
            "net_version" => Ok(json!(CHAIN_ID.to_string())),
            "eth_blockNumber" => Ok(json!(hex_u64(self.head))),
            "eth_gasPrice" => Ok(json!(hex_u64(1_000_000_000))),
            "eth_getBalance" => Ok(json!("0x56bc75e2d63100000")),
            "eth_call" => Ok(json!(CALL_RESULT)),
            "eth_getBlockByNumber" => {
                let n = self.block_param(&params[0])?;
                Ok(if n > self.head {
                    Value::Null
                } else {
                    self.block(n)
                })
            }
            "eth_getLogs" => self.logs(&params[0]).map(Value::Array),
            "web3_clientVersion" => Ok(json!("fake-amb/1.0")),
            _ => Err((
                -32601,
                format!("the method {method} does not exist/is not available"),
            )),
        }
    }

    fn block_param(&self, v: &Value) -> Result<u64, (i64, String)> {
        match v.as_str() {
            None | Some("latest") | Some("safe") | Some("finalized") | Some("pending") => {
                Ok(self.head)
            }
            Some("earliest") => Ok(0),
            Some(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16)
                .map_err(|_| (-32602, format!("invalid block number {s}"))),
        }
    }

    fn logs(&self, filter: &Value) -> Result<Vec<Value>, (i64, String)> {
        let from = self.block_param(&filter["fromBlock"])?;
        let to = self.block_param(&filter["toBlock"])?.min(self.head);
        let address_ok = match &filter["address"] {
            Value::Null => true,
            Value::String(a) => a.eq_ignore_ascii_case(LOG_ADDRESS),
            Value::Array(a) => a.iter().any(|x| {
                x.as_str()
                    .is_some_and(|x| x.eq_ignore_ascii_case(LOG_ADDRESS))
            }),
            _ => false,
        };
        let topic_ok = match filter["topics"].get(0) {
            None | Some(Value::Null) => true,
            Some(Value::String(t)) => t.eq_ignore_ascii_case(TOPIC0),
            Some(Value::Array(ts)) => ts
                .iter()
                .any(|t| t.as_str().is_some_and(|t| t.eq_ignore_ascii_case(TOPIC0))),
            _ => false,
        };
        if !(address_ok && topic_ok) || from > to {
            return Ok(Vec::new());
        }
        Ok((from..=to).map(|n| self.log(n)).collect())
    }
}

/// The log of block `n` before any reorg.
pub fn log(n: u64) -> Value {
    json!({
        "address": LOG_ADDRESS,
        "topics": [TOPIC0, word(n)],
        "data": word(n),
        "blockNumber": hex_u64(n),
        "blockHash": block_hash(n),
        "transactionHash": format!("0x{:064x}", 0x7a00_0000_0000u64 + n),
        "transactionIndex": "0x0",
        "logIndex": "0x0",
        "removed": false
    })
}

/// Block `n` before any reorg, as `eth_getBlockByNumber` answers it.
pub fn block(n: u64) -> Value {
    let zero32 = format!("0x{}", "0".repeat(64));
    json!({
        "hash": block_hash(n),
        "parentHash": if n == 0 { zero32.clone() } else { block_hash(n - 1) },
        "sha3Uncles": "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",
        "miner": "0x0000000000000000000000000000000000000000",
        "stateRoot": zero32,
        "transactionsRoot": "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
        "receiptsRoot": "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
        "logsBloom": format!("0x{}", "0".repeat(512)),
        "difficulty": "0x0",
        "number": hex_u64(n),
        "gasLimit": hex_u64(30_000_000),
        "gasUsed": "0x0",
        "timestamp": hex_u64(1_700_000_000 + 12 * n),
        "extraData": "0x",
        "mixHash": format!("0x{}", "0".repeat(64)),
        "nonce": "0x0000000000000000",
        "baseFeePerGas": "0x7",
        "size": "0x220",
        "uncles": [],
        "transactions": []
    })
}
