//! `techpotli-sink-mysql --help` / `--version` answer without a broker or a database.

#[test]
fn help_and_version_answer_without_a_broker() {
    techpotli_testkit::assert_command_line(
        env!("CARGO_BIN_EXE_techpotli-sink-mysql"),
        &[
            "DATABASE_URL",
            "TECHPOTLI_SINK_MAX_BATCH",
            "KAFKA_BOOTSTRAP",
        ],
    );
}
