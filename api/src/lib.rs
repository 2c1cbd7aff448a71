//! `techpotli-api`: the ingress API. It owns no business state: it authenticates, validates,
//! turns each request into an Avro record of the right schema, produces it, and answers `202`
//! only once the broker acknowledged it.
//!
//! # Layout
//! - [`config`]: every setting (flags / env), validated at start.
//! - [`app`]: shared state, router, HTTP edges, metrics, graceful shutdown.
//! - [`auth`]: OIDC JWT verification ([`auth::jwks`] key cache, [`auth::claims`] roles) and
//!   the gate every `/v1` route passes (auth, RBAC, rate limit).
//! - [`routes`]: one module per topic; request types + pure `to_record` mappings + handlers.
//! - [`validate`]: field rules and the strict JSON extractor; [`problem`]: error bodies.
//! - [`produce`]: the idempotent producer that waits for acknowledgements.
//! - [`read`]: the read side (orders from MySQL, stock from Redis; each the other's fallback).
//! - [`store`], [`ratelimit`], [`idempotency`]: Redis (soft dependency, fail open).
//! - [`cart_id`]: cart ids that prove their owner; [`webhook`]: provider signatures.
//! - [`openapi`]: the OpenAPI 3.1 document.

// `Problem` (an error body with owned strings) is the error type of every validation function;
// errors are the cold path, so its size is not worth boxing.
#![allow(clippy::result_large_err)]

pub mod app;
pub mod auth;
pub mod cart_id;
pub mod config;
pub mod idempotency;
pub mod openapi;
pub mod pricing;
pub mod problem;
pub mod produce;
pub mod ratelimit;
pub mod read;
pub mod routes;
pub mod store;
pub mod strict;
pub mod validate;
pub mod webhook;

use std::net::SocketAddr;

pub use app::Api;
pub use config::Config;

/// An API serving in the background (tests, `techpotli dev`, the benchmark).
pub struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Graceful shutdown: drain, flush the producer.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        (&mut self.task).await?
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Builds the API and serves it on `config.listen` (port 0 picks one) in a background task.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("binding API_LISTEN {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let api = Api::build(config).await?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(api.serve(listener, async {
        let _ = rx.await;
    }));
    tracing::info!(%addr, "techpotli-api listening");
    Ok(Running {
        addr,
        stop: Some(tx),
        task,
    })
}
