//! Event-time windows as plain data and pure functions: which windows a record falls in
//! (tumbling, hopping), how sessions merge, the watermark (stream time − grace, over the
//! inputs that are not idle) and when a window is closed or a record late. The operator that
//! keeps windows in a store is [`crate::window_op`].
//!
//! Semantics follow Kafka Streams: a time window is `[start, end)`; it closes once the
//! watermark reaches its end, and a record is late for it from then on. A session is
//! `[start, end]` over its records' timestamps; a record within `gap` of a session joins (and
//! may merge two); a session closes once the watermark passes `end + gap`, when no record
//! that is not late could extend it.

use std::collections::BTreeMap;

/// The shape of the windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSpec {
    /// Fixed, non-overlapping windows of `size_ms`, aligned to the epoch.
    Tumbling { size_ms: i64 },
    /// Windows of `size_ms` starting every `advance_ms` (aligned to the epoch); a record is in
    /// `size_ms / advance_ms` of them.
    Hopping { size_ms: i64, advance_ms: i64 },
    /// Activity sessions per key: records less than `gap_ms` apart share one.
    Session { gap_ms: i64 },
}

/// One window: `[start, end)` for time windows, `[start, end]` (record times) for sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

impl WindowSpec {
    /// Refuses sizes that cannot make windows.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Self::Tumbling { size_ms } if size_ms <= 0 => {
                Err(format!("tumbling window size must be > 0, got {size_ms}"))
            }
            Self::Hopping {
                size_ms,
                advance_ms,
            } if size_ms <= 0 || advance_ms <= 0 || advance_ms > size_ms => Err(format!(
                "hopping window needs 0 < advance <= size, got size {size_ms}, advance {advance_ms}"
            )),
            Self::Session { gap_ms } if gap_ms <= 0 => {
                Err(format!("session gap must be > 0, got {gap_ms}"))
            }
            _ => Ok(()),
        }
    }

    /// The time windows holding `ts`, oldest first (a session starts as `[ts, ts]`).
    pub fn windows_for(&self, ts: i64) -> Vec<Window> {
        match *self {
            Self::Tumbling { size_ms } => {
                let start = ts - ts.rem_euclid(size_ms);
                vec![Window {
                    start,
                    end: start + size_ms,
                }]
            }
            Self::Hopping {
                size_ms,
                advance_ms,
            } => {
                let last = ts - ts.rem_euclid(advance_ms);
                let mut out = Vec::new();
                let mut start = last;
                while start > ts - size_ms {
                    out.push(Window {
                        start,
                        end: start + size_ms,
                    });
                    start -= advance_ms;
                }
                out.reverse();
                out
            }
            Self::Session { .. } => vec![Window { start: ts, end: ts }],
        }
    }

    /// The watermark at which `w` closes: its end, or for a session its end plus the gap.
    pub fn close_at(&self, w: Window) -> i64 {
        match *self {
            Self::Session { gap_ms } => w.end.saturating_add(gap_ms).saturating_add(1),
            _ => w.end,
        }
    }

    /// Whether `w` is closed at `watermark` (its final result is due; records are late for it).
    pub fn is_closed(&self, w: Window, watermark: i64) -> bool {
        watermark >= self.close_at(w)
    }
}

/// Whether a record at `ts` may join session `s` (it lies within `gap` of it).
pub fn joins_session(s: Window, ts: i64, gap_ms: i64) -> bool {
    ts >= s.start.saturating_sub(gap_ms) && ts <= s.end.saturating_add(gap_ms)
}

/// The session a record at `ts` makes out of the existing sessions it joins (all of which
/// merge into it).
pub fn merged_session(joined: &[Window], ts: i64) -> Window {
    joined
        .iter()
        .fold(Window { start: ts, end: ts }, |m, s| Window {
            start: m.start.min(s.start),
            end: m.end.max(s.end),
        })
}

/// One input's progress in one task, for the watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputTime {
    /// Largest record timestamp seen on the input.
    pub max_event_ms: i64,
    /// Wall-clock time the input last delivered a record (for idleness).
    pub last_seen_ms: i64,
}

/// The watermark of a task over its inputs: the smallest largest-timestamp among the inputs
/// that delivered something within `idle_timeout_ms` (an idle input does not hold the others
/// back), or the largest one when all are idle, minus `grace_ms`. `None` before any record.
pub fn watermark(
    inputs: &BTreeMap<String, InputTime>,
    now_ms: i64,
    idle_timeout_ms: i64,
    grace_ms: i64,
) -> Option<i64> {
    let active = inputs
        .values()
        .filter(|i| now_ms - i.last_seen_ms < idle_timeout_ms)
        .map(|i| i.max_event_ms)
        .min();
    let time = active.or_else(|| inputs.values().map(|i| i.max_event_ms).max())?;
    Some(time.saturating_sub(grace_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: i64, end: i64) -> Window {
        Window { start, end }
    }

    #[test]
    fn tumbling_and_hopping_assignment_including_before_the_epoch() {
        let t = WindowSpec::Tumbling { size_ms: 60 };
        assert_eq!(t.windows_for(0), vec![w(0, 60)]);
        assert_eq!(t.windows_for(59), vec![w(0, 60)]);
        assert_eq!(t.windows_for(60), vec![w(60, 120)]);
        assert_eq!(t.windows_for(-1), vec![w(-60, 0)]);
        let h = WindowSpec::Hopping {
            size_ms: 300,
            advance_ms: 60,
        };
        assert_eq!(
            h.windows_for(130),
            vec![
                w(-120, 180),
                w(-60, 240),
                w(0, 300),
                w(60, 360),
                w(120, 420)
            ]
        );
        assert_eq!(h.windows_for(300).first(), Some(&w(60, 360)));
        assert_eq!(h.windows_for(299).len(), 5);
        let same = WindowSpec::Hopping {
            size_ms: 60,
            advance_ms: 60,
        };
        assert_eq!(same.windows_for(61), t.windows_for(61));
    }

    #[test]
    fn specs_are_validated() {
        assert!(WindowSpec::Tumbling { size_ms: 0 }.validate().is_err());
        assert!(
            WindowSpec::Hopping {
                size_ms: 60,
                advance_ms: 61
            }
            .validate()
            .is_err()
        );
        assert!(WindowSpec::Session { gap_ms: -1 }.validate().is_err());
        assert!(WindowSpec::Session { gap_ms: 1 }.validate().is_ok());
    }

    #[test]
    fn windows_close_at_their_end_and_sessions_after_the_gap() {
        let t = WindowSpec::Tumbling { size_ms: 60 };
        assert!(!t.is_closed(w(0, 60), 59));
        assert!(t.is_closed(w(0, 60), 60));
        let s = WindowSpec::Session { gap_ms: 10 };
        // A record at 110 could still extend [100, 100]; at a watermark of 111 none can.
        assert!(!s.is_closed(w(90, 100), 110));
        assert!(s.is_closed(w(90, 100), 111));
    }

    #[test]
    fn sessions_join_within_the_gap_and_merge_what_they_bridge() {
        let gap = 10;
        let a = w(0, 5);
        let b = w(20, 30);
        assert!(joins_session(a, 15, gap) && joins_session(b, 15, gap));
        assert!(!joins_session(a, 16, gap));
        assert!(joins_session(b, 10, gap));
        assert_eq!(merged_session(&[a, b], 15), w(0, 30));
        assert_eq!(merged_session(&[], 7), w(7, 7));
        assert_eq!(merged_session(&[b], 40), w(20, 40));
    }

    #[test]
    fn the_watermark_is_the_slowest_active_input_minus_grace() {
        let mut inputs = BTreeMap::new();
        assert_eq!(watermark(&inputs, 0, 1_000, 5), None);
        inputs.insert(
            "a".into(),
            InputTime {
                max_event_ms: 100,
                last_seen_ms: 0,
            },
        );
        inputs.insert(
            "b".into(),
            InputTime {
                max_event_ms: 40,
                last_seen_ms: 0,
            },
        );
        // Both active: b holds the watermark back.
        assert_eq!(watermark(&inputs, 500, 1_000, 5), Some(35));
        // b went quiet past the idle timeout while a kept delivering: a alone counts.
        inputs.get_mut("a").unwrap().last_seen_ms = 1_200;
        assert_eq!(watermark(&inputs, 1_500, 1_000, 5), Some(95));
        // Everything idle: the furthest input counts, nothing holds it back forever.
        assert_eq!(watermark(&inputs, 5_000, 1_000, 5), Some(95));
    }

    #[test]
    fn out_of_order_input_within_grace_is_on_time_and_after_it_late() {
        let t = WindowSpec::Tumbling { size_ms: 60 };
        let grace = 30;
        let mut inputs = BTreeMap::new();
        let mut late = Vec::new();
        for ts in [10, 70, 50, 95, 55, 100, 20] {
            let wm = watermark(&inputs, 0, i64::MAX, grace).unwrap_or(i64::MIN);
            for win in t.windows_for(ts) {
                if t.is_closed(win, wm) {
                    late.push(ts);
                }
            }
            let e = inputs.entry("in".to_owned()).or_insert(InputTime {
                max_event_ms: ts,
                last_seen_ms: 0,
            });
            e.max_event_ms = e.max_event_ms.max(ts);
        }
        // 50 arrives at watermark 40 (on time); 55 at 65 > 60 and 20 at 70: late for [0, 60).
        assert_eq!(late, vec![55, 20]);
    }
}
