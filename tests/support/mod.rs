//! Test support: the fake AMB gateway, its deterministic chain, its independent SigV4 verifier,
//! and a real node (anvil) for end-to-end tests.
#![allow(dead_code, unused_imports)]

pub mod anvil;
pub mod bounded;
pub mod chain;
pub mod emitter;
pub mod fake_amb;
pub mod fake_sources;
pub mod fake_ws;
pub mod log_capture;
pub mod sigv4;
pub mod tcp_proxy;

use aws_credential_types::Credentials;

/// Static credentials the fake knows.
pub fn fake_credentials() -> Credentials {
    Credentials::new(
        fake_amb::ACCESS_KEY,
        fake_amb::SECRET_KEY,
        None,
        None,
        "test",
    )
}

/// The access key id `creds` currently hands out.
pub async fn current_key(creds: &alloy_amb::AmbCredentials) -> String {
    creds
        .credentials()
        .await
        .unwrap()
        .access_key_id()
        .to_owned()
}

/// The signatures of these `Authorization` header values (absent ones skipped).
pub fn signatures<'a>(authorizations: impl IntoIterator<Item = Option<&'a str>>) -> Vec<String> {
    authorizations
        .into_iter()
        .flatten()
        .map(|a| a.rsplit("Signature=").next().unwrap().to_owned())
        .collect()
}

/// Fails if any secret or signature appears in `everything` (logs, Debug and Display output).
pub fn assert_nothing_leaked(everything: &str, secrets: &[&str], signatures: &[String]) {
    for secret in secrets {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    for sig in signatures {
        assert!(!everything.contains(sig.as_str()), "signature {sig} leaked");
    }
}
