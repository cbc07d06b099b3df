//! Why a gap-free stream ends, and how a failed call is classified (retry, split, or stop).

use alloy_json_rpc::RpcError;
use alloy_transport::{TransportError, TransportErrorKind};

use super::cursor::Cursor;

/// A terminal cause: the only reasons a gap-free stream ends with an error. Transient
/// failures (timeouts, 5xx, 429, dropped connections, a lagging node) are retried instead.
///
/// It reaches you inside the stream's [`TransportError`] (as
/// [`TransportErrorKind::Custom`]); get it back with [`StreamError::from_transport_error`].
/// Each variant carries a [`Cursor`] to start a new stream from
/// ([`ResumableLogsBuilder::from_cursor`](super::ResumableLogsBuilder::from_cursor)): nothing
/// is lost.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// Every block the stream remembered was replaced by a reorg, so logs delivered from older
    /// blocks may be orphaned too and the stream cannot say which. Removals for everything it
    /// remembered were delivered first.
    #[error(
        "reorg deeper than the remembered history: blocks {oldest}..={newest} were all replaced; \
         logs delivered from blocks below {oldest} may be orphaned too. Undo what you applied \
         down to a block you trust (e.g. a finalized one) and start again from there with \
         `Cursor::from_block`, or raise `history_blocks`"
    )]
    DeepReorg {
        /// The oldest remembered block (replaced).
        oldest: u64,
        /// The newest remembered block (replaced).
        newest: u64,
        /// Where the next stream goes on: from `oldest` (below it, see the message).
        resume: Box<Cursor>,
    },
    /// The node refused the filter (JSON-RPC invalid params, method unavailable): retrying
    /// cannot help.
    #[error("the node refused the log filter: {message}; check the filter (addresses, topics)")]
    InvalidFilter {
        /// The node's error, quoted.
        message: String,
        /// Where the next stream goes on.
        resume: Box<Cursor>,
    },
    /// One block's logs are over the answer size limit, even asked for alone, and there is no
    /// other provider to ask.
    #[error(
        "the logs of block {block} alone are over the answer size limit ({message}); give the \
         stream an HTTP backfill provider (`backfill_provider`, answers up to ~5.9 MB on AMB) \
         or narrow the filter"
    )]
    BlockTooLarge {
        /// The block.
        block: u64,
        /// The node's (or gateway's) error, quoted.
        message: String,
        /// Where the next stream goes on (at this block).
        resume: Box<Cursor>,
    },
    /// The retry bound set with [`retry_policy`](super::ResumableLogsBuilder::retry_policy)
    /// was reached.
    #[error("gave up after {attempts} failed attempts in a row: {last}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
        /// Where the next stream goes on.
        resume: Box<Cursor>,
    },
    /// The live subscription ended for good (the pub/sub connection gave up reconnecting).
    #[error(
        "the live subscription ended: the WebSocket connection could not be reopened (raise \
         the connector's max_retries)"
    )]
    LiveEnded {
        /// Where the next stream goes on.
        resume: Box<Cursor>,
    },
}

impl StreamError {
    /// Finds a [`StreamError`] inside the error a stream ended with.
    pub fn from_transport_error(err: &TransportError) -> Option<&StreamError> {
        match err {
            TransportError::Transport(
                TransportErrorKind::Custom(inner) | TransportErrorKind::NonRetryable(inner),
            ) => inner.downcast_ref::<StreamError>(),
            _ => None,
        }
    }

    /// Where a new stream goes on from, with nothing lost.
    pub fn resume(&self) -> &Cursor {
        match self {
            Self::DeepReorg { resume, .. }
            | Self::InvalidFilter { resume, .. }
            | Self::BlockTooLarge { resume, .. }
            | Self::RetriesExhausted { resume, .. }
            | Self::LiveEnded { resume } => resume,
        }
    }

    /// Same error, with the cursor of the last item the user received.
    pub(crate) fn with_resume(mut self, cursor: Cursor) -> Self {
        let slot = match &mut self {
            // The deep-reorg cursor already points at the replaced blocks.
            Self::DeepReorg { .. } => return self,
            Self::InvalidFilter { resume, .. }
            | Self::BlockTooLarge { resume, .. }
            | Self::RetriesExhausted { resume, .. }
            | Self::LiveEnded { resume } => resume,
        };
        **slot = cursor;
        self
    }
}

impl From<StreamError> for TransportError {
    fn from(err: StreamError) -> Self {
        TransportErrorKind::custom(err)
    }
}

/// A node's head block number, checked: `u64::MAX` is no real chain's head, and the stream
/// could not go on past it (the next block's number would overflow), so it is refused as an
/// invalid answer. The error is transient: the stream asks again after a backoff, within
/// the retry policy's `max_attempts` (then [`StreamError::RetriesExhausted`]).
pub(crate) fn usable_head(head: u64) -> alloy_transport::TransportResult<u64> {
    if head == u64::MAX {
        return Err(TransportErrorKind::custom_str(
            "the node answered eth_blockNumber with u64::MAX, which no chain reaches; check the \
             endpoint (a broken or hostile node)",
        ));
    }
    Ok(head)
}

/// What to do about a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Retry after a backoff.
    Transient,
    /// The answer is over a size (or result count, or range) limit: ask for less.
    TooLarge,
    /// The request itself is wrong: stop.
    Invalid,
}

/// Answers that mean "ask for less": AMB's WebSocket quota ("message response is too large"),
/// HTTP size limits, and providers' result-count and range limits.
const TOO_LARGE: &[&str] = &[
    "too large",
    "too big",
    "response size exceeded",
    "response size should not",
    "size limit",
    "query returned more than",
    "more than 10000 results",
    "exceeds max results",
    "result limit",
    "results limit",
    "block range limit",
    "range limit exceeded",
    "block range is too",
    "block range too",
    "range is too large",
    "range too large",
    "exceed maximum block range",
    "payload too large",
];

/// The AWS gateway family's answer (HTTP 502) to an integration answer over its payload limit:
/// "Response payload size exceeded maximum allowed payload size".
const GATEWAY_PAYLOAD_LIMIT: &str = "exceeded maximum allowed payload size";

/// Answers that mean "slow down", whatever their code: API Gateway's HTTP 429 body
/// `{"message":"Limit Exceeded"}`, Infura's -32005 "project ID request rate exceeded". They
/// are retried after a backoff, never split (which would only send more requests). A bare
/// "limit exceeded" matches neither list and is retried too.
const RATE_LIMITED: &[&str] = &[
    "rate limit",
    "rate exceeded",
    "request rate",
    "too many requests",
    "throttl",
];

/// Invalid-params answers that are about a block the node does not have (yet).
const BLOCK_NOT_THERE: &[&str] = &[
    "out of range",
    "block height",
    "beyond",
    "not found",
    "unknown block",
    "header not found",
    "future block",
];

/// Classifies a failed call of the stream (`eth_getLogs`, `eth_getBlockByNumber`,
/// `eth_blockNumber`).
pub(crate) fn classify(err: &TransportError) -> Failure {
    #[cfg(feature = "ws")]
    if let Some(crate::AmbError::WsResponseTooLarge { .. }) = crate::ws::quota_error(err) {
        return Failure::TooLarge;
    }
    // An AWS gateway's refusal of an answer over its payload limit (a Lambda function URL's 6 MB,
    // API Gateway's 10 MB) comes as a 502, but retrying the same range can only fail the same
    // way: ask for less. Its exact words, so that other 5xx bodies stay transient.
    if err
        .to_string()
        .to_ascii_lowercase()
        .contains(GATEWAY_PAYLOAD_LIMIT)
    {
        return Failure::TooLarge;
    }
    // The transport's own verdicts come first: an answer over `AmbHttp`'s `max_response_size`
    // is a size limit, and a throttled or failing gateway (429, 5xx) is transient whatever its
    // body says ("Limit Exceeded" is API Gateway's 429).
    match crate::AmbError::from_transport_error(err) {
        Some(crate::AmbError::ResponseTooLarge { .. }) => return Failure::TooLarge,
        Some(
            crate::AmbError::UnexpectedResponse { status, .. }
            | crate::AmbError::WsUpgradeRejected { status, .. },
        ) if throttled_or_failing(*status) => return Failure::Transient,
        _ => {}
    }
    if let RpcError::Transport(kind) = err {
        if let Some(http) = kind.as_http_error() {
            if throttled_or_failing(http.status) {
                return Failure::Transient;
            }
            if http.status == 413 {
                return Failure::TooLarge;
            }
        }
    }
    let text = err.to_string().to_ascii_lowercase();
    if RATE_LIMITED.iter().any(|p| text.contains(p)) {
        return Failure::Transient;
    }
    if TOO_LARGE.iter().any(|p| text.contains(p)) {
        return Failure::TooLarge;
    }
    match err {
        RpcError::ErrorResp(payload) => match payload.code {
            // -32005 ("limit exceeded") is a size limit only when its text says so (caught
            // above); otherwise (rate limits) it is retried, below.
            // Invalid params about blocks: a node behind, or a chain that just got shorter
            // (anvil: "BlockOutOfRangeError: block height is N but requested was M").
            -32602 if BLOCK_NOT_THERE.iter().any(|p| text.contains(p)) => Failure::Transient,
            // Invalid request / method not found / invalid params: the filter is wrong.
            -32602..=-32600 => Failure::Invalid,
            _ => Failure::Transient,
        },
        _ => Failure::Transient,
    }
}

/// HTTP 429 (throttled) and 5xx (the gateway or node failing): retry after a backoff.
fn throttled_or_failing(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_json_rpc::ErrorPayload;

    fn rpc(code: i64, message: &str) -> TransportError {
        RpcError::ErrorResp(ErrorPayload {
            code,
            message: message.to_owned().into(),
            data: None,
        })
    }

    #[test]
    fn size_limits_of_nodes_and_providers_mean_ask_for_less() {
        for (code, message) in [
            (-32005, "query returned more than 10000 results"),
            (-32602, "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range"),
            (-32000, "Message response is too large"),
            (-32600, "block range is too wide"),
        ] {
            assert_eq!(classify(&rpc(code, message)), Failure::TooLarge, "{message}");
        }
        let lambda = TransportErrorKind::http_error(
            413,
            "{\"message\":\"Response payload size exceeded maximum allowed payload size\"}".into(),
        );
        assert_eq!(classify(&lambda), Failure::TooLarge);
    }

    #[test]
    fn a_block_not_there_yet_is_transient_and_a_bad_filter_is_not() {
        let anvil = rpc(
            -32602,
            "BlockOutOfRangeError: block height is 2749 but requested was 2751",
        );
        assert_eq!(classify(&anvil), Failure::Transient);
        assert_eq!(
            classify(&rpc(
                -32602,
                "invalid argument 0: hex string has odd length"
            )),
            Failure::Invalid
        );
        assert_eq!(
            classify(&TransportErrorKind::http_error(503, "unavailable".into())),
            Failure::Transient
        );
        assert_eq!(
            classify(&TransportErrorKind::backend_gone()),
            Failure::Transient
        );
    }

    /// Rate limiting is not a size limit: halving the range would only send more requests,
    /// and at one block it would end the stream.
    #[test]
    fn rate_limits_are_transient_whatever_their_code_or_text() {
        for (code, message) in [
            (-32005, "project ID request rate exceeded"),
            (-32005, "Limit Exceeded"),
            (-32005, "daily request count exceeded, request rate limited"),
            (-32000, "rate limit exceeded"),
            (429, "Too Many Requests"),
        ] {
            assert_eq!(
                classify(&rpc(code, message)),
                Failure::Transient,
                "{message}"
            );
        }
        for (status, body) in [
            (429, r#"{"message":"Limit Exceeded"}"#),
            (429, r#"{"message":"Too Many Requests"}"#),
            (503, r#"{"message":"response size exceeded"}"#),
            (502, "payload too large upstream"),
        ] {
            assert_eq!(
                classify(&TransportErrorKind::http_error(status, body.into())),
                Failure::Transient,
                "{status} {body}"
            );
            assert_eq!(
                classify(&TransportErrorKind::http_error_with_retry_after(
                    status,
                    body.into(),
                    Some(std::time::Duration::from_secs(1)),
                )),
                Failure::Transient,
                "{status} {body} with Retry-After"
            );
        }
        let amb_429 = TransportErrorKind::custom(crate::AmbError::UnexpectedResponse {
            status: 429,
            snippet: "Limit Exceeded".into(),
            host: "h".into(),
        });
        assert_eq!(classify(&amb_429), Failure::Transient);
        // A gateway's 502 for an answer over its payload limit (a Lambda function URL's 6 MB)
        // would fail the same way forever: ask for less.
        let limit = r#"{"message":"Response payload size exceeded maximum allowed payload size"}"#;
        for err in [
            TransportErrorKind::http_error(502, limit.into()),
            TransportErrorKind::custom(crate::AmbError::UnexpectedResponse {
                status: 502,
                snippet: limit.into(),
                host: "h".into(),
            }),
        ] {
            assert_eq!(classify(&err), Failure::TooLarge, "{err}");
        }
        // A -32005 result-count limit still means ask for less.
        assert_eq!(
            classify(&rpc(-32005, "query returned more than 10000 results")),
            Failure::TooLarge
        );
        assert_eq!(
            classify(&rpc(-32005, "block range limit exceeded (max 2000)")),
            Failure::TooLarge
        );
    }

    #[test]
    fn a_head_at_u64_max_is_refused_and_retried() {
        let err = usable_head(u64::MAX).unwrap_err();
        assert_eq!(classify(&err), Failure::Transient);
        assert_eq!(usable_head(u64::MAX - 1).unwrap(), u64::MAX - 1);
    }

    /// `AmbHttp`'s own answer-size limit means ask for less, not retry the same range.
    #[test]
    fn an_answer_over_max_response_size_means_ask_for_less() {
        let err = TransportErrorKind::custom(crate::AmbError::ResponseTooLarge {
            host: "h".into(),
            method: "eth_getLogs".into(),
            limit: 1000,
        });
        assert_eq!(classify(&err), Failure::TooLarge);
    }
}
