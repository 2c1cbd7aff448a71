//! Payment-provider webhook signatures: header `Techpotli-Signature: t=<unix seconds>,v1=<hex>`
//! where `v1` is HMAC-SHA256 over `"<t>.<raw body>"` with the provider's shared secret (the
//! scheme Stripe uses). The timestamp is signed, so a captured request cannot be replayed
//! after the tolerance (5 min by default) by changing it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::problem::Problem;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "techpotli-signature";

/// The header value for `body` signed at `t` (what a provider sends; used by tests and the
/// fake provider).
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    format!("t={t},v1={}", hex::encode(m.finalize().into_bytes()))
}

/// Checks `header` against `body`: a valid `v1` signature (several may be present during a
/// secret rotation) and a timestamp within `tolerance_secs` of `now_secs`.
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: u64,
) -> Result<(), Problem> {
    let header = header.ok_or_else(|| bad("missing Techpotli-Signature header"))?;
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let t = t.ok_or_else(|| bad("signature header has no valid t= timestamp"))?;
    if sigs.is_empty() {
        return Err(bad("signature header has no v1= signature"));
    }
    let valid = sigs.iter().any(|sig| {
        let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
        m.update(t.to_string().as_bytes());
        m.update(b".");
        m.update(body);
        m.verify_slice(sig).is_ok() // constant time
    });
    if !valid {
        return Err(bad("signature does not match the body"));
    }
    if now_secs.abs_diff(t) > tolerance_secs {
        return Err(bad(
            "signature timestamp is outside the tolerance (replayed or clock skew)",
        ));
    }
    Ok(())
}

fn bad(detail: &str) -> Problem {
    Problem::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "bad-signature",
        "Invalid webhook signature",
        detail,
    )
    .at("header.Techpotli-Signature")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"whsec_0123456789abcdef";

    #[test]
    fn accepts_fresh_signed_bodies_only() {
        let body = br#"{"a":1}"#;
        let h = sign(KEY, 1_000, body);
        assert!(verify(KEY, Some(&h), body, 1_000, 300).is_ok());
        assert!(verify(KEY, Some(&h), body, 1_299, 300).is_ok());
        // replay after 5 minutes, and a timestamp from the future
        assert!(verify(KEY, Some(&h), body, 1_301, 300).is_err());
        assert!(verify(KEY, Some(&h), body, 699, 300).is_err());
        // tampered body, wrong key, missing or mangled header, timestamp swapped
        assert!(verify(KEY, Some(&h), br#"{"a":2}"#, 1_000, 300).is_err());
        assert!(verify(b"other-secret-xxxxxxxx", Some(&h), body, 1_000, 300).is_err());
        assert!(verify(KEY, None, body, 1_000, 300).is_err());
        assert!(verify(KEY, Some("v1=00"), body, 1_000, 300).is_err());
        let swapped = h.replace("t=1000", "t=1200");
        assert!(verify(KEY, Some(&swapped), body, 1_200, 300).is_err());
        // rotation: any listed v1 may match
        let two = format!("{h},v1=deadbeef");
        assert!(verify(KEY, Some(&two), body, 1_000, 300).is_ok());
    }
}
