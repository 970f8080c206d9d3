//! `h2_authority`: accept a full URL as HTTP/2 `:authority`, as etcd does.
//!
//! etcd 3.4's Go client (`etcdctl --endpoints=http://127.0.0.1:2379 endpoint
//! status`, `endpoint hashkv`, ...) sends `:authority: http://127.0.0.1:2379`.
//! grpc-go (which etcd serves with) accepts that; the `h2` crate under tonic does
//! not: it parses `:authority` as a URI authority, finds it malformed and resets the
//! stream with PROTOCOL_ERROR. `h2` has no option to relax this, so this module
//! fixes the request bytes before `h2` sees them.
//!
//! [`AuthorityFix`] wraps an accepted connection. Its write side is untouched; its
//! read side runs the client's byte stream through a [`Rewriter`], which walks the
//! HTTP/2 framing (the 24-byte connection preface, then frames with 9-byte headers)
//! and passes every frame through unchanged except header blocks (HEADERS plus its
//! CONTINUATION frames). Those it decodes with an HPACK decoder that mirrors the
//! client's encoder (dynamic table, table size updates), rewrites an `:authority`
//! that contains `://` to the part after the scheme (`host:port`), and re-encodes.
//!
//! Only connections that need it pay for this. The connection's first header block
//! decides: a client whose first request names a plain `host:port` (every client but
//! etcd 3.4's Go client, which sets one `:authority` per connection) has that block
//! and everything after it passed through as it came, from then on without looking
//! at the bytes (decoding and re-encoding every block cost a tenth of the server's
//! CPU under load). A first block with a full URL switches the connection to
//! rewriting, for good.
//!
//! The re-encoding rule: on a rewriting connection *every* header block is re-encoded, and only with
//! "literal without indexing" representations (plain strings, no Huffman). So the
//! server's HPACK decoder never adds to or reads its dynamic table, and cannot
//! disagree with the client's encoder: the client's table lives only in our decoder.
//! (Passing some blocks through as they came would be wrong: a block that inserts
//! into the client's table, or refers to it, means something else to a server
//! decoder that saw re-encoded blocks before. Table size updates are therefore
//! consumed here, not forwarded; the server never changes its table size setting.)
//! The rewritten HEADERS frame keeps END_STREAM, drops padding and priority fields
//! (`h2` ignores priority), and is split into CONTINUATION frames at 16,384 bytes,
//! the smallest frame size a peer must accept. "Never indexed" marks are not kept:
//! they matter to intermediaries that re-encode, and the server does not.
//!
//! Everything else passes through in order; the payload of other frames (DATA) is
//! handed over without being parsed, and once the adapter has no bytes of its own
//! buffered it reads such payloads straight into the caller's buffer. A connection
//! that does not start with the HTTP/2 preface is passed through untouched (the
//! server answers it as before). A header block our decoder rejects, or one broken
//! by framing (a frame other than CONTINUATION in its middle, a CONTINUATION for
//! another stream, bad padding, a block over 1 MiB), is a connection error in
//! HTTP/2 anyway: the read fails and the server closes the connection.
//!
//! Only in the real build: the simulated network carries no HTTP/2 bytes.

use std::borrow::Cow;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The HTTP/2 client connection preface.
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_HEADER_LEN: usize = 9;
const TYPE_HEADERS: u8 = 0x1;
const TYPE_CONTINUATION: u8 = 0x9;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;
/// Largest frame payload we emit: the initial SETTINGS_MAX_FRAME_SIZE, which every
/// peer accepts.
const MAX_OUT_FRAME: usize = 16_384;
/// Largest header block (all its frames) we buffer before giving up.
const MAX_BLOCK: usize = 1 << 20;
/// The server's SETTINGS_HEADER_TABLE_SIZE (h2's default; tonic leaves it): the
/// largest dynamic table the client's encoder may use.
const HEADER_TABLE_SIZE: usize = 4096;
/// How much to read at a time into our own buffer.
const READ_CHUNK: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Matched this many bytes of the preface.
    Preface(usize),
    /// At a frame boundary.
    FrameHeader,
    /// Inside the payload of a frame passed through; this many bytes remain.
    Pass(usize),
    /// Not HTTP/2 (or past EOF): everything passes through.
    Transparent,
}

/// A header block being collected (HEADERS without END_HEADERS, then CONTINUATION).
struct Block {
    stream_id: u32,
    end_stream: bool,
    /// The concatenated header block fragments.
    fragment: Vec<u8>,
    /// The original frames, handed on unchanged if the connection ends mid-block.
    original: Vec<u8>,
}

/// The sans-IO core: client bytes in, fixed client bytes out.
pub struct Rewriter {
    state: State,
    /// Client bytes not yet looked at.
    input: BytesMut,
    /// Bytes ready for the server, to be handed out before anything else.
    out: BytesMut,
    block: Option<Block>,
    decoder: loona_hpack::Decoder<'static>,
    /// The first header block needed a fix: every block is re-encoded from then on.
    rewriting: bool,
}

impl Default for Rewriter {
    fn default() -> Self {
        Self::new()
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("HTTP/2 request framing: {}", msg.into()))
}

/// `http://host:port[/...]` → `host:port`; other values unchanged.
fn fix_authority(value: &[u8]) -> Option<&[u8]> {
    let pos = value.windows(3).position(|w| w == b"://")?;
    let rest = &value[pos + 3..];
    let end = rest.iter().position(|b| matches!(b, b'/' | b'?' | b'#')).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// An HPACK string literal, not Huffman-coded.
fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    put_integer(out, s.len(), 7, 0);
    out.extend_from_slice(s);
}

/// An HPACK integer with a `prefix`-bit prefix under `first` (RFC 7541 §5.1).
fn put_integer(out: &mut Vec<u8>, mut value: usize, prefix: u8, first: u8) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

fn put_frame_header(out: &mut BytesMut, len: usize, kind: u8, flags: u8, stream_id: u32) {
    out.put_uint(len as u64, 3);
    out.put_u8(kind);
    out.put_u8(flags);
    out.put_u32(stream_id);
}

impl Rewriter {
    pub fn new() -> Self {
        let mut decoder = loona_hpack::Decoder::new();
        decoder.set_max_allowed_table_size(HEADER_TABLE_SIZE);
        Rewriter {
            state: State::Preface(0),
            input: BytesMut::new(),
            out: BytesMut::new(),
            block: None,
            decoder,
            rewriting: false,
        }
    }

    /// Add client bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.input.extend_from_slice(data);
    }

    /// The client closed its side: whatever is still held (a partial frame or
    /// header block) goes out as it came, and nothing more is rewritten.
    pub fn finish(&mut self) {
        if let Some(block) = self.block.take() {
            self.out.extend_from_slice(&block.original);
        }
        let rest = self.input.split();
        self.out.unsplit(rest);
        self.state = State::Transparent;
    }

    /// Look at as much input as possible.
    pub fn process(&mut self) -> io::Result<()> {
        loop {
            match self.state {
                State::Preface(matched) => {
                    if self.input.is_empty() {
                        return Ok(());
                    }
                    let n = (PREFACE.len() - matched).min(self.input.len());
                    if self.input[..n] != PREFACE[matched..matched + n] {
                        // Not HTTP/2 with prior knowledge: not ours to touch.
                        self.state = State::Transparent;
                        continue;
                    }
                    let bytes = self.input.split_to(n);
                    self.out.unsplit(bytes);
                    self.state = if matched + n == PREFACE.len() {
                        State::FrameHeader
                    } else {
                        State::Preface(matched + n)
                    };
                }
                State::FrameHeader => {
                    if self.input.len() < FRAME_HEADER_LEN {
                        return Ok(());
                    }
                    let h = &self.input[..FRAME_HEADER_LEN];
                    let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
                    let kind = h[3];
                    let is_block =
                        kind == TYPE_HEADERS || (kind == TYPE_CONTINUATION && self.block.is_some());
                    if !is_block {
                        if self.block.is_some() {
                            return Err(invalid("a frame other than CONTINUATION inside a header block"));
                        }
                        let header = self.input.split_to(FRAME_HEADER_LEN);
                        self.out.unsplit(header);
                        self.state = State::Pass(len);
                        continue;
                    }
                    let held = self.block.as_ref().map_or(0, |b| b.original.len());
                    if held + FRAME_HEADER_LEN + len > MAX_BLOCK {
                        return Err(invalid("header block too large"));
                    }
                    if self.input.len() < FRAME_HEADER_LEN + len {
                        self.input.reserve(FRAME_HEADER_LEN + len - self.input.len());
                        return Ok(());
                    }
                    let frame = self.input.split_to(FRAME_HEADER_LEN + len);
                    self.header_frame(&frame)?;
                }
                State::Pass(0) => self.state = State::FrameHeader,
                // Payload bytes are handed out by `take`, straight from `input`.
                State::Pass(_) => return Ok(()),
                State::Transparent => return Ok(()),
            }
        }
    }

    /// A complete HEADERS or CONTINUATION frame (header included).
    fn header_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        let kind = frame[3];
        let flags = frame[4];
        let stream_id = u32::from_be_bytes([frame[5], frame[6], frame[7], frame[8]]) & 0x7fff_ffff;
        let mut payload = &frame[FRAME_HEADER_LEN..];
        if kind == TYPE_HEADERS {
            if self.block.is_some() {
                return Err(invalid("HEADERS inside a header block"));
            }
            let mut pad = 0;
            if flags & FLAG_PADDED != 0 {
                let Some((&p, rest)) = payload.split_first() else {
                    return Err(invalid("padded HEADERS without pad length"));
                };
                pad = usize::from(p);
                payload = rest;
            }
            if flags & FLAG_PRIORITY != 0 {
                if payload.len() < 5 {
                    return Err(invalid("HEADERS too short for its priority"));
                }
                payload = &payload[5..];
            }
            if pad > payload.len() {
                return Err(invalid("HEADERS padding longer than its payload"));
            }
            payload = &payload[..payload.len() - pad];
            self.block = Some(Block {
                stream_id,
                end_stream: flags & FLAG_END_STREAM != 0,
                fragment: payload.to_vec(),
                original: frame.to_vec(),
            });
        } else {
            let block = self.block.as_mut().expect("CONTINUATION is only taken inside a block");
            if block.stream_id != stream_id {
                return Err(invalid("CONTINUATION for another stream"));
            }
            block.fragment.extend_from_slice(payload);
            block.original.extend_from_slice(frame);
        }
        if flags & FLAG_END_HEADERS != 0 {
            let block = self.block.take().expect("block present");
            self.emit_block(&block)?;
        }
        Ok(())
    }

    /// Decode a complete header block, fix `:authority`, re-encode without
    /// indexing, and queue it as HEADERS (+ CONTINUATION) frames. The connection's
    /// first block decides: if its `:authority` needs no fix, it goes out as it came
    /// and the rest of the connection passes through untouched (see the module doc).
    fn emit_block(&mut self, block: &Block) -> io::Result<()> {
        let first_block = !self.rewriting;
        let mut fixed_any = false;
        let mut encoded = Vec::with_capacity(block.fragment.len() + 64);
        self.decoder
            .decode_with_cb(&block.fragment, |name: Cow<[u8]>, value: Cow<[u8]>| {
                let value = match (&*name == b":authority", fix_authority(&value)) {
                    (true, Some(fixed)) => {
                        fixed_any = true;
                        fixed
                    }
                    _ => &value[..],
                };
                // Literal header field without indexing, new name (RFC 7541 §6.2.2).
                encoded.push(0);
                put_string(&mut encoded, &name);
                put_string(&mut encoded, value);
            })
            .map_err(|e| invalid(format!("HPACK: {e:?}")))?;
        if first_block && !fixed_any {
            self.out.extend_from_slice(&block.original);
            self.state = State::Transparent;
            return Ok(());
        }
        self.rewriting = true;

        let mut chunks = encoded.chunks(MAX_OUT_FRAME);
        let first = chunks.next().unwrap_or(&[]);
        let more = encoded.len() > MAX_OUT_FRAME;
        let mut flags = if block.end_stream { FLAG_END_STREAM } else { 0 };
        if !more {
            flags |= FLAG_END_HEADERS;
        }
        self.out.reserve(encoded.len() + FRAME_HEADER_LEN * (1 + encoded.len() / MAX_OUT_FRAME));
        put_frame_header(&mut self.out, first.len(), TYPE_HEADERS, flags, block.stream_id);
        self.out.extend_from_slice(first);
        let rest: Vec<&[u8]> = chunks.collect();
        for (i, chunk) in rest.iter().enumerate() {
            let flags = if i + 1 == rest.len() { FLAG_END_HEADERS } else { 0 };
            put_frame_header(&mut self.out, chunk.len(), TYPE_CONTINUATION, flags, block.stream_id);
            self.out.extend_from_slice(chunk);
        }
        Ok(())
    }

    /// Hand out ready bytes into `dst`: queued output first, then pass-through
    /// payload still in `input`. Returns how many.
    pub fn take(&mut self, dst: &mut ReadBuf<'_>) -> usize {
        if !self.out.is_empty() {
            let n = self.out.len().min(dst.remaining());
            dst.put_slice(&self.out[..n]);
            self.out.advance(n);
            return n;
        }
        let limit = match self.state {
            State::Pass(rem) => rem,
            State::Transparent => usize::MAX,
            _ => 0,
        };
        let n = limit.min(self.input.len()).min(dst.remaining());
        if n > 0 {
            dst.put_slice(&self.input[..n]);
            self.input.advance(n);
            self.passed(n);
        }
        n
    }

    /// When nothing is buffered and the next client bytes pass through unchanged:
    /// how many may be read straight into the caller's buffer.
    fn direct_limit(&self) -> Option<usize> {
        if !self.out.is_empty() || !self.input.is_empty() {
            return None;
        }
        match self.state {
            State::Pass(rem) if rem > 0 => Some(rem),
            State::Transparent => Some(usize::MAX),
            _ => None,
        }
    }

    /// `n` pass-through bytes went out.
    fn passed(&mut self, n: usize) {
        if let State::Pass(rem) = &mut self.state {
            *rem -= n;
        }
    }
}

/// An accepted connection whose read side goes through a [`Rewriter`].
pub struct AuthorityFix<S> {
    inner: S,
    rw: Rewriter,
    /// Where bytes the rewriter must look at are read to (kept: no re-zeroing).
    scratch: Box<[u8]>,
    eof: bool,
}

impl<S> AuthorityFix<S> {
    pub fn new(inner: S) -> Self {
        AuthorityFix { inner, rw: Rewriter::new(), scratch: vec![0; READ_CHUNK].into(), eof: false }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityFix<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            this.rw.process()?;
            if this.rw.take(buf) > 0 {
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            if let Some(limit) = this.rw.direct_limit() {
                // Pass-through payload: read it straight into the caller's buffer.
                let want = limit.min(buf.remaining());
                let mut sub = ReadBuf::new(buf.initialize_unfilled_to(want));
                std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, &mut sub))?;
                let n = sub.filled().len();
                if n == 0 {
                    this.eof = true;
                    this.rw.finish();
                    continue;
                }
                buf.advance(n);
                this.rw.passed(n);
                return Poll::Ready(Ok(()));
            }
            let mut sub = ReadBuf::new(&mut this.scratch);
            std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, &mut sub))?;
            if sub.filled().is_empty() {
                this.eof = true;
                this.rw.finish();
            } else {
                this.rw.push(sub.filled());
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityFix<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<S: tonic::transport::server::Connected> tonic::transport::server::Connected for AuthorityFix<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
#[path = "h2_authority_test.rs"]
mod tests;
