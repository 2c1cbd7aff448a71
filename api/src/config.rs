//! Every setting, from flags or environment variables (the README's configuration table lists
//! the same names), validated at start so a bad value stops the process with the setting's name
//! rather than failing the first request.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

/// The ingress API's configuration.
#[derive(Debug, Clone, Parser)]
#[command(name = "techpotli-api", version, about = "TechPotli ingress API")]
#[allow(clippy::struct_excessive_bools)]
pub struct Config {
    /// Address the HTTP server binds.
    #[arg(long, env = "API_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BOOTSTRAP", default_value = "127.0.0.1:9092")]
    pub kafka_bootstrap: String,
    /// Schema registry URL.
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub schema_registry_url: String,
    /// Register missing value schemas on start (development); production only looks them up
    /// and refuses to start when one is missing.
    #[arg(long, env = "API_SCHEMA_AUTO_REGISTER", default_value_t = false)]
    pub schema_auto_register: bool,
    /// Longest wait for the broker to acknowledge a record (librdkafka `message.timeout.ms`);
    /// after it the request gets 503 + Retry-After.
    #[arg(long, env = "API_PRODUCE_TIMEOUT_MS", default_value_t = 5000)]
    pub produce_timeout_ms: u64,
    /// Producer `linger.ms`: batching delay traded against latency.
    #[arg(long, env = "API_PRODUCER_LINGER_MS", default_value_t = 1)]
    pub producer_linger_ms: u64,
    /// `Retry-After` seconds sent with 503 when the broker is unreachable.
    #[arg(long, env = "API_RETRY_AFTER_SECS", default_value_t = 5)]
    pub retry_after_secs: u64,
    /// Whole-request timeout; must exceed the produce timeout.
    #[arg(long, env = "API_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Value of the `app` Kafka header on every record.
    #[arg(long, env = "API_APP_NAME", default_value = "techpotli-api")]
    pub app_name: String,
    /// Redis for rate limits, idempotency keys and webhook replay marks.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Prefix of every Redis key the API writes.
    #[arg(long, env = "API_REDIS_PREFIX", default_value = "techpotli:api:")]
    pub redis_prefix: String,
    /// Redis connect/response timeout; a slower Redis counts as down (fail open).
    #[arg(long, env = "API_REDIS_TIMEOUT_MS", default_value_t = 250)]
    pub redis_timeout_ms: u64,
    /// OIDC issuer (`iss`), e.g. `https://id.example/realms/techpotli`. Required unless dev auth.
    #[arg(long, env = "OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// Accepted audience (`aud`). Required unless dev auth.
    #[arg(long, env = "OIDC_AUDIENCE")]
    pub oidc_audience: Option<String>,
    /// Discovery document URL; default `<issuer>/.well-known/openid-configuration`.
    #[arg(long, env = "OIDC_DISCOVERY_URL")]
    pub oidc_discovery_url: Option<String>,
    /// Clock skew tolerated on `exp`/`nbf`, seconds (at most 300).
    #[arg(long, env = "OIDC_LEEWAY_SECS", default_value_t = 30)]
    pub oidc_leeway_secs: u64,
    /// JWKS cache lifetime; an unknown `kid` refetches sooner (at most once per
    /// `OIDC_JWKS_MIN_REFRESH_SECS`).
    #[arg(long, env = "OIDC_JWKS_TTL_SECS", default_value_t = 300)]
    pub oidc_jwks_ttl_secs: u64,
    /// Least time between two JWKS fetches triggered by unknown key ids (stops a flood of
    /// forged `kid`s from hammering the issuer).
    #[arg(long, env = "OIDC_JWKS_MIN_REFRESH_SECS", default_value_t = 10)]
    pub oidc_jwks_min_refresh_secs: u64,
    /// Realm role that admin routes require.
    #[arg(long, env = "API_ADMIN_ROLE", default_value = "admin")]
    pub admin_role: String,
    /// Disable authentication (every caller is `X-Dev-User`, default `dev-user`, with the admin
    /// role). For `techpotli dev` only; logged as a warning.
    #[arg(long, env = "API_INSECURE_DEV_AUTH", default_value_t = false)]
    pub insecure_dev_auth: bool,
    /// Key (at least 32 bytes) that signs cart ids so a cart id proves its owner. Required
    /// unless dev auth; keep it equal across replicas.
    #[arg(long, env = "API_CART_SECRET", hide_env_values = true)]
    pub cart_secret: Option<String>,
    /// Payment webhook secrets, `provider=secret[,provider=secret…]` (secrets of at least 16
    /// bytes, providers lower-case).
    #[arg(
        long,
        env = "API_PAYMENT_WEBHOOK_SECRETS",
        hide_env_values = true,
        default_value = ""
    )]
    pub payment_webhook_secrets: String,
    /// Largest age (and clock skew) of a webhook timestamp, seconds.
    #[arg(long, env = "API_WEBHOOK_TOLERANCE_SECS", default_value_t = 300)]
    pub webhook_tolerance_secs: u64,
    /// CORS: allowed browser origins, comma-separated (`https://shop.example`); empty = none.
    #[arg(long, env = "API_CORS_ORIGINS", default_value = "")]
    pub cors_origins: String,
    /// Take the client IP from the last `X-Forwarded-For` entry, the one the proxy in front
    /// appended (only behind exactly one trusted proxy).
    #[arg(long, env = "API_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,
    /// Turn rate limiting off.
    #[arg(long, env = "API_RATE_LIMIT_DISABLED", default_value_t = false)]
    pub rate_limit_disabled: bool,
    /// Admin routes: `<per user>,<per IP>` quotas, each `N/s`, `N/m` or `N/h`.
    #[arg(long, env = "API_RATE_LIMIT_ADMIN", default_value = "600/m,1200/m")]
    pub rate_limit_admin: String,
    /// Customer routes (profile, carts, orders).
    #[arg(long, env = "API_RATE_LIMIT_CUSTOMER", default_value = "120/m,600/m")]
    pub rate_limit_customer: String,
    /// Storefront activity batches.
    #[arg(long, env = "API_RATE_LIMIT_ACTIVITY", default_value = "300/m,1200/m")]
    pub rate_limit_activity: String,
    /// Payment webhooks (per IP; there is no user).
    #[arg(long, env = "API_RATE_LIMIT_WEBHOOK", default_value = "6000/m,6000/m")]
    pub rate_limit_webhook: String,
    /// Read endpoints (order and stock lookups).
    #[arg(long, env = "API_RATE_LIMIT_READ", default_value = "600/m,3000/m")]
    pub rate_limit_read: String,
    /// MySQL of the read model (`techpotli-sink-mysql`'s tables) behind `GET /v1/orders/{id}`
    /// and the stock fallback. Connected lazily: writes never wait for it.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "mysql://techpotli:techpotli@127.0.0.1:3306/techpotli",
        hide_env_values = true
    )]
    pub database_url: String,
    /// Most MySQL connections the read endpoints hold.
    #[arg(long, env = "API_DB_MAX_CONNECTIONS", default_value_t = 8)]
    pub db_max_connections: u32,
    /// Longest wait for MySQL (connection and queries) before a read falls back or gets 503.
    #[arg(long, env = "API_DB_TIMEOUT_MS", default_value_t = 1000)]
    pub db_timeout_ms: u64,
    /// Key prefix of the Redis sink's hashes (`TECHPOTLI_REDIS_KEY_PREFIX` of
    /// `techpotli-sink-redis`; empty by default).
    #[arg(long, env = "API_READ_REDIS_PREFIX", default_value = "")]
    pub read_redis_prefix: String,
    /// Serve `GET /hello` (plain text, no auth): the ceiling `techpotli bench ingress` compares
    /// the write endpoints with.
    #[arg(long, env = "API_HELLO_ROUTE", default_value_t = false)]
    pub hello_route: bool,
    /// Probe `/healthz` of the API running on this host at `API_LISTEN`'s port and exit 0 when
    /// it answers (container healthchecks; the runtime image has no curl).
    #[arg(long)]
    pub healthcheck: bool,
    /// Seconds to finish in-flight requests and flush the producer on SIGTERM.
    #[arg(long, env = "API_SHUTDOWN_GRACE_SECS", default_value_t = 25)]
    pub shutdown_grace_secs: u64,
}

/// A quota: `limit` requests per `period`, burst up to `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub period: Duration,
}

impl Quota {
    /// Parses `N/s`, `N/m`, `N/h`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (n, unit) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected N/s, N/m or N/h"))?;
        let limit: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: {n:?} is not a count"))?;
        let period = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            u => return Err(format!("{s:?}: unit {u:?} is not s, m or h")),
        };
        if limit == 0 || limit > 1_000_000 {
            return Err(format!("{s:?}: count must be 1..=1000000"));
        }
        Ok(Self { limit, period })
    }
}

/// The settings derived from [`Config`] after validation.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Route class -> (per-user, per-IP) quota.
    pub quotas: BTreeMap<&'static str, (Quota, Quota)>,
    pub webhook_secrets: BTreeMap<String, Vec<u8>>,
    pub cors_origins: Vec<String>,
}

fn bad(setting: &str, why: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("invalid setting {setting}: {why}")
}

impl Config {
    /// Parses flags and environment.
    pub fn from_env() -> Self {
        Self::parse()
    }

    /// A config for tests and `techpotli dev`: defaults, given broker and registry.
    pub fn for_dev(bootstrap: &str, registry: &str) -> Self {
        let mut c = Self::parse_from(["techpotli-api"]);
        bootstrap.clone_into(&mut c.kafka_bootstrap);
        registry.clone_into(&mut c.schema_registry_url);
        c.insecure_dev_auth = true;
        c
    }

    pub fn produce_timeout(&self) -> Duration {
        Duration::from_millis(self.produce_timeout_ms)
    }

    /// Checks every setting; the error names the first bad one.
    pub fn check(&self) -> anyhow::Result<Checked> {
        if !(100..=300_000).contains(&self.produce_timeout_ms) {
            return Err(bad("API_PRODUCE_TIMEOUT_MS", "must be 100..=300000"));
        }
        if self.producer_linger_ms > 1000 {
            return Err(bad("API_PRODUCER_LINGER_MS", "must be 0..=1000"));
        }
        if self.request_timeout_ms <= self.produce_timeout_ms {
            return Err(bad(
                "API_REQUEST_TIMEOUT_MS",
                "must be greater than API_PRODUCE_TIMEOUT_MS",
            ));
        }
        if !(1..=3600).contains(&self.retry_after_secs) {
            return Err(bad("API_RETRY_AFTER_SECS", "must be 1..=3600"));
        }
        if self.kafka_bootstrap.trim().is_empty() {
            return Err(bad("KAFKA_BOOTSTRAP", "must not be empty"));
        }
        if !self.schema_registry_url.starts_with("http://")
            && !self.schema_registry_url.starts_with("https://")
        {
            return Err(bad("SCHEMA_REGISTRY_URL", "must be an http(s) URL"));
        }
        if !self.redis_url.starts_with("redis://") && !self.redis_url.starts_with("rediss://") {
            return Err(bad("REDIS_URL", "must be a redis:// or rediss:// URL"));
        }
        if !(10..=10_000).contains(&self.redis_timeout_ms) {
            return Err(bad("API_REDIS_TIMEOUT_MS", "must be 10..=10000"));
        }
        if !self.database_url.starts_with("mysql://")
            && !self.database_url.starts_with("mariadb://")
        {
            return Err(bad("DATABASE_URL", "must be a mysql:// URL"));
        }
        if !(1..=256).contains(&self.db_max_connections) {
            return Err(bad("API_DB_MAX_CONNECTIONS", "must be 1..=256"));
        }
        if !(10..=30_000).contains(&self.db_timeout_ms) {
            return Err(bad("API_DB_TIMEOUT_MS", "must be 10..=30000"));
        }
        if self.app_name.trim().is_empty() {
            return Err(bad("API_APP_NAME", "must not be empty"));
        }
        if self.oidc_leeway_secs > 300 {
            return Err(bad("OIDC_LEEWAY_SECS", "must be at most 300"));
        }
        if self.oidc_jwks_ttl_secs == 0 {
            return Err(bad("OIDC_JWKS_TTL_SECS", "must be at least 1"));
        }
        if !self.insecure_dev_auth {
            let issuer = self.oidc_issuer.as_deref().unwrap_or("");
            if !issuer.starts_with("https://") && !issuer.starts_with("http://") {
                return Err(bad(
                    "OIDC_ISSUER",
                    "required (an http(s) URL) unless API_INSECURE_DEV_AUTH is set",
                ));
            }
            if self.oidc_audience.as_deref().unwrap_or("").is_empty() {
                return Err(bad(
                    "OIDC_AUDIENCE",
                    "required unless API_INSECURE_DEV_AUTH is set",
                ));
            }
            if self.cart_secret.as_deref().unwrap_or("").len() < 32 {
                return Err(bad(
                    "API_CART_SECRET",
                    "required (at least 32 bytes) unless API_INSECURE_DEV_AUTH is set",
                ));
            }
        }
        let mut quotas = BTreeMap::new();
        for (class, setting, value) in [
            ("admin", "API_RATE_LIMIT_ADMIN", &self.rate_limit_admin),
            (
                "customer",
                "API_RATE_LIMIT_CUSTOMER",
                &self.rate_limit_customer,
            ),
            (
                "activity",
                "API_RATE_LIMIT_ACTIVITY",
                &self.rate_limit_activity,
            ),
            (
                "webhook",
                "API_RATE_LIMIT_WEBHOOK",
                &self.rate_limit_webhook,
            ),
            ("read", "API_RATE_LIMIT_READ", &self.rate_limit_read),
        ] {
            let (user, ip) = value
                .split_once(',')
                .ok_or_else(|| bad(setting, "expected <per user>,<per IP>, e.g. 120/m,600/m"))?;
            let user = Quota::parse(user).map_err(|e| bad(setting, e))?;
            let ip = Quota::parse(ip).map_err(|e| bad(setting, e))?;
            quotas.insert(class, (user, ip));
        }
        let mut webhook_secrets = BTreeMap::new();
        for pair in self
            .payment_webhook_secrets
            .split(',')
            .filter(|s| !s.trim().is_empty())
        {
            let (provider, secret) = pair
                .split_once('=')
                .ok_or_else(|| bad("API_PAYMENT_WEBHOOK_SECRETS", "expected provider=secret"))?;
            let provider = provider.trim();
            if provider.is_empty()
                || !provider
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(bad(
                    "API_PAYMENT_WEBHOOK_SECRETS",
                    format!("provider {provider:?} must be lower-case letters, digits, -"),
                ));
            }
            if secret.len() < 16 {
                return Err(bad(
                    "API_PAYMENT_WEBHOOK_SECRETS",
                    format!("the secret of {provider} must be at least 16 bytes"),
                ));
            }
            webhook_secrets.insert(provider.to_owned(), secret.as_bytes().to_vec());
        }
        if !(1..=3600).contains(&self.webhook_tolerance_secs) {
            return Err(bad("API_WEBHOOK_TOLERANCE_SECS", "must be 1..=3600"));
        }
        let mut cors_origins = Vec::new();
        for o in self
            .cors_origins
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            if !(o.starts_with("https://") || o.starts_with("http://")) || o.ends_with('/') {
                return Err(bad(
                    "API_CORS_ORIGINS",
                    format!("{o:?} must be an origin like https://shop.example (no path)"),
                ));
            }
            if axum::http::HeaderValue::from_str(o).is_err() {
                return Err(bad(
                    "API_CORS_ORIGINS",
                    format!("{o:?} is not a valid header value"),
                ));
            }
            cors_origins.push(o.to_owned());
        }
        Ok(Checked {
            quotas,
            webhook_secrets,
            cors_origins,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_with_dev_auth_are_valid_and_bad_values_name_their_setting() {
        let c = Config::for_dev("127.0.0.1:9092", "http://127.0.0.1:8081");
        let checked = c.check().unwrap();
        assert_eq!(checked.quotas["customer"].0, Quota::parse("120/m").unwrap());
        let err = |f: &dyn Fn(&mut Config)| {
            let mut c = c.clone();
            f(&mut c);
            c.check().unwrap_err().to_string()
        };
        assert!(err(&|c| c.insecure_dev_auth = false).contains("OIDC_ISSUER"));
        assert!(err(&|c| c.produce_timeout_ms = 0).contains("API_PRODUCE_TIMEOUT_MS"));
        assert!(err(&|c| c.request_timeout_ms = 10).contains("API_REQUEST_TIMEOUT_MS"));
        assert!(err(&|c| c.rate_limit_admin = "5/x,1/m".into()).contains("API_RATE_LIMIT_ADMIN"));
        assert!(
            err(&|c| c.payment_webhook_secrets = "fake=short".into())
                .contains("API_PAYMENT_WEBHOOK_SECRETS")
        );
        assert!(err(&|c| c.cors_origins = "shop.example".into()).contains("API_CORS_ORIGINS"));
        assert!(err(&|c| c.redis_url = "http://x".into()).contains("REDIS_URL"));
        assert!(err(&|c| c.database_url = "postgres://x".into()).contains("DATABASE_URL"));
        assert!(err(&|c| c.db_timeout_ms = 0).contains("API_DB_TIMEOUT_MS"));
        assert!(err(&|c| c.rate_limit_read = "1/m".into()).contains("API_RATE_LIMIT_READ"));
        let mut prod = c.clone();
        prod.insecure_dev_auth = false;
        prod.oidc_issuer = Some("https://id.example/realms/t".into());
        prod.oidc_audience = Some("techpotli-api".into());
        assert!(
            prod.check()
                .unwrap_err()
                .to_string()
                .contains("API_CART_SECRET")
        );
        prod.cart_secret = Some("k".repeat(32));
        prod.check().unwrap();
    }
}
