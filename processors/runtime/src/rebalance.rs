//! Rebalance callbacks. librdkafka runs them inside `consumer.poll` on the loop thread; the
//! loop never polls while a transaction is open, so there is nothing to commit or abort here.
//! The callback only records what changed; the loop applies it (drop state, restore) right
//! after `poll` returns and before it processes any record of a new partition.

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::statistics::Statistics;
use std::sync::Mutex;

/// A (topic, partition) pair.
pub type Tp = (String, i32);

/// An assignment change seen by the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebalanceEvent {
    Assigned(Vec<Tp>),
    /// `lost`: the group took the partitions away (session expiry) rather than asking.
    Revoked {
        partitions: Vec<Tp>,
        lost: bool,
    },
}

/// The consumer context: a queue of [`RebalanceEvent`]s, and the consumer-lag gauges fed from
/// librdkafka's statistics.
pub struct RuntimeContext {
    app: String,
    events: Mutex<Vec<RebalanceEvent>>,
}

impl RuntimeContext {
    pub fn new(app: &str) -> Self {
        Self {
            app: app.to_owned(),
            events: Mutex::default(),
        }
    }

    /// Events since the last call, oldest first.
    pub fn take_events(&self) -> Vec<RebalanceEvent> {
        std::mem::take(&mut *self.events.lock().expect("rebalance events lock"))
    }
}

/// The (topic, partition) pairs of a list.
pub(crate) fn tps(tpl: &rdkafka::TopicPartitionList) -> Vec<Tp> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

impl ClientContext for RuntimeContext {
    /// Consumer lag per partition ([`crate::metrics::lag_from_stats`]).
    fn stats(&self, statistics: Statistics) {
        crate::metrics::lag_from_stats(&self.app, &statistics);
    }
}

impl ConsumerContext for RuntimeContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let lost = consumer.assignment_lost();
            tracing::info!(partitions = tpl.count(), lost, "partitions revoked");
            self.events
                .lock()
                .expect("rebalance events lock")
                .push(RebalanceEvent::Revoked {
                    partitions: tps(tpl),
                    lost,
                });
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = tpl.count(), "partitions assigned");
                self.events
                    .lock()
                    .expect("rebalance events lock")
                    .push(RebalanceEvent::Assigned(tps(tpl)));
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }
}

/// Replacements of a consumer fenced as a static member (FENCED_INSTANCE_ID) without progress
/// in between before giving up.
const MAX_FENCED_IN_A_ROW: u32 = 5;

/// Counts one more fencing of static member `instance` and says whether to replace the
/// consumer (`Ok`) or give up: fenced again and again, another live instance has this id.
pub(crate) fn fenced_again(
    in_a_row: &mut u32,
    app: &str,
    instance: &str,
    reason: &str,
) -> Result<(), crate::RuntimeError> {
    *in_a_row += 1;
    if *in_a_row > MAX_FENCED_IN_A_ROW {
        return Err(crate::RuntimeError::Config(format!(
            "fenced {in_a_row} times in a row as group.instance.id {instance} (another instance with this id?): {reason}"
        )));
    }
    tracing::warn!(%app, %instance, %reason, "static member fenced; joining with a new consumer");
    Ok(())
}
