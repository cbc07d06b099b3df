//! The caches behind the fast path: the derived signing key (once a day, or when the
//! credentials change) and the body-independent prefix of the last signature shape (once a
//! second). Neither holds more than the last entry; neither shows a key in `Debug`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::sign::v4;

use super::{Hit, Input, Payload};

/// The derived SigV4 signing key of the last (date, region, service, credentials) signed with,
/// and the part of the last signature that does not depend on the body (see [`try_sign`](super::try_sign)).
///
/// Shared by every clone of a transport. `Debug` shows how many keys were derived, never a key.
#[derive(Default)]
pub struct SigningKeyCache {
    slot: RwLock<Option<CachedKey>>,
    derivations: AtomicU64,
    prefix: RwLock<Option<Prefix>>,
    prefixes: AtomicU64,
}

pub(super) struct CachedKey {
    pub(super) date: [u8; 8],
    pub(super) region: Box<str>,
    pub(super) service: Box<str>,
    /// The credentials the key was derived from (an `Arc` clone: no new copy of the secret).
    pub(super) credentials: Credentials,
    pub(super) key: [u8; 32],
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

    pub(super) fn prefix_hit(&self, secs: u64, input: &Input<'_>) -> Option<Hit> {
        let slot = self.prefix.read().unwrap_or_else(|e| e.into_inner());
        let prefix = slot.as_ref()?;
        prefix.matches(secs, input).then(|| prefix.hit())
    }

    pub(super) fn store_prefix(&self, prefix: Prefix) {
        self.prefixes.fetch_add(1, Ordering::Relaxed);
        *self.prefix.write().unwrap_or_else(|e| e.into_inner()) = Some(prefix);
    }

    /// The signing key for this scope: cached, or derived with aws-sigv4's
    /// `generate_signing_key` and cached.
    pub(super) fn key(
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
pub(super) fn same_key(a: &Credentials, b: &Credentials) -> bool {
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

/// Everything of a signature that depends on the second and the request's shape (method, URL,
/// headers, credentials, scope) but not on its body: the canonical request hashed up to the
/// body's hash, and `Authorization` up to the signature. Requests of one shape signed within
/// the same second share it.
pub(super) struct Prefix {
    pub(super) secs: u64,
    pub(super) payload: Payload,
    pub(super) region: Box<str>,
    pub(super) service: Box<str>,
    /// The credentials signed with (an `Arc` clone: no new copy of the secret or the token).
    pub(super) credentials: Credentials,
    pub(super) method: Box<str>,
    pub(super) authority: Box<str>,
    pub(super) url: Box<str>,
    pub(super) headers: Box<[(Box<str>, Box<str>)]>,
    /// What each request of this shape and second starts from.
    pub(super) start: Hit,
}

impl Prefix {
    pub(super) fn matches(&self, secs: u64, input: &Input<'_>) -> bool {
        let (creds, req) = (input.credentials, &input.request);
        self.secs == secs
            && self.payload == input.payload
            && &*self.region == input.region
            && &*self.service == input.service
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
    pub(super) fn hit(&self) -> Hit {
        let start = &self.start;
        let mut authorization = String::with_capacity(start.authorization.len() + 12 + 64);
        authorization.push_str(&start.authorization);
        Hit {
            date_time: start.date_time,
            creq: start.creq.clone(),
            authorization,
            scope: start.scope,
            key: start.key,
            unsigned: start.unsigned,
        }
    }
}
