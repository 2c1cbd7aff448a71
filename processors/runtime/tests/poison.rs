//! Poison records: 1k records that cannot be decoded (not Confluent-framed, an unknown schema
//! id, a datum that does not decode) or that break a domain invariant, interleaved with 10k
//! good Avro records. Every poison record lands in `<input>.dlq` once with its original bytes
//! and the error headers; every good one is processed exactly once; nothing crashes.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    TestBroker, assert_prefix_sums, create_topic, produce, producer, read_all, totals_by_key,
    unique, wait_until,
};
use rdkafka::Message;
use rdkafka::message::Headers;
use techpotli_registry::RegistryConfig;
use techpotli_runtime::changelog::dlq_topic;
use techpotli_runtime::{Context, InputRecord, ProcessError, Processor, Runtime, RuntimeConfig};
use techpotli_schemas::Codec;
use techpotli_schemas::types::inventory::{StockAdjusted, StockAdjustmentReason};

const GOOD: usize = 10_000;
const POISON: usize = 1_000;
const SKUS: usize = 100;
const PARTITIONS: i32 = 3;

/// Sums `delta` of `StockAdjusted` per SKU and emits each new sum (big-endian `u64`); a zero
/// delta breaks the schema's invariant.
struct DeltaTotals {
    output: String,
}

impl Processor for DeltaTotals {
    fn stores(&self) -> Vec<String> {
        vec!["sums".into()]
    }

    fn process(&mut self, record: InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let adj: StockAdjusted = ctx.decode(record.value.as_deref())?;
        if adj.delta == 0 {
            return Err(ProcessError::Invariant(format!(
                "delta must not be 0 (sku {})",
                adj.sku
            )));
        }
        let store = ctx.store("sums")?;
        let sum = store.get::<u64>(&adj.sku)?.unwrap_or(0) + u64::from(adj.delta.unsigned_abs());
        store.put(&adj.sku, &sum);
        ctx.emit(
            &self.output,
            Some(adj.sku.as_bytes()),
            Some(&sum.to_be_bytes()),
            Vec::new(),
        );
        Ok(())
    }
}

fn adjustment(sku: &str, delta: i32) -> StockAdjusted {
    StockAdjusted {
        event_id: uuid::Uuid::now_v7(),
        event_time: 1_700_000_000_000,
        sku: sku.to_owned(),
        delta,
        reason: StockAdjustmentReason::Restock,
        note: None,
        actor: "system:test".into(),
    }
}

/// (class expected in `dlq.error.class`, bytes) of the `i`-th poison record.
fn poison(i: usize, id: u32, good: &[u8]) -> (&'static str, Vec<u8>) {
    match i % 4 {
        0 => ("not-framed", b"{\"sku\": \"not avro\"}".to_vec()),
        1 => {
            let mut b = techpotli_schemas::codec::header(id + 10_000).to_vec();
            b.extend_from_slice(&good[5..]);
            ("unknown-schema-id", b)
        }
        // A datum cut short: the writer schema cannot read it.
        2 => ("avro-decode", good[..good.len() / 2].to_vec()),
        _ => ("invariant", Vec::new()),
    }
}

#[test]
fn a_thousand_poison_records_are_dead_lettered_and_ten_thousand_good_ones_processed() {
    let b = TestBroker::start();
    let (input, output, app) = (unique("in"), unique("out"), unique("app"));
    create_topic(&b.bootstrap, &input, PARTITIONS);
    create_topic(&b.bootstrap, &output, PARTITIONS);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let registry = rt
        .block_on(techpotli_registry::start(RegistryConfig::new(&b.bootstrap)))
        .expect("registry");
    let codec = Codec::new(&registry.url()).with_auto_register(true);
    let encode = |a: &StockAdjusted| rt.block_on(codec.encode(&input, a)).expect("encode");

    let mut records = Vec::new();
    let mut expected_dead: BTreeMap<String, (&str, Vec<u8>)> = BTreeMap::new();
    let every = GOOD / POISON;
    for i in 0..GOOD {
        let sku = format!("sku{}", i % SKUS);
        let good = encode(&adjustment(&sku, 1));
        records.push((sku, good.clone()));
        if i % every == 0 {
            let n = i / every;
            let id = u32::from_be_bytes(good[1..5].try_into().unwrap());
            let (class, bytes) = if n % 4 == 3 {
                ("invariant", encode(&adjustment("zero", 0)))
            } else {
                poison(n, id, &good)
            };
            let key = format!("p{n}");
            records.push((key.clone(), bytes.clone()));
            expected_dead.insert(key, (class, bytes));
        }
    }
    assert_eq!(expected_dead.len(), POISON);
    produce(&producer(&b.bootstrap), &input, &records);

    let mut cfg = RuntimeConfig::new(&b.bootstrap, &app, "i0", &[input.as_str()]);
    cfg.schema_registry_url = Some(registry.url());
    let runtime = Runtime::spawn(
        cfg,
        DeltaTotals {
            output: output.clone(),
        },
    )
    .expect("spawn");
    wait_until("all records processed", Duration::from_secs(120), || {
        runtime.stats().processed >= records.len() as u64
    });
    let stats = runtime.stop().expect("no crash: clean stop");
    assert_eq!(stats.dead_lettered, POISON as u64);

    let msgs = read_all(&b.bootstrap, &output, GOOD, Duration::from_secs(2));
    let expected: BTreeMap<String, u64> = (0..SKUS)
        .map(|k| (format!("sku{k}"), (GOOD / SKUS) as u64))
        .collect();
    assert_prefix_sums(&totals_by_key(&msgs), &expected);

    let dead = read_all(
        &b.bootstrap,
        &dlq_topic(&input),
        POISON,
        Duration::from_secs(2),
    );
    assert_eq!(dead.len(), POISON, "every poison record dead-lettered once");
    let mut classes: BTreeMap<String, usize> = BTreeMap::new();
    for m in &dead {
        let h = m.headers().expect("headers");
        let header = |name: &str| {
            let v = h
                .iter()
                .find(|x| x.key == name)
                .unwrap_or_else(|| panic!("header {name}"));
            String::from_utf8(v.value.unwrap_or_default().to_vec()).unwrap()
        };
        let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
        let (class, bytes) = &expected_dead[&key];
        assert_eq!(header("dlq.error.class"), *class, "record {key}");
        assert!(!header("dlq.error.message").is_empty());
        assert_eq!(header("dlq.source.topic"), input);
        assert_eq!(header("dlq.app"), app);
        let partition: i32 = header("dlq.source.partition").parse().unwrap();
        let offset: i64 = header("dlq.source.offset").parse().unwrap();
        assert!((0..PARTITIONS).contains(&partition) && offset >= 0);
        assert_eq!(
            m.payload().unwrap_or_default(),
            bytes.as_slice(),
            "original bytes kept"
        );
        *classes.entry(header("dlq.error.class")).or_default() += 1;
    }
    println!("dead letters by class: {classes:?}");
    assert_eq!(classes.len(), 4, "all four kinds of poison seen");
    rt.block_on(registry.shutdown());
}
