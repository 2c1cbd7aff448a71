//! The API under failure: broker down -> 503 + Retry-After within the deadline, broker back
//! -> 202 again, and exactly the acknowledged events are on the topic; Redis down -> writes
//! still accepted (fail open); rate limits -> 429 with Retry-After and RateLimit-* headers.

mod common;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use techpotli_kafka::BrokerConfig;

async fn activity(http: &reqwest::Client, url: &str, n: usize) -> reqwest::Response {
    http.post(format!("{url}/v1/activity"))
        .json(&json!({"events": [{"session_id": format!("s-{n}"), "kind": "PAGE_VIEW"}]}))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_gives_503_then_recovers_without_losing_acknowledged_events() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let broker_config = || BrokerConfig {
        listen: port,
        data_dir: Some(dir.path().to_path_buf()),
        ..BrokerConfig::default()
    };
    let (mut broker, registry) = common::infra(broker_config()).await;
    let mut config = common::config(&broker.bootstrap, &registry.url());
    config.produce_timeout_ms = 2000;
    config.request_timeout_ms = 5000;
    config.rate_limit_disabled = true;
    let api = techpotli_api::start(config).await.unwrap();
    let http = reqwest::Client::new();
    let mut accepted = 0;
    let mut n = 0;
    for _ in 0..5 {
        n += 1;
        assert_eq!(
            activity(&http, &api.url(), n).await.status(),
            StatusCode::ACCEPTED
        );
        accepted += 1;
    }

    broker.stop();
    for _ in 0..3 {
        n += 1;
        let started = Instant::now();
        let r = activity(&http, &api.url(), n).await;
        let took = started.elapsed();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()["retry-after"], "5");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        assert!(
            took < Duration::from_millis(3500),
            "503 after {took:?}, deadline 2 s"
        );
    }
    // Readiness follows the broker.
    let mut unready = false;
    for _ in 0..40 {
        if http
            .get(format!("{}/readyz", api.url()))
            .send()
            .await
            .unwrap()
            .status()
            == 503
        {
            unready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(unready, "/readyz stayed ready with the broker down");

    let broker = common::Broker::start(broker_config());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut recovered = false;
    while Instant::now() < deadline {
        n += 1;
        let status = activity(&http, &api.url(), n).await.status();
        match status {
            StatusCode::ACCEPTED => {
                accepted += 1;
                recovered = true;
                break;
            }
            StatusCode::SERVICE_UNAVAILABLE => {}
            s => panic!("unexpected {s} while the broker comes back"),
        }
    }
    assert!(recovered, "no 202 within 30 s of the broker coming back");
    for _ in 0..5 {
        n += 1;
        assert_eq!(
            activity(&http, &api.url(), n).await.status(),
            StatusCode::ACCEPTED
        );
        accepted += 1;
    }
    let recs = common::read_topic(
        &broker.bootstrap,
        "storefront.activity",
        accepted,
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(recs.len(), accepted, "records on the topic = 202 answers");
    let mut ids: Vec<&str> = recs
        .iter()
        .map(|r| r.headers["event_id"].as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), accepted, "no duplicates");
    api.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_open() {
    // Prices come from MySQL while Redis is down.
    let (database_url, db) = common::fresh_database("resilience").await;
    sqlx::query(
        "INSERT INTO prices VALUES ('SKU-1', 100, 100, 'INR', '[]', NULL,
           '0192f000-0000-7000-8000-000000000041', 1, 0, 0)",
    )
    .execute(&db)
    .await
    .unwrap();
    let s = common::Stack::start(|c| {
        c.database_url = database_url;
        c.redis_url = "redis://127.0.0.1:1".into(); // nothing listens there
        c.rate_limit_customer = "1/h,1/h".into();
    })
    .await;
    let order = json!({"currency": "INR", "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price_minor": 100}],
        "shipping_address": {"recipient_name": "A", "line1": "L", "city": "C", "postal_code": "1", "country_code": "IN"}});
    let mut order_ids = Vec::new();
    for _ in 0..2 {
        let r = s
            .http
            .post(s.url("/v1/orders"))
            .header("idempotency-key", "k-1")
            .json(&order)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::ACCEPTED,
            "rate limit and dedup fail open"
        );
        assert!(!r.headers().contains_key("ratelimit-limit"));
        let v: serde_json::Value = r.json().await.unwrap();
        order_ids.push(v["order_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        order_ids[0], order_ids[1],
        "the order id is derived from the key, so the saga can drop the duplicate"
    );
    assert_eq!(
        activity(&s.http, &s.api.url(), 1).await.status(),
        StatusCode::ACCEPTED
    );
    let m = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("api_ratelimit_fail_open_total"), "{m}");
    assert!(m.contains("api_idempotency_fail_open_total"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_per_user_and_per_ip() {
    let s = common::Stack::start(|c| {
        c.rate_limit_customer = "2/m,1000/m".into();
        c.rate_limit_activity = "1000/m,3/m".into();
    })
    .await;
    // Customer class (carts.events is not compacted, so every accepted record stays countable).
    let put = |user: &'static str| {
        s.http
            .post(s.url("/v1/carts"))
            .header("x-dev-user", user)
            .header("x-dev-roles", "customer")
            .json(&json!({"sku": "SKU-1", "quantity": 1}))
            .send()
    };
    let r = put("u-1").await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.headers()["ratelimit-limit"], "2");
    assert_eq!(r.headers()["ratelimit-remaining"], "1");
    assert_eq!(r.headers()["ratelimit-policy"], "2;w=60");
    assert_eq!(put("u-1").await.unwrap().status(), StatusCode::ACCEPTED);
    let r = put("u-1").await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "retry after {retry}");
    assert_eq!(r.headers()["ratelimit-remaining"], "0");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // Another user has its own bucket.
    assert_eq!(put("u-2").await.unwrap().status(), StatusCode::ACCEPTED);
    // Per IP: three activity batches from this address, then 429 whoever the user is.
    for i in 0..3 {
        assert_eq!(
            activity(&s.http, &s.api.url(), i).await.status(),
            StatusCode::ACCEPTED
        );
    }
    let r = activity(&s.http, &s.api.url(), 9).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    // Rejected requests produced nothing.
    assert_eq!(
        common::read_topic(
            &s.broker.bootstrap,
            "carts.events",
            3,
            Duration::from_secs(5)
        )
        .await
        .len(),
        3
    );
    assert_eq!(
        common::read_topic(
            &s.broker.bootstrap,
            "storefront.activity",
            3,
            Duration::from_secs(5)
        )
        .await
        .len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_drains_in_flight_requests() {
    let common::Stack {
        mut broker,
        registry: _registry,
        api,
        http,
        ..
    } = common::Stack::start(|c| {
        c.produce_timeout_ms = 1500;
        c.request_timeout_ms = 5000;
        c.shutdown_grace_secs = 10;
    })
    .await;
    let url = api.url();
    assert_eq!(
        activity(&http, &url, 0).await.status(),
        StatusCode::ACCEPTED
    );
    // With the broker gone, a request stays in flight until the produce deadline (1.5 s).
    broker.stop();
    let (h, u) = (http.clone(), url.clone());
    let in_flight = tokio::spawn(async move { activity(&h, &u, 1).await.status() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    api.shutdown().await.unwrap();
    let took = started.elapsed();
    // The in-flight request got its answer (not a reset connection); shutdown waited for it,
    // not for the whole grace period.
    assert_eq!(in_flight.await.unwrap(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        took >= Duration::from_millis(800),
        "shutdown did not wait: {took:?}"
    );
    assert!(took < Duration::from_secs(8), "shutdown took {took:?}");
    // Stopped: nothing listens any more.
    assert!(
        reqwest::Client::new()
            .get(format!("{url}/healthz"))
            .send()
            .await
            .is_err()
    );
}
