//! The sink consumer's context. Partitions are assigned inside the rebalance callback at the
//! offsets the sink's store reports, so the consumer never starts from the group's committed
//! offsets (which only trail the sink, for lag dashboards). Eager assignment: a revocation
//! takes everything at once and the loop drops the partitions' pending records.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::config::{MAX_BACKOFF, MIN_BACKOFF};
use super::{Sink, SinkError, Tp};
use crate::rebalance::tps;

/// What the callback saw, applied by the loop after `poll` returns.
#[derive(Debug)]
pub(crate) enum Event {
    /// Partitions now owned, with the offset each starts at.
    Assigned(HashMap<Tp, i64>),
    Revoked(Vec<Tp>),
    /// The sink's offsets could not be read: the loop must stop (nothing was fetched).
    Failed(String),
}

pub(crate) struct SinkContext<S> {
    pub(crate) app: String,
    pub(crate) sink: Arc<Mutex<S>>,
    pub(crate) rt: Arc<tokio::runtime::Runtime>,
    pub(crate) events: Mutex<Vec<Event>>,
}

impl<S> SinkContext<S> {
    pub(crate) fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().expect("events lock"))
    }

    fn push(&self, e: Event) {
        self.events.lock().expect("events lock").push(e);
    }
}

impl<S: Sink> SinkContext<S> {
    /// The sink's offsets, retried with back-off while the store is briefly unreachable (the
    /// callback blocks `poll`; a long outage ends the session and the group moves on).
    fn stored(&self, tps: &[Tp]) -> Result<HashMap<Tp, i64>, String> {
        let mut backoff = MIN_BACKOFF;
        for _ in 0..10 {
            let r = {
                let mut sink = self.sink.lock().expect("sink lock");
                self.rt.block_on(sink.stored_offsets(tps))
            };
            match r {
                Ok(o) => return Ok(o),
                Err(SinkError::Transient(e)) => {
                    tracing::warn!(error = %e, "reading the sink's offsets, retrying");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("the sink's offsets stayed unreadable".into())
    }
}

/// A stored offset past the partition's end means the sink's store was written from another
/// log (the topic was recreated, or the store belongs to another cluster). Starting there would
/// skip everything up to it, and resetting would replay under stale guards; the sink stops and
/// says so instead.
fn beyond_end<C: ConsumerContext>(consumer: &BaseConsumer<C>, tp: &Tp, at: i64) -> Option<String> {
    if at <= 0 {
        return None;
    }
    match consumer.fetch_watermarks(&tp.0, tp.1, std::time::Duration::from_secs(10)) {
        Ok((_, end)) if at > end => Some(format!(
            "the sink's stored offset {at} of {}/{} is beyond the log end {end}: the topic was \
             recreated or the store belongs to another cluster; clear the sink's offsets (and \
             what it wrote) before running it against this log",
            tp.0, tp.1
        )),
        Ok(_) => None,
        Err(e) => {
            // Not provable now; the fetch itself will fail loudly if it is out of range.
            tracing::warn!(error = %e, topic = %tp.0, partition = tp.1, "log end unknown");
            None
        }
    }
}

impl<S: Sink> ClientContext for SinkContext<S> {
    /// Consumer lag per partition ([`crate::metrics::lag_from_stats`]).
    fn stats(&self, statistics: Statistics) {
        crate::metrics::lag_from_stats(&self.app, &statistics);
    }
}

impl<S: Sink> ConsumerContext for SinkContext<S> {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let parts = tps(tpl);
                match self.stored(&parts) {
                    Ok(stored) => {
                        let mut starts = HashMap::new();
                        for tp in parts {
                            let at = stored.get(&tp).copied().unwrap_or(0);
                            if let Some(e) = beyond_end(consumer, &tp, at) {
                                self.push(Event::Failed(e));
                            }
                            let offset = if at > 0 {
                                Offset::Offset(at)
                            } else {
                                Offset::Beginning
                            };
                            if let Err(e) = tpl.set_partition_offset(&tp.0, tp.1, offset) {
                                self.push(Event::Failed(format!("offset of {tp:?}: {e}")));
                            }
                            starts.insert(tp, at);
                        }
                        tracing::info!(
                            partitions = starts.len(),
                            ?starts,
                            "assigned at the sink's offsets"
                        );
                        self.push(Event::Assigned(starts));
                    }
                    Err(e) => self.push(Event::Failed(e)),
                }
                if let Err(e) = consumer.assign(tpl) {
                    self.push(Event::Failed(format!("assign: {e}")));
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(partitions = tpl.count(), "partitions revoked");
                self.push(Event::Revoked(tps(tpl)));
                if let Err(e) = consumer.unassign() {
                    tracing::warn!(error = %e, "unassign");
                }
            }
            other => tracing::warn!(error = ?other, "rebalance error"),
        }
    }
}
