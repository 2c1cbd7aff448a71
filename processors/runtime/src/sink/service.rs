//! The `main` of a sink binary: settings, JSON logs, `/healthz` `/readyz` `/metrics`, the sink
//! loop, and SIGTERM/SIGINT → finish the batch, exit 0. A failing loop exits 1 (the supervisor
//! restarts it; the sink's offsets make that safe); a bad setting exits 2 naming it.

use std::process::ExitCode;

use super::{Sink, SinkConfig, SinkError, SinkRunner};
use crate::service::{Supervised, supervise};

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
    match SinkRunner::spawn(cfg, fut) {
        Ok(r) => supervise(app, admin, r).await,
        Err(e) => {
            eprintln!("{app}: {e}");
            ExitCode::from(2)
        }
    }
}

impl Supervised for SinkRunner {
    type Stats = super::SinkStats;
    fn readiness(&self) -> techpotli_telemetry::Readiness {
        SinkRunner::readiness(self)
    }
    fn request_stop(&self) {
        SinkRunner::request_stop(self);
    }
    fn is_finished(&self) -> bool {
        SinkRunner::is_finished(self)
    }
    fn join(self) -> Result<super::SinkStats, crate::RuntimeError> {
        SinkRunner::join(self)
    }
}
