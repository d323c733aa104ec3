//! Relays and redials: taking reservations while the node is not
//! reachable, replacing a reservation that ended (with a backoff per relay,
//! and a DHT walk when too few relays are known), dialling relayed
//! addresses again after a failed dial, and fresh relayed connections to
//! retry hole punching.

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, Swarm};

use super::super::swarm::Behaviour;
use super::*;

impl Actor {
    /// For each peer reached only through a relay, open a fresh relayed
    /// connection now and then: DCUtR runs on each new relayed connection, so
    /// a hole punch that failed (timing, a busy machine) gets another chance.
    /// A dial through a relay this node was already dialling for another
    /// reason (a DHT query, the peer cache) fails at once: libp2p's relay
    /// client asks for a connection to the relay only if none is being
    /// made, and drops the circuit request otherwise. Seen in the Internet
    /// lab at every start of `update --watch`: the publisher's relayed
    /// addresses all failed in 40 ms and the app check waited out a dead
    /// direct address instead. Such an address is dialled again after
    /// [`REDIAL_AFTER`], at most [`REDIALS`] times.
    pub(super) fn on_dial_error(
        &mut self,
        peer: PeerId,
        errors: &[(Multiaddr, libp2p::TransportError<std::io::Error>)],
    ) {
        for (addr, error) in errors {
            // The relay client's error is not public; its name is in the chain.
            if !is_relayed(addr) || !format!("{error:?}").contains("Canceled") {
                continue;
            }
            if self.redialed.len() >= STATUS_CAP * 4 {
                self.redialed.clear();
            }
            let tries = self.redialed.entry(addr.clone()).or_default();
            if *tries >= REDIALS || self.redials.len() >= STATUS_CAP {
                continue;
            }
            *tries += 1;
            self.redials
                .push_back((std::time::Instant::now() + REDIAL_AFTER, peer, addr.clone()));
        }
    }

    /// Dials the relayed addresses whose time has come (unless connected by now).
    pub(super) fn redial_due(&mut self) {
        let now = std::time::Instant::now();
        while self.redials.front().is_some_and(|(at, _, _)| *at <= now) {
            let Some((_, peer, addr)) = self.redials.pop_front() else {
                break;
            };
            if !self.swarm.is_connected(&peer) {
                let _ = self.swarm.dial(
                    libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                        .addresses(vec![addr])
                        .condition(libp2p::swarm::dial_opts::PeerCondition::Always)
                        .build(),
                );
            }
            // Requests that failed with the first dial go again (over this
            // dial's connection once it is made, or a new one).
            let (now_due, still): (Vec<_>, Vec<_>) = std::mem::take(&mut self.parked)
                .into_iter()
                .partition(|(p, _)| *p == peer);
            self.parked = still;
            for (_, pending) in now_due {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .transfer
                    .send_request(&peer, pending.request.clone());
                self.requests.insert(id, pending);
            }
        }
    }

    pub(super) fn retry_hole_punches(&mut self) {
        let direct: HashSet<PeerId> = self
            .connections
            .values()
            .filter(|c| !c.relayed)
            .map(|c| c.peer)
            .collect();
        let connected: HashSet<PeerId> = self.connections.values().map(|c| c.peer).collect();
        let me = *self.swarm.local_peer_id();
        for (peer, addr) in &self.relayed_dials {
            if direct.contains(peer) || !connected.contains(peer) {
                continue;
            }
            // When both sides reached each other through relays, only one
            // retries (the smaller peer id): fresh relayed connections from
            // both ends at once start two hole punches that spoil each other
            // (seen in the Internet lab).
            if self.relayed_inbound.contains(peer) && me > *peer {
                continue;
            }
            let tries = self.punch_retries.entry(*peer).or_default();
            if *tries >= PUNCH_RETRIES {
                continue;
            }
            *tries += 1;
            let _ = self.swarm.dial(
                libp2p::swarm::dial_opts::DialOpts::peer_id(*peer)
                    .addresses(vec![addr.clone()])
                    .condition(libp2p::swarm::dial_opts::PeerCondition::Always)
                    .build(),
            );
        }
    }

    /// A reservation ended (the relay refused to renew it, stopped, or the
    /// connection to it broke): the relay is not asked again for
    /// [`RELAY_BACKOFF`], and another is taken at once if there is one.
    /// Without this the node would count the relay as held forever and stay
    /// unreachable after its relays went away.
    pub(super) fn relay_lost(&mut self, relay: PeerId) {
        self.relayed.remove(&relay);
        self.relays_seen.remove(&relay);
        let now = std::time::Instant::now();
        self.relay_backoff.retain(|_, until| *until > now);
        if self.relay_backoff.len() < STATUS_CAP {
            self.relay_backoff.insert(relay, now + RELAY_BACKOFF);
        }
        self.reserve_if_private();
    }

    pub(super) fn backed_off(&self, relay: &PeerId) -> bool {
        self.relay_backoff
            .get(relay)
            .is_some_and(|until| *until > std::time::Instant::now())
    }

    /// Keeps reservations on the configured relays, and once AutoNAT says
    /// this node is unreachable, or no address of it has been confirmed for
    /// a while, on up to two relays met in the DHT. With too few relays
    /// known, walks the DHT (at most every [`RELAY_BACKOFF`]) to meet more.
    pub(super) fn reserve_if_private(&mut self) {
        let configured: Vec<(PeerId, Multiaddr)> = self
            .configured_relays
            .iter()
            .filter(|(p, _)| {
                !self.relayed.contains(p)
                    && !self.pending_relays.contains_key(p)
                    && !self.backed_off(p)
            })
            .map(|(p, a)| (*p, a.clone()))
            .collect();
        for (peer, addr) in configured {
            self.relayed.insert(peer);
            if let Some(id) = reserve(&mut self.swarm, addr) {
                self.circuit_listeners.insert(id, peer);
            }
        }
        let direct_confirmed = self.swarm.external_addresses().any(|a| !is_relayed(a));
        let unconfirmed = !direct_confirmed && self.started.elapsed() >= RESERVE_UNCONFIRMED_AFTER;
        if !(self.private || unconfirmed) || self.relayed.len() >= 2 {
            return;
        }
        let candidates: Vec<(PeerId, Multiaddr)> = self
            .relays_seen
            .iter()
            .filter(|(p, _)| {
                !self.relayed.contains(p) && !self.behind_relay.contains(p) && !self.backed_off(p)
            })
            .map(|(p, a)| (*p, a.clone()))
            .collect();
        let wanted = 2 - self.relayed.len();
        if candidates.len() < wanted
            && self
                .relay_search
                .is_none_or(|at| at.elapsed() >= RELAY_BACKOFF)
        {
            // New connections are identified, and relays among them noted.
            self.relay_search = Some(std::time::Instant::now());
            if self.reservations.is_empty() {
                // Said at most once a minute while it lasts.
                tracing::warn!(
                    "no peer can reach this node: no confirmed direct address and no relay \
                     reservation; looking for relays in the DHT"
                );
            }
            let _ = self.swarm.behaviour_mut().kad.bootstrap();
        }
        for (peer, addr) in candidates.into_iter().take(wanted) {
            self.relayed.insert(peer);
            if let Some(id) = reserve(&mut self.swarm, addr.with(Protocol::P2p(peer))) {
                self.circuit_listeners.insert(id, peer);
            }
        }
    }
}

/// Listens through `relay` (an address ending in `/p2p/RELAY`): a reservation.
pub(super) fn reserve(
    swarm: &mut Swarm<Behaviour>,
    relay: Multiaddr,
) -> Option<libp2p::core::transport::ListenerId> {
    match swarm.listen_on(relay.clone().with(Protocol::P2pCircuit)) {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::warn!("cannot reserve a slot on relay {relay}: {e}");
            None
        }
    }
}
