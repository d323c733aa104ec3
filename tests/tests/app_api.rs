//! The app-side interface, end to end: an app built on `quince-app` is
//! installed from a seeder, runs, and notices an update that `quince
//! update` installs while it runs, then restarts into it; its old version's
//! folder is not deleted while it ran from it.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed step should stop the test

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use quince_protocol::appinfo::{AppInfo, APP_FILE};
use quince_protocol::path::RelPath;
use quince_store::Store;

/// The `quince` binary a workspace build leaves next to ours.
fn quince_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_quince-follow-app")).with_file_name("quince");
    if !bin.exists() {
        let st = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "quince-updater"])
            .status()
            .unwrap();
        assert!(st.success());
    }
    bin
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines of a child's stdout, as they come.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn expect(rx: &mpsc::Receiver<String>, want: &str, secs: u64) {
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(secs)) {
            Ok(line) if line == want => return,
            Ok(line) => seen.push(line),
            Err(e) => panic!("no line {want:?} within {secs} s ({e}); saw {seen:?}"),
        }
    }
}

#[test]
fn an_app_using_quince_app_notices_an_update_while_it_runs_and_restarts_into_it() {
    let t = tempfile::tempdir().unwrap();
    let (root, key) = quince_protocol::testkit::danger_single_key_root("Follow", 61);
    let publisher = t.path().join("pub");
    quince_packager::LogDir::create(&publisher.join("log"), &root).unwrap();
    let store = Store::open(&publisher.join("store")).unwrap();
    let publish = |version: &str| {
        let src = publisher.join(format!("src-{version}"));
        std::fs::create_dir_all(src.join("bin")).unwrap();
        std::fs::create_dir_all(src.join(".quince")).unwrap();
        std::fs::copy(
            env!("CARGO_BIN_EXE_quince-follow-app"),
            src.join("bin/follow"),
        )
        .unwrap();
        std::fs::write(src.join("NEWS"), format!("version {version}\n")).unwrap();
        let info = AppInfo {
            name: "Follow".into(),
            id: "follow".into(),
            summary: None,
            command: RelPath::parse("bin/follow").unwrap(),
            icon: None,
            categories: Vec::new(),
            health: None,
        };
        std::fs::write(src.join(APP_FILE), info.to_text()).unwrap();
        quince_packager::testkit::publish(
            &publisher.join("log"),
            &store,
            &root,
            &key,
            &src,
            version,
            "any",
        );
    };
    publish("1.0.0");
    let quince = |args: &[&str]| {
        let mut c = Command::new(quince_bin());
        c.env("QUINCE_NETWORK", "private")
            .env("QUINCE_HOME", t.path().join("home"))
            .env("QUINCE_BIN_DIR", t.path().join("bin"))
            .env("XDG_DATA_HOME", t.path().join("data"))
            .args(args)
            .stdin(Stdio::null());
        c
    };
    let mut seeder = quince(&["seed", "--log", "log", "--store", "store", "--no-mdns"]);
    seeder
        .args(["--listen", "/ip4/127.0.0.1/tcp/0"])
        .env("QUINCE_HOME", publisher.join("home"))
        .current_dir(&publisher)
        .stdout(Stdio::piped());
    let mut seeder = Killed(seeder.spawn().unwrap());
    let seeder_lines = lines(&mut seeder.0);
    let addr = loop {
        let line = seeder_lines.recv_timeout(Duration::from_secs(30)).unwrap();
        if let Some(a) = line.strip_prefix("listening on ") {
            break a.to_string();
        }
    };
    let net = [
        "--no-mdns",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--find-for",
        "10",
    ];
    let app = root.app_id().to_string();
    let link = format!("quince://{app}?peer={addr}");
    let out = quince(&[&["install", link.as_str()][..], &net].concat())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The app runs (by its short id) and says which version it is.
    let mut running = quince(&["run", "follow"]);
    running.stdout(Stdio::piped());
    let mut running = Killed(running.spawn().unwrap());
    let said = lines(&mut running.0);
    expect(&said, "running 1.0.0", 20);

    // A new release, installed while it runs: the app sees it and restarts into it.
    publish("1.1.0");
    let out = quince(&[&["update", app.as_str()][..], &net].concat())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    expect(&said, "update 1.1.0 ready", 20);
    expect(&said, "running 1.1.0", 20);
    // The same process (it replaced itself), still running.
    assert!(running.0.try_wait().unwrap().is_none());
}
