//! Trusted-state tests: each refusal, equivocation evidence, rotation, storage.

use ed25519_dalek::{Signer as _, SigningKey};

use super::*;
use crate::checkpoint::Checkpoint;
use crate::merkle::MemoryTree;
use crate::note::Note;
use crate::record::{rotation_message, RotationRecord};
use crate::root::tests::sample_root;

struct Log {
    app: AppId,
    tree: MemoryTree,
}

impl Log {
    fn new(app: AppId, entries: usize) -> Log {
        let mut tree = MemoryTree::new();
        for i in 0..entries {
            tree.push_entry(format!("entry {i}\n").as_bytes());
        }
        Log { app, tree }
    }

    fn signed(&self, size: u64, key: &SigningKey) -> Vec<u8> {
        sign(
            &self.app,
            size,
            merkle::tree_root(&self.tree, size).unwrap(),
            key,
        )
    }
}

fn sign(app: &AppId, size: u64, root: Hash, key: &SigningKey) -> Vec<u8> {
    let cp = Checkpoint {
        origin: app.origin(),
        size,
        root,
        extensions: vec![],
    };
    let mut note = Note::unsigned(&cp.to_text()).unwrap();
    note.sign_ed25519(&app.origin(), key).unwrap();
    note.to_bytes()
}

fn setup() -> (AppId, AppRoot, SigningKey, Log) {
    let (root, key) = sample_root("Example", 3);
    let app = root.app_id();
    (app, root.clone(), key, Log::new(app, 20))
}

fn advanced(state: &TrustedState, note: &[u8], proof: &[Hash]) -> TrustedState {
    match state.advance(note, proof).unwrap() {
        Advance::Advanced(s) => *s,
        Advance::Unchanged => panic!("expected to advance"),
    }
}

#[test]
fn a_fresh_state_advances_along_a_consistent_log() {
    let (app, root, key, log) = setup();
    let s0 = TrustedState::new(app, root).unwrap();
    let s1 = advanced(&s0, &log.signed(5, &key), &[]);
    assert_eq!(s1.size(), 5);
    let proof = merkle::consistency_proof(&log.tree, 5, 12).unwrap();
    let s2 = advanced(&s1, &log.signed(12, &key), &proof);
    assert_eq!(s2.size(), 12);
    assert_eq!(
        s2.advance(&log.signed(12, &key), &[]).unwrap(),
        Advance::Unchanged
    );
}

#[test]
fn each_bad_candidate_gets_its_own_refusal_and_the_state_is_unchanged() {
    let (app, root, key, log) = setup();
    let s = advanced(
        &TrustedState::new(app, root).unwrap(),
        &log.signed(10, &key),
        &[],
    );
    let before = s.clone();

    // Rollback.
    let old = log.signed(4, &key);
    assert_eq!(
        s.advance(&old, &[]),
        Err(Refusal::Rollback {
            trusted: 10,
            offered: 4
        })
    );

    // Bad signature: another key under the same name.
    let stranger = SigningKey::from_bytes(&[99; 32]);
    assert!(matches!(
        s.advance(&log.signed(12, &stranger), &[]),
        Err(Refusal::BadSignature(_))
    ));

    // Wrong origin: another app's checkpoint, validly signed by its own key.
    let (other_root, other_key) = sample_root("Other", 50);
    let other = Log::new(other_root.app_id(), 20);
    assert!(matches!(
        s.advance(&other.signed(12, &other_key), &[]),
        Err(Refusal::WrongOrigin { .. })
    ));

    // Bad proof.
    let mut proof = merkle::consistency_proof(&log.tree, 10, 12).unwrap();
    proof[0].0[0] ^= 1;
    assert!(matches!(
        s.advance(&log.signed(12, &key), &proof),
        Err(Refusal::BadProof(_))
    ));

    // Malformed.
    assert!(matches!(
        s.advance(b"garbage", &[]),
        Err(Refusal::Malformed(_))
    ));

    assert_eq!(s, before);
}

#[test]
fn a_fork_is_reported_with_both_notes_as_checkable_evidence() {
    let (app, root, key, log) = setup();
    let s = advanced(
        &TrustedState::new(app, root.clone()).unwrap(),
        &log.signed(10, &key),
        &[],
    );

    // Same size, different root: the signers signed two histories.
    let fork = sign(&app, 10, Hash::of(b"other history"), &key);
    let Err(Refusal::Equivocation(ev)) = s.advance(&fork, &[]) else {
        panic!("fork not detected");
    };
    assert!(ev.verify(&app, &root));
    assert_eq!(ev.offered, fork);
    // The evidence survives a trip through its file form, and a damaged copy is refused.
    let bytes = ev.to_bytes();
    let back = Equivocation::from_bytes(&bytes).unwrap();
    assert_eq!(back, *ev);
    assert!(back.verify(&app, &root));
    assert!(Equivocation::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    let mut flipped = bytes.clone();
    let at = flipped.len() - 80;
    flipped[at] ^= 1;
    assert!(Equivocation::from_bytes(&flipped).map_or(true, |e| !e.verify(&app, &root)));

    // Larger size on a rewritten history, with a proof computed from it.
    let mut forked = MemoryTree::new();
    for i in 0..14 {
        let e = if i == 7 {
            "evil\n".to_string()
        } else {
            format!("entry {i}\n")
        };
        forked.push_entry(e.as_bytes());
    }
    let note = sign(&app, 14, forked.root(), &key);
    let proof = merkle::consistency_proof(&forked, 10, 14).unwrap();
    let Err(Refusal::Equivocation(ev)) = s.advance(&note, &proof) else {
        panic!("fork not detected");
    };
    assert!(ev.verify(&app, &root));
    // Evidence that is not signed by the app's key proves nothing.
    let mut fake = (*ev).clone();
    fake.offered = sign(&app, 14, forked.root(), &SigningKey::from_bytes(&[98; 32]));
    assert!(!fake.verify(&app, &root));
}

#[test]
fn a_root_for_another_app_is_refused() {
    let (app, _, _, _) = setup();
    let (other, _) = sample_root("Other", 50);
    assert!(matches!(
        TrustedState::new(app, other),
        Err(Refusal::WrongRoot { .. })
    ));
}

#[test]
fn rotation_moves_trust_to_the_new_key_only_with_both_signatures() {
    let (app, root, old_key, _) = setup();
    let (new_root, new_key) = sample_root("Example", 77);
    let record = RotationRecord {
        app,
        root: new_root.clone(),
        root_signature: new_key.sign(&rotation_message(&app, &new_root)).to_bytes(),
    };
    let rotation = LogEntry::Rotation(Box::new(record.clone())).to_bytes();
    let mut tree = MemoryTree::new();
    for i in 0..3 {
        tree.push_entry(format!("entry {i}\n").as_bytes());
    }
    tree.push_entry(&rotation);
    tree.push_entry(b"after\n");

    // The checkpoint that contains the rotation is signed by the old key.
    let s = TrustedState::new(app, root).unwrap();
    let s = advanced(
        &s,
        &sign(&app, 4, merkle::tree_root(&tree, 4).unwrap(), &old_key),
        &[],
    );
    let incl = merkle::inclusion_proof(&tree, 3, 4).unwrap();
    let rotated = s.apply_rotation(3, &rotation, &incl).unwrap();
    assert_eq!(rotated.root(), &new_root);
    assert_eq!(rotated.app(), &app);

    // Stored and reloaded, the rotated state still verifies its old-key checkpoint.
    assert_eq!(TrustedState::load(&rotated.to_bytes()).unwrap(), rotated);

    // From now on only the new key is trusted.
    let proof = merkle::consistency_proof(&tree, 4, 5).unwrap();
    let by_old = sign(&app, 5, tree.root(), &old_key);
    assert!(matches!(
        rotated.advance(&by_old, &proof),
        Err(Refusal::BadSignature(_))
    ));
    let after = advanced(&rotated, &sign(&app, 5, tree.root(), &new_key), &proof);
    assert_eq!(TrustedState::load(&after.to_bytes()).unwrap(), after);

    // Replaying the same rotation is refused.
    let incl5 = merkle::inclusion_proof(&tree, 3, 5).unwrap();
    assert!(matches!(
        after.apply_rotation(3, &rotation, &incl5),
        Err(Refusal::Rotation(_))
    ));

    // A rotation whose new root is not signed by the new key is refused.
    let mut unsigned = record.clone();
    unsigned.root_signature = old_key.sign(&rotation_message(&app, &new_root)).to_bytes();
    let bad = LogEntry::Rotation(Box::new(unsigned)).to_bytes();
    let mut t2 = MemoryTree::new();
    t2.push_entry(&bad);
    let s2 = advanced(
        &TrustedState::new(app, sample_root("Example", 3).0).unwrap(),
        &sign(&app, 1, t2.root(), &old_key),
        &[],
    );
    let err = s2.apply_rotation(0, &bad, &[]).unwrap_err();
    assert!(
        err.to_string().contains("not signed by its own group key"),
        "{err}"
    );

    // A rotation not in the trusted tree is refused.
    assert!(matches!(
        s.apply_rotation(3, &bad, &incl),
        Err(Refusal::BadProof(_))
    ));
}

#[test]
fn stored_state_round_trips_and_bad_bytes_are_refused() {
    let (app, root, key, log) = setup();
    let s = advanced(
        &TrustedState::new(app, root).unwrap(),
        &log.signed(7, &key),
        &[],
    );
    let bytes = s.to_bytes();
    assert_eq!(TrustedState::load(&bytes).unwrap(), s);
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        TrustedState::load(&trailing),
        Err(Refusal::Malformed(DecodeError::TrailingBytes { .. }))
    ));
    assert!(matches!(
        TrustedState::load(&bytes[..bytes.len() - 3]),
        Err(Refusal::Malformed(_))
    ));
    // A stored checkpoint altered on disk no longer verifies.
    let mut tampered = bytes.clone();
    let n = tampered.len();
    tampered[n - 100] ^= 1;
    assert!(TrustedState::load(&tampered).is_err());
}
