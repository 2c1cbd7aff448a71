//! Decoding a consumed value for a sink: an undecodable record becomes a [`Reject`] carrying the
//! codec's DLQ class, while an unreachable registry is a transient failure (retry, never
//! dead-letter good records).

use serde::de::DeserializeOwned;
use techpotli_schemas::{AvroRecord, Codec};

use super::{Reject, SinkError};
use crate::InputRecord;

/// Decodes the value of `batch[index]` into `T`. `Ok(Err(reject))` for a record to
/// dead-letter; `Err` for a transient registry failure.
pub async fn decode<T: AvroRecord + DeserializeOwned>(
    codec: &Codec,
    batch: &[InputRecord],
    index: usize,
) -> Result<Result<T, Reject>, SinkError> {
    let Some(bytes) = batch[index].value.as_deref() else {
        return Ok(Err(Reject {
            index,
            class: "tombstone".into(),
            reason: "a null value where a record is expected".into(),
        }));
    };
    match codec.decode::<T>(bytes).await {
        Ok(v) => Ok(Ok(v)),
        Err(e) if e.is_transient() => Err(SinkError::Transient(e.to_string())),
        Err(e) => Ok(Err(Reject {
            index,
            class: e.class().into(),
            reason: e.to_string(),
        })),
    }
}
