//! The `amb` binary against the AMB emulator started here (feature `cli`).
//!
//! Each test starts the emulator on this test's runtime, then runs the binary on a blocking
//! thread so the emulator keeps answering. The binary's environment is cleared of AWS settings
//! and given the emulator's throwaway keys, so nothing here reaches AWS.

mod support;

use std::process::{Command, Output};

use alloy_amb_testing::chain::{CHAIN_ID, GENESIS_HEAD, LOG_ADDRESS};
use alloy_amb_testing::FakeWs;
use alloy_amb_testing::{FakeAmb, ACCESS_KEY, REGION, SECRET_KEY};

/// `amb <args>` with the emulator's keys (or `secret`) in a clean AWS environment.
fn amb(secret: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_amb"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("AMB_") {
            cmd.env_remove(k);
        }
    }
    let empty = std::env::temp_dir().join("alloy-amb-cli-no-aws-config");
    cmd.env("AWS_CONFIG_FILE", &empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .args(args);
    cmd
}

/// Runs the command off the async runtime (the emulator runs on it).
async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("run amb"))
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

struct Emulator {
    amb: FakeAmb,
    ws: FakeWs,
}

async fn emulator() -> Emulator {
    let amb = FakeAmb::start().await;
    let ws = FakeWs::start(&amb).await;
    Emulator { amb, ws }
}

/// `amb doctor` on the emulator with `extra` arguments.
async fn doctor(e: &Emulator, secret: &str, extra: &[&str]) -> (Output, String) {
    let (http, ws) = (e.amb.url(), e.ws.url());
    let mut args = vec!["doctor", "--endpoint", &http, "--ws-endpoint", &ws];
    if !extra.contains(&"--region") {
        args.extend(["--region", REGION]);
    }
    args.extend(extra);
    let out = run(amb(secret, &args)).await;
    let t = text(&out);
    (out, t)
}

/// The output line of check `name`.
fn check_line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.len() > 2 && l[l.char_indices().nth(2).unwrap().0..].starts_with(name))
        .unwrap_or_else(|| panic!("no `{name}` check in:\n{out}"))
}

/// `amb call --endpoint <url> --region REGION <rest>` signed with `secret`.
async fn call(secret: &str, url: &str, rest: &[&str]) -> Output {
    let mut args = vec!["call", "--endpoint", url, "--region", REGION];
    args.extend(rest);
    run(amb(secret, &args)).await
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn call_prints_the_result_over_http_and_ws() {
    let e = emulator().await;
    let out = call(SECRET_KEY, &e.amb.url(), &["eth_chainId"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stdout(&out), format!("\"{CHAIN_ID:#x}\""));

    let raw = ["--raw", "eth_getBlockByNumber", "latest", "false"];
    let out = call(SECRET_KEY, &e.amb.url(), &raw).await;
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["result"]["number"], format!("{GENESIS_HEAD:#x}"));

    let out = call(SECRET_KEY, &e.ws.url(), &["eth_blockNumber"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stdout(&out), format!("\"{GENESIS_HEAD:#x}\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn call_with_a_wrong_secret_fails_with_the_typed_error() {
    let e = emulator().await;
    let out = call("not-the-secret", &e.amb.url(), &["eth_chainId"]).await;
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid signature"), "{}", text(&out));
    assert!(!err.contains("not-the-secret"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_passes_on_a_good_setup() {
    let e = emulator().await;
    let (out, t) = doctor(&e, SECRET_KEY, &["-v"]).await;
    assert!(out.status.success(), "{t}");
    for check in [
        "endpoint",
        "region",
        "credentials",
        "clock",
        "http call",
        "wss upgrade",
    ] {
        assert!(check_line(&t, check).starts_with('✓'), "{check}:\n{t}");
    }
    assert!(check_line(&t, "credentials").contains("AKID…LE01"), "{t}");
    // -v shows the canonical request and string to sign, never the secret or a signature.
    assert!(t.contains("canonical request"), "{t}");
    assert!(t.contains("AWS4-HMAC-SHA256"), "{t}");
    assert!(!t.contains(SECRET_KEY), "{t}");
    assert!(!t.contains("Signature="), "{t}");
    assert!(!t.contains(ACCESS_KEY), "{t}");
    // The headers shown as signed are the ones the transport signed.
    let post = e
        .amb
        .accepted()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert!(
        t.contains(&format!("| {}\n", post.signed_headers.join(";"))),
        "{t}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_names_a_wrong_secret() {
    let e = emulator().await;
    let (out, t) = doctor(&e, "not-the-secret", &[]).await;
    assert!(!out.status.success(), "{t}");
    let line = check_line(&t, "http call");
    assert!(
        line.starts_with('✗') && line.contains("InvalidSignature"),
        "{t}"
    );
    assert!(t.contains("hint: check the AWS secret access key"), "{t}");
    assert!(check_line(&t, "wss upgrade").starts_with('✗'), "{t}");
    assert!(!t.contains("not-the-secret"), "{t}");
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_names_a_wrong_region() {
    let e = emulator().await;
    let (out, t) = doctor(&e, SECRET_KEY, &["--region", "eu-west-1"]).await;
    assert!(!out.status.success(), "{t}");
    let line = check_line(&t, "http call");
    assert!(line.starts_with('✗') && line.contains("eu-west-1"), "{t}");
    assert!(
        t.contains("hint: the signing region is not the node's"),
        "{t}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_names_a_skewed_clock() {
    let e = emulator().await;
    e.amb.set_clock_offset(3600);
    let (out, t) = doctor(&e, SECRET_KEY, &[]).await;
    assert!(!out.status.success(), "{t}");
    let line = check_line(&t, "clock");
    assert!(
        line.starts_with('✗') && line.contains("1h00m behind"),
        "{t}"
    );
    assert!(t.contains("hint: synchronise this machine's clock"), "{t}");
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_names_an_unreachable_endpoint() {
    // A port that was just free: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    let out = run(amb(
        SECRET_KEY,
        &["doctor", "--endpoint", &url, "--region", REGION],
    ))
    .await;
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(check_line(&t, "reachable").starts_with('✗'), "{t}");
    assert!(
        t.contains("hint: check the endpoint URL, DNS and network access"),
        "{t}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribe_exits_after_count_items() {
    let e = emulator().await;
    let ws = e.ws.url();
    let mut cmd = amb(
        SECRET_KEY,
        &[
            "subscribe",
            "logs",
            "--endpoint",
            &ws,
            "--region",
            REGION,
            "--address",
            LOG_ADDRESS,
            "--count",
            "2",
        ],
    );
    cmd.stdout(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Mine once the subscription is served, until the binary has what it needs.
    e.ws.wait_for("the CLI's subscription", |s| s.subscriptions >= 1)
        .await;
    let first = e.ws.mine();
    e.ws.mine();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", text(&out));
    assert_eq!(lines[0]["blockNumber"], format!("{first:#x}"));
}

#[cfg(feature = "demo")]
#[tokio::test(flavor = "multi_thread")]
async fn demo_exits_0() {
    let out = run(amb(SECRET_KEY, &["demo"])).await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for step in [
        "eth_chainId      = 1337",
        "AuthRejected",
        "on the same subscription",
    ] {
        assert!(t.contains(step), "{step}:\n{t}");
    }
}

/// `amb <args>` with no AWS credentials nor region at all.
fn amb_without_aws(args: &[&str]) -> Command {
    let mut cmd = amb("unused", args);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_with_a_billing_token_just_works() {
    let e = emulator().await;
    e.amb.add_billing_token("CliBillingToken0001");
    let http = format!("{}?billingtoken=CliBillingToken0001", e.amb.url());
    let ws = format!("{}?billingtoken=CliBillingToken0001", e.ws.url());
    for url in [&http, &ws] {
        let out = run(amb_without_aws(&["call", "--endpoint", url, "eth_chainId"])).await;
        assert!(out.status.success(), "{url}: {}", text(&out));
        assert_eq!(stdout(&out), format!("\"{CHAIN_ID:#x}\""));
    }
    let out = run(amb_without_aws(&[
        "doctor",
        "--endpoint",
        &http,
        "--ws-endpoint",
        &ws,
    ]))
    .await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for check in ["credentials", "http call", "wss upgrade"] {
        assert!(check_line(&t, check).starts_with('✓'), "{check}:\n{t}");
    }
    assert!(!t.contains("CliBillingToken0001"), "{t}");
    // Nothing was signed: token access only.
    assert!(e
        .amb
        .received()
        .iter()
        .all(|r| r.header("authorization").is_none()));
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_name_the_cli_flags() {
    let e = emulator().await;
    let url = e.amb.url();
    // No region anywhere (not an AMB host, no AWS_REGION, an empty profile).
    let out = run(amb(
        SECRET_KEY,
        &["call", "--endpoint", &url, "eth_chainId"],
    ))
    .await;
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        err.contains("--region") && !err.contains(".region("),
        "{}",
        text(&out)
    );
    // An invalid region.
    let out = run(amb(
        SECRET_KEY,
        &[
            "call",
            "--endpoint",
            &url,
            "--region",
            "us east 1",
            "eth_chainId",
        ],
    ))
    .await;
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        err.contains("--region") && !err.contains(".region("),
        "{}",
        text(&out)
    );
    // A wrong region, in doctor's report.
    let (out, t) = doctor(&e, SECRET_KEY, &["--region", "eu-west-1"]).await;
    assert!(!out.status.success(), "{t}");
    assert!(!t.contains(".region("), "{t}");
    assert!(e
        .amb
        .received()
        .iter()
        .all(|r| r.method != "POST" || r.rejected.is_some()));
}

#[tokio::test(flavor = "multi_thread")]
async fn call_refuses_malformed_json_parameters() {
    let e = emulator().await;
    let url = e.amb.url();
    for bad in [r#"{"to":"#, "[1,", r#""unterminated"#] {
        let out = call(SECRET_KEY, &url, &["eth_call", bad, "latest"]).await;
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{bad}: {}", text(&out));
        assert!(
            err.contains("parameter 1 is not valid JSON"),
            "{bad}: {}",
            text(&out)
        );
    }
    assert!(e.amb.received().is_empty(), "a malformed call was sent");
    // A bare word is still a string, and valid JSON is itself.
    let out = call(
        SECRET_KEY,
        &url,
        &["eth_getBlockByNumber", "latest", "false"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
}

/// A child process that is killed if the test ends (or panics) before it exits.
struct Spawned(std::process::Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines a child prints, as they come.
struct Lines(tokio::sync::mpsc::UnboundedReceiver<String>);

impl Lines {
    fn of(child: &mut Spawned) -> Self {
        use std::io::BufRead;
        let stdout = child.0.stdout.take().expect("stdout piped");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self(rx)
    }

    /// The next line as JSON, within a generous bound.
    async fn next(&mut self, what: &str) -> serde_json::Value {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), self.0.recv())
            .await
            .unwrap_or_else(|_| panic!("`amb` printed no line for {what} within 30 s"))
            .unwrap_or_else(|| panic!("`amb` ended before printing {what}"));
        serde_json::from_str(&line).unwrap()
    }
}

/// `amb subscribe logs --gap-free`: starting from a past block, through a notification the
/// gateway refuses as over its quota and a dropped connection, every log of the range is
/// printed exactly once, in order, as alloy serializes it (with `removed`), each the chain's.
/// (Each step waits for the line before the next block: what the stream must do on its own,
/// nothing else can do for it.)
#[tokio::test(flavor = "multi_thread")]
async fn subscribe_gap_free_prints_every_log_once_through_an_oversized_log_and_a_drop() {
    let e = emulator().await;
    let (ws, http) = (e.ws.url(), e.amb.url());
    let from = GENESIS_HEAD - 2;
    let from_arg = from.to_string();
    let mut cmd = amb(
        SECRET_KEY,
        &[
            "subscribe",
            "logs",
            "--gap-free",
            "--endpoint",
            &ws,
            "--http-endpoint",
            &http,
            "--region",
            REGION,
            "--address",
            LOG_ADDRESS,
            "--from-block",
            &from_arg,
            "--count",
            "7",
        ],
    );
    cmd.stdout(std::process::Stdio::piped());
    let mut child = Spawned(cmd.spawn().unwrap());
    let mut lines = Lines::of(&mut child);
    let mut got = Vec::new();
    // The past blocks first (over HTTP), then a live one.
    for n in from..=GENESIS_HEAD {
        got.push(lines.next(&format!("past block {n}")).await);
    }
    e.ws.wait_for("the CLI's two subscriptions", |s| s.subscriptions >= 2)
        .await;
    let live = e.ws.mine();
    got.push(lines.next(&format!("live block {live}")).await);
    // Its log notification is refused as over the quota: it comes by backfill, over HTTP.
    e.ws.oversize_log_notifications(1);
    let oversized = e.ws.mine();
    got.push(lines.next(&format!("oversized block {oversized}")).await);
    assert_eq!(e.ws.stats().too_large_notifications, 1);
    // A block mined while the connection is down comes after the reconnect.
    e.ws.drop_connections();
    let during = e.ws.mine();
    e.ws.wait_for("the CLI's resubscriptions", |s| s.subscriptions >= 4)
        .await;
    let last = e.ws.mine();
    got.push(lines.next(&format!("block {during}")).await);
    got.push(lines.next(&format!("block {last}")).await);
    let status = tokio::task::spawn_blocking(move || child.0.wait().unwrap());
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), status)
        .await
        .expect("`amb` exits after --count lines")
        .unwrap();
    assert!(status.success(), "{status}");

    let expected: Vec<serde_json::Value> = e
        .amb
        .with_chain(|c| (from..=last).map(|n| c.log(n)).collect());
    let fields = [
        "blockNumber",
        "blockHash",
        "logIndex",
        "transactionHash",
        "data",
        "removed",
    ];
    let pick = |v: &serde_json::Value| {
        fields
            .iter()
            .map(|f| v[f].to_string().to_lowercase())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        got.iter().map(pick).collect::<Vec<_>>(),
        expected.iter().map(pick).collect::<Vec<_>>()
    );
    // The missed logs came over the HTTP endpoint.
    assert!(e
        .amb
        .received()
        .iter()
        .any(|r| String::from_utf8_lossy(&r.body).contains("eth_getLogs")));
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribe_help_names_its_own_variables_and_gap_free_takes_logs_only() {
    let help = run(amb(SECRET_KEY, &["subscribe", "--help"])).await;
    let help_text = stdout(&help);
    assert!(
        help_text.contains("[default: AMB_WS_ENDPOINT]"),
        "{help_text}"
    );
    assert!(!help_text.contains("AMB_HTTP_ENDPOINT"), "{help_text}");
    assert!(help_text.contains("--gap-free"), "{help_text}");

    let heads = run(amb(
        SECRET_KEY,
        &[
            "subscribe",
            "heads",
            "--gap-free",
            "--endpoint",
            "ws://127.0.0.1:1/",
        ],
    ))
    .await;
    assert!(!heads.status.success());
    assert!(
        String::from_utf8_lossy(&heads.stderr).contains("--gap-free applies to `logs` only"),
        "{}",
        text(&heads)
    );
    let loose = run(amb(
        SECRET_KEY,
        &[
            "subscribe",
            "logs",
            "--from-block",
            "1",
            "--endpoint",
            "ws://127.0.0.1:1/",
        ],
    ))
    .await;
    assert!(!loose.status.success());
    assert!(
        String::from_utf8_lossy(&loose.stderr).contains("--gap-free"),
        "{}",
        text(&loose)
    );
}
