//! The benchmark runs end to end on a tiny load (a functional check, not a timing).

use std::process::Command;

#[test]
fn bench_broker_completes_and_prints_every_phase() {
    let out = Command::new(env!("CARGO_BIN_EXE_techpotli"))
        .args(["bench", "broker", "--records", "3000", "--partitions", "2"])
        .output()
        .expect("run techpotli");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for phase in [
        "produce (acks=all, idempotent)",
        "consume",
        "copy, plain",
        "copy, transactional (EOS v2)",
        "transactional / plain",
    ] {
        assert!(stdout.contains(phase), "missing {phase:?} in:\n{stdout}");
    }
}

#[test]
fn bench_ingress_completes_with_every_request_accepted() {
    let out = Command::new(env!("CARGO_BIN_EXE_techpotli"))
        .args([
            "bench",
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
        ])
        .env("RUST_LOG", "error")
        .output()
        .expect("run techpotli");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Exit 0 also means no request failed (the bench exits 1 otherwise).
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "GET /hello (ceiling)   max, 2 conns",
        "GET /hello (ceiling)   50/s",
        "POST /v1/orders        50/s",
        "POST /v1/activity      20/s",
        "relative to the hello-world ceiling",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}

#[test]
fn bench_orders_confirms_every_order_placed_through_the_api() {
    let out = Command::new(env!("CARGO_BIN_EXE_techpotli"))
        .args([
            "bench",
            "orders",
            "--rate",
            "20",
            "--seconds",
            "2",
            "--skus",
            "5",
        ])
        .env("RUST_LOG", "error")
        .output()
        .expect("run techpotli");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Exit 0 also means every order was accepted and confirmed.
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "running: inventory, order-saga, sink-mysql, sink-redis",
        "placed 40 orders (+ payment webhook each)",
        "confirmed 40 of 40",
        "placed -> confirmed latency: p50",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}
