//! Real keyholder ceremonies run in one process, for scenarios and the demo:
//! a dealerless FROST key generation among `n` keyholders (messages passed as
//! JSON, as files would be) and the two signing rounds among any subset.
//! Each keyholder's state stays in memory; the CLI does the same with files.

use anyhow::{anyhow, Result};
use quince_protocol::root::{AppId, AppRoot};
use quince_signer::dkg::{self, Roster, Round1Message, Round2Message};
use quince_signer::keyholder::Keyholder;
use quince_signer::share::KeyShare;
use quince_signer::signing::{self, SigningRequest, Transcript};

/// A group of keyholders who generated a key together.
pub struct Group {
    shares: Vec<KeyShare>,
}

impl Group {
    /// Runs a dealerless key generation among `names` with threshold `t`, for a new app.
    pub fn generate(app_name: &str, names: &[&str], t: u16) -> Result<Group> {
        Group::generate_for(app_name, names, t, None)
    }

    /// The same, for new signers of the existing app `rotates` (a rotation).
    pub fn generate_for(
        app_name: &str,
        names: &[&str],
        t: u16,
        rotates: Option<&AppId>,
    ) -> Result<Group> {
        let keyholders = names
            .iter()
            .map(|n| Keyholder::generate(n))
            .collect::<Result<Vec<_>, _>>()?;
        let mut roster = Roster::new(
            app_name,
            t,
            keyholders.iter().map(Keyholder::card).collect(),
        )?;
        if let Some(app) = rotates {
            roster = roster.rotating(app);
        }
        let mut pending = Vec::new();
        let mut round1 = Vec::new();
        for k in &keyholders {
            let (p, m) = dkg::start(&roster, k)?;
            pending.push(p);
            round1.push(m);
        }
        let round1: Vec<Round1Message> = serde_json::from_str(&serde_json::to_string(&round1)?)?;
        let mut pending2 = Vec::new();
        let mut round2 = Vec::new();
        for (p, k) in pending.into_iter().zip(&keyholders) {
            let (p2, out) = p.round2(k, &round1)?;
            pending2.push(p2);
            round2.extend(out);
        }
        let round2: Vec<Round2Message> = serde_json::from_str(&serde_json::to_string(&round2)?)?;
        let shares = pending2
            .into_iter()
            .zip(&keyholders)
            .map(|(p, k)| p.finish(k, &round2))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Group { shares })
    }

    /// The root the key generation produced.
    pub fn root(&self) -> &AppRoot {
        self.shares[0].root()
    }

    /// Participants `signers` (1-based) sign a checkpoint body of `app`'s log;
    /// returns the signed note and the transcript.
    pub fn sign_checkpoint(
        &self,
        app: &AppId,
        body: &str,
        signers: &[u16],
    ) -> Result<(Vec<u8>, Transcript)> {
        let request = SigningRequest::checkpoint(self.root(), app, body)?;
        let (signature, transcript) = self.run(&request, signers)?;
        Ok((
            signing::signed_checkpoint(self.root(), app, body, &signature)?,
            transcript,
        ))
    }

    /// Participants `signers` sign this group's root as the new root of `app`.
    pub fn sign_rotation(&self, app: &AppId, signers: &[u16]) -> Result<[u8; 64]> {
        let request = SigningRequest::rotation(self.root(), app);
        Ok(self.run(&request, signers)?.0)
    }

    fn run(&self, request: &SigningRequest, signers: &[u16]) -> Result<([u8; 64], Transcript)> {
        let mut committed = Vec::new();
        let mut commitments = Vec::new();
        for &i in signers {
            let share = self.share(i)?;
            let (c, m) = signing::commit(share, request)?;
            committed.push((share, c));
            commitments.push(m);
        }
        let package = signing::package(self.root(), request, &commitments)?;
        let mut replies = Vec::new();
        for (share, c) in committed {
            replies.push(c.respond(share, &package)?);
        }
        Ok(signing::aggregate(self.root(), &package, &replies)?)
    }

    fn share(&self, index: u16) -> Result<&KeyShare> {
        self.shares
            .iter()
            .find(|s| s.index() == index)
            .ok_or_else(|| anyhow!("no participant {index}"))
    }
}
