//! `techpotli --help` / `--version` answer at once and list the commands.

#[test]
fn help_and_version_answer_and_list_the_commands() {
    techpotli_testkit::assert_command_line(
        env!("CARGO_BIN_EXE_techpotli"),
        &["dev", "topics", "schemas", "tail", "bench"],
    );
}
