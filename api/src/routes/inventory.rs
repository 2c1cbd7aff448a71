//! Admin stock adjustments (`inventory.adjustments`, key sku).

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use techpotli_schemas::types::inventory::{StockAdjusted, StockAdjustmentReason};
use techpotli_topics::typed::INVENTORY_ADJUSTMENTS;
use utoipa::ToSchema;

use super::{Trace, path_id, produce_one};
use crate::app::Shared;
use crate::auth::Principal;
use crate::problem::Problem;
use crate::produce::Meta;
use crate::validate::{self as v, Json};

/// Largest single adjustment, in units.
const MAX_DELTA: i32 = 1_000_000;

/// Why stock changes.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AdjustmentReason {
    /// Goods received (delta > 0).
    Restock,
    /// Goods lost or unsellable (delta < 0).
    Damage,
    /// Stock-take fix (either sign).
    Correction,
    /// Customer return put back on sale (delta > 0).
    Return,
}

/// One change to the on-hand stock of a SKU.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentRequest {
    /// Signed change in units, never 0, |delta| <= 1000000.
    #[schema(minimum = -1_000_000, maximum = 1_000_000)]
    pub delta: i32,
    pub reason: AdjustmentReason,
    /// Free-text reference (purchase order, stock-take), at most 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub note: Option<String>,
}

impl AdjustmentRequest {
    /// Validates and builds the record for `sku`, made by `actor`.
    pub fn to_record(
        self,
        sku: &str,
        actor: &str,
        meta: &Meta,
        now: i64,
    ) -> Result<StockAdjusted, Problem> {
        path_id("sku", sku)?;
        if self.delta == 0 || self.delta.unsigned_abs() > MAX_DELTA.unsigned_abs() {
            return Err(Problem::invalid(
                "body.delta",
                "must be non-zero and at most 1000000 units either way",
            ));
        }
        let reason = match self.reason {
            AdjustmentReason::Restock => StockAdjustmentReason::Restock,
            AdjustmentReason::Damage => StockAdjustmentReason::Damage,
            AdjustmentReason::Correction => StockAdjustmentReason::Correction,
            AdjustmentReason::Return => StockAdjustmentReason::Return,
        };
        let sign_ok = match self.reason {
            AdjustmentReason::Restock | AdjustmentReason::Return => self.delta > 0,
            AdjustmentReason::Damage => self.delta < 0,
            AdjustmentReason::Correction => true,
        };
        if !sign_ok {
            return Err(Problem::invalid(
                "body.delta",
                "RESTOCK and RETURN add stock (delta > 0); DAMAGE removes it (delta < 0)",
            ));
        }
        v::optional_text("body.note", self.note.as_deref(), 500)?;
        Ok(StockAdjusted {
            event_id: meta.event_id,
            event_time: now,
            sku: sku.to_owned(),
            delta: self.delta,
            reason,
            note: self.note,
            actor: actor.to_owned(),
        })
    }
}

/// Adjust the on-hand stock of a SKU.
#[utoipa::path(post, path = "/v1/admin/inventory/{sku}/adjustments", tag = "admin",
    params(("sku" = String, Path, description = "SKU")),
    request_body = AdjustmentRequest,
    responses((status = 202, body = super::Accepted), crate::openapi::Errors),
    security(("bearer" = [])))]
pub async fn post_adjustment(
    State(state): State<Shared>,
    Extension(admin): Extension<Principal>,
    Trace(trace): Trace,
    Path(sku): Path<String>,
    Json(req): Json<AdjustmentRequest>,
) -> Result<Response, Problem> {
    let meta = Meta::new(trace);
    let record = req.to_record(&sku, &admin.user_id, &meta, super::now_ms())?;
    produce_one(&state, INVENTORY_ADJUSTMENTS, &sku, Some(&record), meta).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use techpotli_telemetry::TraceParent;

    fn rec(delta: i32, reason: &str) -> Result<StockAdjusted, Problem> {
        let req: AdjustmentRequest =
            serde_json::from_value(serde_json::json!({"delta": delta, "reason": reason})).unwrap();
        req.to_record("SKU-1", "admin-1", &Meta::new(TraceParent::new_root()), 3)
    }

    #[test]
    fn delta_sign_follows_the_reason() {
        let r = rec(5, "RESTOCK").unwrap();
        assert_eq!(
            (r.delta, r.reason, r.actor.as_str()),
            (5, StockAdjustmentReason::Restock, "admin-1")
        );
        assert!(rec(-2, "DAMAGE").is_ok() && rec(-2, "CORRECTION").is_ok());
        for (d, why) in [
            (0, "RESTOCK"),
            (-1, "RESTOCK"),
            (1, "DAMAGE"),
            (-1, "RETURN"),
            (2_000_000, "CORRECTION"),
        ] {
            assert_eq!(
                rec(d, why).unwrap_err().field.as_deref(),
                Some("body.delta"),
                "{d} {why}"
            );
        }
    }
}
