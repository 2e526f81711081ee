//! The exchange service's listener. It does the TLS handshakes itself, so that a client gets a
//! bounded time to finish one and must offer ALPN `h2`, and it bounds the open connections, in
//! all and per client certificate, and closes a connection that stays silent.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::{Instant, Sleep};
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tracing::debug;

use crate::NodeState;
use crate::config::ExchangeLimits;
use crate::metrics::Refusal;
use crate::pki::ALPN_H2;

/// One served exchange connection: TLS done, `h2` agreed, within the limits.
pub(crate) struct PeerConnection {
    io: TlsStream<TcpStream>,
    idle: Pin<Box<Sleep>>,
    idle_timeout: Duration,
    closed_idle: bool,
    state: Arc<NodeState>,
    _slot: OwnedSemaphorePermit,
    _peer: PeerSlot,
}

impl PeerConnection {
    fn active(&mut self) {
        self.idle.as_mut().reset(Instant::now() + self.idle_timeout);
    }

    /// Whether the connection has been silent too long (counted once); registers the wake-up
    /// otherwise.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        if self.idle.as_mut().poll(cx).is_pending() {
            return false;
        }
        if !self.closed_idle {
            self.closed_idle = true;
            self.state.metrics.refused(Refusal::Idle);
        }
        true
    }
}

fn idle_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "no bytes in either direction for the idle timeout",
    )
}

impl AsyncRead for PeerConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.active();
                }
                Poll::Ready(result)
            }
            Poll::Pending if this.idle_expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for PeerConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written
            && n > 0
        {
            this.active();
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl Connected for PeerConnection {
    type ConnectInfo = <TlsStream<TcpStream> as Connected>::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// Open connections per client certificate (by the SHA-256 of the end-entity certificate).
#[derive(Debug, Default)]
struct PeerCounts(Mutex<HashMap<[u8; 32], usize>>);

/// One connection counted against its client certificate, until dropped.
struct PeerSlot {
    counts: Arc<PeerCounts>,
    peer: [u8; 32],
}

impl PeerCounts {
    fn take(self: &Arc<Self>, peer: [u8; 32], max: usize) -> Option<PeerSlot> {
        let mut counts = crate::lock(&self.0);
        let open = counts.entry(peer).or_default();
        if *open >= max {
            return None;
        }
        *open += 1;
        Some(PeerSlot {
            counts: self.clone(),
            peer,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut counts = crate::lock(&self.counts.0);
        if let Some(open) = counts.get_mut(&self.peer) {
            *open -= 1;
            if *open == 0 {
                counts.remove(&self.peer);
            }
        }
    }
}

/// Why a connection was not served.
enum Refused {
    Handshake(String),
    HandshakeTimeout,
    NoAlpnH2,
    TooManyForPeer,
}

/// Accepts connections on `listener` until `stop` changes, and yields those that complete a TLS
/// handshake with ALPN `h2` within the limits.
pub(crate) fn incoming(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: Arc<NodeState>,
    mut stop: watch::Receiver<bool>,
) -> ReceiverStream<io::Result<PeerConnection>> {
    let limits = state.config.exchange;
    // Connections wait here only until the server takes them; it takes them as they come.
    let (ready, served) = mpsc::channel(64);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let peers = Arc::new(PeerCounts::default());
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stop.changed() => return,
            };
            let tcp = match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken: the
                    // listener itself is fine, so keep accepting after a pause.
                    debug!(error = %e, "exchange listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                state.metrics.refused(Refusal::Connections);
                // Closed at once: the connection costs its client a retry, not this node a slot.
                drop(tcp);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let (tls, peers, ready, state) =
                (tls.clone(), peers.clone(), ready.clone(), state.clone());
            tokio::spawn(async move {
                match handshake(tcp, tls, &limits, &peers).await {
                    Ok((io, peer)) => {
                        let connection = PeerConnection {
                            io,
                            idle: Box::pin(tokio::time::sleep(limits.idle_timeout)),
                            idle_timeout: limits.idle_timeout,
                            closed_idle: false,
                            state: state.clone(),
                            _slot: slot,
                            _peer: peer,
                        };
                        let _ = ready.send(Ok(connection)).await;
                    }
                    Err(refused) => {
                        let reason = match refused {
                            Refused::Handshake(why) => {
                                debug!(error = %why, "exchange: TLS handshake failed");
                                Refusal::Handshake
                            }
                            Refused::HandshakeTimeout => Refusal::HandshakeTimeout,
                            Refused::NoAlpnH2 => Refusal::NoAlpnH2,
                            Refused::TooManyForPeer => Refusal::ConnectionsPerPeer,
                        };
                        state.metrics.refused(reason);
                    }
                }
            });
        }
    });
    ReceiverStream::new(served)
}

/// The TLS handshake, refused unless the client offers `h2` and, once it has shown its
/// certificate, has fewer than the allowed connections open.
async fn handshake(
    tcp: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    limits: &ExchangeLimits,
    peers: &Arc<PeerCounts>,
) -> Result<(TlsStream<TcpStream>, PeerSlot), Refused> {
    let handshake = async {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp)
            .await
            .map_err(|e| Refused::Handshake(e.to_string()))?;
        let offers_h2 = start
            .client_hello()
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ALPN_H2));
        if !offers_h2 {
            // Dropping the connection before the server's first flight ends the handshake.
            return Err(Refused::NoAlpnH2);
        }
        start
            .into_stream(tls)
            .await
            .map_err(|e| Refused::Handshake(e.to_string()))
    };
    let io = tokio::time::timeout(limits.handshake_timeout, handshake)
        .await
        .map_err(|_| Refused::HandshakeTimeout)??;
    let (_, session) = io.get_ref();
    if session.alpn_protocol() != Some(ALPN_H2) {
        return Err(Refused::NoAlpnH2);
    }
    let Some(certificate) = session.peer_certificates().and_then(|c| c.first()) else {
        return Err(Refused::Handshake("no client certificate".into()));
    };
    let peer: [u8; 32] = Sha256::digest(certificate.as_ref()).into();
    let slot = peers
        .take(peer, limits.max_connections_per_peer)
        .ok_or(Refused::TooManyForPeer)?;
    Ok((io, slot))
}
