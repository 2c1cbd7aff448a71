"""Differential conformance: each scenario runs on a fresh embedded broker and on Apache Kafka
(``TECHPOTLI_TEST_KAFKA``, CI's Apache Kafka pass) and what a client can observe must be equal:
error codes, offsets after aborts, the last stable offset, group rebalances, compaction and
ListOffsets by timestamp.

A scenario returns plain data (error names, offsets, values, assignment sizes); nothing in it
names the expected answer, Apache Kafka's answer is the expectation. Deliberate differences are
listed in docs/broker.md, not papered over here. Without an external Kafka the module is skipped.
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, IsolationLevel, KafkaException, TopicPartition
from confluent_kafka.admin import NewPartitions, NewTopic, OffsetSpec

from conftest import EXTERNAL_KAFKA, Broker, Clients
from kafka_helpers import (
    BROKER_OP_TIMEOUT_S,
    GROUP_TIMEOUT_S,
    OP_TIMEOUT_S,
    create_topic,
    eventually,
    produce_all,
    read_to_end,
    txn_producer,
    wait_for_assignments,
)

pytestmark = pytest.mark.skipif(not EXTERNAL_KAFKA, reason="needs TECHPOTLI_TEST_KAFKA (Apache Kafka) to compare with")

# Compaction on Apache Kafka waits for its cleaner's backoff (15 s by default) after a roll.
COMPACTION_TIMEOUT_S = 60.0


@pytest.fixture
def both(tmp_path, request):
    """``{"embedded": bootstrap, "kafka": bootstrap}``: a fresh embedded broker and the external Kafka."""
    b = Broker(log_dir=tmp_path)
    b.start()
    try:
        yield {"embedded": b.bootstrap, "kafka": EXTERNAL_KAFKA}
    finally:
        b.stop()
        request.node.add_report_section("teardown", "embedded broker stderr (tail)", b.log_tail())


def compare(both, scenario) -> dict:
    """Runs ``scenario(clients, bootstrap, name)`` on each broker; asserts equal observations."""
    seen = {}
    for which, bootstrap in both.items():
        clients = Clients()
        suffix = uuid.uuid4().hex[:8]
        try:
            seen[which] = scenario(clients, bootstrap, lambda kind: f"diff.{kind}.{suffix}")
        finally:
            clients.close_all()
    assert seen["embedded"] == seen["kafka"], f"embedded broker differs from Apache Kafka:\n{seen}"
    return seen["kafka"]


def error_name(call) -> str:
    """The Kafka error name ``call()`` raises, or ``OK``."""
    try:
        call()
    except KafkaException as e:
        return e.args[0].name()
    return "OK"


def admin_result(futures: dict, key) -> None:
    futures[key].result(timeout=OP_TIMEOUT_S)


def test_error_codes(both):
    def scenario(clients, bootstrap, name):
        admin = clients.admin(bootstrap)
        topic, compacted = name("t"), name("compacted")
        create_topic(admin, topic, 1)
        create_topic(admin, compacted, 1, {"cleanup.policy": "compact"})
        opts = {"operation_timeout": BROKER_OP_TIMEOUT_S, "request_timeout": BROKER_OP_TIMEOUT_S}

        def create(t: NewTopic):
            return lambda: admin_result(admin.create_topics([t], **opts), t.topic)

        out = {
            "create existing": error_name(create(NewTopic(topic, 1, 1))),
            "create 0 partitions": error_name(create(NewTopic(name("zero"), 0, 1))),
            "create bad config value": error_name(create(NewTopic(name("cfg"), 1, 1, config={"cleanup.policy": "bogus"}))),
            "create bad name": error_name(create(NewTopic("bad name!", 1, 1))),
            "delete unknown": error_name(lambda: admin_result(admin.delete_topics([name("none")], **opts), name("none"))),
            "partitions not increased": error_name(
                lambda: admin_result(admin.create_partitions([NewPartitions(topic, 1)], **opts), topic)
            ),
        }

        # A keyless record on a compacted topic is refused; the record error names the reason.
        producer = clients.producer(bootstrap, **{"enable.idempotence": False, "retries": 0})
        errors = []
        producer.produce(compacted, value=b"no key", on_delivery=lambda err, _msg: errors.append(err))
        producer.flush(OP_TIMEOUT_S)
        out["keyless on compacted"] = errors[0].name() if errors and errors[0] else "OK"

        # Fetching past the end with no reset policy.
        produce_all(clients.producer(bootstrap), [{"topic": topic, "value": b"x"}] * 3)
        consumer = clients.consumer(bootstrap, **{"auto.offset.reset": "error"})
        consumer.assign([TopicPartition(topic, 0, 100)])
        deadline = time.monotonic() + OP_TIMEOUT_S
        out["fetch out of range"] = "no error"
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is not None:
                out["fetch out of range"] = msg.error().name()
                break
        return out

    compare(both, scenario)


def test_offsets_after_aborts_and_interleaved_transactions(both):
    def scenario(clients, bootstrap, name):
        topic = name("txn")
        create_topic(clients.admin(bootstrap), topic, 1)
        a = txn_producer(clients, bootstrap, name("a"))
        b = txn_producer(clients, bootstrap, name("b"))
        a.begin_transaction()
        b.begin_transaction()
        for i in range(3):
            a.produce(topic, value=b"a%d" % i, partition=0)
            a.flush(OP_TIMEOUT_S)
            b.produce(topic, value=b"b%d" % i, partition=0)
            b.flush(OP_TIMEOUT_S)
        a.abort_transaction(OP_TIMEOUT_S)
        b.commit_transaction(OP_TIMEOUT_S)
        a.begin_transaction()
        a.produce(topic, value=b"a-again", partition=0)
        a.commit_transaction(OP_TIMEOUT_S)

        def read(isolation: str):
            c = clients.consumer(bootstrap, **{"isolation.level": isolation})
            return [(m.offset(), m.value()) for m in read_to_end(c, topic, 1)]

        watermark = clients.consumer(bootstrap).get_watermark_offsets(
            TopicPartition(topic, 0), timeout=OP_TIMEOUT_S, cached=False
        )
        return {"committed": read("read_committed"), "uncommitted": read("read_uncommitted"), "watermarks": watermark}

    compare(both, scenario)


def test_last_stable_offset_and_list_offsets_isolation(both):
    def scenario(clients, bootstrap, name):
        admin = clients.admin(bootstrap)
        topic = name("lso")
        create_topic(admin, topic, 1)
        tp = TopicPartition(topic, 0)
        produce_all(clients.producer(bootstrap), [{"topic": topic, "value": b"plain%d" % i} for i in range(2)])

        def latest(isolation) -> int:
            futures = admin.list_offsets({tp: OffsetSpec.latest()}, isolation_level=isolation, request_timeout=OP_TIMEOUT_S)
            return futures[tp].result(timeout=OP_TIMEOUT_S).offset

        p = txn_producer(clients, bootstrap, name("tid"))
        p.begin_transaction()
        for i in range(4):
            p.produce(topic, value=b"open%d" % i, partition=0)
        p.flush(OP_TIMEOUT_S)
        produce_all(clients.producer(bootstrap), [{"topic": topic, "value": b"after"}])
        during = {"committed": latest(IsolationLevel.READ_COMMITTED), "uncommitted": latest(IsolationLevel.READ_UNCOMMITTED)}
        rc = clients.consumer(bootstrap, **{"isolation.level": "read_committed"})
        visible_during = [m.offset() for m in read_to_end(rc, topic, 1)]
        p.commit_transaction(OP_TIMEOUT_S)
        # Apache Kafka writes the markers after answering EndTxn: the LSO catches up shortly.
        eventually(
            lambda: latest(IsolationLevel.READ_COMMITTED) == latest(IsolationLevel.READ_UNCOMMITTED),
            what="the last stable offset reaches the high watermark",
        )
        after = {"committed": latest(IsolationLevel.READ_COMMITTED), "uncommitted": latest(IsolationLevel.READ_UNCOMMITTED)}
        visible_after = [m.offset() for m in read_to_end(rc, topic, 1)]
        return {"during": during, "visible during": visible_during, "after": after, "visible after": visible_after}

    compare(both, scenario)


def test_group_rebalance_join_and_leave(both):
    def scenario(clients, bootstrap, name):
        topic, group = name("group"), name("g")
        create_topic(clients.admin(bootstrap), topic, 4)
        conf = {"partition.assignment.strategy": "range"}
        first = clients.consumer(bootstrap, group, **conf)
        first.subscribe([topic])
        alone = wait_for_assignments([first], lambda a: len(a[0]) == 4, timeout=GROUP_TIMEOUT_S)
        second = clients.consumer(bootstrap, group, **conf)
        second.subscribe([topic])
        split = wait_for_assignments([first, second], lambda a: a[0] and a[1] and not (a[0] & a[1]) and len(a[0] | a[1]) == 4)
        # Offsets committed by the group survive the handover.
        first.commit(offsets=[TopicPartition(topic, p, 0) for p in sorted(split[0])], asynchronous=False)
        clients.close(first)
        after = wait_for_assignments([second], lambda a: len(a[0]) == 4)
        committed = second.committed([TopicPartition(topic, p) for p in range(4)], timeout=OP_TIMEOUT_S)
        return {
            "alone": len(alone[0]),
            "split": sorted(len(a) for a in split),
            "after leave": len(after[0]),
            "committed partitions": sum(1 for tp in committed if tp.offset == 0),
        }

    compare(both, scenario)


def test_compaction_keeps_the_latest_value_per_key(both):
    def scenario(clients, bootstrap, name):
        topic = name("compact")
        create_topic(
            clients.admin(bootstrap),
            topic,
            1,
            {
                "cleanup.policy": "compact",
                "segment.ms": "100",
                "min.cleanable.dirty.ratio": "0.01",
                "min.compaction.lag.ms": "0",
                "delete.retention.ms": "3600000",
            },
        )
        producer = clients.producer(bootstrap)
        updates = [(b"k1", b"v1"), (b"k2", b"v2"), (b"k1", b"v3"), (b"k2", None), (b"k3", b"v4"), (b"k3", b"v5")]
        produce_all(producer, [{"topic": topic, "partition": 0, "key": k, "value": v} for k, v in updates])
        time.sleep(0.3)
        # Kafka rolls a segment (segment.ms) only on the next append; the cleaner never touches the active one.
        produce_all(producer, [{"topic": topic, "partition": 0, "key": b"roll", "value": b"r"}])

        def compacted():
            got = read_to_end(clients.consumer(bootstrap), topic, 1)
            return [(m.offset(), m.key(), m.value()) for m in got] if len(got) < len(updates) + 1 else None

        return {"after cleaning": eventually(compacted, timeout=COMPACTION_TIMEOUT_S, interval=1.0, what="compaction")}

    compare(both, scenario)


def test_list_offsets_by_timestamp(both):
    def scenario(clients, bootstrap, name):
        admin = clients.admin(bootstrap)
        topic = name("times")
        create_topic(admin, topic, 1)
        t0 = (int(time.time()) - 600) * 1000  # well inside the default retention
        stamps = [t0, t0 + 1000, t0 + 1000, t0 + 2000, t0 + 1500]
        produce_all(
            clients.producer(bootstrap, **{"linger.ms": 0}),
            [{"topic": topic, "partition": 0, "value": b"%d" % i, "timestamp": ts} for i, ts in enumerate(stamps)],
        )
        consumer = clients.consumer(bootstrap)
        queries = [t0 - 1, t0, t0 + 1, t0 + 1000, t0 + 1200, t0 + 1500, t0 + 2000, t0 + 2001]
        by_time = consumer.offsets_for_times([TopicPartition(topic, 0, q) for q in queries], timeout=OP_TIMEOUT_S)
        tp = TopicPartition(topic, 0)
        specs = {"earliest": OffsetSpec.earliest(), "latest": OffsetSpec.latest(), "max timestamp": OffsetSpec.max_timestamp()}
        listed = {}
        for label, spec in specs.items():
            r = admin.list_offsets({tp: spec}, request_timeout=OP_TIMEOUT_S)[tp].result(timeout=OP_TIMEOUT_S)
            listed[label] = (r.offset, r.timestamp - t0 if r.timestamp >= 0 else r.timestamp)
        return {"offsets for times": [r.offset for r in by_time], "list offsets": listed}

    compare(both, scenario)


def test_read_from_a_deleted_records_start(both):
    def scenario(clients, bootstrap, name):
        admin = clients.admin(bootstrap)
        topic = name("delrec")
        create_topic(admin, topic, 1)
        produce_all(clients.producer(bootstrap), [{"topic": topic, "partition": 0, "value": b"%d" % i} for i in range(6)])
        tp = TopicPartition(topic, 0, 4)
        low = admin.delete_records([tp], request_timeout=OP_TIMEOUT_S)[tp].result(timeout=OP_TIMEOUT_S).low_watermark
        consumer = clients.consumer(bootstrap)
        got = [(m.offset(), m.value()) for m in read_to_end(consumer, topic, 1, start=OFFSET_BEGINNING)]
        return {"low watermark": low, "read": got}

    compare(both, scenario)
