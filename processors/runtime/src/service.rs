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
    own: &[crate::cli::Setting],
    make: impl FnOnce(&RuntimeConfig) -> Result<P, String>,
) -> ExitCode {
    main_of(
        app,
        &[crate::cli::RUNTIME, own],
        || {
            let (cfg, admin) = RuntimeConfig::from_env(app, inputs)?;
            let processor = make(&cfg)?;
            Ok(((cfg, processor), admin))
        },
        |(cfg, processor)| Runtime::spawn(cfg, processor),
    )
}

/// The `main` shared by processor and sink binaries: JSON logs, settings (`start`; a bad one
/// exits 2 naming it), the loop (`spawn`) supervised by [`supervise`] on a small async runtime.
pub(crate) fn main_of<X, H: Supervised>(
    app: &str,
    settings: &[&[crate::cli::Setting]],
    start: impl FnOnce() -> Result<(X, std::net::SocketAddr), String>,
    spawn: impl FnOnce(X) -> Result<H, crate::RuntimeError>,
) -> ExitCode {
    // --help and --version answer here, before logging or any connection.
    crate::cli::parse(app, settings);
    techpotli_telemetry::init_logging("info");
    let (settings, admin) = match start() {
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
    rt.block_on(async {
        match spawn(settings) {
            Ok(handle) => supervise(app, admin, handle).await,
            Err(e) => {
                eprintln!("{app}: {e}");
                ExitCode::from(2)
            }
        }
    })
}

/// A loop running on its own thread that a binary's `main` supervises: the processor
/// [`Runtime`] or a sink's runner.
pub(crate) trait Supervised: Send + 'static {
    type Stats: std::fmt::Debug + Send;
    fn readiness(&self) -> techpotli_telemetry::Readiness;
    fn request_stop(&self);
    fn is_finished(&self) -> bool;
    fn join(self) -> Result<Self::Stats, crate::RuntimeError>;
}

impl Supervised for Runtime {
    type Stats = crate::Stats;
    fn readiness(&self) -> techpotli_telemetry::Readiness {
        Runtime::readiness(self)
    }
    fn request_stop(&self) {
        Runtime::request_stop(self);
    }
    fn is_finished(&self) -> bool {
        Runtime::is_finished(self)
    }
    fn join(self) -> Result<crate::Stats, crate::RuntimeError> {
        Runtime::join(self)
    }
}

/// Serves the admin endpoints for `handle`, stops it on SIGTERM/SIGINT (it finishes and
/// commits its batch) and maps how it ended to the exit code: 0 clean, 1 failed, 2 when the
/// admin listener cannot bind.
pub(crate) async fn supervise<H: Supervised>(
    app: &str,
    admin: std::net::SocketAddr,
    handle: H,
) -> ExitCode {
    let server = match AdminServer::start(admin, admin_router(handle.readiness())).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{app}: setting TECHPOTLI_ADMIN_LISTEN={admin}: cannot listen: {e}");
            handle.request_stop();
            return ExitCode::from(2);
        }
    };
    let signal = techpotli_telemetry::shutdown::signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            name = &mut signal => {
                tracing::info!(signal = name, "stopping: finishing the batch and committing");
                handle.request_stop();
                break;
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if handle.is_finished() {
                    break;
                }
            }
        }
    }
    let result = tokio::task::spawn_blocking(move || handle.join())
        .await
        .unwrap_or(Err(crate::RuntimeError::Panicked));
    server.shutdown().await;
    match result {
        Ok(stats) => {
            tracing::info!(?stats, "stopped cleanly");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "failed");
            eprintln!("{app}: {e}");
            ExitCode::FAILURE
        }
    }
}
