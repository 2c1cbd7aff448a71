//! `techpotli-kafka`: a single-node broker speaking the Kafka wire protocol, with idempotent
//! producers, transactions (KIP-98/360/447), classic consumer groups, retention and
//! compaction. It is the dev and test default; production points the same clients at
//! Apache Kafka. Wire encoding is the `kafka-protocol` crate's.
//!
//! # Layout
//! - [`server`]: TCP accept loop and per-connection request loop (framing, limits).
//! - [`dispatch`]: supported API versions and routing to `handlers`.
//! - [`handlers`]: one module per API family, translating wire messages to state calls.
//! - [`cluster`]: topics and partitions; [`log`]: partition logs, configs, the cleaner.
//! - [`batch`]: record-batch header view, CRC checks, transaction markers.
//! - [`groups`]: the group coordinator; [`txn`]: the transaction coordinator.
//! - [`storage`]: segment files and the coordinator journal under a data directory.
//! - [`broker`]: the shared state and its maintenance timer.

pub mod batch;
pub mod broker;
pub mod cluster;
pub mod config;
pub mod dispatch;
pub mod groups;
pub mod handlers;
pub mod log;
pub mod server;
pub mod storage;
pub mod txn;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{BrokerConfig, FsyncPolicy};

use broker::Broker;
use cluster::Cluster;
use groups::Groups;
use storage::Store;

/// A running broker. Dropping it without `shutdown` leaves the tasks running until the
/// runtime stops.
pub struct BrokerHandle {
    addr: SocketAddr,
    broker: Arc<Broker>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl BrokerHandle {
    /// The bound address (the real port when the config asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `host:port` for a client's `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("{}:{}", self.broker.advertised.0, self.broker.advertised.1)
    }

    /// Stops accepting, closes connections and waits for the tasks to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        tracing::info!(addr = %self.addr, "broker stopped");
    }
}

/// Binds, recovers the data directory (if any) and starts serving.
pub async fn start(config: BrokerConfig) -> anyhow::Result<BrokerHandle> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let host = config
        .advertised_host
        .clone()
        .unwrap_or_else(|| addr.ip().to_string());
    let (cluster, groups, store) = match &config.data_dir {
        Some(dir) => {
            let (store, cluster, groups) = Store::open(dir, config.fsync, config.group_limits)
                .map_err(|e| anyhow::anyhow!("cannot open data dir {}: {e}", dir.display()))?;
            (cluster, groups, Some(store))
        }
        None => (Cluster::default(), Groups::new(config.group_limits), None),
    };
    let (interval, retention_interval) =
        (config.maintenance_interval, config.retention_check_interval);
    let broker = Arc::new(Broker::new(
        config,
        (host, i32::from(addr.port())),
        cluster,
        groups,
        store,
    ));
    let (stop, stop_rx) = watch::channel(false);
    let server = tokio::spawn(server::serve(broker.clone(), listener, stop_rx.clone()));
    let maintenance = {
        let broker = broker.clone();
        let mut stop_rx = stop_rx;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            // Like Kafka, the first retention check comes one interval after start.
            let mut retention = tokio::time::interval_at(
                tokio::time::Instant::now() + retention_interval,
                retention_interval,
            );
            loop {
                tokio::select! {
                    _ = stop_rx.changed() => break,
                    _ = tick.tick() => broker.maintain(),
                    _ = retention.tick() => broker.check_retention(),
                }
            }
        })
    };
    tracing::info!(%addr, "broker listening");
    Ok(BrokerHandle {
        addr,
        broker,
        stop,
        tasks: vec![server, maintenance],
    })
}
