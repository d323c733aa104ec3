//! On a real terminal (tmux), as a person sees it: `quince install` draws
//! one progress bar that it redraws in place and ends at 100%; a keyholder's
//! sign prompt shows the release it adds and signs only after "y".

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed step should stop the test

use std::path::Path;
use std::process::{Command, Stdio};

use quince_protocol::testkit::noise;
use quince_tests::tmux::{sh_quote, Tmux};
use quince_tests::workspace_bin;

fn q(path: &Path) -> String {
    sh_quote(&path.display().to_string())
}

#[test]
fn install_on_a_terminal_draws_one_progress_bar_in_place() {
    let t = tempfile::tempdir().unwrap();
    let quince = workspace_bin(
        env!("CARGO_BIN_EXE_quince-demo"),
        "quince",
        "quince-updater",
    );
    let (root, key) = quince_protocol::testkit::danger_single_key_root("Big app", 59);
    let w = t.path().join("pub");
    quince_packager::LogDir::create(&w.join("log"), &root).unwrap();
    let src = w.join("src");
    quince_packager::testkit::script_app(&src, "#!/bin/sh\necho big\n");
    std::fs::write(src.join("blob"), noise(6 << 20, 0x9e37_79b9_7f4a_7c15)).unwrap();
    let store = quince_store::Store::open(&w.join("store")).unwrap();
    quince_packager::testkit::publish(&w.join("log"), &store, &root, &key, &src, "1.0.0", "any");
    // A seeder that sends 1 MiB/s: the transfer takes seconds, so the bar is seen moving.
    let mut seeder = Command::new(&quince)
        .env("QUINCE_NETWORK", "private")
        .env("QUINCE_HOME", w.join("home"))
        .current_dir(&w)
        .args(["seed", "--log", "log", "--store", "store", "--no-mdns"])
        .args([
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--upload-rate",
            "1048576",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = {
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
    };
    let command = format!(
        "env QUINCE_NETWORK=private QUINCE_HOME={} QUINCE_BIN_DIR={} {} install 'quince://{}?peer={addr}' \
         --no-mdns --listen /ip4/127.0.0.1/tcp/0 --find-for 10; echo EXIT=$?; sleep 120",
        q(&t.path().join("home")),
        q(&t.path().join("bin")),
        q(&quince),
        root.app_id()
    );
    let tmux = Tmux::start("progress", &command);
    let screens = tmux.as_ref().map(|t| t.wait_for("EXIT=", 120));
    let _ = seeder.kill();
    let _ = seeder.wait();
    let Some(screens) = screens else {
        return;
    };
    let last = screens.last().unwrap();
    assert!(last.contains("EXIT=0"), "{last}");
    // Mid-transfer, the bar was drawn part full, with the time left.
    let moving = screens.iter().any(|s| {
        s.lines()
            .any(|l| l.starts_with('[') && l.contains("#-") && l.contains(" s left"))
    });
    assert!(moving, "no part-full bar seen; last screen:\n{last}");
    // Redrawn in place: one bar line on the final screen, full, done.
    let bars: Vec<&str> = last.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(bars.len(), 1, "{last}");
    assert!(
        bars[0].starts_with("[########################] 100%") && bars[0].contains("done"),
        "{last}"
    );
}

/// Five keyholders who made a key and signed 1.0.0 (the signer's example), in `w`.
struct Keyholders {
    signer: std::path::PathBuf,
    packager: std::path::PathBuf,
}

impl Keyholders {
    fn new(w: &Path) -> Keyholders {
        let signer = workspace_bin(
            env!("CARGO_BIN_EXE_quince-demo"),
            "quince-signer",
            "quince-signer",
        );
        let packager = workspace_bin(
            env!("CARGO_BIN_EXE_quince-demo"),
            "quince-packager",
            "quince-packager",
        );
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../signer/examples");
        let out = Command::new("bash")
            .arg(examples.join("five-keyholders.sh"))
            .arg(w)
            .env("QUINCE_SIGNER", &signer)
            .env("QUINCE_PACKAGER", &packager)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Keyholders { signer, packager }
    }
}

#[test]
fn the_sign_prompt_on_a_terminal_shows_the_release_and_signs_after_yes() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    let Keyholders { signer, packager } = Keyholders::new(w);
    let run = |program: &Path, args: &[&str]| {
        let o = Command::new(program)
            .current_dir(w)
            .env("QUINCE_PASSPHRASE", "demo passphrase")
            .env("QUINCE_DANGER_FAST_KDF", "1")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    std::fs::write(w.join("app/bin/hello"), "#!/bin/sh\necho hello 1.1.0\n").unwrap();
    run(
        &packager,
        &["build", "app", "--store", "store", "--out", "m.bin"],
    );
    run(
        &packager,
        &[
            "release",
            "--manifest",
            "m.bin",
            "--version",
            "1.1.0",
            "--platform",
            "any",
        ],
    );
    run(
        &signer,
        &[
            "sign",
            "request",
            "--root",
            "root.bin",
            "--checkpoint",
            "log/pending/checkpoint.body",
        ],
    );
    let command = format!(
        "cd {} && env QUINCE_PASSPHRASE='demo passphrase' QUINCE_DANGER_FAST_KDF=1 {} --home homes/bo \
         sign commit --request request.json --out tty-commits; echo EXIT=$?; sleep 120",
        q(w),
        q(&signer)
    );
    let commits = w.join("tty-commits");
    std::fs::create_dir(&commits).unwrap();
    let Some(tmux) = Tmux::start("sign", &command) else {
        return;
    };
    let screen = tmux.wait_for("Sign this? [y/N]", 60).pop().unwrap();
    assert!(screen.contains("+ release 1.1.0 for any, "), "{screen}");
    assert!(
        screen.contains("since the last checkpoint your group signed"),
        "{screen}"
    );
    assert_eq!(
        std::fs::read_dir(&commits).unwrap().count(),
        0,
        "committed before the answer"
    );
    tmux.keys(&["y", "Enter"]);
    let screen = tmux.wait_for("EXIT=", 60).pop().unwrap();
    assert!(
        screen.contains("EXIT=0") && screen.contains("commitment written"),
        "{screen}"
    );
    assert_eq!(std::fs::read_dir(&commits).unwrap().count(), 1);
}

/// The slow steps of a keyholder: unlocking a share (scrypt at its real
/// cost) shows a status line with a clock, and an online signing shows each
/// round's count and the time left, then names the keyholder that did not
/// answer. The keyholder here is a socket that accepts and never speaks.
#[test]
fn unlocking_and_online_signing_show_their_progress_on_a_terminal() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    let Keyholders { signer, .. } = Keyholders::new(w);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let peer = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
    // A new identity, sealed at scrypt's real cost, then an online signing.
    let command = format!(
        "cd {} && export QUINCE_PASSPHRASE='demo passphrase' && {s} --home homes/new init --name Fay; \
         QUINCE_DANGER_FAST_KDF=1 {s} sign online --checkpoint checkpoint.body \
         --peer /ip4/127.0.0.1/tcp/{port}/p2p/{peer} --out again --timeout 8; echo EXIT=$?; sleep 120",
        q(w),
        s = q(&signer)
    );
    let Some(tmux) = Tmux::start("online", &command) else {
        return;
    };
    let seen = tmux.wait_for("EXIT=", 120);
    let all = seen.join("\n");
    assert!(
        seen.iter()
            .any(|s| s.contains("sealing identity") && s.contains("(scrypt)")),
        "{all}"
    );
    assert!(
        seen.iter()
            .any(|s| s.contains("round 1: 0 of 3 commitments in; giving up in")),
        "{all}"
    );
    let last = seen.last().unwrap();
    assert!(last.contains("EXIT=1"), "{last}");
    assert!(
        last.contains("round 1: 1 keyholder(s) did not answer in time"),
        "{last}"
    );
    // The status line was erased, not left behind the result.
    assert!(!last.contains("giving up in"), "{last}");
    drop(silent);
}

#[test]
fn the_packager_shows_its_progress_on_a_terminal() {
    let t = tempfile::tempdir().unwrap();
    let packager = workspace_bin(
        env!("CARGO_BIN_EXE_quince-demo"),
        "quince-packager",
        "quince-packager",
    );
    let dir = t.path().join("tree");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..3u64 {
        std::fs::write(
            dir.join(format!("blob{i}")),
            noise(16 << 20, 0x2545_f491_4f6c_dd1d + i),
        )
        .unwrap();
    }
    let command = format!(
        "cd {} && {} build tree --level 3 --store store --out m.bin; echo EXIT=$?; sleep 120",
        q(t.path()),
        q(&packager)
    );
    let Some(tmux) = Tmux::start("packager", &command) else {
        return;
    };
    let screen = tmux.wait_for("EXIT=", 120).pop().unwrap();
    assert!(screen.contains("EXIT=0"), "{screen}");
    // One progress line, redrawn in place, then the summary.
    let progress: Vec<&str> = screen
        .lines()
        .filter(|l| l.starts_with("packing: "))
        .collect();
    assert_eq!(progress.len(), 1, "{screen}");
    assert!(
        progress[0].contains(" files, ") && progress[0].contains(" MiB"),
        "{screen}"
    );
    assert!(screen.contains("packed 3 files"), "{screen}");
}
