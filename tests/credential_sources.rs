//! Real credential sources from aws-config against fakes on loopback: environment, profiles
//! (files, `source_profile` + `role_arn`, `credential_process`), IMDSv2, STS AssumeRole, and
//! the fake AMB accepting only currently valid issued keys.
//!
//! These tests change the process environment, so they take [`ENV`] one at a time.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy_amb::credentials::{AmbCredentials, AssumeRole, RefreshPolicy};
use alloy_amb::{AmbError, AmbHttp, ProviderBuilderExt};
use alloy_amb_testing::{FakeAmb, REGION};
use alloy_provider::{Provider, ProviderBuilder};
use support::current_key as key;
use support::fake_sources::{FakeImds, FakeSts};
use tokio::sync::Mutex;

static ENV: Mutex<()> = Mutex::const_new(());

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/amb";

/// A clean AWS environment: no keys, no profile, IMDS off, config files in a temp dir.
struct CleanEnv {
    dir: PathBuf,
}

impl CleanEnv {
    fn new(config: &str, credentials: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "alloy-amb-creds-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config"), config).unwrap();
        std::fs::write(dir.join("credentials"), credentials).unwrap();
        for var in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_ROLE_ARN",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_ENDPOINT_URL_STS",
        ] {
            std::env::remove_var(var);
        }
        std::env::set_var("AWS_CONFIG_FILE", dir.join("config"));
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"));
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::set_var("NO_PROXY", "127.0.0.1,localhost");
        Self { dir }
    }
}

impl Drop for CleanEnv {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn transport(fake: &FakeAmb, creds: AmbCredentials) -> AmbHttp {
    AmbHttp::builder(fake.url())
        .region(REGION)
        .credentials(creds)
        .build()
        .unwrap()
}

#[tokio::test]
async fn nothing_found_lists_every_source_and_why() {
    let _env = ENV.lock().await;
    let _clean = CleanEnv::new("", "");
    let err = AmbCredentials::default_chain()
        .credentials()
        .await
        .unwrap_err();
    let text = err.to_string();
    for source in ["environment:", "profile:", "web identity:", "ecs:", "imds:"] {
        assert!(text.contains(source), "{source} missing from: {text}");
    }
    assert!(text.contains("AWS_EC2_METADATA_DISABLED"), "{text}");
    assert!(matches!(err, AmbError::Credentials { .. }));
}

#[tokio::test]
async fn environment_wins_over_profiles_and_named_profiles_work() {
    let _env = ENV.lock().await;
    let _clean = CleanEnv::new(
        "[default]\nregion = us-east-1\n[profile proc]\ncredential_process = printf '%s' '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCESS000000000\", \"SecretAccessKey\": \"procsecret\"}'\n",
        "[default]\naws_access_key_id = AKIDPROFILEDEFAULT00\naws_secret_access_key = d\n[other]\naws_access_key_id = AKIDPROFILEOTHER0000\naws_secret_access_key = o\n",
    );
    assert_eq!(
        key(&AmbCredentials::default_chain()).await,
        "AKIDPROFILEDEFAULT00"
    );
    assert_eq!(
        key(&AmbCredentials::profile("other")).await,
        "AKIDPROFILEOTHER0000"
    );
    assert_eq!(
        key(&AmbCredentials::profile("proc")).await,
        "AKIDPROCESS000000000"
    );
    std::env::set_var("AWS_PROFILE", "other");
    assert_eq!(
        key(&AmbCredentials::default_chain()).await,
        "AKIDPROFILEOTHER0000"
    );

    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDFROMENVIRONMENT0");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "envsecret");
    assert_eq!(
        key(&AmbCredentials::default_chain()).await,
        "AKIDFROMENVIRONMENT0"
    );
    assert_eq!(
        key(&AmbCredentials::from_env()).await,
        "AKIDFROMENVIRONMENT0"
    );
    // A named profile is still that profile.
    assert_eq!(
        key(&AmbCredentials::profile("other")).await,
        "AKIDPROFILEOTHER0000"
    );

    let err = AmbCredentials::profile("nope")
        .credentials()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[tokio::test]
async fn profile_role_chain_assumes_the_role_through_sts() {
    let _env = ENV.lock().await;
    let fake = FakeAmb::start().await;
    let sts = FakeSts::start(fake.registry(), Duration::from_secs(3600)).await;
    let _clean = CleanEnv::new(
        &format!("[profile chained]\nrole_arn = {ROLE_ARN}\nsource_profile = base\nrole_session_name = chained-session\nregion = us-east-1\n"),
        "[base]\naws_access_key_id = AKIDBASEPROFILE00000\naws_secret_access_key = b\n",
    );
    std::env::set_var("AWS_ENDPOINT_URL_STS", sts.url());
    let creds = AmbCredentials::profile("chained");
    let provider = ProviderBuilder::new().on_transport(transport(&fake, creds));
    provider.get_block_number().await.unwrap();
    let issued = sts.issued();
    assert_eq!(issued.len(), 1);
    let received = fake.received();
    assert_eq!(received[0].rejected, None);
    assert!(received[0]
        .header("authorization")
        .unwrap()
        .contains(&issued[0].access_key_id));
    let body = &sts.requests()[0];
    assert!(body.contains("RoleSessionName=chained-session"), "{body}");
}

#[tokio::test]
async fn assume_role_on_any_base_with_session_name_external_id_and_duration() {
    let _env = ENV.lock().await;
    let _clean = CleanEnv::new("", "");
    let fake = FakeAmb::start().await;
    let sts = FakeSts::start(fake.registry(), Duration::from_secs(900)).await;
    let base = AmbCredentials::from_static("AKIDBASE000000000000", "basesecret", None);
    let role = AssumeRole::new(ROLE_ARN)
        .session_name("amb-indexer")
        .external_id("ext-123")
        .duration(Duration::from_secs(900))
        .region(REGION)
        .sts_endpoint(sts.url());
    let creds = AmbCredentials::assume_role(role.clone(), base.clone());
    let provider = ProviderBuilder::new().on_transport(transport(&fake, creds.clone()));
    for _ in 0..5 {
        provider.get_block_number().await.unwrap();
    }
    assert_eq!(creds.fetch_count(), 1);
    assert_eq!(sts.issued().len(), 1);
    assert!(fake.received().iter().all(|r| r.rejected.is_none()));
    let body = &sts.requests()[0];
    for part in [
        "Action=AssumeRole",
        "RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Famb",
        "RoleSessionName=amb-indexer",
        "ExternalId=ext-123",
        "DurationSeconds=900",
    ] {
        assert!(body.contains(part), "{part} not in {body}");
    }

    // STS says no: its own message, no panic, nothing sent to AMB.
    sts.deny(true);
    let denied = AmbCredentials::assume_role(role, base);
    let err = denied.credentials().await.unwrap_err().to_string();
    assert!(
        err.contains("AccessDenied") || err.contains("not authorized"),
        "{err}"
    );
}

#[tokio::test]
async fn imds_unreachable_is_its_own_error() {
    let _env = ENV.lock().await;
    let _clean = CleanEnv::new("", "");
    std::env::remove_var("AWS_EC2_METADATA_DISABLED");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = aws_config::imds::Client::builder()
        .endpoint(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .build();
    let err = AmbCredentials::imds_with_client(client)
        .credentials()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("imds"), "{err}");
    assert!(!err.contains("AWS_EC2_METADATA_DISABLED"), "{err}");
}

#[tokio::test]
async fn forced_refresh_after_the_source_rotated_retries_once() {
    let _env = ENV.lock().await;
    let _clean = CleanEnv::new("", "");
    std::env::remove_var("AWS_EC2_METADATA_DISABLED");
    let fake = FakeAmb::start().await;
    let imds = FakeImds::start(fake.registry(), Duration::from_secs(3600)).await;
    let creds = AmbCredentials::imds_with_client(imds.client());
    let provider = ProviderBuilder::new().on_transport(transport(&fake, creds.clone()));
    provider.get_block_number().await.unwrap();
    // The instance role rotated: AMB now calls the cached key expired.
    fake.registry().expire_key(&imds.issued()[0].access_key_id);
    provider.get_block_number().await.unwrap();
    let received = fake.received();
    assert_eq!(received.len(), 3);
    assert_eq!(received[0].rejected, None);
    assert_eq!(
        received[1].rejected.as_deref(),
        Some(alloy_amb_testing::MSG_EXPIRED_TOKEN)
    );
    assert_eq!(received[2].rejected, None);
    assert_eq!(creds.fetch_count(), 2);
    assert_eq!(imds.issued().len(), 2);
}

#[tokio::test]
async fn imds_credentials_rotate_under_load_with_no_failed_call() {
    let _env = ENV.lock().await;
    let _clean = CleanEnv::new("", "");
    std::env::remove_var("AWS_EC2_METADATA_DISABLED");
    let fake = FakeAmb::start().await;
    // Keys live 4 s; refresh starts 2 s before expiry, callers wait from 1 s before.
    let imds = FakeImds::start(fake.registry(), Duration::from_secs(4)).await;
    let creds = AmbCredentials::imds_with_client(imds.client()).with_refresh_policy(
        RefreshPolicy::new(Duration::from_secs(2), Duration::from_secs(1))
            .with_retry_interval(Duration::from_millis(100)),
    );
    let provider = ProviderBuilder::new().on_transport(transport(&fake, creds.clone()));
    let started = Instant::now();
    let mut calls = 0u64;
    // Run until the key has rotated 4 times (an upper bound of 60 s guards a broken build).
    while imds.issued().len() < 5 && started.elapsed() < Duration::from_secs(60) {
        let round = (0..50).map(|_| provider.get_block_number());
        for r in futures::future::join_all(round).await {
            r.expect("a call failed during rotation");
            calls += 1;
        }
    }
    let issued = imds.issued().len() as u64;
    assert!(issued >= 5, "only {issued} keys issued");
    let rejected: Vec<_> = fake
        .received()
        .into_iter()
        .filter(|r| r.rejected.is_some())
        .collect();
    assert!(rejected.is_empty(), "{rejected:#?}");
    assert_eq!(creds.fetch_count(), issued);
    println!(
        "rotation run: {calls} calls, {issued} credential fetches, 0 failures, {} ms",
        started.elapsed().as_millis()
    );
}

#[tokio::test]
async fn a_clock_20_minutes_fast_still_uses_15_minute_sessions() {
    let _env = ENV.lock().await;
    let _clean = CleanEnv::new("", "");
    let fake = FakeAmb::start().await;
    // AWS (the gateway and STS) is 20 minutes behind this machine.
    fake.set_clock_offset(-20 * 60);
    let sts = FakeSts::start(fake.registry(), Duration::from_secs(3600)).await;
    sts.set_clock_offset(-20 * 60);
    let base = AmbCredentials::from_static("AKIDBASE000000000000", "basesecret", None);
    let role = AssumeRole::new(ROLE_ARN)
        .region(REGION)
        .sts_endpoint(sts.url());

    // An hour-long session to start with: the first request is refused for clock skew, the
    // gateway's Date teaches the skew, the request is signed again and accepted.
    sts.set_lifetime(Duration::from_secs(3600));
    let creds = AmbCredentials::assume_role(role, base);
    let provider = ProviderBuilder::new().on_transport(transport(&fake, creds.clone()));
    provider.get_block_number().await.unwrap();
    // The role now gives 15-minute sessions, and the current one is rotated away: the new
    // session expires 5 minutes ago on this machine's clock, 15 minutes ahead on AWS's.
    sts.set_lifetime(Duration::from_secs(15 * 60));
    fake.registry()
        .expire_key(&sts.issued().last().unwrap().access_key_id);
    for _ in 0..20 {
        provider.get_block_number().await.unwrap();
    }
    assert_eq!(creds.fetch_count(), 2);
    assert_eq!(sts.issued().len(), 2); // the hour, the 15 minutes
}

/// The fake gateway's 403 answers so far.
fn refusals(fake: &FakeAmb) -> Vec<String> {
    fake.received()
        .into_iter()
        .filter_map(|r| r.rejected)
        .collect()
}

#[tokio::test]
async fn cold_start_with_the_clock_20_minutes_fast_and_15_minute_sessions_just_works() {
    let _env = ENV.lock().await;
    let _clean = CleanEnv::new("", "");
    let fake = FakeAmb::start().await;
    // AWS (the gateway and STS) is 20 minutes behind this machine; STS gives 15-minute
    // sessions, which expired 5 minutes ago on this machine's clock.
    fake.set_clock_offset(-20 * 60);
    let sts = FakeSts::start(fake.registry(), Duration::from_secs(15 * 60)).await;
    sts.set_clock_offset(-20 * 60);
    let base = AmbCredentials::from_static("AKIDBASE000000000000", "basesecret", None);
    let role = AssumeRole::new(ROLE_ARN)
        .region(REGION)
        .sts_endpoint(sts.url());
    let creds = AmbCredentials::assume_role(role, base);
    let provider = ProviderBuilder::new().on_transport(transport(&fake, creds.clone()));

    // Nothing answered yet, so no clock learned: the keys are used provisionally, the gateway
    // refuses the signature's time once and its Date teaches its clock, the call is signed
    // again and accepted.
    let (logs, _guard) = support::log_capture::capture();
    provider.get_block_number().await.unwrap();
    let refused = refusals(&fake);
    assert_eq!(refused.len(), 1, "{refused:#?}");
    // This machine is ahead: the gateway finds the signature's time in its future.
    assert!(
        refused[0].starts_with("Signature not yet current"),
        "{refused:#?}"
    );
    let text = logs.text();
    assert!(
        text.contains("clock looks ahead of AWS's by at least 5m")
            && text.contains("learned from its first answer"),
        "{text}"
    );
    // From then on expiry is judged on the gateway's clock: no refetch, no more 403s.
    for _ in 0..50 {
        provider.get_block_number().await.unwrap();
    }
    assert_eq!(refusals(&fake).len(), 1);
    assert!(
        (1..=2).contains(&creds.fetch_count()),
        "{}",
        creds.fetch_count()
    );
    assert_eq!(text.matches("used provisionally").count(), 1, "{text}");
}

#[tokio::test]
async fn a_source_handing_out_stale_keys_is_named_after_the_clock_is_learned_without_looping() {
    let _env = ENV.lock().await;
    let _clean = CleanEnv::new("", "");
    let fake = FakeAmb::start().await;
    // The gateway is 20 minutes behind this machine, STS's keys carry expiries 40 minutes
    // behind: expired 5 minutes ago even on AWS's clock.
    fake.set_clock_offset(-20 * 60);
    let sts = FakeSts::start(fake.registry(), Duration::from_secs(15 * 60)).await;
    sts.set_clock_offset(-40 * 60);
    let base = AmbCredentials::from_static("AKIDBASE000000000000", "basesecret", None);
    let role = AssumeRole::new(ROLE_ARN)
        .region(REGION)
        .sts_endpoint(sts.url());
    let creds = AmbCredentials::assume_role(role, base);
    let provider = ProviderBuilder::new().on_transport(transport(&fake, creds.clone()));

    let err = provider.get_block_number().await.unwrap_err().to_string();
    assert!(
        err.contains("source handed out stale credentials") && err.contains("20m"),
        "{err}"
    );
    // One refusal (the signature's time, which taught the clock), two fetches (the
    // provisional keys, then the same mistake judged on AWS's clock), then the backoff.
    assert_eq!(refusals(&fake).len(), 1, "{:#?}", refusals(&fake));
    assert_eq!(creds.fetch_count(), 2);
    let again = provider.get_block_number().await.unwrap_err();
    let again = format!("{again}");
    assert!(again.contains("stale credentials"), "{again}");
    assert_eq!(creds.fetch_count(), 2);
    assert_eq!(refusals(&fake).len(), 1);
}

#[tokio::test]
async fn cold_start_over_websocket_with_the_clock_20_minutes_fast_learns_from_the_upgrade() {
    let _env = ENV.lock().await;
    let _clean = CleanEnv::new("", "");
    let fake = FakeAmb::start().await;
    let ws = alloy_amb_testing::FakeWs::start(&fake).await;
    fake.set_clock_offset(-20 * 60);
    let sts = FakeSts::start(fake.registry(), Duration::from_secs(15 * 60)).await;
    sts.set_clock_offset(-20 * 60);
    let base = AmbCredentials::from_static("AKIDBASE000000000000", "basesecret", None);
    let role = AssumeRole::new(ROLE_ARN)
        .region(REGION)
        .sts_endpoint(sts.url());
    let creds = AmbCredentials::assume_role(role, base);
    let connect = alloy_amb::AmbWsConnect::builder(ws.url())
        .region(REGION)
        .credentials(creds.clone())
        .build()
        .unwrap();
    // The first upgrade is refused for its time, its Date teaches the gateway's clock, the
    // second is accepted: the WebSocket shares the signer and the cache's clock.
    let provider = ProviderBuilder::new()
        .connect_pubsub_with(connect)
        .await
        .unwrap();
    for _ in 0..50 {
        provider.get_block_number().await.unwrap();
    }
    let refused: Vec<_> = ws
        .upgrades()
        .into_iter()
        .filter_map(|u| u.rejected)
        .collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(ws.upgrades().len(), 2);
    assert!(
        (1..=2).contains(&creds.fetch_count()),
        "{}",
        creds.fetch_count()
    );
}

/// The pids a `credential_process` script wrote, and how many of them are still running.
fn processes(pid_file: &std::path::Path) -> (Vec<u32>, usize) {
    let pids: Vec<u32> = std::fs::read_to_string(pid_file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let alive = pids
        .iter()
        .filter(|pid| {
            // Running or sleeping, not a zombie waiting to be reaped.
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit(") ")
                    .next()
                    .is_some_and(|s| !s.starts_with('Z'))
            })
        })
        .count();
    (pids, alive)
}

#[tokio::test]
async fn a_hung_credential_process_is_started_once_however_many_requests_time_out() {
    let _env = ENV.lock().await;
    let dir = std::env::temp_dir().join(format!("alloy-amb-hung-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = dir.join("pids");
    let _ = std::fs::remove_file(&pid_file);
    let _clean = CleanEnv::new(
        &format!(
            "[profile hung]\ncredential_process = sh -c 'echo $$ >> {}; exec sleep 120'\n",
            pid_file.display()
        ),
        "",
    );
    let fake = FakeAmb::start().await;
    let http = AmbHttp::builder(fake.url())
        .region(REGION)
        .credentials(AmbCredentials::profile("hung"))
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let provider = ProviderBuilder::new().on_transport(http);
    let mut last = String::new();
    for _ in 0..5 {
        last = provider.get_block_number().await.unwrap_err().to_string();
    }
    // The process writes its pid as it starts: wait for the first one (bounded).
    let started = Instant::now();
    while processes(&pid_file).0.is_empty() && started.elapsed() < Duration::from_secs(10) {
        tokio::task::yield_now().await;
    }
    let (pids, alive) = processes(&pid_file);
    println!(
        "hung credential_process, 5 requests timed out: {} started, {alive} alive",
        pids.len()
    );
    for pid in &pids {
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        pids.len(),
        1,
        "the hung process was abandoned and started again"
    );
    assert_eq!(alive, 1);
    assert!(
        last.contains("did not answer within 300ms") && last.contains("not restarted"),
        "{last}"
    );
    assert!(fake.received().is_empty(), "something was sent unsigned");
}

#[tokio::test]
async fn profiles_without_credentials_say_why() {
    let _env = ENV.lock().await;
    let _clean = CleanEnv::new(
        &format!(
            "[profile selfref]\nrole_arn = {ROLE_ARN}\nsource_profile = selfref\nregion = us-east-1\n\
             [profile empty]\nregion = us-east-1\n"
        ),
        "",
    );
    let selfref = AmbCredentials::profile("selfref")
        .credentials()
        .await
        .unwrap_err()
        .to_string();
    let empty = AmbCredentials::profile("empty")
        .credentials()
        .await
        .unwrap_err()
        .to_string();
    std::env::set_var("AWS_PROFILE", "empty");
    let chain = AmbCredentials::default_chain()
        .credentials()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        selfref.contains("`source_profile = selfref`, itself")
            && selfref.contains("no `aws_access_key_id`"),
        "{selfref}"
    );
    assert!(
        empty.contains("profile `empty` has no credentials"),
        "{empty}"
    );
    assert!(
        chain.contains("profile: profile `empty` has no credentials"),
        "{chain}"
    );
    for text in [&selfref, &empty, &chain] {
        assert!(!text.contains("was not enabled"), "{text}");
    }
}

#[tokio::test]
async fn assume_role_over_a_failing_base_says_its_hint_once() {
    let _env = ENV.lock().await;
    let _clean = CleanEnv::new("", "");
    let fake = FakeAmb::start().await;
    let sts = FakeSts::start(fake.registry(), Duration::from_secs(900)).await;
    let base = AmbCredentials::profile("missing");
    let role = AssumeRole::new(ROLE_ARN)
        .region(REGION)
        .sts_endpoint(sts.url());
    let err = AmbCredentials::assume_role(role, base)
        .credentials()
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(err.matches("check AWS_ACCESS_KEY_ID").count(), 1, "{err}");
    assert!(err.contains("profile `missing` is not defined"), "{err}");
    assert!(sts.requests().is_empty());
}
