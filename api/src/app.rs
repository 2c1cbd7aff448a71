//! Assembly: the shared state, the router (routes grouped by [`Class`] behind the gate), the
//! HTTP edges (request ids, security headers, CORS, compression, timeouts, body limit, panics),
//! per-route metrics, and serving with graceful shutdown (drain, then flush the producer).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa_scalar::{Scalar, Servable};

use crate::auth::{self, Auth, Class};
use crate::cart_id::CartIds;
use crate::config::{Checked, Config};
use crate::idempotency::Idempotency;
use crate::problem::{PROBLEM_JSON, Problem};
use crate::produce::Producer;
use crate::ratelimit::RateLimiter;
use crate::read::ReadModel;
use crate::routes::{
    activity, carts, catalog, customers, inventory, orders, payments, price_rules, reads,
};
use crate::store::Store;
use crate::validate::MAX_BODY_BYTES;

/// Cart secret under `--insecure-dev-auth` (fixed so dev carts survive restarts).
const DEV_CART_SECRET: &[u8] = b"techpotli-insecure-dev-cart-secret";
/// Content-Security-Policy of the API's own answers: nothing may be loaded or framed.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
/// The `/docs` page loads the Scalar viewer from its CDN.
const DOCS_CSP: &str = "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; font-src https://fonts.gstatic.com https://cdn.jsdelivr.net; img-src 'self' data: https:; connect-src 'self'; frame-ancestors 'none'";

/// Everything a handler needs.
pub struct AppState {
    pub config: Config,
    pub checked: Checked,
    pub producer: Producer,
    pub auth: Auth,
    pub limiter: RateLimiter,
    pub idempotency: Idempotency,
    pub carts: CartIds,
    pub read: ReadModel,
}

/// The state as handlers receive it.
pub type Shared = Arc<AppState>;

/// A built API: state plus the broker readiness probe.
pub struct Api {
    pub state: Shared,
    probe: tokio::task::JoinHandle<()>,
}

impl Api {
    /// Validates the configuration, creates the producer and checks every value schema is
    /// registered (registering it when `API_SCHEMA_AUTO_REGISTER`).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let checked = config.check()?;
        let producer = Producer::new(&config)?;
        producer.preflight().await?;
        let store = Store::new(
            &config.redis_url,
            &config.redis_prefix,
            Duration::from_millis(config.redis_timeout_ms),
        )?;
        let carts = match &config.cart_secret {
            Some(s) if !s.is_empty() => CartIds::new(s.as_bytes()),
            _ => CartIds::new(DEV_CART_SECRET),
        };
        let read = ReadModel::new(
            &config.database_url,
            config.db_max_connections,
            Duration::from_millis(config.db_timeout_ms),
            store.with_prefix(&config.read_redis_prefix),
        )?;
        let lease = config.produce_timeout() + Duration::from_secs(5);
        let state = Arc::new(AppState {
            auth: auth::from_config(&config),
            limiter: RateLimiter::new(store.clone()),
            idempotency: Idempotency::new(store, lease),
            carts,
            read,
            producer: producer.clone(),
            checked,
            config,
        });
        let probe = producer.spawn_readiness_probe(Duration::from_secs(2));
        Ok(Self { state, probe })
    }

    /// The full router.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` resolves, then drains in-flight requests (up to
    /// the grace period) and flushes the producer.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let grace = Duration::from_secs(self.state.config.shutdown_grace_secs);
        let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
        let app = self
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stopped_tx.send(());
        });
        let serving = tokio::spawn(async move { server.await });
        // Drain: once shutdown began, in-flight requests get `grace` to finish.
        let drained = async {
            let _ = stopped_rx.await;
            tracing::info!(
                grace_secs = grace.as_secs(),
                "shutting down: draining requests"
            );
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            r = serving => r??,
            () = drained => tracing::warn!("grace period over with requests still in flight"),
        }
        self.probe.abort();
        self.state.read.close().await;
        let producer = self.state.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(grace)).await?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Builds the router over `state`.
pub fn router(state: Shared) -> Router {
    let gate = |class: Class| middleware::from_fn_with_state((state.clone(), class), auth::gate);
    let admin = Router::new()
        .route(
            "/v1/admin/products/{sku}",
            put(catalog::put_product).delete(catalog::delete_product),
        )
        .route(
            "/v1/admin/price-rules/{rule_id}",
            put(price_rules::put_price_rule).delete(price_rules::delete_price_rule),
        )
        .route(
            "/v1/admin/inventory/{sku}/adjustments",
            post(inventory::post_adjustment),
        )
        .route_layer(gate(Class::Admin));
    let customer = Router::new()
        .route(
            "/v1/customers/{user_id}/profile",
            put(customers::put_profile),
        )
        .route("/v1/carts", post(carts::create_cart))
        .route(
            "/v1/carts/{cart_id}/items",
            post(carts::add_item).delete(carts::clear_cart),
        )
        .route(
            "/v1/carts/{cart_id}/items/{sku}",
            delete(carts::remove_item),
        )
        .route("/v1/orders", post(orders::place_order))
        .route_layer(gate(Class::Customer));
    let activity = Router::new()
        .route("/v1/activity", post(activity::post_activity))
        .route_layer(gate(Class::Activity));
    let webhook = Router::new()
        .route(
            "/v1/webhooks/payments/{provider}",
            post(payments::payment_webhook),
        )
        .route_layer(gate(Class::Webhook));
    let reads = Router::new()
        .route("/v1/orders/{order_id}", get(reads::get_order))
        .route("/v1/stock/{sku}", get(reads::get_stock))
        .route("/v1/prices/{sku}", get(reads::get_price))
        .route("/v1/carts/{cart_id}", get(reads::get_cart))
        .route_layer(gate(Class::Read));
    let doc = crate::openapi::document();
    let docs = Router::from(Scalar::with_url("/docs", doc.clone())).layer(
        SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DOCS_CSP),
        ),
    );
    let ready = state.producer.ready_flag();
    let mut app = Router::new()
        .merge(admin)
        .merge(customer)
        .merge(activity)
        .merge(webhook)
        .merge(reads)
        .with_state(state.clone())
        .route("/openapi.json", get(move || async move { axum::Json(doc) }))
        .merge(docs)
        .merge(techpotli_telemetry::admin_router(Arc::new(move || {
            ready.load(Ordering::Relaxed)
        })));
    if state.config.hello_route {
        app = app.route("/hello", get(|| async { "hello" }));
    }
    app.fallback(|| async {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            "no such route",
        )
    })
    .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
    .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
    .layer(TimeoutLayer::with_status_code(
        StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_millis(state.config.request_timeout_ms),
    ))
    .layer(CatchPanicLayer::custom(|_| {
        Problem::internal("unexpected error").into_response()
    }))
    // Inside the header layers, so a response it rewrites still gets them.
    .layer(middleware::from_fn(observe))
    .layer(CompressionLayer::new())
    .layer(cors(&state.checked.cors_origins))
    .layer(header_if_absent(
        header::STRICT_TRANSPORT_SECURITY,
        "max-age=63072000; includeSubDomains",
    ))
    .layer(header_if_absent(header::CONTENT_SECURITY_POLICY, API_CSP))
    .layer(header_if_absent(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
    .layer(header_if_absent(header::X_FRAME_OPTIONS, "DENY"))
    .layer(header_if_absent(header::REFERRER_POLICY, "no-referrer"))
    .layer(PropagateRequestIdLayer::x_request_id())
    .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

fn header_if_absent(name: HeaderName, v: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(v))
}

fn cors(origins: &[String]) -> CorsLayer {
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(list))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("traceparent"),
            HeaderName::from_static("x-session-id"),
        ])
        .expose_headers([
            header::RETRY_AFTER,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("ratelimit-limit"),
            HeaderName::from_static("ratelimit-remaining"),
            HeaderName::from_static("ratelimit-reset"),
            HeaderName::from_static("ratelimit-policy"),
        ])
        .max_age(Duration::from_secs(600))
}

/// Per-route metrics, and a problem body for errors produced outside the handlers (unknown
/// method, body limit, timeout) so every error is `application/problem+json`.
async fn observe(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let mut resp = next.run(req).await;
    let status = resp.status();
    if status.is_client_error() || status.is_server_error() {
        let is_problem = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
        if !is_problem && route != "/readyz" {
            let keep: Vec<_> = [header::ALLOW, header::RETRY_AFTER]
                .into_iter()
                .filter_map(|h| resp.headers().get(&h).cloned().map(|v| (h, v)))
                .collect();
            let detail = match status {
                StatusCode::PAYLOAD_TOO_LARGE => {
                    format!("the body must be at most {MAX_BODY_BYTES} bytes")
                }
                StatusCode::SERVICE_UNAVAILABLE => "the request timed out".to_owned(),
                s => s.canonical_reason().unwrap_or("error").to_owned(),
            };
            let slug = status
                .canonical_reason()
                .unwrap_or("error")
                .to_ascii_lowercase()
                .replace(' ', "-");
            let mut p = Problem::new(
                status,
                &slug,
                status.canonical_reason().unwrap_or("Error"),
                detail,
            );
            if status == StatusCode::SERVICE_UNAVAILABLE {
                p = p.with_retry_after(1);
            }
            resp = p.into_response();
            for (h, v) in keep {
                resp.headers_mut().insert(h, v);
            }
        }
        let class = if status.is_client_error() {
            "4xx"
        } else {
            "5xx"
        };
        metrics::counter!("api_http_errors_total", "route" => route.clone(), "class" => class)
            .increment(1);
    }
    metrics::counter!("api_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.as_u16().to_string())
        .increment(1);
    metrics::histogram!("api_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    resp
}
