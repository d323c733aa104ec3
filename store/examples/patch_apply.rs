//! The client's side of a segmented patch, for measuring its memory
//! (`bench/patch.sh` runs it under `/usr/bin/time`): a store holding an
//! old file of MIB MiB as 1 MiB chunks, a new file with 4 KiB changed in
//! the middle, and the segmented patch between them; then, in a process
//! of its own, the new file rebuilt into the store from the old file's
//! chunks and the patch, as an update does (`Store::put_patched`).
//!
//! ```text
//! cargo run --release -p quince-store --example patch_apply -- prepare DIR MIB
//! cargo run --release -p quince-store --example patch_apply -- apply DIR
//! ```
//!
//! Neither step holds a file whole: the files are written, read and
//! patched by stretches.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use quince_protocol::hash::Sha256Stream;
use quince_protocol::manifest::{ChunkId, ChunkRef};
use quince_store::{FileRanges, Store, StoredFile};

const CHUNK: usize = 1 << 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [what, dir, mib] if what == "prepare" => prepare(Path::new(dir), mib.parse()?),
        [what, dir] if what == "apply" => apply(Path::new(dir)),
        _ => Err("usage: patch_apply prepare DIR MIB | apply DIR".into()),
    }
}

/// A file on disk, read by stretches.
struct OnDisk {
    path: PathBuf,
    len: u64,
}

impl FileRanges for OnDisk {
    fn len(&self) -> u64 {
        self.len
    }

    fn read(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut out = vec![0; len];
        file.read_exact(&mut out)?;
        Ok(out)
    }
}

/// Noise from a small xorshift generator (the same bytes every run).
fn noise(state: &mut u64, out: &mut [u8]) {
    for b in out.iter_mut() {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *b = (*state >> 24) as u8;
    }
}

fn prepare(dir: &Path, mib: usize) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let store = Store::open(&dir.join("store"))?;
    let (old_path, new_path) = (dir.join("old"), dir.join("new"));
    let (mut old, mut new) = (File::create(&old_path)?, File::create(&new_path)?);
    let (mut state, mut change) = (19u64, 7u64);
    let mut piece = vec![0u8; CHUNK];
    let mut old_list = Vec::new();
    let mut new_list = Vec::new();
    let mut sha = Sha256Stream::default();
    for i in 0..mib {
        noise(&mut state, &mut piece);
        old.write_all(&piece)?;
        let (id, _, _) = store.put_chunk(&piece, 3)?;
        old_list.push(ChunkRef {
            id,
            size: CHUNK as u32,
        });
        if i == mib / 2 {
            noise(&mut change, &mut piece[..4096]);
        }
        new.write_all(&piece)?;
        sha.update(&piece);
        new_list.push(ChunkRef {
            id: quince_store::chunk_id(&piece),
            size: CHUNK as u32,
        });
    }
    drop((old, new));
    let len = (mib * CHUNK) as u64;
    let old_file = OnDisk {
        path: old_path.clone(),
        len,
    };
    let new_file = OnDisk {
        path: new_path.clone(),
        len,
    };
    let patch = quince_store::make_segmented_patch(&old_file, &new_file, &|_, _| Some(0), 9)?;
    std::fs::write(dir.join("patch"), &patch)?;
    std::fs::write(dir.join("old.chunks"), encode(&old_list))?;
    std::fs::write(dir.join("new.chunks"), encode(&new_list))?;
    std::fs::write(dir.join("new.sha256"), sha.finish().0)?;
    std::fs::remove_file(old_path)?;
    std::fs::remove_file(new_path)?;
    println!("prepared: 2 x {mib} MiB, patch {} bytes", patch.len());
    Ok(())
}

fn apply(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(&dir.join("store"))?;
    let old_list = decode(&std::fs::read(dir.join("old.chunks"))?);
    let new_list = decode(&std::fs::read(dir.join("new.chunks"))?);
    let sha: [u8; 32] = std::fs::read(dir.join("new.sha256"))?
        .try_into()
        .map_err(|_| "new.sha256 is not 32 bytes")?;
    let patch = std::fs::read(dir.join("patch"))?;
    let size: u64 = new_list.iter().map(|c| u64::from(c.size)).sum();
    let old = StoredFile::new(&store, &old_list);
    let done = store.put_patched(
        "new",
        &old,
        &patch,
        (&new_list, size, &quince_protocol::Hash(sha)),
        3,
    )?;
    println!(
        "applied: {} new chunks, {} bytes, from a {}-byte patch",
        done.new_chunks,
        done.new_bytes,
        patch.len()
    );
    Ok(())
}

fn encode(list: &[ChunkRef]) -> Vec<u8> {
    list.iter()
        .flat_map(|c| c.id.0.into_iter().chain(c.size.to_le_bytes()))
        .collect()
}

fn decode(bytes: &[u8]) -> Vec<ChunkRef> {
    bytes
        .chunks_exact(36)
        .map(|c| ChunkRef {
            id: ChunkId(c[..32].try_into().unwrap_or([0; 32])),
            size: u32::from_le_bytes(c[32..].try_into().unwrap_or([0; 4])),
        })
        .collect()
}
