//! The probe and scrape endpoints every binary serves: `/healthz` (the process answers),
//! `/readyz` (it can do its job now: e.g. state restored, broker reachable) and `/metrics`
//! (Prometheus text format from the global recorder).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Answers whether the component is ready; called on every `/readyz`.
pub type Readiness = Arc<dyn Fn() -> bool + Send + Sync>;

#[derive(Clone)]
struct AdminState {
    ready: Readiness,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
}

/// `/healthz`, `/readyz` and `/metrics`; merge it into a service's own router or serve it alone
/// with [`AdminServer`].
pub fn admin_router(ready: Readiness) -> Router {
    let state = AdminState {
        ready,
        metrics: crate::metrics::prometheus(),
    };
    Router::new()
        .route("/healthz", get(|| async { (StatusCode::OK, "ok\n") }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(s): State<AdminState>) -> impl IntoResponse {
    if (s.ready)() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn metrics(State(s): State<AdminState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}

/// A running admin listener; stops when [`AdminServer::shutdown`] is called or it is dropped.
pub struct AdminServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl AdminServer {
    /// Binds `addr` (port 0 picks a free port) and serves `router` on the current runtime.
    pub async fn start(addr: SocketAddr, router: Router) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "admin server failed");
            }
        });
        tracing::info!(%addr, "admin endpoints: /healthz /readyz /metrics");
        Ok(Self {
            addr,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for in-flight requests.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn probes_follow_readiness_and_metrics_render() {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let server = AdminServer::start(
            "127.0.0.1:0".parse().unwrap(),
            admin_router(Arc::new(move || f.load(Ordering::Relaxed))),
        )
        .await
        .unwrap();
        ::metrics::counter!("telemetry_test_total").increment(3);
        let base = format!("http://{}", server.local_addr());
        let get = |p: &str| reqwest::get(format!("{base}{p}"));
        assert_eq!(get("/healthz").await.unwrap().status(), 200);
        assert_eq!(get("/readyz").await.unwrap().status(), 503);
        flag.store(true, Ordering::Relaxed);
        assert_eq!(get("/readyz").await.unwrap().status(), 200);
        let body = get("/metrics").await.unwrap().text().await.unwrap();
        assert!(body.contains("telemetry_test_total 3"), "{body}");
        server.shutdown().await;
    }
}
