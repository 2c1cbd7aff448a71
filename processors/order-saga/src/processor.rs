//! The order saga on the runtime: decodes `orders.placed`, `inventory.reservations` and
//! `payments.events` (all keyed by order id, co-partitioned), keeps each order's
//! [`Saga`] in the store [`SAGAS`], and turns the state machine's outputs into records
//! (`orders.status`, `inventory.reservation-requests`, `payments.refund-requests`) and durable
//! timers (the payment timeout; the state's retention once the order is terminal).

use std::time::Duration;

use techpotli_runtime::{Context, FiredTimer, InputRecord, ProcessError, Processor, json_state};
use techpotli_schemas::types::inventory::{
    ReleaseReason, ReleaseStock, ReservationRequest, ReservationRequestPayload, ReservationResult,
    ReservationResultPayload, ReserveStock,
};
use techpotli_schemas::types::orders::{OrderPlaced, OrderState, OrderStatusChanged};
use techpotli_schemas::types::payments::{PaymentEvent, PaymentEventPayload, RefundRequested};
use techpotli_topics::names;

use crate::saga::{
    self, Input, OrderInfo, Output, PaymentInput, PaymentOutcome, ReleaseCause, Reservation, Saga,
    State,
};

/// Store: order id → [`Saga`].
pub const SAGAS: &str = "sagas";
/// Default payment timeout (from placement).
pub const DEFAULT_PAYMENT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Default time a terminal order's state is kept to recognise late events (refund late
/// payments) before it is dropped.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

const TIMEOUT_TIMER: &str = "timeout/";
const RETIRE_TIMER: &str = "retire/";

json_state!(Saga, 1);

/// The order saga processor.
#[derive(Debug, Clone)]
pub struct OrderSaga {
    pub payment_timeout: Duration,
    pub retention: Duration,
}

impl Default for OrderSaga {
    fn default() -> Self {
        Self {
            payment_timeout: DEFAULT_PAYMENT_TIMEOUT,
            retention: DEFAULT_RETENTION,
        }
    }
}

impl OrderSaga {
    /// The topics it consumes.
    pub const INPUTS: [&'static str; 3] = [
        names::ORDERS_PLACED.0,
        names::INVENTORY_RESERVATIONS.0,
        names::PAYMENTS_EVENTS.0,
    ];
}

fn order_info(o: OrderPlaced) -> OrderInfo {
    OrderInfo {
        order_id: o.order_id,
        user_id: o.user_id,
        currency: o.currency,
        total_minor: o.total_minor,
        lines: o.lines.into_iter().map(|l| (l.sku, l.quantity)).collect(),
    }
}

fn order_state(s: State) -> OrderState {
    match s {
        State::Placed => OrderState::Placed,
        State::Reserving => OrderState::Reserving,
        State::Reserved => OrderState::Reserved,
        State::AwaitingPayment => OrderState::AwaitingPayment,
        State::Paid => OrderState::Paid,
        State::Confirmed => OrderState::Confirmed,
        State::Compensating => OrderState::Compensating,
        State::Cancelled => OrderState::Cancelled,
    }
}

fn release_reason(c: ReleaseCause) -> ReleaseReason {
    match c {
        ReleaseCause::ReservationRejected => ReleaseReason::ReservationRejected,
        ReleaseCause::PaymentFailed => ReleaseReason::PaymentFailed,
        ReleaseCause::PaymentTimeout => ReleaseReason::PaymentTimeout,
    }
}

/// Decodes a record into (order id, event time, saga input).
fn input(record: &InputRecord, ctx: &Context<'_>) -> Result<(String, i64, Input), ProcessError> {
    let value = record.value.as_deref();
    let (order_id, at, input) = match record.meta.topic.as_str() {
        t if t == names::ORDERS_PLACED.0 => {
            let o: OrderPlaced = ctx.decode(value)?;
            (
                o.order_id.clone(),
                o.event_time,
                Input::Placed(order_info(o)),
            )
        }
        t if t == names::INVENTORY_RESERVATIONS.0 => {
            let r: ReservationResult = ctx.decode(value)?;
            let outcome = match r.payload {
                ReservationResultPayload::StockReserved(_) => Reservation::Reserved,
                ReservationResultPayload::StockRejected(x) => Reservation::Rejected {
                    reason: format!("{:?}", x.reason).to_uppercase(),
                },
                ReservationResultPayload::StockReleased(_) => Reservation::Released,
            };
            let sku = r.sku;
            (
                r.order_id,
                r.event_time,
                Input::Reservation { sku, outcome },
            )
        }
        t if t == names::PAYMENTS_EVENTS.0 => {
            let p: PaymentEvent = ctx.decode(value)?;
            let outcome = match p.payload {
                PaymentEventPayload::PaymentAuthorized(a) => PaymentOutcome::Authorized {
                    amount_minor: a.amount_minor,
                    currency: a.currency,
                },
                PaymentEventPayload::PaymentFailed(f) => PaymentOutcome::Failed {
                    reason: format!("{:?}", f.reason).to_uppercase(),
                },
                PaymentEventPayload::PaymentRefunded(_) => PaymentOutcome::Refunded,
            };
            let payment = PaymentInput {
                provider: p.provider,
                reference: p.provider_reference,
                outcome,
            };
            (p.order_id, p.event_time, Input::Payment(payment))
        }
        other => {
            return Err(ProcessError::Fatal(format!(
                "unexpected input topic {other}"
            )));
        }
    };
    // The key routes the record to the order's single owner: a mismatch would split an order.
    if record.key.as_deref() != Some(order_id.as_bytes()) {
        return Err(ProcessError::Invariant(format!(
            "key does not match order_id {order_id:?}"
        )));
    }
    Ok((order_id, at, input))
}

impl OrderSaga {
    /// Loads the order's saga, steps it, stores it and carries out the outputs.
    fn apply(
        &self,
        order_id: &str,
        at: i64,
        input: Input,
        ctx: &mut Context<'_>,
    ) -> Result<(), ProcessError> {
        let mut saga: Saga = ctx.store(SAGAS)?.get(order_id)?.unwrap_or_default();
        let outputs = saga::step(&mut saga, input);
        ctx.store(SAGAS)?.put(order_id, &saga);
        for o in outputs {
            self.output(&saga, order_id, at, o, ctx)?;
        }
        Ok(())
    }

    fn output(
        &self,
        saga: &Saga,
        order_id: &str,
        at: i64,
        output: Output,
        ctx: &mut Context<'_>,
    ) -> Result<(), ProcessError> {
        let (user_id, total_minor, currency) = saga.order.as_ref().map_or_else(
            || (String::new(), 0, String::new()),
            |o| (o.user_id.clone(), o.total_minor, o.currency.clone()),
        );
        let timer = |prefix: &str| format!("{prefix}{order_id}").into_bytes();
        match output {
            Output::Status {
                state,
                previous,
                sequence,
                reason,
            } => {
                let v = OrderStatusChanged {
                    event_id: uuid::Uuid::now_v7(),
                    event_time: at,
                    order_id: order_id.to_owned(),
                    user_id,
                    sequence,
                    state: order_state(state),
                    previous_state: previous.map(order_state),
                    reason,
                    total_minor,
                    currency,
                };
                ctx.emit_avro(names::ORDERS_STATUS.0, order_id, Some(&v))?;
            }
            Output::Reserve { sku, quantity } => {
                let payload = ReservationRequestPayload::ReserveStock(ReserveStock { quantity });
                request(ctx, order_id, at, sku, payload)?;
            }
            Output::Release {
                sku,
                quantity,
                cause,
            } => {
                let payload = ReservationRequestPayload::ReleaseStock(ReleaseStock {
                    quantity,
                    reason: release_reason(cause),
                });
                request(ctx, order_id, at, sku, payload)?;
            }
            Output::Refund { payment, reason } => {
                let v = RefundRequested {
                    event_id: uuid::Uuid::now_v7(),
                    event_time: at,
                    order_id: order_id.to_owned(),
                    user_id,
                    provider: payment.provider,
                    provider_reference: payment.reference,
                    amount_minor: payment.amount_minor,
                    currency: payment.currency,
                    reason,
                };
                ctx.emit_avro(names::PAYMENTS_REFUND_REQUESTS.0, order_id, Some(&v))?;
            }
            Output::ScheduleTimeout => {
                let due = ctx.now_ms() + self.payment_timeout.as_millis() as i64;
                ctx.schedule(&timer(TIMEOUT_TIMER), due)?;
            }
            Output::CancelTimeout => {
                ctx.cancel_timer(&timer(TIMEOUT_TIMER))?;
            }
            Output::Retire => {
                let due = ctx.now_ms() + self.retention.as_millis() as i64;
                ctx.schedule(&timer(RETIRE_TIMER), due)?;
            }
        }
        Ok(())
    }
}

fn request(
    ctx: &mut Context<'_>,
    order_id: &str,
    at: i64,
    sku: String,
    payload: ReservationRequestPayload,
) -> Result<(), ProcessError> {
    let v = ReservationRequest {
        event_id: uuid::Uuid::now_v7(),
        event_time: at,
        order_id: order_id.to_owned(),
        sku: sku.clone(),
        payload,
    };
    ctx.emit_avro(names::INVENTORY_RESERVATION_REQUESTS.0, &sku, Some(&v))
}

impl Processor for OrderSaga {
    fn stores(&self) -> Vec<String> {
        vec![SAGAS.to_owned()]
    }

    fn process(&mut self, record: InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let (order_id, at, input) = input(&record, ctx)?;
        self.apply(&order_id, at, input, ctx)
    }

    fn on_timer(&mut self, timer: FiredTimer, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let key = String::from_utf8_lossy(&timer.key).into_owned();
        if let Some(order_id) = key.strip_prefix(TIMEOUT_TIMER) {
            tracing::info!(%order_id, "payment timeout");
            self.apply(order_id, timer.timer.at, Input::Timeout, ctx)
        } else if let Some(order_id) = key.strip_prefix(RETIRE_TIMER) {
            ctx.store(SAGAS)?.delete(order_id);
            Ok(())
        } else {
            Err(ProcessError::Invariant(format!("unknown timer {key:?}")))
        }
    }
}
