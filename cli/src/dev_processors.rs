//! The processors and sinks `techpotli dev` runs in its own process (each on its own thread,
//! as in production but with instance id `dev`), and one admin listener for all of them:
//! `/readyz` is ready once every processor has restored its state and every sink is running.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use techpotli_inventory::Inventory;
use techpotli_order_saga::OrderSaga;
use techpotli_runtime::sink::{SinkConfig, SinkRunner};
use techpotli_runtime::{Runtime, RuntimeConfig};
use techpotli_schemas::Codec;
use techpotli_telemetry::{AdminServer, admin_router};

/// The running processors and sinks and their admin listener.
pub struct DevProcessors {
    runtimes: Vec<(&'static str, Runtime)>,
    sinks: Vec<(&'static str, SinkRunner)>,
    admin: AdminServer,
}

/// Where the sinks write.
#[derive(Debug, Clone)]
pub struct SinkTargets {
    pub database_url: String,
    pub redis_url: String,
    /// Prefix of the Redis sink's keys (empty in dev).
    pub redis_prefix: String,
}

fn sink_config(app: &str, topics: &[&str], bootstrap: &str, registry: &str) -> SinkConfig {
    let mut cfg = SinkConfig::new(bootstrap, app, "dev", topics);
    registry.clone_into(&mut cfg.schema_registry_url);
    cfg
}

fn start_sinks(
    bootstrap: &str,
    registry: &str,
    targets: &SinkTargets,
) -> anyhow::Result<Vec<(&'static str, SinkRunner)>> {
    use techpotli_connector_mysql as mysql;
    use techpotli_connector_redis as redis;
    let (mt, rt) = (mysql::Topics::default(), redis::Topics::default());
    let (db, codec) = (targets.database_url.clone(), Codec::new(registry));
    let mysql_sink = SinkRunner::spawn(
        sink_config(mysql::APP, &mt.all(), bootstrap, registry),
        async move { mysql::MySqlSink::connect(&db, mysql::APP, mt, codec).await },
    )?;
    let (url, codec) = (targets.redis_url.clone(), Codec::new(registry));
    let prefix = targets.redis_prefix.clone();
    let redis_sink = SinkRunner::spawn(
        sink_config(redis::APP, &rt.all(), bootstrap, registry),
        async move { redis::RedisSink::connect(&url, &prefix, redis::APP, rt, codec).await },
    )?;
    Ok(vec![("sink-mysql", mysql_sink), ("sink-redis", redis_sink)])
}

fn config(
    app: &str,
    inputs: &[&str],
    (bootstrap, registry): (&str, &str),
    commit_interval: Duration,
) -> RuntimeConfig {
    let mut cfg = RuntimeConfig::new(bootstrap, app, "dev", inputs);
    cfg.schema_registry_url = Some(registry.to_owned());
    cfg.commit_interval = commit_interval;
    cfg
}

/// Starts every processor that exists against `bootstrap` / `registry`, and the sinks when
/// `sinks` names their databases.
pub async fn start(
    bootstrap: &str,
    registry: &str,
    admin_listen: SocketAddr,
    payment_timeout: Duration,
    commit_interval: Duration,
    sinks: Option<&SinkTargets>,
) -> anyhow::Result<DevProcessors> {
    let at = (bootstrap, registry);
    let inventory = Runtime::spawn(
        config("inventory", &Inventory::INPUTS, at, commit_interval),
        Inventory,
    )?;
    let saga = Runtime::spawn(
        config("order-saga", &OrderSaga::INPUTS, at, commit_interval),
        OrderSaga {
            payment_timeout,
            ..OrderSaga::default()
        },
    )?;
    let runtimes = vec![("inventory", inventory), ("order-saga", saga)];
    let sinks = match sinks {
        Some(t) => start_sinks(bootstrap, registry, t)?,
        None => Vec::new(),
    };
    let probes: Vec<_> = runtimes
        .iter()
        .map(|(_, r)| r.readiness())
        .chain(sinks.iter().map(|(_, s)| s.readiness()))
        .collect();
    let ready = Arc::new(move || probes.iter().all(|p| p()));
    let admin = AdminServer::start(admin_listen, admin_router(ready)).await?;
    Ok(DevProcessors {
        runtimes,
        sinks,
        admin,
    })
}

impl DevProcessors {
    /// Names of the running processors and sinks.
    pub fn names(&self) -> Vec<&'static str> {
        self.runtimes
            .iter()
            .map(|(n, _)| *n)
            .chain(self.sinks.iter().map(|(n, _)| *n))
            .collect()
    }

    /// The admin listener's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.local_addr()
    }

    /// Stops every processor and sink (each finishes and commits its batch), then the admin
    /// listener.
    pub async fn stop(self) {
        for (name, sink) in self.sinks {
            match tokio::task::spawn_blocking(move || sink.stop()).await {
                Ok(Ok(stats)) => println!("  stopped {name}: {} records applied", stats.applied),
                Ok(Err(e)) => println!("  ERROR   {name} failed: {e}"),
                Err(e) => println!("  ERROR   {name} panicked: {e}"),
            }
        }
        for (name, rt) in self.runtimes {
            match tokio::task::spawn_blocking(move || rt.stop()).await {
                Ok(Ok(stats)) => println!("  stopped {name}: {} records", stats.processed),
                Ok(Err(e)) => println!("  ERROR   {name} failed: {e}"),
                Err(e) => println!("  ERROR   {name} panicked: {e}"),
            }
        }
        self.admin.shutdown().await;
    }
}
