//! Who may use this node's relay service. A seeder with a public address
//! relays for the peers of the apps it serves (peers that fetched from it,
//! or that it fetched from): they reserve as often as libp2p's per-peer
//! rate allows. Anyone else (the public DHT is full of strangers) shares a
//! small budget of reservations per hour, so a public seeder is not turned
//! into a free relay for the whole network. Circuits need a reservation at
//! their far end, so this also decides whom circuits can reach.
//!
//! libp2p 0.57's relay server has one size and one duration for every
//! circuit (see [`super::RELAY_CIRCUIT_BYTES`]); what differs between
//! guests and strangers is whether they get a reservation at all.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use libp2p::PeerId;

/// How many peers of this node's apps are remembered (the oldest go first).
const GUESTS: usize = 4096;

/// Reservations granted to strangers, all of them together, per hour.
pub const STRANGER_RESERVATIONS_PER_HOUR: u32 = 8;

/// The peers of this node's apps, shared between the actor (which adds the
/// peers it exchanged app data with) and the relay server's rate limiter.
#[derive(Clone, Default)]
pub(super) struct Guests(Arc<Mutex<Known>>);

#[derive(Default)]
struct Known {
    set: HashSet<PeerId>,
    order: VecDeque<PeerId>,
}

impl Guests {
    /// Remembers `peer` as a peer of one of this node's apps.
    pub(super) fn insert(&self, peer: PeerId) {
        let mut known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !known.set.insert(peer) {
            return;
        }
        known.order.push_back(peer);
        if known.order.len() > GUESTS {
            if let Some(old) = known.order.pop_front() {
                known.set.remove(&old);
            }
        }
    }

    #[cfg_attr(not(feature = "long-running"), allow(dead_code))]
    pub(super) fn contains(&self, peer: &PeerId) -> bool {
        let known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        known.set.contains(peer)
    }
}

/// The relay server's reservation policy: guests always pass (libp2p's
/// per-peer rate still applies after this); strangers take one token from
/// a shared bucket of [`STRANGER_RESERVATIONS_PER_HOUR`], refilled evenly.
#[cfg(feature = "long-running")]
pub(super) fn reservation_policy(
    guests: Guests,
    per_hour: u32,
) -> impl FnMut(PeerId, &libp2p::Multiaddr, std::time::Instant) -> bool + Send {
    let capacity = f64::from(per_hour);
    let mut tokens = capacity;
    let mut last: Option<std::time::Instant> = None;
    move |peer, _addr, now| {
        if guests.contains(&peer) {
            return true;
        }
        if let Some(then) = last {
            let hours = now.saturating_duration_since(then).as_secs_f64() / 3600.0;
            tokens = (tokens + hours * capacity).min(capacity);
        }
        last = Some(now);
        if tokens >= 1.0 {
            tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(all(test, feature = "long-running"))]
mod tests {
    use super::*;
    use std::time::Duration;

    fn peer() -> PeerId {
        libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id()
    }

    #[test]
    fn strangers_share_a_small_budget_and_guests_are_always_let_in() {
        let guests = Guests::default();
        let guest = peer();
        guests.insert(guest);
        let mut admit = reservation_policy(guests, 3);
        let addr: libp2p::Multiaddr = "/ip4/192.0.2.1/tcp/4001".parse().unwrap();
        let t0 = std::time::Instant::now();
        let admitted = (0..5).filter(|_| admit(peer(), &addr, t0)).count();
        assert_eq!(admitted, 3, "three strangers, then none");
        assert!(
            admit(guest, &addr, t0),
            "a guest passes with the bucket empty"
        );
        // A third of an hour later, one more stranger's token has come back.
        let later = t0 + Duration::from_secs(20 * 60);
        assert!(admit(peer(), &addr, later));
        assert!(!admit(peer(), &addr, later));
    }

    #[test]
    fn the_guest_list_forgets_the_oldest_beyond_its_cap() {
        let guests = Guests::default();
        let first = peer();
        guests.insert(first);
        for _ in 0..GUESTS {
            guests.insert(peer());
        }
        assert!(!guests.contains(&first));
    }
}
