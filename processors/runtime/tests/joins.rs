//! Joins through the runtime's tables, each run by two `demo` instances (`JoinDemo`) while one
//! of them is SIGKILLed five times: a stream with a co-partitioned table, with a global table,
//! and — keyed by cart — through a repartition topic by SKU to the co-partitioned price table.
//! The output must be exactly what a run without kills gives: every key's outputs numbered
//! 1..=n with no gap or repeat, each joined with the price the table holds (updates and a
//! tombstone included). Afterwards a live table update (and tombstone) reaches the join.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    Demo, TestBroker, pairs, produce_opt, producer, read_all, read_quiet, two_instances_with_kills,
    unique,
};

const PARTITIONS: i32 = 3;
const SKUS: usize = 40;
const RECORDS: usize = 6_000;
const KILLS: usize = 5;

/// The price table as it stands before the stream starts: sku0 repriced, sku1 delisted.
fn price_table() -> Vec<(String, Option<String>)> {
    let mut t: Vec<(String, Option<String>)> = (0..SKUS)
        .map(|i| (format!("sku{i}"), Some(format!("p{i}"))))
        .collect();
    t.push(("sku0".into(), Some("p0b".into())));
    t.push(("sku1".into(), None));
    t
}

fn price_of(sku: &str) -> String {
    match sku {
        "sku0" => "p0b".into(),
        "sku1" => "-".into(),
        s => format!("p{}", &s[3..]),
    }
}

/// Starts the demo of `kind` over a fresh compacted price table, feeds `input` in chunks
/// while two instances are killed, and returns every output record once all arrived.
fn run(
    kind: &'static str,
    input: Vec<(String, Option<String>)>,
) -> (TestBroker, Demo, Vec<(String, String)>) {
    let b = TestBroker::start();
    let table = unique("prices");
    techpotli_testkit::create_topic(
        &b.bootstrap,
        &table,
        PARTITIONS,
        &[("cleanup.policy", "compact")],
    );
    let p = producer(&b.bootstrap);
    produce_opt(&p, &table, &price_table());
    let demo = Demo::setup(&b, PARTITIONS, kind, 200).with_env("TECHPOTLI_DEMO_TABLE", &table);
    let (bootstrap, topic) = (b.bootstrap.clone(), demo.input.clone());
    let feeder = std::thread::spawn(move || {
        let p = producer(&bootstrap);
        for chunk in input.chunks(300) {
            produce_opt(&p, &topic, chunk);
            std::thread::sleep(Duration::from_millis(150));
        }
    });
    let (bootstrap, output) = (b.bootstrap.clone(), demo.output.clone());
    two_instances_with_kills(&demo, KILLS, || {
        read_quiet(&bootstrap, &output, Duration::from_millis(500)).len() >= RECORDS
    });
    feeder.join().expect("feeder");
    let out = pairs(&read_all(
        &b.bootstrap,
        &demo.output,
        RECORDS,
        Duration::from_secs(3),
    ));
    (b, demo, out)
}

/// Splits `"n|value|price"` outputs per key, asserting each key's numbers run 1..=len.
fn numbered(out: &[(String, String)]) -> BTreeMap<String, Vec<(String, String)>> {
    let mut by_key: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (k, v) in out {
        let parts: Vec<&str> = v.splitn(3, '|').collect();
        assert_eq!(parts.len(), 3, "output {v:?}");
        let list = by_key.entry(k.clone()).or_default();
        assert_eq!(
            parts[0].parse::<usize>().unwrap(),
            list.len() + 1,
            "key {k}: output {v:?} out of sequence (lost or repeated join)"
        );
        list.push((parts[1].to_owned(), parts[2].to_owned()));
    }
    by_key
}

/// The stream of the table and global joins: value `v<i>` for SKU `i mod SKUS`.
fn sku_stream() -> Vec<(String, Option<String>)> {
    (0..RECORDS)
        .map(|i| (format!("sku{}", i % SKUS), Some(format!("v{i}"))))
        .collect()
}

/// What a run without kills emits per SKU: its values in input order with the table's price.
fn expected_sku_joins() -> BTreeMap<String, Vec<(String, String)>> {
    let mut want: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (k, v) in sku_stream() {
        let price = price_of(&k);
        want.entry(k).or_default().push((v.unwrap(), price));
    }
    want
}

/// Sends probes for `sku` until one comes back joined with `price` (a live table change
/// reached the join), bounded.
fn probe_until(demo: &Demo, sku: &str, price: &str) {
    let p = producer(&demo.bootstrap);
    let mut seen = 0;
    for attempt in 0..40 {
        produce_opt(
            &p,
            &demo.input,
            &[(sku.into(), Some(format!("probe{attempt}")))],
        );
        let out = pairs(&read_quiet(
            &demo.bootstrap,
            &demo.output,
            Duration::from_millis(500),
        ));
        seen = out.len();
        let last = out
            .iter()
            .rev()
            .find(|(k, _)| k == sku)
            .map(|(_, v)| v.clone());
        if last.is_some_and(|v| v.ends_with(&format!("|probe{attempt}|{price}"))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("{sku} never joined with {price} ({seen} outputs)");
}

/// Runs one live instance, changes the table (an update and a tombstone) and waits until the
/// join sees both.
fn live_table_changes_reach_the_join(demo: &Demo, table_topic: &str) {
    let mut child = demo.spawn("live", techpotli_testkit::free_port());
    let p = producer(&demo.bootstrap);
    produce_opt(
        &p,
        table_topic,
        &[("sku2".into(), Some("p2new".into())), ("sku3".into(), None)],
    );
    probe_until(demo, "sku2", "p2new");
    probe_until(demo, "sku3", "-");
    common::term_and_expect_clean_exit(&mut child, "live");
}

fn table_topic(demo: &Demo) -> String {
    demo.env
        .iter()
        .find(|(k, _)| k == "TECHPOTLI_DEMO_TABLE")
        .map(|(_, v)| v.clone())
        .expect("table topic")
}

#[test]
fn stream_table_join_is_exactly_once_across_kill9() {
    let (_broker, demo, out) = run("table_join", sku_stream());
    assert_eq!(out.len(), RECORDS);
    assert_eq!(numbered(&out), expected_sku_joins());
    live_table_changes_reach_the_join(&demo, &table_topic(&demo));
}

#[test]
fn stream_global_table_join_is_exactly_once_across_kill9() {
    let (_broker, demo, out) = run("global_join", sku_stream());
    assert_eq!(out.len(), RECORDS);
    assert_eq!(numbered(&out), expected_sku_joins());
    live_table_changes_reach_the_join(&demo, &table_topic(&demo));
}

#[test]
fn join_through_a_repartition_topic_is_exactly_once_across_kill9() {
    // Cart lines keyed by cart, carrying the SKU: the join needs them by SKU.
    let input: Vec<(String, Option<String>)> = (0..RECORDS)
        .map(|i| (format!("cart{}", i % 97), Some(format!("sku{}", i % SKUS))))
        .collect();
    let (_broker, _demo, out) = run("repartition_join", input.clone());
    assert_eq!(out.len(), RECORDS);
    let got = numbered(&out);
    // Per SKU the carts arrive interleaved across the cart partitions (also without kills):
    // compare the multiset of carts, and every price.
    let mut want: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (cart, sku) in input {
        want.entry(sku.unwrap()).or_default().push(cart);
    }
    assert_eq!(got.len(), want.len());
    for (sku, carts) in &mut want {
        let joined = &got[sku];
        assert!(
            joined.iter().all(|(_, price)| *price == price_of(sku)),
            "{sku}: {joined:?}"
        );
        let mut seen: Vec<String> = joined.iter().map(|(cart, _)| cart.clone()).collect();
        seen.sort();
        carts.sort();
        assert_eq!(&seen, carts, "{sku}");
    }
}
