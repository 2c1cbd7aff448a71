//! Cart ids that prove their owner: `c-<uuid v7, 32 hex>-<24 hex MAC>`, the MAC an
//! HMAC-SHA256 of the owner's user id and the uuid under the API's cart secret. Checking
//! ownership needs no lookup, so carts keep working with Redis down, and a customer cannot
//! forge a cart id that passes for someone else's.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::problem::Problem;

/// Bytes of MAC kept in the id (96 bits).
const MAC_BYTES: usize = 12;

/// Issues and checks cart ids.
#[derive(Clone)]
pub struct CartIds {
    secret: Vec<u8>,
}

impl CartIds {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            secret: secret.to_vec(),
        }
    }

    fn mac(&self, user_id: &str, uuid_hex: &str) -> [u8; MAC_BYTES] {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        m.update(b"techpotli-cart\0");
        m.update(user_id.as_bytes());
        m.update(b"\0");
        m.update(uuid_hex.as_bytes());
        let full = m.finalize().into_bytes();
        let mut out = [0; MAC_BYTES];
        out.copy_from_slice(&full[..MAC_BYTES]);
        out
    }

    /// A new cart id owned by `user_id`.
    pub fn issue(&self, user_id: &str) -> String {
        let u = Uuid::now_v7().simple().to_string();
        format!("c-{u}-{}", hex::encode(self.mac(user_id, &u)))
    }

    /// Ok when `cart_id` is well-formed (else 422 naming `field`) and owned by `user_id`
    /// (else 403).
    pub fn check(&self, field: &str, cart_id: &str, user_id: &str) -> Result<(), Problem> {
        let parsed = cart_id
            .strip_prefix("c-")
            .and_then(|r| r.split_once('-'))
            .filter(|(u, m)| {
                u.len() == 32
                    && m.len() == MAC_BYTES * 2
                    && u.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            })
            .and_then(|(u, m)| hex::decode(m).ok().map(|m| (u, m)));
        let Some((u, mac)) = parsed else {
            return Err(Problem::invalid(
                field,
                "is not a cart id issued by this API (c-<32 hex>-<24 hex>)",
            ));
        };
        if bool::from(self.mac(user_id, u).ct_eq(&mac)) {
            Ok(())
        } else {
            Err(Problem::forbidden("this cart belongs to another customer"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_prove_their_owner() {
        let ids = CartIds::new(b"0123456789abcdef0123456789abcdef");
        let a = ids.issue("alice");
        assert!(ids.check("path.cart_id", &a, "alice").is_ok());
        assert_eq!(
            ids.check("path.cart_id", &a, "bob").unwrap_err().status,
            403
        );
        let other_key = CartIds::new(b"another-secret-another-secret-xx");
        assert_eq!(other_key.check("c", &a, "alice").unwrap_err().status, 403);
        for bad in ["", "c-", "cart-1", &a[..a.len() - 1], &a.to_uppercase()] {
            assert_eq!(
                ids.check("path.cart_id", bad, "alice").unwrap_err().status,
                422,
                "{bad}"
            );
        }
    }
}
