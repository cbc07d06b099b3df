//! AMB's WebSocket message quota (512 KB), as errors a caller can match on.
//!
//! alloy's pub/sub channel carries JSON-RPC answers only, so a refused request reaches the caller
//! as a JSON-RPC error response ([`RpcError::ErrorResp`](alloy_json_rpc::RpcError::ErrorResp))
//! whose message is the [`AmbError`]'s and whose `data` lets [`quota_error`] rebuild it.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use alloy_json_rpc::{ErrorPayload, Id, RpcError};
use alloy_transport::TransportError;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::error::AmbError;

/// AMB's WebSocket message quota: 512 KB.
pub(crate) const DEFAULT_MAX_MESSAGE_SIZE: usize = 512 * 1024;

/// The JSON-RPC error code of a request refused for its size before it was sent.
pub const REQUEST_TOO_LARGE_CODE: i64 = -32600;
/// The JSON-RPC error code of an answer the gateway would not send for its size.
pub const RESPONSE_TOO_LARGE_CODE: i64 = -32000;

/// The JSON-RPC error code of a WebSocket request that got no answer within the attribution
/// wait after the gateway sent one message naming no request while several were waiting: the
/// message was one request's, not necessarily this one's, so its outcome is unknown (it may
/// have been executed). Check its effect (a nonce, a receipt) before sending it again.
pub const OUTCOME_UNKNOWN_CODE: i64 = -32094;

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

/// The default time a request may still get its own answer after a gateway refusal that names
/// no request and may be its answer (see [`AmbWsConnectBuilder::attribution_wait`]).
///
/// [`AmbWsConnectBuilder::attribution_wait`]: crate::AmbWsConnectBuilder::attribution_wait
pub(crate) const DEFAULT_ATTRIBUTION_WAIT: Duration = Duration::from_secs(5);

/// Methods whose answers are always far below any message quota (a number, a hash, a flag): a
/// "too large" refusal is never theirs.
const SMALL_ANSWERS: &[&str] = &[
    "eth_blockNumber",
    "eth_chainId",
    "net_version",
    "net_listening",
    "net_peerCount",
    "web3_clientVersion",
    "web3_sha3",
    "eth_protocolVersion",
    "eth_syncing",
    "eth_mining",
    "eth_hashrate",
    "eth_coinbase",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_blobBaseFee",
    "eth_getBalance",
    "eth_getTransactionCount",
    "eth_getStorageAt",
    "eth_estimateGas",
    "eth_sendRawTransaction",
    "eth_getBlockTransactionCountByNumber",
    "eth_getBlockTransactionCountByHash",
    "eth_getUncleCountByBlockNumber",
    "eth_getUncleCountByBlockHash",
    "eth_subscribe",
    "eth_unsubscribe",
];

/// At most this many unanswered requests are remembered (to attribute gateway messages).
const MAX_WAITING: usize = 4096;

/// Decides which request a gateway message that names none (`{"message": ...}`) answers, and
/// whether it may instead stand for a notification the gateway would not send. Pure: the
/// backend feeds it what it sends and receives, with the time, and applies what it returns.
///
/// The rule:
/// - Each request gets exactly one reply: its answer (with its id) or a gateway message. A
///   request is a *suspect* of a gateway message if it was waiting when the message came and
///   has not been answered since. For a "too large" message, requests whose answers are always
///   small ([`SMALL_ANSWERS`]) are not suspects.
/// - A "too large" message that came while a subscription was open (or being opened) may be a
///   notification over the quota instead: it is *ambiguous*, and reported as a possibly lost
///   notification at once. Any other message is *certain* to answer one of its suspects.
/// - Certain messages are attributed as soon as they are at least as many as all their
///   suspects together: each answers a different suspect, so every suspect left is refused.
///   Ambiguous messages whose suspects have all been answered were notifications.
/// - A bound, so that no request waits forever: a suspect still unanswered `wait` after the
///   message came is answered with the refusal (it was most likely it; a slower answer that
///   comes later is dropped).
#[derive(Debug)]
pub(crate) struct Attribution {
    wait: Duration,
    /// Requests sent and not answered yet, oldest first.
    waiting: VecDeque<Waiting>,
    /// Gateway messages not attributed yet, oldest first.
    pending: Vec<Pending>,
    /// Subscriptions open on this connection (ids from `eth_subscribe` answers).
    subscriptions: HashSet<String>,
}

#[derive(Debug)]
struct Waiting {
    id: Id,
    method: String,
    /// For `eth_unsubscribe`: the subscription it ends.
    unsubscribes: Option<String>,
}

#[derive(Debug)]
struct Pending {
    message: String,
    arrived: Instant,
    suspects: Vec<Id>,
    may_be_notification: bool,
}

/// A request to answer with a gateway message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The request.
    pub(crate) id: Id,
    /// Its method.
    pub(crate) method: String,
    /// The gateway's message.
    pub(crate) message: String,
    /// `false`: attributed because no answer came within the wait (most likely, not certain).
    pub(crate) certain: bool,
    /// How many requests were still waiting for this message when its wait ended (1 when
    /// certain). With more than one, the message is no single request's: each is told its
    /// outcome is unknown instead of being handed the message.
    pub(crate) shared: usize,
}

/// What a gateway message that names no request means.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Arrival {
    /// It may stand for a notification the gateway did not send.
    pub(crate) lost_notification: bool,
    /// It has no suspect and cannot be a notification: nothing it could answer.
    pub(crate) unexplained: bool,
    /// Requests it (with earlier messages) now answers.
    pub(crate) refusals: Vec<Refusal>,
}

/// What an answer (with an id) means.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Answered {
    /// The method of the request it answers; `None` if no such request is waiting (already
    /// refused after the wait, or unknown).
    pub(crate) method: Option<String>,
    /// Requests that earlier gateway messages now answer, this one being ruled out.
    pub(crate) refusals: Vec<Refusal>,
}

impl Attribution {
    pub(crate) fn new(wait: Duration) -> Self {
        Self {
            wait,
            waiting: VecDeque::new(),
            pending: Vec::new(),
            subscriptions: HashSet::new(),
        }
    }

    /// A request went out. `unsubscribes`: for `eth_unsubscribe`, the subscription it ends.
    pub(crate) fn sent(&mut self, id: Id, method: &str, unsubscribes: Option<String>) {
        if self.waiting.len() == MAX_WAITING {
            self.waiting.pop_front();
        }
        self.waiting.push_back(Waiting {
            id,
            method: method.to_owned(),
            unsubscribes,
        });
    }

    /// An answer to request `id` came; `result` is its result when it succeeded.
    pub(crate) fn answered(&mut self, id: &Id, result: Option<&RawValue>) -> Answered {
        let request = self
            .waiting
            .iter()
            .position(|w| &w.id == id)
            .and_then(|at| self.waiting.remove(at));
        self.rule_out(std::slice::from_ref(id));
        let method = request.map(|w| {
            match (w.method.as_str(), result) {
                ("eth_subscribe", Some(r)) => {
                    if let Ok(sub) = serde_json::from_str::<String>(r.get()) {
                        self.subscriptions.insert(sub);
                    }
                }
                ("eth_unsubscribe", Some(_)) => {
                    if let Some(sub) = &w.unsubscribes {
                        self.subscriptions.remove(sub);
                    }
                }
                _ => {}
            }
            w.method
        });
        Answered {
            method,
            refusals: self.settle(),
        }
    }

    /// A gateway message that names no request came at `now`.
    pub(crate) fn gateway_message(&mut self, message: &str, now: Instant) -> Arrival {
        let too_large = says_too_large(message);
        let suspects: Vec<Id> = self
            .waiting
            .iter()
            .filter(|w| !(too_large && SMALL_ANSWERS.contains(&w.method.as_str())))
            .map(|w| w.id.clone())
            .collect();
        let subscribed = !self.subscriptions.is_empty()
            || self.waiting.iter().any(|w| w.method == "eth_subscribe");
        let may_be_notification = too_large && subscribed;
        let unexplained = suspects.is_empty() && !may_be_notification;
        if !suspects.is_empty() {
            self.pending.push(Pending {
                message: message.to_owned(),
                arrived: now,
                suspects,
                may_be_notification,
            });
        }
        Arrival {
            lost_notification: may_be_notification,
            unexplained,
            refusals: self.settle(),
        }
    }

    /// When the next wait ends, if a message is pending.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.arrived + self.wait).min()
    }

    /// Answers the suspects of every message whose wait has ended by `now`.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Refusal> {
        let mut refusals = Vec::new();
        while let Some(at) = self
            .pending
            .iter()
            .position(|p| p.arrived + self.wait <= now)
        {
            let expired = self.pending.remove(at);
            let shared = expired.suspects.len();
            for id in &expired.suspects {
                let mut refusal = self.refuse(id, &expired.message, false);
                refusal.shared = shared;
                refusals.push(refusal);
            }
            self.rule_out(&expired.suspects);
            refusals.extend(self.settle());
        }
        refusals
    }

    /// Forgets that `ids` may be refused (answered, or refused already).
    fn rule_out(&mut self, ids: &[Id]) {
        for p in &mut self.pending {
            p.suspects.retain(|s| !ids.contains(s));
        }
        // A message whose suspects are all ruled out was a notification (or, for a certain
        // one, the refusal of a request refused after the wait).
        self.pending.retain(|p| !p.suspects.is_empty());
    }

    /// Attributes the certain messages once they are at least as many as their suspects.
    fn settle(&mut self) -> Vec<Refusal> {
        let certain: Vec<usize> = (0..self.pending.len())
            .filter(|&i| !self.pending[i].may_be_notification)
            .collect();
        let mut suspects: Vec<Id> = Vec::new();
        for &i in &certain {
            for s in &self.pending[i].suspects {
                if !suspects.contains(s) {
                    suspects.push(s.clone());
                }
            }
        }
        if certain.is_empty() || suspects.len() > certain.len() {
            return Vec::new();
        }
        // Each certain message answers a different suspect: every suspect is refused. Give
        // each the text of a message it is a suspect of, a different one where possible.
        let mut unused = certain.clone();
        let mut refusals = Vec::new();
        for id in &suspects {
            let of = |i: &usize| self.pending[*i].suspects.contains(id);
            let pick = match unused.iter().position(of) {
                Some(at) => unused.remove(at),
                None => certain.iter().copied().find(of).unwrap_or(certain[0]),
            };
            let message = self.pending[pick].message.clone();
            refusals.push(self.refuse(id, &message, true));
        }
        let mut i = 0;
        self.pending.retain(|_| {
            i += 1;
            !certain.contains(&(i - 1))
        });
        self.rule_out(&suspects);
        refusals
    }

    /// Forgets request `id` and returns its refusal.
    fn refuse(&mut self, id: &Id, message: &str, certain: bool) -> Refusal {
        let method = self
            .waiting
            .iter()
            .position(|w| &w.id == id)
            .and_then(|at| self.waiting.remove(at))
            .map(|w| w.method)
            .unwrap_or_default();
        Refusal {
            id: id.clone(),
            method,
            message: message.to_owned(),
            certain,
            shared: 1,
        }
    }
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

    mod attribution {
        use super::super::*;

        const WAIT: Duration = Duration::from_secs(5);
        const BIG: &str = "Message response is too large";

        fn id(n: u64) -> Id {
            Id::Number(n)
        }

        fn raw(json: &str) -> Box<RawValue> {
            RawValue::from_string(json.to_owned()).unwrap()
        }

        /// An attribution with subscription `0xs` open (request 100).
        fn subscribed() -> Attribution {
            let mut a = Attribution::new(WAIT);
            a.sent(id(100), "eth_subscribe", None);
            let r = raw("\"0xs\"");
            assert_eq!(a.answered(&id(100), Some(&r)).refusals, []);
            a
        }

        fn ids(refusals: &[Refusal]) -> Vec<(Id, bool)> {
            refusals.iter().map(|r| (r.id.clone(), r.certain)).collect()
        }

        #[test]
        fn without_subscriptions_a_lone_suspect_is_refused_at_once() {
            let mut a = Attribution::new(WAIT);
            let now = Instant::now();
            a.sent(id(1), "eth_getLogs", None);
            let arrival = a.gateway_message(BIG, now);
            assert!(!arrival.lost_notification && !arrival.unexplained);
            assert_eq!(
                arrival.refusals,
                [Refusal {
                    id: id(1),
                    method: "eth_getLogs".into(),
                    message: BIG.into(),
                    certain: true,
                    shared: 1
                }]
            );
            assert_eq!(a.deadline(), None);
        }

        #[test]
        fn without_subscriptions_the_refusal_waits_for_the_other_answers() {
            let mut a = Attribution::new(WAIT);
            let now = Instant::now();
            a.sent(id(1), "slow_call", None);
            a.sent(id(2), "big_call", None);
            assert_eq!(a.gateway_message(BIG, now).refusals, []);
            let answered = a.answered(&id(1), Some(&raw("1")));
            assert_eq!(answered.method.as_deref(), Some("slow_call"));
            assert_eq!(ids(&answered.refusals), [(id(2), true)]);
        }

        #[test]
        fn small_answers_are_never_suspects() {
            let mut a = Attribution::new(WAIT);
            let now = Instant::now();
            a.sent(id(1), "eth_blockNumber", None);
            a.sent(id(2), "eth_getBlockByNumber", None);
            assert_eq!(ids(&a.gateway_message(BIG, now).refusals), [(id(2), true)]);
            // Other gateway messages may answer anything.
            let arrival = a.gateway_message("Internal server error", now);
            assert_eq!(ids(&arrival.refusals), [(id(1), true)]);
        }

        /// The oversized notification while a request waits: it keeps waiting, gets its own
        /// answer; the message counts as a possibly lost notification.
        #[test]
        fn an_oversized_notification_leaves_the_waiting_request_its_answer() {
            let mut a = subscribed();
            let now = Instant::now();
            a.sent(id(1), "eth_getLogs", None);
            let arrival = a.gateway_message(BIG, now);
            assert!(arrival.lost_notification);
            assert_eq!(arrival.refusals, []);
            assert_eq!(a.deadline(), Some(now + WAIT));
            assert_eq!(a.expire(now + WAIT - Duration::from_millis(1)), []);
            let answered = a.answered(&id(1), Some(&raw("[]")));
            assert_eq!(answered.method.as_deref(), Some("eth_getLogs"));
            assert_eq!(answered.refusals, []);
            assert_eq!(a.deadline(), None, "resolved as a notification");
            assert_eq!(a.expire(now + WAIT * 10), []);
        }

        /// An oversized answer while subscribed is ambiguous: the request gets the refusal
        /// when its wait ends without an answer; a late answer finds nothing waiting.
        #[test]
        fn an_ambiguous_refusal_is_given_after_the_wait() {
            let mut a = subscribed();
            let now = Instant::now();
            a.sent(id(1), "eth_getBlockByNumber", None);
            let arrival = a.gateway_message(BIG, now);
            assert!(arrival.lost_notification);
            assert_eq!(arrival.refusals, []);
            let refused = a.expire(now + WAIT);
            assert_eq!(ids(&refused), [(id(1), false)]);
            assert_eq!(refused[0].method, "eth_getBlockByNumber");
            assert_eq!(a.deadline(), None);
            assert_eq!(a.answered(&id(1), Some(&raw("{}"))).method, None);
        }

        /// One message naming no request, two slow requests still unanswered when the wait
        /// ends: the message is one request's, so neither is handed it as its own; both are
        /// told their outcome is unknown (`shared` 2).
        #[test]
        fn a_message_expiring_on_several_requests_is_no_single_ones() {
            let mut a = Attribution::new(WAIT);
            let now = Instant::now();
            a.sent(id(1), "eth_sendRawTransaction", None);
            a.sent(id(2), "eth_call", None);
            let arrival = a.gateway_message("Internal server error", now);
            assert_eq!(arrival.refusals, []);
            let refused = a.expire(now + WAIT);
            assert_eq!(ids(&refused), [(id(1), false), (id(2), false)]);
            assert!(refused.iter().all(|r| r.shared == 2), "{refused:?}");
        }

        /// A small request and an oversized notification: certain, nothing pending.
        #[test]
        fn an_oversized_notification_with_only_small_requests_waiting() {
            let mut a = subscribed();
            a.sent(id(1), "eth_blockNumber", None);
            let arrival = a.gateway_message(BIG, Instant::now());
            assert!(arrival.lost_notification && !arrival.unexplained);
            assert_eq!(arrival.refusals, []);
            assert_eq!(a.deadline(), None);
        }

        /// An oversized answer and an oversized notification, in either order, around a
        /// request that gets its own answer.
        #[test]
        fn interleaved_refusal_and_notification() {
            for answer_first in [false, true] {
                let mut a = subscribed();
                let now = Instant::now();
                a.sent(id(1), "eth_getLogs", None);
                a.sent(id(2), "eth_getBlockByNumber", None);
                assert!(a.gateway_message(BIG, now).lost_notification);
                if answer_first {
                    assert_eq!(a.answered(&id(1), None).refusals, []);
                }
                let later = now + Duration::from_secs(1);
                assert!(a.gateway_message(BIG, later).lost_notification);
                if !answer_first {
                    assert_eq!(a.answered(&id(1), None).refusals, []);
                }
                assert_eq!(a.deadline(), Some(now + WAIT));
                assert_eq!(ids(&a.expire(now + WAIT)), [(id(2), false)]);
                assert_eq!(
                    a.deadline(),
                    None,
                    "the second message was the notification"
                );
            }
        }

        /// A message certain to be a refusal (before the subscription), then an ambiguous
        /// one: once the other request is answered, the certain one names its request and the
        /// ambiguous one was a notification.
        #[test]
        fn a_certain_refusal_settles_an_ambiguous_one() {
            let mut a = Attribution::new(WAIT);
            let now = Instant::now();
            a.sent(id(1), "eth_getLogs", None);
            a.sent(id(2), "eth_getLogs", None);
            assert!(!a.gateway_message(BIG, now).lost_notification);
            a.sent(id(100), "eth_subscribe", None);
            assert_eq!(a.answered(&id(100), Some(&raw("\"0xs\""))).refusals, []);
            assert!(a.gateway_message(BIG, now).lost_notification);
            assert_eq!(ids(&a.answered(&id(1), None).refusals), [(id(2), true)]);
            assert_eq!(a.deadline(), None);
        }

        #[test]
        fn a_subscription_being_opened_counts_and_an_ended_one_does_not() {
            let mut a = Attribution::new(WAIT);
            let now = Instant::now();
            a.sent(id(100), "eth_subscribe", None);
            assert!(a.gateway_message(BIG, now).lost_notification);
            a.answered(&id(100), Some(&raw("\"0xs\"")));
            a.sent(id(101), "eth_unsubscribe", Some("0xs".into()));
            assert!(a.gateway_message(BIG, now).lost_notification);
            a.answered(&id(101), Some(&raw("true")));
            let arrival = a.gateway_message(BIG, now);
            assert!(!arrival.lost_notification && arrival.unexplained);
        }

        #[test]
        fn other_gateway_messages_are_never_notifications() {
            let mut a = subscribed();
            a.sent(id(1), "eth_getLogs", None);
            let arrival = a.gateway_message("Internal server error", Instant::now());
            assert!(!arrival.lost_notification);
            assert_eq!(ids(&arrival.refusals), [(id(1), true)]);
        }

        /// A tiny deterministic generator (no test dependency needed).
        struct Rng(u64);

        impl Rng {
            fn below(&mut self, n: usize) -> usize {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 % n as u64) as usize
            }
        }

        /// Scripted event orders, generated: requests (some refused by the gateway, some
        /// small), oversized notifications, answers in any order after their requests, all
        /// before any wait ends. Whatever the order: no answered request is ever refused,
        /// every refused request is refused exactly once (certainly at once when nothing is
        /// subscribed, at the latest when the wait ends), every oversized notification is
        /// reported.
        #[test]
        fn generated_event_orders_never_misattribute() {
            #[derive(Clone, Copy)]
            enum Ev {
                Send(u64),
                Reply(u64),
                Notification,
            }
            for seed in 1..3000u64 {
                let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                let subscribed = rng.below(2) == 1;
                let n = 1 + rng.below(6) as u64;
                let refused: Vec<bool> = (0..n).map(|_| rng.below(3) == 0).collect();
                let small: Vec<bool> = (0..n)
                    .map(|r| !refused[r as usize] && rng.below(3) == 0)
                    .collect();
                let notifications = if subscribed { rng.below(3) } else { 0 };
                // A random order in which each reply comes after its request.
                let mut todo: Vec<Ev> = (0..n).map(Ev::Send).collect();
                todo.extend((0..notifications).map(|_| Ev::Notification));
                let mut script = Vec::new();
                while !todo.is_empty() {
                    let ev = todo.swap_remove(rng.below(todo.len()));
                    if let Ev::Send(r) = ev {
                        todo.push(Ev::Reply(r));
                    }
                    script.push(ev);
                }
                let mut a = if subscribed {
                    self::subscribed()
                } else {
                    Attribution::new(WAIT)
                };
                let now = Instant::now();
                let mut got: Vec<Refusal> = Vec::new();
                let mut lost = 0;
                for ev in &script {
                    match *ev {
                        Ev::Send(r) => {
                            let method = if small[r as usize] {
                                "eth_chainId"
                            } else {
                                "eth_getLogs"
                            };
                            a.sent(id(r), method, None);
                        }
                        Ev::Reply(r) if refused[r as usize] => {
                            let arrival = a.gateway_message(BIG, now);
                            lost += arrival.lost_notification as usize;
                            assert!(!arrival.unexplained, "seed {seed}");
                            got.extend(arrival.refusals);
                        }
                        Ev::Reply(r) => {
                            let answered = a.answered(&id(r), None);
                            assert!(
                                answered.method.is_some(),
                                "seed {seed}: answer to a refused request"
                            );
                            got.extend(answered.refusals);
                        }
                        Ev::Notification => {
                            let arrival = a.gateway_message(BIG, now);
                            assert!(arrival.lost_notification, "seed {seed}");
                            lost += 1;
                            got.extend(arrival.refusals);
                        }
                    }
                }
                if !subscribed {
                    assert_eq!(
                        a.deadline(),
                        None,
                        "seed {seed}: certain without subscriptions"
                    );
                }
                got.extend(a.expire(now + WAIT));
                assert_eq!(a.deadline(), None, "seed {seed}");
                let mut refused_ids: Vec<u64> = got
                    .iter()
                    .map(|r| match r.id {
                        Id::Number(n) => n,
                        _ => unreachable!(),
                    })
                    .collect();
                refused_ids.sort_unstable();
                let expected: Vec<u64> = (0..n).filter(|r| refused[*r as usize]).collect();
                assert_eq!(
                    refused_ids,
                    expected,
                    "seed {seed}: {script:?}",
                    script = script.len()
                );
                assert!(got.iter().all(|r| r.certain || subscribed), "seed {seed}");
                let refusals = refused.iter().filter(|r| **r).count();
                let expected_lost = notifications + if subscribed { refusals } else { 0 };
                assert_eq!(lost, expected_lost, "seed {seed}");
            }
        }
    }
}
