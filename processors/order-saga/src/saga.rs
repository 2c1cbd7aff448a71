//! The order state machine, pure: [`step`] takes an order's [`Saga`] and one [`Input`] and
//! returns what to emit. No I/O, no clock, no ids: the adapter supplies times and event ids.
//!
//! Rules that keep every order terminating exactly once:
//! - compensation releases every line not rejected (the release of a line still awaiting its
//!   answer is queued behind the reserve on the SKU's partition, so it releases whatever the
//!   reserve took) and ends in CANCELLED once every release is answered;
//! - a terminal order (CONFIRMED, CANCELLED) never changes state; a payment captured for it
//!   (late, or a second one) is refunded instead;
//! - duplicates (same reservation answer, same payment reference) change nothing.

use serde::{Deserialize, Serialize};

/// The order's state (mirrors `OrderState` of `orders.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    Placed,
    Reserving,
    Reserved,
    AwaitingPayment,
    Paid,
    Confirmed,
    Compensating,
    Cancelled,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Placed,
        State::Reserving,
        State::Reserved,
        State::AwaitingPayment,
        State::Paid,
        State::Confirmed,
        State::Compensating,
        State::Cancelled,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(self, State::Confirmed | State::Cancelled)
    }
}

/// What the saga needs of an `OrderPlaced`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderInfo {
    pub order_id: String,
    pub user_id: String,
    pub currency: String,
    pub total_minor: i64,
    /// (sku, quantity) per line.
    pub lines: Vec<(String, i32)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reserve {
    Pending,
    Reserved,
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Release {
    NotSent,
    Sent,
    Done,
}

/// One order line's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub sku: String,
    pub quantity: i32,
    pub reserve: Reserve,
    pub release: Release,
}

/// A captured (authorised) payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub provider: String,
    pub reference: String,
    pub amount_minor: i64,
    pub currency: String,
}

/// What a payment event says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentOutcome {
    Authorized { amount_minor: i64, currency: String },
    Failed { reason: String },
    Refunded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentInput {
    pub provider: String,
    pub reference: String,
    pub outcome: PaymentOutcome,
}

/// What an inventory answer says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reservation {
    Reserved,
    Rejected { reason: String },
    Released,
}

/// One input of the saga.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Placed(OrderInfo),
    Reservation { sku: String, outcome: Reservation },
    Payment(PaymentInput),
    Timeout,
}

/// Why stock is released (mirrors `ReleaseReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseCause {
    ReservationRejected,
    PaymentFailed,
    PaymentTimeout,
}

/// What to emit or arrange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Status {
        state: State,
        previous: Option<State>,
        sequence: i32,
        reason: Option<String>,
    },
    Reserve {
        sku: String,
        quantity: i32,
    },
    Release {
        sku: String,
        quantity: i32,
        cause: ReleaseCause,
    },
    Refund {
        payment: Payment,
        reason: String,
    },
    /// Arm the payment timeout (the adapter knows the duration and the clock).
    ScheduleTimeout,
    CancelTimeout,
    /// The order is terminal: its state may be dropped after the retention period.
    Retire,
}

/// One order's saga state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saga {
    /// `None` until `orders.placed` is seen (a payment may arrive first).
    pub order: Option<OrderInfo>,
    pub state: Option<State>,
    /// Sequence of the last status emitted.
    pub sequence: i32,
    pub lines: Vec<Line>,
    pub captured: Vec<Payment>,
    /// References of captured payments a refund was requested for.
    pub refunded: Vec<String>,
    /// Payment events that arrived before the order, replayed when it does.
    pub early: Vec<PaymentInput>,
    /// Why the order is being or was cancelled.
    pub reason: Option<String>,
}

/// Applies `input` to `saga` and returns what to emit, in order.
pub fn step(saga: &mut Saga, input: Input) -> Vec<Output> {
    let mut out = Vec::new();
    match input {
        Input::Placed(order) => saga.placed(order, &mut out),
        Input::Reservation { sku, outcome } => saga.reservation(&sku, outcome, &mut out),
        Input::Payment(p) => saga.payment(p, &mut out),
        Input::Timeout => {
            if matches!(
                saga.state,
                Some(State::Placed | State::Reserving | State::Reserved | State::AwaitingPayment)
            ) {
                saga.compensate("payment timeout", ReleaseCause::PaymentTimeout, &mut out);
            }
        }
    }
    out
}

/// Why an order cannot be processed at all, if it cannot.
fn invalid(order: &OrderInfo) -> Option<String> {
    if order.lines.is_empty() {
        return Some("invalid order: no lines".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for (sku, qty) in &order.lines {
        if sku.is_empty() || *qty <= 0 {
            return Some(format!("invalid order: line {sku:?} quantity {qty}"));
        }
        if !seen.insert(sku) {
            return Some(format!("invalid order: SKU {sku} on two lines"));
        }
    }
    (order.total_minor < 0).then(|| "invalid order: negative total".into())
}

impl Saga {
    fn enter(&mut self, state: State, reason: Option<String>, out: &mut Vec<Output>) {
        self.sequence += 1;
        out.push(Output::Status {
            state,
            previous: self.state,
            sequence: self.sequence,
            reason,
        });
        self.state = Some(state);
        if state.is_terminal() {
            out.push(Output::Retire);
        }
    }

    fn placed(&mut self, order: OrderInfo, out: &mut Vec<Output>) {
        if self.order.is_some() {
            return; // a second OrderPlaced for the same id: the first one rules
        }
        let problem = invalid(&order);
        self.lines = order
            .lines
            .iter()
            .map(|(sku, quantity)| Line {
                sku: sku.clone(),
                quantity: *quantity,
                reserve: Reserve::Pending,
                release: Release::NotSent,
            })
            .collect();
        self.order = Some(order);
        self.enter(State::Placed, None, out);
        if let Some(reason) = problem {
            self.lines.clear();
            self.reason = Some(reason.clone());
            self.enter(State::Cancelled, Some(reason), out);
        } else {
            self.enter(State::Reserving, None, out);
            for l in &self.lines {
                out.push(Output::Reserve {
                    sku: l.sku.clone(),
                    quantity: l.quantity,
                });
            }
            out.push(Output::ScheduleTimeout);
        }
        for p in std::mem::take(&mut self.early) {
            self.payment(p, out);
        }
    }

    fn reservation(&mut self, sku: &str, outcome: Reservation, out: &mut Vec<Output>) {
        let state = self.state;
        let Some(line) = self.lines.iter_mut().find(|l| l.sku == sku) else {
            return; // not a line of this order
        };
        match outcome {
            Reservation::Reserved if line.reserve == Reserve::Pending => {
                line.reserve = Reserve::Reserved;
                if state == Some(State::Reserving)
                    && self.lines.iter().all(|l| l.reserve == Reserve::Reserved)
                {
                    self.enter(State::Reserved, None, out);
                    if self.captured.iter().any(|p| self.pays_order(p)) {
                        self.confirm(out);
                    } else {
                        self.enter(State::AwaitingPayment, None, out);
                    }
                }
            }
            Reservation::Rejected { reason } if line.reserve == Reserve::Pending => {
                line.reserve = Reserve::Rejected;
                if state == Some(State::Reserving) {
                    let why = format!("stock rejected: {sku} {reason}");
                    self.compensate(&why, ReleaseCause::ReservationRejected, out);
                }
            }
            Reservation::Released if line.release == Release::Sent => {
                line.release = Release::Done;
                self.finish_compensation(out);
            }
            _ => {} // a duplicate or late answer
        }
    }

    fn pays_order(&self, p: &Payment) -> bool {
        self.order
            .as_ref()
            .is_some_and(|o| p.amount_minor == o.total_minor && p.currency == o.currency)
    }

    fn confirm(&mut self, out: &mut Vec<Output>) {
        self.enter(State::Paid, None, out);
        out.push(Output::CancelTimeout);
        self.enter(State::Confirmed, None, out);
    }

    fn payment(&mut self, p: PaymentInput, out: &mut Vec<Output>) {
        let Some(state) = self.state else {
            if !self.early.contains(&p) {
                self.early.push(p);
            }
            return;
        };
        match p.outcome {
            PaymentOutcome::Authorized {
                amount_minor,
                currency,
            } => {
                if self.captured.iter().any(|c| c.reference == p.reference) {
                    return; // webhook redelivered
                }
                let payment = Payment {
                    provider: p.provider,
                    reference: p.reference,
                    amount_minor,
                    currency,
                };
                let pays = self.pays_order(&payment);
                self.captured.push(payment.clone());
                match state {
                    State::Placed | State::Reserving if pays => {} // confirmed once reserved
                    State::Reserved | State::AwaitingPayment if pays => self.confirm(out),
                    State::Placed | State::Reserving | State::Reserved | State::AwaitingPayment => {
                        let o = self.order.as_ref().expect("order known once state is set");
                        let why = format!(
                            "payment amount {} {} does not match order total {} {}",
                            payment.amount_minor, payment.currency, o.total_minor, o.currency
                        );
                        self.compensate(&why, ReleaseCause::PaymentFailed, out);
                    }
                    State::Paid | State::Confirmed => {
                        self.refund(payment, "duplicate payment for a paid order", out);
                    }
                    State::Compensating | State::Cancelled => {
                        let why = format!(
                            "payment after cancellation: {}",
                            self.reason.as_deref().unwrap_or("cancelled")
                        );
                        self.refund(payment, &why, out);
                    }
                }
            }
            PaymentOutcome::Failed { reason } => {
                if matches!(
                    state,
                    State::Placed | State::Reserving | State::Reserved | State::AwaitingPayment
                ) {
                    let why = format!("payment failed: {reason}");
                    self.compensate(&why, ReleaseCause::PaymentFailed, out);
                }
            }
            // A refund the provider executed: the books already say cancelled.
            PaymentOutcome::Refunded => {}
        }
    }

    fn refund(&mut self, payment: Payment, reason: &str, out: &mut Vec<Output>) {
        if self.refunded.contains(&payment.reference) {
            return;
        }
        self.refunded.push(payment.reference.clone());
        out.push(Output::Refund {
            payment,
            reason: reason.to_owned(),
        });
    }

    fn compensate(&mut self, reason: &str, cause: ReleaseCause, out: &mut Vec<Output>) {
        self.reason = Some(reason.to_owned());
        self.enter(State::Compensating, Some(reason.to_owned()), out);
        out.push(Output::CancelTimeout);
        for l in &mut self.lines {
            if l.reserve != Reserve::Rejected && l.release == Release::NotSent {
                l.release = Release::Sent;
                out.push(Output::Release {
                    sku: l.sku.clone(),
                    quantity: l.quantity,
                    cause,
                });
            }
        }
        for p in self.captured.clone() {
            self.refund(p, &format!("order cancelled: {reason}"), out);
        }
        self.finish_compensation(out);
    }

    fn finish_compensation(&mut self, out: &mut Vec<Output>) {
        if self.state == Some(State::Compensating)
            && self.lines.iter().all(|l| l.release != Release::Sent)
        {
            let reason = self.reason.clone();
            self.enter(State::Cancelled, reason, out);
        }
    }
}

#[cfg(test)]
mod tests;
