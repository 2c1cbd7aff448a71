//! Test harness shared by the workspace's integration tests (a dev-dependency only).
//!
//! # Layout
//! - [`TestBroker`]: the embedded broker on a runtime of its own, so tests may block in
//!   rdkafka calls freely.
//! - [`create_topic`], [`unique`]: topic setup with unique names per test.
//! - [`example`], [`ChildProc`]: example binaries run as child processes that tests SIGKILL.
//! - [`sink`]: the Kafka side of a sink connector's tests; [`fixtures`]: order-flow records.
//! - [`log_to_test_output`]: the broker's and clients' tracing in a failing test's output.
//! - [`wait_until`]: polling for a condition with a deadline.
//! - [`mysql`]: the MariaDB server and login the tests use (`DATABASE_URL`).
//! - [`apache`]: private Apache Kafka nodes and clusters (`scripts/kafka.sh`), and
//!   [`EXTERNAL_KAFKA_ENV`], which runs the tests on Apache Kafka instead of the embedded broker.

pub mod apache;
pub mod fixtures;
pub mod mysql;
pub mod sink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use techpotli_kafka::{BrokerConfig, BrokerHandle};

/// Makes [`TestBroker::start`] hand out Apache Kafka instead of an embedded broker: the same
/// tests, the same assertions, against the real thing (CI's Apache Kafka pass). A bootstrap
/// list names a running Kafka that tests share (they use unique topic and group names);
/// `apache` starts a private single-node Apache Kafka per test ([`apache::ApacheKafka`]), for
/// tests that use fixed topic names, like the end-to-end suite.
pub const EXTERNAL_KAFKA_ENV: &str = "TECHPOTLI_TEST_KAFKA";

/// The external Kafka the tests run against, if [`EXTERNAL_KAFKA_ENV`] names one.
pub fn external_kafka() -> Option<String> {
    std::env::var(EXTERNAL_KAFKA_ENV)
        .ok()
        .filter(|b| !b.trim().is_empty())
}

/// A broker running on a runtime of its own (stopped when dropped), or the external Kafka of
/// [`EXTERNAL_KAFKA_ENV`] (left running).
pub struct TestBroker {
    pub bootstrap: String,
    rt: Option<tokio::runtime::Runtime>,
    handle: Option<BrokerHandle>,
    apache: Option<apache::ApacheKafka>,
}

impl TestBroker {
    /// The embedded broker with its defaults, or the external Kafka when one is named.
    pub fn start() -> Self {
        if let Some(external) = external_kafka() {
            log_to_test_output();
            let apache = (external == "apache").then(|| apache::ApacheKafka::start(1, &[]));
            let bootstrap = apache.as_ref().map_or(external, |k| k.bootstrap.clone());
            tracing::info!(%bootstrap, "testing against Apache Kafka ({EXTERNAL_KAFKA_ENV})");
            return Self {
                bootstrap,
                rt: None,
                handle: None,
                apache,
            };
        }
        Self::start_with(BrokerConfig::default())
    }

    /// On `kafka`, stopped with this.
    pub fn on_apache(kafka: apache::ApacheKafka) -> Self {
        log_to_test_output();
        Self {
            bootstrap: kafka.bootstrap.clone(),
            rt: None,
            handle: None,
            apache: Some(kafka),
        }
    }

    /// The private Apache Kafka under this, if any.
    pub fn apache(&self) -> Option<&apache::ApacheKafka> {
        self.apache.as_ref()
    }

    /// Always the embedded broker: `config` is its own.
    pub fn start_with(config: BrokerConfig) -> Self {
        log_to_test_output();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let handle = rt
            .block_on(techpotli_kafka::start(config))
            .expect("broker starts");
        Self {
            bootstrap: handle.bootstrap(),
            rt: Some(rt),
            handle: Some(handle),
            apache: None,
        }
    }

    /// Stops the broker now (a data-dir test restarts another on the same directory).
    pub fn stop(&mut self) {
        if let (Some(rt), Some(h)) = (self.rt.as_ref(), self.handle.take()) {
            rt.block_on(h.shutdown());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
        self.apache.take();
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends tracing (`RUST_LOG`, default `info`) to the test's captured output, so a test that
/// fails on a timeout shows what the broker's group coordinator and the clients did; the
/// runner prints it only for failures. Idempotent: the first call in a process installs it.
pub fn log_to_test_output() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Polls `f` until it holds, panicking with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `actual` until it equals `expected`; after `timeout`, fails showing both, so a
/// materialised view that lags or diverges says where.
pub fn wait_until_eq<T: PartialEq + std::fmt::Debug>(
    what: &str,
    timeout: Duration,
    expected: &T,
    mut actual: impl FnMut() -> T,
) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let got = actual();
        if &got == expected {
            return;
        }
        if std::time::Instant::now() >= deadline {
            assert_eq!(&got, expected, "timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `prefix-<random>`, so tests sharing a broker never share a topic or group.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Creates a topic with the given configs, panicking with the broker's reason on failure.
pub fn create_topic(bootstrap: &str, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    // -1: the broker's default.replication.factor (3 on CI's Apache Kafka cluster).
    let rf = if external_kafka().is_some() { -1 } else { 1 };
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(rf));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let results = rt
        .block_on(admin.create_topics([&topic], &AdminOptions::new()))
        .expect("create_topics request");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating {t}: {e}"));
    }
}

/// Path of an example binary built alongside the tests (`cargo test` / nextest build examples;
/// `--test <one>` alone does not).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "example {name} not built at {} (build with `cargo test` or `--examples`)",
        path.display()
    );
    path
}

/// A child process killed (SIGKILL) when dropped.
pub struct ChildProc(pub Child);

impl ChildProc {
    /// Output discarded, so a full pipe can never stall the child.
    pub fn spawn(bin: &Path, args: &[&str]) -> Self {
        Self::spawn_env(bin, args, &[])
    }

    pub fn spawn_env(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::launch(bin, args, env, Stdio::null())
    }

    /// Stdout piped for the test to read (it must keep reading).
    pub fn spawn_piped(bin: &Path, args: &[&str]) -> Self {
        Self::launch(bin, args, &[], Stdio::piped())
    }

    fn launch(bin: &Path, args: &[&str], env: &[(&str, &str)], stdout: Stdio) -> Self {
        let child = Command::new(bin)
            .args(args)
            .envs(env.iter().copied())
            .stdout(stdout)
            // TECHPOTLI_TEST_LOGS=1 shows children's logs when debugging a test.
            .stderr(if std::env::var_os("TECHPOTLI_TEST_LOGS").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("spawn child");
        Self(child)
    }

    pub fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Sends SIGTERM (through kill(1): the workspace forbids `unsafe`, so no libc call).
    pub fn term(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {}", self.0.id());
    }

    /// SIGTERM, then asserts a clean exit (status 0) within `timeout`.
    pub fn stop_cleanly(&mut self, timeout: Duration) {
        self.term();
        let status = self.wait_timeout(timeout).expect("exits after SIGTERM");
        assert!(status.success(), "clean exit after SIGTERM: {status}");
    }

    /// Waits up to `timeout` for the child to exit; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; fine for tests on one machine).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Checks a service binary's command line: `--help` exits 0 naming each of `settings` (its
/// environment variables), `--version` exits 0 with the version, an unknown flag exits 2
/// naming it — all without a broker to talk to (none is running).
pub fn assert_command_line(bin: &str, settings: &[&str]) {
    let run = |arg: &str| {
        Command::new(bin)
            .arg(arg)
            .env("KAFKA_BOOTSTRAP", "127.0.0.1:1")
            .output()
            .unwrap_or_else(|e| panic!("run {bin} {arg}: {e}"))
    };
    let help = run("--help");
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success(), "{bin} --help: {help:?}");
    for s in settings {
        assert!(text.contains(s), "{bin} --help does not name {s}:\n{text}");
    }
    let version = run("--version");
    assert!(version.status.success(), "{bin} --version: {version:?}");
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    let bad = run("--no-such-flag");
    assert_eq!(bad.status.code(), Some(2), "{bin} --no-such-flag: {bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--no-such-flag"));
}
