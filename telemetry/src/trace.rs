//! W3C Trace Context (`traceparent`): `00-<trace-id 32 hex>-<parent-id 16 hex>-<flags 2 hex>`.
//! The API starts a trace (or continues the caller's), puts it in the Kafka headers of what
//! it produces, and every processor passes a child of it on to what it emits, so one user
//! action can be followed through every topic and log line.

use std::fmt;

use rand::RngExt;

/// The Kafka header (and HTTP header) name.
pub const HEADER: &str = "traceparent";

/// A parsed `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub parent_id: [u8; 8],
    pub flags: u8,
}

impl TraceParent {
    /// A new trace with a random trace id and span id, sampled.
    pub fn new_root() -> Self {
        let mut rng = rand::rng();
        let mut t = Self {
            trace_id: rng.random(),
            parent_id: rng.random(),
            flags: 1,
        };
        // All-zero ids are invalid; astronomically unlikely, but cheap to rule out.
        t.trace_id[0] |= u8::from(t.trace_id == [0; 16]);
        t.parent_id[0] |= u8::from(t.parent_id == [0; 8]);
        t
    }

    /// The same trace with a new span id: what a hop passes on.
    pub fn child(&self) -> Self {
        let mut id: [u8; 8] = rand::rng().random();
        id[0] |= u8::from(id == [0; 8]);
        Self {
            parent_id: id,
            ..*self
        }
    }

    /// Parses a version-00 header; anything malformed (wrong length, bad hex, all-zero ids,
    /// version ff) is `None`, and the caller starts a new trace rather than failing the
    /// request or record.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let mut parts = s.split('-');
        let (version, trace, parent, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version.len() != 2 || version.eq_ignore_ascii_case("ff") {
            return None;
        }
        // Version 00 has exactly four fields; later versions may append more.
        if version == "00" && parts.next().is_some() {
            return None;
        }
        let trace_id = hex::<16>(trace)?;
        let parent_id = hex::<8>(parent)?;
        let [flags] = hex::<1>(flags)?;
        (trace_id != [0; 16] && parent_id != [0; 8]).then_some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// Parses header bytes (Kafka header values are bytes).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        std::str::from_utf8(b).ok().and_then(Self::parse)
    }

    /// The trace id as 32 lowercase hex digits (for log fields).
    pub fn trace_id_hex(&self) -> String {
        to_hex(&self.trace_id)
    }
}

fn hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

fn to_hex(b: &[u8]) -> String {
    use fmt::Write;
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            to_hex(&self.trace_id),
            to_hex(&self.parent_id),
            self.flags
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_children_keep_the_trace() {
        let s = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let t = TraceParent::parse(s).unwrap();
        assert_eq!(t.to_string(), s);
        assert_eq!(t.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let c = t.child();
        assert_eq!(c.trace_id, t.trace_id);
        assert_ne!(c.parent_id, t.parent_id);
        let r = TraceParent::new_root();
        assert_eq!(TraceParent::parse(&r.to_string()), Some(r));
    }

    #[test]
    fn rejects_malformed_headers() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }
}
