//! The improvement loop's SQL: items and their drivers, the customers told
//! (`fix_notices`), and the reads of `mention_facts` and `driver_rollups`
//! that the notices, the affected customers and the impact stand on.

use std::collections::HashMap;

use earshot_server::{Page, ServiceError};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::impact::{BeforeAfter, Windows};
use super::{AffectedCustomer, DriverKey, Improvement, NewImprovement, Plan, Status, Told};
use crate::range::Days;

const COLUMNS: &str = "tenant_id, id, title, owner, team, status, due_on, fixed_on, note, \
                       version, created_at, updated_at";

/// The drivers as three parallel arrays, as `unnest` takes them.
fn arrays(drivers: &[DriverKey]) -> (Vec<String>, Vec<i16>, Vec<String>) {
    let mut topics = Vec::with_capacity(drivers.len());
    let mut intents = Vec::with_capacity(drivers.len());
    let mut rules = Vec::with_capacity(drivers.len());
    for d in drivers {
        topics.push(d.topic.clone());
        intents.push(d.intent);
        rules.push(d.rule_id.clone());
    }
    (topics, intents, rules)
}

/// The mentions with a recognised author about the drivers bound as $2
/// (topics), $3 (intents) and $4 (rule ids, '' for every rule), posted in
/// [$5, $6): who contacted about them. The tenant is $1.
const CONTACTS: &str = "
    d AS (SELECT * FROM unnest($2::text[], $3::int2[], $4::text[]) AS d(topic, intent, rule_id)),
    contacts AS (
        SELECT m.author, m.handle, m.topic, m.intent, m.mention_id, m.posted_at
          FROM mention_facts m
         WHERE m.tenant_id = $1 AND m.author <> ''
           AND m.posted_at >= $5 AND m.posted_at < $6
           AND EXISTS (SELECT 1 FROM d
                        WHERE d.topic = m.topic AND d.intent = m.intent
                          AND (d.rule_id = '' OR d.rule_id = m.rule_id)))";

/// The customer profile of the author `l.author`: that of the latest case
/// opened from any of their mentions.
const CUSTOMER_OF: &str = "
    (SELECT c.customer_id
       FROM mention_facts a
       JOIN case_facts c ON c.tenant_id = a.tenant_id AND c.mention_id = a.mention_id
      WHERE a.tenant_id = $1 AND a.author <> '' AND a.author = l.author
        AND c.customer_id IS NOT NULL
      ORDER BY c.opened_at DESC, c.case_id DESC
      LIMIT 1)";

/// Inserts a new item and its drivers, or finds the one its request id
/// created first; its id either way.
pub async fn insert(conn: &mut PgConnection, new: &NewImprovement) -> Result<Uuid, sqlx::Error> {
    let created: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO improvements (tenant_id, id, title, owner, team, status, due_on, note,
                                   request_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), now())
         ON CONFLICT (tenant_id, request_id) DO NOTHING
         RETURNING id",
    )
    .bind(&new.tenant_id)
    .bind(Uuid::now_v7())
    .bind(&new.title)
    .bind(&new.owner)
    .bind(&new.team)
    .bind(Status::Proposed)
    .bind(new.due_on)
    .bind(&new.note)
    .bind(&new.request_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = created else {
        return sqlx::query_scalar(
            "SELECT id FROM improvements WHERE tenant_id = $1 AND request_id = $2",
        )
        .bind(&new.tenant_id)
        .bind(&new.request_id)
        .fetch_one(&mut *conn)
        .await;
    };
    let (topics, intents, rules) = arrays(&new.drivers);
    sqlx::query(
        "INSERT INTO improvement_drivers (tenant_id, improvement_id, topic, intent, rule_id)
         SELECT $1, $2, d.topic, d.intent, d.rule_id
           FROM unnest($3::text[], $4::int2[], $5::text[]) AS d(topic, intent, rule_id)",
    )
    .bind(&new.tenant_id)
    .bind(id)
    .bind(&topics)
    .bind(&intents)
    .bind(&rules)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// Fills in the items' drivers and customers told.
async fn complete(
    conn: &mut PgConnection,
    tenant_id: &str,
    items: &mut [Improvement],
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = items.iter().map(|i| i.id).collect();
    let drivers: Vec<(Uuid, String, i16, String)> = sqlx::query_as(
        "SELECT improvement_id, topic, intent, rule_id FROM improvement_drivers
          WHERE tenant_id = $1 AND improvement_id = ANY($2)
          ORDER BY improvement_id, topic, intent, rule_id",
    )
    .bind(tenant_id)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let told: HashMap<Uuid, i64> = sqlx::query_as(
        "SELECT improvement_id, count(*)::int8 FROM fix_notices
          WHERE tenant_id = $1 AND improvement_id = ANY($2)
          GROUP BY improvement_id",
    )
    .bind(tenant_id)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let mut by_item: HashMap<Uuid, Vec<DriverKey>> = HashMap::new();
    for (id, topic, intent, rule_id) in drivers {
        by_item.entry(id).or_default().push(DriverKey {
            topic,
            intent,
            rule_id,
        });
    }
    for item in items {
        item.drivers = by_item.remove(&item.id).unwrap_or_default();
        item.customers_told = told.get(&item.id).copied().unwrap_or(0);
    }
    Ok(())
}

fn not_found(id: Uuid) -> ServiceError {
    ServiceError::NotFound(format!("improvement {id}"))
}

/// One of the tenant's items; another tenant's is not found.
pub async fn get(pool: &PgPool, tenant_id: &str, id: Uuid) -> Result<Improvement, ServiceError> {
    let mut conn = pool.acquire().await?;
    let item: Option<Improvement> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM improvements WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let mut items = vec![item.ok_or_else(|| not_found(id))?];
    complete(&mut conn, tenant_id, &mut items).await?;
    Ok(items.remove(0))
}

/// The item held for an update until the transaction ends.
pub async fn lock(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
) -> Result<Improvement, ServiceError> {
    let item: Option<Improvement> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM improvements WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let mut items = vec![item.ok_or_else(|| not_found(id))?];
    complete(conn, tenant_id, &mut items).await?;
    Ok(items.remove(0))
}

/// Writes the planned fields and the next version.
pub async fn write(
    conn: &mut PgConnection,
    item: &Improvement,
    plan: &Plan,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE improvements
            SET status = $3, owner = $4, team = $5, due_on = $6, note = $7, fixed_on = $8,
                version = version + 1, updated_at = now()
          WHERE tenant_id = $1 AND id = $2",
    )
    .bind(&item.tenant_id)
    .bind(item.id)
    .bind(plan.status)
    .bind(&plan.owner)
    .bind(&plan.team)
    .bind(plan.due_on)
    .bind(&plan.note)
    .bind(plan.fixed_on)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a notice for every author who contacted about one of the item's
/// drivers in `window` and was never told about that topic and intent, and
/// returns the authors newly told, each with their latest mention about the
/// drivers. The primary key of `fix_notices` is what makes "nobody is told
/// twice" hold, also against a concurrent fix of the same driver.
pub async fn tell(
    conn: &mut PgConnection,
    item: &Improvement,
    window: Days,
) -> Result<Vec<Told>, sqlx::Error> {
    let (topics, intents, rules) = arrays(&item.drivers);
    sqlx::query_as(&format!(
        "WITH {CONTACTS},
         told AS (
             INSERT INTO fix_notices (tenant_id, topic, intent, author, improvement_id, told_at)
             SELECT DISTINCT $1, topic, intent, author, $7::uuid, now() FROM contacts
             ON CONFLICT DO NOTHING
             RETURNING author),
         l AS (
             SELECT DISTINCT ON (c.author) c.author, c.handle, c.mention_id
               FROM contacts c
              WHERE c.author IN (SELECT author FROM told)
              ORDER BY c.author, c.posted_at DESC, c.mention_id DESC)
         SELECT l.author, l.handle, l.mention_id, {CUSTOMER_OF} AS customer_id
           FROM l ORDER BY l.author"
    ))
    .bind(&item.tenant_id)
    .bind(&topics)
    .bind(&intents)
    .bind(&rules)
    .bind(window.start())
    .bind(window.end())
    .bind(item.id)
    .fetch_all(conn)
    .await
}

/// A page of the tenant's items, newest created first.
pub async fn list(
    pool: &PgPool,
    tenant_id: &str,
    status: Option<Status>,
    page: &Page,
) -> Result<Vec<Improvement>, sqlx::Error> {
    let (after_at, after_id) = page.after_key();
    let mut conn = pool.acquire().await?;
    let mut items: Vec<Improvement> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM improvements
          WHERE tenant_id = $1 AND ($2::int2 IS NULL OR status = $2)
            AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
          ORDER BY created_at DESC, id DESC
          LIMIT $5"
    ))
    .bind(tenant_id)
    .bind(status)
    .bind(after_at)
    .bind(after_id)
    .bind(page.limit)
    .fetch_all(&mut *conn)
    .await?;
    complete(&mut conn, tenant_id, &mut items).await?;
    Ok(items)
}

/// The ids of the items whose fix went live in `days` (FIXED or VERIFIED
/// now), latest fix first.
pub async fn fixed_between(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM improvements
          WHERE tenant_id = $1 AND status IN ($2, $3) AND fixed_on BETWEEN $4 AND $5
          ORDER BY fixed_on DESC, id DESC",
    )
    .bind(tenant_id)
    .bind(Status::Fixed)
    .bind(Status::Verified)
    .bind(days.from)
    .bind(days.to)
    .fetch_all(pool)
    .await
}

/// A page of the authors who contacted about `drivers` in `window`, latest
/// contact first, each with their latest mention about them and whether
/// they were told a fix of one of them.
pub async fn affected(
    pool: &PgPool,
    tenant_id: &str,
    drivers: &[DriverKey],
    window: Days,
    page: &Page,
) -> Result<Vec<AffectedCustomer>, sqlx::Error> {
    let (topics, intents, rules) = arrays(drivers);
    let (after_at, after_id) = page.after_key();
    sqlx::query_as(&format!(
        "WITH {CONTACTS},
         l AS (
             SELECT DISTINCT ON (c.author) c.author, c.handle, c.mention_id, c.posted_at
               FROM contacts c
              ORDER BY c.author, c.posted_at DESC, c.mention_id DESC)
         SELECT l.author, l.handle, {CUSTOMER_OF} AS customer_id,
                l.mention_id AS last_mention_id, l.posted_at AS last_contact_at,
                EXISTS (SELECT 1 FROM fix_notices f
                         WHERE f.tenant_id = $1 AND f.author = l.author
                           AND (f.topic, f.intent) IN (SELECT topic, intent FROM d)) AS told
           FROM l
          WHERE $7::timestamptz IS NULL OR (l.posted_at, l.mention_id) < ($7, $8)
          ORDER BY l.posted_at DESC, l.mention_id DESC
          LIMIT $9"
    ))
    .bind(tenant_id)
    .bind(&topics)
    .bind(&intents)
    .bind(&rules)
    .bind(window.start())
    .bind(window.end())
    .bind(after_at)
    .bind(after_id)
    .bind(page.limit)
    .fetch_all(pool)
    .await
}

/// How many authors contacted about `drivers` in `window`.
pub async fn affected_count(
    pool: &PgPool,
    tenant_id: &str,
    drivers: &[DriverKey],
    window: Days,
) -> Result<i64, sqlx::Error> {
    let (topics, intents, rules) = arrays(drivers);
    sqlx::query_scalar(&format!(
        "WITH {CONTACTS} SELECT count(DISTINCT author)::int8 FROM contacts"
    ))
    .bind(tenant_id)
    .bind(&topics)
    .bind(&intents)
    .bind(&rules)
    .bind(window.start())
    .bind(window.end())
    .fetch_one(pool)
    .await
}

/// Contacts before and after the fix from `driver_rollups`: of `drivers`
/// (a rollup row matching two of them counts once), or of every driver
/// when `None`.
pub async fn contacts(
    pool: &PgPool,
    tenant_id: &str,
    drivers: Option<&[DriverKey]>,
    windows: &Windows,
) -> Result<BeforeAfter, sqlx::Error> {
    let (topics, intents, rules) = arrays(drivers.unwrap_or_default());
    let (after_from, after_to) = windows.after.map(|a| (a.from, a.to)).unzip();
    let (before, after): (i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(contacts) FILTER (WHERE day <= $3), 0)::int8,
                coalesce(sum(contacts) FILTER (WHERE day >= $4), 0)::int8
           FROM driver_rollups r
          WHERE tenant_id = $1 AND day >= $2 AND day <= coalesce($5, $3)
            AND ($6 OR EXISTS (
                    SELECT 1 FROM unnest($7::text[], $8::int2[], $9::text[]) AS d(topic, intent, rule_id)
                     WHERE d.topic = r.topic AND d.intent = r.intent
                       AND (d.rule_id = '' OR d.rule_id = r.rule_id)))",
    )
    .bind(tenant_id)
    .bind(windows.before.from)
    .bind(windows.before.to)
    .bind(after_from)
    .bind(after_to)
    .bind(drivers.is_none())
    .bind(&topics)
    .bind(&intents)
    .bind(&rules)
    .fetch_one(pool)
    .await?;
    Ok(BeforeAfter {
        before: u64::try_from(before).unwrap_or(0),
        after: u64::try_from(after).unwrap_or(0),
    })
}

/// The driver (topic and intent over every rule) with contacts in `before`
/// whose volume there is closest to `target`, among those no item of the
/// tenant addresses (a dropped item changed nothing, so its drivers still
/// serve); ties go to the larger, then by name.
pub async fn closest_control(
    pool: &PgPool,
    tenant_id: &str,
    before: Days,
    target: u64,
) -> Result<Option<DriverKey>, sqlx::Error> {
    let row: Option<(String, i16)> = sqlx::query_as(
        "SELECT r.topic, r.intent
           FROM driver_rollups r
          WHERE r.tenant_id = $1 AND r.day BETWEEN $2 AND $3 AND r.topic <> ''
            AND NOT EXISTS (
                    SELECT 1 FROM improvement_drivers d
                      JOIN improvements i ON i.tenant_id = d.tenant_id AND i.id = d.improvement_id
                     WHERE d.tenant_id = $1 AND d.topic = r.topic AND d.intent = r.intent
                       AND i.status <> $5)
          GROUP BY r.topic, r.intent
         HAVING sum(r.contacts) > 0
          ORDER BY abs(sum(r.contacts) - $4), sum(r.contacts) DESC, r.topic, r.intent
          LIMIT 1",
    )
    .bind(tenant_id)
    .bind(before.from)
    .bind(before.to)
    .bind(i64::try_from(target).unwrap_or(i64::MAX))
    .bind(Status::Dropped)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(topic, intent)| DriverKey::any_rule(&topic, intent)))
}
