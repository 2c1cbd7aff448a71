//! Interop probe for `tests/python/test_registry_interop.py`: the project's codec on one side,
//! Confluent's Python serializers on the other.
//!
//! ```text
//! interop encode <registry-url> <topic> <count>   # prints {"hex": framed bytes, "typed": value}
//! interop decode <registry-url>                   # reads hex lines on stdin; prints
//!                                                 # {"schema_id", "typed", "json"} per record
//! ```
//! Only `orders.placed` (`OrderPlaced`) is exercised: it has nested records, arrays and
//! optional fields; the union-bearing schemas are covered by the Rust codec tests.

use std::io::BufRead;

use serde_json::json;
use techpotli_schemas::Codec;
use techpotli_schemas::types::orders::{OrderLine, OrderPlaced, ShippingAddress};

fn sample(i: i64) -> OrderPlaced {
    OrderPlaced {
        event_id: uuid::Uuid::now_v7(),
        event_time: 1_790_000_000_000 + i,
        order_id: format!("rust-ord-{i}"),
        user_id: "user-9".to_owned(),
        idempotency_key: format!("rust-idem-{i}"),
        cart_id: (i % 2 == 0).then(|| format!("cart-{i}")),
        currency: "INR".to_owned(),
        lines: vec![OrderLine {
            sku: "SKU-9".to_owned(),
            quantity: 3,
            unit_price_minor: 12_345,
        }],
        subtotal_minor: 37_035,
        discount_minor: 35,
        shipping_minor: 0,
        tax_minor: 0,
        total_minor: 37_000,
        shipping_address: ShippingAddress {
            recipient_name: "Ravi".to_owned(),
            line1: "1 Residency Road".to_owned(),
            line2: Some("Near the park".to_owned()),
            city: "Bengaluru".to_owned(),
            region: None,
            postal_code: "560025".to_owned(),
            country_code: "IN".to_owned(),
            phone: Some("+919800000000".to_owned()),
        },
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("encode") if args.len() == 5 => {
            let codec = Codec::new(&args[2]).with_auto_register(true);
            for i in 0..args[4].parse::<i64>()? {
                let value = sample(i);
                let bytes = codec.encode(&args[3], &value).await?;
                let hex: String = bytes.iter().fold(String::new(), |mut h, b| {
                    use std::fmt::Write as _;
                    let _ = write!(h, "{b:02x}");
                    h
                });
                println!("{}", json!({"hex": hex, "typed": value}));
            }
        }
        Some("decode") if args.len() == 3 => {
            let codec = Codec::new(&args[2]);
            for line in std::io::stdin().lock().lines() {
                let line = line?;
                let bytes: Vec<u8> = (0..line.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&line[i..i + 2], 16))
                    .collect::<Result<_, _>>()?;
                let typed: OrderPlaced = codec.decode(&bytes).await?;
                let (id, generic) = codec.decode_json(&bytes).await?;
                println!(
                    "{}",
                    json!({"schema_id": id, "typed": typed, "json": generic})
                );
            }
        }
        _ => anyhow::bail!(
            "usage: interop encode <registry> <topic> <count> | interop decode <registry>"
        ),
    }
    Ok(())
}
