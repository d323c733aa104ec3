//! End-to-end scenarios across crates. One binary, one module per story.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed step should stop the test

mod demo {
    /// The README's first command runs to the end and says so.
    #[test]
    fn the_readme_demo_runs_to_the_end() {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_quince-demo"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("quince-demo: ok."), "{stdout}");
        assert!(stdout.contains("rollback refused"), "{stdout}");
        for version in ["1.0.0", "1.1.0"] {
            assert!(
                stdout.contains(&format!("->  hello from Quince Demo {version}")),
                "{version} did not run: {stdout}"
            );
        }
        assert!(
            stdout.contains("1.2.0 failed its health check")
                && stdout.contains("rolled back to 1.1.0"),
            "{stdout}"
        );
        assert!(!stdout.contains("hello from Quince Demo 1.2.0"), "{stdout}");
    }
}

mod rotation {
    use quince_packager::LogDir;
    use quince_protocol::checkpoint::Checkpoint;
    use quince_protocol::codec::Encode;
    use quince_protocol::merkle;
    use quince_protocol::note::Note;
    use quince_protocol::record::{LogEntry, RotationRecord};
    use quince_protocol::state::{Advance, Refusal, TrustedState};
    use quince_tests::ceremony::Group;
    use quince_tests::release_entry;

    fn follow(client: &TrustedState, log: &LogDir, note: &[u8]) -> Result<TrustedState, Refusal> {
        let size = Checkpoint::parse(Note::parse(note).unwrap().text())
            .unwrap()
            .size;
        let tiles = log.read_tiles(size).unwrap();
        let proof = merkle::consistency_proof(&tiles, client.size(), size).unwrap();
        match client.advance(note, &proof)? {
            Advance::Advanced(next) => Ok(*next),
            Advance::Unchanged => Ok(client.clone()),
        }
    }

    /// A keyholder leaves: five new keyholders generate a new key, sign their
    /// new root, the old group signs the checkpoint that announces it, and from
    /// then on only the new group's checkpoints are accepted. The app id, and so
    /// the link, does not change.
    #[test]
    fn signer_rotation_keeps_the_app_id_and_moves_trust_to_the_new_group() {
        let old = Group::generate("Rotating", &["a", "b", "c", "d", "e"], 3).unwrap();
        let app = old.root().app_id();
        let dir = tempfile::tempdir().unwrap();
        let log = LogDir::create(dir.path(), old.root()).unwrap();
        let mut client = TrustedState::new(app, old.root().clone()).unwrap();

        let p = log
            .append(&[release_entry(app, "1.0.0", "linux-x86_64").unwrap()])
            .unwrap();
        let note = old.sign_checkpoint(&app, &p.body, &[1, 2, 3]).unwrap().0;
        log.publish(&note).unwrap();
        client = follow(&client, &log, &note).unwrap();

        // The new group (e left, f joined) signs its own root for this app.
        let new =
            Group::generate_for("Rotating", &["a", "b", "c", "d", "f"], 3, Some(&app)).unwrap();
        assert_ne!(
            new.root().app_id(),
            app,
            "a new key generation alone would be a new app"
        );
        let signature = new.sign_rotation(&app, &[2, 4, 5]).unwrap();
        let entry = LogEntry::Rotation(Box::new(RotationRecord {
            app,
            root: new.root().clone(),
            root_signature: signature,
        }))
        .to_bytes();
        let p = log.append(std::slice::from_ref(&entry)).unwrap();
        // The checkpoint that contains the rotation is signed by the OLD group.
        assert!(log
            .publish(&new.sign_checkpoint(&app, &p.body, &[1, 2, 3]).unwrap().0)
            .is_err());
        let note = old.sign_checkpoint(&app, &p.body, &[3, 4, 5]).unwrap().0;
        log.publish(&note).unwrap();
        client = follow(&client, &log, &note).unwrap();
        let tiles = log.read_tiles(client.size()).unwrap();
        let proof = merkle::inclusion_proof(&tiles, 1, client.size()).unwrap();
        client = client.apply_rotation(1, &entry, &proof).unwrap();
        assert_eq!(client.root(), new.root());
        assert_eq!(client.app(), &app);

        // After it, the old group can no longer sign for the app.
        let p = log
            .append(&[release_entry(app, "1.1.0", "linux-x86_64").unwrap()])
            .unwrap();
        let by_old = old.sign_checkpoint(&app, &p.body, &[1, 2, 3]).unwrap().0;
        assert!(log.publish(&by_old).is_err());
        // The signature is checked before any proof: the client refuses it too.
        assert!(matches!(
            client.advance(&by_old, &[]),
            Err(Refusal::BadSignature(_))
        ));
        let by_new = new.sign_checkpoint(&app, &p.body, &[1, 3, 5]).unwrap().0;
        log.publish(&by_new).unwrap();
        client = follow(&client, &log, &by_new).unwrap();
        assert_eq!(client.size(), 3);
        // The stored state survives a restart.
        assert_eq!(TrustedState::load(&client.to_bytes()).unwrap(), client);
        LogDir::open(dir.path()).unwrap().verify().unwrap();
    }
}
