"""Conformance of techpotli-broker with a client nobody here wrote: confluent-kafka (librdkafka).

Each test runs against its own broker (see conftest.py), uses its own topic / group /
transactional-id names, and asserts exact counts, sets and offsets.
"""

from __future__ import annotations

import signal
import time
from collections import defaultdict

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_INVALID,
    OFFSET_STORED,
    TIMESTAMP_CREATE_TIME,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import ConfigResource, NewPartitions, NewTopic, ResourceType

# Timeouts the broker is given for one admin operation / request ...
BROKER_OP_TIMEOUT_S = 10.0
# ... and how long the test waits for any client call's result.
OP_TIMEOUT_S = 15.0
READ_TIMEOUT_S = 20.0
GROUP_TIMEOUT_S = 30.0
# How long "nothing more arrives" is watched for after the expected records came.
QUIET_S = 1.5
FENCED_CODES = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}
TXN_CONF = {"transaction.timeout.ms": 30_000}


# --- helpers -------------------------------------------------------------------------


def eventually(check, timeout: float = OP_TIMEOUT_S, interval: float = 0.2, what: str = "condition"):
    """Retries ``check`` until it returns a truthy value; the last value otherwise fails."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {value!r}")
        time.sleep(interval)


def create_topic(admin, topic: str, partitions: int, config: dict[str, str] | None = None) -> None:
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=BROKER_OP_TIMEOUT_S,
        request_timeout=BROKER_OP_TIMEOUT_S,
    )
    futures[topic].result(timeout=OP_TIMEOUT_S)


def topic_partitions(admin, topic: str) -> int | None:
    """Partition count of ``topic`` from a full Metadata request (never auto-creates)."""
    md = admin.list_topics(timeout=OP_TIMEOUT_S)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return None
    return len(t.partitions)


def produce_all(producer, records: list[dict], flush_timeout: float = 30.0) -> list[tuple[int, int]]:
    """Produces ``records`` (Producer.produce kwargs) and returns each one's (partition, offset)."""
    results: list[tuple[int, int] | None] = [None] * len(records)
    errors: list[tuple[int, KafkaError]] = []

    def on_delivery(index: int):
        def report(err, msg):
            if err is not None:
                errors.append((index, err))
            else:
                results[index] = (msg.partition(), msg.offset())

        return report

    for i, rec in enumerate(records):
        while True:
            try:
                producer.produce(on_delivery=on_delivery(i), **rec)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(flush_timeout)
    assert remaining == 0, f"{remaining} records still undelivered after {flush_timeout}s"
    assert not errors, f"delivery errors (first 5): {errors[:5]}"
    missing = [i for i, r in enumerate(results) if r is None]
    assert not missing, f"no delivery report for records {missing[:10]}"
    return results  # type: ignore[return-value]


def read_to_end(consumer, topic: str, partitions: int, timeout: float = READ_TIMEOUT_S, start: int = OFFSET_BEGINNING):
    """Assigns every partition of ``topic`` at ``start`` and reads until each reports EOF.

    EOF is the high watermark for read_uncommitted and the last stable offset for
    read_committed, so this returns exactly what the consumer's isolation level may see.
    """
    consumer.assign([TopicPartition(topic, p, start) for p in range(partitions)])
    pending = set(range(partitions))
    out = []
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() >= deadline:
            raise AssertionError(f"no EOF on partitions {sorted(pending)} of {topic} within {timeout}s; read {len(out)}")
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                pending.discard(msg.partition())
                continue
            raise AssertionError(f"consume error: {err}")
        out.append(msg)
    consumer.unassign()
    return out


def poll_records(consumers, until, timeout: float = GROUP_TIMEOUT_S, quiet: float = QUIET_S):
    """Polls ``consumers`` round-robin, collecting records per consumer, until ``until(got)``
    holds, then keeps polling for ``quiet`` seconds to catch extra (re-delivered) records."""
    got = {id(c): [] for c in consumers}
    deadline = time.monotonic() + timeout
    quiet_until = None
    while True:
        now = time.monotonic()
        if quiet_until is None:
            if until(got):
                quiet_until = now + quiet
            elif now >= deadline:
                counts = {i: len(v) for i, v in enumerate(got.values())}
                raise AssertionError(f"timed out after {timeout}s; records per consumer {counts}")
        elif now >= quiet_until:
            return [got[id(c)] for c in consumers]
        for c in consumers:
            msg = c.poll(0.05)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError(f"consume error: {err}")
            got[id(c)].append(msg)


def assignment_of(consumer) -> set[int]:
    return {tp.partition for tp in consumer.assignment()}


def wait_for_assignments(consumers, predicate, timeout: float = GROUP_TIMEOUT_S, settle: float = 1.0):
    """Polls ``consumers`` until ``predicate(assignments)`` holds and still holds ``settle``
    seconds later. Records must not arrive meanwhile (nothing is produced yet)."""
    deadline = time.monotonic() + timeout
    stable_since = None
    while True:
        for c in consumers:
            msg = c.poll(0.05)
            if msg is not None and msg.error() is None:
                raise AssertionError(f"unexpected record while waiting for assignment: {msg.topic()}/{msg.partition()}@{msg.offset()}")
            if msg is not None and msg.error().code() != KafkaError._PARTITION_EOF:
                raise AssertionError(f"consume error: {msg.error()}")
        assignments = [assignment_of(c) for c in consumers]
        now = time.monotonic()
        if predicate(assignments):
            if stable_since is None:
                stable_since = now
            elif now - stable_since >= settle:
                return assignments
        else:
            stable_since = None
        if now >= deadline:
            raise AssertionError(f"assignments {assignments} did not settle within {timeout}s")


def committed_offsets(consumer, topic: str, partitions: int) -> dict[int, int]:
    tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=OP_TIMEOUT_S)
    for tp in tps:
        assert tp.error is None, f"committed() error for {tp}: {tp.error}"
    return {tp.partition: tp.offset for tp in tps}


def values(msgs) -> list[bytes]:
    return [m.value() for m in msgs]


def txn_producer(clients, bootstrap: str, txn_id: str):
    p = clients.producer(bootstrap, **{"transactional.id": txn_id, **TXN_CONF})
    p.init_transactions(OP_TIMEOUT_S)
    return p


# --- startup and shutdown ------------------------------------------------------------


def test_sigterm_with_open_connections_exits_zero(broker, clients):
    admin = clients.admin(broker.bootstrap)
    md = admin.list_topics(timeout=OP_TIMEOUT_S)
    assert len(md.brokers) == 1
    code = broker.stop(signal.SIGTERM)
    assert code == 0, f"broker exited with {code} on SIGTERM"


def test_sigint_exits_zero(broker):
    code = broker.stop(signal.SIGINT)
    assert code == 0, f"broker exited with {code} on SIGINT"


# --- admin ---------------------------------------------------------------------------


def test_metadata_names_this_broker_as_leader_and_controller(broker, clients, name):
    admin = clients.admin(broker.bootstrap)
    topic = name("meta")
    create_topic(admin, topic, 2)
    md = admin.list_topics(timeout=OP_TIMEOUT_S)
    assert len(md.brokers) == 1, md.brokers
    (node,) = md.brokers.values()
    assert (node.host, node.port) == ("127.0.0.1", broker.port)
    assert md.controller_id == node.id
    parts = md.topics[topic].partitions
    assert sorted(parts) == [0, 1]
    for p in parts.values():
        assert p.error is None
        assert p.leader == node.id
        assert list(p.replicas) == [node.id]
        assert list(p.isrs) == [node.id]


def test_admin_topic_lifecycle(bootstrap, clients, name):
    admin = clients.admin(bootstrap)
    topic = name("admin")
    create_topic(admin, topic, 3, {"cleanup.policy": "compact", "retention.ms": "3600000"})

    assert topic_partitions(admin, topic) == 3

    # Creating it again is refused.
    again = admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)], operation_timeout=BROKER_OP_TIMEOUT_S)
    with pytest.raises(KafkaException) as exc:
        again[topic].result(timeout=OP_TIMEOUT_S)
    assert exc.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource], request_timeout=BROKER_OP_TIMEOUT_S)[resource].result(timeout=OP_TIMEOUT_S)
    assert entries["cleanup.policy"].value == "compact"
    assert entries["retention.ms"].value == "3600000"

    admin.create_partitions([NewPartitions(topic, 4)], operation_timeout=BROKER_OP_TIMEOUT_S)[topic].result(timeout=OP_TIMEOUT_S)
    eventually(lambda: topic_partitions(admin, topic) == 4, what=f"{topic} to have 4 partitions")

    admin.delete_topics([topic], operation_timeout=BROKER_OP_TIMEOUT_S)[topic].result(timeout=OP_TIMEOUT_S)
    eventually(lambda: topic_partitions(admin, topic) is None, what=f"{topic} to be deleted")


def test_produce_auto_creates_topic_with_one_partition(bootstrap, clients, name):
    topic = name("auto")
    producer = clients.producer(bootstrap)
    delivered = produce_all(producer, [{"topic": topic, "value": b"v%d" % i} for i in range(3)])
    assert delivered == [(0, 0), (0, 1), (0, 2)]
    assert topic_partitions(clients.admin(bootstrap), topic) == 1


# --- produce / fetch -----------------------------------------------------------------


def test_idempotent_lz4_produce_10k_keyed_records(bootstrap, clients, name):
    topic = name("idem")
    partitions = 3
    keys = 100
    per_key = 100
    create_topic(clients.admin(bootstrap), topic, partitions)
    producer = clients.producer(
        bootstrap,
        **{
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "lz4",
            "linger.ms": 5,
            "partitioner": "murmur2_random",
        },
    )
    records = []
    for seq in range(per_key):
        for k in range(keys):
            records.append({"topic": topic, "key": b"key-%03d" % k, "value": b"%d:%d" % (k, seq)})
    delivered = produce_all(producer, records, flush_timeout=60)

    # Idempotence: every record got its own offset and each partition is dense from 0.
    by_partition: dict[int, list[int]] = defaultdict(list)
    for p, off in delivered:
        by_partition[p].append(off)
    assert sorted(by_partition) == list(range(partitions)), "100 keys should reach every partition"
    for p, offs in by_partition.items():
        assert sorted(offs) == list(range(len(offs))), f"partition {p}: offsets not dense/unique"
    expected_at = {(rec["key"], rec["value"]): pos for rec, pos in zip(records, delivered)}

    consumer = clients.consumer(bootstrap)
    for p in range(partitions):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=OP_TIMEOUT_S, cached=False)
        assert (low, high) == (0, len(by_partition.get(p, []))), f"partition {p} watermarks"

    msgs = read_to_end(consumer, topic, partitions)
    assert len(msgs) == keys * per_key

    last_offset: dict[int, int] = {}
    key_partition: dict[bytes, int] = {}
    key_seqs: dict[bytes, list[int]] = defaultdict(list)
    seen = set()
    for m in msgs:
        p, off = m.partition(), m.offset()
        assert off > last_offset.get(p, -1), f"partition {p}: offset {off} after {last_offset.get(p)}"
        last_offset[p] = off
        assert expected_at[(m.key(), m.value())] == (p, off), "consumed position differs from delivery report"
        assert key_partition.setdefault(m.key(), p) == p, f"key {m.key()!r} in two partitions"
        k, seq = m.value().split(b":")
        assert m.key() == b"key-%03d" % int(k)
        key_seqs[m.key()].append(int(seq))
        seen.add((m.key(), m.value()))
    assert len(seen) == keys * per_key
    for key, seqs in key_seqs.items():
        assert seqs == list(range(per_key)), f"key {key!r} out of order or incomplete"


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_compression_round_trip(bootstrap, clients, name, codec):
    topic = name(codec)
    t0 = int(time.time() * 1000) - 3_600_000
    big = b"techpotli " * 8_000  # compressible, so the codec really runs
    records = [
        {"key": b"k1", "value": b"v1", "headers": [("h1", b"a"), ("h2", b"b"), ("h1", b"dup")], "timestamp": t0},
        {"key": None, "value": b"null key", "timestamp": t0 + 1},
        {"key": b"tombstone", "value": None, "headers": [("null-header", None)], "timestamp": t0 + 2},
        {"key": None, "value": None, "timestamp": t0 + 3},
        {"key": b"big", "value": big, "headers": [("traceparent", b"00-abc-def-01")], "timestamp": t0 + 4},
    ]
    producer = clients.producer(bootstrap, **{"compression.type": codec, "linger.ms": 50})
    delivered = produce_all(producer, [{"topic": topic, "partition": 0, **r} for r in records])
    assert delivered == [(0, i) for i in range(len(records))]

    consumer = clients.consumer(bootstrap)
    assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=OP_TIMEOUT_S, cached=False) == (0, len(records))
    msgs = read_to_end(consumer, topic, 1)
    assert [m.offset() for m in msgs] == list(range(len(records)))
    for m, r in zip(msgs, records):
        assert m.key() == r["key"]
        assert m.value() == r["value"]
        assert (m.headers() or []) == r.get("headers", [])
        assert m.timestamp() == (TIMESTAMP_CREATE_TIME, r["timestamp"])


def test_watermarks_and_offsets_for_times(bootstrap, clients, name):
    topic = name("wm")
    t0 = int(time.time() * 1000) - 3_600_000
    producer = clients.producer(bootstrap, **{"linger.ms": 200, "compression.type": "zstd"})
    # One flush of 20 records: one multi-record batch.
    produce_all(producer, [{"topic": topic, "partition": 0, "value": b"a%d" % i, "timestamp": t0 + i * 1000} for i in range(20)])
    consumer = clients.consumer(bootstrap, **{"isolation.level": "read_uncommitted"})
    tp = TopicPartition(topic, 0)
    assert consumer.get_watermark_offsets(tp, timeout=OP_TIMEOUT_S, cached=False) == (0, 20)

    produce_all(producer, [{"topic": topic, "partition": 0, "value": b"b%d" % i, "timestamp": t0 + (20 + i) * 1000} for i in range(10)])
    assert consumer.get_watermark_offsets(tp, timeout=OP_TIMEOUT_S, cached=False) == (0, 30)

    def offset_for(ts: int) -> int:
        (res,) = consumer.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=OP_TIMEOUT_S)
        assert res.error is None, res.error
        return res.offset

    assert offset_for(t0 - 10_000) == 0
    assert offset_for(t0) == 0
    assert offset_for(t0 + 5_000) == 5
    assert offset_for(t0 + 5_500) == 6
    assert offset_for(t0 + 19_001) == 20  # first record of the second batch
    assert offset_for(t0 + 24_000) == 24
    assert offset_for(t0 + 29_000) == 29
    assert offset_for(t0 + 29_001) == -1  # no such record: OFFSET_END


# --- consumer groups -----------------------------------------------------------------


def test_resume_from_committed_offset_inside_a_batch(bootstrap, clients, name):
    topic = name("mid")
    group = name("group")
    producer = clients.producer(bootstrap, **{"linger.ms": 500, "compression.type": "lz4"})
    produce_all(producer, [{"topic": topic, "partition": 0, "value": b"r%d" % i} for i in range(100)])

    first = clients.consumer(bootstrap, group)
    first.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = []
    deadline = time.monotonic() + READ_TIMEOUT_S
    while len(got) < 50:
        assert time.monotonic() < deadline, f"read only {len(got)} records"
        msg = first.poll(0.2)
        if msg is not None and msg.error() is None:
            got.append(msg)
    assert [m.offset() for m in got] == list(range(50))
    first.commit(offsets=[TopicPartition(topic, 0, 50)], asynchronous=False)
    clients.close(first)

    second = clients.consumer(bootstrap, group)
    assert committed_offsets(second, topic, 1) == {0: 50}
    rest = read_to_end(second, topic, 1, start=OFFSET_STORED)
    assert [m.offset() for m in rest] == list(range(50, 100))
    assert values(rest) == [b"r%d" % i for i in range(50, 100)]


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


def test_transactions_commit_and_abort_visibility(bootstrap, clients, name):
    topic = name("txn")
    create_topic(clients.admin(bootstrap), topic, 1)
    producer = txn_producer(clients, bootstrap, name("tid"))

    def run_txn(prefix: bytes, count: int, commit: bool) -> None:
        producer.begin_transaction()
        for i in range(count):
            producer.produce(topic, value=b"%s-%d" % (prefix, i))
        producer.flush(OP_TIMEOUT_S)  # the records reach the log before the outcome is decided
        if commit:
            producer.commit_transaction(OP_TIMEOUT_S)
        else:
            producer.abort_transaction(OP_TIMEOUT_S)

    run_txn(b"c", 100, commit=True)
    run_txn(b"a", 50, commit=False)
    run_txn(b"d", 10, commit=True)

    committed = [b"c-%d" % i for i in range(100)] + [b"d-%d" % i for i in range(10)]
    aborted = [b"a-%d" % i for i in range(50)]

    rc = clients.consumer(bootstrap, **{"isolation.level": "read_committed"})
    assert values(read_to_end(rc, topic, 1)) == committed

    ru = clients.consumer(bootstrap, **{"isolation.level": "read_uncommitted"})
    msgs = read_to_end(ru, topic, 1)
    assert values(msgs) == committed[:100] + aborted + committed[100:]
    # 160 records + 3 control markers, each occupying an offset.
    assert [m.offset() for m in msgs] == list(range(100)) + list(range(101, 151)) + list(range(152, 162))
    assert ru.get_watermark_offsets(TopicPartition(topic, 0), timeout=OP_TIMEOUT_S, cached=False) == (0, 163)


def test_open_transaction_holds_back_read_committed(bootstrap, clients, name):
    topic = name("lso")
    create_topic(clients.admin(bootstrap), topic, 1)
    plain = clients.producer(bootstrap)
    produce_all(plain, [{"topic": topic, "value": b"before-%d" % i} for i in range(5)])

    producer = txn_producer(clients, bootstrap, name("tid"))
    producer.begin_transaction()
    for i in range(20):
        producer.produce(topic, value=b"open-%d" % i)
    producer.flush(OP_TIMEOUT_S)
    # A non-transactional record after the open transaction is also held back by the LSO.
    produce_all(plain, [{"topic": topic, "value": b"after"}])

    rc = clients.consumer(bootstrap, **{"isolation.level": "read_committed"})
    assert values(read_to_end(rc, topic, 1)) == [b"before-%d" % i for i in range(5)]
    ru = clients.consumer(bootstrap, **{"isolation.level": "read_uncommitted"})
    assert len(read_to_end(ru, topic, 1)) == 26

    producer.commit_transaction(OP_TIMEOUT_S)
    assert values(read_to_end(rc, topic, 1)) == (
        [b"before-%d" % i for i in range(5)] + [b"open-%d" % i for i in range(20)] + [b"after"]
    )


def test_send_offsets_to_transaction_visible_only_after_commit(bootstrap, clients, name):
    source = name("in")
    sink = name("out")
    group = name("group")
    admin = clients.admin(bootstrap)
    create_topic(admin, source, 1)
    create_topic(admin, sink, 1)
    plain = clients.producer(bootstrap)
    produce_all(plain, [{"topic": source, "value": b"in-%d" % i} for i in range(10)])

    worker = clients.consumer(bootstrap, group, **{"isolation.level": "read_committed"})
    worker.subscribe([source])
    (inputs,) = poll_records([worker], lambda g: sum(map(len, g.values())) >= 10)
    assert values(inputs) == [b"in-%d" % i for i in range(10)]

    # A read_uncommitted observer does not ask for stable offsets (KIP-447), so it sees
    # exactly what has been committed so far.
    observer = clients.consumer(bootstrap, group, **{"isolation.level": "read_uncommitted"})

    producer = txn_producer(clients, bootstrap, name("tid"))
    producer.begin_transaction()
    for m in inputs:
        producer.produce(sink, value=m.value().replace(b"in-", b"out-"))
    producer.send_offsets_to_transaction([TopicPartition(source, 0, 10)], worker.consumer_group_metadata(), OP_TIMEOUT_S)
    producer.flush(OP_TIMEOUT_S)
    assert committed_offsets(observer, source, 1) == {0: OFFSET_INVALID}, "offsets visible before commit"
    producer.commit_transaction(OP_TIMEOUT_S)
    assert committed_offsets(observer, source, 1) == {0: 10}
    assert committed_offsets(worker, source, 1) == {0: 10}

    # Offsets sent in an aborted transaction are dropped.
    produce_all(plain, [{"topic": source, "value": b"in-%d" % i} for i in range(10, 15)])
    (more,) = poll_records([worker], lambda g: sum(map(len, g.values())) >= 5)
    assert [m.offset() for m in more] == list(range(10, 15))
    producer.begin_transaction()
    for m in more:
        producer.produce(sink, value=m.value().replace(b"in-", b"out-"))
    producer.send_offsets_to_transaction([TopicPartition(source, 0, 15)], worker.consumer_group_metadata(), OP_TIMEOUT_S)
    producer.flush(OP_TIMEOUT_S)
    producer.abort_transaction(OP_TIMEOUT_S)
    assert committed_offsets(observer, source, 1) == {0: 10}
    assert committed_offsets(worker, source, 1) == {0: 10}

    rc = clients.consumer(bootstrap, **{"isolation.level": "read_committed"})
    assert values(read_to_end(rc, sink, 1)) == [b"out-%d" % i for i in range(10)]


def test_same_transactional_id_fences_the_older_producer(bootstrap, clients, name):
    topic = name("fence")
    txn_id = name("tid")
    create_topic(clients.admin(bootstrap), topic, 1)

    zombie = txn_producer(clients, bootstrap, txn_id)
    zombie.begin_transaction()
    for i in range(20):
        zombie.produce(topic, value=b"zombie-%d" % i)
    zombie.flush(OP_TIMEOUT_S)

    rc = clients.consumer(bootstrap, **{"isolation.level": "read_committed"})
    ru = clients.consumer(bootstrap, **{"isolation.level": "read_uncommitted"})
    assert read_to_end(rc, topic, 1) == []
    assert len(read_to_end(ru, topic, 1)) == 20

    # The new instance's InitProducerId aborts the zombie's open transaction and bumps the epoch.
    successor = txn_producer(clients, bootstrap, txn_id)
    tp = TopicPartition(topic, 0)
    eventually(
        lambda: ru.get_watermark_offsets(tp, timeout=OP_TIMEOUT_S, cached=False) == (0, 21),
        what="the abort marker of the fenced transaction",
    )

    with pytest.raises(KafkaException) as exc:
        zombie.commit_transaction(OP_TIMEOUT_S)
    err = exc.value.args[0]
    assert err.fatal() or err.code() in FENCED_CODES, f"expected a fencing error, got {err}"

    successor.begin_transaction()
    for i in range(5):
        successor.produce(topic, value=b"successor-%d" % i)
    successor.commit_transaction(OP_TIMEOUT_S)

    assert values(read_to_end(rc, topic, 1)) == [b"successor-%d" % i for i in range(5)]
    msgs = read_to_end(ru, topic, 1)
    assert values(msgs) == [b"zombie-%d" % i for i in range(20)] + [b"successor-%d" % i for i in range(5)]
    assert [m.offset() for m in msgs] == list(range(20)) + list(range(21, 26))


# --- persistence ---------------------------------------------------------------------


def test_restart_keeps_records_topics_and_committed_offsets(persistent_broker, clients, name):
    broker = persistent_broker
    topic = name("persist")
    group = name("group")
    t0 = int(time.time() * 1000) - 3_600_000
    admin = clients.admin(broker.bootstrap)
    create_topic(admin, topic, 2, {"retention.ms": "86400000"})
    producer = clients.producer(broker.bootstrap, **{"enable.idempotence": True, "acks": "all", "linger.ms": 5})
    records = [
        {"topic": topic, "partition": i % 2, "key": b"k%d" % i, "value": b"rec-%d" % i, "timestamp": t0 + i}
        for i in range(1000)
    ]
    produce_all(producer, records)
    committer = clients.consumer(broker.bootstrap, group)
    committer.commit(offsets=[TopicPartition(topic, 0, 300), TopicPartition(topic, 1, 200)], asynchronous=False)
    assert committed_offsets(committer, topic, 2) == {0: 300, 1: 200}
    before = [
        (m.partition(), m.offset(), m.key(), m.value(), m.timestamp())
        for m in read_to_end(clients.consumer(broker.bootstrap), topic, 2)
    ]
    assert len(before) == 1000

    clients.close_all()
    assert broker.stop(signal.SIGTERM) == 0
    bootstrap = broker.start()

    admin = clients.admin(bootstrap)
    assert topic_partitions(admin, topic) == 2
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource], request_timeout=BROKER_OP_TIMEOUT_S)[resource].result(timeout=OP_TIMEOUT_S)
    assert entries["retention.ms"].value == "86400000"

    reader = clients.consumer(bootstrap)
    for p in (0, 1):
        assert reader.get_watermark_offsets(TopicPartition(topic, p), timeout=OP_TIMEOUT_S, cached=False) == (0, 500)
    after = [(m.partition(), m.offset(), m.key(), m.value(), m.timestamp()) for m in read_to_end(reader, topic, 2)]
    assert sorted(after) == sorted(before)

    member = clients.consumer(bootstrap, group)
    assert committed_offsets(member, topic, 2) == {0: 300, 1: 200}
    member.subscribe([topic])
    (resumed,) = poll_records([member], lambda g: sum(map(len, g.values())) >= 500)
    assert sorted((m.partition(), m.offset()) for m in resumed) == (
        [(0, o) for o in range(300, 500)] + [(1, o) for o in range(200, 500)]
    )

    # New records continue the old offsets.
    producer = clients.producer(bootstrap, **{"enable.idempotence": True, "acks": "all"})
    assert produce_all(producer, [{"topic": topic, "partition": 0, "value": b"new"}]) == [(0, 500)]


def test_restart_keeps_transaction_outcomes(persistent_broker, clients, name):
    broker = persistent_broker
    topic = name("ptxn")
    txn_id = name("tid")
    create_topic(clients.admin(broker.bootstrap), topic, 1)
    producer = txn_producer(clients, broker.bootstrap, txn_id)
    for prefix, commit in ((b"c", True), (b"a", False), (b"d", True)):
        producer.begin_transaction()
        for i in range(5):
            producer.produce(topic, value=b"%s-%d" % (prefix, i))
        producer.flush(OP_TIMEOUT_S)
        if commit:
            producer.commit_transaction(OP_TIMEOUT_S)
        else:
            producer.abort_transaction(OP_TIMEOUT_S)
    committed = [b"c-%d" % i for i in range(5)] + [b"d-%d" % i for i in range(5)]

    clients.close_all()
    assert broker.stop(signal.SIGTERM) == 0
    bootstrap = broker.start()

    rc = clients.consumer(bootstrap, **{"isolation.level": "read_committed"})
    assert values(read_to_end(rc, topic, 1)) == committed
    ru = clients.consumer(bootstrap, **{"isolation.level": "read_uncommitted"})
    assert len(read_to_end(ru, topic, 1)) == 15
    assert ru.get_watermark_offsets(TopicPartition(topic, 0), timeout=OP_TIMEOUT_S, cached=False) == (0, 18)

    # The transactional id still works after the restart.
    producer = txn_producer(clients, bootstrap, txn_id)
    producer.begin_transaction()
    producer.produce(topic, value=b"e-0")
    producer.commit_transaction(OP_TIMEOUT_S)
    assert values(read_to_end(rc, topic, 1)) == committed + [b"e-0"]
