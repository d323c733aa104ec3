//! The release manifest: every file (path, executable bit, size, SHA-256, and
//! its content-defined chunks), directory and symlink of a release, in one
//! canonical binary encoding, so the same tree always gives the same bytes and
//! the release record can bind them by hash.
//!
//! [`Manifest::verify`] is the only way to get a [`VerifiedManifest`]: it checks
//! the bytes against the hash from a verified release record, then decodes them
//! strictly (sorted unique paths, every parent listed, chunk sizes adding up, no
//! entry under a symlink, link targets inside the release). The unpacker in
//! `quince-store` accepts nothing else. The [`DeltaIndex`] lists optional zstd
//! patches between releases; it is not signed, because every patched file is
//! checked against the manifest's hash after rebuilding.

use std::collections::HashMap;
use std::fmt;

use crate::codec::{self, Decode, DecodeError, Encode, Reader};
use crate::hash::Hash;
use crate::limits::{
    MAX_CHUNK_BYTES, MAX_DELTAS, MAX_DICTIONARIES, MAX_DICTIONARY_BYTES, MAX_FILE_BYTES,
    MAX_MANIFEST_BYTES, MAX_MANIFEST_ENTRIES, MAX_PATCH_BYTES, MAX_PATH_BYTES, MAX_PLATFORMS,
    MAX_PLATFORM_BYTES,
};
use crate::path::{self, RelPath};
use crate::record::Platform;

const MANIFEST_MAGIC: &[u8; 8] = b"QMANIF\x00\x01";
/// A manifest that names zstd dictionaries (see [`Manifest::dictionaries`]):
/// version 1's layout with the dictionaries after the entries. A manifest
/// without dictionaries is always written as version 1.
const MANIFEST_MAGIC_2: &[u8; 8] = b"QMANIF\x00\x02";
/// A manifest with files stored inside a shared chunk (see
/// [`EntryKind::File::shared_at`]): version 2's layout, its dictionary
/// count always present (it may be 0), and entries of kind 3 for those
/// files. Written only when at least one file is shared.
const MANIFEST_MAGIC_3: &[u8; 8] = b"QMANIF\x00\x03";
const DELTA_MAGIC: &[u8; 8] = b"QDELTA\x00\x01";

/// A chunk's address: BLAKE3 of its raw bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkId(pub [u8; 32]);

impl ChunkId {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChunkId({})", &self.to_hex()[..16])
    }
}

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// One chunk of a file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ChunkRef {
    /// Its address.
    pub id: ChunkId,
    /// Its raw size (1..=MAX_CHUNK_BYTES); decompression is capped at this.
    pub size: u32,
}

/// What an entry is.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file.
    File {
        /// True for mode 0755, false for 0644.
        executable: bool,
        /// Size in bytes.
        size: u64,
        /// SHA-256 of the content.
        sha256: Hash,
        /// Its chunks, in order; their sizes add up to `size`. For a file
        /// with [`shared_at`](EntryKind::File::shared_at), exactly one
        /// chunk, which holds more than this file.
        chunks: Vec<ChunkRef>,
        /// `Some(offset)`: the file is the `size` bytes at `offset` of its
        /// one chunk, which several small files share (so that they are
        /// compressed together, as in a tarball). `None`: the chunks are
        /// the file's alone.
        shared_at: Option<u32>,
    },
    /// A symbolic link to a relative target inside the release.
    Symlink {
        /// The target, as written in the link.
        target: String,
    },
}

impl EntryKind {
    /// A file inside a chunk several small files share.
    pub fn is_shared(&self) -> bool {
        matches!(
            self,
            EntryKind::File {
                shared_at: Some(_),
                ..
            }
        )
    }
}

/// One entry of a manifest.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    /// Where it goes.
    pub path: RelPath,
    /// Which of the manifest's platforms it is for (empty: all of them).
    pub platforms: Vec<Platform>,
    /// What it is.
    pub kind: EntryKind,
}

impl Entry {
    /// True if the entry is part of the install for `platform`.
    pub fn is_for(&self, platform: &Platform) -> bool {
        self.platforms.is_empty() || self.platforms.contains(platform)
    }
}

/// A release's contents. Build one with [`Manifest::new`] (which checks it),
/// encode it with [`Encode`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Manifest {
    platforms: Vec<Platform>,
    entries: Vec<Entry>,
    dictionaries: Vec<ChunkRef>,
}

/// A manifest whose bytes matched the hash a verified release record gave.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VerifiedManifest {
    manifest: Manifest,
    hash: Hash,
}

impl Manifest {
    /// A manifest; entries are sorted (by path, then platform set) and every rule is checked.
    pub fn new(platforms: Vec<Platform>, entries: Vec<Entry>) -> Result<Manifest, DecodeError> {
        let mut m = Manifest {
            platforms,
            entries: Vec::new(),
            dictionaries: Vec::new(),
        };
        let mut keyed: Vec<(u16, Entry)> = entries
            .into_iter()
            .map(|e| (m.mask(&e.platforms), e))
            .collect();
        keyed.sort_by(|a, b| (&a.1.path, a.0).cmp(&(&b.1.path, b.0)));
        m.entries = keyed.into_iter().map(|(_, e)| e).collect();
        m.check()?;
        Ok(m)
    }

    /// The same manifest naming the zstd `dictionaries` (sorted here) that
    /// some of its chunks were compressed with. They are fetched, kept and
    /// served like chunks (stored compressed without a dictionary, addressed
    /// by the BLAKE3 of their raw bytes); a chunk's own address still
    /// decides whether it is right, so a wrong dictionary can only fail it.
    pub fn with_dictionaries(
        mut self,
        mut dictionaries: Vec<ChunkRef>,
    ) -> Result<Manifest, DecodeError> {
        dictionaries.sort_by_key(|d| d.id);
        self.dictionaries = dictionaries;
        self.check()?;
        Ok(self)
    }

    /// The zstd dictionaries chunks of this release may need (empty for
    /// most releases: only many small files make one worth its size).
    pub fn dictionaries(&self) -> &[ChunkRef] {
        &self.dictionaries
    }

    /// Every chunk an install on `platform` reads: its dictionaries first,
    /// then its files' chunks in order (repeats included: a shared chunk
    /// comes once for each file in it).
    pub fn chunks_for<'a>(&'a self, platform: &'a Platform) -> impl Iterator<Item = ChunkRef> + 'a {
        self.dictionaries.iter().copied().chain(
            self.entries_for(platform)
                .filter_map(|e| match &e.kind {
                    EntryKind::File { chunks, .. } => Some(chunks.iter().copied()),
                    _ => None,
                })
                .flatten(),
        )
    }

    /// Every chunk of every platform, dictionaries first.
    pub fn all_chunks(&self) -> impl Iterator<Item = ChunkRef> + '_ {
        self.dictionaries.iter().copied().chain(
            self.entries
                .iter()
                .filter_map(|e| match &e.kind {
                    EntryKind::File { chunks, .. } => Some(chunks.iter().copied()),
                    _ => None,
                })
                .flatten(),
        )
    }

    /// The platforms entries can be tagged with (empty: the release is the same everywhere).
    pub fn platforms(&self) -> &[Platform] {
        &self.platforms
    }

    /// Every entry, sorted by path.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entries installed on `platform`.
    pub fn entries_for<'a>(
        &'a self,
        platform: &'a Platform,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| e.is_for(platform))
    }

    /// Total size of all files.
    pub fn total_size(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| match e.kind {
                EntryKind::File { size, .. } => size,
                _ => 0,
            })
            .sum()
    }

    /// SHA-256 of the canonical encoding: what the release record binds.
    pub fn hash(&self) -> Hash {
        Hash::of(&self.to_bytes())
    }

    /// Checks `bytes` against `expected` (from a verified release record), then decodes.
    pub fn verify(bytes: &[u8], expected: &Hash) -> Result<VerifiedManifest, DecodeError> {
        let got = Hash::of(bytes);
        if got != *expected {
            return Err(DecodeError::invalid(
                "manifest",
                format!("its hash is {got}, but the release record says {expected}"),
            ));
        }
        Ok(VerifiedManifest {
            manifest: Manifest::from_bytes(bytes)?,
            hash: got,
        })
    }

    /// A `SHA256SUMS` text (`<hex>  <path>`, one line per file) for `sha256sum -c`.
    pub fn sha256sums(&self, platform: Option<&Platform>) -> String {
        let mut out = String::new();
        for e in &self.entries {
            if let (EntryKind::File { sha256, .. }, true) =
                (&e.kind, platform.is_none_or(|p| e.is_for(p)))
            {
                out.push_str(&format!("{}  {}\n", sha256.to_hex(), e.path));
            }
        }
        out
    }

    /// Bit i set for each of `platforms` that is the manifest's i-th platform.
    fn mask(&self, platforms: &[Platform]) -> u16 {
        platforms
            .iter()
            .filter_map(|p| self.platforms.iter().position(|q| q == p))
            .fold(0, |m, i| m | (1 << i))
    }

    /// The encoding's version: 3 if a file is shared, else 2 if there are
    /// dictionaries, else 1 (so that releases without either keep the
    /// bytes older clients read).
    fn version(&self) -> u8 {
        if self.entries.iter().any(|e| e.kind.is_shared()) {
            3
        } else if self.dictionaries.is_empty() {
            1
        } else {
            2
        }
    }

    fn check(&self) -> Result<(), DecodeError> {
        codec::check_len("manifest platforms", self.platforms.len(), MAX_PLATFORMS)?;
        if self.platforms.windows(2).any(|w| w[0] >= w[1]) {
            return Err(DecodeError::non_canonical(
                "manifest platforms",
                "must be sorted and unique",
            ));
        }
        codec::check_len("manifest entries", self.entries.len(), MAX_MANIFEST_ENTRIES)?;
        codec::check_len(
            "manifest dictionaries",
            self.dictionaries.len(),
            MAX_DICTIONARIES,
        )?;
        if self.dictionaries.windows(2).any(|w| w[0].id >= w[1].id) {
            return Err(DecodeError::non_canonical(
                "manifest dictionaries",
                "must be sorted and unique",
            ));
        }
        if let Some(d) = self
            .dictionaries
            .iter()
            .find(|d| d.size == 0 || d.size as usize > MAX_DICTIONARY_BYTES)
        {
            return Err(DecodeError::invalid(
                "dictionary size",
                format!("dictionary {} is {} bytes", d.id, d.size),
            ));
        }
        let mut dirs: HashMap<&str, &[Platform]> = HashMap::new();
        let mut links: Vec<&RelPath> = Vec::new();
        // Paths that collide (equal, or equal but for case) must be for disjoint
        // platform sets, so that each platform's install has unique names.
        let mut collisions: HashMap<String, Vec<u16>> = HashMap::new();
        let mut previous: Option<(&RelPath, u16)> = None;
        for e in &self.entries {
            for p in &e.platforms {
                if !self.platforms.contains(p) {
                    return Err(DecodeError::invalid(
                        "manifest",
                        format!("`{}` names platform {p} the manifest does not list", e.path),
                    ));
                }
            }
            let mask = self.mask(&e.platforms);
            if previous.is_some_and(|prev| prev >= (&e.path, mask)) {
                return Err(DecodeError::invalid(
                    "manifest",
                    format!("duplicate or unsorted path `{}`", e.path),
                ));
            }
            previous = Some((&e.path, mask));
            let seen = collisions.entry(e.path.collision_key()).or_default();
            if seen.iter().any(|m| *m == 0 || mask == 0 || m & mask != 0)
                || (!seen.is_empty() && matches!(e.kind, EntryKind::Dir))
            {
                return Err(DecodeError::invalid(
                    "manifest",
                    format!("`{}` is listed twice for one platform (or differs from another path only in case)", e.path),
                ));
            }
            seen.push(mask);
            if let Some(link) = links.iter().find(|l| e.path.is_within(l)) {
                return Err(DecodeError::invalid(
                    "manifest",
                    format!("`{}` is inside the symlink `{link}`", e.path),
                ));
            }
            if let Some(parent) = e.path.parent() {
                let Some(parent_platforms) = dirs.get(parent.as_str()) else {
                    return Err(DecodeError::invalid(
                        "manifest",
                        format!("`{}` has no directory entry for its parent", e.path),
                    ));
                };
                // An entry is installed only where its folder is.
                let inside = parent_platforms.is_empty()
                    || (!e.platforms.is_empty()
                        && e.platforms.iter().all(|p| parent_platforms.contains(p)));
                if !inside {
                    return Err(DecodeError::invalid(
                        "manifest",
                        format!("`{}` is for platforms its folder is not for", e.path),
                    ));
                }
            }
            if e.platforms.windows(2).any(|w| w[0] >= w[1]) {
                return Err(DecodeError::non_canonical(
                    "entry platforms",
                    "must be sorted and unique",
                ));
            }
            match &e.kind {
                EntryKind::Dir => {
                    dirs.insert(e.path.as_str(), &e.platforms);
                }
                EntryKind::File {
                    size,
                    chunks,
                    shared_at,
                    ..
                } => {
                    if *size > MAX_FILE_BYTES {
                        return Err(DecodeError::invalid(
                            "file size",
                            format!("`{}` is {size} bytes", e.path),
                        ));
                    }
                    // A shared file is inside its one chunk, which holds
                    // more than it; otherwise the chunks are the file.
                    let fits = match (shared_at, &chunks[..]) {
                        (Some(offset), [one]) => {
                            *size > 0
                                && *size < u64::from(one.size)
                                && u64::from(*offset) + *size <= u64::from(one.size)
                        }
                        (Some(_), _) => false,
                        (None, _) => chunks.iter().map(|c| u64::from(c.size)).sum::<u64>() == *size,
                    } && chunks
                        .iter()
                        .all(|c| c.size > 0 && c.size <= MAX_CHUNK_BYTES);
                    if !fits {
                        return Err(DecodeError::invalid(
                            "chunks",
                            format!("`{}`: its chunks do not hold its {size} bytes", e.path),
                        ));
                    }
                }
                EntryKind::Symlink { target } => {
                    path::link_target(&e.path, target)?;
                    links.push(&e.path);
                }
            }
        }
        Ok(())
    }
}

impl VerifiedManifest {
    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Its hash (equal to the release record's).
    pub fn hash(&self) -> &Hash {
        &self.hash
    }
}

impl std::ops::Deref for VerifiedManifest {
    type Target = Manifest;
    fn deref(&self) -> &Manifest {
        &self.manifest
    }
}

impl Encode for Manifest {
    fn encode(&self, out: &mut Vec<u8>) {
        let version = self.version();
        out.extend_from_slice(match version {
            1 => MANIFEST_MAGIC,
            2 => MANIFEST_MAGIC_2,
            _ => MANIFEST_MAGIC_3,
        });
        out.push(self.platforms.len() as u8);
        for p in &self.platforms {
            codec::put_bytes_u8(out, p.as_str().as_bytes());
        }
        out.extend_from_slice(&(self.entries.len() as u32).to_be_bytes());
        for e in &self.entries {
            out.push(match e.kind {
                EntryKind::Dir => 0,
                EntryKind::File {
                    shared_at: None, ..
                } => 1,
                EntryKind::Symlink { .. } => 2,
                EntryKind::File {
                    shared_at: Some(_), ..
                } => 3,
            });
            codec::put_bytes_u16(out, e.path.as_str().as_bytes());
            out.extend_from_slice(&self.mask(&e.platforms).to_be_bytes());
            match &e.kind {
                EntryKind::Dir => {}
                EntryKind::File {
                    executable,
                    size,
                    sha256,
                    chunks,
                    shared_at,
                } => {
                    out.push(u8::from(*executable));
                    out.extend_from_slice(&size.to_be_bytes());
                    out.extend_from_slice(&sha256.0);
                    if let Some(offset) = shared_at {
                        // Kind 3: exactly one chunk, then the offset.
                        out.extend_from_slice(&chunks[0].id.0);
                        out.extend_from_slice(&chunks[0].size.to_be_bytes());
                        out.extend_from_slice(&offset.to_be_bytes());
                    } else {
                        out.extend_from_slice(&(chunks.len() as u32).to_be_bytes());
                        for c in chunks {
                            out.extend_from_slice(&c.id.0);
                            out.extend_from_slice(&c.size.to_be_bytes());
                        }
                    }
                }
                EntryKind::Symlink { target } => codec::put_bytes_u16(out, target.as_bytes()),
            }
        }
        if version > 1 {
            out.push(self.dictionaries.len() as u8);
            for d in &self.dictionaries {
                out.extend_from_slice(&d.id.0);
                out.extend_from_slice(&d.size.to_be_bytes());
            }
        }
    }
}

impl Decode for Manifest {
    const WHAT: &'static str = "manifest";

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        codec::check_len("manifest", r.remaining(), MAX_MANIFEST_BYTES)?;
        let version = match &r.array::<8>("manifest magic")? {
            MANIFEST_MAGIC => 1,
            MANIFEST_MAGIC_2 => 2,
            MANIFEST_MAGIC_3 => 3,
            _ => {
                return Err(DecodeError::invalid(
                    "manifest magic",
                    "not a Quince manifest (version 1 to 3)",
                ))
            }
        };
        let n_platforms = usize::from(r.u8("platform count")?);
        codec::check_len("manifest platforms", n_platforms, MAX_PLATFORMS)?;
        let mut platforms = Vec::with_capacity(n_platforms);
        for _ in 0..n_platforms {
            platforms.push(
                r.str_u8(MAX_PLATFORM_BYTES, "platform")?
                    .parse::<Platform>()?,
            );
        }
        let count = r.u32("entry count")? as usize;
        codec::check_len("manifest entries", count, MAX_MANIFEST_ENTRIES)?;
        // Each entry takes at least 5 bytes: refuse counts the input cannot hold.
        if count > r.remaining() / 5 {
            return Err(DecodeError::Truncated {
                what: "manifest entries",
                needed: count * 5,
                available: r.remaining(),
            });
        }
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let kind = r.u8("entry kind")?;
            let path_bytes = r.bytes_u16(MAX_PATH_BYTES, "path")?;
            let path = RelPath::parse(
                std::str::from_utf8(path_bytes)
                    .map_err(|_| DecodeError::invalid("path", "not UTF-8"))?,
            )?;
            let mask = r.u16("platform mask")?;
            if usize::from(16 - mask.leading_zeros() as u16) > platforms.len() {
                return Err(DecodeError::invalid(
                    "platform mask",
                    format!("`{path}` names a platform the manifest does not list"),
                ));
            }
            let entry_platforms = platforms
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, p)| p.clone())
                .collect();
            let kind = match kind {
                0 => EntryKind::Dir,
                1 | 3 if kind == 1 || version == 3 => {
                    let executable = match r.u8("mode")? {
                        0 => false,
                        1 => true,
                        other => return Err(DecodeError::invalid("mode", format!("{other}"))),
                    };
                    let size = r.u64("file size")?;
                    let sha256 = Hash(r.array("file hash")?);
                    let n = if kind == 3 {
                        1
                    } else {
                        r.u32("chunk count")? as usize
                    };
                    if n > r.remaining() / 36 {
                        return Err(DecodeError::Truncated {
                            what: "chunks",
                            needed: n * 36,
                            available: r.remaining(),
                        });
                    }
                    let mut chunks = Vec::with_capacity(n);
                    for _ in 0..n {
                        chunks.push(ChunkRef {
                            id: ChunkId(r.array("chunk id")?),
                            size: r.u32("chunk size")?,
                        });
                    }
                    let shared_at = if kind == 3 {
                        Some(r.u32("offset in the shared chunk")?)
                    } else {
                        None
                    };
                    EntryKind::File {
                        executable,
                        size,
                        sha256,
                        chunks,
                        shared_at,
                    }
                }
                2 => {
                    let t = r.bytes_u16(MAX_PATH_BYTES, "link target")?;
                    EntryKind::Symlink {
                        target: std::str::from_utf8(t)
                            .map_err(|_| DecodeError::invalid("link target", "not UTF-8"))?
                            .to_string(),
                    }
                }
                other => return Err(DecodeError::invalid("entry kind", format!("{other}"))),
            };
            entries.push(Entry {
                path,
                platforms: entry_platforms,
                kind,
            });
        }
        let mut dictionaries = Vec::new();
        if version > 1 {
            let n = usize::from(r.u8("dictionary count")?);
            if n == 0 && version == 2 {
                return Err(DecodeError::non_canonical(
                    "manifest dictionaries",
                    "version 2 names at least one (version 1 is for none)",
                ));
            }
            codec::check_len("manifest dictionaries", n, MAX_DICTIONARIES)?;
            for _ in 0..n {
                dictionaries.push(ChunkRef {
                    id: ChunkId(r.array("dictionary id")?),
                    size: r.u32("dictionary size")?,
                });
            }
        }
        let m = Manifest {
            platforms,
            entries,
            dictionaries,
        };
        m.check()?;
        if m.version() != version {
            // Version 3 only for manifests with a shared file.
            return Err(DecodeError::non_canonical(
                "manifest version",
                "not the one its contents need",
            ));
        }
        Ok(m)
    }
}

/// One patch: how to rebuild a file of the new release from the same path in
/// the previous release.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Delta {
    /// The file.
    pub path: RelPath,
    /// SHA-256 of the previous version it applies to.
    pub from: Hash,
    /// SHA-256 of the rebuilt file (must equal the manifest's).
    pub to: Hash,
    /// BLAKE3 address of the zstd patch in the store.
    pub patch: ChunkId,
    /// Size of the patch in bytes.
    pub patch_size: u64,
}

/// Patches from the previous release to this one, sorted by path then result
/// hash (a path can have one variant per platform).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DeltaIndex {
    /// The patches.
    pub deltas: Vec<Delta>,
}

impl Encode for DeltaIndex {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(DELTA_MAGIC);
        out.extend_from_slice(&(self.deltas.len() as u32).to_be_bytes());
        for d in &self.deltas {
            codec::put_bytes_u16(out, d.path.as_str().as_bytes());
            out.extend_from_slice(&d.from.0);
            out.extend_from_slice(&d.to.0);
            out.extend_from_slice(&d.patch.0);
            out.extend_from_slice(&d.patch_size.to_be_bytes());
        }
    }
}

impl Decode for DeltaIndex {
    const WHAT: &'static str = "delta index";

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if &r.array::<8>("delta magic")? != DELTA_MAGIC {
            return Err(DecodeError::invalid(
                "delta magic",
                "not a Quince delta index (version 1)",
            ));
        }
        let n = r.u32("delta count")? as usize;
        codec::check_len("deltas", n, MAX_DELTAS)?;
        let mut deltas: Vec<Delta> = Vec::with_capacity(n.min(r.remaining() / 106));
        for _ in 0..n {
            let path_bytes = r.bytes_u16(MAX_PATH_BYTES, "path")?;
            let path = RelPath::parse(
                std::str::from_utf8(path_bytes)
                    .map_err(|_| DecodeError::invalid("path", "not UTF-8"))?,
            )?;
            let d = Delta {
                path,
                from: Hash(r.array("from hash")?),
                to: Hash(r.array("to hash")?),
                patch: ChunkId(r.array("patch id")?),
                patch_size: r.u64("patch size")?,
            };
            if d.patch_size > MAX_PATCH_BYTES {
                return Err(DecodeError::invalid(
                    "patch size",
                    format!("{}", d.patch_size),
                ));
            }
            if deltas
                .last()
                .is_some_and(|prev| (&prev.path, prev.to) >= (&d.path, d.to))
            {
                return Err(DecodeError::non_canonical(
                    "deltas",
                    "must be sorted and unique by path and result",
                ));
            }
            deltas.push(d);
        }
        Ok(DeltaIndex { deltas })
    }
}

#[cfg(test)]
mod tests;
