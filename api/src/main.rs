//! `techpotli-api`: see the crate docs and the README's configuration table.

use techpotli_api::{Api, Config};

/// mimalloc: glibc malloc cost the services a fifth of their CPU under load (README "Performance").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    techpotli_telemetry::init_logging("info");
    let config = Config::from_env();
    if config.healthcheck {
        return healthcheck(config.listen.port()).await;
    }
    match run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "techpotli-api failed");
            eprintln!("techpotli-api: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    let api = Api::build(config).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("binding API_LISTEN {listen}: {e}"))?;
    tracing::info!(addr = %listener.local_addr()?, "techpotli-api listening");
    api.serve(listener, async {
        let sig = techpotli_telemetry::shutdown::signal().await;
        tracing::info!(signal = sig, "shutdown requested");
    })
    .await
}

/// `--healthcheck`: GET http://127.0.0.1:<port>/healthz.
async fn healthcheck(port: u16) -> std::process::ExitCode {
    let ok = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .expect("http client")
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
