//! `techpotli-sink-redis --help` / `--version` answer without a broker or Redis.

#[test]
fn help_and_version_answer_without_a_broker() {
    techpotli_testkit::assert_command_line(
        env!("CARGO_BIN_EXE_techpotli-sink-redis"),
        &[
            "REDIS_URL",
            "TECHPOTLI_REDIS_KEY_PREFIX",
            "TECHPOTLI_SINK_LINGER_MS",
        ],
    );
}
