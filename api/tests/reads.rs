//! Read endpoints against real MariaDB and Redis (rows and hashes seeded as the sinks write
//! them): owner/admin/other customer, 404, bad ids, and each store standing in for the other
//! when it is down or has not materialised the record.

mod common;

use common::{Reply, Stack, assert_problem};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Executor;

/// A throwaway database with the sink's migrations applied and one order + one level seeded.
async fn seed_mysql() -> (String, sqlx::MySqlPool) {
    let (url, db) = common::fresh_database("reads").await;
    for sql in [
        r#"INSERT INTO orders (order_id, user_id, idempotency_key, currency, subtotal_minor,
             discount_minor, shipping_minor, tax_minor, total_minor, shipping_address,
             placed_event_id, placed_at_ms, status, status_reason, status_sequence, status_at_ms)
           VALUES ('o1', 'user-1', 'k1', 'INR', 2500, 0, 100, 0, 2600,
             '{"city":"Pune","country_code":"IN"}', '0192f000-0000-7000-8000-000000000001', 10,
             'CONFIRMED', NULL, 3, 30)"#,
        "INSERT INTO order_lines VALUES ('o1', 2, 'B-2', 1, 500, 'INR'), ('o1', 1, 'A-1', 4, 500, 'INR')",
        "INSERT INTO order_status_history VALUES
           ('0192f000-0000-7000-8000-000000000013', 'o1', 3, 'CONFIRMED', 'PAID', NULL, 30, 2600, 'INR', 0, 2),
           ('0192f000-0000-7000-8000-000000000011', 'o1', 1, 'PLACED', NULL, '', 11, 2600, 'INR', 0, 0),
           ('0192f000-0000-7000-8000-000000000012', 'o1', 2, 'RESERVING', 'PLACED', NULL, 20, 2600, 'INR', 0, 1)",
        "INSERT INTO stock_levels VALUES ('S-MYSQL', 10, 3, 7, FALSE, 'RESERVATION',
           '0192f000-0000-7000-8000-000000000021', 40, 0, 5)",
        r#"INSERT INTO prices VALUES ('P-MYSQL', 1000, 900, 'INR', '["r1"]', 70,
           '0192f000-0000-7000-8000-000000000031', 45, 0, 6)"#,
    ] {
        db.execute(sql).await.unwrap();
    }
    (url, db)
}

async fn seed_redis(prefix: &str) {
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("HSET")
        .arg(format!("{prefix}stock:S-REDIS"))
        .arg(&[
            ("sku", "S-REDIS"),
            ("on_hand", "5"),
            ("reserved", "5"),
            ("available", "0"),
            ("flagged", "1"),
            ("last_change", "CORRECTION"),
            ("event_time_ms", "50"),
        ])
        .query_async(&mut c)
        .await
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg(format!("{prefix}order:o-redis"))
        .arg(&[
            ("order_id", "o-redis"),
            ("user_id", "user-1"),
            ("status", "AWAITING_PAYMENT"),
            ("status_sequence", "4"),
            ("status_at_ms", "60"),
            ("currency", "INR"),
            ("total_minor", "900"),
            (
                "lines",
                r#"[{"sku":"A-1","quantity":1,"unit_price_minor":900}]"#,
            ),
        ])
        .query_async(&mut c)
        .await
        .unwrap();
    // Gone within the hour even when the test fails before its end.
    for key in ["stock:S-REDIS", "order:o-redis"] {
        let _: () = redis::cmd("PEXPIRE")
            .arg(format!("{prefix}{key}"))
            .arg(3_600_000)
            .query_async(&mut c)
            .await
            .unwrap();
    }
}

async fn get(s: &Stack, path: &str, user: &str, roles: &str) -> Reply {
    s.get(path, &[("x-dev-user", user), ("x-dev-roles", roles)])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_and_stock_are_read_from_mysql_and_redis_with_fallbacks() {
    let (database_url, db) = seed_mysql().await;
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    seed_redis(&prefix).await;
    common::seed_prices(&prefix, &[("P-REDIS", 49_900)]).await;
    let (url, p) = (database_url.clone(), prefix.clone());
    let s = Stack::start(move |c| {
        c.database_url = url;
        c.read_redis_prefix = p;
    })
    .await;

    // The owner sees the order from MySQL with lines in line order and history oldest first.
    let owner = get(&s, "/v1/orders/o1", "user-1", "customer").await;
    assert_eq!(owner.0, StatusCode::OK, "{}", owner.1);
    assert_eq!(owner.2["cache-control"], "private, no-store");
    let o = &owner.1;
    assert_eq!(o["source"], "mysql");
    assert_eq!(o["status"], "CONFIRMED");
    assert_eq!(o["total_minor"], 2600);
    assert_eq!(o["currency"], "INR");
    assert_eq!(o["shipping_address"]["city"], "Pune");
    assert_eq!(
        o["lines"],
        json!([{"sku": "A-1", "quantity": 4, "unit_price_minor": 500},
               {"sku": "B-2", "quantity": 1, "unit_price_minor": 500}])
    );
    let states: Vec<_> = o["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["PLACED", "RESERVING", "CONFIRMED"]);
    assert_eq!(o["history"][0]["reason"], serde_json::Value::Null);

    // Another customer may not; an admin may.
    let other = get(&s, "/v1/orders/o1", "user-2", "customer").await;
    assert_eq!(other.0, StatusCode::FORBIDDEN, "{}", other.1);
    assert_eq!(other.2["content-type"], "application/problem+json");
    let admin = get(&s, "/v1/orders/o1", "ops-1", "admin").await;
    assert_eq!(admin.0, StatusCode::OK, "{}", admin.1);

    // Not materialised in MySQL but in Redis: served from Redis, without history.
    let cached = get(&s, "/v1/orders/o-redis", "user-1", "customer").await;
    assert_eq!(cached.0, StatusCode::OK, "{}", cached.1);
    assert_eq!(cached.1["source"], "redis");
    assert_eq!(cached.1["status"], "AWAITING_PAYMENT");
    assert_eq!(cached.1["lines"][0]["unit_price_minor"], 900);
    assert_eq!(cached.1["history"], json!([]));
    let missing = get(&s, "/v1/orders/nope", "user-1", "customer").await;
    assert_eq!(missing.0, StatusCode::NOT_FOUND, "{}", missing.1);
    assert_problem(
        &get(&s, "/v1/orders/bad%20id", "user-1", "customer").await,
        422,
        "path.order_id",
    );

    // Stock: Redis first, MySQL when Redis lacks the SKU; anonymous callers allowed.
    let hot = s.get("/v1/stock/S-REDIS", &[]).await;
    assert_eq!(hot.0, StatusCode::OK, "{}", hot.1);
    assert_eq!(
        hot.1,
        json!({"sku": "S-REDIS", "on_hand": 5, "reserved": 5, "available": 0, "flagged": true,
               "last_change": "CORRECTION", "event_time_ms": 50, "source": "redis"})
    );
    let cold = get(&s, "/v1/stock/S-MYSQL", "user-1", "customer").await;
    assert_eq!(cold.0, StatusCode::OK, "{}", cold.1);
    assert_eq!(cold.1["source"], "mysql");
    assert_eq!(cold.1["available"], 7);
    assert_eq!(
        get(&s, "/v1/stock/NONE", "user-1", "customer").await.0,
        StatusCode::NOT_FOUND
    );
    assert_problem(
        &get(&s, "/v1/stock/%24x", "user-1", "customer").await,
        422,
        "path.sku",
    );

    // Prices: Redis first, MySQL when Redis lacks the SKU; 404 for a SKU without a price.
    let hot = s.get("/v1/prices/P-REDIS", &[]).await;
    assert_eq!(hot.0, StatusCode::OK, "{}", hot.1);
    assert_eq!(
        hot.1,
        json!({"sku": "P-REDIS", "list_price_minor": 49_900, "effective_price_minor": 49_900,
               "currency": "INR", "applied_rule_ids": [], "valid_until_ms": null,
               "event_time_ms": 1, "source": "redis"})
    );
    let cold = s.get("/v1/prices/P-MYSQL", &[]).await;
    assert_eq!(cold.0, StatusCode::OK, "{}", cold.1);
    assert_eq!(
        (
            &cold.1["source"],
            &cold.1["effective_price_minor"],
            &cold.1["applied_rule_ids"],
            &cold.1["valid_until_ms"]
        ),
        (&json!("mysql"), &json!(900), &json!(["r1"]), &json!(70))
    );
    assert_eq!(s.get("/v1/prices/NONE", &[]).await.0, StatusCode::NOT_FOUND);

    // MySQL unreachable: Redis answers what it has, the rest is 503 with Retry-After.
    let p = prefix.clone();
    let no_db = Stack::start(move |c| {
        c.database_url = "mysql://techpotli:techpotli@127.0.0.1:1/none".into();
        c.db_timeout_ms = 300;
        c.read_redis_prefix = p;
    })
    .await;
    let r = get(&no_db, "/v1/orders/o-redis", "user-1", "customer").await;
    assert_eq!((r.0, &r.1["source"]), (StatusCode::OK, &json!("redis")));
    let r = get(&no_db, "/v1/orders/o1", "user-1", "customer").await;
    assert_eq!(r.0, StatusCode::SERVICE_UNAVAILABLE, "{}", r.1);
    assert!(r.2.contains_key("retry-after"));
    let r = get(&no_db, "/v1/stock/S-REDIS", "user-1", "customer").await;
    assert_eq!(r.0, StatusCode::OK);
    let r = get(&no_db, "/v1/stock/S-MYSQL", "user-1", "customer").await;
    assert_eq!(r.0, StatusCode::SERVICE_UNAVAILABLE, "{}", r.1);
    assert_eq!(no_db.get("/v1/prices/P-REDIS", &[]).await.0, StatusCode::OK);
    let r = no_db.get("/v1/prices/P-MYSQL", &[]).await;
    assert_eq!(r.0, StatusCode::SERVICE_UNAVAILABLE, "{}", r.1);

    // Redis unreachable: MySQL answers stock (and orders, as always).
    let url = database_url.clone();
    let no_redis = Stack::start(move |c| {
        c.database_url = url;
        c.redis_url = "redis://127.0.0.1:1".into();
        c.rate_limit_disabled = true;
    })
    .await;
    let r = get(&no_redis, "/v1/stock/S-MYSQL", "user-1", "customer").await;
    assert_eq!((r.0, &r.1["source"]), (StatusCode::OK, &json!("mysql")));
    let r = get(&no_redis, "/v1/orders/o1", "user-1", "customer").await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let r = no_redis.get("/v1/prices/P-MYSQL", &[]).await;
    assert_eq!((r.0, &r.1["source"]), (StatusCode::OK, &json!("mysql")));

    let db_name = database_url.rsplit('/').next().unwrap().to_owned();
    db.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE {db_name}")))
        .await
        .unwrap();
}
