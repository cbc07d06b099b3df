//! A refused proxy tunnel as reqwest reports it, made an actionable error.
//!
//! reqwest tunnels with hyper-util's `Tunnel`, whose `TunnelError` is not exported (so it cannot
//! be downcast to): it is recognised by its `Display`, which `tests/network.rs` pins. Should
//! hyper-util change its words, the refusal stays an `AmbError::Connect` quoting them.

use crate::error::AmbError;

/// hyper-util's `TunnelError::ProxyAuthRequired` (the proxy answered 407).
const AUTH_REQUIRED: &str = "tunnel error: proxy authorization required";
/// hyper-util's `TunnelError::TunnelUnsuccessful` (any other answer than 200 and 407).
const UNSUCCESSFUL: &str = "tunnel error: unsuccessful";

/// The error for `err` if it is a proxy's refusal to open a tunnel to `host`; `proxy` is the
/// proxy as shown (`http://host:port`), when the builder made the client and so knows it.
pub(crate) fn proxy_refusal(
    err: &(dyn std::error::Error + 'static),
    proxy: Option<&str>,
    host: &str,
) -> Option<AmbError> {
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if text == AUTH_REQUIRED || text == UNSUCCESSFUL {
            let shown = proxy
                .unwrap_or("the proxy of the reqwest client")
                .to_owned();
            return match text.as_str() {
                AUTH_REQUIRED => Some(AmbError::ProxyRefused {
                    proxy: shown,
                    status: 407,
                    host: host.to_owned(),
                }),
                // reqwest keeps no status for other refusals.
                _ => Some(AmbError::Connect {
                    host: host.to_owned(),
                    reason: format!(
                        "the proxy `{shown}` refused to open a tunnel (reqwest does not report \
                         its status: 403 is usually the proxy's allow-list, 502 that it cannot \
                         reach the endpoint)"
                    ),
                    source: None,
                }),
            };
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
