//! The one place that withholds secrets from text that comes from the network or from a
//! credential source, and caps its length.
//!
//! Gateways and proxies quote requests back (AWS's signature-mismatch answer holds the
//! canonical request, with the session token; a misconfigured proxy or a debugging endpoint
//! echoes every header, `Authorization` included), and a failing `credential_process` may print
//! anything to stderr. Every such text passes through [`withhold`] before it reaches an error
//! message or a log:
//!
//! 1. the secrets in use ([`Known`]: secret access key, session token, the request's signature,
//!    the billing token) are withheld by value, in any encoding a body may carry them in: as is,
//!    percent-encoded (also twice), JSON-escaped (`\/`, `\u002F`) or HTML character references;
//!    a text that ends partway through one (cut by whoever quoted it) loses that tail too;
//! 2. the value of every name that carries a secret is withheld whatever it is: `Authorization`
//!    (the whole header value), `Signature=`, `X-Amz-Signature`, `X-Amz-Security-Token`,
//!    `billingtoken`, `SessionToken`, `SecretAccessKey`, `aws_secret_access_key`, API keys and
//!    passwords, in header, query, JSON, XML and HTML shapes (a short lowercase word after such
//!    a name, as in `invalid signature: expected ...`, is prose and stays);
//! 3. runs of 40 or more base64 characters mixing upper case, lower case and digits (what AWS
//!    secret keys and session tokens look like) are withheld even when nothing names them;
//! 4. control characters other than newline and tab become spaces, and the result is at most
//!    [`MAX_QUOTED`] bytes (ending in `…` when cut).

use std::fmt;

/// What stands in for a withheld value.
pub(crate) const WITHHELD: &str = "<withheld>";

/// The most bytes of quoted text kept in an error message (before the trailing `…`).
pub(crate) const MAX_QUOTED: usize = 2048;

/// The most bytes of a text that are looked at; secrets beyond [`MAX_QUOTED`] are dropped with
/// the rest, so this only needs to exceed it by more than the longest secret.
const MAX_SCANNED: usize = 64 * 1024;

/// Shorter values are not withheld by value (they would blank out ordinary words).
const MIN_KNOWN: usize = 8;

/// A provider's secrets (header values, bearer tokens, Basic user names and passwords) are
/// withheld by value from this length on.
const MIN_PROVIDER: usize = 5;

/// A text ending with at least this many bytes of a secret's beginning loses them.
const MIN_PARTIAL: usize = 4;

/// Unnamed base64 runs at least this long (and mixing cases and digits) are withheld.
const MIN_OPAQUE_RUN: usize = 40;

/// The secret values in use, withheld wherever they appear. `Debug` shows only how many.
#[derive(Clone, Default)]
pub(crate) struct Known(Vec<Box<str>>);

impl Known {
    /// Adds a secret value (ignored when shorter than 8 bytes or already known).
    pub(crate) fn add(&mut self, value: &str) {
        self.add_min(value, MIN_KNOWN);
    }

    fn add_min(&mut self, value: &str, min: usize) {
        if value.len() >= min && !self.0.iter().any(|v| &**v == value) {
            self.0.push(value.into());
        }
    }

    /// Adds the secret parts of AWS credentials (secret access key, session token).
    pub(crate) fn add_credentials(&mut self, creds: &aws_credential_types::Credentials) {
        self.add(creds.secret_access_key());
        if let Some(token) = creds.session_token() {
            self.add(token);
        }
    }

    /// Adds what a signed request carries on the wire: the signature in an `authorization`
    /// header, an `x-amz-security-token` header, and `billingtoken`, `X-Amz-Signature` or
    /// `X-Amz-Security-Token` in the URL's query.
    pub(crate) fn add_wire(&mut self, headers: &[(&str, String)], url: &url::Url) {
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("authorization") {
                match value.rsplit_once("Signature=") {
                    Some((_, sig)) if value.starts_with("AWS4") => self.add(sig.trim()),
                    _ => self.add_authorization(value),
                }
            } else if name.eq_ignore_ascii_case("x-amz-security-token") {
                self.add(value);
            } else if !is_public_header(name) {
                // A provider's `.header(..)` (e.g. `x-token`): its value is a secret.
                self.add_with_base64(value);
            }
        }
        for (k, v) in url.query_pairs() {
            if ["billingtoken", "x-amz-signature", "x-amz-security-token"]
                .iter()
                .any(|n| k.eq_ignore_ascii_case(n))
            {
                self.add(&v);
            }
        }
    }
}

impl Known {
    /// Adds the credentials of an `Authorization` value of any scheme: what follows the
    /// scheme (`Bearer <token>`, `Basic <base64>`, `Token <key>`), and for Basic the decoded
    /// `user:password` and the password alone.
    pub(crate) fn add_authorization(&mut self, value: &str) {
        let value = value.trim();
        let Some((scheme, credentials)) = value.split_once(' ') else {
            self.add(value);
            return;
        };
        let credentials = credentials.trim();
        self.add_with_base64(credentials);
        if scheme.eq_ignore_ascii_case("basic") {
            if let Some(pair) = aws_smithy_types::base64::decode(credentials)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
            {
                self.add(&pair);
                if let Some((user, password)) = pair.split_once(':') {
                    self.add_with_base64(password);
                    // A lone user name may be the key (`https://KEY@host/`).
                    self.add_with_base64(user);
                }
            }
        }
    }

    /// Adds a provider's secret and its base64 form (a server may quote it re-encoded, as in
    /// a Basic header).
    fn add_with_base64(&mut self, value: &str) {
        // A provider's secret may be short (`basic_auth("u", "hunter2")`): it is withheld as
        // soon as it is 5 bytes long.
        self.add_min(value, MIN_PROVIDER);
        if value.len() >= MIN_KNOWN {
            let encoded = aws_smithy_types::base64::encode(value);
            // Padding is not part of what identifies it.
            self.add(encoded.trim_end_matches('='));
        }
    }

    /// Adds the path segments and query values of a URL (a provider's key in the URL, e.g.
    /// `https://eth-mainnet.example/v2/<key>`), as they are and percent-decoded.
    pub(crate) fn add_url_key(&mut self, url: &url::Url) {
        for segment in url.path_segments().into_iter().flatten() {
            self.add(segment);
            if let Ok(decoded) = percent_encoding::percent_decode_str(segment).decode_utf8() {
                self.add(&decoded);
            }
        }
        for (_, v) in url.query_pairs() {
            self.add(&v);
        }
    }
}

/// Headers whose values are not secrets: what SigV4 signs besides the signature and token.
fn is_public_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    (name.starts_with("x-amz-") && name != "x-amz-security-token")
        || ["host", "content-type", "accept", "user-agent"].contains(&name.as_str())
}

impl fmt::Debug for Known {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Known({} values, withheld)", self.0.len())
    }
}

/// `text` with every secret withheld (see the module docs), at most [`MAX_QUOTED`] bytes.
pub(crate) fn withhold(text: &str, known: &Known) -> String {
    let end = floor_char_boundary(text, MAX_SCANNED);
    let scanned = &text[..end];
    let mut out = withhold_opaque(&withhold_schemes(&withhold_named(&withhold_known(
        scanned, known,
    ))));
    // Two passes may withhold adjoining parts of one value: show one mark.
    let twice = WITHHELD.repeat(2);
    while out.contains(&twice) {
        out = out.replace(&twice, WITHHELD);
    }
    cap_to(&out, end < text.len())
}

/// [`withhold`] over bytes (lossily decoded).
#[cfg_attr(not(feature = "ws"), allow(dead_code))]
pub(crate) fn withhold_bytes(bytes: &[u8], known: &Known) -> String {
    let end = bytes.len().min(MAX_SCANNED);
    let text = String::from_utf8_lossy(&bytes[..end]);
    let mut out = withhold(&text, known);
    if end < bytes.len() && !out.ends_with('…') {
        out.push('…');
    }
    out
}

/// The start of a body, secrets withheld first (so that none is cut in two), then cut to
/// `max` bytes and trimmed.
#[cfg_attr(not(feature = "ws"), allow(dead_code))]
pub(crate) fn withhold_snippet(bytes: &[u8], known: &Known, max: usize) -> String {
    let shown = withhold_bytes(bytes, known);
    let end = floor_char_boundary(&shown, max);
    let mut out = shown[..end].trim().to_owned();
    if end < shown.len() && !out.ends_with('…') {
        out.push('…');
    }
    out
}

/// [`withhold`] with no known values: by name and by shape only (credential sources, whose
/// output is not known in advance).
pub(crate) fn withhold_unknown(text: &str) -> String {
    withhold(text, &Known::default())
}

/// Control characters (but newline and tab) as spaces; at most [`MAX_QUOTED`] bytes, with `…`
/// when anything was cut (here or before).
fn cap_to(text: &str, cut_before: bool) -> String {
    let end = floor_char_boundary(text, MAX_QUOTED);
    let mut out: String = text[..end]
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                ' '
            } else {
                c
            }
        })
        .collect();
    if end < text.len() || cut_before {
        out.push('…');
    }
    out
}

fn floor_char_boundary(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// How a known secret matched at a position.
enum Match {
    None,
    /// The whole secret, ending at this byte offset.
    Full(usize),
    /// The text ended after this many bytes of the secret.
    Tail(usize),
}

/// One byte of a secret at `t[i..]`: how many text bytes encode it.
enum Step {
    No,
    Bytes(usize),
    /// The text ends inside what could be an encoding of it.
    Short,
}

fn hex_value(t: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(t).ok()?;
    u32::from_str_radix(s, 16).ok()
}

fn step(t: &[u8], i: usize, b: u8) -> Step {
    if t[i] == b {
        return Step::Bytes(1);
    }
    escape_step(t, i, b)
}

/// [`step`] reading `t[i..]` as an escape only (`%25` for a secret's own `%`).
fn escape_step(t: &[u8], i: usize, b: u8) -> Step {
    let c = t[i];
    if !b.is_ascii() {
        return Step::No;
    }
    let rest = &t[i..];
    // A fixed-length escape: `prefix` then `digits` hex digits.
    let escape = |prefix: &[u8], digits: usize| -> Option<Step> {
        let n = prefix.len() + digits;
        if rest.len() < n {
            let shown = rest.len().min(prefix.len());
            return rest[..shown]
                .eq_ignore_ascii_case(&prefix[..shown])
                .then_some(Step::Short);
        }
        (rest[..prefix.len()].eq_ignore_ascii_case(prefix)
            && hex_value(&rest[prefix.len()..n]) == Some(u32::from(b)))
        .then_some(Step::Bytes(n))
    };
    match c {
        b'%' => escape(b"%25", 2)
            .filter(|s| matches!(s, Step::Bytes(_)))
            .or_else(|| escape(b"%", 2))
            .unwrap_or(Step::No),
        b'\\' => {
            if b == b'/' && rest.get(1) == Some(&b'/') {
                return Step::Bytes(2);
            }
            escape(b"\\u", 4).unwrap_or(Step::No)
        }
        b'&' => {
            // `&#47;` or `&#x2F;`
            let Some(semi) = rest.iter().take(8).position(|&x| x == b';') else {
                return if rest.len() < 8 && rest.starts_with(b"&#") || rest == b"&" {
                    Step::Short
                } else {
                    Step::No
                };
            };
            let inner = &rest[..semi];
            let value = if inner.len() > 3 && inner[..3].eq_ignore_ascii_case(b"&#x") {
                hex_value(&inner[3..])
            } else if inner.len() > 2 && inner.starts_with(b"&#") {
                std::str::from_utf8(&inner[2..])
                    .ok()
                    .and_then(|d| d.parse().ok())
            } else {
                None
            };
            if value == Some(u32::from(b)) {
                Step::Bytes(semi + 1)
            } else {
                Step::No
            }
        }
        _ => Step::No,
    }
}

fn match_encoded(t: &[u8], i: usize, secret: &[u8]) -> Match {
    let mut budget = MATCH_BUDGET;
    match_from(t, i, secret, 0, &mut budget)
}

/// How many alternative readings one match may try (a secret's own `%`, `\\` or `&` may be
/// itself or the start of an escape of it): bounds the work a crafted text can cause.
const MATCH_BUDGET: u32 = 64;

fn match_from(t: &[u8], mut i: usize, secret: &[u8], from: usize, budget: &mut u32) -> Match {
    for (k, &b) in secret.iter().enumerate().skip(from) {
        if i >= t.len() {
            return Match::Tail(k);
        }
        if t[i] == b && matches!(b, b'%' | b'\\' | b'&') && *budget > 0 {
            // Both readings: an escape of the byte (`%25`), or the byte itself.
            *budget -= 1;
            match escape_step(t, i, b) {
                Step::Bytes(n) => match match_from(t, i + n, secret, k + 1, budget) {
                    Match::None => {}
                    found => return found,
                },
                // The text ends partway through what may be its escape.
                Step::Short => return Match::Tail(k),
                Step::No => {}
            }
        }
        match step(t, i, b) {
            Step::Bytes(n) => i += n,
            Step::Short => return Match::Tail(k),
            Step::No => return Match::None,
        }
    }
    Match::Full(i)
}

/// Withholds the known values, in any encoding.
fn withhold_known(text: &str, known: &Known) -> String {
    if known.0.is_empty() {
        return text.to_owned();
    }
    let t = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < t.len() {
        let mut hit: Option<usize> = None;
        if text.is_char_boundary(i) {
            for secret in &known.0 {
                let end = match match_encoded(t, i, secret.as_bytes()) {
                    Match::Full(end) => end,
                    Match::Tail(k) if k >= MIN_PARTIAL => t.len(),
                    _ => continue,
                };
                hit = Some(hit.map_or(end, |h| h.max(end)));
            }
        }
        match hit {
            Some(end) => {
                out.push_str(&text[copied..i]);
                out.push_str(WITHHELD);
                copied = end;
                i = end;
            }
            None => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The endings of (alphanumeric, lowercased) names whose values are secrets, and whether the
/// value runs to the end of the line (`Authorization: AWS4-HMAC-SHA256 Credential=..., ...`).
const SECRET_NAMES: [(&str, bool); 9] = [
    ("authorization", true),
    ("token", false),
    ("signature", false),
    ("signatureprovided", false),
    ("secretaccesskey", false),
    ("secretkey", false),
    ("apikey", false),
    ("password", false),
    ("secret", false),
];

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Whether the separator region `t[from..]` (quotes, spaces, `:`, `=`, `%3A`, `%3D`, and
/// whole tags such as `</td><td>`) leads to a value: returns where the value starts.
fn separator(t: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    let mut seen = false;
    while i < t.len() && i - from < 32 {
        match t[i] {
            b' ' | b'\t' | b'"' | b'\'' => i += 1,
            b'\\' if t.get(i + 1) == Some(&b'"') => i += 2,
            b':' | b'=' => {
                seen = true;
                i += 1;
            }
            b'%' if t.len() >= i + 3
                && (t[i + 1..i + 3].eq_ignore_ascii_case(b"3a")
                    || t[i + 1..i + 3].eq_ignore_ascii_case(b"3d")) =>
            {
                seen = true;
                i += 3;
            }
            b'>' => {
                seen = true;
                i += 1;
            }
            // Already withheld, or a closing tag right after the name's own (an empty value).
            b'<' if t[i..].starts_with(WITHHELD.as_bytes())
                || (t.get(i + 1) == Some(&b'/') && t[from..i].contains(&b'>')) =>
            {
                return None
            }
            b'<' => {
                // A whole tag, e.g. `</td>` or `<td class="v">`.
                let close = t[i..].iter().take(24).position(|&x| x == b'>')?;
                seen = true;
                i += close + 1;
            }
            _ => break,
        }
    }
    seen.then_some(i)
}

/// Where a value that starts at `t[start..]` ends.
fn value_end(t: &[u8], start: usize, to_line_end: bool) -> usize {
    let mut i = start;
    while i < t.len() {
        let b = t[i];
        let next = t.get(i + 1).copied();
        let ends = if to_line_end {
            matches!(b, b'\r' | b'\n' | b'"' | b'\'' | b'<')
                || (b == b'\\' && matches!(next, Some(b'"' | b'n' | b'r' | b'\'')))
        } else if b == b'\\' {
            !matches!(next, Some(b'/' | b'u'))
        } else if b == b'&' && next == Some(b'#') {
            // An HTML character reference (`&#43;`, `&#x2F;`) is part of the value.
            match t[i..].iter().take(8).position(|&x| x == b';') {
                Some(semi) => {
                    i += semi + 1;
                    continue;
                }
                None => true,
            }
        } else if b == b'%' {
            // An encoded delimiter (`%26` is `&`, `%20` a space, `%22` a quote) ends it.
            t.get(i + 1..i + 3).is_some_and(|h| {
                [b"26", b"20", b"22", b"27", b"3c", b"3C"]
                    .contains(&<&[u8; 2]>::try_from(h).unwrap_or(b"00"))
            })
        } else {
            !(b.is_ascii_alphanumeric() || !b.is_ascii() || b"+/=_-.~*".contains(&b))
        };
        if ends {
            break;
        }
        i += 1;
    }
    i
}

/// Withholds the values of names that carry secrets.
fn withhold_named(text: &str) -> String {
    let t = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < t.len() {
        if !is_name_byte(t[i]) || (i > 0 && is_name_byte(t[i - 1])) {
            i += 1;
            continue;
        }
        let mut end = i;
        while end < t.len() && is_name_byte(t[end]) {
            end += 1;
        }
        let name: String = text[i..end]
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        // A closing tag (`</Signature>`) names no value.
        let closing = i >= 2 && &t[i - 2..i] == b"</";
        let kind = SECRET_NAMES
            .iter()
            .find(|(n, _)| !closing && name.ends_with(n))
            .map(|(_, line)| *line);
        if let (Some(to_line_end), Some(start)) = (kind, separator(t, end)) {
            let stop = value_end(t, start, to_line_end);
            // A plain short word (`invalid signature: expected 65 bytes`) is prose, not a
            // secret: keys, tokens and signatures hold digits, capitals or symbols.
            let word = !to_line_end
                && stop - start < 16
                && t[start..stop].iter().all(u8::is_ascii_lowercase);
            if stop > start && !word {
                out.push_str(&text[copied..start]);
                out.push_str(WITHHELD);
                copied = stop;
                i = stop;
                continue;
            }
        }
        i = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Withholds credentials by their shape where no `name:` announces them: what follows an
/// auth scheme word (`Bearer <token>`, `Basic <base64>`), and JSON Web Tokens (`eyJ...`, three
/// base64url parts) anywhere.
fn withhold_schemes(text: &str) -> String {
    let t = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < t.len() {
        let boundary = i == 0 || !is_name_byte(t[i - 1]);
        if !boundary || !t[i].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        let rest = &t[i..];
        let scheme = ["bearer ", "basic "]
            .iter()
            .find(|s| rest.len() > s.len() && rest[..s.len()].eq_ignore_ascii_case(s.as_bytes()))
            .map(|s| i + s.len());
        let jwt = rest.starts_with(b"eyJ").then_some(i);
        let Some(start) = scheme.or(jwt) else {
            i += 1;
            continue;
        };
        let stop = value_end(t, start, false);
        let value = &t[start..stop];
        let secret = if scheme.is_some() {
            // A credential, not prose (`basic auth`, `bearer token`): long, or not a word.
            value.len() >= 8 && !value.iter().all(u8::is_ascii_lowercase)
        } else {
            value.iter().filter(|&&b| b == b'.').count() >= 2 && value.len() >= 16
        };
        if secret {
            out.push_str(&text[copied..start]);
            out.push_str(WITHHELD);
            copied = stop;
            i = stop;
        } else {
            i = start.max(i + 1);
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The character at `t[i..]` and how many bytes encode it: itself, or an escape (`%2F`,
/// `%252F`, `\/`, `\u002F`, `&#47;`, `&#x2F;`).
fn decode_at(t: &[u8], i: usize) -> (u8, usize) {
    let hex = |from: usize, n: usize| {
        t.get(from..from + n)
            .and_then(hex_value)
            .and_then(|v| u8::try_from(v).ok())
    };
    match t[i] {
        b'%' => {
            if t.get(i + 1..i + 3).is_some_and(|p| p == b"25") {
                if let Some(b) = hex(i + 3, 2) {
                    return (b, 5);
                }
            }
            hex(i + 1, 2).map_or((b'%', 1), |b| (b, 3))
        }
        b'\\' => match t.get(i + 1) {
            Some(b'/') => (b'/', 2),
            Some(b'u') => hex(i + 2, 4).map_or((b'\\', 1), |b| (b, 6)),
            _ => (b'\\', 1),
        },
        b'&' if t.get(i + 1) == Some(&b'#') => {
            let Some(semi) = t[i..].iter().take(8).position(|&x| x == b';') else {
                return (b'&', 1);
            };
            let inner = &t[i + 2..i + semi];
            let value = match inner.first() {
                Some(b'x' | b'X') => hex_value(&inner[1..]),
                _ => std::str::from_utf8(inner).ok().and_then(|d| d.parse().ok()),
            };
            value
                .and_then(|v| u8::try_from(v).ok())
                .map_or((b'&', 1), |b| (b, semi + 1))
        }
        b => (b, 1),
    }
}

/// Withholds long base64 runs (in any encoding [`decode_at`] reads) that mix upper case, lower
/// case and digits; `=` only as padding at the end, so `Credential=AKID...` is not one run.
fn withhold_opaque(text: &str) -> String {
    let t = text.as_bytes();
    let base64 = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < t.len() {
        let (b, n) = decode_at(t, i);
        if !base64(b) {
            i += n;
            continue;
        }
        let start = i;
        let (mut len, mut upper, mut lower, mut digit) = (0, false, false, false);
        loop {
            let (b, n) = decode_at(t, i);
            if !base64(b) {
                break;
            }
            len += 1;
            upper |= b.is_ascii_uppercase();
            lower |= b.is_ascii_lowercase();
            digit |= b.is_ascii_digit();
            i += n;
            if i >= t.len() {
                break;
            }
        }
        // Padding.
        for _ in 0..2 {
            if i < t.len() && decode_at(t, i).0 == b'=' {
                i += decode_at(t, i).1;
            }
        }
        if len >= MIN_OPAQUE_RUN && upper && lower && digit {
            out.push_str(&text[copied..start]);
            out.push_str(WITHHELD);
            copied = i;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// An alloy transport error with every text from the network withheld: the body of an HTTP
/// error (429, 5xx, other non-2xx), the text that failed to deserialize, a JSON-RPC error
/// payload, and the texts of an [`AmbError`](crate::AmbError).
pub(crate) fn withhold_error(
    err: alloy_transport::TransportError,
    known: &Known,
) -> alloy_transport::TransportError {
    use alloy_json_rpc::RpcError;
    use alloy_transport::{HttpError, TransportErrorKind as Kind};
    let http = |e: HttpError| HttpError {
        status: e.status,
        body: withhold(&e.body, known),
    };
    let custom = |inner: Box<dyn std::error::Error + Send + Sync + 'static>| match inner
        .downcast::<crate::AmbError>(
    ) {
        Ok(amb) => Box::new(amb.withhold(known)) as Box<dyn std::error::Error + Send + Sync>,
        Err(other) => other,
    };
    match err {
        RpcError::Transport(Kind::HttpError(e)) => RpcError::Transport(Kind::HttpError(http(e))),
        RpcError::Transport(Kind::HttpErrorWithRetryAfter { error, retry_after }) => {
            RpcError::Transport(Kind::HttpErrorWithRetryAfter {
                error: http(error),
                retry_after,
            })
        }
        RpcError::Transport(Kind::Custom(inner)) => {
            RpcError::Transport(Kind::Custom(custom(inner)))
        }
        RpcError::Transport(Kind::NonRetryable(inner)) => {
            RpcError::Transport(Kind::NonRetryable(custom(inner)))
        }
        RpcError::DeserError { err, text } => RpcError::DeserError {
            err,
            text: withhold(&text, known),
        },
        RpcError::ErrorResp(payload) => RpcError::ErrorResp(withhold_payload(payload, known)),
        other => other,
    }
}

/// A transport's answer with every text from the network withheld: the error (see
/// [`withhold_error`]) or the JSON-RPC error payloads of a packet (results are left alone).
/// `known` is only called when there is such a text: an answer without one costs nothing.
pub(crate) fn withhold_result(
    result: alloy_transport::TransportResult<alloy_json_rpc::ResponsePacket>,
    known: impl FnOnce() -> Known,
) -> alloy_transport::TransportResult<alloy_json_rpc::ResponsePacket> {
    use alloy_json_rpc::{Response, ResponsePacket, ResponsePayload};
    let failed = |r: &Response| matches!(r.payload, ResponsePayload::Failure(_));
    let quotes = match &result {
        Ok(ResponsePacket::Single(r)) => failed(r),
        Ok(ResponsePacket::Batch(rs)) => rs.iter().any(failed),
        Err(_) => true,
    };
    if !quotes {
        return result;
    }
    let known = &known();
    let response = |r: Response| match r.payload {
        ResponsePayload::Failure(e) => Response {
            id: r.id,
            payload: ResponsePayload::Failure(withhold_payload(e, known)),
        },
        ok => Response {
            id: r.id,
            payload: ok,
        },
    };
    match result {
        Ok(ResponsePacket::Single(r)) => Ok(ResponsePacket::Single(response(r))),
        Ok(ResponsePacket::Batch(rs)) => Ok(ResponsePacket::Batch(
            rs.into_iter().map(response).collect(),
        )),
        Err(e) => Err(withhold_error(e, known)),
    }
}

/// A JSON-RPC error payload with its message withheld and capped, and its data withheld by
/// value and by name (not capped: it stays JSON).
pub(crate) fn withhold_payload(
    mut payload: alloy_json_rpc::ErrorPayload,
    known: &Known,
) -> alloy_json_rpc::ErrorPayload {
    let message = withhold(&payload.message, known);
    if message != payload.message {
        payload.message = message.into();
    }
    if let Some(data) = &payload.data {
        let raw = data.get();
        let shown = withhold_named(&withhold_known(raw, known));
        if shown != raw {
            payload.data = serde_json::value::RawValue::from_string(shown)
                .or_else(|_| serde_json::value::RawValue::from_string(format!("\"{WITHHELD}\"")))
                .ok();
        }
    }
    payload
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TOKEN: &str = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+abc/DEF+ghi==";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const SIG: &str = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
    const BILLING: &str = "AbCdEfGh12345678";

    fn known() -> Known {
        let mut k = Known::default();
        for s in [TOKEN, SECRET, SIG, BILLING] {
            k.add(s);
        }
        k
    }

    /// Percent-decodes (twice), JSON-unescapes and HTML-unescapes: what a reader could decode.
    fn decoded(text: &str) -> String {
        let mut s = text.to_owned();
        for _ in 0..2 {
            let mut out = String::new();
            let b = s.as_bytes();
            let mut i = 0;
            while i < b.len() {
                let hex = |from: usize, n: usize| {
                    s.get(from..from + n)
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .and_then(char::from_u32)
                };
                if b[i] == b'%' {
                    if let Some(c) = hex(i + 1, 2) {
                        out.push(c);
                        i += 3;
                        continue;
                    }
                }
                if b[i] == b'\\' && b.get(i + 1) == Some(&b'u') {
                    if let Some(c) = hex(i + 2, 4) {
                        out.push(c);
                        i += 6;
                        continue;
                    }
                }
                if b[i] == b'\\' && b.get(i + 1) == Some(&b'/') {
                    out.push('/');
                    i += 2;
                    continue;
                }
                if s[i..].starts_with("&#") {
                    if let Some(semi) = s[i..].find(';').filter(|&n| n < 8) {
                        let inner = &s[i + 2..i + semi];
                        let c = match inner.strip_prefix(['x', 'X']) {
                            Some(h) => u32::from_str_radix(h, 16).ok(),
                            None => inner.parse().ok(),
                        };
                        if let Some(c) = c.and_then(char::from_u32) {
                            out.push(c);
                            i += semi + 1;
                            continue;
                        }
                    }
                }
                let c = s[i..].chars().next().unwrap();
                out.push(c);
                i += c.len_utf8();
            }
            s = out;
        }
        s
    }

    /// Fails if 8 consecutive bytes of any secret can be read in `shown`, as is or decoded.
    fn assert_withheld(shown: &str, secrets: &[&str], context: &str) {
        let plain = decoded(shown);
        for secret in secrets {
            let window = secret.len().min(8);
            for w in secret.as_bytes().windows(window) {
                let w = std::str::from_utf8(w).unwrap();
                assert!(
                    !shown.contains(w) && !plain.contains(w),
                    "{w:?} of a secret is readable in {shown:?}\n(from {context:?})"
                );
            }
        }
    }

    #[test]
    fn ordinary_gateway_messages_are_kept_whole() {
        for m in [
            "Missing Authentication Token",
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details.",
            "Signature expired: 20240101T000000Z is now earlier than 20240101T001000Z \
             (20240101T001500Z - 5 min.)",
            "The security token included in the request is invalid.",
            "Credential should be scoped to a valid region, not 'eu-west-1'. ",
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32000,\"message\":\"header not found\"}}",
            "nd-6eaj5va43jggnpxouzp7y47e4y.ethereum.managedblockchain.us-east-1.amazonaws.com",
            "Credential=ASIAQ3EGUMGRZCEXAMPL/20261124/us-east-1/managedblockchain/aws4_request",
        ] {
            assert_eq!(withhold(m, &known()), m);
        }
    }

    #[test]
    fn known_values_in_every_encoding() {
        let pct = |s: &str, upper: bool| -> String {
            s.bytes()
                .map(|b| match (b.is_ascii_alphanumeric(), upper) {
                    (true, _) => (b as char).to_string(),
                    (false, true) => format!("%{b:02X}"),
                    (false, false) => format!("%{b:02x}"),
                })
                .collect()
        };
        let cases = [
            format!("echo {TOKEN} here"),
            format!("url ?t={} here", pct(TOKEN, true)),
            format!("url ?t={} here", pct(TOKEN, false)),
            format!("twice {}", pct(&pct(TOKEN, true), true)),
            format!("{{\"h\":\"{}\"}}", TOKEN.replace('/', "\\/")),
            format!(
                "{{\"h\":\"{}\"}}",
                TOKEN
                    .chars()
                    .map(|c| format!("\\u{:04x}", c as u32))
                    .collect::<String>()
            ),
            format!(
                "<p>{}</p>",
                TOKEN.replace('+', "&#43;").replace('/', "&#x2F;")
            ),
            format!("secret {SECRET}, sig {SIG}, billing {BILLING}."),
            // Cut by whoever quoted it, partway through a secret.
            format!("the body began with: {}", &TOKEN[..30]),
            format!("the body began with: {}", &pct(TOKEN, true)[..40]),
        ];
        for case in &cases {
            let shown = withhold(case, &known());
            assert!(shown.contains(WITHHELD), "{shown}");
            assert_withheld(&shown, &[TOKEN, SECRET, SIG, BILLING], case);
        }
        assert_eq!(
            withhold(&format!("a {TOKEN} b {BILLING} c"), &known()),
            "a <withheld> b <withheld> c"
        );
    }

    #[test]
    fn named_values_whatever_their_value() {
        let nobody = Known::default();
        let cases = [
            ("invalid signature: expected 65 bytes; Missing Authentication Token: yes",
             "invalid signature: expected 65 bytes; Missing Authentication Token: yes"),
            ("Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261124/us-east-1/managedblockchain/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc123\r\nHost: h\r\n",
             "Authorization: <withheld> \nHost: h \n"),
            ("{\"authorization\":\"Bearer abc.def\",\"x\":1}", "{\"authorization\":\"<withheld>\",\"x\":1}"),
            ("x-amz-security-token:TOKENVALUE\nhost:h", "x-amz-security-token:<withheld>\nhost:h"),
            ("?X-Amz-Signature=abcdef12&X-Amz-Security-Token=T%2B1&a=b",
             "?X-Amz-Signature=<withheld>&X-Amz-Security-Token=<withheld>&a=b"),
            ("<Error><SignatureProvided>abc1</SignatureProvided><X-Amz-Security-Token>t\\/1</X-Amz-Security-Token></Error>",
             "<Error><SignatureProvided><withheld></SignatureProvided><X-Amz-Security-Token><withheld></X-Amz-Security-Token></Error>"),
            ("<tr><td>x-amz-security-token</td><td>abc&#43;d</td></tr>",
             "<tr><td>x-amz-security-token</td><td><withheld></td></tr>"),
            ("{\"Version\":1,\"AccessKeyId\":\"AKID\",\"SecretAccessKey\":\"s/k\",\"SessionToken\":\"T0k\"}",
             "{\"Version\":1,\"AccessKeyId\":\"AKID\",\"SecretAccessKey\":\"<withheld>\",\"SessionToken\":\"<withheld>\"}"),
            ("aws_secret_access_key = abc9\naws_session_token=Def", "aws_secret_access_key = <withheld>\naws_session_token=<withheld>"),
            ("https://h/?billingtoken=BT&x=1", "https://h/?billingtoken=<withheld>&x=1"),
            ("url%3Fbillingtoken%3DBT%26x", "url%3Fbillingtoken%3D<withheld>%26x"),
        ];
        for (text, shown) in cases {
            assert_eq!(withhold(text, &nobody), shown, "{text}");
        }
        // Long base64 that nothing names.
        assert_eq!(
            withhold(&format!("stderr: using {SECRET} now"), &nobody),
            "stderr: using <withheld> now"
        );
    }

    #[test]
    fn caps_length_and_control_characters() {
        let long = "x".repeat(100_000);
        let shown = withhold(&long, &known());
        assert_eq!(shown.len(), MAX_QUOTED + '…'.len_utf8());
        assert!(shown.ends_with('…'));
        assert_eq!(withhold("a\u{1b}[2Jb\r\nc\td", &known()), "a [2Jb \nc\td");
        let cut = withhold_bytes(&[b'y'; 100_000], &known());
        assert!(cut.len() <= MAX_QUOTED + 3 && cut.ends_with('…'));
        // A secret across the cap is withheld before the cut, never cut in two.
        let across = format!("{}{TOKEN}", "z".repeat(MAX_QUOTED - 10));
        let shown = withhold(&across, &known());
        assert_withheld(&shown, &[TOKEN], &across);
        let shown = withhold_snippet(across.as_bytes(), &known(), MAX_QUOTED - 5);
        assert_withheld(&shown, &[TOKEN], &across);
    }

    #[test]
    fn json_rpc_error_payloads_are_withheld_and_stay_json() {
        let body = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{{\"code\":-32000,\"message\":\"bad header x-amz-security-token: {TOKEN}\",\"data\":{{\"echo\":\"{SIG}\"}}}}}}"
        );
        let packet: alloy_json_rpc::ResponsePacket = serde_json::from_str(&body).unwrap();
        let shown = withhold_result(Ok(packet), known).unwrap();
        let alloy_json_rpc::ResponsePacket::Single(shown) = shown else {
            panic!("not a single response")
        };
        let text = serde_json::to_string(shown.payload.as_error().unwrap()).unwrap();
        assert_withheld(&text, &[TOKEN, SIG], &body);
        assert!(
            text.contains("\"data\":{\"echo\":\"<withheld>\"}"),
            "{text}"
        );
    }

    /// A base64 string of `len` with upper case, lower case and digits.
    fn base64(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!(
            "[A-Z][a-z][0-9][A-Za-z0-9+/]{{{},{}}}=?",
            len.start, len.end
        ))
        .unwrap()
    }

    /// Encodes `s` as a body might carry it.
    fn encode(s: &str, how: u8) -> String {
        match how {
            0 => s.to_owned(),
            1 => s
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect(),
            2 => s.bytes().map(|b| format!("%{b:02x}")).collect(),
            3 => s.replace('/', "\\/"),
            4 => s.chars().map(|c| format!("\\u{:04X}", c as u32)).collect(),
            _ => s
                .replace('+', "&#43;")
                .replace('/', "&#x2f;")
                .replace('=', "&#61;"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Whatever the shape, the encoding, the surrounding text and where the text is cut,
        /// no 8 consecutive bytes of a secret in use can be read in what is shown, and it is
        /// at most `MAX_QUOTED` bytes (plus `…`).
        #[test]
        fn secrets_never_survive(
            token in base64(100..1200),
            secret in base64(37..37),
            sig in "[0-9a-f]{64}",
            billing in "[A-Za-z0-9]{16,40}",
            which in 0usize..4,
            shape in 0u8..8,
            how in 0u8..6,
            pre_len in 0usize..2600,
            pre in "[a-z ,.:{}\"<>]{0,40}",
            post in "[a-z ,.:{}\"<>\r\n]{0,40}",
            cut in proptest::option::of(0usize..4000),
            know in any::<bool>(),
        ) {
            let names = ["X-Amz-Security-Token", "SecretAccessKey", "Signature", "billingtoken"];
            let values = [&token, &secret, &sig, &billing];
            let (name, value) = (names[which], encode(values[which], how));
            let filler = "lorem ipsum ".repeat(pre_len / 12 + 1)[..pre_len].to_owned() + &pre;
            let full = match shape {
                0 => format!("{filler} {value} {post}"),
                1 => format!("{filler}\r\n{name}: {value}\r\nHost: h\r\n{post}"),
                2 => format!("Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261124/us-east-1/managedblockchain/aws4_request, SignedHeaders=host, Signature={sig}\n{filler} {name}: {value}"),
                3 => format!("{{\"message\":\"{filler}\",\"{name}\":\"{value}\",\"x\":\"{post}\"}}"),
                4 => format!("<Error><Message>{filler}</Message><{name}>{value}</{name}></Error>"),
                5 => format!("<html><table><tr><td>{filler}</td></tr><tr><td>{name}</td><td>{value}</td></tr></table>{post}</html>"),
                6 => format!("{filler} https://h.example/?a=1&{name}={value}&b=2 {post}"),
                _ => format!("'POST\n/\n\nhost:h\n{}:{value}\n{filler}'", name.to_ascii_lowercase()),
            };
            let body = match cut {
                Some(at) if at < full.len() => full[..at].to_owned(),
                _ => full.clone(),
            };
            let mut known_values = Known::default();
            if know {
                known_values.add(&token);
                known_values.add(&secret);
                known_values.add(&sig);
                known_values.add(&billing);
            }
            let shown = withhold(&body, &known_values);
            prop_assert!(shown.len() <= MAX_QUOTED + '…'.len_utf8());
            // Without the values, only what a name or a shape gives away is withheld: a bare
            // signature or billing token mid-line (shape 0), or a bare token cut short, needs
            // the known values.
            let uncut = body.len() == full.len();
            if know || shape != 0 || (which < 2 && uncut) {
                assert_withheld(&shown, &[values[which]], &body);
            }
            if know || shape == 2 {
                assert_withheld(&shown, &[&sig], &body);
            }
            let snippet = withhold_snippet(body.as_bytes(), &known_values, 200);
            if know {
                assert_withheld(&snippet, &[values[which], &sig], &body);
            }
        }

        /// A provider's secrets (a `.header(..)` value, a bearer token, a Basic password), as
        /// the transports know them from the headers they sent ([`Known::add_wire`]): no 8
        /// consecutive bytes can be read in what is shown, whatever the shape, the encoding
        /// (base64 included, as in a quoted `Authorization: Basic`), the text around it and
        /// where the text was cut (a close frame's reason is cut at 123 bytes).
        #[test]
        fn provider_secrets_never_survive(
            token in "[A-Za-z0-9_.~+/-]{16,80}",
            user in "[a-z]{3,12}",
            password in "[!-~]{8,40}",
            which in 0usize..3,
            shape in 0u8..6,
            how in 0u8..6,
            pre in "[a-z ,.:{}\"<>]{0,40}",
            post in "[a-z ,.:{}\"<>\r\n]{0,40}",
            cut in proptest::option::of(0usize..400),
        ) {
            let basic = aws_smithy_types::base64::encode(format!("{user}:{password}"));
            let headers: Vec<(&str, String)> = match which {
                0 => vec![("x-token", token.clone())],
                1 => vec![("authorization", format!("Bearer {token}"))],
                _ => vec![("authorization", format!("Basic {basic}"))],
            };
            let url = url::Url::parse("https://rpc.provider.example/").unwrap();
            let mut known = Known::default();
            known.add_wire(&headers, &url);
            let secret = if which == 2 { &password } else { &token };
            let value = if which == 2 && how == 5 {
                // The header as it was sent, quoted back.
                basic.clone()
            } else {
                encode(secret, how)
            };
            let full = match shape {
                0 => format!("{pre} {value} {post}"),
                1 => format!("{pre}\r\nx-token: {value}\r\nHost: h\r\n{post}"),
                2 => format!("{pre} Authorization: Bearer {value}\n{post}"),
                3 => format!("{{\"message\":\"{pre}\",\"key\":\"{value}\",\"x\":\"{post}\"}}"),
                4 => format!("{pre} Authorization: Basic {basic} {value} {post}"),
                _ => format!("invalid credentials {value}"),
            };
            let body = match cut {
                Some(at) if at < full.len() => {
                    let mut at = at;
                    while !full.is_char_boundary(at) {
                        at -= 1;
                    }
                    full[..at].to_owned()
                }
                _ => full.clone(),
            };
            let shown = withhold(&body, &known);
            assert_withheld(&shown, &[secret.as_str(), basic.as_str()], &body);
        }
    }
}
