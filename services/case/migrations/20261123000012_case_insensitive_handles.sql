-- Handles on x, instagram and facebook are not case-sensitive: identities
-- there are stored lower-cased, so @JaneDoe and janedoe are one person. A
-- value whose lower-cased form another identity of the tenant holds already
-- keeps its case (merge the two customers to join them).
UPDATE customer_identities ci
   SET value = lower(ci.value)
 WHERE ci.platform IN ('x', 'instagram', 'facebook')
   AND ci.value <> lower(ci.value)
   AND NOT EXISTS (SELECT 1 FROM customer_identities o
                    WHERE o.tenant_id = ci.tenant_id AND o.platform = ci.platform
                      AND o.value = lower(ci.value));
