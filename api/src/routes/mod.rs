//! One module per topic the API writes (and [`reads`] for the read endpoints). Each has
//! request types (strict serde, OpenAPI schema), a pure `to_record` mapping that validates
//! every field and builds the Avro value, and thin handlers that produce it and answer `202`
//! once the broker acknowledged.

pub mod activity;
pub mod carts;
pub mod catalog;
pub mod customers;
pub mod inventory;
pub mod orders;
pub mod payments;
pub mod price_rules;
pub mod reads;

use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use techpotli_schemas::AvroRecord;
use techpotli_telemetry::TraceParent;
use techpotli_topics::typed::Topic;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::Shared;
use crate::problem::Problem;
use crate::produce::Meta;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The trace this request belongs to: a child of the caller's `traceparent`, or a new root.
#[derive(Debug, Clone, Copy)]
pub struct Trace(pub TraceParent);

impl<S: Send + Sync> FromRequestParts<S> for Trace {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let t = parts
            .headers
            .get(techpotli_telemetry::trace::HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(TraceParent::parse)
            .map_or_else(TraceParent::new_root, |t| t.child());
        Ok(Self(t))
    }
}

/// `202 Accepted`: the event is stored in Kafka.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Accepted {
    /// The event's id (UUIDv7), also in the record's `event_id` field and header.
    pub event_id: Uuid,
}

/// A JSON body with status 202 and the `traceparent` echoed for correlation.
pub fn accepted<T: Serialize>(trace: TraceParent, body: &T) -> Response {
    let mut r = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    if let Ok(v) = trace.to_string().parse() {
        r.headers_mut()
            .insert(techpotli_telemetry::trace::HEADER, v);
    }
    r
}

/// Produces one record and maps failure to a 503 problem.
pub async fn produce<T: AvroRecord + Serialize>(
    state: &Shared,
    topic: Topic<T>,
    key: &str,
    value: Option<&T>,
    meta: &Meta,
) -> Result<(), Problem> {
    state
        .producer
        .send(topic, key, value, meta)
        .await
        .map_err(|e| e.problem(state.config.retry_after_secs))
}

/// Produces `value` and answers `202 {"event_id"}`.
pub async fn produce_one<T: AvroRecord + Serialize>(
    state: &Shared,
    topic: Topic<T>,
    key: &str,
    value: Option<&T>,
    meta: Meta,
) -> Result<Response, Problem> {
    produce(state, topic, key, value, &meta).await?;
    Ok(accepted(
        meta.trace,
        &Accepted {
            event_id: meta.event_id,
        },
    ))
}

/// Validates a path segment used as an id.
pub fn path_id(name: &str, v: &str) -> Result<(), Problem> {
    crate::validate::id(&format!("path.{name}"), v)
}
