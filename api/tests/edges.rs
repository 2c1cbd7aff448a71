//! The HTTP edges: probes, OpenAPI and /docs, security headers, request ids, CORS, body limit,
//! media type, problem bodies for framework errors, metrics.

mod common;

use std::time::Duration;

use common::{Stack, WAIT, read_topic};
use reqwest::StatusCode;
use serde_json::{Value, json};

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
    // Media type.
    let r = s
        .http
        .post(s.url("/v1/activity"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Metrics: per-route request counts and latency histograms, produce latency.
    let _ = s
        .post(
            "/v1/activity",
            json!({"events": [{"session_id": "s", "kind": "PAGE_VIEW"}]}),
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
    // Strict bodies: nothing after the document, no arrays in place of objects.
    for body in [
        r#"{"events":[{"session_id":"s","kind":"PAGE_VIEW"}]} {"events":[]}"#,
        r#"{"events":[["s","PAGE_VIEW"]]}"#,
    ] {
        let r = s
            .http
            .post(s.url("/v1/activity"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let p: Value = r.json().await.unwrap();
        assert!(p["field"].as_str().unwrap().starts_with("body"), "{p}");
    }
    // Last: the server closes a connection whose oversized body it did not read, so a pooled
    // request after it could race that close.
    let big =
        json!({"events": [{"session_id": "s", "kind": "SEARCH", "query": "x".repeat(300 * 1024)}]});
    let r = s.post("/v1/activity", big, &[]).await;
    assert_eq!(r.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.2["content-type"], "application/problem+json");
    assert_eq!(r.2["x-frame-options"], "DENY");
}
