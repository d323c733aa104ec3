//! Serving the transfer protocol: each request is counted in the ledger of
//! held answers before any work is done for it (no room: "busy" at once),
//! answered on a blocking thread, passed through the upload limits and
//! sent; the ledger lets it go when the peer has read it or its stream or
//! connection is gone. A peer that leaves answers unread until they time
//! out is refused for a while.

use std::sync::atomic::Ordering::SeqCst;

use libp2p::request_response::{InboundFailure, InboundRequestId, ResponseChannel};
use libp2p::swarm::ConnectionId;
use libp2p::PeerId;
use quince_protocol::codec::{Decode as _, Encode as _};
use quince_protocol::limits::MAX_COMPRESSED_CHUNK_BYTES;
use quince_protocol::manifest::ChunkId;
use quince_protocol::wire::{
    ChunkAnswer, ChunksAnswer, Request, Response, MAX_CHUNKS_ANSWER_BYTES,
};

use super::{Actor, Served, SERVING_QUEUE};

/// What a request other than a chunk or a blob is expected to take until
/// its answer is known (log files and manifests are small).
const SMALL_ANSWER: usize = 64 * 1024;

/// The bytes an answer takes on the wire, near enough for the ledger.
fn wire_len(answer: &Response) -> usize {
    match answer {
        Response::Data(bytes) => bytes.len() + 5,
        _ => 1,
    }
}

impl Actor {
    /// Takes `request` if the ledger has room for its answer, and answers it
    /// on a blocking thread when a serving slot is free; "busy" at once if
    /// there is no room or too many requests already wait.
    pub(super) fn serve(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        id: InboundRequestId,
        request: Request,
        channel: ResponseChannel<Response>,
    ) {
        let expected = match request {
            Request::Chunk(_) | Request::Blob(_) => MAX_COMPRESSED_CHUNK_BYTES,
            Request::Chunks(_) => MAX_CHUNKS_ANSWER_BYTES,
            _ => SMALL_ANSWER,
        };
        if !self
            .held
            .take(id, peer, connection, expected, std::time::Instant::now())
        {
            self.busy_answers += 1;
            tracing::debug!(
                "busy for {peer}: it holds {} KiB, all hold {} KiB",
                self.held.held_by(&peer) / 1024,
                self.held.total() / 1024
            );
            self.make_room(peer);
            self.answer_busy(channel);
            return;
        }
        if self.queued.fetch_add(1, SeqCst) >= SERVING_QUEUE {
            self.queued.fetch_sub(1, SeqCst);
            self.held.release(id);
            self.answer_busy(channel);
            return;
        }
        tracing::trace!("request {id} from {peer}: {request:?}");
        let (serving, queued) = (self.serving.clone(), self.queued.clone());
        let library = self.library.clone();
        let back = self.served_tx.clone();
        tokio::spawn(async move {
            let permit = serving.acquire_owned().await;
            queued.fetch_sub(1, SeqCst);
            let asked = request.clone();
            let answer = match &permit {
                Ok(_) => tokio::task::spawn_blocking(move || library.answer(&asked))
                    .await
                    .unwrap_or(Response::Busy),
                Err(_) => Response::Busy,
            };
            let _ = back
                .send(Served {
                    id,
                    peer,
                    request,
                    answer,
                    channel,
                })
                .await;
            // Held until the answer is in the channel: at most SERVING_AT_ONCE
            // answers are being made or handed over, and as many wait in the
            // channel for the loop.
            drop(permit);
        });
    }

    /// Answers "busy" at once (a tiny answer, not counted in the ledger).
    fn answer_busy(&mut self, channel: ResponseChannel<Response>) {
        let _ = self
            .swarm
            .behaviour_mut()
            .transfer
            .send_response(channel, Response::Busy);
    }

    /// Sends an answer computed off the loop, after the upload limits.
    /// Limits apply to bulk data; the log and manifests are small and needed
    /// first, so they are always answered.
    pub(super) fn send_answer(&mut self, served: Served) {
        let Served {
            id,
            peer,
            request,
            mut answer,
            channel,
        } = served;
        let now = std::time::Instant::now();
        let mut counted = Vec::new();
        match (&request, &answer) {
            (Request::Chunk(_) | Request::Blob(_), Response::Data(bytes)) => {
                let capped = match &request {
                    Request::Chunk(chunk) => !self.admit_chunk(peer, *chunk),
                    _ => false,
                };
                if capped {
                    self.deferred_chunks += 1;
                    answer = Response::Busy;
                } else {
                    // Counted by the cap; un-counted below if not sent.
                    if let Request::Chunk(chunk) = &request {
                        counted.push(*chunk);
                    }
                    if !self.limits.admit(peer, bytes.len()) {
                        answer = Response::Busy;
                    }
                }
            }
            (Request::Chunks(ids), Response::Data(bytes)) => {
                answer = self.limit_chunks(peer, ids, bytes, &mut counted);
            }
            _ => {}
        }
        // The answer's real size replaces the guess; one that grew past
        // what the peer may be held (a large manifest while it holds
        // others) waits for its turn.
        if !self.held.settle(id, wire_len(&answer), now) {
            self.busy_answers += 1;
            answer = Response::Busy;
        }
        if !matches!(answer, Response::Data(_)) {
            // Not sent after all: those chunks went to no one.
            for chunk in counted.drain(..) {
                self.limits.unserve(peer, chunk);
            }
        }
        if !counted.is_empty() {
            self.held.mark_chunks(id, counted);
        }
        if let Response::Data(bytes) = &answer {
            self.guests.insert(peer);
            if matches!(
                request,
                Request::Chunk(_) | Request::Blob(_) | Request::Chunks(_)
            ) {
                self.uploaded_bytes += bytes.len() as u64;
            }
        }
        tracing::trace!("answer {id} to {peer}: {} bytes", wire_len(&answer));
        if self
            .swarm
            .behaviour_mut()
            .transfer
            .send_response(channel, answer)
            .is_err()
        {
            // The stream is gone already (the peer left or it timed out).
            self.held.release(id);
        }
    }

    /// Whether chunk `chunk` may go to `peer` under the chunk cap. A copy
    /// counts while its peer is here and is known to read: one that never
    /// reads (a peer that asks and leaves answers unread) holds no copy to
    /// pass on, and must not keep honest peers waiting for it.
    fn admit_chunk(&mut self, peer: PeerId, chunk: ChunkId) -> bool {
        let (swarm, held) = (&self.swarm, &self.held);
        self.limits
            .admit_chunk(peer, chunk, |p| swarm.is_connected(p) && held.has_read(p))
    }

    /// The answer to `Request::Chunks(ids)` (the library's `bytes`) after
    /// the upload limits: chunks the cap holds back become "busy" one by
    /// one; if the rest exceed the byte rate, the whole answer is "busy".
    /// The chunks sent are added to `counted`.
    fn limit_chunks(
        &mut self,
        peer: PeerId,
        ids: &[ChunkId],
        bytes: &[u8],
        counted: &mut Vec<ChunkId>,
    ) -> Response {
        let Ok(mut answer) = ChunksAnswer::from_bytes(bytes) else {
            // The library made it; it always decodes.
            return Response::Busy;
        };
        let mut sent = 0usize;
        for (entry, id) in answer.0.iter_mut().zip(ids) {
            if let ChunkAnswer::Data(data) = entry {
                if self.admit_chunk(peer, *id) {
                    sent += data.len();
                    counted.push(*id);
                } else {
                    self.deferred_chunks += 1;
                    *entry = ChunkAnswer::Busy;
                }
            }
        }
        if sent > 0 && !self.limits.admit(peer, sent) {
            return Response::Busy;
        }
        Response::Data(answer.to_bytes())
    }

    /// An answer did not reach its peer. If it timed out unread, the peer
    /// stalled; one that stalls again and again is disconnected and refused.
    pub(super) fn answer_failed(
        &mut self,
        peer: PeerId,
        id: InboundRequestId,
        error: &InboundFailure,
    ) {
        // The peer did not get the chunk: it holds no copy to pass on.
        if let Some((peer, chunks)) = self.held.chunks_of(id) {
            for chunk in chunks {
                self.limits.unserve(peer, *chunk);
            }
        }
        let unread = match error {
            InboundFailure::Timeout => true,
            InboundFailure::Io(e) => e.kind() == std::io::ErrorKind::TimedOut,
            _ => false,
        };
        if !unread {
            self.held.release(id);
            return;
        }
        if let Some(refused) = self.held.timed_out(id, std::time::Instant::now()) {
            tracing::warn!(
                "peer {refused} left {} answers unread: disconnected, and refused for {} minutes",
                super::super::held::STALLS_TO_REFUSE,
                super::super::held::REFUSE_FOR.as_secs() / 60
            );
            let _ = self.swarm.disconnect_peer_id(refused);
        } else {
            tracing::debug!("peer {peer} did not read an answer: {error}");
        }
    }

    /// `peer` was turned away for want of room: if another peer holds more
    /// than its share in answers it does not read, that one is disconnected.
    fn make_room(&mut self, peer: PeerId) {
        let now = std::time::Instant::now();
        let Some(greedy) = self.held.crowding(&peer, now) else {
            return;
        };
        let refused = self.held.stall(greedy, now);
        tracing::warn!(
            "disconnected peer {greedy}: it left {} KiB of answers unread while others waited{}",
            self.held.held_by(&greedy) / 1024,
            if refused {
                " (refused for a while)"
            } else {
                ""
            }
        );
        // Its answers go with its connections; until the swarm reports them
        // closed they still count.
        let _ = self.swarm.disconnect_peer_id(greedy);
    }

    /// Closes `connection` if `peer` is refused; true if it was.
    pub(super) fn refuse(&mut self, peer: PeerId, connection: ConnectionId) -> bool {
        if !self.held.refused(&peer, std::time::Instant::now()) {
            return false;
        }
        tracing::debug!("closing a new connection from refused peer {peer}");
        self.swarm.close_connection(connection);
        true
    }
}
