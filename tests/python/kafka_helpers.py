"""Shared helpers for the conformance suite: constants, clients, waits and reads."""


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
