//! `techpotli-registry`: a Confluent-compatible schema registry for dev and tests. Schemas live
//! in a compacted `_schemas` topic (like Confluent's), so the registry is stateless and
//! restartable; ids are global and stable. Production uses Confluent Schema Registry.
//!
//! # Layout
//! - [`state`]: the model rebuilt from `_schemas` records (pure).
//! - [`compat`]: compatibility levels and Avro checks.
//! - [`store`]: the Kafka-backed store (reader task + read-your-writes producer).
//! - [`api`] and [`errors`]: the REST surface and Confluent's error codes.

pub mod api;
pub mod compat;
pub mod errors;
pub mod state;
pub mod store;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Where the registry listens and which Kafka holds its schemas.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    pub listen: SocketAddr,
    pub bootstrap: String,
    /// Confluent's `kafkastore.topic`.
    pub topic: String,
}

impl RegistryConfig {
    pub fn new(bootstrap: impl Into<String>) -> Self {
        Self {
            listen: "127.0.0.1:0".parse().expect("valid literal"),
            bootstrap: bootstrap.into(),
            topic: "_schemas".to_owned(),
        }
    }
}

/// A running registry.
pub struct RegistryHandle {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    server: JoinHandle<()>,
    reader: JoinHandle<()>,
}

impl RegistryHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port`, for `SCHEMA_REGISTRY_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving (in-flight requests finish) and stops following the topic.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
        self.reader.abort();
        let _ = self.reader.await;
    }
}

/// Loads `_schemas` to its end, then serves.
pub async fn start(config: RegistryConfig) -> anyhow::Result<RegistryHandle> {
    let (store, reader) = store::Store::open(&config.bootstrap, &config.topic)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot load schemas from {} at {}: {e}",
                config.topic,
                config.bootstrap
            )
        })?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = api::router(store);
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "registry server failed");
        }
    });
    tracing::info!(%addr, "schema registry listening");
    Ok(RegistryHandle {
        addr,
        stop,
        server,
        reader,
    })
}
