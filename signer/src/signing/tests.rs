//! Ceremony tests: a dealerless key generation among five keyholders, then
//! signing by every quorum, and each refusal the signer issue lists.

use quince_protocol::checkpoint::VerifiedCheckpoint;

use super::*;
use crate::dkg::{self, Roster};
use crate::keyholder::Keyholder;
use crate::vault::Passphrase;

use crate::testutil::ceremony;

fn body_for(share: &KeyShare, size: u64) -> String {
    Checkpoint {
        origin: share.app_id().origin(),
        size,
        root: Hash::of(&size.to_be_bytes()),
        extensions: vec![],
    }
    .to_text()
}

/// Runs both rounds among `signers` (0-based positions in `shares`).
fn sign_with(
    shares: &[KeyShare],
    signers: &[usize],
    body: &str,
) -> Result<([u8; 64], Transcript), SignerError> {
    let root = shares[0].root();
    let request = SigningRequest::checkpoint(root, &shares[0].app_id(), body)?;
    let mut committed = Vec::new();
    let mut commitments = Vec::new();
    for &i in signers {
        let (c, m) = commit(&shares[i], &request)?;
        committed.push((i, c));
        commitments.push(m);
    }
    let pkg = package(root, &request, &commitments)?;
    let mut sig_shares = Vec::new();
    for (i, c) in committed {
        sig_shares.push(c.respond(&shares[i], &pkg)?);
    }
    aggregate(root, &pkg, &sig_shares)
}

#[test]
fn dealerless_keygen_gives_one_root_and_every_three_of_five_sign() {
    let (_, shares) = ceremony("DKG test");
    let root = shares[0].root().clone();
    assert!(shares.iter().all(|s| s.root() == &root));
    assert_eq!(
        shares.iter().map(KeyShare::index).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    let app = root.app_id();
    let body = body_for(&shares[0], 42);
    let mut count = 0;
    for a in 0..5 {
        for b in a + 1..5 {
            for c in b + 1..5 {
                let (sig, transcript) = sign_with(&shares, &[a, b, c], &body).unwrap();
                let note = signed_checkpoint(&root, &app, &body, &sig).unwrap();
                VerifiedCheckpoint::verify(&note, &app.origin(), &root.checkpoint_verifier(&app))
                    .unwrap();
                let signers = verify_transcript(&root, &transcript).unwrap();
                assert_eq!(signers, vec![a as u16 + 1, b as u16 + 1, c as u16 + 1]);
                count += 1;
            }
            // Two keyholders cannot even get a signing package.
            let err = sign_with(&shares, &[a, b], &body).unwrap_err();
            assert!(
                matches!(
                    err,
                    SignerError::TooFew {
                        got: 2,
                        needed: 3,
                        ..
                    }
                ),
                "{err}"
            );
        }
    }
    assert_eq!(count, 10);
}

#[test]
fn a_keyholder_who_equivocates_in_round_one_is_named() {
    let keyholders: Vec<Keyholder> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|n| Keyholder::generate(n).unwrap())
        .collect();
    let roster = Roster::new(
        "Equivocation",
        3,
        keyholders.iter().map(Keyholder::card).collect(),
    )
    .unwrap();
    let (pending, r1): (Vec<_>, Vec<_>) = keyholders
        .iter()
        .map(|k| dkg::start(&roster, k).unwrap())
        .unzip();
    // Keyholder 2 makes a second, different round-1 message and shows it to keyholder 3 only.
    let (_, other_r1) = dkg::start(&roster, &keyholders[1]).unwrap();
    let mut seen_by_3 = r1.clone();
    seen_by_3[1] = other_r1;
    let mut r2_all = Vec::new();
    let mut pending2 = Vec::new();
    for (i, (p, k)) in pending.into_iter().zip(&keyholders).enumerate() {
        let view = if i == 2 { &seen_by_3 } else { &r1 };
        let (p2, out) = p.round2(k, view).unwrap();
        r2_all.extend(out);
        pending2.push(p2);
    }
    let mut p2 = pending2.into_iter();
    let first = p2.next().unwrap();
    let err = first.finish(&keyholders[0], &r2_all).unwrap_err();
    assert!(
        matches!(err, SignerError::BroadcastMismatch { participant: 3 }),
        "{err}"
    );
}

#[test]
fn round_messages_from_impostors_or_other_rosters_are_refused() {
    let keyholders: Vec<Keyholder> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|n| Keyholder::generate(n).unwrap())
        .collect();
    let roster = Roster::new("Auth", 3, keyholders.iter().map(Keyholder::card).collect()).unwrap();
    let (pending, r1): (Vec<_>, Vec<_>) = keyholders
        .iter()
        .map(|k| dkg::start(&roster, k).unwrap())
        .unzip();

    // A round-1 message whose package was swapped keeps the old signature: refused.
    let mut forged = r1.clone();
    forged[3].package = r1[4].package.clone();
    let mut it = pending.into_iter();
    let p1 = it.next().unwrap();
    let err = p1.round2(&keyholders[0], &forged).unwrap_err();
    assert!(
        matches!(err, SignerError::BadAuthentication { participant: 4 }),
        "{err}"
    );

    // A message for another roster is refused.
    let other = Roster::new(
        "Other app",
        3,
        keyholders.iter().map(Keyholder::card).collect(),
    )
    .unwrap();
    let (_, foreign) = dkg::start(&other, &keyholders[1]).unwrap();
    let p2 = it.next().unwrap();
    let mut mixed = r1.clone();
    mixed[2] = foreign;
    assert!(matches!(
        p2.round2(&keyholders[1], &mixed),
        Err(SignerError::WrongSession { .. })
    ));

    // Fewer than everyone's round-1 messages.
    let p3 = it.next().unwrap();
    assert!(matches!(
        p3.round2(&keyholders[2], &r1[..3]),
        Err(SignerError::TooFew { .. })
    ));
    // A duplicate roster card.
    let mut cards: Vec<_> = keyholders.iter().map(Keyholder::card).collect();
    cards[4] = cards[0].clone();
    assert!(matches!(
        Roster::new("Dup", 3, cards),
        Err(SignerError::Duplicate(5))
    ));
}

#[test]
fn round_two_messages_are_secret_and_authenticated() {
    let keyholders: Vec<Keyholder> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|n| Keyholder::generate(n).unwrap())
        .collect();
    let roster = Roster::new(
        "Secret",
        3,
        keyholders.iter().map(Keyholder::card).collect(),
    )
    .unwrap();
    let (pending, r1): (Vec<_>, Vec<_>) = keyholders
        .iter()
        .map(|k| dkg::start(&roster, k).unwrap())
        .unzip();
    let mut r2_all = Vec::new();
    let mut pending2 = Vec::new();
    for (p, k) in pending.into_iter().zip(&keyholders) {
        let (p2, out) = p.round2(k, &r1).unwrap();
        r2_all.extend(out);
        pending2.push(p2);
    }
    // Nothing of the inner package is visible in the clear.
    assert!(r2_all.iter().all(|m| m
        .ciphertext
        .starts_with("-----BEGIN AGE ENCRYPTED FILE-----")));
    // A message relabelled as coming from someone else is refused.
    let mut relabelled = r2_all.clone();
    let target = relabelled
        .iter()
        .position(|m| m.to == 1 && m.from == 2)
        .unwrap();
    relabelled[target].from = 3;
    let mut it = pending2.into_iter();
    let err = it
        .next()
        .unwrap()
        .finish(&keyholders[0], &relabelled)
        .unwrap_err();
    assert!(
        matches!(err, SignerError::BadAuthentication { participant: 3 }),
        "{err}"
    );
    // Missing messages.
    let err = it
        .next()
        .unwrap()
        .finish(&keyholders[1], &r2_all[..4])
        .unwrap_err();
    assert!(matches!(err, SignerError::TooFew { .. }), "{err}");
}

#[test]
fn shares_are_stored_encrypted_and_restored_from_24_words() {
    let (_, shares) = ceremony("Backup");
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::danger_fast_for_tests(Passphrase::new("correct horse".into()));
    let path = dir.path().join("share.age");
    shares[2].save(&vault, &path).unwrap();
    let loaded = KeyShare::load(&vault, &path).unwrap();
    assert_eq!(loaded.index(), 3);
    assert_eq!(format!("{loaded:?}"), "KeyShare(..)");
    let wrong = Vault::danger_fast_for_tests(Passphrase::new("battery staple".into()));
    assert!(matches!(
        KeyShare::load(&wrong, &path),
        Err(SignerError::WrongPassphrase(_))
    ));

    let phrase = shares[2].backup_phrase().unwrap();
    assert_eq!(phrase.split(' ').count(), 24);
    let restored = KeyShare::restore(shares[0].root().clone(), 3, &phrase).unwrap();
    // The restored share signs together with two others.
    let mut set: Vec<KeyShare> = vec![];
    for (i, s) in shares.into_iter().enumerate() {
        set.push(if i == 2 {
            KeyShare::restore(s.root().clone(), 3, &phrase).unwrap()
        } else {
            s
        });
    }
    sign_with(&set, &[0, 2, 4], &body_for(&set[0], 1)).unwrap();
    drop(restored);

    // The phrase of participant 3 is not participant 4's.
    let err = KeyShare::restore(set[0].root().clone(), 4, &phrase).unwrap_err();
    assert!(
        err.to_string().contains("not participant 4's share"),
        "{err}"
    );
    // A changed word breaks the checksum.
    let mut words: Vec<&str> = phrase.split(' ').collect();
    words[5] = if words[5] == "abandon" {
        "ability"
    } else {
        "abandon"
    };
    let err = KeyShare::restore(set[0].root().clone(), 3, &words.join(" ")).unwrap_err();
    assert!(matches!(err, SignerError::BadBackupPhrase(_)), "{err}");
    let err = KeyShare::restore(set[0].root().clone(), 3, "abandon abandon").unwrap_err();
    assert!(matches!(err, SignerError::BadBackupPhrase(_)), "{err}");
}

#[test]
fn each_bad_signing_input_gets_its_own_error_and_nothing_is_signed() {
    let (_, shares) = ceremony("Errors");
    let (_, other_shares) = ceremony("Errors"); // another key generation, same app name
    let root = shares[0].root().clone();
    let app = root.app_id();
    let body = body_for(&shares[0], 7);
    let request = SigningRequest::checkpoint(&root, &app, &body).unwrap();

    // Duplicated participant.
    let (_, c1) = commit(&shares[0], &request).unwrap();
    let (_, c1b) = commit(&shares[0], &request).unwrap();
    let (_, c2) = commit(&shares[1], &request).unwrap();
    let err = package(&root, &request, &[c1.clone(), c1b, c2.clone()]).unwrap_err();
    assert!(matches!(err, SignerError::Duplicate(1)), "{err}");

    // A share from another key generation cannot even commit to this request...
    let err = commit(&other_shares[2], &request).unwrap_err();
    assert!(matches!(err, SignerError::WrongSession { .. }), "{err}");
    // ...and its commitment, relabelled for this request, is refused by the coordinator.
    let other_request = SigningRequest::checkpoint(
        other_shares[0].root(),
        &other_shares[0].app_id(),
        &body_for(&other_shares[0], 7),
    )
    .unwrap();
    let (_, mut foreign) = commit(&other_shares[2], &other_request).unwrap();
    foreign.request = request.id.clone();
    let err = package(&root, &request, &[c1.clone(), c2.clone(), foreign]).unwrap_err();
    assert!(
        err.to_string().contains("another key generation or app"),
        "{err}"
    );

    // A checkpoint of another app.
    let other_app_body = body_for(&other_shares[0], 7);
    let err = SigningRequest::checkpoint(&root, &app, &other_app_body).unwrap_err();
    assert!(err.to_string().contains("not this app's"), "{err}");

    // A package for another message than the one shown at commit time.
    let (k1, c1) = commit(&shares[0], &request).unwrap();
    let (k2, c2) = commit(&shares[1], &request).unwrap();
    let (k3, c3) = commit(&shares[2], &request).unwrap();
    let mut swapped = request.clone();
    swapped.message = quince_protocol::codec::to_base64(body_for(&shares[0], 8).as_bytes());
    let evil = package(&root, &swapped, &[c1.clone(), c2.clone(), c3.clone()]).unwrap();
    assert!(matches!(
        k1.respond(&shares[0], &evil),
        Err(SignerError::MessageChanged)
    ));

    // A tampered signature share names its participant.
    let good = package(&root, &request, &[c1, c2, c3]).unwrap();
    let s2 = k2.respond(&shares[1], &good).unwrap();
    let s3 = k3.respond(&shares[2], &good).unwrap();
    let (k1, c1) = commit(&shares[0], &request).unwrap();
    let _ = (k1, c1);
    let mut bad = s3.clone();
    let mut bytes = hex::decode(&bad.share).unwrap();
    bytes[0] ^= 1;
    bad.share = hex::encode(bytes);
    let err = aggregate(&root, &good, &[s2.clone(), bad]).unwrap_err();
    assert!(
        matches!(err, SignerError::BadSignatureShare { participant: 3 }),
        "{err}"
    );
    // Fewer shares than commitments / threshold.
    let err = aggregate(&root, &good, &[s2.clone(), s3.clone()]).unwrap_err();
    assert!(matches!(err, SignerError::TooFew { .. }), "{err}");
    // A transcript with a tampered share fails verification naming the participant.
    let (k1, c1) = commit(&shares[0], &request).unwrap();
    let (k2, c2) = commit(&shares[1], &request).unwrap();
    let (k3, c3) = commit(&shares[2], &request).unwrap();
    let p = package(&root, &request, &[c1, c2, c3]).unwrap();
    let all = [
        k1.respond(&shares[0], &p).unwrap(),
        k2.respond(&shares[1], &p).unwrap(),
        k3.respond(&shares[2], &p).unwrap(),
    ];
    let (_, mut transcript) = aggregate(&root, &p, &all).unwrap();
    transcript.shares.insert(2, s2.share.clone());
    let err = verify_transcript(&root, &transcript).unwrap_err();
    assert!(
        matches!(err, SignerError::BadSignatureShare { participant: 2 }),
        "{err}"
    );
}

#[test]
fn nonces_are_used_once() {
    let (_, shares) = ceremony("Nonces");
    let root = shares[0].root().clone();
    let request =
        SigningRequest::checkpoint(&root, &root.app_id(), &body_for(&shares[0], 3)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = NonceStore::new(dir.path());
    let vault = Vault::danger_fast_for_tests(Passphrase::new("pw".into()));
    let (committed, _) = commit(&shares[0], &request).unwrap();
    store.put(&vault, &committed).unwrap();
    // Committing twice to one request would overwrite the nonces: refused.
    assert!(matches!(
        store.put(&vault, &committed),
        Err(SignerError::NonceReused { .. })
    ));
    let taken = store.take(&vault, &request.id).unwrap();
    assert_eq!(taken.request(), request.id);
    let err = store.take(&vault, &request.id).unwrap_err();
    assert!(matches!(err, SignerError::NonceReused { .. }), "{err}");
    assert!(matches!(
        store.take(&vault, "00ff"),
        Err(SignerError::NonceReused { .. })
    ));
}

#[test]
fn two_keyholders_cannot_sign_even_with_a_coordinator_that_skips_the_checks() {
    let (_, shares) = ceremony("Two");
    let root = shares[0].root().clone();
    let request =
        SigningRequest::checkpoint(&root, &root.app_id(), &body_for(&shares[0], 2)).unwrap();
    let (k1, c1) = commit(&shares[0], &request).unwrap();
    let (_, c2) = commit(&shares[1], &request).unwrap();
    // A hostile coordinator builds a two-signer FROST package directly.
    let mut map = BTreeMap::new();
    for c in [&c1, &c2] {
        let bytes = hex::decode(&c.commitments).unwrap();
        map.insert(
            identifier(c.from).unwrap(),
            frost::round1::SigningCommitments::deserialize(&bytes).unwrap(),
        );
    }
    let raw = frost::SigningPackage::new(map, &request.message().unwrap());
    let package = PackageMessage {
        request: request.clone(),
        package: hex::encode(raw.serialize().unwrap()),
    };
    let err = k1.respond(&shares[0], &package).unwrap_err();
    assert!(
        matches!(
            err,
            SignerError::TooFew {
                got: 2,
                needed: 3,
                ..
            }
        ),
        "{err}"
    );
}
