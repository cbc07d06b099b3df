//! The loop that runs one open WebSocket for alloy's pub/sub service.
//!
//! alloy-transport-ws's `WsBackend` cannot be reused for this: its socket and interface are
//! private to that crate, so its loop cannot be extended, and AMB needs what that loop lacks:
//! - requests over the 512 KB message quota are answered with a typed error instead of being
//!   sent (the gateway would drop them);
//! - AMB's "message response is too large" becomes a typed error for the request it answers,
//!   and, when it may stand for a notification the gateway would not send, bumps the connector's
//!   lost-notification count (see [`quota::Attribution`] for the rule);
//! - a close with code 1003 (the gateway's answer to a binary frame) is explained;
//! - every reason for losing the connection reaches alloy's reconnect loop as an [`AmbError`].
//!
//! Everything is sent as text frames; pings go out every keepalive interval, and a ping still
//! unanswered when the next one is due ends the connection (alloy then reconnects).

use std::time::Duration;

use alloy_json_rpc::{Id, PubSubItem, Response, ResponsePayload};
use alloy_pubsub::ConnectionInterface;
use futures::{FutureExt, SinkExt, StreamExt};
use serde_json::value::RawValue;
use tokio::sync::watch;
use tokio::time::{interval_at, sleep_until, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::{debug, trace, warn};

use super::handshake::Socket;
use super::quota;
use crate::error::AmbError;
use crate::redact::Known;

/// How long a closing handshake may take when the connection is shut down on purpose.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// At most this many requests go out in one flush; then frames that have arrived are read
/// before the next requests.
const MAX_COALESCED: usize = 256;

pub(crate) struct Backend {
    socket: Socket,
    interface: ConnectionInterface,
    keepalive: Duration,
    max_message_size: usize,
    host: String,
    /// A ping was sent and its pong has not come yet.
    awaiting_pong: bool,
    /// Requests just went out: read what has arrived before taking more.
    read_first: bool,
    /// Which request a gateway message that names none answers.
    attribution: quota::Attribution,
    /// Counts gateway messages that may stand for a notification over the quota.
    lost_notifications: watch::Sender<u64>,
    /// The secrets the upgrade carried (provider headers, bearer token, session token),
    /// withheld from close reasons, gateway messages and JSON-RPC error payloads.
    known: Known,
}

/// Why the loop stopped.
enum Stop {
    /// The frontend (alloy's pub/sub service) let go of this connection: stop quietly.
    Released,
    /// The connection was lost: alloy reconnects.
    Lost(AmbError),
}

impl From<AmbError> for Stop {
    fn from(err: AmbError) -> Self {
        Self::Lost(err)
    }
}

impl Backend {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        socket: Socket,
        interface: ConnectionInterface,
        keepalive: Duration,
        max_message_size: usize,
        host: String,
        attribution_wait: Duration,
        lost_notifications: watch::Sender<u64>,
        known: Known,
    ) -> Self {
        Self {
            socket,
            interface,
            keepalive,
            max_message_size,
            host,
            awaiting_pong: false,
            read_first: false,
            attribution: quota::Attribution::new(attribution_wait),
            lost_notifications,
            known,
        }
    }

    pub(crate) fn spawn(self) {
        tokio::spawn(self.run());
    }

    async fn run(mut self) {
        match self.serve().await {
            Stop::Released => debug!(host = %self.host, "WebSocket closed"),
            Stop::Lost(err) => {
                let err = err.withhold(&self.known);
                warn!(host = %self.host, error = %err, "AMB WebSocket connection lost");
                self.interface.close_with_transport_error(err.into());
            }
        }
    }

    /// Runs until the frontend lets go or the connection is lost.
    async fn serve(&mut self) -> Stop {
        match self.serve_inner().await {
            Ok(never) => match never {},
            Err(stop) => stop,
        }
    }

    async fn serve_inner(&mut self) -> Result<std::convert::Infallible, Stop> {
        let mut ping = interval_at(Instant::now() + self.keepalive, self.keepalive);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let deadline = self.attribution.deadline();
            let attribution_due = async move {
                match deadline {
                    Some(at) => sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            // The frontend comes first, except right after requests went out: then frames
            // that have arrived are read first, so a steady stream of requests does not hold up
            // their answers. Frames always come before a due ping tick, so a pong that arrived
            // is read before the tick is judged.
            if std::mem::take(&mut self.read_first) {
                tokio::select! {
                    biased;
                    frame = self.socket.next() => self.on_frame(frame)?,
                    request = self.interface.recv_from_frontend() => self.on_request(request).await?,
                    _ = ping.tick() => self.on_tick().await?,
                    _ = attribution_due => self.on_attribution_due()?,
                }
            } else {
                tokio::select! {
                    biased;
                    request = self.interface.recv_from_frontend() => self.on_request(request).await?,
                    frame = self.socket.next() => self.on_frame(frame)?,
                    _ = ping.tick() => self.on_tick().await?,
                    _ = attribution_due => self.on_attribution_due()?,
                }
            }
        }
    }

    /// The wait for an answer after an ambiguous gateway message ended: the requests still
    /// waiting get the refusal.
    fn on_attribution_due(&mut self) -> Result<(), Stop> {
        let refusals = self.attribution.expire(Instant::now());
        self.apply(refusals)
    }

    /// Sends a request from the frontend (with the others waiting), or closes the connection
    /// when the frontend let go (`None`).
    async fn on_request(&mut self, request: Option<Box<RawValue>>) -> Result<(), Stop> {
        match request {
            Some(request) => {
                self.send_requests(request).await?;
                self.read_first = true;
                Ok(())
            }
            None => {
                let _ = tokio::time::timeout(CLOSE_GRACE, self.socket.close(None)).await;
                Err(Stop::Released)
            }
        }
    }

    /// A keepalive tick: the previous ping's pong must have come; sends the next ping.
    async fn on_tick(&mut self) -> Result<(), Stop> {
        if self.awaiting_pong {
            return Err(AmbError::WsKeepaliveTimeout {
                host: self.host.clone(),
                after: self.keepalive,
            }
            .into());
        }
        self.write(Message::Ping(Default::default())).await?;
        self.awaiting_pong = true;
        Ok(())
    }

    /// Handles one frame from the server (`None`: the connection ended).
    fn on_frame(&mut self, frame: Option<Result<Message, tungstenite::Error>>) -> Result<(), Stop> {
        match frame {
            Some(Ok(Message::Text(text))) => self.receive(text.as_str()),
            Some(Ok(Message::Pong(_))) => {
                self.awaiting_pong = false;
                Ok(())
            }
            Some(Ok(Message::Ping(_) | Message::Frame(_))) => Ok(()),
            Some(Ok(Message::Binary(bytes))) => {
                warn!(host = %self.host, len = bytes.len(), "ignoring a binary WebSocket message (JSON-RPC is text)");
                Ok(())
            }
            Some(Ok(Message::Close(frame))) => Err(self.closed(frame).into()),
            Some(Err(err)) => Err(self.broken(err).into()),
            None => Err(AmbError::WsClosed {
                host: self.host.clone(),
                code: None,
                detail: "the connection ended without a close frame".into(),
            }
            .into()),
        }
    }

    /// Sends `first` and every other request already waiting (up to [`MAX_COALESCED`]) as text
    /// frames with one flush: with `TCP_NODELAY` on, requests issued together leave in one
    /// write (one segment), without Nagle's wait for the previous segment's ACK.
    async fn send_requests(&mut self, first: Box<RawValue>) -> Result<(), Stop> {
        let mut next = Some(first);
        let mut queued = 0;
        while let Some(request) = next.take() {
            if let Some(message) = self.prepare(request)? {
                if let Err(e) = self.socket.feed(message).await {
                    return Err(self.broken(e).into());
                }
                queued += 1;
            }
            if queued == MAX_COALESCED {
                break;
            }
            // Only what is already waiting: a closed frontend is seen by the main loop next.
            next = self.interface.recv_from_frontend().now_or_never().flatten();
        }
        if queued == 0 {
            return Ok(());
        }
        trace!(host = %self.host, requests = queued, "flushing");
        let result = self.socket.flush().await;
        result.map_err(|e| self.broken(e).into())
    }

    /// The text frame for a request, or `None` after answering it with an error when it is over
    /// the quota.
    fn prepare(&mut self, request: Box<RawValue>) -> Result<Option<Message>, Stop> {
        let text = request.get();
        let head = serde_json::from_str::<Head>(text).ok();
        if text.len() > self.max_message_size {
            let err = AmbError::WsRequestTooLarge {
                method: head.as_ref().map(|h| h.method.clone()).unwrap_or_default(),
                size: text.len(),
                limit: self.max_message_size,
            };
            warn!(host = %self.host, error = %err, "request not sent");
            return match head.and_then(|h| h.id) {
                Some(id) => self.answer_with(id, &err).map(|()| None),
                None => Ok(None),
            };
        }
        if let Some(Head {
            id: Some(id),
            method,
            params,
        }) = head
        {
            let unsubscribes = match (method.as_str(), params) {
                ("eth_unsubscribe", Some(p)) => serde_json::from_str::<(String,)>(p.get())
                    .ok()
                    .map(|(s,)| s),
                _ => None,
            };
            self.attribution.sent(id, &method, unsubscribes);
        }
        trace!(host = %self.host, len = text.len(), "sending request");
        // The request's own allocation becomes the frame's text: no copy.
        Ok(Some(Message::text(String::from(Box::<str>::from(request)))))
    }

    async fn write(&mut self, message: Message) -> Result<(), Stop> {
        let result = self.socket.send(message).await;
        result.map_err(|e| self.broken(e).into())
    }

    /// Handles a text frame from the server.
    fn receive(&mut self, text: &str) -> Result<(), Stop> {
        match serde_json::from_str::<PubSubItem>(text) {
            Ok(PubSubItem::Response(response)) if response.id != Id::None => {
                let result = match &response.payload {
                    ResponsePayload::Success(r) => Some(&**r),
                    ResponsePayload::Failure(_) => None,
                };
                let answered = self.attribution.answered(&response.id, result);
                let method = match answered.method {
                    Some(m) => m,
                    None => {
                        warn!(host = %self.host, id = %response.id, "an answer to no waiting request: its request was already failed after the attribution wait (a longer `attribution_wait` avoids this), or is unknown; alloy drops it");
                        String::new()
                    }
                };
                let response = match response.payload {
                    ResponsePayload::Failure(e) if quota::says_too_large(&e.message) => {
                        let err = self.too_large(method, &e.message);
                        let payload = quota::to_payload(&err).unwrap_or(e);
                        Response {
                            id: response.id,
                            payload: ResponsePayload::Failure(payload),
                        }
                    }
                    _ => response,
                };
                self.forward(PubSubItem::Response(response))?;
                // One suspect fewer: an unattributed gateway message may now be placed.
                self.apply(answered.refusals)
            }
            // An error with a null id: the gateway answering a request it could not serve.
            Ok(PubSubItem::Response(Response {
                payload: ResponsePayload::Failure(e),
                ..
            })) => self.gateway_message(&e.message),
            Ok(item) => self.forward(item),
            Err(not_rpc) => match serde_json::from_str::<GatewayMessage>(text) {
                Ok(gateway) => self.gateway_message(&gateway.message),
                Err(_) => {
                    warn!(host = %self.host, error = %not_rpc, "ignoring a WebSocket message that is not JSON-RPC");
                    Ok(())
                }
            },
        }
    }

    /// A message from the gateway (`{"message": ...}`) that names no request: the answer to a
    /// request that cannot be told yet (the gateway answers out of order), or a notification
    /// the gateway would not send. See [`quota::Attribution`].
    fn gateway_message(&mut self, message: &str) -> Result<(), Stop> {
        // The gateway's words reach logs and a caller's error: secrets withheld, length capped
        // (AMB's quota message survives it unchanged).
        let message = &crate::redact::withhold(message, &self.known);
        let arrival = self.attribution.gateway_message(message, Instant::now());
        if arrival.lost_notification {
            self.lost_notifications.send_modify(|n| *n += 1);
            warn!(host = %self.host, %message, "gateway refusal that may stand for a notification over the quota: signalling a possibly lost notification");
        }
        if arrival.unexplained {
            warn!(host = %self.host, %message, "gateway message with no request waiting and no subscription");
        }
        self.apply(arrival.refusals)
    }

    /// Answers refused requests.
    fn apply(&mut self, refusals: Vec<quota::Refusal>) -> Result<(), Stop> {
        for r in refusals {
            if r.shared > 1 {
                warn!(host = %self.host, method = %r.method, waiting = r.shared, message = %r.message, "no answer came within the attribution wait after a gateway message that names no request, with several requests waiting: this one's outcome is unknown");
                self.forward(PubSubItem::Response(Response {
                    id: r.id,
                    payload: ResponsePayload::Failure(alloy_json_rpc::ErrorPayload {
                        code: quota::OUTCOME_UNKNOWN_CODE,
                        message: format!(
                            "no answer to `{}` within the attribution wait after the gateway \
                             refused one of {} waiting requests without naming it ({}); this \
                             one's outcome is unknown: check its effect before sending it again",
                            r.method, r.shared, r.message
                        )
                        .into(),
                        data: None,
                    }),
                }))?;
                continue;
            }
            if !r.certain {
                warn!(host = %self.host, method = %r.method, message = %r.message, "no answer came within the attribution wait after a gateway refusal that names no request: taking it as this request's");
            }
            self.refused(r.id, r.method, &r.message)?;
        }
        Ok(())
    }

    /// Answers request `id` with the gateway's refusal.
    fn refused(&mut self, id: Id, method: String, message: &str) -> Result<(), Stop> {
        if quota::says_too_large(message) {
            let err = self.too_large(method, message);
            warn!(host = %self.host, error = %err, "answer refused by the gateway");
            return self.answer_with(id, &err);
        }
        warn!(host = %self.host, %method, %message, "gateway error instead of an answer");
        self.forward(PubSubItem::Response(Response {
            id,
            payload: ResponsePayload::Failure(alloy_json_rpc::ErrorPayload {
                code: quota::RESPONSE_TOO_LARGE_CODE,
                message: format!("the gateway answered `{method}` with: {message}").into(),
                data: None,
            }),
        }))
    }

    fn too_large(&self, method: String, message: &str) -> AmbError {
        AmbError::WsResponseTooLarge {
            host: self.host.clone(),
            method,
            message: message.to_owned(),
        }
    }

    fn answer_with(&mut self, id: Id, err: &AmbError) -> Result<(), Stop> {
        let payload = quota::to_payload(err).expect("a quota error");
        self.forward(PubSubItem::Response(Response {
            id,
            payload: ResponsePayload::Failure(payload),
        }))
    }

    fn forward(&self, item: PubSubItem) -> Result<(), Stop> {
        // An error payload may quote the request's secrets back.
        let item = match item {
            PubSubItem::Response(Response {
                id,
                payload: ResponsePayload::Failure(e),
            }) => PubSubItem::Response(Response {
                id,
                payload: ResponsePayload::Failure(crate::redact::withhold_payload(e, &self.known)),
            }),
            other => other,
        };
        self.interface
            .send_to_frontend(item)
            .map_err(|_| Stop::Released)
    }

    fn closed(&self, frame: Option<CloseFrame>) -> AmbError {
        let host = self.host.clone();
        // Withheld before it is quoted: a reason is cut at 123 bytes, maybe partway through an
        // echoed secret, which only the end of a text gives away.
        let frame = frame.map(|f| CloseFrame {
            reason: crate::redact::withhold(f.reason.as_str(), &self.known).into(),
            code: f.code,
        });
        match frame {
            Some(f) if f.code == CloseCode::Unsupported => AmbError::WsUnsupportedData {
                host,
                reason: if f.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", f.reason.as_str())
                },
            },
            Some(f) => AmbError::WsClosed {
                host,
                code: Some(f.code.into()),
                detail: format!(
                    "the server closed it with code {}: {:?}",
                    u16::from(f.code),
                    f.reason.as_str()
                ),
            },
            None => AmbError::WsClosed {
                host,
                code: None,
                detail: "the server closed it without a code".into(),
            },
        }
    }

    fn broken(&self, err: tungstenite::Error) -> AmbError {
        AmbError::WsClosed {
            host: self.host.clone(),
            code: None,
            detail: format!("the connection broke: {err}"),
        }
    }
}

/// The id, method and parameters of an outgoing request.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(default)]
    id: Option<Id>,
    #[serde(default)]
    method: String,
    #[serde(default, borrow)]
    params: Option<&'a RawValue>,
}

/// What an AWS gateway sends instead of an answer: `{"message": "...", ...}`.
#[derive(serde::Deserialize)]
struct GatewayMessage {
    #[serde(alias = "Message")]
    message: String,
}
