//! Accept loop and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Admission;
use crate::broker::Broker;
use crate::config::Listener;

/// A listener socket together with the configuration it was bound from.
pub struct BoundListener {
    pub listener: Listener,
    pub socket: TcpListener,
    pub local_addr: SocketAddr,
}

/// Binds every configured listener. Port 0 binds an ephemeral port.
pub async fn bind(listeners: &[Listener]) -> std::io::Result<Vec<BoundListener>> {
    let mut out = Vec::new();
    for l in listeners {
        let addr = l.bind_addr();
        let socket = TcpListener::bind(&addr).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot bind listener {} on {addr}: {e}", l.name),
            )
        })?;
        let local_addr = socket.local_addr()?;
        out.push(BoundListener {
            listener: l.clone(),
            socket,
            local_addr,
        });
    }
    Ok(out)
}

/// Accepts connections until `shutdown` turns true; each connection runs in its own task
/// and is told to stop through the same signal. `admission` is shared by every listener:
/// accepting waits for a free `max.connections` slot, and a connection over its
/// address's `max.connections.per.ip` is closed at once (both as in Kafka).
pub async fn serve(
    broker: Arc<Broker>,
    bound: BoundListener,
    admission: Arc<Admission>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let slot = tokio::select! {
            slot = admission.slot() => slot,
            _ = shutdown.changed() => break,
        };
        tokio::select! {
            accepted = bound.socket.accept() => match accepted {
                Ok((stream, peer)) => match admission.admit(peer.ip(), slot) {
                    Ok(admitted) => {
                        let _ = stream.set_nodelay(true);
                        let broker = broker.clone();
                        let shutdown = shutdown.clone();
                        tokio::spawn(async move {
                            super::connection::run(broker, stream, peer, admitted, shutdown).await;
                        });
                    }
                    Err(limit) => log::info!(
                        "rejected connection from {peer}: the address already has the configured maximum of {limit} connections (max.connections.per.ip)"
                    ),
                },
                Err(e) => {
                    // Running out of file descriptors must not spin the loop.
                    log::warn!("accept on {} failed: {e}", bound.local_addr);
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}
