//! CreateAcls / DescribeAcls / DeleteAcls on a broker without an authorizer: advertised and
//! answered with SECURITY_DISABLED, as Apache Kafka does when `authorizer.class.name` is unset,
//! so admin tools say "security is disabled" rather than "unsupported version".

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;

/// Kafka's message for the case.
const NO_AUTHORIZER: &str = "No Authorizer is configured on the broker";

fn disabled() -> (i16, Option<StrBytes>) {
    (
        ResponseError::SecurityDisabled.code(),
        Some(StrBytes::from_static_str(NO_AUTHORIZER)),
    )
}

pub fn create(req: &CreateAclsRequest) -> CreateAclsResponse {
    let (code, message) = disabled();
    CreateAclsResponse::default().with_results(
        req.creations
            .iter()
            .map(|_| {
                AclCreationResult::default()
                    .with_error_code(code)
                    .with_error_message(message.clone())
            })
            .collect(),
    )
}

pub fn describe(_req: &DescribeAclsRequest) -> DescribeAclsResponse {
    let (code, message) = disabled();
    DescribeAclsResponse::default()
        .with_error_code(code)
        .with_error_message(message)
}

pub fn delete(req: &DeleteAclsRequest) -> DeleteAclsResponse {
    let (code, message) = disabled();
    DeleteAclsResponse::default().with_filter_results(
        req.filters
            .iter()
            .map(|_| {
                DeleteAclsFilterResult::default()
                    .with_error_code(code)
                    .with_error_message(message.clone())
            })
            .collect(),
    )
}
