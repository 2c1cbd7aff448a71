//! The reference processor (`RunningTotal`) as a process, for the crash test: it is killed
//! with SIGKILL at random moments and restarted with the same instance id, which fences the
//! killed one's transaction.
//!
//! ```text
//! running_total <bootstrap> <input> <output> <app> <instance> [idle-exit-secs]
//! ```
//! With `idle-exit-secs` it stops (committing) and exits 0 once nothing was processed for
//! that long after becoming ready; a runtime error exits 1. `RUNNING_TOTAL_DELAY_US` adds a
//! pause per record so transactions stay open long enough for a kill to land inside one.

use std::time::{Duration, Instant};

use techpotli_runtime::demo::RunningTotal;
use techpotli_runtime::{Context, InputRecord, ProcessError, Processor, Runtime, RuntimeConfig};

/// `RunningTotal` with a pause per record.
struct Slow {
    inner: RunningTotal,
    delay: Duration,
}

impl Processor for Slow {
    fn stores(&self) -> Vec<String> {
        self.inner.stores()
    }

    fn process(&mut self, record: InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        std::thread::sleep(self.delay);
        self.inner.process(record, ctx)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!(
            "usage: running_total <bootstrap> <input> <output> <app> <instance> [idle-exit-secs]"
        );
        std::process::exit(2);
    }
    let idle = args
        .get(6)
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs);
    let mut config = RuntimeConfig::new(&args[1], &args[4], &args[5], &[args[2].as_str()]);
    config.session_timeout = Duration::from_secs(6);
    let delay = std::env::var("RUNNING_TOTAL_DELAY_US")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::ZERO, Duration::from_micros);
    let processor = Slow {
        inner: RunningTotal {
            output: args[3].clone(),
        },
        delay,
    };
    let runtime = Runtime::spawn(config, processor).unwrap_or_else(|e| {
        eprintln!("start: {e}");
        std::process::exit(1);
    });
    let (mut last, mut since) = (0, Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(200));
        if runtime.is_finished() {
            break;
        }
        let processed = runtime.stats().processed;
        if processed != last || !runtime.ready() {
            (last, since) = (processed, Instant::now());
            println!("processed {processed}");
        } else if idle.is_some_and(|d| since.elapsed() > d) {
            break;
        }
    }
    match runtime.stop() {
        Ok(stats) => println!("stopped: {stats:?}"),
        Err(e) => {
            eprintln!("runtime failed: {e}");
            std::process::exit(1);
        }
    }
}
