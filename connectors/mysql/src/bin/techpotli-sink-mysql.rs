//! `techpotli-sink-mysql`: orders.placed, orders.status and inventory.levels → MySQL, exactly
//! once. Settings: `DATABASE_URL` plus the sink loop's (see `techpotli_runtime::sink::config`).

use std::process::ExitCode;

use techpotli_connector_mysql::{APP, MySqlSink, Settings, Topics};
use techpotli_runtime::cli::Setting;
use techpotli_schemas::Codec;

/// mimalloc: glibc malloc cost the services a fifth of their CPU under load (README "Performance").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let topics = Topics::default();
    let names = topics.all();
    let own = [Setting {
        env: "DATABASE_URL",
        default: techpotli_connector_mysql::settings::DEFAULT_DATABASE_URL,
        help: "MySQL/MariaDB of the read model (mysql://user:password@host:port/database)",
    }];
    techpotli_runtime::sink::service::run(APP, &names, &own, |cfg| {
        let s = Settings::from_env()?;
        let codec = Codec::new(&cfg.schema_registry_url);
        let group = cfg.app_id.clone();
        let topics = topics.clone();
        Ok(async move { MySqlSink::connect(&s.database_url, &group, topics, codec).await })
    })
}
