//! An independent AWS Signature Version 4 verifier, written from the AWS SigV4 specification
//! ("Create a signed AWS API request" / "Elements of an AWS API request signature").
//!
//! It deliberately shares no code with `alloy-amb`'s signer nor with `aws-sigv4`: only `sha2`,
//! `hmac`, `hex` and std, and for SigV4A (`AWS4-ECDSA-P256-SHA256`) `p256` for the curve and
//! ECDSA (the key derivation from the secret, [`sigv4a_private_key`], is written from the
//! SigV4A specification). It is proven against AWS's published SigV4 test-suite vectors in
//! this crate's `tests/sigv4_vectors.rs` and SigV4A vectors in `tests/sigv4a.rs` (with a
//! differential test against aws-sigv4's SigV4A signer), and is used by
//! [`FakeAmb`](crate::FakeAmb) and [`FakeWs`](crate::FakeWs) to check requests exactly as they
//! arrive on the wire.
//!
//! `x-amz-content-sha256: UNSIGNED-PAYLOAD` (VPC Lattice's requirement) is taken as the hashed
//! payload, the body then uncovered, only when that header is itself signed.
//!
//! Most users need nothing here: the gateways verify for you. The step functions are public so
//! a test can check each step of the specification on its own (as the vectors test does) or
//! sign a request by hand, e.g. a malformed one:
//! [`canonical_request`] -> [`string_to_sign`] -> [`signing_key`] -> [`signature`]; [`verify`]
//! does all of it for a received request, and [`sign`] signs one.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// SigV4's algorithm (HMAC-SHA256).
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// SigV4A's algorithm (ECDSA on P-256 over SHA-256), with a region set instead of a region.
pub const ALGORITHM_V4A: &str = "AWS4-ECDSA-P256-SHA256";
/// The `x-amz-content-sha256` value (and hashed-payload line) of a request whose body is not
/// signed (required by VPC Lattice).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Terminator of every SigV4 credential scope.
pub(crate) const SCOPE_TERMINATOR: &str = "aws4_request";
/// Longest validity AWS accepts for a presigned URL (7 days).
pub(crate) const MAX_PRESIGNED_EXPIRES: u64 = 604_800;
/// Clock skew AWS tolerates for header-signed requests (15 minutes).
pub const MAX_CLOCK_SKEW_SECS: u64 = 15 * 60;

/// A request as received (or as written in a test vector).
#[derive(Debug, Clone, Copy)]
pub struct SigV4Request<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path as given: on the wire it is already percent-encoded once (so canonicalisation
    /// encodes it again = "double encoding", as AWS does for every service except S3);
    /// in test vectors it is the raw path from request.txt.
    pub path: &'a str,
    /// Raw query string without '?', if any (as on the wire).
    pub query: Option<&'a str>,
    /// Headers as received: any case, possibly repeated names, values untrimmed.
    pub headers: &'a [(String, String)],
    /// Body bytes as sent.
    pub body: &'a [u8],
}

impl SigV4Request<'_> {
    /// All values of header `name` (case-insensitive), in the order received.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Decoded query parameters `(key, value)` in the order received.
    pub(crate) fn query_params(&self) -> Vec<(String, String)> {
        query_pairs(self.query.unwrap_or(""))
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(&percent_decode(k)).into_owned(),
                    String::from_utf8_lossy(&percent_decode(v)).into_owned(),
                )
            })
            .collect()
    }
}

/// Where the signature came from and what it claims.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedAuth {
    /// The access key id of the credential.
    pub access_key_id: String,
    /// yyyymmdd of the credential scope
    pub date: String,
    /// The region of the credential scope; for SigV4A ([`sigv4a`](Self::sigv4a)), the region
    /// set (`X-Amz-Region-Set`, e.g. `*` or `us-east-1,us-west-2`), which the scope omits.
    pub region: String,
    /// The service of the credential scope.
    pub service: String,
    /// lowercase, as listed
    pub signed_headers: Vec<String>,
    /// The signature (hex) the request carries.
    pub signature: String,
    /// X-Amz-Date header or query param (yyyymmddThhmmssZ)
    pub amz_date: String,
    /// x-amz-security-token header or X-Amz-Security-Token query param
    pub session_token: Option<String>,
    /// true when auth came from X-Amz-* query params
    pub presigned: bool,
    /// X-Amz-Expires for presigned
    pub expires: Option<u64>,
    /// true for SigV4A (`AWS4-ECDSA-P256-SHA256`): the signature is a hex DER ECDSA signature
    /// by the key pair derived from the secret (see [`sigv4a_verifying_key`]).
    pub sigv4a: bool,
}

#[derive(Debug, Clone, PartialEq)]
/// Why a request's signature could not be checked.
pub enum VerifyError {
    /// No Authorization header and no X-Amz-Signature query param.
    Missing,
    /// Present but malformed (say what).
    Malformed(String),
}

fn malformed<T>(msg: impl Into<String>) -> Result<T, VerifyError> {
    Err(VerifyError::Malformed(msg.into()))
}

/// Parse `Authorization: AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=...`
/// (tolerate variable whitespace after commas) plus the X-Amz-Date header; or, for presigned
/// requests, the X-Amz-Algorithm/X-Amz-Credential/X-Amz-Date/X-Amz-Expires/X-Amz-SignedHeaders/X-Amz-Signature query params.
///
/// Structural rules enforced (all reported as `Malformed`): a single auth mechanism (not both
/// header and query), algorithm `AWS4-HMAC-SHA256`, credential scope
/// `AKID/yyyymmdd/region/service/aws4_request`, non-empty lowercase signed headers that include
/// `host` (and `x-amz-date` for header auth), a 64-hex-digit lowercase signature, a well-formed
/// `X-Amz-Date` whose day equals the scope date, and for presigned a numeric `X-Amz-Expires`.
pub fn parse_auth(req: &SigV4Request) -> Result<ParsedAuth, VerifyError> {
    let auth_headers = req.header_values("authorization");
    let params = req.query_params();
    let has_query_sig = params.iter().any(|(k, _)| k == "X-Amz-Signature");
    match (auth_headers.len(), has_query_sig) {
        (0, false) => Err(VerifyError::Missing),
        (0, true) => parse_presigned(req, &params),
        (1, false) => parse_header_auth(req, auth_headers[0]),
        (1, true) => malformed("both an Authorization header and an X-Amz-Signature query param"),
        (n, _) => malformed(format!("{n} Authorization headers")),
    }
}

fn parse_header_auth(req: &SigV4Request, value: &str) -> Result<ParsedAuth, VerifyError> {
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    let (algorithm, rest) = match value.find([' ', '\t']) {
        Some(i) => (&value[..i], value[i..].trim_start_matches([' ', '\t'])),
        None => return malformed(format!("Authorization has no components: {value:?}")),
    };
    let sigv4a = match algorithm {
        ALGORITHM => false,
        ALGORITHM_V4A => true,
        _ => {
            return malformed(format!(
                "Authorization algorithm {algorithm:?}, expected {ALGORITHM:?} or {ALGORITHM_V4A:?}"
            ))
        }
    };
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim_matches(|c| c == ' ' || c == '\t');
        let Some((key, val)) = part.split_once('=') else {
            return malformed(format!("Authorization component without '=': {part:?}"));
        };
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            other => return malformed(format!("unknown Authorization component {other:?}")),
        };
        if slot.replace(val).is_some() {
            return malformed(format!("duplicate Authorization component {key:?}"));
        }
    }
    let Some(credential) = credential else {
        return malformed("Authorization lacks Credential=");
    };
    let Some(signed_headers) = signed_headers else {
        return malformed("Authorization lacks SignedHeaders=");
    };
    let Some(signature) = signature else {
        return malformed("Authorization lacks Signature=");
    };

    let dates = req.header_values("x-amz-date");
    let amz_date = match dates.as_slice() {
        [] => return malformed("missing X-Amz-Date header"),
        [d] => d.trim_matches(|c| c == ' ' || c == '\t').to_string(),
        _ => return malformed("more than one X-Amz-Date header"),
    };
    let tokens = req.header_values("x-amz-security-token");
    let session_token = match tokens.as_slice() {
        [] => None,
        [t] => Some(t.trim_matches(|c| c == ' ' || c == '\t').to_string()),
        _ => return malformed("more than one X-Amz-Security-Token header"),
    };

    let signed_headers = parse_signed_headers(signed_headers)?;
    if !signed_headers.iter().any(|h| h == "x-amz-date") {
        return malformed("SignedHeaders must include x-amz-date");
    }
    let (access_key_id, date, region, service) = if sigv4a {
        let (akid, date, service) = parse_credential_v4a(credential)?;
        let sets = req.header_values("x-amz-region-set");
        let [set] = sets.as_slice() else {
            return malformed("SigV4A needs exactly one X-Amz-Region-Set header");
        };
        if !signed_headers.iter().any(|h| h == "x-amz-region-set") {
            return malformed("SignedHeaders must include x-amz-region-set");
        }
        let set = set.trim_matches(|c| c == ' ' || c == '\t').to_string();
        (akid, date, set, service)
    } else {
        parse_credential(credential)?
    };
    check_signature_format(signature, sigv4a)?;
    check_amz_date(&amz_date, &date)?;
    Ok(ParsedAuth {
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        signature: signature.to_string(),
        amz_date,
        session_token,
        presigned: false,
        expires: None,
        sigv4a,
    })
}

fn parse_presigned(
    _req: &SigV4Request,
    params: &[(String, String)],
) -> Result<ParsedAuth, VerifyError> {
    let get = |name: &str| -> Result<Option<&str>, VerifyError> {
        let mut found = params.iter().filter(|(k, _)| k == name);
        let first = found.next().map(|(_, v)| v.as_str());
        if found.next().is_some() {
            return malformed(format!("duplicate query param {name}"));
        }
        Ok(first)
    };
    let require = |name: &str| -> Result<&str, VerifyError> {
        get(name)?.ok_or_else(|| VerifyError::Malformed(format!("missing query param {name}")))
    };
    let algorithm = require("X-Amz-Algorithm")?;
    let sigv4a = match algorithm {
        ALGORITHM => false,
        ALGORITHM_V4A => true,
        _ => {
            return malformed(format!(
                "X-Amz-Algorithm {algorithm:?}, expected {ALGORITHM:?} or {ALGORITHM_V4A:?}"
            ))
        }
    };
    let (access_key_id, date, region, service) = if sigv4a {
        let (akid, date, service) = parse_credential_v4a(require("X-Amz-Credential")?)?;
        (
            akid,
            date,
            require("X-Amz-Region-Set")?.to_string(),
            service,
        )
    } else {
        parse_credential(require("X-Amz-Credential")?)?
    };
    let amz_date = require("X-Amz-Date")?.to_string();
    check_amz_date(&amz_date, &date)?;
    let expires_raw = require("X-Amz-Expires")?;
    let expires = match expires_raw.parse::<u64>() {
        Ok(e) if expires_raw.bytes().all(|b| b.is_ascii_digit()) => e,
        _ => return malformed(format!("X-Amz-Expires not a number: {expires_raw:?}")),
    };
    let signed_headers = parse_signed_headers(require("X-Amz-SignedHeaders")?)?;
    let signature = require("X-Amz-Signature")?;
    check_signature_format(signature, sigv4a)?;
    let session_token = get("X-Amz-Security-Token")?.map(str::to_string);
    Ok(ParsedAuth {
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        signature: signature.to_string(),
        amz_date,
        session_token,
        presigned: true,
        expires: Some(expires),
        sigv4a,
    })
}

/// `AKID/yyyymmdd/region/service/aws4_request` → (akid, date, region, service).
fn parse_credential(credential: &str) -> Result<(String, String, String, String), VerifyError> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [akid, date, region, service, terminator] = parts.as_slice() else {
        return malformed(format!(
            "Credential must be AKID/date/region/service/aws4_request, got {credential:?}"
        ));
    };
    if *terminator != SCOPE_TERMINATOR {
        return malformed(format!(
            "credential scope must end with {SCOPE_TERMINATOR:?}, got {terminator:?}"
        ));
    }
    if akid.is_empty() || region.is_empty() || service.is_empty() {
        return malformed(format!("empty field in Credential {credential:?}"));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return malformed(format!("credential scope date not yyyymmdd: {date:?}"));
    }
    Ok((
        akid.to_string(),
        date.to_string(),
        region.to_string(),
        service.to_string(),
    ))
}

/// SigV4A's `AKID/yyyymmdd/service/aws4_request` (no region) → (akid, date, service).
fn parse_credential_v4a(credential: &str) -> Result<(String, String, String), VerifyError> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [akid, date, service, terminator] = parts.as_slice() else {
        return malformed(format!(
            "SigV4A Credential must be AKID/date/service/aws4_request, got {credential:?}"
        ));
    };
    if *terminator != SCOPE_TERMINATOR {
        return malformed(format!(
            "credential scope must end with {SCOPE_TERMINATOR:?}, got {terminator:?}"
        ));
    }
    if akid.is_empty() || service.is_empty() {
        return malformed(format!("empty field in Credential {credential:?}"));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return malformed(format!("credential scope date not yyyymmdd: {date:?}"));
    }
    Ok((akid.to_string(), date.to_string(), service.to_string()))
}

fn parse_signed_headers(list: &str) -> Result<Vec<String>, VerifyError> {
    let headers: Vec<String> = list.split(';').map(str::to_string).collect();
    if let Some(bad) = headers
        .iter()
        .find(|h| h.is_empty() || h.bytes().any(|b| b.is_ascii_uppercase() || b <= b' '))
    {
        return malformed(format!(
            "SignedHeaders entries must be non-empty lowercase names: {bad:?} in {list:?}"
        ));
    }
    if !headers.iter().any(|h| h == "host") {
        return malformed(format!("SignedHeaders must include host: {list:?}"));
    }
    Ok(headers)
}

fn check_signature_format(signature: &str, sigv4a: bool) -> Result<(), VerifyError> {
    let lower_hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if sigv4a {
        // A DER ECDSA P-256 signature: 8 to 72 bytes.
        if !signature.len().is_multiple_of(2)
            || !(16..=144).contains(&signature.len())
            || !lower_hex(signature)
        {
            return malformed(format!(
                "SigV4A Signature must be a hex DER ECDSA signature: {signature:?}"
            ));
        }
        return Ok(());
    }
    if signature.len() != 64
        || !signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return malformed(format!(
            "Signature must be 64 lowercase hex digits: {signature:?}"
        ));
    }
    Ok(())
}

fn check_amz_date(amz_date: &str, scope_date: &str) -> Result<(), VerifyError> {
    if parse_amz_date(amz_date).is_none() {
        return malformed(format!("X-Amz-Date not yyyymmddThhmmssZ: {amz_date:?}"));
    }
    if &amz_date[..8] != scope_date {
        return malformed(format!(
            "X-Amz-Date {amz_date:?} is not on the credential scope date {scope_date:?}"
        ));
    }
    Ok(())
}

/// The canonical request per the spec. `signed_headers` are the lowercase names to include.
/// `normalize_path`: RFC 3986 remove-dot-segments and collapse repeated slashes (true for all
/// non-S3 services). Path encoding: percent-encode each byte of the (normalized) path except
/// unreserved chars (A-Z a-z 0-9 - _ . ~) and '/', uppercase hex.
/// Query: split on '&', each into key/value at first '=' (missing '=' → empty value),
/// if `presigned` drop `X-Amz-Signature`, URI-encode key and value (after decoding any existing
/// %XX, so that already-encoded input is not double-encoded), sort by encoded key then value,
/// join with '&'.
/// Headers: lowercase names, trim values, collapse sequential spaces to one (obs-folded
/// multi-line values become one line), join repeated header values with ',' in order received.
/// Payload hash: the literal value of x-amz-content-sha256 if that header is present, else the
/// hex sha256 of the body.
pub fn canonical_request(
    req: &SigV4Request,
    signed_headers: &[String],
    normalize_path: bool,
    presigned: bool,
) -> String {
    canonical_request_with_payload(
        req,
        signed_headers,
        normalize_path,
        presigned,
        &payload_hash(req),
    )
}

/// [`canonical_request`] with the hashed-payload line given (`payload`): what a service that
/// ignores `x-amz-content-sha256` and always hashes the body computes (Lambda function URLs),
/// or a signer's view before the header is added.
pub fn canonical_request_with_payload(
    req: &SigV4Request,
    signed_headers: &[String],
    normalize_path: bool,
    presigned: bool,
    payload: &str,
) -> String {
    let mut names: Vec<String> = signed_headers
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();

    let mut out = String::new();
    out.push_str(req.method);
    out.push('\n');
    out.push_str(&canonical_path(req.path, normalize_path));
    out.push('\n');
    out.push_str(&canonical_query(req.query.unwrap_or(""), presigned));
    out.push('\n');
    for name in &names {
        let values: Vec<String> = req
            .header_values(name)
            .into_iter()
            .map(canonical_header_value)
            .collect();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&names.join(";"));
    out.push('\n');
    out.push_str(payload);
    out
}

/// The hashed-payload line: the x-amz-content-sha256 header if present (a hash, or
/// [`UNSIGNED_PAYLOAD`]), else sha256(body).
pub fn payload_hash(req: &SigV4Request) -> String {
    match req.header_values("x-amz-content-sha256").first() {
        Some(v) => v.trim_matches(|c| c == ' ' || c == '\t').to_string(),
        None => sha256_hex(req.body),
    }
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// CanonicalURI: optionally normalized (remove dot segments, collapse empty segments), then
/// every byte except unreserved characters and '/' percent-encoded. An empty path is "/".
pub fn canonical_path(path: &str, normalize: bool) -> String {
    let path = if normalize {
        normalize_path(path)
    } else if path.is_empty() {
        "/".to_string()
    } else {
        path.to_string()
    };
    uri_encode(path.as_bytes(), false)
}

/// RFC 3986 section 5.2.4 remove_dot_segments, plus collapsing of repeated slashes, as AWS does
/// for every service except S3. The result always starts with '/'; a trailing slash (or a final
/// "." / ".." segment, which denotes a directory) is kept.
pub fn normalize_path(path: &str) -> String {
    let mut stack: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let mut trailing_slash = false;
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "" | "." => trailing_slash = last,
            ".." => {
                stack.pop();
                trailing_slash = last;
            }
            s => {
                stack.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::from("/");
    out.push_str(&stack.join("/"));
    if trailing_slash && !stack.is_empty() {
        out.push('/');
    }
    out
}

/// CanonicalQueryString from a raw query string (see [`canonical_request`]).
pub fn canonical_query(query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .into_iter()
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .filter(|(k, _)| !(presigned && k.as_slice() == b"X-Amz-Signature"))
        .map(|(k, v)| (uri_encode(&k, true), uri_encode(&v, true)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Split a raw query on '&' (skipping empty pieces) and each piece at its first '='.
fn query_pairs(query: &str) -> Vec<(&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect()
}

/// Decode `%XX` escapes (either hex case); anything else, including a malformed escape, is
/// kept literally. '+' is NOT treated as a space.
pub(crate) fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// SigV4 URI encoding: every byte except A-Z a-z 0-9 - _ . ~ becomes %XX (uppercase hex);
/// '/' is also kept unless `encode_slash`.
pub(crate) fn uri_encode(bytes: &[u8], encode_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (b == b'/' && !encode_slash);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Header value canonicalisation: unfold obs-folded lines (CRLF/LF followed by whitespace
/// become one space), trim leading/trailing spaces and tabs, collapse runs of spaces to one.
pub fn canonical_header_value(value: &str) -> String {
    let mut unfolded = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' || c == '\n' {
            while matches!(chars.peek(), Some('\r' | '\n' | ' ' | '\t')) {
                chars.next();
            }
            unfolded.push(' ');
        } else {
            unfolded.push(c);
        }
    }
    let trimmed = unfolded.trim_matches(|c| c == ' ' || c == '\t');
    let mut out = String::with_capacity(trimmed.len());
    let mut prev_space = false;
    for c in trimmed.chars() {
        if c == ' ' {
            if !prev_space {
                out.push(c);
            }
            prev_space = true;
        } else {
            out.push(c);
            prev_space = false;
        }
    }
    out
}

/// SigV4A's string to sign: algorithm `AWS4-ECDSA-P256-SHA256` and a scope without region
/// (`<date>/<service>/aws4_request`); the region set is a signed header (or query param).
pub fn string_to_sign_v4a(
    amz_date: &str,
    date: &str,
    service: &str,
    canonical_request: &str,
) -> String {
    format!(
        "{ALGORITHM_V4A}\n{amz_date}\n{date}/{service}/{SCOPE_TERMINATOR}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The string to sign `auth` claims to sign with `canonical_request` (SigV4 or SigV4A).
pub fn string_to_sign_for(auth: &ParsedAuth, canonical_request: &str) -> String {
    if auth.sigv4a {
        string_to_sign_v4a(&auth.amz_date, &auth.date, &auth.service, canonical_request)
    } else {
        string_to_sign(
            &auth.amz_date,
            &auth.date,
            &auth.region,
            &auth.service,
            canonical_request,
        )
    }
}

/// The string to sign for a canonical request, its `X-Amz-Date` and its scope.
pub fn string_to_sign(
    amz_date: &str,
    date: &str,
    region: &str,
    service: &str,
    canonical_request: &str,
) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{date}/{region}/{service}/{SCOPE_TERMINATOR}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The SigV4 signing key: HMAC chain over date, region, service and `aws4_request`.
pub fn signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(
        format!("AWS4{secret_access_key}").as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, SCOPE_TERMINATOR.as_bytes())
}

/// The hex signature of `string_to_sign` under `signing_key`.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(signing_key, string_to_sign.as_bytes()))
}

/// SigV4A's P-256 private key for an access key pair, derived as the SigV4A specification
/// does: NIST SP 800-108 KDF in counter mode with HMAC-SHA256 keyed by `"AWS4A" + secret`,
/// fixed input `i (=1, 4 bytes BE) || "AWS4-ECDSA-P256-SHA256" || 0x00 || access key id ||
/// counter (1 byte) || L (=256, 4 bytes BE)`; the first candidate (counter 1, 2, ...) not
/// above n - 2 (n: the P-256 group order) gives the private key candidate + 1.
///
/// Returns the 32 big-endian bytes of the private scalar.
pub fn sigv4a_private_key(access_key_id: &str, secret: &str) -> [u8; 32] {
    /// n - 2 for P-256, big-endian (n = ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551).
    const N_MINUS_2: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x4f,
    ];
    let key = format!("AWS4A{secret}");
    for counter in 1u8..=254 {
        let mut input = Vec::new();
        input.extend_from_slice(&1u32.to_be_bytes());
        input.extend_from_slice(ALGORITHM_V4A.as_bytes());
        input.push(0);
        input.extend_from_slice(access_key_id.as_bytes());
        input.push(counter);
        input.extend_from_slice(&256u32.to_be_bytes());
        let candidate = hmac_sha256(key.as_bytes(), &input);
        // Big-endian byte arrays of equal length compare like the integers they hold.
        if candidate <= N_MINUS_2 {
            let mut private = candidate;
            for byte in private.iter_mut().rev() {
                let (sum, carry) = byte.overflowing_add(1);
                *byte = sum;
                if !carry {
                    break;
                }
            }
            return private;
        }
    }
    unreachable!("254 candidates all above n - 2 (probability about 2^-8000)")
}

/// The SigV4A public key (for ECDSA verification) of an access key pair: the P-256 point of
/// [`sigv4a_private_key`].
pub fn sigv4a_verifying_key(access_key_id: &str, secret: &str) -> p256::ecdsa::VerifyingKey {
    let private = sigv4a_private_key(access_key_id, secret);
    let signing = p256::ecdsa::SigningKey::from_slice(&private)
        .expect("the derivation yields a scalar in 1..n-1");
    *signing.verifying_key()
}

/// Checks a SigV4A signature (hex DER) over `string_to_sign` with `key`.
pub fn verify_sigv4a_signature(
    key: &p256::ecdsa::VerifyingKey,
    string_to_sign: &str,
    signature_hex: &str,
) -> Result<(), String> {
    use p256::ecdsa::signature::Verifier;
    let der = hex::decode(signature_hex).map_err(|e| format!("SigV4A signature not hex: {e}"))?;
    let signature = p256::ecdsa::Signature::from_der(&der)
        .map_err(|e| format!("SigV4A signature not DER ECDSA: {e}"))?;
    key.verify(string_to_sign.as_bytes(), &signature)
        .map_err(|_| "SigV4A signature does not verify with the key derived from the secret".into())
}

/// Recompute the signature `auth` should carry for `req` under `secret`.
pub fn expected_signature(
    req: &SigV4Request,
    auth: &ParsedAuth,
    secret: &str,
    normalize_path: bool,
) -> String {
    let creq = canonical_request(req, &auth.signed_headers, normalize_path, auth.presigned);
    let sts = string_to_sign(
        &auth.amz_date,
        &auth.date,
        &auth.region,
        &auth.service,
        &creq,
    );
    signature(
        &signing_key(secret, &auth.date, &auth.region, &auth.service),
        &sts,
    )
}

/// Full check: recompute the signature for `auth` with `secret` and compare (constant-time not needed).
/// Returns Ok(()) or Err(expected_signature) so callers can report.
///
/// For SigV4A (`auth.sigv4a`) there is no one expected signature (ECDSA signatures are
/// randomised): the DER signature is verified over the SigV4A string to sign with the public
/// key derived from `secret` ([`sigv4a_verifying_key`]), and Err says why it failed.
///
/// Additionally, as AWS does, when the request carries an `x-amz-content-sha256` header holding
/// a hash (not `UNSIGNED-PAYLOAD` / `STREAMING-…`), that hash must equal sha256 of the body;
/// otherwise Err carries a message starting with "x-amz-content-sha256 mismatch" (the signature
/// alone cannot catch a body swapped under a signed hash header).
///
/// A request whose `x-amz-content-sha256` is [`UNSIGNED_PAYLOAD`] is accepted with that literal
/// as the hashed-payload line (the body is not covered), but only if the header is listed in
/// `SignedHeaders`: otherwise Err carries a message starting with "x-amz-content-sha256 is not
/// signed" (anyone on the path could otherwise turn a signed-payload request into an unsigned
/// one).
pub fn verify(
    req: &SigV4Request,
    auth: &ParsedAuth,
    secret: &str,
    normalize_path: bool,
) -> Result<(), String> {
    if auth.sigv4a {
        let creq = canonical_request(req, &auth.signed_headers, normalize_path, auth.presigned);
        let sts = string_to_sign_for(auth, &creq);
        let key = sigv4a_verifying_key(&auth.access_key_id, secret);
        verify_sigv4a_signature(&key, &sts, &auth.signature)?;
    } else {
        let expected = expected_signature(req, auth, secret, normalize_path);
        if expected != auth.signature {
            return Err(expected);
        }
    }
    if let Some(claimed) = req.header_values("x-amz-content-sha256").first() {
        let claimed = claimed.trim_matches(|c| c == ' ' || c == '\t');
        if claimed == UNSIGNED_PAYLOAD
            && !auth
                .signed_headers
                .iter()
                .any(|h| h == "x-amz-content-sha256")
        {
            return Err(format!(
                "x-amz-content-sha256 is not signed: {UNSIGNED_PAYLOAD} must be in SignedHeaders"
            ));
        }
        let is_hash = claimed.len() == 64 && claimed.bytes().all(|b| b.is_ascii_hexdigit());
        let actual = sha256_hex(req.body);
        if is_hash && !claimed.eq_ignore_ascii_case(&actual) {
            return Err(format!(
                "x-amz-content-sha256 mismatch: header {claimed}, body sha256 {actual}"
            ));
        }
    }
    Ok(())
}

/// Freshness check as AWS applies it, `now` in seconds since the Unix epoch.
/// Header auth: |now − X-Amz-Date| ≤ `max_skew_secs` (AWS uses 15 minutes).
/// Presigned: 1 ≤ X-Amz-Expires ≤ 604800 and X-Amz-Date − skew ≤ now ≤ X-Amz-Date + expires.
pub fn check_time(auth: &ParsedAuth, now: u64, max_skew_secs: u64) -> Result<(), String> {
    let signed_at = parse_amz_date(&auth.amz_date)
        .ok_or_else(|| format!("bad X-Amz-Date {:?}", auth.amz_date))?;
    if auth.presigned {
        let expires = auth
            .expires
            .ok_or("presigned request without X-Amz-Expires")?;
        if expires == 0 || expires > MAX_PRESIGNED_EXPIRES {
            return Err(format!(
                "X-Amz-Expires {expires} outside 1..={MAX_PRESIGNED_EXPIRES}"
            ));
        }
        if now + max_skew_secs < signed_at {
            return Err(format!(
                "presigned request not yet valid: signed at {signed_at}, now {now}"
            ));
        }
        if now > signed_at + expires {
            return Err(format!(
                "presigned request expired at {}, now {now}",
                signed_at + expires
            ));
        }
    } else if now.abs_diff(signed_at) > max_skew_secs {
        return Err(format!(
            "request time {signed_at} too skewed from now {now} (max {max_skew_secs}s)"
        ));
    }
    Ok(())
}

/// Parse "20150830T123600Z" into seconds since the Unix epoch (no chrono; write the civil-date arithmetic).
pub fn parse_amz_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u64> {
        let digits = &b[range];
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0')),
        )
    };
    let year = num(0..4)?;
    let month = num(4..6)?;
    let day = num(6..8)?;
    let hour = num(9..11)?;
    let minute = num(11..13)?;
    let second = num(13..15)?;
    if year < 1970 || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn is_leap(year: u64) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic-Gregorian date with year ≥ 1970
/// (Howard Hinnant's `days_from_civil`, with eras starting on March 1st).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400; // [0, 399]
    let mp = (month + 9) % 12; // March = 0 … February = 11
    let doy = (153 * mp + 2) / 5 + day - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Who signs and for which scope, for [`sign`].
#[derive(Clone)]
pub struct SignParams<'a> {
    /// The access key id.
    pub access_key: &'a str,
    /// Its secret.
    pub secret: &'a str,
    /// The session token of temporary credentials (sent as, and signed in,
    /// `x-amz-security-token`).
    pub session_token: Option<&'a str>,
    /// The region of the scope.
    pub region: &'a str,
    /// The service of the scope.
    pub service: &'a str,
    /// `X-Amz-Date` (`yyyymmddThhmmssZ`), e.g. from [`crate::fmt_amz`].
    pub amz_date: String,
    /// `Some(set)`: sign with SigV4A for this region set (e.g. `*`), sent and signed as
    /// `X-Amz-Region-Set`; `region` is then unused.
    pub region_set: Option<&'a str>,
}

impl std::fmt::Debug for SignParams<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignParams")
            .field("access_key", &self.access_key)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("amz_date", &self.amz_date)
            .field("region_set", &self.region_set)
            .finish_non_exhaustive()
    }
}

/// Signs a request by the specification's steps (SigV4, or SigV4A with
/// [`SignParams::region_set`]) and adds `X-Amz-Date` (unless present), `X-Amz-Security-Token`
/// (with a session token), `X-Amz-Region-Set` (SigV4A) and `Authorization` to `headers`: for tests
/// that write raw requests, malformed ones included, without the signer under test.
///
/// Every header in `headers` (which must hold `host`) is signed except those named in
/// `leave_unsigned`. The hashed-payload line is [`payload_hash`]: the `x-amz-content-sha256`
/// header if the caller put one (e.g. [`UNSIGNED_PAYLOAD`]), else the body's SHA-256.
pub fn sign(
    params: &SignParams,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &mut Vec<(String, String)>,
    body: &[u8],
    leave_unsigned: &[&str],
) {
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("x-amz-date"))
    {
        headers.push(("x-amz-date".into(), params.amz_date.clone()));
    }
    if let Some(token) = params.session_token {
        headers.push(("x-amz-security-token".into(), token.into()));
    }
    if let Some(set) = params.region_set {
        headers.push(("x-amz-region-set".into(), set.into()));
    }
    let mut signed: Vec<String> = headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .filter(|k| !leave_unsigned.iter().any(|u| u.eq_ignore_ascii_case(k)))
        .collect();
    signed.sort();
    signed.dedup();
    let req = SigV4Request {
        method,
        path,
        query,
        headers,
        body,
    };
    let date = &params.amz_date[..8];
    let creq = canonical_request(&req, &signed, true, false);
    if params.region_set.is_some() {
        use p256::ecdsa::signature::Signer;
        let sts = string_to_sign_v4a(&params.amz_date, date, params.service, &creq);
        let private = sigv4a_private_key(params.access_key, params.secret);
        let key = p256::ecdsa::SigningKey::from_slice(&private)
            .expect("the derivation yields a scalar in 1..n-1");
        let sig: p256::ecdsa::Signature = key.sign(sts.as_bytes());
        let authorization = format!(
            "{ALGORITHM_V4A} Credential={}/{date}/{}/{SCOPE_TERMINATOR}, SignedHeaders={}, Signature={}",
            params.access_key,
            params.service,
            signed.join(";"),
            hex::encode(sig.to_der().as_bytes())
        );
        headers.push(("authorization".into(), authorization));
        return;
    }
    let sts = string_to_sign(&params.amz_date, date, params.region, params.service, &creq);
    let key = signing_key(params.secret, date, params.region, params.service);
    let authorization = format!(
        "{ALGORITHM} Credential={}/{date}/{}/{}/{SCOPE_TERMINATOR}, SignedHeaders={}, Signature={}",
        params.access_key,
        params.region,
        params.service,
        signed.join(";"),
        signature(&key, &sts)
    );
    headers.push(("authorization".into(), authorization));
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}"#;

    fn params() -> SignParams<'static> {
        SignParams {
            access_key: "AKIDEXAMPLE",
            secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session_token: None,
            region: "us-east-1",
            service: "vpc-lattice-svcs",
            amz_date: "20150830T123600Z".into(),
            region_set: None,
        }
    }

    /// Signs a POST with `payload` as `x-amz-content-sha256`, leaving `leave_unsigned` out.
    fn signed(payload: &str, leave_unsigned: &[&str]) -> Vec<(String, String)> {
        let mut headers = vec![
            ("host".to_owned(), "svc.example".to_owned()),
            ("x-amz-content-sha256".to_owned(), payload.to_owned()),
        ];
        sign(
            &params(),
            "POST",
            "/",
            None,
            &mut headers,
            BODY,
            leave_unsigned,
        );
        headers
    }

    fn check(headers: &[(String, String)], body: &[u8]) -> Result<(), String> {
        let req = SigV4Request {
            method: "POST",
            path: "/",
            query: None,
            headers,
            body,
        };
        let auth = parse_auth(&req).map_err(|e| format!("{e:?}"))?;
        verify(&req, &auth, params().secret, true)
    }

    /// A signed `UNSIGNED-PAYLOAD` is the hashed-payload line: the signature holds, and does
    /// not cover the body (Lattice's model).
    #[test]
    fn unsigned_payload_signed_is_accepted_and_leaves_the_body_uncovered() {
        let headers = signed(UNSIGNED_PAYLOAD, &[]);
        assert_eq!(check(&headers, BODY), Ok(()));
        assert_eq!(check(&headers, b"another body"), Ok(()));
        let req = SigV4Request {
            method: "POST",
            path: "/",
            query: None,
            headers: &headers,
            body: BODY,
        };
        let creq = canonical_request(&req, &["host".into()], true, false);
        assert!(creq.ends_with("\nUNSIGNED-PAYLOAD"), "{creq}");
    }

    /// An `UNSIGNED-PAYLOAD` header left out of `SignedHeaders` is refused, even though the
    /// signature itself matches.
    #[test]
    fn unsigned_payload_not_signed_is_refused() {
        let headers = signed(UNSIGNED_PAYLOAD, &["x-amz-content-sha256"]);
        let err = check(&headers, BODY).unwrap_err();
        assert!(
            err.starts_with("x-amz-content-sha256 is not signed"),
            "{err}"
        );
    }

    /// A hash in the header must be the body's, and then covers it.
    #[test]
    fn a_payload_hash_covers_the_body() {
        let headers = signed(&sha256_hex(BODY), &[]);
        assert_eq!(check(&headers, BODY), Ok(()));
        let err = check(&headers, b"another body").unwrap_err();
        assert!(err.starts_with("x-amz-content-sha256 mismatch"), "{err}");
    }
}
