//! Mentions by month: the partitions of this month and the next two exist
//! from the start; a past month is dropped whole, with its labels and
//! identity keys, only once every tenant with mentions in it has a
//! retention period that passed it; mentions stay idempotent across
//! partitions (the identity key is its own table).

mod common;

use chrono::Utc;
use common::{Harness, mention};
use earshot_listening::mention::partitions::{TABLE, keep};
use earshot_proto::listening::v1::{IngestMentionsRequest, IngestStatus};
use earshot_server::partitions::{Month, id_floor, months};
use sqlx::PgPool;

const ALL: &[&str] = earshot_auth::TENANT_SCOPES;

async fn ingest(h: &Harness, tenant: &str, id: &str) -> (String, i32) {
    let answer = h
        .client(tenant, ALL)
        .ingest_mentions(IngestMentionsRequest {
            mentions: vec![mention(
                id,
                "jane",
                "@acme my card has not arrived, can you help?",
            )],
        })
        .await
        .expect("ingest")
        .into_inner();
    (
        answer.results[0].mention_id.clone(),
        answer.results[0].status,
    )
}

/// Moves a mention into January 2025, as if it had arrived then.
async fn move_to_january_2025(pool: &PgPool, mention_id: &str) {
    let id = uuid::Uuid::parse_str(mention_id).expect("uuid");
    sqlx::query(
        "WITH moved AS (
             UPDATE mentions
                SET id = (substr(replace(mention_id_floor('2025-01-15 00:00:00+00')::text, '-', ''), 1, 12)
                          || substr(replace(id::text, '-', ''), 13))::uuid
              WHERE id = $1 RETURNING tenant_id, id
         )
         UPDATE mention_keys k SET mention_id = moved.id FROM moved
          WHERE k.tenant_id = moved.tenant_id AND k.mention_id = $1",
    )
    .bind(id)
    .execute(pool)
    .await
    .expect("moved");
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .expect("count")
}

async fn keep_once(pool: &PgPool) -> u64 {
    let mut tx = pool.begin().await.expect("tx");
    let changed = keep(&mut tx).await.expect("partitions kept");
    tx.commit().await.expect("commit");
    changed
}

#[tokio::test]
async fn months_are_made_ahead_and_dropped_only_when_nobody_keeps_them() {
    let h = Harness::start().await;
    let pool = h.db.pool("listening").await;
    let mut conn = pool.acquire().await.expect("connection");
    let now = Month::of(Utc::now());
    let made = months(&mut conn, TABLE).await.expect("months");
    assert!(
        made.contains(&now) && made.contains(&now.next().next()),
        "{made:?}"
    );

    let (acme_old, _) = ingest(&h, "acme", "p-1").await;
    let (acme_new, _) = ingest(&h, "acme", "p-2").await;
    let (globex_old, _) = ingest(&h, "globex", "p-1").await;
    let january = Month {
        year: 2025,
        month: 1,
    };
    sqlx::raw_sql(&format!(
        "CREATE TABLE {} PARTITION OF mentions FOR VALUES FROM ('{}') TO ('{}')",
        january.partition(TABLE),
        id_floor(january.start()),
        id_floor(january.end())
    ))
    .execute(&pool)
    .await
    .expect("an old month");
    move_to_january_2025(&pool, &acme_old).await;
    move_to_january_2025(&pool, &globex_old).await;
    assert_eq!(
        count(&pool, "SELECT count(*) FROM mentions_y2025m01").await,
        2
    );

    // Acme keeps 30 days; globex has no period, so it keeps January.
    sqlx::query("INSERT INTO retention_policies (tenant_id, days, version, updated_at) VALUES ('acme', 30, 1, now())")
        .execute(&pool)
        .await
        .expect("policy");
    keep_once(&pool).await;
    assert!(
        months(&mut conn, TABLE)
            .await
            .expect("months")
            .contains(&january)
    );

    // The same mention sent again while it sits in an old month: a duplicate.
    let (again, status) = ingest(&h, "globex", "p-1").await;
    assert_eq!(status, IngestStatus::Duplicate as i32);
    assert_ne!(again, globex_old, "the id it has now");

    sqlx::query("INSERT INTO retention_policies (tenant_id, days, version, updated_at) VALUES ('globex', 1000, 1, now())")
        .execute(&pool)
        .await
        .expect("policy");
    assert_eq!(
        keep_once(&pool).await,
        0,
        "1000 days still keep January 2025"
    );
    sqlx::query("UPDATE retention_policies SET days = 60, version = 2 WHERE tenant_id = 'globex'")
        .execute(&pool)
        .await
        .expect("policy");
    assert_eq!(keep_once(&pool).await, 1);
    assert!(
        !months(&mut conn, TABLE)
            .await
            .expect("months")
            .contains(&january)
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM mentions").await,
        1,
        "this month's stays"
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM mention_keys").await, 1);
    let left: uuid::Uuid = sqlx::query_scalar("SELECT id FROM mentions")
        .fetch_one(&pool)
        .await
        .expect("one");
    assert_eq!(left.to_string(), acme_new);

    // With its key gone, the January mention is new again if it comes back.
    let (_, status) = ingest(&h, "globex", "p-1").await;
    assert_eq!(status, IngestStatus::Accepted as i32);
}
