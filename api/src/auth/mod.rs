//! Authentication (OIDC bearer JWTs) and the request gate every `/v1` route passes: it
//! authenticates as the route class requires, enforces the admin role, charges the rate limit
//! and hands the [`Principal`] to the handler as a request extension.
//!
//! Tokens: RS256 or ES256 only — the algorithm comes from the issuer's key, never from the
//! token alone, so `alg=none` and HS* signed with a public key are refused; `iss`, `aud`,
//! `exp` and `nbf` are checked with a small leeway; `sub` is required.

pub mod claims;
pub mod jwks;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, Validation};

use claims::Claims;
pub use claims::Principal;
use jwks::{Jwks, JwksError};

use crate::app::Shared;
use crate::problem::Problem;
use crate::validate;

/// Header naming the caller under `--insecure-dev-auth`.
pub const DEV_USER_HEADER: &str = "x-dev-user";
/// Header listing the caller's roles under `--insecure-dev-auth` (default: the admin role).
pub const DEV_ROLES_HEADER: &str = "x-dev-roles";

/// How callers are authenticated.
pub enum Auth {
    /// No authentication (`techpotli dev` only).
    InsecureDev { admin_role: String },
    /// OIDC bearer tokens.
    Oidc {
        jwks: Arc<Jwks>,
        issuer: String,
        audience: String,
        leeway: u64,
    },
}

impl Auth {
    /// Verifies the `Authorization` header. `Ok(None)`: no credentials were sent.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Principal>, Problem> {
        match self {
            Self::InsecureDev { admin_role } => {
                let user = headers
                    .get(DEV_USER_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .filter(|u| validate::id("header.X-Dev-User", u).is_ok())
                    .unwrap_or("dev-user");
                let roles = headers
                    .get(DEV_ROLES_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map_or_else(
                        || vec![admin_role.clone()],
                        |r| r.split(',').map(|s| s.trim().to_owned()).collect(),
                    );
                Ok(Some(Principal {
                    user_id: user.to_owned(),
                    roles,
                }))
            }
            Self::Oidc {
                jwks,
                issuer,
                audience,
                leeway,
            } => {
                let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
                    return Ok(None);
                };
                let token = value
                    .to_str()
                    .ok()
                    .and_then(|v| {
                        v.strip_prefix("Bearer ")
                            .or_else(|| v.strip_prefix("bearer "))
                    })
                    .map(str::trim)
                    .ok_or_else(|| {
                        Problem::unauthorized("expected `Authorization: Bearer <token>`")
                    })?;
                verify(jwks, issuer, audience, *leeway, token)
                    .await
                    .map(Some)
            }
        }
    }
}

/// Verifies one compact JWS against the issuer's keys.
pub async fn verify(
    jwks: &Jwks,
    issuer: &str,
    audience: &str,
    leeway: u64,
    token: &str,
) -> Result<Principal, Problem> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|e| Problem::unauthorized(format!("malformed token: {e}")))?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
        return Err(Problem::unauthorized(format!(
            "token algorithm {:?} is not accepted (RS256, ES256)",
            header.alg
        )));
    }
    let kid = header
        .kid
        .ok_or_else(|| Problem::unauthorized("token has no kid"))?;
    let key = jwks.key(&kid).await.map_err(|e| match e {
        JwksError::UnknownKid(_) => Problem::unauthorized(e.to_string()),
        JwksError::Fetch(_) => {
            tracing::error!(error = %e, "cannot fetch the issuer's keys");
            Problem::unavailable("the identity provider's keys are unavailable", 5)
        }
    })?;
    if key.alg != header.alg {
        return Err(Problem::unauthorized(
            "token algorithm does not match its key",
        ));
    }
    let mut v = Validation::new(key.alg);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.leeway = leeway;
    v.validate_nbf = true;
    let data = jsonwebtoken::decode::<Claims>(token, &key.key, &v)
        .map_err(|e| Problem::unauthorized(format!("invalid token: {e}")))?;
    if validate::id("token.sub", &data.claims.sub).is_err() {
        return Err(Problem::unauthorized(
            "token subject is not a usable user id",
        ));
    }
    Ok(data.claims.into())
}

/// What a route group demands of its callers; also the rate-limit class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Authenticated, with the admin role.
    Admin,
    /// Authenticated (acts on own user id / carts; handlers check ownership).
    Customer,
    /// Anonymous allowed; a token, when sent, must be valid.
    Activity,
    /// No user; authenticated by the webhook signature in the handler.
    Webhook,
    /// Read endpoints: anonymous allowed (handlers that show private data require a user).
    Read,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Customer => "customer",
            Self::Activity => "activity",
            Self::Webhook => "webhook",
            Self::Read => "read",
        }
    }
}

/// The client address: the socket peer, or — behind one trusted proxy — the last
/// `X-Forwarded-For` entry, the one that proxy appended. Earlier entries come from the client
/// and could be forged to dodge per-IP limits.
fn client_ip(req: &Request, trust_xff: bool) -> String {
    if trust_xff
        && let Some(ip) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|s| s.trim().parse::<IpAddr>().ok())
    {
        return ip.to_string();
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

/// The gate middleware: authenticate, authorise the class, rate-limit.
pub async fn gate(
    State((state, class)): State<(Shared, Class)>,
    mut req: Request,
    next: Next,
) -> Response {
    let principal = if class == Class::Webhook {
        None
    } else {
        match state.auth.authenticate(req.headers()).await {
            Ok(p) => p,
            Err(p) => return p.into_response(),
        }
    };
    match (class, &principal) {
        (Class::Admin | Class::Customer, None) => {
            return Problem::unauthorized("this route needs a bearer token").into_response();
        }
        (Class::Admin, Some(p)) if !p.has_role(&state.config.admin_role) => {
            return Problem::forbidden(format!(
                "this route needs the {} role",
                state.config.admin_role
            ))
            .into_response();
        }
        _ => {}
    }
    let decision = if state.config.rate_limit_disabled {
        None
    } else {
        let (user_q, ip_q) = state.checked.quotas[class.name()];
        let ip = client_ip(&req, state.config.trust_forwarded_for);
        let user = principal.as_ref().map(|p| (p.user_id.as_str(), user_q));
        state.limiter.check(class.name(), user, (&ip, ip_q)).await
    };
    let policy = principal
        .as_ref()
        .map_or(state.checked.quotas[class.name()].1, |_| {
            state.checked.quotas[class.name()].0
        });
    if let Some(d) = decision.filter(|d| !d.allowed) {
        metrics::counter!("api_rate_limited_total", "class" => class.name()).increment(1);
        let mut resp = d.problem().into_response();
        d.write_headers(policy, resp.headers_mut());
        return resp;
    }
    if let Some(p) = principal {
        req.extensions_mut().insert(p);
    }
    let mut resp = next.run(req).await;
    if let Some(d) = decision {
        d.write_headers(policy, resp.headers_mut());
    }
    resp
}

/// 403 unless `p` is `user_id` itself or an admin.
pub fn require_self(p: &Principal, user_id: &str, admin_role: &str) -> Result<(), Problem> {
    if p.user_id == user_id || p.has_role(admin_role) {
        Ok(())
    } else {
        Err(Problem::forbidden(
            "a customer may act only on its own user id",
        ))
    }
}

/// Builds the configured [`Auth`].
pub fn from_config(c: &crate::config::Config) -> Auth {
    if c.insecure_dev_auth {
        tracing::warn!(
            "AUTHENTICATION IS DISABLED (--insecure-dev-auth): every caller is trusted; for techpotli dev only"
        );
        return Auth::InsecureDev {
            admin_role: c.admin_role.clone(),
        };
    }
    let issuer = c.oidc_issuer.clone().unwrap_or_default();
    let discovery = c.oidc_discovery_url.clone().unwrap_or_else(|| {
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        )
    });
    Auth::Oidc {
        jwks: Arc::new(Jwks::new(
            &issuer,
            &discovery,
            Duration::from_secs(c.oidc_jwks_ttl_secs),
            Duration::from_secs(c.oidc_jwks_min_refresh_secs),
        )),
        issuer,
        audience: c.oidc_audience.clone().unwrap_or_default(),
        leeway: c.oidc_leeway_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ip_takes_the_proxy_appended_entry_only_when_trusted() {
        let mut req = Request::builder()
            .header("x-forwarded-for", "6.6.6.6, 10.0.0.7")
            .body(axum::body::Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 5000))));
        assert_eq!(client_ip(&req, true), "10.0.0.7");
        assert_eq!(client_ip(&req, false), "127.0.0.1");
    }

    #[test]
    fn customers_act_on_themselves_admins_on_anyone() {
        let p = |roles: &[&str]| Principal {
            user_id: "alice".into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        };
        assert!(require_self(&p(&[]), "alice", "admin").is_ok());
        assert_eq!(
            require_self(&p(&["customer"]), "bob", "admin")
                .unwrap_err()
                .status,
            403
        );
        assert!(require_self(&p(&["admin"]), "bob", "admin").is_ok());
    }
}
