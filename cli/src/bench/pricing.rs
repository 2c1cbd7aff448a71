//! `techpotli bench pricing`: how fast the pricing processor follows price rules. On one
//! embedded broker and registry (catalogue applied, schemas registered), in one run:
//! - the baseline: the runtime's exactly-once pass-through with a store (`demo::PassThrough`)
//!   over as many records as the rule changes below produce prices;
//! - `--skus` products and `--carts` carts of `--lines` lines each are priced by the pricing
//!   processor (in-process, one instance);
//! - `--rounds` times, one price rule for every SKU changes (10 % off, then 20 %, …): every
//!   SKU gets a new price and every open cart is re-priced. Measured from the rule's send to
//!   the last new price on `pricing.prices` and the last re-priced cart on `pricing.carts`.
//!
//! Prints price changes/s and carts re-priced/s, and their ratios to the pass-through.

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use serde::Serialize;
use techpotli_pricing::Pricing;
use techpotli_runtime::demo::PassThrough;
use techpotli_runtime::{Runtime, RuntimeConfig};
use techpotli_schemas::types::carts::{CartEvent, CartEventPayload, CartItemAdded};
use techpotli_schemas::types::catalog::{
    PriceRuleKind, PriceRuleScope, PriceRuleUpserted, ProductUpserted,
};
use techpotli_schemas::{AvroRecord, Codec};
use techpotli_topics::names;

use super::broker::{Shape, create_topics, produce_phase};
use super::runtime::runtime_phase;
use super::{Measured, now_ms, print_table, records_bar};

#[derive(Debug, Args)]
pub struct PricingBench {
    /// Products priced (each re-priced once per round).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    skus: u64,
    /// Open carts (each re-priced once per round).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    carts: u64,
    /// Lines per cart (distinct SKUs).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
    lines: u64,
    /// Rule changes, each re-pricing every SKU and cart.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
    rounds: u64,
}

/// Acknowledged, Avro-encoded produce onto the catalogue's topics.
struct Feed<'a> {
    rt: &'a tokio::runtime::Runtime,
    codec: Codec,
    producer: ThreadedProducer<DefaultProducerContext>,
}

impl Feed<'_> {
    fn send<T: AvroRecord + Serialize>(&self, topic: &str, key: &str, v: &T) -> anyhow::Result<()> {
        let bytes = self.rt.block_on(self.codec.encode(topic, v))?;
        let mut rec = BaseRecord::to(topic).key(key).payload(&bytes);
        while let Err((_, r)) = self.producer.send(rec) {
            rec = r;
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(())
    }

    fn flush(&self) -> anyhow::Result<()> {
        Ok(self.producer.flush(Duration::from_secs(60))?)
    }
}

fn product(s: u64) -> ProductUpserted {
    ProductUpserted {
        event_id: uuid::Uuid::now_v7(),
        event_time: now_ms(),
        sku: format!("SKU-{s}"),
        product_id: format!("SKU-{s}"),
        title: format!("Bench product {s}"),
        description: None,
        category: format!("bench/c{}", s % 10),
        brand: None,
        attributes: std::collections::BTreeMap::new(),
        list_price_minor: 10_000 + i64::try_from(s % 1000).unwrap_or(0),
        currency: "INR".into(),
        active: true,
        image_urls: Vec::new(),
    }
}

fn rule(round: u64) -> PriceRuleUpserted {
    PriceRuleUpserted {
        event_id: uuid::Uuid::now_v7(),
        event_time: now_ms(),
        rule_id: "bench-all".into(),
        name: "bench: everything".into(),
        kind: PriceRuleKind::PercentOff,
        percent_off_bps: Some(i32::try_from(1_000 * (round % 9 + 1)).unwrap_or(1_000)),
        amount_minor: None,
        currency: None,
        scope: PriceRuleScope::All,
        scope_value: None,
        valid_from: None,
        valid_until: None,
        priority: 0,
        active: true,
    }
}

/// Offsets used so far on `topic` (the sum of its partitions' high watermarks): records plus
/// transaction markers, so a lower bound to wait for and a clock of the last write, not an
/// exact count.
fn written(c: &BaseConsumer, topic: &str) -> anyhow::Result<u64> {
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut total = 0;
    for p in md.topics()[0].partitions() {
        let (_, high) = c.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
        total += u64::try_from(high).unwrap_or(0);
    }
    Ok(total)
}

/// Waits until each `(topic, target)` has at least `target` offsets and none gained any for a
/// second (a cart is published again as each of its lines' new prices arrives); returns, per
/// topic, the offsets reached and the time from `since` to its last write.
fn until_settled<const N: usize>(
    c: &BaseConsumer,
    watched: [(&str, u64); N],
    label: &str,
    since: Instant,
) -> anyhow::Result<[(u64, Duration); N]> {
    let total: u64 = watched.iter().map(|w| w.1).sum();
    let bar = records_bar(label, total);
    let mut last = [(0u64, Duration::ZERO); N];
    loop {
        let mut reached = 0;
        for (i, (topic, target)) in watched.iter().enumerate() {
            let n = written(c, topic)?;
            if n != last[i].0 {
                last[i] = (n, since.elapsed());
            }
            reached += n.min(*target);
        }
        bar.set_position(reached);
        let quiet = last
            .iter()
            .all(|l| since.elapsed().saturating_sub(l.1) > Duration::from_secs(1));
        if reached == total && quiet {
            bar.finish();
            return Ok(last);
        }
        if since.elapsed() > Duration::from_secs(600) {
            bail!("{label}: {reached} of {total} records in 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn run(b: &PricingBench) -> anyhow::Result<()> {
    techpotli_telemetry::init_logging("warn");
    let rt = super::services_runtime()?;
    let broker = super::BenchBroker::start(&rt, None, techpotli_kafka::BrokerConfig::default())?;
    let bootstrap = broker.bootstrap.clone();
    let registry = rt.block_on(techpotli_registry::start(
        techpotli_registry::RegistryConfig::new(bootstrap.clone()),
    ))?;
    rt.block_on(crate::dev::prepare(&bootstrap, &registry.url()))?;
    println!(
        "pricing bench: {} SKUs, {} carts x {} lines, {} rule changes, broker {}",
        b.skus,
        b.carts,
        b.lines,
        b.rounds,
        broker.describe()
    );
    // The baseline: the runtime pass-through over as many records as the rounds price.
    let input = format!("bench.pricing-input-{}", std::process::id());
    let output = format!("bench.pricing-output-{}", std::process::id());
    create_topics(&bootstrap, &[&input, &output], 6)?;
    let shape = Shape {
        records: b.skus * b.rounds,
        record_bytes: 150,
        partitions: 6,
        keys: b.skus,
    };
    produce_phase(&shape, &bootstrap, &input)?;
    let pass = runtime_phase(
        (&shape, 5_000),
        &bootstrap,
        &input,
        "runtime: pass-through + store",
        PassThrough { output },
        shape.records,
    )?;

    let feed = Feed {
        rt: &rt,
        codec: Codec::new(&registry.url()),
        producer: ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("enable.idempotence", "true")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .create()?,
    };
    let watch: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()?;
    let mut cfg = RuntimeConfig::new(&bootstrap, "pricing", "bench-0", &Pricing::INPUTS);
    cfg.schema_registry_url = Some(registry.url());
    let pricing = Runtime::spawn(cfg, Pricing)?;
    for s in 0..b.skus {
        feed.send(names::CATALOG_PRODUCTS.0, &format!("SKU-{s}"), &product(s))?;
    }
    for c in 0..b.carts {
        let cart_id = format!("cart-{c}");
        for l in 0..b.lines {
            let sku = format!("SKU-{}", (c * b.lines + l) % b.skus);
            let event = CartEvent {
                event_id: uuid::Uuid::now_v7(),
                event_time: now_ms(),
                cart_id: cart_id.clone(),
                user_id: Some(format!("user-{c}")),
                session_id: None,
                payload: CartEventPayload::CartItemAdded(CartItemAdded { sku, quantity: 1 }),
            };
            feed.send(names::CARTS_EVENTS.0, &cart_id, &event)?;
        }
    }
    feed.flush()?;
    let started = Instant::now();
    let (prices_topic, carts_topic) = (names::PRICING_PRICES.0, names::PRICING_CARTS.0);
    let [(mut prices_seen, _), (mut carts_seen, _)] = until_settled(
        &watch,
        [(prices_topic, b.skus), (carts_topic, b.carts)],
        "products and carts priced",
        started,
    )?;
    let (mut prices_time, mut carts_time) = (Duration::ZERO, Duration::ZERO);
    for round in 0..b.rounds {
        let sent = Instant::now();
        feed.send(names::CATALOG_PRICE_RULES.0, "bench-all", &rule(round))?;
        feed.flush()?;
        let [(p, pt), (c, ct)] = until_settled(
            &watch,
            [
                (prices_topic, prices_seen + b.skus),
                (carts_topic, carts_seen + b.carts),
            ],
            &format!("round {}", round + 1),
            sent,
        )?;
        (prices_seen, prices_time) = (p, prices_time + pt);
        (carts_seen, carts_time) = (c, carts_time + ct);
    }
    pricing.stop()?;
    let changes = Measured {
        name: "pricing: price changes",
        records: b.skus * b.rounds,
        bytes: 0,
        elapsed: prices_time,
    };
    let mut rows = vec![pass, changes];
    if b.carts > 0 {
        rows.push(Measured {
            name: "pricing: carts re-priced",
            records: b.carts * b.rounds,
            bytes: 0,
            elapsed: carts_time,
        });
    }
    print_table(&rows);
    let base = rows[0].records_per_sec();
    println!(
        "price changes / runtime pass-through: {:.2}x",
        rows[1].records_per_sec() / base
    );
    if b.carts > 0 {
        println!(
            "carts re-priced / runtime pass-through: {:.2}x",
            rows[2].records_per_sec() / base
        );
    }
    rt.block_on(registry.shutdown());
    broker.stop(&rt);
    Ok(())
}
