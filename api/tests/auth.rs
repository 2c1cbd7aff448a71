//! OIDC against a local issuer whose keys are generated here: discovery + JWKS served by a
//! small axum app, tokens signed RS256 / ES256. Every way a token can be wrong is refused
//! (401), RBAC and ownership are enforced (403), rotation of the signing key works, and
//! nothing from a refused request reaches Kafka.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::RwLock;
use reqwest::StatusCode;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use techpotli_kafka::BrokerConfig;

const AUD: &str = "techpotli-api";

/// A signing key and its public JWK.
struct TestKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
    public_pem: Vec<u8>,
}

fn rsa_key(kid: &str) -> TestKey {
    let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let public = private.to_public_key();
    TestKey {
        kid: kid.into(),
        alg: Algorithm::RS256,
        encoding: EncodingKey::from_rsa_der(private.to_pkcs1_der().unwrap().as_bytes()),
        jwk: json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": B64.encode(public.n().to_bytes_be()), "e": B64.encode(public.e().to_bytes_be())}),
        public_pem: public
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap()
            .into_bytes(),
    }
}

fn ec_key(kid: &str) -> TestKey {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use p256::pkcs8::EncodePrivateKey;
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let point = secret.public_key().to_encoded_point(false);
    TestKey {
        kid: kid.into(),
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_der(secret.to_pkcs8_der().unwrap().as_bytes()),
        jwk: json!({"kty": "EC", "kid": kid, "use": "sig", "crv": "P-256",
            "x": B64.encode(point.x().unwrap()), "y": B64.encode(point.y().unwrap())}),
        public_pem: Vec::new(),
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The issuer: discovery document and a JWKS that the test can swap; counts JWKS fetches.
struct Issuer {
    url: String,
    jwks: Arc<RwLock<Value>>,
    fetches: Arc<AtomicUsize>,
}

async fn issuer() -> Issuer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let url = format!("{base}/realms/test");
    let jwks = Arc::new(RwLock::new(json!({"keys": []})));
    let fetches = Arc::new(AtomicUsize::new(0));
    let discovery =
        json!({"issuer": url, "jwks_uri": format!("{url}/protocol/openid-connect/certs")});
    let app = Router::new()
        .route(
            "/realms/test/.well-known/openid-configuration",
            get(move || async move { axum::Json(discovery) }),
        )
        .route(
            "/realms/test/protocol/openid-connect/certs",
            get(
                |State((j, n)): State<(Arc<RwLock<Value>>, Arc<AtomicUsize>)>| async move {
                    n.fetch_add(1, Ordering::SeqCst);
                    axum::Json(j.read().clone())
                },
            ),
        )
        .with_state((jwks.clone(), fetches.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Issuer { url, jwks, fetches }
}

fn token(key: &TestKey, claims: &Value) -> String {
    let mut h = Header::new(key.alg);
    h.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&h, claims, &key.encoding).unwrap()
}

fn claims(iss: &str, sub: &str, roles: &[&str]) -> Value {
    json!({"iss": iss, "aud": AUD, "sub": sub, "exp": now() + 300, "nbf": now() - 5, "iat": now(),
        "realm_access": {"roles": roles}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_tokens_rbac_ownership_and_key_rotation() {
    let iss = issuer().await;
    let (rsa1, ec1) = (rsa_key("rsa-1"), ec_key("ec-1"));
    *iss.jwks.write() = json!({"keys": [rsa1.jwk, ec1.jwk]});
    let (broker, registry) = common::infra(BrokerConfig::default()).await;
    let mut config = common::config(&broker.bootstrap, &registry.url());
    config.insecure_dev_auth = false;
    config.oidc_issuer = Some(iss.url.clone());
    config.oidc_audience = Some(AUD.into());
    config.oidc_jwks_min_refresh_secs = 0;
    config.cart_secret = Some("c".repeat(32));
    let api = techpotli_api::start(config).await.unwrap();
    let http = reqwest::Client::new();
    let product = json!({"product_id": "P-1", "title": "Bag", "category": "bags",
        "list_price_minor": 100, "currency": "INR", "active": true});
    // Each attempt writes another SKU: the topic is compacted, same-key records could merge.
    let attempt = AtomicUsize::new(0);
    let put_product = |bearer: Option<String>| {
        let n = attempt.fetch_add(1, Ordering::SeqCst);
        let mut rb = http
            .put(format!("{}/v1/admin/products/SKU-{n}", api.url()))
            .json(&product);
        if let Some(t) = bearer {
            rb = rb.bearer_auth(t);
        }
        rb.send()
    };
    let status = |r: reqwest::Result<reqwest::Response>| r.unwrap().status();

    // The happy paths: RS256 admin, ES256 customer.
    let admin = claims(&iss.url, "admin-1", &["admin"]);
    assert_eq!(
        status(put_product(Some(token(&rsa1, &admin))).await),
        StatusCode::ACCEPTED
    );
    let alice = token(&ec1, &claims(&iss.url, "alice", &["customer"]));
    let profile = json!({"name": "Alice", "email": "alice@example.in", "locale": "en-IN", "marketing_opt_in": false,
        "notification_preferences": {"email_enabled": true, "sms_enabled": false, "push_enabled": false,
            "webhook_enabled": false, "in_app_enabled": true}});
    let put_profile = |user: &str, t: &str| {
        http.put(format!("{}/v1/customers/{user}/profile", api.url()))
            .bearer_auth(t)
            .json(&profile)
            .send()
    };
    assert_eq!(
        status(put_profile("alice", &alice).await),
        StatusCode::ACCEPTED
    );

    // 401: no token, with a Bearer challenge.
    let r = put_product(None).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    // 401: every broken token.
    let mut bad = Vec::new();
    let mut c = admin.clone();
    c["exp"] = json!(now() - 120);
    bad.push(("expired", token(&rsa1, &c)));
    let mut c = admin.clone();
    c["nbf"] = json!(now() + 120);
    bad.push(("not yet valid", token(&rsa1, &c)));
    let mut c = admin.clone();
    c["iss"] = json!("https://evil.example/realms/test");
    bad.push(("wrong issuer", token(&rsa1, &c)));
    let mut c = admin.clone();
    c["aud"] = json!("another-api");
    bad.push(("wrong audience", token(&rsa1, &c)));
    let mut c = admin.clone();
    c.as_object_mut().unwrap().remove("exp");
    bad.push(("no exp", token(&rsa1, &c)));
    let stranger = rsa_key("rsa-unknown");
    bad.push(("unknown kid", token(&stranger, &admin)));
    let mut impostor = rsa_key("rsa-1"); // a known kid, signed by another key
    impostor.kid = "rsa-1".into();
    bad.push(("wrong key for kid", token(&impostor, &admin)));
    let good = token(&rsa1, &claims(&iss.url, "customer-9", &["customer"]));
    let parts: Vec<&str> = good.split('.').collect();
    let forged_claims = B64.encode(serde_json::to_vec(&admin).unwrap());
    bad.push((
        "tampered payload",
        format!("{}.{forged_claims}.{}", parts[0], parts[2]),
    ));
    let none_header = B64.encode(br#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#);
    bad.push(("alg=none", format!("{none_header}.{forged_claims}.")));
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("rsa-1".into());
    let hs_token =
        jsonwebtoken::encode(&hs, &admin, &EncodingKey::from_secret(&rsa1.public_pem)).unwrap();
    bad.push(("HS256 with the public key", hs_token));
    bad.push(("garbage", "not.a.jwt".into()));
    for (why, t) in bad {
        let r = put_product(Some(t)).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{why}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{why}"
        );
    }
    // 403: missing role; another customer's profile and cart.
    assert_eq!(
        status(put_product(Some(alice.clone())).await),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(put_profile("bob", &alice).await),
        StatusCode::FORBIDDEN
    );
    let bob = token(&rsa1, &claims(&iss.url, "bob", &["customer"]));
    let created: Value = http
        .post(format!("{}/v1/carts", api.url()))
        .bearer_auth(&alice)
        .json(&json!({"sku": "SKU-1", "quantity": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cart = created["cart_id"].as_str().unwrap();
    let add = |t: &str| {
        http.post(format!("{}/v1/carts/{cart}/items", api.url()))
            .bearer_auth(t)
            .json(&json!({"sku": "SKU-2", "quantity": 1}))
            .send()
    };
    assert_eq!(status(add(&bob).await), StatusCode::FORBIDDEN);
    assert_eq!(status(add(&alice).await), StatusCode::ACCEPTED);
    // Anonymous storefront activity is fine; a bad token there is not.
    let activity = |t: Option<&str>| {
        let mut rb = http
            .post(format!("{}/v1/activity", api.url()))
            .json(&json!({"events": [{"session_id": "anon-1", "kind": "PAGE_VIEW"}]}));
        if let Some(t) = t {
            rb = rb.bearer_auth(t);
        }
        rb.send()
    };
    assert_eq!(status(activity(None).await), StatusCode::ACCEPTED);
    assert_eq!(
        status(activity(Some("not.a.jwt")).await),
        StatusCode::UNAUTHORIZED
    );

    // Reads: an order needs a token (its owner's or an admin's); stock is public.
    let read = |path: &str, t: Option<&str>| {
        let mut rb = http.get(format!("{}{path}", api.url()));
        if let Some(t) = t {
            rb = rb.bearer_auth(t);
        }
        rb.send()
    };
    assert_eq!(
        status(read("/v1/orders/o-1", None).await),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(read("/v1/orders/o-1", Some("not.a.jwt")).await),
        StatusCode::UNAUTHORIZED
    );
    assert_ne!(
        status(read("/v1/stock/SKU-1", None).await),
        StatusCode::UNAUTHORIZED
    );

    // Rotation: the issuer replaces rsa-1 with rsa-2; tokens of the new key work at once
    // (unknown kid -> refetch), tokens of the removed key stop working.
    let rsa2 = rsa_key("rsa-2");
    *iss.jwks.write() = json!({"keys": [rsa2.jwk, ec1.jwk]});
    let before = iss.fetches.load(Ordering::SeqCst);
    assert_eq!(
        status(put_product(Some(token(&rsa2, &admin))).await),
        StatusCode::ACCEPTED
    );
    assert!(
        iss.fetches.load(Ordering::SeqCst) > before,
        "rotation refetched the JWKS"
    );
    assert_eq!(
        status(put_product(Some(token(&rsa1, &admin))).await),
        StatusCode::UNAUTHORIZED
    );

    // Only accepted requests reached Kafka.
    let products = common::read_topic(
        &broker.bootstrap,
        "catalog.products",
        2,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(products.len(), 2);
    assert_eq!(
        common::read_topic(
            &broker.bootstrap,
            "customers.profiles",
            1,
            Duration::from_secs(5)
        )
        .await
        .len(),
        1
    );
    assert_eq!(
        common::read_topic(&broker.bootstrap, "carts.events", 2, Duration::from_secs(5))
            .await
            .len(),
        2
    );
    let acts = common::read_topic(
        &broker.bootstrap,
        "storefront.activity",
        1,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(acts.len(), 1);
    let codec = techpotli_schemas::codec::Codec::new(&registry.url());
    let a: techpotli_schemas::types::UserActivity = codec
        .decode(acts[0].payload.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(a.user_id, None, "anonymous activity has no user id");
    api.shutdown().await.unwrap();
}
