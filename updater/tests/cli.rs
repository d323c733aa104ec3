//! `quince seed` and `quince fetch` as separate processes on loopback.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed step should stop the test

use std::process::{Command, Stdio};

use quince_packager::LogDir;

mod common;
use common::{publish_tool, seeder};

#[test]
fn one_process_seeds_and_another_fetches_and_verifies() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    let root = publish_tool(w, "CLI net", 21, &[7u8; 700_000], "2.0.0");

    let mut seeder = seeder(w, "seeder-home")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = common::listening_on(&mut seeder);
    let app = root.app_id().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_quince"))
        .env("QUINCE_NETWORK", "private")
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
        .env("QUINCE_NETWORK", "private")
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
        .env("QUINCE_NETWORK", "private")
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
fn a_bad_network_file_is_warned_about_and_the_rest_still_works() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("network.json");
    std::fs::write(
        &file,
        r#"{"network": "private", "bootstrap": ["not an address", "/ip4/127.0.0.1/tcp/1"], "colour": 1}"#,
    )
    .unwrap();
    let show = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_quince"))
            .env("QUINCE_CONFIG", &file)
            .env_remove("QUINCE_NETWORK")
            .arg("network")
            .args(args)
            .output()
            .unwrap()
    };
    let out = show(&["show", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["network"], "private");
    assert_eq!(v["kad_protocol"], "/quince/kad/1.0.0");
    assert_eq!(v["bootstrap"].as_array().unwrap().len(), 0);
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains("not an address"), "{warnings}");
    assert!(warnings.contains("/p2p/PEER_ID"), "{warnings}");
    assert!(warnings.contains("colour"), "{warnings}");

    // A run warns, skips the bad entries and goes on (here: finds nobody).
    let out = Command::new(env!("CARGO_BIN_EXE_quince"))
        .env("QUINCE_CONFIG", &file)
        .env("QUINCE_HOME", t.path())
        .env_remove("QUINCE_NETWORK")
        .args([
            "fetch",
            "--app",
            &"11".repeat(32),
            "--find-for",
            "1",
            "--no-mdns",
        ])
        .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--out"])
        .arg(t.path().join("out"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning") && err.contains("network.json"),
        "{err}"
    );
    assert!(err.contains("no peer holds app"), "{err}");

    // Editing a file that is not JSON is refused, and the file is kept.
    std::fs::write(&file, "{ half").unwrap();
    let out = show(&[
        "add",
        "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("fix or remove the file"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{ half");

    // add / remove / use, as `ipfs bootstrap` does.
    std::fs::remove_file(&file).unwrap();
    let peer =
        "/dns4/seed.example/tcp/4001/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8";
    assert!(show(&["add", peer]).status.success());
    assert!(!show(&["add", "/ip4/127.0.0.1/tcp/1"]).status.success());
    let v: serde_json::Value = serde_json::from_slice(&show(&["show", "--json"]).stdout).unwrap();
    assert_eq!(v["network"], "public");
    assert_eq!(v["bootstrap_source"], "network file");
    let list = v["bootstrap"].as_array().unwrap();
    assert_eq!(list.last().unwrap(), peer);
    assert!(list.len() > 1, "the built-in list is kept: {list:?}");
    assert!(show(&["remove", "--all"]).status.success());
    assert!(show(&["use", "private"]).status.success());
    let v: serde_json::Value = serde_json::from_slice(&show(&["show", "--json"]).stdout).unwrap();
    assert_eq!(v["network"], "private");
    assert_eq!(v["bootstrap"].as_array().unwrap().len(), 0);
}

/// `quince seed | head -0`: the reader is gone, so the first line the
/// seeder prints finds a closed pipe; it stops quietly (status 141, as if
/// killed by SIGPIPE) instead of panicking.
#[test]
fn a_closed_stdout_stops_a_seeder_quietly() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    publish_tool(w, "CLI pipe", 22, b"#!/bin/sh\n", "1.0.0");
    let mut seeder = seeder(w, "home")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before the first line (`| head -0`).
    drop(seeder.stdout.take());
    // Its first line ("listening on ...") comes within a second or two.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(s) = seeder.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = seeder.kill();
            panic!("the seeder kept running with its stdout closed");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut seeder.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(status.code(), Some(141), "{err}");
}

/// No number given to an argument makes `quince` panic (the hostile test
/// found `--find-for 18446744073709551615` overflowing an `Instant`), and a
/// run command outside the app's folder is refused before anything is done.
#[test]
fn huge_numbers_and_run_commands_outside_the_app_are_refused_with_a_reason() {
    let t = tempfile::tempdir().unwrap();
    let huge = "18446744073709551615";
    let app = format!("quince://{}", "ab".repeat(32));
    for args in [
        vec!["fetch", "--app", &app, "--out", "o", "--find-for", huge],
        vec!["fetch", "--app", &app, "--out", "o", "--window", huge],
        vec!["install", &app, "--find-for", huge],
        vec!["install", &app, "--health-seconds", huge],
        vec!["update", "--interval", huge],
        vec!["update", "--poll", huge],
        vec!["seed", "--timeout", huge],
        vec!["seed", "--max-peers", huge],
        vec!["witness", "--interval", huge],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_quince"))
            .env("QUINCE_HOME", t.path().join("home"))
            .env("QUINCE_NETWORK", "private")
            .current_dir(t.path())
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("is not in"), "{args:?}: {err}");
    }
    for run in ["/bin/sh", "../../../bin/sh", "bin/../../x"] {
        let out = Command::new(env!("CARGO_BIN_EXE_quince"))
            .env("QUINCE_HOME", t.path().join("home"))
            .env("QUINCE_NETWORK", "private")
            .current_dir(t.path())
            .args(["install", &app, "--run", run, "--find-for", "1"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{run}: {err}");
        assert!(
            err.contains(&format!("run command {run:?}")),
            "{run}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// A peer that cannot be dialled is named with its address and the cause
/// (libp2p alone says "Failed to dial the requested peer").
#[test]
fn an_unreachable_peer_is_named_with_its_address_and_the_cause() {
    let t = tempfile::tempdir().unwrap();
    // A loopback port nothing listens on any more: the dial is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let peer = "12D3KooWQN2nrLtsNRNQNoaoZa6uDDfbKD8LNptSZMK1MK2j9wmZ";
    let addr = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{peer}");
    let link = format!("quince://{}?peer={addr}", "ab".repeat(32));
    let out = Command::new(env!("CARGO_BIN_EXE_quince"))
        .env("QUINCE_HOME", t.path().join("home"))
        .env("QUINCE_NETWORK", "private")
        .args(["install", &link, "--find-for", "2", "--no-mdns"])
        .args(["--listen", "/ip4/127.0.0.1/tcp/0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains(peer), "{err}");
    assert!(
        err.contains(&format!("cannot dial it: {addr}: Connection refused")),
        "{err}"
    );
}

/// `quince paths` names every place Quince keeps things, absolute even for
/// a relative home, and says which are not there yet.
#[test]
fn paths_names_every_place_absolute() {
    let t = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quince"))
        .current_dir(t.path())
        .env_remove("QUINCE_HOME")
        .args(["paths", "--home", "rel", "--json", "--config", "net.json"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let home = std::fs::canonicalize(t.path()).unwrap().join("rel");
    assert_eq!(v["store"], home.join("store").display().to_string(), "{v}");
    assert_eq!(v["apps"], home.join("apps").display().to_string(), "{v}");
    assert_eq!(v["network"], "net.json", "{v}");
    let text = Command::new(env!("CARGO_BIN_EXE_quince"))
        .current_dir(t.path())
        .args(["paths", "--home", "rel"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("(not there yet)"), "{text}");
}
