//! What this node holds for peers that have not read it yet: every answer
//! on the transfer protocol is counted from the moment its request is taken
//! until the peer has read it (or its stream or connection is gone), so a
//! peer that asks and never reads cannot make the node hold more than a
//! bounded amount. Pure bookkeeping, no I/O; the actor asks it before each
//! answer and tells it when answers leave.
//!
//! The bounds:
//! - per peer: [`PEER_HELD_ANSWERS`] answers and [`PEER_HELD_BYTES`];
//! - in all: [`HELD_BYTES`]; past it a peer gets only its fair share of it,
//!   up to half as much again, unless it has shown that it reads (it read
//!   an answer larger than a stream's first window in the last
//!   [`READ_PROOF`]); what is left up to [`HELD_CEILING`] is kept for
//!   readers and for peers that hold nothing yet (so a crowd of hostile
//!   peers cannot lock out an honest one);
//! - a peer whose answers sat unread until their stream timed out
//!   [`STALLS_TO_REFUSE`] times within [`STALL_MEMORY`] is refused for
//!   [`REFUSE_FOR`] (the actor disconnects it and closes its new connections);
//! - when the ledger is full and a peer holding less than its fair share is
//!   turned away, the peer holding most beyond its share, in answers unread
//!   for [`EVICT_AFTER`], is disconnected (which counts as a stall).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use std::hash::Hash;

use libp2p::swarm::ConnectionId;
use libp2p::PeerId;
use quince_protocol::manifest::ChunkId;

/// Most answers held for one peer at once (an honest fetcher asks for
/// eight chunks at a time, plus a few log files).
pub const PEER_HELD_ANSWERS: usize = 16;
/// Most bytes held for one peer at once (one answer always passes).
pub const PEER_HELD_BYTES: usize = 16 * 1024 * 1024;
/// Bytes held for all peers before each gets only its fair share.
pub const HELD_BYTES: usize = 32 * 1024 * 1024;
/// Bytes held for all peers, never passed.
pub const HELD_CEILING: usize = 2 * HELD_BYTES;
/// Room above the ceiling kept for small first answers (see `room`).
pub const SMALL_RESERVE: usize = 4 * 1024 * 1024;
/// The largest answer the small reserve takes (the size the server expects
/// of anything but a chunk or a patch).
pub const SMALL_RESERVED_ANSWER: usize = 64 * 1024;
/// Unread answers (a stream that timed out with its answer sent) that get
/// a peer refused.
pub const STALLS_TO_REFUSE: u32 = 3;
/// How long an unread answer counts against its peer.
pub const STALL_MEMORY: Duration = Duration::from_secs(600);
/// How long a peer that does not read its answers is refused.
pub const REFUSE_FOR: Duration = Duration::from_secs(600);
/// How long answers sit unread before a peer holding more than its fair
/// share is disconnected to make room for another.
pub const EVICT_AFTER: Duration = Duration::from_secs(2);
/// How much of an answer a stream takes before its reader must ask for
/// more (yamux's initial window): reading a larger answer proves reading.
const FIRST_WINDOW: usize = 256 * 1024;
/// How long reading one larger answer counts.
pub const READ_PROOF: Duration = Duration::from_secs(5);
/// The largest answer expected for a chunk, for the crowding check.
const MAX_ANSWER_GUESS: usize = 1024 * 1024;
/// Most peers remembered for their stalls or refusal (the oldest are
/// forgotten first).
const REMEMBERED: usize = 4096;

/// One answer held.
struct Held {
    peer: PeerId,
    connection: ConnectionId,
    bytes: usize,
    /// When it was handed to libp2p (from then on a timeout is the peer's
    /// doing; before, the node was slow to answer).
    sent: Option<Instant>,
    /// The chunks it carries, once the chunk cap counted them.
    chunks: Vec<ChunkId>,
}

#[derive(Default)]
struct Share {
    answers: usize,
    bytes: usize,
}

/// The ledger of held answers, by request (libp2p's inbound request id;
/// any key in the tests).
pub(super) struct Ledger<K> {
    held: HashMap<K, Held>,
    peers: HashMap<PeerId, Share>,
    total: usize,
    stalls: HashMap<PeerId, (u32, Instant)>,
    refused: HashMap<PeerId, Instant>,
    /// When each peer last read an answer larger than a stream's first
    /// window (so it surely reads).
    read: HashMap<PeerId, Instant>,
}

impl<K> Default for Ledger<K> {
    fn default() -> Self {
        Ledger {
            held: HashMap::new(),
            peers: HashMap::new(),
            total: 0,
            stalls: HashMap::new(),
            refused: HashMap::new(),
            read: HashMap::new(),
        }
    }
}

impl<K: Copy + Eq + Hash> Ledger<K> {
    /// Bytes held for all peers.
    pub(super) fn total(&self) -> usize {
        self.total
    }

    /// Bytes held for `peer`.
    pub(super) fn held_by(&self, peer: &PeerId) -> usize {
        self.peers.get(peer).map_or(0, |s| s.bytes)
    }

    /// Whether `peer` may be held `bytes` more.
    fn room(&self, peer: &PeerId, bytes: usize, now: Instant) -> bool {
        let share = self.peers.get(peer);
        let (answers, held) = share.map_or((0, 0), |s| (s.answers, s.bytes));
        let total = self.total + bytes;
        // With nothing held, any one answer goes (however large), so none
        // waits for ever.
        if self.total == 0 {
            return true;
        }
        // A small answer (a checkpoint, a tile) to a peer holding nothing
        // goes even at the ceiling, within a small reserve: it fits in the
        // stream's first window, so it completes whether or not the peer
        // reads, and a crowd of peers holding big answers cannot keep a
        // new one from even learning the log's head.
        if answers == 0 && bytes <= SMALL_RESERVED_ANSWER && total <= HELD_CEILING + SMALL_RESERVE {
            return true;
        }
        if answers >= PEER_HELD_ANSWERS || total > HELD_CEILING {
            return false;
        }
        // A peer's first answer always passes: what lies between the
        // pressure line and the ceiling is kept for first answers.
        if answers == 0 {
            return true;
        }
        if held + bytes > PEER_HELD_BYTES {
            return false;
        }
        if total <= HELD_BYTES || self.reads(peer, now) {
            return true;
        }
        let holders = self.peers.len();
        total <= HELD_BYTES + HELD_BYTES / 2 && held + bytes <= HELD_BYTES / holders.max(1)
    }

    /// Takes request `id` from `peer` on `connection`, whose answer is
    /// expected to be about `bytes`; false if there is no room for it
    /// (then it is not counted: answer "busy").
    pub(super) fn take(
        &mut self,
        id: K,
        peer: PeerId,
        connection: ConnectionId,
        bytes: usize,
        now: Instant,
    ) -> bool {
        if !self.room(&peer, bytes, now) {
            return false;
        }
        self.held.insert(
            id,
            Held {
                peer,
                connection,
                bytes,
                sent: None,
                chunks: Vec::new(),
            },
        );
        let share = self.peers.entry(peer).or_default();
        share.answers += 1;
        share.bytes += bytes;
        self.total += bytes;
        true
    }

    /// The answer to `id` is `bytes` long and about to be sent: true if it
    /// still fits (it is then counted at its real size), false if it grew
    /// past the room left (then it is no longer counted: send "busy").
    pub(super) fn settle(&mut self, id: K, bytes: usize, now: Instant) -> bool {
        let Some(held) = self.held.get(&id) else {
            return false;
        };
        let (peer, before) = (held.peer, held.bytes);
        if bytes > before {
            // Judged as if this answer were not held yet.
            let Some(connection) = self.release(id) else {
                return false;
            };
            if !self.take(id, peer, connection, bytes, now) {
                return false;
            }
        } else {
            self.total -= before - bytes;
            if let Some(share) = self.peers.get_mut(&peer) {
                share.bytes -= before - bytes;
            }
        }
        if let Some(held) = self.held.get_mut(&id) {
            held.bytes = bytes;
            held.sent = Some(now);
        }
        true
    }

    /// The answer to `id` carries `chunks`, counted by the chunk cap.
    pub(super) fn mark_chunks(&mut self, id: K, chunks: Vec<ChunkId>) {
        if let Some(held) = self.held.get_mut(&id) {
            held.chunks = chunks;
        }
    }

    /// The peer and chunks of the answer to `id` that the chunk cap counted.
    pub(super) fn chunks_of(&self, id: K) -> Option<(PeerId, &[ChunkId])> {
        let held = self.held.get(&id)?;
        Some((held.peer, &held.chunks))
    }

    /// Whether `peer` has read an answer larger than a stream's first
    /// window (lately: peers are forgotten after [`READ_PROOF`] only when
    /// many are remembered). Only such a peer's copies of a chunk count for
    /// the chunk cap: one that never reads holds nothing to pass on.
    pub(super) fn has_read(&self, peer: &PeerId) -> bool {
        self.read.contains_key(peer)
    }

    /// Whether `peer` read an answer larger than a stream's first window
    /// within [`READ_PROOF`]: such a peer may be held up to its own caps
    /// even under pressure (within the ceiling).
    fn reads(&self, peer: &PeerId, now: Instant) -> bool {
        self.read
            .get(peer)
            .is_some_and(|t| now.duration_since(*t) < READ_PROOF)
    }

    /// The answer to `id` was read by its peer.
    pub(super) fn read(&mut self, id: K, now: Instant) {
        let Some(held) = self.held.get(&id) else {
            return;
        };
        if held.sent.is_some() && held.bytes > FIRST_WINDOW {
            if self.read.len() >= REMEMBERED {
                self.read.retain(|_, t| now.duration_since(*t) < READ_PROOF);
                if self.read.len() >= REMEMBERED {
                    self.read.clear();
                }
            }
            self.read.insert(held.peer, now);
        }
        self.release(id);
    }

    /// The answer to `id` left (read by its peer, or its stream is gone):
    /// returns its connection if it was held.
    pub(super) fn release(&mut self, id: K) -> Option<ConnectionId> {
        let held = self.held.remove(&id)?;
        self.total -= held.bytes;
        if let Some(share) = self.peers.get_mut(&held.peer) {
            share.answers -= 1;
            share.bytes -= held.bytes;
            if share.answers == 0 {
                self.peers.remove(&held.peer);
            }
        }
        Some(held.connection)
    }

    /// Connection `connection` closed: every answer on it is gone.
    pub(super) fn release_connection(&mut self, connection: ConnectionId) {
        let ids: Vec<K> = self
            .held
            .iter()
            .filter(|(_, h)| h.connection == connection)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.release(id);
        }
    }

    /// The stream of `id` timed out. If its answer had been sent, the peer
    /// did not read it: a stall. Returns the peer when this stall gets it
    /// refused (disconnect it).
    pub(super) fn timed_out(&mut self, id: K, now: Instant) -> Option<PeerId> {
        let peer = self
            .held
            .get(&id)
            .filter(|h| h.sent.is_some())
            .map(|h| h.peer);
        self.release(id);
        let peer = peer?;
        self.stall(peer, now).then_some(peer)
    }

    /// Counts a stall against `peer`: true when it gets the peer refused.
    pub(super) fn stall(&mut self, peer: PeerId, now: Instant) -> bool {
        if self.stalls.len() >= REMEMBERED {
            self.stalls
                .retain(|_, (_, first)| now.duration_since(*first) < STALL_MEMORY);
            if self.stalls.len() >= REMEMBERED {
                self.stalls.clear();
            }
        }
        let entry = self.stalls.entry(peer).or_insert((0, now));
        if now.duration_since(entry.1) >= STALL_MEMORY {
            *entry = (0, now);
        }
        entry.0 += 1;
        if entry.0 < STALLS_TO_REFUSE {
            return false;
        }
        self.stalls.remove(&peer);
        if self.refused.len() >= REMEMBERED {
            self.refused.retain(|_, until| *until > now);
            if self.refused.len() >= REMEMBERED {
                self.refused.clear();
            }
        }
        self.refused.insert(peer, now + REFUSE_FOR);
        true
    }

    /// `peer` was turned away for want of room: if that is because another
    /// peer holds more than its fair share in answers it has left unread
    /// for [`EVICT_AFTER`], returns the one that holds most (disconnect it:
    /// its answers go with the connection).
    pub(super) fn crowding(&self, peer: &PeerId, now: Instant) -> Option<PeerId> {
        let holders = self.peers.len() + usize::from(!self.peers.contains_key(peer));
        let fair = HELD_BYTES / holders.max(1);
        let mine = self.peers.get(peer).map_or(0, |s| s.bytes);
        if mine >= fair || self.total + MAX_ANSWER_GUESS <= HELD_BYTES {
            return None;
        }
        let mut stale: HashMap<PeerId, usize> = HashMap::new();
        for h in self.held.values() {
            if h.sent.is_some_and(|t| now.duration_since(t) >= EVICT_AFTER) {
                *stale.entry(h.peer).or_default() += h.bytes;
            }
        }
        stale
            .into_iter()
            .filter(|(p, _)| p != peer && self.peers.get(p).is_some_and(|s| s.bytes > fair))
            .max_by_key(|(_, bytes)| *bytes)
            .map(|(p, _)| p)
    }

    /// Whether `peer` is refused at `now`.
    pub(super) fn refused(&self, peer: &PeerId, now: Instant) -> bool {
        self.refused.get(peer).is_some_and(|until| *until > now)
    }

    /// How many peers are refused at `now`.
    pub(super) fn refused_count(&self, now: Instant) -> usize {
        self.refused.values().filter(|until| **until > now).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    fn ids(n: usize) -> Vec<u64> {
        (0..n as u64).collect()
    }

    #[test]
    fn one_peer_is_held_its_own_caps_and_everything_is_released() {
        let mut l = Ledger::<u64>::default();
        let now = Instant::now();
        let peer = PeerId::random();
        let conn = ConnectionId::new_unchecked(1);
        let ids = ids(PEER_HELD_ANSWERS + 1);
        for id in &ids[..PEER_HELD_ANSWERS] {
            assert!(l.take(*id, peer, conn, 64 * 1024, now));
        }
        assert!(
            !l.take(ids[PEER_HELD_ANSWERS], peer, conn, 1, now),
            "answer cap"
        );
        l.release_connection(conn);
        assert_eq!(l.total(), 0);
        // Bytes: one large answer always passes, then the byte cap holds.
        assert!(l.take(ids[0], peer, conn, 15 * MIB, now));
        assert!(l.take(ids[1], peer, conn, MIB, now));
        assert!(!l.take(ids[2], peer, conn, MIB, now), "byte cap");
        assert_eq!(l.release(ids[0]), Some(conn));
        assert!(l.take(ids[2], peer, conn, MIB, now));
        assert_eq!(l.total(), 2 * MIB);
    }

    #[test]
    fn a_crowd_of_stallers_is_bounded_and_the_greediest_make_room_for_an_honest_peer() {
        let mut l = Ledger::<u64>::default();
        let t0 = Instant::now();
        let now = t0;
        let mut next = 0u64;
        let mut id = || {
            next += 1;
            next
        };
        // Thirty peers, each on its own connection, take as much as they
        // may, and their answers are sent and never read.
        let crowd: Vec<PeerId> = (0..30).map(|_| PeerId::random()).collect();
        for (i, p) in crowd.iter().enumerate() {
            loop {
                let k = id();
                if !l.take(k, *p, ConnectionId::new_unchecked(i), MIB, now) {
                    break;
                }
                assert!(l.settle(k, MIB, t0));
            }
        }
        assert!(l.total() <= HELD_CEILING, "{}", l.total());
        assert!(l.total() >= HELD_BYTES);
        let honest = PeerId::random();
        let honest_conn = ConnectionId::new_unchecked(100);
        // Fresh answers are not evicted.
        assert_eq!(l.crowding(&honest, t0), None);
        // Once they sat unread, the greediest holders go, one at a time,
        // until the honest peer has room for a fetcher's window.
        let later = t0 + EVICT_AFTER;
        let mut evicted = Vec::new();
        let mut got = 0;
        for _ in 0..100 {
            if l.take(id(), honest, honest_conn, 256 * 1024, later) {
                got += 1;
                if got == 8 {
                    break;
                }
                continue;
            }
            let Some(greedy) = l.crowding(&honest, later) else {
                break;
            };
            let i = crowd.iter().position(|p| *p == greedy).unwrap();
            assert!(!l.stall(greedy, later));
            l.release_connection(ConnectionId::new_unchecked(i));
            evicted.push(i);
        }
        assert_eq!(
            got, 8,
            "the honest peer got {got} answers; evicted {evicted:?}"
        );
        // Only the first, greedy peers were evicted (16 answers each, then
        // fair shares while the ledger filled), never one with one answer.
        assert!(
            !evicted.is_empty() && evicted.iter().all(|i| *i < 5),
            "{evicted:?}"
        );
        assert!(l.total() <= HELD_CEILING);
    }

    #[test]
    fn a_peer_that_reads_is_held_its_own_caps_while_stallers_crowd_the_ledger() {
        let mut l = Ledger::<u64>::default();
        let now = Instant::now();
        let mut next = 0u64;
        let mut id = || {
            next += 1;
            next
        };
        // Many stallers, one answer of 1 MiB each, then shares: the ledger
        // is past its pressure line.
        for i in 0..12 {
            let p = PeerId::random();
            while l.take(id(), p, ConnectionId::new_unchecked(i), MIB, now) {}
        }
        assert!(l.total() > HELD_BYTES);
        let reader = PeerId::random();
        let conn = ConnectionId::new_unchecked(1000);
        // Its first answer passes; more wait while it has not shown it reads.
        let first = id();
        assert!(l.take(first, reader, conn, MIB, now));
        assert!(!l.take(id(), reader, conn, MIB, now));
        // It reads an answer larger than a stream's first window.
        assert!(l.settle(first, 600 * 1024, now));
        l.read(first, now);
        let mut got = 0;
        while got < 8 && l.take(id(), reader, conn, MIB, now) {
            got += 1;
        }
        assert_eq!(got, 8);
        assert!(l.total() <= HELD_CEILING);
        // A small answer read proves nothing, and the proof wears off.
        let later = now + READ_PROOF;
        assert!(!l.take(id(), reader, conn, MIB, later));
    }

    #[test]
    fn settling_counts_the_real_size_and_refuses_one_that_grew_too_much() {
        let now = Instant::now();
        let mut l = Ledger::<u64>::default();
        let peer = PeerId::random();
        let conn = ConnectionId::new_unchecked(7);
        let ids = ids(3);
        assert!(l.take(ids[0], peer, conn, MIB, now));
        assert!(l.settle(ids[0], 1000, now));
        assert_eq!(l.total(), 1000);
        assert!(l.take(ids[1], peer, conn, 1000, now));
        // A second answer that turns out far larger than the per-peer cap.
        assert!(!l.settle(ids[1], 2 * PEER_HELD_BYTES, now));
        assert_eq!(l.total(), 1000);
        // A first answer may be large (a manifest), within the ceiling.
        assert!(l.release(ids[0]).is_some());
        assert!(l.take(ids[2], peer, conn, 1000, now));
        assert!(l.settle(ids[2], 40 * MIB, now));
        assert_eq!(l.total(), 40 * MIB);
    }

    #[test]
    fn a_peer_that_leaves_answers_unread_is_refused_but_not_for_our_slowness() {
        let mut l = Ledger::<u64>::default();
        let peer = PeerId::random();
        let conn = ConnectionId::new_unchecked(3);
        let now = Instant::now();
        let ids = ids(10);
        // Timeouts before the answer was sent are the node's slowness.
        for id in &ids[..5] {
            assert!(l.take(*id, peer, conn, 10, now));
            assert_eq!(l.timed_out(*id, now), None);
        }
        assert!(!l.refused(&peer, now));
        // Sent and unread: the third such gets the peer refused.
        for (i, id) in ids[5..8].iter().enumerate() {
            assert!(l.take(*id, peer, conn, 10, now));
            assert!(l.settle(*id, 10, now));
            let refused = l.timed_out(*id, now);
            assert_eq!(refused.is_some(), i == 2);
        }
        assert!(l.refused(&peer, now));
        assert_eq!(l.refused_count(now), 1);
        assert!(!l.refused(&peer, now + REFUSE_FOR));
        assert_eq!(l.total(), 0);
    }

    #[test]
    fn at_the_ceiling_a_new_peer_still_gets_a_small_answer_within_the_reserve() {
        let mut l = Ledger::<u64>::default();
        let now = Instant::now();
        // Many peers' first answers (each passes) fill the ledger to the ceiling.
        let mut next = 0u64;
        while l.total() + MIB <= HELD_CEILING {
            next += 1;
            assert!(l.take(
                next,
                PeerId::random(),
                ConnectionId::new_unchecked(1),
                MIB,
                now
            ));
        }
        let newcomer = PeerId::random();
        let conn = ConnectionId::new_unchecked(2);
        assert!(
            !l.take(1000, newcomer, conn, MIB, now),
            "a big answer waits"
        );
        // A checkpoint-sized answer goes, and so do other newcomers' until
        // the reserve is used up; never beyond it.
        assert!(l.take(1001, newcomer, conn, 16 * 1024, now));
        let mut taken = 0;
        for id in 2000..3000 {
            if l.take(id, PeerId::random(), conn, SMALL_RESERVED_ANSWER, now) {
                taken += 1;
            }
        }
        assert!(taken > 0);
        assert!(l.total() <= HELD_CEILING + SMALL_RESERVE, "{}", l.total());
        // A peer already holding an answer gets nothing from the reserve.
        assert!(!l.take(3001, newcomer, conn, 1024, now));
    }
}
