//! TEST ONLY: an in-process key generation among five keyholders.

use serde::{Deserialize, Serialize};

use crate::dkg::{self, Roster, Round1Message, Round2Message};
use crate::keyholder::Keyholder;
use crate::share::KeyShare;

/// Five keyholders run the DKG, passing every message through JSON as files would.
pub(crate) fn ceremony(app_name: &str) -> (Vec<Keyholder>, Vec<KeyShare>) {
    let keyholders: Vec<Keyholder> = ["ana", "bo", "cy", "di", "ed"]
        .iter()
        .map(|n| Keyholder::generate(n).unwrap())
        .collect();
    let roster = Roster::new(
        app_name,
        3,
        keyholders.iter().map(Keyholder::card).collect(),
    )
    .unwrap();
    let (pending, r1): (Vec<_>, Vec<_>) = keyholders
        .iter()
        .map(|k| dkg::start(&roster, k).unwrap())
        .unzip();
    let r1: Vec<Round1Message> = through_json(&r1);
    let mut r2_all = Vec::new();
    let mut pending2 = Vec::new();
    for (p, k) in pending.into_iter().zip(&keyholders) {
        let (p2, out) = p.round2(k, &r1).unwrap();
        r2_all.extend(out);
        pending2.push(p2);
    }
    let r2_all: Vec<Round2Message> = through_json(&r2_all);
    let shares = pending2
        .into_iter()
        .zip(&keyholders)
        .map(|(p, k)| p.finish(k, &r2_all).unwrap())
        .collect();
    (keyholders, shares)
}

pub(crate) fn through_json<T: Serialize + for<'de> Deserialize<'de>>(v: &[T]) -> Vec<T> {
    serde_json::from_str(&serde_json::to_string(v).unwrap()).unwrap()
}
