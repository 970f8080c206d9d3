//! `Corked`: one write syscall for many responses of one client connection.
//!
//! HTTP/2 multiplexes many requests on a connection, and every request is served by
//! its own task. Each finished response wakes the connection task, which encodes it and
//! flushes: with `TCP_NODELAY` that is one `writev` and one TCP segment per response.
//! On loopback the sender's syscall also runs the receiver's network stack, so under
//! load a third of the server's CPU went to these small writes (perf, 10 connections ×
//! 100 clients of single-key ranges).
//!
//! The fix is the one Nagle's algorithm makes, without its delay: writes go to a
//! buffer, and the first flush of a burst yields once to the scheduler (the task wakes
//! itself and returns `Pending`) before writing, so that the other request tasks that
//! are ready to run finish first and their responses join the same write. When the
//! connection task runs again, HTTP/2 encodes those responses into the buffer and
//! flushes again; that flush writes everything. An idle server pays one task switch
//! (microseconds), never a timer.
//!
//! Bounds: the buffer takes at most [`CORK_LIMIT_BYTES`] before writes must wait
//! for it to drain, so a client that does not read holds at most that much here (plus
//! what HTTP/2 flow control already allows).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[cfg(test)]
#[path = "cork_test.rs"]
mod cork_test;

/// Buffered output past which `poll_write` first drains to the socket.
pub const CORK_LIMIT_BYTES: usize = 64 * 1024;

/// A connection whose writes are gathered until a flush, and whose first flush of a
/// burst lets other ready tasks add to it (see the module doc).
pub struct Corked<S> {
    inner: S,
    buf: Vec<u8>,
    /// Bytes of `buf` already written to `inner`.
    written: usize,
    /// The current flush has yielded once already.
    yielded: bool,
}

impl<S> Corked<S> {
    pub fn new(inner: S) -> Self {
        Corked { inner, buf: Vec::new(), written: 0, yielded: false }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncWrite + Unpin> Corked<S> {
    /// Write the buffer to `inner` until it is empty (Ready) or the socket is full.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.buf.len() {
            let n = match Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.written..]) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.buf.clear();
        self.written = 0;
        // Do not keep a burst's peak allocation for an idle connection.
        if self.buf.capacity() > 2 * CORK_LIMIT_BYTES {
            self.buf = Vec::new();
        }
        Poll::Ready(Ok(()))
    }

    /// Room for more output: drain first once the buffer reaches the limit.
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.buf.len() >= CORK_LIMIT_BYTES {
            return self.poll_drain(cx);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Corked<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Corked<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = std::task::ready!(this.poll_room(cx)) {
            return Poll::Ready(Err(e));
        }
        this.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = std::task::ready!(this.poll_room(cx)) {
            return Poll::Ready(Err(e));
        }
        let mut n = 0;
        for b in bufs {
            this.buf.extend_from_slice(b);
            n += b.len();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.written < this.buf.len() && !this.yielded {
            this.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let drained = std::task::ready!(this.poll_drain(cx));
        this.yielded = false;
        drained?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<S: tonic::transport::server::Connected> tonic::transport::server::Connected for Corked<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}
