//! Schema resolution against writer schemas that differ from ours, as they will after evolution:
//! unknown enum symbols, fields the writer lacked, union members matched by name (not shape or
//! position), and union members this reader does not know; and malformed datums.

mod samples;

use apache_avro::Schema;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use serde_json::{Value as Json, json};
use techpotli_schemas::types::*;
use techpotli_schemas::{AvroRecord, avsc, datum};

/// Our `.avsc` for `T` as JSON, edited by `edit`, parsed.
fn edited<T: AvroRecord>(edit: impl FnOnce(&mut Json)) -> Schema {
    let mut json: Json = serde_json::from_str(avsc::text(T::SCHEMA_FILE).unwrap()).unwrap();
    edit(&mut json);
    Schema::parse_str(&json.to_string()).unwrap()
}

fn field<'a>(record: &'a mut Json, name: &str) -> &'a mut Json {
    record["fields"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|f| f["name"] == name)
        .unwrap()
}

/// `sample` as a generic value in our schema's terms.
fn value_of<T: AvroRecord + serde::Serialize>(sample: &T) -> Value {
    datum::read_value(T::schema(), &datum::encode(sample).unwrap()).unwrap()
}

fn record_field<'a>(value: &'a mut Value, name: &str) -> &'a mut Value {
    let Value::Record(fields) = value else {
        panic!("not a record")
    };
    &mut fields.iter_mut().find(|(n, _)| n == name).unwrap().1
}

fn write(writer: &Schema, value: Value) -> Vec<u8> {
    GenericDatumWriter::builder(writer)
        .build()
        .unwrap()
        .write_value_to_vec(value)
        .unwrap()
}

#[test]
fn unknown_enum_symbol_reads_as_unknown() {
    let writer = edited::<StockAdjusted>(|j| {
        field(j, "reason")["type"]["symbols"]
            .as_array_mut()
            .unwrap()
            .push(json!("STOLEN"));
    });
    let sample = samples::stock_adjusted().remove(0);
    let mut value = value_of(&sample);
    *record_field(&mut value, "reason") = Value::Enum(5, "STOLEN".into());
    let back: StockAdjusted = datum::decode(&writer, &write(&writer, value)).unwrap();
    assert_eq!(back.reason, StockAdjustmentReason::Unknown);
    assert_eq!(back.delta, sample.delta);
}

#[test]
fn a_field_the_writer_lacked_gets_its_default() {
    let writer = edited::<StockAdjusted>(|j| {
        j["fields"]
            .as_array_mut()
            .unwrap()
            .retain(|f| f["name"] != "note");
    });
    let sample = samples::stock_adjusted().remove(0);
    let mut value = value_of(&sample);
    if let Value::Record(fields) = &mut value {
        fields.retain(|(n, _)| n != "note");
    }
    let back: StockAdjusted = datum::decode(&writer, &write(&writer, value)).unwrap();
    assert_eq!(back.note, None);
    assert_eq!(back.actor, sample.actor);
}

#[test]
fn union_members_resolve_by_name_not_position_or_shape() {
    // The writer lists the members in reverse: StockReleased, StockRejected, StockReserved.
    // StockReserved and StockReleased have identical fields, so only the name tells them apart.
    let writer = edited::<ReservationResult>(|j| {
        field(j, "payload")["type"]
            .as_array_mut()
            .unwrap()
            .reverse();
    });
    for sample in samples::reservation_result() {
        let mut value = value_of(&sample);
        let payload = record_field(&mut value, "payload");
        let Value::Union(i, inner) = std::mem::replace(payload, Value::Null) else {
            panic!("payload is a union")
        };
        *payload = Value::Union(2 - i, inner);
        let back: ReservationResult = datum::decode(&writer, &write(&writer, value)).unwrap();
        assert_eq!(back, sample);
    }
}

#[test]
fn a_union_member_the_reader_does_not_know_is_an_error() {
    // A newer writer added StockExpired, shaped exactly like StockReserved; it must not pass
    // for one.
    let writer = edited::<ReservationResult>(|j| {
        field(j, "payload")["type"]
            .as_array_mut()
            .unwrap()
            .push(json!({
                "type": "record", "name": "StockExpired",
                "fields": [{"name": "quantity", "type": "int"}]
            }));
    });
    let sample = samples::reservation_result().remove(0);
    let mut value = value_of(&sample);
    *record_field(&mut value, "payload") = Value::Union(
        3,
        Box::new(Value::Record(vec![("quantity".into(), Value::Int(2))])),
    );
    let err = datum::decode::<ReservationResult>(&writer, &write(&writer, value)).unwrap_err();
    assert!(err.to_string().contains("StockExpired"), "{err}");
}

#[test]
fn trailing_bytes_are_an_error() {
    let sample = samples::stock_level().remove(0);
    let mut bytes = datum::encode(&sample).unwrap();
    bytes.push(0);
    assert!(datum::decode::<StockLevel>(StockLevel::schema(), &bytes).is_err());
}

#[test]
fn a_truncated_datum_is_an_error_at_every_length() {
    // apache-avro alone reads a string cut short by the end of input as null.
    for sample in samples::payment_event() {
        let bytes = datum::encode(&sample).unwrap();
        for len in 0..bytes.len() {
            assert!(
                datum::read_value(PaymentEvent::schema(), &bytes[..len]).is_err(),
                "{len} of {} bytes of {sample:?} decoded",
                bytes.len()
            );
        }
    }
}
