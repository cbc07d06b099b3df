//! The SigV4 fast path (`alloy_amb::sign_fast`) against aws-sigv4's `sign()`: byte-identical
//! headers over many generated requests (body signed and `UNSIGNED-PAYLOAD`), the fallback for
//! what the fast path does not handle, and the derived-key cache.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy_amb::__private::sign_fast::{self, Algorithm, Input, Payload, Request, SigningKeyCache};
use alloy_amb::{AmbHttp, Endpoint};
use alloy_rpc_client::RpcClient;
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::identity::Identity;
use url::Url;

/// A small deterministic generator (splitmix64), so failures reproduce.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }

    /// Up to `max` random bytes.
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    fn string_from(&mut self, alphabet: &[&str], max_parts: usize) -> String {
        let n = self.below(max_parts + 1);
        (0..n).map(|_| self.pick(alphabet)).collect()
    }
}

const HOSTS: &[&str] = &[
    "https://nd-abcdefghijklmnopqrstuvwxyz.ethereum.managedblockchain.us-east-1.amazonaws.com",
    "https://ND-UPPER.ethereum.managedblockchain.eu-west-1.amazonaws.com:443",
    "https://nd-x.ethereum.managedblockchain.ap-southeast-2.amazonaws.com:8443",
    "https://abc123.execute-api.eu-west-1.amazonaws.com",
    "https://svc-0123.7d67968.vpc-lattice-svcs.us-west-2.on.aws",
    "http://127.0.0.1:8545",
    "http://localhost:3000",
    "http://[::1]:8080",
    "http://127.0.0.1",
    "http://127.0.0.1:80",
    "wss://nd-abc.wss.ethereum.managedblockchain.us-east-1.amazonaws.com",
    "ws://127.0.0.1:9001",
];

/// Path segments: the plain ones, sub-delimiters, escapes, and what aws-sigv4 normalises or
/// the `url` crate escapes (dots, empty segments, spaces, non-ASCII, `%` that is no escape).
const SEGMENTS: &[&str] = &[
    "rpc",
    "prod",
    "v1",
    "A-Z_a~z",
    "0",
    "%20",
    "%2F",
    "%2e",
    "%E2%82%AC",
    "!$&'()*+,;=:@",
    "é",
    " ",
    ".",
    "..",
    "v1.0",
    "",
    "%",
    "%zz",
    "a|b",
    "[x]",
    "{y}",
    "^",
    "`",
    "\"",
];

/// Query pieces, including `+`, escapes of ASCII and of non-ASCII, repeated and empty keys.
const QUERY_PARTS: &[&str] = &[
    "a=1",
    "b=2",
    "a=0",
    "A=1",
    "key",
    "key=",
    "=v",
    "x=%41",
    "x=a+b",
    "x=%2B",
    "x=%2b",
    "x=%20",
    "~=-._",
    "x=%E2%82%AC",
    "x=%7E",
    "x=%zz",
    "x=a|b",
    "x=a/b",
    "x=a:b",
    "x=a?b",
    "",
    "&",
    "x=a%26b",
    "x=%3D",
];

const REGIONS: &[&str] = &["us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1"];
const SERVICES: &[&str] = &["managedblockchain", "execute-api", "vpc-lattice-svcs"];
const TOKENS: &[&str] = &[
    "FwoGZXIvYXdzEJr//////////wEaDHNlc3Npb250b2tlbiKxAdmVzc2lvbi10b2tlbi12YWx1ZQ==",
    "IQoJb3JpZ2luX2VjEHsaCXVzLWVhc3QtMSJHMEUCIQD+/=",
    "short",
    // Not plain visible ASCII: aws-sigv4 decides.
    "with space",
    "",
];

fn identity(akid: &str, secret: &str, token: Option<&str>) -> Identity {
    Credentials::new(akid, secret, token.map(str::to_owned), None, "test").into()
}

fn random_time(g: &mut Gen) -> SystemTime {
    let secs = match g.below(6) {
        // Around a day boundary.
        0 => (g.next() % 40_000) * 86_400 + [0, 1, 86_399, 86_398][g.below(4)],
        // Leap days and year ends.
        1 => [
            951_782_400,
            1_709_164_800,
            4_107_542_400,
            1_704_067_199,
            946_684_799,
        ][g.below(5)],
        // Any second from 1970 to 2100.
        _ => g.next() % 4_102_444_800,
    };
    UNIX_EPOCH + Duration::new(secs, (g.next() % 1_000_000_000) as u32)
}

struct Case {
    url: Url,
    authority: String,
    method: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: Vec<u8>,
    identity: Identity,
    region: &'static str,
    service: &'static str,
    time: SystemTime,
    payload: Payload,
}

fn random_case(g: &mut Gen) -> Case {
    let base = g.pick(HOSTS);
    let path: String = {
        let n = g.below(4);
        let segs: Vec<String> = (0..n).map(|_| g.string_from(SEGMENTS, 2)).collect();
        format!("/{}", segs.join("/"))
    };
    let query = match g.below(4) {
        0 => String::new(),
        1 => "?".to_owned(),
        _ => {
            let n = 1 + g.below(4);
            let parts: Vec<&str> = (0..n).map(|_| g.pick(QUERY_PARTS)).collect();
            format!("?{}", parts.join("&"))
        }
    };
    let endpoint = Endpoint::parse(&format!("{base}{path}{query}")).unwrap();
    let (method, headers) = match g.below(5) {
        0 => ("GET", vec![]),
        1 => (
            "POST",
            vec![("content-type", "application/json"), ("x-extra", "a b")],
        ),
        // Headers aws-sigv4 normalises, or would sign in its own way: fallback.
        2 if g.below(2) == 0 => (
            "POST",
            vec![
                [
                    ("Content-Type", "application/json"),
                    ("content-type", " application/json "),
                    ("x-extra", "a  b"),
                    ("user-agent", "me"),
                    ("content-type", "application/json; charset=\"utf-8\"\t"),
                ][g.below(5)],
            ],
        ),
        _ => ("POST", vec![("content-type", "application/json")]),
    };
    let body = match g.below(5) {
        0 => Vec::new(),
        1 => g.bytes(3000),
        _ => format!(
            r#"{{"method":"eth_call","params":[{{"to":"0x{:040x}","data":"0x{}"}},"latest"],"id":{},"jsonrpc":"2.0"}}"#,
            g.next(),
            "ab".repeat(g.below(200)),
            g.next() % 1000
        )
        .into_bytes(),
    };
    let token = if g.below(2) == 0 {
        None
    } else {
        Some(g.pick(TOKENS))
    };
    let akid = format!("AKIA{:016X}", g.next());
    let secret = format!("{:040x}", u128::from(g.next()) << 64 | u128::from(g.next()));
    Case {
        authority: endpoint.authority().to_owned(),
        url: endpoint.url().clone(),
        method,
        headers,
        body,
        identity: identity(&akid, &secret, token),
        region: g.pick(REGIONS),
        service: g.pick(SERVICES),
        time: random_time(g),
        payload: if g.below(2) == 0 {
            Payload::Signed
        } else {
            Payload::Unsigned
        },
    }
}

/// What to sign: SigV4 of `request` by `creds` for `region`/`service` at `time`.
fn input<'a>(
    creds: &'a Credentials,
    region: &'a str,
    service: &'a str,
    time: SystemTime,
    payload: Payload,
    request: Request<'a>,
) -> Input<'a> {
    Input {
        credentials: creds,
        region,
        service,
        time,
        payload,
        algorithm: Algorithm::V4,
        request,
    }
}

impl Case {
    fn request(&self) -> Request<'_> {
        Request {
            method: self.method,
            authority: &self.authority,
            url: &self.url,
            headers: &self.headers,
            body: &self.body,
        }
    }

    fn creds(&self) -> &Credentials {
        self.identity.data::<Credentials>().unwrap()
    }

    fn input(&self) -> Input<'_> {
        input(
            self.creds(),
            self.region,
            self.service,
            self.time,
            self.payload,
            self.request(),
        )
    }
}

#[test]
fn fast_path_is_byte_identical_to_aws_sigv4() {
    let mut g = Gen(0x5167_7634);
    let cache = SigningKeyCache::new();
    let (mut fast, mut fallback) = (0, 0);
    let mut fast_by_payload = [0; 2];
    for i in 0..20_000 {
        let case = random_case(&mut g);
        let input = case.input();
        let reference = sign_fast::sign_with_identity(&case.identity, &input);
        let tried = sign_fast::try_sign(&cache, &input);
        if tried.is_some() {
            fast_by_payload[usize::from(case.payload == Payload::Unsigned)] += 1;
        }
        match (&tried, &reference) {
            (Some(got), Ok(want)) => {
                assert_eq!(
                    got, want,
                    "case {i}: {} {} {:?}",
                    case.method, case.url, case.headers
                );
                fast += 1;
            }
            (Some(_), Err(e)) => {
                panic!(
                    "case {i}: fast path signed what aws-sigv4 refuses ({e}): {}",
                    case.url
                )
            }
            (None, _) => fallback += 1,
        }
        // What the transports call gives aws-sigv4's answer, whichever path it takes.
        let combined = sign_fast::sign(&cache, &input);
        match (combined, reference) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "case {i}"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("case {i}: {:?} vs {:?}", a.is_ok(), b.is_ok()),
        }
    }
    // Both paths were exercised many times (the generator favours unusual requests; the
    // transports' own requests all take the fast path, see below).
    assert!(fast > 5_000, "fast path taken {fast} times");
    assert!(fallback > 5_000, "fallback taken {fallback} times");
    // ... with the body signed and with `UNSIGNED-PAYLOAD`.
    assert!(
        fast_by_payload.iter().all(|n| *n > 2_000),
        "fast path by payload mode: {fast_by_payload:?}"
    );
}

/// The requests the transports actually send take the fast path.
#[test]
fn transport_requests_take_the_fast_path() {
    let mut g = Gen(7);
    let cache = SigningKeyCache::new();
    for base in HOSTS {
        for path in ["/", "/prod/rpc", "/v1/rpc/", "/a%20b", "/x!$&'()*+,;=:@"] {
            for query in ["", "?", "?b=2&a=1", "?x=a+b%2B", "?key&key=&=v"] {
                let endpoint = Endpoint::parse(&format!("{base}{path}{query}")).unwrap();
                for (method, headers) in [
                    ("POST", &[("content-type", "application/json")][..]),
                    ("GET", &[][..]),
                ] {
                    for (token, payload) in [None, Some(TOKENS[0])]
                        .into_iter()
                        .flat_map(|t| [(t, Payload::Signed), (t, Payload::Unsigned)])
                    {
                        let body = g.bytes(400);
                        let identity = identity("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", token);
                        let req = Request {
                            method,
                            authority: endpoint.authority(),
                            url: endpoint.url(),
                            headers,
                            body: &body,
                        };
                        let time = random_time(&mut g);
                        let creds = identity.data::<Credentials>().unwrap();
                        let input =
                            input(creds, "us-east-1", "managedblockchain", time, payload, req);
                        let got = sign_fast::try_sign(&cache, &input)
                            .unwrap_or_else(|| panic!("fell back for {}", endpoint.url()));
                        let want = sign_fast::sign_with_identity(&identity, &input).unwrap();
                        assert_eq!(got, want, "{}", endpoint.url());
                    }
                }
            }
        }
    }
}

/// What the fast path leaves to aws-sigv4, and that aws-sigv4 then signs it.
#[test]
fn unusual_requests_fall_back_to_aws_sigv4() {
    let cache = SigningKeyCache::new();
    let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let ok = identity("AKID", "SECRET", None);
    let check = |url: &str, headers: &[(&str, &str)], identity: &Identity, time: SystemTime| {
        let url = Url::parse(url).unwrap();
        let authority = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap()),
            None => url.host_str().unwrap().to_owned(),
        };
        let req = Request {
            method: "POST",
            authority: &authority,
            url: &url,
            headers,
            body: b"{}",
        };
        let creds = identity.data::<Credentials>().unwrap();
        for payload in [Payload::Signed, Payload::Unsigned] {
            let input = input(creds, "us-east-1", "svc", time, payload, req);
            assert!(
                sign_fast::try_sign(&cache, &input).is_none(),
                "fast path took {url}"
            );
            let combined = sign_fast::sign(&cache, &input);
            let reference = sign_fast::sign_with_identity(identity, &input);
            match (combined, reference) {
                (Ok(a), Ok(b)) => assert_eq!(a, b),
                (Err(_), Err(_)) => {}
                (a, b) => panic!("{url}: {:?} vs {:?}", a.is_ok(), b.is_ok()),
            }
        }
    };
    let ct = [("content-type", "application/json")];
    // Dot segments and empty segments (aws-sigv4 normalises them).
    check("https://h.example/v1.0/rpc", &ct, &ok, time);
    check("https://h.example/a//b", &ct, &ok, time);
    // Query characters outside the plain subset.
    check("https://h.example/?x=%E2%82%AC", &ct, &ok, time);
    check("https://h.example/?x=a|b", &ct, &ok, time);
    check("https://h.example/?x=%zz", &ct, &ok, time);
    check("https://h.example/?x=a/b", &ct, &ok, time);
    // Path characters the url crate leaves and http::Uri may not.
    check("https://h.example/a|b", &ct, &ok, time);
    check("https://h.example/%zz", &ct, &ok, time);
    // Headers aws-sigv4 lower-cases, trims, joins or does not sign.
    let many: Vec<(&str, &str)> = (0..9).map(|_| ("x-a", "1")).collect();
    let header_sets: [&[(&str, &str)]; 8] = [
        &[("Content-Type", "application/json")],
        &[("x-a", " v")],
        &[("x-a", "a  b")],
        &[("x-a", "1"), ("x-a", "2")],
        &[("user-agent", "me")],
        &[("host", "other")],
        &[("x-amz-date", "20200101T000000Z")],
        &many,
    ];
    for headers in header_sets {
        check("https://h.example/", headers, &ok, time);
    }
    // Session tokens that are empty or not plain visible ASCII.
    check(
        "https://h.example/",
        &ct,
        &identity("AKID", "SECRET", Some("")),
        time,
    );
    check(
        "https://h.example/",
        &ct,
        &identity("AKID", "SECRET", Some("a b")),
        time,
    );
    // Times before 1970.
    check(
        "https://h.example/",
        &ct,
        &ok,
        UNIX_EPOCH - Duration::from_secs(86_400 * 400),
    );
    // A long URL.
    check(
        &format!("https://h.example/{}", "a".repeat(9000)),
        &ct,
        &ok,
        time,
    );
}

#[test]
fn signing_key_is_derived_once_per_day_and_scope() {
    let cache = SigningKeyCache::new();
    let url = Url::parse("https://h.example/").unwrap();
    let req = Request {
        method: "POST",
        authority: "h.example",
        url: &url,
        headers: &[("content-type", "application/json")],
        body: b"{}",
    };
    let a = Credentials::new("AKID", "SECRET", None, None, "t");
    let day = UNIX_EPOCH + Duration::from_secs(19_700 * 86_400);
    for s in 0..1000 {
        let time = day + Duration::from_secs(s * 86);
        sign_fast::try_sign(
            &cache,
            &input(&a, "us-east-1", "svc", time, Payload::Signed, req),
        )
        .unwrap();
    }
    assert_eq!(cache.derivations(), 1, "one key for a day of requests");
    // The next day, another region, another service, a rotated secret: a new key each.
    let next_day = day + Duration::from_secs(86_400);
    sign_fast::try_sign(
        &cache,
        &input(&a, "us-east-1", "svc", next_day, Payload::Signed, req),
    )
    .unwrap();
    assert_eq!(cache.derivations(), 2);
    sign_fast::try_sign(
        &cache,
        &input(&a, "eu-west-1", "svc", next_day, Payload::Signed, req),
    )
    .unwrap();
    assert_eq!(cache.derivations(), 3);
    sign_fast::try_sign(
        &cache,
        &input(&a, "eu-west-1", "other", next_day, Payload::Signed, req),
    )
    .unwrap();
    assert_eq!(cache.derivations(), 4);
    let rotated = Credentials::new("AKID", "SECRET2", None, None, "t");
    let with_new = sign_fast::try_sign(
        &cache,
        &input(
            &rotated,
            "eu-west-1",
            "other",
            next_day,
            Payload::Signed,
            req,
        ),
    )
    .unwrap();
    assert_eq!(cache.derivations(), 5);
    let want = sign_fast::sign_with_aws_sigv4(&input(
        &rotated,
        "eu-west-1",
        "other",
        next_day,
        Payload::Signed,
        req,
    ))
    .unwrap();
    assert_eq!(
        with_new, want,
        "a rotated secret is never signed with the old key"
    );
    // Same key id and secret with a new session token: same key, new token header.
    let with_token = Credentials::new("AKID", "SECRET2", Some("TOKEN".into()), None, "t");
    let got = sign_fast::try_sign(
        &cache,
        &input(
            &with_token,
            "eu-west-1",
            "other",
            next_day,
            Payload::Signed,
            req,
        ),
    )
    .unwrap();
    assert_eq!(cache.derivations(), 5);
    let want = sign_fast::sign_with_aws_sigv4(&input(
        &with_token,
        "eu-west-1",
        "other",
        next_day,
        Payload::Signed,
        req,
    ))
    .unwrap();
    assert_eq!(got, want);
}

/// Both paths, through the transport, accepted by the fake gateway's independent verifier.
#[tokio::test]
async fn fake_gateway_accepts_fast_and_fallback_signatures() {
    let fake = alloy_amb_testing::FakeAmb::start().await;
    for (suffix, fast) in [("prod/rpc?b=2&a=1", true), ("v1.0/rpc?x=%E2%82%AC", false)] {
        let url = format!("{}{suffix}", fake.url());
        let endpoint = Endpoint::parse(&url).unwrap();
        let req = Request {
            method: "POST",
            authority: endpoint.authority(),
            url: endpoint.url(),
            headers: &[("content-type", "application/json")],
            body: b"{}",
        };
        let creds = support::fake_credentials();
        let taken = sign_fast::try_sign(
            &SigningKeyCache::new(),
            &input(
                &creds,
                alloy_amb_testing::REGION,
                alloy_amb_testing::SERVICE,
                SystemTime::now(),
                Payload::Signed,
                req,
            ),
        );
        assert_eq!(taken.is_some(), fast, "{url}");
        let transport = AmbHttp::builder(&url)
            .region(alloy_amb_testing::REGION)
            .credentials_provider(support::fake_credentials())
            .build()
            .unwrap();
        let client = RpcClient::new(transport, true);
        let n: alloy_primitives::U64 = client.request_noparams("eth_blockNumber").await.unwrap();
        assert_eq!(n.to::<u64>(), fake.head(), "{url}");
    }
    assert!(fake.received().iter().all(|r| r.rejected.is_none()));
}

/// Requests signed within the same second reuse the body-independent part of the signature
/// (the canonical request hashed up to the body's hash): whatever else differs between them
/// (token, key id, secret, region, service, method, headers, path, query, host) must still give
/// aws-sigv4's headers, and requests that differ only in their body must reuse it.
#[test]
fn requests_within_a_second_reuse_the_prefix_and_stay_identical() {
    struct Variant {
        method: &'static str,
        url: &'static str,
        headers: &'static [(&'static str, &'static str)],
        akid: &'static str,
        secret: &'static str,
        token: Option<&'static str>,
        region: &'static str,
        service: &'static str,
        payload: Payload,
    }
    const CT: &[(&str, &str)] = &[("content-type", "application/json")];
    let base = Variant {
        method: "POST",
        url: "https://nd-abc.ethereum.managedblockchain.us-east-1.amazonaws.com/",
        headers: CT,
        akid: "AKIDBASE",
        secret: "secret-base",
        token: Some(TOKENS[0]),
        region: "us-east-1",
        service: "managedblockchain",
        payload: Payload::Signed,
    };
    let variants = [
        Variant { ..base },
        Variant {
            payload: Payload::Unsigned,
            ..base
        },
        Variant {
            payload: Payload::Unsigned,
            service: "vpc-lattice-svcs",
            token: None,
            ..base
        },
        Variant {
            token: None,
            ..base
        },
        Variant {
            token: Some(TOKENS[1]),
            ..base
        },
        Variant {
            akid: "AKIDOTHER",
            ..base
        },
        Variant {
            secret: "secret-other",
            ..base
        },
        Variant {
            region: "eu-west-1",
            ..base
        },
        Variant {
            service: "execute-api",
            ..base
        },
        Variant {
            method: "GET",
            headers: &[],
            ..base
        },
        Variant {
            headers: &[("content-type", "application/json"), ("x-extra", "1")],
            ..base
        },
        Variant {
            headers: &[("content-type", "text/plain")],
            ..base
        },
        Variant {
            url: "https://nd-abc.ethereum.managedblockchain.us-east-1.amazonaws.com/prod/rpc",
            ..base
        },
        Variant {
            url: "https://nd-abc.ethereum.managedblockchain.us-east-1.amazonaws.com/?a=1",
            ..base
        },
        Variant {
            url: "https://nd-abd.ethereum.managedblockchain.us-east-1.amazonaws.com/",
            ..base
        },
        Variant {
            url: "http://127.0.0.1:8545/",
            ..base
        },
    ];
    let prepared: Vec<_> = variants
        .iter()
        .map(|v| {
            let endpoint = Endpoint::parse(v.url).unwrap();
            let creds = Credentials::new(v.akid, v.secret, v.token.map(str::to_owned), None, "t");
            (v, endpoint, creds)
        })
        .collect();

    let mut g = Gen(0x0005_ec0d);
    let cache = SigningKeyCache::new();
    let mut second = 1_790_000_000;
    for i in 0..6000 {
        if g.below(10) == 0 {
            second += 1;
        }
        let (v, endpoint, creds) = &prepared[g.below(prepared.len())];
        let time = UNIX_EPOCH + Duration::new(second, (g.next() % 1_000_000_000) as u32);
        let body = g.bytes(300);
        let req = Request {
            method: v.method,
            authority: endpoint.authority(),
            url: endpoint.url(),
            headers: v.headers,
            body: &body,
        };
        let input = input(creds, v.region, v.service, time, v.payload, req);
        let got = sign_fast::try_sign(&cache, &input)
            .unwrap_or_else(|| panic!("case {i}: {} fell back", v.url));
        let want = sign_fast::sign_with_aws_sigv4(&input).unwrap();
        assert_eq!(
            got, want,
            "case {i}: {} {} {:?}",
            v.method, v.url, v.headers
        );
    }

    // Bodies alone differ: one prefix for the second, then one for the next.
    let (v, endpoint, creds) = &prepared[0];
    let before = cache.prefixes();
    for s in [0, 1] {
        for n in 0..100u32 {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{n},"method":"eth_blockNumber"}}"#);
            let req = Request {
                method: v.method,
                authority: endpoint.authority(),
                url: endpoint.url(),
                headers: v.headers,
                body: body.as_bytes(),
            };
            let time = UNIX_EPOCH + Duration::new(1_800_000_000 + s, n * 9_000_000);
            let input = input(creds, v.region, v.service, time, v.payload, req);
            let got = sign_fast::try_sign(&cache, &input).unwrap();
            let want = sign_fast::sign_with_aws_sigv4(&input).unwrap();
            assert_eq!(got, want);
        }
    }
    assert_eq!(cache.prefixes() - before, 2, "one prefix per second");
}
