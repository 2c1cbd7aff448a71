//! Admin price rules (`catalog.price-rules`, key rule_id). Delete is a tombstone.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use techpotli_schemas::types::catalog::{PriceRuleKind, PriceRuleScope, PriceRuleUpserted};
use techpotli_topics::typed::CATALOG_PRICE_RULES;
use utoipa::ToSchema;

use super::catalog::category;
use super::{Trace, path_id, produce_one};
use crate::app::Shared;
use crate::auth::Principal;
use crate::problem::Problem;
use crate::produce::Meta;
use crate::validate::{self as v, Json};

/// How a rule changes the unit price.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleKind {
    PercentOff,
    AmountOff,
    FixedPrice,
}

/// Which SKUs a rule applies to.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleScope {
    Sku,
    Category,
    All,
}

/// The full definition of one price rule (replaces the previous one).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceRuleRequest {
    /// Admin-facing name, 1..=200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub kind: RuleKind,
    /// 1..=10000 basis points; required for PERCENT_OFF, forbidden otherwise.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10000)]
    pub percent_off_bps: Option<i32>,
    /// Minor units; required for AMOUNT_OFF and FIXED_PRICE, forbidden for PERCENT_OFF.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 10_000_000_000_000_i64)]
    pub amount_minor: Option<i64>,
    /// ISO 4217 code of amount_minor; required exactly when amount_minor is.
    #[serde(default)]
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    pub scope: RuleScope,
    /// SKU (scope SKU) or category path (scope CATEGORY); forbidden for ALL.
    #[serde(default)]
    pub scope_value: Option<String>,
    /// Start of validity, inclusive, ms since the epoch.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub valid_from: Option<i64>,
    /// End of validity, exclusive, ms since the epoch; after valid_from.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub valid_until: Option<i64>,
    /// Higher is evaluated first, -1000000..=1000000.
    #[schema(minimum = -1_000_000, maximum = 1_000_000)]
    pub priority: i32,
    pub active: bool,
}

impl PriceRuleRequest {
    /// Validates and builds the record for `rule_id`.
    pub fn to_record(
        self,
        rule_id: &str,
        meta: &Meta,
        now: i64,
    ) -> Result<PriceRuleUpserted, Problem> {
        path_id("rule_id", rule_id)?;
        v::text("body.name", &self.name, 200)?;
        match (self.kind, self.percent_off_bps, self.amount_minor) {
            (RuleKind::PercentOff, Some(bps), None) => {
                if !(1..=10_000).contains(&bps) {
                    return Err(Problem::invalid(
                        "body.percent_off_bps",
                        "must be 1..=10000",
                    ));
                }
            }
            (RuleKind::PercentOff, None, _) => {
                return Err(Problem::invalid(
                    "body.percent_off_bps",
                    "required for PERCENT_OFF",
                ));
            }
            (RuleKind::PercentOff, Some(_), Some(_)) => {
                return Err(Problem::invalid(
                    "body.amount_minor",
                    "must be absent for PERCENT_OFF",
                ));
            }
            (_, Some(_), _) => {
                return Err(Problem::invalid(
                    "body.percent_off_bps",
                    "only for PERCENT_OFF",
                ));
            }
            (_, None, None) => {
                return Err(Problem::invalid(
                    "body.amount_minor",
                    "required for AMOUNT_OFF and FIXED_PRICE",
                ));
            }
            (_, None, Some(a)) => v::money("body.amount_minor", a)?,
        }
        match (&self.amount_minor, &self.currency) {
            (Some(_), Some(c)) => v::currency("body.currency", c)?,
            (Some(_), None) => {
                return Err(Problem::invalid(
                    "body.currency",
                    "required with amount_minor",
                ));
            }
            (None, Some(_)) => {
                return Err(Problem::invalid(
                    "body.currency",
                    "only allowed with amount_minor",
                ));
            }
            (None, None) => {}
        }
        match (self.scope, self.scope_value.as_deref()) {
            (RuleScope::Sku, Some(s)) => v::id("body.scope_value", s)?,
            (RuleScope::Category, Some(c)) => category("body.scope_value", c)?,
            (RuleScope::All, None) => {}
            (RuleScope::All, Some(_)) => {
                return Err(Problem::invalid(
                    "body.scope_value",
                    "must be absent for ALL",
                ));
            }
            (_, None) => {
                return Err(Problem::invalid(
                    "body.scope_value",
                    "required for SKU and CATEGORY",
                ));
            }
        }
        for (f, t) in [
            ("body.valid_from", self.valid_from),
            ("body.valid_until", self.valid_until),
        ] {
            if t.is_some_and(|t| t < 0) {
                return Err(Problem::invalid(f, "must be ms since the epoch, >= 0"));
            }
        }
        if let (Some(a), Some(b)) = (self.valid_from, self.valid_until)
            && a >= b
        {
            return Err(Problem::invalid(
                "body.valid_until",
                "must be after valid_from",
            ));
        }
        if !(-1_000_000..=1_000_000).contains(&self.priority) {
            return Err(Problem::invalid(
                "body.priority",
                "must be -1000000..=1000000",
            ));
        }
        Ok(PriceRuleUpserted {
            event_id: meta.event_id,
            event_time: now,
            rule_id: rule_id.to_owned(),
            name: self.name,
            kind: match self.kind {
                RuleKind::PercentOff => PriceRuleKind::PercentOff,
                RuleKind::AmountOff => PriceRuleKind::AmountOff,
                RuleKind::FixedPrice => PriceRuleKind::FixedPrice,
            },
            percent_off_bps: self.percent_off_bps,
            amount_minor: self.amount_minor,
            currency: self.currency,
            scope: match self.scope {
                RuleScope::Sku => PriceRuleScope::Sku,
                RuleScope::Category => PriceRuleScope::Category,
                RuleScope::All => PriceRuleScope::All,
            },
            scope_value: self.scope_value,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            priority: self.priority,
            active: self.active,
        })
    }
}

/// Create or replace a price rule.
#[utoipa::path(put, path = "/v1/admin/price-rules/{rule_id}", tag = "admin",
    params(("rule_id" = String, Path, description = "Rule id")),
    request_body = PriceRuleRequest,
    responses((status = 202, body = super::Accepted), crate::openapi::Errors),
    security(("bearer" = [])))]
pub async fn put_price_rule(
    State(state): State<Shared>,
    Extension(_admin): Extension<Principal>,
    Trace(trace): Trace,
    Path(rule_id): Path<String>,
    Json(req): Json<PriceRuleRequest>,
) -> Result<Response, Problem> {
    let meta = Meta::new(trace);
    let record = req.to_record(&rule_id, &meta, super::now_ms())?;
    produce_one(&state, CATALOG_PRICE_RULES, &rule_id, Some(&record), meta).await
}

/// Delete a price rule (a tombstone on `catalog.price-rules`).
#[utoipa::path(delete, path = "/v1/admin/price-rules/{rule_id}", tag = "admin",
    params(("rule_id" = String, Path, description = "Rule id")),
    responses((status = 202, body = super::Accepted), crate::openapi::Errors),
    security(("bearer" = [])))]
pub async fn delete_price_rule(
    State(state): State<Shared>,
    Extension(_admin): Extension<Principal>,
    Trace(trace): Trace,
    Path(rule_id): Path<String>,
) -> Result<Response, Problem> {
    path_id("rule_id", &rule_id)?;
    produce_one(
        &state,
        CATALOG_PRICE_RULES,
        &rule_id,
        None,
        Meta::new(trace),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use techpotli_telemetry::TraceParent;

    fn rule(v: serde_json::Value) -> Result<PriceRuleUpserted, Problem> {
        let req: PriceRuleRequest = serde_json::from_value(v).unwrap();
        req.to_record("R-1", &Meta::new(TraceParent::new_root()), 1)
    }

    #[test]
    fn price_rule_kind_and_scope_rules() {
        let base = serde_json::json!({"name": "Diwali", "kind": "PERCENT_OFF", "percent_off_bps": 1000,
            "scope": "CATEGORY", "scope_value": "bags", "priority": 1, "active": true});
        let r = rule(base.clone()).unwrap();
        assert_eq!(r.kind, PriceRuleKind::PercentOff);
        assert_eq!(r.scope_value.as_deref(), Some("bags"));
        let with = |k: &str, v: serde_json::Value| {
            let mut b = base.clone();
            b[k] = v;
            rule(b).unwrap_err().field.unwrap()
        };
        assert_eq!(with("percent_off_bps", 0.into()), "body.percent_off_bps");
        assert_eq!(with("kind", "AMOUNT_OFF".into()), "body.percent_off_bps");
        assert_eq!(with("scope", "ALL".into()), "body.scope_value");
        assert_eq!(with("valid_from", (-5).into()), "body.valid_from");
        let mut amount = base.clone();
        amount["kind"] = "FIXED_PRICE".into();
        amount["percent_off_bps"] = serde_json::Value::Null;
        amount["amount_minor"] = 100.into();
        assert_eq!(
            rule(amount.clone()).unwrap_err().field.unwrap(),
            "body.currency"
        );
        amount["currency"] = "INR".into();
        amount["valid_from"] = 10.into();
        amount["valid_until"] = 10.into();
        assert_eq!(
            rule(amount.clone()).unwrap_err().field.unwrap(),
            "body.valid_until"
        );
        amount["valid_until"] = 11.into();
        assert_eq!(rule(amount).unwrap().amount_minor, Some(100));
    }
}
