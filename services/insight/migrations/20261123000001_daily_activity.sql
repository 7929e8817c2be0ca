-- Mentions heard and cases opened per tenant and UTC day.
CREATE TABLE daily_activity (
    tenant_id    text   NOT NULL,
    day          date   NOT NULL,
    mentions     bigint NOT NULL DEFAULT 0,
    cases_opened bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day)
);
