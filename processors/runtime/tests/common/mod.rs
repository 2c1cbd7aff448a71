//! Shared harness: an in-process broker on its own runtime, rdkafka clients, child processes
//! and the checks on `RunningTotal` output.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

#[allow(unused_imports)]
pub use techpotli_testkit::{ChildProc, TestBroker, example, unique, wait_until};

/// A plain topic (runtime tests need no topic configs).
pub fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    techpotli_testkit::create_topic(bootstrap, name, partitions, &[]);
}

pub fn producer(bootstrap: &str) -> ThreadedProducer<DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .create()
        .expect("producer")
}

/// Produces (key, value) pairs and waits until all are acknowledged.
pub fn produce(
    p: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    records: &[(String, Vec<u8>)],
) {
    for (k, v) in records {
        let mut rec = BaseRecord::to(topic).key(k).payload(v);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    rec = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    p.flush(Duration::from_secs(30))
        .expect("input acknowledged");
}

/// `u64` big-endian, the demo's value format.
pub fn be(v: u64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// Reads `topic` from the start (read_committed) until `want` records arrived, then for
/// `quiet` more to catch anything extra (duplicates).
pub fn read_all(bootstrap: &str, topic: &str, want: usize, quiet: Duration) -> Vec<OwnedMessage> {
    read_all_with(bootstrap, topic, want, quiet, "read_committed")
}

/// [`read_all`] with the given `isolation.level`.
pub fn read_all_with(
    bootstrap: &str,
    topic: &str,
    want: usize,
    quiet: Duration,
    isolation: &str,
) -> Vec<OwnedMessage> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("verify"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .expect("consumer");
    c.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut out = Vec::new();
    let mut last = Instant::now();
    while Instant::now() < deadline && (out.len() < want || last.elapsed() < quiet) {
        if let Some(r) = c.poll(Duration::from_millis(100)) {
            out.push(r.expect("consume").detach());
            last = Instant::now();
        }
    }
    out
}

/// Totals emitted per key, in output order.
pub fn totals_by_key(msgs: &[OwnedMessage]) -> BTreeMap<String, Vec<u64>> {
    let mut by_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for m in msgs {
        let key = String::from_utf8_lossy(m.key().expect("key")).into_owned();
        let v = u64::from_be_bytes(m.payload().expect("value").try_into().expect("8 bytes"));
        by_key.entry(key).or_default().push(v);
    }
    by_key
}

/// Asserts every key's totals are exactly `1..=n` (inputs of value 1): no gap, no duplicate.
pub fn assert_prefix_sums(
    by_key: &BTreeMap<String, Vec<u64>>,
    expected_per_key: &BTreeMap<String, u64>,
) {
    assert_eq!(by_key.len(), expected_per_key.len(), "keys with output");
    for (k, n) in expected_per_key {
        let got = &by_key[k];
        let want: Vec<u64> = (1..=*n).collect();
        if got != &want {
            let dups = got.len() as i64 - *n as i64;
            panic!(
                "key {k}: {} totals (expected {n}, diff {dups}); first mismatch at {:?}",
                got.len(),
                got.iter().zip(&want).position(|(a, b)| a != b)
            );
        }
    }
}

/// Sum of the offsets group `group` committed on `topic` (how far it has got).
pub fn committed_total(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> i64 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        // read_committed (librdkafka's default) asks for stable offsets (KIP-447) and so
        // waits while a killed instance's transaction with offsets is still pending.
        .set("isolation.level", "read_uncommitted")
        .create()
        .expect("consumer");
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = c
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    committed
        .elements()
        .iter()
        .filter_map(|e| e.offset().to_raw())
        .filter(|o| *o >= 0)
        .sum()
}

/// Feeds `records` values of 1 over `keys` keys (`k0`..) in chunks of 500, one chunk per
/// `interval`, so input keeps arriving while a test kills or rescales instances.
pub fn spawn_feeder(
    bootstrap: &str,
    input: &str,
    records: usize,
    keys: usize,
    interval: Duration,
) -> std::thread::JoinHandle<()> {
    let (bootstrap, input) = (bootstrap.to_owned(), input.to_owned());
    std::thread::spawn(move || {
        let p = producer(&bootstrap);
        for chunk in 0..records / 500 {
            let batch: Vec<_> = (chunk * 500..(chunk + 1) * 500)
                .map(|i| (format!("k{}", i % keys), be(1)))
                .collect();
            produce(&p, &input, &batch);
            std::thread::sleep(interval);
        }
    })
}

/// The `RunningTotal` store of `app` as restored from its changelog: key -> total.
pub fn restored_totals(bootstrap: &str, app: &str, partitions: i32) -> BTreeMap<String, u64> {
    use techpotli_runtime::changelog::{changelog_topic, restore};
    use techpotli_runtime::demo::TOTALS;
    use techpotli_runtime::store::decode_value;

    let parts: Vec<i32> = (0..partitions).collect();
    let state = restore(
        bootstrap,
        &changelog_topic(app, TOTALS),
        &parts,
        Duration::from_secs(30),
    )
    .expect("restore")
    .0;
    state
        .values()
        .flatten()
        .map(|(k, v)| {
            (
                String::from_utf8(k.clone()).unwrap(),
                decode_value::<u64>(v).unwrap(),
            )
        })
        .collect()
}

#[allow(unused_imports)]
pub use techpotli_testkit::free_port;

/// The `demo` example binary as a processor instance (runtime settings from the environment,
/// as in production). Stderr (JSON logs) is discarded unless `TECHPOTLI_TEST_LOGS` names a
/// directory.
pub struct Demo {
    pub bootstrap: String,
    pub app: String,
    pub input: String,
    pub output: String,
    pub kind: &'static str,
    pub delay_us: u64,
    /// More `TECHPOTLI_DEMO_*` settings (table topic, window sizes).
    pub env: Vec<(String, String)>,
}

impl Demo {
    /// A demo of `kind` on fresh input and output topics of `partitions` with a unique app id.
    pub fn setup(b: &TestBroker, partitions: i32, kind: &'static str, delay_us: u64) -> Self {
        let (input, output, app) = (unique("in"), unique("out"), unique("app"));
        create_topic(&b.bootstrap, &input, partitions);
        create_topic(&b.bootstrap, &output, partitions);
        Self {
            bootstrap: b.bootstrap.clone(),
            app,
            input,
            output,
            kind,
            delay_us,
            env: Vec::new(),
        }
    }

    /// Adds an environment variable for every instance.
    #[must_use]
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Starts instance `instance`; its admin endpoints listen on `admin_port`.
    pub fn spawn(&self, instance: &str, admin_port: u16) -> ChildProc {
        let bin = example("demo");
        let admin = format!("127.0.0.1:{admin_port}");
        let delay = self.delay_us.to_string();
        let mut env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        env.extend([
            ("KAFKA_BOOTSTRAP", self.bootstrap.as_str()),
            ("TECHPOTLI_INSTANCE_ID", instance),
            ("TECHPOTLI_ADMIN_LISTEN", admin.as_str()),
            ("TECHPOTLI_SESSION_TIMEOUT_MS", "6000"),
            ("TECHPOTLI_DEMO_KIND", self.kind),
            ("TECHPOTLI_DEMO_APP", self.app.as_str()),
            ("TECHPOTLI_DEMO_INPUT", self.input.as_str()),
            ("TECHPOTLI_DEMO_OUTPUT", self.output.as_str()),
            ("TECHPOTLI_DEMO_DELAY_US", delay.as_str()),
            ("RUST_LOG", "warn"),
        ]);
        ChildProc::spawn_env(&bin, &[], &env)
    }
}

/// Waits until group `app` has committed `total` input offsets over `partitions`.
pub fn wait_committed(bootstrap: &str, app: &str, input: &str, partitions: i32, total: i64) {
    wait_until("all input committed", Duration::from_secs(180), || {
        committed_total(bootstrap, app, input, partitions) >= total
    });
}

/// Sends SIGTERM and asserts a clean exit (status 0) within 30 s.
pub fn term_and_expect_clean_exit(child: &mut ChildProc, what: &str) {
    child.term();
    let status = child
        .wait_timeout(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("{what} did not exit within 30 s of SIGTERM"));
    assert!(
        status.success(),
        "{what} exited with {status} after SIGTERM"
    );
}

/// Runs two instances of `demo` and SIGKILLs a random one `kills` times, 0.8–2.5 s apart
/// (each restarted at once with its instance id, fencing the killed transaction), then waits
/// for `done` and stops both with SIGTERM, expecting clean exits.
pub fn two_instances_with_kills(demo: &Demo, kills: usize, done: impl Fn() -> bool) {
    use rand::RngExt;
    let ids = ["i0", "i1"];
    let ports = [free_port(), free_port()];
    let mut instances: Vec<_> = (0..2).map(|i| demo.spawn(ids[i], ports[i])).collect();
    let mut rng = rand::rng();
    for kill in 1..=kills {
        std::thread::sleep(Duration::from_millis(rng.random_range(800..2500)));
        let victim = rng.random_range(0..2);
        assert!(
            instances[victim].0.try_wait().unwrap().is_none(),
            "instance {} exited on its own before kill {kill}",
            ids[victim]
        );
        instances[victim].kill9();
        println!("kill {kill}: SIGKILLed {}", ids[victim]);
        instances[victim] = demo.spawn(ids[victim], ports[victim]);
    }
    wait_until("the run completed", Duration::from_secs(180), done);
    for (i, child) in instances.iter_mut().enumerate() {
        term_and_expect_clean_exit(child, ids[i]);
    }
}

/// Produces `(key, value)` records (a `None` value is a tombstone) and waits for the acks.
pub fn produce_opt(
    p: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    records: &[(String, Option<String>)],
) {
    for (k, v) in records {
        let mut rec = BaseRecord::<String, String>::to(topic).key(k);
        if let Some(v) = v {
            rec = rec.payload(v);
        }
        while let Err((_, r)) = p.send(rec) {
            rec = r;
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    p.flush(Duration::from_secs(30)).expect("acknowledged");
}

/// `(key, value)` of every message, as UTF-8.
pub fn pairs(msgs: &[OwnedMessage]) -> Vec<(String, String)> {
    msgs.iter()
        .map(|m| {
            (
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            )
        })
        .collect()
}

/// Every committed record of `topic` from the start, read until none arrived for `quiet`
/// (at most 60 s): for polling how far a run got.
pub fn read_quiet(bootstrap: &str, topic: &str, quiet: Duration) -> Vec<OwnedMessage> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("poll"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    c.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut out, mut last) = (Vec::new(), Instant::now());
    while Instant::now() < deadline && last.elapsed() < quiet {
        if let Some(r) = c.poll(Duration::from_millis(50)) {
            out.push(r.expect("consume").detach());
            last = Instant::now();
        }
    }
    out
}
