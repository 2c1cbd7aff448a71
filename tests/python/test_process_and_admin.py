"""Process lifecycle (signals), metadata and topic administration.

confluent-kafka (librdkafka) against techpotli-broker; fixtures in conftest.py.
"""

from __future__ import annotations

import signal

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import ConfigResource, NewPartitions, NewTopic, ResourceType

from kafka_helpers import *  # noqa: F403


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


def test_metrics_endpoint_counts_requests(tmp_path, clients, name):
    import socket
    import urllib.request

    from conftest import EMBEDDED_ONLY, EXTERNAL_KAFKA, Broker

    if EXTERNAL_KAFKA:
        pytest.skip(EMBEDDED_ONLY)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        metrics_port = s.getsockname()[1]
    b = Broker(log_dir=tmp_path, extra_args=["--metrics-listen", f"127.0.0.1:{metrics_port}"])
    bootstrap = b.start()
    try:
        producer = clients.producer(bootstrap)
        produce_all(producer, [{"topic": name("metrics"), "value": b"x"}])

        def scrape():
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
                return r.read().decode()

        body = eventually(lambda: (lambda t: t if 'api="Produce"' in t else None)(scrape()), what="Produce counted")
        assert "broker_requests_total" in body
        assert "broker_request_seconds" in body
        assert "broker_produce_bytes_total" in body
    finally:
        assert b.stop() == 0
