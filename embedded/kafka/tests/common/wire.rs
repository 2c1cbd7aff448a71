//! Raw Kafka requests for tests that need what no client sends (timestamps of -1, explicit
//! replica assignments, exact fetch limits): one request, one response, over a fresh socket.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// Sends `req` at `version` and decodes its response.
pub fn call<R: Request>(bootstrap: &str, version: i16, req: &R) -> R::Response {
    let mut header = RequestHeader::default();
    header.request_api_key = R::KEY;
    header.request_api_version = version;
    header.correlation_id = 1;
    header.client_id = Some(StrBytes::from_static_str("wire-test"));
    let mut body = BytesMut::new();
    header
        .encode(&mut body, R::header_version(version))
        .expect("header encodes");
    req.encode(&mut body, version).expect("request encodes");
    let mut s = TcpStream::connect(bootstrap).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(&(body.len() as i32).to_be_bytes()).unwrap();
    s.write_all(&body).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("response length");
    let mut resp = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut resp).expect("response body");
    let mut resp = Bytes::from(resp);
    let h = ResponseHeader::decode(&mut resp, R::Response::header_version(version)).unwrap();
    assert_eq!(h.correlation_id, 1);
    R::Response::decode(&mut resp, version).expect("response decodes")
}

/// One record batch (magic 2, no producer) of `(key, value, timestamp)` records.
pub fn batch(records: &[(Option<&str>, &str, i64)]) -> Bytes {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v, ts))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch when `offset - sequence` changes; `i - 1` keeps
            // one batch (Produce v3+ allows exactly one) whose base sequence is -1 (no producer).
            sequence: i as i32 - 1,
            timestamp: *ts,
            key: k.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            headers: kafka_protocol::indexmap::IndexMap::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &options).expect("batch encodes");
    buf.freeze()
}

/// The node id of the broker at `bootstrap` (0 for the embedded broker, 1.. for Apache Kafka).
pub fn node_id(bootstrap: &str) -> i32 {
    use kafka_protocol::messages::MetadataRequest;
    call(
        bootstrap,
        9,
        &MetadataRequest::default().with_topics(Some(vec![])),
    )
    .brokers
    .first()
    .map(|b| b.node_id.0)
    .expect("a broker in Metadata")
}

/// Waits until every partition of `topic` has a leader: Apache Kafka answers CreateTopics
/// before its partitions can take produce requests.
pub fn await_leaders(bootstrap: &str, topic: &str) {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::{MetadataRequest, TopicName};
    let req = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
            TopicName(StrBytes::from_string(topic.to_owned())),
        ))]))
        .with_allow_auto_topic_creation(false);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let md = call(bootstrap, 9, &req);
        let ready = md.topics.first().is_some_and(|t| {
            t.error_code == 0
                && !t.partitions.is_empty()
                && t.partitions
                    .iter()
                    .all(|p| p.error_code == 0 && p.leader_id.0 >= 0)
        });
        if ready {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{topic}: no leaders after 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
