//! Customer endpoints against the real stack (dev auth): profile, cart lifecycle, idempotent
//! checkout; ownership (403) and field validation (4xx naming the field, nothing produced).

mod common;

use common::{Stack, WAIT, assert_headers, assert_problem, event_id, read_topic};
use reqwest::StatusCode;
use serde_json::json;
use techpotli_schemas::types::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_profile_carts_and_orders() {
    let prices = format!("test:{}:", uuid::Uuid::new_v4().simple());
    common::seed_prices(&prices, &[("SKU-1", 49_900), ("SKU-3", 100)]).await;
    // A SKU Redis lacks is looked up in MySQL before it is called unpriced.
    let (database_url, _db) = common::fresh_database("customer").await;
    let s = Stack::start(|c| {
        c.read_redis_prefix = prices;
        c.database_url = database_url;
    })
    .await;
    let me = [("x-dev-user", "user-1"), ("x-dev-roles", "customer")];
    let profile = json!({"name": "Asha", "email": "asha@example.in", "phone": "+919812345678",
        "locale": "en-IN", "marketing_opt_in": true, "notification_preferences": {
            "email_enabled": true, "sms_enabled": true, "push_enabled": false,
            "webhook_enabled": true, "in_app_enabled": true,
            "webhook_url": "https://hooks.example/asha", "push_token": null}});
    let ok = s
        .put("/v1/customers/user-1/profile", profile.clone(), &me)
        .await;
    assert_eq!(ok.0, StatusCode::ACCEPTED, "{}", ok.1);
    let other = s
        .put("/v1/customers/user-2/profile", profile.clone(), &me)
        .await;
    assert_eq!(other.0, StatusCode::FORBIDDEN, "{}", other.1);
    let mut bad = profile.clone();
    bad["notification_preferences"]["webhook_url"] = json!("http://insecure.example");
    assert_problem(
        &s.put("/v1/customers/user-1/profile", bad, &me).await,
        422,
        "body.notification_preferences.webhook_url",
    );
    let recs = read_topic(&s.broker.bootstrap, "customers.profiles", 1, WAIT).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].key.as_deref(), Some("user-1"));
    assert_headers(&recs[0], &event_id(&ok.1).to_string());
    let got: CustomerUpserted = s.decode(&recs[0]).await;
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
    let created = s
        .post(
            "/v1/carts",
            json!({"sku": "SKU-1", "quantity": 2}),
            &session,
        )
        .await;
    assert_eq!(created.0, StatusCode::ACCEPTED, "{}", created.1);
    let cart = created.1["cart_id"].as_str().unwrap().to_owned();
    let items = format!("/v1/carts/{cart}/items");
    let added = s
        .post(&items, json!({"sku": "SKU-2", "quantity": 1000}), &me)
        .await;
    assert_eq!(added.0, StatusCode::ACCEPTED, "{}", added.1);
    assert_problem(
        &s.post(&items, json!({"sku": "SKU-2", "quantity": 1001}), &me)
            .await,
        422,
        "body.quantity",
    );
    assert_problem(
        &s.post(&items, json!({"sku": "SKU-2", "quantity": 0}), &me)
            .await,
        422,
        "body.quantity",
    );
    let thief = [("x-dev-user", "user-2"), ("x-dev-roles", "customer")];
    assert_eq!(
        s.post(&items, json!({"sku": "SKU-2", "quantity": 1}), &thief)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(s.delete(&items, &thief).await.0, StatusCode::FORBIDDEN);
    let removed = s.delete(&format!("{items}/SKU-2?quantity=5"), &me).await;
    assert_eq!(removed.0, StatusCode::ACCEPTED, "{}", removed.1);
    let cleared = s.delete(&items, &me).await;
    assert_eq!(cleared.0, StatusCode::ACCEPTED, "{}", cleared.1);
    let recs = read_topic(&s.broker.bootstrap, "carts.events", 4, WAIT).await;
    assert_eq!(recs.len(), 4);
    let mut decoded = Vec::new();
    for (r, resp) in recs.iter().zip([&created, &added, &removed, &cleared]) {
        assert_eq!(r.key.as_deref(), Some(cart.as_str()));
        assert_headers(r, &event_id(&resp.1).to_string());
        let e: CartEvent = s.decode(r).await;
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

    // Orders: priced by the server; idempotent on the key; the same key with another body is
    // refused.
    let order = json!({"cart_id": cart, "currency": "INR",
        "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price_minor": 49_900}, {"sku": "SKU-3", "quantity": 1}],
        "discount_minor": 0, "shipping_minor": 0, "tax_minor": 0,
        "shipping_address": {"recipient_name": "Asha", "line1": "1 MG Road", "line2": null, "city": "Pune",
            "region": "MH", "postal_code": "411001", "country_code": "IN", "phone": "+919812345678"}});
    let key = [
        ("x-dev-user", "user-1"),
        ("x-dev-roles", "customer"),
        ("idempotency-key", "checkout-1"),
    ];
    let mut tampered = order.clone();
    tampered["lines"][0]["unit_price_minor"] = json!(1);
    let conflict = s.post("/v1/orders", tampered, &key).await;
    assert_problem(&conflict, 409, "body.lines[0].unit_price_minor");
    assert_eq!(conflict.1["quote"]["total_minor"], 2 * 49_900 + 100);
    let mut free_shipping = order.clone();
    free_shipping["shipping_minor"] = json!(5000);
    let key0 = [
        ("x-dev-user", "user-1"),
        ("x-dev-roles", "customer"),
        ("idempotency-key", "checkout-0"),
    ];
    assert_problem(
        &s.post("/v1/orders", free_shipping, &key0).await,
        409,
        "body.shipping_minor",
    );
    let mut unpriced = order.clone();
    unpriced["lines"][1]["sku"] = json!("SKU-NO-PRICE");
    assert_problem(
        &s.post("/v1/orders", unpriced, &key0).await,
        422,
        "body.lines[1].sku",
    );
    let first = s.post("/v1/orders", order.clone(), &key).await;
    assert_eq!(first.0, StatusCode::ACCEPTED, "{}", first.1);
    assert_eq!(
        first.1["total_minor"],
        2 * 49_900 + 100,
        "the server's prices"
    );
    let again = s.post("/v1/orders", order.clone(), &key).await;
    assert_eq!(again.0, StatusCode::ACCEPTED);
    assert_eq!(again.1, first.1, "a retry gets the first answer");
    assert_eq!(again.2["idempotent-replayed"], "true");
    let mut changed = order.clone();
    changed["tax_minor"] = json!(1);
    assert_problem(
        &s.post("/v1/orders", changed, &key).await,
        422,
        "header.Idempotency-Key",
    );
    assert_problem(
        &s.post("/v1/orders", order.clone(), &me).await,
        422,
        "header.Idempotency-Key",
    );
    let thief_key = [
        ("x-dev-user", "user-2"),
        ("x-dev-roles", "customer"),
        ("idempotency-key", "k-9"),
    ];
    assert_eq!(
        s.post("/v1/orders", order.clone(), &thief_key).await.0,
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
    assert_problem(&s.post("/v1/orders", bad, &key2).await, 422, "body.lines");
    let mut bad = order.clone();
    bad["currency"] = json!("ABC");
    assert_problem(
        &s.post("/v1/orders", bad, &key2).await,
        422,
        "body.currency",
    );
    let recs = read_topic(&s.broker.bootstrap, "orders.placed", 1, WAIT).await;
    assert_eq!(recs.len(), 1, "one order for one idempotency key");
    let order_id = first.1["order_id"].as_str().unwrap();
    assert_eq!(recs[0].key.as_deref(), Some(order_id));
    assert_headers(&recs[0], &event_id(&first.1).to_string());
    let got: OrderPlaced = s.decode(&recs[0]).await;
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
            discount_minor: 0,
            shipping_minor: 0,
            tax_minor: 0,
            total_minor: 99_900,
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
    assert_eq!(first.1["total_minor"], 99_900);
}
