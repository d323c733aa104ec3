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
