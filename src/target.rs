//! What kind of endpoint a URL points at, and that target's rules.
//!
//! [`Target::infer`] reads the host name only, the way AWS names its endpoints:
//!
//! | host | target | service | region |
//! |---|---|---|---|
//! | `nd-<id>[.wss].<chain>.managedblockchain.<r>.amazonaws.com`, `<network>.<chain>.managedblockchain.<r>.amazonaws.com` | [`Amb`](Target::Amb) | `managedblockchain` | `<r>` |
//! | `<api-id>.execute-api.<r>.amazonaws.com`, `<vpce-id>.execute-api.<r>.vpce.amazonaws.com` | [`ApiGateway`](Target::ApiGateway) | `execute-api` | `<r>` |
//! | `<url-id>.lambda-url.<r>.on.aws` | [`LambdaUrl`](Target::LambdaUrl) | `lambda` | `<r>` |
//! | `<service>-<id>.<hash>.vpc-lattice-svcs.<r>.on.aws` | [`VpcLattice`](Target::VpcLattice) | `vpc-lattice-svcs` | `<r>` |
//! | `localhost`, `127.0.0.0/8`, `::1` | [`Loopback`](Target::Loopback) | `managedblockchain` | — |
//! | anything else (custom domains, third-party providers) | [`Other`](Target::Other) | — | — |
//!
//! (`.amazonaws.com.cn` for the China regions as well.) Every value inferred here can be
//! overridden on the builders: `.target(..)` for a custom domain in front of one of these,
//! `.service(..)`, `.region(..)`, `.unsigned_payload(..)`, `.split_batches(..)`.

use crate::endpoint::Endpoint;

/// The kind of endpoint a transport talks to: it decides the SigV4 service name, the payload
/// signing mode, whether a WebSocket is possible and whether batches are split.
///
/// Inferred from the host name ([`Target::infer`], [`Endpoint::target`]); set it explicitly with
/// the builders' `.target(..)` for a custom domain in front of one of the AWS targets.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Amazon Managed Blockchain (`*.managedblockchain.<region>.amazonaws.com`): SigV4 service
    /// `managedblockchain`, body signed, WebSocket, no JSON-RPC batches.
    Amb,
    /// API Gateway with IAM auth (`<id>.execute-api.<region>.amazonaws.com/<stage>`): service
    /// `execute-api`, body signed, the stage is the first (signed) path segment.
    ApiGateway,
    /// A Lambda function URL with `AWS_IAM` auth (`<id>.lambda-url.<region>.on.aws`): service
    /// `lambda`, body signed (unsigned payloads are refused), no WebSocket, 6 MB responses.
    LambdaUrl,
    /// A VPC Lattice service (`*.vpc-lattice-svcs.<region>.on.aws`): service
    /// `vpc-lattice-svcs`, payload not signed (`x-amz-content-sha256: UNSIGNED-PAYLOAD`), SigV4
    /// or SigV4A, no WebSocket.
    VpcLattice,
    /// `localhost` or a loopback address: a local node or the emulator. Takes AMB's defaults
    /// (service `managedblockchain`, batches split) so the emulator behaves like AMB.
    Loopback,
    /// Any other host: a custom domain or a third-party RPC provider. Nothing is inferred;
    /// SigV4 needs `.service(..)` (or `.target(..)`), else choose another auth.
    Other,
}

impl Target {
    /// The target of `endpoint`, from its host name only (see the [module docs](self)).
    pub fn infer(endpoint: &Endpoint) -> Target {
        endpoint.target()
    }

    /// The SigV4 service name this target is signed for: `managedblockchain` (AMB and
    /// loopback), `execute-api`, `lambda`, `vpc-lattice-svcs`; `None` for [`Target::Other`].
    pub fn default_service(self) -> Option<&'static str> {
        match self {
            Self::Amb | Self::Loopback => Some(crate::auth::AMB_SERVICE),
            Self::ApiGateway => Some("execute-api"),
            Self::LambdaUrl => Some("lambda"),
            Self::VpcLattice => Some("vpc-lattice-svcs"),
            Self::Other => None,
        }
    }

    /// Whether the payload is sent unsigned by default (`x-amz-content-sha256:
    /// UNSIGNED-PAYLOAD`): only for VPC Lattice, which does not support payload signing.
    pub fn unsigned_payload(self) -> bool {
        matches!(self, Self::VpcLattice)
    }

    /// Whether the target can carry a WebSocket: not a Lambda function URL, not VPC Lattice.
    pub fn has_websocket(self) -> bool {
        !matches!(self, Self::LambdaUrl | Self::VpcLattice)
    }

    /// Whether the target accepts JSON-RPC batches. AMB does not (the HTTP transport splits
    /// them into single calls by default); neither does loopback, which takes AMB's defaults
    /// for the emulator (`.split_batches(false)` for a local node).
    pub fn accepts_batches(self) -> bool {
        !matches!(self, Self::Amb | Self::Loopback)
    }

    /// Whether requests may be signed with the payload unsigned: every target but a Lambda
    /// function URL (which refuses unsigned payloads).
    pub fn allows_unsigned_payload(self) -> bool {
        !matches!(self, Self::LambdaUrl)
    }

    /// Whether SigV4 is how this target is reached (every AWS target, and loopback for the
    /// emulator); `false` for [`Target::Other`].
    pub fn is_sigv4(self) -> bool {
        !matches!(self, Self::Other)
    }

    /// A human name: "AMB", "API Gateway", "Lambda function URL", "VPC Lattice", "loopback",
    /// "other".
    pub fn name(self) -> &'static str {
        match self {
            Self::Amb => "AMB",
            Self::ApiGateway => "API Gateway",
            Self::LambdaUrl => "Lambda function URL",
            Self::VpcLattice => "VPC Lattice",
            Self::Loopback => "loopback",
            Self::Other => "other",
        }
    }

    /// The target a SigV4 service name is the default of, for a host that says nothing
    /// (`.service("vpc-lattice-svcs")` on a custom domain behaves like `.target(VpcLattice)`).
    pub(crate) fn of_service(service: &str) -> Option<Target> {
        [
            Self::Amb,
            Self::ApiGateway,
            Self::LambdaUrl,
            Self::VpcLattice,
        ]
        .into_iter()
        .find(|t| t.default_service() == Some(service))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The AWS target and region a host name names: API Gateway, Lambda URL and VPC Lattice hosts
/// (AMB hosts are read by [`AmbHost`](crate::endpoint::AmbHost)). `host` is lowercase.
pub(crate) fn region_from_host(host: &str) -> Option<(Target, String)> {
    let labels: Vec<&str> = host.split('.').collect();
    for (service, target, suffixes) in [
        (
            "execute-api",
            Target::ApiGateway,
            // Private APIs through an interface endpoint: `.<r>.vpce.amazonaws.com`.
            &[
                &["amazonaws", "com"][..],
                &["amazonaws", "com", "cn"],
                &["vpce", "amazonaws", "com"],
            ][..],
        ),
        ("lambda-url", Target::LambdaUrl, &[&["on", "aws"][..]][..]),
        (
            "vpc-lattice-svcs",
            Target::VpcLattice,
            &[&["on", "aws"][..]][..],
        ),
    ] {
        // `<prefix...>.<service>.<region>.<suffix>`, with a non-empty prefix.
        let Some(at) = labels.iter().position(|l| *l == service) else {
            continue;
        };
        if at == 0 || labels[..at].iter().any(|l| l.is_empty()) {
            continue;
        }
        let Some(region) = labels.get(at + 1) else {
            continue;
        };
        let rest = &labels[at + 2..];
        if suffixes.contains(&rest) && crate::endpoint::looks_like_region(region) {
            return Some((target, (*region).to_owned()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn infer(url: &str) -> (Target, Option<String>) {
        let ep = Endpoint::parse(url).unwrap();
        (ep.target(), ep.host_region().map(str::to_owned))
    }

    #[test]
    fn infers_every_aws_pattern_with_its_region() {
        let cases = [
            (
                "https://nd-6eaj5va43jggnpxouzp7y47e4y.ethereum.managedblockchain.us-east-1.amazonaws.com/",
                Target::Amb,
                "us-east-1",
            ),
            (
                "wss://nd-abc.wss.ethereum.managedblockchain.eu-west-2.amazonaws.com/",
                Target::Amb,
                "eu-west-2",
            ),
            (
                "https://mainnet.polygon.managedblockchain.us-east-1.amazonaws.com/?billingtoken=t",
                Target::Amb,
                "us-east-1",
            ),
            (
                "https://a1b2c3d4e5.execute-api.us-west-2.amazonaws.com/prod",
                Target::ApiGateway,
                "us-west-2",
            ),
            (
                "wss://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/prod/",
                Target::ApiGateway,
                "eu-central-1",
            ),
            (
                "https://a1b2c3.execute-api.cn-north-1.amazonaws.com.cn/v1",
                Target::ApiGateway,
                "cn-north-1",
            ),
            (
                "https://a1b2c3d4e5-vpce-0123456789abcdef0.execute-api.us-east-1.amazonaws.com/prod",
                Target::ApiGateway,
                "us-east-1",
            ),
            (
                "https://vpce-0123456789abcdef0-abcd1234.execute-api.eu-west-1.vpce.amazonaws.com/prod",
                Target::ApiGateway,
                "eu-west-1",
            ),
            (
                "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.ap-southeast-2.on.aws/",
                Target::LambdaUrl,
                "ap-southeast-2",
            ),
            (
                "https://rpc-0a1b2c3d4e5f6a7b8.7d67968.vpc-lattice-svcs.us-east-1.on.aws/",
                Target::VpcLattice,
                "us-east-1",
            ),
            (
                "https://svc-01.abc.vpc-lattice-svcs.us-gov-west-1.on.aws",
                Target::VpcLattice,
                "us-gov-west-1",
            ),
        ];
        for (url, target, region) in cases {
            assert_eq!(infer(url), (target, Some(region.to_owned())), "{url}");
        }
    }

    #[test]
    fn case_and_ports_do_not_change_the_inference() {
        for url in [
            "https://ABC.Execute-API.US-EAST-1.AmazonAWS.com/prod",
            "https://abc.execute-api.us-east-1.amazonaws.com:443/prod",
            "https://abc.execute-api.us-east-1.amazonaws.com:8443/prod",
        ] {
            assert_eq!(
                infer(url),
                (Target::ApiGateway, Some("us-east-1".into())),
                "{url}"
            );
        }
        assert_eq!(
            infer("https://X.LAMBDA-URL.EU-WEST-1.ON.AWS:443/").0,
            Target::LambdaUrl
        );
    }

    #[test]
    fn look_alikes_and_custom_domains_are_other() {
        for url in [
            // Custom domains carry neither service nor region.
            "https://rpc.example.com/prod",
            "https://api.mycompany.io/",
            // The service label without a prefix, a wrong suffix, a bad region.
            "https://execute-api.us-east-1.amazonaws.com/",
            "https://abc.execute-api.us-east-1.amazonaws.com.evil.com/",
            "https://abc.execute-api.us-east-1.on.aws/",
            "https://abc.lambda-url.us-east-1.amazonaws.com/",
            "https://abc.lambda-url.notaregion.on.aws/",
            "https://abc.vpc-lattice-svcs.us-east-1.on.aws.example.com/",
            "https://abc.vpc-lattice-svcs.on.aws/",
            "https://managedblockchain.example.com/",
            "https://nd-x.ethereum.managedblockchain.notaregion.amazonaws.com/",
            // Third-party providers.
            "https://eth-mainnet.g.alchemy.com/v2/KEY",
            "https://x.quiknode.pro/TOKEN/",
        ] {
            assert_eq!(infer(url), (Target::Other, None), "{url}");
        }
    }

    #[test]
    fn loopback_is_its_own_target() {
        for url in [
            "http://127.0.0.1:8545",
            "ws://localhost:8546/",
            "http://[::1]:1/",
        ] {
            assert_eq!(infer(url), (Target::Loopback, None), "{url}");
        }
    }

    #[test]
    fn rules_per_target() {
        use Target::*;
        let all = [Amb, ApiGateway, LambdaUrl, VpcLattice, Loopback, Other];
        let services: Vec<_> = all.iter().map(|t| t.default_service()).collect();
        assert_eq!(
            services,
            [
                Some("managedblockchain"),
                Some("execute-api"),
                Some("lambda"),
                Some("vpc-lattice-svcs"),
                Some("managedblockchain"),
                None
            ]
        );
        let unsigned: Vec<_> = all.iter().filter(|t| t.unsigned_payload()).collect();
        assert_eq!(unsigned, [&VpcLattice]);
        let no_ws: Vec<_> = all.iter().filter(|t| !t.has_websocket()).collect();
        assert_eq!(no_ws, [&LambdaUrl, &VpcLattice]);
        let split: Vec<_> = all.iter().filter(|t| !t.accepts_batches()).collect();
        assert_eq!(split, [&Amb, &Loopback]);
        assert!(!LambdaUrl.allows_unsigned_payload());
        for t in all {
            if let Some(s) = t.default_service() {
                assert!(Target::of_service(s).is_some());
            }
            assert!(!t.name().is_empty());
        }
        assert_eq!(Target::of_service("vpc-lattice-svcs"), Some(VpcLattice));
        assert_eq!(Target::of_service("s3"), None);
    }
}
