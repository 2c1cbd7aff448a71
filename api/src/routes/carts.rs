//! Cart changes (`carts.events`, key cart_id). A cart id is issued by the API with the cart's
//! first item and proves its owner (see [`crate::cart_id`]); only the owner may change it.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use techpotli_schemas::types::carts::{
    CartCleared, CartClearedReason, CartEvent, CartEventPayload, CartItemAdded, CartItemRemoved,
};
use techpotli_topics::typed::CARTS_EVENTS;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Trace, accepted, path_id, produce, produce_one};
use crate::app::Shared;
use crate::auth::Principal;
use crate::problem::Problem;
use crate::produce::Meta;
use crate::validate::{self as v, Json};

/// Optional header linking cart changes to the storefront session.
pub const SESSION_HEADER: &str = "x-session-id";

/// Units of a SKU to add.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItemRequest {
    #[schema(min_length = 1, max_length = 128, pattern = r"^[A-Za-z0-9._:-]+$")]
    pub sku: String,
    /// 1..=1000 units.
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: i32,
}

/// Units to remove; absent removes the whole line.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RemoveQuery {
    /// 1..=1000 units; absent removes the line.
    #[param(minimum = 1, maximum = 1000)]
    pub quantity: Option<i32>,
}

/// `202` for a new cart: the event and the cart's id.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CartAccepted {
    pub event_id: Uuid,
    /// Use it for every later change of this cart and when placing the order.
    pub cart_id: String,
}

/// The envelope around a payload.
pub fn event(
    cart_id: &str,
    user_id: &str,
    session_id: Option<String>,
    payload: CartEventPayload,
    meta: &Meta,
    now: i64,
) -> CartEvent {
    CartEvent {
        event_id: meta.event_id,
        event_time: now,
        cart_id: cart_id.to_owned(),
        user_id: Some(user_id.to_owned()),
        session_id,
        payload,
    }
}

impl AddItemRequest {
    pub fn to_payload(self) -> Result<CartEventPayload, Problem> {
        v::id("body.sku", &self.sku)?;
        v::quantity("body.quantity", self.quantity)?;
        Ok(CartEventPayload::CartItemAdded(CartItemAdded {
            sku: self.sku,
            quantity: self.quantity,
        }))
    }
}

/// The `X-Session-Id` header, validated.
fn session(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(v) = headers.get(SESSION_HEADER) else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .map_err(|_| Problem::invalid("header.X-Session-Id", "must be visible ASCII"))?;
    v::id("header.X-Session-Id", s)?;
    Ok(Some(s.to_owned()))
}

/// Start a cart with its first item.
#[utoipa::path(post, path = "/v1/carts", tag = "customer",
    params(("X-Session-Id" = Option<String>, Header, description = "Storefront session")),
    request_body = AddItemRequest,
    responses((status = 202, body = CartAccepted), crate::openapi::Errors),
    security(("bearer" = [])))]
pub async fn create_cart(
    State(state): State<Shared>,
    Extension(caller): Extension<Principal>,
    Trace(trace): Trace,
    headers: HeaderMap,
    Json(req): Json<AddItemRequest>,
) -> Result<Response, Problem> {
    let session_id = session(&headers)?;
    let payload = req.to_payload()?;
    let cart_id = state.carts.issue(&caller.user_id);
    let meta = Meta::new(trace);
    let record = event(
        &cart_id,
        &caller.user_id,
        session_id,
        payload,
        &meta,
        super::now_ms(),
    );
    produce(&state, CARTS_EVENTS, &cart_id, Some(&record), &meta).await?;
    Ok(accepted(
        meta.trace,
        &CartAccepted {
            event_id: meta.event_id,
            cart_id,
        },
    ))
}

/// Produces `payload` as an event of the caller's existing cart `cart_id` (ownership already
/// checked) and answers `202 {"event_id"}`.
async fn change(
    state: &Shared,
    caller: &Principal,
    trace: techpotli_telemetry::TraceParent,
    cart_id: &str,
    headers: &HeaderMap,
    payload: CartEventPayload,
) -> Result<Response, Problem> {
    let session_id = session(headers)?;
    let meta = Meta::new(trace);
    let record = event(
        cart_id,
        &caller.user_id,
        session_id,
        payload,
        &meta,
        super::now_ms(),
    );
    produce_one(state, CARTS_EVENTS, cart_id, Some(&record), meta).await
}

/// Add units of a SKU to an own cart.
#[utoipa::path(post, path = "/v1/carts/{cart_id}/items", tag = "customer",
    params(("cart_id" = String, Path, description = "Cart id from POST /v1/carts"),
        ("X-Session-Id" = Option<String>, Header, description = "Storefront session")),
    request_body = AddItemRequest,
    responses((status = 202, body = super::Accepted), crate::openapi::Errors),
    security(("bearer" = [])))]
pub async fn add_item(
    State(state): State<Shared>,
    Extension(caller): Extension<Principal>,
    Trace(trace): Trace,
    Path(cart_id): Path<String>,
    headers: HeaderMap,
    Json(req): Json<AddItemRequest>,
) -> Result<Response, Problem> {
    state
        .carts
        .check("path.cart_id", &cart_id, &caller.user_id)?;
    let payload = req.to_payload()?;
    change(&state, &caller, trace, &cart_id, &headers, payload).await
}

/// Remove units (or the whole line) of a SKU from an own cart.
#[utoipa::path(delete, path = "/v1/carts/{cart_id}/items/{sku}", tag = "customer",
    params(("cart_id" = String, Path, description = "Cart id"), ("sku" = String, Path, description = "SKU"),
        RemoveQuery, ("X-Session-Id" = Option<String>, Header, description = "Storefront session")),
    responses((status = 202, body = super::Accepted), crate::openapi::Errors),
    security(("bearer" = [])))]
pub async fn remove_item(
    State(state): State<Shared>,
    Extension(caller): Extension<Principal>,
    Trace(trace): Trace,
    Path((cart_id, sku)): Path<(String, String)>,
    query: Result<Query<RemoveQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    state
        .carts
        .check("path.cart_id", &cart_id, &caller.user_id)?;
    path_id("sku", &sku)?;
    let Query(q) = query.map_err(|e| Problem::malformed(Some("query".into()), e.body_text()))?;
    if let Some(n) = q.quantity {
        v::quantity("query.quantity", n)?;
    }
    let payload = CartEventPayload::CartItemRemoved(CartItemRemoved {
        sku,
        quantity: q.quantity,
    });
    change(&state, &caller, trace, &cart_id, &headers, payload).await
}

/// Empty an own cart.
#[utoipa::path(delete, path = "/v1/carts/{cart_id}/items", tag = "customer",
    params(("cart_id" = String, Path, description = "Cart id"),
        ("X-Session-Id" = Option<String>, Header, description = "Storefront session")),
    responses((status = 202, body = super::Accepted), crate::openapi::Errors),
    security(("bearer" = [])))]
pub async fn clear_cart(
    State(state): State<Shared>,
    Extension(caller): Extension<Principal>,
    Trace(trace): Trace,
    Path(cart_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    state
        .carts
        .check("path.cart_id", &cart_id, &caller.user_id)?;
    let payload = CartEventPayload::CartCleared(CartCleared {
        reason: CartClearedReason::UserCleared,
    });
    change(&state, &caller, trace, &cart_id, &headers, payload).await
}
