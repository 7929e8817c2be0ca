//! The knowledge base: articles whose versions are immutable once published,
//! so every channel answers from one version of the truth and a reply can
//! cite exactly what it relied on. Search by topic, channel and text.

pub mod store;

use earshot_server::ServiceError;
use earshot_server::convert::Cursor;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use self::store::ArticleRow;

/// A checked article version's content.
#[derive(Debug, Clone)]
pub struct Content {
    pub title: String,
    pub body: String,
    pub topics: Vec<String>,
    pub channels: Vec<i16>,
}

/// A checked `CreateArticle`.
#[derive(Debug, Clone)]
pub struct NewArticle {
    pub request_id: String,
    pub content: Content,
}

/// A checked `PublishArticleVersion`: the article, its latest version as read,
/// and the next version's content.
#[derive(Debug, Clone)]
pub struct NextVersion {
    pub article_id: Uuid,
    pub latest: i32,
    pub content: Content,
}

/// A checked `GetArticle`.
#[derive(Debug, Clone, Copy)]
pub struct ArticleRef {
    pub article_id: Uuid,
    /// `None`: the latest.
    pub version: Option<i32>,
}

/// A checked `SearchArticles`.
#[derive(Debug, Clone)]
pub struct Search {
    pub text: Option<String>,
    pub topic: Option<String>,
    pub channel: Option<i16>,
    pub limit: i64,
    pub after: Option<Cursor>,
}

/// Creates an article at version 1, once per `request_id`.
pub async fn create(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    new: NewArticle,
) -> Result<ArticleRow, ServiceError> {
    let mut tx = pool.begin().await?;
    let id = match store::insert_article(&mut tx, tenant_id, &new.request_id).await? {
        Some(id) => {
            store::insert_version(&mut tx, tenant_id, actor, id, 1, &new.content).await?;
            id
        }
        None => store::article_of_request(&mut tx, tenant_id, &new.request_id).await?,
    };
    tx.commit().await?;
    get_latest(pool, tenant_id, id).await
}

/// Publishes the next version if the one read is the latest.
pub async fn publish(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    next: NextVersion,
) -> Result<ArticleRow, ServiceError> {
    let id = next.article_id;
    let mut tx = pool.begin().await?;
    let latest = store::lock_latest(&mut tx, tenant_id, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("article {id}")))?;
    if latest != next.latest {
        return Err(ServiceError::Aborted(format!(
            "article {id} is at version {latest}, not {}: read it again",
            next.latest
        )));
    }
    store::insert_version(&mut tx, tenant_id, actor, id, latest + 1, &next.content).await?;
    store::set_latest(&mut tx, id, latest + 1).await?;
    tx.commit().await?;
    get_latest(pool, tenant_id, id).await
}

/// The latest version of article `id`.
async fn get_latest(pool: &PgPool, tenant_id: &str, id: Uuid) -> Result<ArticleRow, ServiceError> {
    let article = ArticleRef {
        article_id: id,
        version: None,
    };
    get(pool, tenant_id, article).await
}

/// An article at the version asked for, or its latest.
pub async fn get(
    pool: &PgPool,
    tenant_id: &str,
    article: ArticleRef,
) -> Result<ArticleRow, ServiceError> {
    let ArticleRef {
        article_id: id,
        version,
    } = article;
    store::get(pool, tenant_id, id, version)
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
    if store::version_exists(conn, tenant_id, id, version).await? {
        Ok(())
    } else {
        Err(ServiceError::NotFound(format!(
            "version {version} of article {id}"
        )))
    }
}

/// Latest versions matching the search, in creation order.
pub async fn search(
    pool: &PgPool,
    tenant_id: &str,
    s: &Search,
) -> Result<Vec<ArticleRow>, ServiceError> {
    Ok(store::search(pool, tenant_id, s).await?)
}
