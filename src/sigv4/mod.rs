//! The SigV4 fast path: the same signature as aws-sigv4's `sign()`, without its per-call work.
//!
//! aws-sigv4's `sign()` derives the signing key anew on every call (four HMACs over the secret,
//! the date, the region and the service) and builds the canonical request, the string to sign
//! and their pieces as owned strings. For the requests this crate sends (a POST of a JSON body,
//! or the WebSocket upgrade GET, to a normalised endpoint URL) the fast path:
//!
//! - caches the derived signing key per (date, region, service, access key id, secret) in the
//!   transport ([`SigningKeyCache`]), derived with aws-sigv4's own `generate_signing_key`;
//! - streams the canonical request straight into SHA-256 (no string is built);
//! - keeps, per transport, what a signature takes from the second and the request's shape
//!   (method, URL, headers, credentials, scope) but not from its body: the SHA-256 state of the
//!   canonical request up to the body's hash and `Authorization` up to the signature. Requests
//!   of one shape within the same second (all of a transport's while it is busy) only hash their
//!   body, finish the canonical request hash and sign; a session token (about 1 KB) is hashed
//!   once per second, not per request;
//! - signs the string to sign (built on the stack) with aws-sigv4's `calculate_signature`.
//!
//! The cryptography is aws-sigv4's (key derivation, HMAC) and `sha2`, the crate and version
//! aws-sigv4 itself hashes with. Anything whose canonical form aws-sigv4 would compute in a way
//! this module does not reproduce exactly (paths with `.` or `//` segments, query strings with
//! characters other than unreserved ones, `+` and `%XX` escapes of ASCII, unusual headers or
//! session tokens, times before 1970) returns `None`, and the caller signs with aws-sigv4's
//! `sign()` instead. `tests/sign_differential.rs` checks that both give byte-identical headers.
//!
//! With [`Payload::Unsigned`] (VPC Lattice) the canonical request's payload hash is
//! `UNSIGNED-PAYLOAD` and the `x-amz-content-sha256: UNSIGNED-PAYLOAD` header is signed and
//! sent, as aws-sigv4 does with `SignableBody::UnsignedPayload` and
//! `PayloadChecksumKind::XAmzSha256`; the fast path handles it (the body is not hashed at all).
//! [`Algorithm::V4a`] (SigV4A, ECDSA P-256 over a region set) has no fast path: it is signed by
//! aws-sigv4 (`sigv4a` feature), whose v4a key derivation is a single HMAC (no public key is
//! derived), so there is nothing worth caching; the ECDSA signature dominates its cost.
//!
//! Nothing here logs, and nothing holding key material implements a revealing `Debug`.
//!
//! Read against the AWS SigV4 specification: this file is the signing (string to sign,
//! `Authorization`) and the fast path's entry points; `canonical` the canonical request's
//! parts; `cache` the derived key and the per-second prefix; `fallback` aws-sigv4's `sign()`;
//! `report` what was signed, for `amb doctor -v`.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::sign::v4;
use aws_smithy_types::date_time::{DateTime, Format};
use sha2_sigv4::{Digest, Sha256};
use url::Url;

use crate::error::AmbError;

mod cache;
mod canonical;
mod fallback;
mod report;

use cache::Prefix;
pub use cache::SigningKeyCache;
#[allow(clippy::wildcard_imports)]
use canonical::*;
pub use fallback::{sign_with_aws_sigv4, sign_with_identity};
pub(crate) use report::report;

/// The parts of a request that are signed.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// The HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// `host[:port]`, the value of the signed `host` header.
    pub authority: &'a str,
    /// The URL sent to (its path and query are signed).
    pub url: &'a Url,
    /// Signed headers besides `host`, e.g. `content-type`.
    pub headers: &'a [(&'a str, &'a str)],
    /// The exact body bytes.
    pub body: &'a [u8],
}

/// How the body enters the canonical request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Payload {
    /// The body's SHA-256 (the default; AMB, API Gateway, Lambda function URLs).
    #[default]
    Signed,
    /// `UNSIGNED-PAYLOAD`, also sent and signed as the `x-amz-content-sha256` header (VPC
    /// Lattice, which does not support payload signing).
    Unsigned,
}

/// Why SigV4A cannot be signed in a build without the `sigv4a` feature (the builders refuse
/// `.sigv4a(true)` at `build()` with the same advice; this is the signer's own guard).
#[cfg_attr(feature = "sigv4a", allow(dead_code))]
pub(crate) const NO_SIGV4A: &str =
    "SigV4A needs alloy-amb's `sigv4a` Cargo feature (on by default): enable it, or sign with SigV4";

/// The signature algorithm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Algorithm {
    /// SigV4 (`AWS4-HMAC-SHA256`), scoped to one region.
    #[default]
    V4,
    /// SigV4A (`AWS4-ECDSA-P256-SHA256`), scoped to a region set (`*`, or
    /// `us-east-1,us-west-2`); signed by aws-sigv4, never by the fast path.
    V4a,
}

/// Everything one signature takes, as plain data (like aws-sigv4's `SigningParams` with its
/// `SignableRequest`): who signs, for which scope, when, how, and what.
#[derive(Clone, Copy)]
pub struct Input<'a> {
    /// The credentials to sign with.
    pub credentials: &'a Credentials,
    /// The region (SigV4), or the region set (SigV4A, e.g. `*`).
    pub region: &'a str,
    /// The service name, e.g. `managedblockchain`.
    pub service: &'a str,
    /// The signing time.
    pub time: SystemTime,
    /// Whether the body is signed or `UNSIGNED-PAYLOAD`.
    pub payload: Payload,
    /// SigV4 or SigV4A.
    pub algorithm: Algorithm,
    /// The request.
    pub request: Request<'a>,
}

/// The headers aws-sigv4's `sign()` returns for header signing, in its order: `x-amz-date`,
/// (`x-amz-region-set` with SigV4A), `authorization`, (`x-amz-content-sha256` with an
/// unsigned payload), then `x-amz-security-token` with temporary credentials.
pub type SignedHeaders = Vec<(&'static str, String)>;

/// The canonical request's payload hash (and `x-amz-content-sha256`) for an unsigned payload.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// The header that carries it.
const CONTENT_SHA256: &str = "x-amz-content-sha256";

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Extra headers the fast path signs at most (besides `host`, `x-amz-date`, the token).
const MAX_EXTRA_HEADERS: usize = 8;
/// Longer URLs go to aws-sigv4 (`http::Uri` refuses very long ones).
const MAX_URL_LEN: usize = 8 * 1024;
/// Longer credential scopes (region and service names) go to aws-sigv4.
const MAX_SCOPE: usize = 256;

/// Signs `input` like aws-sigv4's `sign()` with `SigningSettings::default()` (header signing,
/// double percent-encoding, path normalisation, session token signed; with
/// [`Payload::Unsigned`], `PayloadChecksumKind::XAmzSha256` and `UNSIGNED-PAYLOAD`) would, or
/// returns `None` when the request is one the fast path does not handle (SigV4A, or see the
/// module docs; the caller then uses aws-sigv4).
pub fn try_sign(cache: &SigningKeyCache, input: &Input<'_>) -> Option<SignedHeaders> {
    if input.algorithm != Algorithm::V4 {
        return None;
    }
    let secs = input.time.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let hit = match cache.prefix_hit(secs, input) {
        Some(hit) => hit,
        None => {
            let prefix = build_prefix(cache, secs, input)?;
            let hit = prefix.hit();
            cache.store_prefix(prefix);
            hit
        }
    };
    Some(hit.finish(input.request.body, input.credentials.session_token()))
}

/// A signature in the making: everything but the body.
struct Hit {
    date_time: [u8; 16],
    /// SHA-256 over the canonical request up to (and with) the signed header list's newline.
    creq: Sha256,
    /// `AWS4-HMAC-SHA256 Credential=<akid>/<scope>, SignedHeaders=<names>`.
    authorization: String,
    /// Where the credential scope is in `authorization`.
    scope: (usize, usize),
    key: [u8; 32],
    /// `UNSIGNED-PAYLOAD` instead of the body's hash (and the header that says so).
    unsigned: bool,
}

impl Hit {
    /// Hashes the body into the canonical request and signs: the headers `sign()` returns.
    fn finish(self, body: &[u8], token: Option<&str>) -> SignedHeaders {
        let Self {
            date_time,
            mut creq,
            mut authorization,
            scope,
            key,
            unsigned,
        } = self;
        if unsigned {
            creq.update(UNSIGNED_PAYLOAD.as_bytes());
        } else {
            creq.update(hex32(&Sha256::digest(body).into()));
        }
        let creq_hash = hex32(&creq.finalize().into());

        // The string to sign: algorithm, time, scope, canonical request hash.
        let scope = &authorization.as_bytes()[scope.0..scope.1];
        let mut sts = [0u8; ALGORITHM.len() + 1 + 16 + 1 + MAX_SCOPE + 1 + 64];
        let mut at = 0;
        for part in [
            ALGORITHM.as_bytes(),
            b"\n",
            &date_time,
            b"\n",
            scope,
            b"\n",
            &creq_hash,
        ] {
            sts[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        let signature = v4::calculate_signature(key, &sts[..at]);
        authorization.push_str(", Signature=");
        authorization.push_str(&signature);

        // Only ASCII digits, `T` and `Z` went into the date.
        let date_time = std::str::from_utf8(&date_time)
            .unwrap_or_default()
            .to_owned();
        let mut out = Vec::with_capacity(4);
        out.push(("x-amz-date", date_time));
        out.push(("authorization", authorization));
        if unsigned {
            out.push((CONTENT_SHA256, UNSIGNED_PAYLOAD.to_owned()));
        }
        if let Some(token) = token {
            out.push(("x-amz-security-token", token.to_owned()));
        }
        out
    }
}

/// Checks that the fast path reproduces `sign()` for `req` and hashes its canonical request up
/// to the body's hash; `None` sends the request to aws-sigv4.
fn build_prefix(cache: &SigningKeyCache, secs: u64, input: &Input<'_>) -> Option<Prefix> {
    let Input {
        credentials: creds,
        region,
        service,
        time,
        payload,
        algorithm: _,
        request: ref req,
    } = *input;
    let unsigned = payload == Payload::Unsigned;
    let date_time = format_date_time(time)?;
    let date: &[u8; 8] = date_time[..8].try_into().ok()?;
    let token = match creds.session_token() {
        Some(t) if t.is_empty() || !all_between(t.as_bytes(), 0x21, 0x7e) => return None,
        t => t,
    };
    if !is_simple_method(req.method) || !is_simple_value(req.authority) {
        return None;
    }
    check_url(req.url)?;
    let path = req.url.path();
    let query = req.url.query().unwrap_or_default();

    // The signed headers, sorted by name: `host`, the extra ones, `x-amz-content-sha256` for
    // an unsigned payload, `x-amz-date`, the token.
    let mut headers: [(&str, &str); MAX_EXTRA_HEADERS + 4] = [("", ""); MAX_EXTRA_HEADERS + 4];
    if req.headers.len() > MAX_EXTRA_HEADERS {
        return None;
    }
    let date_time_str = std::str::from_utf8(&date_time).ok()?;
    let mut n = 0;
    headers[n] = ("host", req.authority);
    n += 1;
    for &(name, value) in req.headers {
        if !is_simple_header_name(name) || !is_simple_value(value) {
            return None;
        }
        headers[n] = (name, value);
        n += 1;
    }
    if unsigned {
        headers[n] = (CONTENT_SHA256, UNSIGNED_PAYLOAD);
        n += 1;
    }
    headers[n] = ("x-amz-date", date_time_str);
    n += 1;
    if let Some(token) = token {
        headers[n] = ("x-amz-security-token", token);
        n += 1;
    }
    let headers = &mut headers[..n];
    headers.sort_unstable_by(|a, b| a.0.cmp(b.0));
    if headers.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }

    // The canonical request, hashed as it is written, up to the body's hash.
    let mut creq = Sha256::new();
    creq.update(req.method.as_bytes());
    creq.update(b"\n");
    write_canonical_path(&mut creq, path);
    creq.update(b"\n");
    write_canonical_query(&mut creq, query);
    creq.update(b"\n");
    for (name, value) in headers.iter() {
        creq.update(name.as_bytes());
        creq.update(b":");
        creq.update(value.as_bytes());
        creq.update(b"\n");
    }
    creq.update(b"\n");
    // `authorization` holds the signed header list, which the canonical request also needs.
    let akid = creds.access_key_id();
    let mut authorization =
        String::with_capacity(ALGORITHM.len() + akid.len() + region.len() + service.len() + 200);
    authorization.push_str(ALGORITHM);
    authorization.push_str(" Credential=");
    authorization.push_str(akid);
    authorization.push('/');
    let scope_start = authorization.len();
    authorization.push_str(std::str::from_utf8(date).ok()?);
    authorization.push('/');
    authorization.push_str(region);
    authorization.push('/');
    authorization.push_str(service);
    authorization.push_str("/aws4_request");
    let scope_end = authorization.len();
    if scope_end - scope_start > MAX_SCOPE {
        return None;
    }
    authorization.push_str(", SignedHeaders=");
    let signed_start = authorization.len();
    for (i, (name, _)) in headers.iter().enumerate() {
        if i > 0 {
            authorization.push(';');
        }
        authorization.push_str(name);
    }
    creq.update(&authorization.as_bytes()[signed_start..]);
    creq.update(b"\n");

    let key = cache.key(date, time, region, service, creds)?;
    Some(Prefix {
        secs,
        payload,
        region: region.into(),
        service: service.into(),
        credentials: creds.clone(),
        method: req.method.into(),
        authority: req.authority.into(),
        url: req.url.as_str().into(),
        headers: req
            .headers
            .iter()
            .map(|&(n, v)| (n.into(), v.into()))
            .collect(),
        start: Hit {
            date_time,
            creq,
            authorization,
            scope: (scope_start, scope_end),
            key,
            unsigned,
        },
    })
}

/// Signs `input`: with the fast path when it applies, else with aws-sigv4's `sign()` (always
/// for SigV4A). This is what the transports call.
pub fn sign(cache: &SigningKeyCache, input: &Input<'_>) -> Result<SignedHeaders, AmbError> {
    if let Some(headers) = try_sign(cache, input) {
        return Ok(headers);
    }
    let time = input.time;
    // aws-sigv4 panics on a time past year 9999 (it signs times before 1970): refuse it here.
    if time > UNIX_EPOCH && format_date_time(time).is_none() {
        return Err(AmbError::Signing(format!(
            "cannot sign at {time:?}: SigV4 dates end with year 9999; check this machine's clock"
        )));
    }
    sign_with_aws_sigv4(input)
}

/// `YYYYMMDDTHHMMSSZ` in UTC, as aws-sigv4 formats it; `None` before 1970 or after 9999.
/// The calendar is aws-smithy-types' (`DateTime`), as aws-sigv4's own is.
fn format_date_time(time: SystemTime) -> Option<[u8; 16]> {
    let secs = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
    // Whole seconds: RFC 3339 `YYYY-MM-DDTHH:MM:SSZ`, without a fraction.
    let rfc3339 = DateTime::from_secs(i64::try_from(secs).ok()?)
        .fmt(Format::DateTime)
        .ok()?;
    let mut out = [0u8; 16];
    let mut n = 0;
    for b in rfc3339.bytes().filter(|b| *b != b'-' && *b != b':') {
        *out.get_mut(n)? = b;
        n += 1;
    }
    (n == 16 && out[..8].iter().all(u8::is_ascii_digit)).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_dates_like_aws_sigv4() {
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        for (secs, want) in [
            (0, "19700101T000000Z"),
            (1_440_938_160, "20150830T123600Z"),
            // A leap day of a century leap year, and no 2100-02-29.
            (951_782_400, "20000229T000000Z"),
            (4_107_542_400, "21000301T000000Z"),
            (253_402_300_799, "99991231T235959Z"),
        ] {
            assert_eq!(&format_date_time(at(secs)).unwrap(), want.as_bytes());
        }
        assert_eq!(format_date_time(at(253_402_300_800)), None);
        assert_eq!(format_date_time(UNIX_EPOCH - Duration::from_secs(1)), None);
    }

    /// A request to `https://h.example/` with no headers.
    fn request<'a>(url: &'a Url, method: &'a str, body: &'a [u8]) -> Request<'a> {
        Request {
            method,
            authority: "h.example",
            url,
            headers: &[],
            body,
        }
    }

    fn input<'a>(creds: &'a Credentials, time: SystemTime, request: Request<'a>) -> Input<'a> {
        Input {
            credentials: creds,
            region: "us-east-1",
            service: "svc",
            time,
            payload: Payload::Signed,
            algorithm: Algorithm::V4,
            request,
        }
    }

    #[test]
    fn debug_shows_no_key() {
        let cache = SigningKeyCache::new();
        let creds = Credentials::new("AKID", "SECRETKEY", None, None, "t");
        let url = Url::parse("https://h.example/").unwrap();
        let req = request(&url, "GET", b"");
        let out = try_sign(&cache, &input(&creds, SystemTime::now(), req)).unwrap();
        let shown = format!("{cache:?}");
        assert!(
            !shown.contains("SECRETKEY") && !shown.contains("key:"),
            "{shown}"
        );
        let signature = out[1].1.rsplit('=').next().unwrap();
        assert!(!shown.contains(signature));
    }

    #[test]
    fn times_sigv4_cannot_write_are_errors_not_panics() {
        let cache = SigningKeyCache::new();
        let creds = Credentials::new("AKID", "SECRETKEY", None, None, "t");
        let url = Url::parse("https://h.example/").unwrap();
        let req = request(&url, "POST", b"{}");
        let after_9999 = UNIX_EPOCH + Duration::from_secs(253_402_300_800);
        let err = sign(&cache, &input(&creds, after_9999, req)).unwrap_err();
        assert!(err.to_string().contains("clock"), "{err}");
        // The last second of 9999 (fast path), and a time before 1970 (aws-sigv4 signs it).
        let last = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
        assert!(sign(&cache, &input(&creds, last, req)).is_ok());
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert!(sign(&cache, &input(&creds, before, req)).is_ok());
    }

    /// The unsigned-payload canonical request, written out by hand from the AWS specification
    /// (not from aws-sigv4): `x-amz-content-sha256` is a signed header and the payload hash is
    /// the literal `UNSIGNED-PAYLOAD`, whatever the body.
    #[test]
    fn unsigned_payload_canonical_request_by_hand() {
        let cache = SigningKeyCache::new();
        let creds = Credentials::new("AKIDEXAMPLE", "SECRETKEY", Some("TOKEN".into()), None, "t");
        let url = Url::parse("https://svc-1.abc.vpc-lattice-svcs.us-west-2.on.aws/rpc").unwrap();
        let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 20150830T123600Z
        for body in [&b"{}"[..], b"{\"jsonrpc\":\"2.0\"}"] {
            let input = Input {
                credentials: &creds,
                region: "us-west-2",
                service: "vpc-lattice-svcs",
                time,
                payload: Payload::Unsigned,
                algorithm: Algorithm::V4,
                request: Request {
                    method: "POST",
                    authority: "svc-1.abc.vpc-lattice-svcs.us-west-2.on.aws",
                    url: &url,
                    headers: &[("content-type", "application/json")],
                    body,
                },
            };
            let creq = "POST\n/rpc\n\n\
                content-type:application/json\n\
                host:svc-1.abc.vpc-lattice-svcs.us-west-2.on.aws\n\
                x-amz-content-sha256:UNSIGNED-PAYLOAD\n\
                x-amz-date:20150830T123600Z\n\
                x-amz-security-token:TOKEN\n\n\
                content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token\n\
                UNSIGNED-PAYLOAD";
            let sts = format!(
                "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-west-2/vpc-lattice-svcs/aws4_request\n{}",
                std::str::from_utf8(&hex32(&Sha256::digest(creq).into())).unwrap()
            );
            let key = v4::generate_signing_key("SECRETKEY", time, "us-west-2", "vpc-lattice-svcs");
            let signature = v4::calculate_signature(key, sts.as_bytes());
            let want: SignedHeaders = vec![
                ("x-amz-date", "20150830T123600Z".into()),
                (
                    "authorization",
                    format!(
                        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-west-2/vpc-lattice-svcs/aws4_request, \
                         SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, \
                         Signature={signature}"
                    ),
                ),
                ("x-amz-content-sha256", "UNSIGNED-PAYLOAD".into()),
                ("x-amz-security-token", "TOKEN".into()),
            ];
            assert_eq!(try_sign(&cache, &input), Some(want.clone()), "fast path");
            assert_eq!(sign_with_aws_sigv4(&input).unwrap(), want, "aws-sigv4");
        }
    }

    #[test]
    fn sigv4a_never_takes_the_fast_path() {
        let cache = SigningKeyCache::new();
        let creds = Credentials::new("AKID", "SECRETKEY", None, None, "t");
        let url = Url::parse("https://h.example/").unwrap();
        let mut input = input(&creds, SystemTime::now(), request(&url, "POST", b"{}"));
        input.algorithm = Algorithm::V4a;
        input.region = "*";
        assert!(try_sign(&cache, &input).is_none());
        let signed = sign(&cache, &input).unwrap();
        assert_eq!(
            signed,
            sign_with_aws_sigv4(&input).unwrap(),
            "deterministic (RFC 6979)"
        );
        assert!(signed[2]
            .1
            .starts_with("AWS4-ECDSA-P256-SHA256 Credential=AKID/"));
        assert_eq!(signed[1], ("x-amz-region-set", "*".to_owned()));
        assert_eq!(cache.derivations(), 0);
    }
}
