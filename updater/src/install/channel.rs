//! The channel an installed app follows: shown, and changed for the next update.

use quince_protocol::record::{Channel, Platform, Version};
use quince_protocol::root::AppId;

use super::{Apps, InstallError};
use crate::fetch;

/// The channel an app follows and what its log offers, as [`Apps::channel`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelView {
    /// The channel followed.
    pub channel: Channel,
    /// The version installed.
    pub current: Option<Version>,
    /// The newest version offered to this install on its channel (its
    /// rollout share included), from the last sync.
    pub newest: Option<Version>,
    /// Every channel in the log with the newest version it offers (to
    /// anyone; halted ones left out).
    pub channels: Vec<(Channel, Version)>,
}

/// What an app's verified log offers this install, as [`Apps::offered`] reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Offered {
    /// The newest release for this install: its channel, its place in
    /// staged rollouts, this platform.
    pub newest: Option<Version>,
    /// The publisher halted the installed version on every channel this
    /// install takes it from: no one new gets it.
    pub halted: bool,
}

impl Apps {
    /// What `app`'s verified log offers this install, as last synced (one
    /// read of the log; nothing if it was never synced or its mirror is
    /// damaged).
    pub fn offered(&self, app: &AppId) -> Offered {
        let Some(state) = self.state(app).ok().flatten() else {
            return Offered::default();
        };
        let Some(log) = state
            .trusted()
            .ok()
            .and_then(|t| fetch::VerifiedLog::from_mirror(&self.log_dir(app), t).ok())
        else {
            return Offered::default();
        };
        let channel = state.channel();
        let newest = match (&channel, state.install_id()) {
            (Ok(channel), Ok(install)) => log
                .offered_to(&Platform::current(), channel, &install)
                .last()
                .map(|r| r.version),
            _ => None,
        };
        let followed = channel.unwrap_or_default();
        let halted = state.current.is_some_and(|current| {
            log.offers()
                .iter()
                .any(|o| o.release.version == current && o.halted_for(&followed))
        });
        Offered { newest, halted }
    }

    /// The channel `app` follows and what it offers (from the last sync);
    /// with `set`, follows that channel from the next update on. Nothing is
    /// installed here, and a version newer than the channel offers stays
    /// installed until the channel passes it (updates never go back).
    pub fn channel(&self, app: &AppId, set: Option<&Channel>) -> Result<ChannelView, InstallError> {
        let lock = self.lock(app)?;
        let mut state = self
            .recover(&lock)?
            .ok_or(InstallError::NotInstalled(*app))?;
        if let Some(channel) = set {
            state.set_channel(channel);
            self.save(&lock, &state)?;
        }
        let channel = state.channel().map_err(|e| self.bad_state(app, e))?;
        let install = state.install_id().map_err(|e| self.bad_state(app, e))?;
        let trusted = state.trusted().map_err(|e| self.bad_state(app, e))?;
        let log = fetch::VerifiedLog::from_mirror(&self.log_dir(app), trusted)?;
        let platform = Platform::current();
        let newest = log
            .offered_to(&platform, &channel, &install)
            .into_iter()
            .rfind(|r| !state.is_refused(&r.version))
            .map(|r| r.version);
        let mut channels: Vec<(Channel, Version)> = Vec::new();
        for offer in log.offers() {
            for (on, rollout) in &offer.channels {
                if rollout.is_halted() || !offer.release.serves(&platform) {
                    continue;
                }
                let v = offer.release.version;
                match channels.iter_mut().find(|(c, _)| c == on) {
                    Some((_, newest)) if *newest < v => *newest = v,
                    Some(_) => {}
                    None => channels.push((on.clone(), v)),
                }
            }
        }
        channels.sort();
        Ok(ChannelView {
            channel,
            current: state.current,
            newest,
            channels,
        })
    }
}
