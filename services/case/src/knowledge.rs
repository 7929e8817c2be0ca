//! The knowledge base: articles whose versions are immutable once published,
//! so every channel answers from one version of the truth and a reply can
//! cite exactly what it relied on. Search by topic, channel and text.

use chrono::{DateTime, Utc};
use earshot_proto::case::v1::{
    Article, CreateArticleRequest, GetArticleRequest, PublishArticleVersionRequest,
    SearchArticlesRequest,
};
use earshot_proto::common::v1::Channel;
use earshot_server::convert::{Cursor, page_size, timestamp};
use earshot_server::{FieldViolations, ServiceError, invalid};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::routing::valid_key;

const MAX_TITLE_CHARS: usize = 200;
const MAX_BODY_CHARS: usize = 50_000;

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

const SELECT: &str = "SELECT a.id, v.version, a.latest_version, v.title, v.body, v.topics, \
                      v.channels, v.published_by, v.published_at, a.created_at \
                      FROM kb_articles a JOIN kb_article_versions v ON v.article_id = a.id";

pub fn to_proto(row: ArticleRow) -> Article {
    Article {
        article_id: row.id.to_string(),
        version: u32::try_from(row.version).unwrap_or(0),
        latest_version: u32::try_from(row.latest_version).unwrap_or(0),
        title: row.title,
        body: row.body,
        topics: row.topics,
        channels: row.channels.into_iter().map(i32::from).collect(),
        published_by: row.published_by,
        published_at: Some(timestamp(row.published_at)),
    }
}

pub fn cursor(row: &ArticleRow) -> Cursor {
    Cursor {
        at: row.created_at,
        id: row.id,
    }
}

/// A checked article version's content.
#[derive(Debug, Clone)]
pub struct Content {
    pub title: String,
    pub body: String,
    pub topics: Vec<String>,
    pub channels: Vec<i16>,
}

fn check_content(
    title: &str,
    body: &str,
    topics: &[String],
    channels: &[i32],
    v: &mut FieldViolations,
) -> Content {
    let title = title.trim();
    v.check(title.is_empty(), "title", "is required");
    v.check(
        title.chars().count() > MAX_TITLE_CHARS,
        "title",
        "must be at most 200 characters",
    );
    let body = body.trim();
    v.check(body.is_empty(), "body", "is required");
    v.check(
        body.chars().count() > MAX_BODY_CHARS,
        "body",
        "must be at most 50000 characters",
    );
    let mut keys = Vec::new();
    for (i, t) in topics.iter().enumerate() {
        if valid_key(t) {
            keys.push(t.clone());
        } else {
            v.add(
                format!("topics[{i}]"),
                "must be 1 to 64 lower-case letters, digits, _ or -",
            );
        }
    }
    let mut chans = Vec::new();
    for (i, c) in channels.iter().enumerate() {
        match Channel::try_from(*c) {
            Ok(Channel::Unspecified) | Err(_) => {
                v.add(format!("channels[{i}]"), "must be a known channel");
            }
            Ok(c) => chans.push(c as i16),
        }
    }
    keys.sort();
    keys.dedup();
    chans.sort_unstable();
    chans.dedup();
    Content {
        title: title.to_owned(),
        body: body.to_owned(),
        topics: keys,
        channels: chans,
    }
}

pub fn validate_create(req: &CreateArticleRequest) -> Result<(String, Content), ServiceError> {
    let mut v = FieldViolations::new();
    let request_id = v.request_id(&req.request_id);
    let content = check_content(&req.title, &req.body, &req.topics, &req.channels, &mut v);
    v.into_result()?;
    Ok((request_id.to_owned(), content))
}

pub fn validate_publish(
    req: &PublishArticleVersionRequest,
) -> Result<(Uuid, i32, Content), ServiceError> {
    let mut v = FieldViolations::new();
    let id = v.id(&req.article_id, "article_id");
    v.check(
        req.version < 1,
        "version",
        "must be the latest version, as read",
    );
    let content = check_content(&req.title, &req.body, &req.topics, &req.channels, &mut v);
    v.into_result()?;
    let id = id.ok_or_else(|| invalid("article_id", "is required"))?;
    Ok((id, i32::try_from(req.version).unwrap_or(i32::MAX), content))
}

async fn insert_version(
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

/// Creates an article at version 1, once per `request_id`.
pub async fn create(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    request_id: &str,
    content: Content,
) -> Result<ArticleRow, ServiceError> {
    let mut tx = pool.begin().await?;
    let id: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO kb_articles (id, tenant_id, latest_version, request_id, created_at)
         VALUES ($1, $2, 1, $3, now())
         ON CONFLICT ON CONSTRAINT kb_articles_one_per_request DO NOTHING
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(request_id)
    .fetch_optional(&mut *tx)
    .await?;
    let id = match id {
        Some(id) => {
            insert_version(&mut tx, tenant_id, actor, id, 1, &content).await?;
            id
        }
        None => {
            sqlx::query_scalar(
                "SELECT id FROM kb_articles WHERE tenant_id = $1 AND request_id = $2",
            )
            .bind(tenant_id)
            .bind(request_id)
            .fetch_one(&mut *tx)
            .await?
        }
    };
    tx.commit().await?;
    get(pool, tenant_id, id, None).await
}

/// Publishes the next version if `version` is the latest.
pub async fn publish(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    (id, version, content): (Uuid, i32, Content),
) -> Result<ArticleRow, ServiceError> {
    let mut tx = pool.begin().await?;
    let latest: i32 = sqlx::query_scalar(
        "SELECT latest_version FROM kb_articles WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("article {id}")))?;
    if latest != version {
        return Err(ServiceError::Aborted(format!(
            "article {id} is at version {latest}, not {version}: read it again"
        )));
    }
    insert_version(&mut tx, tenant_id, actor, id, latest + 1, &content).await?;
    sqlx::query("UPDATE kb_articles SET latest_version = $2 WHERE id = $1")
        .bind(id)
        .bind(latest + 1)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    get(pool, tenant_id, id, None).await
}

pub fn validate_get(req: &GetArticleRequest) -> Result<(Uuid, Option<i32>), ServiceError> {
    let id = earshot_server::convert::parse_id(&req.article_id, "article_id")?;
    let version = (req.version > 0).then(|| i32::try_from(req.version).unwrap_or(i32::MAX));
    Ok((id, version))
}

/// An article at `version`, or its latest.
pub async fn get(
    pool: &PgPool,
    tenant_id: &str,
    id: Uuid,
    version: Option<i32>,
) -> Result<ArticleRow, ServiceError> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE a.tenant_id = $1 AND a.id = $2
            AND v.version = coalesce($3, a.latest_version)"
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(version)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| match version {
        Some(v) => ServiceError::NotFound(format!("version {v} of article {id}")),
        None => ServiceError::NotFound(format!("article {id}")),
    })
}

/// Checks that a reply's citation names a published version of the tenant's.
pub async fn check_citation(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
    version: i32,
) -> Result<(), ServiceError> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM kb_article_versions
                         WHERE tenant_id = $1 AND article_id = $2 AND version = $3)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(version)
    .fetch_one(conn)
    .await?;
    if exists {
        Ok(())
    } else {
        Err(ServiceError::NotFound(format!(
            "version {version} of article {id}"
        )))
    }
}

/// A checked search.
pub struct Search {
    pub text: Option<String>,
    pub topic: Option<String>,
    pub channel: Option<i16>,
    pub limit: i64,
    pub after: Option<Cursor>,
}

pub fn validate_search(req: &SearchArticlesRequest) -> Result<Search, ServiceError> {
    let mut v = FieldViolations::new();
    let text = req.text.trim();
    v.check(
        text.chars().count() > 500,
        "text",
        "must be at most 500 characters",
    );
    let topic = req.topic.trim();
    v.check(
        !topic.is_empty() && !valid_key(topic),
        "topic",
        "must be 1 to 64 lower-case letters, digits, _ or -",
    );
    let channel = match Channel::try_from(req.channel) {
        Ok(Channel::Unspecified) => None,
        Ok(c) => Some(c as i16),
        Err(_) => {
            v.add("channel", "must be a known channel");
            None
        }
    };
    v.into_result()?;
    Ok(Search {
        text: (!text.is_empty()).then(|| text.to_owned()),
        topic: (!topic.is_empty()).then(|| topic.to_owned()),
        channel,
        limit: page_size(req.page_size)?,
        after: Cursor::decode(&req.page_token)?,
    })
}

/// Latest versions matching the search, in creation order.
pub async fn search(
    pool: &PgPool,
    tenant_id: &str,
    s: &Search,
) -> Result<Vec<ArticleRow>, ServiceError> {
    let at = s.after.as_ref().map(|c| c.at);
    let after_id = s.after.as_ref().map(|c| c.id);
    Ok(sqlx::query_as(&format!(
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
    .await?)
}
