//! ApiVersions: the ranges from `dispatch::SUPPORTED`, after Kafka's check of the client
//! software fields that v3+ carries (KIP-511).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use crate::dispatch::SUPPORTED;

/// The ranges of every API; with UNSUPPORTED_VERSION only ApiVersions' own (Kafka's
/// `ApiVersionsRequest.getErrorResponse`).
pub fn handle(error: Option<ResponseError>) -> ApiVersionsResponse {
    let api_keys = SUPPORTED
        .iter()
        .filter(|(key, _)| {
            error != Some(ResponseError::UnsupportedVersion)
                || *key == kafka_protocol::messages::ApiKey::ApiVersions
        })
        .map(|(key, max)| {
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(key.valid_versions().min)
                .with_max_version(*max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(super::code(error))
        .with_api_keys(api_keys)
        .with_finalized_features_epoch(-1)
}

/// Kafka's `ApiVersionsRequest.isValid`: from v3 the client software name and version must
/// match `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`; otherwise the answer is INVALID_REQUEST
/// with no ranges.
pub fn answer(req: &ApiVersionsRequest, version: i16) -> ApiVersionsResponse {
    if version >= 3
        && !(valid_software_field(&req.client_software_name)
            && valid_software_field(&req.client_software_version))
    {
        return ApiVersionsResponse::default()
            .with_error_code(super::code(Some(ResponseError::InvalidRequest)))
            .with_finalized_features_epoch(-1);
    }
    handle(None)
}

fn valid_software_field(s: &str) -> bool {
    let b = s.as_bytes();
    let inner = |c: &u8| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.';
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() && b.iter().all(inner)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::valid_software_field;

    #[test]
    fn software_fields_follow_kafkas_pattern() {
        for ok in [
            "a",
            "librdkafka",
            "2.16.0",
            "apache-kafka-java",
            "v1.2-rc.3",
        ] {
            assert!(valid_software_field(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", ".1", "1.", "a b", "a_b", "é"] {
            assert!(!valid_software_field(bad), "{bad:?}");
        }
    }
}
