//! The default TLS configuration of both transports: the platform's trust store through
//! `rustls-platform-verifier` (reqwest 0.13's default; on Linux it loads the roots with
//! `rustls-native-certs`, so `SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured), with
//! aws-lc-rs, or ring with the `ring` feature.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::ClientConfig;

use crate::error::{AmbError, ConfigError};

/// The crypto provider of the TLS configurations this crate builds.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    #[cfg(feature = "ring")]
    let provider = rustls::crypto::ring::default_provider();
    #[cfg(not(feature = "ring"))]
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    Arc::new(provider)
}

/// The default client configuration. Like reqwest's, it reads the trust store (and
/// `SSL_CERT_FILE`/`SSL_CERT_DIR`) each time a transport is built; the transport keeps it.
pub(crate) fn default_config() -> Result<Arc<ClientConfig>, AmbError> {
    let failed = |source: rustls::Error| ConfigError::Client {
        what: "TLS (the platform trust store)",
        source: source.into(),
    };
    let provider = provider();
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).map_err(failed)?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(failed)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The rustls error under `err`, if TLS is what failed (a certificate not trusted, a name
/// mismatch, a protocol alert).
pub(crate) fn tls_cause<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // An `io::Error`'s `source()` skips the error it wraps: step into it instead.
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// The error for a failed TLS handshake with `host`.
pub(crate) fn tls_error(
    host: &str,
    cause: &rustls::Error,
    source: Box<dyn std::error::Error + Send + Sync>,
) -> AmbError {
    AmbError::Tls {
        host: host.to_owned(),
        reason: cause.to_string(),
        source: Some(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_rustls_errors_under_io_errors() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(matches!(
            tls_cause(&io),
            Some(rustls::Error::InvalidCertificate(_))
        ));
        // As reqwest wraps it: an io::Error in an io::Error.
        let nested = std::io::Error::other(io);
        assert!(tls_cause(&nested).is_some());
        let other = std::io::Error::other("connection reset");
        assert!(tls_cause(&other).is_none());
    }

    #[test]
    fn the_default_config_uses_the_chosen_provider() {
        let config = default_config().unwrap();
        let expected = provider();
        assert_eq!(
            config.crypto_provider().cipher_suites.len(),
            expected.cipher_suites.len()
        );
    }
}
