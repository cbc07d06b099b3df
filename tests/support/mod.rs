//! Test support beside the emulator (`alloy_amb_testing`, which the tests use directly): fake
//! credential sources, a connection-cutting proxy, log capture, a real node (anvil) and a
//! log-emitting contract for end-to-end tests, and small assertion helpers.
#![allow(dead_code, unused_imports)]

pub mod anvil;
pub mod bounded;
pub mod emitter;
pub mod fake_sources;
pub mod log_capture;
pub mod tcp_proxy;

use aws_credential_types::Credentials;

/// Static credentials the fake knows.
pub fn fake_credentials() -> Credentials {
    Credentials::new(
        alloy_amb_testing::ACCESS_KEY,
        alloy_amb_testing::SECRET_KEY,
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
