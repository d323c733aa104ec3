//! The bootstrap binary against a real seeder on loopback: a link in, an
//! installed and started app out; and a clear one-line failure.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed step should stop the test

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use quince_store::Store;
use quince_updater::{Library, Node, NodeConfig};

/// The bootstrap under test: `QUINCE_BOOTSTRAP_BIN` if set (CI sets it to
/// the binary as shipped, built in its size profile, which links without
/// unwind tables), else this test build's.
fn bootstrap_bin() -> std::path::PathBuf {
    std::env::var_os("QUINCE_BOOTSTRAP_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_quince-bootstrap").into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_becomes_an_installed_running_app() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    let (root, key) = quince_protocol::testkit::danger_single_key_root("Bootstrap app", 61);
    std::fs::create_dir_all(w.join("src/bin")).unwrap();
    let marker = w.join("it-ran");
    std::fs::write(
        w.join("src/bin/hello"),
        format!("#!/bin/sh\necho started > {}\n", marker.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(
        w.join("src/bin/hello"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(w.join("src/data"), vec![3u8; 300_000]).unwrap();
    // Small files, which this first release keeps in shared chunks (a
    // version 3 manifest; the later releases are ordinary ones).
    std::fs::create_dir_all(w.join("src/share")).unwrap();
    let small = |i: usize| format!("small file {i}\n").repeat(100 + i * 37 % 500);
    for i in 0..200 {
        std::fs::write(w.join(format!("src/share/s{i:03}.txt")), small(i)).unwrap();
    }
    let store = Store::open(&w.join("store")).unwrap();
    let (_, first) = quince_packager::testkit::publish_sharing_small_files(
        &w.join("log"),
        &store,
        &root,
        &key,
        &w.join("src"),
        "1.0.0",
        "any",
    );
    use quince_protocol::codec::Encode as _;
    assert_eq!(&first.to_bytes()[..8], b"QMANIF\x00\x03", "shared chunks");
    let library = Library::new(store);
    library.add_app(root.app_id(), w.join("log"));
    let seeder = Node::start(
        NodeConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            ..NodeConfig::default()
        },
        Arc::new(library),
    )
    .await
    .unwrap();
    seeder.provide(root.app_id()).await.ok();
    let addr = seeder.addresses().await[0].clone();
    let link = format!("quince://{}?peer={addr}", root.app_id());

    let run = |link: String, home: std::path::PathBuf| {
        Command::new(bootstrap_bin())
            .env("QUINCE_NETWORK", "private")
            .arg(link)
            .args([
                "--no-mdns",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--find-for",
                "3",
            ])
            .arg("--home")
            .arg(home)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let home = w.join("user");
    let out = tokio::task::spawn_blocking({
        let link = link.clone();
        let home = home.clone();
        move || run(link, home)
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout.lines().count(), 1, "one final line: {stdout}");
    assert!(
        stdout.contains("installed app") && stdout.contains("1.0.0") && stdout.contains("started"),
        "{stdout}"
    );
    assert!(
        stderr.contains("peer(s) found"),
        "progress is shown: {stderr}"
    );
    // The app was started (it writes its marker).
    for _ in 0..50 {
        if marker.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(marker.exists(), "the installed app was not started");
    assert_eq!(
        std::fs::read(home.join(format!("apps/{}/current/data", root.app_id()))).unwrap(),
        vec![3u8; 300_000]
    );
    for i in [0, 99, 199] {
        let installed = home.join(format!("apps/{}/current/share/s{i:03}.txt", root.app_id()));
        assert_eq!(std::fs::read_to_string(installed).unwrap(), small(i));
    }

    // A beta on the beta channel: a link with channel=beta installs it, a
    // plain link still installs the stable release, from the same peer.
    std::fs::write(w.join("src/data"), vec![4u8; 1000]).unwrap();
    quince_packager::testkit::publish_on(
        &w.join("log"),
        &Store::open(&w.join("store")).unwrap(),
        &root,
        &key,
        &w.join("src"),
        &quince_packager::release::Offering {
            version: "2.0.0-beta.1".parse().unwrap(),
            channel: "beta".parse().unwrap(),
            rollout: quince_protocol::record::Rollout::FULL,
        },
        "any",
    );
    for (extra, home, version, data) in [
        ("&channel=beta", "tester", "2.0.0-beta.1", vec![4u8; 1000]),
        ("", "plain", "1.0.0", vec![3u8; 300_000]),
    ] {
        let home = w.join(home);
        let out = tokio::task::spawn_blocking({
            let (link, home) = (format!("{link}{extra}"), home.clone());
            move || run(link, home)
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(version),
            "{extra}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read(home.join(format!("apps/{}/current/data", root.app_id()))).unwrap(),
            data
        );
    }

    // A broken stable 1.1.0 (its program exits 1): a new user gets 1.0.0,
    // told why 1.1.0 was passed over. With standard output and error
    // closed (`2>&1 | head -0`), the install still happens and says so
    // by its exit status (no panic on the broken pipe).
    std::fs::write(w.join("src/bin/hello"), "#!/bin/sh\nexit 1\n").unwrap();
    quince_packager::testkit::publish(
        &w.join("log"),
        &Store::open(&w.join("store")).unwrap(),
        &root,
        &key,
        &w.join("src"),
        "1.1.0",
        "any",
    );
    let home = w.join("newcomer");
    let out = tokio::task::spawn_blocking({
        let (link, home) = (link.clone(), home.clone());
        move || run(link, home)
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("installed app") && stdout.contains(" 1.0.0 "),
        "{stdout}{stderr}"
    );
    assert!(
        stderr.contains("release 1.1.0 does not start") && stderr.contains("passed over"),
        "{stderr}"
    );
    let closed = tokio::task::spawn_blocking({
        let (link, home) = (link.clone(), w.join("piped"));
        move || {
            let mut child = Command::new(bootstrap_bin())
                .env("QUINCE_NETWORK", "private")
                .arg(link)
                .args([
                    "--no-mdns",
                    "--listen",
                    "/ip4/127.0.0.1/tcp/0",
                    "--no-launch",
                ])
                .arg("--home")
                .arg(&home)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            drop(child.stdout.take());
            drop(child.stderr.take());
            (child.wait().unwrap(), home)
        }
    })
    .await
    .unwrap();
    assert!(closed.0.success(), "with its output closed: {:?}", closed.0);
    assert!(closed
        .1
        .join(format!("apps/{}/current", root.app_id()))
        .exists());

    // A link to an app nobody holds: one clear failure line.
    let out = tokio::task::spawn_blocking({
        let home = w.join("other");
        move || run(format!("quince://{}", "cd".repeat(32)), home)
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("failed: no peer holds app"), "{stderr}");
    let out = Command::new(bootstrap_bin())
        .env("QUINCE_NETWORK", "private")
        .arg("quince://nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad link"));
    // Arguments: --name=value works, an unknown option is named.
    let out = Command::new(bootstrap_bin())
        .args(["--find-for=0", "quince://x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--find-for takes seconds"));
    let out = Command::new(bootstrap_bin())
        .arg("--frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid option '--frobnicate'"));
    seeder.shutdown().await;
}

/// Publishes 1.0.0 of an app made of `files` (path, content, executable) into
/// `w/NAME-log`, with chunks in `store`; returns its id.
fn publish(
    w: &std::path::Path,
    name: &str,
    seed: u8,
    store: &Store,
    files: &[(&str, Vec<u8>, bool)],
) -> quince_protocol::root::AppId {
    use std::os::unix::fs::PermissionsExt as _;
    let (root, key) = quince_protocol::testkit::danger_single_key_root(name, seed);
    let src = w.join(format!("{name}-src"));
    for (path, bytes, exec) in files {
        let p = src.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        let mode = if *exec { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let log = w.join(format!("{name}-log"));
    quince_packager::testkit::publish(&log, store, &root, &key, &src, "1.0.0", "any");
    root.app_id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_installs_quince_too_and_registers_its_updater() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    let store = Store::open(&w.join("store")).unwrap();
    let app = publish(
        w,
        "app",
        71,
        &store,
        &[("bin/app", b"#!/bin/sh\nexit 0\n".to_vec(), true)],
    );
    // Quince's stand-in records what the bootstrap asks of it (the real
    // `quince service install` and `quince launcher add` have their own
    // tests in the updater) and answers as they do.
    let calls = w.join("quince-calls");
    let quince_script = format!(
        "#!/bin/sh\necho \"$@\" >> {}\n\
         if [ \"$1\" = launcher ]; then echo \"launcher /bin-dir/$3\"; fi\n\
         if [ \"$1\" = service ]; then echo \"unit /units/quince-updater.service\"; fi\nexit 0\n",
        calls.display()
    );
    let me = publish(
        w,
        "quince",
        72,
        &store,
        &[("bin/quince", quince_script.into_bytes(), true)],
    );
    let library = Library::new(store);
    library.add_app(app, w.join("app-log"));
    library.add_app(me, w.join("quince-log"));
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
    let addr = seeder.addresses().await[0].clone();
    let link = format!("quince://{app}?peer={addr}");
    let home = w.join("user");
    let out = tokio::task::spawn_blocking({
        let home = home.clone();
        move || {
            Command::new(bootstrap_bin())
                .env("QUINCE_NETWORK", "private")
                .arg(link)
                .args([
                    "--no-mdns",
                    "--no-launch",
                    "--listen",
                    "/ip4/127.0.0.1/tcp/0",
                ])
                .arg("--home")
                .arg(&home)
                .env("QUINCE_SELF_APP", me.to_string())
                .env("SHELL", "/usr/bin/zsh")
                .stdin(Stdio::null())
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The updater becomes a service that follows Quince's own app too;
    // Quince goes on PATH as `quince`, and the app gets its launcher.
    for said in [
        "unit /units/quince-updater.service".to_string(),
        format!("launcher /bin-dir/{me}"),
        format!("launcher /bin-dir/{app}"),
    ] {
        assert!(stdout.contains(&said), "{said}: {stdout}");
    }
    let calls = std::fs::read_to_string(&calls).unwrap();
    for call in [
        format!("service install -- --self-app {me} --network private\n"),
        format!("launcher add {me} --name quince\n"),
        format!("launcher add {app}\n"),
        "man\n".to_string(),
        "completions zsh --install\n".to_string(),
    ] {
        assert!(calls.contains(&call), "{call}: {calls}");
    }
    seeder.shutdown().await;
}

/// The whole first run as shipped, with the real `quince` as Quince's own
/// release: the bootstrap installs the app and Quince, Quince installs its
/// updater (no systemd user manager here: an autostart entry, and the
/// updater started), puts itself on PATH as `quince` and the app's launcher
/// beside it; both launchers work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_real_quince_the_first_run_leaves_launchers_and_a_running_updater() {
    let quince =
        std::path::Path::new(env!("CARGO_BIN_EXE_quince-bootstrap")).with_file_name("quince");
    if !quince.exists() {
        let st = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "quince-updater"])
            .status()
            .unwrap();
        assert!(st.success());
    }
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    let store = Store::open(&w.join("store")).unwrap();
    let app = publish(
        w,
        "hello",
        73,
        &store,
        &[
            (
                "bin/hello",
                b"#!/bin/sh\necho \"hello $QUINCE_VERSION $1\"\n".to_vec(),
                true,
            ),
            (
                ".quince/app",
                b"quince app v1\nname Hello\nid hello\ncommand bin/hello\n".to_vec(),
                false,
            ),
        ],
    );
    let me = publish(
        w,
        "quince",
        74,
        &store,
        &[("bin/quince", std::fs::read(&quince).unwrap(), true)],
    );
    let library = Library::new(store);
    library.add_app(app, w.join("hello-log"));
    library.add_app(me, w.join("quince-log"));
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
    let addr = seeder.addresses().await[0].clone();
    let link = format!("quince://{app}?peer={addr}");
    let (home, bin, config, state) = (
        w.join("user"),
        w.join("bin"),
        w.join("config"),
        w.join("state"),
    );
    let env = [
        ("QUINCE_BIN_DIR", bin.clone()),
        ("XDG_CONFIG_HOME", config.clone()),
        ("XDG_STATE_HOME", state.clone()),
        ("XDG_DATA_HOME", w.join("data")),
    ];
    let out = tokio::task::spawn_blocking({
        let (home, env) = (home.clone(), env.clone());
        move || {
            Command::new(bootstrap_bin())
                .envs(env.iter().map(|(k, v)| (k, v.as_os_str())))
                .env("QUINCE_NETWORK", "private")
                .env("QUINCE_SELF_APP", me.to_string())
                .env("SHELL", "/bin/bash")
                .arg(link)
                .args([
                    "--no-mdns",
                    "--no-launch",
                    "--listen",
                    "/ip4/127.0.0.1/tcp/0",
                ])
                .arg("--home")
                .arg(&home)
                .stdin(Stdio::null())
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    // The updater it started: stopped at the end, whatever happens.
    let pid = said
        .split("started (process ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|p| p.parse::<i32>().ok());
    struct Stop(Option<i32>);
    impl Drop for Stop {
        fn drop(&mut self) {
            if let Some(pid) = self.0 {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
    }
    let _stop = Stop(pid);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(pid.is_some(), "no updater started: {said}");
    let entry = std::fs::read_to_string(config.join("autostart/quince-updater.desktop")).unwrap();
    assert!(
        entry.contains(&format!(
            "apps/{me}/current/bin/quince service run --self-app {me}"
        )),
        "{entry}"
    );
    assert!(config.join("systemd/user/quince-updater.service").is_file());
    // Manual pages and the shell's completions, where `man` and bash look.
    let data = w.join("data");
    assert!(data.join("man/man1/quince-install.1").is_file(), "{said}");
    assert!(
        data.join("bash-completion/completions/quince").is_file(),
        "{said}"
    );
    assert!(said.contains("manual pages in"), "{said}");
    // `quince` on PATH is Quince; `hello` is the app.
    let run = |program: &str, args: &[&str]| {
        let out = Command::new(bin.join(program))
            .envs(env.iter().map(|(k, v)| (k, v.as_os_str())))
            .env("QUINCE_NETWORK", "private")
            .env("QUINCE_HOME", &home)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(run("hello", &["there"]).trim(), "hello 1.0.0 there");
    let list = run("quince", &["list", "--json"]);
    assert!(
        list.contains(&app.to_string()) && list.contains(&me.to_string()),
        "{list}"
    );
    // The updater it started writes its log.
    let log = state.join("quince/updater.log");
    for _ in 0..100 {
        if std::fs::read_to_string(&log).is_ok_and(|l| l.contains("service started")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("service started"), "{text}");
    seeder.shutdown().await;
}
