//! Reference processors of the runtime's own tests, example binary and benchmark:
//! - [`RunningTotal`] keeps a per-key sum in a store and emits every new sum, so any lost or
//!   duplicated input shows up as a gap or a repeat in the output sequence of a key;
//! - [`PassThrough`] forwards every record unchanged and remembers each key's last value: the
//!   runtime benchmark's workload (a copy with state, as a real processor has);
//! - [`DelayedEcho`] schedules a timer per key and emits when it fires, so a timer fired twice
//!   (or never) shows up as a duplicate (or missing) output;
//! - [`JoinDemo`] joins a stream with a table (co-partitioned, global, or through a
//!   repartition topic) and numbers each key's outputs, so a lost or repeated join shows;
//! - [`WindowedCount`] counts records per key in tumbling event-time windows and emits one
//!   final count per window and key.

use crate::FiredTimer;
use crate::processor::{Context, InputRecord, ProcessError, Processor, TableSpec};
use crate::window_op::WindowOp;
use crate::windows::WindowSpec;

/// The store holding the totals.
pub const TOTALS: &str = "totals";

/// Sums big-endian `u64` values per key into store [`TOTALS`] and emits each new total
/// (big-endian `u64`) under the same key to `output`. A value that is not 8 bytes or a record
/// without a key breaks its invariant and is dead-lettered.
#[derive(Debug, Clone)]
pub struct RunningTotal {
    pub output: String,
}

impl Processor for RunningTotal {
    fn stores(&self) -> Vec<String> {
        vec![TOTALS.to_owned()]
    }

    fn process(&mut self, record: InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let key = record
            .key
            .ok_or_else(|| ProcessError::Invariant("record has no key".into()))?;
        let value = record.value.unwrap_or_default();
        let add: [u8; 8] = value.as_slice().try_into().map_err(|_| {
            ProcessError::Invariant(format!("value must be 8 bytes, got {}", value.len()))
        })?;
        let store = ctx.store(TOTALS)?;
        let total = store.get::<u64>(&key)?.unwrap_or(0) + u64::from_be_bytes(add);
        store.put(&key, &total);
        ctx.emit(
            &self.output,
            Some(&key),
            Some(&total.to_be_bytes()),
            Vec::new(),
        );
        Ok(())
    }
}

/// The store [`PassThrough`] keeps.
pub const LAST: &str = "last";

/// Emits each record's key and value unchanged to `output` and keeps the last value per key in
/// store [`LAST`].
#[derive(Debug, Clone)]
pub struct PassThrough {
    pub output: String,
}

impl Processor for PassThrough {
    fn stores(&self) -> Vec<String> {
        vec![LAST.to_owned()]
    }

    fn process(&mut self, record: InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let key = record.key.unwrap_or_default();
        let value = record.value.unwrap_or_default();
        ctx.store(LAST)?.put(&key, &value);
        ctx.emit(&self.output, Some(&key), Some(&value), Vec::new());
        Ok(())
    }
}

/// For each record (key `k`, value a big-endian `u64` delay in ms) schedules timer `k`
/// `delay` after the wall clock (or, with `stream_time`, after the record's timestamp, fired
/// by stream time); a later record for `k` moves the timer. When timer `k` fires it emits
/// `(k, "fired")` to `output`.
#[derive(Debug, Clone)]
pub struct DelayedEcho {
    pub output: String,
    pub stream_time: bool,
}

impl Processor for DelayedEcho {
    fn stores(&self) -> Vec<String> {
        Vec::new()
    }

    fn process(&mut self, record: InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let key = record
            .key
            .ok_or_else(|| ProcessError::Invariant("record has no key".into()))?;
        let value = record.value.unwrap_or_default();
        let delay: [u8; 8] = value.as_slice().try_into().map_err(|_| {
            ProcessError::Invariant(format!("value must be 8 bytes, got {}", value.len()))
        })?;
        let delay = i64::try_from(u64::from_be_bytes(delay))
            .map_err(|_| ProcessError::Invariant("delay out of range".into()))?;
        if self.stream_time {
            let ts = record.meta.timestamp.unwrap_or_default();
            ctx.schedule_stream(&key, ts.saturating_add(delay))
        } else {
            let now = ctx.now_ms();
            ctx.schedule(&key, now.saturating_add(delay))
        }
    }

    fn on_timer(&mut self, timer: FiredTimer, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        ctx.emit(&self.output, Some(&timer.key), Some(b"fired"), Vec::new());
        Ok(())
    }
}

/// How [`JoinDemo`] reaches its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinMode {
    /// The table topic is co-partitioned with the input (same keys).
    Table,
    /// The table topic is read whole by every instance.
    Global,
    /// The input is keyed by something else (cart) and carries the table key (SKU) as its
    /// value: re-keyed through repartition [`BY_SKU`] first.
    Repartition,
}

/// The store of [`JoinDemo`]'s per-key output numbers.
pub const COUNTS: &str = "counts";
/// The repartition of [`JoinMode::Repartition`].
pub const BY_SKU: &str = "by-sku";
/// The table name [`JoinDemo`] reads.
pub const PRICES: &str = "prices";

/// Joins each input record with table [`PRICES`] (UTF-8 values) and emits, under the join key,
/// `"<n>|<value>|<price or ->"` where `n` numbers that key's outputs from 1.
#[derive(Debug, Clone)]
pub struct JoinDemo {
    pub mode: JoinMode,
    pub table_topic: String,
    pub output: String,
}

impl Processor for JoinDemo {
    fn stores(&self) -> Vec<String> {
        vec![COUNTS.to_owned()]
    }

    fn tables(&self) -> Vec<TableSpec> {
        match self.mode {
            JoinMode::Global => Vec::new(),
            _ => vec![TableSpec::new(PRICES, &self.table_topic)],
        }
    }

    fn global_tables(&self) -> Vec<TableSpec> {
        match self.mode {
            JoinMode::Global => vec![TableSpec::new(PRICES, &self.table_topic)],
            _ => Vec::new(),
        }
    }

    fn repartitions(&self) -> Vec<String> {
        match self.mode {
            JoinMode::Repartition => vec![BY_SKU.to_owned()],
            _ => Vec::new(),
        }
    }

    fn process(&mut self, record: InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let key = record
            .key
            .ok_or_else(|| ProcessError::Invariant("record has no key".into()))?;
        let value = record.value.unwrap_or_default();
        let rekeyed = ctx.repartition_topic(BY_SKU);
        if self.mode == JoinMode::Repartition && record.meta.topic != rekeyed {
            // Input: cart -> sku. Re-key by SKU; the join happens where the SKU's price lives.
            ctx.repartition(BY_SKU, &value, Some(&key));
            return Ok(());
        }
        let price = ctx.table(PRICES)?.get_raw(&key).map_or_else(
            || "-".to_owned(),
            |p| String::from_utf8_lossy(p).into_owned(),
        );
        let store = ctx.store(COUNTS)?;
        let n = store.get::<u64>(&key)?.unwrap_or(0) + 1;
        store.put(&key, &n);
        let out = format!("{n}|{}|{price}", String::from_utf8_lossy(&value));
        ctx.emit(&self.output, Some(&key), Some(out.as_bytes()), Vec::new());
        Ok(())
    }
}

/// The store of [`WindowedCount`]'s windows.
pub const WINDOWS: &str = "windows";

/// Counts records per key in tumbling event-time windows of `window_ms` with `grace_ms` of
/// allowed lateness; emits one final count per window and key to `output` under the key
/// `"<key>@<window start>"` (value: the count as a big-endian `u64`). Late records go to
/// `<input>.late`.
#[derive(Debug, Clone)]
pub struct WindowedCount {
    pub output: String,
    pub op: WindowOp,
}

impl WindowedCount {
    pub fn new(output: &str, window_ms: i64, grace_ms: i64) -> Result<Self, String> {
        Ok(Self {
            output: output.to_owned(),
            op: WindowOp::new(WINDOWS, WindowSpec::Tumbling { size_ms: window_ms })?
                .grace(grace_ms),
        })
    }
}

impl Processor for WindowedCount {
    fn stores(&self) -> Vec<String> {
        vec![WINDOWS.to_owned()]
    }

    fn late_topics(&self) -> bool {
        true
    }

    fn process(&mut self, record: InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let key = record
            .key
            .clone()
            .ok_or_else(|| ProcessError::Invariant("record has no key".into()))?;
        let ts = record
            .meta
            .timestamp
            .ok_or_else(|| ProcessError::Invariant("record has no timestamp".into()))?;
        for r in self.op.add(ctx, &record, &key, ts, 1u64)? {
            let out_key = format!("{}@{}", String::from_utf8_lossy(&r.key), r.window.start);
            ctx.emit(
                &self.output,
                Some(out_key.as_bytes()),
                Some(&r.value.to_be_bytes()),
                Vec::new(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::{RecordMetadata, test_stores};

    fn record(key: &str, value: &[u8]) -> InputRecord {
        InputRecord {
            key: Some(key.as_bytes().to_vec()),
            value: Some(value.to_vec()),
            meta: RecordMetadata {
                topic: "in".into(),
                partition: 0,
                offset: 0,
                timestamp: None,
                headers: Vec::new(),
            },
        }
    }

    #[test]
    fn sums_per_key_and_rejects_bad_values() {
        let mut p = RunningTotal {
            output: "out".into(),
        };
        let mut stores = test_stores(&[TOTALS]);
        let mut emits = Vec::new();
        for (k, v) in [("a", 2u64), ("b", 5), ("a", 3)] {
            let r = record(k, &v.to_be_bytes());
            let meta = r.meta.clone();
            p.process(r, &mut Context::for_test(&mut stores, &mut emits, &meta))
                .unwrap();
        }
        let totals: Vec<u64> = emits
            .iter()
            .map(|e| u64::from_be_bytes(e.value.clone().unwrap().try_into().unwrap()))
            .collect();
        assert_eq!(totals, vec![2, 5, 5]);
        let r = record("a", b"bad");
        let meta = r.meta.clone();
        let err = p
            .process(r, &mut Context::for_test(&mut stores, &mut emits, &meta))
            .unwrap_err();
        assert_eq!(err.dlq_class(), Some("invariant"));
    }

    #[test]
    fn delayed_echo_schedules_and_moves_one_timer_per_key() {
        let mut p = DelayedEcho {
            output: "out".into(),
            stream_time: false,
        };
        let mut stores = test_stores(&[]);
        let mut emits = Vec::new();
        for delay in [500u64, 900] {
            let r = record("a", &delay.to_be_bytes());
            let meta = r.meta.clone();
            let mut ctx = Context::for_test(&mut stores, &mut emits, &meta).with_now(1_000);
            p.process(r, &mut ctx).unwrap();
        }
        let r = record("x", b"");
        let meta = r.meta.clone();
        let mut ctx = Context::for_test(&mut stores, &mut emits, &meta).with_now(1_000);
        assert_eq!(ctx.timer(b"a").unwrap().map(|t| t.at), Some(1_900));
        let fired = FiredTimer {
            key: b"a".to_vec(),
            timer: ctx.timer(b"a").unwrap().unwrap(),
        };
        p.on_timer(fired, &mut ctx).unwrap();
        assert_eq!(emits.len(), 1);
        assert_eq!(emits[0].value.as_deref(), Some(&b"fired"[..]));
    }
}
