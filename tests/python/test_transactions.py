"""Transactions: visibility under read_committed, offsets in transactions, fencing.

confluent-kafka (librdkafka) against techpotli-broker; fixtures in conftest.py.
"""

from __future__ import annotations


import pytest
from confluent_kafka import OFFSET_INVALID, KafkaException, TopicPartition

from kafka_helpers import *  # noqa: F403


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
    # Apache Kafka writes the commit markers (and so materialises the offsets) after it answers
    # EndTxn; the embedded broker does both in one step. Either way they become visible.
    eventually(lambda: committed_offsets(observer, source, 1) == {0: 10}, what="offsets visible after commit")
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
