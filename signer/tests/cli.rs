//! The keyholder CLI as a new user meets it: the README walk-through script end
//! to end (five homes, dealerless key generation, three sign, OpenSSL checks),
//! then the refusals a keyholder can hit at the command line.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed step should stop the test

use std::path::Path;
use std::process::{Command, Output};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_quince-signer")
}

/// The packager binary, built beside ours by `cargo test --workspace` (or now).
fn packager() -> std::path::PathBuf {
    let path = Path::new(bin()).with_file_name("quince-packager");
    if !path.exists() {
        let st = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "quince-packager"])
            .status()
            .unwrap();
        assert!(st.success());
    }
    path
}

fn signer(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .env("QUINCE_PASSPHRASE", "demo passphrase")
        .env("QUINCE_DANGER_FAST_KDF", "1")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_readme_walkthrough_runs_and_the_cli_refuses_what_it_must() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("SKIPPED: openssl is not installed; the walk-through ends with an OpenSSL check");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/five-keyholders.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(work.path())
        .env("QUINCE_SIGNER", bin())
        .env("QUINCE_PACKAGER", packager())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("signed by participants 1, 3, 5"), "{all}");
    assert!(
        all.contains("valid: signed by participants 1, 3, 5 of 5"),
        "{all}"
    );
    assert!(all.contains("Signature Verified Successfully"), "{all}");
    assert!(all.contains("published checkpoint of size 1"), "{all}");
    let w = work.path();

    // Responding a second time to the same package would reuse a nonce: refused.
    let o = signer(
        w,
        &[
            "--home",
            "homes/ana",
            "sign",
            "respond",
            "--package",
            "package.json",
            "--out",
            "again",
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("refusing to sign twice with one nonce"),
        "{}",
        text(&o)
    );

    // Without a terminal and without --yes, nobody signs by accident.
    let o = signer(
        w,
        &[
            "--home",
            "homes/bo",
            "sign",
            "commit",
            "--request",
            "request.json",
            "--out",
            "c2",
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("pass --yes"), "{}", text(&o));

    // A wrong passphrase opens nothing.
    let o = Command::new(bin())
        .current_dir(w)
        .env("QUINCE_PASSPHRASE", "not it")
        .args([
            "--home",
            "homes/bo",
            "sign",
            "commit",
            "--yes",
            "--request",
            "request.json",
            "--out",
            "c2",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("wrong passphrase"), "{}", text(&o));

    // A keyholder with no share of this key refuses.
    let o = signer(
        w,
        &["--home", "homes/stranger", "init", "--name", "stranger"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = signer(
        w,
        &[
            "--home",
            "homes/stranger",
            "sign",
            "commit",
            "--yes",
            "--request",
            "request.json",
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("you hold no share"), "{}", text(&o));

    // The backup phrase restores a share in a fresh home, and the restored share signs.
    let words = signer(w, &["--home", "homes/di", "backup", "--root", "root.bin"]);
    assert!(words.status.success());
    std::fs::write(w.join("words.txt"), &words.stdout).unwrap();
    let o = signer(
        w,
        &[
            "--home",
            "homes/di2",
            "restore",
            "--root",
            "root.bin",
            "--index",
            "4",
            "--words-file",
            "words.txt",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = signer(
        w,
        &[
            "--home",
            "homes/di2",
            "sign",
            "commit",
            "--yes",
            "--request",
            "request.json",
            "--out",
            "c4",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    // The same words do not restore participant 2.
    let o = signer(
        w,
        &[
            "--home",
            "homes/x",
            "restore",
            "--root",
            "root.bin",
            "--index",
            "2",
            "--words-file",
            "words.txt",
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("not participant 2's share"),
        "{}",
        text(&o)
    );

    // A tampered signature share is named at aggregation.
    let share = std::fs::read_to_string(w.join("shares/share-3.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&share).unwrap();
    let mut bytes = hex::decode(v["share"].as_str().unwrap()).unwrap();
    bytes[1] ^= 1;
    let tampered = share.replace(v["share"].as_str().unwrap(), &hex::encode(bytes));
    std::fs::create_dir_all(w.join("bad")).unwrap();
    for i in [1, 5] {
        std::fs::copy(
            w.join(format!("shares/share-{i}.json")),
            w.join(format!("bad/share-{i}.json")),
        )
        .unwrap();
    }
    std::fs::write(w.join("bad/share-3.json"), tampered).unwrap();
    let o = signer(
        w,
        &[
            "sign",
            "aggregate",
            "--root",
            "root.bin",
            "--package",
            "package.json",
            "--out",
            "bad.note",
            "bad",
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("signature share from participant 3 does not verify"),
        "{}",
        text(&o)
    );
    assert!(!w.join("bad.note").exists());

    // Online: three keyholders serve over libp2p on loopback, the coordinator signs.
    let mut servers = Vec::new();
    let mut peers = Vec::new();
    for who in ["bo", "cy", "ed"] {
        let mut child = Command::new(bin())
            .current_dir(w)
            .env("QUINCE_PASSPHRASE", "demo passphrase")
            .env("QUINCE_DANGER_FAST_KDF", "1")
            .args([
                "--home",
                &format!("homes/{who}"),
                "serve",
                "--yes",
                "--root",
                "root.bin",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines =
            std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        let addr = loop {
            let line = lines
                .next()
                .expect("serve exited before listening")
                .unwrap();
            if let Some(rest) = line.strip_prefix("listening on ") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        servers.push(child);
        peers.push(addr);
    }
    let mut args = vec![
        "sign",
        "online",
        "--root",
        "root.bin",
        "--checkpoint",
        "checkpoint.body",
        "--out",
        "online.note",
        "--timeout",
        "30",
    ];
    for p in &peers {
        args.extend(["--peer", p.as_str()]);
    }
    let o = signer(w, &args);
    for mut s in servers {
        let _ = s.kill();
        let _ = s.wait();
    }
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("signed online by participants 2, 3, 5"),
        "{}",
        text(&o)
    );
    let o = signer(
        w,
        &[
            "transcript",
            "--root",
            "root.bin",
            "online.note.transcript.json",
        ],
    );
    assert!(
        text(&o).contains("valid: signed by participants 2, 3, 5 of 5"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_rotation_by_command_line_produces_a_rotation_entry_signed_by_the_new_group() {
    use quince_protocol::codec::Decode;
    use quince_protocol::record::LogEntry;

    let w = tempfile::tempdir().unwrap();
    let w = w.path();
    let app = "7d1e5b1f0c1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4";
    let names = ["fa", "fb", "fc", "fd", "fe"];
    let mut cards = Vec::new();
    for n in names {
        let o = signer(w, &["--home", &format!("h/{n}"), "init", "--name", n]);
        assert!(o.status.success(), "{}", text(&o));
        cards.push(format!("h/{n}/card.json"));
    }
    let mut args = vec![
        "roster",
        "--app-name",
        "Rotated",
        "--rotates-app",
        app,
        "--out",
        "roster.json",
    ];
    args.extend(cards.iter().map(String::as_str));
    assert!(signer(w, &args).status.success());
    key_generation(w, &names, "new-root.bin");
    let o = signer(
        w,
        &[
            "sign",
            "rotation-request",
            "--new-root",
            "new-root.bin",
            "--app",
            app,
            "--out",
            "rot.json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    for n in ["fa", "fc", "fe"] {
        let o = signer(
            w,
            &[
                "--home",
                &format!("h/{n}"),
                "sign",
                "commit",
                "--yes",
                "--request",
                "rot.json",
                "--out",
                "rc",
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("signer rotation of app"), "{}", text(&o));
    }
    assert!(signer(
        w,
        &[
            "sign",
            "package",
            "--root",
            "new-root.bin",
            "--request",
            "rot.json",
            "--out",
            "rp.json",
            "rc"
        ]
    )
    .status
    .success());
    for n in ["fa", "fc", "fe"] {
        let o = signer(
            w,
            &[
                "--home",
                &format!("h/{n}"),
                "sign",
                "respond",
                "--package",
                "rp.json",
                "--out",
                "rs",
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = signer(
        w,
        &[
            "sign",
            "aggregate",
            "--root",
            "new-root.bin",
            "--package",
            "rp.json",
            "--out",
            "rotation.entry",
            "rs",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let entry = LogEntry::from_bytes(&std::fs::read(w.join("rotation.entry")).unwrap()).unwrap();
    let LogEntry::Rotation(record) = entry else {
        panic!("not a rotation entry")
    };
    assert_eq!(record.app.to_string(), app);
    assert!(record.new_root_signature_is_valid());
}

/// The client binary, built beside ours by `cargo test --workspace` (or now).
fn quince() -> std::path::PathBuf {
    let path = Path::new(bin()).with_file_name("quince");
    if !path.exists() {
        let st = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "quince-updater"])
            .status()
            .unwrap();
        assert!(st.success());
    }
    path
}

/// Runs one of the example scripts in `work`.
fn example(work: &Path, script: &str, args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples")
                .join(script),
        )
        .arg(work)
        .args(args)
        .env("QUINCE_SIGNER", bin())
        .env("QUINCE_PACKAGER", packager())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{script} {args:?}: {all}");
    all
}

/// Rotation across processes: keyholders (quince-signer), the publisher
/// (quince-packager) and a client (quince) that installed 1.0.0 and was
/// offline across two rotations and five releases; it then updates, walking
/// through the checkpoints the old signers made, and an audit of the
/// publisher's log and of the client's copy both pass.
#[test]
fn a_client_offline_across_two_rotations_and_five_releases_updates() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("SKIPPED: openssl is not installed; the walk-through ends with an OpenSSL check");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    example(w, "five-keyholders.sh", &[]);
    let app = std::fs::read_to_string(w.join("log/checkpoint")).unwrap();
    let app = app
        .lines()
        .next()
        .unwrap()
        .strip_prefix("quince.app/")
        .unwrap()
        .to_string();
    let q = |args: &[&str]| {
        Command::new(quince())
            .current_dir(w)
            .env("QUINCE_NETWORK", "private")
            .env("QUINCE_HOME", w.join("user"))
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let mut seeder = Command::new(quince())
        .current_dir(w)
        .env("QUINCE_NETWORK", "private")
        .env("QUINCE_HOME", w.join("seeder"))
        .args(["seed", "--log", "log", "--store", "store", "--no-mdns"])
        .args(["--listen", "/ip4/127.0.0.1/tcp/0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
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
    let net = [
        "--no-mdns",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--find-for",
        "5",
    ];
    let link = format!("quince://{app}?peer={addr}");
    let mut install = vec!["install", link.as_str(), "--run", "bin/hello", "--json"];
    install.extend(net);
    let o = q(&install);
    assert!(o.status.success(), "{}", text(&o));
    // Not a terminal: the fetch's progress comes as plain lines, the last done.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.lines()
            .any(|l| l.contains(" peers  ") && l.ends_with("done")),
        "{err}"
    );
    let hello = || text(&q(&["run", &app]));
    assert!(hello().contains("hello from 1.0.0"), "{}", hello());

    // Offline now (nothing runs for the client): two rotations, five releases.
    let first = example(w, "rotation.sh", &["di", "fy"]);
    // A rotation's key generation names the app it rotates, never a new id or link.
    assert!(first.contains(&format!("rotates app: {app}")), "{first}");
    assert!(
        !first.contains("link:") && !first.contains("app id:  "),
        "{first}"
    );
    example(w, "release.sh", &["1.1.0"]);
    example(w, "release.sh", &["1.2.0"]);
    example(w, "rotation.sh", &["ana", "gil"]);
    for v in ["1.3.0", "1.4.0", "1.5.0"] {
        example(w, "release.sh", &[v]);
    }
    assert!(w.join("log/rotations/2").is_file() && w.join("log/rotations/5").is_file());

    let mut update = vec!["update", "--json"];
    update.extend(net);
    let o = q(&update);
    let _ = seeder.kill();
    let _ = seeder.wait();
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(v["version"], "1.5.0", "{v}");
    assert!(hello().contains("hello from 1.5.0"), "{}", hello());

    // The client's copy keeps the old signers' checkpoints and serves them on;
    // both logs audit clean, following both rotations.
    let mirror = w.join(format!("user/apps/{app}/log"));
    for log in [w.join("log"), mirror.clone()] {
        let o = q(&["audit", log.to_str().unwrap(), "--json"]);
        assert!(
            o.status.success(),
            "audit of {}: {}",
            log.display(),
            text(&o)
        );
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(report["rotations"].as_array().unwrap().len(), 2, "{report}");
    }
    assert!(mirror.join("rotations/2").is_file() && mirror.join("rotations/5").is_file());
}

/// Output to a pipe nobody reads (`quince-signer inspect | true`, and the
/// packager's `init`): each stops quietly with the status a shell gives a
/// process killed by SIGPIPE (141), not a panic (101).
#[test]
fn a_closed_pipe_stops_the_tools_quietly() {
    let w = tempfile::tempdir().unwrap();
    let (root, _) = quince_protocol_root(w.path());
    let log = w.path().join("log").display().to_string();
    for (program, args) in [
        (
            std::path::PathBuf::from(bin()),
            vec!["inspect", root.as_str()],
        ),
        (
            packager(),
            vec!["init", "--root", root.as_str(), "--log", log.as_str()],
        ),
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(&program)
            .args(&args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{program:?} {args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// A root file made by a real key generation (five homes, as the README's).
fn quince_protocol_root(w: &Path) -> (String, ()) {
    let names = ["pa", "pb", "pc"];
    let mut cards = Vec::new();
    for n in names {
        let o = signer(w, &["--home", &format!("h/{n}"), "init", "--name", n]);
        assert!(o.status.success(), "{}", text(&o));
        cards.push(format!("h/{n}/card.json"));
    }
    let mut args = vec![
        "roster",
        "--app-name",
        "Piped",
        "--threshold",
        "2",
        "--out",
        "roster.json",
    ];
    args.extend(cards.iter().map(String::as_str));
    assert!(signer(w, &args).status.success());
    key_generation(w, &names, "root.bin");
    (w.join("root.bin").display().to_string(), ())
}

/// An empty passphrase protects nothing: making an identity with one is
/// refused, and nothing is written.
#[test]
fn an_empty_passphrase_is_refused() {
    let w = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .current_dir(w.path())
        .env("QUINCE_PASSPHRASE", "")
        .env("QUINCE_DANGER_FAST_KDF", "1")
        .args(["--home", "h", "init", "--name", "x"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("it is empty"), "{}", text(&out));
    assert!(!w.path().join("h/card.json").exists());
}

/// Dealerless key generation by `names` (homes `h/NAME`) from `roster.json`
/// in `w`: rounds 1 and 2, then finish writing `root_out`.
fn key_generation(w: &Path, names: &[&str], root_out: &str) {
    for step in ["round1", "round2", "finish"] {
        for n in names {
            let home = format!("h/{n}");
            let mut a = vec![
                "--home",
                home.as_str(),
                "dkg",
                step,
                "--roster",
                "roster.json",
            ];
            match step {
                "round1" => a.extend(["--out", "."]),
                "round2" => a.extend(["--out", ".", "."]),
                _ => a.extend(["--root-out", root_out, "."]),
            }
            let o = signer(w, &a);
            assert!(o.status.success(), "{step} {n}: {}", text(&o));
        }
    }
}

/// A keyholder sees the releases a checkpoint adds (checked against its
/// tree and the last head the group signed), and refuses a list that does
/// not make the tree.
#[test]
fn the_sign_prompt_shows_and_checks_what_the_checkpoint_adds() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    example(w, "five-keyholders.sh", &[]);
    example(w, "release.sh", &["1.1.0"]);
    let run = |program: &Path, args: &[&str]| {
        let o = Command::new(program)
            .current_dir(w)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    };
    std::fs::write(
        w.join("app/bin/hello"),
        "#!/bin/sh\necho hello from 1.2.0\n",
    )
    .unwrap();
    run(
        &packager(),
        &["build", "app", "--store", "store", "--out", "m.bin"],
    );
    run(
        &packager(),
        &[
            "release",
            "--manifest",
            "m.bin",
            "--version",
            "1.2.0",
            "--platform",
            "any",
            "--channel",
            "beta",
            "--rollout",
            "10",
        ],
    );
    let manifest = {
        let o = Command::new("sha256sum")
            .arg(w.join("m.bin"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)[..64].to_string()
    };
    // The request finds log/pending/since.json beside the checkpoint body.
    let o = signer(
        w,
        &[
            "sign",
            "request",
            "--root",
            "root.bin",
            "--checkpoint",
            "log/pending/checkpoint.body",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let commit = |dir: &str| {
        signer(
            w,
            &[
                "--home",
                "homes/ana",
                "sign",
                "commit",
                "--yes",
                "--request",
                "request.json",
                "--out",
                dir,
            ],
        )
    };
    let shown = text(&commit("c1"));
    assert!(
        shown.contains("since the last checkpoint your group signed (tree size 2), it adds:"),
        "{shown}"
    );
    assert!(
        shown.contains("+ release 1.2.0 for any, ") && shown.contains(&manifest),
        "{shown}"
    );
    // A staged beta: keyholders see the channel and the share they sign.
    assert!(
        shown.contains("offered on channel beta to 10% of its installs"),
        "{shown}"
    );

    // A coordinator that hides what it adds: the list no longer makes the tree.
    let mut request: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.join("request.json")).unwrap()).unwrap();
    let real = request["since"]["entries"][0].clone();
    let entry = quince_protocol::codec::parse_base64(real.as_str().unwrap(), 8192, "e").unwrap();
    let faked = String::from_utf8(entry).unwrap().replace("1.2.0", "1.2.1");
    request["since"]["entries"][0] = quince_protocol::codec::to_base64(faked.as_bytes()).into();
    std::fs::write(w.join("request.json"), request.to_string()).unwrap();
    let o = commit("c2");
    assert!(!o.status.success());
    assert!(
        text(&o).contains("do not make the checkpoint's tree"),
        "{}",
        text(&o)
    );
    // Without the list, the prompt says that nothing can be seen.
    request["since"] = serde_json::Value::Null;
    std::fs::write(w.join("request.json"), request.to_string()).unwrap();
    let shown = text(&commit("c3"));
    assert!(
        shown.contains("you cannot see what this tree holds"),
        "{shown}"
    );
}
