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
    }
}

mod frost_checkpoints {
    use quince_protocol::checkpoint::{Checkpoint, VerifiedCheckpoint};
    use quince_protocol::note::{Note, NoteSignature};
    use quince_protocol::Hash;
    use quince_tests::frost_fixture::DealerGroup;

    /// Every 3 of the 5 keyholders make a checkpoint signature that the client's
    /// plain Ed25519 note verifier accepts; no 2 of them can sign at all.
    #[test]
    fn every_three_of_five_sign_and_no_two_can() {
        let group = DealerGroup::new(3, 5).unwrap();
        let root = group.root("FROST test", 3).unwrap();
        let app = root.app_id();
        let key = root.checkpoint_verifier(&app);
        let body = Checkpoint {
            origin: app.origin(),
            size: 9,
            root: Hash::of(b"tree"),
            extensions: vec![],
        }
        .to_text();
        let mut subsets = 0;
        for a in 1..=5u16 {
            for b in a + 1..=5 {
                for c in b + 1..=5 {
                    let sig = group.sign(&[a, b, c], body.as_bytes()).unwrap();
                    let mut note = Note::unsigned(&body).unwrap();
                    note.add_signature(
                        NoteSignature::new(&app.origin(), key.key_id(), sig.to_vec()).unwrap(),
                    )
                    .unwrap();
                    VerifiedCheckpoint::verify(&note.to_bytes(), &app.origin(), &key)
                        .unwrap_or_else(|e| panic!("signers {a},{b},{c}: {e}"));
                    subsets += 1;
                }
                assert!(
                    group.sign(&[a, b], body.as_bytes()).is_err(),
                    "{a},{b} signed"
                );
            }
        }
        assert_eq!(subsets, 10);
    }
}
