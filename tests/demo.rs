//! The no-AWS-account demo: `examples/block_number.rs`, unchanged, against the fake AMB gateway,
//! with throwaway keys in the environment (the default AWS credential chain reads them).
//!
//! `cargo test --test demo -- --nocapture` prints what the example prints.

mod support;

#[path = "../examples/block_number.rs"]
mod example;

use alloy_amb_testing::chain::{CHAIN_ID, GENESIS_HEAD};
use alloy_amb_testing::{FakeAmb, ACCESS_KEY, REGION, SECRET_KEY};

#[tokio::test]
async fn block_number_example_runs_against_the_fake_amb() {
    let fake = FakeAmb::start().await;
    let dir = std::env::temp_dir().join(format!("alloy-amb-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config"), "").unwrap();
    std::env::set_var("AWS_CONFIG_FILE", dir.join("config"));
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", dir.join("config"));
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    std::env::remove_var("AWS_SESSION_TOKEN");
    std::env::set_var("AWS_REGION", REGION);
    std::env::set_var("RPC_URL", fake.url());

    let (chain_id, block_number) = example::run().await.expect("example failed");
    println!("chain_id={chain_id}");
    println!("block_number={block_number}");
    assert_eq!((chain_id, block_number), (CHAIN_ID, GENESIS_HEAD));
    let received = fake.received();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|r| r.rejected.is_none()));

    // A wrong secret: the example's error message names the failure.
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "not-the-secret");
    let err = example::run().await.unwrap_err().to_string();
    println!("with a wrong secret: {err}");
    assert!(err.contains("invalid signature"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
