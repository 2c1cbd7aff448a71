//! `techpotli-inventory --help` / `--version` answer without a broker.

#[test]
fn help_and_version_answer_without_a_broker() {
    techpotli_testkit::assert_command_line(
        env!("CARGO_BIN_EXE_techpotli-inventory"),
        &[
            "KAFKA_BOOTSTRAP",
            "TECHPOTLI_COMMIT_INTERVAL_MS",
            "TECHPOTLI_ADMIN_LISTEN",
        ],
    );
}
