//! `techpotli-api`: see the crate docs and the README's configuration table.

use techpotli_api::{Api, Config};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    techpotli_telemetry::init_logging("info");
    let config = Config::from_env();
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
