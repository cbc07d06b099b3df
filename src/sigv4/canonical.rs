//! The canonical request's parts as aws-sigv4 writes them (AWS SigV4 specification, "Create
//! a canonical request"): the path (URI-encoded twice), the query (form-decoded, encoded,
//! sorted), and which requests are simple enough for the fast path to reproduce exactly.

use sha2_sigv4::Digest;
use sha2_sigv4::Sha256;
use url::Url;

use super::MAX_URL_LEN;

/// Byte classes, one bit each, looked up in [`CLASSES`].
pub(super) const UNRESERVED: u8 = 1;
/// In a host: letters, digits, `.`, `-`, and `[`, `]`, `:` for IPv6 literals.
pub(super) const HOST: u8 = 4;
/// In a path the fast path signs: unreserved but `.`, `/`, sub-delims, `:`, `@`, `%`.
pub(super) const PATH: u8 = 8;
/// In a query the fast path signs: unreserved, `&`, `=`, `+`, `%`.
pub(super) const QUERY: u8 = 16;
/// Lower-case header name characters.
pub(super) const NAME: u8 = 32;

pub(super) static CLASSES: [u8; 256] = {
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
pub(super) fn all_in(bytes: &[u8], class: u8) -> bool {
    bytes
        .iter()
        .fold(class, |acc, &b| acc & CLASSES[usize::from(b)])
        == class
}

/// Whether every byte is in `lo..=hi` (vectorisable: session tokens are about 1 KB).
pub(super) fn all_between(bytes: &[u8], lo: u8, hi: u8) -> bool {
    bytes
        .iter()
        .fold(true, |ok, &b| ok & (b.wrapping_sub(lo) <= hi - lo))
}

pub(super) fn is_unreserved(b: u8) -> bool {
    CLASSES[usize::from(b)] & UNRESERVED != 0
}

pub(super) fn is_simple_method(m: &str) -> bool {
    !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase())
}

/// A header value aws-sigv4 would leave as is: visible ASCII, single inner spaces.
pub(super) fn is_simple_value(v: &str) -> bool {
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
pub(super) fn is_simple_header_name(name: &str) -> bool {
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

pub(super) fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// Whether every `%` starts a `%XX` escape (of an ASCII byte, if `ascii`).
pub(super) fn escapes_ok(bytes: &[u8], ascii: bool) -> bool {
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
pub(super) fn check_url(url: &Url) -> Option<()> {
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

pub(super) fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

pub(super) const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
pub(super) const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Writes `b` percent-encoded (`%XX`, upper case) or as is, as aws-smithy's encoders do.
pub(super) fn put_encoded(h: &mut Sha256, b: u8, keep: bool) {
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
pub(super) fn write_canonical_path(h: &mut Sha256, path: &str) {
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
pub(super) fn write_canonical_query(h: &mut Sha256, query: &str) {
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
pub(super) fn reencode(s: &str) -> String {
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
pub(super) static HEX_PAIRS: [[u8; 2]; 256] = {
    let mut t = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = [HEX_LOWER[b >> 4], HEX_LOWER[b & 15]];
        b += 1;
    }
    t
};

pub(super) fn hex32(bytes: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
    }
    out
}
