//! Apache Kafka nodes of the tests' own, started and stopped through `scripts/kafka.sh` (which
//! fetches the pinned version from Maven Central once). Used when `TECHPOTLI_TEST_KAFKA=apache`
//! asks for a private Apache Kafka per [`crate::TestBroker`], and by the cluster fault tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One private Apache Kafka (1 node or a 3-node KRaft cluster) in a directory of its own;
/// stopped, by the PIDs the script recorded, when dropped.
pub struct ApacheKafka {
    pub bootstrap: String,
    dir: PathBuf,
}

/// `scripts/kafka.sh` of this checkout.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka.sh")
}

fn run(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("run scripts/kafka.sh");
    assert!(
        out.status.success(),
        "scripts/kafka.sh {} failed ({}):\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl ApacheKafka {
    /// Formats and starts `nodes` (1 or 3) combined broker+controller nodes; returns once each
    /// serves. `settings` are extra `server.properties` lines (`key=value`).
    pub fn start(nodes: u8, settings: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(crate::unique("techpotli-apache-kafka"));
        let dir_arg = dir.to_string_lossy().into_owned();
        let nodes_arg = nodes.to_string();
        let mut args = vec!["start", "--nodes", &nodes_arg, "--dir", &dir_arg];
        for s in settings {
            args.extend(["--set", s]);
        }
        let out = run(&args);
        let bootstrap = out
            .lines()
            .find_map(|l| l.strip_prefix("bootstrap="))
            .expect("kafka.sh printed bootstrap=")
            .to_owned();
        tracing::info!(%bootstrap, dir = %dir.display(), nodes, "Apache Kafka started");
        Self { bootstrap, dir }
    }

    /// `kill -9` of node `i` (1-based).
    pub fn kill_node(&self, i: u8) {
        self.node("kill-node", i);
    }

    /// Restarts node `i` on its data; returns once it serves again.
    pub fn start_node(&self, i: u8) {
        self.node("start-node", i);
    }

    fn node(&self, what: &str, i: u8) {
        run(&[what, &i.to_string(), "--dir", &self.dir.to_string_lossy()]);
    }

    /// Bootstrap address of node `i` alone.
    pub fn node_address(&self, i: u8) -> &str {
        self.bootstrap
            .split(',')
            .nth(usize::from(i) - 1)
            .expect("node exists")
    }
}

impl Drop for ApacheKafka {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", "--dir", &self.dir.to_string_lossy()])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
