//! App links: `quince://APP_ID`, optionally with peer hints and a pinned
//! version, for example
//!
//! ```text
//! quince://7e91…ad7?peer=/ip4/192.0.2.7/udp/4771/quic-v1/p2p/12D3Koo…&version=1.2.0
//! quince://7e91…ad7?channel=beta
//! ```
//!
//! The same link works for the bootstrap, `quince install` and `quince share`.
//! Parsing is strict: the app id is 64 lowercase hex digits; the only query keys
//! are `peer` (repeatable, a multiaddr ending in `/p2p/PEER_ID`, at most
//! [`MAX_PEER_HINTS`]), `version` (once, SemVer: `2.0.0-rc.1+b5`; `+` is
//! literal) and `channel` (once, the channel to follow); nothing is
//! percent-decoded, and anything else is refused with the reason. A link names
//! what to trust (the app id); peer hints only say where to look first.

use std::fmt;
use std::str::FromStr;

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use quince_protocol::record::{Channel, Version};
use quince_protocol::root::AppId;

/// The scheme every link starts with.
pub const SCHEME: &str = "quince://";
/// Most peer hints in one link.
pub const MAX_PEER_HINTS: usize = 16;
/// Longest link accepted.
pub const MAX_LINK_BYTES: usize = 8 * 1024;

/// A parsed app link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The app, which fixes its root and so everything trusted.
    pub app: AppId,
    /// Where to look for peers first.
    pub peers: Vec<Multiaddr>,
    /// A version to install instead of the newest.
    pub version: Option<Version>,
    /// The channel to follow (the user's choice when they open the link).
    pub channel: Option<Channel>,
}

/// Why a link was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad link: {0}")]
pub struct LinkError(String);

fn bad(why: impl Into<String>) -> LinkError {
    LinkError(why.into())
}

impl Link {
    /// A link to `app` with no hints.
    pub fn new(app: AppId) -> Link {
        Link {
            app,
            peers: Vec::new(),
            version: None,
            channel: None,
        }
    }
}

impl FromStr for Link {
    type Err = LinkError;

    fn from_str(text: &str) -> Result<Link, LinkError> {
        if text.len() > MAX_LINK_BYTES {
            return Err(bad(format!("longer than {MAX_LINK_BYTES} bytes")));
        }
        let rest = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| bad(format!("must start with {SCHEME}")))?;
        let (id, query) = match rest.split_once('?') {
            Some((id, q)) => (id, Some(q)),
            None => (rest, None),
        };
        let id = id.strip_suffix('/').unwrap_or(id);
        if id.len() != 64 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad("the app id must be 64 lowercase hex digits"));
        }
        let app: AppId = id.parse().map_err(|e| bad(format!("app id: {e}")))?;
        let mut link = Link::new(app);
        let Some(query) = query else {
            return Ok(link);
        };
        if query.is_empty() {
            return Err(bad("empty query after '?'"));
        }
        for pair in query.split('&') {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad(format!("{pair:?} is not key=value")))?;
            if value.is_empty() {
                return Err(bad(format!("{key} has no value")));
            }
            if value.contains('%') || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad(format!("{key}: no percent-encoding or spaces, please")));
            }
            match key {
                "peer" => {
                    if link.peers.len() == MAX_PEER_HINTS {
                        return Err(bad(format!("more than {MAX_PEER_HINTS} peers")));
                    }
                    let addr: Multiaddr = value
                        .parse()
                        .map_err(|e| bad(format!("peer {value:?}: {e}")))?;
                    if !matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
                        return Err(bad(format!("peer {value:?} must end in /p2p/PEER_ID")));
                    }
                    if link.peers.contains(&addr) {
                        return Err(bad(format!("peer {value:?} given twice")));
                    }
                    link.peers.push(addr);
                }
                "version" => {
                    if link.version.is_some() {
                        return Err(bad("version given twice"));
                    }
                    link.version = Some(
                        value
                            .parse()
                            .map_err(|e| bad(format!("version {value:?}: {e}")))?,
                    );
                }
                "channel" => {
                    if link.channel.is_some() {
                        return Err(bad("channel given twice"));
                    }
                    link.channel = Some(
                        value
                            .parse()
                            .map_err(|e| bad(format!("channel {value:?}: {e}")))?,
                    );
                }
                other => {
                    return Err(bad(format!(
                        "unknown key {other:?} (peer, version, channel)"
                    )))
                }
            }
        }
        Ok(link)
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}", self.app)?;
        let mut sep = '?';
        for p in &self.peers {
            write!(f, "{sep}peer={p}")?;
            sep = '&';
        }
        if let Some(v) = &self.version {
            write!(f, "{sep}version={v}")?;
            sep = '&';
        }
        if let Some(c) = &self.channel {
            write!(f, "{sep}channel={c}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ID: &str = "7e91ee8ae9d24ed3921c1ba9ee18b588ea2f8b34ba7da950cf097a4a7c0d7ad7";
    const PEER: &str =
        "/ip4/192.0.2.7/udp/4771/quic-v1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";

    #[test]
    fn round_trips() {
        for text in [
            format!("quince://{ID}"),
            format!("quince://{ID}?version=1.2.0"),
            format!("quince://{ID}?peer={PEER}"),
            format!("quince://{ID}?peer={PEER}&version=10.0.3"),
            format!("quince://{ID}?version=2.0.0-rc.1+b5&channel=beta"),
            format!("quince://{ID}?channel=nightly-2"),
        ] {
            let link: Link = text.parse().unwrap();
            assert_eq!(link.to_string(), text);
        }
        let l: Link = format!("quince://{ID}/").parse().unwrap();
        assert_eq!(l.to_string(), format!("quince://{ID}"));
    }

    #[test]
    fn refuses_each_kind_of_bad_link() {
        let upper = ID.to_uppercase();
        let short = &ID[..63];
        for (text, why) in [
            (format!("https://{ID}"), "must start with"),
            (format!("quince://{upper}"), "64 lowercase hex"),
            (format!("quince://{short}"), "64 lowercase hex"),
            (format!("quince://{ID}?"), "empty query"),
            (format!("quince://{ID}?peer"), "not key=value"),
            (format!("quince://{ID}?peer="), "has no value"),
            (
                format!("quince://{ID}?peer=/ip4/1.2.3.4/tcp/1"),
                "must end in /p2p/",
            ),
            (
                format!("quince://{ID}?peer=not-an-addr"),
                "peer \"not-an-addr\"",
            ),
            (
                format!("quince://{ID}?peer={PEER}&peer={PEER}"),
                "given twice",
            ),
            (format!("quince://{ID}?version=1.2"), "version \"1.2\""),
            (
                format!("quince://{ID}?version=1.2.3&version=1.2.4"),
                "version given twice",
            ),
            (format!("quince://{ID}?channel=Beta"), "channel \"Beta\""),
            (
                format!("quince://{ID}?channel=beta&channel=beta"),
                "channel given twice",
            ),
            (format!("quince://{ID}?chanel=beta"), "unknown key"),
            (format!("quince://{ID}?peer=%2Fip4"), "percent"),
            ("x".repeat(MAX_LINK_BYTES + 1), "longer than"),
        ] {
            let err = text.parse::<Link>().unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err} (wanted {why:?})");
        }
        let many: String = (0..=MAX_PEER_HINTS)
            .map(|i| format!("peer=/ip4/10.0.0.{i}/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"))
            .collect::<Vec<_>>()
            .join("&");
        let err = format!("quince://{ID}?{many}").parse::<Link>().unwrap_err();
        assert!(err.to_string().contains("more than"));
    }
}
