//! What the `quince` binary's tests share: a published app on disk and a
//! seeder process.

#![allow(dead_code)] // each test file uses its own part

pub mod publisher;

use std::process::{Command, Stdio};

use quince_store::Store;

/// Publishes `version` of an app holding one file, `bin/tool`, into `w/log`
/// and `w/store`; returns its first root.
pub fn publish_tool(
    w: &std::path::Path,
    name: &str,
    seed: u8,
    tool: &[u8],
    version: &str,
) -> quince_protocol::root::AppRoot {
    let (root, key) = quince_protocol::testkit::danger_single_key_root(name, seed);
    std::fs::create_dir_all(w.join("src/bin")).unwrap();
    std::fs::write(w.join("src/bin/tool"), tool).unwrap();
    let store = Store::open(&w.join("store")).unwrap();
    quince_packager::testkit::publish(
        &w.join("log"),
        &store,
        &root,
        &key,
        &w.join("src"),
        version,
        "any",
    );
    root
}

/// `quince seed` of `w/log` and `w/store` (relative paths, run in `w`) on a
/// loopback port, home `w/HOME`, private network, no standard input.
pub fn seeder(w: &std::path::Path, home: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_quince"));
    c.env("QUINCE_NETWORK", "private")
        .current_dir(w)
        .env("QUINCE_HOME", w.join(home))
        .args([
            "seed",
            "--log",
            "log",
            "--store",
            "store",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ])
        .stdin(Stdio::null());
    c
}

/// The address a seeder started with piped stdout prints first ("listening
/// on ADDR"); the rest of its output is read and dropped in the background.
pub fn listening_on(seeder: &mut std::process::Child) -> String {
    use std::io::BufRead as _;
    let mut lines = std::io::BufReader::new(seeder.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("seeder exited").unwrap();
        if let Some(a) = line.strip_prefix("listening on ") {
            break a.to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    addr
}

/// The chunk files of a store folder: one per large chunk (`chunks/`) and
/// the packs holding the small ones (`packs/`).
fn chunk_files(store: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for sub in ["chunks", "packs"] {
        let mut dirs = vec![store.join(sub)];
        while let Some(dir) = dirs.pop() {
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if e.file_type().unwrap().is_dir() {
                    dirs.push(e.path());
                } else {
                    out.push(e.path());
                }
            }
        }
    }
    out.sort();
    out
}

/// How many chunks a store folder holds, counted from its files (each
/// `.zst` file, each entry of each pack's index).
pub fn stored_chunks(store: &std::path::Path) -> usize {
    chunk_files(store)
        .iter()
        .map(|p| match p.extension().and_then(|e| e.to_str()) {
            Some("zst") => 1,
            Some("pack") => quince_store::packs::index_of(&std::fs::read(p).unwrap())
                .unwrap()
                .len(),
            _ => 0,
        })
        .sum()
}

/// Flips the middle byte of one stored chunk (the first file's, or the
/// first pack's first chunk's); returns the file it changed.
pub fn flip_a_stored_chunk(store: &std::path::Path) -> std::path::PathBuf {
    let file = chunk_files(store)
        .into_iter()
        .next()
        .expect("a stored chunk");
    let mut bytes = std::fs::read(&file).unwrap();
    let at = if file.extension().is_some_and(|e| e == "pack") {
        let (_, slot) = quince_store::packs::index_of(&bytes).unwrap()[0];
        (slot.offset + u64::from(slot.len) / 2) as usize
    } else {
        bytes.len() / 2
    };
    bytes[at] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    file
}

/// Deletes every stored chunk of a store folder.
pub fn remove_stored_chunks(store: &std::path::Path) {
    for file in chunk_files(store) {
        std::fs::remove_file(file).unwrap();
    }
}
