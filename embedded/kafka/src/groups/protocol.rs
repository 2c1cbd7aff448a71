//! Version-independent requests and answers of the membership APIs, passed between the wire
//! handlers and the coordinator.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

/// Answer to a JoinGroup, independent of the wire version.
#[derive(Debug, Clone, Default)]
pub struct JoinReply {
    pub error: Option<ResponseError>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// `(member id, instance id, metadata)`; only the leader gets them.
    pub members: Vec<(String, Option<String>, Bytes)>,
    /// KIP-814 (JoinGroup v9+): a static leader that rejoined a stable group gets the members
    /// but must not assign (the group keeps its assignment).
    pub skip_assignment: bool,
}

impl JoinReply {
    pub(super) fn error(e: ResponseError, member_id: &str) -> Self {
        Self {
            error: Some(e),
            generation: -1,
            member_id: member_id.to_owned(),
            ..Self::default()
        }
    }
}

/// Answer to a SyncGroup.
#[derive(Debug, Clone, Default)]
pub struct SyncReply {
    pub error: Option<ResponseError>,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub assignment: Bytes,
}

impl SyncReply {
    pub(super) fn error(e: ResponseError) -> Self {
        Self {
            error: Some(e),
            ..Self::default()
        }
    }
}

/// Either an answer now or one that arrives when the rebalance step completes.
pub enum Reply<T> {
    Now(T),
    Later(oneshot::Receiver<T>),
}

/// A JoinGroup request, decoupled from its wire version.
#[derive(Debug, Clone)]
pub struct JoinArgs {
    pub group_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: an unknown joiner first gets MEMBER_ID_REQUIRED (KIP-394).
    pub require_known_member_id: bool,
}
