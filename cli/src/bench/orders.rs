//! `techpotli bench orders`: the order flow under a fixed arrival rate. Starts the stack like
//! `techpotli dev` (embedded broker and registry, catalogue, schemas, inventory and order-saga
//! processors in-process), stocks the SKUs, then places orders at `--rate` per second, each
//! followed by its payment (auto-authorised), and reports throughput and the placed →
//! confirmed latency (p50/p99): the Kafka timestamp of the CONFIRMED status minus the order's
//! event time. Orders go straight to `orders.placed` (the API's own cost is `bench ingress`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use techpotli_schemas::Codec;
use techpotli_schemas::types::inventory::{StockAdjusted, StockAdjustmentReason};
use techpotli_schemas::types::orders::{
    OrderLine, OrderPlaced, OrderState, OrderStatusChanged, ShippingAddress,
};
use techpotli_schemas::types::payments::{PaymentAuthorized, PaymentEvent, PaymentEventPayload};
use techpotli_topics::names;

use super::records_bar;

#[derive(Debug, Args)]
pub struct OrdersBench {
    /// Orders placed per second.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    rate: u64,
    /// How long orders are placed, in seconds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    seconds: u64,
    /// Distinct SKUs (each stocked so that no order is rejected).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    skus: u64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn order(id: &str, sku: &str) -> OrderPlaced {
    OrderPlaced {
        event_id: uuid::Uuid::now_v7(),
        event_time: now_ms(),
        order_id: id.to_owned(),
        user_id: "bench".into(),
        idempotency_key: id.to_owned(),
        cart_id: None,
        currency: "INR".into(),
        lines: vec![OrderLine {
            sku: sku.to_owned(),
            quantity: 1,
            unit_price_minor: 49_900,
        }],
        subtotal_minor: 49_900,
        discount_minor: 0,
        shipping_minor: 0,
        tax_minor: 0,
        total_minor: 49_900,
        shipping_address: ShippingAddress {
            recipient_name: "Bench".into(),
            line1: "1 Load St".into(),
            line2: None,
            city: "Pune".into(),
            region: None,
            postal_code: "411001".into(),
            country_code: "IN".into(),
            phone: None,
        },
    }
}

fn payment(id: &str) -> PaymentEvent {
    PaymentEvent {
        event_id: uuid::Uuid::now_v7(),
        event_time: now_ms(),
        order_id: id.to_owned(),
        provider: "fake".into(),
        provider_reference: format!("pay-{id}"),
        payload: PaymentEventPayload::PaymentAuthorized(PaymentAuthorized {
            amount_minor: 49_900,
            currency: "INR".into(),
        }),
    }
}

fn send(p: &ThreadedProducer<DefaultProducerContext>, topic: &str, key: &str, v: &[u8]) {
    let mut rec = BaseRecord::to(topic).key(key).payload(v);
    while let Err((_, r)) = p.send(rec) {
        rec = r;
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

pub fn run(b: &OrdersBench) -> anyhow::Result<()> {
    let rt = super::services_runtime()?;
    let broker = super::BenchBroker::start(&rt, None, techpotli_kafka::BrokerConfig::default())?;
    let bootstrap = broker.bootstrap.clone();
    let registry = rt.block_on(techpotli_registry::start(
        techpotli_registry::RegistryConfig::new(bootstrap.clone()),
    ))?;
    let url = registry.url();
    rt.block_on(crate::dev::prepare(&bootstrap, &url))?;
    let processors = rt.block_on(crate::dev_processors::start(
        &bootstrap,
        &url,
        "127.0.0.1:0".parse()?,
        Duration::from_secs(900),
    ))?;
    let codec = Codec::new(&url);
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "1")
        .create()?;
    let total = b.rate * b.seconds;
    let per_sku = i32::try_from(total / b.skus + 1).context("too many orders per SKU")?;
    for s in 0..b.skus {
        let sku = format!("SKU-{s}");
        let adj = StockAdjusted {
            event_id: uuid::Uuid::now_v7(),
            event_time: now_ms(),
            sku: sku.clone(),
            delta: per_sku,
            reason: StockAdjustmentReason::Restock,
            note: None,
            actor: "system:bench".into(),
        };
        let v = rt.block_on(codec.encode(names::INVENTORY_ADJUSTMENTS.0, &adj))?;
        send(&producer, names::INVENTORY_ADJUSTMENTS.0, &sku, &v);
    }
    producer.flush(Duration::from_secs(30))?;
    // Wait for the processors to have restored and joined.
    std::thread::sleep(Duration::from_secs(3));

    let status: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "bench-orders")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .create()?;
    status.subscribe(&[names::ORDERS_STATUS.0])?;

    println!(
        "orders bench: {} orders/s for {} s ({total} orders), {} SKUs; processors: {} (in-process, one instance each)",
        b.rate,
        b.seconds,
        b.skus,
        processors.names().join(", ")
    );
    let bar = records_bar("confirmed", total);
    let mut placed_at: HashMap<String, i64> = HashMap::new();
    let mut latencies = Vec::with_capacity(total as usize);
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / b.rate as f64);
    let mut next = Instant::now();
    let mut i = 0u64;
    let drain = |latencies: &mut Vec<i64>, placed_at: &HashMap<String, i64>| {
        while let Some(Ok(m)) = status.poll(Duration::ZERO) {
            let Some(v) = m.payload() else { continue };
            let Ok(s) = rt.block_on(codec.decode::<OrderStatusChanged>(v)) else {
                continue;
            };
            if s.state == OrderState::Confirmed
                && let (Some(t0), Some(t1)) =
                    (placed_at.get(&s.order_id), m.timestamp().to_millis())
            {
                latencies.push(t1 - t0);
            }
        }
    };
    while i < total {
        if Instant::now() >= next {
            let id = format!("bench-{i}");
            let o = order(&id, &format!("SKU-{}", i % b.skus));
            placed_at.insert(id.clone(), o.event_time);
            let ov = rt.block_on(codec.encode(names::ORDERS_PLACED.0, &o))?;
            send(&producer, names::ORDERS_PLACED.0, &id, &ov);
            let pv = rt.block_on(codec.encode(names::PAYMENTS_EVENTS.0, &payment(&id)))?;
            send(&producer, names::PAYMENTS_EVENTS.0, &id, &pv);
            i += 1;
            next += interval;
        } else {
            drain(&mut latencies, &placed_at);
            bar.set_position(latencies.len() as u64);
            std::thread::sleep(
                next.saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(1)),
            );
        }
    }
    let placing = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(120);
    while (latencies.len() as u64) < total && Instant::now() < deadline {
        drain(&mut latencies, &placed_at);
        bar.set_position(latencies.len() as u64);
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed();
    bar.finish();
    latencies.sort_unstable();
    println!(
        "\nplaced {total} orders in {:.1} s ({:.0}/s offered)",
        placing.as_secs_f64(),
        total as f64 / placing.as_secs_f64()
    );
    println!(
        "confirmed {} in {:.1} s: {:.0} orders/s end to end",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "placed -> confirmed latency: p50 {} ms, p99 {} ms, max {} ms (target p99 < 100 ms at 1k orders/s)",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    rt.block_on(processors.stop());
    rt.block_on(registry.shutdown());
    broker.stop(&rt);
    anyhow::ensure!(
        latencies.len() as u64 == total,
        "not every order was confirmed"
    );
    Ok(())
}
