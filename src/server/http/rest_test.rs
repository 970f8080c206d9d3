use super::*;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.insert(
            header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    h
}

#[test]
fn percent_decoding_is_strict() {
    assert_eq!(percent_decode("a/b%20c").unwrap(), b"a/b c");
    assert_eq!(percent_decode("%00%ff%FF").unwrap(), vec![0, 0xff, 0xff]);
    assert_eq!(percent_decode("").unwrap(), b"");
    for bad in ["%", "%4", "%zz", "a%g0", "%+1"] {
        let err = percent_decode(bad).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{bad}");
        assert!(err.message().contains("bad percent-encoding"), "{bad}: {}", err.message());
    }
}

#[test]
fn prefix_end_is_etcds() {
    assert_eq!(prefix_end(b"a"), b"b");
    assert_eq!(prefix_end(b"a\xff"), b"b");
    assert_eq!(prefix_end(b"\xff\xff"), b"\0");
    assert_eq!(prefix_end(b"dir/"), b"dir0");
}

#[test]
fn preconditions_from_headers() {
    assert_eq!(precondition(&headers(&[])).unwrap(), None);
    assert_eq!(precondition(&headers(&[("if-match", "12")])).unwrap(), Some(Precondition::ModRevision(12)));
    assert_eq!(
        precondition(&headers(&[("if-match", "\"12\"")])).unwrap(),
        Some(Precondition::ModRevision(12))
    );
    assert_eq!(
        precondition(&headers(&[("if-match", "W/\"7\"")])).unwrap(),
        Some(Precondition::ModRevision(7))
    );
    assert_eq!(precondition(&headers(&[("if-match", "*")])).unwrap(), Some(Precondition::Exists));
    assert_eq!(precondition(&headers(&[("if-none-match", "*")])).unwrap(), Some(Precondition::Absent));
    for bad in [
        vec![("if-match", "abc")],
        vec![("if-match", "-1")],
        vec![("if-none-match", "12")],
        vec![("if-match", "1"), ("if-none-match", "*")],
    ] {
        let err = precondition(&headers(&bad)).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{bad:?}");
    }
}

#[test]
fn member_add_bodies() {
    let add = member_add_request(br#"{"peer_urls": ["http://127.0.0.1:2380"]}"#).unwrap();
    assert_eq!(add.peer_ur_ls, vec!["http://127.0.0.1:2380".to_string()]);
    assert!(!add.is_learner);
    let add = member_add_request(br#"{"peerURLs": ["http://a:1"], "isLearner": true}"#).unwrap();
    assert!(add.is_learner);
    for bad in
        [&b"not json"[..], b"[]", b"{}", br#"{"peer_urls": [1]}"#, br#"{"peer_urls": [], "is_learner": 1}"#]
    {
        let err = member_add_request(bad).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn sse_frames_of_events_progress_and_cancel() {
    let kv = |key: &[u8], value: &[u8], rev: i64| mvccpb::KeyValue {
        key: key.to_vec(),
        value: value.to_vec(),
        create_revision: 2,
        mod_revision: rev,
        version: 1,
        lease: 0,
    };
    let header = Some(pb::ResponseHeader { revision: 9, ..Default::default() });
    let events = pb::WatchResponse {
        header,
        events: vec![
            mvccpb::Event { r#type: 0, kv: Some(kv(b"k", b"v", 8)), prev_kv: None },
            mvccpb::Event { r#type: 1, kv: Some(kv(b"\xff", b"", 9)), prev_kv: Some(kv(b"\xff", b"old", 8)) },
        ],
        ..Default::default()
    };
    let text = String::from_utf8(sse_frames(&events).to_vec()).unwrap();
    let frames: Vec<&str> = text.split_terminator("\n\n").collect();
    assert_eq!(frames.len(), 2, "{text}");
    assert!(frames[0].starts_with("event: put\nid: 8\ndata: {"), "{}", frames[0]);
    assert!(frames[0].contains(r#""key":"k""#) && frames[0].contains(r#""value":"v""#), "{}", frames[0]);
    assert!(frames[1].starts_with("event: delete\nid: 9\ndata: {"), "{}", frames[1]);
    assert!(frames[1].contains(r#""key_base64":"/w==""#), "not UTF-8: base64: {}", frames[1]);
    assert!(frames[1].contains(r#""prev_kv":{"#), "{}", frames[1]);

    let progress = pb::WatchResponse { header, ..Default::default() };
    assert_eq!(&sse_frames(&progress)[..], b": progress 9\n\n");
    let cancel = pb::WatchResponse {
        header,
        canceled: true,
        compact_revision: 5,
        cancel_reason: "mvcc: required revision has been compacted".into(),
        ..Default::default()
    };
    let text = String::from_utf8(sse_frames(&cancel).to_vec()).unwrap();
    assert!(text.starts_with("event: error\ndata: {"), "{text}");
    assert!(text.contains(r#""compact_revision":5"#) && text.contains("compacted"), "{text}");
    let compacted = pb::WatchResponse { canceled: true, compact_revision: 3, ..Default::default() };
    let text = String::from_utf8(sse_frames(&compacted).to_vec()).unwrap();
    assert!(
        text.contains("mvcc: required revision has been compacted"),
        "etcd cancels with the revision alone: {text}"
    );
}
