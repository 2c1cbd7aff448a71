//! Storefront activity batches (`storefront.activity`, key session_id): up to 500 events a
//! request, anonymous or signed in. The answer comes once every record is acknowledged.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures::future::join_all;
use serde::{Deserialize, Serialize};
use techpotli_schemas::types::storefront::{ActivityKind, UserActivity};
use techpotli_topics::typed::STOREFRONT_ACTIVITY;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Trace, accepted, produce};
use crate::app::Shared;
use crate::auth::Principal;
use crate::problem::Problem;
use crate::produce::Meta;
use crate::validate::{self as v, Json};

/// Most events in one batch.
pub const MAX_BATCH: usize = 500;
/// Client timestamps older than this, or further ahead, are replaced by the receipt time.
const PLAUSIBLE_PAST_MS: i64 = 24 * 3600 * 1000;
const PLAUSIBLE_FUTURE_MS: i64 = 5 * 60 * 1000;

/// Kind of interaction.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    PageView,
    ProductView,
    Search,
    Click,
    AddToCart,
    CheckoutStarted,
}

/// One interaction.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityEvent {
    /// Storefront session (also for anonymous visitors).
    #[schema(min_length = 1, max_length = 128, pattern = r"^[A-Za-z0-9._:-]+$")]
    pub session_id: String,
    pub kind: Kind,
    /// Required for PRODUCT_VIEW and ADD_TO_CART, optional for CLICK, absent otherwise.
    #[serde(default)]
    #[schema(max_length = 128, pattern = r"^[A-Za-z0-9._:-]+$")]
    pub sku: Option<String>,
    /// Search text; required for SEARCH, absent otherwise.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub query: Option<String>,
    /// Page URL or app route.
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub referrer: Option<String>,
    /// When it happened on the client (ms since the epoch); implausible times are replaced by
    /// the receipt time.
    #[serde(default)]
    pub occurred_at: Option<i64>,
}

/// A batch of 1..=500 interactions.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityBatch {
    #[schema(min_items = 1, max_items = 500)]
    pub events: Vec<ActivityEvent>,
}

/// `202` for a batch: one event id per input event, in order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchAccepted {
    pub event_ids: Vec<Uuid>,
}

impl ActivityEvent {
    fn into_record(
        self,
        i: usize,
        user_id: Option<&str>,
        user_agent: Option<&str>,
        meta: &Meta,
        now: i64,
    ) -> Result<UserActivity, Problem> {
        let f = |name: &str| format!("body.events[{i}].{name}");
        v::id(&f("session_id"), &self.session_id)?;
        let (sku_rule, query_rule) = match self.kind {
            Kind::ProductView | Kind::AddToCart => (Some(true), Some(false)),
            Kind::Search => (Some(false), Some(true)),
            Kind::Click => (None, Some(false)),
            Kind::PageView | Kind::CheckoutStarted => (Some(false), Some(false)),
        };
        match (sku_rule, &self.sku) {
            (Some(true), None) => return Err(Problem::invalid(f("sku"), "required for this kind")),
            (Some(false), Some(_)) => {
                return Err(Problem::invalid(f("sku"), "not allowed for this kind"));
            }
            (_, Some(s)) => v::id(&f("sku"), s)?,
            _ => {}
        }
        match (query_rule, &self.query) {
            (Some(true), None) => return Err(Problem::invalid(f("query"), "required for SEARCH")),
            (Some(false), Some(_)) => return Err(Problem::invalid(f("query"), "only for SEARCH")),
            (_, Some(q)) => v::text(&f("query"), q, 500)?,
            _ => {}
        }
        if let Some(u) = &self.url {
            v::page_url(&f("url"), u)?;
        }
        if let Some(u) = &self.referrer {
            v::page_url(&f("referrer"), u)?;
        }
        let event_time = self
            .occurred_at
            .filter(|t| (now - PLAUSIBLE_PAST_MS..=now + PLAUSIBLE_FUTURE_MS).contains(t))
            .unwrap_or(now);
        Ok(UserActivity {
            event_id: meta.event_id,
            event_time,
            session_id: self.session_id,
            user_id: user_id.map(str::to_owned),
            kind: match self.kind {
                Kind::PageView => ActivityKind::PageView,
                Kind::ProductView => ActivityKind::ProductView,
                Kind::Search => ActivityKind::Search,
                Kind::Click => ActivityKind::Click,
                Kind::AddToCart => ActivityKind::AddToCart,
                Kind::CheckoutStarted => ActivityKind::CheckoutStarted,
            },
            sku: self.sku,
            query: self.query,
            url: self.url,
            referrer: self.referrer,
            user_agent: user_agent.map(str::to_owned),
        })
    }
}

impl ActivityBatch {
    /// Validates every event (all or nothing) and builds one record per event.
    pub fn to_records(
        self,
        user_id: Option<&str>,
        user_agent: Option<&str>,
        trace: techpotli_telemetry::TraceParent,
        now: i64,
    ) -> Result<Vec<(UserActivity, Meta)>, Problem> {
        if self.events.is_empty() {
            return Err(Problem::invalid("body.events", "at least one event"));
        }
        v::max_items("body.events", &self.events, MAX_BATCH)?;
        self.events
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let meta = Meta::new(trace);
                e.into_record(i, user_id, user_agent, &meta, now)
                    .map(|r| (r, meta))
            })
            .collect()
    }
}

/// Report storefront interactions (anonymous allowed; a bearer token, when sent, must be
/// valid and sets `user_id`).
#[utoipa::path(post, path = "/v1/activity", tag = "storefront",
    request_body = ActivityBatch,
    responses((status = 202, body = BatchAccepted), crate::openapi::Errors),
    security((), ("bearer" = [])))]
pub async fn post_activity(
    State(state): State<Shared>,
    caller: Option<axum::Extension<Principal>>,
    Trace(trace): Trace,
    headers: HeaderMap,
    Json(batch): Json<ActivityBatch>,
) -> Result<Response, Problem> {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect::<String>());
    let user = caller.as_ref().map(|c| c.user_id.as_str());
    let records = batch.to_records(user, user_agent.as_deref(), trace, super::now_ms())?;
    // Wait for every outcome (a dropped delivery future would not cancel its record); any
    // failure makes the whole batch 503, so a 202 means every record was acknowledged.
    let outcomes = join_all(
        records
            .iter()
            .map(|(r, m)| produce(&state, STOREFRONT_ACTIVITY, &r.session_id, Some(r), m)),
    )
    .await;
    if let Some(Err(p)) = outcomes.into_iter().find(Result::is_err) {
        return Err(p);
    }
    let event_ids = records.iter().map(|(_, m)| m.event_id).collect();
    Ok(accepted(trace, &BatchAccepted { event_ids }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use techpotli_telemetry::TraceParent;

    fn go(v: serde_json::Value) -> Result<Vec<(UserActivity, Meta)>, Problem> {
        let b: ActivityBatch = serde_json::from_value(v).unwrap();
        b.to_records(
            Some("u-1"),
            Some("ua"),
            TraceParent::new_root(),
            1_000_000_000_000,
        )
    }

    #[test]
    fn kinds_require_their_fields_and_times_are_plausible() {
        let ok = go(serde_json::json!({"events": [
            {"session_id": "s1", "kind": "PRODUCT_VIEW", "sku": "SKU-1", "occurred_at": 999_999_999_000_i64},
            {"session_id": "s1", "kind": "SEARCH", "query": "potli", "occurred_at": 1},
        ]}))
        .unwrap();
        assert_eq!(ok[0].0.event_time, 999_999_999_000);
        assert_eq!(
            ok[1].0.event_time, 1_000_000_000_000,
            "implausible time replaced"
        );
        assert_eq!(ok[1].0.user_agent.as_deref(), Some("ua"));
        assert_ne!(ok[0].1.event_id, ok[1].1.event_id);
        let field = |e: serde_json::Value| {
            go(serde_json::json!({"events": [e]}))
                .unwrap_err()
                .field
                .unwrap()
        };
        assert_eq!(
            field(serde_json::json!({"session_id": "s", "kind": "PRODUCT_VIEW"})),
            "body.events[0].sku"
        );
        assert_eq!(
            field(serde_json::json!({"session_id": "s", "kind": "SEARCH"})),
            "body.events[0].query"
        );
        assert_eq!(
            field(
                serde_json::json!({"session_id": "s", "kind": "PAGE_VIEW", "url": "javascript:1"})
            ),
            "body.events[0].url"
        );
        let many: Vec<_> = (0..501)
            .map(|_| serde_json::json!({"session_id": "s", "kind": "PAGE_VIEW"}))
            .collect();
        assert_eq!(
            go(serde_json::json!({"events": many}))
                .unwrap_err()
                .field
                .unwrap(),
            "body.events"
        );
        assert_eq!(
            go(serde_json::json!({"events": []}))
                .unwrap_err()
                .field
                .unwrap(),
            "body.events"
        );
    }
}
