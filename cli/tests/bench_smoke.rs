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
