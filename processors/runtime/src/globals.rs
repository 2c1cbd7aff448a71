//! Global tables: compacted topics every instance reads whole, with a consumer of their own
//! (partitions assigned by hand, no group, read_committed). [`GlobalTables::bootstrap`] reads
//! every partition to its end before the processor sees its first record; between batches
//! [`GlobalTables::refresh`] applies what arrived since. The topic is the table's changelog, so
//! nothing else is written; like Kafka Streams' global stores they are lookups, not part of the
//! input transactions.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::RuntimeError;
use crate::changelog::{RestoreContext, required_partition_count, restore_upto};
use crate::processor::TableSpec;
use crate::store::KeyValueStore;

/// Most records applied by one [`GlobalTables::refresh`], so a burst of table updates cannot
/// starve the input.
const REFRESH_MAX: usize = 10_000;

/// The global tables of one processor instance.
pub(crate) struct GlobalTables {
    consumer: Option<BaseConsumer<RestoreContext>>,
    /// topic → table name.
    names: BTreeMap<String, String>,
    pub(crate) stores: BTreeMap<String, KeyValueStore>,
}

impl GlobalTables {
    /// Reads every partition of every table to its end (the last stable offset at start),
    /// then leaves a consumer positioned there for [`GlobalTables::refresh`].
    pub(crate) fn bootstrap(
        bootstrap: &str,
        app: &str,
        specs: &[TableSpec],
        timeout: Duration,
    ) -> Result<Self, RuntimeError> {
        let mut tables = Self {
            consumer: None,
            names: specs
                .iter()
                .map(|s| (s.topic.clone(), s.name.clone()))
                .collect(),
            stores: BTreeMap::new(),
        };
        if specs.is_empty() {
            return Ok(tables);
        }
        let consumer: BaseConsumer<RestoreContext> = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            // Never joined or committed; librdkafka reports "Unknown group" without one.
            .set("group.id", format!("{app}.global"))
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            .create_with_context(RestoreContext)?;
        let mut tpl = TopicPartitionList::new();
        for spec in specs {
            let started = Instant::now();
            let n = required_partition_count(bootstrap, &spec.topic)?.ok_or_else(|| {
                RuntimeError::Config(format!("global table topic {} does not exist", spec.topic))
            })?;
            // read_committed: the last stable offsets, where the refresh consumer starts.
            let mut ends = BTreeMap::new();
            for p in 0..n {
                let (_, end) =
                    consumer.fetch_watermarks(&spec.topic, p, Duration::from_secs(10))?;
                ends.insert(p, Some(end));
                tpl.add_partition_offset(&spec.topic, p, Offset::Offset(end))?;
            }
            let restored = restore_upto(bootstrap, &spec.topic, &ends, false, timeout)?;
            let records = restored.records;
            let store =
                KeyValueStore::new(&spec.name, restored.data.into_values().flatten().collect());
            let labels = [("app", app.to_owned()), ("store", spec.name.clone())];
            metrics::gauge!(crate::metrics::STORE_KEYS, &labels).set(store.len() as f64);
            metrics::gauge!(crate::metrics::RESTORE_SECONDS, &labels)
                .set(started.elapsed().as_secs_f64());
            tracing::info!(table = %spec.name, topic = %spec.topic, records, keys = store.len(), elapsed = ?started.elapsed(), "global table bootstrapped");
            tables.stores.insert(spec.name.clone(), store);
        }
        consumer.assign(&tpl)?;
        tables.consumer = Some(consumer);
        Ok(tables)
    }

    fn apply(&mut self, m: &rdkafka::message::BorrowedMessage<'_>) {
        let Some(name) = self.names.get(m.topic()) else {
            return;
        };
        let store = self.stores.get_mut(name).expect("a store per table");
        let key = m.key().unwrap_or_default().to_vec();
        store.apply(key, m.payload().map(<[u8]>::to_vec));
    }

    /// Applies the updates that arrived since the last call (at most [`REFRESH_MAX`]).
    pub(crate) fn refresh(&mut self) -> Result<usize, RuntimeError> {
        let Some(consumer) = self.consumer.take() else {
            return Ok(0);
        };
        let mut n = 0;
        let result = loop {
            if n >= REFRESH_MAX {
                break Ok(n);
            }
            match consumer.poll(Duration::ZERO) {
                None => break Ok(n),
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => break Err(e.into()),
                Some(Ok(m)) => {
                    self.apply(&m);
                    n += 1;
                }
            }
        };
        self.consumer = Some(consumer);
        result
    }
}
