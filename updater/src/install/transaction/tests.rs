//! The install transaction with no network: releases published into a
//! folder (log/ and store/) that a [`Folder`] source serves in-process.

use std::path::{Path, PathBuf};

use quince_protocol::root::{AppId, AppRoot};
use quince_store::Store;

use crate::fetch::{Folder, PeerFault};
use crate::install::{Apps, InstallError, Outcome, UpdateOptions};

struct Publisher {
    dir: PathBuf,
    root: AppRoot,
    key: ed25519_dalek::SigningKey,
}

impl Publisher {
    fn new(dir: &Path) -> Publisher {
        let (root, key) = quince_protocol::testkit::danger_single_key_root("Transaction", 7);
        Publisher {
            dir: dir.to_path_buf(),
            root,
            key,
        }
    }

    fn app(&self) -> AppId {
        self.root.app_id()
    }

    /// Publishes `version`, whose `bin/app` exits with `code`.
    fn publish(&self, version: &str, code: i32) {
        let src = self.dir.join(format!("src-{version}"));
        quince_packager::testkit::script_app(
            &src,
            &format!("#!/bin/sh\necho {version}\nexit {code}\n"),
        );
        std::fs::write(src.join("data"), format!("{version} data ").repeat(2000)).unwrap();
        let store = Store::open(&self.dir.join("store")).unwrap();
        quince_packager::testkit::publish(
            &self.dir.join("log"),
            &store,
            &self.root,
            &self.key,
            &src,
            version,
            "any",
        );
    }

    async fn install(&self, apps: &Apps) -> Result<Outcome, InstallError> {
        let folder = Folder::open(&self.dir, self.app()).unwrap();
        let options = UpdateOptions {
            health_seconds: Some(1),
            window: 4,
            ..UpdateOptions::default()
        };
        apps.update(&folder, self.app(), &mut folder.peers(), &options)
            .await
    }
}

fn state_json(apps: &Apps, app: &AppId) -> String {
    std::fs::read_to_string(apps.app_dir(app).state_file()).unwrap()
}

#[tokio::test]
async fn a_good_release_is_kept_and_a_failing_one_rolled_back_and_refused() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("pub"));
    let apps = Apps::open(&t.path().join("home")).unwrap();
    let app = publisher.app();

    publisher.publish("1.0.0", 0);
    let v1: quince_protocol::record::Version = "1.0.0".parse().unwrap();
    assert_eq!(
        publisher.install(&apps).await.unwrap(),
        Outcome::Installed {
            version: v1,
            previous: None,
            passed_over: Vec::new(),
        }
    );
    assert_eq!(apps.current_link(&app), Some(v1));

    publisher.publish("1.1.0", 3);
    let v2: quince_protocol::record::Version = "1.1.0".parse().unwrap();
    match publisher.install(&apps).await.unwrap() {
        Outcome::RolledBack {
            refused,
            reason,
            current,
        } => {
            assert_eq!((refused, current), (v2, Some(v1)));
            assert!(reason.contains("exited"), "{reason}");
        }
        other => panic!("expected a rollback, got {other:?}"),
    }
    let state = apps.state(&app).unwrap().unwrap();
    assert_eq!((state.current, state.trial), (Some(v1), None));
    assert!(state.is_refused(&v2));
    assert_eq!(apps.current_link(&app), Some(v1));
    // Refused for good: the next update does not try it again.
    assert_eq!(
        publisher.install(&apps).await.unwrap(),
        Outcome::UpToDate(v1)
    );
}

/// A new user whose link leads to a broken newest release gets the newest
/// one that runs, and is told which were passed over; one who asked for
/// the broken version by name gets nothing, with the reason.
#[tokio::test]
async fn a_fresh_install_passes_over_newer_releases_that_do_not_start() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("pub"));
    let app = publisher.app();
    let v = |s: &str| -> quince_protocol::record::Version { s.parse().unwrap() };
    publisher.publish("1.0.0", 0);
    publisher.publish("1.1.0", 3);
    publisher.publish("1.2.0", 4);

    let apps = Apps::open(&t.path().join("home")).unwrap();
    match publisher.install(&apps).await.unwrap() {
        Outcome::Installed {
            version,
            previous,
            passed_over,
        } => {
            assert_eq!((version, previous), (v("1.0.0"), None));
            let refused: Vec<_> = passed_over.iter().map(|(r, _)| *r).collect();
            assert_eq!(refused, [v("1.2.0"), v("1.1.0")]);
            assert!(
                passed_over[0].1.contains("exit status: 4"),
                "{passed_over:?}"
            );
        }
        other => panic!("expected 1.0.0 installed, got {other:?}"),
    }
    assert_eq!(apps.current_link(&app), Some(v("1.0.0")));
    let state = apps.state(&app).unwrap().unwrap();
    assert!(state.is_refused(&v("1.1.0")) && state.is_refused(&v("1.2.0")));
    assert_eq!(
        publisher.install(&apps).await.unwrap(),
        Outcome::UpToDate(v("1.0.0"))
    );

    // Asked for by version: no fallback.
    let asked = Apps::open(&t.path().join("home2")).unwrap();
    let folder = Folder::open(&publisher.dir, app).unwrap();
    let options = UpdateOptions {
        health_seconds: Some(1),
        version: Some(v("1.2.0")),
        ..UpdateOptions::default()
    };
    match asked
        .update(&folder, app, &mut folder.peers(), &options)
        .await
        .unwrap()
    {
        Outcome::RolledBack {
            refused, current, ..
        } => assert_eq!((refused, current), (v("1.2.0"), None)),
        other => panic!("expected 1.2.0 refused, got {other:?}"),
    }
    assert_eq!(asked.current_link(&app), None);
}

#[tokio::test]
async fn a_tampered_chunk_is_refused_and_nothing_installed_changes() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("pub"));
    let apps = Apps::open(&t.path().join("home")).unwrap();
    let app = publisher.app();
    publisher.publish("1.0.0", 0);
    publisher.install(&apps).await.unwrap();
    let before = state_json(&apps, &app);

    publisher.publish("1.1.0", 0);
    // Flip one byte in every chunk the new release added, in its own file
    // or in a pack.
    let chunks = quince_store::durable::files_below(&publisher.dir.join("store/chunks")).unwrap();
    let held = quince_store::durable::files_below(&t.path().join("home/store/chunks")).unwrap();
    for rel in chunks.iter().filter(|c| !held.contains(c)) {
        let path = publisher.dir.join("store/chunks").join(rel);
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        std::fs::write(&path, bytes).unwrap();
    }
    let home = quince_store::Store::open(&t.path().join("home/store")).unwrap();
    let packs = publisher.dir.join("store/packs");
    let mut flipped = 0;
    for rel in quince_store::durable::files_below(&packs).unwrap() {
        let path = packs.join(rel);
        let mut bytes = std::fs::read(&path).unwrap();
        for (id, slot) in quince_store::packs::index_of(&bytes).unwrap() {
            if !home.has(&id) {
                bytes[(slot.offset + u64::from(slot.len) / 2) as usize] ^= 1;
                flipped += 1;
            }
        }
        std::fs::write(&path, bytes).unwrap();
    }
    assert!(
        flipped + chunks.len() > held.len(),
        "no new chunk to damage"
    );
    let err = publisher.install(&apps).await.unwrap_err();
    assert!(err.to_string().contains("sent a bad chunk"), "{err}");
    assert!(
        err.to_string().contains("bundle"),
        "names the folder: {err}"
    );
    assert_eq!(state_json(&apps, &app), before, "state.json is unchanged");
    assert_eq!(apps.current_link(&app), Some("1.0.0".parse().unwrap()));
    assert!(!apps.app_dir(&app).staging().exists());
}

#[tokio::test]
async fn a_version_left_on_trial_by_a_crash_is_checked_at_the_next_update() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("pub"));
    let apps = Apps::open(&t.path().join("home")).unwrap();
    let app = publisher.app();
    publisher.publish("1.0.0", 0);
    publisher.install(&apps).await.unwrap();
    publisher.publish("1.1.0", 5);

    // Stage and switch by hand, then "crash" before the health check.
    let v2: quince_protocol::record::Version = "1.1.0".parse().unwrap();
    {
        let lock = apps.lock(&app).unwrap();
        let state = apps.recover(&lock).unwrap().unwrap();
        let folder = Folder::open(&publisher.dir, app).unwrap();
        let mut peers = folder.peers();
        let log = crate::fetch::LogSync::new(app, &apps.log_dir(&app))
            .from_state(Some(state.trusted().unwrap()))
            .run(&folder, &mut peers)
            .await
            .unwrap();
        let release = log
            .release(&v2, &quince_protocol::record::Platform::current())
            .unwrap();
        let store = apps.store().unwrap();
        let verified = crate::fetch::fetch_release(
            &folder,
            app,
            &mut peers,
            &release,
            &quince_protocol::record::Platform::current(),
            &store,
            4,
        )
        .await
        .unwrap();
        let staged = super::Staged::unpack(
            &apps,
            &lock,
            state,
            &verified,
            &quince_protocol::record::Platform::current(),
            &store,
        )
        .unwrap();
        let on_trial = staged.switch().unwrap();
        std::mem::drop(on_trial);
    }
    let state = apps.state(&app).unwrap().unwrap();
    assert_eq!(state.trial, Some(v2));
    assert_eq!(apps.current_link(&app), Some(v2));

    // The next update finishes the trial first: 1.1.0 fails and is rolled back.
    match publisher.install(&apps).await.unwrap() {
        Outcome::RolledBack { refused, .. } => assert_eq!(refused, v2),
        other => panic!("expected the trial to fail, got {other:?}"),
    }
    assert_eq!(apps.current_link(&app), Some("1.0.0".parse().unwrap()));
}

#[tokio::test]
async fn a_folder_that_is_not_a_bundle_and_a_bundle_of_another_app_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let err = Folder::open(t.path(), AppId([1; 32])).unwrap_err();
    assert!(err.to_string().contains("not a Quince bundle"), "{err}");

    let publisher = Publisher::new(&t.path().join("pub"));
    publisher.publish("1.0.0", 0);
    let apps = Apps::open(&t.path().join("home")).unwrap();
    let other = AppId([2; 32]);
    let folder = Folder::open(&publisher.dir, other).unwrap();
    let mut peers = folder.peers();
    let err = apps
        .update(&folder, other, &mut peers, &UpdateOptions::default())
        .await
        .unwrap_err();
    // The folder's root does not hash to the asked-for app id.
    assert!(
        matches!(
            peers.dropped().get(&folder.peer()),
            Some(PeerFault::BadData { .. })
        ),
        "{err}: {:?}",
        peers.dropped()
    );
    assert!(apps.state(&other).unwrap().is_none());
}

#[tokio::test]
async fn a_sync_advances_the_trusted_log_and_installs_nothing() {
    let t = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(&t.path().join("pub"));
    let apps = Apps::open(&t.path().join("home")).unwrap();
    let app = publisher.app();
    let folder = || Folder::open(&publisher.dir, app).unwrap();
    publisher.publish("1.0.0", 0);
    let f = folder();
    let err = apps.sync(&f, app, &mut f.peers()).await.unwrap_err();
    assert!(matches!(err, InstallError::NotInstalled(_)), "{err}");
    publisher.install(&apps).await.unwrap();

    publisher.publish("1.1.0", 0);
    let f = folder();
    let log = apps.sync(&f, app, &mut f.peers()).await.unwrap();
    let platform = quince_protocol::record::Platform::current();
    assert_eq!(
        log.latest_release(&platform).unwrap().version.to_string(),
        "1.1.0"
    );
    let state = apps.state(&app).unwrap().unwrap();
    assert_eq!(state.trusted().unwrap().size(), 2, "the trusted head moved");
    assert_eq!(
        state.current,
        Some("1.0.0".parse().unwrap()),
        "nothing installed"
    );
    assert_eq!(apps.current_link(&app), Some("1.0.0".parse().unwrap()));
}
