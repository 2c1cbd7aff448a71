//! Transaction failures in the middle of a batch. An abortable one (here: a send librdkafka
//! refuses, once) must be aborted, the batch's store writes undone, the partitions rewound and
//! the batch reprocessed with an exact output. A transaction the broker timed out (it bumps the
//! producer epoch, as Kafka does) fences the producer: a new one takes over and the batch runs
//! again, with the same exact output.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{
    TestBroker, assert_prefix_sums, be, create_topic, produce, producer, read_all, totals_by_key,
    unique, wait_until,
};
use techpotli_runtime::demo::RunningTotal;
use techpotli_runtime::{Context, InputRecord, ProcessError, Processor, Runtime, RuntimeConfig};

/// `RunningTotal` that, once, on its 500th record, either emits a record too large to send
/// or sleeps past the transaction timeout.
struct FailOnce {
    inner: RunningTotal,
    seen: usize,
    failed: Arc<AtomicBool>,
    stall: bool,
}

impl Processor for FailOnce {
    fn stores(&self) -> Vec<String> {
        self.inner.stores()
    }

    fn process(&mut self, record: InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        self.seen += 1;
        let output = self.inner.output.clone();
        self.inner.process(record, ctx)?;
        if self.seen == 500 && !self.failed.swap(true, Ordering::SeqCst) {
            if self.stall {
                std::thread::sleep(Duration::from_secs(4));
            } else {
                ctx.emit(&output, None, Some(&vec![0; 2_000_000]), Vec::new());
            }
        }
        Ok(())
    }
}

fn spawn(b: &TestBroker, input: &str, output: &str, stall: bool) -> (Runtime, Arc<AtomicBool>) {
    let mut cfg = RuntimeConfig::new(&b.bootstrap, &unique("app"), "i0", &[input]);
    cfg.transaction_timeout = Duration::from_secs(2);
    let failed = Arc::new(AtomicBool::new(false));
    let processor = FailOnce {
        inner: RunningTotal {
            output: output.to_owned(),
        },
        seen: 0,
        failed: failed.clone(),
        stall,
    };
    (Runtime::spawn(cfg, processor).expect("spawn"), failed)
}

#[test]
fn an_abortable_failure_is_rolled_back_rewound_and_reprocessed() {
    const RECORDS: usize = 3_000;
    const KEYS: usize = 30;
    let b = TestBroker::start();
    let (input, output) = (unique("in"), unique("out"));
    create_topic(&b.bootstrap, &input, 2);
    create_topic(&b.bootstrap, &output, 2);
    let records: Vec<_> = (0..RECORDS)
        .map(|i| (format!("k{}", i % KEYS), be(1)))
        .collect();
    produce(&producer(&b.bootstrap), &input, &records);

    let (rt, failed) = spawn(&b, &input, &output, false);
    wait_until("all records processed", Duration::from_secs(120), || {
        rt.is_finished() || rt.stats().processed >= RECORDS as u64
    });
    let stats = rt
        .stop()
        .expect("the runtime recovers from an aborted transaction");
    assert!(failed.load(Ordering::SeqCst));
    println!("stats after the failed send: {stats:?}");
    assert!(stats.aborts >= 1, "the failed transaction was aborted");

    let msgs = read_all(&b.bootstrap, &output, RECORDS, Duration::from_secs(2));
    let expected: BTreeMap<String, u64> = (0..KEYS)
        .map(|k| (format!("k{k}"), (RECORDS / KEYS) as u64))
        .collect();
    assert_prefix_sums(&totals_by_key(&msgs), &expected);
}

/// Kafka Streams' answer to a fenced producer (a task migrated), and ours: the broker timed the
/// transaction out and bumped the epoch, so a new producer takes over under the same
/// transactional id, the batch's store writes are undone, its partitions rewound and the batch
/// processed again: the runtime keeps running and the output stays exact.
#[test]
fn a_transaction_timed_out_by_the_broker_gets_a_new_producer_and_runs_again() {
    const RECORDS: usize = 1_000;
    const KEYS: usize = 10;
    let b = TestBroker::start();
    let (input, output) = (unique("in"), unique("out"));
    create_topic(&b.bootstrap, &input, 1);
    create_topic(&b.bootstrap, &output, 1);
    let records: Vec<_> = (0..RECORDS)
        .map(|i| (format!("k{}", i % KEYS), be(1)))
        .collect();
    produce(&producer(&b.bootstrap), &input, &records);
    let (rt, stalled) = spawn(&b, &input, &output, true);
    wait_until("all records processed", Duration::from_secs(120), || {
        rt.is_finished() || rt.stats().processed >= RECORDS as u64
    });
    let stats = rt
        .stop()
        .expect("the runtime recovers from a transaction the broker aborted");
    assert!(stalled.load(Ordering::SeqCst));
    assert!(
        stats.aborts >= 1,
        "the timed-out transaction counts as aborted: {stats:?}"
    );
    let msgs = read_all(&b.bootstrap, &output, RECORDS, Duration::from_secs(2));
    let expected: BTreeMap<String, u64> = (0..KEYS)
        .map(|k| (format!("k{k}"), (RECORDS / KEYS) as u64))
        .collect();
    assert_prefix_sums(&totals_by_key(&msgs), &expected);
}
