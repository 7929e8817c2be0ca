//! Reply storage: replies are outbound `case_messages` with the MinHash
//! signature the guard compares drafts with and what it found; the tenant's
//! guard policy is `guard_policies`.

use earshot_proto::case::v1::AuthenticityReport;
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

use super::guard::{self, Earlier, Report};
use super::{GuardSettings, Outgoing};
use crate::record::CaseRow;
use crate::record::messages::{COLUMNS, MessageRow};
use crate::vocabulary::Direction;

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct PolicyRow {
    pub block: bool,
    pub threshold: f64,
    pub lookback: i32,
    pub extra_kinds: Vec<i16>,
    pub extra_phrases: Vec<String>,
    pub disabled_phrases: Vec<String>,
    pub version: i64,
}

impl Default for PolicyRow {
    /// What a tenant that never set a policy gets, at version 0.
    fn default() -> Self {
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
}

pub async fn policy_row(
    conn: &mut PgConnection,
    tenant_id: &str,
) -> Result<PolicyRow, sqlx::Error> {
    Ok(sqlx::query_as(
        "SELECT block, threshold, lookback, extra_kinds, extra_phrases, disabled_phrases, version
           FROM guard_policies WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(conn)
    .await?
    .unwrap_or_default())
}

/// Stores the tenant's policy at the version read (0: none yet); `None` when
/// another change came first.
pub async fn put_policy(
    conn: &mut PgConnection,
    tenant_id: &str,
    p: &GuardSettings,
) -> Result<Option<PolicyRow>, sqlx::Error> {
    let kinds: Vec<i16> = p.extra.iter().map(|(k, _)| *k as i16).collect();
    let phrases: Vec<&str> = p.extra.iter().map(|(_, phrase)| phrase.as_str()).collect();
    sqlx::query_as(
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
    .bind(&kinds)
    .bind(&phrases)
    .bind(&p.disabled_phrases)
    .bind(p.version)
    .fetch_optional(conn)
    .await
}

/// The tenant's latest `lookback` replies, newest first.
pub async fn recent_replies(
    conn: &mut PgConnection,
    tenant_id: &str,
    lookback: i64,
) -> Result<Vec<Earlier>, sqlx::Error> {
    let rows: Vec<(Uuid, String, Vec<i64>)> = sqlx::query_as(
        "SELECT id, body, signature FROM case_messages
          WHERE tenant_id = $1 AND direction = $3 AND signature IS NOT NULL
          ORDER BY created_at DESC LIMIT $2",
    )
    .bind(tenant_id)
    .bind(lookback)
    .bind(Direction::Outbound)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, body, signature)| Earlier {
            id,
            body,
            signature,
        })
        .collect())
}

/// The reply sent under `request_id`, if one was.
pub async fn reply_of_request(
    conn: &mut PgConnection,
    tenant_id: &str,
    request_id: &str,
) -> Result<Option<MessageRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM case_messages WHERE tenant_id = $1 AND request_id = $2"
    ))
    .bind(tenant_id)
    .bind(request_id)
    .fetch_optional(conn)
    .await
}

/// The `findings` column holds the guard's report as the protobuf encoding of
/// `earshot.case.v1.AuthenticityReport`, as replies were always stored.
fn encode_report(report: &Report) -> Vec<u8> {
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
    .encode_to_vec()
}

/// A stored report; an unreadable one reads as empty.
pub fn decode_report(bytes: &[u8]) -> Report {
    let Ok(stored) = AuthenticityReport::decode(bytes) else {
        return Report::default();
    };
    Report {
        most_similar: Uuid::parse_str(&stored.most_similar_reply_id)
            .ok()
            .map(|id| {
                (
                    id,
                    stored.most_similar_similarity,
                    stored.most_similar_excerpt,
                )
            }),
        findings: stored.findings,
        blocked: stored.blocked,
    }
}

/// Records a reply by `actor` on `case`, with its signature and the guard's report.
pub async fn insert_reply(
    conn: &mut PgConnection,
    tenant_id: &str,
    actor: &str,
    case: &CaseRow,
    out: &Outgoing,
    report: &Report,
) -> Result<MessageRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO case_messages (id, tenant_id, case_id, direction, channel, author, body,
                                    posted_at, created_at, public, request_id, signature,
                                    findings, kb_article_id, kb_article_version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now(), clock_timestamp(), $8, $9, $10, $11, $12,
                 $13)
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(case.id)
    .bind(Direction::Outbound)
    .bind(case.channel)
    .bind(actor)
    .bind(&out.body)
    .bind(out.public)
    .bind(&out.request_id)
    .bind(guard::signature(&out.body))
    .bind(encode_report(report))
    .bind(out.cites.map(|(a, _)| a))
    .bind(out.cites.map(|(_, v)| v))
    .fetch_one(conn)
    .await
}

/// The mention the customer last wrote on the case, which a reply answers.
pub async fn last_inbound_mention(
    conn: &mut PgConnection,
    case_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT mention_id FROM case_messages
          WHERE case_id = $1 AND direction = $2 AND mention_id IS NOT NULL
          ORDER BY created_at DESC LIMIT 1",
    )
    .bind(case_id)
    .bind(Direction::Inbound)
    .fetch_optional(conn)
    .await
}
