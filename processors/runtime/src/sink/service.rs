//! The `main` of a sink binary: settings, JSON logs, `/healthz` `/readyz` `/metrics`, the sink
//! loop, and SIGTERM/SIGINT → finish the batch, exit 0. A failing loop exits 1 (the supervisor
//! restarts it; the sink's offsets make that safe); a bad setting exits 2 naming it.

use std::process::ExitCode;
use std::time::Duration;

use techpotli_telemetry::{AdminServer, admin_router};

use super::{Sink, SinkConfig, SinkError, SinkRunner};

/// Runs sink `app` over `topics`. `make` reads the connector's own settings (errors name the
/// variable) and returns the future that connects it, run on the sink loop's runtime.
pub fn run<S, F>(
    app: &str,
    topics: &[&str],
    make: impl FnOnce(&SinkConfig) -> Result<F, String>,
) -> ExitCode
where
    S: Sink,
    F: Future<Output = Result<S, SinkError>> + Send + 'static,
{
    techpotli_telemetry::init_logging("info");
    let started = SinkConfig::from_env(app, topics).and_then(|(cfg, admin)| {
        let fut = make(&cfg)?;
        Ok((cfg, admin, fut))
    });
    let (cfg, admin, fut) = match started {
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
    rt.block_on(serve(app, cfg, admin, fut))
}

async fn serve<S, F>(app: &str, cfg: SinkConfig, admin: std::net::SocketAddr, fut: F) -> ExitCode
where
    S: Sink,
    F: Future<Output = Result<S, SinkError>> + Send + 'static,
{
    let runner = match SinkRunner::spawn(cfg, fut) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{app}: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match AdminServer::start(admin, admin_router(runner.readiness())).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{app}: setting TECHPOTLI_ADMIN_LISTEN={admin}: cannot listen: {e}");
            runner.request_stop();
            return ExitCode::from(2);
        }
    };
    let signal = techpotli_telemetry::shutdown::signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            name = &mut signal => {
                tracing::info!(signal = name, "stopping: finishing the batch");
                runner.request_stop();
                break;
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if runner.is_finished() {
                    break;
                }
            }
        }
    }
    let result = tokio::task::spawn_blocking(move || runner.join())
        .await
        .unwrap_or(Err(crate::RuntimeError::Panicked));
    server.shutdown().await;
    match result {
        Ok(stats) => {
            tracing::info!(?stats, "stopped cleanly");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "sink failed");
            eprintln!("{app}: {e}");
            ExitCode::FAILURE
        }
    }
}
