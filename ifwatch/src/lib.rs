//! Quince's stand-in for the `if-watch` crate: the same small API
//! ([`IfEvent`], `tokio::IfWatcher` with `new`, `iter` and a `Stream` of
//! events), which libp2p-tcp (listening on `0.0.0.0`), libp2p-quic and
//! libp2p-mdns call to learn this machine's addresses and their changes.
//!
//! The crates.io version follows the kernel's netlink messages on Linux,
//! and its netlink parser was about 280 KB of the 3.6 MB bootstrap
//! (issue 19). This one reads the interface list (`if-addrs`: `getifaddrs`
//! on Unix, `GetAdaptersAddresses` on Windows) when first polled, and
//! again every [`POLL_EVERY`], and reports what came and went. The cost:
//! an address that appears later is seen within seconds instead of at
//! once, which neither a short-lived installer nor a seeder notices.
//!
//! The workspace's `[patch.crates-io]` puts it in place of the original for
//! every build, so the bootstrap, the full client and the tests all use it.

use std::collections::{BTreeSet, VecDeque};
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::stream::{FusedStream, Stream};
use futures_timer::Delay;
pub use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// How often the interface list is read again after the first time.
pub const POLL_EVERY: Duration = Duration::from_secs(5);

/// An address of this machine that appeared or went away.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum IfEvent {
    /// The address is now on an interface.
    Up(IpNet),
    /// The address is no longer on any interface.
    Down(IpNet),
}

/// The watcher for a tokio program (the same watcher: it needs no runtime).
pub mod tokio {
    /// See [`crate::IfWatcher`].
    pub type IfWatcher = crate::IfWatcher;
}

/// The watcher for a smol program (the same watcher: it needs no runtime).
pub mod smol {
    /// See [`crate::IfWatcher`].
    pub type IfWatcher = crate::IfWatcher;
}

/// This machine's addresses, and a stream of their changes: every address
/// present at the first poll comes as [`IfEvent::Up`], later changes as
/// they are seen.
#[derive(Debug)]
pub struct IfWatcher {
    /// The addresses as last read.
    known: BTreeSet<IpNet>,
    /// Changes found and not yet taken.
    pending: VecDeque<IfEvent>,
    /// When to read again; `None` until the first read.
    next_read: Option<Delay>,
}

impl IfWatcher {
    /// A watcher; the interface list is first read when it is polled.
    pub fn new() -> io::Result<IfWatcher> {
        Ok(IfWatcher {
            known: BTreeSet::new(),
            pending: VecDeque::new(),
            next_read: None,
        })
    }

    /// The addresses known now.
    pub fn iter(&self) -> impl Iterator<Item = &IpNet> {
        self.known.iter()
    }

    /// The next change, reading the interface list when it is due.
    pub fn poll_if_event(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<IfEvent>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Poll::Ready(Ok(event));
            }
            if let Some(due) = self.next_read.as_mut() {
                if Pin::new(due).poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            // The next read is set before this one, so a failing read is
            // retried after POLL_EVERY, not at once in a loop.
            self.next_read = Some(Delay::new(POLL_EVERY));
            let now = read_addresses()?;
            self.pending.extend(changes(&self.known, &now));
            self.known = now;
        }
    }
}

impl Stream for IfWatcher {
    type Item = io::Result<IfEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_if_event(cx).map(Some)
    }
}

impl FusedStream for IfWatcher {
    fn is_terminated(&self) -> bool {
        false
    }
}

/// The addresses on this machine's interfaces, with their prefixes.
fn read_addresses() -> io::Result<BTreeSet<IpNet>> {
    Ok(if_addrs::get_if_addrs()?
        .into_iter()
        .filter_map(|interface| match interface.addr {
            if_addrs::IfAddr::V4(a) => Ipv4Net::new(a.ip, a.prefixlen).ok().map(IpNet::V4),
            if_addrs::IfAddr::V6(a) => Ipv6Net::new(a.ip, a.prefixlen).ok().map(IpNet::V6),
        })
        .collect())
}

/// What changed from `before` to `now`: the addresses gone, then the new ones.
fn changes(before: &BTreeSet<IpNet>, now: &BTreeSet<IpNet>) -> Vec<IfEvent> {
    before
        .difference(now)
        .map(|net| IfEvent::Down(*net))
        .chain(now.difference(before).map(|net| IfEvent::Up(*net)))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{changes, BTreeSet, IfEvent, IpNet, Poll};

    fn nets(list: &[&str]) -> BTreeSet<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn changes_name_what_went_and_what_came() {
        let before = nets(&["10.0.0.2/24", "192.168.1.5/24", "fe80::1/64"]);
        let now = nets(&["10.0.0.2/24", "192.168.1.9/24", "fe80::1/64"]);
        assert_eq!(
            changes(&before, &now),
            vec![
                IfEvent::Down("192.168.1.5/24".parse().unwrap()),
                IfEvent::Up("192.168.1.9/24".parse().unwrap()),
            ]
        );
        assert!(changes(&now, &now).is_empty());
        assert_eq!(changes(&BTreeSet::new(), &now).len(), 3);
    }

    /// The first poll reports this machine's addresses at once (loopback
    /// is on every machine these tests run on), and then nothing until an
    /// address changes.
    #[tokio::test]
    async fn the_first_poll_reports_the_addresses_there_are() {
        let mut watcher = super::tokio::IfWatcher::new().unwrap();
        let mut seen = Vec::new();
        std::future::poll_fn(|cx| loop {
            match watcher.poll_if_event(cx) {
                Poll::Ready(Ok(IfEvent::Up(net))) => seen.push(net),
                Poll::Ready(other) => panic!("{other:?}"),
                Poll::Pending => return Poll::Ready(()),
            }
        })
        .await;
        let loopback: IpNet = "127.0.0.1/8".parse().unwrap();
        assert!(seen.contains(&loopback), "{seen:?}");
        assert_eq!(watcher.iter().count(), seen.len());
    }
}
