//! What an installed app is called: the installed apps, their signed
//! names and app files, and the app a user's text names.

use std::fs;

use quince_protocol::root::AppId;
use quince_store::durable;

use super::{app_info, Apps, InstallError};
use crate::fetch;

/// The short name an app whose release has no app file goes by (its
/// launcher's default name): its signed name lowercased, with dashes for
/// spaces ("Quince Demo" is `quince-demo`).
pub fn short_name_of(name: &str) -> String {
    name.to_lowercase().replace(' ', "-")
}

impl Apps {
    /// The installed apps.
    pub fn installed(&self) -> Vec<AppId> {
        let mut out: Vec<AppId> = fs::read_dir(self.home.join("apps"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .filter(|app| self.app_dir(app).state_file().exists())
            .collect();
        out.sort_by_key(|a| a.to_string());
        out
    }

    /// The app's name, from its first root (signed into its id), if its log
    /// is here.
    pub fn name(&self, app: &AppId) -> Option<String> {
        let bytes = durable::read_bounded(
            &self.log_dir(app).join(fetch::ROOT_FILE),
            quince_protocol::limits::MAX_ROOT_BYTES,
        )
        .ok()?;
        let root =
            <quince_protocol::root::AppRoot as quince_protocol::codec::Decode>::from_bytes(&bytes)
                .ok()?;
        (root.app_id() == *app).then(|| root.name().to_string())
    }

    /// What `app`'s current version says about itself (its app file), if
    /// it has a readable one.
    pub fn info(&self, app: &AppId) -> Option<quince_protocol::appinfo::AppInfo> {
        app_info(&self.current_dir(app)).ok().flatten()
    }

    /// The installed app that `text` names: its id, a link, a unique prefix
    /// of its id (at least 4 hex digits), its signed name, or the name or
    /// short id its app file gives (any case).
    pub fn resolve(&self, text: &str) -> Result<AppId, InstallError> {
        if let Ok(app) = text.parse::<AppId>() {
            return Ok(app);
        }
        let installed = self.installed();
        let lower = text.to_lowercase();
        let by_prefix: Vec<AppId> =
            if text.len() >= 4 && text.chars().all(|c| c.is_ascii_hexdigit()) {
                installed
                    .iter()
                    .filter(|a| a.to_string().starts_with(&lower))
                    .copied()
                    .collect()
            } else {
                Vec::new()
            };
        let found = if by_prefix.is_empty() {
            installed
                .iter()
                .filter(|a| {
                    self.name(a)
                        .is_some_and(|n| n.to_lowercase() == lower || short_name_of(&n) == lower)
                        || self
                            .info(a)
                            .is_some_and(|i| i.id == lower || i.name.to_lowercase() == lower)
                })
                .copied()
                .collect()
        } else {
            by_prefix
        };
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(InstallError::UnknownApp {
                text: text.to_string(),
                candidates: String::new(),
            }),
            many => Err(InstallError::UnknownApp {
                text: text.to_string(),
                candidates: many
                    .iter()
                    .map(|a| format!("{a} ({})", self.name(a).unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}
