//! The `main` of a processor binary: settings from the environment, JSON logs, the admin
//! endpoints (`/healthz`, `/readyz`, `/metrics`), the runtime, and a clean stop on SIGTERM or
//! SIGINT (finish the batch, commit, leave the group, exit 0). A fatal runtime error exits 1
//! so the supervisor starts a fresh instance; a bad setting exits 2 naming it.

use std::process::ExitCode;
use std::time::Duration;

use techpotli_telemetry::{AdminServer, admin_router};

use crate::{Processor, Runtime, RuntimeConfig};

/// Runs `app` over `inputs` with the processor `make` builds from the settings until a
/// signal or a fatal error.
pub fn run<P: Processor>(
    app: &str,
    inputs: &[&str],
    make: impl FnOnce(&RuntimeConfig) -> Result<P, String>,
) -> ExitCode {
    techpotli_telemetry::init_logging("info");
    let started = RuntimeConfig::from_env(app, inputs).and_then(|(cfg, admin)| {
        let processor = make(&cfg)?;
        Ok((cfg, admin, processor))
    });
    let (cfg, admin, processor) = match started {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "bad configuration");
            eprintln!("{app}: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{app}: async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(serve(app, cfg, admin, processor))
}

async fn serve<P: Processor>(
    app: &str,
    cfg: RuntimeConfig,
    admin: std::net::SocketAddr,
    processor: P,
) -> ExitCode {
    let runtime = match Runtime::spawn(cfg, processor) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{app}: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match AdminServer::start(admin, admin_router(runtime.readiness())).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{app}: setting TECHPOTLI_ADMIN_LISTEN={admin}: cannot listen: {e}");
            runtime.request_stop();
            return ExitCode::from(2);
        }
    };
    let signal = techpotli_telemetry::shutdown::signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            name = &mut signal => {
                tracing::info!(signal = name, "stopping: finishing the batch and committing");
                runtime.request_stop();
                break;
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if runtime.is_finished() {
                    break;
                }
            }
        }
    }
    let result = tokio::task::spawn_blocking(move || runtime.join())
        .await
        .unwrap_or(Err(crate::RuntimeError::Panicked));
    server.shutdown().await;
    match result {
        Ok(stats) => {
            tracing::info!(?stats, "stopped cleanly");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "runtime failed");
            eprintln!("{app}: {e}");
            ExitCode::FAILURE
        }
    }
}
