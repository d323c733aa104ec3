//! The peers a fetch may use, and what each did wrong.
//!
//! A [`PeerFault`] is about one peer and one request: the fetch moves the
//! work to another peer. It never refuses a release; that is
//! [`FetchError`](super::FetchError)'s job (equivocation, fork, no release).
//! Faults that show a peer cannot be trusted or cannot keep up drop it for
//! the rest of the fetch ([`PeerFault::drops_peer`]); the others only mean
//! "ask again later" or "ask someone else for this one".

use std::collections::HashMap;
use std::fmt;

use libp2p::PeerId;

/// What one peer did wrong with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerFault {
    /// It is at its upload limit: ask again later.
    Busy,
    /// It does not have it (yet: a peer fetching the same release may have it soon).
    Missing,
    /// It did not answer in time, or kept stalling.
    Slow {
        /// What was too slow.
        detail: String,
    },
    /// The request did not reach it or its answer did not arrive (dial
    /// refused, connection closed, stream reset).
    Unreachable {
        /// What the network layer said.
        reason: String,
    },
    /// It broke the transfer protocol: an oversized or undecodable answer.
    Violation {
        /// How.
        reason: String,
    },
    /// It serves an older checkpoint than the one this fetch trusts: not
    /// misbehaviour (it may be catching up), but it cannot serve this release.
    Stale {
        /// The size of the tree it offered.
        offered: u64,
        /// The size this fetch needs.
        trusted: u64,
    },
    /// It sent data that fails verification: a chunk that does not match its
    /// address, a manifest, root, tile or proof that does not check.
    BadData {
        /// What it sent (`chunk ID`, `manifest`, `tiles`, ...).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl PeerFault {
    /// Whether the peer is dropped for the rest of the fetch. Busy and
    /// missing are transient; an unreachable peer is tried for other items.
    pub fn drops_peer(&self) -> bool {
        matches!(
            self,
            PeerFault::Slow { .. }
                | PeerFault::Violation { .. }
                | PeerFault::Stale { .. }
                | PeerFault::BadData { .. }
        )
    }

    /// Whether the peer showed itself hostile or broken (as opposed to busy,
    /// behind, or hard to reach).
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            PeerFault::Violation { .. } | PeerFault::BadData { .. }
        )
    }

    /// A fault for data of kind `what` that failed verification.
    pub fn bad_data(what: impl Into<String>, reason: impl fmt::Display) -> PeerFault {
        PeerFault::BadData {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    /// The same fault, saying which request it was about (for drop reasons
    /// such as "checkpoint: too slow: ...").
    pub fn about(self, what: &str) -> PeerFault {
        match self {
            PeerFault::Slow { detail } => PeerFault::Slow {
                detail: format!("{what}: {detail}"),
            },
            PeerFault::Violation { reason } => PeerFault::Violation {
                reason: format!("{what}: {reason}"),
            },
            PeerFault::Unreachable { reason } => PeerFault::Unreachable {
                reason: format!("{what}: {reason}"),
            },
            other => other,
        }
    }
}

impl fmt::Display for PeerFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerFault::Busy => write!(f, "busy"),
            PeerFault::Missing => write!(f, "does not have it"),
            PeerFault::Slow { detail } => write!(f, "too slow: {detail}"),
            PeerFault::Unreachable { reason } => write!(f, "unreachable: {reason}"),
            PeerFault::Violation { reason } => write!(f, "broke the protocol: {reason}"),
            PeerFault::Stale { offered, trusted } => {
                write!(f, "serves an older checkpoint (size {offered} < {trusted})")
            }
            PeerFault::BadData { what, reason } => write!(f, "sent a bad {what}: {reason}"),
        }
    }
}

/// The peers a fetch may use, those it dropped with the fault, and what each served.
#[derive(Debug, Clone, Default)]
pub struct Peers {
    usable: Vec<PeerId>,
    dropped: HashMap<PeerId, PeerFault>,
    served: HashMap<PeerId, u64>,
}

impl Peers {
    /// Starts with `peers`.
    pub fn new(peers: impl IntoIterator<Item = PeerId>) -> Peers {
        let mut usable: Vec<PeerId> = peers.into_iter().collect();
        usable.sort();
        usable.dedup();
        Peers {
            usable,
            dropped: HashMap::new(),
            served: HashMap::new(),
        }
    }

    /// Peers not dropped.
    pub fn usable(&self) -> &[PeerId] {
        &self.usable
    }

    /// Peers dropped, with the fault that dropped each.
    pub fn dropped(&self) -> &HashMap<PeerId, PeerFault> {
        &self.dropped
    }

    /// How many verified chunks each peer served.
    pub fn served(&self) -> &HashMap<PeerId, u64> {
        &self.served
    }

    /// Counts one verified chunk from `peer`.
    pub(crate) fn record_served(&mut self, peer: PeerId) {
        *self.served.entry(peer).or_default() += 1;
    }

    /// Adds a peer found during the fetch, unless it is known or was dropped
    /// for a fault. A peer dropped only for serving an older checkpoint
    /// comes back: it is likely fetching this release too, and chunks are
    /// checked against their addresses whoever sends them.
    pub fn add(&mut self, peer: PeerId) {
        if matches!(self.dropped.get(&peer), Some(PeerFault::Stale { .. })) {
            self.dropped.remove(&peer);
        }
        if !self.dropped.contains_key(&peer) && !self.usable.contains(&peer) {
            self.usable.push(peer);
        }
    }

    /// Drops `peer` for the rest of the fetch (the first fault is kept).
    pub fn drop_peer(&mut self, peer: PeerId, fault: PeerFault) {
        self.usable.retain(|p| *p != peer);
        self.dropped.entry(peer).or_insert(fault);
    }

    /// Drops `peer` if `fault` calls for it; returns whether it did.
    pub fn judge(&mut self, peer: PeerId, fault: &PeerFault) -> bool {
        if fault.drops_peer() {
            self.drop_peer(peer, fault.clone());
        }
        fault.drops_peer()
    }

    /// Every dropped peer with its fault, then `extra`, as one line for an error.
    pub(crate) fn details(&self, name: &dyn Fn(&PeerId) -> String, extra: &[String]) -> String {
        let mut all: Vec<String> = self
            .dropped
            .iter()
            .map(|(p, fault)| format!("{}: {fault}", name(p)))
            .collect();
        all.sort();
        all.extend_from_slice(extra);
        if all.is_empty() {
            "no peers".into()
        } else {
            all.join("; ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_peer_comes_back_and_a_hostile_one_does_not() {
        let (stale, hostile) = (PeerId::random(), PeerId::random());
        let mut peers = Peers::new([stale, hostile]);
        peers.drop_peer(
            stale,
            PeerFault::Stale {
                offered: 1,
                trusted: 2,
            },
        );
        peers.drop_peer(hostile, PeerFault::bad_data("chunk c", "hash mismatch"));
        assert!(peers.usable().is_empty());
        peers.add(stale);
        peers.add(hostile);
        assert_eq!(peers.usable(), &[stale]);
        assert!(matches!(
            peers.dropped().get(&hostile),
            Some(PeerFault::BadData { .. })
        ));
    }

    #[test]
    fn only_lasting_faults_drop_a_peer() {
        let p = PeerId::random();
        let mut peers = Peers::new([p]);
        for transient in [
            PeerFault::Busy,
            PeerFault::Missing,
            PeerFault::Unreachable {
                reason: "refused".into(),
            },
        ] {
            assert!(!peers.judge(p, &transient));
        }
        assert_eq!(peers.usable(), &[p]);
        assert!(peers.judge(
            p,
            &PeerFault::Slow {
                detail: "10 s".into()
            }
        ));
        assert!(peers.usable().is_empty());
    }

    #[test]
    fn drop_reasons_read_as_before() {
        assert_eq!(
            PeerFault::bad_data("chunk 00ab", "hash mismatch").to_string(),
            "sent a bad chunk 00ab: hash mismatch"
        );
        assert_eq!(
            PeerFault::Violation {
                reason: "too big".into()
            }
            .about("checkpoint")
            .to_string(),
            "broke the protocol: checkpoint: too big"
        );
    }
}
