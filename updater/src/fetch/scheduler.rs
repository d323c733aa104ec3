//! Which peer is asked for which chunk, and when: a pure state machine with
//! no I/O and no clock of its own (every call takes `now`), so its rules are
//! unit-tested without a network. [`fetch_chunks`](super::fetch_chunks) (`release.rs`) drives it.
//!
//! The rules:
//! - Each node asks for chunks in its own order (a hash of its id and the
//!   chunk's), so peers fetching one release together hold different chunks
//!   early and trade them instead of all waiting on one seeder.
//! - A chunk goes to the usable peer that has refused it least, then the
//!   least loaded (at most `window` chunks of 64 KiB or more in flight per
//!   peer; a smaller chunk counts for its share of 64 KiB, at least 4 KiB,
//!   so up to 16 times as many small ones are in flight), ties broken by a
//!   hash so that no one peer (often the publisher, first in every list)
//!   gets every first request.
//! - "Busy" and "not yet" are retried with a backoff that grows to one
//!   second; after [`BUSY_RETRIES`] / [`MISSING_RETRIES`] of them the peer
//!   is not asked for that chunk again. A request lost with its connection
//!   is retried the same way, [`UNREACHABLE_RETRIES`] times.
//! - A request in flight longer than [`STALL_AFTER`] (or eight times the
//!   median chunk so far, if longer) is hedged: asked of another peer too. A
//!   peer with [`STALL_STRIKES`] stalls and fewer chunks served is dropped as
//!   too slow.
//! - A peer that sends a bad chunk or breaks the protocol is dropped.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use quince_protocol::limits::CHUNK_MIN_BYTES;
use quince_protocol::manifest::{ChunkId, ChunkRef};

use super::{PeerFault, Peers};

/// A chunk request in flight longer than this (or than eight times the median
/// chunk so far, if longer) is stalled: it is asked of another peer too.
pub const STALL_AFTER: Duration = Duration::from_secs(5);
/// A peer with this many stalled chunk requests, and fewer chunks served, is dropped.
pub const STALL_STRIKES: u32 = 3;
/// How many times one chunk may meet a busy peer before that peer counts as
/// failing it (with backoff growing to one second, about two minutes).
pub const BUSY_RETRIES: u32 = 150;
/// How many times a peer may say it lacks a chunk before it is not asked for
/// it again. Peers fetching the same release at the same time get chunks from
/// each other, so "not yet" is common in a swarm (about half a minute with
/// the backoff); a peer that truly lacks it is asked others first meanwhile.
pub const MISSING_RETRIES: u32 = 40;
/// How many times one chunk is asked again of a peer after its request was
/// lost with the connection (found in the Internet lab: a relay ends the
/// circuit at its data limit just after hole punching made a direct
/// connection, taking the requests in flight with it).
/// With the backoff (growing to one second) this is about 20 s: time for a
/// new relayed connection and another hole punch.
pub const UNREACHABLE_RETRIES: u32 = 20;

/// The unit of a peer's load.
const UNIT_BYTES: usize = 4096;
/// What a chunk of [`CHUNK_MIN_BYTES`] or more counts for in a peer's load
/// (16); a smaller one counts for its size in units, at least one.
const FULL_CHUNK_UNITS: usize = CHUNK_MIN_BYTES as usize / UNIT_BYTES;

/// A chunk's weight in a peer's load, in units (1 to [`FULL_CHUNK_UNITS`]).
fn units(chunk: &ChunkRef) -> usize {
    (chunk.size as usize / UNIT_BYTES).clamp(1, FULL_CHUNK_UNITS)
}

/// One request to make: ask `peer` for `chunk` after waiting `delay`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Whom to ask.
    pub peer: PeerId,
    /// For what.
    pub chunk: ChunkRef,
    /// How long to wait first (backoff after "busy" or "not yet").
    pub delay: Duration,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The chunk was verified and stored.
    Stored,
    /// The peer did not deliver it.
    Fault(PeerFault),
    /// It came after another peer had delivered it: nothing to do.
    Unneeded,
}

/// No usable peer is left for a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoPeerFor(pub ChunkId);

#[derive(Debug, Clone)]
struct InFlight {
    chunk: ChunkRef,
    since: Instant,
    hedged: bool,
}

/// The state of one chunk fetch.
#[derive(Debug, Clone)]
pub struct ChunkScheduler {
    me: PeerId,
    /// Most load in flight per peer, in 4 KiB units (see [`units`]).
    window: usize,
    remaining: HashSet<ChunkId>,
    queue: VecDeque<ChunkRef>,
    /// Per chunk: peers not to ask again for it.
    failed: HashMap<ChunkId, HashSet<PeerId>>,
    load: HashMap<PeerId, usize>,
    busy: HashMap<(ChunkId, PeerId), u32>,
    missing: HashMap<(ChunkId, PeerId), u32>,
    unreachable: HashMap<(ChunkId, PeerId), u32>,
    in_flight: HashMap<(ChunkId, PeerId), InFlight>,
    strikes: HashMap<PeerId, u32>,
    durations: Vec<Duration>,
    /// How many "not yet" answers one peer may give for one chunk.
    missing_retries: u32,
}

impl ChunkScheduler {
    /// A fetch of `chunks` by node `me`, with at most `window` full-size
    /// chunks in flight per peer (more, if they are small).
    pub fn new(me: PeerId, chunks: Vec<ChunkRef>, window: usize) -> ChunkScheduler {
        let mut seen = HashSet::new();
        let mut chunks: Vec<ChunkRef> = chunks.into_iter().filter(|c| seen.insert(c.id)).collect();
        chunks.sort_by_cached_key(|c| spread(&me, &c.id.0, b""));
        ChunkScheduler {
            me,
            window: window.max(1) * FULL_CHUNK_UNITS,
            remaining: seen,
            queue: chunks.into(),
            failed: HashMap::new(),
            load: HashMap::new(),
            busy: HashMap::new(),
            missing: HashMap::new(),
            unreachable: HashMap::new(),
            in_flight: HashMap::new(),
            strikes: HashMap::new(),
            durations: Vec::new(),
            missing_retries: MISSING_RETRIES,
        }
    }

    /// For sources whose content does not change during the fetch (an
    /// offline bundle): a peer that lacks a chunk will not get it, so its
    /// first "missing" is final.
    pub fn missing_is_final(mut self) -> ChunkScheduler {
        self.missing_retries = 0;
        self
    }

    /// Chunks not yet stored.
    pub fn remaining(&self) -> usize {
        self.remaining.len()
    }

    /// Whether every chunk is stored.
    pub fn is_done(&self) -> bool {
        self.remaining.is_empty()
    }

    /// Whether `chunk` is still wanted (another peer may have delivered it).
    pub fn needs(&self, chunk: &ChunkId) -> bool {
        self.remaining.contains(chunk)
    }

    /// Whether nothing is in flight and nothing can be handed out while
    /// chunks remain: the fetch cannot progress.
    pub fn is_stuck(&self) -> bool {
        self.in_flight.is_empty() && self.queue.is_empty() && !self.remaining.is_empty()
    }

    /// Hands out the work that can start now.
    pub fn assign(&mut self, peers: &Peers, now: Instant) -> Result<Vec<Assignment>, NoPeerFor> {
        let mut out = Vec::new();
        let mut waiting = VecDeque::new();
        while let Some(chunk) = self.queue.pop_front() {
            if !self.remaining.contains(&chunk.id) {
                continue;
            }
            // No peer can take more now: the rest of the queue waits as it
            // is (looking at every queued chunk on every call made a fetch
            // of 20,000 small chunks quadratic: a minute of this loop).
            // (With no usable peer left, the check below says so.)
            let window = self.window;
            let usable = peers.usable();
            if !usable.is_empty()
                && !usable
                    .iter()
                    .any(|p| self.load.get(p).copied().unwrap_or(0) < window)
            {
                self.queue.push_front(chunk);
                break;
            }
            let failed = self.failed.entry(chunk.id).or_default();
            if peers.usable().iter().all(|p| failed.contains(p)) {
                return Err(NoPeerFor(chunk.id));
            }
            let refusals = |p: &PeerId| {
                self.busy.get(&(chunk.id, *p)).copied().unwrap_or(0)
                    + self.missing.get(&(chunk.id, *p)).copied().unwrap_or(0)
            };
            let load = |p: &PeerId| self.load.get(p).copied().unwrap_or(0);
            let choice = peers
                .usable()
                .iter()
                .filter(|p| {
                    !failed.contains(p)
                        && !self.in_flight.contains_key(&(chunk.id, **p))
                        && load(p) < self.window
                })
                .min_by_key(|p| {
                    (
                        refusals(p),
                        load(p),
                        spread(&self.me, &chunk.id.0, &p.to_bytes()),
                    )
                })
                .copied();
            let Some(peer) = choice else {
                waiting.push_back(chunk);
                continue;
            };
            // A peer takes a chunk while its load is under the window, even
            // if the chunk then fills it past: the check above stays one
            // look per call, whatever the mix of sizes in the queue.
            *self.load.entry(peer).or_default() += units(&chunk);
            self.in_flight.insert(
                (chunk.id, peer),
                InFlight {
                    chunk,
                    since: now,
                    hedged: false,
                },
            );
            let backoff = self.busy.get(&(chunk.id, peer)).copied().unwrap_or(0)
                + 8 * self.missing.get(&(chunk.id, peer)).copied().unwrap_or(0)
                + 16 * self
                    .unreachable
                    .get(&(chunk.id, peer))
                    .copied()
                    .unwrap_or(0);
            let delay = if backoff == 0 {
                Duration::ZERO
            } else {
                Duration::from_millis((50u64 << (backoff / 8).min(5)).min(1000))
            };
            out.push(Assignment { peer, chunk, delay });
        }
        waiting.append(&mut self.queue);
        self.queue = waiting;
        Ok(out)
    }

    /// Records how the request to `peer` for `chunk` ended; a peer whose
    /// fault calls for it is dropped from `peers`.
    pub fn record(
        &mut self,
        peer: PeerId,
        chunk: ChunkRef,
        outcome: Outcome,
        peers: &mut Peers,
        now: Instant,
    ) {
        if let Some(l) = self.load.get_mut(&peer) {
            *l = l.saturating_sub(units(&chunk));
        }
        let began = self.in_flight.remove(&(chunk.id, peer));
        if !self.remaining.contains(&chunk.id) {
            return;
        }
        match outcome {
            Outcome::Unneeded => {}
            Outcome::Stored => {
                self.remaining.remove(&chunk.id);
                peers.record_served(peer);
                if let Some(b) = began {
                    self.durations.push(now.saturating_duration_since(b.since));
                }
            }
            Outcome::Fault(fault) => {
                match &fault {
                    PeerFault::Busy => self.count(peer, chunk.id, true),
                    PeerFault::Missing => self.count(peer, chunk.id, false),
                    f if f.is_misbehaviour() => {
                        peers.drop_peer(peer, fault.clone());
                    }
                    // A request lost with its connection (a relay ending a
                    // circuit once a hole punch made a direct one, a
                    // dropped link) may well work on the next try.
                    // Only for a peer that has served this fetch, or the
                    // last one left: one never reached (a departed copy
                    // still listed in the DHT) is not waited for.
                    PeerFault::Unreachable { .. }
                        if peers.served().get(&peer).copied().unwrap_or(0) > 0
                            || peers.usable().len() == 1 =>
                    {
                        let n = self.unreachable.entry((chunk.id, peer)).or_default();
                        *n += 1;
                        if *n > UNREACHABLE_RETRIES {
                            self.failed.entry(chunk.id).or_default().insert(peer);
                        }
                    }
                    _ => {
                        self.failed.entry(chunk.id).or_default().insert(peer);
                    }
                }
                self.queue.push_back(chunk);
            }
        }
    }

    fn count(&mut self, peer: PeerId, chunk: ChunkId, busy: bool) {
        let (counts, limit) = if busy {
            (&mut self.busy, BUSY_RETRIES)
        } else {
            (&mut self.missing, self.missing_retries)
        };
        let n = counts.entry((chunk, peer)).or_default();
        *n += 1;
        if *n > limit {
            self.failed.entry(chunk).or_default().insert(peer);
        }
    }

    /// The peers not asked for `chunk` any more, each with why: it lacks
    /// the chunk, stayed busy, or could not be reached (peers dropped for a
    /// fault are in [`Peers::dropped`] instead).
    pub fn given_up(&self, chunk: &ChunkId) -> Vec<(PeerId, &'static str)> {
        let mut out: Vec<(PeerId, &'static str)> = self
            .failed
            .get(chunk)
            .into_iter()
            .flatten()
            .map(|p| {
                let key = (*chunk, *p);
                let why = if self.missing.contains_key(&key) {
                    "lacks it"
                } else if self.busy.contains_key(&key) {
                    "stayed busy"
                } else if self.unreachable.contains_key(&key) {
                    "could not be reached"
                } else {
                    "failed it"
                };
                (*p, why)
            })
            .collect();
        out.sort();
        out
    }

    /// How long a request may take before it counts as stalled.
    pub fn stall_limit(&self) -> Duration {
        let mut d = self.durations.clone();
        d.sort();
        d.get(d.len() / 2)
            .map_or(STALL_AFTER, |median| (*median * 8).max(STALL_AFTER))
    }

    /// Asks another peer for every chunk whose request has stalled, and drops
    /// a peer that keeps stalling without serving.
    pub fn hedge(&mut self, peers: &mut Peers, now: Instant) {
        let limit = self.stall_limit();
        let mut stalled = Vec::new();
        for ((chunk, peer), request) in self.in_flight.iter_mut() {
            if request.hedged
                || now.saturating_duration_since(request.since) <= limit
                || !self.remaining.contains(chunk)
            {
                continue;
            }
            // Only worth it if some other usable peer has not failed this chunk.
            let failed = self.failed.entry(*chunk).or_default();
            if peers
                .usable()
                .iter()
                .any(|p| p != peer && !failed.contains(p))
            {
                request.hedged = true;
                failed.insert(*peer);
                stalled.push((request.chunk, *peer));
            }
        }
        for (chunk, peer) in stalled {
            if !self.queue.iter().any(|c| c.id == chunk.id) {
                self.queue.push_back(chunk);
            }
            let n = self.strikes.entry(peer).or_default();
            *n += 1;
            let served = peers.served().get(&peer).copied().unwrap_or(0);
            if *n >= STALL_STRIKES && served < u64::from(*n) && peers.usable().len() > 1 {
                peers.drop_peer(
                    peer,
                    PeerFault::Slow {
                        detail: format!(
                            "{n} chunk requests stalled for over {} s",
                            limit.as_secs()
                        ),
                    },
                );
            }
        }
    }
}

/// A number that orders chunks (and breaks ties between peers) differently
/// on each node, the same way every time on one node.
pub(super) fn spread(me: &PeerId, chunk: &[u8], peer: &[u8]) -> u64 {
    let h = quince_protocol::Hash::of_parts(&[&me.to_bytes(), chunk, peer]);
    u64::from_be_bytes([
        h.0[0], h.0[1], h.0[2], h.0[3], h.0[4], h.0[5], h.0[6], h.0[7],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full-size chunk: one of a peer's `window`.
    fn chunk(n: u8) -> ChunkRef {
        ChunkRef {
            id: ChunkId([n; 32]),
            size: CHUNK_MIN_BYTES,
        }
    }

    fn peers(n: usize) -> (Vec<PeerId>, Peers) {
        let ids: Vec<PeerId> = (0..n).map(|_| PeerId::random()).collect();
        let set = Peers::new(ids.clone());
        (ids, set)
    }

    #[test]
    fn work_is_spread_within_the_window_and_every_chunk_asked_once() {
        let (_, peers) = peers(3);
        let chunks: Vec<ChunkRef> = (0..20).map(chunk).collect();
        let mut s = ChunkScheduler::new(PeerId::random(), chunks, 2);
        let now = Instant::now();
        let first = s.assign(&peers, now).unwrap();
        assert_eq!(first.len(), 6, "three peers, two each");
        let mut per_peer: HashMap<PeerId, usize> = HashMap::new();
        for a in &first {
            *per_peer.entry(a.peer).or_default() += 1;
            assert_eq!(a.delay, Duration::ZERO);
        }
        assert!(per_peer.values().all(|n| *n == 2), "{per_peer:?}");
        let ids: HashSet<ChunkId> = first.iter().map(|a| a.chunk.id).collect();
        assert_eq!(ids.len(), 6);
        // Nothing more until something comes back.
        assert!(s.assign(&peers, now).unwrap().is_empty());
    }

    /// Small chunks count for their share of a full one: a window of two
    /// holds 32 chunks of 4 KiB (or less), and a full chunk's answer lets
    /// 16 small ones out.
    #[test]
    fn small_chunks_fill_the_window_by_size() {
        let (_, mut peers) = peers(1);
        let small = |n: u8, size: u32| ChunkRef {
            id: ChunkId([n; 32]),
            size,
        };
        let chunks: Vec<ChunkRef> = (0..100)
            .map(|n| small(n, 1 + u32::from(n) % 4096))
            .collect();
        let mut s = ChunkScheduler::new(PeerId::random(), chunks, 2);
        let now = Instant::now();
        let first = s.assign(&peers, now).unwrap();
        assert_eq!(first.len(), 2 * FULL_CHUNK_UNITS);
        s.record(
            first[0].peer,
            first[0].chunk,
            Outcome::Stored,
            &mut peers,
            now,
        );
        assert_eq!(s.assign(&peers, now).unwrap().len(), 1);

        // 32 KiB chunks count for eight units: four of them fill a window of two.
        let chunks: Vec<ChunkRef> = (0..10).map(|n| small(n, 32 * 1024)).collect();
        let mut s = ChunkScheduler::new(PeerId::random(), chunks, 2);
        assert_eq!(s.assign(&peers, now).unwrap().len(), 4);
    }

    /// With every peer's window full, the queue waits untouched: each
    /// answer lets exactly one more chunk out, every chunk is asked for
    /// once, in the queue's order (the early stop changes no order).
    #[test]
    fn a_full_window_stops_the_scan_and_keeps_the_order() {
        let chunks: Vec<ChunkRef> = (0..=255).map(chunk).collect();
        let (_, mut peers) = peers(1);
        let me = PeerId::random();
        let all_at_once: Vec<ChunkId> = ChunkScheduler::new(me, chunks.clone(), 1000)
            .assign(&peers, Instant::now())
            .unwrap()
            .into_iter()
            .map(|a| a.chunk.id)
            .collect();
        let mut s = ChunkScheduler::new(me, chunks, 4);
        let now = Instant::now();
        let mut asked: Vec<Assignment> = s.assign(&peers, now).unwrap();
        assert_eq!(asked.len(), 4);
        let mut order: Vec<ChunkId> = asked.iter().map(|a| a.chunk.id).collect();
        while let Some(done) = (!asked.is_empty()).then(|| asked.remove(0)) {
            s.record(done.peer, done.chunk, Outcome::Stored, &mut peers, now);
            let more = s.assign(&peers, now).unwrap();
            assert!(more.len() <= 1, "{} handed out for one answer", more.len());
            order.extend(more.iter().map(|a| a.chunk.id));
            asked.extend(more);
        }
        assert!(s.is_done());
        assert_eq!(order, all_at_once);
    }

    #[test]
    fn two_nodes_ask_for_chunks_in_different_orders() {
        let chunks: Vec<ChunkRef> = (0..32).map(chunk).collect();
        let (_, peers) = peers(1);
        let order = |me| {
            let mut s = ChunkScheduler::new(me, chunks.clone(), 32);
            s.assign(&peers, Instant::now())
                .unwrap()
                .into_iter()
                .map(|a| a.chunk.id)
                .collect::<Vec<_>>()
        };
        let me = PeerId::random();
        assert_eq!(order(me), order(me), "one node, one order");
        assert_ne!(order(me), order(PeerId::random()));
    }

    #[test]
    fn busy_answers_back_off_then_give_up_on_that_peer_for_that_chunk() {
        let (ids, mut peers) = peers(2);
        let mut s = ChunkScheduler::new(PeerId::random(), vec![chunk(1)], 1);
        let now = Instant::now();
        let a = s.assign(&peers, now).unwrap().remove(0);
        s.record(
            a.peer,
            a.chunk,
            Outcome::Fault(PeerFault::Busy),
            &mut peers,
            now,
        );
        // The other peer, with no refusals, is preferred now.
        let b = s.assign(&peers, now).unwrap().remove(0);
        assert_ne!(b.peer, a.peer);
        assert_eq!(b.delay, Duration::ZERO);
        s.record(
            b.peer,
            b.chunk,
            Outcome::Fault(PeerFault::Busy),
            &mut peers,
            now,
        );
        // Both refused once: each retry waits, longer as refusals pile up.
        let mut delays = Vec::new();
        for _ in 0..=BUSY_RETRIES * 2 {
            match s.assign(&peers, now) {
                Ok(mut next) => {
                    let next = next.remove(0);
                    delays.push(next.delay);
                    s.record(
                        next.peer,
                        next.chunk,
                        Outcome::Fault(PeerFault::Busy),
                        &mut peers,
                        now,
                    );
                }
                Err(NoPeerFor(id)) => {
                    assert_eq!(id, chunk(1).id);
                    assert!(delays.first() < delays.last(), "{delays:?}");
                    assert_eq!(delays.last(), Some(&Duration::from_secs(1)));
                    // Busy is not a fault that drops a peer.
                    assert_eq!(peers.usable().len(), ids.len());
                    return;
                }
            }
        }
        panic!("a chunk every peer keeps refusing must end the fetch");
    }

    #[test]
    fn not_yet_is_retried_in_a_swarm_before_the_peer_counts_as_lacking_it() {
        let (_, mut peers) = peers(1);
        let mut s = ChunkScheduler::new(PeerId::random(), vec![chunk(1)], 1);
        let now = Instant::now();
        for _ in 0..MISSING_RETRIES {
            let a = s.assign(&peers, now).unwrap().remove(0);
            assert!(a.delay > Duration::ZERO || s.missing.is_empty());
            s.record(
                a.peer,
                a.chunk,
                Outcome::Fault(PeerFault::Missing),
                &mut peers,
                now,
            );
        }
        // Still asked (the 41st time), then given up.
        let a = s.assign(&peers, now).unwrap().remove(0);
        s.record(
            a.peer,
            a.chunk,
            Outcome::Fault(PeerFault::Missing),
            &mut peers,
            now,
        );
        assert_eq!(s.assign(&peers, now), Err(NoPeerFor(chunk(1).id)));
    }

    #[test]
    fn a_bad_chunk_drops_the_peer_and_the_chunk_goes_to_another() {
        let (_, mut peers) = peers(2);
        let mut s = ChunkScheduler::new(PeerId::random(), vec![chunk(1)], 1);
        let now = Instant::now();
        let a = s.assign(&peers, now).unwrap().remove(0);
        let fault = PeerFault::bad_data("chunk 01", "hash mismatch");
        s.record(
            a.peer,
            a.chunk,
            Outcome::Fault(fault.clone()),
            &mut peers,
            now,
        );
        assert_eq!(peers.dropped().get(&a.peer), Some(&fault));
        let b = s.assign(&peers, now).unwrap().remove(0);
        assert_ne!(b.peer, a.peer);
        s.record(b.peer, b.chunk, Outcome::Stored, &mut peers, now);
        assert!(s.is_done());
        assert_eq!(peers.served().get(&b.peer), Some(&1));
    }

    #[test]
    fn a_stalled_request_is_hedged_and_a_peer_that_keeps_stalling_is_dropped() {
        let (_, mut peers) = peers(2);
        let chunks: Vec<ChunkRef> = (0..3).map(chunk).collect();
        let mut s = ChunkScheduler::new(PeerId::random(), chunks, 3);
        let t0 = Instant::now();
        // Give all three chunks to one peer: make the other peer full first.
        let first = s.assign(&peers, t0).unwrap();
        let slow = first[0].peer;
        let slow_ones: Vec<&Assignment> = first.iter().filter(|a| a.peer == slow).collect();
        assert!(!slow_ones.is_empty());
        // Before the limit nothing happens.
        s.hedge(&mut peers, t0 + STALL_AFTER / 2);
        assert!(s.assign(&peers, t0).unwrap().is_empty());
        // The fast peer delivers its chunks.
        for a in first.iter().filter(|a| a.peer != slow) {
            s.record(
                a.peer,
                a.chunk,
                Outcome::Stored,
                &mut peers,
                t0 + Duration::from_millis(10),
            );
        }
        // Past the limit, each of the slow peer's chunks is asked of the other.
        let later = t0 + STALL_AFTER + Duration::from_secs(1);
        s.hedge(&mut peers, later);
        let hedged = s.assign(&peers, later).unwrap();
        assert_eq!(hedged.len(), slow_ones.len());
        assert!(hedged.iter().all(|a| a.peer != slow));
        if slow_ones.len() as u32 >= STALL_STRIKES {
            assert!(matches!(
                peers.dropped().get(&slow),
                Some(PeerFault::Slow { .. })
            ));
        }
        // A request is hedged once only.
        s.hedge(&mut peers, later + STALL_AFTER * 2);
        assert!(s.assign(&peers, later).unwrap().is_empty());
    }

    #[test]
    fn three_stalls_without_serving_drop_a_peer_but_never_the_last_one() {
        let (ids, mut peers) = peers(2);
        let chunks: Vec<ChunkRef> = (0..12).map(chunk).collect();
        let mut s = ChunkScheduler::new(PeerId::random(), chunks, 6);
        let t0 = Instant::now();
        let first = s.assign(&peers, t0).unwrap();
        assert_eq!(first.len(), 12);
        // Both stall: only one can be dropped (a fetch keeps its last peer).
        s.hedge(&mut peers, t0 + STALL_AFTER * 2);
        assert_eq!(peers.usable().len(), 1, "{:?}", peers.dropped());
        let dropped = ids.iter().find(|p| !peers.usable().contains(p)).unwrap();
        assert!(matches!(
            peers.dropped().get(dropped),
            Some(PeerFault::Slow { .. })
        ));
    }

    #[test]
    fn an_unreachable_peer_is_tried_again_then_not_asked_for_that_chunk_and_the_fetch_ends() {
        let (_, mut peers) = peers(1);
        let mut s = ChunkScheduler::new(PeerId::random(), vec![chunk(1), chunk(2)], 4);
        let now = Instant::now();
        let mut asked = s.assign(&peers, now).unwrap();
        for attempt in 0..=UNREACHABLE_RETRIES {
            let lost = asked.remove(0);
            let fault = PeerFault::Unreachable {
                reason: "connection closed".into(),
            };
            s.record(
                lost.peer,
                lost.chunk,
                Outcome::Fault(fault),
                &mut peers,
                now,
            );
            if attempt < UNREACHABLE_RETRIES {
                // The lost chunk is asked of the same peer again.
                asked = s.assign(&peers, now).unwrap();
                assert!(
                    asked.iter().any(|r| r.chunk == lost.chunk),
                    "attempt {attempt}"
                );
                asked.sort_by_key(|r| r.chunk != lost.chunk);
            }
        }
        assert!(matches!(s.assign(&peers, now), Err(NoPeerFor(_))));
        // Not hostile: still usable for other chunks.
        assert_eq!(peers.usable().len(), 1);
    }

    #[test]
    fn a_peer_never_reached_is_not_retried_while_others_serve() {
        let (ids, mut peers) = peers(2);
        let mut s = ChunkScheduler::new(PeerId::random(), vec![chunk(1)], 4);
        let now = Instant::now();
        let lost = s.assign(&peers, now).unwrap().remove(0);
        let fault = PeerFault::Unreachable {
            reason: "dial refused".into(),
        };
        s.record(
            lost.peer,
            lost.chunk,
            Outcome::Fault(fault),
            &mut peers,
            now,
        );
        let again = s.assign(&peers, now).unwrap().remove(0);
        assert_eq!(again.chunk, lost.chunk);
        let other = if lost.peer == ids[0] { ids[1] } else { ids[0] };
        assert_eq!(
            again.peer, other,
            "the never-reached peer is not asked again"
        );
        assert_eq!(again.delay, Duration::ZERO);
    }

    #[test]
    fn a_late_copy_after_another_peer_delivered_changes_nothing() {
        let (_, mut peers) = peers(2);
        let mut s = ChunkScheduler::new(PeerId::random(), vec![chunk(1)], 1);
        let t0 = Instant::now();
        let a = s.assign(&peers, t0).unwrap().remove(0);
        s.hedge(&mut peers, t0 + STALL_AFTER * 2);
        let b = s.assign(&peers, t0).unwrap().remove(0);
        s.record(b.peer, b.chunk, Outcome::Stored, &mut peers, t0);
        assert!(!s.needs(&a.chunk.id));
        s.record(a.peer, a.chunk, Outcome::Unneeded, &mut peers, t0);
        assert!(s.is_done() && !s.is_stuck());
        assert_eq!(peers.served().get(&a.peer), None);
    }
}
