//! `techpotli tail <topic>`: records decoded through the registry, one JSON object per line
//! (key, partition, offset, timestamp, headers, schema id, value) — the data team's window.

use std::io::Write as _;
use std::time::Duration;

use clap::Args;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::{Value, json};
use techpotli_schemas::codec::Codec;

/// Without `--follow`, stop after this long without a record even if the end was not seen.
const IDLE_STOP: Duration = Duration::from_secs(3);

#[derive(Debug, Args)]
pub struct TailArgs {
    /// Topic to read.
    topic: String,
    /// Start at the earliest offset (default: the end).
    #[arg(long)]
    from_beginning: bool,
    /// Keep waiting for new records (default: stop at the end).
    #[arg(long)]
    follow: bool,
    /// Only this partition.
    #[arg(long)]
    partition: Option<i32>,
    /// Start at this offset (in every selected partition).
    #[arg(long, conflicts_with = "from_beginning")]
    offset: Option<i64>,
    /// Stop after this many records.
    #[arg(long)]
    max: Option<u64>,
}

fn text(b: Option<&[u8]>) -> Value {
    b.map_or(Value::Null, |b| {
        Value::String(String::from_utf8_lossy(b).into_owned())
    })
}

pub async fn run(args: TailArgs, bootstrap: &str, registry: &str) -> anyhow::Result<i32> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "techpotli-tail")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(&args.topic), Duration::from_secs(10))?;
    let topic = metadata.topics().iter().find(|t| t.name() == args.topic);
    let Some(topic) = topic.filter(|t| t.error().is_none() && !t.partitions().is_empty()) else {
        eprintln!(
            "topic {:?} does not exist (see `techpotli topics list`)",
            args.topic
        );
        return Ok(2);
    };
    let partitions: Vec<i32> = topic
        .partitions()
        .iter()
        .map(rdkafka::metadata::MetadataPartition::id)
        .filter(|p| args.partition.is_none_or(|want| want == *p))
        .collect();
    if partitions.is_empty() {
        eprintln!(
            "topic {:?} has no partition {:?}",
            args.topic, args.partition
        );
        return Ok(2);
    }
    let mut tpl = TopicPartitionList::new();
    let mut ends = std::collections::BTreeMap::new();
    let mut starts = std::collections::BTreeMap::new();
    for p in &partitions {
        let (low, high) = consumer.fetch_watermarks(&args.topic, *p, Duration::from_secs(10))?;
        let start = match (args.offset, args.from_beginning) {
            (Some(o), _) => Offset::Offset(o),
            (None, true) => Offset::Offset(low),
            (None, false) => Offset::Offset(high),
        };
        tpl.add_partition_offset(&args.topic, *p, start)?;
        starts.insert(*p, start.to_raw().unwrap_or(high));
        ends.insert(*p, high);
    }
    consumer.assign(&tpl)?;
    let codec = Codec::new(registry);
    let mut printed = 0u64;
    let mut last_record = std::time::Instant::now();
    let stdout = std::io::stdout();
    loop {
        if args.max.is_some_and(|m| printed >= m) {
            break;
        }
        if !args.follow {
            // librdkafka's position is past control records (transaction markers) too, so
            // it reaches the end even when the last offsets are markers; it is invalid until
            // the first fetch, hence the idle bound.
            let position = consumer.position()?;
            let at_end = partitions.iter().all(|p| {
                position
                    .find_partition(&args.topic, *p)
                    .and_then(|e| e.offset().to_raw())
                    .is_some_and(|o| o >= ends[p])
                    || starts[p] >= ends[p]
            });
            if at_end || last_record.elapsed() > IDLE_STOP {
                break;
            }
        }
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m?;
        last_record = std::time::Instant::now();
        let (schema_id, value, error) = match m.payload() {
            None => (Value::Null, Value::Null, Value::Null),
            Some(bytes) => match codec.decode_json(bytes).await {
                Ok((id, v)) => (json!(id), v, Value::Null),
                Err(e) => (Value::Null, Value::Null, json!(e.to_string())),
            },
        };
        let headers: serde_json::Map<String, Value> = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), text(h.value)))
                    .collect()
            })
            .unwrap_or_default();
        let mut line = json!({
            "topic": m.topic(),
            "partition": m.partition(),
            "offset": m.offset(),
            "timestamp": m.timestamp().to_millis(),
            "key": text(m.key()),
            "headers": headers,
            "schema_id": schema_id,
            "value": value,
        });
        if !error.is_null() {
            line["error"] = error;
        }
        let mut out = stdout.lock();
        writeln!(out, "{line}")?;
        out.flush()?;
        printed += 1;
    }
    eprintln!("tail: {printed} records");
    Ok(0)
}
