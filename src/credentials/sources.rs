//! Where credentials come from, with reasons when a source gives none: aws-config's providers
//! in the AWS CLI's order, and a profile that says why it has no credentials.

use aws_config::provider_config::ProviderConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;

use super::flatten;

/// aws-config's providers in the AWS CLI's order, remembering why each gave nothing.
#[derive(Debug)]
pub(super) struct ReportingChain {
    sources: Vec<(&'static str, SharedCredentialsProvider)>,
}

impl ReportingChain {
    pub(super) fn standard(conf: &ProviderConfig) -> Self {
        use aws_config::{ecs, environment, imds, profile, web_identity_token};
        Self {
            sources: vec![
                (
                    "environment",
                    SharedCredentialsProvider::new(
                        environment::credentials::EnvironmentVariableCredentialsProvider::new(),
                    ),
                ),
                (
                    "profile",
                    SharedCredentialsProvider::new(
                        profile::ProfileFileCredentialsProvider::builder()
                            .configure(conf)
                            .build(),
                    ),
                ),
                (
                    "web identity",
                    SharedCredentialsProvider::new(
                        web_identity_token::WebIdentityTokenCredentialsProvider::builder()
                            .configure(conf)
                            .build(),
                    ),
                ),
                (
                    "ecs",
                    SharedCredentialsProvider::new(
                        ecs::EcsCredentialsProvider::builder()
                            .configure(conf)
                            .build(),
                    ),
                ),
                (
                    "imds",
                    SharedCredentialsProvider::new(
                        imds::credentials::ImdsCredentialsProvider::builder()
                            .configure(conf)
                            .build(),
                    ),
                ),
            ],
        }
    }

    async fn resolve(&self) -> Result<Credentials, CredentialsError> {
        let mut tried = Vec::new();
        for (name, provider) in &self.sources {
            match provider.provide_credentials().await {
                Ok(creds) => {
                    tracing::debug!(source = name, "credential source answered");
                    return Ok(creds);
                }
                Err(e @ CredentialsError::CredentialsNotLoaded(_)) => {
                    tried.push(format!("{name}: {}", flatten(&e)));
                }
                Err(other) => {
                    return Err(CredentialsError::provider_error(format!(
                        "{name}: {}",
                        flatten(&other)
                    )))
                }
            }
        }
        Err(CredentialsError::not_loaded(format!(
            "no credentials in any source; tried {}",
            tried.join("; ")
        )))
    }
}

impl ProvideCredentials for ReportingChain {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.resolve())
    }
}
