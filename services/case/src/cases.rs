//! Cases: opening them from mentions (threaded) and by API, reading, moving
//! them along their lifecycle, and merging them. Every query is scoped by
//! tenant; every change is audited and its events enqueued in its transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use earshot_outbox::{Outbox, new_event};
use earshot_proto::case::v1::{
    AuthenticityReport, Case, CaseMessage, CaseOutcome, CaseStatus, Commitment, CreateCaseRequest,
    Lane, MessageDirection,
};
use earshot_proto::common::v1::Channel;
use earshot_proto::events::v1::{
    CaseOpened, CaseResolved, CaseUpdated, EscalationRaised, Event, GoodwillGesture,
    MentionClassified, event,
};
use earshot_server::convert::{Cursor, timestamp};
use earshot_server::{FieldViolations, ServiceError, invalid};
use prost::Message;
use serde_json::json;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::audit::{self, Record};
use crate::customers::{self, Identity, Speaker};
use crate::lifecycle;
use crate::outcomes;
use crate::routing;
use crate::sla;
use crate::threading::{self, Existing, Incoming, Plan};

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
    pub customer_id: Option<Uuid>,
    pub topic: String,
    pub merged_into: Option<Uuid>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub lane: i16,
    pub queue: String,
    pub assignee: Option<String>,
    pub required_skills: Vec<String>,
    pub experts: Vec<String>,
    pub routing_rule_id: Option<Uuid>,
    pub sla_due_at: Option<DateTime<Utc>>,
    pub claimed_by: Option<String>,
    pub claim_expires_at: Option<DateTime<Utc>>,
    pub resolution_code: Option<String>,
    pub csat: Option<i16>,
    pub csat_comment: Option<String>,
    /// The case's SLA clocks, when read with its details.
    #[sqlx(skip)]
    pub slas: Vec<sla::TimerRow>,
    /// Goodwill given on the case, when read with its details.
    #[sqlx(skip)]
    pub goodwill: Vec<GoodwillGesture>,
    /// Promises made on the case, when read with its details.
    #[sqlx(skip)]
    pub commitments: Vec<Commitment>,
}

pub const COLUMNS: &str = "id, status, channel, subject, customer_handle, mention_id, thread_key, \
                       priority, version, opened_at, updated_at, customer_id, topic, merged_into, \
                       resolved_at, lane, queue, assignee, required_skills, experts, \
                       routing_rule_id, sla_due_at, claimed_by, claim_expires_at, \
                       resolution_code, csat, csat_comment";

/// An id with the version its caller read.
pub type Versioned = (Uuid, i64);

/// A new case's `sla_due_at`, computed in its INSERT from the policy `p`
/// joined on its priority and lane, `tenant` being the case's tenant and
/// `opened` the parameter of its opening time: the sooner of the
/// first-response and resolution clocks, as `sla::start` starts them. Setting
/// it at insert spares every new case an update.
fn opening_due(tenant: &str, opened: &str) -> String {
    sla::due_expr(
        tenant,
        opened,
        "least(nullif(p.first_response_secs, 0), nullif(p.resolution_secs, 0))",
        "p.business_hours",
    )
}

pub const DEFAULT_PRIORITY: &str = "normal";
const SUBJECT_CHARS: usize = 120;

impl CaseRow {
    pub fn status(&self) -> CaseStatus {
        CaseStatus::try_from(i32::from(self.status)).unwrap_or(CaseStatus::Unspecified)
    }
}

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
        customer_id: row.customer_id.map(|id| id.to_string()).unwrap_or_default(),
        topic: row.topic,
        merged_into_case_id: row.merged_into.map(|id| id.to_string()).unwrap_or_default(),
        resolved_at: row.resolved_at.map(timestamp),
        lane: i32::from(row.lane),
        queue: row.queue,
        assignee: row.assignee.unwrap_or_default(),
        required_skills: row.required_skills,
        experts: row.experts,
        routing_rule_id: row
            .routing_rule_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        slas: row.slas.iter().map(sla::timer_to_proto).collect(),
        sla_due_at: row.sla_due_at.map(timestamp),
        // Others see who holds the case, while the claim lasts.
        claimed_by: row
            .claim_expires_at
            .filter(|until| *until > Utc::now())
            .and(row.claimed_by)
            .unwrap_or_default(),
        claim_expires_at: row
            .claim_expires_at
            .filter(|until| *until > Utc::now())
            .map(timestamp),
        outcome: Some(CaseOutcome {
            resolution_code: row.resolution_code.unwrap_or_default(),
            goodwill: row.goodwill,
            csat: row.csat.and_then(|c| u32::try_from(c).ok()).unwrap_or(0),
            csat_comment: row.csat_comment.unwrap_or_default(),
        }),
        commitments: row.commitments,
    }
}

/// A case's SLA clocks, goodwill and commitments, read with it as arrays
/// (one round trip for the case and everything on it).
/// The SLA clocks, goodwill and commitments of the case rows in `cases`, as
/// arrays: FROM-clause joins, one aggregate scan per child table (an
/// aggregate without GROUP BY always yields one row, empty arrays included).
const DETAILS: &str = "
    CROSS JOIN LATERAL (SELECT
        COALESCE(array_agg(t.target ORDER BY t.target), '{}') AS t_target,
        COALESCE(array_agg(t.state ORDER BY t.target), '{}') AS t_state,
        COALESCE(array_agg(t.due_at ORDER BY t.target), '{}') AS t_due_at,
        COALESCE(array_agg(t.remaining_secs ORDER BY t.target), '{}') AS t_remaining,
        COALESCE(array_agg(t.breached_at ORDER BY t.target), '{}') AS t_breached_at
      FROM case_sla_timers t WHERE t.case_id = cases.id) timers
    CROSS JOIN LATERAL (SELECT
        COALESCE(array_agg(g.id ORDER BY g.given_at, g.id), '{}') AS g_id,
        COALESCE(array_agg(g.kind ORDER BY g.given_at, g.id), '{}') AS g_kind,
        COALESCE(array_agg(g.amount_minor ORDER BY g.given_at, g.id), '{}') AS g_amount,
        COALESCE(array_agg(g.currency ORDER BY g.given_at, g.id), '{}') AS g_currency,
        COALESCE(array_agg(g.note ORDER BY g.given_at, g.id), '{}') AS g_note
      FROM goodwill_gestures g WHERE g.case_id = cases.id) goodwill
    CROSS JOIN LATERAL (SELECT
        COALESCE(array_agg(m.id ORDER BY m.due_at, m.id), '{}') AS c_id,
        COALESCE(array_agg(m.text ORDER BY m.due_at, m.id), '{}') AS c_text,
        COALESCE(array_agg(m.due_at ORDER BY m.due_at, m.id), '{}') AS c_due_at,
        COALESCE(array_agg(m.state ORDER BY m.due_at, m.id), '{}') AS c_state,
        COALESCE(array_agg(m.made_by ORDER BY m.due_at, m.id), '{}') AS c_made_by,
        COALESCE(array_agg(m.kept_at ORDER BY m.due_at, m.id), '{}') AS c_kept_at
      FROM commitments m WHERE m.case_id = cases.id) promised";

/// The columns [`DETAILS`] adds.
const DETAIL_COLUMNS: &str = "timers.*, goodwill.*, promised.*";

#[derive(Debug, sqlx::FromRow)]
struct Details {
    t_target: Vec<i16>,
    t_state: Vec<i16>,
    t_due_at: Vec<Option<DateTime<Utc>>>,
    t_remaining: Vec<Option<f64>>,
    t_breached_at: Vec<Option<DateTime<Utc>>>,
    g_id: Vec<Uuid>,
    g_kind: Vec<i16>,
    g_amount: Vec<i64>,
    g_currency: Vec<String>,
    g_note: Vec<String>,
    c_id: Vec<Uuid>,
    c_text: Vec<String>,
    c_due_at: Vec<DateTime<Utc>>,
    c_state: Vec<i16>,
    c_made_by: Vec<String>,
    c_kept_at: Vec<Option<DateTime<Utc>>>,
}

impl Details {
    fn fill(self, row: &mut CaseRow) {
        row.slas = (0..self.t_target.len())
            .map(|i| sla::TimerRow {
                case_id: row.id,
                target: self.t_target[i],
                state: self.t_state.get(i).copied().unwrap_or(0),
                due_at: self.t_due_at.get(i).copied().flatten(),
                remaining_secs: self.t_remaining.get(i).copied().flatten(),
                breached_at: self.t_breached_at.get(i).copied().flatten(),
            })
            .collect();
        row.goodwill = (0..self.g_id.len())
            .map(|i| GoodwillGesture {
                gesture_id: self.g_id[i].to_string(),
                kind: self.g_kind.get(i).copied().map_or(0, i32::from),
                amount_minor: self.g_amount.get(i).copied().unwrap_or(0),
                currency: self.g_currency.get(i).cloned().unwrap_or_default(),
                note: self.g_note.get(i).cloned().unwrap_or_default(),
            })
            .collect();
        row.commitments = (0..self.c_id.len())
            .map(|i| Commitment {
                commitment_id: self.c_id[i].to_string(),
                text: self.c_text.get(i).cloned().unwrap_or_default(),
                due_at: self.c_due_at.get(i).copied().map(timestamp),
                state: self.c_state.get(i).copied().map_or(0, i32::from),
                made_by: self.c_made_by.get(i).cloned().unwrap_or_default(),
                kept_at: self.c_kept_at.get(i).copied().flatten().map(timestamp),
            })
            .collect();
    }
}

#[derive(sqlx::FromRow)]
struct DetailedRow {
    #[sqlx(flatten)]
    case: CaseRow,
    #[sqlx(flatten)]
    details: Details,
}

/// A case with its SLA clocks, goodwill and commitments, in one query.
pub async fn get_detailed(
    pool: &PgPool,
    tenant_id: &str,
    id: Uuid,
) -> Result<CaseRow, ServiceError> {
    let row: DetailedRow = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, {DETAIL_COLUMNS} FROM cases {DETAILS} \
         WHERE cases.tenant_id = $1 AND cases.id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("case {id}")))?;
    let mut case = row.case;
    row.details.fill(&mut case);
    Ok(case)
}

/// Reads the SLA clocks, goodwill and commitments of `rows`, in one query.
pub async fn with_details(
    pool: &PgPool,
    tenant_id: &str,
    mut rows: Vec<CaseRow>,
) -> Result<Vec<CaseRow>, ServiceError> {
    if rows.is_empty() {
        return Ok(rows);
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    #[derive(sqlx::FromRow)]
    struct ById {
        id: Uuid,
        #[sqlx(flatten)]
        details: Details,
    }
    let mut found: HashMap<Uuid, Details> = sqlx::query_as::<_, ById>(&format!(
        "SELECT cases.id, {DETAIL_COLUMNS} FROM cases {DETAILS} \
         WHERE cases.tenant_id = $1 AND cases.id = ANY($2)"
    ))
    .bind(tenant_id)
    .bind(&ids)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.id, r.details))
    .collect();
    for row in &mut rows {
        if let Some(details) = found.remove(&row.id) {
            details.fill(row);
        }
    }
    Ok(rows)
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
            customer_id: row.customer_id.map(|id| id.to_string()).unwrap_or_default(),
            topic: row.topic.clone(),
        }),
    )
}

pub(crate) fn case_updated(tenant_id: &str, id: Uuid, status: CaseStatus, version: i64) -> Event {
    new_event(
        crate::NAME,
        tenant_id,
        id.to_string(),
        event::Payload::CaseUpdated(CaseUpdated {
            case_id: id.to_string(),
            status: lifecycle::label(status).to_owned(),
            version,
        }),
    )
}

/// Bumps the version of case `id`, for a change to what hangs off it.
pub(crate) async fn bump(conn: &mut PgConnection, id: Uuid) -> Result<CaseRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE cases SET version = version + 1, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Audits `record` of the updated case `row`, tells subscribers the case
/// changed, and commits.
pub(crate) async fn commit_update(
    mut tx: Transaction<'_, Postgres>,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    row: CaseRow,
    record: Record,
) -> Result<CaseRow, ServiceError> {
    audit::append(&mut tx, tenant_id, actor, &[record]).await?;
    outbox
        .enqueue(
            &mut tx,
            vec![case_updated(tenant_id, row.id, row.status(), row.version)],
        )
        .await?;
    tx.commit().await?;
    outbox.wake();
    Ok(row)
}

/// A topic key of the tenant's taxonomy: lower-case words joined by `_` or `-`.
fn valid_topic(topic: &str) -> bool {
    topic.is_empty() || routing::valid_key(topic)
}

/// A mention the case service will thread, with what it needs from it.
struct Heard<'a> {
    tenant_id: &'a str,
    mention: &'a MentionClassified,
    handle: String,
    topic: &'a str,
    actionable: bool,
}

fn heard<'a>(tenant_id: &'a str, m: &'a MentionClassified) -> (Heard<'a>, Option<Speaker>) {
    let author = m.author.clone().unwrap_or_default();
    let channel = Channel::try_from(m.channel).unwrap_or(Channel::Unspecified);
    let platform = customers::platform_of(channel, &m.source);
    let id_value = if author.external_id.trim().is_empty() {
        &author.handle
    } else {
        &author.external_id
    };
    // An author nobody can recognise (an anonymous review) has no profile.
    let identity = Identity::parse(&platform, id_value)
        .or_else(|_| Identity::parse(&platform, &author.handle))
        .ok();
    let handle = [&author.handle, &author.external_id, &author.display_name]
        .into_iter()
        .find(|h| !h.trim().is_empty())
        .map_or_else(|| "anonymous".to_owned(), |h| h.trim().to_owned());
    let classification = m.classification.as_ref();
    let topic = classification
        .and_then(|c| {
            c.topics
                .iter()
                .map(|t| t.topic.as_str())
                .find(|t| valid_topic(t))
        })
        .unwrap_or("");
    let actionable = classification.is_some_and(|c| c.actionable);
    let speaker = identity.map(|identity| Speaker {
        tenant_id: tenant_id.to_owned(),
        identity,
        display_name: if author.display_name.is_empty() {
            handle.clone()
        } else {
            author.display_name.clone()
        },
        followers: i64::try_from(author.followers).unwrap_or(i64::MAX),
        language: m.language.chars().take(35).collect(),
    });
    (
        Heard {
            tenant_id,
            mention: m,
            handle,
            topic,
            actionable,
        },
        speaker,
    )
}

/// What one batch of mentions did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Threaded {
    pub opened: usize,
    pub joined: usize,
    pub reopened: usize,
    pub ignored: usize,
}

/// Threads a batch of classified mentions: each finds (or creates) its
/// customer, then joins the open case of its thread or of its customer on the
/// same topic, or — when it is a cry for help — opens a case. A mention already
/// on a case (a redelivery) does nothing. Set-based: a fixed number of
/// statements per batch.
pub async fn thread_mentions(
    conn: &mut PgConnection,
    outbox: &Outbox,
    mentions: &[(String, MentionClassified)],
) -> Result<Threaded, sqlx::Error> {
    // One entry per mention id.
    let mut seen = HashSet::new();
    let (mut items, mut speakers) = (Vec::new(), Vec::new());
    for (tenant, m) in mentions {
        if m.mention_id.is_empty() || !seen.insert((tenant.as_str(), m.mention_id.as_str())) {
            continue;
        }
        let (h, s) = heard(tenant, m);
        items.push(h);
        speakers.push(s);
    }
    let mut outcome = Threaded {
        ignored: mentions.len() - items.len(),
        ..Threaded::default()
    };
    if items.is_empty() {
        return Ok(outcome);
    }
    // Customers first: their advisory locks also serialise concurrent batches
    // carrying the same mention, so the redelivery check below is race-free.
    // Anonymous mentions take a lock of their own for the same reason.
    let known_speakers: Vec<Speaker> = speakers.iter().flatten().cloned().collect();
    let mut found = customers::find_or_create(conn, &known_speakers)
        .await?
        .into_iter();
    let customer_ids: Vec<Option<Uuid>> = speakers
        .iter()
        .map(|s| s.as_ref().and_then(|_| found.next()))
        .collect();
    let anonymous: Vec<String> = items
        .iter()
        .zip(&speakers)
        .filter(|(_, s)| s.is_none())
        .map(|(h, _)| format!("mention\u{1f}{}\u{1f}{}", h.tenant_id, h.mention.mention_id))
        .collect();
    if !anonymous.is_empty() {
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 0))
               FROM unnest($1::text[]) AS k ORDER BY k",
        )
        .bind(&anonymous)
        .execute(&mut *conn)
        .await?;
    }

    let tenants: Vec<&str> = items.iter().map(|h| h.tenant_id).collect();
    let mention_ids: Vec<&str> = items
        .iter()
        .map(|h| h.mention.mention_id.as_str())
        .collect();
    let known: HashSet<(String, String)> = sqlx::query_as(
        "SELECT m.tenant_id, m.mention_id FROM case_messages m
           JOIN unnest($1::text[], $2::text[]) AS u(t, mid)
             ON m.tenant_id = u.t AND m.mention_id = u.mid",
    )
    .bind(&tenants)
    .bind(&mention_ids)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let fresh: Vec<usize> = (0..items.len())
        .filter(|&i| {
            !known.contains(&(
                items[i].tenant_id.to_owned(),
                items[i].mention.mention_id.clone(),
            ))
        })
        .collect();
    outcome.ignored += items.len() - fresh.len();
    if fresh.is_empty() {
        return Ok(outcome);
    }

    let incoming: Vec<Incoming<'_>> = fresh
        .iter()
        .map(|&i| Incoming {
            tenant_id: items[i].tenant_id,
            thread_key: items[i].mention.thread_key.as_str(),
            customer_id: customer_ids[i],
            topic: items[i].topic,
            actionable: items[i].actionable,
        })
        .collect();
    let existing = open_cases_for(conn, &incoming).await?;
    let plans = threading::plan(&incoming, &existing);

    let now = Utc::now();
    let case_ids: Vec<Uuid> = plans
        .iter()
        .map(|p| match p {
            Plan::Open => Uuid::now_v7(),
            _ => Uuid::nil(),
        })
        .collect();

    // New cases.
    let opening: Vec<usize> = (0..plans.len())
        .filter(|&k| plans[k] == Plan::Open)
        .collect();
    let opened: Vec<(String, CaseRow)> = if opening.is_empty() {
        Vec::new()
    } else {
        let at = |k: usize| &items[fresh[k]];
        let ids: Vec<Uuid> = opening.iter().map(|&k| case_ids[k]).collect();
        let tenants: Vec<&str> = opening.iter().map(|&k| at(k).tenant_id).collect();
        let channels: Vec<i16> = opening
            .iter()
            .map(|&k| i16::try_from(at(k).mention.channel).unwrap_or(0))
            .collect();
        let subjects: Vec<String> = opening
            .iter()
            .map(|&k| subject_from(&at(k).mention.text))
            .collect();
        let handles: Vec<&str> = opening.iter().map(|&k| at(k).handle.as_str()).collect();
        let mids: Vec<&str> = opening
            .iter()
            .map(|&k| at(k).mention.mention_id.as_str())
            .collect();
        let threads: Vec<&str> = opening
            .iter()
            .map(|&k| at(k).mention.thread_key.as_str())
            .collect();
        let customers: Vec<Option<Uuid>> =
            opening.iter().map(|&k| customer_ids[fresh[k]]).collect();
        let topics: Vec<&str> = opening.iter().map(|&k| at(k).topic).collect();
        let to_route: Vec<ToRoute<'_>> = opening
            .iter()
            .map(|&k| ToRoute::mention(at(k).tenant_id, customer_ids[fresh[k]], at(k).mention))
            .collect();
        let routed = route_and_assign(conn, &to_route).await?;
        let priorities: Vec<&str> = routed.iter().map(|(d, _)| d.priority.as_str()).collect();
        let lanes: Vec<i16> = routed.iter().map(|(d, _)| d.lane as i16).collect();
        let queues: Vec<&str> = routed.iter().map(|(d, _)| d.queue.as_str()).collect();
        let assignees: Vec<Option<&str>> = routed.iter().map(|(_, a)| a.as_deref()).collect();
        let rule_ids: Vec<Option<Uuid>> = routed.iter().map(|(d, _)| d.rule_id).collect();
        let due = opening_due("u.tenant_id", "$11");
        sqlx::query_as::<_, TenantCaseRow>(&format!(
            "INSERT INTO cases (id, tenant_id, status, channel, subject, customer_handle,
                                mention_id, thread_key, priority, opened_at, updated_at,
                                customer_id, topic, lane, queue, assignee, routing_rule_id,
                                required_skills, sla_due_at)
             SELECT u.id, u.tenant_id, $10, u.channel, u.subject, u.handle, u.mention_id,
                    u.thread, u.priority, $11, $11, u.customer_id, u.topic, u.lane, u.queue,
                    u.assignee, u.rule_id, coalesce(r.required_skills, '{{}}'),
                    {due}
               FROM unnest($1::uuid[], $2::text[], $3::int2[], $4::text[], $5::text[],
                           $6::text[], $7::text[], $8::uuid[], $9::text[], $12::text[],
                           $13::int2[], $14::text[], $15::text[], $16::uuid[])
                 AS u(id, tenant_id, channel, subject, handle, mention_id, thread, customer_id,
                      topic, priority, lane, queue, assignee, rule_id)
               LEFT JOIN routing_rules r ON r.id = u.rule_id
               LEFT JOIN sla_policies p
                 ON p.tenant_id = u.tenant_id AND p.priority = u.priority AND p.lane = u.lane
             RETURNING tenant_id, {COLUMNS}"
        ))
        .bind(&ids)
        .bind(&tenants)
        .bind(&channels)
        .bind(&subjects)
        .bind(&handles)
        .bind(&mids)
        .bind(&threads)
        .bind(&customers)
        .bind(&topics)
        .bind(CaseStatus::New as i16)
        .bind(now)
        .bind(&priorities)
        .bind(&lanes)
        .bind(&queues)
        .bind(&assignees)
        .bind(&rule_ids)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| (r.tenant_id, r.case))
        .collect()
    };
    outcome.opened = opened.len();
    let opened_ids: Vec<Uuid> = opened.iter().map(|(_, row)| row.id).collect();
    sla::start(conn, &opened_ids).await?;

    // Every message that belongs to a case.
    let mut msg = MessageRows::default();
    let mut records: Vec<(String, Record)> = Vec::new();
    let mut wakes: Vec<(usize, Existing, CaseStatus)> = Vec::new();
    for (tenant, row) in &opened {
        records.push((
            tenant.clone(),
            Record::case(row.id, "case.opened", json!({}), opened_snapshot(row)),
        ));
    }
    for (k, plan) in plans.iter().enumerate() {
        let h = &items[fresh[k]];
        let case_id = match plan {
            Plan::Open => case_ids[k],
            Plan::JoinNew(j) => case_ids[*j],
            Plan::Join(e) => e.case_id,
            Plan::Ignore => {
                outcome.ignored += 1;
                continue;
            }
        };
        if *plan != Plan::Open {
            outcome.joined += 1;
            records.push((
                h.tenant_id.to_owned(),
                Record::case(
                    case_id,
                    "case.message_added",
                    json!({}),
                    json!({ "mention_id": h.mention.mention_id }),
                ),
            ));
        }
        if let Plan::Join(e) = plan
            && let Some(to) = threading::status_after_inbound(e.status)
            && !wakes.iter().any(|(_, w, _)| w.case_id == e.case_id)
        {
            wakes.push((k, *e, to));
        }
        msg.push(
            h.tenant_id,
            case_id,
            MessageDirection::Inbound,
            h.mention.channel,
            &h.handle,
            &h.mention.text,
            Some(&h.mention.mention_id),
            h.mention
                .posted_at
                .as_ref()
                .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
                .unwrap_or(now),
        );
    }
    msg.insert(conn).await?;

    // Cases the customer woke up: resolved ones reopen, pending ones are open again.
    let mut events: Vec<Event> = opened
        .iter()
        .map(|(tenant, row)| case_opened(tenant, row))
        .collect();
    // The customer wrote again on cases already answered: a next reply is due.
    let joined: Vec<Uuid> = plans
        .iter()
        .filter_map(|p| match p {
            Plan::Join(e) => Some(e.case_id),
            _ => None,
        })
        .collect();
    sla::start_next_response(conn, &joined).await?;
    if !wakes.is_empty() {
        let ids: Vec<Uuid> = wakes.iter().map(|(_, e, _)| e.case_id).collect();
        let to: Vec<i16> = wakes.iter().map(|(_, _, s)| *s as i16).collect();
        let changes: Vec<(Uuid, CaseStatus, CaseStatus)> = wakes
            .iter()
            .map(|(_, e, to)| (e.case_id, e.status, *to))
            .collect();
        sla::on_status(conn, &changes).await?;
        let updated: Vec<(Uuid, i64)> = sqlx::query_as(
            "UPDATE cases c
                SET status = u.to_status, version = c.version + 1, updated_at = now(),
                    resolved_at = NULL
               FROM unnest($1::uuid[], $2::int2[]) AS u(id, to_status)
              WHERE c.id = u.id
             RETURNING c.id, c.version",
        )
        .bind(&ids)
        .bind(&to)
        .fetch_all(&mut *conn)
        .await?;
        for (k, e, to) in &wakes {
            let tenant = items[fresh[*k]].tenant_id;
            let Some((_, version)) = updated.iter().find(|(id, _)| *id == e.case_id) else {
                continue;
            };
            if e.status == CaseStatus::Resolved {
                outcome.reopened += 1;
            }
            records.push((
                tenant.to_owned(),
                Record::case(
                    e.case_id,
                    if e.status == CaseStatus::Resolved {
                        "case.reopened"
                    } else {
                        "case.status_changed"
                    },
                    json!({ "status": lifecycle::label(e.status) }),
                    json!({ "status": lifecycle::label(*to), "reason": "the customer wrote again" }),
                ),
            ));
            events.push(case_updated(tenant, e.case_id, *to, *version));
        }
    }
    let tenants: Vec<&str> = records.iter().map(|(t, _)| t.as_str()).collect();
    let records: Vec<Record> = records.iter().map(|(_, r)| r.clone()).collect();
    audit::append_for(conn, &tenants, audit::SYSTEM, &records).await?;
    outbox.enqueue(conn, events).await?;
    Ok(outcome)
}

/// For each message, the open case of its thread (first) or of its customer
/// on its topic, if any: not closed, not merged, and if resolved then recently.
async fn open_cases_for(
    conn: &mut PgConnection,
    incoming: &[Incoming<'_>],
) -> Result<Vec<Option<Existing>>, sqlx::Error> {
    let tenants: Vec<&str> = incoming.iter().map(|m| m.tenant_id).collect();
    let threads: Vec<&str> = incoming.iter().map(|m| m.thread_key).collect();
    let customers: Vec<Option<Uuid>> = incoming.iter().map(|m| m.customer_id).collect();
    let topics: Vec<&str> = incoming.iter().map(|m| m.topic).collect();
    let rows: Vec<(i64, Uuid, i16)> = sqlx::query_as(
        "WITH u AS (
             SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[])
                    WITH ORDINALITY AS u(t, thread, customer, topic, i)
         ), candidates AS (
             SELECT u.i, c.id, c.status, 0 AS rank, c.opened_at
               FROM u JOIN cases c
                 ON c.tenant_id = u.t AND c.thread_key = u.thread
                AND c.thread_key <> '' AND c.status <> 6
              WHERE c.merged_into IS NULL
                AND (c.status <> 5 OR c.resolved_at > now() - make_interval(days => $5))
             UNION ALL
             SELECT u.i, c.id, c.status, 1 AS rank, c.opened_at
               FROM u JOIN cases c
                 ON c.tenant_id = u.t AND c.customer_id = u.customer AND c.topic = u.topic
                AND c.topic <> '' AND c.status <> 6
              WHERE c.merged_into IS NULL
                AND (c.status <> 5 OR c.resolved_at > now() - make_interval(days => $5))
         )
         SELECT DISTINCT ON (i) i, id, status FROM candidates ORDER BY i, rank, opened_at DESC",
    )
    .bind(&tenants)
    .bind(&threads)
    .bind(&customers)
    .bind(&topics)
    .bind(threading::REOPEN_WINDOW_DAYS)
    .fetch_all(&mut *conn)
    .await?;
    let mut found = vec![None; incoming.len()];
    for (i, id, status) in rows {
        if let Some(slot) = usize::try_from(i - 1).ok().and_then(|i| found.get_mut(i)) {
            *slot = Some(Existing {
                case_id: id,
                status: CaseStatus::try_from(i32::from(status)).unwrap_or(CaseStatus::Open),
            });
        }
    }
    Ok(found)
}

/// Messages to insert, column by column.
#[derive(Default)]
struct MessageRows<'a> {
    tenants: Vec<&'a str>,
    cases: Vec<Uuid>,
    directions: Vec<i16>,
    channels: Vec<i16>,
    authors: Vec<&'a str>,
    bodies: Vec<&'a str>,
    mentions: Vec<Option<&'a str>>,
    posted: Vec<DateTime<Utc>>,
}

impl<'a> MessageRows<'a> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        tenant_id: &'a str,
        case_id: Uuid,
        direction: MessageDirection,
        channel: i32,
        author: &'a str,
        body: &'a str,
        mention_id: Option<&'a str>,
        posted_at: DateTime<Utc>,
    ) {
        self.tenants.push(tenant_id);
        self.cases.push(case_id);
        self.directions.push(direction as i16);
        self.channels.push(i16::try_from(channel).unwrap_or(0));
        self.authors.push(author);
        self.bodies.push(body);
        self.mentions.push(mention_id);
        self.posted.push(posted_at);
    }

    async fn insert(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.cases.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = self.cases.iter().map(|_| Uuid::now_v7()).collect();
        sqlx::query(
            "INSERT INTO case_messages (id, tenant_id, case_id, direction, channel, author, body,
                                        mention_id, posted_at, created_at)
             SELECT u.id, u.t, u.c, u.d, u.ch, u.a, u.b, u.m, u.p, clock_timestamp()
               FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int2[], $5::int2[],
                           $6::text[], $7::text[], $8::text[], $9::timestamptz[])
                 AS u(id, t, c, d, ch, a, b, m, p)",
        )
        .bind(&ids)
        .bind(&self.tenants)
        .bind(&self.cases)
        .bind(&self.directions)
        .bind(&self.channels)
        .bind(&self.authors)
        .bind(&self.bodies)
        .bind(&self.mentions)
        .bind(&self.posted)
        .execute(conn)
        .await?;
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct TenantCaseRow {
    tenant_id: String,
    #[sqlx(flatten)]
    case: CaseRow,
}

/// Raises the priority of escalated cases one step (to urgent at most) and
/// moves them to the fast lane; their running SLA clocks tighten to the new
/// policy's times (never loosen). The case is the one named, else the one
/// holding the escalated mention. Set-based.
pub async fn escalate(
    conn: &mut PgConnection,
    outbox: &Outbox,
    escalations: &[(String, EscalationRaised)],
) -> Result<usize, sqlx::Error> {
    if escalations.is_empty() {
        return Ok(0);
    }
    let tenants: Vec<&str> = escalations.iter().map(|(t, _)| t.as_str()).collect();
    let case_ids: Vec<Option<Uuid>> = escalations
        .iter()
        .map(|(_, e)| Uuid::parse_str(&e.case_id).ok())
        .collect();
    let mentions: Vec<&str> = escalations
        .iter()
        .map(|(_, e)| e.mention_id.as_str())
        .collect();
    let reasons: Vec<String> = escalations
        .iter()
        .map(|(_, e)| {
            format!(
                "{} escalation {}: {}",
                e.severity, e.escalation_id, e.reason
            )
        })
        .collect();
    #[derive(sqlx::FromRow)]
    struct Escalated {
        tenant_id: String,
        id: Uuid,
        status: i16,
        version: i64,
        before_priority: String,
        before_lane: i16,
        priority: String,
        reason: String,
    }
    let rows: Vec<Escalated> = sqlx::query_as(
        "WITH u AS (
             SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[])
                    WITH ORDINALITY AS u(t, case_id, mention_id, reason, i)
         ), target AS (
             SELECT DISTINCT ON (c.id) c.id, u.reason
               FROM u
               JOIN cases c ON c.tenant_id = u.t
                AND (c.id = u.case_id
                     OR (u.case_id IS NULL AND u.mention_id <> '' AND c.id =
                         (SELECT m.case_id FROM case_messages m
                           WHERE m.tenant_id = u.t AND m.mention_id = u.mention_id)))
              WHERE c.status < 5
              ORDER BY c.id, u.i
         ), before AS (
             SELECT c.id, c.priority, c.lane FROM cases c JOIN target USING (id) FOR UPDATE OF c
         )
         UPDATE cases c
            SET priority = CASE c.priority WHEN 'low' THEN 'normal' WHEN 'normal' THEN 'high'
                                           ELSE 'urgent' END,
                lane = 2, version = c.version + 1, updated_at = now()
           FROM target, before
          WHERE c.id = target.id AND before.id = c.id
         RETURNING c.tenant_id, c.id, c.status, c.version, before.priority AS before_priority,
                   before.lane AS before_lane, c.priority, target.reason",
    )
    .bind(&tenants)
    .bind(&case_ids)
    .bind(&mentions)
    .bind(&reasons)
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    sla::tighten(conn, &ids).await?;
    let tenants: Vec<&str> = rows.iter().map(|r| r.tenant_id.as_str()).collect();
    let records: Vec<Record> = rows
        .iter()
        .map(|r| {
            Record::case(
                r.id,
                "case.escalated",
                json!({ "priority": r.before_priority, "lane": lane_label(r.before_lane) }),
                json!({ "priority": r.priority, "lane": "FAST", "reason": r.reason }),
            )
        })
        .collect();
    audit::append_for(conn, &tenants, audit::SYSTEM, &records).await?;
    let events = rows
        .iter()
        .map(|r| {
            let status =
                CaseStatus::try_from(i32::from(r.status)).unwrap_or(CaseStatus::Unspecified);
            case_updated(&r.tenant_id, r.id, status, r.version)
        })
        .collect();
    outbox.enqueue(conn, events).await?;
    Ok(rows.len())
}

/// Channels whose contacts are opened by API rather than from mentions.
fn is_traditional(channel: Channel) -> bool {
    matches!(
        channel,
        Channel::Email | Channel::Chat | Channel::Phone | Channel::WebForm
    )
}

/// A checked `CreateCase`.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub request_id: String,
    pub channel: Channel,
    pub subject: String,
    pub description: String,
    pub handle: String,
    pub identity: Identity,
    pub customer_id: Option<Uuid>,
    pub topic: String,
}

pub fn validate_create(req: &CreateCaseRequest) -> Result<NewCase, ServiceError> {
    let mut v = FieldViolations::new();
    v.request_id(&req.request_id);
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
    let identity = if req.customer_handle.trim().is_empty() {
        v.add("customer_handle", "is required");
        None
    } else if is_traditional(channel) {
        match Identity::parse(&customers::platform_of(channel, ""), &req.customer_handle) {
            Ok(identity) => Some(identity),
            Err(msg) => {
                v.add(
                    "customer_handle",
                    msg.replace("value", "the customer's address on this channel"),
                );
                None
            }
        }
    } else {
        None
    };
    v.check(
        req.description.chars().count() > 20_000,
        "description",
        "must be at most 20000 characters",
    );
    let customer_id = if req.customer_id.is_empty() {
        None
    } else {
        v.id(&req.customer_id, "customer_id")
    };
    let topic = req.topic.trim();
    v.check(
        !valid_topic(topic),
        "topic",
        "must be a topic key: at most 64 lower-case letters, digits, _ or -",
    );
    v.into_result()?;
    let Some(identity) = identity else {
        return Err(invalid("customer_handle", "is required"));
    };
    Ok(NewCase {
        request_id: req.request_id.trim().to_owned(),
        channel,
        subject: req.subject.trim().to_owned(),
        description: req.description.trim().to_owned(),
        handle: req.customer_handle.trim().to_owned(),
        identity,
        customer_id,
        topic: topic.to_owned(),
    })
}

/// Opens a case by API, once per `request_id`: a retry returns the same case.
/// The customer is the one given, or the one holding the handle on the
/// channel (created when new).
pub async fn create(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    new: NewCase,
) -> Result<CaseRow, ServiceError> {
    let mut tx = pool.begin().await?;
    if let Some(row) = by_request(&mut tx, tenant_id, &new.request_id).await? {
        return Ok(row);
    }
    let customer_id = match new.customer_id {
        Some(id) => {
            let merged: Option<Option<Uuid>> = sqlx::query_scalar(
                "SELECT merged_into FROM customers WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            match merged {
                None => return Err(ServiceError::NotFound(format!("customer {id}"))),
                Some(Some(into)) => {
                    return Err(ServiceError::FailedPrecondition(format!(
                        "customer {id} was merged into {into}; open the case for that one"
                    )));
                }
                Some(None) => id,
            }
        }
        None => {
            customers::find_or_create(
                &mut tx,
                &[Speaker {
                    tenant_id: tenant_id.to_owned(),
                    identity: new.identity.clone(),
                    display_name: new.handle.clone(),
                    followers: 0,
                    language: String::new(),
                }],
            )
            .await?[0]
        }
    };
    let now = Utc::now();
    let topics: Vec<&str> = if new.topic.is_empty() {
        Vec::new()
    } else {
        vec![new.topic.as_str()]
    };
    let (decision, assignee) = route_and_assign(
        &mut tx,
        &[ToRoute {
            tenant_id,
            customer_id: Some(customer_id),
            topics,
            intent: 0,
            urgencies: Vec::new(),
            sentiment: None,
            channel: new.channel as i16,
            followers: 0,
        }],
    )
    .await?
    .remove(0);
    let due = opening_due("u.tenant_id", "$10");
    let inserted: Option<CaseRow> = sqlx::query_as(&format!(
        "INSERT INTO cases (id, tenant_id, status, channel, subject, description, customer_handle,
                            priority, request_id, opened_at, updated_at, customer_id, topic,
                            lane, queue, assignee, routing_rule_id, required_skills, sla_due_at)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14, $15, $16, $17,
                {due}
           FROM (SELECT $2::text AS tenant_id, $8::text AS priority, $13::int2 AS lane) AS u
           LEFT JOIN sla_policies p
             ON p.tenant_id = u.tenant_id AND p.priority = u.priority AND p.lane = u.lane
         ON CONFLICT ON CONSTRAINT cases_one_per_request DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(CaseStatus::New as i16)
    .bind(new.channel as i16)
    .bind(&new.subject)
    .bind(&new.description)
    .bind(&new.handle)
    .bind(&decision.priority)
    .bind(&new.request_id)
    .bind(now)
    .bind(customer_id)
    .bind(&new.topic)
    .bind(decision.lane as i16)
    .bind(&decision.queue)
    .bind(&assignee)
    .bind(decision.rule_id)
    .bind(&decision.required_skills)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = inserted else {
        // A concurrent retry won the race: answer with its case.
        drop(tx);
        let mut conn = pool.acquire().await?;
        return by_request(&mut conn, tenant_id, &new.request_id)
            .await?
            .ok_or_else(|| ServiceError::Aborted("retry the request".to_owned()));
    };
    let mut msg = MessageRows::default();
    let body = if new.description.is_empty() {
        &new.subject
    } else {
        &new.description
    };
    msg.push(
        tenant_id,
        row.id,
        MessageDirection::Inbound,
        new.channel as i32,
        &new.handle,
        body,
        None,
        now,
    );
    msg.insert(&mut tx).await?;
    sla::start(&mut tx, &[row.id]).await?;
    audit::append(
        &mut tx,
        tenant_id,
        actor,
        &[Record::case(row.id, "case.opened", json!({}), {
            let mut after = opened_snapshot(&row);
            after["request_id"] = json!(new.request_id);
            after
        })],
    )
    .await?;
    outbox
        .enqueue(&mut tx, vec![case_opened(tenant_id, &row)])
        .await?;
    tx.commit().await?;
    outbox.wake();
    Ok(row)
}

async fn by_request(
    conn: &mut PgConnection,
    tenant_id: &str,
    request_id: &str,
) -> Result<Option<CaseRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cases WHERE tenant_id = $1 AND request_id = $2"
    ))
    .bind(tenant_id)
    .bind(request_id)
    .fetch_optional(conn)
    .await
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
    let at = after.as_ref().map(|c| c.at);
    let after_id = after.map(|c| c.id);
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
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Locks a case of the tenant for a change, checking the version read.
pub(crate) async fn lock(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
    version: i64,
) -> Result<CaseRow, ServiceError> {
    let current: CaseRow = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cases WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("case {id}")))?;
    if current.version != version {
        return Err(ServiceError::Aborted(format!(
            "case {id} changed since version {version}; it is at version {}: read it again",
            current.version
        )));
    }
    Ok(current)
}

/// Sets a locked case's status (the caller checked the move) and bumps its version.
pub(crate) async fn set_status_and_bump(
    conn: &mut PgConnection,
    id: Uuid,
    to: CaseStatus,
) -> Result<CaseRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE cases SET status = $2, version = version + 1, updated_at = now()
          WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(to as i16)
    .fetch_one(conn)
    .await
}

/// Moves a case to `to` if the caller read the current `version` and the
/// lifecycle allows it; audits it and enqueues `CaseUpdated` (and `CaseResolved`).
pub async fn update_status(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    (id, version): Versioned,
    to: CaseStatus,
    resolution_code: Option<&str>,
) -> Result<CaseRow, ServiceError> {
    let mut tx = pool.begin().await?;
    let current = lock(&mut tx, tenant_id, id, version).await?;
    let from = current.status();
    if !lifecycle::can_move(from, to) {
        return Err(ServiceError::FailedPrecondition(format!(
            "a case cannot move from {} to {}",
            lifecycle::label(from),
            lifecycle::label(to)
        )));
    }
    sla::on_status(&mut tx, &[(id, from, to)]).await?;
    let row: CaseRow = sqlx::query_as(&format!(
        "UPDATE cases
            SET status = $3, version = version + 1, updated_at = now(),
                resolved_at = CASE WHEN $3 = 5 THEN now()
                                   WHEN $3 = 6 THEN resolved_at
                                   ELSE NULL END,
                resolution_code = coalesce($4, resolution_code)
          WHERE tenant_id = $1 AND id = $2
          RETURNING {COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(to as i16)
    .bind(resolution_code)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        tenant_id,
        actor,
        &[Record::case(
            id,
            "case.status_changed",
            json!({ "status": lifecycle::label(from), "version": current.version }),
            json!({ "status": lifecycle::label(to), "version": row.version, "resolution_code": row.resolution_code }),
        )],
    )
    .await?;
    let mut events = vec![case_updated(tenant_id, id, to, row.version)];
    if to == CaseStatus::Resolved {
        events.push(new_event(
            crate::NAME,
            tenant_id,
            id.to_string(),
            event::Payload::CaseResolved(CaseResolved {
                case_id: id.to_string(),
                resolution_code: row.resolution_code.clone().unwrap_or_default(),
                goodwill: outcomes::goodwill_of(&mut *tx, tenant_id, &[id])
                    .await?
                    .remove(&id)
                    .unwrap_or_default(),
                customer_id: row.customer_id.map(|c| c.to_string()).unwrap_or_default(),
            }),
        ));
    }
    outbox.enqueue(&mut tx, events).await?;
    tx.commit().await?;
    outbox.wake();
    Ok(row)
}

/// Folds `source` into `target`: the source's messages move to the target,
/// the source is closed and points at the target; both are audited and both
/// versions checked.
pub async fn merge(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    (source, source_version): (Uuid, i64),
    (target, target_version): (Uuid, i64),
) -> Result<CaseRow, ServiceError> {
    let mut tx = pool.begin().await?;
    let (first, second) = if source < target {
        ((source, source_version), (target, target_version))
    } else {
        ((target, target_version), (source, source_version))
    };
    let a = lock(&mut tx, tenant_id, first.0, first.1).await?;
    let b = lock(&mut tx, tenant_id, second.0, second.1).await?;
    let (src, tgt) = if a.id == source { (a, b) } else { (b, a) };
    for (row, which) in [(&src, "source"), (&tgt, "target")] {
        if let Some(into) = row.merged_into {
            return Err(ServiceError::FailedPrecondition(format!(
                "the {which} case {} was already merged into {into}",
                row.id
            )));
        }
        if row.status() == CaseStatus::Closed {
            return Err(ServiceError::FailedPrecondition(format!(
                "the {which} case {} is closed",
                row.id
            )));
        }
    }
    sla::on_status(&mut tx, &[(source, src.status(), CaseStatus::Closed)]).await?;
    let moved = sqlx::query("UPDATE case_messages SET case_id = $2 WHERE case_id = $1")
        .bind(source)
        .bind(target)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let closed: CaseRow = sqlx::query_as(&format!(
        "UPDATE cases SET status = $2, merged_into = $3, version = version + 1, updated_at = now()
          WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(source)
    .bind(CaseStatus::Closed as i16)
    .bind(target)
    .fetch_one(&mut *tx)
    .await?;
    let merged: CaseRow = sqlx::query_as(&format!(
        "UPDATE cases SET version = version + 1, updated_at = now() WHERE id = $1
         RETURNING {COLUMNS}"
    ))
    .bind(target)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        tenant_id,
        actor,
        &[
            Record::case(
                source,
                "case.merged_into",
                json!({ "status": lifecycle::label(src.status()) }),
                json!({ "status": "CLOSED", "merged_into": target.to_string(), "messages_moved": moved }),
            ),
            Record::case(
                target,
                "case.merged_from",
                json!({}),
                json!({ "merged_from": source.to_string(), "messages_moved": moved }),
            ),
        ],
    )
    .await?;
    outbox
        .enqueue(
            &mut tx,
            vec![
                case_updated(tenant_id, source, CaseStatus::Closed, closed.version),
                case_updated(tenant_id, target, merged.status(), merged.version),
            ],
        )
        .await?;
    tx.commit().await?;
    outbox.wake();
    Ok(merged)
}

/// Merges two customers and tells subscribers about every case that moved.
pub async fn merge_customers(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    source: (Uuid, i64),
    target: (Uuid, i64),
) -> Result<customers::CustomerView, ServiceError> {
    let mut tx = pool.begin().await?;
    let merge = customers::merge(&mut tx, tenant_id, actor, source, target).await?;
    let events = merge
        .moved_cases
        .iter()
        .map(|(id, version, status)| {
            let status =
                CaseStatus::try_from(i32::from(*status)).unwrap_or(CaseStatus::Unspecified);
            case_updated(tenant_id, *id, status, *version)
        })
        .collect();
    outbox.enqueue(&mut tx, events).await?;
    tx.commit().await?;
    outbox.wake();
    Ok(merge.target)
}

#[derive(Debug, sqlx::FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub case_id: Uuid,
    pub direction: i16,
    pub channel: i16,
    pub author: String,
    pub body: String,
    pub mention_id: Option<String>,
    pub posted_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub public: bool,
    /// Guard findings of a reply: an encoded `AuthenticityReport`.
    pub findings: Option<Vec<u8>>,
    pub kb_article_id: Option<Uuid>,
    pub kb_article_version: Option<i32>,
}

pub const MESSAGE_COLUMNS: &str = "id, case_id, direction, channel, author, body, mention_id, \
                                   posted_at, created_at, public, findings, kb_article_id, \
                                   kb_article_version";

pub fn message_to_proto(row: MessageRow) -> CaseMessage {
    CaseMessage {
        message_id: row.id.to_string(),
        case_id: row.case_id.to_string(),
        direction: i32::from(row.direction),
        channel: i32::from(row.channel),
        author: row.author,
        body: row.body,
        mention_id: row.mention_id.unwrap_or_default(),
        posted_at: Some(timestamp(row.posted_at)),
        public: row.public,
        findings: row
            .findings
            .as_deref()
            .and_then(|b| AuthenticityReport::decode(b).ok())
            .map(|r| r.findings)
            .unwrap_or_default(),
        kb_article_id: row
            .kb_article_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        kb_article_version: row
            .kb_article_version
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0),
    }
}

pub fn message_cursor(row: &MessageRow) -> Cursor {
    Cursor {
        at: row.created_at,
        id: row.id,
    }
}

/// A case's messages, oldest first. NOT_FOUND when the case is not the tenant's.
pub async fn messages(
    pool: &PgPool,
    tenant_id: &str,
    case_id: Uuid,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<MessageRow>, ServiceError> {
    get(pool, tenant_id, case_id).await?;
    let at = after.as_ref().map(|c| c.at);
    let after_id = after.map(|c| c.id);
    Ok(sqlx::query_as(&format!(
        "SELECT {MESSAGE_COLUMNS}
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

/// The audit snapshot of a case just opened.
fn opened_snapshot(row: &CaseRow) -> serde_json::Value {
    json!({
        "status": "NEW",
        "mention_id": row.mention_id,
        "customer_id": row.customer_id.map(|id| id.to_string()),
        "topic": row.topic,
        "lane": lane_label(row.lane),
        "priority": row.priority,
        "queue": row.queue,
        "assignee": row.assignee,
        "routing_rule_id": row.routing_rule_id.map(|id| id.to_string()),
    })
}

fn lane_label(lane: i16) -> &'static str {
    Lane::try_from(i32::from(lane))
        .unwrap_or(Lane::Unspecified)
        .as_str_name()
        .trim_start_matches("LANE_")
}

/// What routing needs to know about a case about to open.
struct ToRoute<'a> {
    tenant_id: &'a str,
    customer_id: Option<Uuid>,
    topics: Vec<&'a str>,
    intent: i16,
    urgencies: Vec<i16>,
    sentiment: Option<f64>,
    channel: i16,
    followers: i64,
}

impl<'a> ToRoute<'a> {
    fn mention(tenant_id: &'a str, customer_id: Option<Uuid>, m: &'a MentionClassified) -> Self {
        let c = m.classification.as_ref();
        Self {
            tenant_id,
            customer_id,
            topics: c
                .map(|c| c.topics.iter().map(|t| t.topic.as_str()).collect())
                .unwrap_or_default(),
            intent: c.map_or(0, |c| i16::try_from(c.intent).unwrap_or(0)),
            urgencies: c
                .map(|c| {
                    c.urgency
                        .iter()
                        .filter_map(|u| i16::try_from(u.urgency).ok())
                        .collect()
                })
                .unwrap_or_default(),
            sentiment: c.and_then(|c| c.sentiment.as_ref()).map(|s| s.compound),
            channel: i16::try_from(m.channel).unwrap_or(0),
            followers: m
                .author
                .as_ref()
                .map_or(0, |a| i64::try_from(a.followers).unwrap_or(i64::MAX)),
        }
    }
}

/// Routes each case about to open by its tenant's rules and assigns it to the
/// least-loaded agent of its queue with room and the skills, when there is one.
/// A fixed number of statements for the whole batch; the agents involved are
/// locked so concurrent batches never overfill one.
async fn route_and_assign(
    conn: &mut PgConnection,
    cases: &[ToRoute<'_>],
) -> Result<Vec<(routing::Decision, Option<String>)>, sqlx::Error> {
    let mut tenants: Vec<&str> = cases.iter().map(|c| c.tenant_id).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let mut rules: HashMap<String, Vec<routing::RuleRow>> = HashMap::new();
    for rule in routing::rules_of(conn, &tenants).await? {
        rules.entry(rule.tenant_id.clone()).or_default().push(rule);
    }
    let customer_ids: Vec<Uuid> = cases.iter().filter_map(|c| c.customer_id).collect();
    let attributes: HashMap<Uuid, (String, bool, i64)> =
        sqlx::query_as::<_, (Uuid, String, bool, i64)>(
            "SELECT id, tier, vip, followers FROM customers WHERE id = ANY($1)",
        )
        .bind(&customer_ids)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|(id, tier, vip, followers)| (id, (tier, vip, followers)))
        .collect();
    let no_rules = Vec::new();
    let decisions: Vec<routing::Decision> = cases
        .iter()
        .map(|c| {
            let (tier, vip, followers) = c
                .customer_id
                .and_then(|id| attributes.get(&id))
                .map_or(("", false, 0), |(t, v, f)| (t.as_str(), *v, *f));
            let facts = routing::Facts {
                tier,
                vip,
                followers: followers.max(c.followers),
                topics: c.topics.clone(),
                intent: c.intent,
                urgencies: c.urgencies.clone(),
                sentiment: c.sentiment,
                channel: c.channel,
            };
            routing::route(rules.get(c.tenant_id).unwrap_or(&no_rules), &facts)
        })
        .collect();
    let mut queues: Vec<&str> = decisions.iter().map(|d| d.queue.as_str()).collect();
    queues.sort_unstable();
    queues.dedup();
    let mut roster = routing::roster(conn, &tenants, &queues, &[]).await?;
    Ok(cases
        .iter()
        .zip(decisions)
        .map(|(c, d)| {
            let assignee = roster.assign(c.tenant_id, &d.queue, &d.required_skills);
            (d, assignee)
        })
        .collect())
}

/// Assigns a case to `agent` (any agent of the tenant, by hand) or, when
/// `None`, to the least-loaded available agent of its queue with room and the
/// required skills. Open cases only; the version must be the one read.
pub async fn assign(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    (id, version): Versioned,
    agent: Option<&str>,
) -> Result<CaseRow, ServiceError> {
    let mut tx = pool.begin().await?;
    let current = lock(&mut tx, tenant_id, id, version).await?;
    if matches!(current.status(), CaseStatus::Resolved | CaseStatus::Closed) {
        return Err(ServiceError::FailedPrecondition(format!(
            "case {id} is {}; reopen it before assigning it",
            lifecycle::label(current.status())
        )));
    }
    let agent = match agent {
        Some(agent) => {
            let exists: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM agents WHERE tenant_id = $1 AND agent_id = $2)",
            )
            .bind(tenant_id)
            .bind(agent)
            .fetch_one(&mut *tx)
            .await?;
            if !exists {
                return Err(ServiceError::NotFound(format!("agent {agent}")));
            }
            agent.to_owned()
        }
        None => {
            let mut roster =
                routing::roster(&mut tx, &[tenant_id], &[current.queue.as_str()], &[]).await?;
            roster
                .assign(tenant_id, &current.queue, &current.required_skills)
                .ok_or_else(|| {
                    ServiceError::FailedPrecondition(format!(
                        "no available agent of queue {} has room and the skills {:?}",
                        current.queue, current.required_skills
                    ))
                })?
        }
    };
    let row: CaseRow = sqlx::query_as(&format!(
        "UPDATE cases SET assignee = $2, version = version + 1, updated_at = now()
          WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&agent)
    .fetch_one(&mut *tx)
    .await?;
    let record = Record::case(
        id,
        "case.assigned",
        json!({ "assignee": current.assignee }),
        json!({ "assignee": agent }),
    );
    commit_update(tx, outbox, tenant_id, actor, row, record).await
}

/// Pulls an expert into a case: `agent` (who must be an expert on the case's
/// topic) or the least-loaded available expert on it not already there.
pub async fn add_expert(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    (id, version): Versioned,
    agent: Option<&str>,
) -> Result<CaseRow, ServiceError> {
    let mut tx = pool.begin().await?;
    let current = lock(&mut tx, tenant_id, id, version).await?;
    if current.topic.is_empty() {
        return Err(ServiceError::FailedPrecondition(format!(
            "case {id} has no topic to find an expert on"
        )));
    }
    let expert = match agent {
        Some(agent) => {
            let topics: Vec<String> = sqlx::query_scalar(
                "SELECT expert_topics FROM agents WHERE tenant_id = $1 AND agent_id = $2",
            )
            .bind(tenant_id)
            .bind(agent)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("agent {agent}")))?;
            if !topics.contains(&current.topic) {
                return Err(ServiceError::FailedPrecondition(format!(
                    "agent {agent} is not an expert on {}",
                    current.topic
                )));
            }
            agent.to_owned()
        }
        None => {
            let mut roster =
                routing::roster(&mut tx, &[tenant_id], &[], &[current.topic.as_str()]).await?;
            roster
                .expert(tenant_id, &current.topic, &current.experts)
                .ok_or_else(|| {
                    ServiceError::FailedPrecondition(format!(
                        "no other available expert on {} has room",
                        current.topic
                    ))
                })?
        }
    };
    if current.experts.contains(&expert) {
        return Ok(current);
    }
    let row: CaseRow = sqlx::query_as(&format!(
        "UPDATE cases SET experts = array_append(experts, $2), version = version + 1,
                          updated_at = now()
          WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&expert)
    .fetch_one(&mut *tx)
    .await?;
    let record = Record::case(
        id,
        "case.expert_added",
        json!({ "experts": current.experts }),
        json!({ "experts": row.experts }),
    );
    commit_update(tx, outbox, tenant_id, actor, row, record).await
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
            customer_id: "nope".into(),
            topic: "Not A Topic".into(),
            ..Default::default()
        })
        .expect_err("invalid");
        let text = err.to_string();
        for field in [
            "request_id",
            "channel",
            "subject",
            "customer_handle",
            "customer_id",
            "topic",
        ] {
            assert!(text.contains(field), "{field} missing from {text}");
        }
        let email = CreateCaseRequest {
            request_id: "r1".into(),
            channel: Channel::Email as i32,
            subject: "Refund".into(),
            customer_handle: "Jane@Example.com".into(),
            ..Default::default()
        };
        let ok = validate_create(&email).expect("valid");
        assert_eq!(ok.identity.value, "jane@example.com");
        let err = validate_create(&CreateCaseRequest {
            customer_handle: "jane".into(),
            ..email
        })
        .expect_err("not an address");
        assert!(err.to_string().contains("customer_handle"));
    }
}
