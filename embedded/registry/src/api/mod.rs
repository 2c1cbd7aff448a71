//! The Confluent Schema Registry REST surface (the subset serializers and tools use), with
//! Confluent's error bodies and codes.

use std::collections::BTreeMap;
use std::sync::Arc;

use apache_avro::Schema;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::compat;

mod levels;
use crate::errors::ApiError;
use crate::state::{Key, SchemaValue, State};
use crate::store::Store;
use levels::{
    compatibility, delete_subject_config, get_config, get_subject_config, put_config,
    put_subject_config,
};

/// Content type of every response, as Confluent's clients expect.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

pub(crate) type Shared = AxState<Arc<Store>>;

fn reply(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

pub(crate) fn ok(body: &Value) -> Response {
    reply(StatusCode::OK, body)
}

/// Query flags Confluent's endpoints accept (each endpoint reads the ones it knows). Every
/// boolean is read as Java's `Boolean.parseBoolean` reads it — `true` in any case is true,
/// anything else false, never a 400 — because clients send `True`/`False` (Python) or `1`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
#[allow(clippy::struct_excessive_bools)]
pub(crate) struct Flags {
    #[serde(deserialize_with = "java_bool")]
    pub(crate) deleted: bool,
    #[serde(deserialize_with = "java_bool")]
    pub(crate) permanent: bool,
    #[serde(deserialize_with = "java_bool")]
    pub(crate) verbose: bool,
    #[serde(rename = "defaultToGlobal", deserialize_with = "java_bool")]
    pub(crate) default_to_global: bool,
    /// Accepted; schemas are compared in their canonical form anyway.
    #[serde(deserialize_with = "java_bool")]
    #[allow(dead_code)]
    pub(crate) normalize: bool,
    #[serde(rename = "lookupDeletedSchema", deserialize_with = "java_bool")]
    pub(crate) lookup_deleted_schema: bool,
}

/// `Boolean.parseBoolean`: case-insensitive `true`, anything else (`1`, `yes`, empty) false.
fn java_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = String::deserialize(d)?;
    Ok(s.trim().eq_ignore_ascii_case("true"))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaRequest {
    schema: String,
    #[serde(default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Value>,
}

/// A parsed candidate schema and its canonical text (key-sorted, minified JSON).
pub(crate) struct Candidate {
    pub(crate) schema: Schema,
    pub(crate) canonical: String,
}

pub(crate) fn parse_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::unprocessable(42201, format!("Invalid request body: {e}")))
}

pub(crate) fn candidate(body: &[u8]) -> Result<Candidate, ApiError> {
    let req: SchemaRequest = parse_body(body)?;
    if req
        .schema_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("AVRO"))
    {
        return Err(ApiError::invalid_schema(
            "only AVRO schemas are supported by this registry",
        ));
    }
    if !req.references.is_empty() {
        return Err(ApiError::invalid_schema(
            "schema references are not supported by this registry",
        ));
    }
    let schema =
        Schema::parse_str(&req.schema).map_err(|e| ApiError::invalid_schema(&e.to_string()))?;
    let json: Value =
        serde_json::from_str(&req.schema).map_err(|e| ApiError::invalid_schema(&e.to_string()))?;
    Ok(Candidate {
        schema,
        canonical: json.to_string(),
    })
}

pub(crate) fn parse_stored(text: &str) -> Schema {
    Schema::parse_str(text).expect("stored schemas were validated at registration")
}

/// Resolves `latest`/`-1`/a positive number to a registered version of `subject`.
pub(crate) fn resolve_version(
    state: &State,
    subject: &str,
    version: &str,
    include_deleted: bool,
) -> Result<i32, ApiError> {
    let versions = state
        .subjects
        .get(subject)
        .ok_or_else(|| ApiError::subject_not_found(subject))?;
    let visible = |v: &&crate::state::Version| include_deleted || !v.deleted;
    if version == "latest" || version == "-1" {
        return versions
            .iter()
            .rev()
            .find(|(_, v)| visible(v))
            .map(|(n, _)| *n)
            .ok_or_else(|| ApiError::subject_not_found(subject));
    }
    let n: i32 = version
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::invalid_version(version))?;
    match versions.get(&n) {
        Some(v) if visible(&v) => Ok(n),
        _ => Err(ApiError::version_not_found(version)),
    }
}

fn version_body(state: &State, subject: &str, n: i32) -> Value {
    let v = &state.subjects[subject][&n];
    json!({"subject": subject, "version": n, "id": v.id, "schema": v.schema})
}

async fn register(
    AxState(store): Shared,
    Path(subject): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let c = candidate(&body)?;
    let _guard = store.write_lock.lock().await;
    let (id, version) = {
        let state = store.read();
        let live = state.live_versions(&subject);
        if let Some((_, v)) = live.iter().find(|(_, v)| v.schema == c.canonical) {
            return Ok(ok(&json!({"id": v.id})));
        }
        let existing: Vec<Schema> = live.iter().map(|(_, v)| parse_stored(&v.schema)).collect();
        let reasons = compat::check(state.level_for(&subject), &c.schema, &existing);
        if !reasons.is_empty() {
            return Err(ApiError::incompatible(&subject, &reasons));
        }
        (
            state.id_of(&c.canonical).unwrap_or_else(|| state.next_id()),
            state.next_version(&subject),
        )
    };
    let value = SchemaValue {
        subject: subject.clone(),
        version,
        id,
        schema: c.canonical,
        deleted: false,
    };
    store
        .write(
            &Key::Schema {
                subject: subject.clone(),
                version,
                magic: 1,
            },
            Some(serde_json::to_vec(&value).map_err(ApiError::store)?),
        )
        .await
        .map_err(ApiError::store)?;
    tracing::info!(%subject, version, id, "schema registered");
    Ok(ok(&json!({"id": id})))
}

async fn lookup(
    AxState(store): Shared,
    Path(subject): Path<String>,
    Query(f): Query<Flags>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let c = candidate(&body)?;
    let state = store.read();
    let versions = state
        .subjects
        .get(&subject)
        .ok_or_else(|| ApiError::subject_not_found(&subject))?;
    let deleted = f.deleted || f.lookup_deleted_schema;
    if !deleted && versions.values().all(|v| v.deleted) {
        return Err(ApiError::subject_not_found(&subject));
    }
    let found = versions
        .iter()
        .find(|(_, v)| v.schema == c.canonical && (deleted || !v.deleted));
    let (n, _) = found.ok_or_else(ApiError::schema_not_found)?;
    Ok(ok(&version_body(&state, &subject, *n)))
}

async fn subjects(AxState(store): Shared, Query(f): Query<Flags>) -> Response {
    let state = store.read();
    let list: Vec<&String> = state
        .subjects
        .iter()
        .filter(|(_, vs)| f.deleted || vs.values().any(|v| !v.deleted))
        .map(|(s, _)| s)
        .collect();
    ok(&json!(list))
}

async fn versions(
    AxState(store): Shared,
    Path(subject): Path<String>,
    Query(f): Query<Flags>,
) -> Result<Response, ApiError> {
    let state = store.read();
    let list: Vec<i32> = state
        .subjects
        .get(&subject)
        .map(|vs| {
            vs.iter()
                .filter(|(_, v)| f.deleted || !v.deleted)
                .map(|(n, _)| *n)
                .collect()
        })
        .unwrap_or_default();
    if list.is_empty() {
        return Err(ApiError::subject_not_found(&subject));
    }
    Ok(ok(&json!(list)))
}

async fn version(
    AxState(store): Shared,
    Path((subject, version)): Path<(String, String)>,
    Query(f): Query<Flags>,
) -> Result<Response, ApiError> {
    let state = store.read();
    let n = resolve_version(&state, &subject, &version, f.deleted)?;
    Ok(ok(&version_body(&state, &subject, n)))
}

async fn version_schema(
    AxState(store): Shared,
    Path((subject, version)): Path<(String, String)>,
    Query(f): Query<Flags>,
) -> Result<Response, ApiError> {
    let state = store.read();
    let n = resolve_version(&state, &subject, &version, f.deleted)?;
    let text = state.subjects[&subject][&n].schema.clone();
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

async fn schema_by_id(AxState(store): Shared, Path(id): Path<i32>) -> Result<Response, ApiError> {
    let state = store.read();
    let text = state
        .schemas
        .get(&id)
        .ok_or_else(ApiError::schema_not_found)?;
    Ok(ok(&json!({"schema": text})))
}

async fn schema_id_versions(
    AxState(store): Shared,
    Path(id): Path<i32>,
    Query(f): Query<Flags>,
) -> Result<Response, ApiError> {
    let state = store.read();
    if !state.schemas.contains_key(&id) {
        return Err(ApiError::schema_not_found());
    }
    let uses: Vec<Value> = state
        .subjects
        .iter()
        .flat_map(|(s, vs)| vs.iter().map(move |(n, v)| (s, n, v)))
        .filter(|(_, _, v)| v.id == id && (f.deleted || !v.deleted))
        .map(|(s, n, _)| json!({"subject": s, "version": n}))
        .collect();
    Ok(ok(&json!(uses)))
}

/// Soft-deletes (marks) or permanently deletes (tombstones) the given versions.
async fn delete_versions(
    store: &Store,
    subject: &str,
    targets: &BTreeMap<i32, SchemaValue>,
    permanent: bool,
) -> Result<(), ApiError> {
    for (n, v) in targets {
        let key = Key::Schema {
            subject: subject.to_owned(),
            version: *n,
            magic: 1,
        };
        let value = if permanent {
            None
        } else {
            Some(
                serde_json::to_vec(&SchemaValue {
                    deleted: true,
                    ..v.clone()
                })
                .map_err(ApiError::store)?,
            )
        };
        store.write(&key, value).await.map_err(ApiError::store)?;
    }
    Ok(())
}

fn as_values(
    state: &State,
    subject: &str,
    pick: impl Fn(i32, &crate::state::Version) -> bool,
) -> BTreeMap<i32, SchemaValue> {
    state.subjects[subject]
        .iter()
        .filter(|(n, v)| pick(**n, v))
        .map(|(n, v)| {
            (
                *n,
                SchemaValue {
                    subject: subject.to_owned(),
                    version: *n,
                    id: v.id,
                    schema: v.schema.clone(),
                    deleted: v.deleted,
                },
            )
        })
        .collect()
}

async fn delete_subject(
    AxState(store): Shared,
    Path(subject): Path<String>,
    Query(f): Query<Flags>,
) -> Result<Response, ApiError> {
    let _guard = store.write_lock.lock().await;
    let targets = {
        let state = store.read();
        let versions = state
            .subjects
            .get(&subject)
            .ok_or_else(|| ApiError::subject_not_found(&subject))?;
        let any_live = versions.values().any(|v| !v.deleted);
        if f.permanent && any_live {
            return Err(ApiError::not_soft_deleted_subject(&subject));
        }
        if !f.permanent && !any_live {
            return Err(ApiError::subject_soft_deleted(&subject));
        }
        as_values(&state, &subject, |_, v| f.permanent || !v.deleted)
    };
    delete_versions(&store, &subject, &targets, f.permanent).await?;
    Ok(ok(&json!(targets.keys().collect::<Vec<_>>())))
}

async fn delete_version(
    AxState(store): Shared,
    Path((subject, version)): Path<(String, String)>,
    Query(f): Query<Flags>,
) -> Result<Response, ApiError> {
    let _guard = store.write_lock.lock().await;
    let (n, targets) = {
        let state = store.read();
        let n = resolve_version(&state, &subject, &version, true)?;
        let deleted = state.subjects[&subject][&n].deleted;
        if f.permanent && !deleted {
            return Err(ApiError::not_soft_deleted_version(n));
        }
        if !f.permanent && deleted {
            return Err(ApiError::version_soft_deleted(n));
        }
        (n, as_values(&state, &subject, |m, _| m == n))
    };
    delete_versions(&store, &subject, &targets, f.permanent).await?;
    Ok(ok(&json!(n)))
}

async fn mode() -> Response {
    ok(&json!({"mode": "READWRITE"}))
}

async fn root() -> Response {
    ok(&json!({}))
}

async fn healthz() -> &'static str {
    "ok"
}

pub fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/healthz", get(healthz))
        .route("/subjects", get(subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route("/subjects/{subject}/versions", get(versions).post(register))
        .route(
            "/subjects/{subject}/versions/{version}",
            get(version).delete(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(version_schema),
        )
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/versions", get(schema_id_versions))
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(compatibility),
        )
        .route("/config", get(get_config).put(put_config))
        .route(
            "/config/{subject}",
            get(get_subject_config)
                .put(put_subject_config)
                .delete(delete_subject_config),
        )
        .route("/mode", get(mode))
        .route("/mode/{subject}", get(mode))
        .with_state(store)
}
