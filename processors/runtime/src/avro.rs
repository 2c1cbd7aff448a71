//! Typed Avro values for processors: the schemas crate's Confluent-framed [`Codec`] driven from
//! the runtime's (blocking) loop thread. Writer schemas and ids are cached by the codec, so
//! only the first record of each schema id costs a registry round trip.

use serde::Serialize;
use serde::de::DeserializeOwned;
use techpotli_schemas::{AvroRecord, Codec, CodecError};

/// A codec with its own single-threaded async runtime (the loop thread is not async).
pub struct AvroIo {
    codec: Codec,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for AvroIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvroIo")
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl AvroIo {
    /// A codec for the registry at `url`. Encoding only uses schemas already registered
    /// (`techpotli schemas register` / `techpotli dev` register them), like a production
    /// producer.
    pub fn new(url: &str) -> std::io::Result<Self> {
        Ok(Self {
            codec: Codec::new(url),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        })
    }

    /// Decodes a framed value into `T` (resolved from its writer schema).
    pub fn decode<T: AvroRecord + DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        self.rt.block_on(self.codec.decode(bytes))
    }

    /// Frames `value` for `topic`.
    pub fn encode<T: AvroRecord + Serialize>(
        &self,
        topic: &str,
        value: &T,
    ) -> Result<Vec<u8>, CodecError> {
        self.rt.block_on(self.codec.encode(topic, value))
    }
}
