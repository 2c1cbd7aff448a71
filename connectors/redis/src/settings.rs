//! The connector's own settings (the loop's are in [`techpotli_runtime::sink::config`]).
//!
//! | variable | default |
//! |---|---|
//! | `REDIS_URL` | `redis://127.0.0.1:6379` |
//! | `TECHPOTLI_REDIS_KEY_PREFIX` | empty (keys `stock:{sku}`, `order:{id}`) |

use serde::{Deserialize, Serialize};

/// Default server: the local Redis of dev and CI.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Settings read from the environment (or `TECHPOTLI_CONFIG_FILE`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub redis_url: String,
    /// Prepended to every key, for sharing one Redis between environments.
    pub redis_key_prefix: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            redis_url: DEFAULT_REDIS_URL.into(),
            redis_key_prefix: String::new(),
        }
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        let s: Self =
            techpotli_runtime::config::load(&Self::default(), &["redis_url", "redis_key_prefix"])?;
        if !s.redis_url.starts_with("redis://")
            && !s.redis_url.starts_with("rediss://")
            && !s.redis_url.starts_with("unix://")
        {
            return Err(format!(
                "setting REDIS_URL={:?}: expected redis://host:port[/db]",
                s.redis_url
            ));
        }
        Ok(s)
    }
}
