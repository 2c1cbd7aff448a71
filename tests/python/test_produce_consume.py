"""Produce and fetch: idempotence, codecs, headers, timestamps, watermarks, offsets.

confluent-kafka (librdkafka) against techpotli-broker; fixtures in conftest.py.
"""

from __future__ import annotations

import time
from collections import defaultdict

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_STORED, TIMESTAMP_CREATE_TIME, TopicPartition

from kafka_helpers import *  # noqa: F403


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
