//! The registry calls both the codec and registration make, through schema_registry_converter,
//! and the classification of what went wrong.

use std::error::Error as _;
use std::time::Duration;

use schema_registry_converter::async_impl::schema_registry::{
    SrSettings, get_schema_by_id, perform_sr_call, post_schema,
};
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{
    RawError, SchemaType, SrCall, SuppliedSchema,
};

/// Confluent error codes we act on.
pub(crate) const SUBJECT_NOT_FOUND: u32 = 40401;
pub(crate) const SCHEMA_NOT_FOUND: u32 = 40403;

/// How a registry call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No HTTP answer (connection refused, timeout) or a 502/503 from a proxy in front of it.
    Unreachable(String),
    /// The registry answered with a Confluent error body.
    Answered { code: u32, message: String },
    /// Anything else (an answer that is not a registry's, an unparsable body).
    Other(String),
}

impl Failure {
    fn from_src(e: &SRCError) -> Self {
        if let Some(raw) = e.source().and_then(|s| s.downcast_ref::<RawError>())
            && raw.error_code != 0
        {
            return Failure::Answered {
                code: raw.error_code,
                message: raw.message.clone(),
            };
        }
        let text = match &e.cause {
            Some(cause) => format!("{}: {cause}", e.error),
            None => e.error.clone(),
        };
        if e.retriable {
            Failure::Unreachable(text)
        } else {
            Failure::Other(text)
        }
    }

    pub(crate) fn code(&self) -> Option<u32> {
        match self {
            Failure::Answered { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub(crate) fn message(&self) -> String {
        match self {
            Failure::Unreachable(m) | Failure::Other(m) => m.clone(),
            Failure::Answered { code, message } => format!("{message} (error_code {code})"),
        }
    }
}

/// Registry settings with a request timeout, so a hung registry fails instead of hanging.
pub(crate) fn settings(url: &str) -> SrSettings {
    SrSettings::new_builder(url.trim_end_matches('/').to_owned())
        .set_timeout(Duration::from_secs(10))
        .build()
        .expect("building the registry HTTP client")
}

fn supplied(record_name: &str, text: &str) -> SuppliedSchema {
    SuppliedSchema::new(
        Some(record_name.to_owned()),
        SchemaType::Avro,
        text.to_owned(),
    )
}

/// `POST /subjects/{subject}`: the id of `text` under `subject`, without registering it.
pub(crate) async fn lookup(sr: &SrSettings, subject: &str, text: &str) -> Result<u32, Failure> {
    let body = serde_json::json!({"schema": text, "schemaType": "AVRO"}).to_string();
    let raw = perform_sr_call(sr, SrCall::PostForVersion(subject, &body))
        .await
        .map_err(|e| Failure::from_src(&e))?;
    raw.id
        .ok_or_else(|| Failure::Other(format!("lookup under {subject}: answer has no id")))
}

/// `POST /subjects/{subject}/versions`: registers `text` (idempotent) and returns its id.
pub(crate) async fn register(
    sr: &SrSettings,
    subject: &str,
    record_name: &str,
    text: &str,
) -> Result<u32, Failure> {
    post_schema(sr, subject.to_owned(), supplied(record_name, text))
        .await
        .map(|r| r.id)
        .map_err(|e| Failure::from_src(&e))
}

/// `GET /schemas/ids/{id}`: the schema text; fails unless it is an Avro schema.
pub(crate) async fn schema_by_id(sr: &SrSettings, id: u32) -> Result<String, Failure> {
    let registered = get_schema_by_id(id, sr)
        .await
        .map_err(|e| Failure::from_src(&e))?;
    if registered.schema_type != SchemaType::Avro {
        return Err(Failure::Other(format!(
            "schema id {id} is {:?}, not Avro",
            registered.schema_type
        )));
    }
    Ok(registered.schema)
}
