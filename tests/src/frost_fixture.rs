//! TEST AND DEMO ONLY: a 3-of-5 FROST group made by a trusted dealer, and the two
//! signing rounds run in one process.
//!
//! Real keyholders use dealerless key generation and sign on their own machines
//! (the signer issue). This fixture exists so that tests and the demo can make
//! real FROST signatures, which are plain Ed25519 signatures under the group key.

use std::collections::BTreeMap;

use anyhow::{anyhow, Context, Result};
use frost_ed25519 as frost;
use quince_protocol::root::{AppRoot, Participant};

/// Five key shares and the group's public data, from a trusted dealer.
pub struct DealerGroup {
    shares: BTreeMap<frost::Identifier, frost::keys::KeyPackage>,
    public: frost::keys::PublicKeyPackage,
}

impl DealerGroup {
    /// Splits a fresh random key into `n` shares with threshold `t`.
    pub fn new(t: u16, n: u16) -> Result<Self> {
        let rng = &mut rand::rngs::OsRng;
        let (secret_shares, public) =
            frost::keys::generate_with_dealer(n, t, frost::keys::IdentifierList::Default, rng)?;
        let shares = secret_shares
            .into_iter()
            .map(|(id, s)| Ok((id, frost::keys::KeyPackage::try_from(s)?)))
            .collect::<Result<_, frost::Error>>()?;
        Ok(DealerGroup { shares, public })
    }

    /// The app root for this group.
    pub fn root(&self, name: &str, threshold: u8) -> Result<AppRoot> {
        let group: [u8; 32] = self
            .public
            .verifying_key()
            .serialize()?
            .try_into()
            .map_err(|_| anyhow!("group key is not 32 bytes"))?;
        let mut participants = Vec::new();
        for (index, (_, share)) in (1u16..).zip(self.public.verifying_shares()) {
            participants.push(Participant {
                id: index,
                verifying_share: share
                    .serialize()?
                    .try_into()
                    .map_err(|_| anyhow!("verifying share is not 32 bytes"))?,
            });
        }
        Ok(AppRoot::new(name, threshold, group, participants)?)
    }

    /// Runs both FROST rounds among the participants `signers` (1-based) over
    /// `message` and returns the aggregated 64-byte Ed25519 signature.
    pub fn sign(&self, signers: &[u16], message: &[u8]) -> Result<[u8; 64]> {
        let mut rng = rand::rngs::OsRng;
        let mut nonces = BTreeMap::new();
        let mut commitments = BTreeMap::new();
        for &i in signers {
            let id = frost::Identifier::try_from(i)?;
            let key = self
                .shares
                .get(&id)
                .with_context(|| format!("no participant {i}"))?;
            let (n, c) = frost::round1::commit(key.signing_share(), &mut rng);
            nonces.insert(id, n);
            commitments.insert(id, c);
        }
        let package = frost::SigningPackage::new(commitments, message);
        let mut sig_shares = BTreeMap::new();
        for (id, n) in &nonces {
            let share = frost::round2::sign(&package, n, &self.shares[id])?;
            sig_shares.insert(*id, share);
        }
        let signature = frost::aggregate(&package, &sig_shares, &self.public)?;
        signature
            .serialize()?
            .try_into()
            .map_err(|_| anyhow!("signature is not 64 bytes"))
    }
}
