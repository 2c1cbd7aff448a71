//! Storefront activity batches and signed payment webhooks against the real stack: records
//! read back equal the requests; bad batches, bad signatures and stale timestamps produce nothing.

mod common;

use common::{Stack, WAIT, assert_headers, assert_problem, event_id, read_topic};
use reqwest::StatusCode;
use serde_json::{Value, json};
use techpotli_schemas::types::*;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_batches_and_signed_payment_webhooks() {
    let secret = "whsec_test_0123456789abcdef";
    let s = Stack::start(|c| c.payment_webhook_secrets = format!("fake={secret}")).await;
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let batch = json!({"events": [
        {"session_id": "sess-9", "kind": "PRODUCT_VIEW", "sku": "SKU-1", "url": "https://shop.example/p/1", "occurred_at": now - 1000},
        {"session_id": "sess-9", "kind": "SEARCH", "query": "potli bag", "referrer": "https://search.example/"},
    ]});
    // Under dev auth every caller is `dev-user` (anonymous callers are covered in auth.rs).
    let ok = s
        .post("/v1/activity", batch, &[("user-agent", "test-agent/1")])
        .await;
    assert_eq!(ok.0, StatusCode::ACCEPTED, "{}", ok.1);
    let ids: Vec<Uuid> = ok.1["event_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    let too_many = json!({"events": (0..501).map(|_| json!({"session_id": "s", "kind": "PAGE_VIEW"})).collect::<Vec<_>>()});
    assert_problem(
        &s.post("/v1/activity", too_many, &[]).await,
        422,
        "body.events",
    );
    let bad = json!({"events": [{"session_id": "s", "kind": "PAGE_VIEW"}, {"session_id": "s", "kind": "ADD_TO_CART"}]});
    assert_problem(
        &s.post("/v1/activity", bad, &[]).await,
        422,
        "body.events[1].sku",
    );
    let recs = read_topic(&s.broker.bootstrap, "storefront.activity", 2, WAIT).await;
    assert_eq!(
        recs.len(),
        2,
        "a rejected batch produces nothing, not even its valid events"
    );
    let mut got = Vec::new();
    for r in &recs {
        assert_eq!(r.key.as_deref(), Some("sess-9"));
        got.push(s.decode::<UserActivity>(r).await);
    }
    got.sort_by_key(|a| a.event_id);
    assert_headers(
        &recs[0],
        &got.iter()
            .find(|g| g.event_id.to_string() == recs[0].headers["event_id"])
            .unwrap()
            .event_id
            .to_string(),
    );
    assert_eq!(
        got[0],
        UserActivity {
            event_id: ids[0],
            event_time: now - 1000,
            session_id: "sess-9".into(),
            user_id: Some("dev-user".into()),
            kind: ActivityKind::ProductView,
            sku: Some("SKU-1".into()),
            query: None,
            url: Some("https://shop.example/p/1".into()),
            referrer: None,
            user_agent: Some("test-agent/1".into()),
        }
    );
    assert_eq!(
        (got[1].event_id, got[1].kind, got[1].query.as_deref()),
        (ids[1], ActivityKind::Search, Some("potli bag"))
    );

    // Payment webhook: signed over the raw body with a fresh timestamp.
    let body = json!({"type": "payment.failed", "order_id": "ord-1", "provider_reference": "pay_1",
        "occurred_at": now, "amount_minor": 104_000, "currency": "INR",
        "failure_reason": "CARD_EXPIRED", "provider_message": "card expired"})
    .to_string();
    let post = |body: String, sig: String| {
        s.http
            .post(s.url("/v1/webhooks/payments/fake"))
            .header("content-type", "application/json")
            .header("techpotli-signature", sig)
            .body(body)
            .send()
    };
    let t = now / 1000;
    let ok = post(
        body.clone(),
        techpotli_api::webhook::sign(secret.as_bytes(), t, body.as_bytes()),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), StatusCode::ACCEPTED);
    let ok: Value = ok.json().await.unwrap();
    let bad_sig = post(
        body.clone(),
        techpotli_api::webhook::sign(b"wrong-secret-wrong-secret", t, body.as_bytes()),
    )
    .await
    .unwrap();
    assert_eq!(bad_sig.status(), StatusCode::UNAUTHORIZED);
    let replayed = post(
        body.clone(),
        techpotli_api::webhook::sign(secret.as_bytes(), t - 301, body.as_bytes()),
    )
    .await
    .unwrap();
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
    let tampered = body.replace("104000", "1");
    let r = post(
        tampered,
        techpotli_api::webhook::sign(secret.as_bytes(), t, body.as_bytes()),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let unknown = s
        .http
        .post(s.url("/v1/webhooks/payments/other"))
        .header("content-type", "application/json")
        .header(
            "techpotli-signature",
            techpotli_api::webhook::sign(secret.as_bytes(), t, body.as_bytes()),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let invalid =
        json!({"type": "payment.refunded", "order_id": "ord-1", "provider_reference": "pay_1",
        "amount_minor": 5, "currency": "INR"})
        .to_string();
    let r = post(
        invalid.clone(),
        techpotli_api::webhook::sign(secret.as_bytes(), t, invalid.as_bytes()),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<Value>().await.unwrap()["field"],
        "body.refund_reference"
    );
    let recs = read_topic(&s.broker.bootstrap, "payments.events", 1, WAIT).await;
    assert_eq!(
        recs.len(),
        1,
        "only the signed, fresh, valid webhook reached the topic"
    );
    assert_eq!(recs[0].key.as_deref(), Some("ord-1"));
    assert_headers(&recs[0], &event_id(&ok).to_string());
    let got: PaymentEvent = s.decode(&recs[0]).await;
    assert_eq!(
        got,
        PaymentEvent {
            event_id: event_id(&ok),
            event_time: now,
            order_id: "ord-1".into(),
            provider: "fake".into(),
            provider_reference: "pay_1".into(),
            payload: PaymentEventPayload::PaymentFailed(PaymentFailed {
                amount_minor: 104_000,
                currency: "INR".into(),
                reason: PaymentFailureReason::CardExpired,
                provider_message: Some("card expired".into()),
            }),
        }
    );
}
