//! An installed app that feels installed: the release's app file names its
//! launcher, menu entry and health check; a running version is never
//! deleted under it; removal takes only what Quince made. Real `quince`
//! processes, a seeder on loopback, and `desktop-file-validate` (from
//! desktop-file-utils, installed by `.ci/run`) on the menu entries.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed step should stop the test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::publisher::*;
use quince_protocol::appinfo::{AppInfo, Health, APP_FILE};
use quince_protocol::path::RelPath;

/// A user's machine: Quince's home, a PATH folder, an XDG data folder.
struct Desk {
    home: PathBuf,
    bin: PathBuf,
    data: PathBuf,
}

impl Desk {
    fn new(dir: &Path) -> Desk {
        Desk {
            home: dir.join("quince"),
            bin: dir.join("bin"),
            data: dir.join("data"),
        }
    }

    fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        c.env("QUINCE_NETWORK", "private")
            .env("QUINCE_HOME", &self.home)
            .env("QUINCE_BIN_DIR", &self.bin)
            .env("XDG_DATA_HOME", &self.data)
            .env("PATH", path)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    fn quince(&self, args: &[&str]) -> Output {
        self.command(Path::new(QUINCE), args).output().unwrap()
    }

    fn install(&self, link: &str) -> Output {
        let args = net(&["install", link]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.quince(&args)
    }
}

/// Publishes `version` of an app whose `bin/hello` prints its name, the
/// version Quince says it runs, and its first argument; it exits 0 with
/// `--version` only when `version_ok`, and 1 when given no argument.
fn publish_hello(p: &Publisher, version: &str, info: &AppInfo, version_ok: bool) {
    let src = p.dir.join(format!("src-{version}"));
    let code = if version_ok { 0 } else { 3 };
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo {version}; exit {code}; fi\n\
         [ -z \"$1\" ] && exit 1\n[ \"$1\" = sleep ] && exec sleep 600\n\
         [ \"$1\" = save ] && echo saved > \"$QUINCE_DATA_DIR/saved\"\necho \"{} $QUINCE_VERSION $1\"\n",
        info.id
    );
    quince_packager::testkit::script_app(&src, &script);
    std::fs::rename(src.join("bin/app"), src.join("bin/hello")).unwrap();
    std::fs::create_dir_all(src.join("share")).unwrap();
    // A PNG signature: menus only need the file there (none for an app
    // whose short id says so, to name an icon it does not carry).
    if !info.id.contains("noicon") {
        std::fs::write(src.join("share/hello.png"), b"\x89PNG\r\n\x1a\n").unwrap();
    }
    std::fs::create_dir_all(src.join(".quince")).unwrap();
    std::fs::write(src.join(APP_FILE), info.to_text()).unwrap();
    p.publish_dir(version, &src, "any");
}

fn hello_info(id: &str, health: Option<Health>) -> AppInfo {
    AppInfo {
        name: format!("Hello {id}"),
        id: id.to_string(),
        summary: Some("Says hello".into()),
        command: RelPath::parse("bin/hello").unwrap(),
        icon: Some(RelPath::parse("share/hello.png").unwrap()),
        categories: vec!["Utility".into()],
        health,
    }
}

/// A user who installed 1.0.0 of a hello app (checked by `exits-ok
/// --version`) from a seeder that keeps running.
struct Installed {
    desk: Desk,
    p: Publisher,
    info: AppInfo,
    /// What `quince install` said.
    said: String,
    _seeder: Killed,
}

fn install_hello(dir: &Path, seed: u8) -> Installed {
    let desk = Desk::new(dir);
    let p = Publisher::named(&dir.join("pub"), "Hello publisher", seed);
    // A tool that exits 1 without arguments: the default health check
    // (keep running 3 s) would refuse it, `exits-ok --version` does not.
    let info = hello_info("hello", Some(Health::ExitsOk(vec!["--version".into()])));
    publish_hello(&p, "1.0.0", &info, true);
    let (seeder, addr) = p.seed();
    let said = ok(&desk.install(&p.link(&addr, None)));
    Installed {
        desk,
        p,
        info,
        said,
        _seeder: seeder,
    }
}

/// `program args`, from a package of other people's: `None` where it is
/// not installed, outside CI only (`.ci/run` installs `package`).
fn checker(program: &str, args: &[&std::ffi::OsStr], package: &str) -> Option<Output> {
    match Command::new(program).args(args).output() {
        Ok(out) => Some(out),
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("{program} not installed (from {package}): not checked");
            None
        }
        Err(e) => panic!("{program}: {e} (install {package})"),
    }
}

/// `desktop-file-validate` on `file`.
fn validate(file: &Path) {
    if let Some(out) = checker(
        "desktop-file-validate",
        &[file.as_os_str()],
        "desktop-file-utils",
    ) {
        assert!(
            out.status.success() && out.stdout.is_empty(),
            "desktop-file-validate {}: {}{}\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(file).unwrap()
        );
    }
}

#[test]
fn install_makes_a_launcher_and_a_valid_menu_entry_and_remove_takes_only_its_own() {
    let t = tempfile::tempdir().unwrap();
    let Installed {
        desk,
        p,
        said,
        _seeder,
        ..
    } = install_hello(t.path(), 51);
    let launcher = desk.bin.join("hello");
    assert!(said.contains(&launcher.display().to_string()), "{said}");
    let entry = desk.data.join("applications/quince-hello.desktop");
    assert!(said.contains(&entry.display().to_string()), "{said}");
    validate(&entry);
    let text = std::fs::read_to_string(&entry).unwrap();
    assert!(text.contains("Name=Hello hello\n"), "{text}");
    assert!(text.contains("Categories=Utility;\n"), "{text}");
    let icon = desk
        .home
        .join(format!("apps/{}/current/share/hello.png", p.root.app_id()));
    assert!(
        text.contains(&format!("Icon={}\n", icon.display())),
        "{text}"
    );

    // The launcher starts the app by its short name, with Quince's
    // environment, from any folder.
    let out = desk
        .command(Path::new("hello"), &["world"])
        .current_dir(t.path())
        .output()
        .unwrap();
    assert_eq!(ok(&out).trim(), "hello 1.0.0 world");
    // So does `quince run` with the short id, and `list` names the app.
    let out = desk.quince(&["run", "hello", "--", "again"]);
    assert_eq!(ok(&out).trim(), "hello 1.0.0 again");
    let status =
        std::fs::read_to_string(desk.home.join(format!("apps/{}/status", p.root.app_id())))
            .unwrap();
    assert!(status.contains("version=1.0.0\n"), "{status}");

    // A second app whose short id is a file of the user's: the file stays,
    // the app installs, and the note says why there is no launcher.
    let mine = desk.bin.join("other");
    std::fs::write(&mine, "#!/bin/sh\necho mine\n").unwrap();
    let q = Publisher::named(&t.path().join("pub2"), "Other publisher", 52);
    publish_hello(&q, "1.0.0", &hello_info("other", None), true);
    let (_seeder2, addr2) = q.seed();
    let out = desk.install(&q.link(&addr2, None));
    // Its tool exits 1 without arguments and asks for the default check:
    // refused, and nothing is installed.
    assert!(!out.status.success());
    assert_eq!(
        std::fs::read_to_string(&mine).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
    let q2 = Publisher::named(&t.path().join("pub3"), "Third publisher", 53);
    publish_hello(
        &q2,
        "1.0.0",
        &hello_info(
            "other",
            Some(Health::Command(
                RelPath::parse("bin/hello").unwrap(),
                vec!["x".into()],
            )),
        ),
        true,
    );
    let (_seeder3, addr3) = q2.seed();
    let out = desk.install(&q2.link(&addr3, None));
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not Quince's"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&mine).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
    // Another name works.
    let id = q2.root.app_id().to_string();
    ok(&desk.quince(&["launcher", "add", &id, "--name", "other2"]));
    let out = desk.command(Path::new("other2"), &["hi"]).output().unwrap();
    assert_eq!(ok(&out).trim(), "other 1.0.0 hi");

    // Apps keep their own data in QUINCE_DATA_DIR.
    ok(&desk
        .command(Path::new("hello"), &["save"])
        .output()
        .unwrap());
    ok(&desk
        .command(Path::new("other2"), &["save"])
        .output()
        .unwrap());
    let data = |app: &str| desk.home.join(format!("data/{app}/saved"));
    let hello_id = p.root.app_id().to_string();
    assert!(data(&hello_id).is_file() && data(&id).is_file());

    // Removing the first app takes its launcher and menu entry and keeps
    // its data; the user's file and the other app's launcher stay.
    let said = ok(&desk.quince(&["remove", "hello"]));
    assert!(
        said.contains("removed") && said.contains("kept its data"),
        "{said}"
    );
    assert!(!launcher.exists() && !entry.exists());
    assert!(data(&hello_id).is_file());
    assert!(mine.exists() && desk.bin.join("other2").exists());
    // --purge deletes the data too.
    ok(&desk.quince(&["remove", &id, "--purge"]));
    assert!(!desk.bin.join("other2").exists());
    assert!(!data(&id).exists());
    assert!(mine.exists());
}

#[test]
fn a_failing_version_check_rolls_back_and_a_running_version_is_not_deleted() {
    let t = tempfile::tempdir().unwrap();
    let Installed {
        desk,
        p,
        info,
        _seeder,
        ..
    } = install_hello(t.path(), 54);
    let app = p.root.app_id().to_string();
    let versions = desk.home.join(format!("apps/{app}/versions"));

    // 1.0.0 runs (a long-lived program started through its launcher).
    let mut running = Killed(
        desk.command(Path::new("hello"), &["sleep"])
            .spawn()
            .unwrap(),
    );
    let update = net(&["update", &app]);
    let update: Vec<&str> = update.iter().map(String::as_str).collect();
    // 1.1.0's `--version` fails: rolled back and refused.
    publish_hello(&p, "1.1.0", &info, false);
    let out = desk.quince(&update);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("1.1.0") && said.contains("--version"),
        "{said}"
    );
    assert_eq!(
        ok(&desk.quince(&["run", "hello", "--", "x"])).trim(),
        "hello 1.0.0 x"
    );
    // Two good releases: 1.0.0 is neither current nor previous, but a
    // program runs from it, so it stays until it exits.
    publish_hello(&p, "1.2.0", &info, true);
    ok(&desk.quince(&update));
    publish_hello(&p, "1.3.0", &info, true);
    ok(&desk.quince(&update));
    assert!(
        versions.join("1.0.0").is_dir(),
        "a running version was deleted"
    );
    let gc: serde_json::Value =
        serde_json::from_str(ok(&desk.quince(&["gc", "--json"])).trim()).unwrap();
    assert_eq!(gc["versions_in_use"][0], format!("{app} 1.0.0"), "{gc}");
    assert!(versions.join("1.0.0").is_dir());
    running.kill().unwrap();
    running.wait().unwrap();
    // A version folder whose deletion was cut short (renamed away, then
    // the process died) is finished by the next gc.
    let cut_short = versions.join(".going-0.9.0");
    std::fs::create_dir_all(cut_short.join("bin")).unwrap();
    std::fs::write(cut_short.join("bin/hello"), b"left over").unwrap();
    let gc: serde_json::Value =
        serde_json::from_str(ok(&desk.quince(&["gc", "--json"])).trim()).unwrap();
    assert_eq!(gc["versions_deleted"][0], format!("{app} 1.0.0"), "{gc}");
    assert!(!versions.join("1.0.0").exists());
    assert!(!versions.join(".going-1.0.0").exists());
    assert!(!cut_short.exists(), "a cut-short deletion was left");
    assert!(versions.join("1.2.0").is_dir() && versions.join("1.3.0").is_dir());
    // Rollback and pin say what they did as JSON too.
    let json = |args: &[&str]| -> serde_json::Value {
        serde_json::from_str(ok(&desk.quince(args)).trim()).unwrap()
    };
    let v = json(&["rollback", "hello", "--json"]);
    assert_eq!(
        (v["current"].as_str(), v["pinned"].as_str()),
        (Some("1.2.0"), Some("1.2.0"))
    );
    let v = json(&["pin", "hello", "none", "--json"]);
    assert!(v["pinned"].is_null(), "{v}");
}

/// `systemd-analyze verify` on a unit.
fn verify_unit(file: &Path) {
    let args = ["verify".as_ref(), file.as_os_str()];
    if let Some(out) = checker("systemd-analyze", &args, "systemd") {
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "systemd-analyze verify {}: {}\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(file).unwrap()
        );
    }
}

#[test]
fn the_service_unit_verifies_and_the_service_logs_and_stops_cleanly_on_sigterm() {
    let t = tempfile::tempdir().unwrap();
    let Installed {
        desk, p, _seeder, ..
    } = install_hello(t.path(), 55);
    let config = t.path().join("config");
    let state = t.path().join("state");
    let with_dirs = |c: &mut Command| {
        c.env("XDG_CONFIG_HOME", &config)
            .env("XDG_STATE_HOME", &state);
    };
    let watch_args = [
        "--no-mdns",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--interval",
        "600",
    ];

    // The unit (and, with no systemd user manager here, the autostart entry).
    let mut c = desk.command(
        Path::new(QUINCE),
        &["service", "install", "--no-start", "--"],
    );
    c.args(watch_args);
    with_dirs(&mut c);
    let said = ok(&c.output().unwrap());
    let unit = config.join("systemd/user/quince-updater.service");
    assert!(said.contains(&unit.display().to_string()), "{said}");
    verify_unit(&unit);
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains(" service run --no-mdns --listen"), "{text}");

    // What the unit runs: the updater, its lines timestamped into the log.
    let mut c = desk.command(Path::new(QUINCE), &["service", "run", "--"]);
    c.args(watch_args).stdout(Stdio::piped());
    with_dirs(&mut c);
    let mut service = Killed(c.spawn().unwrap());
    let lines = {
        use std::io::BufRead as _;
        let out = std::io::BufReader::new(service.0.stdout.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in out.lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        rx
    };
    let app = p.root.app_id().to_string();
    loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the updater said nothing about the app");
        if line.contains(&app) && line.contains("up to date") {
            assert!(
                line.starts_with("20") && line.as_bytes()[10] == b'T',
                "{line}"
            );
            break;
        }
    }
    // SIGTERM, as systemd stops a service: the updater saves what it
    // learned of peers, and both exit 0.
    let peers = desk.home.join("peers.json");
    let _ = std::fs::remove_file(&peers);
    let pid = rustix::process::Pid::from_child(&service.0);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = service.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        peers.is_file(),
        "the updater did not save its peers on SIGTERM"
    );
    let log = std::fs::read_to_string(state.join("quince/updater.log")).unwrap();
    assert!(log.contains("stopping"), "{log}");
    assert!(
        log.contains("service stopped: the updater exit status: 0"),
        "{log}"
    );

    // Status shows the unit and the log's end; remove takes both files.
    let mut c = desk.command(Path::new(QUINCE), &["status", "--json"]);
    with_dirs(&mut c);
    let v: serde_json::Value = serde_json::from_str(ok(&c.output().unwrap()).trim()).unwrap();
    assert_eq!(v["apps"][0]["id"], "hello", "{v}");
    assert_eq!(v["apps"][0]["newest"], "1.0.0", "{v}");
    // The updater noted its check: when, what, how many peers answered.
    let check = &v["apps"][0]["last_check"];
    assert_eq!(check["result"], "up to date at 1.0.0", "{v}");
    assert_eq!(check["peers"], 1, "{v}");
    assert_eq!(v["service"]["unit"], unit.display().to_string(), "{v}");
    assert!(
        v["service"]["log_tail"]
            .to_string()
            .contains("service stopped"),
        "{v}"
    );
    let mut c = desk.command(Path::new(QUINCE), &["service", "remove"]);
    with_dirs(&mut c);
    ok(&c.output().unwrap());
    assert!(!unit.exists());
}

#[test]
fn repair_puts_changed_and_deleted_files_back_fetching_what_the_store_lacks() {
    let t = tempfile::tempdir().unwrap();
    let Installed {
        desk, p, _seeder, ..
    } = install_hello(t.path(), 56);
    let dir = desk
        .home
        .join(format!("apps/{}/versions/1.0.0", p.root.app_id()));
    let hello = dir.join("bin/hello");
    let signed = std::fs::read(&hello).unwrap();
    std::fs::write(&hello, "#!/bin/sh\necho tampered\n").unwrap();
    std::fs::remove_file(dir.join("share/hello.png")).unwrap();
    std::fs::write(dir.join("notes.txt"), "the user's").unwrap();
    // Files that differ from what was signed: "refused", exit status 4.
    assert_eq!(desk.quince(&["verify", "hello"]).status.code(), Some(4));

    let repair = |args: &[&str]| -> serde_json::Value {
        let args = net(&[&["repair", "hello", "--json"], args].concat());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        serde_json::from_str(ok(&desk.quince(&args)).trim()).unwrap()
    };
    let v = repair(&[]);
    assert_eq!(v["chunks_fetched"], 0, "{v}");
    assert_eq!(v["fixed"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["left_alone"][0], "notes.txt", "{v}");
    assert_eq!(std::fs::read(&hello).unwrap(), signed);
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "the user's"
    );
    assert_eq!(
        ok(&desk.quince(&["run", "hello", "--", "back"])).trim(),
        "hello 1.0.0 back"
    );

    // The store lost its chunks too: repair fetches them from the peer.
    common::remove_stored_chunks(&desk.home.join("store"));
    std::fs::write(&hello, "#!/bin/sh\necho tampered again\n").unwrap();
    let v = repair(&[]);
    assert!(v["chunks_fetched"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(std::fs::read(&hello).unwrap(), signed);
    std::fs::remove_file(dir.join("notes.txt")).unwrap();
    ok(&desk.quince(&["verify", "hello"]));
}

#[test]
fn exit_codes_tell_usage_no_peers_and_refusal_apart() {
    let t = tempfile::tempdir().unwrap();
    let desk = Desk::new(t.path());
    let code = |args: &[&str]| desk.quince(args).status.code();
    assert_eq!(code(&["run", "nothing"]), Some(2));
    assert_eq!(code(&["--no-such-flag"]), Some(2));
    let nobody = format!("quince://{}", "ab".repeat(32));
    let args = net(&["install", &nobody]);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    let at = args.iter().position(|a| *a == "--find-for").unwrap();
    args[at + 1] = "1";
    assert_eq!(code(&args), Some(3));
    let help = String::from_utf8(desk.quince(&["--help"]).stdout).unwrap();
    assert!(
        help.contains("3 no peer") && help.contains("4 refused"),
        "{help}"
    );
}

#[test]
fn a_missing_icon_and_a_name_two_apps_share_are_clear() {
    let t = tempfile::tempdir().unwrap();
    let desk = Desk::new(t.path());
    let exits_ok = || Some(Health::ExitsOk(vec!["--version".into()]));
    let a = Publisher::named(&t.path().join("a"), "First", 57);
    let mut info = hello_info("noicon", exits_ok());
    info.name = "Same Name".into();
    publish_hello(&a, "1.0.0", &info, true);
    let b = Publisher::named(&t.path().join("b"), "Second", 58);
    let mut info_b = hello_info("other", exits_ok());
    info_b.name = "Same Name".into();
    publish_hello(&b, "1.0.0", &info_b, true);
    let (_sa, addr_a) = a.seed();
    let (_sb, addr_b) = b.seed();

    // The release names an icon it does not carry: installed, with a note,
    // and a menu entry without an icon that still validates.
    let out = desk.install(&a.link(&addr_a, None));
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("which it does not carry"), "{err}");
    let entry = desk.data.join("applications/quince-noicon.desktop");
    let text = std::fs::read_to_string(&entry).unwrap();
    assert!(!text.contains("Icon="), "{text}");
    validate(&entry);

    // Two apps called the same: the name is refused, naming both; the short
    // ids and id prefixes still work.
    // With --quiet: no progress lines and no notes, only the result.
    let args = net(&["-q", "install", &b.link(&addr_b, None)]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = desk.quince(&args);
    ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "--quiet printed");
    let out = desk.quince(&["run", "same name", "--", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for app in [a.root.app_id().to_string(), b.root.app_id().to_string()] {
        assert!(err.contains(&app), "{err}");
    }
    assert_eq!(
        ok(&desk.quince(&["run", "other", "--", "x"])).trim(),
        "other 1.0.0 x"
    );
    let prefix = &a.root.app_id().to_string()[..8];
    assert_eq!(
        ok(&desk.quince(&["run", prefix, "--", "y"])).trim(),
        "noicon 1.0.0 y"
    );
}

#[test]
fn completions_and_manual_pages_come_from_the_commands_definitions() {
    let t = tempfile::tempdir().unwrap();
    let desk = Desk::new(t.path());
    let mut c = desk.command(Path::new(QUINCE), &["completions", "bash", "--install"]);
    c.env("HOME", t.path()).env_remove("XDG_DATA_HOME");
    let file = PathBuf::from(ok(&c.output().unwrap()).trim());
    assert!(file.ends_with(".local/share/bash-completion/completions/quince"));
    // bash loads it and completes `quince ins` to `install`.
    let script = format!(
        "source {}; COMP_WORDS=(quince ins); COMP_CWORD=1; COMP_LINE='quince ins'; COMP_POINT=10; _quince quince ins quince; echo \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert_eq!(
        ok(&out).trim(),
        "install",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let pages = t.path().join("man");
    let said = ok(&desk.quince(&["man", "--out", pages.to_str().unwrap()]));
    let count = std::fs::read_dir(&pages).unwrap().count();
    assert!(count > 20, "a page per command: {count}");
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.starts_with(&format!("{count} manual pages in {}", pages.display())),
        "{said}"
    );
    let page = std::fs::read_to_string(pages.join("quince-install.1")).unwrap();
    assert!(page.contains(".TH quince-install"), "{page}");
    assert!(page.contains("launcher"), "{page}");
    let top = std::fs::read_to_string(pages.join("quince.1")).unwrap();
    assert!(top.contains("4 refused"), "the exit codes are in the page");
}

/// A release that is a macOS app bundle (`Hello.app/Contents/MacOS/hello`,
/// no `bin/`, no app file): its bundle's program is the one the health
/// check and `quince run` start, and the link to the bundle that
/// `~/Applications` gets on macOS (made here in a folder of the test's)
/// follows an update and is removed with the app's files. The bundle's
/// layout is plain files and modes, so this runs on Linux.
#[test]
fn a_release_holding_an_app_bundle_runs_its_program_and_its_link_follows_updates() {
    let t = tempfile::tempdir().unwrap();
    let desk = Desk::new(t.path());
    let p = Publisher::named(&t.path().join("pub"), "Bundle publisher", 52);
    let publish = |version: &str| {
        let src = p.dir.join(format!("bundle-{version}"));
        quince_packager::testkit::script_app(
            &src,
            &format!("#!/bin/sh\necho \"bundle {version} $1\"\n"),
        );
        let macos = src.join("Hello.app/Contents/MacOS");
        std::fs::create_dir_all(&macos).unwrap();
        std::fs::rename(src.join("bin/app"), macos.join("hello")).unwrap();
        std::fs::remove_dir(src.join("bin")).unwrap();
        std::fs::write(
            src.join("Hello.app/Contents/Info.plist"),
            "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>CFBundleExecutable</key><string>hello</string></dict></plist>\n",
        )
        .unwrap();
        p.publish_dir(version, &src, "any");
    };
    publish("1.0.0");
    let (_seeder, addr) = p.seed();
    ok(&desk.install(&p.link(&addr, None)));
    let app = p.root.app_id();
    let out = desk.quince(&["run", &app.to_string(), "--", "x"]);
    assert_eq!(ok(&out).trim(), "bundle 1.0.0 x");

    let apps = quince_updater::install::Apps::open(&desk.home).unwrap();
    let folder = t.path().join("Applications");
    let link = quince_updater::desktop::link_bundle(&apps, &app, &folder)
        .unwrap()
        .expect("the release holds a bundle");
    assert_eq!(link, folder.join("Hello.app"));
    let program = link.join("Contents/MacOS/hello");
    let run = || {
        let out = Command::new(&program).arg("y").output().unwrap();
        ok(&out).trim().to_string()
    };
    assert_eq!(run(), "bundle 1.0.0 y");
    // Made again: the same link, not an error.
    assert_eq!(
        quince_updater::desktop::link_bundle(&apps, &app, &folder).unwrap(),
        Some(link.clone())
    );
    publish("1.1.0");
    let args = net(&["update", &app.to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&desk.quince(&args));
    assert_eq!(run(), "bundle 1.1.0 y");
    // A bundle of the same name that is the user's own is left alone.
    let other = t.path().join("Other");
    std::fs::create_dir_all(other.join("Hello.app")).unwrap();
    let err = quince_updater::desktop::link_bundle(&apps, &app, &other).unwrap_err();
    assert!(err.to_string().contains("is not Quince's"), "{err}");
    assert_eq!(
        quince_updater::desktop::unlink_bundles(&app, &other).unwrap(),
        Vec::<PathBuf>::new()
    );
    assert_eq!(
        quince_updater::desktop::unlink_bundles(&app, &folder).unwrap(),
        vec![link.clone()]
    );
    assert!(std::fs::symlink_metadata(&link).is_err());
}

/// `lnkparse` (PyPI's LnkParse3) reads `file`, as JSON.
fn lnkparse(file: &Path) -> Option<serde_json::Value> {
    let out = checker(
        "lnkparse",
        &["-j".as_ref(), file.as_os_str()],
        "PyPI's LnkParse3",
    )?;
    assert!(
        out.status.success(),
        "lnkparse {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// The Windows Start-menu shortcut, made here through the same code with
/// the Start-menu kind (Windows' own run is the Wine scenario,
/// tests/tests/windows_wine.rs): named after the app, read back by an
/// independent parser, renamed with the app, never over a user's file, and
/// removed with the app's launcher, leaving other shortcuts alone.
#[test]
fn a_start_menu_shortcut_names_the_app_starts_its_launcher_and_only_ours_are_removed() {
    use quince_updater::desktop::{self, Menu};
    let t = tempfile::tempdir().unwrap();
    let Installed {
        desk,
        p,
        info,
        _seeder,
        ..
    } = install_hello(t.path(), 59);
    let app = p.root.app_id();
    let apps = quince_updater::install::Apps::open(&desk.home).unwrap();
    let menu = t.path().join("Start Menu/Programs");
    std::fs::create_dir_all(&menu).unwrap();
    let theirs = menu.join("Other.lnk");
    std::fs::write(&theirs, b"not ours").unwrap();
    let make = |apps: &quince_updater::install::Apps| {
        desktop::create(
            Menu::StartMenu,
            apps,
            &app,
            Path::new(QUINCE),
            "hello",
            &desk.bin,
            Some(&menu),
        )
    };
    let created = make(&apps).unwrap();
    let lnk = menu.join("Hello hello.lnk");
    assert_eq!(created.entry.as_deref(), Some(lnk.as_path()));
    if let Some(parsed) = lnkparse(&lnk) {
        let text = parsed.to_string();
        let launcher = desk.bin.join("hello").display().to_string();
        assert_eq!(
            parsed["link_info"]["local_base_path_unicode"].as_str(),
            Some(launcher.as_str()),
            "{text}"
        );
        assert_eq!(
            parsed["data"]["description"].as_str(),
            Some(format!("Says hello (quince launcher: app {app})").as_str()),
            "{text}"
        );
        assert!(
            parsed["header"]["link_flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "HasLinkInfo")),
            "{text}"
        );
    }
    // Made again: the same file, not an error.
    assert_eq!(make(&apps).unwrap().entry, Some(lnk.clone()));

    // The app is renamed in 1.1.0: the shortcut follows, the old one goes.
    let renamed = AppInfo {
        name: "Hello Renamed".into(),
        ..info.clone()
    };
    publish_hello(&p, "1.1.0", &renamed, true);
    let args = net(&["update", &app.to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&desk.quince(&args));
    let apps = quince_updater::install::Apps::open(&desk.home).unwrap();
    let lnk2 = menu.join("Hello Renamed.lnk");
    assert_eq!(make(&apps).unwrap().entry, Some(lnk2.clone()));
    assert!(!lnk.exists() && lnk2.is_file());

    // A user's own file of that name is left alone, with the reason.
    std::fs::rename(&lnk2, t.path().join("kept.lnk")).unwrap();
    std::fs::write(&lnk2, b"the user's").unwrap();
    let err = make(&apps).unwrap_err();
    assert!(err.to_string().contains("is not Quince's"), "{err}");
    assert_eq!(std::fs::read(&lnk2).unwrap(), b"the user's");
    std::fs::rename(t.path().join("kept.lnk"), &lnk2).unwrap();

    // Removal takes the launcher and the shortcut, nothing else.
    let mut removed = desktop::remove(&app, &desk.bin, Some(&menu)).unwrap();
    let mut expected = vec![desk.bin.join("hello"), lnk2.clone()];
    removed.sort();
    expected.sort();
    assert_eq!(removed, expected);
    assert_eq!(std::fs::read(&theirs).unwrap(), b"not ours");
}
