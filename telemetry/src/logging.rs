//! JSON logs: one object per line on stderr (stdout stays free for a command's output), with
//! span fields (e.g. `traceparent`, `request_id`) attached so a line can be correlated.

/// Installs the global JSON subscriber; `RUST_LOG` overrides `default_filter`. Calling it
/// again (tests with several components in one process) is harmless.
pub fn init_logging(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .try_init();
}
