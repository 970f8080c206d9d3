//! A full URL as HTTP/2 `:authority` (what etcd 3.4's Go client sends for
//! `etcdctl --endpoints=http://host:port endpoint status`) is served, not reset.
//! Speaks raw HTTP/2 over TCP so the exact request bytes are under test.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::{temp_dir, Proc};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend(stream_id.to_be_bytes());
    f.extend(payload);
    f
}

struct Frame {
    kind: u8,
    flags: u8,
    stream_id: u32,
    payload: Vec<u8>,
}

fn read_frame(s: &mut TcpStream) -> Frame {
    let mut h = [0u8; 9];
    s.read_exact(&mut h).expect("read a frame header");
    let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).expect("read a frame payload");
    Frame { kind: h[3], flags: h[4], stream_id: u32::from_be_bytes([h[5], h[6], h[7], h[8]]), payload }
}

#[test]
fn full_url_authority_is_served() {
    let dir = temp_dir("t40");
    let p = Proc::start(&dir, &[]);
    let port = p.client_port;

    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let authority = format!("http://127.0.0.1:{port}");
    let mut enc = loona_hpack::Encoder::new();
    let block = enc.encode([
        (&b":method"[..], &b"POST"[..]),
        (b":scheme", b"http"),
        (b":path", b"/etcdserverpb.Maintenance/Status"),
        (b":authority", authority.as_bytes()),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
    ]);
    let mut out = PREFACE.to_vec();
    out.extend(frame(0x4, 0, 0, &[])); // SETTINGS
    out.extend(frame(0x1, 0x4, 1, &block)); // HEADERS, END_HEADERS
    out.extend(frame(0x0, 0x1, 1, &[0, 0, 0, 0, 0])); // DATA: empty StatusRequest, END_STREAM
    s.write_all(&out).expect("write request");

    let mut dec = loona_hpack::Decoder::new();
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut got_data = false;
    loop {
        let f = read_frame(&mut s);
        match f.kind {
            0x4 if f.flags & 0x1 == 0 => s.write_all(&frame(0x4, 0x1, 0, &[])).expect("ack SETTINGS"),
            0x3 => panic!("RST_STREAM {:?} for stream {}", f.payload, f.stream_id),
            0x7 => panic!("GOAWAY {:?}", f.payload),
            0x0 if f.stream_id == 1 => got_data = true,
            0x1 => {
                assert_eq!(f.stream_id, 1);
                assert_ne!(f.flags & 0x4, 0, "the test expects no CONTINUATION");
                let mut fragment = &f.payload[..];
                if f.flags & 0x8 != 0 {
                    let pad = usize::from(fragment[0]);
                    fragment = &fragment[1..fragment.len() - pad];
                }
                if f.flags & 0x20 != 0 {
                    fragment = &fragment[5..];
                }
                for (n, v) in dec.decode(fragment).expect("decode response headers") {
                    headers.push((String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap()));
                }
                if f.flags & 0x1 != 0 {
                    break;
                }
            }
            _ => {}
        }
    }
    let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    assert_eq!(get(":status"), Some("200"), "{headers:?}");
    assert_eq!(get("grpc-status"), Some("0"), "{headers:?}");
    assert!(got_data, "a StatusResponse message came back");
}
