//! The fake AMB gateway itself, driven by requests signed by hand with the test-support SigV4
//! functions (no crate code): it accepts what AWS accepts and refuses what AWS refuses.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use alloy_amb_testing::sigv4;
use alloy_amb_testing::{self as fake_amb, FakeAmb, ACCESS_KEY, REGION, SECRET_KEY, SERVICE};
use alloy_transport_http::reqwest;

struct Hand<'a> {
    akid: &'a str,
    secret: &'a str,
    region: &'a str,
    service: &'a str,
    /// Seconds added to now for X-Amz-Date.
    shift: i64,
    sign_host: bool,
}

impl Default for Hand<'_> {
    fn default() -> Self {
        Self {
            akid: ACCESS_KEY,
            secret: SECRET_KEY,
            region: REGION,
            service: SERVICE,
            shift: 0,
            sign_host: true,
        }
    }
}

impl Hand<'_> {
    /// Signs a POST of `body` to `fake` and returns the headers to send.
    fn sign(&self, fake: &FakeAmb, body: &[u8]) -> Vec<(String, String)> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let amz_date = fake_amb::fmt_amz((now + self.shift) as u64);
        let authority = fake.address().to_string();
        let headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("host".to_owned(), authority),
            ("x-amz-date".to_owned(), amz_date.clone()),
        ];
        let signed: Vec<String> = headers
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| self.sign_host || k != "host")
            .collect();
        let req = sigv4::SigV4Request {
            method: "POST",
            path: "/",
            query: None,
            headers: &headers,
            body,
        };
        let creq = sigv4::canonical_request(&req, &signed, true, false);
        let date = &amz_date[..8];
        let sts = sigv4::string_to_sign(&amz_date, date, self.region, self.service, &creq);
        let key = sigv4::signing_key(self.secret, date, self.region, self.service);
        let sig = sigv4::signature(&key, &sts);
        let mut out = headers;
        out.push((
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{date}/{}/{}/aws4_request, SignedHeaders={}, Signature={sig}",
                self.akid,
                self.region,
                self.service,
                signed.join(";")
            ),
        ));
        out
    }
}

async fn post(fake: &FakeAmb, headers: &[(String, String)], body: &[u8]) -> (u16, String) {
    let mut req = reqwest::Client::new().post(fake.url()).body(body.to_vec());
    for (k, v) in headers {
        if k != "host" {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

fn message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body).unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

const CALL: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;

#[tokio::test]
async fn accepts_a_correct_signature_and_answers_from_the_chain() {
    let fake = FakeAmb::start().await;
    let (status, body) = post(&fake, &Hand::default().sign(&fake, CALL), CALL).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["result"],
        "0x539"
    );
    let r = &fake.received()[0];
    assert_eq!(r.rejected, None);
    assert_eq!(r.body, CALL);
}

#[tokio::test]
async fn refuses_what_aws_refuses() {
    let fake = FakeAmb::start().await;
    let cases: Vec<(Hand, &str)> = vec![
        (
            Hand {
                secret: "wrong",
                ..Hand::default()
            },
            fake_amb::MSG_BAD_SIGNATURE,
        ),
        (
            Hand {
                akid: "AKIDNOBODYKNOWS00000",
                ..Hand::default()
            },
            fake_amb::MSG_UNKNOWN_KEY,
        ),
        (
            Hand {
                region: "eu-west-1",
                ..Hand::default()
            },
            "Credential should be scoped to a valid region",
        ),
        (
            Hand {
                service: "execute-api",
                ..Hand::default()
            },
            "Credential should be scoped to correct service",
        ),
        (
            Hand {
                shift: -301,
                ..Hand::default()
            },
            "Signature expired:",
        ),
        (
            Hand {
                // Not 301: signed in one second and checked in the next, 301 s ahead is
                // only 300 s ahead of the gateway's clock (a flake on a loaded machine).
                shift: 310,
                ..Hand::default()
            },
            "Signature not yet current:",
        ),
        (
            Hand {
                sign_host: false,
                ..Hand::default()
            },
            fake_amb::MSG_UNSIGNED_HOST,
        ),
    ];
    for (hand, expected) in cases {
        let (status, body) = post(&fake, &hand.sign(&fake, CALL), CALL).await;
        assert_eq!(status, 403, "{expected}: {body}");
        assert!(message(&body).starts_with(expected), "{expected}: {body}");
    }
    // Within the 5-minute window is fine.
    for shift in [-290, 290] {
        let hand = Hand {
            shift,
            ..Hand::default()
        };
        assert_eq!(post(&fake, &hand.sign(&fake, CALL), CALL).await.0, 200);
    }
}

#[tokio::test]
async fn refuses_missing_auth_changed_bodies_expired_tokens_and_batches() {
    let fake = FakeAmb::start().await;
    let (status, body) = post(&fake, &[], CALL).await;
    assert_eq!(
        (status, message(&body)),
        (403, fake_amb::MSG_MISSING.into())
    );

    let headers = Hand::default().sign(&fake, CALL);
    let other = br#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[1]}"#;
    let (status, body) = post(&fake, &headers, other).await;
    assert_eq!(status, 403);
    // As AWS answers: the message, then the canonical request the gateway computed (over the
    // body it received) and its string to sign.
    let text = message(&body);
    let (first, rest) = text.split_once("\n\n").expect("more than one paragraph");
    assert_eq!(first, fake_amb::MSG_BAD_SIGNATURE);
    assert!(
        rest.starts_with("The Canonical String for this request should have been\n'POST\n/\n"),
        "{rest}"
    );
    assert!(rest.contains(&sigv4::sha256_hex(other)), "{rest}");
    assert!(
        rest.contains("The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n"),
        "{rest}"
    );

    fake.add_key("ASIATEMP000000000001", "tmpsecret", Some("TOKEN1"));
    let hand = Hand {
        akid: "ASIATEMP000000000001",
        secret: "tmpsecret",
        ..Hand::default()
    };
    // Temporary credentials without their session token are unknown...
    let (status, body) = post(&fake, &hand.sign(&fake, CALL), CALL).await;
    assert_eq!(
        (status, message(&body)),
        (403, fake_amb::MSG_UNKNOWN_KEY.into())
    );
    // ...and once expired, they are expired.
    fake.expire_key("ASIATEMP000000000001");
    let mut headers = hand.sign(&fake, CALL);
    headers.push(("x-amz-security-token".into(), "TOKEN1".into()));
    let (status, body) = post(&fake, &headers, CALL).await;
    assert_eq!(
        (status, message(&body)),
        (403, fake_amb::MSG_EXPIRED_TOKEN.into())
    );

    let batch = format!("[{}]", std::str::from_utf8(CALL).unwrap());
    let (status, body) = post(
        &fake,
        &Hand::default().sign(&fake, batch.as_bytes()),
        batch.as_bytes(),
    )
    .await;
    assert_eq!((status, message(&body)), (400, fake_amb::MSG_BATCH.into()));

    let rejected = fake
        .received()
        .iter()
        .filter(|r| r.rejected.is_some())
        .count();
    assert_eq!(rejected, 5);
}

#[tokio::test]
async fn billing_tokens_replace_signatures() {
    let fake = FakeAmb::start().await;
    fake.add_billing_token("TOKENOK");
    let client = reqwest::Client::new();
    let ok = client
        .post(format!("{}?billingtoken=TOKENOK", fake.url()))
        .body(CALL)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let bad = client
        .post(format!("{}?billingtoken=NOPE", fake.url()))
        .body(CALL)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 403);
}
