//! `migrate::compare` (issue 15) on two anvil nodes: an identical pair passes; a pair that
//! diverges at a planted block is reported at that block, and only from it on.

#[path = "support/migrate.rs"]
mod migrate_support;

use alloy_amb::migrate::{compare, CompareOptions, CompareReport, Outcome};
use migrate_support::{same_pair, Node};
use serde_json::json;

/// Transfers, a log-emitting contract and logs, the same on both nodes (head 7).
async fn pair(test: &str) -> Option<(Node, Node, String)> {
    let (a, b) = same_pair(test, 3).await?;
    let emitter = a.deploy_emitter().await;
    assert_eq!(emitter, b.deploy_emitter().await);
    for topic in 1..=3 {
        a.emit(&emitter, topic).await;
        b.emit(&emitter, topic).await;
    }
    assert_eq!((a.head().await, b.head().await), (7, 7));
    Some((a, b, emitter))
}

async fn run(a: &Node, b: &Node, blocks: usize, depth: u64, seed: u64) -> CompareReport {
    let opts = CompareOptions {
        blocks,
        depth,
        seed,
        ..Default::default()
    };
    let mut steps = 0;
    let report = compare(&a.client(), &b.client(), &opts, |_| steps += 1)
        .await
        .unwrap();
    assert!(steps >= 2, "progress reported");
    report
}

#[tokio::test]
async fn an_identical_pair_matches_on_every_read() {
    let Some((a, b, emitter)) = pair("compare identical").await else {
        return;
    };
    let report = run(&a, &b, 100, 0, 1).await;
    assert!(
        report.is_ok(),
        "{:?}",
        report.failures().collect::<Vec<_>>()
    );
    assert_eq!(report.blocks, (0..=7).collect::<Vec<_>>());
    for m in [
        "eth_chainId",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_getTransactionReceipt",
        "eth_getLogs",
        "eth_getBalance",
        "eth_getCode",
        "eth_getStorageAt",
        "eth_call",
    ] {
        assert!(
            report.checks.iter().any(|c| c.method == m),
            "{m} was not read"
        );
    }
    assert!(
        report
            .checks
            .iter()
            .any(|c| c.method == "eth_getCode" && c.what == emitter),
        "the contract's code"
    );
    // The seed picks the blocks, repeatably.
    let x = run(&a, &b, 3, 0, 5).await.blocks;
    assert_eq!(x, run(&a, &b, 3, 0, 5).await.blocks);
    assert_eq!(x.len(), 3);
    assert!(x.contains(&7), "the pinned head is always read");
}

#[tokio::test]
async fn a_diverging_pair_is_named_at_the_planted_block() {
    let Some((a, b, emitter)) = pair("compare diverging").await else {
        return;
    };
    // Block 8: another log on `b`. Then two more blocks on each.
    a.emit(&emitter, 100).await;
    b.emit(&emitter, 200).await;
    for n in [&a, &b] {
        n.rpc("anvil_mine", json!(["0x2"])).await;
    }
    let report = run(&a, &b, 100, 0, 1).await;
    assert!(!report.is_ok());
    let failed: Vec<_> = report.failures().collect();
    assert!(
        failed
            .iter()
            .all(|c| matches!(c.outcome, Outcome::Mismatch(_))),
        "{failed:?}"
    );
    let first_block = failed
        .iter()
        .filter(|c| c.method == "eth_getBlockByNumber")
        .map(|c| c.block.parse::<u64>().unwrap())
        .min();
    assert_eq!(first_block, Some(8), "{failed:?}");
    for (m, block) in [
        ("eth_getBlockByNumber", "8"),
        ("eth_getTransactionReceipt", "8"),
        ("eth_getLogs", "8"),
        ("eth_getLogs", "1..8"),
    ] {
        assert!(
            failed.iter().any(|c| c.method == m && c.block == block),
            "{m} at {block} not reported: {failed:?}"
        );
    }
    // Nothing before the divergence is reported.
    assert!(
        !failed
            .iter()
            .any(|c| c.block.parse::<u64>().is_ok_and(|b| b < 8)),
        "{failed:?}"
    );
    // At a depth that pins the head below block 8, the pair matches.
    let deep = run(&a, &b, 100, 3, 1).await;
    assert_eq!(deep.heads, (10, 10, 7));
    assert!(deep.is_ok(), "{:?}", deep.failures().collect::<Vec<_>>());
}

#[tokio::test]
async fn a_reorg_on_one_side_is_named_at_its_first_replaced_block() {
    let Some((a, b, _)) = pair("compare reorg").await else {
        return;
    };
    // `b` replaces its last two blocks (6 and 7) with blocks without their transactions.
    b.rpc("anvil_reorg", json!([2, []])).await;
    let report = run(&a, &b, 100, 0, 1).await;
    let failed: Vec<_> = report.failures().collect();
    let blocks: std::collections::BTreeSet<u64> = failed
        .iter()
        .filter(|c| c.method == "eth_getBlockByNumber")
        .map(|c| c.block.parse().unwrap())
        .collect();
    assert_eq!(blocks.into_iter().collect::<Vec<_>>(), [6, 7], "{failed:?}");
    assert!(
        run(&a, &b, 100, 2, 1).await.is_ok(),
        "below the reorg the pair matches"
    );
}

/// Two nodes whose head is `u64::MAX` (a broken or hostile node): the sample is drawn without
/// overflowing, and the run ends.
#[tokio::test]
async fn a_head_of_u64_max_does_not_overflow() {
    use alloy_rpc_client::ClientBuilder;
    use migrate_support::{Fake, Mode};
    use serde_json::Value;
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let node = |name| {
        let fake = Fake::new(name, &log, Mode::Now).answering(|m, _| match m {
            "eth_blockNumber" => json!("0xffffffffffffffff"),
            "eth_chainId" => json!("0x1"),
            _ => Value::Null,
        });
        ClientBuilder::default().transport(fake, true)
    };
    let opts = CompareOptions {
        blocks: 3,
        depth: 0,
        ..Default::default()
    };
    let report = compare(&node("a"), &node("b"), &opts, |_| {})
        .await
        .unwrap();
    assert_eq!(report.heads.2, u64::MAX);
    assert_eq!(report.blocks.len(), 3);
    assert!(report.is_ok(), "{:?}", report.checks);
}
