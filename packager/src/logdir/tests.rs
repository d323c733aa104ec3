//! Log folder tests: append and publish, refusals, and crashes at every step.

use ed25519_dalek::SigningKey;
use quince_protocol::hash::Hash;
use quince_protocol::note::Note;
use quince_protocol::record::ReleaseRecord;

use super::*;

fn test_root(seed: u8) -> (AppRoot, SigningKey) {
    quince_protocol::testkit::danger_single_key_root("Test app", seed)
}

fn release(app: AppId, version: &str) -> Vec<u8> {
    LogEntry::Release(ReleaseRecord {
        app,
        version: version.parse().unwrap(),
        channel: Default::default(),
        rollout: Default::default(),
        platforms: vec!["linux-x86_64".parse().unwrap()],
        manifest: Hash::of(version.as_bytes()),
        size: 1000,
        time: 1_764_000_000,
    })
    .to_bytes()
}

fn sign(app: &AppId, body: &str, key: &SigningKey) -> Vec<u8> {
    let mut note = Note::unsigned(body).unwrap();
    note.sign_ed25519(&app.origin(), key).unwrap();
    note.to_bytes()
}

fn releases(app: AppId, from: u32, count: u32) -> Vec<Vec<u8>> {
    (from..from + count)
        .map(|i| release(app, &format!("1.{i}.0")))
        .collect()
}

#[test]
fn append_sign_publish_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (root, key) = test_root(1);
    let log = LogDir::create(dir.path(), &root).unwrap();
    assert_eq!(log.size().unwrap(), 0);
    let app = log.app();

    // Grow across tile boundaries: 1, 255, 256, 300 entries.
    let mut next = 0;
    for target in [1u32, 255, 256, 300] {
        let pending = log.append(&releases(app, next, target - next)).unwrap();
        assert_eq!(pending.size, u64::from(target));
        // Nothing is published before the signature.
        assert_eq!(log.size().unwrap(), u64::from(next));
        next = target;
        let cp = log.publish(&sign(&app, &pending.body, &key)).unwrap();
        assert_eq!(cp.size(), u64::from(target));
        let reopened = LogDir::open(dir.path()).unwrap();
        assert_eq!(reopened.size().unwrap(), u64::from(target));
        assert_eq!(reopened.entries().unwrap().len(), target as usize);
    }
    assert!(!dir.path().join(PENDING_DIR).exists());
    assert!(dir.path().join("tile/0/000").exists());
    assert!(dir.path().join("tile/0/001.p/44").exists());
    assert!(dir.path().join("tile/1/000.p/1").exists());
    assert!(dir.path().join("tile/entries/001.p/44").exists());
}

/// `version` on `channel` to `percent`%, with `manifest_seed`'s bytes.
fn offer(app: AppId, version: &str, channel: &str, percent: u8, manifest_seed: &str) -> Vec<u8> {
    LogEntry::Release(ReleaseRecord {
        app,
        version: version.parse().unwrap(),
        channel: channel.parse().unwrap(),
        rollout: quince_protocol::record::Rollout::percent(percent).unwrap(),
        platforms: vec!["linux-x86_64".parse().unwrap()],
        manifest: Hash::of(manifest_seed.as_bytes()),
        size: 1000,
        time: 1_764_000_000,
    })
    .to_bytes()
}

/// Channels: each has its own order; a beta can be promoted (same bytes)
/// and rolled out in steps; a version never changes its bytes; build
/// metadata alone does not make a new version.
#[test]
fn channel_rules_for_releases_promotions_and_rollouts() {
    let dir = tempfile::tempdir().unwrap();
    let (root, _) = test_root(2);
    let log = LogDir::create(dir.path(), &root).unwrap();
    let app = log.app();
    let ok = |entries: Vec<Vec<u8>>| {
        log.append(&entries).unwrap();
        log.abandon().unwrap();
    };
    let refused = |entries: Vec<Vec<u8>>, why: &str| {
        let err = log.append(&entries).unwrap_err().to_string();
        assert!(err.contains(why), "{err} (wanted {why:?})");
    };
    let stable1 = offer(app, "1.0.0", "stable", 100, "1.0.0");
    let beta = offer(app, "2.0.0-beta.1", "beta", 100, "b1");
    ok(vec![stable1.clone(), beta.clone()]);
    // Stable goes on below the beta: each channel has its own order.
    ok(vec![
        stable1.clone(),
        beta.clone(),
        offer(app, "1.0.1", "stable", 100, "1.0.1"),
    ]);
    // Promotion with the same bytes, then rollout steps and a halt.
    ok(vec![
        stable1.clone(),
        beta.clone(),
        offer(app, "2.0.0-beta.1", "stable", 10, "b1"),
        offer(app, "2.0.0-beta.1", "stable", 50, "b1"),
        offer(app, "2.0.0-beta.1", "stable", 0, "b1"),
    ]);
    refused(
        vec![
            stable1.clone(),
            beta.clone(),
            offer(app, "2.0.0-beta.1", "stable", 100, "other bytes"),
        ],
        "must name the same manifest",
    );
    refused(
        vec![
            stable1.clone(),
            offer(app, "0.9.0", "beta", 100, "0.9"),
            offer(app, "0.9.0", "stable", 100, "0.9"),
        ],
        "not greater than the newest on channel stable, 1.0.0",
    );
    refused(
        vec![
            stable1.clone(),
            beta.clone(),
            offer(app, "2.0.0-alpha", "beta", 100, "a"),
        ],
        "not greater than the newest on channel beta",
    );
    refused(
        vec![
            stable1.clone(),
            offer(app, "1.0.0+rebuilt", "beta", 100, "r"),
        ],
        "only in build metadata",
    );
    refused(
        vec![stable1.clone(), beta.clone(), beta.clone()],
        "already offered on beta to 100%",
    );
}

#[test]
fn refusals_leave_the_published_log_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (root, key) = test_root(1);
    let log = LogDir::create(dir.path(), &root).unwrap();
    let app = log.app();
    let p = log.append(&[release(app, "1.0.0")]).unwrap();
    log.publish(&sign(&app, &p.body, &key)).unwrap();
    let before = durable::files_below(dir.path()).unwrap();

    // The same record again; not a greater version.
    let err = log.append(&[release(app, "1.0.0")]).unwrap_err();
    assert!(
        err.to_string().contains("already offered on stable"),
        "{err}"
    );
    let err = log.append(&[release(app, "0.9.0")]).unwrap_err();
    assert!(err.to_string().contains("not greater"), "{err}");
    let err = log
        .append(&[release(app, "1.1.0"), release(app, "1.0.5")])
        .unwrap_err();
    assert!(err.to_string().contains("not greater"), "{err}");
    // Another app's record.
    let (other, _) = test_root(9);
    let err = log.append(&[release(other.app_id(), "2.0.0")]).unwrap_err();
    assert!(err.to_string().contains("is for app"), "{err}");
    // Garbage.
    assert!(matches!(
        log.append(&[b"junk".to_vec()]),
        Err(LogError::BadEntry(_))
    ));
    assert_eq!(durable::files_below(dir.path()).unwrap(), before);

    // A signature by the wrong key, or over another body, is refused.
    let p = log.append(&[release(app, "2.0.0")]).unwrap();
    let stranger = SigningKey::from_bytes(&[77; 32]);
    let err = log.publish(&sign(&app, &p.body, &stranger)).unwrap_err();
    assert!(
        err.to_string()
            .contains("not signed by the app's signing group"),
        "{err}"
    );
    let other_body = p.body.replace(&format!("\n{}\n", p.size), "\n99\n");
    let err = log.publish(&sign(&app, &other_body, &key)).unwrap_err();
    assert!(err.to_string().contains("not the staged one"), "{err}");
    // A second append while one is pending is refused.
    assert!(matches!(
        log.append(&[release(app, "3.0.0")]),
        Err(LogError::PendingExists { size: 2 })
    ));
    assert_eq!(log.size().unwrap(), 1);
    log.abandon().unwrap();
    assert_eq!(durable::files_below(dir.path()).unwrap(), before);
}

#[test]
fn a_crash_at_any_step_of_publishing_leaves_a_valid_log_that_can_resume_or_abandon() {
    let (root, key) = test_root(1);
    // Appending 300 entries onto 200 stages several tiles and bundles.
    for crash_at in 0..8 {
        for resume in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let log = LogDir::create(dir.path(), &root).unwrap();
            let app = log.app();
            let p = log.append(&releases(app, 0, 200)).unwrap();
            log.publish(&sign(&app, &p.body, &key)).unwrap();
            let p = log.append(&releases(app, 200, 100)).unwrap();
            let note = sign(&app, &p.body, &key);
            let crashed = log.publish_inner(&note, Some(crash_at));
            let reopened = LogDir::open(dir.path()).unwrap();
            if crashed.is_ok() {
                // Fewer files than crash_at: publishing completed.
                assert_eq!(reopened.size().unwrap(), 300);
                continue;
            }
            // After the crash, the old checkpoint is still the published one and verifies.
            assert_eq!(
                reopened.size().unwrap(),
                200,
                "crash after {crash_at} moves"
            );
            reopened.verify().unwrap();
            if resume {
                assert_eq!(reopened.pending().unwrap().map(|p| p.size), Some(300));
                reopened.publish(&note).unwrap();
                assert_eq!(LogDir::open(dir.path()).unwrap().size().unwrap(), 300);
            } else {
                reopened.abandon().unwrap();
                let again = reopened.append(&releases(app, 200, 50)).unwrap();
                reopened.publish(&sign(&app, &again.body, &key)).unwrap();
                let final_log = LogDir::open(dir.path()).unwrap();
                assert_eq!(final_log.size().unwrap(), 250);
                final_log.verify().unwrap();
            }
        }
    }
}

#[test]
fn an_incomplete_staging_is_discarded_by_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let (root, key) = test_root(1);
    let log = LogDir::create(dir.path(), &root).unwrap();
    let app = log.app();
    // Simulate a crash while staging: tiles written, body not yet.
    durable::write_atomic(&dir.path().join("pending/tile/0/000.p/1"), &[0u8; 32]).unwrap();
    assert_eq!(log.pending().unwrap(), None);
    let p = log.append(&[release(app, "1.0.0")]).unwrap();
    log.publish(&sign(&app, &p.body, &key)).unwrap();
    LogDir::open(dir.path()).unwrap().verify().unwrap();
}

#[test]
fn a_tampered_tile_or_bundle_is_detected_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (root, key) = test_root(1);
    let log = LogDir::create(dir.path(), &root).unwrap();
    let app = log.app();
    let p = log.append(&releases(app, 0, 3)).unwrap();
    log.publish(&sign(&app, &p.body, &key)).unwrap();
    let bundle = dir.path().join("tile/entries/000.p/3");
    let mut bytes = fs::read(&bundle).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 1;
    fs::write(&bundle, &bytes).unwrap();
    let err = LogDir::open(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("does not match its leaf hash"),
        "{err}"
    );
}
