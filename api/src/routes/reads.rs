//! Read endpoints over the materialised views ([`crate::read`]): an order and a priced cart
//! (owner or admin), a SKU's stock and its price (anyone). Unlike the write routes they answer from MySQL/Redis, so what
//! they show trails the accepted events by the sinks' latency (milliseconds): a just-placed
//! order may be 404 for a moment.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::path_id;
use crate::app::Shared;
use crate::auth::Principal;
use crate::problem::Problem;
use crate::read::views::{CartView, OrderView, PriceView, StockView};
use crate::read::{Found, ReadError};

fn not_found(what: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        format!("no such {what} (a just-accepted one appears within moments)"),
    )
}

fn unavailable(state: &Shared, e: &ReadError) -> Problem {
    tracing::error!(error = %e, "read stores unavailable");
    Problem::unavailable(
        "the read stores are unavailable",
        state.config.retry_after_secs,
    )
}

fn json_with_cache<T: serde::Serialize>(body: &T, cache: &'static str) -> Response {
    let mut r = axum::Json(body).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

/// An order: status, lines, totals and status history.
#[utoipa::path(get, path = "/v1/orders/{order_id}", tag = "customer",
    params(("order_id" = String, Path, description = "The order id from the place-order answer")),
    responses((status = 200, description = "The order as materialised", body = OrderView),
        crate::openapi::ReadErrors),
    security(("bearer" = [])))]
pub async fn get_order(
    State(state): State<Shared>,
    principal: Option<Extension<Principal>>,
    Path(order_id): Path<String>,
) -> Result<Response, Problem> {
    let Some(Extension(p)) = principal else {
        return Err(Problem::unauthorized("this route needs a bearer token"));
    };
    path_id("order_id", &order_id)?;
    let found = state.read.order(&order_id).await;
    let order = match found {
        Found::Yes(o) => o,
        Found::No => return Err(not_found("order")),
        Found::Unavailable(e) => return Err(unavailable(&state, &e)),
    };
    if order.user_id != p.user_id && !p.has_role(&state.config.admin_role) {
        return Err(Problem::forbidden(
            "an order is visible only to its customer and to admins",
        ));
    }
    Ok(json_with_cache(&order, "private, no-store"))
}

/// A SKU's stock level: on hand, reserved, available.
#[utoipa::path(get, path = "/v1/stock/{sku}", tag = "storefront",
    params(("sku" = String, Path, description = "The SKU")),
    responses((status = 200, description = "The current level", body = StockView),
        crate::openapi::ReadErrors))]
pub async fn get_stock(
    State(state): State<Shared>,
    Path(sku): Path<String>,
) -> Result<Response, Problem> {
    path_id("sku", &sku)?;
    match state.read.stock(&sku).await {
        Found::Yes(s) => Ok(json_with_cache(&s, "no-cache")),
        Found::No => Err(not_found("SKU")),
        Found::Unavailable(e) => Err(unavailable(&state, &e)),
    }
}

/// A SKU's current price: list price, the effective price after the price rules, the rules
/// applied and until when it holds. `404` for a SKU that has no price (unknown or not for sale).
#[utoipa::path(get, path = "/v1/prices/{sku}", tag = "storefront",
    params(("sku" = String, Path, description = "The SKU")),
    responses((status = 200, description = "The current price", body = PriceView),
        crate::openapi::ReadErrors))]
pub async fn get_price(
    State(state): State<Shared>,
    Path(sku): Path<String>,
) -> Result<Response, Problem> {
    path_id("sku", &sku)?;
    match state.read.price(&sku).await {
        Found::Yes(p) => Ok(json_with_cache(&p, "no-cache")),
        Found::No => Err(not_found("price")),
        Found::Unavailable(e) => Err(unavailable(&state, &e)),
    }
}

/// A cart at current prices: lines, unpriced SKUs, totals. Only its owner and admins may look.
#[utoipa::path(get, path = "/v1/carts/{cart_id}", tag = "customer",
    params(("cart_id" = String, Path, description = "The cart id from the create-cart answer")),
    responses((status = 200, description = "The cart as last priced", body = CartView),
        crate::openapi::ReadErrors),
    security(("bearer" = [])))]
pub async fn get_cart(
    State(state): State<Shared>,
    principal: Option<Extension<Principal>>,
    Path(cart_id): Path<String>,
) -> Result<Response, Problem> {
    let Some(Extension(p)) = principal else {
        return Err(Problem::unauthorized("this route needs a bearer token"));
    };
    if !p.has_role(&state.config.admin_role) {
        state.carts.check("path.cart_id", &cart_id, &p.user_id)?;
    }
    path_id("cart_id", &cart_id)?;
    match state.read.cart(&cart_id).await {
        Found::Yes(c) => Ok(json_with_cache(&c, "private, no-store")),
        Found::No => Err(not_found("cart")),
        Found::Unavailable(e) => Err(unavailable(&state, &e)),
    }
}
