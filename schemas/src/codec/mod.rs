//! The Confluent wire format over the schema registry.
//!
//! A framed value is the magic byte `0`, the writer schema's registry id as a 4-byte big-endian
//! integer, then the Avro binary datum. Every registry call goes through
//! schema_registry_converter; ids and writer schemas are cached for the life of the [`Codec`]
//! (registry ids are immutable). Encoding writes with the type's own `.avsc`; decoding reads with
//! the writer schema the frame names and resolves into the type's `.avsc` (so defaults are
//! filled and unknown enum symbols become `UNKNOWN`).

mod error;
mod json;

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::Schema;
use apache_avro::types::Value;
use parking_lot::RwLock;
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use error::CodecError;
pub use json::to_json;

use crate::types::AvroRecord;
use crate::{avsc, datum, registry};

/// The first byte of every framed value.
pub const MAGIC: u8 = 0;
/// Magic byte plus schema id.
pub const HEADER_LEN: usize = 5;

/// The value subject of `topic` under the TopicNameStrategy: `<topic>-value`.
pub fn subject(topic: &str) -> String {
    format!("{topic}-value")
}

/// The 5-byte Confluent header for schema `id`.
pub fn header(id: u32) -> [u8; HEADER_LEN] {
    let [a, b, c, d] = id.to_be_bytes();
    [MAGIC, a, b, c, d]
}

/// Splits a framed value into its schema id and Avro datum.
pub fn parse_frame(bytes: &[u8]) -> Result<(u32, &[u8]), CodecError> {
    match bytes {
        [MAGIC, a, b, c, d, datum @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), datum)),
        [MAGIC, ..] | [] => Err(CodecError::NotFramed {
            reason: format!("{} bytes, shorter than the 5-byte header", bytes.len()),
        }),
        [magic, ..] => Err(CodecError::NotFramed {
            reason: format!("magic byte {magic:#04x}, expected 0x00"),
        }),
    }
}

/// Encodes and decodes Confluent-framed Avro values against one schema registry. Cheap to clone
/// (clones share the caches); `Send + Sync`.
#[derive(Clone)]
pub struct Codec {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    sr: SrSettings,
    auto_register: bool,
    /// schema file -> topic -> id of that schema under `<topic>-value`.
    ids: RwLock<HashMap<&'static str, HashMap<String, u32>>>,
    /// id -> parsed writer schema.
    writers: RwLock<HashMap<u32, Arc<Schema>>>,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("url", &self.inner.url)
            .field("auto_register", &self.inner.auto_register)
            .finish_non_exhaustive()
    }
}

impl Codec {
    /// A codec for the registry at `registry_url` (e.g. `http://127.0.0.1:8081`), with
    /// auto-registration off: encoding fails with [`CodecError::NotRegistered`] unless the
    /// type's schema is already registered under the topic's subject.
    pub fn new(registry_url: &str) -> Self {
        Self::build(registry_url, false)
    }

    /// The same registry, registering a type's schema under `<topic>-value` on first encode if
    /// it is not there (development; production producers look up only).
    #[must_use]
    pub fn with_auto_register(self, auto_register: bool) -> Self {
        Self::build(&self.inner.url, auto_register)
    }

    fn build(registry_url: &str, auto_register: bool) -> Self {
        let url = registry_url.trim_end_matches('/').to_owned();
        Self {
            inner: Arc::new(Inner {
                sr: registry::settings(&url),
                url,
                auto_register,
                ids: RwLock::default(),
                writers: RwLock::default(),
            }),
        }
    }

    /// The registry's base URL.
    pub fn registry_url(&self) -> &str {
        &self.inner.url
    }

    /// Whether encoding registers missing schemas.
    pub fn auto_register(&self) -> bool {
        self.inner.auto_register
    }

    /// The registry id of `T`'s schema under `<topic>-value`: looked up (and registered if
    /// absent and auto-registration is on) once, then cached. Producers call this at start-up to
    /// refuse to start when their schema is not registered.
    pub async fn schema_id<T: AvroRecord>(&self, topic: &str) -> Result<u32, CodecError> {
        let file = T::SCHEMA_FILE;
        if let Some(id) = self.inner.ids.read().get(file).and_then(|m| m.get(topic)) {
            return Ok(*id);
        }
        let subject = subject(topic);
        let text = avsc::text(file).expect("AvroRecord names a compiled-in schema file");
        let record = avsc::record_name(file);
        let fail = |f| CodecError::from_subject_failure(&self.inner.url, &subject, &record, f);
        let id = match registry::lookup(&self.inner.sr, &subject, text).await {
            Ok(id) => id,
            Err(f) => match fail(f) {
                CodecError::NotRegistered { .. } if self.inner.auto_register => {
                    registry::register(&self.inner.sr, &subject, &record, text)
                        .await
                        .map_err(fail)?
                }
                e => return Err(e),
            },
        };
        self.inner
            .ids
            .write()
            .entry(file)
            .or_default()
            .insert(topic.to_owned(), id);
        Ok(id)
    }

    /// Frames `value` for `topic`: header with the id of `T`'s schema under `<topic>-value`,
    /// then the datum written with `T`'s `.avsc`.
    pub async fn encode<T: AvroRecord + Serialize>(
        &self,
        topic: &str,
        value: &T,
    ) -> Result<Vec<u8>, CodecError> {
        let id = self.schema_id::<T>(topic).await?;
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&header(id));
        datum::encode_into(value, &mut buf).map_err(|e| CodecError::Encode {
            record: avsc::record_name(T::SCHEMA_FILE),
            message: e.to_string(),
        })?;
        Ok(buf)
    }

    /// The writer schema registered with `id`, fetched once and cached.
    pub async fn writer_schema(&self, id: u32) -> Result<Arc<Schema>, CodecError> {
        if let Some(schema) = self.inner.writers.read().get(&id) {
            return Ok(schema.clone());
        }
        let text = registry::schema_by_id(&self.inner.sr, id)
            .await
            .map_err(|f| CodecError::from_id_failure(&self.inner.url, id, f))?;
        let schema = Schema::parse_str(&text).map_err(|e| CodecError::Decode {
            id,
            message: format!("the registry's schema does not parse: {e}"),
        })?;
        let schema = Arc::new(schema);
        self.inner.writers.write().insert(id, schema.clone());
        Ok(schema)
    }

    /// Decodes a framed value with the writer schema it names, without resolving to any reader
    /// schema. Returns the schema id and the generic value.
    pub async fn decode_value(&self, bytes: &[u8]) -> Result<(u32, Value), CodecError> {
        let (id, datum) = parse_frame(bytes)?;
        let writer = self.writer_schema(id).await?;
        let value = datum::read_value(&writer, datum).map_err(|e| CodecError::Decode {
            id,
            message: e.to_string(),
        })?;
        Ok((id, value))
    }

    /// Decodes a framed value into `T`: read with the writer schema the frame names, resolved
    /// into `T`'s `.avsc`.
    pub async fn decode<T: AvroRecord + DeserializeOwned>(
        &self,
        bytes: &[u8],
    ) -> Result<T, CodecError> {
        let (id, value) = self.decode_value(bytes).await?;
        let writer = self.writer_schema(id).await?; // cached by decode_value
        let incompatible = |e: apache_avro::Error| CodecError::Incompatible {
            id,
            record: avsc::record_name(T::SCHEMA_FILE),
            message: e.to_string(),
        };
        let resolved = datum::resolve(value, &writer, T::schema()).map_err(incompatible)?;
        apache_avro::from_value::<T>(&resolved).map_err(incompatible)
    }

    /// Decodes any framed value to readable JSON (see [`to_json`]), with its schema id. For
    /// `techpotli tail`. Object keys come out sorted (serde_json's default map), not in field
    /// order.
    pub async fn decode_json(&self, bytes: &[u8]) -> Result<(u32, serde_json::Value), CodecError> {
        let (id, value) = self.decode_value(bytes).await?;
        Ok((id, to_json(&value)))
    }
}
