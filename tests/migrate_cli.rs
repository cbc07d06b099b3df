//! `amb compare` (issue 15) on two anvil nodes: exit 0 on an identical pair; on a diverging pair
//! exit 1 and the table names the method and the block.

mod support;

#[path = "support/migrate.rs"]
mod migrate_support;

use std::process::Output;

use alloy_amb_testing::{FakeAmb, ACCESS_KEY, REGION, SECRET_KEY};
use migrate_support::{same_pair, Node};

async fn amb_compare(a: &Node, b: &Node, extra: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_amb"));
    cmd.args([
        "compare",
        "--from",
        &a.url(),
        "--from-auth",
        "none",
        "--to",
        &b.url(),
        "--to-auth",
        "none",
    ])
    .args(extra)
    .env_remove("AWS_PROFILE")
    .env("AWS_CONFIG_FILE", "/nonexistent")
    .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    .kill_on_drop(true);
    tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .expect("amb compare hung")
        .unwrap()
}

#[tokio::test]
async fn amb_compare_passes_on_a_pair_and_names_the_block_and_method_of_a_divergence() {
    let Some((a, b)) = same_pair("amb compare", 4).await else {
        return;
    };
    let out = amb_compare(&a, &b, &["--blocks", "50", "--depth", "0", "--seed", "7"]).await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("0 mismatched or failed"), "{stdout}");
    assert!(stderr.contains("compare: ["), "a progress line: {stderr}");

    // Block 5 differs.
    a.transfer(1000).await;
    b.transfer(2000).await;
    let out = amb_compare(&a, &b, &["--blocks", "50", "--depth", "0", "--seed", "7"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("eth_getBlockByNumber") && l.contains("MISMATCH"))
        .unwrap_or_else(|| panic!("no mismatch line: {stdout}"));
    assert_eq!(line.split_whitespace().nth(1), Some("5"), "{line}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("eth_getBalance") && l.contains("MISMATCH")),
        "{stdout}"
    );
    println!("{stdout}");

    // With a depth that pins the head before the divergence, it passes again.
    let out = amb_compare(&a, &b, &["--blocks", "50", "--depth", "1"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn amb_compare_refuses_a_websocket_url_without_echoing_its_secret() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_amb"))
        .args([
            "compare",
            "--from",
            "wss://node.example/?billingtoken=SECRETTOKEN",
            "--to",
            "http://127.0.0.1:1/",
            "--to-auth",
            "none",
        ])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--from") && stderr.contains("WebSocket"),
        "{stderr}"
    );
    assert!(!stderr.contains("SECRETTOKEN"), "{stderr}");
}

/// `amb compare` with its own auth per side: `--from` a SigV4 (or billing-token) gateway in front of
/// node A, `--to` node B unauthenticated.
#[tokio::test]
async fn each_side_has_its_own_auth_and_no_secret_is_printed() {
    let Some((a, b)) = same_pair("amb compare auth", 3).await else {
        return;
    };
    let amb = FakeAmb::start().await;
    amb.set_upstream(&a.url());
    let empty = std::env::temp_dir().join("alloy-amb-cli-no-aws-config");
    let compare = |from: String, extra: Vec<&'static str>| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_amb"));
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k.starts_with("AMB_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_CONFIG_FILE", &empty)
            .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .args([
                "compare",
                "--from",
                &from,
                "--to",
                &b.url(),
                "--to-auth",
                "none",
                "--blocks",
                "4",
                "--depth",
                "0",
            ])
            .args(extra)
            .kill_on_drop(true);
        async move { cmd.output().await.unwrap() }
    };
    let out = compare(
        amb.url(),
        vec!["--from-auth", "sigv4", "--from-region", REGION],
    )
    .await;
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(
        !amb.accepted().is_empty(),
        "the SigV4 side went through the gateway"
    );
    assert!(!all.contains(SECRET_KEY));

    amb.add_billing_token("CompareBillingToken01");
    let before = amb.accepted().len();
    let out = compare(
        format!("{}?billingtoken=CompareBillingToken01", amb.url()),
        vec![],
    )
    .await;
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(amb.accepted().len() > before);
    assert!(!all.contains("CompareBillingToken01"), "{all}");

    // A wrong secret on `--from`: the reads fail on that side, exit 1.
    let out = compare(
        amb.url(),
        vec!["--from-auth", "sigv4", "--from-region", "eu-west-9"],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `amb compare` with AWS credentials in the environment and nothing else set.
fn amb_with_aws_env() -> tokio::process::Command {
    let empty = std::env::temp_dir().join("alloy-amb-cli-no-aws-config");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_amb"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("AMB_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_CONFIG_FILE", &empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_SESSION_TOKEN", "CompareSessionToken0123456789")
        .arg("compare")
        .kill_on_drop(true);
    cmd
}

async fn output(mut cmd: tokio::process::Command) -> (Option<i32>, String) {
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .expect("amb compare hung")
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), all)
}

/// A provider key in the path or the query of an unauthenticated endpoint that cannot be reached:
/// the connection error (reqwest quotes the whole URL) is printed with scheme and host only.
#[tokio::test]
async fn a_provider_key_in_the_url_is_never_printed() {
    for (from, to) in [
        (
            "http://127.0.0.1:1/v2/FROMSECRETKEY",
            "http://127.0.0.1:1/v2/TOSECRETKEY",
        ),
        (
            "http://127.0.0.1:1/?billingtoken=FROMSECRETTOKEN",
            "http://127.0.0.1:1/rpc?billingtoken=TOSECRETTOKEN",
        ),
        (
            "http://127.0.0.1:1/?apikey=FROMSECRETKEY",
            "http://user:TOSECRETPASS@127.0.0.1:1/",
        ),
    ] {
        let mut cmd = amb_with_aws_env();
        cmd.args([
            "--from",
            from,
            "--from-auth",
            "none",
            "--to",
            to,
            "--to-auth",
            "none",
        ]);
        let (code, all) = output(cmd).await;
        assert_eq!(code, Some(1), "{all}");
        assert!(all.contains("127.0.0.1"), "the host is named: {all}");
        for secret in ["SECRETKEY", "SECRETTOKEN", "SECRETPASS"] {
            assert!(!all.contains(secret), "{secret} printed: {all}");
        }
    }
}

/// `auto` (the default) signs only for AWS host names or uses the billing token in the URL; any
/// other host is refused before a request is sent, so AWS credentials never reach a third party
/// because `--to-auth none` was forgotten.
#[tokio::test]
async fn auto_auth_never_sends_aws_credentials_to_a_non_aws_host() {
    let gateway = FakeAmb::start().await;
    for side in ["from", "to"] {
        let mut cmd = amb_with_aws_env();
        let (from, to) = if side == "from" {
            (gateway.url(), "http://127.0.0.1:1/".to_string())
        } else {
            ("http://127.0.0.1:1/".to_string(), gateway.url())
        };
        let other = if side == "from" {
            "--to-auth"
        } else {
            "--from-auth"
        };
        cmd.args(["--from", &from, "--to", &to, other, "none"]);
        let (code, all) = output(cmd).await;
        assert_eq!(code, Some(1), "{all}");
        assert!(
            all.contains(&format!("--{side}-auth sigv4"))
                && all.contains(&format!("--{side}-auth none")),
            "the message names the choice: {all}"
        );
        assert_eq!(gateway.calls(), 0, "nothing was sent to the non-AWS host");
        assert!(!all.contains(SECRET_KEY) && !all.contains("CompareSessionToken"));
    }
}
