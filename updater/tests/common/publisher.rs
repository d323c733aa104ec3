//! A publisher's log and store on disk, a seeder process, and the user's
//! `quince` commands: what the install and desktop tests share.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use quince_packager::LogDir;
use quince_protocol::root::AppRoot;

pub const QUINCE: &str = env!("CARGO_BIN_EXE_quince");

/// A publisher's log and store; releases are added while the seeder runs.
pub struct Publisher {
    pub dir: PathBuf,
    pub root: AppRoot,
    pub key: ed25519_dalek::SigningKey,
}

impl Publisher {
    pub fn new(dir: &Path) -> Publisher {
        Publisher::named(dir, "Install app", 41)
    }

    /// A publisher of another app (its own name and key).
    pub fn named(dir: &Path, name: &str, seed: u8) -> Publisher {
        let (root, key) = quince_protocol::testkit::danger_single_key_root(name, seed);
        LogDir::create(&dir.join("log"), &root).unwrap();
        Publisher {
            dir: dir.to_path_buf(),
            root,
            key,
        }
    }

    /// Publishes `version`, whose `bin/app` prints the version and exits with `code`.
    pub fn publish(&self, version: &str, code: i32, files: usize) {
        let src = self.dir.join(format!("src-{version}"));
        let script = format!("#!/bin/sh\necho \"app {version}\"\nexit {code}\n");
        quince_packager::testkit::script_app(&src, &script);
        std::fs::create_dir_all(src.join("data")).unwrap();
        for i in 0..files {
            std::fs::write(
                src.join(format!("data/{i:03}")),
                format!("{version} file {i} {}", "x".repeat(i * 37)),
            )
            .unwrap();
        }
        self.publish_dir(version, &src, "any");
    }

    /// Publishes the folder `src` as `version` for `platform`.
    pub fn publish_dir(
        &self,
        version: &str,
        src: &Path,
        platform: &str,
    ) -> quince_protocol::manifest::Manifest {
        let store = quince_store::Store::open(&self.dir.join("store")).unwrap();
        quince_packager::testkit::publish(
            &self.dir.join("log"),
            &store,
            &self.root,
            &self.key,
            src,
            version,
            platform,
        )
        .1
    }

    /// Publishes `version` of several folders, each for every platform
    /// (`None`) or one, serving `platforms`.
    pub fn publish_platforms(
        &self,
        version: &str,
        sources: &[(&Path, Option<&str>)],
        platforms: &[&str],
    ) -> quince_protocol::manifest::Manifest {
        let store = quince_store::Store::open(&self.dir.join("store")).unwrap();
        quince_packager::testkit::publish_sources(
            &self.dir.join("log"),
            &store,
            &self.root,
            &self.key,
            sources,
            &quince_packager::release::Offering::stable(version.parse().unwrap()),
            platforms,
        )
        .1
    }

    /// Publishes `version` with `bytes` of incompressible data.
    pub fn publish_big(&self, version: &str, bytes: usize) {
        self.publish_big_edited(version, bytes, None);
    }

    /// Publishes `version` with `bytes` of incompressible data (the same
    /// for every version) in `blob`, 4 KiB of it in the middle set to
    /// `edit` if given. Returns the manifest and the blob's bytes.
    pub fn publish_big_edited(
        &self,
        version: &str,
        bytes: usize,
        edit: Option<u8>,
    ) -> (quince_protocol::manifest::Manifest, Vec<u8>) {
        let src = self.dir.join(format!("src-{version}"));
        quince_packager::testkit::script_app(&src, &format!("#!/bin/sh\necho \"app {version}\"\n"));
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let data: Vec<u8> = (0..bytes)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let mut data = data;
        if let Some(value) = edit {
            let at = data.len() / 2;
            data[at..at + 4096].fill(value);
        }
        std::fs::write(src.join("blob"), &data).unwrap();
        (self.publish_dir(version, &src, "any"), data)
    }

    /// Starts `quince seed`; returns the process (killed when dropped) and its address.
    pub fn seed(&self) -> (Killed, String) {
        let mut child = Command::new(QUINCE)
            .env("QUINCE_NETWORK", "private")
            .current_dir(&self.dir)
            .env("QUINCE_HOME", self.dir.join("home"))
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
        (Killed(child), addr)
    }

    pub fn link(&self, addr: &str, version: Option<&str>) -> String {
        let mut l = format!("quince://{}?peer={addr}", self.root.app_id());
        if let Some(v) = version {
            l.push_str(&format!("&version={v}"));
        }
        l
    }
}

/// A child process that is killed when dropped, also when a test fails.
pub struct Killed(pub Child);

impl Killed {
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.0.kill()
    }
    pub fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.0.wait()
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn quince(home: &Path, args: &[&str]) -> Output {
    Command::new(QUINCE)
        .env("QUINCE_NETWORK", "private")
        .env("QUINCE_HOME", home)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `quince ARGS` with the loopback network arguments of [`net`] added.
pub fn quince_net(home: &Path, args: &[&str]) -> Output {
    let args = net(args);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    quince(home, &args)
}

pub fn ok(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

pub fn net(args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    v.extend(
        [
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--find-for",
            "5",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    v
}

pub fn run_app(home: &Path, app: &str) -> Option<String> {
    let out = quince(home, &["run", app]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
