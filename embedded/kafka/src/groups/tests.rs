//! The coordinator's rebalance rules, driven with explicit clocks: a first rebalance waits for
//! members starting together, and a static member's restart keeps the group's assignment.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::protocol::{JoinArgs, JoinReply, Reply};
use super::{GroupLimits, GroupState, Groups};

fn groups() -> Groups {
    Groups::new(GroupLimits {
        min_session_timeout: Duration::from_secs(6),
        max_session_timeout: Duration::from_mins(30),
        initial_rebalance_delay: Duration::ZERO,
    })
}

fn join(member_id: &str, instance: Option<&str>, metadata: &'static [u8]) -> JoinArgs {
    JoinArgs {
        group_id: "g".to_owned(),
        member_id: member_id.to_owned(),
        instance_id: instance.map(str::to_owned),
        client_id: "c".to_owned(),
        client_host: "/127.0.0.1".to_owned(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".to_owned(),
        protocols: vec![("range".to_owned(), Bytes::from_static(metadata))],
        require_known_member_id: true,
    }
}

fn later(r: Reply<JoinReply>) -> tokio::sync::oneshot::Receiver<JoinReply> {
    match r {
        Reply::Later(rx) => rx,
        Reply::Now(r) => panic!("answered at once: {r:?}"),
    }
}

/// Two static members joining 50 ms apart, synced by the leader: the group is stable.
fn stable_pair(g: &mut Groups, t0: Instant) -> (JoinReply, JoinReply) {
    let mut a = later(g.join(join("", Some("a"), b"owned-a"), t0));
    let mut b = later(g.join(
        join("", Some("b"), b"owned-b"),
        t0 + Duration::from_millis(50),
    ));
    g.tick(t0 + Duration::from_millis(60));
    assert!(
        a.try_recv().is_err(),
        "the first join waits for more members"
    );
    g.tick(t0 + Duration::from_millis(300));
    let (a, b) = (
        a.try_recv().expect("a joined"),
        b.try_recv().expect("b joined"),
    );
    assert_eq!(
        (a.generation, b.generation),
        (1, 1),
        "one generation for both"
    );
    let leader = if a.leader == a.member_id { &a } else { &b };
    let assignments = vec![
        (a.member_id.clone(), Bytes::from_static(b"to-a")),
        (b.member_id.clone(), Bytes::from_static(b"to-b")),
    ];
    let synced = g.sync(
        "g",
        1,
        &leader.member_id,
        None,
        None,
        Some("range"),
        assignments,
        t0 + Duration::from_millis(310),
    );
    drop(synced);
    assert_eq!(g.groups["g"].state, GroupState::Stable);
    (a, b)
}

#[test]
fn members_starting_together_share_the_first_generation() {
    let mut g = groups();
    stable_pair(&mut g, Instant::now());
}

#[test]
fn a_restarted_static_follower_gets_its_assignment_without_a_rebalance() {
    let mut g = groups();
    let t0 = Instant::now();
    let (a, b) = stable_pair(&mut g, t0);
    let follower = if a.leader == a.member_id { "b" } else { "a" };
    // A restarted consumer owns nothing yet: its metadata differs, its protocol does not.
    let Reply::Now(r) = g.join(
        join("", Some(follower), b"owns-nothing"),
        t0 + Duration::from_secs(1),
    ) else {
        panic!("a static follower's rejoin must be answered at once");
    };
    assert_eq!((r.error, r.generation), (None, 1));
    assert!(r.members.is_empty() && !r.skip_assignment);
    assert_eq!(g.groups["g"].state, GroupState::Stable);
    assert_ne!(
        r.member_id,
        if follower == "a" {
            a.member_id
        } else {
            b.member_id
        }
    );
}

#[test]
fn a_restarted_static_leader_gets_the_members_and_skips_the_assignment() {
    let mut g = groups();
    let t0 = Instant::now();
    let (a, _) = stable_pair(&mut g, t0);
    let leader = if a.leader == a.member_id { "a" } else { "b" };
    let Reply::Now(r) = g.join(
        join("", Some(leader), b"owns-nothing"),
        t0 + Duration::from_secs(1),
    ) else {
        panic!("a static leader's rejoin must be answered at once");
    };
    assert_eq!((r.error, r.generation, r.members.len()), (None, 1, 2));
    assert!(r.skip_assignment, "KIP-814");
    assert_eq!(r.leader, r.member_id, "the new member id leads");
    assert_eq!(g.groups["g"].state, GroupState::Stable);
}

#[test]
fn a_static_rejoin_without_the_groups_protocol_is_refused() {
    let mut g = groups();
    let t0 = Instant::now();
    stable_pair(&mut g, t0);
    let mut other = join("", Some("a"), b"x");
    other.protocols = vec![("roundrobin".to_owned(), Bytes::from_static(b"x"))];
    let Reply::Now(r) = g.join(other, t0 + Duration::from_secs(1)) else {
        panic!("refused at once");
    };
    assert_eq!(
        r.error,
        Some(kafka_protocol::ResponseError::InconsistentGroupProtocol)
    );
    assert_eq!(g.groups["g"].state, GroupState::Stable);
}
