//! `techpotli-inventory`: the stock reservation processor. Settings: the runtime's (see
//! `docs/runtime.md`); nothing of its own.

use std::process::ExitCode;

use techpotli_inventory::Inventory;

fn main() -> ExitCode {
    techpotli_runtime::service::run("inventory", &Inventory::INPUTS, |_| Ok(Inventory))
}
