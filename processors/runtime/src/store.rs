//! In-memory key–value state stores, one per (store name, task) where a task is an input
//! partition number, with a write journal so the runtime can (a) undo a record's or a whole
//! batch's changes when it is dead-lettered or its transaction aborts and (b) find the keys to
//! write to the changelog at commit.
//!
//! Keys are kept sorted as bytes, so a processor can lay out composite keys (`cart | sku`,
//! `window end | key`) and read them back with [`KeyValueStore::range`] and
//! [`KeyValueStore::prefix`] — "all lines of cart X", "every window that closed".
//!
//! Memory bound: a store holds every live key of its partition in memory (a `BTreeMap` of byte
//! vectors) plus, during one batch, one journal entry per write. Size stores for the key space
//! of the partitions an instance owns; there is no spill to disk in this increment.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;

use crate::processor::ProcessError;

/// Stable binary encoding of a store value: the runtime frames the body with a leading version
/// byte ([`StoreCodec::VERSION`]) so a later version of a type can still read old state from
/// the changelog (`decode` receives the version it was written with).
///
/// This is deliberately distinct from `techpotli_schemas::Codec` (Avro over the registry):
/// state is private to one app, so a registry round trip per store read would be waste.
pub trait StoreCodec: Sized {
    /// Version written in front of every encoded value.
    const VERSION: u8;
    /// Appends the value's body (without the version byte) to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Decodes a body written with `version`.
    fn decode(version: u8, body: &[u8]) -> Result<Self, String>;
}

/// Frames `value` as `[version][body]`.
pub fn encode_value<V: StoreCodec>(value: &V) -> Vec<u8> {
    let mut out = vec![V::VERSION];
    value.encode(&mut out);
    out
}

/// Reads a `[version][body]` frame.
pub fn decode_value<V: StoreCodec>(bytes: &[u8]) -> Result<V, String> {
    let (&version, body) = bytes.split_first().ok_or("empty state value")?;
    V::decode(version, body)
}

fn fixed<const N: usize>(version: u8, body: &[u8], expected: u8) -> Result<[u8; N], String> {
    if version != expected {
        return Err(format!("unknown state version {version}"));
    }
    body.try_into()
        .map_err(|_| format!("expected {N} bytes, got {}", body.len()))
}

impl StoreCodec for u64 {
    const VERSION: u8 = 1;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
    fn decode(version: u8, body: &[u8]) -> Result<Self, String> {
        fixed::<8>(version, body, Self::VERSION).map(u64::from_be_bytes)
    }
}

impl StoreCodec for i64 {
    const VERSION: u8 = 1;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
    fn decode(version: u8, body: &[u8]) -> Result<Self, String> {
        fixed::<8>(version, body, Self::VERSION).map(i64::from_be_bytes)
    }
}

impl StoreCodec for Vec<u8> {
    const VERSION: u8 = 1;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn decode(version: u8, body: &[u8]) -> Result<Self, String> {
        if version != Self::VERSION {
            return Err(format!("unknown state version {version}"));
        }
        Ok(body.to_vec())
    }
}

impl StoreCodec for String {
    const VERSION: u8 = 1;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(version: u8, body: &[u8]) -> Result<Self, String> {
        let bytes = Vec::<u8>::decode(version, body)?;
        String::from_utf8(bytes).map_err(|e| e.to_string())
    }
}

/// Encodes a structured value as JSON behind the version byte: readable in a changelog dump and
/// evolvable (a field added later takes `#[serde(default)]`). For processors' `StoreCodec`
/// impls of their state types.
pub fn encode_json<T: serde::Serialize>(value: &T, out: &mut Vec<u8>) {
    serde_json::to_writer(out, value).expect("state types serialize to JSON");
}

/// Decodes a body written by [`encode_json`] with version `expected`.
pub fn decode_json<T: serde::de::DeserializeOwned>(
    version: u8,
    expected: u8,
    body: &[u8],
) -> Result<T, String> {
    if version != expected {
        return Err(format!("unknown state version {version}"));
    }
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// Implements [`StoreCodec`] for a serde type with the JSON body of [`encode_json`].
#[macro_export]
macro_rules! json_state {
    ($t:ty, $version:expr) => {
        impl $crate::store::StoreCodec for $t {
            const VERSION: u8 = $version;
            fn encode(&self, out: &mut Vec<u8>) {
                $crate::store::encode_json(self, out);
            }
            fn decode(version: u8, body: &[u8]) -> Result<Self, String> {
                $crate::store::decode_json(version, Self::VERSION, body)
            }
        }
    };
}

/// One partition of one named store.
#[derive(Debug, Default)]
pub struct KeyValueStore {
    name: String,
    data: BTreeMap<Vec<u8>, Vec<u8>>,
    /// (key, value before the write) for every write since the last commit, in order.
    journal: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Bumped whenever journal entries disappear (commit or rollback), so an observer of the
    /// journal (the timers' due index) knows to re-read it from the start.
    generation: u64,
}

impl KeyValueStore {
    pub(crate) fn new(name: &str, data: BTreeMap<Vec<u8>, Vec<u8>>) -> Self {
        Self {
            name: name.to_owned(),
            data,
            journal: Vec::new(),
            generation: 0,
        }
    }

    /// The store's name (as declared by the processor).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The value under `key`, decoded. A value that does not decode is corrupt state, which
    /// is fatal ([`ProcessError::State`]) rather than a dead-letter: the record is fine.
    pub fn get<V: StoreCodec>(&self, key: impl AsRef<[u8]>) -> Result<Option<V>, ProcessError> {
        self.get_raw(key.as_ref())
            .map(|bytes| {
                decode_value(bytes).map_err(|e| {
                    ProcessError::State(format!("store {}: corrupt value: {e}", self.name))
                })
            })
            .transpose()
    }

    /// Stores `value` under `key`.
    pub fn put<V: StoreCodec>(&mut self, key: impl AsRef<[u8]>, value: &V) {
        self.put_raw(key.as_ref().to_vec(), encode_value(value));
    }

    /// Removes `key` (a tombstone in the changelog). Returns whether it was present.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> bool {
        let key = key.as_ref().to_vec();
        let old = self.data.remove(&key);
        let present = old.is_some();
        self.journal.push((key, old));
        present
    }

    /// The raw (framed) bytes under `key`.
    pub fn get_raw(&self, key: &[u8]) -> Option<&[u8]> {
        self.data.get(key).map(Vec::as_slice)
    }

    /// Stores raw (already framed) bytes.
    pub fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        let old = self.data.insert(key.clone(), value);
        self.journal.push((key, old));
    }

    /// Writes without journaling (global tables, which no transaction rolls back).
    pub(crate) fn apply(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        match value {
            Some(v) => self.data.insert(key, v),
            None => self.data.remove(&key),
        };
    }

    /// Iterates over all (key, raw value) pairs in key order (bytes compared lexically).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.data.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// (key, raw value) pairs with `from <= key < to` in key order; `to: None` runs to the end.
    pub fn range<'s>(
        &'s self,
        from: &[u8],
        to: Option<&[u8]>,
    ) -> impl DoubleEndedIterator<Item = (&'s [u8], &'s [u8])> + use<'s> {
        let upper = to.map_or(Bound::Unbounded, |t| Bound::Excluded(t.to_vec()));
        self.data
            .range::<Vec<u8>, _>((Bound::Included(from.to_vec()), upper))
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// (key, raw value) pairs whose key starts with `prefix`, in key order.
    pub fn prefix<'s>(
        &'s self,
        prefix: &[u8],
    ) -> impl DoubleEndedIterator<Item = (&'s [u8], &'s [u8])> + use<'s> {
        self.range(prefix, prefix_end(prefix).as_deref())
    }

    /// The keys under `prefix`, owned (to delete or rewrite them while scanning).
    pub fn keys_with_prefix(&self, prefix: &[u8]) -> Vec<Vec<u8>> {
        self.prefix(prefix).map(|(k, _)| k.to_vec()).collect()
    }

    /// Journal length: a mark to roll back to.
    pub(crate) fn mark(&self) -> usize {
        self.journal.len()
    }

    /// Keys written since journal position `from` (with [`Self::generation`] unchanged).
    pub(crate) fn written_since(&self, from: usize) -> impl Iterator<Item = &[u8]> {
        self.journal
            .get(from..)
            .unwrap_or_default()
            .iter()
            .map(|(k, _)| k.as_slice())
    }

    /// (key, value before the write) of every uncommitted write, oldest first.
    pub(crate) fn overwritten(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.journal
            .iter()
            .map(|(k, old)| (k.as_slice(), old.as_deref()))
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Undoes every write after `mark`, newest first.
    pub(crate) fn rollback_to(&mut self, mark: usize) {
        if self.journal.len() > mark {
            self.generation += 1;
        }
        while self.journal.len() > mark {
            let (key, old) = self.journal.pop().expect("len > mark");
            match old {
                Some(v) => self.data.insert(key, v),
                None => self.data.remove(&key),
            };
        }
    }

    /// Keys written since the last commit with their current value (`None`: deleted), each
    /// once: what goes to the changelog.
    pub(crate) fn dirty(&self) -> Vec<(&[u8], Option<&[u8]>)> {
        let mut seen = HashSet::new();
        self.journal
            .iter()
            .filter(|(k, _)| seen.insert(k.as_slice()))
            .map(|(k, _)| (k.as_slice(), self.get_raw(k)))
            .collect()
    }

    /// The transaction committed: the journal is no longer needed.
    pub(crate) fn clear_journal(&mut self) {
        self.generation += 1;
        self.journal.clear();
    }
}

/// The smallest key greater than every key starting with `prefix` (`None`: no such key, the
/// prefix is all `0xff`).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_as_bytes_and_scan_by_range_and_prefix() {
        let mut s = KeyValueStore::new("s", BTreeMap::new());
        for k in ["cart1|b", "cart1|a", "cart2|a", "cart1", "cart1~"] {
            s.put(k, &1u64);
        }
        s.put([b'c', 0xff, 0xff].as_slice(), &1u64);
        s.put([b'c', 0xff].as_slice(), &1u64);
        let keys = |it: Vec<Vec<u8>>| -> Vec<String> {
            it.iter()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect()
        };
        assert_eq!(
            keys(s.keys_with_prefix(b"cart1|")),
            vec!["cart1|a", "cart1|b"]
        );
        let ranged: Vec<Vec<u8>> = s
            .range(b"cart1|b", Some(b"cart2|b"))
            .map(|(k, _)| k.to_vec())
            .collect();
        assert_eq!(keys(ranged), vec!["cart1|b", "cart1~", "cart2|a"]);
        let newest_first: Vec<Vec<u8>> =
            s.prefix(b"cart1").rev().map(|(k, _)| k.to_vec()).collect();
        assert_eq!(
            keys(newest_first),
            vec!["cart1~", "cart1|b", "cart1|a", "cart1"]
        );
        // A prefix of 0xff bytes scans to the end.
        assert_eq!(s.keys_with_prefix(&[b'c', 0xff]).len(), 2);
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
    }

    #[test]
    fn values_are_framed_with_a_version_byte() {
        assert_eq!(encode_value(&7u64), vec![1, 0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(decode_value::<u64>(&encode_value(&7u64)), Ok(7));
        assert_eq!(
            decode_value::<String>(&encode_value(&"hé".to_owned())),
            Ok("hé".into())
        );
        assert!(decode_value::<u64>(&[2, 0, 0, 0, 0, 0, 0, 0, 7]).is_err());
        assert!(decode_value::<u64>(&[]).is_err());
    }

    #[test]
    fn rollback_restores_previous_values_and_dirty_lists_each_key_once() {
        let mut s = KeyValueStore::new("s", BTreeMap::from([(b"a".to_vec(), encode_value(&1u64))]));
        s.put("a", &2u64);
        let mark = s.mark();
        s.put("b", &3u64);
        s.delete("a");
        s.put("b", &4u64);
        assert_eq!(s.dirty().len(), 2);
        assert_eq!(s.get::<u64>("a").unwrap(), None);
        s.rollback_to(mark);
        assert_eq!(s.get::<u64>("a").unwrap(), Some(2));
        assert_eq!(s.get::<u64>("b").unwrap(), None);
        s.rollback_to(0);
        assert_eq!(s.get::<u64>("a").unwrap(), Some(1));
        assert!(s.dirty().iter().all(|(k, _)| *k == b"a"));
    }
}
