//! Issue 18's story with the Windows programs, run under Wine on loopback: a
//! Linux publisher seeds; `quince-bootstrap.exe` installs an app and Quince
//! itself from it; `quince.exe update` takes 1.1.0; a broken 1.2.0 fails its
//! health check and is rolled back; `quince.exe` updates itself. Then a
//! friend on Windows installs, with no network, from a bundle that a Linux
//! user's `quince share --platform windows-x86_64` wrote.
//!
//! It needs the Windows builds and a Wine prefix with the stand-in
//! `bcryptprimitives.dll`, so it is ignored in a plain `cargo test`;
//! `.ci/cross` builds both and runs it with `QUINCE_WINDOWS_BIN` (the folder
//! of `quince.exe` and `quince-bootstrap.exe`) and `WINEPREFIX` set:
//! `cargo test -p quince-tests --test windows_wine -- --ignored`.

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use quince_protocol::root::AppId;
use quince_store::Store;
use quince_updater::{Library, Node, NodeConfig};

const PLATFORM: &str = "windows-x86_64";

/// `path` as Wine's programs name it: the Unix root is drive Z:.
fn win(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

/// Runs Windows program `exe` under Wine with `args` and `env`. Its
/// output goes through files, not pipes: a program it starts in the
/// background (the updater) inherits every inheritable handle, as Windows
/// does, and would hold a pipe open until it ends.
fn wine(exe: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    wine_in(None, exe, args, env)
}

/// [`wine`], started in folder `cwd` if given.
fn wine_in(cwd: Option<&Path>, exe: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut wine = Command::new("wine");
    if let Some(cwd) = cwd {
        wine.current_dir(cwd);
    }
    let status = wine
        .arg(exe)
        .args(args)
        .env("WINEDEBUG", "-all")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .status()
        .expect("wine runs (apt-get install wine)");
    Output {
        status,
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The release folder of `version` of app `name`: the given files.
fn source(w: &Path, name: &str, version: &str, files: &[(&str, Vec<u8>)]) -> PathBuf {
    let src = w.join(format!("{name}-{version}"));
    for (path, bytes) in files {
        let p = src.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
    }
    src
}

/// A Windows batch program that writes `said` to `marker` and exits with
/// `status` (Windows batch files want CRLF).
fn batch(marker: &Path, said: &str, status: u8) -> Vec<u8> {
    format!(
        "@echo off\r\necho {said}> \"{}\"\r\nexit /b {status}\r\n",
        win(marker)
    )
    .into_bytes()
}

/// The version an app's `current` pointer names (a file on Windows, not a link).
fn current(home: &Path, app: &AppId) -> String {
    let pointer = home.join(format!("apps/{app}/current"));
    assert!(
        pointer.is_file(),
        "{}: a pointer file on Windows",
        pointer.display()
    );
    std::fs::read_to_string(pointer).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Windows builds and Wine: .ci/cross builds them and runs this"]
async fn under_wine_the_windows_client_installs_updates_rolls_back_and_updates_itself() {
    let bin = PathBuf::from(
        std::env::var_os("QUINCE_WINDOWS_BIN")
            .expect("QUINCE_WINDOWS_BIN: the folder of quince.exe and quince-bootstrap.exe"),
    );
    let (bootstrap_exe, quince_exe) = (bin.join("quince-bootstrap.exe"), bin.join("quince.exe"));
    for exe in [&bootstrap_exe, &quince_exe] {
        assert!(exe.is_file(), "{} is not built", exe.display());
    }
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    let marker = w.join("ran");

    // The publisher, on Linux: an app and Quince itself, for Windows.
    let store = Store::open(&w.join("store")).unwrap();
    let (app_root, app_key) = quince_protocol::testkit::danger_single_key_root("Hello", 81);
    let (me_root, me_key) = quince_protocol::testkit::danger_single_key_root("Quince", 82);
    let (app, me) = (app_root.app_id(), me_root.app_id());
    // A file whose installed path is longer than Windows' old MAX_PATH
    // (260): the client must use long-path forms where it writes and checks.
    let deep = format!(
        "share/{}/data.txt",
        ["a-folder-name-that-is-quite-long-on-purpose-for-the-path-limit"; 4].join("/")
    );
    let publish_app = |version: &str, status: u8| {
        let src = source(
            w,
            "hello",
            version,
            &[
                ("bin/hello.cmd", batch(&marker, version, status)),
                (&deep, format!("deep {version}").into_bytes()),
                // An app file: the Start-menu shortcut takes its name.
                (
                    ".quince/app",
                    b"quince app v1\nname Hello World\nid hello\nsummary Says hello\ncommand bin/hello.cmd\n"
                        .to_vec(),
                ),
            ],
        );
        quince_packager::testkit::publish(
            &w.join("hello-log"),
            &store,
            &app_root,
            &app_key,
            &src,
            version,
            PLATFORM,
        );
    };
    let quince_bytes = std::fs::read(&quince_exe).unwrap();
    let publish_me = |version: &str| {
        let src = source(
            w,
            "quince",
            version,
            &[
                ("bin/quince.exe", quince_bytes.clone()),
                ("share/release", version.as_bytes().to_vec()),
            ],
        );
        quince_packager::testkit::publish(
            &w.join("quince-log"),
            &store,
            &me_root,
            &me_key,
            &src,
            version,
            PLATFORM,
        );
    };
    publish_app("1.0.0", 0);
    publish_me("1.0.0");
    // An app for Linux and Windows, which a Linux user shares for Windows.
    let (shared_root, shared_key) = quince_protocol::testkit::danger_single_key_root("Shared", 83);
    let shared = shared_root.app_id();
    let shared_marker = w.join("shared-ran");
    {
        let common = source(w, "shared-common", "1", &[("share/readme", b"hi".to_vec())]);
        let linux = source(
            w,
            "shared-linux",
            "1",
            &[("bin/hello", b"#!/bin/sh\n".to_vec())],
        );
        let windows = source(
            w,
            "shared-windows",
            "1",
            &[("bin/hello.cmd", batch(&shared_marker, "shared", 0))],
        );
        quince_packager::testkit::publish_sources(
            &w.join("shared-log"),
            &store,
            &shared_root,
            &shared_key,
            &[
                (&common, None),
                (&linux, Some("linux-x86_64")),
                (&windows, Some(PLATFORM)),
            ],
            &quince_packager::release::Offering::stable("1.0.0".parse().unwrap()),
            &["linux-x86_64", PLATFORM],
        );
    }
    let library = Library::new(Store::open(&w.join("store")).unwrap());
    library.add_app(app, w.join("hello-log"));
    library.add_app(me, w.join("quince-log"));
    library.add_app(shared, w.join("shared-log"));
    let seeder = Node::start(
        NodeConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            ..NodeConfig::default()
        },
        Arc::new(library),
    )
    .await
    .unwrap();
    seeder.provide(app).await.ok();
    seeder.provide(me).await.ok();
    seeder.provide(shared).await.ok();
    let addr = seeder.addresses().await[0].clone();

    // The user, on "Windows": the bootstrap installs the app and Quince,
    // registers the updater to start at login (the Run key) and starts it,
    // and puts launchers (batch files) for both in the launcher folder.
    let (home, bin_dir) = (w.join("user"), w.join("bin"));
    let env = vec![
        ("QUINCE_NETWORK", "private".to_string()),
        ("QUINCE_HOME", win(&home)),
        ("QUINCE_BIN_DIR", win(&bin_dir)),
    ];
    let run = |exe: PathBuf, args: Vec<String>| {
        let env = env.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            wine(&exe, &args, &env)
        })
    };
    let net = |args: &[&str]| -> Vec<String> {
        args.iter()
            .copied()
            .chain([
                "--no-mdns",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--find-for",
                "10",
            ])
            .map(String::from)
            .collect()
    };
    // A launcher, as the user's shell runs it: `cmd /c NAME.cmd ARGS`.
    let launcher = |name: &str, args: &[&str]| -> Vec<String> {
        ["/c".to_string(), win(&bin_dir.join(format!("{name}.cmd")))]
            .into_iter()
            .chain(args.iter().map(|a| a.to_string()))
            .collect()
    };
    let cmd = PathBuf::from("cmd");
    let (app_text, me_text) = (app.to_string(), me.to_string());
    let mut env_with_self = env.clone();
    env_with_self.push(("QUINCE_SELF_APP", me_text.clone()));
    let args = net(&[
        &format!("quince://{app}?peer={addr}"),
        "--home",
        &win(&home),
    ]);
    let out = tokio::task::spawn_blocking({
        let exe = bootstrap_exe.clone();
        move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            wine(&exe, &args, &env_with_self)
        }
    })
    .await
    .unwrap();
    let said = text(&out);
    // The updater it started runs until stopped: stopped once seen
    // working (it would race the updates below), or whatever happens.
    let updater = said
        .split("started (process ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .map(str::to_string);
    // Windows does not end a process's children with it (`taskkill /T`
    // would; Wine's does not have it), so the updater's own child, `quince
    // update --watch`, is found too: every Wine process whose command line
    // names this test's home.
    struct Stop(String);
    impl Drop for Stop {
        fn drop(&mut self) {
            let Ok(procs) = std::fs::read_dir("/proc") else {
                return;
            };
            for p in procs.flatten() {
                let ours = std::fs::read(p.path().join("cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&self.0));
                if let (true, Some(pid)) = (ours, p.file_name().to_str()) {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
        }
    }
    let stop = Stop(win(&home));
    assert!(out.status.success(), "bootstrap: {said}");
    assert!(updater.is_some(), "the updater was not started: {said}");
    assert!(
        said.contains("installed app") && said.contains("1.0.0"),
        "{said}"
    );
    assert_eq!(current(&home, &app), "versions/1.0.0");
    assert_eq!(current(&home, &me), "versions/1.0.0");
    let deep_installed = |version: &str| {
        let path = home
            .join("apps")
            .join(app.to_string())
            .join("versions")
            .join(version)
            .join(&deep);
        assert!(
            win(&path).len() > 260,
            "not a long path: {}",
            win(&path).len()
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    assert_eq!(deep_installed("1.0.0"), "deep 1.0.0");
    // The bootstrap started the app, a batch file, through Windows' cmd.
    for _ in 0..100 {
        if std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == "1.0.0") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), "1.0.0");
    // The updater runs: its log (in the Wine prefix, found through
    // `service status`) says it started for this home and then that its
    // node is up (it names Quince's own release), and not that it stopped.
    // (Under Wine its QUIC listener is refused; it once died of that.)
    let mut seen = String::new();
    for _ in 0..60 {
        let out = run(
            cmd.clone(),
            launcher("quince", &["service", "status", "--json"]),
        )
        .await
        .unwrap();
        let status: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
        let tail: Vec<String> = status["log_tail"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| l.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let ours = tail
            .iter()
            .rposition(|l| l.contains("service started") && l.contains(&win(&home)));
        seen = tail[ours.unwrap_or(tail.len())..].join("\n");
        if seen.contains("service stopped") || seen.contains("quince self release 1.0.0") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(
        seen.contains("quince self release 1.0.0") && !seen.contains("service stopped"),
        "the updater's log since it started: {seen}"
    );
    drop(stop);

    // The Run key starts the login script, which starts Quince's updater.
    let out = run(
        PathBuf::from("reg"),
        [
            "query",
            r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run",
            "/v",
            "Quince updater",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await
    .unwrap();
    let key = text(&out);
    assert!(out.status.success() && key.contains("updater.cmd"), "{key}");
    for name in ["quince", "hello"] {
        let file = bin_dir.join(format!("{name}.cmd"));
        let script = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e}: {said}", file.display()));
        assert!(script.contains("set /p QUINCE_VERSION_DIR="), "{script}");
    }

    // The Start-menu shortcut, in the user's Start menu under the name the
    // app file gives; an independent parser (PyPI's LnkParse3) reads its
    // target, and Windows' shell starts it as a click does (`start` on the
    // .lnk, through ShellExecuteEx): the app runs.
    let out = run(
        cmd.clone(),
        ["/c", "echo %APPDATA%"].map(String::from).to_vec(),
    )
    .await
    .unwrap();
    let appdata = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let out = Command::new("winepath")
        .args(["-u", &appdata])
        .output()
        .unwrap();
    let appdata = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let lnk = appdata.join("Microsoft/Windows/Start Menu/Programs/Hello World.lnk");
    assert!(lnk.is_file(), "no shortcut at {}: {said}", lnk.display());
    let parsed = Command::new("lnkparse")
        .arg("-j")
        .arg(&lnk)
        .output()
        .expect("lnkparse runs (pip install LnkParse3)");
    let parsed: serde_json::Value = serde_json::from_slice(&parsed.stdout)
        .unwrap_or_else(|e| panic!("lnkparse: {e}: {}", String::from_utf8_lossy(&parsed.stderr)));
    assert_eq!(
        parsed["link_info"]["local_base_path_unicode"].as_str(),
        Some(win(&bin_dir.join("hello.cmd")).as_str()),
        "{parsed}"
    );
    std::fs::remove_file(&marker).unwrap();
    let out = run(
        PathBuf::from("start"),
        ["/wait", "/unix", &lnk.display().to_string()]
            .map(String::from)
            .to_vec(),
    )
    .await
    .unwrap();
    for _ in 0..100 {
        if marker.is_file() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        std::fs::read_to_string(&marker)
            .map(|m| m.trim().to_string())
            .ok(),
        Some("1.0.0".to_string()),
        "start on the shortcut: {}",
        text(&out)
    );

    // `quince update` through its launcher; `hello` through its own, and
    // what the version it started wrote.
    let update_app = || {
        let args = net(&["update", &app_text]);
        run(
            cmd.clone(),
            launcher(
                "quince",
                &args.iter().map(String::as_str).collect::<Vec<_>>(),
            ),
        )
    };
    let hello = || async {
        let out = run(cmd.clone(), launcher("hello", &[])).await.unwrap();
        assert!(out.status.success(), "hello: {}", text(&out));
        std::fs::read_to_string(&marker).unwrap().trim().to_string()
    };

    // 1.1.0 is taken; `hello` runs it.
    publish_app("1.1.0", 0);
    let out = update_app().await.unwrap();
    assert!(out.status.success(), "update to 1.1.0: {}", text(&out));
    assert_eq!(current(&home, &app), "versions/1.1.0", "{}", text(&out));
    assert_eq!(hello().await, "1.1.0");
    assert_eq!(deep_installed("1.1.0"), "deep 1.1.0");
    // Quince itself reads it back through Windows' file calls.
    let out = run(cmd.clone(), launcher("quince", &["verify", &app_text]))
        .await
        .unwrap();
    assert!(out.status.success(), "verify 1.1.0: {}", text(&out));

    // A broken 1.2.0 (its program exits 1) is rolled back by itself, and
    // `hello` still starts 1.1.0.
    publish_app("1.2.0", 1);
    let out = update_app().await.unwrap();
    let said = text(&out);
    assert!(said.contains("rolled back"), "{said}");
    assert_eq!(current(&home, &app), "versions/1.1.0", "{said}");
    assert_eq!(hello().await, "1.1.0");

    // Quince updates itself: the running 1.0.0 installs 1.1.0, switches to
    // it and goes on as the new program, which finds itself up to date;
    // the launcher now starts 1.1.0.
    publish_me("1.1.0");
    let update_self = net(&["update", &me_text, "--self-app", &me_text]);
    let out = run(
        cmd.clone(),
        launcher(
            "quince",
            &update_self.iter().map(String::as_str).collect::<Vec<_>>(),
        ),
    )
    .await
    .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "self-update: {said}");
    assert_eq!(current(&home, &me), "versions/1.1.0", "{said}");
    assert!(said.contains("switched itself to release 1.1.0"), "{said}");
    assert!(said.contains("quince self release 1.1.0"), "{said}");

    // `quince service remove` takes the Run key value and script away.
    let out = run(cmd.clone(), launcher("quince", &["service", "remove"]))
        .await
        .unwrap();
    let said = text(&out);
    assert!(out.status.success() && said.contains("removed"), "{said}");

    // A friend on Windows gets a bundle from a Linux machine: the Linux
    // user installs the shared app (its Linux files) and shares it for
    // Windows (the Windows files come from the seeder), with the Windows
    // installer; on "Windows", with no peer given, the command in the
    // bundle's INSTALL, run in the bundle, installs and starts it.
    let linux_quince = quince_tests::workspace_bin(
        env!("CARGO_BIN_EXE_quince-follow-app"),
        "quince",
        "quince-updater",
    );
    let linux = |args: &[&str]| {
        let out = Command::new(&linux_quince)
            .args(args)
            .args([
                "--no-mdns",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--find-for",
                "10",
            ])
            .env("QUINCE_NETWORK", "private")
            .env("QUINCE_HOME", w.join("linux-user"))
            .env("QUINCE_BIN_DIR", w.join("linux-bin"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "quince {args:?}: {}", text(&out));
    };
    let usb = w.join("usb");
    linux(&["install", &format!("quince://{shared}?peer={addr}")]);
    linux(&[
        "share",
        &shared.to_string(),
        usb.to_str().unwrap(),
        "--platform",
        PLATFORM,
        "--installer",
        bootstrap_exe.to_str().unwrap(),
    ]);
    let install = std::fs::read_to_string(usb.join("INSTALL")).unwrap();
    let words: Vec<String> = install
        .split_whitespace()
        .map(|w| w.trim_matches('"').to_string())
        .collect();
    assert_eq!(words[0], "quince-bootstrap.exe", "{install}");
    let friend_env = vec![
        ("QUINCE_NETWORK", "private".to_string()),
        ("QUINCE_HOME", win(&w.join("friend"))),
        ("QUINCE_BIN_DIR", win(&w.join("friend-bin"))),
    ];
    let out = tokio::task::spawn_blocking({
        let (usb, exe) = (usb.clone(), usb.join(&words[0]));
        move || {
            let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
            wine_in(Some(&usb), &exe, &args, &friend_env)
        }
    })
    .await
    .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "the friend's install: {said}");
    assert_eq!(
        current(&w.join("friend"), &shared),
        "versions/1.0.0",
        "{said}"
    );
    let mut ran = String::new();
    for _ in 0..100 {
        ran = std::fs::read_to_string(&shared_marker).unwrap_or_default();
        if !ran.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        ran.trim(),
        "shared",
        "the bundle's Windows program ran: {said}"
    );
    seeder.shutdown().await;
}
