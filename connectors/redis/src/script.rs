//! The Lua that makes Redis writes exactly-once: a record is applied to its hash only if its
//! offset is newer than the one the hash stored for that topic-partition, and in the same
//! atomic step the sink's offsets hash moves forward. Replays and a zombie's late writes are
//! therefore no-ops, and the offsets hash is where reading resumes.

use redis::{Cmd, Script};

use crate::fields::{Write, offset_field};

/// KEYS: hash, offsets hash. ARGV: offset field, offset, offsets-hash field, mode (`set` |
/// `del`), monotonic field (or ``), monotonic value, then field/value pairs.
/// Returns 1 when applied, 0 when the record was older than what the hash holds.
pub const APPLY_LUA: &str = r"
local off = tonumber(ARGV[2])
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
local applied = 0
if cur == nil or off > cur then
  applied = 1
  if ARGV[4] == 'del' then
    redis.call('DEL', KEYS[1])
  else
    local ok = true
    if ARGV[5] ~= '' then
      local g = tonumber(redis.call('HGET', KEYS[1], ARGV[5]))
      ok = g == nil or g < tonumber(ARGV[6])
    end
    if ok and #ARGV > 6 then
      redis.call('HSET', KEYS[1], unpack(ARGV, 7))
    end
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  end
end
local stored = tonumber(redis.call('HGET', KEYS[2], ARGV[3]))
if stored == nil or off + 1 > stored then
  redis.call('HSET', KEYS[2], ARGV[3], off + 1)
end
return applied
";

/// KEYS: offsets hash. ARGV: field/next-offset pairs; each moves only forward (a batch whose
/// last records were dead-lettered still advances).
pub const ADVANCE_LUA: &str = r"
for i = 1, #ARGV, 2 do
  local stored = tonumber(redis.call('HGET', KEYS[1], ARGV[i]))
  if stored == nil or tonumber(ARGV[i + 1]) > stored then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 1
";

/// The two scripts, loaded once per connection's server (and again after `NOSCRIPT`).
pub struct Scripts {
    pub apply: Script,
    pub advance: Script,
}

impl Default for Scripts {
    fn default() -> Self {
        Self {
            apply: Script::new(APPLY_LUA),
            advance: Script::new(ADVANCE_LUA),
        }
    }
}

/// The offsets-hash field of a topic-partition.
pub fn partition_field(topic: &str, partition: i32) -> String {
    format!("{topic}:{partition}")
}

impl Scripts {
    /// `EVALSHA` of [`APPLY_LUA`] for record (`topic`, `partition`, `offset`) doing `w`.
    pub fn apply_cmd(
        &self,
        offsets_key: &str,
        topic: &str,
        partition: i32,
        offset: i64,
        w: &Write,
    ) -> Cmd {
        let mut c = redis::cmd("EVALSHA");
        c.arg(self.apply.get_hash())
            .arg(2)
            .arg(w.key())
            .arg(offsets_key);
        c.arg(offset_field(topic, partition))
            .arg(offset)
            .arg(partition_field(topic, partition));
        match w {
            Write::Delete { .. } => {
                c.arg("del").arg("").arg(0);
            }
            Write::Set {
                fields, monotonic, ..
            } => {
                c.arg("set");
                match monotonic {
                    Some((f, v)) => c.arg(f).arg(*v),
                    None => c.arg("").arg(0),
                };
                for (k, v) in fields {
                    c.arg(k).arg(v);
                }
            }
        }
        c
    }

    /// `EVALSHA` of [`ADVANCE_LUA`].
    pub fn advance_cmd<'a>(
        &self,
        offsets_key: &str,
        next: impl IntoIterator<Item = (&'a (String, i32), &'a i64)>,
    ) -> Cmd {
        let mut c = redis::cmd("EVALSHA");
        c.arg(self.advance.get_hash()).arg(1).arg(offsets_key);
        for ((t, p), o) in next {
            c.arg(partition_field(t, *p)).arg(*o);
        }
        c
    }
}
