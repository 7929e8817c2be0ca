//! The knowledge tables: `kb_articles` and their immutable `kb_article_versions`.

use chrono::{DateTime, Utc};
use earshot_server::convert::Cursor;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Content, Search};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ArticleRow {
    pub id: Uuid,
    pub version: i32,
    pub latest_version: i32,
    pub title: String,
    pub body: String,
    pub topics: Vec<String>,
    pub channels: Vec<i16>,
    pub published_by: String,
    pub published_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl ArticleRow {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            at: self.created_at,
            id: self.id,
        }
    }
}

const SELECT: &str = "SELECT a.id, v.version, a.latest_version, v.title, v.body, v.topics, \
                      v.channels, v.published_by, v.published_at, a.created_at \
                      FROM kb_articles a JOIN kb_article_versions v ON v.article_id = a.id";

pub async fn insert_version(
    conn: &mut PgConnection,
    tenant_id: &str,
    actor: &str,
    id: Uuid,
    version: i32,
    c: &Content,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO kb_article_versions (article_id, version, tenant_id, title, body, topics,
                                          channels, published_by, published_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())",
    )
    .bind(id)
    .bind(version)
    .bind(tenant_id)
    .bind(&c.title)
    .bind(&c.body)
    .bind(&c.topics)
    .bind(&c.channels)
    .bind(actor)
    .execute(conn)
    .await?;
    Ok(())
}

/// A new article at version 1; `None` when one was created under `request_id`.
pub async fn insert_article(
    conn: &mut PgConnection,
    tenant_id: &str,
    request_id: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO kb_articles (id, tenant_id, latest_version, request_id, created_at)
         VALUES ($1, $2, 1, $3, now())
         ON CONFLICT ON CONSTRAINT kb_articles_one_per_request DO NOTHING
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(request_id)
    .fetch_optional(conn)
    .await
}

pub async fn article_of_request(
    conn: &mut PgConnection,
    tenant_id: &str,
    request_id: &str,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM kb_articles WHERE tenant_id = $1 AND request_id = $2")
        .bind(tenant_id)
        .bind(request_id)
        .fetch_one(conn)
        .await
}

/// Locks an article, answering its latest version.
pub async fn lock_latest(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT latest_version FROM kb_articles WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn set_latest(
    conn: &mut PgConnection,
    id: Uuid,
    version: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE kb_articles SET latest_version = $2 WHERE id = $1")
        .bind(id)
        .bind(version)
        .execute(conn)
        .await?;
    Ok(())
}

/// An article at `version`, or its latest.
pub async fn get(
    pool: &PgPool,
    tenant_id: &str,
    id: Uuid,
    version: Option<i32>,
) -> Result<Option<ArticleRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE a.tenant_id = $1 AND a.id = $2
            AND v.version = coalesce($3, a.latest_version)"
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(version)
    .fetch_optional(pool)
    .await
}

pub async fn version_exists(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
    version: i32,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM kb_article_versions
                         WHERE tenant_id = $1 AND article_id = $2 AND version = $3)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(version)
    .fetch_one(conn)
    .await
}

pub async fn search(
    pool: &PgPool,
    tenant_id: &str,
    s: &Search,
) -> Result<Vec<ArticleRow>, sqlx::Error> {
    let at = s.after.as_ref().map(|c| c.at);
    let after_id = s.after.as_ref().map(|c| c.id);
    sqlx::query_as(&format!(
        "{SELECT} WHERE a.tenant_id = $1 AND v.version = a.latest_version
            AND ($2::text IS NULL OR v.search @@ plainto_tsquery('simple', $2))
            AND ($3::text IS NULL OR $3 = ANY(v.topics))
            AND ($4::int2 IS NULL OR cardinality(v.channels) = 0 OR $4 = ANY(v.channels))
            AND ($5::timestamptz IS NULL OR (a.created_at, a.id) > ($5, $6))
          ORDER BY a.created_at, a.id LIMIT $7"
    ))
    .bind(tenant_id)
    .bind(&s.text)
    .bind(&s.topic)
    .bind(s.channel)
    .bind(at)
    .bind(after_id)
    .bind(s.limit)
    .fetch_all(pool)
    .await
}
