//! `techpotli topics apply|list`.

use clap::Subcommand;
use rdkafka::ClientConfig;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use techpotli_topics::apply::{Report, apply, inspect};
use techpotli_topics::catalogue;

#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Create missing topics, fix drifted configs, report partition drift (exit 3).
    Apply {
        /// Only print what would change.
        #[arg(long)]
        dry_run: bool,
    },
    /// The catalogue and, when the cluster is reachable, each topic's state there.
    List,
}

/// Exit code when partition counts drifted (never changed automatically).
pub const EXIT_PARTITION_DRIFT: i32 = 3;

pub fn admin(bootstrap: &str) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?)
}

pub fn print_report(r: &Report, dry_run: bool) {
    let verb = if dry_run { "would create" } else { "created" };
    for t in &r.created {
        println!("{verb:>14}  {t}");
    }
    for (t, changes) in &r.altered {
        for (k, old, new) in changes {
            let verb = if dry_run { "would set" } else { "set" };
            println!(
                "{verb:>14}  {t}  {k}: {} -> {new}",
                old.as_deref().unwrap_or("(default)")
            );
        }
    }
    for (t, actual, declared) in &r.partition_drift {
        println!(
            "{:>14}  {t}  has {actual} partitions, catalogue declares {declared} (not changed: it would remap keys)",
            "DRIFT"
        );
    }
    println!(
        "topics: {} created, {} reconfigured, {} with partition drift, {} unchanged",
        r.created.len(),
        r.altered.len(),
        r.partition_drift.len(),
        r.unchanged
    );
}

pub async fn run(cmd: TopicsCommand, bootstrap: &str) -> anyhow::Result<i32> {
    let admin = admin(bootstrap)?;
    match cmd {
        TopicsCommand::Apply { dry_run } => {
            let report = apply(&admin, catalogue(), dry_run).await?;
            print_report(&report, dry_run);
            Ok(if report.partition_drift.is_empty() {
                0
            } else {
                EXIT_PARTITION_DRIFT
            })
        }
        TopicsCommand::List => {
            let all = catalogue().all();
            let names: Vec<String> = all.iter().map(|t| t.name.clone()).collect();
            let existing = inspect(&admin, &names).await.map(|(e, _)| e).ok();
            println!(
                "{:<40} {:>10} {:<8} {:<14} owner",
                "topic", "partitions", "cleanup", "on cluster"
            );
            for t in &all {
                let spec = catalogue().get(&t.name);
                let state = match existing.as_ref().map(|e| e.get(&t.name)) {
                    None => "unreachable".to_owned(),
                    Some(None) => "missing".to_owned(),
                    Some(Some(e)) if e.partitions != t.partitions => {
                        format!("{} partitions", e.partitions)
                    }
                    Some(Some(_)) => "ok".to_owned(),
                };
                println!(
                    "{:<40} {:>10} {:<8} {:<14} {}",
                    t.name,
                    t.partitions,
                    t.configs.get("cleanup.policy").map_or("", String::as_str),
                    state,
                    spec.map_or("runtime (dead letters)", |s| s.owner.as_str())
                );
            }
            Ok(0)
        }
    }
}
