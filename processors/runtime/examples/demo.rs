//! A reference processor as a real processor binary (built on [`techpotli_runtime::service`]),
//! for the tests that SIGKILL, SIGTERM and rescale instances.
//!
//! Settings (environment, besides the runtime's own `KAFKA_BOOTSTRAP`,
//! `TECHPOTLI_INSTANCE_ID`, `TECHPOTLI_ADMIN_LISTEN`, …):
//! - `TECHPOTLI_DEMO_KIND`: `running_total` (default), `delayed_echo`, `table_join`,
//!   `global_join`, `repartition_join` or `windowed_count`;
//! - `TECHPOTLI_DEMO_APP`, `TECHPOTLI_DEMO_INPUT`, `TECHPOTLI_DEMO_OUTPUT` (required);
//! - `TECHPOTLI_DEMO_TABLE`: the table topic of the joins;
//! - `TECHPOTLI_DEMO_WINDOW_MS`, `TECHPOTLI_DEMO_GRACE_MS`: `windowed_count`'s windows;
//! - `TECHPOTLI_DEMO_DELAY_US`: a pause per record (and per timer) so transactions stay open
//!   long enough for a kill to land inside one.

use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use techpotli_runtime::config::load;
use techpotli_runtime::demo::{DelayedEcho, JoinDemo, JoinMode, RunningTotal, WindowedCount};
use techpotli_runtime::{
    Context, FiredTimer, InputRecord, ProcessError, Processor, TableSpec, TableUpdate, service,
};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
// Field names are the variable names (`TECHPOTLI_DEMO_*`).
#[allow(clippy::struct_field_names)]
struct DemoSettings {
    demo_kind: String,
    demo_app: String,
    demo_input: String,
    demo_output: String,
    demo_delay_us: u64,
    demo_table: String,
    demo_window_ms: i64,
    demo_grace_ms: i64,
}

/// A processor with a pause per record and per timer.
struct Slow<P> {
    inner: P,
    delay: Duration,
}

impl<P: Processor> Processor for Slow<P> {
    fn stores(&self) -> Vec<String> {
        self.inner.stores()
    }

    fn tables(&self) -> Vec<TableSpec> {
        self.inner.tables()
    }

    fn global_tables(&self) -> Vec<TableSpec> {
        self.inner.global_tables()
    }

    fn repartitions(&self) -> Vec<String> {
        self.inner.repartitions()
    }

    fn late_topics(&self) -> bool {
        self.inner.late_topics()
    }

    fn on_table(&mut self, update: TableUpdate, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        self.inner.on_table(update, ctx)
    }

    fn process(&mut self, record: InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        std::thread::sleep(self.delay);
        self.inner.process(record, ctx)
    }

    fn on_timer(&mut self, timer: FiredTimer, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        std::thread::sleep(self.delay);
        self.inner.on_timer(timer, ctx)
    }
}

fn main() -> ExitCode {
    let keys = &[
        "demo_kind",
        "demo_app",
        "demo_input",
        "demo_output",
        "demo_delay_us",
        "demo_table",
        "demo_window_ms",
        "demo_grace_ms",
    ];
    let s = match load(&DemoSettings::default(), keys) {
        Ok(s)
            if !s.demo_app.is_empty() && !s.demo_input.is_empty() && !s.demo_output.is_empty() =>
        {
            s
        }
        Ok(_) => {
            eprintln!(
                "demo: set TECHPOTLI_DEMO_APP, TECHPOTLI_DEMO_INPUT and TECHPOTLI_DEMO_OUTPUT"
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::from(2);
        }
    };
    let delay = Duration::from_micros(s.demo_delay_us);
    let output = s.demo_output.clone();
    match s.demo_kind.as_str() {
        "" | "running_total" => service::run(&s.demo_app, &[&s.demo_input], &[], |_| {
            Ok(Slow {
                inner: RunningTotal { output },
                delay,
            })
        }),
        "delayed_echo" => service::run(&s.demo_app, &[&s.demo_input], &[], |_| {
            Ok(Slow {
                inner: DelayedEcho {
                    output,
                    stream_time: false,
                },
                delay,
            })
        }),
        kind @ ("table_join" | "global_join" | "repartition_join") => {
            let mode = match kind {
                "table_join" => JoinMode::Table,
                "global_join" => JoinMode::Global,
                _ => JoinMode::Repartition,
            };
            if s.demo_table.is_empty() {
                eprintln!("demo: {kind} needs TECHPOTLI_DEMO_TABLE");
                return ExitCode::from(2);
            }
            let table_topic = s.demo_table.clone();
            service::run(&s.demo_app, &[&s.demo_input], &[], |_| {
                Ok(Slow {
                    inner: JoinDemo {
                        mode,
                        table_topic,
                        output,
                    },
                    delay,
                })
            })
        }
        "windowed_count" => {
            let counter = match WindowedCount::new(&output, s.demo_window_ms, s.demo_grace_ms) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("demo: TECHPOTLI_DEMO_WINDOW_MS / TECHPOTLI_DEMO_GRACE_MS: {e}");
                    return ExitCode::from(2);
                }
            };
            service::run(&s.demo_app, &[&s.demo_input], &[], |_| {
                Ok(Slow {
                    inner: counter,
                    delay,
                })
            })
        }
        other => {
            eprintln!(
                "demo: setting TECHPOTLI_DEMO_KIND={other:?}: expected running_total, delayed_echo, \
                 table_join, global_join, repartition_join or windowed_count"
            );
            ExitCode::from(2)
        }
    }
}
