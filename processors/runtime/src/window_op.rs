//! A windowed aggregation kept in one of the processor's stores, so it is journaled, rolled
//! back, changelogged and restored exactly like any other state: a crash or a rebalance neither
//! loses nor repeats a window's final result.
//!
//! [`WindowOp::add`] folds a record's contribution into every open window it falls in, sends
//! it to `<input>.late` (with the windows it missed in headers) when some are already closed,
//! advances the task's watermark and returns the windows that closed: **one final result per
//! window and key**, plus, when asked for, early (non-final) updates of the windows it touched.
//! [`WindowOp::advance`] closes windows when only idleness moved the watermark (call it from a
//! wall-clock timer). Closed windows are deleted from the store when their result is returned.
//!
//! Store layout (keys sort as bytes; integers are big-endian with the sign bit flipped):
//! - `w | close_at | start | end | key` → aggregate: open windows, in the order they close;
//! - `k | len(key) | key | start | end` → empty: a key's sessions, to find those a record joins;
//! - `i | input topic` → largest event time seen on that input (the watermark's inputs).

use std::collections::{BTreeMap, HashMap};

use crate::processor::{Context, Headers, InputRecord, ProcessError};
use crate::store::{KeyValueStore, StoreCodec, decode_value, encode_value, prefix_end};
use crate::windows::{self, InputTime, Window, WindowSpec};

/// Header on a `.late` record: the start of a window it missed (one header per window).
pub const LATE_WINDOW_START: &str = "window-start";
/// Header on a `.late` record: the end of a window it missed (paired with the start).
pub const LATE_WINDOW_END: &str = "window-end";
/// Header on a `.late` record: the watermark when it arrived.
pub const LATE_WATERMARK: &str = "watermark";
/// Header on a `.late` record: the window store (operator) that refused it.
pub const LATE_OPERATOR: &str = "window-store";

const OPEN: u8 = b'w';
const SESSIONS: u8 = b'k';
const INPUTS: u8 = b'i';

/// A partial aggregate that windows fold records into; `merge` must be associative (sessions
/// merge whole aggregates when a record bridges them).
pub trait Aggregate: StoreCodec + Clone {
    fn merge(&mut self, other: Self);
}

impl Aggregate for u64 {
    fn merge(&mut self, other: Self) {
        *self = self.saturating_add(other);
    }
}

impl Aggregate for i64 {
    fn merge(&mut self, other: Self) {
        *self = self.saturating_add(other);
    }
}

/// A window's aggregate for one key: final when the window closed, else an early update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowResult<A> {
    pub key: Vec<u8>,
    pub window: Window,
    pub value: A,
    pub is_final: bool,
}

/// One windowed aggregation over one store.
#[derive(Debug, Clone)]
pub struct WindowOp {
    store: String,
    spec: WindowSpec,
    grace_ms: i64,
    idle_timeout_ms: i64,
    early_updates: bool,
    /// Wall clock at which each (task, input) last delivered a record; in memory only (after
    /// a restart every input counts as active until it idles again).
    last_seen: HashMap<(i32, String), i64>,
}

fn sortable(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

fn unsortable(b: &[u8]) -> i64 {
    let raw: [u8; 8] = b.try_into().expect("8 bytes");
    (u64::from_be_bytes(raw) ^ (1 << 63)) as i64
}

fn open_key(close_at: i64, w: Window, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(25 + key.len());
    k.push(OPEN);
    k.extend_from_slice(&sortable(close_at));
    k.extend_from_slice(&sortable(w.start));
    k.extend_from_slice(&sortable(w.end));
    k.extend_from_slice(key);
    k
}

/// `(window, key)` of an `OPEN` store key.
fn parse_open(k: &[u8]) -> Option<(Window, Vec<u8>)> {
    (k.len() >= 25 && k[0] == OPEN).then(|| {
        (
            Window {
                start: unsortable(&k[9..17]),
                end: unsortable(&k[17..25]),
            },
            k[25..].to_vec(),
        )
    })
}

fn session_prefix(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(5 + key.len() + 16);
    k.push(SESSIONS);
    k.extend_from_slice(&(key.len() as u32).to_be_bytes());
    k.extend_from_slice(key);
    k
}

fn session_key(key: &[u8], w: Window) -> Vec<u8> {
    let mut k = session_prefix(key);
    k.extend_from_slice(&sortable(w.start));
    k.extend_from_slice(&sortable(w.end));
    k
}

fn input_key(topic: &str) -> Vec<u8> {
    let mut k = vec![INPUTS];
    k.extend_from_slice(topic.as_bytes());
    k
}

fn corrupt(store: &str, what: &str) -> ProcessError {
    ProcessError::State(format!("window store {store}: {what}"))
}

impl WindowOp {
    /// An operator over store `store` (which the processor must list in `stores()`), with no
    /// grace, a 30 s idle timeout and final results only.
    pub fn new(store: &str, spec: WindowSpec) -> Result<Self, String> {
        spec.validate()?;
        Ok(Self {
            store: store.to_owned(),
            spec,
            grace_ms: 0,
            idle_timeout_ms: 30_000,
            early_updates: false,
            last_seen: HashMap::new(),
        })
    }

    /// How far behind the largest event time a record may be and still count (allowed
    /// lateness): the watermark is the event time minus this.
    #[must_use]
    pub fn grace(mut self, grace_ms: i64) -> Self {
        self.grace_ms = grace_ms.max(0);
        self
    }

    /// After this long without a record (wall clock), an input stops holding the watermark.
    #[must_use]
    pub fn idle_timeout(mut self, idle_timeout_ms: i64) -> Self {
        self.idle_timeout_ms = idle_timeout_ms.max(1);
        self
    }

    /// Also return a (non-final) update of every window a record changed.
    #[must_use]
    pub fn early_updates(mut self, on: bool) -> Self {
        self.early_updates = on;
        self
    }

    pub fn spec(&self) -> WindowSpec {
        self.spec
    }

    pub fn store_name(&self) -> &str {
        &self.store
    }

    /// The input times of the current task, with their last-seen wall clock.
    fn inputs(
        &self,
        store: &KeyValueStore,
        partition: i32,
        now: i64,
    ) -> BTreeMap<String, InputTime> {
        store
            .prefix(&[INPUTS])
            .filter_map(|(k, v)| {
                let topic = String::from_utf8_lossy(&k[1..]).into_owned();
                let max_event_ms = decode_value::<i64>(v).ok()?;
                let last_seen_ms = self
                    .last_seen
                    .get(&(partition, topic.clone()))
                    .copied()
                    .unwrap_or(now);
                Some((
                    topic,
                    InputTime {
                        max_event_ms,
                        last_seen_ms,
                    },
                ))
            })
            .collect()
    }

    /// The current task's watermark (`i64::MIN` before any record).
    pub fn watermark(&self, ctx: &mut Context<'_>) -> Result<i64, ProcessError> {
        let (partition, now) = (ctx.metadata().partition, ctx.now_ms());
        let store = ctx.store(&self.store)?;
        let inputs = self.inputs(store, partition, now);
        Ok(
            windows::watermark(&inputs, now, self.idle_timeout_ms, self.grace_ms)
                .unwrap_or(i64::MIN),
        )
    }

    /// Folds `value` (this record's contribution) into the windows of `key` at event time
    /// `ts`; `record` is the input (its topic drives the watermark, its bytes go to `.late`
    /// when a window it belongs to has closed). Returns the windows that closed, and early
    /// updates when enabled.
    pub fn add<A: Aggregate>(
        &mut self,
        ctx: &mut Context<'_>,
        record: &InputRecord,
        key: &[u8],
        ts: i64,
        value: A,
    ) -> Result<Vec<WindowResult<A>>, ProcessError> {
        let wm = self.watermark(ctx)?;
        let store = ctx.store(&self.store)?;
        let (touched, missed) = match self.spec {
            WindowSpec::Session { gap_ms } => {
                self.add_session(store, key, ts, value, gap_ms, wm)?
            }
            _ => self.add_timed(store, key, ts, &value, wm)?,
        };
        if !missed.is_empty() {
            self.send_late(ctx, record, &missed, wm);
        }
        let (partition, now) = (record.meta.partition, ctx.now_ms());
        self.last_seen
            .insert((partition, record.meta.topic.clone()), now);
        let store = ctx.store(&self.store)?;
        let input = input_key(&record.meta.topic);
        if store.get::<i64>(&input)?.is_none_or(|seen| ts > seen) {
            store.put(&input, &ts);
        }
        let mut out = Vec::new();
        if self.early_updates {
            for (w, agg) in touched {
                out.push(WindowResult {
                    key: key.to_vec(),
                    window: w,
                    value: agg,
                    is_final: false,
                });
            }
        }
        out.extend(self.advance(ctx)?);
        Ok(out)
    }

    /// Closes every window the current watermark has passed (idleness included): their final
    /// results, oldest first, and they leave the store.
    pub fn advance<A: Aggregate>(
        &mut self,
        ctx: &mut Context<'_>,
    ) -> Result<Vec<WindowResult<A>>, ProcessError> {
        let wm = self.watermark(ctx)?;
        let now = ctx.now_ms();
        if wm > i64::MIN {
            metrics::gauge!(crate::metrics::WATERMARK_LAG, "store" => self.store.clone())
                .set((now - wm) as f64);
        }
        let store = ctx.store(&self.store)?;
        let upto = open_key(
            wm.saturating_add(1),
            Window {
                start: i64::MIN,
                end: i64::MIN,
            },
            &[],
        );
        let closed: Vec<(Vec<u8>, Vec<u8>)> = store
            .range(&[OPEN], Some(&upto))
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        let mut out = Vec::with_capacity(closed.len());
        for (k, v) in closed {
            let (window, key) =
                parse_open(&k).ok_or_else(|| corrupt(&self.store, "bad window key"))?;
            let value = decode_value::<A>(&v).map_err(|e| corrupt(&self.store, &e))?;
            store.delete(&k);
            if matches!(self.spec, WindowSpec::Session { .. }) {
                store.delete(session_key(&key, window));
            }
            out.push(WindowResult {
                key,
                window,
                value,
                is_final: true,
            });
        }
        Ok(out)
    }

    /// Tumbling and hopping windows: fold into each open window, collect the closed ones.
    #[allow(clippy::type_complexity)]
    fn add_timed<A: Aggregate>(
        &self,
        store: &mut KeyValueStore,
        key: &[u8],
        ts: i64,
        value: &A,
        wm: i64,
    ) -> Result<(Vec<(Window, A)>, Vec<Window>), ProcessError> {
        let (mut touched, mut missed) = (Vec::new(), Vec::new());
        for w in self.spec.windows_for(ts) {
            if self.spec.is_closed(w, wm) {
                missed.push(w);
                continue;
            }
            let k = open_key(self.spec.close_at(w), w, key);
            let agg = match store.get::<A>(&k)? {
                Some(mut agg) => {
                    agg.merge(value.clone());
                    agg
                }
                None => value.clone(),
            };
            store.put(&k, &agg);
            touched.push((w, agg));
        }
        Ok((touched, missed))
    }

    /// Sessions: merge with every session of `key` the record joins, unless the result would
    /// already be closed (then the record is late for it).
    #[allow(clippy::type_complexity)]
    fn add_session<A: Aggregate>(
        &self,
        store: &mut KeyValueStore,
        key: &[u8],
        ts: i64,
        value: A,
        gap_ms: i64,
        wm: i64,
    ) -> Result<(Vec<(Window, A)>, Vec<Window>), ProcessError> {
        let prefix = session_prefix(key);
        let joined: Vec<Window> = store
            .prefix(&prefix)
            .filter_map(|(k, _)| {
                let rest = &k[prefix.len()..];
                (rest.len() == 16).then(|| Window {
                    start: unsortable(&rest[..8]),
                    end: unsortable(&rest[8..]),
                })
            })
            .filter(|s| windows::joins_session(*s, ts, gap_ms))
            .collect();
        let merged = windows::merged_session(&joined, ts);
        if self.spec.is_closed(merged, wm) {
            return Ok((Vec::new(), vec![merged]));
        }
        let mut agg = value;
        for s in &joined {
            let k = open_key(self.spec.close_at(*s), *s, key);
            let part = store
                .get::<A>(&k)?
                .ok_or_else(|| corrupt(&self.store, "session without aggregate"))?;
            agg.merge(part);
            store.delete(&k);
            store.delete(session_key(key, *s));
        }
        store.put(open_key(self.spec.close_at(merged), merged, key), &agg);
        store.put_raw(session_key(key, merged), encode_value(&Vec::<u8>::new()));
        Ok((vec![(merged, agg)], Vec::new()))
    }

    /// Sends `record` as it came (bytes, headers, timestamp) to `<topic>.late`, naming the
    /// windows it missed.
    fn send_late(&self, ctx: &mut Context<'_>, record: &InputRecord, missed: &[Window], wm: i64) {
        let mut headers: Headers = record.meta.headers.clone();
        for w in missed {
            headers.push((LATE_WINDOW_START.into(), w.start.to_string().into_bytes()));
            headers.push((LATE_WINDOW_END.into(), w.end.to_string().into_bytes()));
        }
        headers.push((LATE_WATERMARK.into(), wm.to_string().into_bytes()));
        headers.push((LATE_OPERATOR.into(), self.store.clone().into_bytes()));
        let topic = crate::changelog::late_topic(&record.meta.topic);
        ctx.emit_at(
            &topic,
            record.key.as_deref(),
            record.value.as_deref(),
            headers,
            record.meta.timestamp,
        );
        metrics::counter!(crate::metrics::LATE, "store" => self.store.clone(), "topic" => record.meta.topic.clone())
            .increment(1);
        tracing::debug!(store = %self.store, topic = %record.meta.topic, watermark = wm, windows = missed.len(), "late record");
    }
}

/// The end of the key space of open windows (for callers scanning a window store by hand).
pub fn open_windows_end() -> Option<Vec<u8>> {
    prefix_end(&[OPEN])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::{OutputRecord, RecordMetadata, header, test_stores};

    const STORE: &str = "counts";

    struct Harness {
        stores: BTreeMap<String, KeyValueStore>,
        emits: Vec<OutputRecord>,
        finals: Vec<(String, Window, u64)>,
        early: Vec<(String, Window, u64)>,
    }

    impl Harness {
        fn new() -> Self {
            Self {
                stores: test_stores(&[STORE]),
                emits: Vec::new(),
                finals: Vec::new(),
                early: Vec::new(),
            }
        }

        fn feed(&mut self, op: &mut WindowOp, topic: &str, key: &str, ts: i64, now: i64) {
            let record = InputRecord {
                key: Some(key.as_bytes().to_vec()),
                value: Some(b"v".to_vec()),
                meta: RecordMetadata {
                    topic: topic.into(),
                    partition: 0,
                    offset: 0,
                    timestamp: Some(ts),
                    headers: Vec::new(),
                },
            };
            let meta = record.meta.clone();
            let mut ctx = Context::for_test(&mut self.stores, &mut self.emits, &meta).with_now(now);
            let out = op.add(&mut ctx, &record, key.as_bytes(), ts, 1u64).unwrap();
            self.collect(out);
        }

        fn tick(&mut self, op: &mut WindowOp, now: i64) {
            let meta = RecordMetadata {
                topic: "timer".into(),
                partition: 0,
                offset: -1,
                timestamp: None,
                headers: Vec::new(),
            };
            let mut ctx = Context::for_test(&mut self.stores, &mut self.emits, &meta).with_now(now);
            let out = op.advance::<u64>(&mut ctx).unwrap();
            self.collect(out);
        }

        fn collect(&mut self, out: Vec<WindowResult<u64>>) {
            for r in out {
                let entry = (String::from_utf8(r.key).unwrap(), r.window, r.value);
                if r.is_final {
                    self.finals.push(entry);
                } else {
                    self.early.push(entry);
                }
            }
        }
    }

    fn w(start: i64, end: i64) -> Window {
        Window { start, end }
    }

    #[test]
    fn tumbling_counts_close_once_with_grace_and_late_records_go_to_late() {
        let mut op = WindowOp::new(STORE, WindowSpec::Tumbling { size_ms: 60 })
            .unwrap()
            .grace(30);
        let mut h = Harness::new();
        for (key, ts) in [
            ("a", 10),
            ("b", 20),
            ("a", 70),
            ("a", 50),
            ("a", 95),
            ("a", 55),
        ] {
            h.feed(&mut op, "in", key, ts, 0);
        }
        // Watermark 95 - 30 = 65 closed [0, 60): a has 10 and 50 (55 came late), b has 20.
        assert_eq!(
            h.finals,
            vec![("a".into(), w(0, 60), 2), ("b".into(), w(0, 60), 1)]
        );
        assert_eq!(h.emits.len(), 1);
        let late = &h.emits[0];
        assert_eq!(late.topic, "in.late");
        assert_eq!(header(&late.headers, LATE_WINDOW_START), Some(&b"0"[..]));
        assert_eq!(header(&late.headers, LATE_WINDOW_END), Some(&b"60"[..]));
        assert_eq!(header(&late.headers, LATE_WATERMARK), Some(&b"65"[..]));
        // A record far ahead closes [60, 120) with 70 and 95: one final result each.
        h.feed(&mut op, "in", "b", 500, 0);
        assert_eq!(h.finals.len(), 3);
        assert_eq!(h.finals[2], ("a".into(), w(60, 120), 2));
        assert!(h.early.is_empty());
        // Closed windows left the store; the open one and the input time remain.
        let open: Vec<_> = h.stores[STORE].prefix(&[OPEN]).collect();
        assert_eq!(open.len(), 1);
    }

    #[test]
    fn hopping_windows_count_a_record_in_each_and_early_updates_are_not_final() {
        let mut op = WindowOp::new(
            STORE,
            WindowSpec::Hopping {
                size_ms: 100,
                advance_ms: 50,
            },
        )
        .unwrap()
        .early_updates(true);
        let mut h = Harness::new();
        h.feed(&mut op, "in", "a", 60, 0);
        assert_eq!(
            h.early,
            vec![("a".into(), w(0, 100), 1), ("a".into(), w(50, 150), 1)]
        );
        h.feed(&mut op, "in", "a", 120, 0);
        // Watermark 120: [0, 100) closed with 1; [50, 150) now 2, [100, 200) 1.
        assert_eq!(h.finals, vec![("a".into(), w(0, 100), 1)]);
        assert_eq!(h.early.len(), 4);
        h.feed(&mut op, "in", "a", 1_000, 0);
        assert_eq!(
            h.finals[1..],
            [("a".into(), w(50, 150), 2), ("a".into(), w(100, 200), 1)]
        );
    }

    #[test]
    fn sessions_merge_across_a_bridging_record_and_close_after_the_gap() {
        let mut op = WindowOp::new(STORE, WindowSpec::Session { gap_ms: 10 })
            .unwrap()
            .grace(20);
        let mut h = Harness::new();
        for ts in [0, 5, 24, 14] {
            h.feed(&mut op, "in", "cart", ts, 0);
        }
        // 14 bridges [0, 5] and [24, 24]: one session [0, 24] with 4 records, still open.
        assert!(h.finals.is_empty());
        assert_eq!(h.stores[STORE].prefix(&[SESSIONS]).count(), 1);
        // Watermark 60 - 20 = 40 passes 24 + 10: the session closes, once.
        h.feed(&mut op, "in", "other", 60, 0);
        assert_eq!(h.finals, vec![("cart".into(), w(0, 24), 4)]);
        assert_eq!(
            h.stores[STORE].prefix(&[SESSIONS]).count(),
            1,
            "only other's remains"
        );
        // A record that could only belong to the closed session is late and reopens nothing.
        h.feed(&mut op, "in", "cart", 25, 0);
        assert_eq!(h.emits.len(), 1);
        assert_eq!(h.finals.len(), 1);
        assert_eq!(h.stores[STORE].prefix(&[SESSIONS]).count(), 1);
    }

    #[test]
    fn an_idle_input_stops_holding_the_watermark_back() {
        let mut op = WindowOp::new(STORE, WindowSpec::Tumbling { size_ms: 60 })
            .unwrap()
            .idle_timeout(1_000);
        let mut h = Harness::new();
        h.feed(&mut op, "slow", "a", 10, 0);
        h.feed(&mut op, "fast", "a", 20, 0);
        h.feed(&mut op, "fast", "a", 200, 500);
        // slow (event time 10) still active: nothing closes.
        assert!(h.finals.is_empty());
        // Past slow's idle timeout (fast delivered at 500), a timer tick closes what fast
        // alone allows.
        h.tick(&mut op, 1_200);
        assert_eq!(h.finals, vec![("a".into(), w(0, 60), 2)]);
    }

    #[test]
    fn keys_round_trip_and_order_by_close_time() {
        let k = open_key(-5, w(-65, -5), b"key");
        assert_eq!(parse_open(&k), Some((w(-65, -5), b"key".to_vec())));
        assert!(open_key(-5, w(0, 0), b"") < open_key(3, w(0, 0), b""));
        assert!(open_key(i64::MAX, w(0, 0), b"zzz") < open_windows_end().unwrap());
    }
}
