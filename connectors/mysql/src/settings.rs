//! The connector's own settings (the loop's are in [`techpotli_runtime::sink::config`]).
//!
//! | variable | default |
//! |---|---|
//! | `DATABASE_URL` | `mysql://techpotli:techpotli@127.0.0.1:3306/techpotli` |

use serde::{Deserialize, Serialize};

/// Default database: the local MariaDB of dev and CI.
pub const DEFAULT_DATABASE_URL: &str = "mysql://techpotli:techpotli@127.0.0.1:3306/techpotli";

/// Settings read from the environment (or `TECHPOTLI_CONFIG_FILE`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub database_url: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: DEFAULT_DATABASE_URL.into(),
        }
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        let s: Self = techpotli_runtime::config::load(&Self::default(), &["database_url"])?;
        if !s.database_url.starts_with("mysql://") && !s.database_url.starts_with("mariadb://") {
            return Err(format!(
                "setting DATABASE_URL={:?}: expected mysql://user[:password]@host:port/database",
                s.database_url
            ));
        }
        Ok(s)
    }
}
