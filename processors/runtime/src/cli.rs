//! The command line of processor and sink binaries. Their settings come from the environment
//! (and `TECHPOTLI_CONFIG_FILE`, see [`crate::config::load`]); the command line only answers
//! `--help` — every setting with its variable, default and meaning — and `--version`, both
//! without touching the network, and refuses anything else, naming it (clap, as the API does).

use std::fmt::Write as _;

/// One setting a binary reads, as `--help` lists it.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub env: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

const fn s(env: &'static str, default: &'static str, help: &'static str) -> Setting {
    Setting { env, default, help }
}

/// Where every setting can also come from.
pub const CONFIG_FILE: Setting = s(
    "TECHPOTLI_CONFIG_FILE",
    "none",
    "TOML file with the same settings (keys: the variables in lower case without TECHPOTLI_); the environment wins",
);

const BOOTSTRAP: Setting = s(
    "KAFKA_BOOTSTRAP",
    "127.0.0.1:9092",
    "Kafka bootstrap servers",
);
const REGISTRY: Setting = s(
    "SCHEMA_REGISTRY_URL",
    "http://127.0.0.1:8081",
    "Confluent-compatible schema registry",
);
const SESSION: Setting = s(
    "TECHPOTLI_SESSION_TIMEOUT_MS",
    "10000",
    "consumer group session timeout (1000..=300000)",
);
const STATIC: Setting = s(
    "TECHPOTLI_STATIC_MEMBERSHIP",
    "true",
    "keep partitions across restarts (KIP-345); false: leave the group on exit",
);
const ADMIN: Setting = s(
    "TECHPOTLI_ADMIN_LISTEN",
    "127.0.0.1:9100",
    "/healthz, /readyz and /metrics",
);

/// Every processor's settings ([`crate::RuntimeConfig::from_env`]).
pub const RUNTIME: &[Setting] = &[
    BOOTSTRAP,
    REGISTRY,
    s(
        "TECHPOTLI_INSTANCE_ID",
        "the host name",
        "stable instance id: transactional.id suffix and group.instance.id",
    ),
    s(
        "TECHPOTLI_COMMIT_INTERVAL_MS",
        "10",
        "longest a batch collects before its transaction commits (1..=60000)",
    ),
    s(
        "TECHPOTLI_MAX_BATCH",
        "1000",
        "most records per transaction (1..=100000)",
    ),
    s(
        "TECHPOTLI_TRANSACTION_TIMEOUT_MS",
        "30000",
        "Kafka transaction timeout (1000..=900000)",
    ),
    SESSION,
    STATIC,
    ADMIN,
];

/// Every sink's settings ([`crate::sink::SinkConfig::from_env`]).
pub const SINK: &[Setting] = &[
    BOOTSTRAP,
    REGISTRY,
    s(
        "TECHPOTLI_INSTANCE_ID",
        "the host name",
        "stable instance id: group.instance.id",
    ),
    s(
        "TECHPOTLI_SINK_MAX_BATCH",
        "500",
        "most records per write (one database transaction or pipeline)",
    ),
    s(
        "TECHPOTLI_SINK_LINGER_MS",
        "50",
        "longest wait after a batch's first record",
    ),
    SESSION,
    STATIC,
    ADMIN,
];

/// The settings table printed under `--help`.
fn table(groups: &[&[Setting]]) -> String {
    let mut out = String::from("Settings (environment variables):\n");
    let all: Vec<&Setting> = groups
        .iter()
        .flat_map(|g| g.iter())
        .chain(std::iter::once(&CONFIG_FILE))
        .collect();
    let width = all.iter().map(|s| s.env.len()).max().unwrap_or(0);
    for st in all {
        let _ = writeln!(
            out,
            "  {:<width$}  {} [default: {}]",
            st.env, st.help, st.default
        );
    }
    out
}

/// The binary's name as it was run (`techpotli-inventory`), else `app`; leaked once per
/// process for clap, which names commands with `&'static str`.
fn binary_name(app: &str) -> &'static str {
    let name = std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| app.to_owned());
    Box::leak(name.into_boxed_str())
}

fn command(app: &str, groups: &[&[Setting]]) -> clap::Command {
    clap::Command::new(binary_name(app))
        .version(env!("CARGO_PKG_VERSION"))
        .about(format!(
            "TechPotli {app}: settings come from the environment (below); the command line takes only --help and --version."
        ))
        .after_help(table(groups))
}

/// Handles the command line: prints help or the version and exits 0, or exits 2 naming an
/// argument it does not take. Returns when there was nothing to do.
pub fn parse(app: &str, groups: &[&[Setting]]) {
    command(app, groups).get_matches();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_every_setting_with_its_default() {
        let mut cmd = command("inventory", &[RUNTIME, &[s("X_ONE", "1", "own")]]);
        let help = cmd.render_help().to_string();
        for st in RUNTIME.iter().chain([&CONFIG_FILE]) {
            assert!(help.contains(st.env), "{} missing:\n{help}", st.env);
            assert!(help.contains(&format!("[default: {}]", st.default)));
        }
        assert!(help.contains("X_ONE") && help.contains("own [default: 1]"));
        let err = command("inventory", &[RUNTIME])
            .try_get_matches_from(["techpotli-inventory", "--bogus"])
            .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--bogus"));
        let version = command("inventory", &[RUNTIME])
            .try_get_matches_from(["techpotli-inventory", "--version"])
            .unwrap_err();
        assert_eq!(version.kind(), clap::error::ErrorKind::DisplayVersion);
    }

    #[test]
    fn the_tables_cover_what_the_configs_read() {
        // Every key the loaders read is documented (and nothing else).
        let var = |k: &str| {
            if crate::config::UNPREFIXED.contains(&k) {
                k.to_uppercase()
            } else {
                format!("TECHPOTLI_{}", k.to_uppercase())
            }
        };
        let runtime: Vec<String> = crate::config::runtime_keys()
            .iter()
            .map(|k| var(k))
            .collect();
        let documented: Vec<String> = RUNTIME.iter().map(|s| s.env.to_owned()).collect();
        assert_eq!(runtime, documented);
        let sink: Vec<String> = crate::sink::config::keys().iter().map(|k| var(k)).collect();
        let documented: Vec<String> = SINK.iter().map(|s| s.env.to_owned()).collect();
        assert_eq!(sink, documented);
    }
}
