//! Customer profiles (`customers.profiles`, key user_id): a customer writes its own.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use techpotli_schemas::types::customers::{CustomerUpserted, NotificationPreferences};
use techpotli_topics::typed::CUSTOMERS_PROFILES;
use utoipa::ToSchema;

use super::{Trace, path_id, produce_one};
use crate::app::Shared;
use crate::auth::{Principal, require_self};
use crate::problem::Problem;
use crate::produce::Meta;
use crate::validate::{self as v, Json};

/// Per-channel opt-ins for transactional notifications.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(clippy::struct_excessive_bools)]
pub struct PreferencesRequest {
    pub email_enabled: bool,
    pub sms_enabled: bool,
    pub push_enabled: bool,
    pub webhook_enabled: bool,
    pub in_app_enabled: bool,
    /// Absolute https URL for webhook notifications; required when webhook_enabled.
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub webhook_url: Option<String>,
    /// Push device token, at most 4096 characters.
    #[serde(default)]
    #[schema(max_length = 4096)]
    pub push_token: Option<String>,
}

/// The full profile (replaces the previous one).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    /// Display name, 1..=200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Email address.
    #[schema(max_length = 254)]
    pub email: String,
    /// E.164 phone, e.g. `+919812345678`.
    #[serde(default)]
    #[schema(pattern = r"^\+[1-9][0-9]{6,14}$")]
    pub phone: Option<String>,
    /// BCP 47 language tag, e.g. `en-IN`.
    #[schema(max_length = 35)]
    pub locale: String,
    pub notification_preferences: PreferencesRequest,
    pub marketing_opt_in: bool,
}

impl ProfileRequest {
    /// Validates and builds the record for `user_id`.
    pub fn to_record(
        self,
        user_id: &str,
        meta: &Meta,
        now: i64,
    ) -> Result<CustomerUpserted, Problem> {
        path_id("user_id", user_id)?;
        v::text("body.name", &self.name, 200)?;
        v::email("body.email", &self.email)?;
        if let Some(p) = &self.phone {
            v::e164("body.phone", p)?;
        }
        v::locale("body.locale", &self.locale)?;
        let p = self.notification_preferences;
        if let Some(u) = &p.webhook_url {
            v::https_url("body.notification_preferences.webhook_url", u)?;
        }
        if p.webhook_enabled && p.webhook_url.is_none() {
            return Err(Problem::invalid(
                "body.notification_preferences.webhook_url",
                "required when webhook_enabled",
            ));
        }
        if p.sms_enabled && self.phone.is_none() {
            return Err(Problem::invalid("body.phone", "required when sms_enabled"));
        }
        v::optional_text(
            "body.notification_preferences.push_token",
            p.push_token.as_deref(),
            4096,
        )?;
        Ok(CustomerUpserted {
            event_id: meta.event_id,
            event_time: now,
            user_id: user_id.to_owned(),
            name: self.name,
            email: self.email,
            phone: self.phone,
            locale: self.locale,
            notification_preferences: NotificationPreferences {
                email_enabled: p.email_enabled,
                sms_enabled: p.sms_enabled,
                push_enabled: p.push_enabled,
                webhook_enabled: p.webhook_enabled,
                in_app_enabled: p.in_app_enabled,
                webhook_url: p.webhook_url,
                push_token: p.push_token,
            },
            marketing_opt_in: self.marketing_opt_in,
        })
    }
}

/// Create or replace the caller's profile (admins may write any).
#[utoipa::path(put, path = "/v1/customers/{user_id}/profile", tag = "customer",
    params(("user_id" = String, Path, description = "The caller's user id (token subject)")),
    request_body = ProfileRequest,
    responses((status = 202, body = super::Accepted), crate::openapi::Errors),
    security(("bearer" = [])))]
pub async fn put_profile(
    State(state): State<Shared>,
    Extension(caller): Extension<Principal>,
    Trace(trace): Trace,
    Path(user_id): Path<String>,
    Json(req): Json<ProfileRequest>,
) -> Result<Response, Problem> {
    require_self(&caller, &user_id, &state.config.admin_role)?;
    let meta = Meta::new(trace);
    let record = req.to_record(&user_id, &meta, super::now_ms())?;
    produce_one(&state, CUSTOMERS_PROFILES, &user_id, Some(&record), meta).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use techpotli_telemetry::TraceParent;

    #[test]
    fn profile_rules() {
        let base = serde_json::json!({"name": "Asha", "email": "asha@example.in", "phone": "+919812345678",
            "locale": "en-IN", "marketing_opt_in": false,
            "notification_preferences": {"email_enabled": true, "sms_enabled": true, "push_enabled": false,
                "webhook_enabled": false, "in_app_enabled": true}});
        let go = |v: serde_json::Value| {
            let r: ProfileRequest = serde_json::from_value(v).unwrap();
            r.to_record("u-1", &Meta::new(TraceParent::new_root()), 1)
        };
        let r = go(base.clone()).unwrap();
        assert!(r.notification_preferences.sms_enabled);
        let with = |path: &[&str], val: serde_json::Value| {
            let mut b = base.clone();
            let mut cur = &mut b;
            for p in &path[..path.len() - 1] {
                cur = &mut cur[*p];
            }
            cur[path[path.len() - 1]] = val;
            go(b).unwrap_err().field.unwrap()
        };
        assert_eq!(with(&["email"], "nope".into()), "body.email");
        assert_eq!(with(&["locale"], "EN".into()), "body.locale");
        assert_eq!(with(&["phone"], serde_json::Value::Null), "body.phone");
        assert_eq!(
            with(
                &["notification_preferences", "webhook_enabled"],
                true.into()
            ),
            "body.notification_preferences.webhook_url"
        );
    }
}
