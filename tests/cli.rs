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
    assert!(
        check_line(&t, "target").contains("loopback (from the host name)"),
        "{t}"
    );
    assert!(check_line(&t, "payload").starts_with('✓'), "{t}");
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

/// A JSON-RPC provider (wiremock) that answers `eth_chainId` with `0x1`, echoing the id.
async fn provider() -> wiremock::MockServer {
    use wiremock::{matchers::method, Mock, MockServer, Request, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(|req: &Request| {
            let body: serde_json::Value =
                serde_json::from_slice(&req.body).unwrap_or(serde_json::Value::Null);
            ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"jsonrpc": "2.0", "id": body["id"], "result": "0x1"}),
            )
        })
        .mount(&server)
        .await;
    server
}

/// The headers of the last request `server` received.
async fn last_request_headers(server: &wiremock::MockServer) -> Vec<(String, String)> {
    let reqs = server.received_requests().await.unwrap();
    let last = reqs.last().expect("a request reached the provider");
    last.headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect()
}

fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn call_sends_headers_and_bearer_tokens_from_the_environment() {
    let server = provider().await;
    let url = format!("{}/", server.uri());

    // --header with an env: value, --no-auth: only the header, nothing signed.
    let mut cmd = amb_without_aws(&[
        "call",
        "--endpoint",
        &url,
        "--no-auth",
        "--header",
        "x-token: env:CLI_QN_TOKEN",
        "eth_chainId",
    ]);
    cmd.env("CLI_QN_TOKEN", "qn-CLI-SECRET");
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stdout(&out).trim(), "\"0x1\"");
    let headers = last_request_headers(&server).await;
    assert_eq!(header_value(&headers, "x-token"), Some("qn-CLI-SECRET"));
    assert_eq!(header_value(&headers, "authorization"), None);

    // --bearer-env VAR.
    let mut cmd = amb_without_aws(&[
        "call",
        "--endpoint",
        &url,
        "--bearer-env",
        "CLI_JWT",
        "eth_chainId",
    ]);
    cmd.env("CLI_JWT", "jwt-CLI-SECRET");
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out));
    let headers = last_request_headers(&server).await;
    assert_eq!(
        header_value(&headers, "authorization"),
        Some("Bearer jwt-CLI-SECRET")
    );

    // --config-env PREFIX: the whole configuration from PREFIX_* variables.
    let mut cmd = amb_without_aws(&["call", "--config-env", "CLIRPC", "eth_chainId"]);
    cmd.env("CLIRPC_URL", &url)
        .env("CLIRPC_AUTH", "header")
        .env("CLIRPC_HEADERS", "x-api-key: env:CLI_KEY")
        .env("CLI_KEY", "key-CLI-SECRET");
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out));
    let headers = last_request_headers(&server).await;
    assert_eq!(header_value(&headers, "x-api-key"), Some("key-CLI-SECRET"));
}

#[tokio::test]
async fn bad_header_and_bearer_flags_are_named_without_their_values() {
    let server = provider().await;
    let url = format!("{}/", server.uri());
    for (args, env, want) in [
        (vec!["--header", "x-token qn-CLI-SECRET"], None, "--header"),
        (
            vec!["--bearer-env", "CLI_UNSET_VAR"],
            None,
            "CLI_UNSET_VAR is not set",
        ),
        (
            vec!["--no-auth", "--header", "x-token: env:CLI_EMPTY"],
            Some(("CLI_EMPTY", "")),
            "CLI_EMPTY is not set",
        ),
    ] {
        let mut all = vec!["call", "--endpoint", url.as_str()];
        all.extend(args.iter().copied());
        all.push("eth_chainId");
        let mut cmd = amb_without_aws(&all);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = run(cmd).await;
        let t = text(&out);
        assert!(!out.status.success(), "{t}");
        assert!(t.contains(want), "wanted {want}: {t}");
        assert!(!t.contains("qn-CLI-SECRET"), "{t}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn compare_takes_an_endpoint_config_per_side() {
    // The --to side from CMPTO_* variables: a missing URL is named.
    let out = run(amb_without_aws(&[
        "compare",
        "--from",
        "http://127.0.0.1:1/",
        "--from-auth",
        "none",
        "--to-config-env",
        "CMPTO",
    ]))
    .await;
    let t = text(&out);
    assert!(
        !out.status.success() && t.contains("CMPTO_URL is not set"),
        "{t}"
    );
    // A bearer token whose variable is unset: named, before anything is sent.
    let mut cmd = amb_without_aws(&[
        "compare",
        "--from",
        "http://127.0.0.1:1/",
        "--from-auth",
        "none",
        "--to-config-env",
        "CMPTO",
    ]);
    cmd.env("CMPTO_URL", "https://rpc.example.com/")
        .env("CMPTO_AUTH", "bearer")
        .env("CMPTO_TOKEN", "env:CMP_UNSET");
    let out = run(cmd).await;
    let t = text(&out);
    assert!(
        !out.status.success() && t.contains("--to:") && t.contains("CMP_UNSET is not set"),
        "{t}"
    );
    // --to-auth and --to-config-env exclude each other.
    let out = run(amb_without_aws(&[
        "compare",
        "--from",
        "http://127.0.0.1:1/",
        "--to-config-env",
        "CMPTO",
        "--to-auth",
        "none",
    ]))
    .await;
    assert!(!out.status.success(), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_names_the_target_and_checks_its_rules() {
    use alloy_amb_testing::FakeTarget;
    let e = emulator().await;
    e.amb.set_target(FakeTarget::VpcLattice);
    // VPC Lattice (a custom domain: --target): UNSIGNED-PAYLOAD passes; the WebSocket URL is
    // warned about and not tried.
    let (out, t) = doctor(&e, SECRET_KEY, &["--target", "vpc-lattice"]).await;
    assert!(out.status.success(), "{t}");
    let target = check_line(&t, "target");
    assert!(
        target.contains("VPC Lattice (from --target)")
            && target.contains("vpc-lattice-svcs")
            && target.contains("no WebSocket"),
        "{t}"
    );
    assert!(
        check_line(&t, "payload").contains("UNSIGNED-PAYLOAD"),
        "{t}"
    );
    assert!(
        check_line(&t, "http call").contains("signed eth_chainId"),
        "{t}"
    );
    let ws = check_line(&t, "wss upgrade");
    assert!(
        ws.starts_with('!') && ws.contains("does not support WebSockets"),
        "{t}"
    );
    assert!(e.ws.upgrades().is_empty(), "no upgrade was tried");

    // SigV4A with a region: doctor names the region set the signer uses (that region), and the
    // fake's SigV4A verifier accepts the call.
    let (out, t) = doctor(&e, SECRET_KEY, &["--target", "vpc-lattice", "--sigv4a"]).await;
    assert!(out.status.success(), "{t}");
    assert!(
        check_line(&t, "payload").contains(&format!("SigV4A (region set {REGION})")),
        "{t}"
    );
    assert!(
        check_line(&t, "http call").contains("signed eth_chainId"),
        "{t}"
    );

    // A Lambda function URL refuses unsigned payloads: the payload check fails and says so.
    e.amb.set_target(FakeTarget::LambdaUrl);
    let (out, t) = doctor(
        &e,
        SECRET_KEY,
        &["--target", "lambda-url", "--unsigned-payload"],
    )
    .await;
    assert!(!out.status.success(), "{t}");
    let payload = check_line(&t, "payload");
    assert!(
        payload.starts_with('✗') && payload.contains("refuses unsigned payloads"),
        "{t}"
    );
    assert!(t.contains("--unsigned-payload"), "{t}");

    // A service that contradicts the host name is named (a Lattice host name, never reached:
    // the requests go to a closed local proxy port).
    let (out, t) = {
        let mut cmd = amb(
            SECRET_KEY,
            &[
                "doctor",
                "--endpoint",
                "https://svc-1.abc.vpc-lattice-svcs.us-east-1.on.aws/",
                "--service",
                "execute-api",
                "--region",
                "us-east-1",
            ],
        );
        for var in ["NO_PROXY", "no_proxy"] {
            cmd.env_remove(var);
        }
        cmd.env("HTTPS_PROXY", "http://127.0.0.1:1")
            .env("ALL_PROXY", "http://127.0.0.1:1");
        let out = run(cmd).await;
        let t = text(&out);
        (out, t)
    };
    assert!(!out.status.success(), "{t}");
    assert!(
        check_line(&t, "service").contains("--service execute-api but the host is VPC Lattice"),
        "{t}"
    );
}

#[tokio::test]
async fn an_unknown_host_with_no_auth_names_the_cli_choices() {
    // Refused at build: nothing is sent, no AWS credentials go to a host nobody named.
    let out = run(amb(
        SECRET_KEY,
        &[
            "call",
            "--endpoint",
            "https://rpc.example.com/v2/KEY123",
            "eth_chainId",
        ],
    ))
    .await;
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    for flag in [
        "--service execute-api",
        "--bearer-env",
        "--header",
        "--no-auth",
    ] {
        assert!(t.contains(flag), "{flag}: {t}");
    }
    assert!(
        !t.contains("KEY123") && !t.contains(".bearer_token("),
        "{t}"
    );
    // A WebSocket to a Lattice host: refused at build, in the CLI's words.
    let out = run(amb(
        SECRET_KEY,
        &[
            "call",
            "--endpoint",
            "wss://svc-1.abc.vpc-lattice-svcs.us-east-1.on.aws/",
            "eth_chainId",
        ],
    ))
    .await;
    let t = text(&out);
    assert!(
        !out.status.success() && t.contains("VPC Lattice does not support WebSockets"),
        "{t}"
    );
    assert!(t.contains("use an https:// endpoint"), "{t}");
}
