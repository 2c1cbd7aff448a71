"""Consumer groups: partition split, hand-over, resume from committed offsets.

confluent-kafka (librdkafka) against techpotli-broker; fixtures in conftest.py.
"""

from __future__ import annotations


from kafka_helpers import *  # noqa: F403


def test_consumer_group_split_handover_and_resume(bootstrap, clients, name):
    topic = name("grp")
    group = name("group")
    all_parts = {0, 1, 2, 3}
    admin = clients.admin(bootstrap)
    create_topic(admin, topic, 4)
    producer = clients.producer(bootstrap)

    c1 = clients.consumer(bootstrap, group)
    c2 = clients.consumer(bootstrap, group)
    c1.subscribe([topic])
    c2.subscribe([topic])
    a1, a2 = wait_for_assignments(
        [c1, c2],
        lambda a: bool(a[0]) and bool(a[1]) and not (a[0] & a[1]) and (a[0] | a[1]) == all_parts,
    )

    # Ten records per partition, produced once the split is settled.
    def batch(round_: int, count: int):
        return [{"topic": topic, "partition": p, "value": b"%d-%d-%d" % (round_, p, i)} for p in sorted(all_parts) for i in range(count)]

    produce_all(producer, batch(1, 10))
    got1, got2 = poll_records([c1, c2], lambda g: sum(map(len, g.values())) >= 40)
    assert {m.partition() for m in got1} == a1
    assert {m.partition() for m in got2} == a2
    for got, parts in ((got1, a1), (got2, a2)):
        assert sorted((m.partition(), m.offset()) for m in got) == [(p, o) for p in sorted(parts) for o in range(10)]

    r1 = c1.commit(asynchronous=False)
    r2 = c2.commit(asynchronous=False)
    assert {(tp.partition, tp.offset) for tp in r1 + r2} == {(p, 10) for p in all_parts}
    assert committed_offsets(c1, topic, 4) == {p: 10 for p in all_parts}

    # c2 leaves: c1 gets every partition and carries on from the committed offsets.
    clients.close(c2)
    wait_for_assignments([c1], lambda a: a[0] == all_parts)
    produce_all(producer, batch(2, 1))
    (got,) = poll_records([c1], lambda g: sum(map(len, g.values())) >= 4)
    assert sorted((m.partition(), m.offset()) for m in got) == [(p, 10) for p in sorted(all_parts)]
    c1.commit(asynchronous=False)
    clients.close(c1)

    # A new member resumes after everything committed: only the newest records.
    produce_all(producer, batch(3, 1))
    c3 = clients.consumer(bootstrap, group)
    assert committed_offsets(c3, topic, 4) == {p: 11 for p in all_parts}
    c3.subscribe([topic])
    (got,) = poll_records([c3], lambda g: sum(map(len, g.values())) >= 4)
    assert sorted((m.partition(), m.offset(), m.value()) for m in got) == [(p, 11, b"3-%d-0" % p) for p in sorted(all_parts)]


# --- transactions --------------------------------------------------------------------
