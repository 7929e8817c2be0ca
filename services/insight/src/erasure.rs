//! Forgetting a customer and the tenant's retention period. Insight keeps
//! who wrote each mention (to see the same customer contact again and to
//! tell them a fix), which customer each case is for, and the first words
//! of replies. An erasure anonymises all of that: the mentions listening or
//! the case service name lose their author, handle, thread and words (and
//! so do the same author's other mentions), the customer's cases lose their
//! profile and their replies their words, and nobody is left to be told a
//! fix. The counts stay: they are about no one.

use earshot_outbox::new_event;
use earshot_proto::events::v1::{CustomerErased, ErasureCompleted, Event, event};
use earshot_server::retention::RetentionJob;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::NAME;

/// What one event asks to forget.
#[derive(Debug, Clone, PartialEq)]
pub struct Forget {
    pub tenant_id: String,
    /// The case service's erasure, answered with `ErasureCompleted`; `None`
    /// for listening's report of the mentions it erased.
    pub erasure: Option<(String, String)>,
    pub customer_id: Option<Uuid>,
    pub mention_ids: Vec<Uuid>,
}

impl Forget {
    pub fn customer(tenant_id: &str, erased: &CustomerErased) -> Self {
        Self {
            tenant_id: tenant_id.to_owned(),
            erasure: Some((erased.erasure_id.clone(), erased.customer_id.clone())),
            customer_id: Uuid::parse_str(&erased.customer_id).ok(),
            mention_ids: ids(&erased.mention_ids),
        }
    }

    pub fn mentions(tenant_id: &str, mention_ids: &[String]) -> Self {
        Self {
            tenant_id: tenant_id.to_owned(),
            erasure: None,
            customer_id: None,
            mention_ids: ids(mention_ids),
        }
    }
}

fn ids(raw: &[String]) -> Vec<Uuid> {
    raw.iter().filter_map(|m| Uuid::parse_str(m).ok()).collect()
}

/// Forgets each in turn; answers the case service's erasures.
pub async fn forget(conn: &mut PgConnection, asks: Vec<Forget>) -> Result<Vec<Event>, sqlx::Error> {
    let mut answers = Vec::new();
    for ask in asks {
        let erased = forget_one(conn, &ask).await?;
        if let Some((erasure_id, customer_id)) = &ask.erasure {
            answers.push(new_event(
                NAME,
                &ask.tenant_id,
                customer_id.clone(),
                event::Payload::ErasureCompleted(ErasureCompleted {
                    erasure_id: erasure_id.clone(),
                    service: NAME.to_owned(),
                    records_erased: erased,
                    mention_ids: Vec::new(),
                }),
            ));
        }
    }
    Ok(answers)
}

async fn forget_one(conn: &mut PgConnection, ask: &Forget) -> Result<u64, sqlx::Error> {
    let tenant = ask.tenant_id.as_str();
    // The authors of the named mentions and of the customer's cases' opening mentions.
    let authors: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT author FROM mention_facts
          WHERE tenant_id = $1 AND author <> ''
            AND (mention_id = ANY($2)
                 OR mention_id IN (SELECT mention_id FROM case_facts
                                    WHERE tenant_id = $1 AND customer_id = $3))",
    )
    .bind(tenant)
    .bind(&ask.mention_ids)
    .bind(ask.customer_id)
    .fetch_all(&mut *conn)
    .await?;
    let mentions = sqlx::query(
        "UPDATE mention_facts
            SET author = '', handle = '', thread_key = '', praise = NULL
          WHERE tenant_id = $1
            AND (mention_id = ANY($2) OR author = ANY($3))
            AND (author <> '' OR handle <> '' OR thread_key <> '' OR praise IS NOT NULL)",
    )
    .bind(tenant)
    .bind(&ask.mention_ids)
    .bind(&authors)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let notices = sqlx::query("DELETE FROM fix_notices WHERE tenant_id = $1 AND author = ANY($2)")
        .bind(tenant)
        .bind(&authors)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let Some(customer) = ask.customer_id else {
        return Ok(mentions + notices);
    };
    let replies = sqlx::query(
        "UPDATE reply_facts SET excerpt = ''
          WHERE tenant_id = $1 AND excerpt <> ''
            AND case_id IN (SELECT case_id FROM case_facts WHERE tenant_id = $1 AND customer_id = $2)",
    )
    .bind(tenant)
    .bind(customer)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let cases = sqlx::query(
        "UPDATE case_facts SET customer_id = NULL WHERE tenant_id = $1 AND customer_id = $2",
    )
    .bind(tenant)
    .bind(customer)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(mentions + notices + replies + cases)
}

/// A retention job deleting a table's rows whose `$at` is past their
/// tenant's period, a batch at a time.
macro_rules! retention {
    ($name:literal, $table:literal, $at:literal) => {
        RetentionJob {
            name: $name,
            delete: concat!(
                "DELETE FROM ",
                $table,
                " WHERE ctid IN (
                     SELECT a.ctid FROM retention_policies r
                       JOIN ",
                $table,
                " a
                         ON a.tenant_id = r.tenant_id
                        AND a.",
                $at,
                " < now() - make_interval(days => r.days)
                      WHERE r.days > 0
                      LIMIT $1
                        FOR UPDATE OF a SKIP LOCKED)"
            ),
        }
    };
}

/// Deletes facts and rollups older than their tenant's period.
pub fn jobs() -> Vec<RetentionJob> {
    vec![
        retention!("activity retention", "daily_activity", "day"),
        retention!("case facts retention", "case_facts", "opened_at"),
        retention!("mention facts retention", "mention_facts", "posted_at"),
        retention!("reply facts retention", "reply_facts", "sent_at"),
        retention!("case rollups retention", "case_rollups", "day"),
        retention!("case durations retention", "case_durations", "day"),
        retention!("case resolutions retention", "case_resolutions", "day"),
        retention!("fairness rollups retention", "fairness_rollups", "day"),
        retention!(
            "monthly case rollups retention",
            "case_rollups_monthly",
            "day"
        ),
        retention!(
            "monthly case durations retention",
            "case_durations_monthly",
            "day"
        ),
        retention!(
            "monthly fairness rollups retention",
            "fairness_rollups_monthly",
            "day"
        ),
        retention!("driver rollups retention", "driver_rollups", "day"),
        retention!(
            "escalation facts retention",
            "escalation_facts",
            "raised_at"
        ),
        retention!("commitment facts retention", "commitment_facts", "due_at"),
    ]
}
