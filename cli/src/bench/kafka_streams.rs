//! The Kafka Streams contender of `techpotli bench runtime`: `cli/bench/kafka-streams`, an EOS-v2
//! pass-through with a key-value store (the work of the runtime's `PassThrough`), built by
//! Maven into the cache once and run as a JVM on the same broker and topics. Measured the same
//! way as the runtime: from process start until every input record is in the output,
//! committed (read_committed).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::{Measured, records_bar};

const MAIN_CLASS: &str = "com.techpotli.bench.PassThrough";

fn project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/kafka-streams")
}

fn cache() -> PathBuf {
    PathBuf::from(
        std::env::var("TECHPOTLI_CACHE").unwrap_or_else(|_| "/var/cache/techpotli".into()),
    )
}

fn newest_source(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(m) = e.metadata().and_then(|m| m.modified()) {
                newest = newest.max(m);
            }
        }
    }
    newest
}

/// The app's classpath, building it with Maven when it is missing or older than its sources.
pub fn build() -> anyhow::Result<String> {
    let out = cache().join("kafka-streams-bench");
    let jar = out.join("kafka-streams-bench-1.jar");
    let classpath = out.join("classpath.txt");
    let built = std::fs::metadata(&jar).and_then(|m| m.modified()).ok();
    if built.is_none_or(|t| t < newest_source(&project())) || !classpath.exists() {
        println!(
            "building the Kafka Streams bench app with Maven into {}",
            out.display()
        );
        let status = Command::new("mvn")
            .args(["-q", "-B", "-Dstyle.color=never", "package"])
            .arg(format!(
                "-Dmaven.repo.local={}",
                cache().join("m2").display()
            ))
            .arg(format!("-Dbench.build.dir={}", out.display()))
            .arg("-f")
            .arg(project().join("pom.xml"))
            .status()
            .context("running mvn (Maven) to build cli/bench/kafka-streams")?;
        if !status.success() {
            bail!("mvn package of cli/bench/kafka-streams failed ({status})");
        }
    }
    let deps = std::fs::read_to_string(&classpath).context("classpath.txt")?;
    Ok(format!("{}:{}", jar.display(), deps.trim()))
}

/// A JVM stopped with SIGTERM (a clean Kafka Streams close), then SIGKILL.
struct Jvm(Child);

impl Drop for Jvm {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the app over `input` into `output` until `records` are committed there.
pub fn phase(
    classpath: &str,
    bootstrap: &str,
    input: &str,
    output: &str,
    partitions: i32,
    (records, record_bytes): (u64, u64),
) -> anyhow::Result<Measured> {
    let app = format!("bench-kstreams-{}", uuid::Uuid::now_v7().simple());
    let state = std::env::temp_dir().join(&app);
    let counter: BaseConsumer = super::broker::client(
        bootstrap,
        &[
            ("group.id", &format!("{app}-count")),
            ("enable.auto.commit", "false"),
            ("isolation.level", "read_committed"),
        ],
    )
    .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(output, p, Offset::Beginning)?;
    }
    counter.assign(&tpl)?;
    let name = "Kafka Streams: exactly-once + store";
    let bar = records_bar(name, records);
    let started = Instant::now();
    let child = Command::new("java")
        .args(["-Xms256m", "-Xmx1g", "-cp", classpath, MAIN_CLASS])
        .args([bootstrap, input, output, &app])
        .arg(&state)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting java for the Kafka Streams bench")?;
    let mut jvm = Jvm(child);
    let stdout = jvm.0.stdout.take().context("stdout")?;
    let (tx, running) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line == "RUNNING" {
                let _ = tx.send(());
            }
        }
    });
    let mut ready_after = None;
    let mut n = 0u64;
    while n < records {
        if ready_after.is_none() && running.try_recv().is_ok() {
            ready_after = Some(started.elapsed());
        }
        if let Some(m) = counter.poll(Duration::from_millis(100)) {
            m?;
            n += 1;
            if n.is_multiple_of(10_000) {
                bar.set_position(n);
            }
        }
        if let Ok(Some(status)) = jvm.0.try_wait() {
            bail!("{name}: the JVM exited ({status}) after {n} records");
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("{name}: only {n} of {records} records in 10 minutes");
        }
    }
    let elapsed = started.elapsed();
    bar.finish();
    if let Some(r) = ready_after {
        println!(
            "Kafka Streams was RUNNING {:.2} s after its JVM started",
            r.as_secs_f64()
        );
    }
    drop(jvm);
    let _ = std::fs::remove_dir_all(&state);
    Ok(Measured {
        name,
        records,
        bytes: records * record_bytes,
        elapsed,
    })
}
