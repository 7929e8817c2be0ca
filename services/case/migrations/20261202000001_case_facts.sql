-- What a case's facts (earshot.events.v1.CaseFacts, on every CaseOpened and
-- CaseUpdated) need that no column held: how the case opened, and how often
-- it went back to work.
ALTER TABLE cases
    -- earshot.common.v1.Intent of the mention that opened it; 0 for cases
    -- created by API.
    ADD COLUMN intent    smallint NOT NULL DEFAULT 0,
    -- Opened from a public post (a tweet, a review), not a private message.
    ADD COLUMN public    boolean  NOT NULL DEFAULT false,
    -- The customer's followers on the channel when the case opened: the
    -- profile's count grows with later mentions, and the facts keep this one.
    ADD COLUMN followers bigint   NOT NULL DEFAULT 0,
    -- Times it went back to work after being resolved or closed. A counter,
    -- since an erasure blanks the audit entries that said so.
    ADD COLUMN reopens   integer  NOT NULL DEFAULT 0;

-- Cases from before: intent and public were never kept (they read as
-- unspecified and private); followers are the profile's as it stands, and
-- reopens those the audit trail still tells (statuses as their labels, as
-- lifecycle and intake write them).
UPDATE cases c SET followers = cu.followers
  FROM customers cu
 WHERE cu.id = c.customer_id AND cu.followers > 0;
UPDATE cases c SET reopens = r.n
  FROM (SELECT case_id, count(*)::int AS n
          FROM audit_entries
         WHERE case_id IS NOT NULL
           AND action IN ('case.status_changed', 'case.reopened')
           AND before->>'status' IN ('RESOLVED', 'CLOSED')
           AND after->>'status' NOT IN ('RESOLVED', 'CLOSED')
         GROUP BY case_id) r
 WHERE r.case_id = c.id;
