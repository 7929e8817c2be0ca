//! Forgetting a customer: their mentions' evaluations (and the copies a
//! recorded drill has yet to replay) are deleted, and the escalations and
//! incidents those mentions raised lose the words they quoted (a reason
//! says who said what; the escalation itself, its guideline, team and
//! timeline stay, as the audit of what was done). The case service names the
//! mentions threaded into the customer's cases (`CustomerErased`, answered
//! with `ErasureCompleted`); listening names every mention of theirs it
//! erased (its `ErasureCompleted`), which reaches the ones no case holds. And
//! the tenant's retention period, kept for the job that deletes older
//! evaluations.

use earshot_proto::events::v1::CustomerErased;
use earshot_server::retention::RetentionJob;
use sqlx::PgConnection;

/// Evaluations to delete: of the tenant's `mention_ids`, and, when the case
/// service asked, the erasure to answer.
pub struct Erase {
    pub tenant_id: String,
    pub mention_ids: Vec<String>,
    pub answer: Option<CustomerErased>,
}

/// Deletes the tenant's evaluations of `mention_ids` and the drill steps
/// waiting to replay them; answers how many went.
pub async fn erase(
    conn: &mut PgConnection,
    tenant_id: &str,
    mention_ids: &[String],
) -> Result<u64, sqlx::Error> {
    if mention_ids.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query("DELETE FROM evaluations WHERE tenant_id = $1 AND mention_id = ANY($2)")
        .bind(tenant_id)
        .bind(mention_ids)
        .execute(&mut *conn)
        .await?;
    // A drill replaying a recorded window holds copies of the mentions it
    // has yet to replay.
    let waiting =
        sqlx::query("DELETE FROM drill_steps WHERE tenant_id = $1 AND mention_id = ANY($2)")
            .bind(tenant_id)
            .bind(mention_ids)
            .execute(&mut *conn)
            .await?;
    let reasons = sqlx::query(
        "UPDATE escalations SET reason = guideline_name || ': a mention (erased)'
          WHERE tenant_id = $1 AND mention_id = ANY($2)",
    )
    .bind(tenant_id)
    .bind(mention_ids)
    .execute(&mut *conn)
    .await?;
    // An incident's title (and its "opened" step) quote the escalation that
    // opened it.
    let incidents = sqlx::query(
        "WITH touched AS (
             SELECT DISTINCT incident_id AS id FROM escalations
              WHERE tenant_id = $1 AND mention_id = ANY($2) AND incident_id IS NOT NULL
         ), titled AS (
             UPDATE incidents i SET title = split_part(i.title, ': ', 1) || ': (erased)'
               FROM touched WHERE i.id = touched.id
             RETURNING i.id
         )
         UPDATE timeline t SET detail = '(erased)'
           FROM titled WHERE t.tenant_id = $1 AND t.subject_id = titled.id AND t.kind = 'opened'",
    )
    .bind(tenant_id)
    .bind(mention_ids)
    .execute(conn)
    .await?;
    Ok(done.rows_affected()
        + waiting.rows_affected()
        + reasons.rows_affected()
        + incidents.rows_affected())
}

/// Deletes evaluations older than their tenant's period.
pub fn job() -> RetentionJob {
    RetentionJob {
        name: "evaluation retention",
        delete: "DELETE FROM evaluations WHERE id = ANY(ARRAY(
                     SELECT e.id FROM retention_policies r
                       JOIN evaluations e
                         ON e.tenant_id = r.tenant_id
                        AND e.evaluated_at < now() - make_interval(days => r.days)
                      WHERE r.days > 0
                      LIMIT $1
                        FOR UPDATE OF e SKIP LOCKED))",
    }
}
