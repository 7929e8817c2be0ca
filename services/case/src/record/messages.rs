//! A case's messages (`case_messages`): what the customer said and what the
//! team answered, oldest first.

use chrono::{DateTime, Utc};
use earshot_server::ServiceError;
use earshot_server::convert::Cursor;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::vocabulary::Direction;

#[derive(Debug, sqlx::FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub case_id: Uuid,
    pub direction: Direction,
    pub channel: i16,
    pub author: String,
    pub body: String,
    pub mention_id: Option<String>,
    pub posted_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub public: bool,
    /// Guard findings of a reply, as `replies::store` encodes them.
    pub findings: Option<Vec<u8>>,
    pub kb_article_id: Option<Uuid>,
    pub kb_article_version: Option<i32>,
}

/// The columns of [`MessageRow`].
pub const COLUMNS: &str = "id, case_id, direction, channel, author, body, mention_id, \
                           posted_at, created_at, public, findings, kb_article_id, \
                           kb_article_version";

impl MessageRow {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            at: self.created_at,
            id: self.id,
        }
    }
}

/// A customer's message to add to a case.
#[derive(Debug, Clone)]
pub struct Inbound<'a> {
    pub tenant_id: &'a str,
    pub case_id: Uuid,
    pub channel: i16,
    pub author: &'a str,
    pub body: &'a str,
    pub mention_id: Option<&'a str>,
    pub posted_at: DateTime<Utc>,
}

/// Adds customers' messages, in one statement.
pub async fn insert_inbound(
    conn: &mut PgConnection,
    messages: &[Inbound<'_>],
) -> Result<(), sqlx::Error> {
    if messages.is_empty() {
        return Ok(());
    }
    let tenants: Vec<&str> = messages.iter().map(|m| m.tenant_id).collect();
    let authors: Vec<&str> = messages.iter().map(|m| m.author).collect();
    let bodies: Vec<&str> = messages.iter().map(|m| m.body).collect();
    let ids: Vec<Uuid> = messages.iter().map(|_| Uuid::now_v7()).collect();
    let directions: Vec<Direction> = messages.iter().map(|_| Direction::Inbound).collect();
    let cases: Vec<Uuid> = messages.iter().map(|m| m.case_id).collect();
    let channels: Vec<i16> = messages.iter().map(|m| m.channel).collect();
    let mentions: Vec<Option<&str>> = messages.iter().map(|m| m.mention_id).collect();
    let posted: Vec<DateTime<Utc>> = messages.iter().map(|m| m.posted_at).collect();
    sqlx::query(
        "INSERT INTO case_messages (id, tenant_id, case_id, direction, channel, author, body,
                                    mention_id, posted_at, created_at)
         SELECT u.id, u.t, u.c, u.d, u.ch, u.a, u.b, u.m, u.p, clock_timestamp()
           FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int2[], $5::int2[],
                       $6::text[], $7::text[], $8::text[], $9::timestamptz[])
             AS u(id, t, c, d, ch, a, b, m, p)",
    )
    .bind(&ids)
    .bind(&tenants)
    .bind(&cases)
    .bind(&directions)
    .bind(&channels)
    .bind(&authors)
    .bind(&bodies)
    .bind(&mentions)
    .bind(&posted)
    .execute(conn)
    .await?;
    Ok(())
}

/// A case's messages, oldest first. The caller checked the case is the tenant's.
pub async fn list(
    pool: &PgPool,
    tenant_id: &str,
    case_id: Uuid,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<MessageRow>, ServiceError> {
    let at = after.as_ref().map(|c| c.at);
    let after_id = after.map(|c| c.id);
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS}
           FROM case_messages
          WHERE tenant_id = $1 AND case_id = $2
            AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4))
          ORDER BY created_at, id
          LIMIT $5"
    ))
    .bind(tenant_id)
    .bind(case_id)
    .bind(at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Moves every message of case `from` to case `to`; answers how many moved.
pub async fn move_all(conn: &mut PgConnection, from: Uuid, to: Uuid) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("UPDATE case_messages SET case_id = $2 WHERE case_id = $1")
            .bind(from)
            .bind(to)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// Whether the team has answered the case.
pub async fn answered(
    conn: &mut PgConnection,
    tenant_id: &str,
    case_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM case_messages
                         WHERE tenant_id = $1 AND case_id = $2 AND direction = $3)",
    )
    .bind(tenant_id)
    .bind(case_id)
    .bind(Direction::Outbound)
    .fetch_one(conn)
    .await
}
