//! `techpotli-registry --help` / `--version` answer at once and name the settings' variables.

#[test]
fn help_and_version_answer_and_name_the_variables() {
    techpotli_testkit::assert_command_line(
        env!("CARGO_BIN_EXE_techpotli-registry"),
        &[
            "TECHPOTLI_REGISTRY_LISTEN",
            "KAFKA_BOOTSTRAP",
            "TECHPOTLI_REGISTRY_TOPIC",
        ],
    );
}
