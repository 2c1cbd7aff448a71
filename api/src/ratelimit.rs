//! Rate limits: GCRA (the generic cell rate algorithm, a leaky bucket kept as one timestamp)
//! evaluated atomically in Redis by one Lua script for the caller's user key and IP key
//! together: the request passes only if both buckets have room, and only then are both charged.
//! Redis trouble fails open (the request passes; logged and counted): the broker is the only
//! hard dependency of a write.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use redis::Script;

use crate::config::Quota;
use crate::problem::Problem;
use crate::store::Store;

/// KEYS: bucket keys. ARGV: for each key its emission interval and burst (ms, count).
/// Time comes from Redis (`TIME`) so replicas with skewed clocks agree.
/// Returns {allowed, remaining, retry_after_ms, reset_ms} for the tightest bucket.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tats, worst_retry, min_remaining, max_reset = {}, 0, nil, 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - interval * burst
  if allow_at > now then
    worst_retry = math.max(worst_retry, allow_at - now)
    min_remaining = 0
    max_reset = math.max(max_reset, tat - now)
  else
    tats[i] = new_tat
    local remaining = math.floor((now - allow_at) / interval)
    if min_remaining == nil or remaining < min_remaining then min_remaining = remaining end
    max_reset = math.max(max_reset, new_tat - now)
  end
end
if worst_retry > 0 then
  return {0, 0, worst_retry, max_reset}
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, tats[i], 'PX', math.max(1, math.ceil(tats[i] - now)))
end
return {1, min_remaining or 0, 0, max_reset}
";

/// The outcome of a check, with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Limit of the tightest bucket (the user one when there is a user).
    pub limit: u32,
    pub remaining: u64,
    pub retry_after: Duration,
    pub reset: Duration,
}

impl Decision {
    /// Sets `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds) and
    /// `RateLimit-Policy`.
    pub fn write_headers(&self, policy: Quota, h: &mut HeaderMap) {
        h.insert("ratelimit-limit", HeaderValue::from(self.limit));
        h.insert("ratelimit-remaining", HeaderValue::from(self.remaining));
        h.insert("ratelimit-reset", HeaderValue::from(ceil_secs(self.reset)));
        if let Ok(v) =
            HeaderValue::from_str(&format!("{};w={}", policy.limit, policy.period.as_secs()))
        {
            h.insert("ratelimit-policy", v);
        }
    }

    /// The 429 problem, with `Retry-After`.
    pub fn problem(&self) -> Problem {
        Problem::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            "rate limit exceeded; retry after the given number of seconds",
        )
        .with_retry_after(ceil_secs(self.retry_after).max(1))
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000) as u64
}

/// Emission interval of a quota in ms (at least 1).
fn interval_ms(q: Quota) -> u64 {
    (q.period.as_millis() as u64 / u64::from(q.limit)).max(1)
}

/// Checks rate-limit buckets in Redis.
#[derive(Clone)]
pub struct RateLimiter {
    store: Store,
    script: std::sync::Arc<Script>,
}

impl RateLimiter {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            script: std::sync::Arc::new(Script::new(GCRA)),
        }
    }

    /// Charges one request to the class's IP bucket and, when there is a user, its user
    /// bucket. `None` when Redis could not answer (the caller fails open).
    pub async fn check(
        &self,
        class: &str,
        user: Option<(&str, Quota)>,
        ip: (&str, Quota),
    ) -> Option<Decision> {
        let mut keys = vec![self.store.key(&format!("rl:{class}:ip:{}", ip.0))];
        let mut args = vec![interval_ms(ip.1), u64::from(ip.1.limit)];
        let mut limit = ip.1.limit;
        if let Some((user, q)) = user {
            keys.push(self.store.key(&format!("rl:{class}:user:{user}")));
            args.extend([interval_ms(q), u64::from(q.limit)]);
            limit = q.limit;
        }
        let script = self.script.clone();
        let result = self
            .store
            .run(|mut conn| async move {
                let mut inv = script.prepare_invoke();
                for k in &keys {
                    inv.key(k);
                }
                for a in &args {
                    inv.arg(*a);
                }
                inv.invoke_async::<(i64, i64, i64, i64)>(&mut conn).await
            })
            .await;
        match result {
            Ok((allowed, remaining, retry_ms, reset_ms)) => Some(Decision {
                allowed: allowed == 1,
                limit,
                remaining: remaining.max(0) as u64,
                retry_after: Duration::from_millis(retry_ms.max(0) as u64),
                reset: Duration::from_millis(reset_ms.max(0) as u64),
            }),
            Err(e) => {
                metrics::counter!("api_ratelimit_fail_open_total").increment(1);
                tracing::warn!(error = %e, class, "rate limiting skipped: redis unavailable (fail open)");
                None
            }
        }
    }
}
