//! [`SigningReport`]: what the signer signed for one request.

use super::mode::{Auth, ToSign};
use crate::endpoint::Endpoint;
use crate::error::AmbError;
use crate::sigv4;

/// The canonical request and the string to sign of one request, as the transport's signer
/// signs it now: to compare with what a gateway says it computed (an AWS "signature does not
/// match" answer quotes both).
///
/// Never holds the secret key or the signature; the session token shows as
/// `** redacted (length=N) **`. Checked when made: the string to sign gives the signature the
/// signer produced, so the report is what was signed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SigningReport {
    /// The SigV4 canonical request (method, path, query, signed headers, their names, the
    /// body's SHA-256).
    pub canonical_request: String,
    /// The SigV4 string to sign (algorithm, time, credential scope, the canonical request's
    /// SHA-256).
    pub string_to_sign: String,
}

impl Auth {
    /// What signing `req` for `endpoint` now signs; `None` in token mode (nothing is signed).
    pub(crate) async fn signing_report(
        &self,
        endpoint: &Endpoint,
        req: ToSign<'_>,
    ) -> Result<Option<SigningReport>, AmbError> {
        let Self::SigV4(sig) = self else {
            return Ok(None);
        };
        let region = sig.scope_region(endpoint).await?;
        let creds = sig.credentials.credentials().await?;
        let (canonical_request, string_to_sign) =
            sigv4::report(&sig.keys, &sig.input(endpoint, region, &creds, &req))?;
        Ok(Some(SigningReport {
            canonical_request,
            string_to_sign,
        }))
    }
}

#[cfg(all(test, feature = "http"))]
mod tests {
    use aws_credential_types::Credentials;

    use crate::AmbHttp;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const TOKEN: &str = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN";

    #[tokio::test]
    async fn reports_what_was_signed_and_no_secret() {
        let http =
            AmbHttp::builder("https://nd-abc.ethereum.managedblockchain.us-east-1.amazonaws.com/")
                .credentials_provider(Credentials::new(
                    "AKIDEXAMPLE",
                    SECRET,
                    Some(TOKEN.into()),
                    None,
                    "test",
                ))
                .build()
                .unwrap();
        let body = br#"{"method":"eth_chainId","params":[],"id":0,"jsonrpc":"2.0"}"#;
        let report = http.signing_report(body).await.unwrap().unwrap();
        let lines: Vec<&str> = report.canonical_request.lines().collect();
        assert_eq!(lines[0], "POST");
        assert_eq!(lines[1], "/");
        assert_eq!(lines[2], "");
        assert_eq!(lines[3], "content-type:application/json");
        assert_eq!(
            lines[4],
            "host:nd-abc.ethereum.managedblockchain.us-east-1.amazonaws.com"
        );
        assert!(lines[5].starts_with("x-amz-date:"));
        assert_eq!(
            lines[6],
            format!(
                "x-amz-security-token:** redacted (length={}) **",
                TOKEN.len()
            )
        );
        assert_eq!(
            lines[8],
            "content-type;host;x-amz-date;x-amz-security-token"
        );
        let sts: Vec<&str> = report.string_to_sign.lines().collect();
        assert_eq!(sts[0], "AWS4-HMAC-SHA256");
        assert!(sts[2].ends_with("/us-east-1/managedblockchain/aws4_request"));
        let all = format!("{report:?} {}", report.string_to_sign);
        assert!(!all.contains(SECRET) && !all.contains(TOKEN) && !all.contains("Signature"));
    }

    /// VPC Lattice: the unsigned payload, with SigV4 and SigV4A (whose signature is checked
    /// the same way, its ECDSA being deterministic).
    #[tokio::test]
    async fn reports_unsigned_payloads_and_sigv4a() {
        for sigv4a in [false, true] {
            let http = AmbHttp::builder("https://svc-1.abc.vpc-lattice-svcs.us-west-2.on.aws/")
                .credentials_provider(Credentials::new("AKIDEXAMPLE", SECRET, None, None, "t"))
                .sigv4a(sigv4a)
                .build()
                .unwrap();
            let report = http.signing_report(b"{}").await.unwrap().unwrap();
            let creq: Vec<&str> = report.canonical_request.lines().collect();
            assert!(
                creq.contains(&"x-amz-content-sha256:UNSIGNED-PAYLOAD"),
                "{creq:?}"
            );
            assert_eq!(creq.last(), Some(&"UNSIGNED-PAYLOAD"));
            let sts: Vec<&str> = report.string_to_sign.lines().collect();
            if sigv4a {
                assert!(creq.contains(&"x-amz-region-set:*"), "{creq:?}");
                assert_eq!(sts[0], "AWS4-ECDSA-P256-SHA256");
                assert!(sts[2].ends_with("/vpc-lattice-svcs/aws4_request"));
                assert!(!sts[2].contains("us-west-2"));
            } else {
                assert_eq!(sts[0], "AWS4-HMAC-SHA256");
                assert!(sts[2].ends_with("/us-west-2/vpc-lattice-svcs/aws4_request"));
            }
        }
    }

    #[tokio::test]
    async fn nothing_to_report_in_token_mode() {
        let http = AmbHttp::new("https://a.example/?billingtoken=tok").unwrap();
        assert!(http.signing_report(b"{}").await.unwrap().is_none());
    }
}
