//! What a [`VerifiedLog`] offers: each version with its channels and
//! rollouts (promotions and rollout steps are later records of a version),
//! and the choice for one install (its channel, its rollout id, its platform).

use quince_protocol::record::{Channel, Platform, Rollout, Version};
use quince_protocol::root::AppId;

use super::{Release, VerifiedLog};

impl VerifiedLog {
    /// Every version the log holds, as offered now: its first record (the
    /// manifest, platforms and size every later record of it repeats) and
    /// each channel's rollout, in the order versions first appear. A later
    /// record of a version that names another manifest, platforms or size
    /// is not acted on (listed in [`Offer::conflicts`]).
    pub fn offers(&self) -> Vec<Offer> {
        let mut offers: Vec<Offer> = Vec::new();
        for release in self.releases() {
            let step = OfferStep {
                index: release.index,
                channel: release.channel.clone(),
                rollout: release.rollout,
                time: release.time,
            };
            match offers
                .iter_mut()
                .find(|o| o.release.version == release.version)
            {
                Some(offer) if offer.release.same_bytes(&release) => {
                    offer.channels.insert(step.channel.clone(), step.rollout);
                    offer.history.push(step);
                }
                Some(offer) => offer.conflicts.push(release.index),
                None => offers.push(Offer {
                    channels: [(step.channel.clone(), step.rollout)].into(),
                    history: vec![step],
                    conflicts: Vec::new(),
                    release,
                }),
            }
        }
        offers
    }

    /// The releases offered to an install (`install`, its rollout id) that
    /// follows `channel` on `platform`, oldest version first.
    pub fn offered_to(
        &self,
        platform: &Platform,
        channel: &Channel,
        install: &[u8; 16],
    ) -> Vec<Release> {
        let app = self.state.app();
        let mut out: Vec<Release> = self
            .offers()
            .into_iter()
            .filter(|o| o.release.serves(platform) && o.offered_to(channel, install, app))
            .map(|o| o.release)
            .collect();
        out.sort_by_key(|r| r.version);
        out
    }

    /// The newest release offered to everyone on stable that serves `platform`.
    pub fn latest_release(&self, platform: &Platform) -> Option<Release> {
        self.offers()
            .into_iter()
            .filter(|o| {
                o.release.serves(platform)
                    && o.channels.get(&Channel::stable()) == Some(&Rollout::FULL)
            })
            .map(|o| o.release)
            .max_by(|a, b| a.version.cmp(&b.version))
    }

    /// Version `version` for `platform` (its first record), if the log has
    /// it on any channel.
    pub fn release(&self, version: &Version, platform: &Platform) -> Option<Release> {
        self.offers()
            .into_iter()
            .map(|o| o.release)
            .find(|r| r.version == *version && r.serves(platform))
    }
}

/// One version as a [`VerifiedLog`] offers it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The version's first record.
    pub release: Release,
    /// Each channel it is on, with the rollout its newest record there says.
    pub channels: std::collections::BTreeMap<Channel, Rollout>,
    /// Every record of it, in log order: promotions and rollout steps.
    pub history: Vec<OfferStep>,
    /// Log indexes of records of this version that name other bytes (a
    /// publisher's mistake): not acted on.
    pub conflicts: Vec<u64>,
}

/// One record of a version: which channel, which rollout, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferStep {
    /// Its position in the log.
    pub index: u64,
    /// The channel it offers the version on.
    pub channel: Channel,
    /// To whom.
    pub rollout: Rollout,
    /// When the publisher made it (informational).
    pub time: u64,
}

impl Offer {
    /// Whether an install following `channel` with rollout id `install` is offered it.
    pub fn offered_to(&self, channel: &Channel, install: &[u8; 16], app: &AppId) -> bool {
        self.channels.iter().any(|(on, rollout)| {
            channel.takes(on) && rollout.includes(install, app, &self.release.version)
        })
    }

    /// True if every channel that `channel` takes and that had this version
    /// now halts it: installs on it are told; no one new gets it.
    pub fn halted_for(&self, channel: &Channel) -> bool {
        let taken: Vec<&Rollout> = self
            .channels
            .iter()
            .filter(|(on, _)| channel.takes(on))
            .map(|(_, r)| r)
            .collect();
        !taken.is_empty() && taken.iter().all(|r| r.is_halted())
    }
}

impl Release {
    /// True if `other` names the same bytes: manifest, platforms, size.
    fn same_bytes(&self, other: &Release) -> bool {
        self.manifest == other.manifest
            && self.platforms == other.platforms
            && self.size == other.size
    }
}
