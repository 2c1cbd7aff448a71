//! `techpotli-order-saga`: the order saga processor. Settings, besides the runtime's
//! (`docs/runtime.md`): `TECHPOTLI_PAYMENT_TIMEOUT_MS` (default 900000, 15 min, counted from
//! placement) and `TECHPOTLI_SAGA_RETENTION_MS` (default 7 days: how long a terminal order's
//! state is kept to refund late payments).

use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use techpotli_order_saga::OrderSaga;
use techpotli_order_saga::processor::{DEFAULT_PAYMENT_TIMEOUT, DEFAULT_RETENTION};
use techpotli_runtime::cli::Setting;
use techpotli_runtime::config::load;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    payment_timeout_ms: u64,
    saga_retention_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            payment_timeout_ms: DEFAULT_PAYMENT_TIMEOUT.as_millis() as u64,
            saga_retention_ms: DEFAULT_RETENTION.as_millis() as u64,
        }
    }
}

/// Reads and checks the saga's own settings, naming a bad one.
fn settings() -> Result<OrderSaga, String> {
    let s: Settings = load(
        &Settings::default(),
        &["payment_timeout_ms", "saga_retention_ms"],
    )?;
    if !(1_000..=7 * 24 * 3_600_000).contains(&s.payment_timeout_ms) {
        return Err("setting TECHPOTLI_PAYMENT_TIMEOUT_MS: must be within 1000..=604800000".into());
    }
    if s.saga_retention_ms < s.payment_timeout_ms {
        return Err(
            "setting TECHPOTLI_SAGA_RETENTION_MS: must be at least the payment timeout".into(),
        );
    }
    Ok(OrderSaga {
        payment_timeout: Duration::from_millis(s.payment_timeout_ms),
        retention: Duration::from_millis(s.saga_retention_ms),
    })
}

/// mimalloc: glibc malloc cost the services a fifth of their CPU under load (README "Performance").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let own = [
        Setting {
            env: "TECHPOTLI_PAYMENT_TIMEOUT_MS",
            default: "900000",
            help: "how long after placement an unpaid order is cancelled (1000..=604800000)",
        },
        Setting {
            env: "TECHPOTLI_SAGA_RETENTION_MS",
            default: "604800000",
            help: "how long a finished order's state is kept to refund late payments",
        },
    ];
    techpotli_runtime::service::run("order-saga", &OrderSaga::INPUTS, &own, |_| settings())
}
