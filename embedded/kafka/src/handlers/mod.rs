//! One module per API family; each turns a decoded request into its response.

pub mod acls;
pub mod admin;
pub mod api_versions;
pub mod fetch;
pub mod groups;
pub mod metadata;
pub mod offsets;
pub mod produce;
pub mod records;
pub mod txn;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

/// Error code for an optional error.
pub fn code(e: Option<ResponseError>) -> i16 {
    e.map_or(0, |e| e.code())
}

/// Error code for a unit result.
pub fn code_of<T>(r: &Result<T, ResponseError>) -> i16 {
    r.as_ref()
        .err()
        .map_or(0, kafka_protocol::ResponseError::code)
}

pub fn sb(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

pub fn topic_name(s: impl Into<String>) -> TopicName {
    TopicName(sb(s))
}
