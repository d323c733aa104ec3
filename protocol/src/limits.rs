//! Every length limit that a decoder in this crate enforces, in one place.
//!
//! A decoder never allocates or reads more than these allow, so a hostile peer or
//! file can make us refuse input but never make us run out of memory. Other crates
//! (network, store) take their message caps from here too.

/// Largest signed note (checkpoint plus all its signatures) we parse.
///
/// The C2SP spec asks verifiers to accept at least 16 signatures and warns that
/// post-quantum signatures are nearly 5 kB; 64 KiB covers that with room left.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;
/// Most signature lines in one note (C2SP requires accepting at least 16).
pub const MAX_NOTE_SIGNATURES: usize = 32;
/// Longest decoded signature (key id plus signature bytes) on one note line.
pub const MAX_NOTE_SIGNATURE_BYTES: usize = 8 * 1024;
/// Longest key name in a note signature line or a verifier key.
pub const MAX_KEY_NAME_BYTES: usize = 256;
/// Longest checkpoint origin line.
pub const MAX_ORIGIN_BYTES: usize = 256;
/// Most extension lines after the root hash in a checkpoint.
pub const MAX_CHECKPOINT_EXTENSIONS: usize = 16;
/// Largest tree size we accept in a checkpoint or a proof request (2^48 leaves).
///
/// Far above any release log, and it keeps every `index << level` computation
/// below `u64::MAX`.
pub const MAX_TREE_SIZE: u64 = 1 << 48;
/// Most hashes in an inclusion or consistency proof (a 2^48 tree needs at most ~96).
pub const MAX_PROOF_HASHES: usize = 128;

/// Tile height fixed by C2SP tlog-tiles: a tile spans 8 Merkle levels.
pub const TILE_HEIGHT: u32 = 8;
/// Hashes in a full tile (2^TILE_HEIGHT).
pub const TILE_WIDTH: u64 = 256;
/// Highest tile level a path may name (C2SP: 0 to 63).
pub const MAX_TILE_LEVEL: u8 = 63;
/// Largest entry in an entry bundle: its length prefix is a big-endian u16.
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;
/// Largest full entry bundle: 256 entries of the largest size with prefixes.
pub const MAX_ENTRY_BUNDLE_BYTES: usize = 256 * (2 + MAX_ENTRY_BYTES);
/// Longest tile or entry-bundle path we parse.
pub const MAX_TILE_PATH_BYTES: usize = 128;

/// Longest human name of an app (UTF-8 bytes).
pub const MAX_APP_NAME_BYTES: usize = 64;
/// Most participants (keyholders) in one app root.
pub const MAX_PARTICIPANTS: usize = 32;
/// Largest encoded app root: header, name, and every participant's share.
pub const MAX_ROOT_BYTES: usize = 64 + MAX_APP_NAME_BYTES + MAX_PARTICIPANTS * 34;

/// Largest release or rotation record (one log entry).
pub const MAX_RECORD_BYTES: usize = 8 * 1024;
/// Most platforms one release record may serve.
pub const MAX_PLATFORMS: usize = 16;
/// Longest platform name, such as `linux-x86_64`.
pub const MAX_PLATFORM_BYTES: usize = 32;
/// Longest channel name, such as `stable` or `beta`.
pub const MAX_CHANNEL_BYTES: usize = 32;
/// Longest version text, such as `1.12.3` or `2.0.0-rc.1+linux.20261201`.
pub const MAX_VERSION_BYTES: usize = 48;

/// Largest serialized trusted state (two roots, checkpoint note and a few numbers).
pub const MAX_STATE_BYTES: usize = 2 * MAX_ROOT_BYTES + MAX_NOTE_BYTES + 64;

/// Longest path of a file in a release (UTF-8 bytes).
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest single path component.
pub const MAX_PATH_COMPONENT_BYTES: usize = 255;
/// Most entries (files, directories, links) in one manifest.
pub const MAX_MANIFEST_ENTRIES: usize = 1_000_000;
/// Largest encoded manifest.
pub const MAX_MANIFEST_BYTES: usize = 256 * 1024 * 1024;
/// Largest single file in a release (1 TiB).
pub const MAX_FILE_BYTES: u64 = 1 << 40;
/// Content-defined chunking: smallest, average and largest chunk (raw bytes).
pub const CHUNK_MIN_BYTES: u32 = 64 * 1024;
/// Average chunk size the chunker aims for. 512 KiB rather than 256: on
/// the unpacked PyPI wheels of numpy, pandas, Django and ruff the store is
/// 1.3% smaller at level 3 (chunks compressed alone lose less against one
/// solid stream), and an update between two of their releases fetched 1%
/// fewer bytes, not more (BENCHMARKS.md, "Larger chunks"). Only the
/// packager cuts chunks; a client reads whatever sizes a manifest names,
/// up to [`MAX_CHUNK_BYTES`].
pub const CHUNK_AVG_BYTES: u32 = 512 * 1024;
/// Largest chunk; also the cap when decompressing one.
pub const MAX_CHUNK_BYTES: u32 = 1024 * 1024;
/// Largest compressed chunk we accept (zstd's worst case is a little above raw).
pub const MAX_COMPRESSED_CHUNK_BYTES: usize = MAX_CHUNK_BYTES as usize + 64 * 1024;
/// Most zstd dictionaries one manifest names.
pub const MAX_DICTIONARIES: usize = 16;
/// Largest zstd dictionary (raw bytes; stored and fetched as a chunk).
pub const MAX_DICTIONARY_BYTES: usize = 256 * 1024;
/// Most entries in a delta index.
pub const MAX_DELTAS: usize = 100_000;
/// Largest delta patch (compressed).
pub const MAX_PATCH_BYTES: u64 = 1 << 32;
