//! Registering every value schema under its subject, and checking working-tree schemas for
//! compatibility with what is registered. The caller passes `(topic, schema file)` pairs (the
//! CLI takes them from the topic catalogue); subjects follow the TopicNameStrategy.

use serde_json::json;

use crate::registry::{self, Failure, SUBJECT_NOT_FOUND};
use crate::{avsc, codec};

/// A registration or check that could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// A pair names a file that is not in `schemas/avro/`.
    #[error("topic {topic}: no schema file {file:?} in schemas/avro")]
    UnknownSchemaFile { topic: String, file: String },
    /// No answer from the registry.
    #[error("schema registry at {url} unreachable: {message}")]
    RegistryUnreachable { url: String, message: String },
    /// The registry refused (e.g. 409: incompatible with the registered versions, 422: invalid).
    #[error("subject {subject}: the registry refused: {message}")]
    Refused {
        subject: String,
        code: Option<u32>,
        message: String,
    },
}

impl RegistrationError {
    fn from_failure(url: &str, subject: &str, f: Failure) -> Self {
        match f {
            Failure::Unreachable(message) => RegistrationError::RegistryUnreachable {
                url: url.to_owned(),
                message,
            },
            f => RegistrationError::Refused {
                subject: subject.to_owned(),
                code: f.code(),
                message: f.message(),
            },
        }
    }
}

fn schema_text(topic: &str, file: &str) -> Result<&'static str, RegistrationError> {
    avsc::text(file).ok_or_else(|| RegistrationError::UnknownSchemaFile {
        topic: topic.to_owned(),
        file: file.to_owned(),
    })
}

/// Registers the schema file of each `(topic, file)` under `<topic>-value` (idempotent: an
/// identical schema keeps its version and id). Returns `(subject, id)` in input order. Stops at
/// the first failure. Compatibility levels are the caller's business (`PUT /config/{subject}`
/// before this).
pub async fn register_all(
    registry_url: &str,
    pairs: &[(&str, &str)],
) -> Result<Vec<(String, u32)>, RegistrationError> {
    let url = registry_url.trim_end_matches('/');
    let sr = registry::settings(url);
    let mut out = Vec::with_capacity(pairs.len());
    for (topic, file) in pairs {
        let text = schema_text(topic, file)?;
        let subject = codec::subject(topic);
        let id = registry::register(&sr, &subject, &avsc::record_name(file), text)
            .await
            .map_err(|f| RegistrationError::from_failure(url, &subject, f))?;
        out.push((subject, id));
    }
    Ok(out)
}

/// Tests the schema file of each `(topic, file)` against what is registered under
/// `<topic>-value`, at the subject's compatibility level
/// (`POST /compatibility/subjects/{subject}/versions/latest?verbose=true`, which covers every
/// version for the transitive levels). Returns `(subject, compatible, messages)` in input order;
/// a subject with nothing registered yet is compatible, with the message `"new subject"`.
pub async fn check_all(
    registry_url: &str,
    pairs: &[(&str, &str)],
) -> Result<Vec<(String, bool, Vec<String>)>, RegistrationError> {
    let url = registry_url.trim_end_matches('/');
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("building the registry HTTP client");
    let mut out = Vec::with_capacity(pairs.len());
    for (topic, file) in pairs {
        let text = schema_text(topic, file)?;
        let subject = codec::subject(topic);
        let (compatible, messages) = check_one(&http, url, &subject, text).await?;
        out.push((subject, compatible, messages));
    }
    Ok(out)
}

async fn check_one(
    http: &reqwest::Client,
    url: &str,
    subject: &str,
    text: &str,
) -> Result<(bool, Vec<String>), RegistrationError> {
    let unreachable = |e: reqwest::Error| RegistrationError::RegistryUnreachable {
        url: url.to_owned(),
        message: e.to_string(),
    };
    let resp = http
        .post(format!(
            "{url}/compatibility/subjects/{}/versions/latest?verbose=true",
            subject.replace('/', "%2F")
        ))
        .header("Content-Type", "application/vnd.schemaregistry.v1+json")
        .body(json!({"schema": text, "schemaType": "AVRO"}).to_string())
        .send()
        .await
        .map_err(unreachable)?;
    let status = resp.status();
    let body = resp.text().await.map_err(unreachable)?;
    let parsed: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    if status.is_success()
        && let Some(compatible) = parsed["is_compatible"].as_bool()
    {
        let messages = parsed["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        return Ok((compatible, messages));
    }
    let code = parsed["error_code"]
        .as_u64()
        .and_then(|c| u32::try_from(c).ok());
    // Confluent answers 40401 (subject not found) — some versions 40402 (version not found) for
    // "latest" of an empty subject — when nothing is registered yet: nothing to be incompatible
    // with.
    if matches!(code, Some(SUBJECT_NOT_FOUND | 40402)) {
        return Ok((true, vec!["new subject".to_owned()]));
    }
    if status.as_u16() == 502 || status.as_u16() == 503 {
        return Err(RegistrationError::RegistryUnreachable {
            url: url.to_owned(),
            message: format!("HTTP {status}: {body}"),
        });
    }
    Err(RegistrationError::Refused {
        subject: subject.to_owned(),
        code,
        message: parsed["message"]
            .as_str()
            .map_or_else(|| format!("HTTP {status}: {body}"), str::to_owned),
    })
}
