//! The state every connection shares: the data plane (`Cluster`), the group coordinator and
//! the notifier long-polling fetches wait on.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::cluster::Cluster;
use crate::config::BrokerConfig;
use crate::groups::Groups;
use crate::storage::Store;

/// Lock order, where both are needed: `cluster` before `groups`.
pub struct Broker {
    pub config: BrokerConfig,
    /// `(host, port)` clients are told to connect to.
    pub advertised: (String, i32),
    pub cluster: Mutex<Cluster>,
    pub groups: Mutex<Groups>,
    /// Signalled after every append so parked fetches re-check.
    pub data_ready: Notify,
    /// Durable storage, when a data directory is configured.
    pub store: Option<Store>,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Broker {
    pub fn new(
        config: BrokerConfig,
        advertised: (String, i32),
        cluster: Cluster,
        groups: Groups,
        store: Option<Store>,
    ) -> Self {
        Self {
            config,
            advertised,
            cluster: Mutex::new(cluster),
            groups: Mutex::new(groups),
            data_ready: Notify::new(),
            store,
        }
    }

    /// Compaction and coordinator timers; run on the maintenance tick.
    pub fn maintain(&self) {
        let now = Instant::now();
        let mut cluster = self.cluster.lock();
        let mut groups = self.groups.lock();
        groups.tick(now);
        let (expired, written) = crate::txn::expire(&mut cluster, &mut groups, now, now_ms());
        if let Some(store) = &self.store {
            for id in &expired {
                store.record_txn(id, &cluster.txns[id]);
            }
            if let Err(e) = store.persist_batches(&written) {
                tracing::error!(error = %e, "failed to persist abort markers");
            }
        }
        crate::log::cleaner::compact_all(&mut cluster, self.store.as_ref(), now_ms());
        drop(groups);
        drop(cluster);
        if !written.is_empty() {
            self.data_ready.notify_waiters();
        }
    }

    /// Kafka's retention check: expired whole segments go (every
    /// `retention_check_interval`, Kafka's `log.retention.check.interval.ms`).
    pub fn check_retention(&self) {
        let mut cluster = self.cluster.lock();
        let moved = crate::log::cleaner::retain_all(&mut cluster, self.store.as_ref(), now_ms());
        tracing::debug!(partitions = moved, "retention check");
    }
}
