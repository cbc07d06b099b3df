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
