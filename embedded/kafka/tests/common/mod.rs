//! Shared harness: an in-process broker on its own runtime, rdkafka clients, child processes.
#![allow(dead_code)]

use std::time::{Duration, Instant};

pub mod wire;

use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::OwnedMessage;
use rdkafka::producer::FutureProducer;

#[allow(unused_imports)]
pub use techpotli_testkit::{ChildProc, TestBroker, create_topic, example, unique};

pub fn config(bootstrap: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c
}

pub fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> FutureProducer {
    let mut all = vec![
        ("enable.idempotence", "true"),
        ("acks", "all"),
        ("linger.ms", "5"),
    ];
    all.extend_from_slice(extra);
    config(bootstrap, &all).create().expect("producer")
}

pub fn consumer(bootstrap: &str, group: &str, extra: &[(&str, &str)]) -> BaseConsumer {
    let mut all = vec![
        ("group.id", group),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
    ];
    all.extend_from_slice(extra);
    config(bootstrap, &all).create().expect("consumer")
}

/// Polls until `want` messages arrived or `timeout` passed.
pub fn drain(consumer: &BaseConsumer, want: usize, timeout: Duration) -> Vec<OwnedMessage> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < want && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(m.detach()),
            Some(Err(e)) => panic!("consume error: {e}"),
            None => {}
        }
    }
    out
}

/// Polls for `quiet` after the last message to prove nothing more arrives.
pub fn drain_until_quiet(
    consumer: &BaseConsumer,
    quiet: Duration,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    let deadline = Instant::now() + timeout;
    let mut last = Instant::now();
    let mut out = Vec::new();
    while Instant::now() < deadline && last.elapsed() < quiet {
        if let Some(r) = consumer.poll(Duration::from_millis(100)) {
            out.push(r.expect("consume").detach());
            last = Instant::now();
        }
    }
    out
}

pub fn payload(m: &OwnedMessage) -> String {
    String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned()
}
