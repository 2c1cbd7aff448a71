//! The `techpotli` binary end to end: `dev` starts and stops cleanly, `topics apply` is
//! idempotent, `tail` prints what was produced, `docs` is current.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command};

use std::sync::mpsc;
use std::time::{Duration, Instant};
use techpotli_testkit::{ChildProc, mysql};

const BIN: &str = env!("CARGO_BIN_EXE_techpotli");

fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Streams a child's stdout lines into a channel.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for(
    rx: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    pred: impl Fn(&str) -> bool,
    timeout: Duration,
) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if pred(&line) {
                    return line;
                }
            }
            Err(e) => panic!("{e}; output so far:\n{}", seen.join("\n")),
        }
    }
}

fn techpotli(args: &[&str], bootstrap: &str, registry: &str) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("KAFKA_BOOTSTRAP", bootstrap)
        .env("SCHEMA_REGISTRY_URL", registry)
        .current_dir(repo_root())
        .output()
        .expect("run techpotli")
}

/// Drops the dev run's database and Redis keys.
struct Cleanup {
    db: String,
    prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (db, prefix) = (self.db.clone(), self.prefix.clone());
        let _ = Command::new("mariadb")
            .args(mysql::client_args())
            .arg("-e")
            .arg(format!("DROP DATABASE IF EXISTS `{db}`"))
            .status();
        let keys = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "--scan", "--pattern"])
            .arg(format!("{prefix}*"))
            .output();
        if let Ok(out) = keys {
            for k in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = Command::new("redis-cli")
                    .args(["-h", "127.0.0.1", "DEL", k])
                    .output();
            }
        }
    }
}

/// A `techpotli dev` child on free ports with its own database and Redis key prefix (a fresh
/// log needs a fresh store). Fields drop in order: the child is killed (SIGKILL) first, so a
/// failing assertion never leaves `dev` running, then its database and keys go.
struct DevRun {
    guard: ChildProc,
    _cleanup: Cleanup,
    _data: tempfile::TempDir,
}

fn start_dev(extra: &[&str]) -> DevRun {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().expect("utf-8 temp path").to_owned();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (db, prefix) = (format!("techpotli_cli_{id}"), format!("cli-{id}:"));
    let database_url = mysql::database_url(&db);
    let mut args = vec![
        "dev",
        "--data-dir",
        &data_dir,
        "--kafka-listen",
        "127.0.0.1:0",
        "--registry-listen",
        "127.0.0.1:0",
        "--api-listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--database-url",
        &database_url,
        "--redis-prefix",
        &prefix,
    ];
    args.extend_from_slice(extra);
    DevRun {
        guard: ChildProc::spawn_piped(std::path::Path::new(BIN), &args),
        _cleanup: Cleanup { db, prefix },
        _data: data,
    }
}

#[test]
fn dev_names_a_taken_listener_before_creating_anything() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["dev", "--data-dir"])
        .arg(data.path())
        .args([
            "--kafka-listen",
            "127.0.0.1:0",
            "--registry-listen",
            "127.0.0.1:0",
        ])
        .args(["--api-listen", "127.0.0.1:0", "--admin-listen", &addr])
        .output()
        .expect("run techpotli dev");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("--admin-listen {addr}: address already in use")),
        "names the flag and the address: {stderr}"
    );
    assert!(
        std::fs::read_dir(data.path()).unwrap().next().is_none(),
        "nothing was created before the check"
    );
}

#[test]
fn dev_refuses_to_announce_ready_when_a_sink_cannot_start() {
    // Port 1: nothing listens, so the Redis sink cannot connect.
    let mut dev = start_dev(&["--redis-url", "redis://127.0.0.1:1"]);
    let child = &mut dev.guard.0;
    let rx = lines(child);
    let mut seen = Vec::new();
    let error = wait_for(
        &rx,
        &mut seen,
        |l| l.contains("ERROR"),
        Duration::from_secs(120),
    );
    assert!(error.contains("sink-redis"), "names the sink: {error}");
    let status = dev
        .guard
        .wait_timeout(Duration::from_secs(60))
        .expect("dev did not exit");
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(1)) {
        seen.push(l);
    }
    assert_eq!(status.code(), Some(1), "{}", seen.join("\n"));
    assert!(
        !seen.iter().any(|l| l == "techpotli dev ready"),
        "never ready: {seen:?}"
    );
}

#[test]
fn dev_reaches_ready_serves_the_catalogue_and_stops_on_sigint() {
    let mut dev = start_dev(&[]);
    let child = &mut dev.guard.0;
    let rx = lines(child);
    let mut seen = Vec::new();
    wait_for(
        &rx,
        &mut seen,
        |l| l == "techpotli dev ready",
        Duration::from_secs(60),
    );
    assert!(
        seen.iter().any(|l| l
            .contains("ok     processors inventory, order-saga, pricing, sink-mysql, sink-redis")),
        "dev runs the processors: {seen:?}"
    );
    let bootstrap = wait_for(
        &rx,
        &mut seen,
        |l| l.contains("KAFKA_BOOTSTRAP="),
        Duration::from_secs(5),
    );
    let registry = wait_for(
        &rx,
        &mut seen,
        |l| l.contains("SCHEMA_REGISTRY_URL="),
        Duration::from_secs(5),
    );
    let api = wait_for(
        &rx,
        &mut seen,
        |l| l.contains("API_URL="),
        Duration::from_secs(5),
    );
    let bootstrap = bootstrap.split('=').nth(1).unwrap().trim().to_owned();
    let registry = registry.split('=').nth(1).unwrap().trim().to_owned();
    let api = api.split('=').nth(1).unwrap().trim().to_owned();
    // The ingress API runs in dev: an activity event is accepted (acknowledged by the broker).
    let status = tokio::runtime::Runtime::new().unwrap().block_on(async {
        reqwest::Client::new()
            .post(format!("{api}/v1/activity"))
            .json(&serde_json::json!({"events": [{"session_id": "s1", "kind": "PAGE_VIEW"}]}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    assert_eq!(status.ok(), Some(202), "POST {api}/v1/activity");
    // Stock adjusted through the API comes back through the processors, the sinks and the
    // API's read endpoint.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let adjusted = rt.block_on(async {
        http.post(format!("{api}/v1/admin/inventory/CLI-1/adjustments"))
            .json(&serde_json::json!({"delta": 4, "reason": "RESTOCK"}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    assert_eq!(adjusted.ok(), Some(202), "POST adjustment");
    let deadline = Instant::now() + Duration::from_secs(60);
    let stock = loop {
        let got: Option<serde_json::Value> = rt.block_on(async {
            let r = http
                .get(format!("{api}/v1/stock/CLI-1"))
                .send()
                .await
                .ok()?;
            if r.status().as_u16() != 200 {
                return None;
            }
            // Redis is where stock is read first; MySQL only stands in.
            r.json::<serde_json::Value>()
                .await
                .ok()
                .filter(|v| v["source"] == "redis")
        });
        if let Some(v) = got {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "GET /v1/stock/CLI-1 never answered 200"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        (&stock["on_hand"], &stock["available"], &stock["source"]),
        (
            &serde_json::json!(4),
            &serde_json::json!(4),
            &serde_json::json!("redis")
        ),
        "{stock}"
    );

    // Applying again finds nothing to do; every topic exists with its declared partitions.
    let again = techpotli(&["topics", "apply"], &bootstrap, &registry);
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success()
            && text.contains("0 created, 0 reconfigured, 0 with partition drift"),
        "{text}"
    );
    let list = techpotli(&["topics", "list"], &bootstrap, &registry);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        !text.contains("missing") && text.contains("orders.placed"),
        "{text}"
    );
    // Every schema is registered: a check finds nothing breaking.
    let check = techpotli(&["schemas", "check"], &bootstrap, &registry);
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && text.contains("0 breaking"),
        "{text}"
    );

    // What is produced can be tailed, decoded through the registry.
    produce_order(&bootstrap, &registry);
    let tail = techpotli(
        &["tail", "orders.placed", "--from-beginning", "--max", "1"],
        &bootstrap,
        &registry,
    );
    let text = String::from_utf8_lossy(&tail.stdout);
    assert!(tail.status.success(), "{text}");
    let line: serde_json::Value =
        serde_json::from_str(text.lines().next().unwrap_or("{}")).unwrap();
    assert_eq!(line["key"], "ord-tail-1", "{line}");
    assert_eq!(line["value"]["order_id"], "ord-tail-1", "{line}");
    assert_eq!(line["value"]["lines"][0]["quantity"], 2, "{line}");
    assert_eq!(line["headers"]["source"], "cli-test", "{line}");
    assert!(
        line["schema_id"].as_u64().is_some() && line["offset"] == 0,
        "{line}"
    );

    // A registered schema the working tree can no longer read makes `schemas check` fail.
    register_breaking_order_schema(&registry);
    let check = techpotli(&["schemas", "check"], &bootstrap, &registry);
    let text = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{text}");
    assert!(
        text.contains("BREAKING  orders.placed-value") && text.contains("1 breaking"),
        "{text}"
    );

    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = dev
        .guard
        .wait_timeout(Duration::from_secs(30))
        .expect("dev did not stop");
    assert!(status.success(), "dev exits 0 on SIGINT: {status:?}");
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
        seen.push(l);
    }
    assert!(
        seen.iter().any(|l| l == "techpotli dev: stopped"),
        "{}",
        seen.join("\n")
    );
}

/// Registers (with checks off, then back on) an `orders.placed` schema whose `order_id` is a
/// long: the working tree's string `order_id` cannot read data written with it.
fn register_breaking_order_schema(registry: &str) {
    let subject = format!("{registry}/config/orders.placed-value");
    let breaking = r#"{"type":"record","name":"OrderPlaced","namespace":"com.techpotli.orders","fields":[{"name":"order_id","type":"long"}]}"#;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let put = |level: &'static str| {
            http.put(&subject)
                .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                .body(serde_json::json!({"compatibility": level}).to_string())
                .send()
        };
        assert!(put("NONE").await.unwrap().status().is_success());
        let resp = http
            .post(format!("{registry}/subjects/orders.placed-value/versions"))
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .body(serde_json::json!({"schema": breaking}).to_string())
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
        assert!(put("BACKWARD").await.unwrap().status().is_success());
    });
}

/// Produces one Avro-encoded order through the codec, keyed by its order id.
fn produce_order(bootstrap: &str, registry: &str) {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use techpotli_schemas::types::orders::{OrderLine, OrderPlaced, ShippingAddress};

    let order = OrderPlaced {
        event_id: uuid::Uuid::now_v7(),
        event_time: 1_790_000_000_000,
        order_id: "ord-tail-1".into(),
        user_id: "u-1".into(),
        idempotency_key: "k-1".into(),
        cart_id: None,
        currency: "INR".into(),
        lines: vec![OrderLine {
            sku: "SKU-1".into(),
            quantity: 2,
            unit_price_minor: 500,
        }],
        subtotal_minor: 1_000,
        discount_minor: 0,
        shipping_minor: 0,
        tax_minor: 0,
        total_minor: 1_000,
        shipping_address: ShippingAddress {
            recipient_name: "A".into(),
            line1: "1 Road".into(),
            line2: None,
            city: "Pune".into(),
            region: None,
            postal_code: "411001".into(),
            country_code: "IN".into(),
            phone: None,
        },
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let codec = techpotli_schemas::Codec::new(registry);
        let bytes = codec
            .encode("orders.placed", &order)
            .await
            .expect("schema registered by dev");
        let producer: FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()
            .unwrap();
        let headers = OwnedHeaders::new().insert(Header {
            key: "source",
            value: Some("cli-test"),
        });
        producer
            .send(
                FutureRecord::to("orders.placed")
                    .key("ord-tail-1")
                    .payload(&bytes)
                    .headers(headers),
                Duration::from_secs(10),
            )
            .await
            .expect("produced");
    });
}

#[test]
fn docs_topics_md_is_current() {
    let out = Command::new(BIN)
        .args(["docs", "--check"])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
