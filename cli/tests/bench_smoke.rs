//! The benchmarks run end to end on a tiny load (a functional check, not a timing). Exit 0
//! also means nothing failed: each bench exits 1 on a failed request or a lost order.

use std::process::Command;

/// Runs `techpotli bench <args>`, asserts success and that stdout has every line of `want`.
fn bench(args: &[&str], want: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_techpotli"))
        .arg("bench")
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .expect("run techpotli");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for line in want {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}

#[test]
fn bench_broker_completes_and_prints_every_phase() {
    bench(
        &["broker", "--records", "3000", "--partitions", "2"],
        &[
            "produce (acks=all, idempotent)",
            "consume",
            "copy, plain",
            "copy, transactional (EOS v2)",
            "transactional / plain",
        ],
    );
}

#[test]
fn bench_ingress_completes_with_every_request_accepted() {
    bench(
        &[
            "ingress",
            "--seconds",
            "1",
            "--rate",
            "50",
            "--activity-rate",
            "20",
            "--connections",
            "2",
            "--batch",
            "3",
            "--endpoints",
            "activity,order",
        ],
        &[
            "GET /hello (ceiling)   max, 2 conns",
            "GET /hello (ceiling)   50/s",
            "POST /v1/orders        50/s",
            "POST /v1/activity      20/s",
            "relative to the hello-world ceiling",
        ],
    );
}

#[test]
fn bench_ingress_refuses_an_endpoint_it_does_not_measure() {
    let out = Command::new(env!("CARGO_BIN_EXE_techpotli"))
        .args(["bench", "ingress", "--endpoints", "order,hello"])
        .output()
        .expect("run techpotli");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--endpoints"), "{stderr}");
    assert!(stderr.contains("'hello'"), "{stderr}");
}

#[test]
fn bench_orders_confirms_every_order_placed_through_the_api() {
    bench(
        &["orders", "--rate", "20", "--seconds", "2", "--skus", "5"],
        &[
            "running: inventory, order-saga, pricing, sink-mysql, sink-redis",
            "placed 40 orders (+ payment webhook each)",
            "confirmed 40 of 40",
            "placed -> confirmed latency: p50",
        ],
    );
}

#[test]
fn bench_pricing_reprices_every_sku_and_cart_and_prints_ratios() {
    bench(
        &["pricing", "--skus", "200", "--carts", "40", "--rounds", "1"],
        &[
            "runtime: pass-through + store",
            "pricing: price changes",
            "pricing: carts re-priced",
            "price changes / runtime pass-through",
            "carts re-priced / runtime pass-through",
        ],
    );
}
