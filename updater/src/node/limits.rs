//! What this node is willing to upload: a token bucket for bytes, a window
//! of distinct peers, and, while a swarm fetches from it, a cap on how often
//! one chunk is sent (so that peers pass chunks on instead of all fetching
//! them here). Pure bookkeeping; the actor asks it before each answer.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::PeerId;
use quince_protocol::manifest::ChunkId;

/// Upload limits: a token bucket for bytes, a window of distinct peers, and
/// a cap on how often one chunk is sent within a window (initial seeding).
pub(super) struct Limits {
    rate: Option<u64>,
    tokens: f64,
    last: std::time::Instant,
    max_peers: Option<usize>,
    recent: HashMap<PeerId, std::time::Instant>,
    chunk_serves: Option<(u32, Duration)>,
    /// Per chunk: the peers it was sent to in the current window.
    served: HashMap<ChunkId, (Vec<PeerId>, std::time::Instant)>,
    /// Peers that asked for chunks lately: the cap applies only to a swarm.
    askers: HashMap<PeerId, std::time::Instant>,
}

/// The chunk cap applies once this many distinct peers asked for chunks in
/// the last [`SWARM_WINDOW`]: one or two fetchers are served freely.
const SWARM_PEERS: usize = 3;
const SWARM_WINDOW: Duration = Duration::from_secs(30);

impl Limits {
    pub(super) fn new(
        rate: Option<u64>,
        max_peers: Option<usize>,
        chunk_serves: Option<(u32, Duration)>,
    ) -> Limits {
        // The bucket holds at most one second of budget, so a limited node
        // never sends much faster than its rate, even in a burst.
        Limits {
            rate,
            tokens: 0.0,
            last: std::time::Instant::now(),
            max_peers,
            recent: HashMap::new(),
            chunk_serves,
            served: HashMap::new(),
            askers: HashMap::new(),
        }
    }

    /// May chunk `id` be sent to `peer` once more? While a swarm fetches
    /// from this node (several peers asking at once), a chunk that `cap` peers
    /// still connected here already got in the current window is refused
    /// ("busy"): they pass it on, so the swarm does not make every peer
    /// download it from here. A chunk whose recipients have left is sent
    /// again (users installing one after another share nothing), and one or
    /// two fetchers are never capped.
    pub(super) fn admit_chunk(
        &mut self,
        peer: PeerId,
        id: ChunkId,
        connected: impl Fn(&PeerId) -> bool,
    ) -> bool {
        let Some((cap, window)) = self.chunk_serves else {
            return true;
        };
        let now = std::time::Instant::now();
        self.askers.insert(peer, now);
        if self.askers.len() >= SWARM_PEERS {
            self.askers
                .retain(|_, t| now.duration_since(*t) < SWARM_WINDOW);
        }
        let swarm = self.askers.len() >= SWARM_PEERS;
        // Serves are recorded before the swarm forms too: the first two
        // askers' copies count, or a chunk they got would go to two more
        // once the cap starts (2.09x upload for 20 peers instead of 2x).
        if self.served.len() > 100_000 {
            self.served
                .retain(|_, (_, since)| now.duration_since(*since) < window);
        }
        let entry = self.served.entry(id).or_insert((Vec::new(), now));
        if now.duration_since(entry.1) >= window {
            *entry = (Vec::new(), now);
        }
        entry.0.retain(|p| *p != peer && connected(p));
        if swarm && entry.0.len() >= cap as usize {
            return false;
        }
        entry.0.push(peer);
        true
    }

    /// `peer` did not get chunk `id` after all (its answer failed).
    pub(super) fn unserve(&mut self, peer: PeerId, id: ChunkId) {
        if let Some((peers, _)) = self.served.get_mut(&id) {
            peers.retain(|p| *p != peer);
        }
    }

    /// May `peer` be sent `bytes` now?
    pub(super) fn admit(&mut self, peer: PeerId, bytes: usize) -> bool {
        let now = std::time::Instant::now();
        if let Some(max) = self.max_peers {
            self.recent
                .retain(|_, t| now.duration_since(*t) < Duration::from_secs(10));
            if !self.recent.contains_key(&peer) && self.recent.len() >= max {
                return false;
            }
        }
        if let Some(rate) = self.rate {
            self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate as f64)
                .min(rate as f64);
            self.last = now;
            // A message larger than one second of budget goes when the bucket is full.
            let cost = (bytes as f64).min(rate as f64);
            if self.tokens < cost {
                return false;
            }
            self.tokens -= cost;
        }
        self.recent.insert(peer, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chunk_cap_holds_back_a_swarm_but_not_users_one_after_another() {
        let cap = (2, Duration::from_secs(120));
        let peers: Vec<PeerId> = (0..6).map(|_| PeerId::random()).collect();
        let chunk = ChunkId([7; 32]);
        let all_here = |_: &PeerId| true;

        // Without a cap, or with fewer than three askers, everything is sent.
        let mut free = Limits::new(None, None, None);
        assert!(peers.iter().all(|p| free.admit_chunk(*p, chunk, all_here)));
        let mut two = Limits::new(None, None, Some(cap));
        for _ in 0..3 {
            assert!(two.admit_chunk(peers[0], chunk, all_here));
            assert!(two.admit_chunk(peers[1], chunk, all_here));
        }

        // A swarm: two connected recipients, so the others are sent elsewhere.
        let mut swarm = Limits::new(None, None, Some(cap));
        let answers: Vec<bool> = peers
            .iter()
            .map(|p| swarm.admit_chunk(*p, chunk, all_here))
            .collect();
        // The first two askers come before the cap starts, and their copies
        // count: from the third on, everyone is sent elsewhere.
        assert_eq!(answers, [true, true, false, false, false, false]);

        // Once the recipients have left, the chunk is sent again.
        let gone = |p: &PeerId| !peers[..4].contains(p);
        assert!(swarm.admit_chunk(peers[4], chunk, gone));
        assert!(swarm.admit_chunk(peers[5], chunk, gone));
        // Another chunk is independent.
        assert!(swarm.admit_chunk(peers[5], ChunkId([8; 32]), all_here));
    }
}
