//! Fake credential sources on wiremock: EC2 instance metadata (IMDSv2: token PUT with a TTL
//! header, role listing, credentials JSON) and STS AssumeRole (form POST, XML answer). Each issues
//! a new temporary key per fetch, with a controlled lifetime, and registers it with the fake AMB.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use alloy_amb_testing::{fmt_amz, KeyRegistry};

pub const ROLE: &str = "amb-instance-role";
const TOKEN: &str = "fake-imds-session-token";

/// Unix seconds → `2026-11-24T20:34:56Z`.
pub fn iso8601(t: SystemTime) -> String {
    let a = fmt_amz(t.duration_since(UNIX_EPOCH).unwrap().as_secs());
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &a[0..4],
        &a[4..6],
        &a[6..8],
        &a[9..11],
        &a[11..13],
        &a[13..15]
    )
}

/// One key the fake issued.
#[derive(Clone, Debug)]
pub struct Issued {
    pub access_key_id: String,
    pub secret: String,
    pub token: String,
    /// The expiry on the source's clock (as sent).
    pub expires_at: SystemTime,
}

struct State {
    lifetime: Mutex<Duration>,
    /// Seconds added to the real clock: the source's (AWS's) idea of "now", as in
    /// `FakeAmb::set_clock_offset`. The fake AMB judges expiry on the real clock, so it is told
    /// the real-clock expiry.
    clock_offset: Mutex<i64>,
    issued: Mutex<Vec<Issued>>,
    counter: AtomicU64,
    registry: KeyRegistry,
    prefix: &'static str,
}

impl State {
    fn new(registry: KeyRegistry, lifetime: Duration, prefix: &'static str) -> Arc<Self> {
        Arc::new(Self {
            lifetime: Mutex::new(lifetime),
            clock_offset: Mutex::new(0),
            issued: Mutex::new(Vec::new()),
            counter: AtomicU64::new(0),
            registry,
            prefix,
        })
    }

    /// Issues a new key valid for the configured lifetime and registers it with the fake AMB.
    fn issue(&self) -> Issued {
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        // Whole seconds: the wire format has no fractions.
        let now = UNIX_EPOCH
            + Duration::from_secs(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_secs(),
            );
        let real_expiry = now + *self.lifetime.lock().unwrap();
        let issued = Issued {
            access_key_id: format!("{}{n:012}", self.prefix),
            secret: format!("secret-{}-{n}", self.prefix),
            token: format!("token-{}-{n}", self.prefix),
            expires_at: self.shift(real_expiry),
        };
        self.registry.add_temporary_key(
            &issued.access_key_id,
            &issued.secret,
            &issued.token,
            real_expiry,
        );
        self.issued.lock().unwrap().push(issued.clone());
        issued
    }

    /// A real-clock time on the source's clock.
    fn shift(&self, t: SystemTime) -> SystemTime {
        let offset = *self.clock_offset.lock().unwrap();
        if offset >= 0 {
            t + Duration::from_secs(offset as u64)
        } else {
            t - Duration::from_secs(offset.unsigned_abs())
        }
    }
}

pub struct FakeImds {
    pub server: MockServer,
    state: Arc<State>,
}

struct Imds(Arc<State>);

impl Respond for Imds {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let path = req.url.path();
        if req.method.as_str() == "PUT" && path == "/latest/api/token" {
            let Some(ttl) = req.headers.get("x-aws-ec2-metadata-token-ttl-seconds") else {
                return ResponseTemplate::new(400);
            };
            return ResponseTemplate::new(200)
                .insert_header("x-aws-ec2-metadata-token-ttl-seconds", ttl.clone())
                .set_body_string(TOKEN);
        }
        if req
            .headers
            .get("x-aws-ec2-metadata-token")
            .is_none_or(|t| t.as_bytes() != TOKEN.as_bytes())
        {
            return ResponseTemplate::new(401);
        }
        match path {
            "/latest/meta-data/iam/security-credentials/"
            | "/latest/meta-data/iam/security-credentials" => {
                ResponseTemplate::new(200).set_body_string(ROLE)
            }
            p if p == format!("/latest/meta-data/iam/security-credentials/{ROLE}") => {
                let k = self.0.issue();
                ResponseTemplate::new(200).set_body_string(
                    json!({
                        "Code": "Success",
                        "LastUpdated": iso8601(self.0.shift(SystemTime::now())),
                        "Type": "AWS-HMAC",
                        "AccessKeyId": k.access_key_id,
                        "SecretAccessKey": k.secret,
                        "Token": k.token,
                        "Expiration": iso8601(k.expires_at),
                    })
                    .to_string(),
                )
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

impl FakeImds {
    /// A fake IMDS issuing keys that live `lifetime`, registered with `registry`.
    pub async fn start(registry: KeyRegistry, lifetime: Duration) -> Self {
        let state = State::new(registry, lifetime, "ASIAIMDS");
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(Imds(state.clone()))
            .mount(&server)
            .await;
        Self { server, state }
    }

    pub fn url(&self) -> String {
        self.server.uri()
    }

    pub fn issued(&self) -> Vec<Issued> {
        self.state.issued.lock().unwrap().clone()
    }

    pub fn set_lifetime(&self, lifetime: Duration) {
        *self.state.lifetime.lock().unwrap() = lifetime;
    }

    /// Pretends the source's clock is `secs` seconds ahead of the real one (negative: behind).
    pub fn set_clock_offset(&self, secs: i64) {
        *self.state.clock_offset.lock().unwrap() = secs;
    }

    /// An aws-config IMDS client pointed at this fake.
    pub fn client(&self) -> aws_config::imds::Client {
        aws_config::imds::Client::builder()
            .endpoint(self.url())
            .unwrap()
            .build()
    }
}

/// A fake STS answering AssumeRole (form-encoded POST) with XML, issuing keys that live
/// `lifetime`; `deny` makes it answer AccessDenied.
pub struct FakeSts {
    pub server: MockServer,
    state: Arc<State>,
    requests: Arc<Mutex<Vec<String>>>,
    deny: Arc<Mutex<bool>>,
}

struct Sts {
    state: Arc<State>,
    requests: Arc<Mutex<Vec<String>>>,
    deny: Arc<Mutex<bool>>,
}

impl Respond for Sts {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body = String::from_utf8_lossy(&req.body).into_owned();
        let signed = req
            .headers
            .get("authorization")
            .is_some_and(|a| a.to_str().unwrap_or("").starts_with("AWS4-HMAC-SHA256"));
        self.requests.lock().unwrap().push(body.clone());
        if !body.contains("Action=AssumeRole") || !signed {
            return ResponseTemplate::new(400).set_body_string(
                "<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>",
            );
        }
        if *self.deny.lock().unwrap() {
            return ResponseTemplate::new(403)
                .insert_header("content-type", "text/xml")
                .set_body_string(
                    r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/base is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/amb</Message></Error><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>"#,
                );
        }
        let k = self.state.issue();
        ResponseTemplate::new(200)
            .insert_header("content-type", "text/xml")
            .set_body_string(format!(
                r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>{}</AccessKeyId>
      <SecretAccessKey>{}</SecretAccessKey>
      <SessionToken>{}</SessionToken>
      <Expiration>{}</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/amb/session</Arn>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:session</AssumedRoleId>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleResponse>"#,
                k.access_key_id,
                k.secret,
                k.token,
                iso8601(k.expires_at)
            ))
    }
}

impl FakeSts {
    pub async fn start(registry: KeyRegistry, lifetime: Duration) -> Self {
        let state = State::new(registry, lifetime, "ASIASTS0");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let deny = Arc::new(Mutex::new(false));
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(Sts {
                state: state.clone(),
                requests: requests.clone(),
                deny: deny.clone(),
            })
            .mount(&server)
            .await;
        Self {
            server,
            state,
            requests,
            deny,
        }
    }

    pub fn url(&self) -> String {
        self.server.uri()
    }

    pub fn issued(&self) -> Vec<Issued> {
        self.state.issued.lock().unwrap().clone()
    }

    /// The form bodies received.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    pub fn deny(&self, deny: bool) {
        *self.deny.lock().unwrap() = deny;
    }

    pub fn set_lifetime(&self, lifetime: Duration) {
        *self.state.lifetime.lock().unwrap() = lifetime;
    }

    /// Pretends STS's clock is `secs` seconds ahead of the real one (negative: behind).
    pub fn set_clock_offset(&self, secs: i64) {
        *self.state.clock_offset.lock().unwrap() = secs;
    }
}
