//! Admin catalogue writes: products (`catalog.products`, key sku). Delete is a tombstone.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use techpotli_schemas::types::catalog::ProductUpserted;
use techpotli_topics::typed::CATALOG_PRODUCTS;
use utoipa::ToSchema;

use super::{Trace, path_id, produce_one};
use crate::app::Shared;
use crate::auth::Principal;
use crate::problem::Problem;
use crate::produce::Meta;
use crate::validate::{self as v, Json};

/// The full definition of one SKU (replaces the previous one).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductRequest {
    /// Product this SKU is a variant of (equal to the sku when there are no variants).
    #[schema(min_length = 1, max_length = 128, pattern = r"^[A-Za-z0-9._:-]+$")]
    pub product_id: String,
    /// Customer-facing name, 1..=200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// Long description (plain text or Markdown), at most 10000 characters.
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    /// Category path of lower-case slugs, e.g. `bags/potli`.
    #[schema(max_length = 200, pattern = r"^[a-z0-9-]+(/[a-z0-9-]+)*$")]
    pub category: String,
    /// Brand as displayed; absent for unbranded goods.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub brand: Option<String>,
    /// Attributes (at most 50), snake_case keys to display values.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// List price of one unit in minor units (paise for INR).
    #[schema(minimum = 0, maximum = 10_000_000_000_000_i64)]
    pub list_price_minor: i64,
    /// ISO 4217 code of the price, e.g. `INR`.
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
    /// For sale.
    pub active: bool,
    /// Absolute https image URLs (at most 20), primary first.
    #[serde(default)]
    pub image_urls: Vec<String>,
}

/// A category path of lower-case slugs (also a price rule's CATEGORY scope).
pub(super) fn category(field: &str, c: &str) -> Result<(), Problem> {
    let ok = !c.is_empty()
        && c.len() <= 200
        && c.split('/').all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Problem::invalid(
            field,
            "must be a '/'-separated path of lower-case slugs, e.g. bags/potli",
        ))
    }
}

impl ProductRequest {
    /// Validates and builds the record for `sku`.
    pub fn to_record(self, sku: &str, meta: &Meta, now: i64) -> Result<ProductUpserted, Problem> {
        path_id("sku", sku)?;
        v::id("body.product_id", &self.product_id)?;
        v::text("body.title", &self.title, 200)?;
        v::optional_text("body.description", self.description.as_deref(), 10_000)?;
        category("body.category", &self.category)?;
        v::optional_text("body.brand", self.brand.as_deref(), 100)?;
        if self.attributes.len() > 50 {
            return Err(Problem::invalid("body.attributes", "at most 50 attributes"));
        }
        for (k, val) in &self.attributes {
            let key_ok = (1..=40).contains(&k.len())
                && k.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !key_ok {
                return Err(Problem::invalid(
                    format!("body.attributes.{k}"),
                    "keys must be 1..=40 characters of lower-case snake_case",
                ));
            }
            v::text(&format!("body.attributes.{k}"), val, 200)?;
        }
        v::money("body.list_price_minor", self.list_price_minor)?;
        v::currency("body.currency", &self.currency)?;
        v::max_items("body.image_urls", &self.image_urls, 20)?;
        for (i, u) in self.image_urls.iter().enumerate() {
            v::https_url(&format!("body.image_urls[{i}]"), u)?;
        }
        Ok(ProductUpserted {
            event_id: meta.event_id,
            event_time: now,
            sku: sku.to_owned(),
            product_id: self.product_id,
            title: self.title,
            description: self.description,
            category: self.category,
            brand: self.brand,
            attributes: self.attributes,
            list_price_minor: self.list_price_minor,
            currency: self.currency,
            active: self.active,
            image_urls: self.image_urls,
        })
    }
}

/// Create or replace a SKU.
#[utoipa::path(put, path = "/v1/admin/products/{sku}", tag = "admin",
    params(("sku" = String, Path, description = "SKU, 1..=128 of A-Z a-z 0-9 . _ - :")),
    request_body = ProductRequest,
    responses((status = 202, body = super::Accepted), crate::openapi::Errors),
    security(("bearer" = [])))]
pub async fn put_product(
    State(state): State<Shared>,
    Extension(_admin): Extension<Principal>,
    Trace(trace): Trace,
    Path(sku): Path<String>,
    Json(req): Json<ProductRequest>,
) -> Result<Response, Problem> {
    let meta = Meta::new(trace);
    let record = req.to_record(&sku, &meta, super::now_ms())?;
    produce_one(&state, CATALOG_PRODUCTS, &sku, Some(&record), meta).await
}

/// Delete a SKU (a tombstone on `catalog.products`).
#[utoipa::path(delete, path = "/v1/admin/products/{sku}", tag = "admin",
    params(("sku" = String, Path, description = "SKU")),
    responses((status = 202, body = super::Accepted), crate::openapi::Errors),
    security(("bearer" = [])))]
pub async fn delete_product(
    State(state): State<Shared>,
    Extension(_admin): Extension<Principal>,
    Trace(trace): Trace,
    Path(sku): Path<String>,
) -> Result<Response, Problem> {
    path_id("sku", &sku)?;
    produce_one(&state, CATALOG_PRODUCTS, &sku, None, Meta::new(trace)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use techpotli_telemetry::TraceParent;

    fn product() -> serde_json::Value {
        serde_json::json!({"product_id": "P-1", "title": "Potli bag", "category": "bags/potli",
            "list_price_minor": 49900, "currency": "INR", "active": true,
            "attributes": {"colour": "red"}, "image_urls": ["https://img.example/1.png"]})
    }

    #[test]
    fn product_maps_every_field_and_names_bad_ones() {
        let meta = Meta::new(TraceParent::new_root());
        let req: ProductRequest = serde_json::from_value(product()).unwrap();
        let r = req.clone().to_record("SKU-1", &meta, 7).unwrap();
        assert_eq!(
            (r.sku.as_str(), r.event_time, r.event_id),
            ("SKU-1", 7, meta.event_id)
        );
        assert_eq!(r.attributes["colour"], "red");
        let bad = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = product();
            f(&mut v);
            let req: ProductRequest = serde_json::from_value(v).unwrap();
            req.to_record("SKU-1", &meta, 7).unwrap_err().field.unwrap()
        };
        assert_eq!(bad(&|v| v["currency"] = "RUPEE".into()), "body.currency");
        assert_eq!(
            bad(&|v| v["list_price_minor"] = (-1).into()),
            "body.list_price_minor"
        );
        assert_eq!(bad(&|v| v["category"] = "Bags".into()), "body.category");
        assert_eq!(
            bad(&|v| v["image_urls"][0] = "ftp://x".into()),
            "body.image_urls[0]"
        );
        assert_eq!(
            bad(&|v| v["attributes"]["Bad Key"] = "x".into()),
            "body.attributes.Bad Key"
        );
        assert_eq!(
            req.to_record("bad sku", &meta, 7)
                .unwrap_err()
                .field
                .unwrap(),
            "path.sku"
        );
    }
}
