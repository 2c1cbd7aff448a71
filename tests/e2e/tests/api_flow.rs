//! The storefront's view of the order flow, driven only through the ingress API: an admin
//! lists a product, puts it on sale and restocks it, the price appears on
//! `GET /v1/prices/{sku}`, a customer who sends a lowered price gets 409 with the server's
//! quote and no order, then places the order at the server's price, the payment provider's signed
//! webhook authorises it, and the customer watches it become confirmed through
//! `GET /v1/orders/{id}` (MySQL, with its status history) while `GET /v1/stock/{sku}` shows
//! the stock reserved. Processors and sinks are the real ones, on the real broker, MariaDB and
//! Redis.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use techpotli_e2e::Stack;
use techpotli_e2e::api::Api;
use techpotli_e2e::sinks::Sinks;

const ADMIN: (&str, &str) = ("ops-1", "admin");
const ASHA: (&str, &str) = ("asha", "customer");
const RAVI: (&str, &str) = ("ravi", "customer");
const WAIT: Duration = Duration::from_secs(60);

fn states(order: &Value) -> Vec<&str> {
    order["history"]
        .as_array()
        .map(|h| h.iter().filter_map(|s| s["state"].as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn an_order_placed_and_paid_through_the_api_is_confirmed_and_readable() {
    let stack = Stack::start();
    let sinks = Sinks::start(&stack);
    let _inventory = stack.spawn_inventory("e2e-0");
    let _saga = stack.spawn_saga("e2e-0", Duration::from_secs(120));
    let _pricing = stack.spawn_pricing("e2e-0");
    let api = Api::start(&stack, &sinks);

    // Admin: the product and its stock.
    let product = json!({"product_id": "P-7", "title": "Potli bag, blue", "category": "bags/potli",
        "list_price_minor": 49_900, "currency": "INR", "active": true});
    let r = api.call(
        Method::PUT,
        "/v1/admin/products/SKU-7",
        ADMIN,
        Some(&product),
        &[],
    );
    assert_eq!(r.0, 202, "{}", r.1);
    let sale = json!({"name": "10% off bags", "kind": "PERCENT_OFF", "percent_off_bps": 1_000,
        "scope": "CATEGORY", "scope_value": "bags", "priority": 1, "active": true});
    let r = api.call(
        Method::PUT,
        "/v1/admin/price-rules/bags-10",
        ADMIN,
        Some(&sale),
        &[],
    );
    assert_eq!(r.0, 202, "{}", r.1);
    let price = api.poll("/v1/prices/SKU-7", ASHA, WAIT, |r| {
        r.0 == 200 && r.1["effective_price_minor"] == 44_910
    });
    assert_eq!(price.1["applied_rule_ids"], json!(["bags-10"]));
    assert_eq!(price.1["list_price_minor"], 49_900);
    let restock = json!({"delta": 10, "reason": "RESTOCK", "note": "first batch"});
    let path = "/v1/admin/inventory/SKU-7/adjustments";
    let r = api.call(Method::POST, path, ADMIN, Some(&restock), &[]);
    assert_eq!(r.0, 202, "{}", r.1);
    let stock = api.poll("/v1/stock/SKU-7", ASHA, WAIT, |r| r.0 == 200);
    assert_eq!(
        (&stock.1["on_hand"], &stock.1["available"]),
        (&json!(10), &json!(10))
    );

    // Her cart, priced by the pipeline at the sale price; only she (and admins) may read it.
    let item = json!({"sku": "SKU-7", "quantity": 2});
    let created = api.call(Method::POST, "/v1/carts", ASHA, Some(&item), &[]);
    assert_eq!(created.0, 202, "{}", created.1);
    let cart_id = created.1["cart_id"].as_str().expect("cart id").to_owned();
    let cart_path = format!("/v1/carts/{cart_id}");
    let cart = api.poll(&cart_path, ASHA, WAIT, |r| r.0 == 200);
    assert_eq!(cart.1["total_minor"], 2 * 44_910, "{}", cart.1);
    assert_eq!(
        cart.1["lines"],
        json!([{"sku": "SKU-7", "quantity": 2, "list_unit_price_minor": 49_900,
                "unit_price_minor": 44_910, "line_total_minor": 2 * 44_910}])
    );
    assert_eq!(api.call(Method::GET, &cart_path, RAVI, None, &[]).0, 403);
    assert_eq!(api.call(Method::GET, &cart_path, ADMIN, None, &[]).0, 200);

    // A tampered checkout: the client lowers the unit price. 409 with the server's quote;
    // nothing is placed.
    let mut order = json!({"currency": "INR",
        "lines": [{"sku": "SKU-7", "quantity": 3, "unit_price_minor": 1}],
        "shipping_address": {"recipient_name": "Asha", "line1": "1 MG Road", "city": "Pune",
            "postal_code": "411001", "country_code": "IN"}});
    let tamper_key = [("idempotency-key", "checkout-0")];
    let refused = api.call(Method::POST, "/v1/orders", ASHA, Some(&order), &tamper_key);
    assert_eq!(refused.0, 409, "{}", refused.1);
    assert_eq!(refused.1["field"], "body.lines[0].unit_price_minor");
    assert_eq!(refused.1["quote"]["total_minor"], 3 * 44_910);

    // Customer: place the order at the quoted price (checkout is idempotent per key).
    order["lines"][0]["unit_price_minor"] = json!(44_910);
    let key = [("idempotency-key", "checkout-1")];
    let placed = api.call(Method::POST, "/v1/orders", ASHA, Some(&order), &key);
    assert_eq!(placed.0, 202, "{}", placed.1);
    let again = api.call(Method::POST, "/v1/orders", ASHA, Some(&order), &key);
    assert_eq!(
        again.1["event_id"], placed.1["event_id"],
        "a retry is answered, not re-placed"
    );
    let order_id = placed.1["order_id"].as_str().expect("order id").to_owned();
    let total = placed.1["total_minor"].as_i64().expect("total");
    assert_eq!(total, 3 * 44_910, "the server's price, sale applied");
    let me = format!("/v1/orders/{order_id}");
    let waiting = api.poll(&me, ASHA, WAIT, |r| {
        r.0 == 200 && r.1["status"] == "AWAITING_PAYMENT"
    });
    assert_eq!(waiting.1["total_minor"], total);

    // The provider authorises the payment.
    let paid = api.webhook(&json!({"type": "payment.authorized", "order_id": order_id,
        "provider_reference": "pay_777", "amount_minor": total, "currency": "INR"}));
    assert_eq!(paid.0, 202, "{}", paid.1);

    // Confirmed, from MySQL, with the whole history and the lines as placed.
    let done = api.poll(&me, ASHA, WAIT, |r| {
        r.0 == 200 && r.1["status"] == "CONFIRMED" && r.1["source"] == "mysql"
    });
    let o = &done.1;
    assert_eq!(
        states(o),
        [
            "PLACED",
            "RESERVING",
            "RESERVED",
            "AWAITING_PAYMENT",
            "PAID",
            "CONFIRMED"
        ]
    );
    assert_eq!(o["user_id"], "asha");
    assert_eq!(
        o["lines"],
        json!([{"sku": "SKU-7", "quantity": 3, "unit_price_minor": 44_910}])
    );
    assert_eq!(o["shipping_address"]["city"], "Pune");
    let (mysql_orders, _) = sinks.mysql_orders();
    assert_eq!(
        mysql_orders.get(&order_id).map(String::as_str),
        Some("CONFIRMED")
    );
    assert_eq!(
        mysql_orders.len(),
        1,
        "the tampered checkout placed nothing"
    );

    // Only its customer and admins may look.
    assert_eq!(api.call(Method::GET, &me, RAVI, None, &[]).0, 403);
    assert_eq!(api.call(Method::GET, &me, ADMIN, None, &[]).0, 200);

    // The confirmed order holds its stock.
    let held = api.poll("/v1/stock/SKU-7", ASHA, WAIT, |r| {
        r.0 == 200 && r.1["reserved"] == 3
    });
    assert_eq!(
        (&held.1["on_hand"], &held.1["available"]),
        (&json!(10), &json!(7))
    );
    assert_eq!(sinks.mysql_stock().get("SKU-7"), Some(&(10, 3)));
}
