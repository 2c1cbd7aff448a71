//! `techpotli-broker --help` / `--version` answer at once and name the settings' variables.

#[test]
fn help_and_version_answer_and_name_the_variables() {
    techpotli_testkit::assert_command_line(
        env!("CARGO_BIN_EXE_techpotli-broker"),
        &[
            "TECHPOTLI_BROKER_LISTEN",
            "TECHPOTLI_BROKER_DATA_DIR",
            "TECHPOTLI_BROKER_LOG_RETENTION_CHECK_INTERVAL_MS",
        ],
    );
}
