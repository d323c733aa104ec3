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
         [ -z \"$1\" ] && exit 1\n[ \"$1\" = sleep ] && exec sleep 600\necho \"{} $QUINCE_VERSION $1\"\n",
        info.id
    );
    quince_packager::testkit::script_app(&src, &script);
    std::fs::rename(src.join("bin/app"), src.join("bin/hello")).unwrap();
    std::fs::create_dir_all(src.join("share")).unwrap();
    // A PNG signature and an empty IHDR: menus only need the file there.
    std::fs::write(src.join("share/hello.png"), b"\x89PNG\r\n\x1a\n").unwrap();
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

/// `desktop-file-validate` on `file`; in CI it must be installed.
fn validate(file: &Path) {
    match Command::new("desktop-file-validate").arg(file).output() {
        Ok(out) => assert!(
            out.status.success() && out.stdout.is_empty(),
            "desktop-file-validate {}: {}{}\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(file).unwrap()
        ),
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("desktop-file-validate not installed: menu entry not validated")
        }
        Err(e) => panic!("desktop-file-validate: {e} (install desktop-file-utils)"),
    }
}

#[test]
fn install_makes_a_launcher_and_a_valid_menu_entry_and_remove_takes_only_its_own() {
    let t = tempfile::tempdir().unwrap();
    let desk = Desk::new(t.path());
    let p = Publisher::named(&t.path().join("pub"), "Hello publisher", 51);
    // A tool that exits 1 without arguments: the default health check
    // (keep running 3 s) would refuse it, `exits-ok --version` does not.
    let info = hello_info("hello", Some(Health::ExitsOk(vec!["--version".into()])));
    publish_hello(&p, "1.0.0", &info, true);
    let (_seeder, addr) = p.seed();
    let said = ok(&desk.install(&p.link(&addr, None)));
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

    // Removing the first app takes its launcher and menu entry; the
    // user's file and the other app's launcher stay.
    let said = ok(&desk.quince(&["remove", "hello"]));
    assert!(said.contains("removed"), "{said}");
    assert!(!launcher.exists() && !entry.exists());
    assert!(mine.exists() && desk.bin.join("other2").exists());
    ok(&desk.quince(&["remove", &id]));
    assert!(!desk.bin.join("other2").exists());
    assert!(mine.exists());
}

#[test]
fn a_failing_version_check_rolls_back_and_a_running_version_is_not_deleted() {
    let t = tempfile::tempdir().unwrap();
    let desk = Desk::new(t.path());
    let p = Publisher::named(&t.path().join("pub"), "Hello publisher", 54);
    let info = hello_info("hello", Some(Health::ExitsOk(vec!["--version".into()])));
    publish_hello(&p, "1.0.0", &info, true);
    let (_seeder, addr) = p.seed();
    ok(&desk.install(&p.link(&addr, None)));
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
    let gc: serde_json::Value =
        serde_json::from_str(ok(&desk.quince(&["gc", "--json"])).trim()).unwrap();
    assert_eq!(gc["versions_deleted"][0], format!("{app} 1.0.0"), "{gc}");
    assert!(!versions.join("1.0.0").exists());
    assert!(versions.join("1.2.0").is_dir() && versions.join("1.3.0").is_dir());
}
