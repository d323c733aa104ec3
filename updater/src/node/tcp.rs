//! Windows: libp2p's TCP transport with one change: a dial that asks to
//! reuse the listening port (for hole punching) and is refused that port
//! dials again from a new one, instead of failing.
//!
//! To reuse the port, libp2p binds the outgoing socket to the listening
//! socket's address with `SO_REUSEADDR`. Linux allows that (with
//! `SO_REUSEPORT`); Windows' own stack does too. Wine, which runs our
//! Windows builds in CI, refuses it with `WSAEACCES` ("Access denied",
//! os error 10013), and any stack may refuse it with "address in use". A
//! dial from a new port still reaches the peer; only TCP hole punching
//! (which QUIC also does) needs the listening port. Only the Windows build
//! uses this (the bootstrap's size budget has no room for it on Linux,
//! where the reuse works).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use libp2p::core::transport::{DialOpts, ListenerId, PortUse, TransportError, TransportEvent};
use libp2p::{tcp, Multiaddr};

type Inner = tcp::tokio::Transport;
type Stream = tcp::tokio::TcpStream;

/// TCP, with a fresh-port retry for refused port reuse.
pub(super) struct Tcp {
    inner: Arc<Mutex<Inner>>,
}

impl Tcp {
    pub(super) fn new(config: tcp::Config) -> Tcp {
        Tcp {
            inner: Arc::new(Mutex::new(Inner::new(config))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No code panics while holding it; a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// True if the error is the OS refusing the reused local port.
fn port_refused(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::PermissionDenied | io::ErrorKind::AddrInUse
    )
}

impl libp2p::core::Transport for Tcp {
    type Output = Stream;
    type Error = io::Error;
    type ListenerUpgrade = <Inner as libp2p::core::Transport>::ListenerUpgrade;
    type Dial = Pin<Box<dyn Future<Output = Result<Stream, io::Error>> + Send>>;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<io::Error>> {
        self.lock().listen_on(id, addr)
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.lock().remove_listener(id)
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<io::Error>> {
        let first = self.lock().dial(addr.clone(), opts)?;
        if opts.port_use != PortUse::Reuse {
            return Ok(first);
        }
        let inner = Arc::clone(&self.inner);
        Ok(Box::pin(async move {
            match first.await {
                Err(e) if port_refused(&e) => {
                    tracing::debug!(%addr, error = %e, "reusing the listening port was refused; dialing from a new one");
                    let again = {
                        let mut inner = inner.lock().unwrap_or_else(|e| e.into_inner());
                        inner.dial(
                            addr,
                            DialOpts {
                                port_use: PortUse::New,
                                ..opts
                            },
                        )
                    };
                    match again {
                        Ok(dial) => dial.await,
                        Err(TransportError::Other(e)) => Err(e),
                        Err(TransportError::MultiaddrNotSupported(a)) => {
                            Err(io::Error::other(format!("{a} is not a TCP address")))
                        }
                    }
                }
                other => other,
            }
        }))
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, io::Error>> {
        Pin::new(&mut *self.lock()).poll(cx)
    }
}
