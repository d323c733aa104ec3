//! `quince audit`'s checks on real FROST-signed logs: who signed each release
//! (from the transcripts), signer rotations, and what a rewritten history, a
//! forged transcript or a damaged chunk look like to an auditor.
#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed step should stop the test

use quince_packager::build::{build, Source};
use quince_packager::{release, LogDir};
use quince_protocol::codec::Encode;
use quince_protocol::record::{LogEntry, RotationRecord};
use quince_store::Store;
use quince_tests::ceremony::Group;
use quince_tests::release_entry;
use quince_updater::audit::audit_folder;

/// Appends `entries`, has `signers` of `group` sign, publishes with the transcript.
fn publish(log: &LogDir, group: &Group, entries: &[Vec<u8>], signers: &[u16]) -> Vec<u8> {
    let app = log.app();
    let p = log.append(entries).unwrap();
    let (note, transcript) = group.sign_checkpoint(&app, &p.body, signers).unwrap();
    let cp = log.publish(&note).unwrap();
    log.put_transcript(cp.size(), &serde_json::to_vec(&transcript).unwrap())
        .unwrap();
    note
}

#[test]
fn audit_names_the_signers_of_every_release_across_a_rotation() {
    let old = Group::generate("Audited", &["a", "b", "c", "d", "e"], 3).unwrap();
    let app = old.root().app_id();
    let dir = tempfile::tempdir().unwrap();
    let log = LogDir::create(dir.path(), old.root()).unwrap();
    publish(
        &log,
        &old,
        &[release_entry(app, "1.0.0", "any").unwrap()],
        &[1, 2, 3],
    );
    publish(
        &log,
        &old,
        &[release_entry(app, "1.1.0", "any").unwrap()],
        &[3, 4, 5],
    );
    // e leaves, f joins: the new group signs its root, the old group the
    // checkpoint that carries the rotation, the new group everything after.
    let new = Group::generate_for("Audited", &["a", "b", "c", "d", "f"], 3, Some(&app)).unwrap();
    let rotation = LogEntry::Rotation(Box::new(RotationRecord {
        app,
        root: new.root().clone(),
        root_signature: new.sign_rotation(&app, &[1, 2, 5]).unwrap(),
    }))
    .to_bytes();
    publish(&log, &old, &[rotation], &[1, 4, 5]);
    publish(
        &log,
        &new,
        &[release_entry(app, "2.0.0", "any").unwrap()],
        &[2, 3, 5],
    );

    let report = audit_folder(dir.path(), &[], None, false).unwrap();
    assert!(report.passed(), "{}", report.to_text());
    let signers: Vec<(String, Option<Vec<u16>>)> = report
        .releases
        .iter()
        .map(|r| (r.version.clone(), r.signers.clone()))
        .collect();
    assert_eq!(
        signers,
        vec![
            ("1.0.0".into(), Some(vec![1, 2, 3])),
            ("1.1.0".into(), Some(vec![3, 4, 5])),
            ("2.0.0".into(), Some(vec![2, 3, 5])),
        ]
    );
    assert_eq!(report.rotations.len(), 1);
    assert_eq!(report.rotations[0].0, 2);
    assert_eq!(report.root_fingerprint, new.root().fingerprint());
    assert_eq!(report.included, 4);
    assert_eq!(report.checkpoints.len(), 4);
    // Manifests were not at hand: said, not counted as a failure.
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("manifest not at hand")));

    // The checkpoint that carried the rotation is kept in rotations/3 too:
    // without its transcript, the old group's signature on it still shows
    // the rotation was approved.
    assert!(dir.path().join("rotations/3").is_file());
    std::fs::remove_file(dir.path().join("transcripts/3.json")).unwrap();
    let report = audit_folder(dir.path(), &[], None, false).unwrap();
    assert!(report.passed(), "{}", report.to_text());
    assert_eq!(report.rotations.len(), 1);

    // Without either, the auditor cannot see the old group approve it: the
    // audit fails and says so.
    std::fs::remove_file(dir.path().join("rotations/3")).unwrap();
    let report = audit_folder(dir.path(), &[], None, false).unwrap();
    assert!(!report.passed());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("rotation at entry 2")),
        "{:?}",
        report.problems
    );
}

#[test]
fn audit_fails_on_a_forged_transcript_and_on_a_rewritten_history() {
    let group = Group::generate("Audited", &["a", "b", "c", "d", "e"], 3).unwrap();
    let app = group.root().app_id();
    let dir = tempfile::tempdir().unwrap();
    let log = LogDir::create(dir.path(), group.root()).unwrap();
    publish(
        &log,
        &group,
        &[release_entry(app, "1.0.0", "any").unwrap()],
        &[1, 2, 3],
    );
    let first_head = publish(
        &log,
        &group,
        &[release_entry(app, "1.1.0", "any").unwrap()],
        &[2, 3, 4],
    );
    assert!(audit_folder(dir.path(), &[], None, false).unwrap().passed());

    // A transcript that claims keyholder 5 signed in place of 4.
    let path = dir.path().join("transcripts/2.json");
    let good = std::fs::read(&path).unwrap();
    let mut t: serde_json::Value = serde_json::from_slice(&good).unwrap();
    let share4 = t["shares"]["4"].clone();
    t["shares"].as_object_mut().unwrap().remove("4");
    t["shares"]["5"] = share4;
    std::fs::write(&path, serde_json::to_vec(&t).unwrap()).unwrap();
    let report = audit_folder(dir.path(), &[], None, false).unwrap();
    assert!(!report.passed());
    assert!(
        report.problems.iter().any(|p| p.contains("participant 5")),
        "{:?}",
        report.problems
    );
    std::fs::write(&path, &good).unwrap();

    // The signers rewrite history: a new log whose second entry differs, signed
    // by the same group. An auditor who saw the first head catches it.
    let dir2 = tempfile::tempdir().unwrap();
    let log2 = LogDir::create(dir2.path(), group.root()).unwrap();
    publish(
        &log2,
        &group,
        &[release_entry(app, "1.0.0", "any").unwrap()],
        &[1, 2, 3],
    );
    publish(
        &log2,
        &group,
        &[release_entry(app, "1.0.5", "any").unwrap()],
        &[1, 2, 3],
    );
    publish(
        &log2,
        &group,
        &[release_entry(app, "1.2.0", "any").unwrap()],
        &[1, 2, 3],
    );
    assert!(audit_folder(dir2.path(), &[], None, false)
        .unwrap()
        .passed());
    let report = audit_folder(dir2.path(), &[first_head], None, false).unwrap();
    assert!(!report.passed());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.starts_with("EQUIVOCATION")),
        "{:?}",
        report.problems
    );
}

#[test]
fn audit_download_rehashes_every_file_and_names_a_damaged_chunk() {
    let group = Group::generate("Audited", &["a", "b", "c", "d", "e"], 3).unwrap();
    let work = tempfile::tempdir().unwrap();
    let store = Store::open(&work.path().join("store")).unwrap();
    let log = LogDir::create(&work.path().join("log"), group.root()).unwrap();
    let src = work.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.txt"), b"first file\n").unwrap();
    std::fs::write(src.join("b.bin"), vec![7u8; 300_000]).unwrap();
    let (manifest, _) = build(
        &[Source {
            dir: src,
            platform: None,
        }],
        &store,
        3,
    )
    .unwrap();
    let staged = release::stage(
        &log,
        &store,
        &manifest,
        "1.0.0".parse().unwrap(),
        &["any".parse().unwrap()],
        0,
        3,
    )
    .unwrap();
    let (note, transcript) = group
        .sign_checkpoint(&log.app(), &staged.pending.body, &[1, 3, 5])
        .unwrap();
    log.publish(&note).unwrap();
    log.put_transcript(1, &serde_json::to_vec(&transcript).unwrap())
        .unwrap();

    let report = audit_folder(log.path(), &[], Some(&store), true).unwrap();
    assert!(report.passed(), "{}", report.to_text());
    assert_eq!(report.releases[0].files_checked, Some(2));
    assert_eq!(report.releases[0].manifest_check, "verified");

    // Damage one stored chunk (its last byte if it has a file of its own,
    // else the first byte of the first chunk in a pack): the download check
    // names the file.
    let loose = walk(&store.dir().join("chunks"));
    let packed = walk(&store.dir().join("packs"));
    let (victim, at) = match (loose.first(), packed.first()) {
        (Some(file), _) => (file.clone(), None),
        (None, Some(pack)) => (pack.clone(), Some(8)),
        (None, None) => panic!("no stored chunk"),
    };
    let mut bytes = std::fs::read(&victim).unwrap();
    let at = at.unwrap_or(bytes.len() - 1);
    bytes[at] ^= 0x55;
    std::fs::write(&victim, bytes).unwrap();
    let report = audit_folder(log.path(), &[], Some(&store), true).unwrap();
    assert!(!report.passed());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("release 1.0.0") && p.contains("file")),
        "{:?}",
        report.problems
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out.sort();
    out
}

/// An untrusted log folder cannot make `audit` read without end or block:
/// an entry bundle that is a symlink to `/dev/zero` and a transcript that is
/// a FIFO are refused with their path named (before, the first grew the
/// auditor to 22 GB and the second blocked for ever).
#[cfg(unix)]
#[test]
fn audit_refuses_an_endless_entry_bundle_and_a_fifo_transcript_without_hanging() {
    let group = Group::generate("Audited", &["a", "b", "c", "d", "e"], 3).unwrap();
    let app = group.root().app_id();
    let dir = tempfile::tempdir().unwrap();
    let log = LogDir::create(dir.path(), group.root()).unwrap();
    publish(
        &log,
        &group,
        &[release_entry(app, "1.0.0", "any").unwrap()],
        &[1, 2, 3],
    );
    let audit_within = |secs: u64| {
        let path = dir.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(audit_folder(&path, &[], None, false));
        });
        rx.recv_timeout(std::time::Duration::from_secs(secs))
            .expect("the audit hung")
    };
    let report = audit_within(60).unwrap();
    assert!(report.passed());
    assert_eq!(report.releases[0].signers, Some(vec![1, 2, 3]));

    // The transcript becomes a FIFO nobody writes to: the audit goes on
    // without it and says the signers are unknown.
    let transcript = dir.path().join("transcripts/1.json");
    std::fs::remove_file(&transcript).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&transcript)
        .status()
        .unwrap();
    assert!(made.success());
    let report = audit_within(60).unwrap();
    assert_eq!(report.releases[0].signers, None, "{}", report.to_text());

    // The entry bundle becomes a symlink to /dev/zero: refused, named.
    let bundle = walk(&dir.path().join("tile"))
        .into_iter()
        .find(|p| p.to_string_lossy().contains("/entries/"))
        .expect("an entry bundle");
    std::fs::remove_file(&bundle).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &bundle).unwrap();
    let err = match audit_within(60) {
        Err(e) => e.to_string(),
        Ok(report) => {
            assert!(!report.passed(), "{}", report.to_text());
            report.problems.join("; ")
        }
    };
    assert!(err.contains("not a regular file (a device)"), "{err}");
}

/// The `quince` binary a workspace build leaves next to `quince-demo`.
fn quince_bin() -> std::path::PathBuf {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_quince-demo")).with_file_name("quince");
    if !bin.exists() {
        let st = std::process::Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "quince-updater"])
            .status()
            .unwrap();
        assert!(st.success());
    }
    bin
}

fn audit_cli(home: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(quince_bin())
        .env("QUINCE_HOME", home)
        .arg("audit")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Proofs for outside verifiers, checked against a log Go's tlog wrote and
/// the proofs Go computed for it (a plain tlog-tiles folder, no Quince
/// root, audited with its verifier key); then an honest copy that is behind
/// a head the auditor saw earlier passes as "behind, consistent" (and fails
/// only with --require-newest), while a copy the signers rewrote fails.
#[test]
fn audit_proofs_match_gos_and_an_older_copy_is_behind_but_consistent() {
    let go =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol/tests/data/go-tlog");
    let vkey = std::fs::read_to_string(go.join("vkey")).unwrap();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let size300 = go.join("size300");
    let size300 = size300.to_str().unwrap();
    let (ok, inclusion) = audit_cli(h, &[size300, "--key", vkey.trim(), "--proof", "123"]);
    assert!(ok, "{inclusion}");
    let (ok, consistency) = audit_cli(h, &[size300, "--key", vkey.trim(), "--proof", "200:300"]);
    assert!(ok, "{consistency}");
    // Go's proofs.txt: a consistency block, an inclusion block, the roots.
    let go_proofs = std::fs::read_to_string(go.join("proofs.txt")).unwrap();
    let block = |text: &str, header: &str| -> Vec<String> {
        text.lines()
            .skip_while(|l| !l.starts_with(header))
            .skip(1)
            .take_while(|l| !l.contains(' '))
            .map(str::to_string)
            .collect()
    };
    let go_consistency = block(&go_proofs, "consistency 200 -> 300");
    let go_inclusion = block(&go_proofs, "inclusion of record 123");
    assert_eq!(go_consistency.len(), 7);
    assert_eq!(
        block(&consistency, "consistency 200 -> 300"),
        go_consistency
    );
    assert_eq!(
        block(&inclusion, "inclusion of entry 123 in size 300"),
        go_inclusion
    );
    for root in go_proofs.lines().filter(|l| l.starts_with("root ")) {
        assert!(consistency.contains(root), "{root} not in {consistency}");
    }

    // The auditor saw size 300 above; a copy at size 200 is behind it.
    let size200 = go.join("size200");
    let size200 = size200.to_str().unwrap();
    let (ok, said) = audit_cli(h, &[size200, "--key", vkey.trim()]);
    assert!(ok, "{said}");
    assert!(
        said.contains("behind, consistent: a checkpoint of size 300"),
        "{said}"
    );
    let (ok, said) = audit_cli(h, &[size200, "--key", vkey.trim(), "--require-newest"]);
    assert!(!ok && said.contains("behind"), "{said}");
    // Without a plain folder's key, the error says what to give.
    let (ok, said) = audit_cli(h, &[size200]);
    assert!(!ok && said.contains("--key"), "{said}");

    // A Quince log: the auditor passes it at size 2, then meets an honest
    // copy at size 1 (behind, consistent) and one the signers rewrote.
    let group = Group::generate("Behind", &["a", "b", "c", "d", "e"], 3).unwrap();
    let app = group.root().app_id();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let log = LogDir::create(&w.join("log"), group.root()).unwrap();
    publish(
        &log,
        &group,
        &[release_entry(app, "1.0.0", "any").unwrap()],
        &[1, 2, 3],
    );
    let copy = std::process::Command::new("cp")
        .args([
            "-a",
            w.join("log").to_str().unwrap(),
            w.join("older").to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(copy.success());
    publish(
        &log,
        &group,
        &[release_entry(app, "1.1.0", "any").unwrap()],
        &[2, 3, 4],
    );
    let home2 = tempfile::tempdir().unwrap();
    let (ok, said) = audit_cli(home2.path(), &[w.join("log").to_str().unwrap()]);
    assert!(ok, "{said}");
    let (ok, said) = audit_cli(home2.path(), &[w.join("older").to_str().unwrap(), "--json"]);
    assert!(ok, "{said}");
    let v: serde_json::Value = serde_json::from_str(&said).unwrap();
    assert_eq!(v["behind"], 2, "{v}");
    let rewritten = LogDir::create(&w.join("rewritten"), group.root()).unwrap();
    publish(
        &rewritten,
        &group,
        &[release_entry(app, "1.0.1", "any").unwrap()],
        &[1, 2, 3],
    );
    let (ok, said) = audit_cli(home2.path(), &[w.join("rewritten").to_str().unwrap()]);
    assert!(!ok, "{said}");
    assert!(said.contains("EQUIVOCATION"), "{said}");
}
