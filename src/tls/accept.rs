//! Accepting connections on a listener according to its [`Accept`] mode: plaintext
//! as accepted; TLS after a handshake; or, for a port named both `http://` and
//! `https://`, by the first byte (a TLS record of type handshake is 0x16; an HTTP/2
//! preface starts with `P`).
//!
//! The accept loop never waits on a client: every sniff and handshake runs in its
//! own task, bounded by [`HANDSHAKE_TIMEOUT`], and hands the connection to the
//! server through a channel. A connection that fails is closed and logged
//! ("rejected connection", with the remote address and rustls' reason). The loop
//! ends, and the listening socket closes, once the server stops taking connections.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use super::{Accept, ServerTls};

/// How long a client has to complete the TLS handshake (or, on a shared port, to
/// send its first byte).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;
/// Connections handed to the server but not yet taken.
const QUEUE: usize = 64;

/// An accepted connection, plaintext or TLS.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Accept on `listener` as `accept` says; `what` ("client", "peer") labels logs.
/// Yields the connections ready to serve.
pub fn incoming(
    listener: TcpListener,
    accept: Accept,
    what: &'static str,
) -> ReceiverStream<io::Result<Conn>> {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(accept_loop(listener, accept, tx, what));
    ReceiverStream::new(rx)
}

async fn accept_loop(
    listener: TcpListener,
    accept: Accept,
    tx: mpsc::Sender<io::Result<Conn>>,
    what: &'static str,
) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = tx.closed() => return,
        };
        let (tcp, remote) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and the like: keep the listener, back off a little.
                tracing::warn!(error = %e, listener = what, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Small gRPC frames (a reply, a WINDOW_UPDATE) must leave at once: with Nagle on,
        // they wait for the client's delayed ACK (~40 ms on Linux) and every request
        // takes that long.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, listener = what, "cannot set TCP_NODELAY");
        }
        match &accept {
            Accept::Plain => {
                if tx.send(Ok(Conn::Plain(tcp))).await.is_err() {
                    return;
                }
            }
            Accept::Tls(config) => {
                tokio::spawn(handshake(tcp, remote, config.clone(), false, tx.clone(), what));
            }
            Accept::Sniff(config) => {
                tokio::spawn(handshake(tcp, remote, config.clone(), true, tx.clone(), what));
            }
        }
    }
}

/// Sniff (if `sniff`) and run the TLS handshake; hand the connection on or log why not.
async fn handshake(
    tcp: TcpStream,
    remote: SocketAddr,
    config: ServerTls,
    sniff: bool,
    tx: mpsc::Sender<io::Result<Conn>>,
    what: &'static str,
) {
    let attempt = async {
        if sniff && !starts_with_tls(&tcp).await? {
            return Ok(Conn::Plain(tcp));
        }
        let tls = tokio_rustls::TlsAcceptor::from(config.current()).accept(tcp).await?;
        Ok::<_, io::Error>(Conn::Tls(Box::new(tls)))
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, attempt).await {
        Ok(Ok(conn)) => {
            let _ = tx.send(Ok(conn)).await;
        }
        Ok(Err(e)) => {
            tracing::warn!(remote_addr = %remote, listener = what, error = %e, "rejected connection: TLS handshake failed");
        }
        Err(_) => {
            tracing::warn!(
                remote_addr = %remote,
                listener = what,
                timeout = ?HANDSHAKE_TIMEOUT,
                "rejected connection: TLS handshake timed out"
            );
        }
    }
}

/// Whether the client's first byte opens a TLS handshake (not consumed). A client
/// that closes at once counts as plaintext: the server then sees the end.
async fn starts_with_tls(tcp: &TcpStream) -> io::Result<bool> {
    let mut first = [0u8; 1];
    let n = tcp.peek(&mut first).await?;
    Ok(n == 1 && first[0] == TLS_HANDSHAKE_RECORD)
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Every request of a connection carries this (tonic puts it in the request's
/// extensions): the common name of the client certificate the handshake verified.
impl Connected for Conn {
    type ConnectInfo = super::ClientCert;

    fn connect_info(&self) -> Self::ConnectInfo {
        match self {
            Conn::Plain(s) => {
                super::ClientCert { common_name: None, remote_addr: s.connect_info().remote_addr() }
            }
            Conn::Tls(s) => {
                let (tcp, session) = s.get_ref();
                let common_name = session
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .and_then(|leaf| super::cert_cn::common_name(leaf));
                super::ClientCert { common_name, remote_addr: tcp.connect_info().remote_addr() }
            }
        }
    }
}
