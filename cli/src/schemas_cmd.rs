//! `techpotli schemas register|check`: the working tree's `.avsc` files against the registry,
//! subject per topic (`<topic>-value`) as the catalogue declares.

use clap::Subcommand;
use techpotli_schemas::registration::{check_all, register_all};
use techpotli_topics::catalogue;

#[derive(Debug, Subcommand)]
pub enum SchemasCommand {
    /// Set each subject's compatibility level and register every value schema.
    Register,
    /// Test every schema against what is registered; exit 1 on a breaking change.
    Check,
}

/// `(topic, schema file)` for every catalogue topic.
fn pairs() -> Vec<(String, String)> {
    catalogue()
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.value_schema.clone()))
        .collect()
}

fn borrowed(p: &[(String, String)]) -> Vec<(&str, &str)> {
    p.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

/// Sets compatibility levels (compacted topics: BACKWARD_TRANSITIVE) then registers.
pub async fn register(registry: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for t in &catalogue().topics {
        let url = format!("{registry}/config/{}", t.value_subject());
        let resp = http
            .put(&url)
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .body(serde_json::json!({"compatibility": t.compatibility()}).to_string())
            .send()
            .await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "setting compatibility of {}: {}",
            t.value_subject(),
            resp.text().await?
        );
    }
    let p = pairs();
    let registered = register_all(registry, &borrowed(&p)).await?;
    for (subject, id) in &registered {
        println!("{:>12}  {subject}  id {id}", "registered");
    }
    println!(
        "schemas: {} subjects registered at {registry}",
        registered.len()
    );
    Ok(())
}

pub async fn run(cmd: SchemasCommand, registry: &str) -> anyhow::Result<i32> {
    match cmd {
        SchemasCommand::Register => {
            register(registry).await?;
            Ok(0)
        }
        SchemasCommand::Check => {
            let p = pairs();
            let results = check_all(registry, &borrowed(&p)).await?;
            let mut breaking = 0;
            for (subject, compatible, messages) in &results {
                if *compatible {
                    println!("{:>12}  {subject}", "compatible");
                } else {
                    breaking += 1;
                    println!("{:>12}  {subject}", "BREAKING");
                    for m in messages {
                        println!("              {m}");
                    }
                }
            }
            println!("schemas: {} checked, {breaking} breaking", results.len());
            Ok(i32::from(breaking > 0))
        }
    }
}
