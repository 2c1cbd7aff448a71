//! The token claims the API reads: the subject (the user id every customer action is bound to)
//! and Keycloak's realm roles (`realm_access.roles`).

use serde::Deserialize;

/// Keycloak's `realm_access` claim.
#[derive(Debug, Default, Deserialize)]
pub struct RealmAccess {
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Claims of an access token (registered claims are checked by jsonwebtoken's `Validation`).
#[derive(Debug, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub realm_access: RealmAccess,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// OIDC subject: the customer's `user_id`.
    pub user_id: String,
    /// Realm roles.
    pub roles: Vec<String>,
}

impl Principal {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

impl From<Claims> for Principal {
    fn from(c: Claims) -> Self {
        Self {
            user_id: c.sub,
            roles: c.realm_access.roles,
        }
    }
}
