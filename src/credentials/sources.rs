//! Where credentials come from, with reasons when a source gives none: aws-config's providers
//! in the AWS CLI's order, and a profile that says why it has no credentials.

use std::borrow::Cow;

use aws_config::profile::ProfileFileCredentialsProvider;
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
                    SharedCredentialsProvider::new(ExplainedProfile::new(
                        profile::ProfileFileCredentialsProvider::builder()
                            .configure(conf)
                            .build(),
                        None,
                    )),
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
                    tried.push(format!("{name}: {}", describe(&e)));
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

/// A credential source's error on one line. For "no credentials here", the reason alone:
/// aws-config's own text for it ("the credential provider was not enabled") says nothing a
/// reader can act on when the reason follows.
pub(super) fn describe(err: &CredentialsError) -> String {
    match (err, std::error::Error::source(err)) {
        (CredentialsError::CredentialsNotLoaded(_), Some(reason)) => flatten(reason),
        _ => flatten(err),
    }
}

/// aws-config's profile provider, saying why a profile gave no credentials where aws-config
/// only says "the credential provider was not enabled" (a profile without keys, a
/// `source_profile` naming itself without keys of its own, no such profile). The reason is read
/// from the profile files as aws-config parses them.
#[derive(Debug)]
pub(super) struct ExplainedProfile {
    inner: ProfileFileCredentialsProvider,
    /// The profile asked for; `None`: `AWS_PROFILE`, else `default`.
    name: Option<String>,
}

impl ExplainedProfile {
    pub(super) fn new(inner: ProfileFileCredentialsProvider, name: Option<String>) -> Self {
        Self { inner, name }
    }

    async fn resolve(&self) -> Result<Credentials, CredentialsError> {
        match self.inner.provide_credentials().await {
            Err(e @ CredentialsError::CredentialsNotLoaded(_))
                if std::error::Error::source(&e).is_none() =>
            {
                Err(CredentialsError::not_loaded(self.why().await))
            }
            other => other,
        }
    }

    /// Why the selected profile gave no credentials.
    async fn why(&self) -> String {
        let files = "~/.aws/config and ~/.aws/credentials (or AWS_CONFIG_FILE and \
                     AWS_SHARED_CREDENTIALS_FILE)";
        let set = match aws_config::profile::load(
            &aws_types::os_shim_internal::Fs::real(),
            &aws_types::os_shim_internal::Env::real(),
            &Default::default(),
            self.name.clone().map(Cow::Owned),
        )
        .await
        {
            Ok(set) => set,
            Err(e) => return format!("the AWS profile files could not be read: {e}"),
        };
        let name = set.selected_profile();
        let Some(profile) = set.get_profile(name) else {
            let defined: Vec<_> = set.profiles().map(|p| format!("`{p}`")).collect();
            return if defined.is_empty() {
                format!("profile `{name}` is not defined: {files} define no profile")
            } else {
                format!(
                    "profile `{name}` is not defined in {files}, which define {}",
                    defined.join(", ")
                )
            };
        };
        if profile.get("role_arn").is_some() && profile.get("source_profile") == Some(name) {
            return format!(
                "profile `{name}` assumes `role_arn` with `source_profile = {name}`, itself, which \
                 takes the base keys from that same profile, and it has no \
                 `aws_access_key_id`/`aws_secret_access_key`: add them, or point \
                 `source_profile` at a profile with credentials (or use `credential_source`)"
            );
        }
        format!(
            "profile `{name}` has no credentials: it sets none of `aws_access_key_id` + \
             `aws_secret_access_key`, `role_arn` + `source_profile`/`credential_source`, \
             `credential_process`, `sso_session`/`sso_start_url` or `web_identity_token_file`"
        )
    }
}

impl ProvideCredentials for ExplainedProfile {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.resolve())
    }
}
