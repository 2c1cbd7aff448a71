//! Compatibility levels (`/config`) and compatibility tests (`/compatibility`).

use apache_avro::Schema;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{Flags, Shared, candidate, ok, parse_body, parse_stored, resolve_version};
use crate::compat::{self, Level};
use crate::errors::ApiError;
use crate::state::{ConfigValue, Key};
use crate::store::Store;

pub(super) async fn compatibility(
    AxState(store): Shared,
    Path((subject, version)): Path<(String, String)>,
    Query(f): Query<Flags>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let c = candidate(&body)?;
    let state = store.read();
    let level = state.level_for(&subject);
    let existing: Vec<Schema> = if version == "latest" || version == "-1" {
        resolve_version(&state, &subject, &version, false)?;
        state
            .live_versions(&subject)
            .iter()
            .map(|(_, v)| parse_stored(&v.schema))
            .collect()
    } else {
        let n = resolve_version(&state, &subject, &version, false)?;
        vec![parse_stored(&state.subjects[&subject][&n].schema)]
    };
    let reasons = compat::check(level, &c.schema, &existing);
    let mut body = json!({"is_compatible": reasons.is_empty()});
    if f.verbose {
        body["messages"] = json!(reasons);
    }
    Ok(ok(&body))
}

#[derive(Debug, Deserialize)]
struct ConfigRequest {
    compatibility: String,
}

async fn write_level(
    store: &Store,
    subject: Option<String>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let req: ConfigRequest = parse_body(body)?;
    let level = Level::parse(&req.compatibility)
        .ok_or_else(|| ApiError::invalid_compatibility(&req.compatibility))?;
    let value = serde_json::to_vec(&ConfigValue {
        compatibility_level: level,
    })
    .map_err(ApiError::store)?;
    store
        .write(&Key::Config { subject, magic: 0 }, Some(value))
        .await
        .map_err(ApiError::store)?;
    Ok(ok(&json!({"compatibility": level})))
}

pub(super) async fn get_config(AxState(store): Shared) -> Response {
    ok(&json!({"compatibilityLevel": store.read().global_level.unwrap_or_default()}))
}

pub(super) async fn put_config(AxState(store): Shared, body: Bytes) -> Result<Response, ApiError> {
    write_level(&store, None, &body).await
}

pub(super) async fn get_subject_config(
    AxState(store): Shared,
    Path(subject): Path<String>,
    Query(f): Query<Flags>,
) -> Result<Response, ApiError> {
    let state = store.read();
    match state.subject_levels.get(&subject) {
        Some(l) => Ok(ok(&json!({"compatibilityLevel": l}))),
        None if f.default_to_global => Ok(ok(
            &json!({"compatibilityLevel": state.global_level.unwrap_or_default()}),
        )),
        None => Err(ApiError::subject_level_not_configured(&subject)),
    }
}

pub(super) async fn put_subject_config(
    AxState(store): Shared,
    Path(subject): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    write_level(&store, Some(subject), &body).await
}

pub(super) async fn delete_subject_config(
    AxState(store): Shared,
    Path(subject): Path<String>,
) -> Result<Response, ApiError> {
    let previous = store.read().subject_levels.get(&subject).copied();
    let previous = previous.ok_or_else(|| ApiError::subject_level_not_configured(&subject))?;
    store
        .write(
            &Key::Config {
                subject: Some(subject),
                magic: 0,
            },
            None,
        )
        .await
        .map_err(ApiError::store)?;
    Ok(ok(&json!({"compatibilityLevel": previous})))
}
