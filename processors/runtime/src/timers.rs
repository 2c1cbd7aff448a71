//! Durable timers, kept in the reserved store [`TIMERS`] of each task so they are journaled,
//! rolled back and changelogged exactly like processor state: a timer scheduled by a record
//! commits with that record's offset, and a fired timer's deletion commits with what it
//! emitted, so after a crash it fires again only if its firing did not commit.
//!
//! Store layout: `t<timer key>` → [`Timer`]; `s` → the task's stream time (largest record
//! timestamp seen, big-endian `i64`).
//!
//! Finding due timers must not cost a scan of every timer on every poll (the saga keeps one
//! retirement timer per order for days): a [`DueIndex`] per task orders hints `(at, key)` by
//! due time. It learns new timers from the store's write journal, so nothing that writes the
//! store needs to know about it, and it tolerates stale hints (cancelled or rescheduled
//! timers), checking each against the store and pruning it only once the store holds no
//! uncommitted writes — a rollback can then never resurrect a timer whose hint is gone.

use std::collections::BTreeSet;

use crate::processor::ProcessError;
use crate::store::{KeyValueStore, StoreCodec};

/// Name of the reserved timer store (its changelog is `<app>._timers-changelog`).
pub const TIMERS: &str = "_timers";

const TIMER_PREFIX: u8 = b't';
const STREAM_TIME_KEY: &[u8] = b"s";

/// What drives a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// Fires when the wall clock passes `at` (timeouts).
    WallClock,
    /// Fires when the task's stream time (largest record timestamp seen on its partition)
    /// passes `at` (event-time windows): replays fire at the same point of the stream.
    StreamTime,
}

/// A scheduled timer: when, driven by what, and the trace of the record that scheduled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub kind: TimerKind,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// `traceparent` of the scheduling record, passed on to what the timer emits.
    pub traceparent: Option<String>,
}

/// A timer that fired, as handed to [`crate::Processor::on_timer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredTimer {
    pub key: Vec<u8>,
    pub timer: Timer,
}

impl StoreCodec for Timer {
    const VERSION: u8 = 1;
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(match self.kind {
            TimerKind::WallClock => 0,
            TimerKind::StreamTime => 1,
        });
        out.extend_from_slice(&self.at.to_be_bytes());
        out.extend_from_slice(self.traceparent.as_deref().unwrap_or("").as_bytes());
    }
    fn decode(version: u8, body: &[u8]) -> Result<Self, String> {
        if version != Self::VERSION {
            return Err(format!("unknown timer version {version}"));
        }
        let (&kind, rest) = body.split_first().ok_or("empty timer")?;
        let kind = match kind {
            0 => TimerKind::WallClock,
            1 => TimerKind::StreamTime,
            k => return Err(format!("unknown timer kind {k}")),
        };
        let at: [u8; 8] = rest
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or("timer shorter than its time")?;
        let trace = std::str::from_utf8(&rest[8..]).map_err(|e| e.to_string())?;
        Ok(Self {
            kind,
            at: i64::from_be_bytes(at),
            traceparent: (!trace.is_empty()).then(|| trace.to_owned()),
        })
    }
}

fn store_key(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(TIMER_PREFIX);
    k.extend_from_slice(key);
    k
}

/// Schedules (or reschedules) timer `key`.
pub(crate) fn schedule(store: &mut KeyValueStore, key: &[u8], timer: &Timer) {
    store.put(store_key(key), timer);
}

/// Cancels timer `key`; returns whether it was scheduled.
pub(crate) fn cancel(store: &mut KeyValueStore, key: &[u8]) -> bool {
    let k = store_key(key);
    store.get_raw(&k).is_some() && store.delete(k)
}

/// The timer under `key`, if scheduled.
pub(crate) fn get(store: &KeyValueStore, key: &[u8]) -> Result<Option<Timer>, ProcessError> {
    store.get(store_key(key))
}

/// The task's stream time (`i64::MIN` before its first timestamped record).
pub(crate) fn stream_time(store: &KeyValueStore) -> Result<i64, ProcessError> {
    Ok(store.get::<i64>(STREAM_TIME_KEY)?.unwrap_or(i64::MIN))
}

/// Advances the stream time to `ts` if it is later (stream time never goes back).
pub(crate) fn advance_stream_time(store: &mut KeyValueStore, ts: i64) -> Result<(), ProcessError> {
    if ts > stream_time(store)? {
        store.put(STREAM_TIME_KEY, &ts);
    }
    Ok(())
}

/// Hints `(at, key)` of every scheduled timer, by clock, ordered by due time; a superset of
/// the store's timers (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct DueIndex {
    built: bool,
    wall: BTreeSet<(i64, Vec<u8>)>,
    stream: BTreeSet<(i64, Vec<u8>)>,
    /// Journal position read so far, valid while the store's generation is `generation`.
    absorbed: usize,
    generation: u64,
}

fn corrupt(e: String) -> ProcessError {
    ProcessError::State(format!("timer store: corrupt timer: {e}"))
}

impl DueIndex {
    fn hints(&mut self, kind: TimerKind) -> &mut BTreeSet<(i64, Vec<u8>)> {
        match kind {
            TimerKind::WallClock => &mut self.wall,
            TimerKind::StreamTime => &mut self.stream,
        }
    }

    fn hint(&mut self, key: &[u8], timer: &Timer) {
        self.hints(timer.kind).insert((timer.at, key.to_vec()));
    }

    /// Adds hints for every timer written since the last call (all timers the first time).
    fn absorb(&mut self, store: &KeyValueStore) -> Result<(), ProcessError> {
        if self.built {
            if self.generation != store.generation() {
                self.absorbed = 0;
            }
            let written: Vec<Vec<u8>> = store
                .written_since(self.absorbed)
                .filter(|k| k.first() == Some(&TIMER_PREFIX))
                .map(<[u8]>::to_vec)
                .collect();
            for k in written {
                if let Some(v) = store.get_raw(&k) {
                    let t: Timer = crate::store::decode_value(v).map_err(corrupt)?;
                    self.hint(&k[1..], &t);
                }
            }
        } else {
            for (k, v) in store.iter() {
                if let Some((&TIMER_PREFIX, key)) = k.split_first() {
                    let t: Timer = crate::store::decode_value(v).map_err(corrupt)?;
                    self.hint(key, &t);
                }
            }
            self.built = true;
        }
        self.generation = store.generation();
        self.absorbed = store.mark();
        Ok(())
    }

    /// Timers due at wall time `now` and the store's stream time, earliest first (ties by
    /// key), without removing them.
    pub(crate) fn due(
        &mut self,
        store: &KeyValueStore,
        now: i64,
    ) -> Result<Vec<FiredTimer>, ProcessError> {
        self.absorb(store)?;
        let stream = stream_time(store)?;
        let committed = store.mark() == 0;
        let mut out = Vec::new();
        for (kind, set, clock) in [
            (TimerKind::WallClock, &mut self.wall, now),
            (TimerKind::StreamTime, &mut self.stream, stream),
        ] {
            let mut stale = Vec::new();
            for (at, key) in set.iter().take_while(|(at, _)| *at <= clock) {
                match get(store, key)? {
                    Some(timer) if timer.kind == kind && timer.at == *at => {
                        out.push(FiredTimer {
                            key: key.clone(),
                            timer,
                        });
                    }
                    _ => stale.push((*at, key.clone())),
                }
            }
            if committed {
                for s in &stale {
                    set.remove(s);
                }
            }
        }
        out.sort_by(|a, b| (a.timer.at, &a.key).cmp(&(b.timer.at, &b.key)));
        Ok(out)
    }

    /// The store's writes are about to commit: hints of timers they replaced or deleted can
    /// go (no rollback can bring those back any more). Call before the journal is cleared.
    pub(crate) fn committing(&mut self, store: &KeyValueStore) -> Result<(), ProcessError> {
        self.absorb(store)?;
        let mut gone = Vec::new();
        for (k, old) in store.overwritten() {
            let (Some((&TIMER_PREFIX, key)), Some(old)) = (k.split_first(), old) else {
                continue;
            };
            let Ok(old) = crate::store::decode_value::<Timer>(old) else {
                continue;
            };
            let current = get(store, key)?;
            if current.is_none_or(|t| (t.kind, t.at) != (old.kind, old.at)) {
                gone.push((old.kind, old.at, key.to_vec()));
            }
        }
        for (kind, at, key) in gone {
            self.hints(kind).remove(&(at, key));
        }
        Ok(())
    }

    /// Hints held (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.wall.len() + self.stream.len()
    }
}

/// Timers due at wall time `now` and the store's stream time, earliest first (ties by key),
/// by a full scan: the reference the index is tested against.
#[cfg(test)]
pub(crate) fn due(store: &KeyValueStore, now: i64) -> Result<Vec<FiredTimer>, ProcessError> {
    let stream = stream_time(store)?;
    let mut out = Vec::new();
    for (k, v) in store.iter() {
        let Some((&TIMER_PREFIX, key)) = k.split_first() else {
            continue;
        };
        let timer: Timer = crate::store::decode_value(v)
            .map_err(|e| ProcessError::State(format!("timer store: corrupt timer: {e}")))?;
        let clock = match timer.kind {
            TimerKind::WallClock => now,
            TimerKind::StreamTime => stream,
        };
        if timer.at <= clock {
            out.push(FiredTimer {
                key: key.to_vec(),
                timer,
            });
        }
    }
    out.sort_by(|a, b| (a.timer.at, &a.key).cmp(&(b.timer.at, &b.key)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(kind: TimerKind, at: i64) -> Timer {
        Timer {
            kind,
            at,
            traceparent: None,
        }
    }

    #[test]
    fn wall_and_stream_timers_fire_by_their_own_clock() {
        let mut s = KeyValueStore::new(TIMERS, std::collections::BTreeMap::new());
        schedule(&mut s, b"w1", &timer(TimerKind::WallClock, 100));
        schedule(&mut s, b"w2", &timer(TimerKind::WallClock, 300));
        schedule(&mut s, b"s1", &timer(TimerKind::StreamTime, 50));
        let keys = |v: Vec<FiredTimer>| v.into_iter().map(|f| f.key).collect::<Vec<_>>();
        assert_eq!(keys(due(&s, 200).unwrap()), vec![b"w1".to_vec()]);
        advance_stream_time(&mut s, 60).unwrap();
        advance_stream_time(&mut s, 10).unwrap();
        assert_eq!(stream_time(&s).unwrap(), 60);
        assert_eq!(
            keys(due(&s, 400).unwrap()),
            vec![b"s1".to_vec(), b"w1".to_vec(), b"w2".to_vec()]
        );
        assert!(cancel(&mut s, b"w1"));
        assert!(!cancel(&mut s, b"w1"));
        assert_eq!(get(&s, b"w1").unwrap(), None);
    }

    /// The index answers exactly what a full scan answers, through random schedules,
    /// reschedules, cancels, stream-time advances, per-record rollbacks, aborts and commits.
    #[test]
    fn due_index_agrees_with_a_full_scan() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut s = KeyValueStore::new(TIMERS, std::collections::BTreeMap::new());
        let mut idx = DueIndex::default();
        let mut now = 0i64;
        let mut record_mark = None;
        for step in 0..20_000 {
            let key = format!("k{}", next(40)).into_bytes();
            match next(12) {
                0..=3 => {
                    let kind = if next(3) == 0 {
                        TimerKind::StreamTime
                    } else {
                        TimerKind::WallClock
                    };
                    let at = now + next(200) as i64 - 20;
                    schedule(&mut s, &key, &timer(kind, at));
                }
                4 | 5 => {
                    cancel(&mut s, &key);
                }
                6 => advance_stream_time(&mut s, now + next(100) as i64 - 50).unwrap(),
                7 => now += next(30) as i64,
                8 => record_mark = Some(s.mark()),
                9 => {
                    if let Some(m) = record_mark.take() {
                        s.rollback_to(m.min(s.mark()));
                    }
                }
                10 => {
                    if next(4) == 0 {
                        s.rollback_to(0);
                    } else {
                        idx.committing(&s).unwrap();
                        s.clear_journal();
                    }
                    record_mark = None;
                }
                _ => {
                    for f in due(&s, now).unwrap() {
                        cancel(&mut s, &f.key);
                    }
                }
            }
            // Not every step: writes and rollbacks pile up between two looks.
            if next(4) == 0 {
                assert_eq!(
                    idx.due(&s, now).unwrap(),
                    due(&s, now).unwrap(),
                    "step {step}"
                );
            }
        }
        // Committed writes drop the hints they replaced; what a rollback left behind goes
        // when its time comes, so at the end of time the index holds the live timers only.
        idx.committing(&s).unwrap();
        s.clear_journal();
        let live = s.iter().filter(|(k, _)| k[0] == TIMER_PREFIX).count();
        assert!(live > 5, "the sequence leaves timers: {live}");
        assert!(idx.len() >= live);
        advance_stream_time(&mut s, i64::MAX).unwrap();
        idx.committing(&s).unwrap();
        s.clear_journal();
        assert_eq!(idx.due(&s, i64::MAX).unwrap().len(), live);
        assert_eq!(idx.len(), live);
    }

    #[test]
    fn timers_round_trip_with_their_trace() {
        let t = Timer {
            kind: TimerKind::StreamTime,
            at: -5,
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        };
        let bytes = crate::store::encode_value(&t);
        assert_eq!(crate::store::decode_value::<Timer>(&bytes), Ok(t));
        assert!(crate::store::decode_value::<Timer>(&[1, 7]).is_err());
    }
}
