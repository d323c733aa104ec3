//! The transfer protocol's messages between peers: what one peer asks another
//! for (an app's root, checkpoint, tiles and entry bundles, manifests, delta
//! indexes, chunks and patches) and the answer. Encoded with the bounded codec;
//! the network layer (`updater`) frames them and caps their size before they
//! reach these decoders. Nothing received this way is trusted until it is
//! verified against the app id, a signed checkpoint or a content address.

use crate::codec::{self, Decode, DecodeError, Encode, Reader};
use crate::hash::Hash;
use crate::limits::{MAX_COMPRESSED_CHUNK_BYTES, MAX_TILE_PATH_BYTES};
use crate::manifest::ChunkId;
use crate::root::AppId;

/// Largest request on the wire (an announcement carries a signed checkpoint).
pub const MAX_WIRE_REQUEST_BYTES: usize = 16 * 1024;
/// Largest checkpoint note in an announcement.
pub const MAX_ANNOUNCED_NOTE_BYTES: usize = 8 * 1024;
/// Largest response on the wire (a manifest of many thousand files fits).
pub const MAX_WIRE_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Most chunks asked for in one [`Request::Chunks`].
pub const MAX_CHUNKS_PER_REQUEST: usize = 64;
/// Most chunk bytes (compressed) a peer puts in one answer to
/// [`Request::Chunks`]; the chunks past it are answered [`ChunkAnswer::Busy`].
/// A client asks for at most [`MAX_CHUNK_BYTES`](crate::limits::MAX_CHUNK_BYTES)
/// of raw chunk bytes at once, so an honest request is never cut short.
pub const MAX_CHUNKS_ANSWER_BYTES: usize = MAX_COMPRESSED_CHUNK_BYTES;

/// A request to a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// The app's first root (its hash is the app id).
    Root(AppId),
    /// The app's newest signed checkpoint.
    Checkpoint(AppId),
    /// A tile or entry bundle of the app's log, by its tlog-tiles path.
    Tile(AppId, String),
    /// A manifest, by SHA-256.
    Manifest(Hash),
    /// The delta index leading to the release with this manifest.
    Deltas(Hash),
    /// A compressed chunk, by BLAKE3 address.
    Chunk(ChunkId),
    /// A patch, by BLAKE3 address.
    Blob(ChunkId),
    /// Several compressed chunks at once (1 to [`MAX_CHUNKS_PER_REQUEST`],
    /// no id twice): one request and answer for many small files' chunks
    /// instead of one each. Answered with [`ChunksAnswer`] as the data.
    Chunks(Vec<ChunkId>),
    /// A push: "here is a new checkpoint of this app". Answered `NotFound`
    /// (nothing to return); the receiver verifies it before acting on it.
    Announce(AppId, Vec<u8>),
    /// Proof that the app's signers equivocated, if the peer holds one.
    Evidence(AppId),
    /// The signing transcript (JSON) of the checkpoint of this tree size.
    Transcript(AppId, u64),
    /// The first signer rotation after a tree size: the checkpoint signed by
    /// the signers in force before it that first contains a rotation entry
    /// beyond this size (the smallest such checkpoint the peer holds). A
    /// client that missed rotations walks them with this, one at a time.
    Rotation(AppId, u64),
}

/// A peer's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// The bytes asked for (not yet verified by anyone).
    Data(Vec<u8>),
    /// The peer does not have it.
    NotFound,
    /// The peer is at its upload limit; ask someone else.
    Busy,
}

impl Encode for Request {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Request::Root(app) => {
                out.push(0);
                out.extend_from_slice(&app.0);
            }
            Request::Checkpoint(app) => {
                out.push(1);
                out.extend_from_slice(&app.0);
            }
            Request::Tile(app, path) => {
                out.push(2);
                out.extend_from_slice(&app.0);
                codec::put_bytes_u8(out, path.as_bytes());
            }
            Request::Manifest(h) => {
                out.push(3);
                out.extend_from_slice(&h.0);
            }
            Request::Deltas(h) => {
                out.push(4);
                out.extend_from_slice(&h.0);
            }
            Request::Chunk(id) => {
                out.push(5);
                out.extend_from_slice(&id.0);
            }
            Request::Blob(id) => {
                out.push(6);
                out.extend_from_slice(&id.0);
            }
            Request::Announce(app, note) => {
                out.push(7);
                out.extend_from_slice(&app.0);
                codec::put_bytes_u16(out, note);
            }
            Request::Evidence(app) => {
                out.push(8);
                out.extend_from_slice(&app.0);
            }
            Request::Transcript(app, size) => {
                out.push(9);
                out.extend_from_slice(&app.0);
                out.extend_from_slice(&size.to_be_bytes());
            }
            Request::Rotation(app, after) => {
                out.push(10);
                out.extend_from_slice(&app.0);
                out.extend_from_slice(&after.to_be_bytes());
            }
            Request::Chunks(ids) => {
                out.push(11);
                // At most MAX_CHUNKS_PER_REQUEST (64): fits a byte.
                out.push(ids.len() as u8);
                for id in ids {
                    out.extend_from_slice(&id.0);
                }
            }
        }
    }
}

impl Decode for Request {
    const WHAT: &'static str = "request";

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        codec::check_len("request", r.remaining(), MAX_WIRE_REQUEST_BYTES)?;
        Ok(match r.u8("request kind")? {
            0 => Request::Root(AppId(r.array("app id")?)),
            1 => Request::Checkpoint(AppId(r.array("app id")?)),
            2 => {
                let app = AppId(r.array("app id")?);
                let path = r.str_u8(MAX_TILE_PATH_BYTES, "tile path")?;
                crate::tile::TilePath::parse(path)?;
                Request::Tile(app, path.to_string())
            }
            3 => Request::Manifest(Hash(r.array("manifest hash")?)),
            4 => Request::Deltas(Hash(r.array("manifest hash")?)),
            5 => Request::Chunk(ChunkId(r.array("chunk id")?)),
            6 => Request::Blob(ChunkId(r.array("blob id")?)),
            7 => Request::Announce(
                AppId(r.array("app id")?),
                r.bytes_u16(MAX_ANNOUNCED_NOTE_BYTES, "announced note")?
                    .to_vec(),
            ),
            8 => Request::Evidence(AppId(r.array("app id")?)),
            9 => Request::Transcript(AppId(r.array("app id")?), r.u64("tree size")?),
            10 => Request::Rotation(AppId(r.array("app id")?), r.u64("tree size")?),
            11 => {
                let n = usize::from(r.u8("chunk count")?);
                if n == 0 || n > MAX_CHUNKS_PER_REQUEST {
                    return Err(DecodeError::invalid(
                        "chunk count",
                        format!("{n} (1 to {MAX_CHUNKS_PER_REQUEST})"),
                    ));
                }
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = ChunkId(r.array("chunk id")?);
                    if ids.contains(&id) {
                        return Err(DecodeError::invalid("chunk ids", format!("{id} twice")));
                    }
                    ids.push(id);
                }
                Request::Chunks(ids)
            }
            other => return Err(DecodeError::invalid("request kind", format!("{other}"))),
        })
    }
}

impl Encode for Response {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Response::Data(bytes) => {
                out.push(0);
                out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
                out.extend_from_slice(bytes);
            }
            Response::NotFound => out.push(1),
            Response::Busy => out.push(2),
        }
    }
}

impl Decode for Response {
    const WHAT: &'static str = "response";

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8("response kind")? {
            0 => Response::Data(
                r.bytes_u32(MAX_WIRE_RESPONSE_BYTES, "response data")?
                    .to_vec(),
            ),
            1 => Response::NotFound,
            2 => Response::Busy,
            other => return Err(DecodeError::invalid("response kind", format!("{other}"))),
        })
    }
}

/// One chunk's part of the answer to [`Request::Chunks`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkAnswer {
    /// The compressed chunk (not yet verified by anyone).
    Data(Vec<u8>),
    /// The peer does not have it.
    NotFound,
    /// Not sent now (upload limits, or the answer was full); ask again.
    Busy,
}

/// The answer to [`Request::Chunks`], carried as [`Response::Data`]: one
/// entry per chunk asked for, in the order asked.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ChunksAnswer(pub Vec<ChunkAnswer>);

impl Encode for ChunksAnswer {
    fn encode(&self, out: &mut Vec<u8>) {
        // At most MAX_CHUNKS_PER_REQUEST entries: fits a byte.
        out.push(self.0.len() as u8);
        for entry in &self.0 {
            match entry {
                ChunkAnswer::Data(bytes) => {
                    out.push(0);
                    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
                    out.extend_from_slice(bytes);
                }
                ChunkAnswer::NotFound => out.push(1),
                ChunkAnswer::Busy => out.push(2),
            }
        }
    }
}

impl Decode for ChunksAnswer {
    const WHAT: &'static str = "chunks answer";

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = usize::from(r.u8("chunk count")?);
        if n > MAX_CHUNKS_PER_REQUEST {
            return Err(DecodeError::invalid(
                "chunk count",
                format!("{n} (at most {MAX_CHUNKS_PER_REQUEST})"),
            ));
        }
        let mut entries = Vec::with_capacity(n);
        let mut total = 0usize;
        for _ in 0..n {
            entries.push(match r.u8("chunk answer kind")? {
                0 => {
                    let bytes = r.bytes_u32(MAX_COMPRESSED_CHUNK_BYTES, "chunk")?;
                    total += bytes.len();
                    codec::check_len("chunks answer", total, MAX_CHUNKS_ANSWER_BYTES)?;
                    ChunkAnswer::Data(bytes.to_vec())
                }
                1 => ChunkAnswer::NotFound,
                2 => ChunkAnswer::Busy,
                other => {
                    return Err(DecodeError::invalid(
                        "chunk answer kind",
                        format!("{other}"),
                    ))
                }
            });
        }
        Ok(ChunksAnswer(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_bad_ones_are_refused() {
        let app = AppId([3; 32]);
        for req in [
            Request::Root(app),
            Request::Checkpoint(app),
            Request::Tile(app, "tile/0/x001/002.p/3".into()),
            Request::Manifest(Hash([1; 32])),
            Request::Deltas(Hash([1; 32])),
            Request::Chunk(ChunkId([2; 32])),
            Request::Blob(ChunkId([2; 32])),
            Request::Announce(app, b"note".to_vec()),
            Request::Evidence(app),
            Request::Transcript(app, 7),
            Request::Rotation(app, 9),
            Request::Chunks(vec![ChunkId([2; 32]), ChunkId([3; 32])]),
        ] {
            assert_eq!(Request::from_bytes(&req.to_bytes()).unwrap(), req);
        }
        for resp in [
            Response::Data(vec![1, 2, 3]),
            Response::NotFound,
            Response::Busy,
        ] {
            assert_eq!(Response::from_bytes(&resp.to_bytes()).unwrap(), resp);
        }
        let bad_path = Request::Tile(app, "../../etc/passwd".into()).to_bytes();
        assert!(Request::from_bytes(&bad_path).is_err());
        assert!(Request::from_bytes(&[12]).is_err());
        let mut trailing = Request::Root(app).to_bytes();
        trailing.push(0);
        assert!(Request::from_bytes(&trailing).is_err());
        let mut huge = vec![0u8];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            Response::from_bytes(&huge),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn chunk_lists_are_bounded_and_their_answers_round_trip() {
        let ids = |n: usize| (0..n).map(|i| ChunkId([i as u8; 32])).collect::<Vec<_>>();
        let full = Request::Chunks(ids(MAX_CHUNKS_PER_REQUEST));
        assert_eq!(Request::from_bytes(&full.to_bytes()).unwrap(), full);
        // None, too many, or one id twice: refused.
        assert!(Request::from_bytes(&[11, 0]).is_err());
        let mut too_many = vec![11, (MAX_CHUNKS_PER_REQUEST + 1) as u8];
        for id in ids(MAX_CHUNKS_PER_REQUEST + 1) {
            too_many.extend_from_slice(&id.0);
        }
        assert!(Request::from_bytes(&too_many).is_err());
        let twice = Request::Chunks(vec![ChunkId([5; 32]), ChunkId([5; 32])]).to_bytes();
        let err = Request::from_bytes(&twice).unwrap_err().to_string();
        assert!(err.contains("twice"), "{err}");
        // A count that promises more ids than the request holds.
        assert!(Request::from_bytes(&[11, 2, 0]).is_err());

        let answer = ChunksAnswer(vec![
            ChunkAnswer::Data(vec![1, 2, 3]),
            ChunkAnswer::NotFound,
            ChunkAnswer::Busy,
        ]);
        assert_eq!(
            ChunksAnswer::from_bytes(&answer.to_bytes()).unwrap(),
            answer
        );
        // An answer carrying more than one answer's worth of chunk bytes.
        let big = vec![0u8; MAX_COMPRESSED_CHUNK_BYTES];
        let over = ChunksAnswer(vec![ChunkAnswer::Data(big.clone()), ChunkAnswer::Data(big)]);
        assert!(matches!(
            ChunksAnswer::from_bytes(&over.to_bytes()),
            Err(DecodeError::TooLong { .. })
        ));
        assert!(ChunksAnswer::from_bytes(&[1, 3]).is_err());
        assert!(ChunksAnswer::from_bytes(&[(MAX_CHUNKS_PER_REQUEST + 1) as u8]).is_err());
    }
}
