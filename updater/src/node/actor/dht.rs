//! Kademlia and identify: announcing apps (a provide query and a count of
//! the closest DHT nodes, answered when both are done), finding providers
//! (dialed while the query still holds their addresses), and learning DHT
//! servers and relays from identify.

use libp2p::kad::{self, GetProvidersOk, QueryResult};
use libp2p::multiaddr::Protocol;
use libp2p::{identify, relay, Multiaddr, PeerId};
use tokio::sync::oneshot;

use super::relays::reserve;
use super::{is_relayed, push_capped, Actor, PEER_ADDRESSES, STATUS_CAP};
use crate::node::{Announced, NetError};

/// One announcement under way.
pub(super) struct Providing {
    pub(super) reply: oneshot::Sender<Result<Announced, NetError>>,
    /// The addresses the record carries.
    pub(super) addresses: Vec<Multiaddr>,
    /// DHT nodes closest to the key, once counted.
    pub(super) closest: Option<usize>,
    /// The provide query's outcome, once done.
    pub(super) done: Option<Result<(), NetError>>,
}

impl Providing {
    /// Answers once both queries are done; gives the entry back otherwise.
    pub(super) fn finish(mut self) -> Option<Providing> {
        match (self.closest, self.done.take()) {
            (Some(n), Some(done)) => {
                let _ = self.reply.send(done.map(|()| Announced {
                    dht_nodes: if self.addresses.is_empty() { 0 } else { n },
                    addresses: self.addresses,
                }));
                None
            }
            (_, done) => {
                self.done = done;
                Some(self)
            }
        }
    }
}

impl Actor {
    /// Identify: remembers relays and DHT servers, and reserves on relays.
    pub(super) fn on_identify(&mut self, peer_id: PeerId, info: identify::Info) {
        let hop = info.protocols.contains(&relay::HOP_PROTOCOL_NAME);
        if let Some(addr) = self.pending_relays.remove(&peer_id) {
            if let Some(id) = reserve(&mut self.swarm, addr) {
                self.circuit_listeners.insert(id, peer_id);
            }
        }
        // Only DHT servers belong in the routing table.
        let dht = info.protocols.contains(&self.kad_protocol);
        let said: Vec<Multiaddr> = info
            .listen_addrs
            .iter()
            .filter(|a| {
                !a.iter().any(
                    |p| matches!(p, Protocol::Ip4(ip) if ip.is_loopback() || ip.is_unspecified()),
                )
            })
            .take(PEER_ADDRESSES)
            .cloned()
            .collect();
        self.listening.retain(|(p, _)| *p != peer_id);
        push_capped(&mut self.listening, (peer_id, said));
        for addr in info.listen_addrs {
            let loopback = addr
                .iter()
                .any(|p| matches!(p, Protocol::Ip4(ip) if ip.is_loopback()));
            if hop
                && !is_relayed(&addr)
                && !loopback
                && !self.behind_relay.contains(&peer_id)
                && self.relays_seen.len() < STATUS_CAP
            {
                self.relays_seen
                    .entry(peer_id)
                    .or_insert_with(|| addr.clone());
            }
            if dht {
                if !is_relayed(&addr) {
                    self.remember(peer_id, addr.clone());
                }
                self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
            }
        }
        self.reserve_if_private();
    }

    /// Keeps up to eight direct addresses of a DHT server, and at most
    /// [`STATUS_CAP`] servers (the oldest are forgotten first).
    fn remember(&mut self, peer: PeerId, addr: Multiaddr) {
        if let Some((_, addrs)) = self.known.iter_mut().find(|(p, _)| *p == peer) {
            if !addrs.contains(&addr) && addrs.len() < 8 {
                addrs.push(addr);
            }
            return;
        }
        push_capped(&mut self.known, (peer, vec![addr]));
    }

    pub(super) fn on_kad(&mut self, id: kad::QueryId, result: QueryResult, last: bool) {
        match result {
            QueryResult::StartProviding(r) => {
                if let Some(mut p) = self.provides.remove(&id) {
                    p.done = Some(
                        r.map(|_| ())
                            .map_err(|e| NetError::Setup(format!("announcing: {e:?}"))),
                    );
                    if let Some(p) = p.finish() {
                        self.provides.insert(id, p);
                    }
                }
            }
            QueryResult::GetClosestPeers(r) => {
                let Some(provide) = self.closest_for.remove(&id) else {
                    return;
                };
                let n = match r {
                    Ok(ok) => ok.peers.len(),
                    Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers.len(),
                };
                if let Some(mut p) = self.provides.remove(&provide) {
                    p.closest = Some(n);
                    if let Some(p) = p.finish() {
                        self.provides.insert(provide, p);
                    }
                }
            }
            QueryResult::GetProviders(r) => {
                if let Ok(GetProvidersOk::FoundProviders { providers, .. }) = r {
                    // Dial now, while the query still holds the providers'
                    // addresses (a relayed one, for a peer behind a NAT).
                    for p in &providers {
                        if p != self.swarm.local_peer_id() && !self.swarm.is_connected(p) {
                            let _ = self.swarm.dial(*p);
                        }
                    }
                    if let Some((found, _)) = self.lookups.get_mut(&id) {
                        found.extend(providers);
                    }
                }
                if last {
                    if let Some((mut found, reply)) = self.lookups.remove(&id) {
                        found.sort();
                        found.dedup();
                        let _ = reply.send(found);
                    }
                }
            }
            _ => {}
        }
    }
}
