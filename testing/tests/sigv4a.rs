//! SigV4A: the independent verifier (`sigv4`, with `p256` for the curve and ECDSA only) against
//! 1. AWS's SigV4A test vectors (the CRT suite that aws-sigv4 ships in its crate,
//!    `aws-signing-test-suite/v4a`, read from the cargo registry or `$SIGV4A_TEST_SUITE`): the
//!    key derived from each secret is the published public key, the canonical request and string
//!    to sign are the published ones, and the published signatures verify (and fail tampered);
//! 2. aws-sigv4's own SigV4A signer (differential): what it signs verifies, and fails with a
//!    wrong secret, a changed body, path or region set;
//! 3. the fake gateways: SigV4A is taken where the target takes it (VPC Lattice, API Gateway)
//!    and refused elsewhere (AMB, Lambda function URLs).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy_amb_testing::sigv4::{self, SigV4Request, SignParams};
use alloy_amb_testing::*;
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// 1. AWS's vectors

/// The v4a suite: `$SIGV4A_TEST_SUITE`, else the newest aws-sigv4 in the cargo registry (it is a
/// dev-dependency of this crate, so a build has fetched it).
fn suite_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("SIGV4A_TEST_SUITE") {
        return PathBuf::from(dir);
    }
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"));
    let mut found: Vec<PathBuf> = std::fs::read_dir(cargo_home.join("registry/src"))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|index| {
            std::fs::read_dir(index.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|krate| krate.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("aws-sigv4-1."))
        })
        .map(|p| p.join("aws-signing-test-suite/v4a"))
        .filter(|p| p.is_dir())
        .collect();
    found.sort();
    found.pop().expect(
        "AWS's SigV4A vectors: no aws-sigv4-1.*/aws-signing-test-suite/v4a in the cargo registry; \
         run `cargo fetch` or set SIGV4A_TEST_SUITE",
    )
}

struct Raw {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn as_sigv4(&self) -> SigV4Request<'_> {
        SigV4Request {
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// A request file: `METHOD PATH HTTP/1.1`, `Name:value` lines (a line starting with
/// whitespace continues the previous value), a blank line, the body.
fn parse_request(text: &str) -> Raw {
    let (head, body) = match text.find("\n\n") {
        Some(i) => (&text[..i], &text[i + 2..]),
        None => (text, ""),
    };
    let mut lines = head.lines();
    let first = lines.next().unwrap();
    let method = first.split(' ').next().unwrap().to_owned();
    let target = first[method.len() + 1..first.rfind(' ').unwrap()].to_owned();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target, None),
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let last = headers.last_mut().unwrap();
            last.1.push('\n');
            last.1.push_str(line);
        } else {
            let (k, v) = line.split_once(':').unwrap();
            headers.push((k.to_owned(), v.to_owned()));
        }
    }
    Raw {
        method,
        path,
        query,
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{dir:?}/{file}: {e}"))
}

/// The uncompressed point's coordinates, lowercase hex.
fn coordinates(key: &p256::ecdsa::VerifyingKey) -> (String, String) {
    let sec1 = key.to_sec1_bytes();
    assert_eq!(sec1.len(), 65, "uncompressed SEC1 point");
    (hex::encode(&sec1[1..33]), hex::encode(&sec1[33..]))
}

/// Checks one case: key, steps, and both published signatures (header and query forms).
fn check_case(dir: &Path) -> Result<(), String> {
    let ctx: Value = serde_json::from_str(&read(dir, "context.json")).unwrap();
    let akid = ctx["credentials"]["access_key_id"].as_str().unwrap();
    let secret = ctx["credentials"]["secret_access_key"].as_str().unwrap();
    let normalize = ctx["normalize"].as_bool().unwrap();

    let key = sigv4::sigv4a_verifying_key(akid, secret);
    let public: Value = serde_json::from_str(&read(dir, "public-key.json")).unwrap();
    let (x, y) = coordinates(&key);
    if x != public["X"].as_str().unwrap().to_lowercase()
        || y != public["Y"].as_str().unwrap().to_lowercase()
    {
        return Err(format!("derived public key ({x}, {y}) is not {public}"));
    }

    // The token is added after signing in these cases (as some services want): the query's
    // `X-Amz-Security-Token` is not part of what was signed.
    let omit_token = ctx["omit_session_token"].as_bool().unwrap_or(false);
    for form in ["header", "query"] {
        let mut signed = parse_request(&read(dir, &format!("{form}-signed-request.txt")));
        if omit_token {
            if let Some(q) = &signed.query {
                let kept: Vec<&str> = q
                    .split('&')
                    .filter(|p| !p.starts_with("X-Amz-Security-Token="))
                    .collect();
                signed.query = Some(kept.join("&"));
            }
        }
        let req = signed.as_sigv4();
        let auth = sigv4::parse_auth(&req).map_err(|e| format!("{form}: parse_auth: {e:?}"))?;
        if !auth.sigv4a || auth.presigned != (form == "query") {
            return Err(format!("{form}: parsed as {auth:?}"));
        }
        let creq = sigv4::canonical_request(&req, &auth.signed_headers, normalize, auth.presigned);
        let want = read(dir, &format!("{form}-canonical-request.txt"));
        if creq != want {
            return Err(format!("{form}: canonical request\n{creq}\nis not\n{want}"));
        }
        let sts = sigv4::string_to_sign_for(&auth, &creq);
        let want = read(dir, &format!("{form}-string-to-sign.txt"));
        if sts != want {
            return Err(format!("{form}: string to sign\n{sts}\nis not\n{want}"));
        }
        let published = read(dir, &format!("{form}-signature.txt"));
        sigv4::verify_sigv4a_signature(&key, &sts, published.trim())
            .map_err(|e| format!("{form}: published signature: {e}"))?;
        sigv4::verify(&req, &auth, secret, normalize)
            .map_err(|e| format!("{form}: signed request: {e}"))?;
        // Tampered: another secret, another string to sign, another path.
        if sigv4::verify(&req, &auth, "another secret", normalize).is_ok() {
            return Err(format!("{form}: verified with another secret"));
        }
        if sigv4::verify_sigv4a_signature(&key, &format!("{sts}0"), published.trim()).is_ok() {
            return Err(format!("{form}: verified another string to sign"));
        }
        let moved = format!("{}x", signed.path.trim_end_matches('/'));
        let tampered = SigV4Request {
            path: &moved,
            ..req
        };
        if sigv4::verify(&tampered, &auth, secret, normalize).is_ok() {
            return Err(format!("{form}: verified with path {moved:?}"));
        }
    }
    Ok(())
}

#[test]
fn aws_sigv4a_vectors() {
    let dir = suite_dir();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("context.json").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "only {} cases in {dir:?}", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            check_case(c)
                .err()
                .map(|e| format!("{}: {e}", c.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} SigV4A cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Differential: aws-sigv4 signs, the verifier checks

const AKID: &str = "AKIDDIFFERENTIAL01";
const SECRET: &str = "differentialSECRETkey0123456789abcdefXYZ";
const BODY: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;

/// Headers aws-sigv4 signs for a POST to `url` (host `host`) with SigV4A for `region_set`,
/// plus the `host` header; `unsigned`: `UNSIGNED-PAYLOAD` in a signed `x-amz-content-sha256`.
fn aws_sigv4a(
    host: &str,
    url: &str,
    service: &str,
    region_set: &str,
    time: SystemTime,
    secret: &str,
    unsigned: bool,
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{
        sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
    };
    let identity = aws_credential_types::Credentials::new(AKID, secret, None, None, "test").into();
    let mut settings = SigningSettings::default();
    if unsigned {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = aws_sigv4::sign::v4a::SigningParams::builder()
        .identity(&identity)
        .region_set(region_set)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let body = if unsigned {
        SignableBody::UnsignedPayload
    } else {
        SignableBody::Bytes(BODY)
    };
    let headers = [("host", host), ("content-type", "application/json")];
    let signable = SignableRequest::new("POST", url, headers.into_iter(), body).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let (added, _) = instructions.into_parts();
    headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(
            added
                .into_iter()
                .map(|h| (h.name().to_owned(), h.value().to_owned())),
        )
        .collect()
}

fn check(
    headers: &[(String, String)],
    path: &str,
    body: &[u8],
    secret: &str,
) -> Result<(), String> {
    let req = SigV4Request {
        method: "POST",
        path,
        query: None,
        headers,
        body,
    };
    let auth = sigv4::parse_auth(&req).map_err(|e| format!("{e:?}"))?;
    assert!(auth.sigv4a, "{auth:?}");
    sigv4::verify(&req, &auth, secret, true)
}

#[test]
fn aws_sigv4_sigv4a_output_verifies_and_tampering_fails() {
    let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    let url = "https://svc.example/rpc";
    for (set, unsigned) in [("*", false), ("us-east-1,us-west-2", false), ("*", true)] {
        let h = aws_sigv4a(
            "svc.example",
            url,
            "vpc-lattice-svcs",
            set,
            time,
            SECRET,
            unsigned,
        );
        let case = format!("region set {set}, unsigned payload {unsigned}");
        assert_eq!(check(&h, "/rpc", BODY, SECRET), Ok(()), "{case}");
        assert!(check(&h, "/rpc", BODY, "another secret").is_err(), "{case}");
        assert!(check(&h, "/other", BODY, SECRET).is_err(), "{case}");
        // The body is covered unless the payload is unsigned.
        assert_eq!(
            check(&h, "/rpc", b"{}", SECRET).is_ok(),
            unsigned,
            "{case}: another body"
        );
        // The region set is signed.
        let mut moved = h.clone();
        for (k, v) in &mut moved {
            if k.eq_ignore_ascii_case("x-amz-region-set") {
                *v = "eu-west-1".into();
            }
        }
        assert!(check(&moved, "/rpc", BODY, SECRET).is_err(), "{case}");
    }
}

/// The crate's own SigV4A signer (`sigv4::sign` with a region set) and aws-sigv4 agree on the
/// string to sign, so both verify under the same derived key.
#[test]
fn own_signer_and_aws_sigv4_sign_the_same_string() {
    let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    let theirs = aws_sigv4a(
        "svc.example",
        "https://svc.example/",
        "execute-api",
        "*",
        time,
        SECRET,
        false,
    );
    let mut ours = vec![
        ("host".to_owned(), "svc.example".to_owned()),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    let params = SignParams {
        access_key: AKID,
        secret: SECRET,
        session_token: None,
        region: "unused",
        service: "execute-api",
        amz_date: fmt_amz(1_440_938_160),
        region_set: Some("*"),
    };
    sigv4::sign(&params, "POST", "/", None, &mut ours, BODY, &[]);
    assert_eq!(check(&ours, "/", BODY, SECRET), Ok(()));
    let sts = |h: &[(String, String)]| {
        let req = SigV4Request {
            method: "POST",
            path: "/",
            query: None,
            headers: h,
            body: BODY,
        };
        let auth = sigv4::parse_auth(&req).unwrap();
        let creq = sigv4::canonical_request(&req, &auth.signed_headers, true, false);
        sigv4::string_to_sign_for(&auth, &creq)
    };
    assert_eq!(sts(&ours), sts(&theirs));
}

// ---------------------------------------------------------------------------------------------
// 3. The fakes: SigV4A where the target takes it

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// POSTs `BODY` signed with the crate's SigV4A signer; status and message.
async fn post_v4a(
    amb: &FakeAmb,
    service: &str,
    set: &str,
    path: &str,
    unsigned: bool,
) -> (u16, String) {
    let addr = amb.address();
    let mut headers = vec![("host".to_owned(), addr.to_string())];
    if unsigned {
        headers.push(("x-amz-content-sha256".into(), UNSIGNED_PAYLOAD.into()));
    }
    let params = SignParams {
        access_key: ACCESS_KEY,
        secret: SECRET_KEY,
        session_token: None,
        region: REGION,
        service,
        amz_date: fmt_amz(now()),
        region_set: Some(set),
    };
    sigv4::sign(&params, "POST", path, None, &mut headers, BODY, &[]);
    let url = format!("http://{addr}{path}");
    tokio::task::spawn_blocking(move || {
        let mut req = ureq_post(&url);
        for (k, v) in &headers {
            if k != "host" {
                req = req.header(k, v);
            }
        }
        match req.send(BODY) {
            Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_string().unwrap()),
            Err(ureq::Error::StatusCode(code)) => (code, String::new()),
            Err(e) => panic!("{e}"),
        }
    })
    .await
    .unwrap()
}

fn ureq_post(url: &str) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .post(url)
}

fn message(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn lattice_and_api_gateway_take_sigv4a_amb_and_lambda_refuse_it() {
    let amb = FakeAmb::start().await;
    amb.set_target(FakeTarget::VpcLattice);
    assert_eq!(
        post_v4a(&amb, SERVICE_VPC_LATTICE, "*", "/", true).await.0,
        200
    );
    let listed = format!("eu-west-1,{REGION}");
    assert_eq!(
        post_v4a(&amb, SERVICE_VPC_LATTICE, &listed, "/", true)
            .await
            .0,
        200
    );
    let (status, body) = post_v4a(&amb, SERVICE_VPC_LATTICE, "eu-west-1", "/", true).await;
    assert_eq!(status, 403);
    assert!(message(&body).contains("valid region"), "{body}");
    // SigV4A does not lift Lattice's payload rule.
    let (status, body) = post_v4a(&amb, SERVICE_VPC_LATTICE, "*", "/", false).await;
    assert_eq!(
        (status, message(&body).as_str()),
        (403, MSG_LATTICE_PAYLOAD_SIGNED)
    );

    amb.set_target(FakeTarget::api_gateway("prod"));
    assert_eq!(
        post_v4a(&amb, SERVICE_API_GATEWAY, "*", "/prod", false)
            .await
            .0,
        200
    );

    for (target, service) in [
        (FakeTarget::Amb, SERVICE),
        (FakeTarget::LambdaUrl, SERVICE_LAMBDA),
    ] {
        amb.set_target(target.clone());
        let (status, body) = post_v4a(&amb, service, "*", "/", false).await;
        assert_eq!(
            (status, message(&body).as_str()),
            (403, MSG_SIGV4A_REFUSED),
            "{target:?}"
        );
    }
}
