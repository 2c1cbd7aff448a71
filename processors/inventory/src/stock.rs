//! The stock rules, pure: `(state, command) -> (state, answer)`.
//!
//! Invariants kept for every SKU: `on_hand >= 0`, `reserved >= 0`, and a reservation never
//! makes `reserved > on_hand`. Only an adjustment can leave `on_hand < reserved` (goods damaged
//! after they were reserved); it is applied, never dropped, and the level is flagged.

use serde::{Deserialize, Serialize};

/// The stock of one SKU.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkuStock {
    pub on_hand: i32,
    pub reserved: i32,
    /// Whether any adjustment was ever applied (a SKU never stocked is unknown, not empty).
    pub known: bool,
}

impl SkuStock {
    /// Units that can still be reserved.
    pub fn available(&self) -> i32 {
        (self.on_hand - self.reserved).max(0)
    }

    /// Oversold: reserved exceeds what is on hand (only adjustments can cause it).
    pub fn flagged(&self) -> bool {
        self.on_hand < self.reserved
    }
}

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rejection {
    InsufficientStock,
    UnknownSku,
    InvalidQuantity,
}

/// What happened to one (order, SKU) pair: remembered so a repeated command is answered the
/// same way and has no second effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hold {
    Reserved(i32),
    Rejected {
        requested: i32,
        available: i32,
        reason: Rejection,
    },
    Released(i32),
}

/// The answer to a command (becomes a `ReservationResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Reserved(i32),
    Rejected {
        requested: i32,
        available: i32,
        reason: Rejection,
    },
    Released(i32),
}

/// The outcome of a command: the pair's hold afterwards, the answer, and whether the SKU's level
/// changed (then a `StockLevel` is published).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub hold: Hold,
    pub answer: Answer,
    pub level_changed: bool,
}

/// Applies a signed adjustment. `on_hand` is clamped at 0 (a DAMAGE larger than the stock
/// empties it); returns whether the clamp was needed so the caller can log it.
pub fn adjust(stock: &mut SkuStock, delta: i32) -> bool {
    let target = i64::from(stock.on_hand) + i64::from(delta);
    stock.on_hand = target.clamp(0, i64::from(i32::MAX)) as i32;
    stock.known = true;
    target < 0
}

/// Reserves `quantity` for a pair with previous hold `hold`.
pub fn reserve(stock: &mut SkuStock, hold: Option<Hold>, quantity: i32) -> Outcome {
    if let Some(h) = hold {
        // Repeated (or post-release) command: answer again, change nothing.
        let answer = match h {
            Hold::Reserved(q) => Answer::Reserved(q),
            Hold::Rejected {
                requested,
                available,
                reason,
            } => Answer::Rejected {
                requested,
                available,
                reason,
            },
            Hold::Released(_) => Answer::Released(0),
        };
        return Outcome {
            hold: h,
            answer,
            level_changed: false,
        };
    }
    let available = stock.available();
    let reject = |reason| {
        let hold = Hold::Rejected {
            requested: quantity,
            available,
            reason,
        };
        Outcome {
            hold,
            answer: Answer::Rejected {
                requested: quantity,
                available,
                reason,
            },
            level_changed: false,
        }
    };
    if quantity <= 0 {
        return reject(Rejection::InvalidQuantity);
    }
    if !stock.known {
        return reject(Rejection::UnknownSku);
    }
    if available < quantity {
        return reject(Rejection::InsufficientStock);
    }
    stock.reserved += quantity;
    Outcome {
        hold: Hold::Reserved(quantity),
        answer: Answer::Reserved(quantity),
        level_changed: true,
    }
}

/// Releases what the pair holds (never more than it holds, never twice).
pub fn release(stock: &mut SkuStock, hold: Option<Hold>) -> Outcome {
    match hold {
        Some(Hold::Reserved(q)) => {
            stock.reserved = (stock.reserved - q).max(0);
            Outcome {
                hold: Hold::Released(q),
                answer: Answer::Released(q),
                level_changed: true,
            }
        }
        // Nothing held (rejected, already released, or never asked): answer 0. A pair released
        // before it was ever reserved stays released, so a late reserve cannot take stock.
        Some(h @ (Hold::Rejected { .. } | Hold::Released(_))) => Outcome {
            hold: h,
            answer: Answer::Released(0),
            level_changed: false,
        },
        None => Outcome {
            hold: Hold::Released(0),
            answer: Answer::Released(0),
            level_changed: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stocked(on_hand: i32) -> SkuStock {
        let mut s = SkuStock::default();
        adjust(&mut s, on_hand);
        s
    }

    #[test]
    fn reserves_only_what_is_available() {
        let mut s = stocked(5);
        assert_eq!(reserve(&mut s, None, 3).answer, Answer::Reserved(3));
        assert_eq!(s.available(), 2);
        let o = reserve(&mut s, None, 3);
        assert_eq!(
            o.answer,
            Answer::Rejected {
                requested: 3,
                available: 2,
                reason: Rejection::InsufficientStock
            }
        );
        assert!(!o.level_changed);
        assert_eq!(s.reserved, 3);
        assert_eq!(reserve(&mut s, None, 2).answer, Answer::Reserved(2));
        assert_eq!((s.available(), s.flagged()), (0, false));
    }

    #[test]
    fn unknown_skus_and_bad_quantities_are_rejected() {
        let mut s = SkuStock::default();
        assert!(matches!(
            reserve(&mut s, None, 1).answer,
            Answer::Rejected {
                reason: Rejection::UnknownSku,
                ..
            }
        ));
        let mut s = stocked(10);
        for q in [0, -4] {
            assert!(matches!(
                reserve(&mut s, None, q).answer,
                Answer::Rejected {
                    reason: Rejection::InvalidQuantity,
                    ..
                }
            ));
        }
        assert_eq!(s.reserved, 0);
    }

    #[test]
    fn repeated_commands_have_no_second_effect() {
        let mut s = stocked(10);
        let first = reserve(&mut s, None, 4);
        let again = reserve(&mut s, Some(first.hold), 4);
        assert_eq!(again.answer, Answer::Reserved(4));
        assert!(!again.level_changed);
        assert_eq!(s.reserved, 4);
        let rel = release(&mut s, Some(first.hold));
        assert_eq!(rel.answer, Answer::Released(4));
        assert_eq!(s.reserved, 0);
        let rel_again = release(&mut s, Some(rel.hold));
        assert_eq!(rel_again.answer, Answer::Released(0));
        assert_eq!(s.reserved, 0);
        // A reserve after the release does not take stock again.
        assert_eq!(
            reserve(&mut s, Some(rel.hold), 4).answer,
            Answer::Released(0)
        );
        assert_eq!(s.reserved, 0);
        // Releasing a pair that never held anything answers 0 and blocks a late reserve.
        let never = release(&mut s, None);
        assert_eq!(never.answer, Answer::Released(0));
        assert_eq!(
            reserve(&mut s, Some(never.hold), 1).answer,
            Answer::Released(0)
        );
    }

    #[test]
    fn adjustments_never_go_negative_and_flag_oversold_stock() {
        let mut s = stocked(5);
        reserve(&mut s, None, 4);
        assert!(!adjust(&mut s, -3)); // damage after reservation
        assert_eq!((s.on_hand, s.reserved, s.available()), (2, 4, 0));
        assert!(s.flagged());
        assert!(adjust(&mut s, -10)); // clamped
        assert_eq!(s.on_hand, 0);
        adjust(&mut s, 10);
        assert!(!s.flagged());
        assert_eq!(s.available(), 6);
    }

    /// Property: whatever sequence of commands arrives, on_hand and reserved stay >= 0 and only
    /// adjustments can make reserved exceed on_hand.
    #[test]
    fn random_command_sequences_keep_the_invariants() {
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for _ in 0..200 {
            let mut s = SkuStock::default();
            let mut holds: Vec<Option<Hold>> = vec![None; 8];
            for _ in 0..200 {
                let order = next(8) as usize;
                match next(3) {
                    0 => {
                        adjust(&mut s, next(11) as i32 - 4);
                    }
                    1 => {
                        let before = s;
                        let o = reserve(&mut s, holds[order], next(5) as i32);
                        holds[order] = Some(o.hold);
                        if o.level_changed {
                            assert!(s.reserved <= s.on_hand, "{before:?} -> {s:?}");
                        }
                    }
                    _ => {
                        let o = release(&mut s, holds[order]);
                        holds[order] = Some(o.hold);
                    }
                }
                assert!(s.on_hand >= 0 && s.reserved >= 0);
                let held: i32 = holds
                    .iter()
                    .map(|h| match h {
                        Some(Hold::Reserved(q)) => *q,
                        _ => 0,
                    })
                    .sum();
                assert_eq!(held, s.reserved, "reserved equals the sum of held pairs");
            }
        }
    }
}
