//! The ingress API in-process against a [`Stack`], reading the views a [`Sinks`] writes, with
//! a blocking client for the synchronous scenario tests: calls as any user (dev auth: the
//! caller is `X-Dev-User` with `X-Dev-Roles`) and payment webhooks signed like a provider.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::Value;
use techpotli_api::{Config, Running};

use crate::Stack;
use crate::sinks::{REDIS_URL, Sinks};

/// The webhook provider name the API is configured with.
pub const PROVIDER: &str = "e2e";
const WEBHOOK_SECRET: &str = "e2e-webhook-secret-0123456789abcdef";

/// A running API and a client for it.
pub struct Api {
    pub url: String,
    running: Option<Running>,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

/// A status and a JSON body (`Value::String` when the body is not JSON).
pub type Answer = (u16, Value);

impl Api {
    /// The API with dev auth, writing to `stack` and reading what `sinks` materialise.
    pub fn start(stack: &Stack, sinks: &Sinks) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let mut c = Config::for_dev(&stack.bootstrap, &stack.registry_url);
        c.listen = "127.0.0.1:0".parse().expect("address");
        REDIS_URL.clone_into(&mut c.redis_url);
        c.redis_prefix = format!("{}api:", sinks.redis_prefix);
        c.read_redis_prefix.clone_from(&sinks.redis_prefix);
        c.database_url.clone_from(&sinks.database_url);
        c.payment_webhook_secrets = format!("{PROVIDER}={WEBHOOK_SECRET}");
        c.rate_limit_disabled = true;
        c.shutdown_grace_secs = 1;
        let running = rt
            .block_on(techpotli_api::start(c))
            .expect("the API starts");
        Self {
            url: running.url(),
            running: Some(running),
            http: reqwest::Client::new(),
            rt,
        }
    }

    /// `method path` as `user` with `roles`, with `body` and extra `headers`.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        who: (&str, &str),
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        self.call_retry_after(method, path, who, body, headers).0
    }

    /// [`Api::call`], with the answer's `Retry-After` header.
    pub fn call_retry_after(
        &self,
        method: Method,
        path: &str,
        (user, roles): (&str, &str),
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> (Answer, Option<String>) {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("x-dev-user", user)
            .header("x-dev-roles", roles);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.json(b);
        }
        self.rt.block_on(async {
            let r = rb.send().await.expect("the API answers");
            let status = r.status().as_u16();
            let retry_after = r
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let text = r.text().await.unwrap_or_default();
            let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
            ((status, body), retry_after)
        })
    }

    /// A payment-provider webhook for `body`, signed now.
    pub fn webhook(&self, body: &Value) -> Answer {
        let raw = serde_json::to_vec(body).expect("json");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let sig = techpotli_api::webhook::sign(WEBHOOK_SECRET.as_bytes(), now, &raw);
        let rb = self
            .http
            .post(format!("{}/v1/webhooks/payments/{PROVIDER}", self.url))
            .header("content-type", "application/json")
            .header(techpotli_api::webhook::SIGNATURE_HEADER, sig)
            .body(raw);
        self.rt.block_on(async {
            let r = rb.send().await.expect("the API answers");
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        })
    }

    /// Polls `GET path` as `who` until `done` holds for an answer (or panics after `timeout`).
    pub fn poll(
        &self,
        path: &str,
        who: (&str, &str),
        timeout: Duration,
        mut done: impl FnMut(&Answer) -> bool,
    ) -> Answer {
        let mut last = (0, Value::Null);
        crate::wait_until(&format!("GET {path}"), timeout, || {
            last = self.call(Method::GET, path, who, None, &[]);
            done(&last)
        });
        last
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), r.shutdown()).await
            });
        }
    }
}
