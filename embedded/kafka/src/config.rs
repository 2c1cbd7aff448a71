//! Broker settings. Defaults follow Apache Kafka's where Kafka has one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::groups::GroupLimits;

/// When appended data is forced to disk (with a data directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FsyncPolicy {
    /// fsync before acknowledging every produce request and coordinator change: nothing
    /// acknowledged is lost even on power failure. Slowest.
    Always,
    /// Leave flushing to the OS (Kafka's default): survives a process crash, not a power cut.
    #[default]
    Never,
}

/// Everything `start` needs.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Address to bind; port 0 picks a free one (tests).
    pub listen: SocketAddr,
    /// Host name clients are told to connect to; defaults to the bound IP.
    pub advertised_host: Option<String>,
    /// Keep data here; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    pub fsync: FsyncPolicy,
    pub node_id: i32,
    pub cluster_id: String,
    /// Kafka's `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// Kafka's `num.partitions`, for auto-created topics.
    pub default_partitions: i32,
    /// Kafka's `socket.request.max.bytes`: a larger frame closes the connection.
    pub max_frame_bytes: usize,
    pub group_limits: GroupLimits,
    /// How often compaction, transaction expiry and group timers run.
    pub maintenance_interval: Duration,
    /// How often time and size retention delete expired segments (Kafka's
    /// `log.retention.check.interval.ms`, 5 minutes).
    pub retention_check_interval: Duration,
    /// Serve Prometheus metrics here when set.
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:0".parse().expect("valid literal"),
            advertised_host: None,
            data_dir: None,
            fsync: FsyncPolicy::default(),
            node_id: 0,
            cluster_id: "techpotli-embedded".to_owned(),
            auto_create_topics: true,
            default_partitions: 1,
            max_frame_bytes: 100 * 1024 * 1024,
            group_limits: GroupLimits {
                min_session_timeout: Duration::from_secs(6),
                max_session_timeout: Duration::from_mins(30),
                initial_rebalance_delay: Duration::ZERO,
            },
            maintenance_interval: Duration::from_millis(200),
            retention_check_interval: Duration::from_mins(5),
            metrics_listen: None,
        }
    }
}
