//! Online signing with real libp2p nodes on loopback.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use quince_protocol::checkpoint::{Checkpoint, VerifiedCheckpoint};
use quince_protocol::Hash;
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::testutil::ceremony;

/// Starts a keyholder node per share; `approves[i]` says whether keyholder i agrees.
async fn start(
    shares: Vec<KeyShare>,
    approves: &[bool],
) -> (Vec<Multiaddr>, Vec<oneshot::Sender<()>>) {
    let mut addrs = Vec::new();
    let mut stops = Vec::new();
    for (share, &yes) in shares.into_iter().zip(approves) {
        let (addr_tx, mut addr_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let responder = Responder::new(share, move |_, _| yes);
        tokio::spawn(serve(
            responder,
            "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
            move |a| {
                let _ = addr_tx.send(a);
            },
            async move {
                let _ = stop_rx.await;
            },
        ));
        addrs.push(addr_rx.recv().await.unwrap());
        stops.push(stop_tx);
    }
    (addrs, stops)
}

#[tokio::test]
async fn online_keyholders_sign_a_checkpoint_even_when_two_decline() {
    let (_, shares) = ceremony("Online");
    let root = shares[0].root().clone();
    let app = root.app_id();
    let body = Checkpoint {
        origin: app.origin(),
        size: 5,
        root: Hash::of(b"t"),
        extensions: vec![],
    }
    .to_text();
    let request = SigningRequest::checkpoint(&root, &app, &body).unwrap();
    let (addrs, _stops) = start(shares, &[true, false, true, false, true]).await;
    let mut steps = Vec::new();
    let (signature, transcript) =
        coordinate(&root, &request, &addrs, Duration::from_secs(20), |s| {
            steps.push(s)
        })
        .await
        .unwrap();
    // The display heard of each answer in each round, and of the waits.
    let answered = |n| {
        steps
            .iter()
            .filter(|s| matches!(s, Step::Answered { round, .. } if *round == n))
            .count()
    };
    assert_eq!((answered(1), answered(2)), (3, 3), "{steps:?}");
    assert!(
        matches!(
            steps[0],
            Step::Waiting {
                round: 1,
                got: 0,
                wanted: 3,
                ..
            }
        ),
        "{steps:?}"
    );
    let note = signing::signed_checkpoint(&root, &app, &body, &signature).unwrap();
    VerifiedCheckpoint::verify(&note, &app.origin(), &root.checkpoint_verifier(&app)).unwrap();
    assert_eq!(
        signing::verify_transcript(&root, &transcript).unwrap(),
        vec![1, 3, 5]
    );
}

#[tokio::test]
async fn online_signing_fails_clearly_when_too_few_agree() {
    let (_, shares) = ceremony("Online too few");
    let root = shares[0].root().clone();
    let app = root.app_id();
    let body = Checkpoint {
        origin: app.origin(),
        size: 5,
        root: Hash::of(b"t"),
        extensions: vec![],
    }
    .to_text();
    let request = SigningRequest::checkpoint(&root, &app, &body).unwrap();
    let (addrs, _stops) = start(shares, &[true, false, false, false, true]).await;
    let mut problems = Vec::new();
    let err = coordinate(&root, &request, &addrs, Duration::from_secs(20), |s| {
        if let Step::Problem { problem, .. } = s {
            problems.push(problem);
        }
    })
    .await
    .unwrap_err();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(err.to_string().contains("only 2 of the 3 needed"), "{err}");
    assert!(err.to_string().contains("declined"), "{err}");
}

#[test]
fn a_responder_never_signs_twice_with_one_nonce_or_an_unshown_message() {
    let (_, mut shares) = ceremony("Responder");
    let root = shares[0].root().clone();
    let app = root.app_id();
    let body = Checkpoint {
        origin: app.origin(),
        size: 5,
        root: Hash::of(b"t"),
        extensions: vec![],
    }
    .to_text();
    let request = SigningRequest::checkpoint(&root, &app, &body).unwrap();
    let shown = Arc::new(AtomicBool::new(false));
    let seen = shown.clone();
    let mut r1 = Responder::new(shares.remove(0), move |_, text| {
        seen.store(text.contains("tree size 5"), Ordering::SeqCst);
        true
    });
    let NetResponse::Commitment(c1) = r1.handle(NetRequest::Commit(request.clone())) else {
        panic!("no commitment")
    };
    assert!(
        shown.load(Ordering::SeqCst),
        "the keyholder was not shown the checkpoint"
    );
    // Committing twice to one request is refused.
    assert!(matches!(
        r1.handle(NetRequest::Commit(request.clone())),
        NetResponse::Refused(_)
    ));
    let (_, c2) = signing::commit(&shares[0], &request).unwrap();
    let (_, c3) = signing::commit(&shares[1], &request).unwrap();
    let package = signing::package(&root, &request, &[c1, c2, c3]).unwrap();
    assert!(matches!(
        r1.handle(NetRequest::Respond(package.clone())),
        NetResponse::Share(_)
    ));
    let NetResponse::Refused(why) = r1.handle(NetRequest::Respond(package)) else {
        panic!("signed twice")
    };
    assert!(why.contains("nonce"), "{why}");
}
