//! The build's chunks to the store: compressed on every core, stored in
//! the order the walk found them (see [`Packer`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use quince_protocol::manifest::{ChunkId, ChunkRef};
use quince_store::Batch;

use crate::build::{BuildError, Tally};

/// A group of chunks handed to a worker: its place in the build's order,
/// and each chunk's address and bytes (raw, then compressed).
type Job<T> = (u64, Group<T>);
type Group<T> = Vec<(ChunkId, T)>;

/// Chunks are handed to workers in groups of up to this many bytes (or
/// [`JOB_CHUNKS`] chunks): one hand-over per small chunk cost more in
/// thread wake-ups than compressing it.
const JOB_BYTES: usize = 256 * 1024;
const JOB_CHUNKS: usize = 64;
/// While the dictionary is being trained, groups with small chunks (which
/// wait for it) and the groups compressed after them (which wait for their
/// turn to be stored) may hold this many bytes; then the walk waits too.
/// Training takes 0.1-0.2 s, in which the walk reads some 10 MiB of small
/// files on this project's machine.
pub(crate) const HOLD_BYTES: usize = 16 << 20;

/// The thread training the dictionary, joined once.
type Trainer<'scope> = std::thread::ScopedJoinHandle<'scope, Option<crate::dict::Dictionary>>;

/// Chunks to the store, compressed on every core but one's share: the
/// walking thread hands new chunks to the workers in groups and stores
/// what they give back, in the order it gathered them. zstd gives the
/// same bytes on any thread, so the store's content (and how its chunks
/// are packed) does not depend on the number of cores or on when the
/// dictionary was ready: a group with a chunk small enough for the
/// dictionary is held back until it is, and groups are stored in order.
pub(crate) struct Packer<'scope, 's> {
    batch: Batch<'s>,
    level: i32,
    jobs: Option<std::sync::mpsc::SyncSender<Job<Vec<u8>>>>,
    done: std::sync::mpsc::Receiver<Job<std::io::Result<Vec<u8>>>>,
    /// The group being gathered, its bytes, and whether it has a small chunk.
    gathering: Vec<(ChunkId, Vec<u8>)>,
    gathered: usize,
    gathered_small: bool,
    /// Groups numbered so far, handed to workers and not yet back, and
    /// stored.
    numbered: u64,
    in_flight: u64,
    stored: u64,
    /// Groups waiting for the dictionary, in order, and their raw bytes.
    held: std::collections::VecDeque<Job<Vec<u8>>>,
    held_bytes: usize,
    /// Groups compressed out of turn, waiting for those before them, and
    /// their bytes.
    early: BTreeMap<u64, Group<std::io::Result<Vec<u8>>>>,
    early_bytes: usize,
    /// The dictionary, set once `trainer` is joined.
    dictionary: &'scope OnceLock<Option<crate::dict::Dictionary>>,
    trainer: Option<Trainer<'scope>>,
    hold_bytes: usize,
    workers: Vec<std::thread::ScopedJoinHandle<'scope, ()>>,
}

impl<'scope, 's> Packer<'scope, 's> {
    pub(crate) fn start(
        scope: &'scope std::thread::Scope<'scope, '_>,
        batch: Batch<'s>,
        level: i32,
        dictionary: &'scope OnceLock<Option<crate::dict::Dictionary>>,
        trainer: Trainer<'scope>,
        hold_bytes: usize,
    ) -> Packer<'scope, 's> {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        // Bounded: at most two groups (1 MiB and a bit each at most) wait per worker.
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job<Vec<u8>>>(2 * n);
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        let (results, done) = std::sync::mpsc::channel();
        let workers = (0..n)
            .map(|_| {
                let (queue, results) = (queue.clone(), results.clone());
                scope.spawn(move || loop {
                    let job = match queue.lock() {
                        Ok(q) => q.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, group)) = job else { return };
                    // A group with small chunks is handed over only once
                    // the dictionary is known (`Packer::gather`).
                    let prepared = dictionary.get().and_then(Option::as_ref);
                    let compressed = group
                        .into_iter()
                        .map(|(id, raw)| {
                            let compressed = match prepared {
                                Some(d) if raw.len() < crate::dict::DICT_CHUNK_BYTES => {
                                    quince_store::compress_chunk_with(&raw, &d.prepared)
                                }
                                _ => quince_store::compress_chunk(&raw, level),
                            };
                            (id, compressed)
                        })
                        .collect();
                    if results.send((seq, compressed)).is_err() {
                        return;
                    }
                })
            })
            .collect();
        Packer {
            batch,
            level,
            jobs: Some(jobs),
            done,
            gathering: Vec::new(),
            gathered: 0,
            gathered_small: false,
            numbered: 0,
            in_flight: 0,
            stored: 0,
            held: std::collections::VecDeque::new(),
            held_bytes: 0,
            early: BTreeMap::new(),
            early_bytes: 0,
            dictionary,
            trainer: Some(trainer),
            hold_bytes,
            workers,
        }
    }

    /// Hands `raw` over (if the store lacks it) and returns its address.
    pub(crate) fn put(
        &mut self,
        raw: Vec<u8>,
        stats: &mut Tally<'_>,
    ) -> Result<ChunkId, BuildError> {
        let id = quince_store::chunk_id(&raw);
        if self.batch.claim(&id) {
            stats.stats.new_chunks += 1;
            self.gathered += raw.len();
            self.gathered_small |= raw.len() < crate::dict::DICT_CHUNK_BYTES;
            self.gathering.push((id, raw));
            if self.gathered >= JOB_BYTES || self.gathering.len() >= JOB_CHUNKS {
                self.gather()?;
            }
        }
        if self.trainer.as_ref().is_some_and(|t| t.is_finished()) {
            self.trained(stats)?;
        }
        while let Ok(result) = self.done.try_recv() {
            self.store(result, stats)?;
        }
        // Bounded: what waits for the dictionary, or for a group before it.
        if self.held_bytes + self.early_bytes > self.hold_bytes {
            self.trained(stats)?;
        }
        self.catch_up(stats)?;
        Ok(id)
    }

    /// Numbers the group gathered so far and hands it to the workers, or
    /// holds it back while it needs the dictionary and that is not ready.
    fn gather(&mut self) -> Result<(), BuildError> {
        if self.gathering.is_empty() {
            return Ok(());
        }
        let group = std::mem::take(&mut self.gathering);
        let job = (self.numbered, group);
        self.numbered += 1;
        if self.gathered_small && self.dictionary.get().is_none() {
            self.held_bytes += self.gathered;
            self.held.push_back(job);
        } else {
            self.send(job)?;
        }
        self.gathered = 0;
        self.gathered_small = false;
        Ok(())
    }

    fn send(&mut self, job: Job<Vec<u8>>) -> Result<(), BuildError> {
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        jobs.send(job).map_err(|_| stopped())?;
        self.in_flight += 1;
        Ok(())
    }

    /// Bounded: a slow group holds back at most this many behind it.
    fn catch_up(&mut self, stats: &mut Tally<'_>) -> Result<(), BuildError> {
        while self.in_flight > 4 * self.workers.len() as u64 {
            let result = self.done.recv().map_err(|_| stopped())?;
            self.store(result, stats)?;
        }
        Ok(())
    }

    /// Waits for the dictionary (if it is still being trained), then hands
    /// over the groups that waited for it.
    fn trained(&mut self, stats: &mut Tally<'_>) -> Result<(), BuildError> {
        let Some(trainer) = self.trainer.take() else {
            return Ok(());
        };
        let dictionary = trainer.join().map_err(|_| BuildError::Io {
            path: PathBuf::from("."),
            source: std::io::Error::other("the dictionary's training thread stopped"),
        })?;
        // Set once, here, before any group that uses it is handed over.
        let _ = self.dictionary.set(dictionary);
        while let Some(job) = self.held.pop_front() {
            self.held_bytes -= job.1.iter().map(|(_, raw)| raw.len()).sum::<usize>();
            self.send(job)?;
            self.catch_up(stats)?;
        }
        Ok(())
    }

    /// Takes a worker's result and stores every group now next in order.
    fn store(
        &mut self,
        (seq, group): Job<std::io::Result<Vec<u8>>>,
        stats: &mut Tally<'_>,
    ) -> Result<(), BuildError> {
        self.in_flight -= 1;
        self.early_bytes += group_bytes(&group);
        self.early.insert(seq, group);
        while let Some(group) = self.early.remove(&self.stored) {
            self.stored += 1;
            self.early_bytes -= group_bytes(&group);
            for (id, compressed) in group {
                let compressed = compressed.map_err(|e| BuildError::Io {
                    path: PathBuf::from(format!("chunk {id}")),
                    source: e,
                })?;
                stats.stats.new_compressed_bytes += compressed.len() as u64;
                self.batch.put_claimed(&id, &compressed)?;
            }
        }
        Ok(())
    }

    /// Waits for the workers, stores the dictionary after every chunk,
    /// then makes it all durable. Returns the dictionary's address.
    pub(crate) fn finish(mut self, stats: &mut Tally<'_>) -> Result<Option<ChunkRef>, BuildError> {
        self.gather()?;
        self.trained(stats)?;
        self.jobs = None;
        while self.stored < self.numbered {
            let result = self.done.recv().map_err(|_| stopped())?;
            self.store(result, stats)?;
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        let mut trained = None;
        if let Some(d) = self.dictionary.get().and_then(Option::as_ref) {
            // Stored like any chunk, without a dictionary of its own.
            let (id, _, _) = self.batch.put_chunk(&d.raw, self.level)?;
            trained = Some(ChunkRef {
                id,
                size: d.raw.len() as u32,
            });
            stats.stats.dictionary_bytes = d.raw.len() as u64;
            stats.stats.dictionary_reused = d.reused;
        }
        self.batch.finish()?;
        Ok(trained)
    }
}

/// The bytes a compressed group holds.
fn group_bytes(group: &Group<std::io::Result<Vec<u8>>>) -> usize {
    group
        .iter()
        .map(|(_, c)| c.as_ref().map_or(0, Vec::len))
        .sum()
}

fn stopped() -> BuildError {
    BuildError::Io {
        path: PathBuf::from("."),
        source: std::io::Error::other("a compression thread stopped"),
    }
}
