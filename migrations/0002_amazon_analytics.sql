-- Amazon analytics, scoped to one organization and one seller account.

CREATE TABLE amazon_sales_traffic_daily (
    id                           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id              uuid NOT NULL REFERENCES organization (id),
    seller_account_id            uuid NOT NULL REFERENCES seller_accounts (id),
    marketplace_id               text NOT NULL,
    date                         date NOT NULL,
    asin                         text NOT NULL,
    sku                          text NOT NULL DEFAULT '',
    units_ordered                integer NOT NULL DEFAULT 0,
    ordered_product_sales_amount numeric(14, 2) NOT NULL DEFAULT 0,
    currency                     text,
    sessions                     integer NOT NULL DEFAULT 0,
    page_views                   integer NOT NULL DEFAULT 0,
    buy_box_percentage           numeric(5, 2),
    created_at                   timestamptz NOT NULL DEFAULT now(),
    updated_at                   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (seller_account_id, marketplace_id, date, asin, sku)
);
CREATE INDEX amazon_sales_traffic_daily_org_date_idx
    ON amazon_sales_traffic_daily (organization_id, date);

CREATE TABLE amazon_orders (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id    uuid NOT NULL REFERENCES organization (id),
    seller_account_id  uuid NOT NULL REFERENCES seller_accounts (id),
    marketplace_id     text NOT NULL,
    amazon_order_id    text NOT NULL,
    purchase_date      timestamptz,
    order_status       text,
    order_total_amount numeric(14, 2),
    currency           text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (seller_account_id, amazon_order_id)
);
CREATE INDEX amazon_orders_org_purchase_date_idx
    ON amazon_orders (organization_id, purchase_date);
CREATE INDEX amazon_orders_marketplace_id_idx ON amazon_orders (marketplace_id);
