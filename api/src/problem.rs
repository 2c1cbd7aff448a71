//! RFC 9457 problem details (`application/problem+json`): every error the API returns has a
//! machine-readable `type`, a `title`, a human `detail` and, for bad input, the `field` path
//! (e.g. `lines[2].quantity`) so a client can point at what to fix.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::pricing::Quote;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer. Build one with the constructors; it renders itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem class, e.g. `/problems/validation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the class.
    pub title: String,
    /// HTTP status code, repeated for convenience.
    pub status: u16,
    /// What exactly went wrong with this request.
    pub detail: String,
    /// Path of the offending field in the request (`body.lines[0].sku`, `header.Idempotency-Key`);
    /// absent when the problem is not about one field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds after which a retry may succeed (also sent as `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// With `409 price-changed`: what the order costs now, by the server's prices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote: Option<Box<Quote>>,
    #[serde(skip)]
    #[schema(ignore)]
    www_authenticate: Option<&'static str>,
}

impl Problem {
    /// A problem of class `slug` with `status`.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            retry_after: None,
            quote: None,
            www_authenticate: None,
        }
    }

    /// 422: a syntactically valid request whose `field` breaks a rule.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid field",
            detail,
        );
        p.field = Some(field.into());
        p
    }

    /// 409: a figure the client sent (`field`) is not the server's; `quote` has the server's.
    pub fn price_changed(
        field: impl Into<String>,
        detail: impl Into<String>,
        quote: Quote,
    ) -> Self {
        let mut p = Self::new(
            StatusCode::CONFLICT,
            "price-changed",
            "Price changed",
            detail,
        );
        p.field = Some(field.into());
        p.quote = Some(Box::new(quote));
        p
    }

    /// 400: the body is not JSON of the expected shape (wrong type, unknown or missing field).
    pub fn malformed(field: Option<String>, detail: impl Into<String>) -> Self {
        let mut p = Self::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            "Malformed request",
            detail,
        );
        p.field = field;
        p
    }

    /// 401 with a `WWW-Authenticate` challenge.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut p = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            detail,
        );
        p.www_authenticate = Some("Bearer error=\"invalid_token\"");
        p
    }

    /// 403: authenticated, but not allowed to do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 503 with `Retry-After`: a dependency (the broker) did not answer in time.
    pub fn unavailable(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        )
        .with_retry_after(retry_after_secs)
    }

    /// 500: a bug or a misconfiguration; the detail is safe to show (no internals).
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            detail,
        )
    }

    /// Adds a `Retry-After` (seconds).
    #[must_use]
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// Names the field at fault.
    #[must_use]
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.title, self.detail)?;
        if let Some(field) = &self.field {
            write!(f, " (field {field})")?;
        }
        Ok(())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (self.status(), body).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(challenge) = self.www_authenticate {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn renders_problem_json_with_field_and_retry_after() {
        let r = Problem::unavailable("broker", 5).into_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[header::RETRY_AFTER], "5");
        assert_eq!(r.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let p = Problem::invalid("body.lines[0].quantity", "must be 1..=1000");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "/problems/validation");
        assert_eq!(v["status"], 422);
        assert_eq!(v["field"], "body.lines[0].quantity");
        assert!(v.get("retry_after").is_none());
    }
}
