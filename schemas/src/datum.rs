//! Avro binary datums (no framing): the schema-aware serializer for writing, schema resolution
//! for reading. The [`crate::codec`] adds the Confluent framing and the registry around these.

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::avsc;
use crate::types::AvroRecord;

/// Encodes `value` with its own `.avsc` (the writer schema), appending to `buf`.
///
/// This is apache-avro's schema-aware serializer (what `write_avro_datum_ref` does): record
/// unions are written by the index of the Rust enum variant, `Option` by the index of its
/// non-null branch, enums by symbol.
pub fn encode_into<T: AvroRecord + Serialize>(
    value: &T,
    buf: &mut Vec<u8>,
) -> Result<(), apache_avro::Error> {
    GenericDatumWriter::builder(T::schema())
        .resolved_schemata(avsc::resolved(T::SCHEMA_FILE).clone())
        .human_readable(false)
        .build()?
        .write_ser(buf, value)?;
    Ok(())
}

/// Encodes `value` with its own `.avsc` into a new buffer.
pub fn encode<T: AvroRecord + Serialize>(value: &T) -> Result<Vec<u8>, apache_avro::Error> {
    let mut buf = Vec::new();
    encode_into(value, &mut buf)?;
    Ok(buf)
}

/// Reads one datum written with `writer`, as a generic value in the writer's terms. The whole of
/// `bytes` must be consumed, and the result must validate against `writer`.
pub fn read_value(writer: &Schema, bytes: &[u8]) -> Result<Value, apache_avro::Error> {
    // apache-avro reads input that ends early leniently: a string cut short as `null`, a missing
    // union index as branch 0 (`null` for an optional field). So we watch for any read past
    // the end; a well-formed datum never asks for more bytes than it has.
    let mut input = Watched {
        rest: bytes,
        overrun: false,
    };
    let value = GenericDatumReader::builder(writer)
        .build()?
        .read_value(&mut input)?;
    if input.overrun {
        return Err(invalid(format!(
            "the datum ends early ({} bytes)",
            bytes.len()
        )));
    }
    if !input.rest.is_empty() {
        return Err(invalid(format!(
            "{} trailing bytes after the datum",
            input.rest.len()
        )));
    }
    if !value.validate(writer) {
        return Err(invalid(
            "the datum does not match the writer schema".to_owned(),
        ));
    }
    Ok(value)
}

/// A byte slice reader that remembers whether anyone asked for bytes past its end.
struct Watched<'a> {
    rest: &'a [u8],
    overrun: bool,
}

impl std::io::Read for Watched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.rest.len() < buf.len() {
            self.overrun = true;
        }
        self.rest.read(buf)
    }
}

fn invalid(why: String) -> apache_avro::Error {
    apache_avro::Error::new(apache_avro::error::Details::ReadBytes(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        why,
    )))
}

/// Avro schema resolution of `value` (read with `writer`) into `reader`: defaults for fields the
/// writer lacked, unknown enum symbols to the enum's default, promotions, and union members
/// matched **by name** (apache-avro alone matches them by shape and would read a
/// `StockReleased` as the identically shaped `StockReserved`; see `resolve.rs`).
pub fn resolve(
    value: Value,
    writer: &Schema,
    reader: &Schema,
) -> Result<Value, apache_avro::Error> {
    crate::resolve::resolve(value, writer, reader)
}

/// Decodes a datum written with `writer` into `T`, resolving to `T`'s own `.avsc`.
pub fn decode<T: AvroRecord + DeserializeOwned>(
    writer: &Schema,
    bytes: &[u8],
) -> Result<T, apache_avro::Error> {
    let value = read_value(writer, bytes)?;
    let value = resolve(value, writer, T::schema())?;
    apache_avro::from_value::<T>(&value)
}
