//! The order flow through the processors on the real broker and registry: the happy path, a
//! rejected line, a failed payment, a payment timeout and a payment after the timeout.

use std::collections::BTreeMap;
use std::time::Duration;

use techpotli_e2e::events::{authorized, failed, order, stock};
use techpotli_e2e::{Stack, wait_until};
use techpotli_schemas::types::inventory::StockLevel;
use techpotli_schemas::types::orders::OrderState::{
    self, AwaitingPayment, Cancelled, Compensating, Confirmed, Paid, Placed, Reserved, Reserving,
};
use techpotli_schemas::types::orders::OrderStatusChanged;
use techpotli_schemas::types::payments::RefundRequested;
use techpotli_topics::names;

fn states(stack: &Stack) -> BTreeMap<String, Vec<OrderStatusChanged>> {
    stack.read_by_key::<OrderStatusChanged>(names::ORDERS_STATUS.0)
}

fn last_state(stack: &Stack, order_id: &str) -> Option<OrderState> {
    states(stack)
        .get(order_id)
        .and_then(|h| h.last())
        .map(|s| s.state)
}

fn wait_state(stack: &Stack, order_id: &str, want: OrderState) {
    wait_until(
        &format!("{order_id} {want:?}"),
        Duration::from_secs(60),
        || last_state(stack, order_id) == Some(want),
    );
}

fn level(stack: &Stack, sku: &str) -> StockLevel {
    stack
        .read_by_key::<StockLevel>(names::INVENTORY_LEVELS.0)
        .remove(sku)
        .and_then(|mut v| v.pop())
        .expect("a level for the sku")
}

#[test]
fn orders_confirm_or_compensate_and_stock_follows() {
    let stack = Stack::start();
    let inventory = stack.spawn_inventory("e2e-0");
    let saga = stack.spawn_saga("e2e-0", Duration::from_secs(4));
    for (sku, n) in [("A", 10), ("B", 1)] {
        stack.send(names::INVENTORY_ADJUSTMENTS.0, sku, &stock(sku, n));
    }
    stack.flush();
    // Stock first: an order racing its SKU's first restock may meet UNKNOWN_SKU.
    wait_until("stock levels", Duration::from_secs(60), || {
        stack
            .read_by_key::<StockLevel>(names::INVENTORY_LEVELS.0)
            .len()
            == 2
    });

    // Happy path: reserved, then paid → confirmed; A keeps 2 reserved.
    let o1 = order("o1", "u1", &[("A", 2)]);
    stack.send(names::ORDERS_PLACED.0, "o1", &o1);
    stack.flush();
    wait_state(&stack, "o1", OrderState::AwaitingPayment);
    stack.send(
        names::PAYMENTS_EVENTS.0,
        "o1",
        &authorized("o1", "pay-1", o1.total_minor),
    );
    stack.flush();
    wait_state(&stack, "o1", OrderState::Confirmed);

    // A line out of stock: B has 1, the order wants 5 → cancelled, A's line released.
    stack.send(
        names::ORDERS_PLACED.0,
        "o2",
        &order("o2", "u2", &[("A", 1), ("B", 5)]),
    );
    // Payment failed after reservation.
    let o3 = order("o3", "u3", &[("A", 1)]);
    stack.send(names::ORDERS_PLACED.0, "o3", &o3);
    // No payment at all: the 4 s timeout cancels it.
    let o4 = order("o4", "u4", &[("A", 3)]);
    stack.send(names::ORDERS_PLACED.0, "o4", &o4);
    stack.flush();
    wait_state(&stack, "o3", OrderState::AwaitingPayment);
    stack.send(
        names::PAYMENTS_EVENTS.0,
        "o3",
        &failed("o3", "pay-3", o3.total_minor),
    );
    stack.flush();
    for o in ["o2", "o3", "o4"] {
        wait_state(&stack, o, OrderState::Cancelled);
    }

    // A payment after the timeout: no change, a refund request instead.
    stack.send(
        names::PAYMENTS_EVENTS.0,
        "o4",
        &authorized("o4", "pay-4", o4.total_minor),
    );
    stack.flush();
    wait_until("refund request for o4", Duration::from_secs(30), || {
        !stack
            .read::<RefundRequested>(names::PAYMENTS_REFUND_REQUESTS.0)
            .is_empty()
    });
    let refunds = stack.read::<RefundRequested>(names::PAYMENTS_REFUND_REQUESTS.0);
    assert_eq!(refunds.len(), 1);
    let r = &refunds[0].value;
    assert_eq!(
        (
            r.order_id.as_str(),
            r.provider_reference.as_str(),
            r.amount_minor
        ),
        ("o4", "pay-4", o4.total_minor)
    );
    assert!(r.reason.contains("payment timeout"), "{}", r.reason);

    let history = states(&stack);
    let seq = |o: &str| -> Vec<OrderState> { history[o].iter().map(|s| s.state).collect() };
    assert_eq!(
        seq("o1"),
        vec![
            Placed,
            Reserving,
            Reserved,
            AwaitingPayment,
            Paid,
            Confirmed
        ]
    );
    assert_eq!(seq("o2"), vec![Placed, Reserving, Compensating, Cancelled]);
    assert_eq!(
        seq("o3"),
        vec![
            Placed,
            Reserving,
            Reserved,
            AwaitingPayment,
            Compensating,
            Cancelled
        ]
    );
    assert_eq!(seq("o4").last(), Some(&Cancelled));
    assert_eq!(
        history["o4"].last().unwrap().reason.as_deref(),
        Some("payment timeout")
    );
    assert!(
        history["o2"]
            .last()
            .unwrap()
            .reason
            .as_deref()
            .unwrap()
            .contains("stock rejected: B")
    );
    for (o, h) in &history {
        let seqs: Vec<i32> = h.iter().map(|s| s.sequence).collect();
        assert_eq!(
            seqs,
            (1..=h.len() as i32).collect::<Vec<_>>(),
            "{o}: sequences"
        );
    }

    // Only o1's 2 units stay reserved; B never was.
    let a = level(&stack, "A");
    assert_eq!((a.on_hand, a.reserved, a.available), (10, 2, 8));
    let b = level(&stack, "B");
    assert_eq!((b.on_hand, b.reserved), (1, 0));

    saga.stop().expect("saga stops cleanly");
    inventory.stop().expect("inventory stops cleanly");
}
