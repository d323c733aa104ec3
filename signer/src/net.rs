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

/// Coordinator: runs both rounds with the keyholders at `peers` and returns the
/// verified signature and its transcript.
pub async fn coordinate(
    root: &AppRoot,
    request: &SigningRequest,
    peers: &[Multiaddr],
    timeout: Duration,
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
        asked,
        needed,
        timeout,
        &mut problems,
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
        asked,
        commitments.len(),
        timeout,
        &mut problems,
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

/// Waits for answers to `asked` until `wanted` good ones came, all answered, or time ran out.
async fn collect<T>(
    swarm: &mut Swarm<Behaviour>,
    mut asked: HashMap<request_response::OutboundRequestId, PeerId>,
    wanted: usize,
    timeout: Duration,
    problems: &mut Vec<String>,
    accept: impl Fn(NetResponse) -> Result<T, String>,
) -> Vec<(PeerId, T)> {
    let mut good = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while good.len() < wanted && !asked.is_empty() {
        let Ok(event) = tokio::time::timeout_at(deadline, swarm.select_next_some()).await else {
            problems.push(format!(
                "{} keyholder(s) did not answer in time",
                asked.len()
            ));
            break;
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
                        Ok(v) => good.push((peer, v)),
                        Err(why) => problems.push(format!("{peer}: {why}")),
                    }
                }
            }
            SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            }) if asked.remove(&request_id).is_some() => {
                problems.push(format!("{peer}: {error}"));
            }
            _ => {}
        }
    }
    good
}

#[cfg(test)]
mod tests;
