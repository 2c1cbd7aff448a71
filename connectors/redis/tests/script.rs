//! The apply script against the real Redis: an older offset never overwrites a newer one, a
//! replay is a no-op, status never moves backwards, and the offsets hash only moves forward.

use std::collections::HashMap;

use redis::AsyncCommands;
use techpotli_connector_redis::fields::Write;
use techpotli_connector_redis::script::Scripts;

fn set(key: &str, v: &str, monotonic: Option<i64>) -> Write {
    let mut fields = vec![("v".to_owned(), v.to_owned())];
    fields.extend(monotonic.map(|m| ("seq".to_owned(), m.to_string())));
    Write::Set {
        key: key.into(),
        fields,
        monotonic: monotonic.map(|m| ("seq".into(), m)),
    }
}

#[tokio::test]
async fn older_offsets_never_overwrite_newer_ones() {
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let s = Scripts::default();
    let (key, offsets) = (format!("{prefix}stock:A"), format!("{prefix}offsets"));
    let mut run = async |w: &Write, offset: i64| -> i64 {
        let cmd = s.apply_cmd(&offsets, "inventory.levels", 1, offset, w);
        if let Ok(v) = cmd.query_async::<i64>(&mut con).await {
            v
        } else {
            s.apply.prepare_invoke().load_async(&mut con).await.unwrap();
            cmd.query_async(&mut con).await.unwrap()
        }
    };
    assert_eq!(run(&set(&key, "five", None), 5).await, 1);
    assert_eq!(run(&set(&key, "three", None), 3).await, 0, "older: skipped");
    assert_eq!(
        run(&set(&key, "five again", None), 5).await,
        0,
        "replay: skipped"
    );
    let mut con2 = client.get_multiplexed_async_connection().await.unwrap();
    let h: HashMap<String, String> = con2.hgetall(&key).await.unwrap();
    assert_eq!(h["v"], "five");
    assert_eq!(h["_offset:inventory.levels:1"], "5");
    let next: i64 = con2.hget(&offsets, "inventory.levels:1").await.unwrap();
    assert_eq!(next, 6);

    // Monotonic field: a newer offset carrying an older sequence does not regress the value.
    let order = format!("{prefix}order:o1");
    assert_eq!(run(&set(&order, "PAID", Some(5)), 10).await, 1);
    assert_eq!(run(&set(&order, "RESERVED", Some(3)), 11).await, 1);
    let v: String = con2.hget(&order, "v").await.unwrap();
    assert_eq!(v, "PAID");

    // The advance script never moves an offset back.
    s.advance
        .prepare_invoke()
        .load_async(&mut con2)
        .await
        .unwrap();
    let back = (("inventory.levels".to_owned(), 1), 2_i64);
    let fwd = (("inventory.levels".to_owned(), 2), 40_i64);
    let _: i64 = s
        .advance_cmd(&offsets, [(&back.0, &back.1), (&fwd.0, &fwd.1)])
        .query_async(&mut con2)
        .await
        .unwrap();
    let stored: HashMap<String, i64> = con2.hgetall(&offsets).await.unwrap();
    assert_eq!(stored["inventory.levels:1"], 12);
    assert_eq!(stored["inventory.levels:2"], 40);

    let _: () = con2.del(&[key, order, offsets]).await.unwrap();
}
