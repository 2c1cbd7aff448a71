//! Wire-level robustness: hostile frames close one connection, never the broker, and the
//! request decoder never panics (property-tested over every API and version we accept).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use common::TestBroker;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, StrBytes, encode_request_header_into_buffer};
use proptest::prelude::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use techpotli_kafka::dispatch::{SUPPORTED, decode};

fn connect(b: &TestBroker) -> TcpStream {
    let s = TcpStream::connect(&b.bootstrap).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// The broker still answers a real client.
fn assert_serving(b: &TestBroker) {
    let c: BaseConsumer = common::config(&b.bootstrap, &[]).create().unwrap();
    c.fetch_metadata(None, Duration::from_secs(5))
        .expect("broker still serves metadata");
}

fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(0) | Err(_))
}

#[test]
fn oversized_frame_closes_only_that_connection() {
    let b = TestBroker::start();
    let mut s = connect(&b);
    s.write_all(&(200 * 1024 * 1024i32).to_be_bytes()).unwrap();
    assert!(closed(&mut s));
    let mut neg = connect(&b);
    neg.write_all(&(-5i32).to_be_bytes()).unwrap();
    assert!(closed(&mut neg));
    assert_serving(&b);
}

#[test]
/// KIP-511, as Kafka does it: UNSUPPORTED_VERSION in v0 with the ApiVersions range alone, so
/// the client retries at a version both know.
fn unsupported_api_versions_version_gets_a_v0_answer_with_its_own_range() {
    let b = TestBroker::start();
    let mut s = connect(&b);
    let mut header = RequestHeader::default();
    header.request_api_key = ApiKey::ApiVersions as i16;
    header.request_api_version = 99;
    header.correlation_id = 7;
    header.client_id = Some(StrBytes::from_static_str("probe"));
    let mut body = BytesMut::new();
    encode_request_header_into_buffer(&mut body, &header).unwrap();
    body.put_u8(0); // empty tagged fields of a flexible request body
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.extend_from_slice(&body);
    s.write_all(&frame).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut resp = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut resp).unwrap();
    let mut resp = Bytes::from(resp);
    let h = ResponseHeader::decode(&mut resp, 0).unwrap();
    assert_eq!(h.correlation_id, 7);
    let v = ApiVersionsResponse::decode(&mut resp, 0).unwrap();
    assert_eq!(v.error_code, 35, "UNSUPPORTED_VERSION");
    let keys: Vec<(i16, i16)> = v
        .api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version))
        .collect();
    assert_eq!(keys, vec![(ApiKey::ApiVersions as i16, 0)]);
    assert!(v.api_keys[0].max_version >= 3);
}

#[test]
fn random_frames_never_take_the_broker_down() {
    let b = TestBroker::start();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 300,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &(
                0i16..80,
                -2i16..20,
                proptest::collection::vec(any::<u8>(), 0..256),
            ),
            |(key, version, body)| {
                let mut s = connect(&b);
                let mut frame = BytesMut::new();
                frame.put_i32(body.len() as i32 + 8);
                frame.put_i16(key);
                frame.put_i16(version);
                frame.put_i32(1);
                frame.extend_from_slice(&body);
                let _ = s.write_all(&frame);
                let mut sink = [0u8; 1024];
                let _ = s.read(&mut sink);
                Ok(())
            },
        )
        .unwrap();
    assert_serving(&b);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn decoder_never_panics(which in 0usize..SUPPORTED.len(), version_pick in any::<u16>(), body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let (key, max) = SUPPORTED[which];
        let min = key.valid_versions().min;
        let version = min + (version_pick % (max - min + 1) as u16) as i16;
        let mut bytes = Bytes::from(body);
        let _ = decode(key, &mut bytes, version);
    }
}

/// KIP-511: ApiVersions v3+ names the client's software; a name or version that is empty or
/// not of `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?` is INVALID_REQUEST, as on Kafka.
#[test]
fn api_versions_v3_checks_the_client_software_fields() {
    use common::wire::call;
    use kafka_protocol::messages::ApiVersionsRequest;
    let b = TestBroker::start();
    let ask = |name: &'static str, version: &'static str| {
        call(
            &b.bootstrap,
            3,
            &ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str(name))
                .with_client_software_version(StrBytes::from_static_str(version)),
        )
    };
    let ok = ask("librdkafka", "2.16.0");
    assert_eq!(ok.error_code, 0);
    assert!(!ok.api_keys.is_empty());
    for (name, version) in [
        ("", "1.0"),
        ("librdkafka", ""),
        ("bad name", "1"),
        ("x", "-1"),
    ] {
        let r = ask(name, version);
        assert_eq!(r.error_code, 42, "INVALID_REQUEST for {name:?} {version:?}");
    }
}
