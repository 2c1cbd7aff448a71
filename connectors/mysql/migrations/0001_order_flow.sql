-- Order flow read model (issue 7). Ids are UUIDv7 / application strings; money is BIGINT minor
-- units with a CHAR(3) ISO 4217 currency; event times are BIGINT ms since the epoch (UTC).

-- One row per order. Placed columns come from orders.placed, status columns from orders.status;
-- either may arrive first (two topics), so every column but the id is nullable.
CREATE TABLE orders (
    order_id         VARCHAR(64)  NOT NULL PRIMARY KEY,
    user_id          VARCHAR(255) NULL,
    idempotency_key  VARCHAR(255) NULL,
    cart_id          VARCHAR(64)  NULL,
    currency         CHAR(3)      NULL,
    subtotal_minor   BIGINT       NULL,
    discount_minor   BIGINT       NULL,
    shipping_minor   BIGINT       NULL,
    tax_minor        BIGINT       NULL,
    total_minor      BIGINT       NULL,
    shipping_address JSON         NULL,
    placed_event_id  CHAR(36)     NULL,
    placed_at_ms     BIGINT       NULL,
    status           VARCHAR(32)  NULL,
    status_reason    TEXT         NULL,
    status_sequence  INT          NULL,
    status_at_ms     BIGINT       NULL,
    updated_at       TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    KEY orders_user (user_id, placed_at_ms),
    KEY orders_status (status),
    CONSTRAINT orders_currency CHECK (currency IS NULL OR currency REGEXP '^[A-Z]{3}$'),
    CONSTRAINT orders_amounts CHECK (total_minor IS NULL OR total_minor >= 0)
) ENGINE = InnoDB;

CREATE TABLE order_lines (
    order_id         VARCHAR(64) NOT NULL,
    line_no          INT         NOT NULL,
    sku              VARCHAR(64) NOT NULL,
    quantity         INT         NOT NULL,
    unit_price_minor BIGINT      NOT NULL,
    currency         CHAR(3)     NOT NULL,
    PRIMARY KEY (order_id, line_no),
    UNIQUE KEY order_lines_sku (order_id, sku),
    KEY order_lines_by_sku (sku),
    CONSTRAINT order_lines_quantity CHECK (quantity > 0),
    CONSTRAINT order_lines_price CHECK (unit_price_minor >= 0)
) ENGINE = InnoDB;

-- One row per status event: event_id is the idempotency key, (order_id, sequence) the order.
CREATE TABLE order_status_history (
    event_id         CHAR(36)    NOT NULL PRIMARY KEY,
    order_id         VARCHAR(64) NOT NULL,
    sequence         INT         NOT NULL,
    state            VARCHAR(32) NOT NULL,
    previous_state   VARCHAR(32) NULL,
    reason           TEXT        NULL,
    event_time_ms    BIGINT      NOT NULL,
    total_minor      BIGINT      NOT NULL,
    currency         CHAR(3)     NOT NULL,
    source_partition INT         NOT NULL,
    source_offset    BIGINT      NOT NULL,
    UNIQUE KEY order_status_history_seq (order_id, sequence),
    KEY order_status_history_time (order_id, event_time_ms)
) ENGINE = InnoDB;

-- The current level per SKU (inventory.levels is compacted: the last record per key wins).
CREATE TABLE stock_levels (
    sku              VARCHAR(64) NOT NULL PRIMARY KEY,
    on_hand          INT         NOT NULL,
    reserved         INT         NOT NULL,
    available        INT         NOT NULL,
    flagged          BOOLEAN     NOT NULL,
    last_change      VARCHAR(32) NOT NULL,
    event_id         CHAR(36)    NOT NULL,
    event_time_ms    BIGINT      NOT NULL,
    source_partition INT         NOT NULL,
    source_offset    BIGINT      NOT NULL,
    CONSTRAINT stock_levels_nonneg CHECK (reserved >= 0 AND available >= 0)
) ENGINE = InnoDB;

-- Where each sink resumes: written in the same transaction as the rows above.
CREATE TABLE sink_offsets (
    sink        VARCHAR(128) NOT NULL,
    topic       VARCHAR(249) NOT NULL,
    `partition` INT          NOT NULL,
    next_offset BIGINT       NOT NULL,
    PRIMARY KEY (sink, topic, `partition`)
) ENGINE = InnoDB;
