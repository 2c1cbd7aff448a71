//! The issuer's signing keys: discovery document -> `jwks_uri` -> JWKS, cached by `kid`.
//! An unknown `kid` (the issuer rotated its key) triggers a refetch, at most once per
//! `min_refresh` so forged key ids cannot make the API hammer the issuer; the whole set is also
//! refetched after `ttl` so removed keys stop verifying.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use parking_lot::RwLock;
use serde::Deserialize;

/// A verification key and the one algorithm it may be used with.
#[derive(Clone)]
pub struct Key {
    pub key: DecodingKey,
    pub alg: Algorithm,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Key>,
    fetched: Option<Instant>,
    jwks_uri: Option<String>,
}

/// Why no key could be had.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("no signing key with kid {0:?}")]
    UnknownKid(String),
    #[error("fetching keys from the issuer: {0}")]
    Fetch(String),
}

/// The cached key set of one issuer.
pub struct Jwks {
    issuer: String,
    discovery_url: String,
    http: reqwest::Client,
    ttl: Duration,
    min_refresh: Duration,
    cache: RwLock<Cache>,
    /// Serialises refetches so a burst of unknown-kid tokens causes one fetch.
    refetch: tokio::sync::Mutex<()>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

impl Jwks {
    pub fn new(issuer: &str, discovery_url: &str, ttl: Duration, min_refresh: Duration) -> Self {
        Self {
            issuer: issuer.to_owned(),
            discovery_url: discovery_url.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("http client"),
            ttl,
            min_refresh,
            cache: RwLock::default(),
            refetch: tokio::sync::Mutex::new(()),
        }
    }

    /// The key for `kid`, refetching the set when it is unknown or the cache is stale.
    pub async fn key(&self, kid: &str) -> Result<Key, JwksError> {
        {
            let c = self.cache.read();
            let fresh = c.fetched.is_some_and(|t| t.elapsed() < self.ttl);
            if let (true, Some(k)) = (fresh, c.keys.get(kid)) {
                return Ok(k.clone());
            }
        }
        let _guard = self.refetch.lock().await;
        // Another task may have refetched while this one waited.
        let (known, recent) = {
            let c = self.cache.read();
            let recent = c.fetched.is_some_and(|t| t.elapsed() < self.min_refresh);
            (c.keys.get(kid).cloned(), recent)
        };
        let stale = self
            .cache
            .read()
            .fetched
            .is_none_or(|t| t.elapsed() >= self.ttl);
        match known {
            Some(k) if !stale => return Ok(k),
            None if recent => return Err(JwksError::UnknownKid(kid.to_owned())),
            _ => {}
        }
        match self.refresh().await {
            Ok(()) => {}
            // Keep serving a known key through a brief issuer outage.
            Err(e) => return known.ok_or(e),
        }
        self.cache
            .read()
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| JwksError::UnknownKid(kid.to_owned()))
    }

    async fn refresh(&self) -> Result<(), JwksError> {
        let fetch = |e: reqwest::Error| JwksError::Fetch(e.to_string());
        let uri = self.cache.read().jwks_uri.clone();
        let uri = if let Some(u) = uri {
            u
        } else {
            {
                let d: Discovery = self
                    .http
                    .get(&self.discovery_url)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(fetch)?
                    .json()
                    .await
                    .map_err(fetch)?;
                if d.issuer.trim_end_matches('/') != self.issuer.trim_end_matches('/') {
                    return Err(JwksError::Fetch(format!(
                        "discovery document names issuer {:?}, expected {:?}",
                        d.issuer, self.issuer
                    )));
                }
                d.jwks_uri
            }
        };
        let set: RawSet = self
            .http
            .get(&uri)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(fetch)?
            .json()
            .await
            .map_err(fetch)?;
        let keys = parse_keys(set.keys);
        tracing::info!(keys = keys.len(), jwks_uri = %uri, "fetched the issuer's signing keys");
        let mut c = self.cache.write();
        c.keys = keys;
        c.fetched = Some(Instant::now());
        c.jwks_uri = Some(uri);
        Ok(())
    }
}

/// Signature keys we can use: RSA (RS256) and EC P-256 (ES256), each with a `kid`. Others
/// (encryption keys, symmetric keys, other curves) are skipped, never trusted.
fn parse_keys(raw: Vec<serde_json::Value>) -> HashMap<String, Key> {
    let mut out = HashMap::new();
    for v in raw {
        let Ok(jwk) = serde_json::from_value::<Jwk>(v) else {
            continue;
        };
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let alg = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => continue,
        };
        // A key that declares another algorithm than its type implies is not used at all.
        if jwk
            .common
            .key_algorithm
            .is_some_and(|declared| format!("{declared:?}") != format!("{alg:?}"))
        {
            continue;
        }
        if let Ok(key) = DecodingKey::from_jwk(&jwk) {
            out.insert(kid, Key { key, alg });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rsa_and_p256_signature_keys_with_a_kid_are_kept() {
        let raw: Vec<serde_json::Value> = serde_json::from_str(
            r#"[
            {"kty":"oct","kid":"h","k":"c2VjcmV0"},
            {"kty":"RSA","kid":"r","use":"sig","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"},
            {"kty":"RSA","kid":"enc","use":"enc","n":"sXch","e":"AQAB"},
            {"kty":"RSA","n":"sXch","e":"AQAB"}
        ]"#,
        )
        .unwrap();
        let keys = parse_keys(raw);
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["r"]);
        assert_eq!(keys["r"].alg, Algorithm::RS256);
    }
}
