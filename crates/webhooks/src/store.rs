//! The webhook tables (see `migrations/100_webhooks.sql`) and every query on
//! them. Each query a tenant's call makes names the tenant.

use chrono::{DateTime, Utc};
use earshot_server::Keyed;
use earshot_server::convert::Cursor;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::check::{Deletion, EndpointChange, NewEndpoint};

/// Where a delivery stands; stored as its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[repr(i16)]
pub enum DeliveryState {
    Pending = 1,
    Delivered = 2,
    Failed = 3,
    Disabled = 4,
}

impl DeliveryState {
    /// The stored number, for arrays of states bound to one statement.
    pub fn code(self) -> i16 {
        self as i16
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointRow {
    pub id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub accept_drills: bool,
    pub enabled: bool,
    pub disabled_reason: String,
    pub description: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub secret_rotated_at: Option<DateTime<Utc>>,
}

impl Keyed for EndpointRow {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.created_at,
            id: self.id,
        }
    }
}

const ENDPOINT_COLUMNS: &str = "id, url, event_types, accept_drills, enabled, \
                                disabled_reason, description, version, created_at, updated_at, \
                                secret_rotated_at";

/// An endpoint with its current secret, as creating one answers.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointWithSecret {
    #[sqlx(flatten)]
    pub endpoint: EndpointRow,
    pub secret: String,
}

/// A new endpoint, unless the tenant created one under its `request_id`.
pub async fn insert_endpoint(
    conn: &mut PgConnection,
    tenant_id: &str,
    new: &NewEndpoint,
    secret: &str,
) -> Result<Option<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO webhook_endpoints (id, tenant_id, url, event_types, accept_drills,
                                        description, secret, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT ON CONSTRAINT webhook_endpoints_one_per_request DO NOTHING
         RETURNING {ENDPOINT_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(&new.url)
    .bind(&new.event_types)
    .bind(new.accept_drills)
    .bind(&new.description)
    .bind(secret)
    .bind(&new.request_id)
    .fetch_optional(conn)
    .await
}

pub async fn endpoint_count(conn: &mut PgConnection, tenant_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_one(conn)
        .await
}

/// The endpoint the tenant created under `request_id`, with its secret.
pub async fn endpoint_by_request(
    conn: &mut PgConnection,
    tenant_id: &str,
    request_id: &str,
) -> Result<Option<EndpointWithSecret>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ENDPOINT_COLUMNS}, secret FROM webhook_endpoints
          WHERE tenant_id = $1 AND request_id = $2"
    ))
    .bind(tenant_id)
    .bind(request_id)
    .fetch_optional(conn)
    .await
}

pub async fn list_endpoints(
    pool: &PgPool,
    tenant_id: &str,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints
          WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
          ORDER BY created_at, id LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(after.map(|c| c.at))
    .bind(after.map(|c| c.id))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The version of endpoint `id`, when the tenant has it.
pub async fn endpoint_version(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Replaces an endpoint's settings at the version read; `None` when it is
/// not (or no longer) at that version. Enabling it clears why it was disabled.
pub async fn update_endpoint(
    conn: &mut PgConnection,
    tenant_id: &str,
    change: &EndpointChange,
) -> Result<Option<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE webhook_endpoints
            SET url = $4, event_types = $5, accept_drills = $6, description = $7,
                enabled = coalesce($8, enabled),
                disabled_reason = CASE WHEN coalesce($8, enabled) THEN '' ELSE disabled_reason END,
                version = version + 1, updated_at = now()
          WHERE tenant_id = $1 AND id = $2 AND version = $3
         RETURNING {ENDPOINT_COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(change.endpoint_id)
    .bind(change.expected_version)
    .bind(&change.url)
    .bind(&change.event_types)
    .bind(change.accept_drills)
    .bind(&change.description)
    .bind(change.enabled)
    .fetch_optional(conn)
    .await
}

/// An endpoint just given a new secret.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Rotated {
    #[sqlx(flatten)]
    pub endpoint: EndpointRow,
    /// Until when the secret it replaced still signs.
    pub previous_secret_expires_at: DateTime<Utc>,
}

/// Gives endpoint `id` a new secret; the current one keeps signing for
/// `overlap_secs` more. `None` when the tenant has no such endpoint.
pub async fn rotate_secret(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
    secret: &str,
    overlap_secs: f64,
) -> Result<Option<Rotated>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE webhook_endpoints
            SET previous_secret = secret,
                previous_secret_expires_at = now() + make_interval(secs => $4),
                secret = $3, secret_rotated_at = now(),
                version = version + 1, updated_at = now()
          WHERE tenant_id = $1 AND id = $2
         RETURNING {ENDPOINT_COLUMNS}, previous_secret_expires_at"
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(secret)
    .bind(overlap_secs)
    .fetch_optional(conn)
    .await
}

/// Deletes an endpoint (at the version named, if one is) with its
/// deliveries and their attempts; false when it is not there at that version.
pub async fn delete_endpoint(
    conn: &mut PgConnection,
    tenant_id: &str,
    deletion: Deletion,
) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query(
        "DELETE FROM webhook_endpoints
          WHERE tenant_id = $1 AND id = $2 AND ($3::bigint IS NULL OR version = $3)",
    )
    .bind(tenant_id)
    .bind(deletion.endpoint_id)
    .bind(deletion.expected_version)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(deleted > 0)
}

/// Marks the pending deliveries of disabled `endpoints` DISABLED. Those
/// another round is attempting right now (locked) are left to it: it sends
/// them or, its endpoint disabled, they wait for it to be enabled again.
pub async fn disable_pending(
    conn: &mut PgConnection,
    endpoints: &[Uuid],
) -> Result<u64, sqlx::Error> {
    let disabled = sqlx::query(
        "UPDATE webhook_deliveries SET state = $3, updated_at = now()
          WHERE id IN (SELECT id FROM webhook_deliveries
                        WHERE endpoint_id = ANY($1) AND state = $2
                          FOR UPDATE SKIP LOCKED)",
    )
    .bind(endpoints)
    .bind(DeliveryState::Pending)
    .bind(DeliveryState::Disabled)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(disabled)
}

/// Disables the endpoints that answered 410 Gone, saying so.
pub async fn disable_endpoints(
    conn: &mut PgConnection,
    endpoints: &[Uuid],
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_endpoints
            SET enabled = false, disabled_reason = $2, version = version + 1, updated_at = now()
          WHERE id = ANY($1) AND enabled",
    )
    .bind(endpoints)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}

// Fan-out.

/// An enabled endpoint as fan-out matches events against it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listener {
    pub id: Uuid,
    pub tenant_id: String,
    pub event_types: Vec<String>,
    pub accept_drills: bool,
}

/// The enabled endpoints of `tenants`.
pub async fn listeners_of(
    conn: &mut PgConnection,
    tenants: &[&str],
) -> Result<Vec<Listener>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, tenant_id, event_types, accept_drills FROM webhook_endpoints
          WHERE tenant_id = ANY($1) AND enabled",
    )
    .bind(tenants)
    .fetch_all(conn)
    .await
}

/// An event to store for its deliveries.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub tenant_id: String,
    pub event_type: &'static str,
    pub drill: bool,
    pub occurred_at: DateTime<Utc>,
    pub body: String,
}

/// Stores `events` (those stored before stay as they are) and one pending
/// delivery for each `(endpoint, event index)` in `deliveries`, unless that
/// endpoint has one for that event already.
pub async fn insert_deliveries(
    conn: &mut PgConnection,
    events: &[NewEvent],
    deliveries: &[(Uuid, usize)],
) -> Result<u64, sqlx::Error> {
    if deliveries.is_empty() {
        return Ok(0);
    }
    sqlx::query(
        "INSERT INTO webhook_events (event_id, tenant_id, event_type, drill, occurred_at, body)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bool[],
                              $5::timestamptz[], $6::text[])
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
    .bind(
        events
            .iter()
            .map(|e| e.tenant_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(events.iter().map(|e| e.event_type).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.drill).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.body.as_str()).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    let inserted = sqlx::query(
        "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, state)
         SELECT u.id, u.tenant_id, u.endpoint_id, u.event_id, $5
           FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[])
                AS u(id, tenant_id, endpoint_id, event_id)
         ON CONFLICT ON CONSTRAINT webhook_deliveries_once_per_endpoint DO NOTHING",
    )
    .bind(
        deliveries
            .iter()
            .map(|_| Uuid::now_v7())
            .collect::<Vec<_>>(),
    )
    .bind(
        deliveries
            .iter()
            .map(|(_, e)| events[*e].tenant_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        deliveries
            .iter()
            .map(|(endpoint, _)| *endpoint)
            .collect::<Vec<_>>(),
    )
    .bind(
        deliveries
            .iter()
            .map(|(_, e)| events[*e].event_id)
            .collect::<Vec<_>>(),
    )
    .bind(DeliveryState::Pending)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted)
}

// Delivery.

/// A delivery due now, with what its attempt needs, locked for this round.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueDelivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub attempts: i32,
    pub replayed_after: i32,
    pub url: String,
    pub secret: String,
    /// Set while a rotated-out secret still signs.
    pub previous_secret: Option<String>,
    pub body: String,
}

/// Claims up to `limit` due deliveries of enabled endpoints, soonest first.
pub async fn claim_due(
    conn: &mut PgConnection,
    limit: i64,
) -> Result<Vec<DueDelivery>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.id, d.endpoint_id, d.attempts, d.replayed_after, e.url, e.secret,
                CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END
                    AS previous_secret,
                ev.body
           FROM webhook_deliveries d
           JOIN webhook_endpoints e ON e.id = d.endpoint_id
           JOIN webhook_events ev ON ev.event_id = d.event_id
          WHERE d.state = $1 AND d.next_attempt_at <= now() AND e.enabled
          ORDER BY d.next_attempt_at
          LIMIT $2
            FOR UPDATE OF d SKIP LOCKED",
    )
    .bind(DeliveryState::Pending)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// One attempt made, and where its delivery stands after it.
#[derive(Debug, Clone)]
pub struct Attempted {
    pub delivery_id: Uuid,
    /// 1 for the first attempt.
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub error: String,
    pub duration_ms: i32,
    pub state: DeliveryState,
    pub next_attempt_at: DateTime<Utc>,
}

/// Records the attempts of a round and moves their deliveries on.
pub async fn record_attempts(
    conn: &mut PgConnection,
    attempted: &[Attempted],
) -> Result<(), sqlx::Error> {
    if attempted.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = attempted.iter().map(|a| a.delivery_id).collect();
    let statuses: Vec<Option<i32>> = attempted.iter().map(|a| a.status_code).collect();
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms)
         SELECT * FROM unnest($1::uuid[], $2::int4[], $3::timestamptz[], $4::int4[],
                              $5::text[], $6::int4[])",
    )
    .bind(&ids)
    .bind(attempted.iter().map(|a| a.attempt).collect::<Vec<_>>())
    .bind(attempted.iter().map(|a| a.at).collect::<Vec<_>>())
    .bind(&statuses)
    .bind(
        attempted
            .iter()
            .map(|a| a.error.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(attempted.iter().map(|a| a.duration_ms).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE webhook_deliveries d
            SET attempts = u.attempt, state = u.state, next_attempt_at = u.next_attempt_at,
                last_status = u.status_code, updated_at = now()
           FROM unnest($1::uuid[], $2::int4[], $3::int2[], $4::timestamptz[], $5::int4[])
                AS u(id, attempt, state, next_attempt_at, status_code)
          WHERE d.id = u.id",
    )
    .bind(&ids)
    .bind(attempted.iter().map(|a| a.attempt).collect::<Vec<_>>())
    .bind(attempted.iter().map(|a| a.state.code()).collect::<Vec<_>>())
    .bind(
        attempted
            .iter()
            .map(|a| a.next_attempt_at)
            .collect::<Vec<_>>(),
    )
    .bind(&statuses)
    .execute(conn)
    .await?;
    Ok(())
}

// Listing and replay.

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub drill: bool,
    pub state: DeliveryState,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<i32>,
    pub created_at: DateTime<Utc>,
}

impl Keyed for DeliveryRow {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.created_at,
            id: self.id,
        }
    }
}

const DELIVERY_COLUMNS: &str = "d.id, d.endpoint_id, d.event_id, ev.event_type, ev.drill, \
                                d.state, d.attempts, d.next_attempt_at, d.last_status, \
                                d.created_at";

/// The tenant's deliveries (of one endpoint, if named), newest first.
pub async fn list_deliveries(
    pool: &PgPool,
    tenant_id: &str,
    endpoint_id: Option<Uuid>,
    before: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {DELIVERY_COLUMNS}
           FROM webhook_deliveries d JOIN webhook_events ev ON ev.event_id = d.event_id
          WHERE d.tenant_id = $1 AND ($2::uuid IS NULL OR d.endpoint_id = $2)
            AND ($3::timestamptz IS NULL OR (d.created_at, d.id) < ($3, $4))
          ORDER BY d.created_at DESC, d.id DESC LIMIT $5"
    ))
    .bind(tenant_id)
    .bind(endpoint_id)
    .bind(before.map(|c| c.at))
    .bind(before.map(|c| c.id))
    .bind(limit)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub delivery_id: Uuid,
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub error: String,
    pub duration_ms: i32,
}

/// The last `per_delivery` attempts of each of the tenant's `deliveries`,
/// oldest first.
pub async fn recent_attempts<'e>(
    conn: impl sqlx::PgExecutor<'e>,
    tenant_id: &str,
    deliveries: &[Uuid],
    per_delivery: i64,
) -> Result<Vec<AttemptRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT delivery_id, attempt, at, status_code, error, duration_ms
           FROM (SELECT a.*, row_number() OVER (PARTITION BY a.delivery_id
                                                ORDER BY a.attempt DESC) AS newest
                   FROM webhook_attempts a
                   JOIN webhook_deliveries d ON d.id = a.delivery_id AND d.tenant_id = $1
                  WHERE a.delivery_id = ANY($2)) recent
          WHERE newest <= $3
          ORDER BY delivery_id, attempt",
    )
    .bind(tenant_id)
    .bind(deliveries)
    .bind(per_delivery)
    .fetch_all(conn)
    .await
}

/// What replaying a delivery found.
#[derive(Debug)]
pub enum Replayed {
    Pending(DeliveryRow),
    EndpointDisabled,
    NotFound,
}

/// Makes the tenant's delivery `id` pending and due now, with a fresh
/// schedule, when its endpoint is enabled.
pub async fn replay(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
) -> Result<Replayed, sqlx::Error> {
    let replayed: Option<DeliveryRow> = sqlx::query_as(&format!(
        "WITH d AS (
             UPDATE webhook_deliveries d
                SET state = $3, next_attempt_at = now(), replayed_after = d.attempts,
                    updated_at = now()
               FROM webhook_endpoints e
              WHERE d.tenant_id = $1 AND d.id = $2 AND e.id = d.endpoint_id AND e.enabled
             RETURNING d.*
         )
         SELECT {DELIVERY_COLUMNS} FROM d JOIN webhook_events ev ON ev.event_id = d.event_id"
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(DeliveryState::Pending)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = replayed {
        return Ok(Replayed::Pending(row));
    }
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2)",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_one(conn)
    .await?;
    Ok(if exists {
        Replayed::EndpointDisabled
    } else {
        Replayed::NotFound
    })
}
