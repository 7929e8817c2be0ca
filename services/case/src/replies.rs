//! Replies: checked by the authenticity guard as drafts and when sent,
//! recorded on the case with author and channel, and handed to connectors
//! through `ReplySent`. The tenant's guard policy lives here too.

use earshot_outbox::{Outbox, new_event};
use earshot_proto::case::v1::{
    AuthenticityReport, CaseStatus, GuardMode, GuardPhrase, GuardPolicy, MessageDirection,
    SendReplyRequest,
};
use earshot_proto::events::v1::authenticity_finding::Kind;
use earshot_proto::events::v1::{ReplySent, event};
use earshot_server::{FieldViolations, ServiceError, invalid};
use prost::Message;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::audit::{self, Record};
use crate::cases::{self, CaseRow, MESSAGE_COLUMNS, MessageRow, Versioned};
use crate::guard::{self, Earlier, Policy};
use crate::{knowledge, lifecycle, outcomes, sla};

const MAX_BODY_CHARS: usize = 10_000;
const MAX_LOOKBACK: u32 = 10_000;
const MAX_PHRASES: usize = 200;

fn check_body(body: &str, v: &mut FieldViolations) {
    v.check(body.trim().is_empty(), "body", "is required");
    v.check(
        body.chars().count() > MAX_BODY_CHARS,
        "body",
        "must be at most 10000 characters",
    );
}

/// A checked `CheckReply`.
pub fn validate_check(case_id: &str, body: &str) -> Result<Uuid, ServiceError> {
    let mut v = FieldViolations::new();
    let id = v.id(case_id, "case_id");
    check_body(body, &mut v);
    v.into_result()?;
    id.ok_or_else(|| invalid("case_id", "is required"))
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

pub fn validate_send(req: &SendReplyRequest) -> Result<Outgoing, ServiceError> {
    let mut v = FieldViolations::new();
    let request_id = v.request_id(&req.request_id);
    let id = v.id(&req.case_id, "case_id");
    v.version(req.version, "version");
    check_body(&req.body, &mut v);
    let cites = match (req.kb_article_id.is_empty(), req.kb_article_version) {
        (true, 0) => None,
        (true, _) => {
            v.add("kb_article_id", "is required with kb_article_version");
            None
        }
        (false, 0) => {
            v.add("kb_article_version", "is required with kb_article_id");
            None
        }
        (false, version) => v
            .id(&req.kb_article_id, "kb_article_id")
            .map(|id| (id, i32::try_from(version).unwrap_or(i32::MAX))),
    };
    v.into_result()?;
    let id = id.ok_or_else(|| invalid("case_id", "is required"))?;
    Ok(Outgoing {
        cites,
        request_id: request_id.to_owned(),
        case: (id, req.version),
        body: req.body.trim().to_owned(),
        public: req.public,
    })
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
struct PolicyRow {
    block: bool,
    threshold: f64,
    lookback: i32,
    extra_kinds: Vec<i16>,
    extra_phrases: Vec<String>,
    disabled_phrases: Vec<String>,
    version: i64,
}

impl PolicyRow {
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

    fn to_proto(&self) -> GuardPolicy {
        GuardPolicy {
            mode: if self.block {
                GuardMode::Block
            } else {
                GuardMode::Warn
            } as i32,
            similarity_threshold: self.threshold,
            lookback_replies: u32::try_from(self.lookback).unwrap_or(0),
            extra_phrases: self
                .extra_kinds
                .iter()
                .zip(&self.extra_phrases)
                .map(|(k, p)| GuardPhrase {
                    kind: i32::from(*k),
                    phrase: p.clone(),
                })
                .collect(),
            disabled_phrases: self.disabled_phrases.clone(),
            version: self.version,
        }
    }
}

fn default_row() -> PolicyRow {
    PolicyRow {
        block: false,
        threshold: guard::DEFAULT_THRESHOLD,
        lookback: i32::try_from(guard::DEFAULT_LOOKBACK).unwrap_or(1000),
        extra_kinds: Vec::new(),
        extra_phrases: Vec::new(),
        disabled_phrases: Vec::new(),
        version: 0,
    }
}

async fn policy_row(conn: &mut PgConnection, tenant_id: &str) -> Result<PolicyRow, sqlx::Error> {
    Ok(sqlx::query_as(
        "SELECT block, threshold, lookback, extra_kinds, extra_phrases, disabled_phrases, version
           FROM guard_policies WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(conn)
    .await?
    .unwrap_or_else(default_row))
}

/// The tenant's guard policy; the defaults (at version 0) until it sets one.
pub async fn get_policy(pool: &PgPool, tenant_id: &str) -> Result<GuardPolicy, ServiceError> {
    let mut conn = pool.acquire().await?;
    Ok(policy_row(&mut conn, tenant_id).await?.to_proto())
}

/// Checks a guard policy, naming bad fields under `policy.`.
fn validate_policy(p: Option<&GuardPolicy>) -> Result<PolicyRow, ServiceError> {
    let Some(p) = p else {
        return Err(invalid("policy", "is required"));
    };
    let mut v = FieldViolations::new();
    let block = match GuardMode::try_from(p.mode) {
        Ok(GuardMode::Warn) => false,
        Ok(GuardMode::Block) => true,
        _ => {
            v.add("policy.mode", "must be WARN or BLOCK");
            false
        }
    };
    v.check(
        !(0.0..=1.0).contains(&p.similarity_threshold),
        "policy.similarity_threshold",
        "must be between 0 and 1 (0 means 0.5)",
    );
    v.check(
        p.lookback_replies > MAX_LOOKBACK,
        "policy.lookback_replies",
        "must be at most 10000",
    );
    v.check(
        p.extra_phrases.len() + p.disabled_phrases.len() > MAX_PHRASES,
        "policy.extra_phrases",
        "at most 200 phrases in all",
    );
    let (mut kinds, mut phrases) = (Vec::new(), Vec::new());
    for (i, phrase) in p.extra_phrases.iter().enumerate() {
        let kind = Kind::try_from(phrase.kind).unwrap_or(Kind::Unspecified);
        if matches!(kind, Kind::Unspecified | Kind::NearDuplicate) {
            v.add(
                format!("policy.extra_phrases[{i}].kind"),
                "must be HEDGING, BOILERPLATE, REFLEX_DM or CUSTOM",
            );
        }
        let text = guard::normalise(&phrase.phrase);
        if text.is_empty() || text.chars().count() > 200 {
            v.add(
                format!("policy.extra_phrases[{i}].phrase"),
                "must hold 1 to 200 characters of words",
            );
        }
        kinds.push(kind as i16);
        phrases.push(text);
    }
    let disabled: Vec<String> = p
        .disabled_phrases
        .iter()
        .map(|d| guard::normalise(d))
        .collect();
    v.check(
        p.version < 0,
        "policy.version",
        "must be 0 to create, else the version last read",
    );
    v.into_result()?;
    Ok(PolicyRow {
        block,
        threshold: if p.similarity_threshold == 0.0 {
            guard::DEFAULT_THRESHOLD
        } else {
            p.similarity_threshold
        },
        lookback: if p.lookback_replies == 0 {
            i32::try_from(guard::DEFAULT_LOOKBACK).unwrap_or(1000)
        } else {
            i32::try_from(p.lookback_replies).unwrap_or(1000)
        },
        extra_kinds: kinds,
        extra_phrases: phrases,
        disabled_phrases: disabled,
        version: p.version,
    })
}

/// Sets the tenant's guard policy: version 0 creates it, else the version read.
pub async fn put_policy(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    raw: Option<&GuardPolicy>,
) -> Result<GuardPolicy, ServiceError> {
    let p = validate_policy(raw)?;
    let mut tx = pool.begin().await?;
    let saved: Option<PolicyRow> = sqlx::query_as(
        "INSERT INTO guard_policies AS g (tenant_id, block, threshold, lookback, extra_kinds,
                                          extra_phrases, disabled_phrases)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (tenant_id) DO UPDATE
            SET block = EXCLUDED.block, threshold = EXCLUDED.threshold,
                lookback = EXCLUDED.lookback, extra_kinds = EXCLUDED.extra_kinds,
                extra_phrases = EXCLUDED.extra_phrases,
                disabled_phrases = EXCLUDED.disabled_phrases, version = g.version + 1
          WHERE g.version = $8
         RETURNING block, threshold, lookback, extra_kinds, extra_phrases, disabled_phrases,
                   version",
    )
    .bind(tenant_id)
    .bind(p.block)
    .bind(p.threshold)
    .bind(p.lookback)
    .bind(&p.extra_kinds)
    .bind(&p.extra_phrases)
    .bind(&p.disabled_phrases)
    .bind(p.version)
    .fetch_optional(&mut *tx)
    .await?;
    match saved {
        Some(row) => {
            let action = "guard_policy.updated";
            audit::commit_configuration(tx, tenant_id, actor, action, p.version, &row).await?;
            Ok(row.to_proto())
        }
        None => {
            drop(tx);
            let mut conn = pool.acquire().await?;
            let current = policy_row(&mut conn, tenant_id).await?;
            Err(ServiceError::Aborted(format!(
                "the guard policy changed since version {}; it is at version {}",
                p.version, current.version
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
    let policy = policy_row(conn, tenant_id).await?.policy();
    let earlier: Vec<(Uuid, String, Vec<i64>)> = sqlx::query_as(
        "SELECT id, body, signature FROM case_messages
          WHERE tenant_id = $1 AND direction = 2 AND signature IS NOT NULL
          ORDER BY created_at DESC LIMIT $2",
    )
    .bind(tenant_id)
    .bind(policy.lookback)
    .fetch_all(&mut *conn)
    .await?;
    let answered: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM case_messages
                         WHERE tenant_id = $1 AND case_id = $2 AND direction = 2)",
    )
    .bind(tenant_id)
    .bind(case_id)
    .fetch_one(&mut *conn)
    .await?;
    let earlier = earlier
        .into_iter()
        .map(|(id, body, signature)| Earlier {
            id,
            body,
            signature,
        })
        .collect();
    Ok((policy, earlier, !answered))
}

pub fn report_to_proto(report: &guard::Report) -> AuthenticityReport {
    let (id, similarity, excerpt) = report
        .most_similar
        .clone()
        .map(|(id, s, e)| (id.to_string(), s, e))
        .unwrap_or_default();
    AuthenticityReport {
        findings: report.findings.clone(),
        most_similar_reply_id: id,
        most_similar_similarity: similarity,
        most_similar_excerpt: excerpt,
        blocked: report.blocked,
    }
}

/// The guard on a draft for a case of the tenant. Stores nothing.
pub async fn check(
    pool: &PgPool,
    tenant_id: &str,
    case_id: Uuid,
    body: &str,
) -> Result<guard::Report, ServiceError> {
    cases::get(pool, tenant_id, case_id).await?;
    let mut conn = pool.acquire().await?;
    let (policy, earlier, first) = context(&mut conn, tenant_id, case_id).await?;
    Ok(guard::check(body, first, &earlier, &policy))
}

/// A reply as recorded, with the case after it and what the guard found.
pub struct Sent {
    pub reply: MessageRow,
    pub case: CaseRow,
    pub report: AuthenticityReport,
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
    let (case_id, version) = out.case;
    let mut tx = pool.begin().await?;
    let done: Option<MessageRow> = sqlx::query_as(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM case_messages WHERE tenant_id = $1 AND request_id = $2"
    ))
    .bind(tenant_id)
    .bind(&out.request_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(reply) = done {
        drop(tx);
        let case = cases::get(pool, tenant_id, reply.case_id).await?;
        let report = reply
            .findings
            .as_deref()
            .and_then(|b| AuthenticityReport::decode(b).ok())
            .unwrap_or_default();
        return Ok(Sent {
            reply,
            case,
            report,
        });
    }
    let case = cases::lock(&mut tx, tenant_id, case_id, version).await?;
    if let Some(holder) = outcomes::held_by_other(&case, actor, chrono::Utc::now()) {
        return Err(ServiceError::FailedPrecondition(format!(
            "case {case_id} is held by {holder} for replying"
        )));
    }
    if case.status() == CaseStatus::Closed {
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
    let proto_report = report_to_proto(&report);
    let reply: MessageRow = sqlx::query_as(&format!(
        "INSERT INTO case_messages (id, tenant_id, case_id, direction, channel, author, body,
                                    posted_at, created_at, public, request_id, signature,
                                    findings, kb_article_id, kb_article_version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now(), clock_timestamp(), $8, $9, $10, $11, $12,
                 $13)
         RETURNING {MESSAGE_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(case_id)
    .bind(MessageDirection::Outbound as i16)
    .bind(case.channel)
    .bind(actor)
    .bind(&out.body)
    .bind(out.public)
    .bind(&out.request_id)
    .bind(guard::signature(&out.body))
    .bind(proto_report.encode_to_vec())
    .bind(out.cites.map(|(a, _)| a))
    .bind(out.cites.map(|(_, v)| v))
    .fetch_one(&mut *tx)
    .await?;

    // Answering a new case opens it; the response clocks are met.
    let to = if case.status() == CaseStatus::New {
        CaseStatus::Open
    } else {
        case.status()
    };
    if to != case.status() {
        sla::on_status(&mut tx, &[(case_id, case.status(), to)]).await?;
    }
    sla::met_by_reply(&mut tx, case_id).await?;
    let updated: CaseRow = cases::set_status_and_bump(&mut tx, case_id, to).await?;
    let in_reply_to: Option<String> = sqlx::query_scalar(
        "SELECT mention_id FROM case_messages
          WHERE case_id = $1 AND direction = 1 AND mention_id IS NOT NULL
          ORDER BY created_at DESC LIMIT 1",
    )
    .bind(case_id)
    .fetch_optional(&mut *tx)
    .await?;
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
    if to != case.status() {
        records.push(Record::case(
            case_id,
            "case.status_changed",
            json!({ "status": lifecycle::label(case.status()) }),
            json!({ "status": lifecycle::label(to), "reason": "first reply" }),
        ));
    }
    audit::append(&mut tx, tenant_id, actor, &records).await?;
    let events = vec![
        new_event(
            crate::NAME,
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
            }),
        ),
        cases::case_updated(tenant_id, case_id, to, updated.version),
    ];
    outbox.enqueue(&mut tx, events).await?;
    tx.commit().await?;
    outbox.wake();
    Ok(Sent {
        reply,
        case: updated,
        report: proto_report,
    })
}
