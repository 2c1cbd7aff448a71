"""Restart on a data directory keeps records, topics, offsets and transaction outcomes.

confluent-kafka (librdkafka) against techpotli-broker; fixtures in conftest.py.
"""

from __future__ import annotations

import signal
import time

from confluent_kafka import TopicPartition
from confluent_kafka.admin import ConfigResource, ResourceType

from kafka_helpers import *  # noqa: F403


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
