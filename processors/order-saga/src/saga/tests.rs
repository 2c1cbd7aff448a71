//! The saga's state machine: scenarios of the issue, and every state × every input.

use super::*;

fn order(lines: &[(&str, i32)]) -> OrderInfo {
    OrderInfo {
        order_id: "o1".into(),
        user_id: "u1".into(),
        currency: "INR".into(),
        total_minor: 5_000,
        lines: lines.iter().map(|(s, q)| ((*s).to_owned(), *q)).collect(),
    }
}

fn reserved(sku: &str) -> Input {
    Input::Reservation {
        sku: sku.into(),
        outcome: Reservation::Reserved,
    }
}

fn rejected(sku: &str) -> Input {
    Input::Reservation {
        sku: sku.into(),
        outcome: Reservation::Rejected {
            reason: "INSUFFICIENT_STOCK".into(),
        },
    }
}

fn released(sku: &str) -> Input {
    Input::Reservation {
        sku: sku.into(),
        outcome: Reservation::Released,
    }
}

fn paid(reference: &str, amount_minor: i64) -> Input {
    Input::Payment(PaymentInput {
        provider: "fake".into(),
        reference: reference.into(),
        outcome: PaymentOutcome::Authorized {
            amount_minor,
            currency: "INR".into(),
        },
    })
}

fn failed() -> Input {
    Input::Payment(PaymentInput {
        provider: "fake".into(),
        reference: "p-f".into(),
        outcome: PaymentOutcome::Failed {
            reason: "DECLINED".into(),
        },
    })
}

fn states(out: &[Output]) -> Vec<State> {
    out.iter()
        .filter_map(|o| match o {
            Output::Status { state, .. } => Some(*state),
            _ => None,
        })
        .collect()
}

fn run(saga: &mut Saga, inputs: Vec<Input>) -> Vec<Output> {
    inputs.into_iter().flat_map(|i| step(saga, i)).collect()
}

#[test]
fn happy_path_reserves_every_line_then_confirms_on_payment() {
    let mut s = Saga::default();
    let out = step(&mut s, Input::Placed(order(&[("a", 1), ("b", 2)])));
    assert_eq!(states(&out), vec![State::Placed, State::Reserving]);
    assert!(out.contains(&Output::Reserve {
        sku: "b".into(),
        quantity: 2
    }));
    assert!(out.contains(&Output::ScheduleTimeout));
    let out = run(&mut s, vec![reserved("a"), reserved("b")]);
    assert_eq!(states(&out), vec![State::Reserved, State::AwaitingPayment]);
    let out = step(&mut s, paid("p1", 5_000));
    assert_eq!(states(&out), vec![State::Paid, State::Confirmed]);
    assert!(out.contains(&Output::CancelTimeout) && out.contains(&Output::Retire));
    assert_eq!(s.sequence, 6);
}

#[test]
fn a_rejected_line_releases_the_others_then_cancels() {
    let mut s = Saga::default();
    step(
        &mut s,
        Input::Placed(order(&[("a", 1), ("b", 2), ("c", 3)])),
    );
    step(&mut s, reserved("a"));
    let out = step(&mut s, rejected("b"));
    assert_eq!(states(&out), vec![State::Compensating]);
    let releases: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Release { sku, cause, .. } => Some((sku.as_str(), *cause)),
            _ => None,
        })
        .collect();
    // a is reserved, c still pending: both released; b was rejected: nothing to release.
    assert_eq!(
        releases,
        vec![
            ("a", ReleaseCause::ReservationRejected),
            ("c", ReleaseCause::ReservationRejected)
        ]
    );
    // c's reserve answer arrives late: still waiting for both releases.
    assert!(states(&step(&mut s, reserved("c"))).is_empty());
    assert!(states(&step(&mut s, released("a"))).is_empty());
    let out = step(&mut s, released("c"));
    assert_eq!(states(&out), vec![State::Cancelled]);
    assert_eq!(
        s.reason.as_deref(),
        Some("stock rejected: b INSUFFICIENT_STOCK")
    );
}

#[test]
fn payment_failure_and_timeout_compensate() {
    for (input, cause) in [
        (failed(), ReleaseCause::PaymentFailed),
        (Input::Timeout, ReleaseCause::PaymentTimeout),
    ] {
        let mut s = Saga::default();
        run(
            &mut s,
            vec![Input::Placed(order(&[("a", 1)])), reserved("a")],
        );
        let out = step(&mut s, input);
        assert_eq!(states(&out), vec![State::Compensating]);
        assert!(out.contains(&Output::Release {
            sku: "a".into(),
            quantity: 1,
            cause
        }));
        assert_eq!(states(&step(&mut s, released("a"))), vec![State::Cancelled]);
    }
}

#[test]
fn a_payment_after_the_timeout_changes_nothing_and_is_refunded_once() {
    let mut s = Saga::default();
    run(
        &mut s,
        vec![
            Input::Placed(order(&[("a", 1)])),
            reserved("a"),
            Input::Timeout,
            released("a"),
        ],
    );
    assert_eq!(s.state, Some(State::Cancelled));
    let out = step(&mut s, paid("late", 5_000));
    assert!(states(&out).is_empty());
    assert!(matches!(
        &out[..],
        [Output::Refund { payment, reason }]
            if payment.reference == "late" && reason == "payment after cancellation: payment timeout"
    ));
    assert!(
        step(&mut s, paid("late", 5_000)).is_empty(),
        "redelivered webhook"
    );
}

#[test]
fn early_payments_wait_for_the_order_and_mismatches_cancel_with_a_refund() {
    // Paid before the order was seen, and before reservations completed.
    let mut s = Saga::default();
    assert!(step(&mut s, paid("p1", 5_000)).is_empty());
    run(&mut s, vec![Input::Placed(order(&[("a", 1)]))]);
    let out = step(&mut s, reserved("a"));
    assert_eq!(
        states(&out),
        vec![State::Reserved, State::Paid, State::Confirmed]
    );
    // An amount that does not match the total.
    let mut s = Saga::default();
    run(
        &mut s,
        vec![Input::Placed(order(&[("a", 1)])), reserved("a")],
    );
    let out = step(&mut s, paid("p2", 4_999));
    assert_eq!(states(&out), vec![State::Compensating]);
    assert!(out.iter().any(|o| matches!(o, Output::Refund { .. })));
}

#[test]
fn invalid_orders_are_cancelled_without_reserving() {
    for lines in [vec![], vec![("a", 0)], vec![("a", 1), ("a", 2)]] {
        let mut s = Saga::default();
        let out = step(&mut s, Input::Placed(order(&lines)));
        assert_eq!(states(&out), vec![State::Placed, State::Cancelled]);
        assert!(!out.iter().any(|o| matches!(o, Output::Reserve { .. })));
    }
}

/// A saga resting in `state` (transient states built by hand: the machine passes through them
/// within one step, but the rules must still hold there).
fn saga_in(state: State) -> Saga {
    let mut s = Saga::default();
    step(&mut s, Input::Placed(order(&[("a", 1), ("b", 1)])));
    match state {
        State::Reserving => {}
        State::AwaitingPayment => {
            run(&mut s, vec![reserved("a"), reserved("b")]);
        }
        State::Confirmed => {
            run(
                &mut s,
                vec![reserved("a"), reserved("b"), paid("p0", 5_000)],
            );
        }
        State::Compensating => {
            run(&mut s, vec![reserved("a"), rejected("b")]);
        }
        State::Cancelled => {
            run(&mut s, vec![reserved("a"), rejected("b"), released("a")]);
        }
        State::Placed | State::Reserved | State::Paid => {
            s.state = Some(state);
            if state != State::Placed {
                for l in &mut s.lines {
                    l.reserve = Reserve::Reserved;
                }
            }
        }
    }
    assert_eq!(s.state, Some(state));
    s
}

fn every_input() -> Vec<(&'static str, Input)> {
    vec![
        ("placed again", Input::Placed(order(&[("x", 1)]))),
        ("reserved a", reserved("a")),
        ("rejected a", rejected("a")),
        ("released a", released("a")),
        ("reserved unknown sku", reserved("zzz")),
        ("paid", paid("p1", 5_000)),
        ("paid wrong amount", paid("p2", 1)),
        (
            "paid again (same reference as confirmed)",
            paid("p0", 5_000),
        ),
        ("payment failed", failed()),
        (
            "refunded",
            Input::Payment(PaymentInput {
                provider: "fake".into(),
                reference: "p0".into(),
                outcome: PaymentOutcome::Refunded,
            }),
        ),
        ("timeout", Input::Timeout),
    ]
}

#[test]
fn every_state_times_every_input_keeps_the_rules() {
    for state in State::ALL {
        for (name, input) in every_input() {
            let mut s = saga_in(state);
            let before = s.clone();
            let input_again = input.clone();
            let out = step(&mut s, input);
            let ctx = format!("{state:?} + {name}");
            // Statuses: consecutive sequences, each leaving the state the previous entered.
            let mut prev = before.state;
            let mut seq = before.sequence;
            for o in &out {
                if let Output::Status {
                    state,
                    previous,
                    sequence,
                    ..
                } = o
                {
                    assert_eq!(*previous, prev, "{ctx}");
                    assert_eq!(*sequence, seq + 1, "{ctx}");
                    assert!(
                        !prev.is_some_and(State::is_terminal),
                        "{ctx}: left a terminal state"
                    );
                    (prev, seq) = (Some(*state), *sequence);
                }
            }
            assert_eq!(s.state, prev, "{ctx}");
            if state.is_terminal() {
                assert_eq!(s.state, Some(state), "{ctx}: a terminal order moved");
                assert!(
                    out.iter().all(|o| matches!(o, Output::Refund { .. })),
                    "{ctx}: a terminal order may only refund, got {out:?}"
                );
            }
            // Never a release twice for a line, never a reserve after placement.
            for o in &out {
                match o {
                    Output::Release { sku, .. } => {
                        let l = before.lines.iter().find(|l| &l.sku == sku).unwrap();
                        assert_eq!(l.release, Release::NotSent, "{ctx}: second release");
                    }
                    Output::Reserve { .. } => panic!("{ctx}: reserve after placement"),
                    _ => {}
                }
            }
            // A refund only for a captured payment, once per reference.
            let refunds: Vec<_> = out
                .iter()
                .filter_map(|o| match o {
                    Output::Refund { payment, .. } => Some(payment.reference.clone()),
                    _ => None,
                })
                .collect();
            for r in &refunds {
                assert!(!before.refunded.contains(r), "{ctx}: refunded twice");
                assert!(s.captured.iter().any(|c| &c.reference == r), "{ctx}");
            }
            // The same input again (a duplicate) never moves the order.
            let again = step(&mut s, input_again);
            assert!(
                states(&again).is_empty(),
                "{ctx}: a duplicate moved the order: {out:?} then {again:?}"
            );
        }
    }
}

/// Property: any interleaving of answers, payments and timeouts ends every order in a terminal
/// state once every release has been answered.
#[test]
fn every_order_terminates() {
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    let mut next = |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    for _ in 0..2_000 {
        let mut s = Saga::default();
        let skus = ["a", "b", "c"];
        step(
            &mut s,
            Input::Placed(order(&[("a", 1), ("b", 1), ("c", 1)])),
        );
        for _ in 0..8 {
            let sku = skus[next(3) as usize];
            let input = match next(6) {
                1 => rejected(sku),
                2 => paid("p", 5_000),
                3 => failed(),
                4 => Input::Timeout,
                _ => reserved(sku),
            };
            step(&mut s, input);
        }
        // The inventory answers whatever is still outstanding, then the timer fires.
        for sku in skus {
            step(&mut s, reserved(sku));
        }
        step(&mut s, Input::Timeout);
        for sku in skus {
            step(&mut s, released(sku));
        }
        assert!(
            s.state.is_some_and(State::is_terminal),
            "order ended in {:?}: {s:?}",
            s.state
        );
    }
}

#[test]
fn a_stray_release_answer_does_not_skip_a_later_release() {
    let mut s = Saga::default();
    run(
        &mut s,
        vec![
            Input::Placed(order(&[("a", 1), ("b", 1)])),
            reserved("a"),
            released("a"), // nobody asked for it
        ],
    );
    let out = step(&mut s, rejected("b"));
    assert!(
        out.contains(&Output::Release {
            sku: "a".into(),
            quantity: 1,
            cause: ReleaseCause::ReservationRejected
        }),
        "{out:?}"
    );
    assert_eq!(s.state, Some(State::Compensating));
}
