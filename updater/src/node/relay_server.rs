//! libp2p's relay server, with one bug of libp2p-relay 0.22 kept out.
//!
//! The server counts every connection, relayed ones included, and when its
//! status changes (it enables or disables itself as this node's confirmed
//! external addresses come and go) it sends the new status to the handler
//! of each. A relayed connection has no relay handler (libp2p gives it a
//! dummy one), so libp2p-swarm hits `unreachable!()` in its `Either`
//! handler and the connection's task panics. In the Internet lab this
//! happened to a user that held a relayed connection while its external
//! address changed. This wrapper passes everything through except messages
//! addressed to relayed connections.

use std::collections::HashSet;
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::relay;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, NotifyHandler, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

use super::actor::is_relayed;

/// The relay server, minus messages to relayed connections.
pub(super) struct RelayServer {
    inner: relay::Behaviour,
    /// Connections that go through a relay: their relay handler is a dummy.
    relayed: HashSet<ConnectionId>,
}

impl RelayServer {
    pub(super) fn new(inner: relay::Behaviour) -> RelayServer {
        RelayServer {
            inner,
            relayed: HashSet::new(),
        }
    }
}

impl NetworkBehaviour for RelayServer {
    type ConnectionHandler = <relay::Behaviour as NetworkBehaviour>::ConnectionHandler;
    type ToSwarm = relay::Event;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if is_relayed(local_addr) {
            self.relayed.insert(connection_id);
        }
        self.inner.handle_established_inbound_connection(
            connection_id,
            peer,
            local_addr,
            remote_addr,
        )
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(
            connection_id,
            maybe_peer,
            addresses,
            effective_role,
        )
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if is_relayed(addr) {
            self.relayed.insert(connection_id);
        }
        self.inner.handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        )
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ConnectionClosed(closed) = &event {
            self.relayed.remove(&closed.connection_id);
        }
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner
            .on_connection_handler_event(peer_id, connection_id, event);
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        loop {
            match self.inner.poll(cx) {
                Poll::Ready(ToSwarm::NotifyHandler {
                    handler: NotifyHandler::One(id),
                    ..
                }) if self.relayed.contains(&id) => {
                    tracing::debug!("relay server: message to relayed connection {id:?} dropped");
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::core::transport::PortUse;
    use libp2p::multiaddr::Protocol;

    /// The libp2p bug itself, and that the wrapper keeps it out: a relay
    /// server with a relayed connection gains an external address (its
    /// status changes to "enabled"). libp2p's behaviour then addresses the
    /// relayed connection; the wrapper does not.
    #[test]
    fn a_status_change_is_not_sent_to_relayed_connections() {
        let me = libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id();
        let peer = libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id();
        let relay_peer = libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id();
        let relayed: Multiaddr = "/ip4/192.0.2.9/tcp/4001"
            .parse::<Multiaddr>()
            .unwrap()
            .with(Protocol::P2p(relay_peer))
            .with(Protocol::P2pCircuit)
            .with(Protocol::P2p(peer));
        let direct: Multiaddr = "/ip4/192.0.2.10/tcp/4001".parse().unwrap();

        let drive = |wrapped: bool| -> Vec<ConnectionId> {
            let inner = relay::Behaviour::new(me, relay::Config::default());
            let mut server = RelayServer::new(inner);
            let (relayed_id, direct_id) = (
                ConnectionId::new_unchecked(1),
                ConnectionId::new_unchecked(2),
            );
            for (id, addr) in [(relayed_id, &relayed), (direct_id, &direct)] {
                let _ = server.handle_established_outbound_connection(
                    id,
                    peer,
                    addr,
                    Endpoint::Dialer,
                    PortUse::Reuse,
                );
                server.on_swarm_event(FromSwarm::ConnectionEstablished(
                    libp2p::swarm::behaviour::ConnectionEstablished {
                        peer_id: peer,
                        connection_id: id,
                        endpoint: &libp2p::core::ConnectedPoint::Dialer {
                            address: addr.clone(),
                            role_override: Endpoint::Dialer,
                            port_use: PortUse::Reuse,
                        },
                        failed_addresses: &[],
                        other_established: 0,
                    },
                ));
            }
            let external: Multiaddr = "/ip4/198.51.100.1/tcp/4001".parse().unwrap();
            server.on_swarm_event(FromSwarm::ExternalAddrConfirmed(
                libp2p::swarm::behaviour::ExternalAddrConfirmed { addr: &external },
            ));
            let waker = futures::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            let mut notified = Vec::new();
            loop {
                let polled = if wrapped {
                    server.poll(&mut cx)
                } else {
                    server.inner.poll(&mut cx)
                };
                match polled {
                    Poll::Ready(ToSwarm::NotifyHandler {
                        handler: NotifyHandler::One(id),
                        ..
                    }) => notified.push(id),
                    Poll::Ready(_) => {}
                    Poll::Pending => return notified,
                }
            }
        };
        let relayed_id = ConnectionId::new_unchecked(1);
        let direct_id = ConnectionId::new_unchecked(2);
        let bare = drive(false);
        assert!(
            bare.contains(&relayed_id),
            "libp2p-relay no longer addresses relayed connections: this wrapper may go ({bare:?})"
        );
        let wrapped = drive(true);
        assert_eq!(wrapped, vec![direct_id]);
    }
}
