//! The transfer protocol's events: requests to this node go to
//! [`serving`](super::serving) (answered off the loop); answers to this
//! node's requests go to whoever asked, and a request whose connection
//! closed, or whose dial failed while a redial is due, is sent again.

use libp2p::request_response;
use quince_protocol::wire::{Request, Response};

use super::{Actor, Pending, RESEND_ON_CLOSE, STATUS_CAP};
use crate::node::{Announcement, NetError};

impl Actor {
    /// The transfer protocol: requests are answered off the loop; answers
    /// and failures go to whoever asked.
    pub(super) fn on_transfer(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message {
                message,
                peer,
                connection_id,
            } => match message {
                request_response::Message::Request {
                    request: Request::Announce(app, note),
                    channel,
                    ..
                } => {
                    let _ = self.pushes.send(Announcement { peer, app, note });
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .transfer
                        .send_response(channel, Response::NotFound);
                }
                request_response::Message::Request {
                    request,
                    channel,
                    request_id,
                } => self.serve(peer, connection_id, request_id, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if matches!(response, Response::Data(_)) {
                        self.guests.insert(peer);
                    }
                    if let Some(pending) = self.requests.remove(&request_id) {
                        let _ = pending.reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            } => {
                if let Some(pending) = self.requests.remove(&request_id) {
                    if matches!(error, request_response::OutboundFailure::DialFailure)
                        && pending.resent < RESEND_ON_CLOSE
                        && self.parked.len() < STATUS_CAP
                        && self.redials.iter().any(|(_, p, _)| *p == peer)
                    {
                        self.parked.push((
                            peer,
                            Pending {
                                resent: pending.resent + 1,
                                ..pending
                            },
                        ));
                        return;
                    }
                    if matches!(error, request_response::OutboundFailure::ConnectionClosed)
                        && pending.resent < RESEND_ON_CLOSE
                    {
                        let id = self
                            .swarm
                            .behaviour_mut()
                            .transfer
                            .send_request(&peer, pending.request.clone());
                        self.requests.insert(
                            id,
                            Pending {
                                resent: pending.resent + 1,
                                ..pending
                            },
                        );
                        return;
                    }
                    let reply = pending.reply;
                    let failure = match &error {
                        // Oversized or undecodable answers break the protocol.
                        request_response::OutboundFailure::Io(e)
                            if e.kind() == std::io::ErrorKind::InvalidData =>
                        {
                            NetError::Violation {
                                peer,
                                reason: e.to_string(),
                            }
                        }
                        request_response::OutboundFailure::DialFailure => NetError::Request {
                            peer,
                            reason: match self.dial_errors.iter().find(|(p, _)| *p == peer) {
                                Some((_, why)) => format!("cannot dial it: {why}"),
                                None => "cannot dial it".into(),
                            },
                        },
                        _ => NetError::Request {
                            peer,
                            reason: error.to_string(),
                        },
                    };
                    let _ = reply.send(Err(failure));
                }
            }
            request_response::Event::ResponseSent { request_id, .. } => {
                self.held.read(request_id, std::time::Instant::now());
            }
            request_response::Event::InboundFailure {
                request_id,
                error,
                peer,
                ..
            } => self.answer_failed(peer, request_id, &error),
        }
    }
}
