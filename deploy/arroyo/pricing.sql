-- Effective prices on an Arroyo cluster, with the pricing processor's own functions as UDFs
-- (udf/pricing: register each `udfs/<name>.rs` with Arroyo; `rule_json` and
-- `effective_price_json` are used here). Reads the same topics as techpotli-pricing (Avro,
-- Confluent Schema Registry) and writes a JSON price per SKU to `pricing.prices-arroyo`, a
-- topic of its own: pricing.prices stays the processor's. For production setups that prefer a
-- managed streaming-SQL engine; dev, tests and CI run the processor, and CI proves the UDFs
-- price as it does (udf/pricing/tests/entry_points.rs), not this query (no Arroyo cluster here).
--
-- Differences from the processor: prices are evaluated at the product or rule change that
-- triggers them, not again at a rule's later valid_from / valid_until (the processor's timers);
-- `valid_until` in the JSON says when a price goes stale.

CREATE TABLE products (
    sku TEXT NOT NULL,
    category TEXT NOT NULL,
    list_price_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    event_time TIMESTAMP NOT NULL
) WITH (
    connector = 'kafka',
    bootstrap_servers = 'kafka:9092',
    topic = 'catalog.products',
    type = 'source',
    format = 'avro',
    'avro.confluent_schema_registry' = 'true',
    'schema_registry.endpoint' = 'http://schema-registry:8081',
    'source.offset' = 'earliest',
    event_time_field = 'event_time'
);

CREATE TABLE price_rules (
    rule_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    percent_off_bps INT,
    amount_minor BIGINT,
    currency TEXT,
    scope TEXT NOT NULL,
    scope_value TEXT,
    valid_from TIMESTAMP,
    valid_until TIMESTAMP,
    priority INT NOT NULL,
    active BOOLEAN NOT NULL,
    event_time TIMESTAMP NOT NULL
) WITH (
    connector = 'kafka',
    bootstrap_servers = 'kafka:9092',
    topic = 'catalog.price-rules',
    type = 'source',
    format = 'avro',
    'avro.confluent_schema_registry' = 'true',
    'schema_registry.endpoint' = 'http://schema-registry:8081',
    'source.offset' = 'earliest',
    event_time_field = 'event_time'
);

CREATE TABLE prices_out (
    sku TEXT NOT NULL,
    price TEXT
) WITH (
    connector = 'kafka',
    bootstrap_servers = 'kafka:9092',
    topic = 'pricing.prices-arroyo',
    type = 'sink',
    format = 'json'
);

-- The latest valid version of every rule (rule_json is NULL for a rule the processor would
-- dead-letter), gathered into the one JSON array effective_price_json takes.
CREATE VIEW rule_set AS
SELECT 1 AS k, '[' || string_agg(rule, ',') || ']' AS rules_json
FROM (
    SELECT rule_id, last_value(rule_json(
        rule_id, kind, CAST(percent_off_bps AS BIGINT), amount_minor, currency, scope,
        scope_value,
        CAST(date_part('epoch', valid_from) * 1000 AS BIGINT),
        CAST(date_part('epoch', valid_until) * 1000 AS BIGINT),
        CAST(priority AS BIGINT),
        CASE WHEN active THEN 1 ELSE 0 END)) AS rule
    FROM price_rules
    GROUP BY rule_id
) latest
WHERE rule IS NOT NULL
GROUP BY 1;

INSERT INTO prices_out
SELECT p.sku,
       effective_price_json(
           p.list_price_minor, p.currency, p.category, p.sku, r.rules_json,
           CAST(date_part('epoch', p.event_time) * 1000 AS BIGINT)) AS price
FROM (SELECT 1 AS k, * FROM products WHERE active) p
JOIN rule_set r ON p.k = r.k;
