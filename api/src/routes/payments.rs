//! The payment provider's webhook (`payments.events`, key order_id). Authenticated by the
//! signature over the raw body (see [`crate::webhook`]) before the body is even parsed.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use techpotli_schemas::types::payments::{
    PaymentAuthorized, PaymentEvent, PaymentEventPayload, PaymentFailed, PaymentFailureReason,
    PaymentRefunded,
};
use techpotli_topics::typed::PAYMENTS_EVENTS;
use utoipa::ToSchema;

use super::{Trace, path_id};
use crate::app::Shared;
use crate::idempotency::{Claim, fingerprint};
use crate::problem::Problem;
use crate::produce::Meta;
use crate::validate::{self as v};
use crate::webhook;

/// What happened to the payment.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
pub enum Outcome {
    #[serde(rename = "payment.authorized")]
    Authorized,
    #[serde(rename = "payment.failed")]
    Failed,
    #[serde(rename = "payment.refunded")]
    Refunded,
}

/// Normalised failure cause.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureReason {
    Declined,
    InsufficientFunds,
    CardExpired,
    AuthenticationFailed,
    FraudSuspected,
    ProviderError,
    Unknown,
}

/// The webhook body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    #[serde(rename = "type")]
    pub kind: Outcome,
    /// The merchant reference: our order id.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[A-Za-z0-9._:-]+$")]
    pub order_id: String,
    /// The provider's payment id.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[A-Za-z0-9._:-]+$")]
    pub provider_reference: String,
    /// When it happened (ms since the epoch); absent = receipt time.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub occurred_at: Option<i64>,
    #[schema(minimum = 1, maximum = 10_000_000_000_000_i64)]
    pub amount_minor: i64,
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
    /// payment.failed only.
    #[serde(default)]
    pub failure_reason: Option<FailureReason>,
    /// payment.failed only: the provider's own code/message.
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub provider_message: Option<String>,
    /// payment.refunded only (required there).
    #[serde(default)]
    #[schema(max_length = 128, pattern = r"^[A-Za-z0-9._:-]+$")]
    pub refund_reference: Option<String>,
    /// payment.refunded only.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub refund_reason: Option<String>,
}

impl WebhookRequest {
    /// Validates and builds the record.
    pub fn to_record(self, provider: &str, meta: &Meta, now: i64) -> Result<PaymentEvent, Problem> {
        v::id("body.order_id", &self.order_id)?;
        v::id("body.provider_reference", &self.provider_reference)?;
        v::positive_money("body.amount_minor", self.amount_minor)?;
        v::currency("body.currency", &self.currency)?;
        if self.occurred_at.is_some_and(|t| t < 0) {
            return Err(Problem::invalid("body.occurred_at", "must be >= 0"));
        }
        let only = |present: bool, field: &str, kind: &str| {
            if present {
                Err(Problem::invalid(field, format!("only for {kind}")))
            } else {
                Ok(())
            }
        };
        if self.kind != Outcome::Failed {
            only(
                self.failure_reason.is_some(),
                "body.failure_reason",
                "payment.failed",
            )?;
            only(
                self.provider_message.is_some(),
                "body.provider_message",
                "payment.failed",
            )?;
        }
        if self.kind != Outcome::Refunded {
            only(
                self.refund_reference.is_some(),
                "body.refund_reference",
                "payment.refunded",
            )?;
            only(
                self.refund_reason.is_some(),
                "body.refund_reason",
                "payment.refunded",
            )?;
        }
        v::optional_text(
            "body.provider_message",
            self.provider_message.as_deref(),
            1000,
        )?;
        v::optional_text("body.refund_reason", self.refund_reason.as_deref(), 500)?;
        let payload = match self.kind {
            Outcome::Authorized => PaymentEventPayload::PaymentAuthorized(PaymentAuthorized {
                amount_minor: self.amount_minor,
                currency: self.currency,
            }),
            Outcome::Failed => PaymentEventPayload::PaymentFailed(PaymentFailed {
                amount_minor: self.amount_minor,
                currency: self.currency,
                reason: match self.failure_reason.unwrap_or(FailureReason::Unknown) {
                    FailureReason::Declined => PaymentFailureReason::Declined,
                    FailureReason::InsufficientFunds => PaymentFailureReason::InsufficientFunds,
                    FailureReason::CardExpired => PaymentFailureReason::CardExpired,
                    FailureReason::AuthenticationFailed => {
                        PaymentFailureReason::AuthenticationFailed
                    }
                    FailureReason::FraudSuspected => PaymentFailureReason::FraudSuspected,
                    FailureReason::ProviderError => PaymentFailureReason::ProviderError,
                    FailureReason::Unknown => PaymentFailureReason::Unknown,
                },
                provider_message: self.provider_message,
            }),
            Outcome::Refunded => {
                let r = self.refund_reference.ok_or_else(|| {
                    Problem::invalid("body.refund_reference", "required for payment.refunded")
                })?;
                v::id("body.refund_reference", &r)?;
                PaymentEventPayload::PaymentRefunded(PaymentRefunded {
                    amount_minor: self.amount_minor,
                    currency: self.currency,
                    refund_reference: r,
                    reason: self.refund_reason,
                })
            }
        };
        Ok(PaymentEvent {
            event_id: meta.event_id,
            event_time: self.occurred_at.unwrap_or(now),
            order_id: self.order_id,
            provider: provider.to_owned(),
            provider_reference: self.provider_reference,
            payload,
        })
    }
}

/// Receive a payment outcome from a configured provider. Signed with
/// `Techpotli-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`.
#[utoipa::path(post, path = "/v1/webhooks/payments/{provider}", tag = "payments",
    params(("provider" = String, Path, description = "Configured provider name", example = "fake"),
        ("Techpotli-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256>")),
    request_body = WebhookRequest,
    responses((status = 202, body = super::Accepted), crate::openapi::Errors))]
pub async fn payment_webhook(
    State(state): State<Shared>,
    Trace(trace): Trace,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, Problem> {
    path_id("provider", &provider)?;
    let secret = state
        .checked
        .webhook_secrets
        .get(&provider)
        .ok_or_else(|| {
            Problem::new(
                axum::http::StatusCode::NOT_FOUND,
                "unknown-provider",
                "Unknown payment provider",
                "no webhook secret is configured for this provider",
            )
            .at("path.provider")
        })?;
    let body = body.map_err(crate::validate::body_problem)?;
    let signature = headers
        .get(webhook::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let now = super::now_ms();
    if let Err(p) = webhook::verify(
        secret,
        signature,
        &body,
        now / 1000,
        state.config.webhook_tolerance_secs,
    ) {
        metrics::counter!("api_webhook_rejected_total", "provider" => provider.clone())
            .increment(1);
        return Err(p);
    }
    let req: WebhookRequest = crate::validate::parse(&body)?;
    let meta = Meta::new(trace);
    let record = req.to_record(&provider, &meta, now)?;
    // A verbatim redelivery (same signature) inside the tolerance window is answered with the
    // first event id and produces nothing, like a retried checkout.
    let dedup_key = signature.unwrap_or_default();
    let print = fingerprint(&body);
    let scope = format!("webhook:{provider}");
    match state.idempotency.claim(&scope, dedup_key, &print).await? {
        Claim::Replay(answer) => {
            metrics::counter!("api_webhook_redeliveries_total").increment(1);
            return Ok(super::accepted(meta.trace, &answer));
        }
        Claim::Fresh | Claim::Unavailable => {}
    }
    let key = record.order_id.clone();
    if let Err(p) = super::produce(&state, PAYMENTS_EVENTS, &key, Some(&record), &meta).await {
        state.idempotency.release(&scope, dedup_key).await;
        return Err(p);
    }
    let answer = super::Accepted {
        event_id: meta.event_id,
    };
    let json = serde_json::to_value(&answer).expect("serialisable");
    state
        .idempotency
        .complete(&scope, dedup_key, &print, json)
        .await;
    Ok(super::accepted(meta.trace, &answer))
}
