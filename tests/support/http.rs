//! A tiny HTTP/1.x client over `std::net::TcpStream` for the gateway tests: it sends
//! exactly the bytes asked for and reports the response as it came (status line,
//! headers in order, whether the body was chunked, chunk by chunk), so tests can
//! check framing as well as content. Every read is bounded by a deadline.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One request. `body: None` sends no body and no Content-Length.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Extra headers, sent in order after `Host` (and `Content-Type` /
    /// `Content-Length` when there is a body).
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Send `HTTP/1.0` instead of `HTTP/1.1`.
    pub http10: bool,
    /// Send no `Content-Type` header with the body (else `application/json`, unless
    /// `headers` names one).
    pub no_content_type: bool,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Request {
        Request {
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            body: None,
            http10: false,
            no_content_type: false,
        }
    }

    /// The request's bytes; `keep_alive` false adds `Connection: close` (HTTP/1.1).
    pub fn encode(&self, port: u16, keep_alive: bool) -> Vec<u8> {
        let version = if self.http10 { "HTTP/1.0" } else { "HTTP/1.1" };
        let mut head = format!("{} {} {version}\r\nHost: 127.0.0.1:{port}\r\n", self.method, self.path);
        let names_ct = self.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if let Some(body) = &self.body {
            if !self.no_content_type && !names_ct {
                head.push_str("Content-Type: application/json\r\n");
            }
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !keep_alive && !self.http10 {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        if let Some(body) = &self.body {
            out.extend_from_slice(body);
        }
        out
    }
}

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    ContentLength(usize),
    Chunked,
    /// Until the server closes the connection.
    Close,
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
}

/// A response's status line and headers.
#[derive(Clone, Debug)]
pub struct Head {
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    pub status: u16,
    /// Header names as sent, values trimmed, in order.
    pub headers: Vec<(String, String)>,
    pub framing: Framing,
}

impl Head {
    /// Every value of header `name` (case-insensitive), joined with ", ".
    pub fn header(&self, name: &str) -> Option<String> {
        let vals: Vec<&str> = self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        if vals.is_empty() {
            None
        } else {
            Some(vals.join(", "))
        }
    }
}

/// A whole response.
#[derive(Clone, Debug)]
pub struct Response {
    pub head: Head,
    pub body: Vec<u8>,
    /// The chunks' sizes, for a chunked body (the final 0 not included).
    pub chunks: Vec<usize>,
    /// The trailer section of a chunked body (header lines after the last chunk).
    pub trailers: Vec<(String, String)>,
}

#[derive(Debug)]
pub enum Error {
    Io(std::io::Error),
    /// Nothing (more) within the deadline.
    TimedOut,
    /// The server closed the connection early.
    Closed,
    Malformed(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "i/o error: {e}"),
            Error::TimedOut => write!(f, "timed out"),
            Error::Closed => write!(f, "connection closed early"),
            Error::Malformed(m) => write!(f, "malformed response: {m}"),
        }
    }
}

/// One connection: requests written, responses read with deadlines.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
    pub port: u16,
}

impl Conn {
    pub fn connect(port: u16, timeout: Duration) -> Result<Conn, Error> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(Error::Io)?;
        stream.set_nodelay(true).map_err(Error::Io)?;
        Ok(Conn { stream, buf: Vec::new(), eof: false, port })
    }

    pub fn send(&mut self, req: &Request, keep_alive: bool) -> Result<(), Error> {
        let bytes = req.encode(self.port, keep_alive);
        self.stream.write_all(&bytes).map_err(Error::Io)
    }

    /// Read more bytes into the buffer; Ok(false) at end of stream.
    fn fill(&mut self, deadline: Instant) -> Result<bool, Error> {
        if self.eof {
            return Ok(false);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::TimedOut);
        }
        self.stream.set_read_timeout(Some(left.max(Duration::from_millis(1)))).map_err(Error::Io)?;
        let mut tmp = [0u8; 64 * 1024];
        match self.stream.read(&mut tmp) {
            Ok(0) => {
                self.eof = true;
                Ok(false)
            }
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                Ok(true)
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                Err(Error::TimedOut)
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                self.eof = true;
                Ok(false)
            }
            Err(e) => Err(Error::Io(e)),
        }
    }

    /// One CRLF-terminated line (without the CRLF).
    fn line(&mut self, deadline: Instant) -> Result<String, Error> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).to_string();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if !self.fill(deadline)? {
                return Err(Error::Closed);
            }
        }
    }

    fn exact(&mut self, n: usize, deadline: Instant) -> Result<Vec<u8>, Error> {
        while self.buf.len() < n {
            if !self.fill(deadline)? {
                return Err(Error::Closed);
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// The status line and headers of the next response to a `method` request.
    pub fn read_head(&mut self, method: &str, deadline: Instant) -> Result<Head, Error> {
        let status_line = self.line(deadline)?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_string();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::Malformed(format!("status line {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let line = self.line(deadline)?;
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').ok_or_else(|| Error::Malformed(format!("header {line:?}")))?;
            headers.push((k.to_string(), v.trim().to_string()));
        }
        let mut head = Head { version, status, headers, framing: Framing::Close };
        let te = head.header("transfer-encoding").unwrap_or_default().to_ascii_lowercase();
        head.framing = if method == "HEAD" || status < 200 || status == 204 || status == 304 {
            Framing::Empty
        } else if te.contains("chunked") {
            Framing::Chunked
        } else if let Some(n) = head.header("content-length") {
            Framing::ContentLength(n.parse().map_err(|_| Error::Malformed(format!("content-length {n:?}")))?)
        } else {
            Framing::Close
        };
        Ok(head)
    }

    /// The next piece of the body: a chunk's data, or whatever arrived (close-
    /// delimited), or the rest (Content-Length). Ok(None) at the end of the body;
    /// for a chunked body, `trailers` then holds the trailer section.
    pub fn read_piece(
        &mut self,
        framing: &mut Framing,
        trailers: &mut Vec<(String, String)>,
        deadline: Instant,
    ) -> Result<Option<Vec<u8>>, Error> {
        match *framing {
            Framing::Empty => Ok(None),
            Framing::ContentLength(0) => Ok(None),
            Framing::ContentLength(n) => {
                let data = self.exact(n, deadline)?;
                *framing = Framing::ContentLength(0);
                Ok(Some(data))
            }
            Framing::Chunked => {
                let size_line = self.line(deadline)?;
                let size_hex = size_line.split(';').next().unwrap_or_default().trim();
                let size = usize::from_str_radix(size_hex, 16)
                    .map_err(|_| Error::Malformed(format!("chunk size {size_line:?}")))?;
                if size == 0 {
                    loop {
                        let line = self.line(deadline)?;
                        if line.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':') {
                            trailers.push((k.to_string(), v.trim().to_string()));
                        }
                    }
                    *framing = Framing::Empty;
                    return Ok(None);
                }
                let data = self.exact(size, deadline)?;
                let crlf = self.exact(2, deadline)?;
                if crlf != b"\r\n" {
                    return Err(Error::Malformed("chunk not followed by CRLF".to_string()));
                }
                Ok(Some(data))
            }
            Framing::Close => {
                if self.buf.is_empty() && !self.fill(deadline)? {
                    *framing = Framing::Empty;
                    return Ok(None);
                }
                Ok(Some(std::mem::take(&mut self.buf)))
            }
        }
    }

    /// The whole next response.
    pub fn read_response(&mut self, method: &str, deadline: Instant) -> Result<Response, Error> {
        let head = self.read_head(method, deadline)?;
        let mut framing = head.framing;
        let mut body = Vec::new();
        let mut chunks = Vec::new();
        let mut trailers = Vec::new();
        while let Some(piece) = self.read_piece(&mut framing, &mut trailers, deadline)? {
            if head.framing == Framing::Chunked {
                chunks.push(piece.len());
            }
            body.extend_from_slice(&piece);
        }
        Ok(Response { head, body, chunks, trailers })
    }
}

/// Send `req` on a new connection (`Connection: close`) and read the whole response.
pub fn call(port: u16, req: &Request, timeout: Duration) -> Result<Response, Error> {
    let deadline = Instant::now() + timeout;
    let mut conn = Conn::connect(port, timeout)?;
    conn.send(req, false)?;
    conn.read_response(&req.method, deadline)
}

/// A streaming response (watch, keepalive, observe, snapshot, or a unary answer that
/// takes a while): its head, then the body's newline-separated messages as they
/// arrive, however they are chunked.
pub struct Stream {
    conn: Conn,
    method: String,
    head: Option<Head>,
    framing: Framing,
    pending: Vec<u8>,
    pub trailers: Vec<(String, String)>,
    pub ended: bool,
}

/// The next thing a stream produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// One message, without its newline (the last piece of a body that does not
    /// end with a newline is a message too, e.g. grpc-gateway's error chunk or a
    /// unary answer).
    Message(Vec<u8>),
    /// The body ended.
    End,
}

impl Stream {
    /// Send `req` on a new connection; the head is read later, by [`Stream::head`]
    /// or the first [`Stream::next`].
    pub fn send(port: u16, req: &Request, timeout: Duration) -> Result<Stream, Error> {
        let mut conn = Conn::connect(port, timeout)?;
        conn.send(req, false)?;
        Ok(Stream {
            conn,
            method: req.method.clone(),
            head: None,
            framing: Framing::Empty,
            pending: Vec::new(),
            trailers: Vec::new(),
            ended: false,
        })
    }

    /// Send `req` and wait for the response head.
    pub fn open(port: u16, req: &Request, timeout: Duration) -> Result<Stream, Error> {
        let mut st = Stream::send(port, req, timeout)?;
        st.head(timeout)?;
        Ok(st)
    }

    /// The response head, waiting at most `timeout` for it if not read yet.
    pub fn head(&mut self, timeout: Duration) -> Result<&Head, Error> {
        if self.head.is_none() {
            let head = self.conn.read_head(&self.method, Instant::now() + timeout)?;
            self.framing = head.framing;
            self.head = Some(head);
        }
        Ok(self.head.as_ref().expect("head read"))
    }

    /// The next message or the end of the body, waiting at most `timeout` (the head
    /// first, if not read yet).
    pub fn next(&mut self, timeout: Duration) -> Result<Next, Error> {
        let deadline = Instant::now() + timeout;
        self.head(timeout)?;
        loop {
            if let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
                let msg = self.pending[..i].to_vec();
                self.pending.drain(..=i);
                return Ok(Next::Message(msg));
            }
            if self.ended {
                if self.pending.is_empty() {
                    return Ok(Next::End);
                }
                return Ok(Next::Message(std::mem::take(&mut self.pending)));
            }
            match self.conn.read_piece(&mut self.framing, &mut self.trailers, deadline)? {
                Some(piece) => self.pending.extend_from_slice(&piece),
                None => self.ended = true,
            }
        }
    }
}
