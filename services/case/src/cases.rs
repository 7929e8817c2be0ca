//! Cases: opening them from mentions and by API, reading, and moving them
//! along their lifecycle. Every query is scoped by tenant.

use chrono::{DateTime, Utc};
use earshot_outbox::{Outbox, new_event};
use earshot_proto::case::v1::{Case, CaseStatus, CreateCaseRequest};
use earshot_proto::common::v1::Channel;
use earshot_proto::events::v1::{
    CaseOpened, CaseResolved, CaseUpdated, Event, MentionClassified, event,
};
use earshot_server::convert::{Cursor, timestamp};
use earshot_server::{FieldViolations, ServiceError};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::lifecycle;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CaseRow {
    pub id: Uuid,
    pub status: i16,
    pub channel: i16,
    pub subject: String,
    pub customer_handle: String,
    pub mention_id: Option<String>,
    pub thread_key: String,
    pub priority: String,
    pub version: i64,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, status, channel, subject, customer_handle, mention_id, thread_key, \
                       priority, version, opened_at, updated_at";

pub const DEFAULT_PRIORITY: &str = "normal";
const SUBJECT_CHARS: usize = 120;

pub fn to_proto(row: CaseRow) -> Case {
    Case {
        case_id: row.id.to_string(),
        status: i32::from(row.status),
        channel: i32::from(row.channel),
        subject: row.subject,
        customer_handle: row.customer_handle,
        mention_id: row.mention_id.unwrap_or_default(),
        thread_key: row.thread_key,
        priority: row.priority,
        version: row.version,
        opened_at: Some(timestamp(row.opened_at)),
        updated_at: Some(timestamp(row.updated_at)),
    }
}

pub fn cursor(row: &CaseRow) -> Cursor {
    Cursor {
        at: row.opened_at,
        id: row.id,
    }
}

/// The subject of a case opened from a mention: its first words.
pub fn subject_from(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= SUBJECT_CHARS {
        return text;
    }
    let cut: String = text.chars().take(SUBJECT_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

fn case_opened(tenant_id: &str, row: &CaseRow) -> Event {
    new_event(
        crate::NAME,
        tenant_id,
        row.id.to_string(),
        event::Payload::CaseOpened(CaseOpened {
            case_id: row.id.to_string(),
            channel: i32::from(row.channel),
            mention_id: row.mention_id.clone().unwrap_or_default(),
            customer_handle: row.customer_handle.clone(),
            subject: row.subject.clone(),
            priority: row.priority.clone(),
        }),
    )
}

/// Opens a case for each actionable mention that has none yet, and enqueues
/// `CaseOpened` for each case opened. A redelivered mention opens nothing.
pub async fn open_from_mentions(
    conn: &mut PgConnection,
    outbox: &Outbox,
    mentions: &[(String, MentionClassified)],
) -> Result<usize, sqlx::Error> {
    let actionable: Vec<&(String, MentionClassified)> = mentions
        .iter()
        .filter(|(_, m)| m.classification.as_ref().is_some_and(|c| c.actionable))
        .collect();
    if actionable.is_empty() {
        return Ok(0);
    }
    let now = Utc::now();
    let n = actionable.len();
    let (mut ids, mut tenants, mut channels, mut subjects) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut handles, mut mention_ids, mut threads) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (tenant, m) in &actionable {
        ids.push(Uuid::now_v7());
        tenants.push(tenant.as_str());
        channels.push(i16::try_from(m.channel).unwrap_or(0));
        subjects.push(subject_from(&m.text));
        let author = m.author.clone().unwrap_or_default();
        handles.push(if author.handle.is_empty() {
            author.external_id
        } else {
            author.handle
        });
        mention_ids.push(m.mention_id.as_str());
        threads.push(m.thread_key.as_str());
    }
    let opened: Vec<(String, CaseRow)> = sqlx::query_as::<_, TenantCaseRow>(&format!(
        "INSERT INTO cases (id, tenant_id, status, channel, subject, customer_handle, mention_id,
                            thread_key, priority, opened_at, updated_at)
         SELECT u.id, u.tenant_id, $8, u.channel, u.subject, u.handle, u.mention_id, u.thread,
                $9, $10, $10
           FROM unnest($1::uuid[], $2::text[], $3::int2[], $4::text[], $5::text[], $6::text[],
                       $7::text[])
             AS u(id, tenant_id, channel, subject, handle, mention_id, thread)
         ON CONFLICT ON CONSTRAINT cases_one_per_mention DO NOTHING
         RETURNING tenant_id, {COLUMNS}"
    ))
    .bind(&ids)
    .bind(&tenants)
    .bind(&channels)
    .bind(&subjects)
    .bind(&handles)
    .bind(&mention_ids)
    .bind(&threads)
    .bind(CaseStatus::New as i16)
    .bind(DEFAULT_PRIORITY)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.tenant_id, r.case))
    .collect();
    let events = opened
        .iter()
        .map(|(tenant, row)| case_opened(tenant, row))
        .collect();
    outbox.enqueue(conn, events).await?;
    Ok(opened.len())
}

#[derive(sqlx::FromRow)]
struct TenantCaseRow {
    tenant_id: String,
    #[sqlx(flatten)]
    case: CaseRow,
}

/// Channels whose contacts are opened by API rather than from mentions.
fn is_traditional(channel: Channel) -> bool {
    matches!(
        channel,
        Channel::Email | Channel::Chat | Channel::Phone | Channel::WebForm
    )
}

pub fn validate_create(req: &CreateCaseRequest) -> Result<Channel, ServiceError> {
    let mut v = FieldViolations::new();
    v.check(
        req.request_id.trim().is_empty(),
        "request_id",
        "is required",
    );
    v.check(
        req.request_id.len() > 128,
        "request_id",
        "must be at most 128 bytes",
    );
    let channel = Channel::try_from(req.channel).unwrap_or(Channel::Unspecified);
    v.check(
        !is_traditional(channel),
        "channel",
        "must be email, chat, phone or web form; social mentions open cases by themselves",
    );
    v.check(req.subject.trim().is_empty(), "subject", "is required");
    v.check(
        req.subject.chars().count() > 200,
        "subject",
        "must be at most 200 characters",
    );
    v.check(
        req.customer_handle.trim().is_empty(),
        "customer_handle",
        "is required",
    );
    v.check(
        req.description.chars().count() > 20_000,
        "description",
        "must be at most 20000 characters",
    );
    v.into_result()?;
    Ok(channel)
}

/// Opens a case by API, once per `request_id`: a retry returns the same case.
pub async fn create(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    req: CreateCaseRequest,
) -> Result<CaseRow, ServiceError> {
    let channel = validate_create(&req)?;
    let now = Utc::now();
    let mut tx = pool.begin().await?;
    let inserted: Option<CaseRow> = sqlx::query_as(&format!(
        "INSERT INTO cases (id, tenant_id, status, channel, subject, description, customer_handle,
                            priority, request_id, opened_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
         ON CONFLICT ON CONSTRAINT cases_one_per_request DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(CaseStatus::New as i16)
    .bind(channel as i16)
    .bind(req.subject.trim())
    .bind(req.description.trim())
    .bind(req.customer_handle.trim())
    .bind(DEFAULT_PRIORITY)
    .bind(req.request_id.trim())
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let row = match inserted {
        Some(row) => {
            outbox
                .enqueue(&mut tx, vec![case_opened(tenant_id, &row)])
                .await?;
            row
        }
        None => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM cases WHERE tenant_id = $1 AND request_id = $2"
            ))
            .bind(tenant_id)
            .bind(req.request_id.trim())
            .fetch_one(&mut *tx)
            .await?
        }
    };
    tx.commit().await?;
    outbox.wake();
    Ok(row)
}

pub async fn get(pool: &PgPool, tenant_id: &str, id: Uuid) -> Result<CaseRow, ServiceError> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cases WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("case {id}")))
}

/// Newest first, optionally only in `status`, after `cursor` when given.
pub async fn list(
    pool: &PgPool,
    tenant_id: &str,
    status: Option<CaseStatus>,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<CaseRow>, ServiceError> {
    let (at, id) = after
        .map(|c| (Some(c.at), Some(c.id)))
        .unwrap_or((None, None));
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cases
          WHERE tenant_id = $1
            AND ($2::int2 IS NULL OR status = $2)
            AND ($3::timestamptz IS NULL OR (opened_at, id) < ($3, $4))
          ORDER BY opened_at DESC, id DESC
          LIMIT $5"
    ))
    .bind(tenant_id)
    .bind(status.map(|s| s as i16))
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Moves a case to `to` if the caller read the current `version` and the
/// lifecycle allows it; enqueues `CaseUpdated` (and `CaseResolved`).
pub async fn update_status(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    id: Uuid,
    to: CaseStatus,
    version: i64,
) -> Result<CaseRow, ServiceError> {
    let mut tx = pool.begin().await?;
    let current: CaseRow = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cases WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("case {id}")))?;
    if current.version != version {
        return Err(ServiceError::Aborted(format!(
            "case {id} changed since version {version}; it is at version {}: read it again",
            current.version
        )));
    }
    let from = CaseStatus::try_from(i32::from(current.status)).unwrap_or(CaseStatus::Unspecified);
    if !lifecycle::can_move(from, to) {
        return Err(ServiceError::FailedPrecondition(format!(
            "a case cannot move from {} to {}",
            lifecycle::label(from),
            lifecycle::label(to)
        )));
    }
    let row: CaseRow = sqlx::query_as(&format!(
        "UPDATE cases SET status = $3, version = version + 1, updated_at = now()
          WHERE tenant_id = $1 AND id = $2
          RETURNING {COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(to as i16)
    .fetch_one(&mut *tx)
    .await?;
    let mut events = vec![new_event(
        crate::NAME,
        tenant_id,
        id.to_string(),
        event::Payload::CaseUpdated(CaseUpdated {
            case_id: id.to_string(),
            status: lifecycle::label(to).to_owned(),
            version: row.version,
        }),
    )];
    if to == CaseStatus::Resolved {
        events.push(new_event(
            crate::NAME,
            tenant_id,
            id.to_string(),
            event::Payload::CaseResolved(CaseResolved {
                case_id: id.to_string(),
                resolution_code: String::new(),
            }),
        ));
    }
    outbox.enqueue(&mut tx, events).await?;
    tx.commit().await?;
    outbox.wake();
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_the_first_words_in_one_line() {
        assert_eq!(subject_from("  card\n not   arrived "), "card not arrived");
        let long = "word ".repeat(100);
        let subject = subject_from(&long);
        assert!(subject.chars().count() <= SUBJECT_CHARS);
        assert!(subject.ends_with('…'));
    }

    #[test]
    fn create_names_every_bad_field() {
        let err = validate_create(&CreateCaseRequest {
            channel: Channel::X as i32,
            ..Default::default()
        })
        .expect_err("invalid");
        let text = err.to_string();
        for field in ["request_id", "channel", "subject", "customer_handle"] {
            assert!(text.contains(field), "{field} missing from {text}");
        }
        assert!(
            validate_create(&CreateCaseRequest {
                request_id: "r1".into(),
                channel: Channel::Email as i32,
                subject: "Refund".into(),
                customer_handle: "jane@example.com".into(),
                description: String::new(),
            })
            .is_ok()
        );
    }
}
