//! `Corked` against a socket double that records every write it is given.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use tokio::io::AsyncWrite;

use super::{Corked, CORK_LIMIT_BYTES};

/// Records each write; accepts at most `accept` bytes per call (0 = all), and
/// answers Pending while `full`.
#[derive(Default)]
struct Socket {
    writes: Vec<Vec<u8>>,
    accept: usize,
    full: bool,
    flushes: usize,
}

impl AsyncWrite for Socket {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.full {
            return Poll::Pending;
        }
        let n = if this.accept == 0 { data.len() } else { data.len().min(this.accept) };
        this.writes.push(data[..n].to_vec());
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().flushes += 1;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn waker() -> (Arc<CountingWaker>, Waker) {
    let w = Arc::new(CountingWaker::default());
    (w.clone(), Waker::from(w))
}

fn write(c: &mut Corked<Socket>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
    Pin::new(c).poll_write(cx, data)
}

fn flush(c: &mut Corked<Socket>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    Pin::new(c).poll_flush(cx)
}

#[test]
fn writes_of_a_burst_leave_in_one_socket_write_after_one_yield() {
    let (count, w) = waker();
    let mut cx = Context::from_waker(&w);
    let mut c = Corked::new(Socket::default());
    assert!(matches!(write(&mut c, &mut cx, b"one "), Poll::Ready(Ok(4))));
    // The first flush yields: nothing written, the task woken to run again.
    assert!(flush(&mut c, &mut cx).is_pending());
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(c.get_ref().writes.is_empty());
    // Meanwhile another response joins the buffer; the next flush writes both at once.
    assert!(matches!(write(&mut c, &mut cx, b"two"), Poll::Ready(Ok(3))));
    assert!(matches!(flush(&mut c, &mut cx), Poll::Ready(Ok(()))));
    assert_eq!(c.get_ref().writes, vec![b"one two".to_vec()]);
    assert_eq!(c.get_ref().flushes, 1);
    // Nothing buffered: a flush goes straight through, without yielding.
    assert!(matches!(flush(&mut c, &mut cx), Poll::Ready(Ok(()))));
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    // The next burst yields once again.
    assert!(matches!(write(&mut c, &mut cx, b"three"), Poll::Ready(Ok(5))));
    assert!(flush(&mut c, &mut cx).is_pending());
    assert!(matches!(flush(&mut c, &mut cx), Poll::Ready(Ok(()))));
    assert_eq!(c.get_ref().writes, vec![b"one two".to_vec(), b"three".to_vec()]);
}

#[test]
fn short_socket_writes_keep_every_byte_in_order() {
    let (_, w) = waker();
    let mut cx = Context::from_waker(&w);
    let mut c = Corked::new(Socket { accept: 3, ..Default::default() });
    let _ = write(&mut c, &mut cx, b"abcdefgh");
    assert!(flush(&mut c, &mut cx).is_pending());
    assert!(matches!(flush(&mut c, &mut cx), Poll::Ready(Ok(()))));
    assert_eq!(c.get_ref().writes.concat(), b"abcdefgh".to_vec());
    assert_eq!(c.get_ref().writes.len(), 3);
}

#[test]
fn a_full_socket_bounds_the_buffer() {
    let (_, w) = waker();
    let mut cx = Context::from_waker(&w);
    let mut c = Corked::new(Socket { full: true, ..Default::default() });
    let chunk = vec![7u8; 16 * 1024];
    let mut taken = 0;
    while let Poll::Ready(Ok(n)) = write(&mut c, &mut cx, &chunk) {
        taken += n;
        assert!(taken < 2 * CORK_LIMIT_BYTES, "a socket that takes nothing must stop the writer");
    }
    assert!(taken >= CORK_LIMIT_BYTES);
    // The socket drains: the writer may go on, and every byte arrives.
    c.inner.full = false;
    assert!(matches!(write(&mut c, &mut cx, b"end"), Poll::Ready(Ok(3))));
    assert!(flush(&mut c, &mut cx).is_pending());
    assert!(matches!(flush(&mut c, &mut cx), Poll::Ready(Ok(()))));
    assert_eq!(c.get_ref().writes.concat().len(), taken + 3);
}
