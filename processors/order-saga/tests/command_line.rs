//! `techpotli-order-saga --help` / `--version` answer without a broker.

#[test]
fn help_and_version_answer_without_a_broker() {
    techpotli_testkit::assert_command_line(
        env!("CARGO_BIN_EXE_techpotli-order-saga"),
        &[
            "KAFKA_BOOTSTRAP",
            "TECHPOTLI_PAYMENT_TIMEOUT_MS",
            "TECHPOTLI_SAGA_RETENTION_MS",
        ],
    );
}
