//! What a node serves: the apps it holds (each a tlog-tiles log folder) and its
//! content store. Every installed copy is a library, so every installed copy
//! seeds. Answers are plain bytes; the asking peer verifies them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use quince_protocol::codec::Encode as _;
use quince_protocol::limits::MAX_PATCH_BYTES;
use quince_protocol::root::AppId;
use quince_protocol::tile;
use quince_protocol::wire::{
    ChunkAnswer, ChunksAnswer, Request, Response, MAX_CHUNKS_ANSWER_BYTES, MAX_WIRE_RESPONSE_BYTES,
};
use quince_store::Store;

/// File in an app's log folder holding proof that its signers equivocated
/// (written by a witness or client that found it; served to anyone who asks).
pub const EVIDENCE_FILE: &str = "equivocation";

/// Anything that answers transfer requests (the [`Library`]; tests add hostile ones).
pub trait Serve: Send + Sync + 'static {
    /// Answers one request.
    fn answer(&self, request: &Request) -> Response;
}

impl Serve for Library {
    fn answer(&self, request: &Request) -> Response {
        Library::answer(self, request)
    }
}

/// The apps and content a node serves. Cheap to clone; shared with the node.
#[derive(Debug, Clone)]
pub struct Library {
    inner: Arc<RwLock<Inner>>,
}

#[derive(Debug)]
struct Inner {
    logs: HashMap<AppId, PathBuf>,
    store: Store,
}

impl Library {
    /// A library serving content from `store`.
    pub fn new(store: Store) -> Library {
        Library {
            inner: Arc::new(RwLock::new(Inner {
                logs: HashMap::new(),
                store,
            })),
        }
    }

    /// Serves `app` from the log folder `log`.
    pub fn add_app(&self, app: AppId, log: PathBuf) {
        if let Ok(mut inner) = self.inner.write() {
            inner.logs.insert(app, log);
        }
    }

    /// The apps served.
    pub fn apps(&self) -> Vec<AppId> {
        self.inner
            .read()
            .map(|i| i.logs.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The store.
    pub fn store(&self) -> Store {
        match self.inner.read() {
            Ok(i) => i.store.clone(),
            Err(poisoned) => poisoned.into_inner().store.clone(),
        }
    }

    /// Answers one request.
    pub fn answer(&self, request: &Request) -> Response {
        let Ok(inner) = self.inner.read() else {
            return Response::Busy;
        };
        let file = |app: &AppId, rel: &str| -> Response {
            match inner.logs.get(app) {
                // `rel` is a fixed name or a path the wire decoder already parsed as a tile path.
                Some(dir) => read_limited(&dir.join(rel)),
                None => Response::NotFound,
            }
        };
        let data = |r: Result<Vec<u8>, quince_store::StoreError>| match r {
            Ok(bytes) => Response::Data(bytes),
            Err(_) => Response::NotFound,
        };
        match request {
            Request::Root(app) => file(app, "root"),
            Request::Checkpoint(app) => file(app, "checkpoint"),
            Request::Tile(app, path) => file(app, path),
            Request::Manifest(hash) => data(inner.store.manifest(hash)),
            Request::Deltas(hash) => match inner.store.deltas(hash) {
                Ok(Some(bytes)) => Response::Data(bytes),
                _ => Response::NotFound,
            },
            Request::Chunk(id) => data(inner.store.compressed(id)),
            Request::Chunks(ids) => Response::Data(chunks_answer(&inner.store, ids).to_bytes()),
            Request::Blob(id) => data(inner.store.blob(
                id,
                MAX_PATCH_BYTES.min(MAX_WIRE_RESPONSE_BYTES as u64) as usize,
            )),
            Request::Transcript(app, size) => {
                file(app, &quince_protocol::tile::transcript_path(*size))
            }
            Request::Evidence(app) => file(app, EVIDENCE_FILE),
            Request::Rotation(app, after) => match inner.logs.get(app) {
                Some(dir) => match first_rotation_after(dir, *after) {
                    Some(size) => read_limited(&dir.join(tile::rotation_path(size))),
                    None => Response::NotFound,
                },
                None => Response::NotFound,
            },
            // Announcements go to the node's subscribers; nothing to send back.
            Request::Announce(..) => Response::NotFound,
        }
    }
}

/// The chunks `ids` from `store`, in order, until the answer holds
/// [`MAX_CHUNKS_ANSWER_BYTES`]; the rest are answered "busy" (asked again).
fn chunks_answer(store: &Store, ids: &[quince_protocol::manifest::ChunkId]) -> ChunksAnswer {
    let mut total = 0usize;
    let mut full = false;
    // One reader for the lot: small chunks fetched together were usually
    // stored together, in one pack it keeps open.
    let mut reader = store.reader();
    ChunksAnswer(
        ids.iter()
            .map(|id| {
                if full {
                    return ChunkAnswer::Busy;
                }
                match reader.compressed(id) {
                    Ok(bytes) if total + bytes.len() <= MAX_CHUNKS_ANSWER_BYTES => {
                        total += bytes.len();
                        ChunkAnswer::Data(bytes)
                    }
                    Ok(_) => {
                        full = true;
                        ChunkAnswer::Busy
                    }
                    Err(_) => ChunkAnswer::NotFound,
                }
            })
            .collect(),
    )
}

/// The tree size of the first rotation checkpoint above `after` in the log
/// folder `dir` (the folder's names are read, at most a bounded number).
fn first_rotation_after(dir: &std::path::Path, after: u64) -> Option<u64> {
    /// More rotation checkpoints than any app will have; a folder with more
    /// is read only this far.
    const MAX_ROTATIONS_READ: usize = 4096;
    let names: Vec<String> = std::fs::read_dir(dir.join(tile::ROTATIONS_DIR))
        .ok()?
        .take(MAX_ROTATIONS_READ)
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    tile::first_rotation_after(names.iter().map(String::as_str), after)
}

fn read_limited(path: &std::path::Path) -> Response {
    match quince_store::durable::read_bounded(path, MAX_WIRE_RESPONSE_BYTES) {
        Ok(bytes) => Response::Data(bytes),
        Err(_) => Response::NotFound,
    }
}
