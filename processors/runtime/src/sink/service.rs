//! The `main` of a sink binary: settings, JSON logs, `/healthz` `/readyz` `/metrics`, the sink
//! loop, and SIGTERM/SIGINT → finish the batch, exit 0. A failing loop exits 1 (the supervisor
//! restarts it; the sink's offsets make that safe); a bad setting exits 2 naming it.

use std::process::ExitCode;

use super::{Sink, SinkConfig, SinkError, SinkRunner};
use crate::service::{Supervised, main_of};

/// Runs sink `app` over `topics`. `make` reads the connector's own settings (errors name the
/// variable) and returns the future that connects it, run on the sink loop's runtime.
pub fn run<S, F>(
    app: &str,
    topics: &[&str],
    own: &[crate::cli::Setting],
    make: impl FnOnce(&SinkConfig) -> Result<F, String>,
) -> ExitCode
where
    S: Sink,
    F: Future<Output = Result<S, SinkError>> + Send + 'static,
{
    main_of(
        app,
        &[crate::cli::SINK, own],
        || {
            let (cfg, admin) = SinkConfig::from_env(app, topics)?;
            let fut = make(&cfg)?;
            Ok(((cfg, fut), admin))
        },
        |(cfg, fut)| SinkRunner::spawn(cfg, fut),
    )
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
