//! What kind of endpoint the fake gateways play: AMB itself, or one of the places users go after
//! AMB (a VPC Lattice service, a Lambda function URL, an API Gateway stage with IAM auth, a
//! third-party RPC provider), each with the rules that service enforces.
//!
//! Set with [`FakeAmb::set_target`](crate::FakeAmb::set_target); [`FakeWs`](crate::FakeWs)
//! follows its gateway's target.
//!
//! The status codes and messages below follow what those services document or are seen to
//! answer. Where AWS does not publish the exact text (VPC Lattice's refusals, the provider
//! refusals), the message is modelled and says what was wrong; tests should match the status
//! and the constant, not a guess of AWS's wording.

use std::fmt;

/// VPC Lattice's signing name (the service in the credential scope).
pub const SERVICE_VPC_LATTICE: &str = "vpc-lattice-svcs";
/// Lambda function URLs' signing name.
pub const SERVICE_LAMBDA: &str = "lambda";
/// API Gateway's signing name.
pub const SERVICE_API_GATEWAY: &str = "execute-api";

pub use crate::sigv4::UNSIGNED_PAYLOAD;

/// [`FakeTarget::VpcLattice`]'s 403 when the request does not carry
/// `x-amz-content-sha256: UNSIGNED-PAYLOAD` (a signed payload, or no header). AWS documents the
/// rule ("VPC Lattice does not support payload signing. You must send an x-amz-content-sha256
/// header with the value set to UNSIGNED-PAYLOAD"), not the refusal's text: modelled.
pub const MSG_LATTICE_PAYLOAD_SIGNED: &str = "VPC Lattice does not support payload signing: send the header x-amz-content-sha256 with the value UNSIGNED-PAYLOAD, and sign it";
/// [`FakeTarget::VpcLattice`]'s 403 when `x-amz-content-sha256` is sent but not listed in
/// `SignedHeaders` (modelled).
pub const MSG_LATTICE_PAYLOAD_HEADER_UNSIGNED: &str =
    "x-amz-content-sha256 must be a 'SignedHeader' in the AWS Authorization.";
/// The refusal of a WebSocket upgrade by a target without WebSockets (VPC Lattice, Lambda
/// function URLs; status 400, modelled text).
pub const MSG_NO_WEBSOCKET: &str = "WebSocket upgrades are not supported by this endpoint";
/// The largest answer a [`FakeTarget::LambdaUrl`] returns: Lambda's 6 MB limit on a buffered
/// (synchronous) response payload. Gzip does not lift it (the function URL does not compress).
pub const LAMBDA_RESPONSE_LIMIT: usize = 6 * 1024 * 1024;
/// [`FakeTarget::LambdaUrl`]'s 413 to a request body over Lambda's 6 MB invocation payload
/// limit ([`LAMBDA_RESPONSE_LIMIT`] bytes), as Lambda words it for synchronous invocations.
pub const MSG_LAMBDA_REQUEST_TOO_LARGE: &str =
    "Request must be smaller than 6291456 bytes for the InvokeFunction operation";
/// API Gateway's 10 MB payload limit, the largest answer a [`FakeTarget::ApiGateway`] returns
/// uncompressed.
pub const API_GATEWAY_RESPONSE_LIMIT: usize = 10 * 1024 * 1024;
/// The 401 of a [`FakeTarget::Provider`] without its header (modelled).
pub const MSG_PROVIDER_MISSING: &str = "Unauthorized: missing authentication header";
/// The 403 of a [`FakeTarget::Provider`] whose header has the wrong value (modelled).
pub const MSG_PROVIDER_INVALID: &str = "Forbidden: invalid authentication token";
/// The 401 of [`FakeTarget::Bearer`] / [`FakeTarget::Basic`] without (or with wrong)
/// credentials; it comes with `WWW-Authenticate`.
pub const MSG_UNAUTHORIZED: &str = "Unauthorized";
/// The 403 of a SigV4-only target that received a SigV4A signature it does not take (AMB,
/// Lambda function URLs; modelled).
pub const MSG_SIGV4A_REFUSED: &str = "Signature Version 4A (AWS4-ECDSA-P256-SHA256) is not supported by this endpoint; sign with AWS4-HMAC-SHA256";

/// The endpoint a [`FakeAmb`](crate::FakeAmb) plays, and so the rules it enforces.
///
/// | target | auth | payload | WebSocket | batches | answer limit |
/// |---|---|---|---|---|---|
/// | `Amb` (default) | SigV4 `managedblockchain`, or `?billingtoken=` | signed (hash of the body) | yes | refused (400) | 5.9 MB unless gzip |
/// | `VpcLattice` | SigV4 or SigV4A `vpc-lattice-svcs` | `x-amz-content-sha256: UNSIGNED-PAYLOAD`, signed | refused (400) | yes | none |
/// | `LambdaUrl` | SigV4 `lambda` | signed: `UNSIGNED-PAYLOAD` fails the signature; over 6 MB: 413 | refused (400) | yes | 6 MB, gzip or not (502) |
/// | `ApiGateway { stage }` | SigV4 or SigV4A `execute-api`, path under `/<stage>` | signed | yes | yes | 10 MB unless gzip |
/// | `Provider { header, value }` | that header (401 without, 403 wrong) | - | yes | yes | none |
/// | `Bearer { token }` | `Authorization: Bearer <token>` (401) | - | yes | yes | none |
/// | `Basic { user, password }` | HTTP Basic (401) | - | yes | yes | none |
///
/// `Debug` withholds the provider value, the bearer token and the password.
#[derive(Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FakeTarget {
    /// Amazon Managed Blockchain's gateway (the fake's behaviour before targets existed).
    #[default]
    Amb,
    /// A VPC Lattice service with IAM auth.
    VpcLattice,
    /// A Lambda function URL with `AWS_IAM` auth.
    LambdaUrl,
    /// An API Gateway API with IAM auth, deployed to `stage`: requests go to `/<stage>` or
    /// below it, and any other path is refused with 403 "Missing Authentication Token".
    ApiGateway {
        /// The stage name, the first path segment (without slashes).
        stage: String,
    },
    /// A third-party provider that takes a key in a header (e.g. QuickNode's `x-token`): no
    /// SigV4.
    Provider {
        /// The header's name (any case).
        header: String,
        /// The value it must carry.
        value: String,
    },
    /// A provider that takes `Authorization: Bearer <token>` (e.g. a JWT): no SigV4.
    Bearer {
        /// The token.
        token: String,
    },
    /// A node behind HTTP Basic auth (e.g. Kaleido): no SigV4.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
}

impl fmt::Debug for FakeTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const W: &str = "<withheld>";
        match self {
            Self::Amb => f.write_str("Amb"),
            Self::VpcLattice => f.write_str("VpcLattice"),
            Self::LambdaUrl => f.write_str("LambdaUrl"),
            Self::ApiGateway { stage } => {
                f.debug_struct("ApiGateway").field("stage", stage).finish()
            }
            Self::Provider { header, .. } => f
                .debug_struct("Provider")
                .field("header", header)
                .field("value", &W)
                .finish(),
            Self::Bearer { .. } => f.debug_struct("Bearer").field("token", &W).finish(),
            Self::Basic { user, .. } => f
                .debug_struct("Basic")
                .field("user", user)
                .field("password", &W)
                .finish(),
        }
    }
}

impl FakeTarget {
    /// An API Gateway stage.
    pub fn api_gateway(stage: impl Into<String>) -> Self {
        Self::ApiGateway {
            stage: stage.into(),
        }
    }

    /// A provider that wants `header: value`.
    pub fn provider(header: impl Into<String>, value: impl Into<String>) -> Self {
        Self::Provider {
            header: header.into(),
            value: value.into(),
        }
    }

    /// A provider that wants `Authorization: Bearer <token>`.
    pub fn bearer(token: impl Into<String>) -> Self {
        Self::Bearer {
            token: token.into(),
        }
    }

    /// A node that wants HTTP Basic `user:password`.
    pub fn basic(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Basic {
            user: user.into(),
            password: password.into(),
        }
    }

    /// The SigV4 service the credential scope must name, `None` for targets without SigV4.
    pub fn service(&self) -> Option<&'static str> {
        match self {
            Self::Amb => Some(crate::SERVICE),
            Self::VpcLattice => Some(SERVICE_VPC_LATTICE),
            Self::LambdaUrl => Some(SERVICE_LAMBDA),
            Self::ApiGateway { .. } => Some(SERVICE_API_GATEWAY),
            Self::Provider { .. } | Self::Bearer { .. } | Self::Basic { .. } => None,
        }
    }

    /// Whether requests are signed with SigV4 (or SigV4A).
    pub fn sigv4(&self) -> bool {
        self.service().is_some()
    }

    /// Whether a SigV4A (`AWS4-ECDSA-P256-SHA256`) signature is accepted: VPC Lattice and API
    /// Gateway document it; AMB and Lambda function URLs do not, and are refused.
    pub fn accepts_sigv4a(&self) -> bool {
        matches!(self, Self::VpcLattice | Self::ApiGateway { .. })
    }

    /// Whether the target takes WebSocket upgrades (not VPC Lattice nor Lambda function URLs).
    pub fn has_websocket(&self) -> bool {
        !matches!(self, Self::VpcLattice | Self::LambdaUrl)
    }

    /// Whether JSON-RPC batches are accepted (all but AMB).
    pub fn accepts_batches(&self) -> bool {
        !matches!(self, Self::Amb)
    }

    /// The largest answer sent uncompressed by default.
    pub(crate) fn response_limit(&self) -> Option<usize> {
        match self {
            Self::Amb => Some(crate::RESPONSE_LIMIT),
            Self::LambdaUrl => Some(LAMBDA_RESPONSE_LIMIT),
            Self::ApiGateway { .. } => Some(API_GATEWAY_RESPONSE_LIMIT),
            _ => None,
        }
    }

    /// A human name, as in error texts.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Amb => "AMB",
            Self::VpcLattice => "VPC Lattice",
            Self::LambdaUrl => "Lambda function URL",
            Self::ApiGateway { .. } => "API Gateway",
            Self::Provider { .. } => "provider (header)",
            Self::Bearer { .. } => "provider (bearer)",
            Self::Basic { .. } => "HTTP Basic",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_withholds_secrets() {
        let shown = format!(
            "{:?} {:?} {:?}",
            FakeTarget::provider("x-token", "QNSECRET"),
            FakeTarget::bearer("JWTSECRET"),
            FakeTarget::basic("alice", "PWSECRET")
        );
        for secret in ["QNSECRET", "JWTSECRET", "PWSECRET"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("x-token") && shown.contains("alice"),
            "{shown}"
        );
    }
}
