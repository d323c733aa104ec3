//! The publisher's command line, as a new user meets it: init, build, release,
//! sign (here with a test-only single key), publish, then a second release with
//! patches, diff, inspect with SHA256SUMS checked by `sha256sum -c`, and unpack.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed step should stop the test

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use quince_protocol::codec::Encode;
use quince_protocol::note::Note;

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quince-packager"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{args:?}: {text}");
    text
}

fn sign_pending(dir: &Path, key: &ed25519_dalek::SigningKey, app: &str, out: &str) {
    let body = fs::read_to_string(dir.join("log/pending/checkpoint.body")).unwrap();
    let mut note = Note::unsigned(&body).unwrap();
    note.sign_ed25519(&format!("quince.app/{app}"), key)
        .unwrap();
    fs::write(dir.join(out), note.to_bytes()).unwrap();
}

#[test]
fn a_publisher_releases_twice_and_an_auditor_checks_the_files() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    let (root, key) = quince_protocol::testkit::danger_single_key_root("CLI app", 4);
    fs::write(w.join("root.bin"), root.to_bytes()).unwrap();
    let app = root.app_id().to_string();

    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 9) as u8)
        .collect();
    fs::create_dir_all(w.join("v1/bin")).unwrap();
    fs::write(w.join("v1/bin/app"), &big).unwrap();
    fs::write(w.join("v1/README"), b"version one\n").unwrap();

    ok(w, &["init", "--root", "root.bin", "--log", "log"]);
    let out = ok(
        w,
        &[
            "build", "v1", "--store", "store", "--out", "m1.bin", "--level", "3",
        ],
    );
    assert!(out.contains("packed 2 files"), "{out}");
    let out = ok(
        w,
        &[
            "release",
            "--manifest",
            "m1.bin",
            "--version",
            "1.0.0",
            "--platform",
            "any",
            "--level",
            "3",
        ],
    );
    assert!(out.contains("release 1.0.0 staged"), "{out}");
    // Nothing is published before the signature; a second release waits.
    let o = run(
        w,
        &[
            "release",
            "--manifest",
            "m1.bin",
            "--version",
            "1.0.1",
            "--platform",
            "any",
        ],
    );
    assert!(!o.status.success());
    sign_pending(w, &key, &app, "signed1");
    ok(w, &["publish", "signed1"]);

    // Version 1.1.0 changes 100 bytes in the middle of the big file.
    let mut big2 = big.clone();
    big2[1_500_000..1_500_100].copy_from_slice(&[0xAB; 100]);
    fs::create_dir_all(w.join("v2/bin")).unwrap();
    fs::write(w.join("v2/bin/app"), &big2).unwrap();
    fs::write(w.join("v2/README"), b"version two\n").unwrap();
    fs::write(w.join("v2/NEWS"), b"new file\n").unwrap();
    ok(
        w,
        &[
            "build", "v2", "--store", "store", "--out", "m2.bin", "--level", "3",
        ],
    );
    // A version already released is refused, and nothing is staged.
    let o = run(
        w,
        &[
            "release",
            "--manifest",
            "m2.bin",
            "--version",
            "1.0.0",
            "--platform",
            "any",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        !o.status.success() && err.contains("is already released"),
        "{err}"
    );
    let out = ok(
        w,
        &[
            "release",
            "--manifest",
            "m2.bin",
            "--version",
            "1.1.0",
            "--platform",
            "any",
            "--level",
            "3",
        ],
    );
    assert!(out.contains("(1 patches"), "{out}");
    // A signature by another key is refused at publish.
    sign_pending(
        w,
        &ed25519_dalek::SigningKey::from_bytes(&[99; 32]),
        &app,
        "forged",
    );
    let o = run(w, &["publish", "forged"]);
    assert!(!o.status.success());
    sign_pending(w, &key, &app, "signed2");
    ok(w, &["publish", "signed2"]);
    let status = ok(w, &["status", "--json"]);
    assert!(status.contains("\"1.1.0\""), "{status}");

    let diff: serde_json::Value =
        serde_json::from_str(&ok(w, &["diff", "--json", "m1.bin", "m2.bin"])).unwrap();
    assert_eq!(diff["added"], serde_json::json!(["NEWS"]));
    assert_eq!(diff["changed"], serde_json::json!(["README", "bin/app"]));
    let with = diff["download_with_deltas"].as_u64().unwrap();
    let without = diff["download_without_deltas"].as_u64().unwrap();
    assert!(
        with < without,
        "patches should beat chunks: {with} vs {without}"
    );

    ok(
        w,
        &[
            "unpack",
            "--manifest",
            "m2.bin",
            "--platform",
            "linux-x86_64",
            "--out",
            "installed",
        ],
    );
    ok(w, &["inspect", "m2.bin", "--sha256sums", "SHA256SUMS"]);
    if Command::new("sha256sum").arg("--version").output().is_ok() {
        let check = Command::new("sha256sum")
            .current_dir(w.join("installed"))
            .args(["-c", "../SHA256SUMS"])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
        fs::write(w.join("installed/README"), b"tampered\n").unwrap();
        let check = Command::new("sha256sum")
            .current_dir(w.join("installed"))
            .args(["-c", "../SHA256SUMS"])
            .output()
            .unwrap();
        assert!(!check.status.success());
        assert!(String::from_utf8_lossy(&check.stdout).contains("README: FAILED"));
    }
}

/// A tree with names Windows cannot hold builds (it installs elsewhere), and
/// the publisher is told which name and that Windows clients will refuse it.
#[test]
fn a_name_windows_cannot_hold_is_noted_at_build() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    fs::create_dir_all(dir.join("app/bin")).unwrap();
    fs::write(dir.join("app/bin/tool"), "x").unwrap();
    let clean = ok(
        dir,
        &["build", "app", "--store", "store", "--out", "m1.bin"],
    );
    assert!(!clean.contains("Windows"), "{clean}");
    fs::write(dir.join("app/aux.txt"), "y").unwrap();
    fs::write(dir.join("app/notes."), "z").unwrap();
    let noted = ok(
        dir,
        &["build", "app", "--store", "store", "--out", "m2.bin"],
    );
    assert!(
        noted.contains(
            "2 path(s) cannot be installed on Windows (`aux.txt` is a device name on Windows, ...)"
        ),
        "{noted}"
    );
}

/// A level zstd has no such meaning for (0, 20, a negative fast level) is
/// refused before anything is written, with the range named; 1 and 19 build.
#[test]
fn a_level_out_of_range_is_refused_and_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    fs::create_dir_all(dir.join("app")).unwrap();
    fs::write(dir.join("app/a.txt"), "some text").unwrap();
    for level in ["0", "20", "-5", "99999999999", "three"] {
        let flag = format!("--level={level}");
        let o = run(
            dir,
            &["build", "app", "--store", "store", "--out", "m.bin", &flag],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "--level {level}: {err}");
        assert!(err.contains("--level"), "--level {level}: {err}");
        if level != "three" {
            assert!(
                err.contains("1..=19") || err.contains("1..19"),
                "--level {level}: {err}"
            );
        }
        assert!(!dir.join("store").exists() && !dir.join("m.bin").exists());
        let o = run(dir, &["release", "--version", "1.0.0", &flag]);
        assert_eq!(o.status.code(), Some(2), "release --level {level}");
        assert!(!dir.join("log").exists());
    }
    for level in ["1", "19"] {
        ok(
            dir,
            &[
                "build", "app", "--store", "store", "--out", "m.bin", "--level", level,
            ],
        );
    }
}
