//! Exactly-once copy between two topics with librdkafka (rdkafka): the consume → produce →
//! `send_offsets_to_transaction` → commit loop every processor runs, reduced to its bones.
//! The conformance tests kill it with SIGKILL mid-flight and check the output has no loss and
//! no duplicates. Also runs as a plain group member (`member`) for crash tests.
//!
//! ```text
//! eos_copy copy   <bootstrap> <input> <output> <group> [idle-exit-secs]
//! eos_copy member <bootstrap> <topic> <group>
//! ```

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

const TXN_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_BATCH: usize = 500;

fn consumer(bootstrap: &str, group: &str, instance: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("group.instance.id", instance)
        .set("session.timeout.ms", "6000")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer config")
}

fn copy(bootstrap: &str, input: &str, output: &str, group: &str, idle_exit: Option<Duration>) {
    let consumer = consumer(bootstrap, group, "eos-copy-0");
    consumer.subscribe(&[input]).expect("subscribe");
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", format!("{group}-copy"))
        .set("linger.ms", "5")
        .create()
        .expect("producer config");
    producer
        .init_transactions(TXN_TIMEOUT)
        .expect("init_transactions");
    let mut last_data = Instant::now();
    loop {
        let mut batch = Vec::new();
        let deadline = Instant::now() + Duration::from_millis(100);
        while batch.len() < MAX_BATCH && Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(20)) {
                Some(Ok(m)) => {
                    batch.push((m.key().map(<[u8]>::to_vec), m.payload().map(<[u8]>::to_vec)));
                }
                Some(Err(e)) => eprintln!("consume error: {e}"),
                None => {}
            }
        }
        if batch.is_empty() {
            if idle_exit.is_some_and(|d| last_data.elapsed() > d) {
                println!("idle, exiting");
                return;
            }
            continue;
        }
        last_data = Instant::now();
        producer.begin_transaction().expect("begin");
        for (key, value) in &batch {
            let mut v = value.clone().unwrap_or_default();
            v.extend_from_slice(b"|copied");
            let mut rec = BaseRecord::to(output).payload(&v);
            if let Some(k) = key {
                rec = rec.key(k);
            }
            producer.send(rec).map_err(|(e, _)| e).expect("send");
        }
        let positions = consumer.position().expect("position");
        let meta = consumer.group_metadata().expect("group metadata");
        producer
            .send_offsets_to_transaction(&positions, &meta, TXN_TIMEOUT)
            .expect("send offsets");
        producer.commit_transaction(TXN_TIMEOUT).expect("commit");
        println!("committed {}", batch.len());
    }
}

fn member(bootstrap: &str, topic: &str, group: &str) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        // Kafka's group.min.session.timeout.ms (the embedded broker's too).
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .expect("consumer config");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut printed = None;
    loop {
        let _ = consumer.poll(Duration::from_millis(100));
        let now: Vec<i32> = consumer
            .assignment()
            .map(|a| {
                a.elements()
                    .iter()
                    .map(rdkafka::topic_partition_list::TopicPartitionListElem::partition)
                    .collect()
            })
            .unwrap_or_default();
        if printed.as_ref() != Some(&now) {
            println!("assigned {now:?}");
            printed = Some(now);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("copy") if args.len() >= 6 => {
            let idle = args
                .get(6)
                .and_then(|s| s.parse().ok())
                .map(Duration::from_secs);
            copy(&args[2], &args[3], &args[4], &args[5], idle);
        }
        Some("member") if args.len() == 5 => member(&args[2], &args[3], &args[4]),
        _ => {
            eprintln!(
                "usage: eos_copy copy <bootstrap> <input> <output> <group> [idle-exit-secs]\n       eos_copy member <bootstrap> <topic> <group>"
            );
            std::process::exit(2);
        }
    }
}
