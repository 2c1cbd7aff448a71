//! The inventory processor on the runtime: decodes `inventory.adjustments` and
//! `inventory.reservation-requests` (both keyed by SKU, co-partitioned), applies [`crate::stock`]
//! and emits the answer (`inventory.reservations`, keyed by order) and the new level
//! (`inventory.levels`, keyed by SKU).

use techpotli_runtime::{Context, InputRecord, ProcessError, Processor, json_state};
use techpotli_schemas::types::inventory::{
    ReservationRequest, ReservationRequestPayload, ReservationResult, ReservationResultPayload,
    StockAdjusted, StockAdjustmentReason, StockChangeReason, StockLevel, StockRejected,
    StockRejectionReason, StockReleased, StockReserved,
};
use techpotli_topics::names;

use crate::stock::{self, Answer, Hold, Rejection, SkuStock};

/// Store: SKU → [`SkuStock`].
pub const STOCK: &str = "stock";
/// Store: `<sku>\0<order_id>` → [`Hold`]. One entry per order line ever reserved (kept so a
/// repeated command is answered without effect); see `docs/processors.md` for the memory bound.
pub const HOLDS: &str = "holds";

json_state!(SkuStock, 1);
json_state!(Hold, 1);

/// The inventory processor.
#[derive(Debug, Default, Clone)]
pub struct Inventory;

impl Inventory {
    /// The topics it consumes.
    pub const INPUTS: [&'static str; 2] = [
        names::INVENTORY_ADJUSTMENTS.0,
        names::INVENTORY_RESERVATION_REQUESTS.0,
    ];
}

fn hold_key(sku: &str, order_id: &str) -> String {
    format!("{sku}\0{order_id}")
}

fn change_reason(r: StockAdjustmentReason) -> StockChangeReason {
    match r {
        StockAdjustmentReason::Restock => StockChangeReason::Restock,
        StockAdjustmentReason::Damage => StockChangeReason::Damage,
        StockAdjustmentReason::Return => StockChangeReason::Return,
        StockAdjustmentReason::Correction | StockAdjustmentReason::Unknown => {
            StockChangeReason::Correction
        }
    }
}

fn level(sku: &str, s: &SkuStock, event_time: i64, reason: StockChangeReason) -> StockLevel {
    StockLevel {
        event_id: uuid::Uuid::now_v7(),
        event_time,
        sku: sku.to_owned(),
        on_hand: s.on_hand,
        reserved: s.reserved,
        available: s.available(),
        flagged: s.flagged(),
        last_change_reason: reason,
    }
}

fn rejection(r: Rejection) -> StockRejectionReason {
    match r {
        Rejection::InsufficientStock => StockRejectionReason::InsufficientStock,
        Rejection::UnknownSku => StockRejectionReason::UnknownSku,
        Rejection::InvalidQuantity => StockRejectionReason::InvalidQuantity,
    }
}

fn result_payload(a: Answer) -> ReservationResultPayload {
    match a {
        Answer::Reserved(quantity) => {
            ReservationResultPayload::StockReserved(StockReserved { quantity })
        }
        Answer::Rejected {
            requested,
            available,
            reason,
        } => ReservationResultPayload::StockRejected(StockRejected {
            requested_quantity: requested,
            available,
            reason: rejection(reason),
        }),
        Answer::Released(quantity) => {
            ReservationResultPayload::StockReleased(StockReleased { quantity })
        }
    }
}

fn check_key(record: &InputRecord, sku: &str) -> Result<(), ProcessError> {
    // The key decides the partition and so the single writer: a value for another SKU under
    // this key would be applied by the wrong writer.
    if record.key.as_deref() != Some(sku.as_bytes()) {
        return Err(ProcessError::Invariant(format!(
            "key {:?} does not match sku {sku:?}",
            record.key.as_deref().map(String::from_utf8_lossy)
        )));
    }
    Ok(())
}

fn adjustment(record: &InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
    let adj: StockAdjusted = ctx.decode(record.value.as_deref())?;
    check_key(record, &adj.sku)?;
    if adj.delta == 0 {
        return Err(ProcessError::Invariant("delta must not be 0".into()));
    }
    let store = ctx.store(STOCK)?;
    let mut s: SkuStock = store.get(&adj.sku)?.unwrap_or_default();
    if stock::adjust(&mut s, adj.delta) {
        tracing::warn!(sku = %adj.sku, delta = adj.delta, "adjustment below zero; on hand clamped to 0");
    }
    if s.flagged() {
        tracing::warn!(sku = %adj.sku, on_hand = s.on_hand, reserved = s.reserved, "stock oversold by an adjustment: flagged");
    }
    store.put(&adj.sku, &s);
    let lvl = level(&adj.sku, &s, adj.event_time, change_reason(adj.reason));
    ctx.emit_avro(names::INVENTORY_LEVELS.0, &adj.sku, Some(&lvl))
}

fn request(record: &InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
    let req: ReservationRequest = ctx.decode(record.value.as_deref())?;
    check_key(record, &req.sku)?;
    let key = hold_key(&req.sku, &req.order_id);
    let mut s: SkuStock = ctx.store(STOCK)?.get(&req.sku)?.unwrap_or_default();
    let hold: Option<Hold> = ctx.store(HOLDS)?.get(&key)?;
    let (outcome, reason) = match &req.payload {
        ReservationRequestPayload::ReserveStock(r) => (
            stock::reserve(&mut s, hold, r.quantity),
            StockChangeReason::Reservation,
        ),
        ReservationRequestPayload::ReleaseStock(_) => {
            (stock::release(&mut s, hold), StockChangeReason::Release)
        }
    };
    if hold != Some(outcome.hold) {
        ctx.store(HOLDS)?.put(&key, &outcome.hold);
    }
    let answer = ReservationResult {
        event_id: uuid::Uuid::now_v7(),
        event_time: req.event_time,
        order_id: req.order_id.clone(),
        sku: req.sku.clone(),
        request_event_id: req.event_id.to_string(),
        payload: result_payload(outcome.answer),
    };
    ctx.emit_avro(
        names::INVENTORY_RESERVATIONS.0,
        &req.order_id,
        Some(&answer),
    )?;
    if outcome.level_changed {
        ctx.store(STOCK)?.put(&req.sku, &s);
        let lvl = level(&req.sku, &s, req.event_time, reason);
        ctx.emit_avro(names::INVENTORY_LEVELS.0, &req.sku, Some(&lvl))?;
    }
    Ok(())
}

impl Processor for Inventory {
    fn stores(&self) -> Vec<String> {
        vec![STOCK.to_owned(), HOLDS.to_owned()]
    }

    fn process(&mut self, record: InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        match record.meta.topic.as_str() {
            t if t == names::INVENTORY_ADJUSTMENTS.0 => adjustment(&record, ctx),
            t if t == names::INVENTORY_RESERVATION_REQUESTS.0 => request(&record, ctx),
            other => Err(ProcessError::Fatal(format!(
                "unexpected input topic {other}"
            ))),
        }
    }
}
