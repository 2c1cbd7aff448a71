//! [`RedisSink`]: stage decodes and maps a batch (no effects); commit sends one pipeline of
//! offset-guarded script calls, then advances the offsets hash to the batch end. A crash
//! mid-pipeline leaves a prefix applied, and its offsets say so.

use std::collections::HashMap;

use redis::aio::ConnectionManager;
use techpotli_runtime::InputRecord;
use techpotli_runtime::sink::decode::decode;
use techpotli_runtime::sink::{Reject, Sink, SinkError, Tp, next_offsets};
use techpotli_schemas::Codec;
use techpotli_schemas::types::inventory::StockLevel;
use techpotli_schemas::types::orders::{OrderPlaced, OrderStatusChanged};
use techpotli_schemas::types::pricing::{CartPriced, PriceChanged};

use crate::Topics;
use crate::fields::{self, Write};
use crate::script::{Scripts, partition_field};

/// The Redis sink of the order flow.
pub struct RedisSink {
    con: ConnectionManager,
    codec: Codec,
    scripts: Scripts,
    /// Prepended to every key (tests use one per test; production "").
    prefix: String,
    /// `{prefix}sink:{name}:offsets`: next offset per `topic:partition`.
    offsets_key: String,
    topics: Topics,
    staged: Vec<redis::Cmd>,
    /// Scripts are (re)loaded before the next commit (start, or after `NOSCRIPT`).
    load_scripts: bool,
}

/// Connection failures and a restarting server are transient; anything else (a wrong key
/// type, a script error) is a bug to stop on.
pub fn classify(e: redis::RedisError) -> SinkError {
    let msg = e.to_string();
    if e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || [
            "NOSCRIPT",
            "LOADING",
            "BUSY",
            "TRYAGAIN",
            "MASTERDOWN",
            "READONLY",
        ]
        .iter()
        .any(|k| msg.contains(k))
    {
        SinkError::Transient(msg)
    } else {
        SinkError::Fatal(msg)
    }
}

impl RedisSink {
    pub async fn connect(
        url: &str,
        prefix: &str,
        name: &str,
        topics: Topics,
        codec: Codec,
    ) -> Result<Self, SinkError> {
        let client = redis::Client::open(url).map_err(|e| SinkError::Fatal(e.to_string()))?;
        let con = ConnectionManager::new(client).await.map_err(classify)?;
        Ok(Self {
            con,
            codec,
            scripts: Scripts::default(),
            prefix: prefix.to_owned(),
            offsets_key: format!("{prefix}sink:{name}:offsets"),
            topics,
            staged: Vec::new(),
            load_scripts: true,
        })
    }

    /// The write of `batch[i]`, or its reject.
    async fn map(
        &self,
        batch: &[InputRecord],
        i: usize,
    ) -> Result<Result<Write, Reject>, SinkError> {
        let r = &batch[i];
        let t = &r.meta.topic;
        Ok(if *t == self.topics.placed {
            decode::<OrderPlaced>(&self.codec, batch, i)
                .await?
                .map(|o| fields::placed(&self.prefix, &o))
        } else if *t == self.topics.status {
            decode::<OrderStatusChanged>(&self.codec, batch, i)
                .await?
                .map(|s| fields::status(&self.prefix, &s))
        } else if *t == self.topics.levels || *t == self.topics.prices {
            let stock = *t == self.topics.levels;
            if r.value.is_none() {
                let sku = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default());
                let key = if stock {
                    fields::stock_key(&self.prefix, &sku)
                } else {
                    fields::price_key(&self.prefix, &sku)
                };
                Ok(Write::Delete { key })
            } else if stock {
                decode::<StockLevel>(&self.codec, batch, i)
                    .await?
                    .map(|l| fields::stock(&self.prefix, &l))
            } else {
                decode::<PriceChanged>(&self.codec, batch, i)
                    .await?
                    .map(|p| fields::price(&self.prefix, &p))
            }
        } else if *t == self.topics.carts {
            if r.value.is_none() {
                let id = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default());
                Ok(Write::Delete {
                    key: fields::cart_key(&self.prefix, &id),
                })
            } else {
                decode::<CartPriced>(&self.codec, batch, i)
                    .await?
                    .map(|c| fields::cart(&self.prefix, &c))
            }
        } else {
            return Err(SinkError::Fatal(format!("no mapping for topic {t}")));
        })
    }
}

impl Sink for RedisSink {
    async fn stored_offsets(&mut self, partitions: &[Tp]) -> Result<HashMap<Tp, i64>, SinkError> {
        let fields: Vec<String> = partitions
            .iter()
            .map(|(t, p)| partition_field(t, *p))
            .collect();
        if fields.is_empty() {
            return Ok(HashMap::new());
        }
        let values: Vec<Option<i64>> = redis::cmd("HMGET")
            .arg(&self.offsets_key)
            .arg(&fields)
            .query_async(&mut self.con)
            .await
            .map_err(classify)?;
        Ok(partitions
            .iter()
            .cloned()
            .zip(values)
            .filter_map(|(tp, v)| v.map(|v| (tp, v)))
            .collect())
    }

    async fn stage(&mut self, batch: &[InputRecord]) -> Result<Vec<Reject>, SinkError> {
        self.staged.clear();
        let mut rejects = Vec::new();
        for (i, r) in batch.iter().enumerate() {
            match self.map(batch, i).await? {
                Ok(w) => {
                    let m = &r.meta;
                    let cmd = self.scripts.apply_cmd(
                        &self.offsets_key,
                        &m.topic,
                        m.partition,
                        m.offset,
                        &w,
                    );
                    self.staged.push(cmd);
                }
                Err(reject) => rejects.push(reject),
            }
        }
        let next = next_offsets(batch);
        self.staged
            .push(self.scripts.advance_cmd(&self.offsets_key, next.iter()));
        Ok(rejects)
    }

    async fn commit(&mut self) -> Result<(), SinkError> {
        if self.load_scripts {
            for s in [&self.scripts.apply, &self.scripts.advance] {
                s.prepare_invoke()
                    .load_async(&mut self.con)
                    .await
                    .map_err(classify)?;
            }
            self.load_scripts = false;
        }
        let mut pipe = redis::pipe();
        for c in &self.staged {
            pipe.add_command(c.clone()).ignore();
        }
        let r: redis::RedisResult<()> = pipe.query_async(&mut self.con).await;
        if let Err(e) = r {
            // After a server restart the script cache is empty; any failure reloads.
            self.load_scripts = true;
            return Err(classify(e));
        }
        self.staged.clear();
        Ok(())
    }

    async fn rollback(&mut self) {
        self.staged.clear();
    }
}
