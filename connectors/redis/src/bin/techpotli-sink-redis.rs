//! `techpotli-sink-redis`: orders.placed, orders.status and inventory.levels → Redis hashes,
//! exactly once. Settings: `REDIS_URL`, `TECHPOTLI_REDIS_KEY_PREFIX` plus the sink loop's (see
//! `techpotli_runtime::sink::config`).

use std::process::ExitCode;

use techpotli_connector_redis::{APP, RedisSink, Settings, Topics};
use techpotli_runtime::cli::Setting;
use techpotli_schemas::Codec;

/// mimalloc: glibc malloc cost the services a fifth of their CPU under load (README "Performance").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let topics = Topics::default();
    let names = topics.redis();
    let own = [
        Setting {
            env: "REDIS_URL",
            default: techpotli_connector_redis::settings::DEFAULT_REDIS_URL,
            help: "Redis of the read model",
        },
        Setting {
            env: "TECHPOTLI_REDIS_KEY_PREFIX",
            default: "",
            help: "prepended to every key (to share one Redis between environments)",
        },
    ];
    techpotli_runtime::sink::service::run(APP, &names, &own, |cfg| {
        let s = Settings::from_env()?;
        let codec = Codec::new(&cfg.schema_registry_url);
        let group = cfg.app_id.clone();
        let topics = topics.clone();
        Ok(async move {
            RedisSink::connect(&s.redis_url, &s.redis_key_prefix, &group, topics, codec).await
        })
    })
}
