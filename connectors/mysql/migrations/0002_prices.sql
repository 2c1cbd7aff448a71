-- The current price of each SKU (pricing.prices, compacted): the API prices orders and carts
-- from it when Redis cannot answer. A tombstone (product deleted or not for sale) deletes the row.
CREATE TABLE prices (
    sku                   VARCHAR(128) NOT NULL PRIMARY KEY,
    list_price_minor      BIGINT       NOT NULL,
    effective_price_minor BIGINT       NOT NULL,
    currency              CHAR(3)      NOT NULL,
    -- JSON array of rule ids, in the order applied.
    applied_rule_ids      TEXT         NOT NULL,
    valid_until_ms        BIGINT       NULL,
    event_id              CHAR(36)     NOT NULL,
    event_time_ms         BIGINT       NOT NULL,
    source_partition      INT          NOT NULL,
    source_offset         BIGINT       NOT NULL,
    CONSTRAINT prices_nonneg CHECK (list_price_minor >= 0 AND effective_price_minor >= 0)
) ENGINE = InnoDB;
