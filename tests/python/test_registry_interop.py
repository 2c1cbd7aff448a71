"""Registry interop: Confluent's Python serializers and the project's Rust codec agree.

Python ``AvroSerializer`` (through ``techpotli-registry``) writes records the Rust codec decodes,
and the Rust codec writes records ``AvroDeserializer`` decodes. The Rust side is the
``interop`` example of the schemas crate (built by the Rust test run).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", "/var/cache/techpotli/target"))
INTEROP_BIN = Path(os.environ.get("TECHPOTLI_INTEROP_BIN", TARGET / "debug" / "examples" / "interop"))
TOPIC = "orders.placed"
ORDER_SCHEMA = (ROOT / "schemas" / "avro" / "order_placed.avsc").read_text()


@pytest.fixture
def registry_url(registry):
    if not INTEROP_BIN.is_file():
        pytest.fail(f"{INTEROP_BIN} not built: run the Rust tests first (scripts/test.sh does)")
    return registry[1]


def order(i: int) -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "event_time": 1_790_000_000_000 + i,
        "order_id": f"ord-{i}",
        "user_id": "user-7",
        "idempotency_key": f"idem-{i}",
        "cart_id": None if i % 2 else f"cart-{i}",
        "currency": "INR",
        "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price_minor": 49_900}, {"sku": "SKU-2", "quantity": 1, "unit_price_minor": 1_000}],
        "subtotal_minor": 100_800,
        "discount_minor": 0,
        "shipping_minor": 5_000,
        "tax_minor": 0,
        "total_minor": 105_800,
        "shipping_address": {
            "recipient_name": "Asha",
            "line1": "12 MG Road",
            "line2": None,
            "city": "Bengaluru",
            "region": "KA",
            "postal_code": "560001",
            "country_code": "IN",
            "phone": None,
        },
    }


def plain(value):
    """fastavro turns timestamp-millis into datetimes and uuid strings into UUIDs; undo that."""
    import datetime

    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        return round(value.timestamp() * 1000)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def interop(*args: str, stdin: str = "") -> list[dict]:
    out = subprocess.run([str(INTEROP_BIN), *args], input=stdin, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_python_serializer_writes_what_the_rust_codec_reads(registry_url):
    client = SchemaRegistryClient({"url": registry_url})
    ser = AvroSerializer(client, ORDER_SCHEMA, conf={"auto.register.schemas": True})
    ctx = SerializationContext(TOPIC, MessageField.VALUE)
    records = [order(i) for i in range(3)]
    framed = [ser(r, ctx) for r in records]
    assert all(b[0] == 0 for b in framed), "Confluent framing: magic byte 0"
    schema_id = client.get_latest_version(f"{TOPIC}-value").schema_id
    assert all(int.from_bytes(b[1:5], "big") == schema_id for b in framed)
    decoded = interop("decode", registry_url, stdin="\n".join(b.hex() for b in framed))
    assert [d["schema_id"] for d in decoded] == [schema_id] * 3
    # The typed Rust decode, re-serialised as JSON, equals what Python wrote.
    assert [d["typed"] for d in decoded] == records
    # The generic decode (what `techpotli tail` prints) carries the same data.
    assert [d["json"]["order_id"] for d in decoded] == ["ord-0", "ord-1", "ord-2"]


def test_rust_codec_writes_what_the_python_deserializer_reads(registry_url):
    produced = interop("encode", registry_url, TOPIC, "3")
    assert len(produced) == 3
    client = SchemaRegistryClient({"url": registry_url})
    de = AvroDeserializer(client)
    ctx = SerializationContext(TOPIC, MessageField.VALUE)
    for p in produced:
        framed = bytes.fromhex(p["hex"])
        assert framed[0] == 0
        assert int.from_bytes(framed[1:5], "big") == client.get_latest_version(f"{TOPIC}-value").schema_id
        assert plain(de(framed, ctx)) == p["typed"]


def test_client_lookups_and_compatibility_checks_are_answered(registry_url):
    """The calls the newest client makes with boolean query flags (`deleted=True`,
    `verbose=True`, `normalize=False`): Confluent reads them like Java's parseBoolean."""
    from confluent_kafka.schema_registry import Schema

    client = SchemaRegistryClient({"url": registry_url})
    subject = f"{TOPIC}-value"
    schema = Schema(ORDER_SCHEMA, "AVRO")
    schema_id = client.register_schema(subject, schema)
    found = client.lookup_schema(subject, schema)
    assert (found.schema_id, found.version) == (schema_id, 1)
    assert client.test_compatibility(subject, schema) is True
    evolved = json.loads(ORDER_SCHEMA)
    evolved["fields"].append({"name": "note", "type": ["null", "string"], "default": None})
    assert client.test_compatibility(subject, Schema(json.dumps(evolved), "AVRO")) is True
    breaking = json.loads(ORDER_SCHEMA)
    breaking["fields"] = [f for f in breaking["fields"] if f["name"] != "order_id"]
    breaking["fields"].append({"name": "order_id", "type": "long"})
    assert client.test_compatibility(subject, Schema(json.dumps(breaking), "AVRO")) is False
