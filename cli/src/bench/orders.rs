//! `techpotli bench orders`: the order flow under a fixed arrival rate, through the API.
//! Starts the stack like `techpotli dev` (embedded broker and registry, catalogue, schemas,
//! pricing, inventory and order-saga processors and — unless `--no-sinks` — the MySQL and Redis
//! sinks on a throwaway database and key prefix, and the API), lists and stocks the SKUs and
//! waits until the API can price them, then a second process
//! ([`super::load`]) places orders at `--rate` per second through `POST /v1/orders`, each
//! followed by the payment provider's signed `payment.authorized` webhook. Reported:
//! throughput, and placed → confirmed latency p50/p99 from the moment the order request was
//! due to the Kafka timestamp of its CONFIRMED status.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use techpotli_schemas::Codec;
use techpotli_schemas::types::catalog::ProductUpserted;
use techpotli_schemas::types::inventory::{StockAdjusted, StockAdjustmentReason};
use techpotli_schemas::types::orders::{OrderState, OrderStatusChanged};
use techpotli_topics::names;

use super::load::{Endpoint, LoadArgs};
use super::{now_ms, records_bar};
use crate::dev_processors::SinkTargets;

/// Every SKU's list price (and, with no rule, its price): what the load generator expects.
pub(crate) const LIST_PRICE: i64 = 49_900;
/// The webhook provider and secret the bench's API and load generator share.
const PROVIDER: &str = "bench";
const SECRET: &str = "bench-webhook-secret-0123456789abcdef";

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
    /// Most order requests in flight.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_in_flight: u64,
    /// The processors' commit interval in ms (each exactly-once hop waits up to this long).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    commit_interval_ms: u64,
    /// Run without the MySQL and Redis sinks.
    #[arg(long)]
    no_sinks: bool,
    /// MySQL server of the sinks (a database `techpotli_bench_<pid>` is created and dropped).
    #[arg(long, default_value = "mysql://techpotli:techpotli@127.0.0.1:3306")]
    mysql: String,
    /// Redis of the sinks and the API (keys under `bench:<pid>:`, deleted afterwards).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
}

/// The `p` quantile of `sorted` ms, 0 when empty.
fn percentile(sorted: &[i64], p: f64) -> i64 {
    super::percentile(sorted, p).unwrap_or(0)
}

/// Lists every SKU at [`LIST_PRICE`] on `catalog.products` and restocks it with `per_sku`
/// units on `inventory.adjustments`, straight onto the topics.
fn seed(
    rt: &tokio::runtime::Runtime,
    bootstrap: &str,
    codec: &Codec,
    b: &OrdersBench,
    per_sku: i32,
) -> anyhow::Result<()> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .create()?;
    let send = |topic: &str, sku: &str, v: Vec<u8>| {
        let mut rec = BaseRecord::to(topic).key(sku).payload(&v);
        while let Err((_, r)) = producer.send(rec) {
            rec = r;
            std::thread::sleep(Duration::from_micros(200));
        }
    };
    for s in 0..b.skus {
        let sku = format!("SKU-{s}");
        let product = ProductUpserted {
            event_id: uuid::Uuid::now_v7(),
            event_time: now_ms(),
            sku: sku.clone(),
            product_id: sku.clone(),
            title: format!("Bench product {s}"),
            description: None,
            category: "bench".into(),
            brand: None,
            attributes: std::collections::BTreeMap::new(),
            list_price_minor: LIST_PRICE,
            currency: "INR".into(),
            active: true,
            image_urls: Vec::new(),
        };
        send(
            names::CATALOG_PRODUCTS.0,
            &sku,
            rt.block_on(codec.encode(names::CATALOG_PRODUCTS.0, &product))?,
        );
        let adj = StockAdjusted {
            event_id: uuid::Uuid::now_v7(),
            event_time: now_ms(),
            sku: sku.clone(),
            delta: per_sku,
            reason: StockAdjustmentReason::Restock,
            note: None,
            actor: "system:bench".into(),
        };
        send(
            names::INVENTORY_ADJUSTMENTS.0,
            &sku,
            rt.block_on(codec.encode(names::INVENTORY_ADJUSTMENTS.0, &adj))?,
        );
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(())
}

/// Writes `price:SKU-0..skus` under `prefix` as the Redis sink would for [`LIST_PRICE`] and no
/// rule: for benches that run the API without the pricing processor or the sinks.
pub(crate) async fn write_price_hashes(
    redis_url: &str,
    prefix: &str,
    skus: u64,
) -> anyhow::Result<()> {
    let mut con = redis::Client::open(redis_url)?
        .get_multiplexed_async_connection()
        .await?;
    let mut pipe = redis::pipe();
    for s in 0..skus {
        pipe.hset_multiple(
            format!("{prefix}price:SKU-{s}"),
            &[
                ("sku", format!("SKU-{s}")),
                ("list_price_minor", LIST_PRICE.to_string()),
                ("effective_price_minor", LIST_PRICE.to_string()),
                ("currency", "INR".into()),
                ("applied_rule_ids", "[]".into()),
                ("valid_until_ms", String::new()),
                ("event_id", uuid::Uuid::now_v7().to_string()),
                ("event_time_ms", now_ms().to_string()),
            ],
        )
        .ignore();
    }
    let () = pipe.query_async(&mut con).await?;
    Ok(())
}

/// Waits until the API can price every SKU: the pricing processor priced it and the Redis
/// sink wrote `price:{sku}`. Without sinks nothing would, so the bench writes those hashes.
fn await_prices(
    rt: &tokio::runtime::Runtime,
    b: &OrdersBench,
    t: &SinkTargets,
) -> anyhow::Result<()> {
    let keys: Vec<String> = (0..b.skus)
        .map(|s| format!("{}price:SKU-{s}", t.redis_prefix))
        .collect();
    rt.block_on(async {
        if b.no_sinks {
            write_price_hashes(&t.redis_url, &t.redis_prefix, b.skus).await?;
        }
        let mut con = redis::Client::open(t.redis_url.as_str())?
            .get_multiplexed_async_connection()
            .await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut pipe = redis::pipe();
            for k in &keys {
                pipe.exists(k);
            }
            let present: Vec<bool> = pipe.query_async(&mut con).await?;
            let missing = present.iter().filter(|p| !**p).count();
            if missing == 0 {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{missing} of {} SKUs still unpriced after 60 s",
                keys.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// What `orders.status` showed: placed → confirmed latencies, and where the time went.
struct Confirmations {
    /// Sorted, ms.
    latencies: Vec<i64>,
    /// Sorted ms per leg: request due → PLACED (API, produce, the saga's first hop), PLACED →
    /// RESERVED (saga commit, inventory hop, saga again), RESERVED → CONFIRMED.
    legs: [Vec<i64>; 3],
    /// First order due → last confirmation.
    span: Duration,
}

/// Reads `orders.status` until every order of `orders` (id → due ms) is confirmed or 30 s
/// pass without progress. Times are the status records' Kafka timestamps.
fn confirmations(
    rt: &tokio::runtime::Runtime,
    bootstrap: &str,
    codec: &Codec,
    orders: &HashMap<String, i64>,
) -> anyhow::Result<Confirmations> {
    let status: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("bench-orders-{}", std::process::id()))
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .create()?;
    status.subscribe(&[names::ORDERS_STATUS.0])?;
    let bar = records_bar("confirmed", orders.len() as u64);
    let mut seen: HashMap<&str, [i64; 2]> = HashMap::new();
    let mut out = Confirmations {
        latencies: Vec::with_capacity(orders.len()),
        legs: Default::default(),
        span: Duration::ZERO,
    };
    let (mut last_progress, mut last_confirm) = (Instant::now(), 0i64);
    while out.latencies.len() < orders.len() && last_progress.elapsed() < Duration::from_secs(30) {
        let Some(Ok(m)) = status.poll(Duration::from_millis(100)) else {
            continue;
        };
        let Some(v) = m.payload() else { continue };
        let Ok(s) = rt.block_on(codec.decode::<OrderStatusChanged>(v)) else {
            continue;
        };
        let (Some((id, t0)), Some(t)) =
            (orders.get_key_value(&s.order_id), m.timestamp().to_millis())
        else {
            continue;
        };
        let at = seen.entry(id.as_str()).or_default();
        match s.state {
            OrderState::Placed => at[0] = t,
            OrderState::Reserved => at[1] = t,
            OrderState::Confirmed => {
                out.latencies.push(t - t0);
                out.legs[0].push(at[0] - t0);
                out.legs[1].push(at[1] - at[0]);
                out.legs[2].push(t - at[1]);
                last_confirm = last_confirm.max(t);
                last_progress = Instant::now();
                bar.set_position(out.latencies.len() as u64);
            }
            _ => {}
        }
    }
    bar.finish();
    let first = orders.values().min().copied().unwrap_or_default();
    out.span = Duration::from_millis(u64::try_from(last_confirm - first).unwrap_or(0));
    out.latencies.sort_unstable();
    for l in &mut out.legs {
        l.sort_unstable();
    }
    Ok(out)
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
    let pid = std::process::id();
    let targets = SinkTargets {
        database_url: format!("{}/techpotli_bench_{pid}", b.mysql.trim_end_matches('/')),
        redis_url: b.redis_url.clone(),
        redis_prefix: format!("bench:{pid}:"),
    };
    let processors = rt.block_on(crate::dev_processors::start(
        &bootstrap,
        &url,
        "127.0.0.1:0".parse()?,
        Duration::from_secs(900),
        Duration::from_millis(b.commit_interval_ms),
        (!b.no_sinks).then_some(&targets),
    ))?;
    let mut config = techpotli_api::Config::for_dev(&bootstrap, &url);
    config.listen = "127.0.0.1:0".parse()?;
    config.rate_limit_disabled = true;
    config.redis_url.clone_from(&b.redis_url);
    config.redis_prefix = format!("bench:{pid}:api:");
    // Orders are priced from the sinks' read model.
    config.read_redis_prefix.clone_from(&targets.redis_prefix);
    config.database_url.clone_from(&targets.database_url);
    config.payment_webhook_secrets = format!("{PROVIDER}={SECRET}");
    let api = rt.block_on(techpotli_api::start(config))?;
    let codec = Codec::new(&url);
    let total = b.rate * b.seconds;
    let per_sku = i32::try_from(total / b.skus + 1).context("too many orders per SKU")?;
    seed(&rt, &bootstrap, &codec, b, per_sku)?;
    await_prices(&rt, b, &targets)?;
    // Let the processors restore, join and apply the stock.
    std::thread::sleep(Duration::from_secs(3));
    println!(
        "orders bench: {} orders/s for {} s ({total} orders) through the API at {}, {} SKUs; running: {} (in-process, one instance each, commit interval {} ms) and the API; load from a second process",
        b.rate,
        b.seconds,
        api.url(),
        b.skus,
        processors.names().join(", "),
        b.commit_interval_ms
    );
    let load = LoadArgs {
        url: api.url(),
        endpoint: Endpoint::OrderPaid,
        rate: b.rate,
        connections: 1,
        seconds: b.seconds,
        batch: 1,
        max_in_flight: b.max_in_flight,
        skus: b.skus,
        provider: PROVIDER.into(),
    };
    let started = Instant::now();
    let report = load.spawn(SECRET)?;
    let placing = started.elapsed();
    let orders: HashMap<String, i64> = report.orders.iter().cloned().collect();
    let Confirmations {
        latencies,
        legs,
        span,
    } = confirmations(&rt, &bootstrap, &codec, &orders)?;
    println!(
        "\nplaced {} orders (+ payment webhook each) in {:.1} s: {:.0}/s accepted, {} failed; order + webhook round trip p50 {:.1} ms, p99 {:.1} ms",
        report.ok,
        placing.as_secs_f64(),
        report.req_per_sec(),
        report.failed,
        report.pct(0.5),
        report.pct(0.99)
    );
    println!(
        "confirmed {} of {} in {:.1} s: {:.0} orders/s end to end",
        latencies.len(),
        orders.len(),
        span.as_secs_f64(),
        latencies.len() as f64 / span.as_secs_f64().max(0.001)
    );
    println!(
        "placed -> confirmed latency: p50 {} ms, p99 {} ms, max {} ms (target p99 < 100 ms at 1k orders/s)",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    for (leg, name) in legs.iter().zip([
        "request due -> PLACED (API, produce, saga hop)",
        "PLACED -> RESERVED (saga commit, inventory hop, saga hop)",
        "RESERVED -> CONFIRMED",
    ]) {
        println!(
            "  {name:<58} p50 {:>4} ms, p99 {:>4} ms",
            percentile(leg, 0.50),
            percentile(leg, 0.99)
        );
    }
    rt.block_on(async {
        let _ = api.shutdown().await;
        processors.stop().await;
        registry.shutdown().await;
    });
    broker.stop(&rt);
    if !b.no_sinks {
        rt.block_on(drop_database(&b.mysql, &targets));
    }
    // The sinks' hashes and the API's idempotency keys.
    rt.block_on(super::delete_keys(&b.redis_url, &targets.redis_prefix));
    anyhow::ensure!(
        report.failed == 0,
        "{} order requests failed",
        report.failed
    );
    anyhow::ensure!(
        latencies.len() == orders.len(),
        "not every order was confirmed"
    );
    Ok(())
}

/// Drops the bench's database.
async fn drop_database(mysql: &str, t: &SinkTargets) {
    let name = t.database_url.rsplit('/').next().unwrap_or_default();
    if let Ok(pool) = sqlx::MySqlPool::connect(mysql).await {
        // The name is ours (`techpotli_bench_<pid>`), not input.
        let drop = format!("DROP DATABASE IF EXISTS `{name}`");
        let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&pool).await;
    }
}
