//! The auth modes: SigV4 or an AMB billing token, and what authorising a request adds to it.
//!
//! Each mode is a variant of [`Auth`]; a new mode (unsigned payload, SigV4A, a bearer or static
//! header, basic auth) is a new variant with its own arm in [`Auth::authorize_for`] and
//! [`Auth::recover`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use url::Url;

use super::clock::GatewayClock;
use super::provider::{Provider, StaticHeaders};
use super::region::Region;
use crate::credentials::AmbCredentials;
use crate::endpoint::Endpoint;
use crate::error::{AmbError, AuthFailure};
use crate::redact::Known;
use crate::secret::Secret;
use crate::sigv4::{self, Algorithm, Payload, SigningKeyCache};

/// How requests are authorised.
#[derive(Clone)]
pub(crate) enum Auth {
    SigV4(Arc<SigV4>),
    /// The token, and the URL with it (built once).
    BillingToken(Secret, Arc<Url>),
    /// A third-party provider: static headers, bearer, basic, or nothing.
    Provider(Arc<Provider>),
}

/// SigV4 settings and state shared by every clone of a transport.
pub(crate) struct SigV4 {
    pub(crate) service: Arc<str>,
    pub(crate) region: Region,
    pub(crate) credentials: AmbCredentials,
    /// The URL requests go to (built once, shared with every request).
    pub(crate) url: Arc<Url>,
    /// The gateway's clock, learned from `Date` headers.
    pub(crate) clock: GatewayClock,
    /// The derived signing key (changes once a day, or with the credentials).
    pub(crate) keys: SigningKeyCache,
    /// `.header(..)`s sent (unsigned) with every request.
    pub(crate) static_headers: StaticHeaders,
    /// The body's hash, or `UNSIGNED-PAYLOAD` (VPC Lattice).
    pub(crate) payload: Payload,
    /// SigV4, or SigV4A over [`region_set`](Self::region_set).
    pub(crate) algorithm: Algorithm,
    /// The SigV4A region set (`*` unless set); unused with SigV4.
    pub(crate) region_set: Arc<str>,
}

impl SigV4 {
    /// The scope's region: the region (SigV4, looked up on first use when not known), or the
    /// region set (SigV4A, which needs no region).
    pub(crate) async fn scope_region(&self, endpoint: &Endpoint) -> Result<&str, AmbError> {
        match self.algorithm {
            Algorithm::V4 => self.region.get(endpoint).await,
            Algorithm::V4a => Ok(&self.region_set),
        }
    }

    /// What to sign for `req` with `creds` at `time`.
    pub(crate) fn input<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        region: &'a str,
        creds: &'a Credentials,
        req: &ToSign<'a>,
    ) -> sigv4::Input<'a> {
        sigv4::Input {
            credentials: creds,
            region,
            service: &self.service,
            time: self.clock.now(),
            payload: self.payload,
            algorithm: self.algorithm,
            request: sigv4::Request {
                method: req.method,
                authority: endpoint.authority(),
                url: &self.url,
                headers: req.headers,
                body: req.body,
            },
        }
    }
}

/// What to add to a request so that the gateway accepts it.
pub(crate) struct Authorization {
    /// The URL to send to (with `billingtoken` in token mode).
    pub(crate) url: Arc<Url>,
    /// Headers to add (`x-amz-date`, `authorization`, `x-amz-security-token`).
    pub(crate) headers: Vec<(&'static str, String)>,
    /// The credentials the request was signed with.
    pub(crate) credentials: Option<Credentials>,
    /// The request's signature (hex), kept to withhold it from the answer's error text.
    signature: Option<Signature>,
}

/// A signature's hex: SigV4's 64 digits inline (no allocation per request), SigV4A's DER
/// (about 140) on the heap.
enum Signature {
    V4([u8; 64]),
    Other(Box<str>),
}

impl Signature {
    fn as_str(&self) -> Option<&str> {
        match self {
            Self::V4(s) => std::str::from_utf8(s).ok(),
            Self::Other(s) => Some(s),
        }
    }
}

impl Authorization {
    /// The secrets of this request: secret key and session token, signature, billing token.
    pub(crate) fn known(&self) -> Known {
        let mut known = Known::default();
        if let Some(creds) = &self.credentials {
            known.add_credentials(creds);
        }
        if let Some(sig) = self.signature.as_ref().and_then(Signature::as_str) {
            known.add(sig);
        }
        known.add_wire(&self.headers, &self.url);
        if self.credentials.is_none() {
            // Not SigV4: a provider's key may be in the URL's path or query.
            known.add_url_key(&self.url);
        }
        known
    }

    /// The answer to this request with its secrets withheld from every text that came from the
    /// network (error bodies, JSON-RPC error payloads, gateway messages): see
    /// [`crate::redact`].
    pub(crate) fn withhold(
        &self,
        result: alloy_transport::TransportResult<alloy_json_rpc::ResponsePacket>,
    ) -> alloy_transport::TransportResult<alloy_json_rpc::ResponsePacket> {
        crate::redact::withhold_result(result, || self.known())
    }
}

/// The signature in `headers` (the `authorization` header's `Signature=`).
fn signature_of(headers: &[(&'static str, String)]) -> Option<Signature> {
    let (_, value) = headers.iter().find(|(n, _)| *n == "authorization")?;
    let (_, sig) = value.rsplit_once("Signature=")?;
    match sig.as_bytes().try_into() {
        Ok(v4) => Some(Signature::V4(v4)),
        Err(_) if !sig.is_empty() => Some(Signature::Other(sig.into())),
        Err(_) => None,
    }
}

/// Refuses credentials that cannot go into a header (a line break or other control character,
/// e.g. a session token pasted with its newline): a typed error, never a panic, and nothing
/// is sent. Names the field, never its value.
fn check_credentials(creds: &Credentials, source: &str) -> Result<(), AmbError> {
    let fields = [
        ("access key id", Some(creds.access_key_id())),
        ("secret access key", Some(creds.secret_access_key())),
        ("session token", creds.session_token()),
    ];
    for (what, value) in fields {
        let Some(value) = value else { continue };
        // One pass over the bytes for every request; the kind of fault only on failure.
        if !value.bytes().any(|b| b <= b' ' || b == 0x7f) {
            continue;
        }
        let bad = if value.contains(['\r', '\n']) {
            "contains a line break"
        } else {
            "contains a space or a control character"
        };
        return Err(AmbError::Credentials {
            message: format!(
                "the {what} from the {source} credential source {bad}, so it cannot be sent in \
                 a request header (nothing was sent); look for a stray newline or space where it \
                 is set (environment variable, credentials file, process output)"
            ),
        });
    }
    Ok(())
}

/// The parts of a request that are signed.
#[derive(Clone, Copy)]
pub(crate) struct ToSign<'a> {
    pub(crate) method: &'a str,
    /// Extra headers to sign besides `host` (e.g. `content-type`).
    pub(crate) headers: &'a [(&'a str, &'a str)],
    pub(crate) body: &'a [u8],
}

impl Auth {
    /// [`authorize_for`](Self::authorize_for) with the default request timeout.
    #[cfg(test)]
    pub(crate) async fn authorize(
        &self,
        endpoint: &Endpoint,
        req: ToSign<'_>,
    ) -> Result<Authorization, AmbError> {
        self.authorize_for(endpoint, req, Duration::from_secs(10))
            .await
    }

    /// Signs (or, in token mode, decorates) a request to `endpoint` at the current time, for a
    /// request with this `timeout` (a provider's token fetch running twice as long is abandoned).
    async fn authorize_for(
        &self,
        endpoint: &Endpoint,
        req: ToSign<'_>,
        timeout: Duration,
    ) -> Result<Authorization, AmbError> {
        match self {
            // The URL with the token is the same for every request: built once.
            Self::BillingToken(_, url) => Ok(Authorization {
                url: url.clone(),
                headers: Vec::new(),
                credentials: None,
                signature: None,
            }),
            Self::SigV4(sig) => {
                let region = sig.scope_region(endpoint).await?;
                let creds = sig.credentials.credentials().await?;
                check_credentials(&creds, sig.credentials.name())?;
                let headers = sigv4::sign(&sig.keys, &sig.input(endpoint, region, &creds, &req))?;
                Ok(Authorization {
                    url: sig.url.clone(),
                    signature: signature_of(&headers),
                    headers,
                    credentials: Some(creds),
                })
            }
            Self::Provider(p) => Ok(Authorization {
                url: p.url.clone(),
                headers: p.headers(timeout).await?,
                credentials: None,
                signature: None,
            }),
        }
    }

    /// [`authorize_for`](Self::authorize_for), bounded by `timeout`: a credential source (or region
    /// lookup) that does not answer fails the request instead of holding it, and every other
    /// request behind it, forever. Costs no timer when the credentials are cached (the first
    /// poll completes).
    pub(crate) async fn authorize_within(
        &self,
        endpoint: &Endpoint,
        req: ToSign<'_>,
        timeout: Duration,
    ) -> Result<Authorization, AmbError> {
        let authorize = async {
            let mut authorization = self.authorize_for(endpoint, req, timeout).await?;
            if let Self::SigV4(sig) = self {
                // `.header(..)`s ride along, unsigned.
                authorization.headers.extend(sig.static_headers.to_wire());
            }
            Ok(authorization)
        };
        tokio::pin!(authorize);
        if let Some(done) = futures::FutureExt::now_or_never(authorize.as_mut()) {
            return done;
        }
        match tokio::time::timeout(timeout, authorize).await {
            Ok(done) => done,
            Err(_) if matches!(self, Self::Provider(_)) => Err(AmbError::TokenProvider {
                message: format!(
                    "it did not answer within {timeout:?} (nothing was sent); check what it \
                     waits for (the identity provider, the network)"
                ),
            }),
            Err(_) => Err(AmbError::Credentials {
                message: match self.credentials().and_then(AmbCredentials::fetching_for) {
                    Some(running) => format!(
                        "the {} credential source did not answer within {timeout:?}; its fetch \
                         has been running for {running:?} and is not restarted (one at a time): \
                         check that the source (credential_process, IMDS, STS, SSO) is reachable \
                         and not waiting for input",
                        self.credentials().map_or("", AmbCredentials::name)
                    ),
                    None => format!(
                        "the credential source (or the region lookup) did not answer within \
                         {timeout:?}"
                    ),
                },
            }),
        }
    }

    /// The signing region, if already known (`None` in token mode).
    pub(crate) fn known_region(&self) -> Option<&str> {
        match self {
            Self::SigV4(sig) => sig.region.known().map(|(r, _)| r),
            Self::BillingToken(..) | Self::Provider(_) => None,
        }
    }

    /// The credentials requests are signed with (`None` in token mode).
    pub(crate) fn credentials(&self) -> Option<&AmbCredentials> {
        match self {
            Self::SigV4(sig) => Some(&sig.credentials),
            Self::BillingToken(..) | Self::Provider(_) => None,
        }
    }

    /// Whether the headers a request carries hold secrets besides SigV4's (provider mode, or
    /// `.header(..)`s with SigV4): then they are kept to withhold them from the answer.
    pub(crate) fn keeps_headers(&self) -> bool {
        match self {
            Self::Provider(_) => true,
            Self::SigV4(sig) => !sig.static_headers.names().is_empty(),
            Self::BillingToken(..) => false,
        }
    }

    /// Whether this is a third-party provider mode (no SigV4, no billing token).
    pub(crate) fn is_provider(&self) -> bool {
        matches!(self, Self::Provider(_))
    }

    pub(crate) fn is_token(&self) -> bool {
        matches!(self, Self::BillingToken(..))
    }

    /// Learns the gateway's clock from the `Date` header of any of its answers.
    pub(crate) fn observe_date(&self, date: &[u8]) {
        if let Self::SigV4(sig) = self {
            sig.clock.observe_date(date);
        }
    }

    /// After a 403, decides whether signing again can succeed: a clock-skew refusal (the skew
    /// was learned from that answer's `Date`), or expired/unknown credentials (dropped from the
    /// cache so that signing again fetches fresh ones). The caller retries at most once.
    pub(crate) async fn recover(&self, failure: AuthFailure, used: &Authorization) -> bool {
        if let Self::Provider(p) = self {
            // A refreshed bearer token that was refused: fetch it once more.
            return failure == AuthFailure::ProviderRefused && p.recover(&used.headers).await;
        }
        let Self::SigV4(sig) = self else {
            return false;
        };
        match failure {
            AuthFailure::SignatureExpired => true,
            AuthFailure::ExpiredToken | AuthFailure::UnknownAccessKey => {
                if let Some(creds) = &used.credentials {
                    sig.credentials.invalidate(creds).await;
                }
                true
            }
            _ => false,
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SigV4(sig) => f
                .debug_struct("SigV4")
                .field("service", &sig.service)
                .field("region", &sig.region.known().map(|(r, _)| r))
                .field("payload", &sig.payload)
                .field("algorithm", &sig.algorithm)
                .field("credentials", &sig.credentials)
                .field("skew_ms", &sig.clock.skew_ms())
                .finish(),
            Self::BillingToken(t, _) => f.debug_tuple("BillingToken").field(t).finish(),
            Self::Provider(p) => f.write_str(&p.describe()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SigV4's 64 hex digits and SigV4A's DER (about 140) are both kept, so that both are
    /// withheld from whatever the gateway answers.
    #[test]
    fn signatures_of_both_algorithms_are_kept_to_withhold() {
        let der = "3045022100".to_owned() + &"ab".repeat(66);
        for sig in ["0".repeat(64), der] {
            let headers = vec![(
                "authorization",
                format!("AWS4-X Credential=A/s, SignedHeaders=host, Signature={sig}"),
            )];
            let kept = signature_of(&headers);
            assert_eq!(kept.as_ref().and_then(Signature::as_str), Some(&*sig));
        }
        assert!(signature_of(&[("authorization", "x Signature=".into())]).is_none());
    }
}
