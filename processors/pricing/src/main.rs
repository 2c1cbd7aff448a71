//! `techpotli-pricing`: the pricing processor. Settings: the runtime's (see
//! `docs/runtime.md`); nothing of its own.

use std::process::ExitCode;

use techpotli_pricing::Pricing;

/// mimalloc: glibc malloc cost the services a fifth of their CPU under load (README "Performance").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    techpotli_runtime::service::run("pricing", &Pricing::INPUTS, &[], |_| Ok(Pricing))
}
