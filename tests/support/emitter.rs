//! Logs on a real node: deploys a tiny contract on anvil whose every call emits `LOG1` with the
//! call data's first word as topic, so each call is one block (automine) with one log.

use alloy_primitives::{Address, B256, U256};
use alloy_provider::{Provider, RootProvider};
use serde_json::json;

/// Runtime: `LOG1(0, 0, calldataload(0))`. Init code copies it and returns it.
const INIT_CODE: &str = "0x6009600c60003960096000f360003560006000a100";
/// anvil's first dev account (unlocked).
pub const DEV: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

pub struct Emitter {
    pub http: RootProvider,
    pub address: Address,
}

impl Emitter {
    /// Deploys the contract through plain HTTP to the node.
    pub async fn deploy(node_http_url: &str) -> Self {
        let http = RootProvider::new_http(node_http_url.parse().unwrap());
        let tx: B256 = http
            .raw_request(
                "eth_sendTransaction".into(),
                [json!({"from": DEV, "data": INIT_CODE, "gas": "0x30000"})],
            )
            .await
            .unwrap();
        // anvil mines on send; the receipt can trail the answer by a moment, so ask again
        // (a bounded number of times) rather than wait.
        let mut address = None;
        for _ in 0..1000 {
            let receipt: serde_json::Value = http
                .raw_request("eth_getTransactionReceipt".into(), [tx])
                .await
                .unwrap();
            if let Some(a) = receipt["contractAddress"].as_str() {
                address = Some(a.parse().unwrap());
                break;
            }
            tokio::task::yield_now().await;
        }
        let address = address.expect("the deployment was never mined");
        Self { http, address }
    }

    /// Emits one log with topic `n` (mined in its own block).
    pub async fn emit(&self, n: u64) -> B256 {
        self.http
            .raw_request(
                "eth_sendTransaction".into(),
                [json!({"from": DEV, "to": self.address, "data": B256::from(U256::from(n)), "gas": "0x10000"})],
            )
            .await
            .unwrap()
    }

    pub async fn snapshot(&self) -> U256 {
        self.http
            .raw_request("evm_snapshot".into(), ())
            .await
            .unwrap()
    }

    pub async fn revert(&self, id: U256) {
        let ok: bool = self
            .http
            .raw_request("evm_revert".into(), [id])
            .await
            .unwrap();
        assert!(ok);
    }
}

impl Emitter {
    /// The call that emits topic `n`, as a transaction request.
    fn call(&self, n: u64) -> serde_json::Value {
        json!({"from": DEV, "to": self.address, "data": B256::from(U256::from(n)), "gas": "0x10000"})
    }

    /// Replaces the last `depth` blocks while connections stay up (`anvil_reorg`); the new
    /// blocks carry logs with these `(topic, block offset)` (offset 0 = the first replaced).
    pub async fn reorg(&self, depth: u64, logs: &[(u64, u64)]) {
        let pairs: Vec<serde_json::Value> = logs
            .iter()
            .map(|(n, offset)| json!([self.call(*n), offset]))
            .collect();
        let _: serde_json::Value = self
            .http
            .raw_request("anvil_reorg".into(), (depth, pairs))
            .await
            .unwrap();
    }

    /// Drops the last `depth` blocks (`anvil_rollback`).
    pub async fn rollback(&self, depth: u64) {
        let _: serde_json::Value = self
            .http
            .raw_request("anvil_rollback".into(), [depth])
            .await
            .unwrap();
    }
}

impl Emitter {
    /// Emits topic `n` and waits (bounded) until its block is mined: anvil can answer the
    /// send before the block exists, and a revert issued in between races with the mining.
    /// Returns whether it was mined.
    pub async fn emit_mined(&self, n: u64) -> bool {
        let tx = self.emit(n).await;
        for _ in 0..2_000 {
            let receipt: serde_json::Value = self
                .http
                .raw_request("eth_getTransactionReceipt".into(), [tx])
                .await
                .unwrap();
            if !receipt.is_null() {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        false
    }
}
