//! Online signing over libp2p: the same two rounds as the file flow, carried by
//! a request/response protocol between a coordinator and keyholders who are
//! online. Files stay the primary path; this saves copying them around.
//!
//! A keyholder runs [`serve`] with their share and an approval function (which
//! shows them each request); nonces live only in memory and are removed when
//! used. The coordinator runs [`coordinate`], which asks every listed keyholder
//! to commit, keeps the first threshold answers, and asks those to sign. Every
//! message is size-capped by the codec and every request has a timeout.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use futures::StreamExt as _;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, json, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder};
use quince_protocol::root::AppRoot;
use serde::{Deserialize, Serialize};

use crate::error::SignerError;
use crate::share::KeyShare;
use crate::signing::{
    self, CommitmentMessage, Committed, PackageMessage, ShareMessage, SigningRequest, Transcript,
};

/// The protocol name.
pub const PROTOCOL: &str = "/quince/signing/1";

/// What a coordinator asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum NetRequest {
    /// Round 1: commit to signing this request.
    Commit(SigningRequest),
    /// Round 2: sign this package.
    Respond(PackageMessage),
}

/// What a keyholder answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum NetResponse {
    /// Round-1 answer.
    Commitment(CommitmentMessage),
    /// Round-2 answer.
    Share(ShareMessage),
    /// The keyholder declined or the request was bad; the reason.
    Refused(String),
}

type Behaviour = json::Behaviour<NetRequest, NetResponse>;

/// Shown each request and its description; says whether the keyholder agrees.
type Approval = Box<dyn FnMut(&SigningRequest, &str) -> bool + Send>;

/// A keyholder's side: their share, their approval, and nonces in memory.
pub struct Responder {
    share: KeyShare,
    approve: Approval,
    pending: HashMap<String, Committed>,
}

impl Responder {
    /// `approve` is shown each request and its description and says yes or no.
    pub fn new(
        share: KeyShare,
        approve: impl FnMut(&SigningRequest, &str) -> bool + Send + 'static,
    ) -> Self {
        Responder {
            share,
            approve: Box::new(approve),
            pending: HashMap::new(),
        }
    }

    /// Answers one request.
    pub fn handle(&mut self, request: NetRequest) -> NetResponse {
        match self.try_handle(request) {
            Ok(r) => r,
            Err(e) => NetResponse::Refused(e.to_string()),
        }
    }

    fn try_handle(&mut self, request: NetRequest) -> Result<NetResponse, SignerError> {
        match request {
            NetRequest::Commit(req) => {
                let description = req.describe(self.share.root())?;
                if self.pending.contains_key(&req.id) {
                    return Err(SignerError::NonceReused { request: req.id });
                }
                if !(self.approve)(&req, &description) {
                    return Err(SignerError::Refused(format!(
                        "participant {} declined",
                        self.share.index()
                    )));
                }
                let (committed, message) = signing::commit(&self.share, &req)?;
                self.pending.insert(req.id.clone(), committed);
                Ok(NetResponse::Commitment(message))
            }
            NetRequest::Respond(package) => {
                let committed = self.pending.remove(&package.request.id).ok_or_else(|| {
                    SignerError::NonceReused {
                        request: package.request.id.clone(),
                    }
                })?;
                Ok(NetResponse::Share(
                    committed.respond(&self.share, &package)?,
                ))
            }
        }
    }
}

fn swarm(timeout: Duration) -> Result<Swarm<Behaviour>, SignerError> {
    let config = request_response::Config::default().with_request_timeout(timeout);
    let behaviour = Behaviour::new(
        [(StreamProtocol::new(PROTOCOL), ProtocolSupport::Full)],
        config,
    );
    Ok(SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| SignerError::Frost(format!("network setup: {e}")))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| SignerError::Frost(format!("network setup: {e}")))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(timeout))
        .build())
}

/// Keyholder: listens on `listen`, reports each full address (with `/p2p/<id>`)
/// to `on_listen`, and answers requests until `shutdown` completes.
pub async fn serve(
    mut responder: Responder,
    listen: Multiaddr,
    mut on_listen: impl FnMut(Multiaddr),
    shutdown: impl Future<Output = ()>,
) -> Result<(), SignerError> {
    let mut swarm = swarm(Duration::from_secs(300))?;
    swarm
        .listen_on(listen.clone())
        .map_err(|e| SignerError::Frost(format!("cannot listen on {listen}: {e}")))?;
    let me = *swarm.local_peer_id();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::NewListenAddr { address, .. } => on_listen(address.with(Protocol::P2p(me))),
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Request { request, channel, .. },
                    ..
                }) => {
                    let answer = responder.handle(request);
                    // A failed send means the coordinator went away; nothing to do.
                    let _ = swarm.behaviour_mut().send_response(channel, answer);
                }
                _ => {}
            },
            () = &mut shutdown => return Ok(()),
        }
    }
}

/// How an online signing is going, for the coordinator's display. Round 1
/// gathers commitments, round 2 signature shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A round is waiting for answers.
    Waiting {
        /// 1 or 2.
        round: u8,
        /// Good answers so far.
        got: usize,
        /// Good answers the round needs.
        wanted: usize,
        /// Time until the round gives up.
        left: Duration,
    },
    /// A keyholder answered.
    Answered {
        /// 1 or 2.
        round: u8,
        /// Who.
        peer: PeerId,
    },
    /// A keyholder refused, or could not be reached.
    Problem {
        /// 1 or 2.
        round: u8,
        /// What happened, naming the keyholder.
        problem: String,
    },
}

/// Coordinator: runs both rounds with the keyholders at `peers` and returns the
/// verified signature and its transcript. `on_step` hears of every answer and,
/// about once a second, of the wait.
pub async fn coordinate(
    root: &AppRoot,
    request: &SigningRequest,
    peers: &[Multiaddr],
    timeout: Duration,
    mut on_step: impl FnMut(Step),
) -> Result<([u8; 64], Transcript), SignerError> {
    let mut swarm = swarm(timeout)?;
    let needed = usize::from(root.threshold());
    let mut asked = HashMap::new();
    for addr in peers {
        let Some(Protocol::P2p(peer)) = addr.iter().last() else {
            return Err(SignerError::Refused(format!(
                "{addr} does not end in /p2p/<peer id>"
            )));
        };
        swarm
            .dial(addr.clone())
            .map_err(|e| SignerError::Frost(format!("dialing {addr}: {e}")))?;
        let id = swarm
            .behaviour_mut()
            .send_request(&peer, NetRequest::Commit(request.clone()));
        asked.insert(id, peer);
    }
    let mut problems = Vec::new();
    let commitments: Vec<(PeerId, CommitmentMessage)> = collect(
        &mut swarm,
        Round {
            number: 1,
            wanted: needed,
            timeout,
        },
        asked,
        &mut problems,
        &mut on_step,
        |r| match r {
            NetResponse::Commitment(c) => Ok(c),
            NetResponse::Refused(why) => Err(why),
            NetResponse::Share(_) => Err("answered round 1 with a share".into()),
        },
    )
    .await;
    if commitments.len() < needed {
        return Err(SignerError::Refused(format!(
            "only {} of the {needed} needed keyholders committed ({})",
            commitments.len(),
            problems.join("; ")
        )));
    }
    let package = signing::package(
        root,
        request,
        &commitments
            .iter()
            .map(|(_, c)| c.clone())
            .collect::<Vec<_>>(),
    )?;
    let mut asked = HashMap::new();
    for (peer, _) in &commitments {
        let id = swarm
            .behaviour_mut()
            .send_request(peer, NetRequest::Respond(package.clone()));
        asked.insert(id, *peer);
    }
    let shares: Vec<(PeerId, ShareMessage)> = collect(
        &mut swarm,
        Round {
            number: 2,
            wanted: commitments.len(),
            timeout,
        },
        asked,
        &mut problems,
        &mut on_step,
        |r| match r {
            NetResponse::Share(s) => Ok(s),
            NetResponse::Refused(why) => Err(why),
            NetResponse::Commitment(_) => Err("answered round 2 with a commitment".into()),
        },
    )
    .await;
    if shares.len() < commitments.len() {
        return Err(SignerError::Refused(format!(
            "a keyholder who committed did not sign ({})",
            problems.join("; ")
        )));
    }
    signing::aggregate(
        root,
        &package,
        &shares.into_iter().map(|(_, s)| s).collect::<Vec<_>>(),
    )
}

/// One round of requests: its number, how many good answers it needs, how long it waits.
struct Round {
    number: u8,
    wanted: usize,
    timeout: Duration,
}

/// Waits for answers to `asked` until `round.wanted` good ones came, all
/// answered, or time ran out.
async fn collect<T>(
    swarm: &mut Swarm<Behaviour>,
    round: Round,
    mut asked: HashMap<request_response::OutboundRequestId, PeerId>,
    problems: &mut Vec<String>,
    on_step: &mut impl FnMut(Step),
    accept: impl Fn(NetResponse) -> Result<T, String>,
) -> Vec<(PeerId, T)> {
    let mut good = Vec::new();
    // Why a dial failed (refused, timed out, which address): the swarm says,
    // request-response only says that it failed.
    let mut dial_errors: HashMap<PeerId, String> = HashMap::new();
    let deadline = tokio::time::Instant::now() + round.timeout;
    let problem = |on_step: &mut dyn FnMut(Step), problems: &mut Vec<String>, text: String| {
        on_step(Step::Problem {
            round: round.number,
            problem: text.clone(),
        });
        problems.push(text);
    };
    while good.len() < round.wanted && !asked.is_empty() {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            let text = format!("{} keyholder(s) did not answer in time", asked.len());
            problem(on_step, problems, text);
            break;
        }
        on_step(Step::Waiting {
            round: round.number,
            got: good.len(),
            wanted: round.wanted,
            left: deadline - now,
        });
        let tick = deadline.min(now + Duration::from_secs(1));
        let Ok(event) = tokio::time::timeout_at(tick, swarm.select_next_some()).await else {
            continue;
        };
        match event {
            SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            }) => {
                if let Some(peer) = asked.remove(&request_id) {
                    match accept(response) {
                        Ok(v) => {
                            on_step(Step::Answered {
                                round: round.number,
                                peer,
                            });
                            good.push((peer, v));
                        }
                        Err(why) => problem(on_step, problems, format!("{peer}: {why}")),
                    }
                }
            }
            SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            }) if asked.remove(&request_id).is_some() => {
                let text = match (&error, dial_errors.get(&peer)) {
                    (request_response::OutboundFailure::DialFailure, Some(why)) => {
                        format!("{peer}: cannot connect: {why}")
                    }
                    _ => format!("{peer}: {error}"),
                };
                problem(on_step, problems, text);
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => {
                dial_errors.insert(peer, error.to_string());
            }
            _ => {}
        }
    }
    good
}

#[cfg(test)]
mod tests;
