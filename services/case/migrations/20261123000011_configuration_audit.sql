-- Configuration changes (routing rules, agents, SLA policies, business hours,
-- the guard policy) join the audit trail as entries of neither a case nor a
-- customer; this index lists them in order.
CREATE INDEX audit_entries_of_configuration ON audit_entries (tenant_id, at, id)
    WHERE case_id IS NULL AND customer_id IS NULL;
