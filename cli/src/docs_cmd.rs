//! `techpotli docs`: renders `docs/topics.md`, the data team's reference, from the topic
//! catalogue and the Avro schemas. A test keeps the committed file current.

use std::fmt::Write as _;

use serde_json::Value;
use techpotli_topics::{Catalogue, TopicSpec};

/// Where the rendered reference lives, relative to the repository root.
pub const TOPICS_MD: &str = "docs/topics.md";

/// Avro type as a short readable string (`string?` for a nullable string, `A | B` for unions).
fn type_name(t: &Value) -> String {
    match t {
        Value::String(s) => s.clone(),
        Value::Array(branches) => {
            let non_null: Vec<String> = branches
                .iter()
                .filter(|b| *b != "null")
                .map(type_name)
                .collect();
            let joined = non_null.join(" \\| ");
            if non_null.len() < branches.len() {
                format!("{joined}?")
            } else {
                joined
            }
        }
        Value::Object(o) => {
            if let Some(l) = o.get("logicalType").and_then(Value::as_str) {
                return format!(
                    "{} ({l})",
                    o.get("type").and_then(Value::as_str).unwrap_or("?")
                );
            }
            match o.get("type").and_then(Value::as_str) {
                Some("record" | "enum") => o
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned(),
                Some("array") => format!("array<{}>", type_name(&o["items"])),
                Some("map") => format!("map<{}>", type_name(&o["values"])),
                Some(other) => other.to_owned(),
                None => "?".to_owned(),
            }
        }
        _ => "?".to_owned(),
    }
}

/// Named records and enums defined inside a type, in definition order.
fn nested<'a>(t: &'a Value, out: &mut Vec<&'a Value>) {
    match t {
        Value::Array(branches) => branches.iter().for_each(|b| nested(b, out)),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("record") => {
                out.push(t);
                for f in o
                    .get("fields")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    nested(&f["type"], out);
                }
            }
            Some("enum") => out.push(t),
            Some("array") => nested(&o["items"], out),
            Some("map") => nested(&o["values"], out),
            _ => {}
        },
        _ => {}
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn render_named(out: &mut String, t: &Value) {
    let name = t["name"].as_str().unwrap_or("?");
    let doc = one_line(t.get("doc").and_then(Value::as_str).unwrap_or(""));
    if t["type"] == "enum" {
        let symbols: Vec<&str> = t["symbols"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let _ = writeln!(out, "- enum **{name}**: {} — {doc}", symbols.join(", "));
        return;
    }
    let _ = writeln!(
        out,
        "\n**{name}** — {doc}\n\n| field | type | meaning |\n|---|---|---|"
    );
    for f in t["fields"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            f["name"].as_str().unwrap_or("?"),
            type_name(&f["type"]),
            one_line(f.get("doc").and_then(Value::as_str).unwrap_or(""))
        );
    }
}

fn render_topic(
    out: &mut String,
    c: &Catalogue,
    t: &TopicSpec,
    avsc: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<()> {
    let _ = writeln!(out, "\n## `{}`\n\n{}\n", t.name, t.description);
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| key | `{}` (string) |", t.key);
    let _ = writeln!(
        out,
        "| value | `{}` (subject `{}`, {}) |",
        t.value_schema,
        t.value_subject(),
        t.compatibility()
    );
    let _ = writeln!(out, "| partitions | {} |", t.partitions);
    let retention = t.retention_ms.map_or_else(String::new, |ms| {
        format!(", retention {} days", ms / 86_400_000)
    });
    let _ = writeln!(out, "| cleanup | {}{retention} |", t.cleanup.as_kafka());
    if let Some(g) = &t.copartition {
        let _ = writeln!(out, "| co-partitioned on | `{g}` |");
    }
    if t.dlq {
        let _ = writeln!(
            out,
            "| dead letters | `{}{}` |",
            t.name, c.conventions.dlq_suffix
        );
    }
    let _ = writeln!(out, "| written by | {} |", t.owner);
    let text = avsc(&t.value_schema)
        .ok_or_else(|| anyhow::anyhow!("{}: schema file {} not found", t.name, t.value_schema))?;
    let schema: Value = serde_json::from_str(&text)?;
    let mut named = Vec::new();
    nested(&schema, &mut named);
    for n in named.iter().filter(|n| n["type"] == "record") {
        render_named(out, n);
    }
    let enums: Vec<&&Value> = named.iter().filter(|n| n["type"] == "enum").collect();
    if !enums.is_empty() {
        out.push('\n');
        for e in enums {
            render_named(out, e);
        }
    }
    Ok(())
}

/// The whole document.
pub fn render(c: &Catalogue, avsc: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    let mut out = String::from(
        "# Topics\n\n<!-- Generated by `techpotli docs` from topics/topics.toml and schemas/avro/*.avsc. Do not edit. -->\n\n\
         Keys are UTF-8 strings. Values are Avro in the Confluent wire format (magic byte 0, 4-byte schema id, Avro \
         binary), registered under `<topic>-value`; a null value on a compacted topic is a tombstone. See \
         [schemas.md](schemas.md) for conventions and evolution rules.\n\n| topic | key | partitions | cleanup | written by |\n|---|---|---|---|---|\n",
    );
    for t in &c.topics {
        let _ = writeln!(
            out,
            "| [`{}`](#{}) | {} | {} | {} | {} |",
            t.name,
            t.name.replace('.', ""),
            t.key,
            t.partitions,
            t.cleanup.as_kafka(),
            t.owner
        );
    }
    let _ = writeln!(
        out,
        "\nDead-letter topics `<topic>{}` keep the original key and value bytes with error headers; state-store \
         changelogs are named `{}` and repartition topics `{}`; records that reach an event-time window after it \
         closed go to `<topic>{}` with the windows they missed in headers.",
        c.conventions.dlq_suffix,
        c.conventions.changelog,
        c.conventions.repartition,
        c.conventions.late_suffix
    );
    for t in &c.topics {
        render_topic(&mut out, c, t, avsc)?;
    }
    Ok(out)
}

/// Reads a schema file from the working tree.
pub fn avsc_from_tree(root: &std::path::Path) -> impl Fn(&str) -> Option<String> + '_ {
    move |file| std::fs::read_to_string(root.join("schemas/avro").join(file)).ok()
}

pub fn run(check: bool) -> anyhow::Result<i32> {
    let root = std::env::current_dir()?;
    let rendered = render(techpotli_topics::catalogue(), &avsc_from_tree(&root))?;
    let path = root.join(TOPICS_MD);
    if check {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != rendered {
            eprintln!(
                "{TOPICS_MD} is out of date: run `techpotli docs` from the repository root and commit it"
            );
            return Ok(1);
        }
        println!("{TOPICS_MD} is current");
        return Ok(0);
    }
    std::fs::write(&path, rendered)?;
    println!("wrote {}", path.display());
    Ok(0)
}
