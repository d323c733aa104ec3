//! `quince seed` and `quince fetch` as separate processes on loopback.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed step should stop the test

use std::io::BufRead as _;
use std::process::{Command, Stdio};

use quince_packager::LogDir;
use quince_store::Store;

#[test]
fn one_process_seeds_and_another_fetches_and_verifies() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    let (root, key) = quince_protocol::testkit::danger_single_key_root("CLI net", 21);
    std::fs::create_dir_all(w.join("src/bin")).unwrap();
    std::fs::write(w.join("src/bin/tool"), vec![7u8; 700_000]).unwrap();
    let store = Store::open(&w.join("store")).unwrap();
    quince_packager::testkit::publish(
        &w.join("log"),
        &store,
        &root,
        &key,
        &w.join("src"),
        "2.0.0",
        "any",
    );

    let mut seeder = Command::new(env!("CARGO_BIN_EXE_quince"))
        .current_dir(w)
        .env("QUINCE_HOME", w.join("seeder-home"))
        .args([
            "seed",
            "--log",
            "log",
            "--store",
            "store",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(seeder.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("seeder exited").unwrap();
        if let Some(a) = line.strip_prefix("listening on ") {
            break a.to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    let app = root.app_id().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_quince"))
        .current_dir(w)
        .env("QUINCE_HOME", w.join("client-home"))
        .args([
            "fetch",
            "--app",
            &app,
            "--peer",
            &addr,
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ])
        .args([
            "--store",
            "client-store",
            "--log",
            "client-log",
            "--out",
            "installed",
            "--json",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["version"], "2.0.0");
    assert_eq!(
        std::fs::read(w.join("installed/bin/tool")).unwrap(),
        vec![7u8; 700_000]
    );
    // The client kept a verified copy of the log it can serve in turn.
    LogDir::open(&w.join("client-log"))
        .unwrap()
        .verify()
        .unwrap();

    // The client remembered the seeder, so a second run needs no address.
    let remembered = std::fs::read_to_string(w.join("client-home/peers.json")).unwrap();
    let seeder_id = addr.rsplit('/').next().unwrap();
    assert!(remembered.contains(seeder_id), "{remembered}");
    let out = Command::new(env!("CARGO_BIN_EXE_quince"))
        .current_dir(w)
        .env("QUINCE_HOME", w.join("client-home"))
        .args(["fetch", "--app", &app, "--listen", "/ip4/127.0.0.1/tcp/0"])
        .args(["--store", "store2", "--log", "log2", "--out", "installed2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fetch from remembered peers: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(w.join("installed2/bin/tool")).unwrap(),
        vec![7u8; 700_000]
    );
    let _ = seeder.kill();
    let _ = seeder.wait();

    // Fetching an app nobody holds fails with a clear message.
    let other = "00".repeat(32);
    let out = Command::new(env!("CARGO_BIN_EXE_quince"))
        .current_dir(w)
        .env("QUINCE_HOME", w.join("client-home"))
        .args([
            "fetch",
            "--app",
            &other,
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--out",
            "x",
            "--find-for",
            "2",
            "--no-remember",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no peer holds app"));
}

#[test]
fn a_bad_config_file_is_named_in_the_error() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("config.json"),
        r#"{"bootstrap": ["not an address"]}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quince"))
        .env("QUINCE_HOME", t.path())
        .args(["fetch", "--app", &"11".repeat(32), "--out"])
        .arg(t.path().join("out"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad address \"not an address\""), "{err}");
    std::fs::write(t.path().join("config.json"), r#"{"bootstrapp": []}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quince"))
        .env("QUINCE_HOME", t.path())
        .args(["fetch", "--app", &"11".repeat(32), "--out"])
        .arg(t.path().join("out"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config.json") && err.contains("unknown field"),
        "{err}"
    );
}
