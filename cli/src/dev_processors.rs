//! The processors and sinks `techpotli dev` runs in its own process (each on its own thread,
//! as in production but with instance id `dev`), and one admin listener for all of them:
//! `/readyz` is ready once every processor has restored its state and every sink is running.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use techpotli_inventory::Inventory;
use techpotli_order_saga::OrderSaga;
use techpotli_pricing::Pricing;
use techpotli_runtime::sink::{SinkConfig, SinkRunner};
use techpotli_runtime::{Runtime, RuntimeConfig};
use techpotli_schemas::Codec;
use techpotli_telemetry::{AdminServer, admin_router};

/// The running processors and sinks and their admin listener.
pub struct DevProcessors {
    runtimes: Vec<(&'static str, Runtime)>,
    sinks: Vec<(&'static str, SinkRunner)>,
    admin: AdminServer,
    ready: techpotli_telemetry::Readiness,
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
        sink_config(redis::APP, &rt.redis(), bootstrap, registry),
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
    let pricing = Runtime::spawn(
        config("pricing", &Pricing::INPUTS, at, commit_interval),
        Pricing,
    )?;
    let runtimes = vec![
        ("inventory", inventory),
        ("order-saga", saga),
        ("pricing", pricing),
    ];
    let sinks = match sinks {
        Some(t) => start_sinks(bootstrap, registry, t)?,
        None => Vec::new(),
    };
    let probes: Vec<_> = runtimes
        .iter()
        .map(|(_, r)| r.readiness())
        .chain(sinks.iter().map(|(_, s)| s.readiness()))
        .collect();
    let ready: techpotli_telemetry::Readiness = Arc::new(move || probes.iter().all(|p| p()));
    let admin = AdminServer::start(admin_listen, admin_router(ready.clone())).await?;
    Ok(DevProcessors {
        runtimes,
        sinks,
        admin,
        ready,
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

    /// Names of the processors and sinks whose loop has ended (a fatal error: nothing else
    /// stops them before [`Self::stop`]).
    pub fn finished(&self) -> Vec<&'static str> {
        self.runtimes
            .iter()
            .filter(|(_, r)| r.is_finished())
            .map(|(n, _)| *n)
            .chain(
                self.sinks
                    .iter()
                    .filter(|(_, s)| s.is_finished())
                    .map(|(n, _)| *n),
            )
            .collect()
    }

    /// Waits until every processor restored its state and every sink runs (`/readyz`), so
    /// `dev` does not announce a pipeline that is still starting or already broken. Fails
    /// naming the components that died, or after `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let dead = self.finished();
            anyhow::ensure!(
                dead.is_empty(),
                "{} stopped while starting",
                dead.join(", ")
            );
            if (self.ready)() {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "processors not ready after {timeout:?} (see /readyz and the JSON log)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Resolves when a processor or sink stops by itself, with its names.
    pub async fn died(&self) -> Vec<&'static str> {
        loop {
            let dead = self.finished();
            if !dead.is_empty() {
                return dead;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
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
