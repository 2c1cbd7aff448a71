//! Shared harness: an in-process broker on its own runtime, rdkafka clients, child processes.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::OwnedMessage;
use rdkafka::producer::FutureProducer;
use techpotli_kafka::{BrokerConfig, BrokerHandle};

/// A broker running on a runtime of its own, so tests can block in rdkafka calls freely.
pub struct TestBroker {
    pub bootstrap: String,
    rt: Option<tokio::runtime::Runtime>,
    handle: Option<BrokerHandle>,
}

impl TestBroker {
    pub fn start() -> Self {
        Self::start_with(BrokerConfig::default())
    }

    pub fn start_with(config: BrokerConfig) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let handle = rt
            .block_on(techpotli_kafka::start(config))
            .expect("broker starts");
        Self {
            bootstrap: handle.bootstrap(),
            rt: Some(rt),
            handle: Some(handle),
        }
    }

    pub fn stop(&mut self) {
        if let (Some(rt), Some(h)) = (self.rt.as_ref(), self.handle.take()) {
            rt.block_on(h.shutdown());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

pub fn config(bootstrap: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c
}

pub fn create_topic(bootstrap: &str, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = config(bootstrap, &[]).create().expect("admin");
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let res = rt
        .block_on(admin.create_topics([&topic], &AdminOptions::new()))
        .expect("create_topics request");
    for r in res {
        r.unwrap_or_else(|(t, e)| panic!("creating {t}: {e}"));
    }
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

/// Path of an example binary built alongside the tests (`cargo test` builds examples).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "example {} not built at {}",
        name,
        path.display()
    );
    path
}

/// A child process killed (SIGKILL) when dropped.
pub struct ChildProc(pub Child);

impl ChildProc {
    pub fn spawn(bin: &PathBuf, args: &[&str]) -> Self {
        let child = Command::new(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        Self(child)
    }

    pub fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn payload(m: &OwnedMessage) -> String {
    String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned()
}
