//! The processors `techpotli dev` runs in its own process (each on its runtime thread, as in
//! production but with instance id `dev`), and one admin listener for all of them:
//! `/readyz` is ready once every processor has restored its state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use techpotli_inventory::Inventory;
use techpotli_order_saga::OrderSaga;
use techpotli_runtime::{Runtime, RuntimeConfig};
use techpotli_telemetry::{AdminServer, admin_router};

/// The running processors and their admin listener.
pub struct DevProcessors {
    runtimes: Vec<(&'static str, Runtime)>,
    admin: AdminServer,
}

fn config(app: &str, inputs: &[&str], bootstrap: &str, registry: &str) -> RuntimeConfig {
    let mut cfg = RuntimeConfig::new(bootstrap, app, "dev", inputs);
    cfg.schema_registry_url = Some(registry.to_owned());
    cfg
}

/// Starts every processor that exists against `bootstrap` / `registry`.
pub async fn start(
    bootstrap: &str,
    registry: &str,
    admin_listen: SocketAddr,
    payment_timeout: Duration,
) -> anyhow::Result<DevProcessors> {
    let inventory = Runtime::spawn(
        config("inventory", &Inventory::INPUTS, bootstrap, registry),
        Inventory,
    )?;
    let saga = Runtime::spawn(
        config("order-saga", &OrderSaga::INPUTS, bootstrap, registry),
        OrderSaga {
            payment_timeout,
            ..OrderSaga::default()
        },
    )?;
    let runtimes = vec![("inventory", inventory), ("order-saga", saga)];
    let probes: Vec<_> = runtimes.iter().map(|(_, r)| r.readiness()).collect();
    let ready = Arc::new(move || probes.iter().all(|p| p()));
    let admin = AdminServer::start(admin_listen, admin_router(ready)).await?;
    Ok(DevProcessors { runtimes, admin })
}

impl DevProcessors {
    /// Names of the running processors.
    pub fn names(&self) -> Vec<&'static str> {
        self.runtimes.iter().map(|(n, _)| *n).collect()
    }

    /// The admin listener's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.local_addr()
    }

    /// Stops every processor (each finishes and commits its batch), then the admin listener.
    pub async fn stop(self) {
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
