use super::*;

type Headers = Vec<(Vec<u8>, Vec<u8>)>;

fn frame(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    put_frame_header(&mut out, payload.len(), kind, flags, stream_id);
    out.extend_from_slice(payload);
    out.to_vec()
}

fn settings() -> Vec<u8> {
    frame(0x4, 0, 0, &[0, 4, 0, 0, 0xff, 0xff])
}

fn data(stream_id: u32, end: bool, payload: &[u8]) -> Vec<u8> {
    frame(0x0, if end { FLAG_END_STREAM } else { 0 }, stream_id, payload)
}

fn request(authority: &str, path: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]
    .iter()
    .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect()
}

fn encode(enc: &mut loona_hpack::Encoder<'static>, headers: &Headers) -> Vec<u8> {
    enc.encode(headers.iter().map(|(n, v)| (&n[..], &v[..])))
}

/// Run `input` through a rewriter, fed in `chunks` (by length; the rest at the
/// end) and drained through a `dst` of `out_len` bytes after each push.
fn rewrite_split(input: &[u8], chunks: &[usize], out_len: usize) -> io::Result<Vec<u8>> {
    let mut rw = Rewriter::new();
    let mut out = Vec::new();
    let mut pos = 0;
    let drain = |rw: &mut Rewriter, out: &mut Vec<u8>| -> io::Result<()> {
        loop {
            rw.process()?;
            let mut space = vec![0u8; out_len];
            let mut dst = ReadBuf::new(&mut space);
            let n = rw.take(&mut dst);
            if n == 0 {
                return Ok(());
            }
            out.extend_from_slice(dst.filled());
        }
    };
    for &c in chunks.iter().chain(std::iter::once(&usize::MAX)) {
        let end = pos + c.min(input.len() - pos);
        rw.push(&input[pos..end]);
        pos = end;
        drain(&mut rw, &mut out)?;
        if pos == input.len() {
            break;
        }
    }
    assert!(rw.block.is_none() && rw.input.is_empty(), "everything consumed");
    Ok(out)
}

fn rewrite(input: &[u8]) -> Vec<u8> {
    rewrite_split(input, &[], 1 << 20).expect("rewrite")
}

#[derive(Debug, PartialEq)]
enum Frame {
    Headers { stream_id: u32, end_stream: bool, headers: Headers },
    Other { kind: u8, flags: u8, stream_id: u32, payload: Vec<u8> },
}

/// Parse the rewriter's output as the server would, checking that header blocks
/// use only "literal without indexing, new name", with no padding or priority.
fn parse_output(out: &[u8]) -> Vec<Frame> {
    assert_eq!(&out[..24], PREFACE);
    let mut dec = loona_hpack::Decoder::new();
    let mut frames = Vec::new();
    let mut rest = &out[24..];
    let mut pending: Option<(u32, bool, Vec<u8>)> = None;
    while !rest.is_empty() {
        let len = (usize::from(rest[0]) << 16) | (usize::from(rest[1]) << 8) | usize::from(rest[2]);
        let (kind, flags) = (rest[3], rest[4]);
        let stream_id = u32::from_be_bytes([rest[5], rest[6], rest[7], rest[8]]);
        let payload = &rest[9..9 + len];
        rest = &rest[9 + len..];
        match kind {
            TYPE_HEADERS | TYPE_CONTINUATION => {
                assert!(len <= MAX_OUT_FRAME);
                if kind == TYPE_HEADERS {
                    assert!(pending.is_none());
                    assert_eq!(flags & (FLAG_PADDED | FLAG_PRIORITY), 0);
                    pending = Some((stream_id, flags & FLAG_END_STREAM != 0, Vec::new()));
                } else {
                    assert_eq!(flags & !FLAG_END_HEADERS, 0);
                }
                let (sid, end_stream, block) = pending.as_mut().expect("HEADERS first");
                assert_eq!(*sid, stream_id);
                block.extend_from_slice(payload);
                if flags & FLAG_END_HEADERS != 0 {
                    let (stream_id, end_stream, block) = (*sid, *end_stream, pending.take().unwrap().2);
                    let mut i = 0;
                    let mut headers = Vec::new();
                    dec.decode_with_cb(&block, |n, v| headers.push((n.to_vec(), v.to_vec()))).unwrap();
                    // Every representation is 0x00 + raw name + raw value.
                    for (n, v) in &headers {
                        assert_eq!(block[i], 0);
                        i += 1;
                        for s in [n, v] {
                            let mut expect = Vec::new();
                            put_string(&mut expect, s);
                            assert_eq!(&block[i..i + expect.len()], &expect[..]);
                            i += expect.len();
                        }
                    }
                    assert_eq!(i, block.len());
                    frames.push(Frame::Headers { stream_id, end_stream, headers });
                }
            }
            _ => frames.push(Frame::Other { kind, flags, stream_id, payload: payload.to_vec() }),
        }
    }
    assert!(pending.is_none());
    frames
}

fn headers_of(frames: &[Frame]) -> Vec<&Headers> {
    frames
        .iter()
        .filter_map(|f| if let Frame::Headers { headers, .. } = f { Some(headers) } else { None })
        .collect()
}

/// A client connection: two requests on one encoder (the second refers to the
/// dynamic table entries the first made), with DATA in between.
fn two_requests() -> (Vec<u8>, Headers, Headers) {
    let mut enc = loona_hpack::Encoder::new();
    let r1 = request("http://127.0.0.1:2379", "/etcdserverpb.Maintenance/Status");
    let r3 = request("http://127.0.0.1:2379", "/etcdserverpb.KV/Range");
    let mut input = PREFACE.to_vec();
    input.extend(settings());
    input.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, &encode(&mut enc, &r1)));
    input.extend(data(1, true, &[0, 0, 0, 0, 0]));
    let b3 = encode(&mut enc, &r3);
    assert_eq!(b3.last(), Some(&0xbe), "the second block refers to the dynamic table (`te`)");
    input.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS, 3, &b3));
    input.extend(data(3, true, &[0, 0, 0, 0, 2, 10, 0]));
    (input, r1, r3)
}

fn fixed(mut h: Headers) -> Headers {
    for (n, v) in &mut h {
        if n == b":authority" {
            *v = fix_authority(v).map(<[u8]>::to_vec).unwrap_or(v.clone());
        }
    }
    h
}

#[test]
fn fix_authority_values() {
    assert_eq!(fix_authority(b"http://127.0.0.1:2379"), Some(&b"127.0.0.1:2379"[..]));
    assert_eq!(fix_authority(b"https://h:1/x?y"), Some(&b"h:1"[..]));
    assert_eq!(fix_authority(b"127.0.0.1:2379"), None);
}

#[test]
fn rewrites_authority_across_dynamic_table_references() {
    let (input, r1, r3) = two_requests();
    let frames = parse_output(&rewrite(&input));
    assert_eq!(frames.len(), 5);
    let hs = headers_of(&frames);
    assert_eq!(hs, vec![&fixed(r1.clone()), &fixed(r3)]);
    assert!(hs[0].contains(&(b":authority".to_vec(), b"127.0.0.1:2379".to_vec())));
    assert_eq!(
        frames[2],
        Frame::Other { kind: 0, flags: FLAG_END_STREAM, stream_id: 1, payload: vec![0, 0, 0, 0, 0] }
    );
}

#[test]
fn every_split_point_and_small_reads_give_the_same_bytes() {
    let (input, _, _) = two_requests();
    let whole = rewrite(&input);
    for cut in 0..=input.len() {
        assert_eq!(rewrite_split(&input, &[cut], 1 << 20).unwrap(), whole, "cut at {cut}");
    }
    let ones = vec![1; input.len()];
    assert_eq!(rewrite_split(&input, &ones, 1).unwrap(), whole);
    assert_eq!(rewrite_split(&input, &ones, 7).unwrap(), whole);
    for cut in 0..=input.len() {
        assert_eq!(rewrite_split(&input, &[cut, 3], 5).unwrap(), whole, "cuts at {cut}, +3");
    }
}

#[test]
fn a_connection_whose_first_authority_is_plain_passes_through_byte_for_byte() {
    let mut enc = loona_hpack::Encoder::new();
    let r1 = request("127.0.0.1:2379", "/etcdserverpb.KV/Range");
    let r3 = request("127.0.0.1:2379", "/etcdserverpb.KV/Put");
    let mut input = PREFACE.to_vec();
    input.extend(settings());
    input.extend(frame(0x8, 0, 0, &[0, 1, 0, 0])); // WINDOW_UPDATE
    input.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, &encode(&mut enc, &r1)));
    input.extend(frame(0x6, 0, 0, &[1, 2, 3, 4, 5, 6, 7, 8])); // PING
                                                               // The second block refers to entries the first one added to the client's table:
                                                               // the server's decoder must see both blocks exactly as the client encoded them.
    input.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS, 3, &encode(&mut enc, &r3)));
    input.extend(data(3, true, &[0, 0, 0, 0, 0]));
    assert_eq!(rewrite(&input), input);
    for cut in 0..=input.len() {
        assert_eq!(rewrite_split(&input, &[cut, 5], 3).unwrap(), input, "cut at {cut}");
    }
}

#[test]
fn a_connection_whose_first_authority_is_a_url_is_rewritten_to_the_end() {
    let mut enc = loona_hpack::Encoder::new();
    let r1 = request("http://127.0.0.1:2379", "/etcdserverpb.KV/Range");
    let r3 = request("127.0.0.1:2379", "/etcdserverpb.KV/Put");
    let mut input = PREFACE.to_vec();
    input.extend(settings());
    input.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, &encode(&mut enc, &r1)));
    input.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 3, &encode(&mut enc, &r3)));
    // parse_output accepts only re-encoded blocks: both were rewritten.
    let frames = parse_output(&rewrite(&input));
    assert_eq!(headers_of(&frames), vec![&fixed(r1), &r3]);
}

#[test]
fn continuation_padding_and_priority() {
    let mut enc = loona_hpack::Encoder::new();
    let r = request("http://localhost:2379", "/etcdserverpb.Maintenance/HashKV");
    let block = encode(&mut enc, &r);
    let (a, b) = block.split_at(10);
    let (b, c) = b.split_at(5);
    // HEADERS: PADDED (pad 3) + PRIORITY, END_STREAM, no END_HEADERS; then two
    // CONTINUATIONs.
    let mut payload = vec![3];
    payload.extend([0x80, 0, 0, 0, 15]);
    payload.extend(a);
    payload.extend([0, 0, 0]);
    let mut input = PREFACE.to_vec();
    input.extend(settings());
    input.extend(frame(TYPE_HEADERS, FLAG_PADDED | FLAG_PRIORITY | FLAG_END_STREAM, 5, &payload));
    input.extend(frame(TYPE_CONTINUATION, 0, 5, b));
    input.extend(frame(TYPE_CONTINUATION, FLAG_END_HEADERS, 5, c));
    let whole = rewrite(&input);
    let frames = parse_output(&whole);
    assert_eq!(frames[1], Frame::Headers { stream_id: 5, end_stream: true, headers: fixed(r) });
    for cut in 0..=input.len() {
        assert_eq!(rewrite_split(&input, &[cut], 4).unwrap(), whole, "cut at {cut}");
    }
}

#[test]
fn large_blocks_are_split_into_continuations() {
    let mut enc = loona_hpack::Encoder::new();
    let mut r = request("http://127.0.0.1:1", "/etcdserverpb.KV/Put");
    r.push((b"x-big".to_vec(), vec![b'a'; 40_000]));
    let block = encode(&mut enc, &r);
    let mut input = PREFACE.to_vec();
    for (i, chunk) in block.chunks(10_000).enumerate() {
        let last = (i + 1) * 10_000 >= block.len();
        let kind = if i == 0 { TYPE_HEADERS } else { TYPE_CONTINUATION };
        input.extend(frame(kind, if last { FLAG_END_HEADERS } else { 0 }, 1, chunk));
    }
    let out = rewrite(&input);
    let frames = parse_output(&out);
    assert_eq!(frames, vec![Frame::Headers { stream_id: 1, end_stream: false, headers: fixed(r) }]);
    // HEADERS + 2 CONTINUATION frames of at most 16 KiB each.
    assert_eq!(out[24 + 3], TYPE_HEADERS);
    assert_eq!(out[24 + 9 + MAX_OUT_FRAME + 3], TYPE_CONTINUATION);
}

/// Huffman codes (RFC 7541 Appendix B) of the characters the test needs.
fn huffman(s: &str) -> Vec<u8> {
    let code = |c: char| -> (u32, u32) {
        match c {
            'h' => (0x27, 6),
            't' => (0x9, 5),
            'p' => (0x2b, 6),
            ':' => (0x5c, 7),
            '/' => (0x18, 6),
            '.' => (0x17, 6),
            '0' => (0x0, 5),
            '1' => (0x1, 5),
            '2' => (0x2, 5),
            '3'..='9' => (0x19 + (c as u32 - '3' as u32), 6),
            _ => panic!("no code for {c}"),
        }
    };
    let (mut acc, mut bits, mut out) = (0u64, 0u32, Vec::new());
    for c in s.chars() {
        let (v, n) = code(c);
        acc = (acc << n) | u64::from(v);
        bits += n;
        while bits >= 8 {
            out.push((acc >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push(((acc << (8 - bits)) as u8) | (0xff >> bits)); // EOS padding
    }
    out
}

#[test]
fn huffman_coded_authority() {
    let url = "http://127.0.0.1:2379";
    let h = huffman(url);
    // :method POST, :scheme http, :path (indexed name 4), :authority (indexed name 1,
    // incremental indexing, Huffman value).
    let mut block = vec![0x83, 0x86, 0x04];
    put_string(&mut block, b"/etcdserverpb.Maintenance/Status");
    block.push(0x41);
    put_integer(&mut block, h.len(), 7, 0x80);
    block.extend(&h);
    assert_eq!(
        loona_hpack::Decoder::new().decode(&block).unwrap()[3],
        (b":authority".to_vec(), url.as_bytes().to_vec()),
        "the test's Huffman coding is right"
    );
    let mut input = PREFACE.to_vec();
    input.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, &block));
    // The next request refers to the indexed authority (index 62).
    input.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS, 3, &[0x83, 0x86, 0x84, 0xbe]));
    let frames = parse_output(&rewrite(&input));
    let hs = headers_of(&frames);
    let authority = (b":authority".to_vec(), b"127.0.0.1:2379".to_vec());
    assert_eq!(hs[0][3], authority);
    assert_eq!(hs[1][3], authority);
}

#[test]
fn not_http2_passes_through_untouched() {
    let input = b"GET / HTTP/1.1\r\nHost: http://x\r\n\r\n".to_vec();
    for cut in 0..=input.len() {
        assert_eq!(rewrite_split(&input, &[cut], 3).unwrap(), input);
    }
}

#[test]
fn broken_framing_is_an_error() {
    let mut enc = loona_hpack::Encoder::new();
    let block = encode(&mut enc, &request("http://a:1", "/x"));
    let mut input = PREFACE.to_vec();
    input.extend(frame(TYPE_HEADERS, 0, 1, &block));
    input.extend(data(1, true, &[]));
    assert!(rewrite_split(&input, &[], 1024).is_err());

    let mut input = PREFACE.to_vec();
    input.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, &[0xff, 0xff, 0xff, 0x0f])); // bad index
    assert!(rewrite_split(&input, &[], 1024).is_err());

    let mut input = PREFACE.to_vec();
    input.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS | FLAG_PADDED, 1, &[9, 0x83]));
    assert!(rewrite_split(&input, &[], 1024).is_err());
}

#[test]
fn eof_mid_block_hands_on_the_original_bytes() {
    let mut enc = loona_hpack::Encoder::new();
    let block = encode(&mut enc, &request("http://a:1", "/x"));
    let mut input = PREFACE.to_vec();
    input.extend(frame(TYPE_HEADERS, 0, 1, &block));
    input.extend(&[0, 0]); // a partial frame header
    let mut rw = Rewriter::new();
    rw.push(&input);
    rw.process().unwrap();
    rw.finish();
    let mut space = vec![0u8; 4096];
    let mut dst = ReadBuf::new(&mut space);
    rw.take(&mut dst);
    assert_eq!(dst.filled(), &input[..]);
}

#[tokio::test]
async fn adapter_reads_through_a_stream() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (input, r1, r3) = two_requests();
    let expect = rewrite(&input);
    let (mut client, server) = tokio::io::duplex(7);
    let writer = tokio::spawn(async move {
        for chunk in input.chunks(5) {
            client.write_all(chunk).await.unwrap();
        }
        client.shutdown().await.unwrap();
    });
    let mut fix = AuthorityFix::new(server);
    let mut got = Vec::new();
    let mut buf = [0u8; 3];
    loop {
        let n = fix.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    writer.await.unwrap();
    assert_eq!(got, expect);
    assert_eq!(headers_of(&parse_output(&got)), vec![&fixed(r1), &fixed(r3)]);
}
