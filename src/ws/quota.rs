//! AMB's WebSocket message quota (512 KB), as errors a caller can match on.
//!
//! alloy's pub/sub channel carries JSON-RPC answers only, so a refused request reaches the caller
//! as a JSON-RPC error response ([`RpcError::ErrorResp`](alloy_json_rpc::RpcError::ErrorResp))
//! whose message is the [`AmbError`]'s and whose `data` lets [`quota_error`] rebuild it.

use alloy_json_rpc::{ErrorPayload, RpcError};
use alloy_transport::TransportError;
use serde::{Deserialize, Serialize};

use crate::error::AmbError;

/// AMB's WebSocket message quota: 512 KB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 512 * 1024;

/// The JSON-RPC error code of a request refused for its size before it was sent.
pub const REQUEST_TOO_LARGE_CODE: i64 = -32600;
/// The JSON-RPC error code of an answer the gateway would not send for its size.
pub const RESPONSE_TOO_LARGE_CODE: i64 = -32000;

/// The gateway's words for a message over the quota: AMB's "message response is too large",
/// or API Gateway's "Message too long".
pub(crate) fn says_too_large(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("response is too large") || m.contains("message too long")
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum Quota {
    #[serde(rename_all = "camelCase")]
    RequestTooLarge {
        method: String,
        size: usize,
        limit: usize,
    },
    #[serde(rename_all = "camelCase")]
    ResponseTooLarge {
        host: String,
        method: String,
        message: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    alloy_amb: Quota,
}

/// The JSON-RPC error answer that carries a quota error to the caller. `None` for other errors.
pub(crate) fn to_payload(err: &AmbError) -> Option<ErrorPayload> {
    let (code, quota) = match err {
        AmbError::WsRequestTooLarge {
            method,
            size,
            limit,
        } => (
            REQUEST_TOO_LARGE_CODE,
            Quota::RequestTooLarge {
                method: method.clone(),
                size: *size,
                limit: *limit,
            },
        ),
        AmbError::WsResponseTooLarge {
            host,
            method,
            message,
        } => (
            RESPONSE_TOO_LARGE_CODE,
            Quota::ResponseTooLarge {
                host: host.clone(),
                method: method.clone(),
                message: message.clone(),
            },
        ),
        _ => return None,
    };
    let data = serde_json::value::to_raw_value(&Data { alloy_amb: quota }).ok();
    Some(ErrorPayload {
        code,
        message: err.to_string().into(),
        data,
    })
}

/// The typed quota error ([`AmbError::WsRequestTooLarge`] or [`AmbError::WsResponseTooLarge`])
/// behind an error from an [`AmbWsConnect`](crate::AmbWsConnect) provider, if it is one.
///
/// ```
/// use alloy_amb::{ws::quota_error, AmbError};
/// # fn handle(err: alloy_transport::TransportError) {
/// match quota_error(&err) {
///     Some(AmbError::WsResponseTooLarge { method, .. }) => {
///         eprintln!("{method}: answer over 512 KB, retrying over HTTP");
///     }
///     Some(other) => eprintln!("{other}"),
///     None => eprintln!("{err}"),
/// }
/// # }
/// ```
pub fn quota_error(err: &TransportError) -> Option<AmbError> {
    let RpcError::ErrorResp(payload) = err else {
        return None;
    };
    let data: Data = serde_json::from_str(payload.data.as_ref()?.get()).ok()?;
    Some(match data.alloy_amb {
        Quota::RequestTooLarge {
            method,
            size,
            limit,
        } => AmbError::WsRequestTooLarge {
            method,
            size,
            limit,
        },
        Quota::ResponseTooLarge {
            host,
            method,
            message,
        } => AmbError::WsResponseTooLarge {
            host,
            method,
            message,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_an_error_response() {
        let errors = [
            AmbError::WsRequestTooLarge {
                method: "eth_call".into(),
                size: 600_000,
                limit: DEFAULT_MAX_MESSAGE_SIZE,
            },
            AmbError::WsResponseTooLarge {
                host: "h".into(),
                method: "eth_getLogs".into(),
                message: "Message response is too large".into(),
            },
        ];
        for err in errors {
            let payload = to_payload(&err).unwrap();
            assert_eq!(payload.message, err.to_string());
            let back = quota_error(&RpcError::ErrorResp(payload)).unwrap();
            assert_eq!(back.to_string(), err.to_string());
        }
        assert!(to_payload(&AmbError::Config("x".into())).is_none());
        let other = ErrorPayload {
            code: -32000,
            message: "execution reverted".into(),
            data: None,
        };
        assert!(quota_error(&RpcError::ErrorResp(other)).is_none());
    }

    #[test]
    fn recognises_the_gateway_words() {
        assert!(says_too_large("Message response is too large"));
        assert!(says_too_large("message response is too large"));
        assert!(says_too_large("Message too long"));
        assert!(!says_too_large("execution reverted"));
        assert!(!says_too_large("query returned more than 10000 results"));
    }
}
