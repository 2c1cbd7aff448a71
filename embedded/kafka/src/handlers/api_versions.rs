//! ApiVersions: the ranges from `dispatch::SUPPORTED`.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiVersionsResponse;
use kafka_protocol::messages::api_versions_response::ApiVersion;

use crate::dispatch::SUPPORTED;

pub fn handle(error: Option<ResponseError>) -> ApiVersionsResponse {
    let api_keys = SUPPORTED
        .iter()
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
