//! Replies: checked by the authenticity guard as drafts and when sent,
//! recorded on the case with author and channel, and handed to connectors
//! through `ReplySent`. The tenant's guard policy lives here too.

pub mod guard;
pub mod store;

use chrono::Utc;
use earshot_outbox::{Outbox, new_event};
use earshot_proto::events::v1::authenticity_finding::Kind;
use earshot_proto::events::v1::{AuthenticityFinding, ReplySent, event};
use earshot_server::ServiceError;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use self::guard::{Earlier, Policy, Report};
use self::store::PolicyRow;
use crate::audit::{self, Record};
use crate::record::messages::MessageRow;
use crate::record::{self, CaseRow, StatusChange, Versioned};
use crate::vocabulary::Status;
use crate::{claims, knowledge, sla};

/// A checked `CheckReply`.
#[derive(Debug, Clone)]
pub struct Draft {
    pub case_id: Uuid,
    pub body: String,
}

/// A checked `SendReply`.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub request_id: String,
    pub case: Versioned,
    pub body: String,
    pub public: bool,
    /// The knowledge article version the reply cites.
    pub cites: Option<(Uuid, i32)>,
}

/// A checked guard policy: what the tenant stores, and the version read.
#[derive(Debug, Clone)]
pub struct GuardSettings {
    pub block: bool,
    pub threshold: f64,
    pub lookback: i32,
    pub extra: Vec<(Kind, String)>,
    pub disabled_phrases: Vec<String>,
    pub version: i64,
}

impl PolicyRow {
    /// The guard's policy as this row sets it.
    fn policy(&self) -> Policy {
        let extra: Vec<(Kind, String)> = self
            .extra_kinds
            .iter()
            .zip(&self.extra_phrases)
            .map(|(k, p)| {
                (
                    Kind::try_from(i32::from(*k)).unwrap_or(Kind::Custom),
                    p.clone(),
                )
            })
            .collect();
        Policy::new(
            self.block,
            self.threshold,
            i64::from(self.lookback),
            &extra,
            &self.disabled_phrases,
        )
    }
}

/// The tenant's guard policy; the defaults (at version 0) until it sets one.
pub async fn get_policy(pool: &PgPool, tenant_id: &str) -> Result<PolicyRow, ServiceError> {
    let mut conn = pool.acquire().await?;
    Ok(store::policy_row(&mut conn, tenant_id).await?)
}

/// Sets the tenant's guard policy: version 0 creates it, else the version read.
pub async fn put_policy(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    settings: GuardSettings,
) -> Result<PolicyRow, ServiceError> {
    let mut tx = pool.begin().await?;
    match store::put_policy(&mut tx, tenant_id, &settings).await? {
        Some(row) => {
            let action = "guard_policy.updated";
            let read = settings.version;
            audit::store::commit_configuration(tx, tenant_id, actor, action, read, &row).await?;
            Ok(row)
        }
        None => {
            drop(tx);
            let mut conn = pool.acquire().await?;
            let current = store::policy_row(&mut conn, tenant_id).await?;
            Err(ServiceError::Aborted(format!(
                "the guard policy changed since version {}; it is at version {}",
                settings.version, current.version
            )))
        }
    }
}

/// What the guard compares a draft of a case with, and whether it would be
/// the case's first reply.
async fn context(
    conn: &mut PgConnection,
    tenant_id: &str,
    case_id: Uuid,
) -> Result<(Policy, Vec<Earlier>, bool), sqlx::Error> {
    let policy = store::policy_row(conn, tenant_id).await?.policy();
    let earlier = store::recent_replies(conn, tenant_id, policy.lookback).await?;
    let answered = record::messages::answered(conn, tenant_id, case_id).await?;
    Ok((policy, earlier, !answered))
}

/// The guard on a draft for a case of the tenant. Stores nothing.
pub async fn check(pool: &PgPool, tenant_id: &str, draft: Draft) -> Result<Report, ServiceError> {
    record::store::get(pool, tenant_id, draft.case_id).await?;
    let mut conn = pool.acquire().await?;
    let (policy, earlier, first) = context(&mut conn, tenant_id, draft.case_id).await?;
    Ok(guard::check(&draft.body, first, &earlier, &policy))
}

/// What the guard found in a reply, as it was recorded.
pub fn findings_of(reply: &MessageRow) -> Vec<AuthenticityFinding> {
    reply
        .findings
        .as_deref()
        .map(store::decode_report)
        .map(|r| r.findings)
        .unwrap_or_default()
}

/// A reply as recorded, with the case after it and what the guard found.
pub struct Sent {
    pub reply: MessageRow,
    pub case: CaseRow,
    pub report: Report,
}

/// Sends a reply once per `request_id`: runs the guard (refusing it when the
/// tenant blocks on findings), records it, moves a new case to open, meets
/// the response clocks, audits it and enqueues `ReplySent`.
pub async fn send(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    out: Outgoing,
) -> Result<Sent, ServiceError> {
    let case_id = out.case.id;
    let mut tx = pool.begin().await?;
    if let Some(reply) = store::reply_of_request(&mut tx, tenant_id, &out.request_id).await? {
        drop(tx);
        let case = record::store::get(pool, tenant_id, reply.case_id).await?;
        let report = reply
            .findings
            .as_deref()
            .map(store::decode_report)
            .unwrap_or_default();
        return Ok(Sent {
            reply,
            case,
            report,
        });
    }
    let case = record::store::lock(&mut tx, tenant_id, out.case).await?;
    if let Some(holder) = claims::held_by_other(&case, actor, Utc::now()) {
        return Err(ServiceError::FailedPrecondition(format!(
            "case {case_id} is held by {holder} for replying"
        )));
    }
    if case.status == Status::Closed {
        return Err(ServiceError::FailedPrecondition(format!(
            "case {case_id} is closed{}",
            case.merged_into
                .map(|into| format!(" (merged into {into}); reply there"))
                .unwrap_or_default()
        )));
    }
    if let Some((article, version)) = out.cites {
        knowledge::check_citation(&mut tx, tenant_id, article, version).await?;
    }
    let (policy, earlier, first) = context(&mut tx, tenant_id, case_id).await?;
    let report = guard::check(&out.body, first, &earlier, &policy);
    if report.blocked {
        let found: Vec<&str> = report.findings.iter().map(|f| f.message.as_str()).collect();
        return Err(ServiceError::FailedPrecondition(format!(
            "the authenticity guard blocked this reply: {}",
            found.join("; ")
        )));
    }
    let reply = store::insert_reply(&mut tx, tenant_id, actor, &case, &out, &report).await?;

    // Answering a new case opens it; the response clocks are met.
    let to = if case.status == Status::New {
        Status::Open
    } else {
        case.status
    };
    if to != case.status {
        let change = StatusChange {
            case_id,
            from: case.status,
            to,
        };
        sla::on_status(&mut tx, &[change]).await?;
    }
    sla::store::met_by_reply(&mut tx, case_id).await?;
    let updated = record::store::set_status(&mut tx, case_id, to).await?;
    let in_reply_to = store::last_inbound_mention(&mut tx, case_id).await?;
    let kinds: Vec<&str> = report
        .findings
        .iter()
        .map(|f| {
            Kind::try_from(f.kind)
                .unwrap_or(Kind::Unspecified)
                .as_str_name()
        })
        .collect();
    let mut records = vec![Record::case(
        case_id,
        "case.reply_sent",
        json!({}),
        json!({ "reply_id": reply.id.to_string(), "public": out.public, "findings": kinds }),
    )];
    if to != case.status {
        records.push(Record::case(
            case_id,
            "case.status_changed",
            json!({ "status": case.status.label() }),
            json!({ "status": to.label(), "reason": "first reply" }),
        ));
    }
    audit::store::append(&mut tx, tenant_id, actor, &records).await?;
    let events = vec![
        new_event(
            record::PRODUCER,
            tenant_id,
            case_id.to_string(),
            event::Payload::ReplySent(ReplySent {
                case_id: case_id.to_string(),
                reply_id: reply.id.to_string(),
                channel: i32::from(case.channel),
                public: out.public,
                body: out.body.clone(),
                author: actor.to_owned(),
                thread_key: case.thread_key.clone(),
                customer_handle: case.customer_handle.clone(),
                in_reply_to_mention_id: in_reply_to.unwrap_or_default(),
                findings: report.findings.clone(),
                kb_article_id: out.cites.map(|(a, _)| a.to_string()).unwrap_or_default(),
                kb_article_version: out.cites.map_or(0, |(_, v)| u32::try_from(v).unwrap_or(0)),
                queue: case.queue.clone(),
            }),
        ),
        record::case_updated(tenant_id, case_id, to, updated.version),
    ];
    record::store::enqueue(&mut tx, outbox, events).await?;
    tx.commit().await?;
    outbox.wake();
    Ok(Sent {
        reply,
        case: updated,
        report,
    })
}
