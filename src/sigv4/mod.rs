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
//! Nothing here logs, and nothing holding key material implements a revealing `Debug`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::date_time::{DateTime, Format};
use sha2_sigv4::{Digest, Sha256};
use url::Url;

use crate::error::AmbError;

mod report;
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

/// The headers aws-sigv4's `sign()` returns for header signing, in its order: `x-amz-date`,
/// `authorization`, then `x-amz-security-token` with temporary credentials.
pub type SignedHeaders = Vec<(&'static str, String)>;

/// The derived SigV4 signing key of the last (date, region, service, credentials) signed with,
/// and the part of the last signature that does not depend on the body (see [`try_sign`]).
///
/// Shared by every clone of a transport. `Debug` shows how many keys were derived, never a key.
#[derive(Default)]
pub struct SigningKeyCache {
    slot: RwLock<Option<CachedKey>>,
    derivations: AtomicU64,
    prefix: RwLock<Option<Prefix>>,
    prefixes: AtomicU64,
}

struct CachedKey {
    date: [u8; 8],
    region: Box<str>,
    service: Box<str>,
    /// The credentials the key was derived from (an `Arc` clone: no new copy of the secret).
    credentials: Credentials,
    key: [u8; 32],
}

impl SigningKeyCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many signing keys were derived (cache misses) so far.
    pub fn derivations(&self) -> u64 {
        self.derivations.load(Ordering::Relaxed)
    }

    /// How many times the body-independent part of a signature was computed (once per second
    /// and request shape while requests keep coming; the other requests reuse it).
    pub fn prefixes(&self) -> u64 {
        self.prefixes.load(Ordering::Relaxed)
    }

    fn prefix_hit(
        &self,
        secs: u64,
        creds: &Credentials,
        region: &str,
        service: &str,
        req: &Request<'_>,
    ) -> Option<Hit> {
        let slot = self.prefix.read().unwrap_or_else(|e| e.into_inner());
        let prefix = slot.as_ref()?;
        prefix
            .matches(secs, creds, region, service, req)
            .then(|| prefix.hit())
    }

    fn store_prefix(&self, prefix: Prefix) {
        self.prefixes.fetch_add(1, Ordering::Relaxed);
        *self.prefix.write().unwrap_or_else(|e| e.into_inner()) = Some(prefix);
    }

    /// The signing key for this scope: cached, or derived with aws-sigv4's
    /// `generate_signing_key` and cached.
    fn key(
        &self,
        date: &[u8; 8],
        time: SystemTime,
        region: &str,
        service: &str,
        creds: &Credentials,
    ) -> Option<[u8; 32]> {
        let matches = |c: &CachedKey| {
            &c.date == date
                && &*c.region == region
                && &*c.service == service
                && same_key(&c.credentials, creds)
        };
        if let Some(cached) = self
            .slot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|c| matches(c))
        {
            return Some(cached.key);
        }
        let derived = v4::generate_signing_key(creds.secret_access_key(), time, region, service);
        let key: [u8; 32] = derived.as_ref().try_into().ok()?;
        self.derivations.fetch_add(1, Ordering::Relaxed);
        *self.slot.write().unwrap_or_else(|e| e.into_inner()) = Some(CachedKey {
            date: *date,
            region: region.into(),
            service: service.into(),
            credentials: creds.clone(),
            key,
        });
        Some(key)
    }
}

/// Whether two credentials are the same key (id and secret): what both caches are keyed by.
fn same_key(a: &Credentials, b: &Credentials) -> bool {
    a.access_key_id() == b.access_key_id() && a.secret_access_key() == b.secret_access_key()
}

impl fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyCache")
            .field("derivations", &self.derivations())
            .field("prefixes", &self.prefixes())
            .finish_non_exhaustive()
    }
}

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Extra headers the fast path signs at most (besides `host`, `x-amz-date`, the token).
const MAX_EXTRA_HEADERS: usize = 8;
/// Longer URLs go to aws-sigv4 (`http::Uri` refuses very long ones).
const MAX_URL_LEN: usize = 8 * 1024;
/// Longer credential scopes (region and service names) go to aws-sigv4.
const MAX_SCOPE: usize = 256;

/// Signs `req` like aws-sigv4's `sign()` with `SigningSettings::default()` (header signing,
/// double percent-encoding, path normalisation, session token signed) would, or returns `None`
/// when the request is one the fast path does not handle (the caller then uses aws-sigv4).
pub fn try_sign(
    cache: &SigningKeyCache,
    creds: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
    req: &Request<'_>,
) -> Option<SignedHeaders> {
    let secs = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let hit = match cache.prefix_hit(secs, creds, region, service, req) {
        Some(hit) => hit,
        None => {
            let prefix = build_prefix(cache, secs, time, creds, region, service, req)?;
            let hit = prefix.hit();
            cache.store_prefix(prefix);
            hit
        }
    };
    Some(hit.finish(req.body, creds.session_token()))
}

/// Everything of a signature that depends on the second and the request's shape (method, URL,
/// headers, credentials, scope) but not on its body: the canonical request hashed up to the
/// body's hash, and `Authorization` up to the signature. Requests of one shape signed within
/// the same second share it.
struct Prefix {
    secs: u64,
    region: Box<str>,
    service: Box<str>,
    /// The credentials signed with (an `Arc` clone: no new copy of the secret or the token).
    credentials: Credentials,
    method: Box<str>,
    authority: Box<str>,
    url: Box<str>,
    headers: Box<[(Box<str>, Box<str>)]>,
    /// What each request of this shape and second starts from.
    start: Hit,
}

impl Prefix {
    fn matches(
        &self,
        secs: u64,
        creds: &Credentials,
        region: &str,
        service: &str,
        req: &Request<'_>,
    ) -> bool {
        self.secs == secs
            && &*self.region == region
            && &*self.service == service
            && &*self.method == req.method
            && &*self.authority == req.authority
            && &*self.url == req.url.as_str()
            && self.headers.len() == req.headers.len()
            && self
                .headers
                .iter()
                .zip(req.headers)
                .all(|((n, v), (rn, rv))| &**n == *rn && &**v == *rv)
            && same_key(&self.credentials, creds)
            && self.credentials.session_token() == creds.session_token()
    }

    /// A request's own copy of the start, with room for the signature.
    fn hit(&self) -> Hit {
        let start = &self.start;
        let mut authorization = String::with_capacity(start.authorization.len() + 12 + 64);
        authorization.push_str(&start.authorization);
        Hit {
            date_time: start.date_time,
            creq: start.creq.clone(),
            authorization,
            scope: start.scope,
            key: start.key,
        }
    }
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
        } = self;
        creq.update(hex32(&Sha256::digest(body).into()));
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
        let mut out = Vec::with_capacity(3);
        out.push(("x-amz-date", date_time));
        out.push(("authorization", authorization));
        if let Some(token) = token {
            out.push(("x-amz-security-token", token.to_owned()));
        }
        out
    }
}

/// Checks that the fast path reproduces `sign()` for `req` and hashes its canonical request up
/// to the body's hash; `None` sends the request to aws-sigv4.
fn build_prefix(
    cache: &SigningKeyCache,
    secs: u64,
    time: SystemTime,
    creds: &Credentials,
    region: &str,
    service: &str,
    req: &Request<'_>,
) -> Option<Prefix> {
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

    // The signed headers, sorted by name: `host`, the extra ones, `x-amz-date`, the token.
    let mut headers: [(&str, &str); MAX_EXTRA_HEADERS + 3] = [("", ""); MAX_EXTRA_HEADERS + 3];
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
        },
    })
}

/// Signs `req`: with the fast path when it applies, else with aws-sigv4's `sign()`. This is what
/// the transports call.
pub fn sign(
    cache: &SigningKeyCache,
    creds: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
    req: &Request<'_>,
) -> Result<SignedHeaders, AmbError> {
    if let Some(headers) = try_sign(cache, creds, region, service, time, req) {
        return Ok(headers);
    }
    // aws-sigv4 panics on a time past year 9999 (it signs times before 1970): refuse it here.
    if time > UNIX_EPOCH && format_date_time(time).is_none() {
        return Err(AmbError::Signing(format!(
            "cannot sign at {time:?}: SigV4 dates end with year 9999; check this machine's clock"
        )));
    }
    sign_with_aws_sigv4(&creds.clone().into(), region, service, time, req)
}

/// Signs `req` with aws-sigv4's `sign()` and `SigningSettings::default()`: the reference the
/// fast path must match, and the fallback for what it does not handle.
pub fn sign_with_aws_sigv4(
    identity: &Identity,
    region: &str,
    service: &str,
    time: SystemTime,
    req: &Request<'_>,
) -> Result<SignedHeaders, AmbError> {
    let settings = SigningSettings::default();
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| AmbError::Signing(e.to_string()))?
        .into();
    let headers = std::iter::once(("host", req.authority)).chain(req.headers.iter().copied());
    let signable = SignableRequest::new(
        req.method,
        req.url.as_str(),
        headers,
        SignableBody::Bytes(req.body),
    )
    .map_err(|e| AmbError::Signing(e.to_string()))?;
    let (instructions, _signature) = aws_sigv4::http_request::sign(signable, &params)
        .map_err(|e| AmbError::Signing(e.to_string()))?
        .into_parts();
    let (headers, _params) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|h| (h.name(), h.value().to_owned()))
        .collect())
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

/// Byte classes, one bit each, looked up in [`CLASSES`].
const UNRESERVED: u8 = 1;
/// In a host: letters, digits, `.`, `-`, and `[`, `]`, `:` for IPv6 literals.
const HOST: u8 = 4;
/// In a path the fast path signs: unreserved but `.`, `/`, sub-delims, `:`, `@`, `%`.
const PATH: u8 = 8;
/// In a query the fast path signs: unreserved, `&`, `=`, `+`, `%`.
const QUERY: u8 = 16;
/// Lower-case header name characters.
const NAME: u8 = 32;

static CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let alnum = c.is_ascii_alphanumeric();
        let unreserved = alnum || matches!(c, b'-' | b'.' | b'_' | b'~');
        let mut class = 0;
        if unreserved {
            class |= UNRESERVED;
        }
        if alnum || matches!(c, b'.' | b'-' | b'[' | b']' | b':') {
            class |= HOST;
        }
        if (unreserved && c != b'.')
            || matches!(
                c,
                b'/' | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
            )
        {
            class |= PATH;
        }
        if unreserved || matches!(c, b'&' | b'=' | b'+' | b'%') {
            class |= QUERY;
        }
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' {
            class |= NAME;
        }

        t[b] = class;
        b += 1;
    }
    t
};

/// Whether every byte is in `class` (branch-free over the bytes).
fn all_in(bytes: &[u8], class: u8) -> bool {
    bytes
        .iter()
        .fold(class, |acc, &b| acc & CLASSES[usize::from(b)])
        == class
}

/// Whether every byte is in `lo..=hi` (vectorisable: session tokens are about 1 KB).
fn all_between(bytes: &[u8], lo: u8, hi: u8) -> bool {
    bytes
        .iter()
        .fold(true, |ok, &b| ok & (b.wrapping_sub(lo) <= hi - lo))
}

fn is_unreserved(b: u8) -> bool {
    CLASSES[usize::from(b)] & UNRESERVED != 0
}

fn is_simple_method(m: &str) -> bool {
    !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase())
}

/// A header value aws-sigv4 would leave as is: visible ASCII, single inner spaces.
fn is_simple_value(v: &str) -> bool {
    let b = v.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    first != b' '
        && last != b' '
        && all_between(b, 0x20, 0x7e)
        && (!b.contains(&b' ') || !b.windows(2).any(|w| w == b"  "))
}

/// A lower-case header name that aws-sigv4 signs as given (not `host`, not one it adds or
/// excludes from signing).
fn is_simple_header_name(name: &str) -> bool {
    !name.is_empty()
        && all_in(name.as_bytes(), NAME)
        && !matches!(
            name,
            "host"
                | "authorization"
                | "user-agent"
                | "x-amzn-trace-id"
                | "transfer-encoding"
                | "x-amz-date"
                | "x-amz-security-token"
                | "x-amz-content-sha256"
        )
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// Whether every `%` starts a `%XX` escape (of an ASCII byte, if `ascii`).
fn escapes_ok(bytes: &[u8], ascii: bool) -> bool {
    let mut i = 0;
    while let Some(at) = bytes[i..].iter().position(|&b| b == b'%') {
        let p = i + at;
        match (bytes.get(p + 1), bytes.get(p + 2)) {
            (Some(&hi), Some(&lo)) if is_hex(hi) && is_hex(lo) => {
                if ascii && hex_val(hi) >= 8 {
                    return false;
                }
            }
            _ => return false,
        }
        i = p + 3;
    }
    true
}

/// Whether the URL's path and query are in the subset whose canonical form this module
/// reproduces exactly (and which `http::Uri` parses as the `url` crate wrote it).
fn check_url(url: &Url) -> Option<()> {
    if url.as_str().len() > MAX_URL_LEN
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let host = url.host_str()?.as_bytes();
    if host.is_empty() || !all_in(host, HOST) {
        return None;
    }
    // Path: absolute, no dot segments or empty segments (aws-sigv4 would normalise them; `.`
    // is not in the class at all), well-formed `%XX`.
    let path = url.path().as_bytes();
    if path.first() != Some(&b'/')
        || !all_in(path, PATH)
        || path.windows(2).any(|w| w == b"//")
        || !escapes_ok(path, false)
    {
        return None;
    }
    // Query: form-decodes to ASCII.
    let query = url.query().unwrap_or_default().as_bytes();
    if !all_in(query, QUERY) || !escapes_ok(query, true) {
        return None;
    }
    Some(())
}

fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Writes `b` percent-encoded (`%XX`, upper case) or as is, as aws-smithy's encoders do.
fn put_encoded(h: &mut Sha256, b: u8, keep: bool) {
    if keep {
        h.update([b]);
    } else {
        h.update([
            b'%',
            HEX_UPPER[usize::from(b >> 4)],
            HEX_UPPER[usize::from(b & 15)],
        ]);
    }
}

/// The path, percent-encoded again (aws-sigv4's double encoding: all but unreserved and `/`).
fn write_canonical_path(h: &mut Sha256, path: &str) {
    let bytes = path.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !(is_unreserved(b) || b == b'/') {
            h.update(&bytes[start..i]);
            put_encoded(h, b, false);
            start = i + 1;
        }
    }
    h.update(&bytes[start..]);
}

/// The query: pairs decoded as `application/x-www-form-urlencoded`, each key and value
/// percent-encoded (all but unreserved), sorted by key then value, joined with `&` and `=`.
fn write_canonical_query(h: &mut Sha256, query: &str) {
    if query.is_empty() {
        return;
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (reencode(k), reencode(v))
        })
        .collect();
    pairs.sort();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            h.update(b"&");
        }
        h.update(k.as_bytes());
        h.update(b"=");
        h.update(v.as_bytes());
    }
}

/// Form-decodes (`+` is a space, `%XX` a byte; checked to be ASCII) and percent-encodes again.
fn reencode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(b.len() + 8);
    let mut i = 0;
    while i < b.len() {
        let c = match b[i] {
            b'+' => b' ',
            b'%' => match (b.get(i + 1), b.get(i + 2)) {
                (Some(&hi), Some(&lo)) if is_hex(hi) && is_hex(lo) => {
                    i += 2;
                    hex_val(hi) << 4 | hex_val(lo)
                }
                // Not an escape: form decoding keeps the `%` (`check_url` excludes this).
                _ => b'%',
            },
            c => c,
        };
        if is_unreserved(c) {
            out.push(char::from(c));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(c >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(c & 15)]));
        }
        i += 1;
    }
    out
}

/// Lower-case hex of every byte value.
static HEX_PAIRS: [[u8; 2]; 256] = {
    let mut t = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = [HEX_LOWER[b >> 4], HEX_LOWER[b & 15]];
        b += 1;
    }
    t
};

fn hex32(bytes: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
    }
    out
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

    #[test]
    fn debug_shows_no_key() {
        let cache = SigningKeyCache::new();
        let creds = Credentials::new("AKID", "SECRETKEY", None, None, "t");
        let url = Url::parse("https://h.example/").unwrap();
        let req = request(&url, "GET", b"");
        let out = try_sign(&cache, &creds, "us-east-1", "svc", SystemTime::now(), &req).unwrap();
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
        let err = sign(&cache, &creds, "us-east-1", "svc", after_9999, &req).unwrap_err();
        assert!(err.to_string().contains("clock"), "{err}");
        // The last second of 9999 (fast path), and a time before 1970 (aws-sigv4 signs it).
        let last = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
        assert!(sign(&cache, &creds, "us-east-1", "svc", last, &req).is_ok());
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert!(sign(&cache, &creds, "us-east-1", "svc", before, &req).is_ok());
    }
}
