//! What can go wrong encoding or decoding a framed value; each kind is a DLQ class.

use crate::registry::{Failure, SCHEMA_NOT_FOUND, SUBJECT_NOT_FOUND};

/// A failure of [`super::Codec`]. [`CodecError::class`] names the kind for DLQ headers and
/// metrics; [`CodecError::is_transient`] says whether retrying later may succeed (the registry
/// being down is not the record's fault and should not dead-letter it).
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not a Confluent-framed value: shorter than 5 bytes or magic byte not 0.
    #[error("not a Confluent-framed Avro value: {reason}")]
    NotFramed { reason: String },
    /// The frame names a schema id the registry does not have.
    #[error("schema id {id} is not known to the schema registry")]
    UnknownSchemaId { id: u32 },
    /// The bytes do not decode with the writer schema the frame names (or that schema is
    /// unusable: not Avro, unparsable).
    #[error("cannot decode the Avro value with writer schema id {id}: {message}")]
    Decode { id: u32, message: String },
    /// The value decoded with its writer schema but cannot be resolved into the reader type's
    /// schema (the writer schema is not compatible with ours).
    #[error("writer schema id {id} cannot be read as {record}: {message}")]
    Incompatible {
        id: u32,
        record: String,
        message: String,
    },
    /// The value does not serialize with its own schema (a bug in the value or the type).
    #[error("cannot encode {record}: {message}")]
    Encode { record: String, message: String },
    /// The type's schema is not registered under the subject, and auto-registration is off.
    #[error("the schema of {record} is not registered under subject {subject}")]
    NotRegistered { subject: String, record: String },
    /// No answer from the registry (connection refused, timeout, 502/503).
    #[error("schema registry at {url} unreachable: {message}")]
    RegistryUnreachable { url: String, message: String },
    /// The registry answered with an error we do not map above, e.g. 409 (incompatible) when
    /// auto-registering, 422 (invalid schema), 5xx.
    #[error("schema registry at {url} refused: {message}")]
    Registry {
        url: String,
        code: Option<u32>,
        message: String,
    },
}

impl CodecError {
    /// A short stable name of the kind of failure, for the `error.class` DLQ header and metrics.
    pub fn class(&self) -> &'static str {
        match self {
            CodecError::NotFramed { .. } => "not-framed",
            CodecError::UnknownSchemaId { .. } => "unknown-schema-id",
            CodecError::Decode { .. } => "avro-decode",
            CodecError::Incompatible { .. } => "schema-incompatible",
            CodecError::Encode { .. } => "avro-encode",
            CodecError::NotRegistered { .. } => "schema-not-registered",
            CodecError::RegistryUnreachable { .. } => "registry-unreachable",
            CodecError::Registry { .. } => "registry-error",
        }
    }

    /// Whether the same call may succeed later: the registry was unreachable or answered 5xx.
    /// Such failures should be retried with backoff, not dead-lettered.
    pub fn is_transient(&self) -> bool {
        match self {
            CodecError::RegistryUnreachable { .. } => true,
            CodecError::Registry { code, .. } => code.is_some_and(|c| c >= 50000),
            _ => false,
        }
    }

    /// A registry failure while looking up / registering a schema under `subject`.
    pub(crate) fn from_subject_failure(url: &str, subject: &str, record: &str, f: Failure) -> Self {
        match f.code() {
            Some(SUBJECT_NOT_FOUND | SCHEMA_NOT_FOUND) => CodecError::NotRegistered {
                subject: subject.to_owned(),
                record: record.to_owned(),
            },
            _ => Self::from_other_failure(url, f),
        }
    }

    /// A registry failure while fetching the writer schema `id`.
    pub(crate) fn from_id_failure(url: &str, id: u32, f: Failure) -> Self {
        match f.code() {
            Some(SCHEMA_NOT_FOUND) => CodecError::UnknownSchemaId { id },
            _ => Self::from_other_failure(url, f),
        }
    }

    fn from_other_failure(url: &str, f: Failure) -> Self {
        match f {
            Failure::Unreachable(message) => CodecError::RegistryUnreachable {
                url: url.to_owned(),
                message,
            },
            f => CodecError::Registry {
                url: url.to_owned(),
                code: f.code(),
                message: f.message(),
            },
        }
    }
}
