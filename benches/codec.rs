//! Protobuf micro-benchmarks (criterion; numbers in docs/performance.md): prost
//! encode and decode of etcd's messages (`proto::etcdserverpb`), and the
//! `server::convert` step between them and the core requests.
//!
//! Messages: a PutRequest (35 B key, 128 B value); a RangeResponse of 10 KVs with a
//! header; a TxnRequest as Kubernetes sends it (`mod_revision == r` then put else
//! get). Encoding reuses one buffer, as tonic's encoder does; decoding reads from a
//! `&[u8]`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use metastore::mvcc::{
    Compare, CompareResult, CompareTarget, KeyValue, PutRequest, RangeRequest, RangeResponse, RequestOp,
    TxnRequest,
};
use metastore::proto::etcdserverpb as pb;
use metastore::server::convert;
use prost::Message;

const VALUE_BYTES: usize = 128;

fn key(i: usize) -> Vec<u8> {
    format!("/registry/pods/default/pod-{i:08}").into_bytes()
}

fn put_request() -> PutRequest {
    PutRequest { key: key(1), value: vec![b'v'; VALUE_BYTES], ..Default::default() }
}

fn range_response() -> RangeResponse {
    let kvs = (0..10)
        .map(|i| KeyValue {
            key: key(i),
            create_revision: 1_000 + i as i64,
            mod_revision: 2_000 + i as i64,
            version: 3,
            value: vec![b'v'; VALUE_BYTES],
            lease: 0,
        })
        .collect();
    RangeResponse { kvs, more: false, count: 10 }
}

fn header() -> pb::ResponseHeader {
    pb::ResponseHeader {
        cluster_id: 0x8e9e_05c5_2164_694d,
        member_id: 0x10c2_e3a4_5b2c_d8a1,
        revision: 123_456,
        raft_term: 7,
    }
}

fn cas_txn() -> TxnRequest {
    TxnRequest {
        compare: vec![Compare {
            result: CompareResult::Equal,
            target: CompareTarget::Mod(123_456),
            key: key(1),
            range_end: Vec::new(),
        }],
        success: vec![RequestOp::Put(put_request())],
        failure: vec![RequestOp::Range(RangeRequest { key: key(1), ..Default::default() })],
    }
}

/// encode (into a reused buffer) and decode of one message.
fn bench_message<M: Message + Default>(c: &mut Criterion, name: &str, msg: &M) {
    let mut group = c.benchmark_group(format!("proto/{name}"));
    let bytes = msg.encode_to_vec();
    let mut buf = Vec::with_capacity(bytes.len());
    group.bench_function("encode", |b| {
        b.iter(|| {
            buf.clear();
            black_box(msg).encode(&mut buf).expect("buffer grows");
            black_box(&buf);
        })
    });
    group.bench_function("decode", |b| b.iter(|| M::decode(black_box(&bytes[..])).expect("decode")));
    group.finish();
    println!("proto/{name}: {} bytes encoded", bytes.len());
}

fn bench_proto(c: &mut Criterion) {
    bench_message(c, "put_request", &convert::put_request_to_pb(put_request()));
    bench_message(c, "range_response_10kvs", &convert::range_response_to_pb(range_response(), header()));
    bench_message(c, "txn_request_cas", &convert::txn_request_to_pb(cas_txn()));
}

/// The server's conversions; each takes its input by value (moving the bytes), so a
/// fresh clone is made outside the timing.
fn bench_convert(c: &mut Criterion) {
    let mut group = c.benchmark_group("convert");
    let put = convert::put_request_to_pb(put_request());
    group.bench_function("put_request_from_pb", |b| {
        b.iter_batched(|| put.clone(), |p| convert::put_request(p).expect("put"), BatchSize::SmallInput)
    });
    let txn = convert::txn_request_to_pb(cas_txn());
    group.bench_function("txn_request_from_pb", |b| {
        b.iter_batched(|| txn.clone(), |t| convert::txn_request(t).expect("txn"), BatchSize::SmallInput)
    });
    let range = range_response();
    group.bench_function("range_response_10kvs_to_pb", |b| {
        b.iter_batched(
            || range.clone(),
            |r| convert::range_response_to_pb(r, header()),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_proto, bench_convert);
criterion_main!(benches);
