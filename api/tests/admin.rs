//! Admin endpoints against the real stack (dev auth): products (upsert, tombstone), price
//! rules, stock adjustments. Valid requests are answered 202 after the broker acknowledged and
//! the record read back from Kafka, decoded through the registry, equals the request, with its
//! headers; invalid ones get a problem naming the field and put nothing on the topic.

mod common;

use std::collections::BTreeMap;

use common::{Stack, WAIT, assert_headers, assert_problem, event_id, read_topic};
use reqwest::StatusCode;
use serde_json::json;
use techpotli_schemas::types::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_catalogue_price_rules_and_stock() {
    let s = Stack::start(|_| {}).await;
    let product = json!({"product_id": "P-1", "title": "Potli bag, red", "description": "Silk",
        "category": "bags/potli", "brand": "Potli Co", "attributes": {"colour": "red", "size": "l"},
        "list_price_minor": 49_900, "currency": "INR", "active": true,
        "image_urls": ["https://img.example/p1.png"]});
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let ok = s
        .put(
            "/v1/admin/products/SKU-1",
            product.clone(),
            &[("traceparent", tp)],
        )
        .await;
    assert_eq!(ok.0, StatusCode::ACCEPTED, "{}", ok.1);
    let id = event_id(&ok.1);
    assert_eq!(id.get_version_num(), 7);
    // Invalid ones: each names its field and nothing reaches the topic.
    for (field, value, status) in [
        ("currency", json!("RUPEES"), 422),
        ("surprise", json!(1), 400),
        ("list_price_minor", json!(12.5), 400),
    ] {
        let mut bad = product.clone();
        bad[field] = value;
        let got = s.put("/v1/admin/products/SKU-2", bad, &[]).await;
        assert_problem(&got, status, &format!("body.{field}"));
    }
    // (Another key: the topic is compacted, so a tombstone for SKU-1 could remove the upsert.)
    let del = s.delete("/v1/admin/products/SKU-9", &[]).await;
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
    let got: ProductUpserted = s.decode(&recs[0]).await;
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
    let ok = s.put("/v1/admin/price-rules/R-1", rule.clone(), &[]).await;
    assert_eq!(ok.0, StatusCode::ACCEPTED, "{}", ok.1);
    let mut bad = rule.clone();
    bad["percent_off_bps"] = json!(20_000);
    assert_problem(
        &s.put("/v1/admin/price-rules/R-2", bad, &[]).await,
        422,
        "body.percent_off_bps",
    );
    let del_rule = s.delete("/v1/admin/price-rules/R-9", &[]).await;
    assert_eq!(del_rule.0, StatusCode::ACCEPTED);
    let mut recs = read_topic(&s.broker.bootstrap, "catalog.price-rules", 2, WAIT).await;
    recs.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(recs.len(), 2);
    assert_headers(&recs[0], &event_id(&ok.1).to_string());
    let got: PriceRuleUpserted = s.decode(&recs[0]).await;
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
    let ok = s
        .post(
            "/v1/admin/inventory/SKU-1/adjustments",
            adj,
            &[("x-dev-user", "admin-7")],
        )
        .await;
    assert_eq!(ok.0, StatusCode::ACCEPTED, "{}", ok.1);
    let bad = json!({"delta": 3, "reason": "DAMAGE"});
    assert_problem(
        &s.post("/v1/admin/inventory/SKU-1/adjustments", bad, &[])
            .await,
        422,
        "body.delta",
    );
    let bad = json!({"delta": 3, "reason": "STOLEN"});
    assert_problem(
        &s.post("/v1/admin/inventory/SKU-1/adjustments", bad, &[])
            .await,
        400,
        "body.reason",
    );
    let recs = read_topic(&s.broker.bootstrap, "inventory.adjustments", 1, WAIT).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].key.as_deref(), Some("SKU-1"));
    let got: StockAdjusted = s.decode(&recs[0]).await;
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
    let forbidden = s
        .delete("/v1/admin/products/SKU-1", &[("x-dev-roles", "customer")])
        .await;
    assert_eq!(forbidden.0, StatusCode::FORBIDDEN);
    assert_eq!(
        read_topic(&s.broker.bootstrap, "catalog.products", 2, WAIT)
            .await
            .len(),
        2
    );
}
