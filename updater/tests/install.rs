//! Install, update, health check, rollback, pin and crash safety, with real
//! `quince` processes: a seeder on loopback and a user's home folder.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed step should stop the test

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use quince_packager::LogDir;
use quince_protocol::note::Note;
use quince_store::Store;

mod common;
use common::publisher::*;

#[test]
fn install_update_roll_back_a_broken_release_and_pin() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("publisher"));
    publisher.publish("1.0.0", 0, 3);
    let (mut seeder, addr) = publisher.seed();
    let home = t.path().join("user");
    let app = publisher.root.app_id().to_string();

    let link = publisher.link(&addr, None);
    let args = net(&[
        "install",
        &link,
        "--run",
        "bin/app",
        "--health-seconds",
        "1",
        "--json",
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ok(&quince(&home, &args));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["outcome"], "installed");
    assert_eq!(v["version"], "1.0.0");
    assert_eq!(run_app(&home, &app).as_deref(), Some("app 1.0.0"));

    let update = net(&["update", "--json"]);
    let update: Vec<&str> = update.iter().map(String::as_str).collect();
    let outcome = |home: &Path| -> serde_json::Value {
        serde_json::from_str(ok(&quince(home, &update)).trim()).unwrap()
    };
    assert_eq!(outcome(&home)["outcome"], "up-to-date");

    publisher.publish("1.1.0", 0, 3);
    let v = outcome(&home);
    assert_eq!(
        (v["outcome"].as_str(), v["version"].as_str()),
        (Some("installed"), Some("1.1.0"))
    );
    assert_eq!(run_app(&home, &app).as_deref(), Some("app 1.1.0"));

    // A release whose program exits 1 is rolled back and not retried.
    publisher.publish("1.2.0", 1, 3);
    let v = outcome(&home);
    assert_eq!(v["outcome"], "rolled-back", "{v}");
    assert_eq!(v["refused"], "1.2.0");
    assert_eq!(v["version"], "1.1.0");
    assert_eq!(run_app(&home, &app).as_deref(), Some("app 1.1.0"));
    let v = outcome(&home);
    assert_eq!(
        (v["outcome"].as_str(), v["version"].as_str()),
        (Some("up-to-date"), Some("1.1.0"))
    );

    // The next good release installs.
    publisher.publish("1.3.0", 0, 3);
    let v = outcome(&home);
    assert_eq!(
        (v["outcome"].as_str(), v["version"].as_str()),
        (Some("installed"), Some("1.3.0"))
    );
    assert_eq!(run_app(&home, &app).as_deref(), Some("app 1.3.0"));

    // By hand: roll back (and stay there), then follow releases again.
    ok(&quince(&home, &["rollback", &app]));
    assert_eq!(run_app(&home, &app).as_deref(), Some("app 1.1.0"));
    assert_eq!(outcome(&home)["version"], "1.1.0");
    ok(&quince(&home, &["pin", &app, "none"]));
    let v = outcome(&home);
    assert_eq!(
        (v["outcome"].as_str(), v["version"].as_str()),
        (Some("installed"), Some("1.3.0"))
    );

    let list: serde_json::Value =
        serde_json::from_str(ok(&quince(&home, &["list", "--json"])).trim()).unwrap();
    assert_eq!(list[0]["current"], "1.3.0");
    assert_eq!(list[0]["refused"][0], "1.2.0");
    assert_eq!(list[0]["log_size"], 4);

    // A link for a version the log does not have is a clear error, nothing changes.
    let bad = publisher.link(&addr, Some("9.9.9"));
    let args = net(&["install", &bad]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = quince(&home, &args);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no release 9.9.9"));
    assert_eq!(run_app(&home, &app).as_deref(), Some("app 1.3.0"));
    // So is a pin at a version the log does not have; the state is kept.
    let before = state_json(&home, &app);
    let out = quince(&home, &["pin", &app, "9.9.9"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no release 9.9.9"));
    assert_eq!(state_json(&home, &app), before);
    ok(&quince(&home, &["pin", &app, "1.1.0"]));

    // Apps go by their name (from the signed root, any case), the short
    // name their launcher has by default, or a unique prefix of their id
    // too; a name nothing has is a clear error.
    let list = ok(&quince(&home, &["list"]));
    assert!(list.contains("Install app"), "{list}");
    for name in ["INSTALL APP", "install-app", &app[..6]] {
        let out = ok(&quince(&home, &["run", name]));
        assert!(out.contains("app 1.3.0"), "{name}: {out}");
    }
    let out = quince(&home, &["run", "no such app"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no installed app is called"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = seeder.kill();
    let _ = seeder.wait();
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Runs `args` with a crash at point `n`; returns whether it was killed.
fn crash_at(home: &Path, args: &[&str], n: usize) -> bool {
    let out = Command::new(QUINCE)
        .env("QUINCE_NETWORK", "private")
        .env("QUINCE_HOME", home)
        .env("QUINCE_TEST_CRASH_AT", n.to_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt as _;
    out.status.signal() == Some(9)
}

fn count_points(home: &Path, args: &[&str], scratch: &Path) -> Vec<String> {
    let file = scratch.join("points");
    let _ = std::fs::remove_file(&file);
    let out = Command::new(QUINCE)
        .env("QUINCE_NETWORK", "private")
        .env("QUINCE_HOME", home)
        .env("QUINCE_TEST_CRASH_COUNT", &file)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    ok(&out);
    std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

/// Up to `want` point numbers spread evenly over 1..=total.
fn spread(total: usize, want: usize) -> Vec<usize> {
    if total <= want {
        return (1..=total).collect();
    }
    (0..want)
        .map(|i| 1 + i * (total - 1) / (want - 1))
        .collect()
}

#[test]
fn killed_at_any_point_of_install_or_update_the_app_still_starts_and_a_rerun_completes() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("publisher"));
    publisher.publish("1.0.0", 0, 24);
    publisher.publish("2.0.0", 0, 24);
    let (mut seeder, addr) = publisher.seed();
    let app = publisher.root.app_id().to_string();
    let scratch = t.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();

    let install = net(&[
        "install",
        &publisher.link(&addr, Some("1.0.0")),
        "--run",
        "bin/app",
        "--health-seconds",
        "1",
    ]);
    let install: Vec<&str> = install.iter().map(String::as_str).collect();
    let update = net(&["update"]);
    let update: Vec<&str> = update.iter().map(String::as_str).collect();

    // The state before each trial: nothing (install), and 1.0.0 installed (update).
    let empty = scratch.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let counted = scratch.join("counted-install");
    copy_dir(&empty, &counted);
    let install_points = count_points(&counted, &install, &scratch);
    let base = scratch.join("base");
    copy_dir(&counted, &base);
    assert_eq!(run_app(&base, &app).as_deref(), Some("app 1.0.0"));
    let counted = scratch.join("counted-update");
    copy_dir(&base, &counted);
    let update_points = count_points(&counted, &update, &scratch);
    assert_eq!(run_app(&counted, &app).as_deref(), Some("app 2.0.0"));
    eprintln!(
        "crash points: install {}, update {}",
        install_points.len(),
        update_points.len()
    );

    let mut tried = 0;
    for (start, args, points, old, new) in [
        (&empty, &install, &install_points, None, "app 1.0.0"),
        (
            &base,
            &update,
            &update_points,
            Some("app 1.0.0"),
            "app 2.0.0",
        ),
    ] {
        for n in spread(points.len(), 30) {
            let home = scratch.join(format!("trial-{tried}"));
            copy_dir(start, &home);
            assert!(
                crash_at(&home, args, n),
                "not killed at point {n} ({})",
                points[n - 1]
            );
            let now = run_app(&home, &app);
            assert!(
                now.as_deref() == old || now.as_deref() == Some(new),
                "after a crash at point {n} ({}): the app runs as {now:?}",
                points[n - 1]
            );
            ok(&quince(&home, args));
            assert_eq!(
                run_app(&home, &app).as_deref(),
                Some(new),
                "a rerun after a crash at point {n} ({}) did not complete",
                points[n - 1]
            );
            let _ = std::fs::remove_dir_all(&home);
            tried += 1;
        }
    }
    assert!(tried >= 50, "only {tried} crash points tried");
    let _ = seeder.kill();
    let _ = seeder.wait();
}

/// Runs `quince` inside a fresh network namespace that has no interface but
/// (a down) loopback, when this machine allows it; otherwise plainly.
fn quince_offline(home: &Path, args: &[&str]) -> Output {
    offline(home, QUINCE, args, None)
}

/// Runs `program args` (in `dir`, if given) in a fresh network namespace with
/// no interface but a down loopback, when this machine allows it.
fn offline(home: &Path, program: &str, args: &[&str], dir: Option<&Path>) -> Output {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ns = format!("qoff{}x{n}", std::process::id());
    let isolated = Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .is_ok_and(|s| s.success());
    if !isolated {
        assert!(
            std::env::var("CI").is_err(),
            "CI must be able to create a network namespace"
        );
        eprintln!("SKIPPED the no-network part: cannot create a network namespace here");
        let mut cmd = Command::new(program);
        cmd.args(args).env("QUINCE_HOME", home).stdin(Stdio::null());
        if let Some(d) = dir {
            cmd.current_dir(d);
        }
        return cmd.output().unwrap();
    }
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns, program])
        .args(args)
        .env("QUINCE_HOME", home)
        .stdin(Stdio::null());
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.output().unwrap();
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    out
}

#[test]
fn an_offline_bundle_installs_with_no_network_and_a_flipped_byte_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("publisher"));
    publisher.publish("1.0.0", 0, 5);
    let (mut seeder, addr) = publisher.seed();
    let app = publisher.root.app_id().to_string();
    let friend = t.path().join("friend");
    let args = net(&["install", &publisher.link(&addr, None), "--run", "bin/app"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&quince(&friend, &args));
    // A broken 1.1.0 that the friend's update refuses: the bundle's log
    // then names a release newer than the one it carries.
    publisher.publish("1.1.0", 1, 5);
    let args = net(&["update", &app]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let said = ok(&quince(&friend, &args));
    assert!(said.contains("failed its health check"), "{said}");
    let _ = seeder.kill();
    let _ = seeder.wait();

    let usb = t.path().join("usb");
    let usb_s = usb.to_str().unwrap();
    let text = ok(&quince(&friend, &["share", &app, usb_s]));
    assert!(text.contains("install there with"), "{text}");
    assert!(usb.join("link").is_file());

    // The friend's way: the program the bundle carries, with the command in
    // INSTALL, run from the folder on a machine with no network.
    let install = std::fs::read_to_string(usb.join("INSTALL")).unwrap();
    // As a shell reads it: words, the link in single quotes.
    let words: Vec<&str> = install
        .split_whitespace()
        .map(|w| w.trim_matches('\''))
        .collect();
    let program = usb.join(words[0].trim_start_matches("./"));
    assert!(program.is_file(), "the bundle lacks {}", program.display());
    let friend2 = t.path().join("friend2");
    let out = offline(&friend2, program.to_str().unwrap(), &words[1..], Some(&usb));
    ok(&out);
    assert_eq!(run_app(&friend2, &app).as_deref(), Some("app 1.0.0"));

    // A fresh machine with no network installs from the folder, given a
    // bare link: what the bundle carries (1.0.0), not the log's newest.
    let link = format!("quince://{app}");
    let me = t.path().join("me");
    let out = quince_offline(
        &me,
        &[
            "install", &link, "--from", usb_s, "--run", "bin/app", "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(ok(&out).trim()).unwrap();
    assert_eq!(
        (v["outcome"].as_str(), v["version"].as_str()),
        (Some("installed"), Some("1.0.0"))
    );
    assert_eq!(run_app(&me, &app).as_deref(), Some("app 1.0.0"));

    // The same bundle on read-only media (a read-only bind mount) installs too.
    let ro = t.path().join("usb-ro");
    std::fs::create_dir_all(&ro).unwrap();
    let mounted = Command::new("mount")
        .arg("--bind")
        .arg(&usb)
        .arg(&ro)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(&ro)
            .status()
            .is_ok_and(|s| s.success());
    if mounted {
        let reader = t.path().join("reader");
        let out = quince_offline(
            &reader,
            &[
                "install",
                &link,
                "--from",
                ro.to_str().unwrap(),
                "--run",
                "bin/app",
            ],
        );
        let _ = Command::new("umount").arg(&ro).status();
        ok(&out);
        assert_eq!(run_app(&reader, &app).as_deref(), Some("app 1.0.0"));
    } else {
        let _ = Command::new("umount").arg(&ro).status();
        assert!(
            std::env::var("CI").is_err(),
            "CI runs as root and must test read-only media"
        );
        eprintln!("SKIPPED the read-only media case: cannot bind-mount here");
    }

    // Another app's id: the bundle's root does not match it.
    let other = t.path().join("other");
    let out = quince_offline(
        &other,
        &[
            "install",
            &format!("quince://{}", "ab".repeat(32)),
            "--from",
            usb_s,
        ],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("root"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // One flipped byte in one chunk: refused, nothing installed.
    let chunk = common::flip_a_stored_chunk(&usb.join("store"));
    let tampered = t.path().join("tampered");
    let out = quince_offline(
        &tampered,
        &["install", &link, "--from", usb_s, "--run", "bin/app"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad chunk"), "{err}");
    assert_eq!(run_app(&tampered, &app), None);
    let list = ok(&quince(&tampered, &["list", "--json"]));
    assert!(!list.contains("1.0.0"), "{list}");

    // The chunk's file (or pack) an endless device, the checkpoint a FIFO nobody writes to:
    // refused in turn without reading for ever or blocking.
    std::fs::remove_file(&chunk).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &chunk).unwrap();
    let endless = t.path().join("endless");
    let out = quince_offline(
        &endless,
        &["install", &link, "--from", usb_s, "--run", "bin/app"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("an endless chunk: {err}");
    // The bundle lacks that chunk: said at once (a bundle does not change
    // during the install), naming the chunk.
    assert!(err.contains("chunk") && err.contains("lacks it"), "{err}");
    assert_eq!(run_app(&endless, &app), None);
    let checkpoint = walk(&usb)
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "checkpoint"))
        .unwrap();
    std::fs::remove_file(&checkpoint).unwrap();
    assert!(Command::new("mkfifo")
        .arg(&checkpoint)
        .status()
        .unwrap()
        .success());
    let blocked = t.path().join("blocked");
    let out = quince_offline(
        &blocked,
        &["install", &link, "--from", usb_s, "--run", "bin/app"],
    );
    assert!(!out.status.success());
    assert_eq!(run_app(&blocked, &app), None);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

impl Publisher {
    /// Publishes `version` with `bin/quince` = `program` (and nothing else).
    fn publish_program(&self, version: &str, program: &[u8]) {
        let src = self.dir.join(format!("src-{version}"));
        std::fs::create_dir_all(src.join("bin")).unwrap();
        std::fs::write(src.join("bin/quince"), program).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            src.join("bin/quince"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        self.publish_dir(version, &src, "any");
    }
}

/// The real quince program with `tag` appended: runs the same, differs in bytes.
fn quince_release(tag: &str) -> Vec<u8> {
    let mut bytes = std::fs::read(QUINCE).unwrap();
    bytes.extend_from_slice(format!("\nquince release {tag}\n").as_bytes());
    bytes
}

fn wait_for_line(lines: &std::sync::mpsc::Receiver<String>, want: &str, secs: u64) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains(want);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line with {want:?} within {secs} s; saw {seen:#?}");
}

#[test]
fn the_running_updater_replaces_itself_and_a_broken_self_release_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let quince_app = Publisher::new(&t.path().join("quince-publisher"));
    quince_app.publish_program("1.0.0", &quince_release("1.0.0"));
    let (mut seeder, addr) = quince_app.seed();
    let home = t.path().join("user");
    let me = quince_app.root.app_id().to_string();

    // The user's installed Quince is release 1.0.0, at a path of its own.
    let bin = t.path().join("user-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let installed = bin.join("quince");
    std::fs::write(&installed, quince_release("1.0.0")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&installed, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(&installed)
        .env("QUINCE_HOME", &home)
        .args(net(&["install", &quince_app.link(&addr, None)]))
        .output()
        .unwrap();
    ok(&out);

    let mut updater = Killed(
        Command::new(&installed)
            .env("QUINCE_HOME", &home)
            .args(net(&[
                "update",
                "--watch",
                "--interval",
                "1",
                "--self-app",
                &me,
            ]))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = updater.0.id();
    let (tx, lines) = std::sync::mpsc::channel();
    let stdout = updater.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    wait_for_line(&lines, "quince self release 1.0.0", 30);
    wait_for_line(&lines, "up to date at 1.0.0", 30);

    // Release 1.1.0: the running updater installs it, replaces its own binary
    // and restarts in place (same process), now as 1.1.0.
    quince_app.publish_program("1.1.0", &quince_release("1.1.0"));
    wait_for_line(&lines, "replaced itself with release 1.1.0", 60);
    wait_for_line(&lines, "quince self release 1.1.0", 30);
    assert_eq!(std::fs::read(&installed).unwrap(), quince_release("1.1.0"));
    assert!(
        updater.0.try_wait().unwrap().is_none(),
        "the updater stopped"
    );
    assert_eq!(updater.0.id(), pid);

    // A broken release (its program exits 1) fails the health check: refused,
    // and the running binary stays 1.1.0 and keeps working.
    quince_app.publish_program("1.2.0", b"#!/bin/sh\nexit 1\n");
    let seen = wait_for_line(&lines, "release 1.2.0 failed its health check", 60);
    assert!(!seen
        .iter()
        .any(|l| l.contains("replaced itself with release 1.2.0")));
    assert_eq!(std::fs::read(&installed).unwrap(), quince_release("1.1.0"));
    quince_app.publish_program("1.3.0", &quince_release("1.3.0"));
    wait_for_line(&lines, "replaced itself with release 1.3.0", 60);
    wait_for_line(&lines, "quince self release 1.3.0", 30);
    assert!(
        updater.0.try_wait().unwrap().is_none(),
        "the updater stopped"
    );

    let _ = updater.kill();
    let _ = updater.wait();
    let _ = seeder.kill();
    let _ = seeder.wait();
}

impl Publisher {
    /// A second publisher holding the same keys (a fork of the same app).
    fn fork(&self, dir: &Path) -> Publisher {
        LogDir::create(&dir.join("log"), &self.root).unwrap();
        Publisher {
            dir: dir.to_path_buf(),
            root: self.root.clone(),
            key: self.key.clone(),
        }
    }
}

fn state_json(home: &Path, app: &str) -> String {
    std::fs::read_to_string(home.join(format!("apps/{app}/state.json"))).unwrap()
}

#[test]
fn a_forked_log_stops_updates_and_changes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("publisher"));
    publisher.publish("1.0.0", 0, 2);
    let (mut seeder, addr) = publisher.seed();
    let app = publisher.root.app_id().to_string();
    let home = t.path().join("user");
    let args = net(&["install", &publisher.link(&addr, None), "--run", "bin/app"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&quince(&home, &args));
    let _ = seeder.kill();
    let _ = seeder.wait();
    let before = state_json(&home, &app);

    // The same keys sign another history: a different 1.0.0 and then 1.1.0.
    let fork = publisher.fork(&t.path().join("fork"));
    fork.publish("1.0.0", 0, 3);
    fork.publish("1.1.0", 0, 3);
    let (mut forked, fork_addr) = fork.seed();
    let args = net(&["update", "--bootstrap", &fork_addr]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = quince(&home, &args);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("equivocation"), "{err}");
    assert_eq!(state_json(&home, &app), before, "the trusted state changed");
    assert_eq!(run_app(&home, &app).as_deref(), Some("app 1.0.0"));
    let _ = forked.kill();
    let _ = forked.wait();
}

#[test]
fn a_release_for_another_platform_is_a_clear_error() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("publisher"));
    publisher.publish_for("1.0.0", "plan9-mips");
    let (mut seeder, addr) = publisher.seed();
    let home = t.path().join("user");
    let args = net(&["install", &publisher.link(&addr, None)]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = quince(&home, &args);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no release for"), "{err}");
    let _ = seeder.kill();
    let _ = seeder.wait();
}

#[test]
fn an_unwritable_home_or_a_full_disk_is_a_clear_error_and_the_app_stays() {
    use std::os::unix::fs::PermissionsExt as _;
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("publisher"));
    publisher.publish("1.0.0", 0, 2);
    let (mut seeder, addr) = publisher.seed();
    let app = publisher.root.app_id().to_string();

    // Unwritable: a home folder whose apps/ cannot be written.
    let home = t.path().join("locked");
    std::fs::create_dir_all(home.join("apps")).unwrap();
    std::fs::set_permissions(home.join("apps"), std::fs::Permissions::from_mode(0o500)).unwrap();
    let args = net(&["install", &publisher.link(&addr, None)]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let is_root = rustix_is_root();
    if !is_root {
        let out = quince(&home, &args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("Permission denied") && err.contains("apps"),
            "{err}"
        );
    } else {
        eprintln!("SKIPPED the unwritable-folder case: root can write anywhere");
    }

    // Full disk: 1.0.0 installed on a tiny file system, then a 2 MiB 1.1.0.
    let small = t.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1536k", "tmpfs"])
        .arg(&small)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        assert!(
            std::env::var("CI").is_err(),
            "CI runs as root and must test a full disk"
        );
        eprintln!("SKIPPED the full-disk case: cannot mount a tmpfs here");
    } else {
        let home = small.join("home");
        let install = net(&["install", &publisher.link(&addr, None), "--run", "bin/app"]);
        let install: Vec<&str> = install.iter().map(String::as_str).collect();
        ok(&quince(&home, &install));
        let before = state_json(&home, &app);
        publisher.publish_big("1.1.0", 2 * 1024 * 1024);
        let update = net(&["update"]);
        let update: Vec<&str> = update.iter().map(String::as_str).collect();
        let out = quince(&home, &update);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        let after = state_json(&home, &app);
        let runs = run_app(&home, &app);
        // gc on the full disk: it needs no space, frees what the failed
        // update fetched, and leaves the installed app whole.
        let gc = quince(&home, &["gc", "--json"]);
        let verified = quince(&home, &["verify", &app]);
        let runs_after_gc = run_app(&home, &app);
        let _ = Command::new("umount").arg(&small).status();
        let gc: serde_json::Value =
            serde_json::from_str(ok(&gc).trim()).expect("gc on a full disk failed");
        assert!(gc["bytes_deleted"].as_u64().unwrap() > 0, "{gc}");
        ok(&verified);
        assert_eq!(runs_after_gc.as_deref(), Some("app 1.0.0"));
        assert!(
            !out.status.success(),
            "an update onto a full disk succeeded"
        );
        assert!(err.contains("No space left on device"), "{err}");
        assert_eq!(after, before, "the state changed");
        assert_eq!(runs.as_deref(), Some("app 1.0.0"));
    }
    let _ = seeder.kill();
    let _ = seeder.wait();
}

fn rustix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Publisher {
    /// Publishes `version` for `platform` only.
    fn publish_for(&self, version: &str, platform: &str) {
        let src = self.dir.join(format!("src-{version}-{platform}"));
        std::fs::create_dir_all(src.join("bin")).unwrap();
        std::fs::write(src.join("bin/app"), "#!/bin/sh\necho other\n").unwrap();
        self.publish_dir(version, &src, platform);
    }
}

#[test]
fn a_log_signed_by_the_wrong_key_is_refused_and_nothing_is_installed() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("publisher"));
    publisher.publish("1.0.0", 0, 2);
    // Someone else's key re-signs the head: the checkpoint does not verify.
    let (_, other_key) = quince_protocol::testkit::danger_single_key_root("Impostor", 99);
    let path = publisher.dir.join("log/checkpoint");
    let note = Note::parse(&std::fs::read(&path).unwrap()).unwrap();
    let mut forged = Note::unsigned(note.text()).unwrap();
    forged
        .sign_ed25519(&publisher.root.app_id().origin(), &other_key)
        .unwrap();
    std::fs::write(&path, forged.to_bytes()).unwrap();
    let (_seeder, addr) = publisher.seed();
    let app = publisher.root.app_id().to_string();
    let home = t.path().join("user");
    let args = net(&["install", &publisher.link(&addr, None), "--run", "bin/app"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = quince(&home, &args);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a valid checkpoint") && err.contains("not signed by the signers we trust"),
        "{err}"
    );
    assert_eq!(run_app(&home, &app), None);
    assert!(!home.join(format!("apps/{app}/state.json")).exists());
}

#[test]
fn the_watching_updater_installs_and_starts_a_new_release_by_itself() {
    use std::os::unix::fs::PermissionsExt as _;
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("publisher"));
    publisher.publish("1.0.0", 0, 1);
    let (_seeder, addr) = publisher.seed();
    let home = t.path().join("user");
    let args = net(&["install", &publisher.link(&addr, None), "--run", "bin/app"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&quince(&home, &args));
    let mut updater = Killed(
        Command::new(QUINCE)
            .env("QUINCE_NETWORK", "private")
            .env("QUINCE_HOME", &home)
            .args(net(&["update", "--watch", "--launch", "--interval", "1"]))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (tx, lines) = std::sync::mpsc::channel();
    let stdout = updater.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    wait_for_line(&lines, "up to date at 1.0.0", 30);
    // 1.1.0 leaves a mark when started for real (not for its health check).
    let marker = t.path().join("started-1.1.0");
    let src = publisher.dir.join("src-1.1.0");
    std::fs::create_dir_all(src.join("bin")).unwrap();
    std::fs::write(
        src.join("bin/app"),
        format!(
            "#!/bin/sh\n[ -z \"$QUINCE_HEALTH_CHECK\" ] && echo started > {}\nexit 0\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(src.join("bin/app"), std::fs::Permissions::from_mode(0o755)).unwrap();
    publisher.publish_dir("1.1.0", &src, "any");
    wait_for_line(&lines, "to 1.1.0", 60);
    wait_for_line(&lines, "started", 10);
    for _ in 0..50 {
        if marker.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(marker.exists(), "the new version was not started");
}

#[test]
fn verify_names_a_modified_a_missing_and_an_extra_file() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("publisher"));
    publisher.publish("1.0.0", 0, 3);
    let (_seeder, addr) = publisher.seed();
    let app = publisher.root.app_id().to_string();
    let home = t.path().join("user");
    let args = net(&["install", &publisher.link(&addr, None), "--run", "bin/app"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&quince(&home, &args));
    let text = ok(&quince(&home, &["verify", &app]));
    assert!(text.contains("every file matches"), "{text}");

    let current = home.join(format!("apps/{app}/current"));
    std::fs::write(current.join("data/001"), "changed by someone").unwrap();
    std::fs::remove_file(current.join("data/002")).unwrap();
    std::fs::write(current.join("data/planted"), "x").unwrap();
    let out = quince(&home, &["verify", &app, "--json"]);
    assert!(!out.status.success(), "verify passed a modified install");
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(v["intact"], false);
    let diffs: Vec<&str> = v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(
        diffs,
        [
            "missing: data/002",
            "modified: data/001",
            "not in the release: data/planted"
        ]
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("3 file(s) differ"));
}

/// Starts a long-running `quince witness` for `link`; returns the process, its
/// address, and a channel of its output lines.
fn start_witness(home: &Path, link: &str) -> (Killed, String, std::sync::mpsc::Receiver<String>) {
    start_witness_with(Command::new(QUINCE), home, link)
}

/// [`start_witness`] with `command` (the `quince` binary, or a wrapper
/// that runs it, such as faketime).
fn start_witness_with(
    mut command: Command,
    home: &Path,
    link: &str,
) -> (Killed, String, std::sync::mpsc::Receiver<String>) {
    let mut child = command
        .env("QUINCE_NETWORK", "private")
        .env("QUINCE_HOME", home)
        .args([
            "witness",
            link,
            "--interval",
            "1",
            "--find-for",
            "5",
            "--no-mdns",
        ])
        .args(["--listen", "/ip4/127.0.0.1/tcp/0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let seen = wait_for_line(&rx, "listening on ", 30);
    let addr = seen
        .iter()
        .find_map(|l| l.strip_prefix("listening on "))
        .unwrap()
        .to_string();
    (Killed(child), addr, rx)
}

/// Freshness (the freeze attack): a witness whose clock is three days behind
/// (libfaketime; the real `quince witness` process) cosigns the head. A
/// client that requires a cosignature within an hour installs nothing; one
/// that does not installs, warns that it cannot confirm the head is current,
/// and says so in `install --json` and `list --json`. Once the witness's
/// clock is right and it cosigns again, the next update merges the fresh
/// cosignature (the publisher's copy carries none) and the warning goes.
#[test]
fn a_witness_days_behind_leaves_the_head_unconfirmed_and_a_fresh_cosignature_confirms_it() {
    if Command::new("faketime").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "faketime is not installed (CI installs it)"
        );
        eprintln!("SKIPPED: faketime is not installed");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("publisher"));
    publisher.publish("1.0.0", 0, 2);
    let (_seeder, addr) = publisher.seed();
    let app = publisher.root.app_id().to_string();
    let witness_home = t.path().join("witness");
    let key = ok(&quince(&witness_home, &["witness", "--print-key"]))
        .trim()
        .to_string();
    let mut behind = Command::new("faketime");
    // Only the wall clock is days behind (a monotonic clock set back past
    // zero would not be a clock at all).
    behind
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .args(["-f", "-3d", QUINCE]);
    let (witness, witness_addr, lines) =
        start_witness_with(behind, &witness_home, &publisher.link(&addr, None));
    wait_for_line(&lines, "cosigned", 60);
    let held = std::fs::read(witness_home.join(format!("witness/{app}/log/checkpoint"))).unwrap();
    let held = quince_protocol::note::Note::parse(&held).unwrap();
    let policy = quince_protocol::cosignature::Witnesses {
        keys: vec![quince_protocol::cosignature::WitnessKey::parse(&key).unwrap()],
        quorum: 1,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let at = policy.confirmed_at(&held).unwrap();
    assert!(
        (now - 3 * 86_400 - 120..=now - 3 * 86_400 + 120).contains(&at),
        "the witness's clock was not three days behind: cosigned at {at}, now {now}"
    );

    // Both peers: the publisher (no cosignature) and the witness (an old one).
    let both = format!("{}&peer={witness_addr}", publisher.link(&addr, None));
    let install = |home: &Path, extra: &[&str]| {
        let mut args = vec!["install", both.as_str(), "--run", "bin/app", "--json"];
        args.extend(["--witness", key.as_str()]);
        args.extend(extra);
        let args = net(&args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        quince(home, &args)
    };
    let strict = t.path().join("strict");
    let out = install(&strict, &["--witness-max-age", "3600"]);
    assert!(!out.status.success(), "installed a head cosigned days ago");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("3 days old") && err.contains("nothing was installed"),
        "{err}"
    );
    assert_eq!(run_app(&strict, &app), None);

    let home = t.path().join("user");
    let out = install(&home, &[]);
    let said = ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot confirm that this is the newest release log")
            && err.contains("3 days old"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_str(said.lines().last().unwrap()).unwrap();
    assert_eq!(v["outcome"], "installed");
    assert_eq!(v["freshness"]["current"], false, "{v}");
    assert_eq!(v["freshness"]["max_age_seconds"], 86_400, "{v}");
    let list: serde_json::Value =
        serde_json::from_str(&ok(&quince(&home, &["list", "--json"]))).unwrap();
    assert_eq!(list[0]["freshness"]["current"], false, "{list}");
    drop(witness);

    // The witness's clock is put right: it cosigns the same head again, now.
    let (_witness, witness_addr3, lines) =
        start_witness(&witness_home, &publisher.link(&addr, None));
    wait_for_line(&lines, "cosigned", 60);
    let args = net(&[
        "update",
        "--json",
        "--bootstrap",
        &addr,
        "--bootstrap",
        &witness_addr3,
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = quince(&home, &args);
    let said = ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("cannot confirm"), "{err}");
    let v: serde_json::Value = serde_json::from_str(said.lines().last().unwrap()).unwrap();
    assert_eq!(v["outcome"], "up-to-date", "{v}");
    assert_eq!(v["freshness"]["current"], true, "{v}");
    assert!(v["freshness"]["age_seconds"].as_u64().unwrap() < 600, "{v}");
}

/// Witnesses, end to end: a client that requires a witness's cosignature
/// installs only a cosigned checkpoint; the same signers then give two peers
/// two different histories of the same size; the witness, asking both, keeps
/// the pair as proof; the proof reaches the client from the witness alone,
/// and the client refuses to update, keeps its state and app, serves the proof
/// on, and still refuses when the witness is gone.
#[test]
fn a_witness_cosigns_exposes_a_split_view_and_its_proof_stops_the_client() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("publisher"));
    publisher.publish("1.0.0", 0, 2);
    // Another peer holding the same log so far (the split comes later).
    let other = Publisher {
        dir: t.path().join("other"),
        root: publisher.root.clone(),
        key: publisher.key.clone(),
    };
    std::fs::create_dir_all(&other.dir).unwrap();
    copy_dir(&publisher.dir.join("log"), &other.dir.join("log"));
    copy_dir(&publisher.dir.join("store"), &other.dir.join("store"));
    let (mut seeder, addr) = publisher.seed();
    let app = publisher.root.app_id().to_string();
    let witness_home = t.path().join("witness");
    let key = ok(&quince(&witness_home, &["witness", "--print-key"]))
        .trim()
        .to_string();
    assert!(key.starts_with("witness.quince/"), "{key}");

    // Requiring the witness, the publisher's own checkpoint is not enough.
    let home = t.path().join("user");
    let install = |link: &str| {
        let args = net(&["install", link, "--run", "bin/app", "--witness", &key]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        quince(&home, &args)
    };
    let out = install(&publisher.link(&addr, None));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("witness cosignatures"), "{err}");
    assert_eq!(run_app(&home, &app), None);

    // The witness checks the log and cosigns; from it the client installs.
    let (witness, witness_addr, lines) = start_witness(&witness_home, &publisher.link(&addr, None));
    wait_for_line(&lines, "cosigned", 60);
    let both = format!("{}&peer={witness_addr}", publisher.link(&addr, None));
    ok(&install(&both));
    assert_eq!(run_app(&home, &app).as_deref(), Some("app 1.0.0"));
    let held = std::fs::read_to_string(home.join(format!("apps/{app}/log/checkpoint"))).unwrap();
    assert!(held.contains("\u{2014} witness.quince/"), "{held}");
    assert!(state_json(&home, &app).contains(&key));
    drop(witness);
    let before = state_json(&home, &app);

    // Split view: the same keys sign two different logs of size 2.
    publisher.publish("1.1.0", 0, 2);
    other.publish("1.1.0", 0, 5);
    let (mut other_seeder, other_addr) = other.seed();
    let out = quince(
        &witness_home,
        &net(&[
            "witness",
            &format!("{}&peer={other_addr}", publisher.link(&addr, None)),
            "--once",
        ])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    assert!(!out.status.success(), "the witness cosigned a split view");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("equivocation"), "{said}");
    let proof = witness_home.join(format!("witness/{app}/log/equivocation"));
    assert!(proof.exists());

    // Only the witness is left online: its proof reaches the client, which stops.
    let _ = seeder.kill();
    let _ = other_seeder.kill();
    let (_witness, witness_addr, lines) =
        start_witness(&witness_home, &publisher.link(&addr, None));
    wait_for_line(&lines, "equivocation", 60);
    let args = net(&["update", "--bootstrap", &witness_addr]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = quince(&home, &args);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("equivocation"), "{err}");
    assert_eq!(state_json(&home, &app), before, "the trusted state changed");
    assert_eq!(run_app(&home, &app).as_deref(), Some("app 1.0.0"));
    let kept = home.join(format!("apps/{app}/log/equivocation"));
    assert_eq!(
        std::fs::read(&kept).unwrap(),
        std::fs::read(&proof).unwrap()
    );

    // With the witness gone too, the kept proof still stops updates.
    drop(_witness);
    let (_seeder, addr) = publisher.seed();
    let args = net(&["update", "--bootstrap", &addr]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = quince(&home, &args);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("equivocation"));
    assert_eq!(run_app(&home, &app).as_deref(), Some("app 1.0.0"));
}

/// `quince audit` over the network: the log, manifests and every chunk come
/// from a seeding peer; the JSON report lists each release, says the
/// single-key test log has no signing transcripts (a warning, not a failure),
/// and exits 0. A log folder with a damaged tile fails with exit 1.
#[test]
fn audit_from_a_link_reports_every_release_and_a_damaged_log_fails() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("publisher"));
    publisher.publish("1.0.0", 0, 2);
    publisher.publish("1.1.0", 0, 4);
    let (_seeder, addr) = publisher.seed();
    let home = t.path().join("auditor");
    let args = net(&[
        "audit",
        &publisher.link(&addr, None),
        "--download",
        "--json",
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ok(&quince(&home, &args));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["passed"], true, "{v}");
    assert_eq!(v["size"], 2);
    let releases = v["releases"].as_array().unwrap();
    assert_eq!(releases.len(), 2);
    assert_eq!(releases[1]["version"], "1.1.0");
    assert_eq!(releases[1]["manifest_check"], "verified");
    assert_eq!(releases[1]["files_checked"], 5);
    assert!(releases[1]["signers"].is_null());
    assert!(v["warnings"].to_string().contains("no signing transcript"));

    // A copy of the log with one byte of a tile changed: the audit fails.
    let copy = t.path().join("copy");
    copy_dir(&publisher.dir.join("log"), &copy);
    let tile = walk(&copy.join("tile"))
        .into_iter()
        .find(|p| !p.to_string_lossy().contains("entries"))
        .unwrap();
    let mut bytes = std::fs::read(&tile).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&tile, bytes).unwrap();
    let out = quince(&home, &["audit", copy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("PROBLEM") && text.contains("audit FAILED"),
        "{text}"
    );
}

/// A one-shot `quince install` exits when done, so it must not leave a DHT
/// record sending others to it (the hostile test found 19 of 20 provider
/// records dead); the seeder's record stays.
#[test]
fn a_one_shot_install_leaves_no_provider_record_behind() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("publisher"));
    publisher.publish("1.0.0", 0, 5);
    let (_seeder, addr) = publisher.seed();
    let app = publisher.root.app_id();
    let args = net(&["install", &publisher.link(&addr, None), "--run", "bin/app"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&quince(&t.path().join("user"), &args));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let providers = runtime.block_on(async {
        let node = quince_updater::Node::start(
            quince_updater::NodeConfig {
                listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
                bootstrap: vec![addr.parse().unwrap()],
                mdns: false,
                ..quince_updater::NodeConfig::default()
            },
            std::sync::Arc::new(quince_updater::Library::new(
                Store::open(&t.path().join("asker-store")).unwrap(),
            )),
        )
        .await
        .unwrap();
        let providers = node.providers(app).await;
        node.shutdown().await;
        providers
    });
    let seeder: String = addr.rsplit('/').next().unwrap().to_string();
    let names: Vec<String> = providers.iter().map(|p| p.to_string()).collect();
    assert_eq!(names, vec![seeder], "providers of the app: {names:?}");
}

/// A run command that names no file in the release is our mistake, not the
/// release's: the install rolls back but does not refuse the version, and
/// installing again with the right command works (before, the version was
/// refused for good and a rerun found nothing to install).
#[test]
fn a_wrong_run_command_does_not_refuse_the_release_for_good() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("publisher"));
    publisher.publish("1.0.0", 0, 3);
    let (_seeder, addr) = publisher.seed();
    let home = t.path().join("user");
    let app = publisher.root.app_id().to_string();
    let link = publisher.link(&addr, None);
    let install = |run: &str| -> serde_json::Value {
        let args = net(&[
            "install",
            &link,
            "--run",
            run,
            "--health-seconds",
            "1",
            "--json",
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = quince(&home, &args);
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim())
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    };
    let wrong = install("bin/no-such-program");
    assert_eq!(wrong["outcome"], "rolled-back", "{wrong}");
    assert!(
        wrong.to_string().contains("not the release's own failure"),
        "{wrong}"
    );
    let right = install("bin/app");
    assert_eq!(right["outcome"], "installed", "{right}");
    assert_eq!(run_app(&home, &app).as_deref(), Some("app 1.0.0"));
}

/// The installer in a friend's bundle: Quince (its own app, whose releases
/// hold `bin/quince` and `bin/quince-bootstrap`) and an app are installed in
/// a home; `quince share` writes the app, the installer from Quince's
/// current release and Quince's signed log. `quince verify-installer`, on
/// another machine's empty home, confirms the installer is what Quince's
/// keyholders released; a copy with one byte changed, or a check against
/// another app id, fails.
#[test]
fn a_shared_installer_checks_out_against_quinces_own_log() {
    use std::os::unix::fs::PermissionsExt as _;
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("publisher"));
    publisher.publish("1.0.0", 0, 1);
    let quince_app = Publisher::named(&t.path().join("quince"), "Quince", 42);
    let src = t.path().join("quince-src");
    std::fs::create_dir_all(src.join("bin")).unwrap();
    // The installer's bytes stand for a real bootstrap: what is checked is
    // that the log lists them, whatever they are.
    let installer = b"#!/bin/sh\necho quince-bootstrap 2.0.0\n".to_vec();
    std::fs::write(src.join("bin/quince-bootstrap"), &installer).unwrap();
    std::fs::write(src.join("bin/quince"), b"#!/bin/sh\nexit 0\n").unwrap();
    for f in ["bin/quince", "bin/quince-bootstrap"] {
        std::fs::set_permissions(src.join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    quince_app.publish_dir("2.0.0", &src, "any");
    let (_seeder, addr) = publisher.seed();
    let (_quince_seeder, quince_addr) = quince_app.seed();
    let me = quince_app.root.app_id().to_string();
    let app = publisher.root.app_id().to_string();

    let home = t.path().join("friend");
    for link in [
        quince_app.link(&quince_addr, None),
        publisher.link(&addr, None),
    ] {
        ok(&quince_net(&home, &["install", &link]));
    }
    let bundle = t.path().join("usb");
    let said = ok(&quince(
        &home,
        &["share", &app, bundle.to_str().unwrap(), "--self-app", &me],
    ));
    assert!(said.contains("quince verify-installer"), "{said}");
    assert_eq!(
        std::fs::read(bundle.join("quince-bootstrap")).unwrap(),
        installer
    );
    assert!(bundle.join("quince/log/root").is_file());
    let readme = std::fs::read_to_string(bundle.join("README.txt")).unwrap();
    assert!(readme.contains("verify-installer"), "{readme}");

    // Another machine, with a Quince of its own but nothing installed: the
    // bundle's log is checked against the app id given, not trusted.
    let other = t.path().join("other");
    let file = bundle.join("quince-bootstrap");
    let check = |file: &Path, id: &str| {
        quince(
            &other,
            &[
                "verify-installer",
                file.to_str().unwrap(),
                "--self-app",
                id,
                "--json",
            ],
        )
    };
    let out = check(&file, &me);
    let v: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["matches"][0]["path"], "bin/quince-bootstrap", "{v}");
    assert_eq!(v["matches"][0]["version"], "2.0.0", "{v}");

    // One byte changed: not Quince's.
    let tampered = t.path().join("usb2");
    copy_dir(&bundle, &tampered);
    let mut bytes = installer.clone();
    bytes[12] ^= 1;
    std::fs::write(tampered.join("quince-bootstrap"), &bytes).unwrap();
    let out = check(&tampered.join("quince-bootstrap"), &me);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is NOT a file of any release"), "{err}");
    // Checked against another app's id, the bundle's log does not verify.
    let out = check(&file, &app);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Quince's log"), "{err}");
}

/// A bundle for another platform: an app and Quince are released for
/// Linux and Windows; a Linux user, who holds only the Linux files, shares
/// the app for Windows. The Windows files (the app's and Quince's
/// installer) are fetched from peers into the bundle, which then holds
/// every chunk of the Windows install, the installer from Quince's
/// Windows release and a Windows command. A platform the release does not
/// serve, or no peer to fetch from, is a clear error and leaves no folder.
#[test]
fn a_bundle_for_another_platform_fetches_that_platforms_files() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    let dir = |name: &str, files: &[(&str, &[u8])]| {
        let d = w.join(name);
        for (path, bytes) in files {
            std::fs::create_dir_all(d.join(path).parent().unwrap()).unwrap();
            std::fs::write(d.join(path), bytes).unwrap();
        }
        d
    };
    let (linux, windows) = ("linux-x86_64", "windows-x86_64");
    let publisher = Publisher::new(&w.join("publisher"));
    let common = dir("common", &[("share/readme", b"for everyone".as_slice())]);
    let lin = dir(
        "lin",
        &[("bin/app", b"#!/bin/sh\necho app 1.0.0\n".as_slice())],
    );
    let win = dir(
        "win",
        &[("bin/app.cmd", b"@echo app 1.0.0 on windows\r\n".as_slice())],
    );
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(lin.join("bin/app"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let manifest = publisher.publish_platforms(
        "1.0.0",
        &[(&common, None), (&lin, Some(linux)), (&win, Some(windows))],
        &[linux, windows],
    );
    let quince_app = Publisher::named(&w.join("quince"), "Quince", 42);
    let windows_installer = b"MZ stands in for quince-bootstrap.exe".to_vec();
    let q_lin = dir(
        "q-lin",
        &[("bin/quince-bootstrap", b"#!/bin/sh\n".as_slice())],
    );
    let q_win = dir(
        "q-win",
        &[("bin/quince-bootstrap.exe", windows_installer.as_slice())],
    );
    quince_app.publish_platforms(
        "2.0.0",
        &[(&q_lin, Some(linux)), (&q_win, Some(windows))],
        &[linux, windows],
    );
    let (mut seeder, addr) = publisher.seed();
    let (mut quince_seeder, quince_addr) = quince_app.seed();
    let (app, me) = (
        publisher.root.app_id().to_string(),
        quince_app.root.app_id().to_string(),
    );
    let home = w.join("linux-user");
    for link in [
        quince_app.link(&quince_addr, None),
        publisher.link(&addr, None),
    ] {
        ok(&quince_net(&home, &["install", &link]));
    }
    let share = |folder: &Path, platform: &str| {
        quince_net(
            &home,
            &[
                "share",
                &app,
                folder.to_str().unwrap(),
                "--platform",
                platform,
                "--self-app",
                &me,
                "--json",
            ],
        )
    };

    let usb = w.join("usb");
    let v: serde_json::Value = serde_json::from_str(ok(&share(&usb, windows)).trim()).unwrap();
    assert_eq!(v["platform"], windows, "{v}");
    assert_eq!(
        v["chunks_fetched"], 1,
        "only bin/app.cmd is not on this machine: {v}"
    );
    assert_eq!(v["installer"], "quince-bootstrap.exe", "{v}");
    assert_eq!(v["installer_checkable"], true, "{v}");
    // Every chunk of the Windows install is in the bundle, and checks out.
    let bundle = Store::open(&usb.join("store")).unwrap();
    let windows_platform = windows.parse().unwrap();
    let mut files = Vec::new();
    for entry in manifest.entries_for(&windows_platform) {
        if let quince_protocol::manifest::EntryKind::File { chunks, .. } = &entry.kind {
            files.push(entry.path.to_string());
            for c in chunks {
                bundle
                    .chunk(c)
                    .unwrap_or_else(|e| panic!("{}: {e}", entry.path));
            }
        }
    }
    files.sort();
    assert_eq!(files, ["bin/app.cmd", "share/readme"]);
    assert_eq!(
        std::fs::read(usb.join("quince-bootstrap.exe")).unwrap(),
        windows_installer
    );
    let install = std::fs::read_to_string(usb.join("INSTALL")).unwrap();
    assert!(
        install.starts_with(&format!(
            "quince-bootstrap.exe \"quince://{app}?version=1.0.0\" --from ."
        )),
        "a command for cmd.exe: {install}"
    );
    // The installer checks out against Quince's log in the bundle.
    let out = quince(
        &w.join("checker"),
        &[
            "verify-installer",
            usb.join("quince-bootstrap.exe").to_str().unwrap(),
            "--self-app",
            &me,
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(v["matches"][0]["path"], "bin/quince-bootstrap.exe", "{v}");

    // A platform the release does not serve.
    let mac = w.join("usb-mac");
    let out = share(&mac, "macos-aarch64");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has no release 1.0.0 for macos-aarch64"),
        "{err}"
    );
    assert!(!mac.exists(), "a refused share leaves no folder");
    // A name that is no platform: a usage error (exit 2), like clap's others.
    let out = share(&w.join("usb-bad"), "Windows!");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'Windows!' for '--platform") && err.contains("[a-z0-9_-]"),
        "{err}"
    );

    // No peer holds the Windows files: a clear error, no half bundle.
    let _ = seeder.kill();
    let _ = seeder.wait();
    let _ = quince_seeder.kill();
    let _ = quince_seeder.wait();
    let offline = w.join("usb-offline");
    let out = share(&offline, windows);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("fetching app") && err.contains("windows-x86_64"),
        "{err}"
    );
    assert!(!offline.exists(), "a failed share leaves no folder");
    // This machine's own platform still shares with no network.
    let here = w.join("usb-linux");
    let v: serde_json::Value = serde_json::from_str(ok(&share(&here, linux)).trim()).unwrap();
    assert_eq!(v["chunks_fetched"], 0, "{v}");
    assert_eq!(v["installer"], "quince-bootstrap", "{v}");
}

/// `quince gc` deletes exactly the chunks no kept version needs, and
/// `quince remove` takes an app away (one rename, so a removal cut short is
/// finished by the next run) while other apps keep working.
#[test]
fn remove_and_gc_free_what_no_installed_version_needs() {
    let t = tempfile::tempdir().unwrap();
    let a = Publisher::new(&t.path().join("a"));
    a.publish("1.0.0", 0, 20);
    let b = Publisher::named(&t.path().join("b"), "Other app", 43);
    b.publish("1.0.0", 0, 5);
    let (_seed_a, addr_a) = a.seed();
    let (_seed_b, addr_b) = b.seed();
    let home = t.path().join("user");
    let install = |link: String| {
        let args = net(&["install", &link, "--run", "bin/app"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&quince(&home, &args));
    };
    install(a.link(&addr_a, None));
    install(b.link(&addr_b, None));
    let app_a = a.root.app_id().to_string();
    let app_b = b.root.app_id().to_string();
    let gc = |home: &Path| -> serde_json::Value {
        serde_json::from_str(ok(&quince(home, &["gc", "--json"])).trim()).unwrap()
    };
    let first = gc(&home);
    assert_eq!(first["chunks_deleted"], 0, "{first}");
    let chunks_on_disk = |home: &Path| common::stored_chunks(&home.join("store"));
    assert_eq!(first["chunks_before"], chunks_on_disk(&home), "{first}");

    // Two more releases of A: 1.0.0 is no longer kept (current 1.2.0,
    // previous 1.1.0), so its own chunks are garbage.
    let update = net(&["update", &app_a]);
    let update: Vec<&str> = update.iter().map(String::as_str).collect();
    a.publish("1.1.0", 0, 20);
    ok(&quince(&home, &update));
    a.publish("1.2.0", 0, 20);
    ok(&quince(&home, &update));
    let second = gc(&home);
    assert!(second["chunks_deleted"].as_u64().unwrap() > 0, "{second}");
    assert!(second["bytes_deleted"].as_u64().unwrap() > 0, "{second}");
    assert_eq!(gc(&home)["chunks_deleted"], 0, "a second gc found more");
    // Everything kept still checks out, and rolling back still works.
    for app in [&app_a, &app_b] {
        ok(&quince(&home, &["verify", app]));
    }
    ok(&quince(&home, &["rollback", &app_a]));
    assert_eq!(run_app(&home, &app_a).as_deref(), Some("app 1.1.0"));

    // Removing A: gone from the list and from disk; B untouched.
    let out: serde_json::Value =
        serde_json::from_str(ok(&quince(&home, &["remove", "install app", "--json"])).trim())
            .unwrap();
    assert_eq!(out["app"], app_a.as_str());
    assert!(out["bytes_freed"].as_u64().unwrap() > 0, "{out}");
    assert!(!home.join(format!("apps/{app_a}")).exists());
    let list = ok(&quince(&home, &["list", "--json"]));
    assert!(!list.contains(&app_a) && list.contains(&app_b), "{list}");
    assert_eq!(run_app(&home, &app_a), None);
    let before = chunks_on_disk(&home);
    let third = gc(&home);
    assert!(third["chunks_deleted"].as_u64().unwrap() > 0, "{third}");
    assert_eq!(
        chunks_on_disk(&home),
        before - third["chunks_deleted"].as_u64().unwrap() as usize
    );
    ok(&quince(&home, &["verify", &app_b]));
    assert_eq!(run_app(&home, &app_b).as_deref(), Some("app 1.0.0"));

    // A removal cut short (its folder renamed, not yet deleted) is finished
    // by the next command, and never counts as installed.
    let leftover = home.join("apps/.removed-cafe-1");
    std::fs::create_dir_all(leftover.join("versions/1.0.0")).unwrap();
    std::fs::write(leftover.join("versions/1.0.0/big"), vec![0u8; 4096]).unwrap();
    let list = ok(&quince(&home, &["list", "--json"]));
    assert!(!leftover.exists(), "{list}");
    let out = quince(&home, &["remove", &app_a]);
    assert!(
        !out.status.success(),
        "removed an app that is not installed"
    );
}

/// A file over 32 MiB is patched by segments (neither the publisher nor the
/// user holds it whole while patching): the update still moves only the
/// few KB around the change, and the file is rebuilt exactly.
#[test]
fn an_update_of_a_file_over_32_mib_moves_a_segmented_patch() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("publisher"));
    let size = 40 << 20;
    publisher.publish_big_edited("1.0.0", size, None);
    let (_seeder, addr) = publisher.seed();
    let app = publisher.root.app_id().to_string();
    let home = t.path().join("user");
    let args = net(&["install", &publisher.link(&addr, None), "--run", "bin/app"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&quince(&home, &args));

    let (_, new) = publisher.publish_big_edited("1.1.0", size, Some(1));
    let update = net(&["update", "--json"]);
    let update: Vec<&str> = update.iter().map(String::as_str).collect();
    let v: serde_json::Value = serde_json::from_str(ok(&quince(&home, &update)).trim()).unwrap();
    assert_eq!(
        (v["outcome"].as_str(), v["version"].as_str()),
        (Some("installed"), Some("1.1.0")),
        "{v}"
    );
    assert_eq!(v["downloaded"]["patched_files"], 1, "{v}");
    let bytes = v["downloaded"]["bytes"].as_u64().unwrap();
    assert!(
        bytes < 64 * 1024,
        "an update of 4 KiB moved {bytes} bytes: {v}"
    );
    let blob = home.join(format!("apps/{app}/current/blob"));
    assert!(std::fs::read(&blob).unwrap() == new);
    // The patch the user kept (to serve it) is a segmented one.
    let user_store = Store::open(&home.join("store")).unwrap();
    let patches = user_store.blobs().unwrap();
    assert_eq!(patches.len(), 1);
    let patch = user_store.blob(&patches[0].0, 1 << 20).unwrap();
    assert!(quince_store::is_segmented(&patch));
}

/// A large file that changed a little comes as the publisher's patch
/// against the installed version, not as its new chunks; the user sees
/// what it cost. A seeder whose delta index names a patch that does not
/// rebuild the file costs only that patch: the update completes from
/// chunks, with the same bytes installed. `quince gc` then drops patches
/// to versions no longer kept.
#[test]
fn an_update_of_a_large_file_moves_a_patch_and_a_bad_patch_falls_back_to_chunks() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("publisher"));
    let size = 8 << 20;
    publisher.publish_big_edited("1.0.0", size, None);
    let (_seeder, addr) = publisher.seed();
    let app = publisher.root.app_id().to_string();
    let home = t.path().join("user");
    let args = net(&[
        "install",
        &publisher.link(&addr, None),
        "--run",
        "bin/app",
        "--json",
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let v: serde_json::Value = serde_json::from_str(ok(&quince(&home, &args)).trim()).unwrap();
    assert_eq!(v["downloaded"]["patched_files"], 0, "{v}");
    assert!(
        v["downloaded"]["bytes"].as_u64().unwrap() > size as u64,
        "{v}"
    );

    let update = net(&["update", "--json"]);
    let update: Vec<&str> = update.iter().map(String::as_str).collect();
    let blob = home.join(format!("apps/{app}/current/blob"));

    let (_, new) = publisher.publish_big_edited("1.1.0", size, Some(1));
    let v: serde_json::Value = serde_json::from_str(ok(&quince(&home, &update)).trim()).unwrap();
    assert_eq!(
        (v["outcome"].as_str(), v["version"].as_str()),
        (Some("installed"), Some("1.1.0"))
    );
    assert_eq!(v["downloaded"]["patched_files"], 1, "{v}");
    // The 4 KiB change lies in one or two chunks of ~256 KiB: the patch is a
    // few KB, the chunks would be hundreds.
    let bytes = v["downloaded"]["bytes"].as_u64().unwrap();
    assert!(
        bytes < 64 * 1024,
        "an update of 4 KiB moved {bytes} bytes: {v}"
    );
    assert!(std::fs::read(&blob).unwrap() == new);
    let human = ok(&quince(&home, &["list"]));
    assert!(human.contains("1.1.0"), "{human}");

    // 1.2.0's index now names a valid blob (it matches its address) that
    // is not a patch of the file.
    let (manifest, new) = publisher.publish_big_edited("1.2.0", size, Some(2));
    let store = Store::open(&publisher.dir.join("store")).unwrap();
    let hash = manifest.hash();
    let mut index: quince_protocol::manifest::DeltaIndex =
        quince_protocol::codec::Decode::from_bytes(
            &store
                .deltas(&hash)
                .unwrap()
                .expect("the packager made a delta index"),
        )
        .unwrap();
    assert_eq!(index.deltas.len(), 1);
    let junk = vec![7u8; 3000];
    index.deltas[0].patch = store.put_blob(&junk).unwrap();
    index.deltas[0].patch_size = junk.len() as u64;
    store
        .put_deltas(&hash, &quince_protocol::codec::Encode::to_bytes(&index))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(ok(&quince(&home, &update)).trim()).unwrap();
    assert_eq!(
        (v["outcome"].as_str(), v["version"].as_str()),
        (Some("installed"), Some("1.2.0")),
        "{v}"
    );
    assert_eq!(v["downloaded"]["patched_files"], 0, "{v}");
    let bytes = v["downloaded"]["bytes"].as_u64().unwrap();
    assert!(bytes > 3000 + 64 * 1024, "the chunks were not fetched: {v}");
    assert!(std::fs::read(&blob).unwrap() == new);

    // The user's store kept the 1.1.0 patch it verified, to serve it; with
    // 1.0.0 gone from current and previous it is still the patch to 1.1.0
    // (previous), so gc keeps it; a patch to no kept version goes.
    let user_store = Store::open(&home.join("store")).unwrap();
    assert_eq!(user_store.blobs().unwrap().len(), 1);
    std::fs::write(
        user_store.dir().join("blobs").join("00".repeat(32)),
        b"stray",
    )
    .unwrap();
    let gc: serde_json::Value =
        serde_json::from_str(ok(&quince(&home, &["gc", "--json"])).trim()).unwrap();
    assert_eq!(gc["patches_deleted"], 1, "{gc}");
    assert_eq!(user_store.blobs().unwrap().len(), 1);
}

/// Writes a release of the test app whose data is 400 small text files of
/// one shape (enough for the packager to train a dictionary); the first
/// `changed` of them differ from release to release. `styles` small files
/// of another shape are added (so that the packager trains a new one).
fn small_files_release(
    publisher: &Publisher,
    version: &str,
    changed: usize,
    styles: usize,
) -> PathBuf {
    let src = publisher.dir.join(format!("src-{version}"));
    let script = format!("#!/bin/sh\necho \"app {version}\"\n");
    quince_packager::testkit::script_app(&src, &script);
    std::fs::create_dir_all(src.join("data")).unwrap();
    for i in 0..400 {
        let v = if i < changed { version } else { "0" };
        let mut text = format!("{{\n  \"part\": {i},\n  \"release\": \"{v}\",\n");
        for j in 0..45 {
            text.push_str(&format!(
                "  \"setting_{j}\": \"the value of setting {j} is {}, as the manual says\",\n",
                (i * 7 + j * 3) % 101
            ));
        }
        text.push_str("}\n");
        std::fs::write(src.join(format!("data/{i:03}.json")), text).unwrap();
    }
    let colours = ["slategray", "tomato", "seagreen", "goldenrod", "orchid"];
    for i in 0..styles {
        let mut text = String::new();
        for j in 0..30 {
            text.push_str(&format!(
                ".sidebar-{} .menu-item:hover {{\n  display: flex;\n  border-left: 2px solid {};\n  transition: background-color 120ms ease-in-out;\n}}\n",
                (i * 3 + j) % 23,
                colours[(i * j) % colours.len()],
            ));
        }
        std::fs::write(src.join(format!("data/style-{i:03}.css")), text).unwrap();
    }
    src
}

/// A release of many small files is compressed with a dictionary (issue
/// 19: the store within 1.1x of a tarball). A user installs it from a
/// peer, updates to a release that names two dictionaries (its unchanged
/// chunks are served compressed with the first), shares it to a folder that
/// installs on a machine with no network, and collects garbage without
/// losing a dictionary a kept version needs.
#[test]
fn many_small_files_travel_with_their_dictionaries_through_install_update_share_and_gc() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("publisher"));
    let src1 = small_files_release(&publisher, "1.0.0", 0, 0);
    let m1 = publisher.publish_dir("1.0.0", &src1, "any");
    assert_eq!(m1.dictionaries().len(), 1, "the release trains one");
    let (mut seeder, addr) = publisher.seed();
    let app = publisher.root.app_id().to_string();
    let home = t.path().join("user");
    let args = net(&["install", &publisher.link(&addr, None), "--run", "bin/app"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&quince(&home, &args));
    assert_eq!(run_app(&home, &app).as_deref(), Some("app 1.0.0"));
    let current = home.join(format!("apps/{app}/current"));
    let same = |src: &Path, at: &Path| {
        for name in ["data/000.json", "data/399.json"] {
            assert_eq!(
                std::fs::read(src.join(name)).unwrap(),
                std::fs::read(at.join(name)).unwrap(),
                "{name}"
            );
        }
    };
    same(&src1, &current);

    let src2 = small_files_release(&publisher, "1.1.0", 150, 600);
    let m2 = publisher.publish_dir("1.1.0", &src2, "any");
    assert_eq!(m2.dictionaries().len(), 2, "its own and the first's");
    let args = net(&["update", &app, "--json"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let v: serde_json::Value = serde_json::from_str(ok(&quince(&home, &args)).trim()).unwrap();
    assert_eq!(
        (v["outcome"].as_str(), v["version"].as_str()),
        (Some("installed"), Some("1.1.0")),
        "{v}"
    );
    same(&src2, &current);
    let _ = seeder.kill();
    let _ = seeder.wait();

    // Garbage collection keeps what 1.1.0 reads (both dictionaries).
    ok(&quince(&home, &["gc"]));
    let store = Store::open(&home.join("store")).unwrap();
    for d in m2.dictionaries() {
        assert!(store.has(&d.id), "gc removed dictionary {}", d.id);
    }
    let usb = t.path().join("usb");
    ok(&quince(&home, &["share", &app, usb.to_str().unwrap()]));
    let bundle = Store::open(&usb.join("store")).unwrap();
    assert_eq!(bundle.dictionaries().unwrap().len(), 2);
    let me = t.path().join("me");
    let link = format!("quince://{app}");
    ok(&quince_offline(
        &me,
        &[
            "install",
            &link,
            "--from",
            usb.to_str().unwrap(),
            "--run",
            "bin/app",
        ],
    ));
    assert_eq!(run_app(&me, &app).as_deref(), Some("app 1.1.0"));
    same(&src2, &me.join(format!("apps/{app}/current")));
}
