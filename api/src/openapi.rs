//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and
//! the request types, served at `/openapi.json`, with an interactive page at `/docs`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use crate::problem::Problem;
use crate::routes::{
    activity, carts, catalog, customers, inventory, orders, payments, price_rules, reads,
};

/// The error answers every write endpoint may give (bodies are `application/problem+json`).
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum Errors {
    /// Malformed JSON, wrong type, unknown or missing field.
    #[response(status = 400, content_type = "application/problem+json")]
    Malformed(#[to_schema] Problem),
    /// Missing or invalid credentials (token or webhook signature).
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// Authenticated but not allowed (role, another customer's resource).
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// Unknown route or webhook provider.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// Method not allowed on this route.
    #[response(status = 405, content_type = "application/problem+json")]
    MethodNotAllowed(Problem),
    /// An idempotent request with the same key is still in progress.
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
    /// Body larger than 256 KiB.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// Body is not application/json.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
    /// A field breaks a rule; `field` names it.
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(Problem),
    /// Rate limit exceeded (`Retry-After`, `RateLimit-*`).
    #[response(status = 429, content_type = "application/problem+json")]
    TooMany(Problem),
    /// The broker did not acknowledge in time (`Retry-After`); nothing was stored.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// The error answers of the read endpoints.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ReadErrors {
    /// Missing or invalid credentials.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// Another customer's order.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// Not materialised (yet); a just-accepted event appears within moments.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The path parameter breaks the id rules; `field` names it.
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(Problem),
    /// Rate limit exceeded (`Retry-After`, `RateLimit-*`).
    #[response(status = 429, content_type = "application/problem+json")]
    TooMany(Problem),
    /// Neither MySQL nor Redis could answer (`Retry-After`).
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "OIDC access token (Keycloak realm roles in realm_access.roles)",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "TechPotli ingress API", description = "Every user action becomes an acknowledged Avro event on Kafka. A 202 means the broker acknowledged the record. The read endpoints answer from the materialised views (MySQL, Redis), which trail accepted events by moments."),
    paths(
        catalog::put_product, catalog::delete_product,
        price_rules::put_price_rule, price_rules::delete_price_rule,
        inventory::post_adjustment,
        customers::put_profile,
        carts::create_cart, carts::add_item, carts::remove_item, carts::clear_cart,
        orders::place_order,
        activity::post_activity,
        payments::payment_webhook,
        reads::get_order, reads::get_stock, reads::get_price, reads::get_cart,
    ),
    components(schemas(Problem)),
    modifiers(&Bearer),
    tags(
        (name = "admin", description = "Catalogue, price rules, stock (role admin)"),
        (name = "customer", description = "Profile, carts, orders (own user id only)"),
        (name = "storefront", description = "Clickstream, stock levels, prices"),
        (name = "payments", description = "Provider webhooks (HMAC-signed)"),
    )
)]
pub struct ApiDoc;

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    #[test]
    fn document_is_openapi_3_1_and_lists_every_write_route() {
        let doc = serde_json::to_value(super::document()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/v1/admin/products/{sku}",
            "/v1/admin/price-rules/{rule_id}",
            "/v1/admin/inventory/{sku}/adjustments",
            "/v1/customers/{user_id}/profile",
            "/v1/carts",
            "/v1/carts/{cart_id}/items",
            "/v1/carts/{cart_id}/items/{sku}",
            "/v1/orders",
            "/v1/activity",
            "/v1/webhooks/payments/{provider}",
            "/v1/orders/{order_id}",
            "/v1/stock/{sku}",
            "/v1/prices/{sku}",
            "/v1/carts/{cart_id}",
        ] {
            assert!(paths.contains_key(p), "{p} missing");
        }
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    }
}
