//! Broker faults under load, on a 3-node Apache Kafka KRaft cluster (topics RF 3,
//! `min.insync.replicas=2`): customers place and pay orders through the API while one node is
//! killed with SIGKILL, then the leader of `orders.placed`, leaving produce impossible until
//! both come back. No acknowledged order is lost, none is duplicated, every order ends
//! terminal, and while produce is impossible the API answers 503 with `Retry-After` and then
//! recovers by itself.
//!
//! Needs Apache Kafka (`scripts/kafka.sh`): ignored by default; CI's Apache Kafka step runs it
//! (`scripts/apache-kafka-suite.sh faults`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use reqwest::Method;
use serde_json::{Value, json};
use techpotli_e2e::Stack;
use techpotli_e2e::api::Api;
use techpotli_e2e::sinks::Sinks;
use techpotli_e2e::wait_until;
use techpotli_schemas::types::orders::{OrderState, OrderStatusChanged};
use techpotli_testkit::TestBroker;
use techpotli_testkit::apache::ApacheKafka;
use techpotli_topics::names;

const ADMIN: (&str, &str) = ("ops-1", "admin");
const CLIENTS: usize = 4;
const ORDERS_PER_CLIENT: usize = 60;
const SKUS: usize = 5;
/// How long one request is retried through an outage before the test gives up.
const OUTAGE_LIMIT: Duration = Duration::from_secs(180);

/// What the customers saw.
#[derive(Default)]
struct Seen {
    /// order id -> idempotency key, from every 202.
    accepted: BTreeMap<String, String>,
    /// 503s, and how many carried a Retry-After.
    unavailable: usize,
    with_retry_after: usize,
    /// 503s to the payment webhook.
    webhook_unavailable: usize,
}

/// Calls until the API accepts (202), honouring 503 + Retry-After; any other answer fails.
fn until_accepted(
    api: &Api,
    path: &str,
    who: (&str, &str),
    body: &Value,
    key: &str,
    seen: &Mutex<Seen>,
) -> Value {
    let started = Instant::now();
    loop {
        let ((status, answer), retry_after) = api.call_retry_after(
            Method::POST,
            path,
            who,
            Some(body),
            &[("idempotency-key", key)],
        );
        match status {
            202 => return answer,
            503 => {
                let mut s = seen.lock().expect("lock");
                s.unavailable += 1;
                let wait = retry_after.as_deref().and_then(|v| v.parse::<u64>().ok());
                if wait.is_some() {
                    s.with_retry_after += 1;
                }
                drop(s);
                assert!(
                    started.elapsed() < OUTAGE_LIMIT,
                    "{path}: still 503 after {OUTAGE_LIMIT:?}"
                );
                std::thread::sleep(Duration::from_secs(wait.unwrap_or(1).min(2)));
            }
            other => panic!("{path}: {other} {answer}"),
        }
    }
}

/// The node (1-based, = KRaft node id) leading partition 0 of `topic`.
fn leader(bootstrap: &str, topic: &str) -> u8 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("client");
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let id = md.topics()[0].partitions()[0].leader();
    u8::try_from(id).expect("a leader")
}

fn customer(c: usize) -> String {
    format!("cust-{c}")
}

#[test]
#[ignore = "needs a 3-node Apache Kafka: scripts/apache-kafka-suite.sh faults"]
fn orders_survive_a_broker_kill_then_the_leaders_kill() {
    let stack = Arc::new(Stack::on(TestBroker::on_apache(ApacheKafka::start(3, &[]))));
    let sinks = Sinks::start(&stack);
    let _inventory = stack.spawn_inventory("faults-0");
    let _saga = stack.spawn_saga("faults-0", Duration::from_secs(300));
    let _pricing = stack.spawn_pricing("faults-0");
    let api = Arc::new(Api::start(&stack, &sinks));
    let seen = Arc::new(Mutex::new(Seen::default()));

    for s in 0..SKUS {
        let sku = format!("SKU-{s}");
        let product = json!({"product_id": sku, "title": format!("Product {sku}"),
            "category": "bags", "list_price_minor": 10_000, "currency": "INR", "active": true});
        let path = format!("/v1/admin/products/{sku}");
        let r = api.call(Method::PUT, &path, ADMIN, Some(&product), &[]);
        assert_eq!(r.0, 202, "{}", r.1);
        let restock = json!({"delta": 100_000, "reason": "RESTOCK"});
        let key = format!("restock-{s}");
        until_accepted(
            &api,
            &format!("/v1/admin/inventory/{sku}/adjustments"),
            ADMIN,
            &restock,
            &key,
            &seen,
        );
    }
    for s in 0..SKUS {
        for view in ["stock", "prices"] {
            let path = format!("/v1/{view}/SKU-{s}");
            api.poll(&path, ADMIN, Duration::from_secs(120), |r| r.0 == 200);
        }
    }

    let progress = Arc::new(AtomicUsize::new(0));
    let customers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (api, seen, progress) = (api.clone(), seen.clone(), progress.clone());
            std::thread::spawn(move || {
                let user = customer(c);
                let who = (user.as_str(), "customer");
                for i in 0..ORDERS_PER_CLIENT {
                    let key = format!("checkout-{i}");
                    let order = json!({"currency": "INR",
                        "lines": [{"sku": format!("SKU-{}", (c + i) % SKUS), "quantity": 1, "unit_price_minor": 10_000}],
                        "shipping_minor": 0,
                        "shipping_address": {"recipient_name": "Asha", "line1": "1 MG Road", "city": "Pune",
                            "postal_code": "411001", "country_code": "IN"}});
                    let placed = until_accepted(&api, "/v1/orders", who, &order, &key, &seen);
                    let order_id = placed["order_id"].as_str().expect("order id").to_owned();
                    let total = placed["total_minor"].as_i64().expect("total");
                    // The provider's webhook goes through the same broker.
                    let event = json!({"type": "payment.authorized", "order_id": order_id,
                        "provider_reference": format!("pay-{order_id}"), "amount_minor": total, "currency": "INR"});
                    let path = format!("/v1/webhooks/payments/{}", techpotli_e2e::api::PROVIDER);
                    pay_until_accepted(&api, &path, &event, &seen);
                    seen.lock().expect("lock").accepted.insert(order_id, format!("{user}/{key}"));
                    progress.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    // The faults, while orders flow.
    let kafka = stack.broker().apache().expect("on Apache Kafka");
    wait_until("orders flowing", Duration::from_secs(120), || {
        progress.load(Ordering::Relaxed) >= 30
    });
    let lead = leader(&stack.bootstrap, names::ORDERS_PLACED.0);
    let other = (1..=3).find(|n| *n != lead).expect("a follower");
    kafka.kill_node(other);
    println!("killed node {other} (a follower of orders.placed); the ISR shrinks to 2");
    let before = progress.load(Ordering::Relaxed);
    wait_until("orders flow on two nodes", Duration::from_secs(120), || {
        progress.load(Ordering::Relaxed) >= before + 20
    });
    kafka.kill_node(lead);
    println!("killed node {lead} (the leader); one node left: produce is impossible");
    wait_until("the API answers 503", Duration::from_secs(120), || {
        seen.lock().expect("lock").unavailable > 0
    });
    let stalled = progress.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(5));
    kafka.start_node(other);
    kafka.start_node(lead);
    println!("nodes {other} and {lead} restarted");

    for c in customers {
        c.join().expect("customer thread");
    }
    let s = seen.lock().expect("lock");
    println!(
        "{} orders accepted; {} order answers were 503 ({} with Retry-After), {} webhook answers; \
         {stalled} accepted when the outage began",
        s.accepted.len(),
        s.unavailable,
        s.with_retry_after,
        s.webhook_unavailable
    );
    assert_eq!(
        s.accepted.len(),
        CLIENTS * ORDERS_PER_CLIENT,
        "every order accepted in the end"
    );
    assert!(s.unavailable > 0, "produce was impossible for a while");
    assert_eq!(
        s.with_retry_after, s.unavailable,
        "every 503 carries Retry-After"
    );

    // Every accepted order reaches exactly one terminal state, once; no other order exists.
    let mut history: BTreeMap<String, Vec<OrderStatusChanged>> = BTreeMap::new();
    wait_until("every order terminal", Duration::from_secs(300), || {
        history = stack.read_by_key::<OrderStatusChanged>(names::ORDERS_STATUS.0);
        let done = history
            .values()
            .filter(|h| {
                h.last().is_some_and(|x| {
                    matches!(x.state, OrderState::Confirmed | OrderState::Cancelled)
                })
            })
            .count();
        println!("orders terminal: {done} of {}", s.accepted.len());
        done == s.accepted.len()
    });
    let ids: BTreeSet<&String> = history.keys().collect();
    assert_eq!(
        ids,
        s.accepted.keys().collect(),
        "no acknowledged order lost, no other order made"
    );
    for (id, h) in &history {
        let seqs: Vec<i32> = h.iter().map(|x| x.sequence).collect();
        assert_eq!(
            seqs,
            (1..=h.len() as i32).collect::<Vec<_>>(),
            "{id}: no status duplicated or missing"
        );
        let terminals = h
            .iter()
            .filter(|x| matches!(x.state, OrderState::Confirmed | OrderState::Cancelled))
            .count();
        assert_eq!(terminals, 1, "{id}: exactly one terminal status");
        assert_eq!(
            h.last().expect("status").state,
            OrderState::Confirmed,
            "{id}: paid with stock to spare"
        );
    }
}

/// Webhooks are deduplicated by provider reference, not by an idempotency key.
fn pay_until_accepted(api: &Api, path: &str, event: &Value, seen: &Mutex<Seen>) {
    let started = Instant::now();
    loop {
        let (status, answer) = api.webhook(event);
        match status {
            202 | 200 => return,
            503 => {
                seen.lock().expect("lock").webhook_unavailable += 1;
                assert!(
                    started.elapsed() < OUTAGE_LIMIT,
                    "{path}: still 503 after {OUTAGE_LIMIT:?}"
                );
                std::thread::sleep(Duration::from_secs(1));
            }
            other => panic!("{path}: {other} {answer}"),
        }
    }
}
