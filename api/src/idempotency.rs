//! Client idempotency keys in Redis: the first request with a key claims it (`SET NX` with a
//! short "pending" lease), produces, then stores its answer for 24 h; a retry with the same key
//! and the same request gets that answer back and produces nothing; the same key with a
//! different request is refused. If Redis is down the request proceeds (logged and counted):
//! the broker is the only hard dependency of a write.

use std::time::Duration;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::problem::Problem;
use crate::store::Store;

/// How long an answer is remembered.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);

/// What is stored under a key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Entry {
    Pending {
        fingerprint: String,
    },
    Done {
        fingerprint: String,
        answer: serde_json::Value,
    },
}

/// The outcome of claiming a key.
#[derive(Debug)]
pub enum Claim {
    /// First use: go ahead, then call [`Idempotency::complete`] or [`Idempotency::release`].
    Fresh,
    /// A retry of a finished request: answer this again.
    Replay(serde_json::Value),
    /// Redis could not be asked; proceed without dedup.
    Unavailable,
}

/// Idempotency keys of one kind of request (e.g. orders), scoped per user.
#[derive(Clone)]
pub struct Idempotency {
    store: Store,
    /// How long a claim stays pending before another request may take it over (longer than a
    /// produce deadline).
    lease: Duration,
}

/// SHA-256 of the canonical request, hex.
pub fn fingerprint(canonical: &[u8]) -> String {
    hex::encode(Sha256::digest(canonical))
}

impl Idempotency {
    pub fn new(store: Store, lease: Duration) -> Self {
        Self { store, lease }
    }

    fn key(&self, user: &str, key: &str) -> String {
        // Hash the client's key: any printable string is allowed, Redis keys stay short.
        self.store
            .key(&format!("idem:{user}:{}", fingerprint(key.as_bytes())))
    }

    /// Claims `key` for a request with `fingerprint`.
    pub async fn claim(&self, user: &str, key: &str, fingerprint: &str) -> Result<Claim, Problem> {
        let k = self.key(user, key);
        let pending = serde_json::to_string(&Entry::Pending {
            fingerprint: fingerprint.to_owned(),
        })
        .expect("serialisable");
        let lease = self.lease.as_millis() as u64;
        let r = self
            .store
            .run(|mut c| async move {
                let set: Option<String> = redis::cmd("SET")
                    .arg(&k)
                    .arg(&pending)
                    .arg("NX")
                    .arg("PX")
                    .arg(lease)
                    .query_async(&mut c)
                    .await?;
                if set.is_some() {
                    return Ok(None);
                }
                let existing: Option<String> = c.get(&k).await?;
                Ok(Some(existing))
            })
            .await;
        let existing = match r {
            Ok(None) => return Ok(Claim::Fresh),
            Ok(Some(e)) => e,
            Err(e) => {
                metrics::counter!("api_idempotency_fail_open_total").increment(1);
                tracing::warn!(error = %e, "idempotency check skipped: redis unavailable (fail open)");
                return Ok(Claim::Unavailable);
            }
        };
        match existing.and_then(|s| serde_json::from_str::<Entry>(&s).ok()) {
            // Expired between SET and GET: rare; the client retries.
            None | Some(Entry::Pending { .. }) => Err(in_progress()),
            Some(Entry::Done {
                fingerprint: f,
                answer,
            }) => {
                if f == fingerprint {
                    Ok(Claim::Replay(answer))
                } else {
                    Err(Problem::invalid(
                        "header.Idempotency-Key",
                        "this key was already used for a different request",
                    ))
                }
            }
        }
    }

    /// Stores the answer for 24 h (best effort: a failure only weakens dedup of retries).
    pub async fn complete(
        &self,
        user: &str,
        key: &str,
        fingerprint: &str,
        answer: serde_json::Value,
    ) {
        let k = self.key(user, key);
        let done = serde_json::to_string(&Entry::Done {
            fingerprint: fingerprint.to_owned(),
            answer,
        })
        .expect("serialisable");
        let ttl = RETENTION.as_millis() as u64;
        if let Err(e) = self
            .store
            .run(|mut c| async move { c.pset_ex::<_, _, ()>(&k, &done, ttl).await })
            .await
        {
            tracing::warn!(error = %e, "could not store an idempotent answer");
        }
    }

    /// Drops a pending claim after a failed produce, so the client's retry can proceed.
    pub async fn release(&self, user: &str, key: &str) {
        let k = self.key(user, key);
        let _ = self
            .store
            .run(|mut c| async move { c.del::<_, ()>(&k).await })
            .await;
    }
}

fn in_progress() -> Problem {
    Problem::new(
        axum::http::StatusCode::CONFLICT,
        "in-progress",
        "Request in progress",
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )
    .at("header.Idempotency-Key")
    .with_retry_after(1)
}
