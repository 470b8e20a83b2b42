//! Request decode / response encode for Produce and Fetch with a 16 KiB batch, at the
//! versions librdkafka 2.12 uses (Produce v10, Fetch v16; see protocol-fixtures/). Each
//! pair is benched both ways: the broker's side (decode ProduceRequest via
//! `protocol::parse_request` + `decode_body`; encode FetchResponse via
//! `protocol::encode_response`) and the client's side (encode the request, decode the
//! response), so codec cost can be compared with the client's.
//!
//! `cargo bench --bench codec`

mod common;

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, FetchResponse, ProduceRequest, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use vltava::protocol::{decode_body, encode_response, parse_request};

const PRODUCE_V: i16 = 10;
const FETCH_V: i16 = 16;
const NOW: i64 = 1_700_000_000_000;

fn produce_request(batch: &Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("bench-topic")))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch.clone())),
                ]),
        ])
}

/// A request frame as it arrives on the socket, without the 4-byte size prefix.
fn produce_frame(req: &ProduceRequest) -> Bytes {
    let hv = ApiKey::Produce.request_header_version(PRODUCE_V);
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(PRODUCE_V)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("rdkafka")));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, hv).unwrap();
    req.encode(&mut buf, PRODUCE_V).unwrap();
    buf.freeze()
}

fn fetch_response(batch: &Bytes) -> FetchResponse {
    FetchResponse::default().with_responses(vec![
        FetchableTopicResponse::default()
            .with_topic_id(uuid::Uuid::from_u128(0x1234_5678))
            .with_partitions(vec![
                PartitionData::default()
                    .with_partition_index(0)
                    .with_high_watermark(1_000_000)
                    .with_last_stable_offset(1_000_000)
                    .with_log_start_offset(0)
                    .with_records(Some(batch.clone())),
            ]),
    ])
}

fn codec(c: &mut Criterion) {
    let batch = Bytes::from(common::batch_of_size(16 * 1024, 100, NOW));
    let req = produce_request(&batch);
    let frame = produce_frame(&req);
    let resp = fetch_response(&batch);
    let resp_frame = encode_response(ApiKey::Fetch, FETCH_V, 7, &resp).unwrap();

    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Bytes(batch.len() as u64));
    g.bench_function(
        "ProduceRequest v10 decode (broker: parse_request + decode_body)",
        |b| {
            b.iter(|| {
                let mut r = parse_request(black_box(frame.clone())).unwrap();
                let msg: ProduceRequest = decode_body(&mut r.body, r.version).unwrap();
                black_box(msg)
            })
        },
    );
    g.bench_function("ProduceRequest v10 encode (client)", |b| {
        b.iter(|| {
            let mut buf = BytesMut::with_capacity(frame.len());
            black_box(&req).encode(&mut buf, PRODUCE_V).unwrap();
            black_box(buf)
        })
    });
    g.bench_function("FetchResponse v16 encode (broker: encode_response)", |b| {
        b.iter(|| black_box(encode_response(ApiKey::Fetch, FETCH_V, 7, black_box(&resp)).unwrap()))
    });
    g.bench_function("FetchResponse v16 decode (client)", |b| {
        b.iter(|| {
            let mut buf = black_box(resp_frame.clone());
            let hv = ApiKey::Fetch.response_header_version(FETCH_V);
            ResponseHeader::decode(&mut buf, hv).unwrap();
            black_box(FetchResponse::decode(&mut buf, FETCH_V).unwrap())
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::quick();
    targets = codec
}
criterion_main!(benches);
