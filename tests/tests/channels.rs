//! Channels, pre-releases and staged rollouts as shipped: five keyholders
//! sign every step with FROST (the signer's examples), the publisher uses
//! `quince-packager release --channel`, `promote`, `rollout` and `halt`, one
//! `quince seed` serves everything, and users run `quince` in their own homes.
//!
//! A stable user and a beta user get different versions from the same peer;
//! promotion moves the stable user to the very manifest testers ran (the
//! publisher uploads nothing new); a 50% rollout reaches the installs its
//! rule picks and not the others; a halt stops new installs and is shown to
//! those already on it; the audit lists every channel step.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed step should stop the test

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use quince_protocol::record::{Rollout, Version};
use quince_protocol::root::AppId;
use quince_tests::workspace_bin;

struct Bins {
    quince: PathBuf,
    signer: PathBuf,
    packager: PathBuf,
}

fn bins() -> Bins {
    let beside = env!("CARGO_BIN_EXE_quince-demo");
    Bins {
        quince: workspace_bin(beside, "quince", "quince-updater"),
        signer: workspace_bin(beside, "quince-signer", "quince-signer"),
        packager: workspace_bin(beside, "quince-packager", "quince-packager"),
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs one of the signer's example scripts in `w`.
fn example(b: &Bins, w: &Path, script: &str, args: &[&str]) -> String {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../signer/examples");
    let o = Command::new("bash")
        .arg(examples.join(script))
        .arg(w)
        .args(args)
        .env("QUINCE_SIGNER", &b.signer)
        .env("QUINCE_PACKAGER", &b.packager)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{script} {args:?}: {}", text(&o));
    text(&o)
}

/// Builds version `version` of the example app (its `hello` prints it).
fn build(b: &Bins, w: &Path, version: &str) -> String {
    std::fs::write(
        w.join("app/bin/hello"),
        format!("#!/bin/sh\necho hello from {version}\n"),
    )
    .unwrap();
    let manifest = format!("m-{version}.bin");
    let o = Command::new(&b.packager)
        .current_dir(w)
        .args(["build", "app", "--store", "store", "--out", &manifest])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    manifest
}

struct Seeder(Child);

impl Drop for Seeder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `quince seed` of the publisher's log and store; its address.
fn seed(b: &Bins, w: &Path) -> (Seeder, String) {
    let mut child = Command::new(&b.quince)
        .current_dir(w)
        .env("QUINCE_NETWORK", "private")
        .env("QUINCE_HOME", w.join("seeder-home"))
        .args(["seed", "--log", "log", "--store", "store", "--no-mdns"])
        .args(["--listen", "/ip4/127.0.0.1/tcp/0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("seeder exited").unwrap();
        if let Some(a) = line.strip_prefix("listening on ") {
            break a.to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    (Seeder(child), addr)
}

/// A user with their own home (and HOME, so launchers stay inside the test).
struct User {
    home: PathBuf,
    quince: PathBuf,
}

impl User {
    fn new(w: &Path, name: &str, b: &Bins) -> User {
        let home = w.join("users").join(name);
        std::fs::create_dir_all(&home).unwrap();
        User {
            home,
            quince: b.quince.clone(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.quince)
            .env("QUINCE_NETWORK", "private")
            .env("QUINCE_HOME", self.home.join("quince"))
            .env("HOME", &self.home)
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_BIN_HOME")
            .env_remove("QUINCE_BIN_DIR")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    /// `install` or `update` with loopback-only networking; the JSON outcome.
    fn net(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend([
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--find-for",
            "5",
            "--json",
        ]);
        let out = self.ok(&all);
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    fn version(&self, app: &AppId) -> String {
        let list: serde_json::Value = serde_json::from_str(&self.ok(&["list", "--json"])).unwrap();
        let row = list
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["app"] == app.to_string())
            .unwrap()
            .clone();
        row["current"].as_str().unwrap().to_string()
    }

    fn state_file(&self, app: &AppId) -> PathBuf {
        self.home.join(format!("quince/apps/{app}/state.json"))
    }

    /// Gives this install the rollout id `id` (as if it had drawn it).
    fn set_install_id(&self, app: &AppId, id: [u8; 16]) {
        let path = self.state_file(app);
        let mut state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        state["install_id"] = hex::encode(id).into();
        std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    }
}

/// The first id (counting up) that `rollout` includes (`want`) or leaves out.
fn id_that(rollout: Rollout, app: &AppId, version: &Version, want: bool) -> [u8; 16] {
    (0u64..)
        .map(|i| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&i.to_be_bytes());
            id
        })
        .find(|id| rollout.includes(id, app, version) == want)
        .unwrap()
}

fn files_below(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                files_below(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[test]
fn beta_and_stable_users_promotion_staged_rollout_and_halt() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    let b = bins();
    example(&b, w, "five-keyholders.sh", &[]);
    let app: AppId = {
        let o = Command::new(&b.packager)
            .current_dir(w)
            .args(["status", "--json"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["app"].as_str().unwrap().parse().unwrap()
    };
    // A beta on the beta channel; stable has 1.0.0.
    let m = build(&b, w, "2.0.0-beta.1");
    let staged = example(
        &b,
        w,
        "publish.sh",
        &[
            "release",
            "--manifest",
            &m,
            "--version",
            "2.0.0-beta.1",
            "--platform",
            "any",
            "--channel",
            "beta",
        ],
    );
    assert!(staged.contains("on beta, to everyone"), "{staged}");
    let (_seeder, addr) = seed(&b, w);
    let link = format!("quince://{app}?peer={addr}");

    // Same peer, different channels, different versions.
    let stable = User::new(w, "stable", &b);
    let beta = User::new(w, "beta", &b);
    let v = stable.net(&["install", &link]);
    assert_eq!(v["version"], "1.0.0", "{v}");
    let v = beta.net(&["install", &link, "--channel", "beta"]);
    assert_eq!(v["version"], "2.0.0-beta.1", "{v}");
    let said = beta.ok(&["run", &app.to_string()]);
    assert_eq!(said.trim(), "hello from 2.0.0-beta.1");
    let channel: serde_json::Value =
        serde_json::from_str(&beta.ok(&["channel", &app.to_string(), "--json"])).unwrap();
    assert_eq!(channel["channel"], "beta");
    assert_eq!(channel["channels"]["beta"], "2.0.0-beta.1", "{channel}");
    assert_eq!(channel["channels"]["stable"], "1.0.0", "{channel}");
    let list = stable.ok(&["list"]);
    assert!(!list.contains("beta"), "a stable user sees no beta: {list}");
    let list = beta.ok(&["list"]);
    assert!(list.contains("(beta channel)"), "{list}");
    assert_eq!(stable.net(&["update"])["outcome"], "up-to-date");

    // Promotion: the same manifest on stable; the publisher uploads nothing.
    let store_files = files_below(&w.join("store"));
    let staged = example(
        &b,
        w,
        "publish.sh",
        &["promote", "--version", "2.0.0-beta.1"],
    );
    assert!(
        staged.contains("promotion of 2.0.0-beta.1") && staged.contains("nothing to upload"),
        "{staged}"
    );
    assert_eq!(files_below(&w.join("store")), store_files);
    let v = stable.net(&["update"]);
    assert_eq!(
        (v["outcome"].as_str(), v["version"].as_str()),
        (Some("installed"), Some("2.0.0-beta.1")),
        "{v}"
    );
    assert_eq!(
        stable.ok(&["run", &app.to_string()]).trim(),
        "hello from 2.0.0-beta.1",
        "the bytes testers ran"
    );
    assert_eq!(beta.net(&["update"])["outcome"], "up-to-date");

    // A staged rollout to 50% of stable: the installs its rule picks get
    // it, the others do not (ids set to one of each; the rule is the
    // protocol's, tested on 200 installs there).
    let v210: Version = "2.1.0".parse().unwrap();
    let half = Rollout::percent(50).unwrap();
    let m = build(&b, w, "2.1.0");
    example(
        &b,
        w,
        "publish.sh",
        &[
            "release",
            "--manifest",
            &m,
            "--version",
            "2.1.0",
            "--platform",
            "any",
            "--rollout",
            "50",
        ],
    );
    stable.set_install_id(&app, id_that(half, &app, &v210, false));
    beta.set_install_id(&app, id_that(half, &app, &v210, true));
    assert_eq!(stable.net(&["update"])["outcome"], "up-to-date");
    assert_eq!(stable.version(&app), "2.0.0-beta.1");
    // The beta user takes stable releases too, and is in.
    let v = beta.net(&["update"]);
    assert_eq!(v["version"], "2.1.0", "{v}");
    // The same answer every time.
    assert_eq!(stable.net(&["update"])["outcome"], "up-to-date");

    // Halt: a new user does not get 2.1.0, whatever its id; the user on it
    // is told, and stays (updates never go back).
    example(&b, w, "publish.sh", &["halt", "--version", "2.1.0"]);
    let newcomer = User::new(w, "new", &b);
    let v = newcomer.net(&["install", &link]);
    assert_eq!(v["version"], "2.0.0-beta.1", "{v}");
    // Even with an id the 50% took: halted means no one.
    newcomer.set_install_id(&app, id_that(half, &app, &v210, true));
    assert_eq!(newcomer.net(&["update"])["outcome"], "up-to-date");
    assert_eq!(beta.net(&["update"])["outcome"], "up-to-date");
    assert_eq!(beta.version(&app), "2.1.0");
    let list: serde_json::Value = serde_json::from_str(&beta.ok(&["list", "--json"])).unwrap();
    assert_eq!(list[0]["halted"], true, "{list}");
    assert!(beta.ok(&["list"]).contains("halted"));
    let status = beta.ok(&["status"]);
    assert!(
        status.contains("halted: the publisher stopped offering this version"),
        "{status}"
    );
    let list: serde_json::Value = serde_json::from_str(&newcomer.ok(&["list", "--json"])).unwrap();
    assert_eq!(list[0]["halted"], false, "{list}");

    // Back to stable: the beta user stays on 2.1.0 until stable passes it.
    let said = beta.ok(&["channel", &app.to_string(), "stable"]);
    assert!(said.contains("now follows channel stable"), "{said}");
    assert_eq!(beta.net(&["update"])["outcome"], "up-to-date");

    // The audit lists every channel step, and the rules held.
    let audit = beta.run(&["audit", w.join("log").to_str().unwrap(), "--json"]);
    assert!(audit.status.success(), "{}", text(&audit));
    let report: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    let steps: Vec<(String, String, String, u64)> = report["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["version"].as_str().unwrap().to_string(),
                r["channel"].as_str().unwrap().to_string(),
                r["rollout"].as_u64().unwrap(),
            )
        })
        .collect();
    let s = |k: &str, v: &str, c: &str, r: u64| (k.into(), v.into(), c.into(), r);
    assert_eq!(
        steps,
        vec![
            s("release", "1.0.0", "stable", 100),
            s("release", "2.0.0-beta.1", "beta", 100),
            s("promotion", "2.0.0-beta.1", "stable", 100),
            s("release", "2.1.0", "stable", 50),
            s("halt", "2.1.0", "stable", 0),
        ]
    );
    assert_eq!(report["passed"], true, "{report}");
}
