//! Every write endpoint against the real stack (dev auth): a valid request is answered 202
//! after the broker acknowledged, and the record read back from Kafka and decoded through the
//! registry equals the request, with its headers; invalid requests get a problem naming the
//! field and put nothing on the topic.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Stack, assert_headers, read_topic};
use reqwest::StatusCode;
use serde_json::{Value, json};
use techpotli_schemas::types::*;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);

/// Sends `body` and returns (status, JSON body, headers).
async fn send(
    s: &Stack,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut rb = s.http.request(method, s.url(path));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status();
    let h = r.headers().clone();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, v, h)
}

fn event_id(v: &Value) -> Uuid {
    v["event_id"].as_str().unwrap().parse().unwrap()
}

/// A problem body naming `field` with `status`.
fn assert_problem(got: &(StatusCode, Value, reqwest::header::HeaderMap), status: u16, field: &str) {
    assert_eq!(got.0.as_u16(), status, "{}", got.1);
    assert_eq!(got.2["content-type"], "application/problem+json");
    assert_eq!(got.1["field"], field, "{}", got.1);
    assert!(got.1["type"].as_str().unwrap().starts_with("/problems/"));
    assert!(!got.1["detail"].as_str().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_catalogue_price_rules_and_stock() {
    let s = Stack::start(|_| {}).await;
    let put = reqwest::Method::PUT;
    let product = json!({"product_id": "P-1", "title": "Potli bag, red", "description": "Silk",
        "category": "bags/potli", "brand": "Potli Co", "attributes": {"colour": "red", "size": "l"},
        "list_price_minor": 49_900, "currency": "INR", "active": true,
        "image_urls": ["https://img.example/p1.png"]});
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let ok = send(
        &s,
        put.clone(),
        "/v1/admin/products/SKU-1",
        Some(product.clone()),
        &[("traceparent", tp)],
    )
    .await;
    assert_eq!(ok.0, StatusCode::ACCEPTED, "{}", ok.1);
    let id = event_id(&ok.1);
    assert_eq!(id.get_version_num(), 7);
    // Invalid ones: each names its field and nothing reaches the topic.
    let mut bad = product.clone();
    bad["currency"] = json!("RUPEES");
    assert_problem(
        &send(&s, put.clone(), "/v1/admin/products/SKU-2", Some(bad), &[]).await,
        422,
        "body.currency",
    );
    let mut bad = product.clone();
    bad["surprise"] = json!(1);
    assert_problem(
        &send(&s, put.clone(), "/v1/admin/products/SKU-2", Some(bad), &[]).await,
        400,
        "body.surprise",
    );
    let mut bad = product.clone();
    bad["list_price_minor"] = json!(12.5);
    assert_problem(
        &send(&s, put.clone(), "/v1/admin/products/SKU-2", Some(bad), &[]).await,
        400,
        "body.list_price_minor",
    );
    // (Another key: the topic is compacted, so a tombstone for SKU-1 could remove the upsert.)
    let del = send(
        &s,
        reqwest::Method::DELETE,
        "/v1/admin/products/SKU-9",
        None,
        &[],
    )
    .await;
    assert_eq!(del.0, StatusCode::ACCEPTED);

    let mut recs = read_topic(&s.broker.bootstrap, "catalog.products", 2, WAIT).await;
    assert_eq!(
        recs.len(),
        2,
        "only the two accepted requests reached the topic"
    );
    recs.sort_by(|a, b| a.key.cmp(&b.key)); // partitions interleave
    assert_eq!(recs[0].key.as_deref(), Some("SKU-1"));
    assert_headers(&recs[0], &id.to_string());
    // The caller's trace is continued: same trace id, new span.
    assert!(recs[0].headers["traceparent"].starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    assert_ne!(recs[0].headers["traceparent"], tp);
    let got: ProductUpserted = s
        .codec
        .decode(recs[0].payload.as_ref().unwrap())
        .await
        .unwrap();
    let expected = ProductUpserted {
        event_id: id,
        event_time: got.event_time,
        sku: "SKU-1".into(),
        product_id: "P-1".into(),
        title: "Potli bag, red".into(),
        description: Some("Silk".into()),
        category: "bags/potli".into(),
        brand: Some("Potli Co".into()),
        attributes: BTreeMap::from([("colour".into(), "red".into()), ("size".into(), "l".into())]),
        list_price_minor: 49_900,
        currency: "INR".into(),
        active: true,
        image_urls: vec!["https://img.example/p1.png".into()],
    };
    assert_eq!(got, expected);
    assert!(
        (got.event_time
            - i64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
            )
            .unwrap())
        .abs()
            < 60_000
    );
    assert_eq!(recs[1].key.as_deref(), Some("SKU-9"));
    assert!(recs[1].payload.is_none(), "delete is a tombstone");
    assert_headers(&recs[1], &event_id(&del.1).to_string());

    // Price rules.
    let rule = json!({"name": "Diwali 10%", "kind": "PERCENT_OFF", "percent_off_bps": 1000,
        "scope": "CATEGORY", "scope_value": "bags", "valid_from": 1_700_000_000_000_i64,
        "valid_until": 1_800_000_000_000_i64, "priority": 5, "active": true});
    let ok = send(
        &s,
        put.clone(),
        "/v1/admin/price-rules/R-1",
        Some(rule.clone()),
        &[],
    )
    .await;
    assert_eq!(ok.0, StatusCode::ACCEPTED, "{}", ok.1);
    let mut bad = rule.clone();
    bad["percent_off_bps"] = json!(20_000);
    assert_problem(
        &send(&s, put.clone(), "/v1/admin/price-rules/R-2", Some(bad), &[]).await,
        422,
        "body.percent_off_bps",
    );
    let del_rule = send(
        &s,
        reqwest::Method::DELETE,
        "/v1/admin/price-rules/R-9",
        None,
        &[],
    )
    .await;
    assert_eq!(del_rule.0, StatusCode::ACCEPTED);
    let mut recs = read_topic(&s.broker.bootstrap, "catalog.price-rules", 2, WAIT).await;
    recs.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(recs.len(), 2);
    assert_headers(&recs[0], &event_id(&ok.1).to_string());
    let got: PriceRuleUpserted = s
        .codec
        .decode(recs[0].payload.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(
        got,
        PriceRuleUpserted {
            event_id: event_id(&ok.1),
            event_time: got.event_time,
            rule_id: "R-1".into(),
            name: "Diwali 10%".into(),
            kind: PriceRuleKind::PercentOff,
            percent_off_bps: Some(1000),
            amount_minor: None,
            currency: None,
            scope: PriceRuleScope::Category,
            scope_value: Some("bags".into()),
            valid_from: Some(1_700_000_000_000),
            valid_until: Some(1_800_000_000_000),
            priority: 5,
            active: true,
        }
    );
    assert!(recs[1].payload.is_none());

    // Stock adjustments: the actor is the caller.
    let adj = json!({"delta": -3, "reason": "DAMAGE", "note": "water damage"});
    let ok = send(
        &s,
        reqwest::Method::POST,
        "/v1/admin/inventory/SKU-1/adjustments",
        Some(adj),
        &[("x-dev-user", "admin-7")],
    )
    .await;
    assert_eq!(ok.0, StatusCode::ACCEPTED, "{}", ok.1);
    let bad = json!({"delta": 3, "reason": "DAMAGE"});
    assert_problem(
        &send(
            &s,
            reqwest::Method::POST,
            "/v1/admin/inventory/SKU-1/adjustments",
            Some(bad),
            &[],
        )
        .await,
        422,
        "body.delta",
    );
    let bad = json!({"delta": 3, "reason": "STOLEN"});
    assert_problem(
        &send(
            &s,
            reqwest::Method::POST,
            "/v1/admin/inventory/SKU-1/adjustments",
            Some(bad),
            &[],
        )
        .await,
        400,
        "body.reason",
    );
    let recs = read_topic(&s.broker.bootstrap, "inventory.adjustments", 1, WAIT).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].key.as_deref(), Some("SKU-1"));
    let got: StockAdjusted = s
        .codec
        .decode(recs[0].payload.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(
        got,
        StockAdjusted {
            event_id: event_id(&ok.1),
            event_time: got.event_time,
            sku: "SKU-1".into(),
            delta: -3,
            reason: StockAdjustmentReason::Damage,
            note: Some("water damage".into()),
            actor: "admin-7".into(),
        }
    );
    // Admin routes need the admin role.
    let forbidden = send(
        &s,
        reqwest::Method::DELETE,
        "/v1/admin/products/SKU-1",
        None,
        &[("x-dev-roles", "customer")],
    )
    .await;
    assert_eq!(forbidden.0, StatusCode::FORBIDDEN);
    assert_eq!(
        read_topic(&s.broker.bootstrap, "catalog.products", 2, WAIT)
            .await
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_profile_carts_and_orders() {
    let s = Stack::start(|_| {}).await;
    let me = [("x-dev-user", "user-1"), ("x-dev-roles", "customer")];
    let profile = json!({"name": "Asha", "email": "asha@example.in", "phone": "+919812345678",
        "locale": "en-IN", "marketing_opt_in": true, "notification_preferences": {
            "email_enabled": true, "sms_enabled": true, "push_enabled": false,
            "webhook_enabled": true, "in_app_enabled": true,
            "webhook_url": "https://hooks.example/asha", "push_token": null}});
    let ok = send(
        &s,
        reqwest::Method::PUT,
        "/v1/customers/user-1/profile",
        Some(profile.clone()),
        &me,
    )
    .await;
    assert_eq!(ok.0, StatusCode::ACCEPTED, "{}", ok.1);
    let other = send(
        &s,
        reqwest::Method::PUT,
        "/v1/customers/user-2/profile",
        Some(profile.clone()),
        &me,
    )
    .await;
    assert_eq!(other.0, StatusCode::FORBIDDEN, "{}", other.1);
    let mut bad = profile.clone();
    bad["notification_preferences"]["webhook_url"] = json!("http://insecure.example");
    assert_problem(
        &send(
            &s,
            reqwest::Method::PUT,
            "/v1/customers/user-1/profile",
            Some(bad),
            &me,
        )
        .await,
        422,
        "body.notification_preferences.webhook_url",
    );
    let recs = read_topic(&s.broker.bootstrap, "customers.profiles", 1, WAIT).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].key.as_deref(), Some("user-1"));
    assert_headers(&recs[0], &event_id(&ok.1).to_string());
    let got: CustomerUpserted = s
        .codec
        .decode(recs[0].payload.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(
        got,
        CustomerUpserted {
            event_id: event_id(&ok.1),
            event_time: got.event_time,
            user_id: "user-1".into(),
            name: "Asha".into(),
            email: "asha@example.in".into(),
            phone: Some("+919812345678".into()),
            locale: "en-IN".into(),
            notification_preferences: NotificationPreferences {
                email_enabled: true,
                sms_enabled: true,
                push_enabled: false,
                webhook_enabled: true,
                in_app_enabled: true,
                webhook_url: Some("https://hooks.example/asha".into()),
                push_token: None,
            },
            marketing_opt_in: true,
        }
    );

    // Carts: create with the first item, add, remove, clear; another user's cart is 403.
    let session = [
        ("x-dev-user", "user-1"),
        ("x-dev-roles", "customer"),
        ("x-session-id", "sess-1"),
    ];
    let created = send(
        &s,
        reqwest::Method::POST,
        "/v1/carts",
        Some(json!({"sku": "SKU-1", "quantity": 2})),
        &session,
    )
    .await;
    assert_eq!(created.0, StatusCode::ACCEPTED, "{}", created.1);
    let cart = created.1["cart_id"].as_str().unwrap().to_owned();
    let items = format!("/v1/carts/{cart}/items");
    let added = send(
        &s,
        reqwest::Method::POST,
        &items,
        Some(json!({"sku": "SKU-2", "quantity": 1000})),
        &me,
    )
    .await;
    assert_eq!(added.0, StatusCode::ACCEPTED, "{}", added.1);
    assert_problem(
        &send(
            &s,
            reqwest::Method::POST,
            &items,
            Some(json!({"sku": "SKU-2", "quantity": 1001})),
            &me,
        )
        .await,
        422,
        "body.quantity",
    );
    assert_problem(
        &send(
            &s,
            reqwest::Method::POST,
            &items,
            Some(json!({"sku": "SKU-2", "quantity": 0})),
            &me,
        )
        .await,
        422,
        "body.quantity",
    );
    let thief = [("x-dev-user", "user-2"), ("x-dev-roles", "customer")];
    assert_eq!(
        send(
            &s,
            reqwest::Method::POST,
            &items,
            Some(json!({"sku": "SKU-2", "quantity": 1})),
            &thief
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&s, reqwest::Method::DELETE, &items, None, &thief)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let removed = send(
        &s,
        reqwest::Method::DELETE,
        &format!("{items}/SKU-2?quantity=5"),
        None,
        &me,
    )
    .await;
    assert_eq!(removed.0, StatusCode::ACCEPTED, "{}", removed.1);
    let cleared = send(&s, reqwest::Method::DELETE, &items, None, &me).await;
    assert_eq!(cleared.0, StatusCode::ACCEPTED, "{}", cleared.1);
    let recs = read_topic(&s.broker.bootstrap, "carts.events", 4, WAIT).await;
    assert_eq!(recs.len(), 4);
    let mut decoded = Vec::new();
    for (r, resp) in recs.iter().zip([&created, &added, &removed, &cleared]) {
        assert_eq!(r.key.as_deref(), Some(cart.as_str()));
        assert_headers(r, &event_id(&resp.1).to_string());
        let e: CartEvent = s.codec.decode(r.payload.as_ref().unwrap()).await.unwrap();
        assert_eq!(
            (e.event_id, e.cart_id.as_str(), e.user_id.as_deref()),
            (event_id(&resp.1), cart.as_str(), Some("user-1"))
        );
        decoded.push(e);
    }
    assert_eq!(decoded[0].session_id.as_deref(), Some("sess-1"));
    assert_eq!(
        decoded[0].payload,
        CartEventPayload::CartItemAdded(CartItemAdded {
            sku: "SKU-1".into(),
            quantity: 2
        })
    );
    assert_eq!(
        decoded[1].payload,
        CartEventPayload::CartItemAdded(CartItemAdded {
            sku: "SKU-2".into(),
            quantity: 1000
        })
    );
    assert_eq!(
        decoded[2].payload,
        CartEventPayload::CartItemRemoved(CartItemRemoved {
            sku: "SKU-2".into(),
            quantity: Some(5)
        })
    );
    assert_eq!(
        decoded[3].payload,
        CartEventPayload::CartCleared(CartCleared {
            reason: CartClearedReason::UserCleared
        })
    );

    // Orders: idempotent on the key; the same key with another body is refused.
    let order = json!({"cart_id": cart, "currency": "INR",
        "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price_minor": 49_900}, {"sku": "SKU-3", "quantity": 1, "unit_price_minor": 100}],
        "discount_minor": 900, "shipping_minor": 5000, "tax_minor": 0,
        "shipping_address": {"recipient_name": "Asha", "line1": "1 MG Road", "line2": null, "city": "Pune",
            "region": "MH", "postal_code": "411001", "country_code": "IN", "phone": "+919812345678"}});
    let key = [
        ("x-dev-user", "user-1"),
        ("x-dev-roles", "customer"),
        ("idempotency-key", "checkout-1"),
    ];
    let first = send(
        &s,
        reqwest::Method::POST,
        "/v1/orders",
        Some(order.clone()),
        &key,
    )
    .await;
    assert_eq!(first.0, StatusCode::ACCEPTED, "{}", first.1);
    let again = send(
        &s,
        reqwest::Method::POST,
        "/v1/orders",
        Some(order.clone()),
        &key,
    )
    .await;
    assert_eq!(again.0, StatusCode::ACCEPTED);
    assert_eq!(again.1, first.1, "a retry gets the first answer");
    assert_eq!(again.2["idempotent-replayed"], "true");
    let mut changed = order.clone();
    changed["tax_minor"] = json!(1);
    assert_problem(
        &send(&s, reqwest::Method::POST, "/v1/orders", Some(changed), &key).await,
        422,
        "header.Idempotency-Key",
    );
    assert_problem(
        &send(
            &s,
            reqwest::Method::POST,
            "/v1/orders",
            Some(order.clone()),
            &me,
        )
        .await,
        422,
        "header.Idempotency-Key",
    );
    let thief_key = [
        ("x-dev-user", "user-2"),
        ("x-dev-roles", "customer"),
        ("idempotency-key", "k-9"),
    ];
    assert_eq!(
        send(
            &s,
            reqwest::Method::POST,
            "/v1/orders",
            Some(order.clone()),
            &thief_key
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let mut bad = order.clone();
    bad["lines"] = json!(
        (0..101)
            .map(|i| json!({"sku": format!("S-{i}"), "quantity": 1, "unit_price_minor": 1}))
            .collect::<Vec<_>>()
    );
    let key2 = [
        ("x-dev-user", "user-1"),
        ("x-dev-roles", "customer"),
        ("idempotency-key", "checkout-2"),
    ];
    assert_problem(
        &send(&s, reqwest::Method::POST, "/v1/orders", Some(bad), &key2).await,
        422,
        "body.lines",
    );
    let mut bad = order.clone();
    bad["currency"] = json!("ABC");
    assert_problem(
        &send(&s, reqwest::Method::POST, "/v1/orders", Some(bad), &key2).await,
        422,
        "body.currency",
    );
    let recs = read_topic(&s.broker.bootstrap, "orders.placed", 1, WAIT).await;
    assert_eq!(recs.len(), 1, "one order for one idempotency key");
    let order_id = first.1["order_id"].as_str().unwrap();
    assert_eq!(recs[0].key.as_deref(), Some(order_id));
    assert_headers(&recs[0], &event_id(&first.1).to_string());
    let got: OrderPlaced = s
        .codec
        .decode(recs[0].payload.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(
        got,
        OrderPlaced {
            event_id: event_id(&first.1),
            event_time: got.event_time,
            order_id: order_id.into(),
            user_id: "user-1".into(),
            idempotency_key: "checkout-1".into(),
            cart_id: Some(cart.clone()),
            currency: "INR".into(),
            lines: vec![
                OrderLine {
                    sku: "SKU-1".into(),
                    quantity: 2,
                    unit_price_minor: 49_900
                },
                OrderLine {
                    sku: "SKU-3".into(),
                    quantity: 1,
                    unit_price_minor: 100
                },
            ],
            subtotal_minor: 99_900,
            discount_minor: 900,
            shipping_minor: 5000,
            tax_minor: 0,
            total_minor: 104_000,
            shipping_address: ShippingAddress {
                recipient_name: "Asha".into(),
                line1: "1 MG Road".into(),
                line2: None,
                city: "Pune".into(),
                region: Some("MH".into()),
                postal_code: "411001".into(),
                country_code: "IN".into(),
                phone: Some("+919812345678".into()),
            },
        }
    );
    assert_eq!(first.1["total_minor"], 104_000);
}

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
    let ok = send(
        &s,
        reqwest::Method::POST,
        "/v1/activity",
        Some(batch),
        &[("user-agent", "test-agent/1")],
    )
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
        &send(
            &s,
            reqwest::Method::POST,
            "/v1/activity",
            Some(too_many),
            &[],
        )
        .await,
        422,
        "body.events",
    );
    let bad = json!({"events": [{"session_id": "s", "kind": "PAGE_VIEW"}, {"session_id": "s", "kind": "ADD_TO_CART"}]});
    assert_problem(
        &send(&s, reqwest::Method::POST, "/v1/activity", Some(bad), &[]).await,
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
        got.push(
            s.codec
                .decode::<UserActivity>(r.payload.as_ref().unwrap())
                .await
                .unwrap(),
        );
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
    let got: PaymentEvent = s
        .codec
        .decode(recs[0].payload.as_ref().unwrap())
        .await
        .unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edges_probes_openapi_and_body_limits() {
    let s = Stack::start(|c| c.cors_origins = "https://shop.example".into()).await;
    let get = |p: &str| s.http.get(s.url(p)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    // The readiness probe reaches the broker within a few seconds.
    let mut ready = false;
    for _ in 0..50 {
        if get("/readyz").await.unwrap().status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "/readyz never became ready");
    let doc: Value = get("/openapi.json").await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let docs = get("/docs").await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("openapi"));
    // Security headers and request ids on every answer.
    let r = get("/v1/nope").await.unwrap();
    assert_eq!(r.status(), 404);
    for h in [
        "strict-transport-security",
        "content-security-policy",
        "x-content-type-options",
        "x-frame-options",
        "x-request-id",
    ] {
        assert!(r.headers().contains_key(h), "{h} missing");
    }
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // Errors made outside the handlers (method not allowed) are problems with the same headers.
    let r = get("/v1/orders").await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert!(r.headers().contains_key("allow"));
    assert!(r.headers().contains_key("strict-transport-security"));
    // CORS for a configured origin only.
    let pre = |origin: &'static str| {
        s.http
            .request(reqwest::Method::OPTIONS, s.url("/v1/orders"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let ok = pre("https://shop.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let no = pre("https://evil.example").await.unwrap();
    assert!(!no.headers().contains_key("access-control-allow-origin"));
    // Body limit (256 KiB) and media type.
    let big =
        json!({"events": [{"session_id": "s", "kind": "SEARCH", "query": "x".repeat(300 * 1024)}]});
    let r = send(&s, reqwest::Method::POST, "/v1/activity", Some(big), &[]).await;
    assert_eq!(r.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.2["content-type"], "application/problem+json");
    assert_eq!(r.2["x-frame-options"], "DENY");
    let r = s
        .http
        .post(s.url("/v1/activity"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Metrics: per-route request counts and latency histograms, produce latency.
    let _ = send(
        &s,
        reqwest::Method::POST,
        "/v1/activity",
        Some(json!({"events": [{"session_id": "s", "kind": "PAGE_VIEW"}]})),
        &[],
    )
    .await;
    let m = get("/metrics").await.unwrap().text().await.unwrap();
    for needle in [
        "api_http_requests_total",
        "api_http_request_duration_seconds_bucket",
        "route=\"/v1/activity\"",
        "api_produce_duration_seconds",
        "api_http_errors_total",
    ] {
        assert!(m.contains(needle), "{needle} missing from /metrics");
    }
    assert_eq!(
        read_topic(&s.broker.bootstrap, "storefront.activity", 1, WAIT)
            .await
            .len(),
        1
    );
}
