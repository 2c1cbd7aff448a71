//! The REST surface against a real broker: registration, lookup, compatibility, deletes,
//! config, Confluent error codes, and ids that survive a restart.

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use techpotli_kafka::BrokerConfig;
use techpotli_registry::RegistryConfig;

const CT: &str = "application/vnd.schemaregistry.v1+json";

fn schema(fields: &str) -> String {
    format!(
        r#"{{"type":"record","name":"Order","namespace":"com.techpotli.orders","fields":[{fields}]}}"#
    )
}

fn v1() -> String {
    schema(r#"{"name":"order_id","type":"string"}"#)
}
fn v2() -> String {
    schema(
        r#"{"name":"order_id","type":"string"},{"name":"total_minor","type":"long","default":0}"#,
    )
}
fn breaking() -> String {
    schema(r#"{"name":"order_id","type":"long"}"#)
}

struct Api {
    base: String,
    http: Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Content-Type", CT);
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        assert_eq!(resp.headers()["content-type"], CT, "{path}");
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }
    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }
    async fn register(&self, subject: &str, schema: &str) -> (StatusCode, Value) {
        self.post(
            &format!("/subjects/{subject}/versions"),
            json!({"schema": schema}),
        )
        .await
    }
}

fn code(v: &Value) -> i64 {
    v["error_code"].as_i64().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_surface_matches_confluent() {
    let broker = techpotli_kafka::start(BrokerConfig::default())
        .await
        .unwrap();
    let reg = techpotli_registry::start(RegistryConfig::new(broker.bootstrap()))
        .await
        .unwrap();
    let api = Api {
        base: reg.url(),
        http: Client::new(),
    };

    // Registration is idempotent; the same schema under another subject shares the id.
    let (s, b) = api.register("orders.placed-value", &v1()).await;
    assert_eq!((s, b["id"].as_i64()), (StatusCode::OK, Some(1)));
    assert_eq!(api.register("orders.placed-value", &v1()).await.1["id"], 1);
    assert_eq!(api.register("other-value", &v1()).await.1["id"], 1);
    assert_eq!(
        api.get("/subjects").await.1,
        json!(["orders.placed-value", "other-value"])
    );

    // Lookup and reads.
    let (s, b) = api
        .post("/subjects/orders.placed-value", json!({"schema": v1()}))
        .await;
    assert_eq!(
        (s, &b["version"], &b["id"]),
        (StatusCode::OK, &json!(1), &json!(1))
    );
    let (s, b) = api
        .post("/subjects/orders.placed-value", json!({"schema": v2()}))
        .await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, 40403));
    // Booleans as Confluent reads them (Java's parseBoolean): Python clients send `True` and
    // `False`; anything but a case-insensitive `true` is false, never a 400.
    for flags in [
        "?deleted=True&normalize=False",
        "?deleted=false&verbose=FALSE",
        "?deleted=1&lookupDeletedSchema=yes",
        "?normalize=TRUE&deleted=",
    ] {
        let (s, b) = api
            .post(
                &format!("/subjects/orders.placed-value{flags}"),
                json!({"schema": v1()}),
            )
            .await;
        assert_eq!((s, &b["id"]), (StatusCode::OK, &json!(1)), "{flags}: {b}");
    }
    let (s, _) = api
        .post(
            "/compatibility/subjects/orders.placed-value/versions/latest?verbose=True",
            json!({"schema": v2()}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "compatibility with verbose=True");
    assert_eq!(api.get("/subjects?deleted=True").await.0, StatusCode::OK);
    assert_eq!(
        code(
            &api.post("/subjects/nope-value", json!({"schema": v1()}))
                .await
                .1
        ),
        40401
    );
    let (_, b) = api.get("/schemas/ids/1").await;
    assert_eq!(
        serde_json::from_str::<Value>(b["schema"].as_str().unwrap()).unwrap(),
        serde_json::from_str::<Value>(&v1()).unwrap()
    );
    assert_eq!(code(&api.get("/schemas/ids/99").await.1), 40403);
    assert_eq!(
        api.get("/schemas/ids/1/versions")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Compatibility: BACKWARD by default; a compatible change registers, a breaking one is 409.
    assert_eq!(
        api.get("/config").await.1,
        json!({"compatibilityLevel": "BACKWARD"})
    );
    let (s, b) = api
        .post(
            "/compatibility/subjects/orders.placed-value/versions/latest",
            json!({"schema": v2()}),
        )
        .await;
    assert_eq!((s, &b["is_compatible"]), (StatusCode::OK, &json!(true)));
    let (_, b) = api
        .post(
            "/compatibility/subjects/orders.placed-value/versions/1?verbose=true",
            json!({"schema": breaking()}),
        )
        .await;
    assert_eq!(b["is_compatible"], false);
    assert!(!b["messages"].as_array().unwrap().is_empty());
    assert_eq!(api.register("orders.placed-value", &v2()).await.1["id"], 2);
    let (s, b) = api.register("orders.placed-value", &breaking()).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, 409));
    assert_eq!(
        api.get("/subjects/orders.placed-value/versions").await.1,
        json!([1, 2])
    );
    assert_eq!(
        api.get("/subjects/orders.placed-value/versions/latest")
            .await
            .1["version"],
        2
    );

    // NONE lets anything through for that subject only.
    assert_eq!(
        api.put(
            "/config/orders.placed-value",
            json!({"compatibility": "NONE"})
        )
        .await
        .1,
        json!({"compatibility": "NONE"})
    );
    assert_eq!(
        api.get("/config/orders.placed-value").await.1["compatibilityLevel"],
        "NONE"
    );
    assert_eq!(code(&api.get("/config/other-value").await.1), 40408);
    assert_eq!(
        api.get("/config/other-value?defaultToGlobal=true").await.1["compatibilityLevel"],
        "BACKWARD"
    );
    assert_eq!(
        api.register("orders.placed-value", &breaking()).await.1["id"],
        3
    );
    assert_eq!(
        api.delete("/config/orders.placed-value").await.1["compatibilityLevel"],
        "NONE"
    );

    // Bad input gets Confluent's codes.
    assert_eq!(
        code(
            &api.put("/config", json!({"compatibility": "SOMETIMES"}))
                .await
                .1
        ),
        42203
    );
    let (s, b) = api.register("x-value", "{not avro").await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, 42201));
    assert_eq!(
        code(
            &api.get("/subjects/orders.placed-value/versions/abc")
                .await
                .1
        ),
        42202
    );
    assert_eq!(
        code(&api.get("/subjects/orders.placed-value/versions/9").await.1),
        40402
    );
    assert_eq!(code(&api.get("/subjects/nope/versions").await.1), 40401);

    // Deletes: soft first, then permanent; ids stay resolvable.
    assert_eq!(
        code(
            &api.delete("/subjects/other-value/versions/1?permanent=true")
                .await
                .1
        ),
        40407
    );
    assert_eq!(
        api.delete("/subjects/other-value/versions/1").await.1,
        json!(1)
    );
    assert_eq!(
        code(&api.delete("/subjects/other-value/versions/1").await.1),
        40406
    );
    assert_eq!(
        code(&api.get("/subjects/other-value/versions").await.1),
        40401
    );
    assert_eq!(
        api.get("/subjects/other-value/versions?deleted=true")
            .await
            .1,
        json!([1])
    );
    assert_eq!(
        api.delete("/subjects/other-value/versions/1?permanent=true")
            .await
            .1,
        json!(1)
    );
    assert_eq!(
        code(
            &api.delete("/subjects/orders.placed-value?permanent=true")
                .await
                .1
        ),
        40405
    );
    assert_eq!(
        api.delete("/subjects/orders.placed-value").await.1,
        json!([1, 2, 3])
    );
    assert_eq!(api.get("/subjects").await.1, json!([]));
    assert_eq!(api.get("/mode").await.1, json!({"mode": "READWRITE"}));
    assert_eq!(api.get("/schemas/ids/2").await.0, StatusCode::OK);

    // A restarted registry reloads everything from _schemas: same ids, no reuse.
    reg.shutdown().await;
    let reg = techpotli_registry::start(RegistryConfig::new(broker.bootstrap()))
        .await
        .unwrap();
    let api = Api {
        base: reg.url(),
        http: Client::new(),
    };
    assert_eq!(
        api.get("/subjects?deleted=true").await.1,
        json!(["orders.placed-value"])
    );
    assert_eq!(api.get("/schemas/ids/3").await.0, StatusCode::OK);
    let fresh = schema(r#"{"name":"sku","type":"string"}"#);
    assert_eq!(
        api.register("fresh-value", &fresh).await.1["id"],
        4,
        "ids continue after restart"
    );
    assert_eq!(
        api.register("orders.placed-value", &v1()).await.1["id"],
        1,
        "known schema keeps its id"
    );
    assert_eq!(
        api.get("/subjects/orders.placed-value/versions/latest")
            .await
            .1["version"],
        4
    );
    reg.shutdown().await;
    broker.shutdown().await;
}
