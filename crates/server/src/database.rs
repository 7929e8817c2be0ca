use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::settings::DatabaseSettings;

/// A lazy pool whose connections see only `schema` (and `public`), so each
/// service's tables, outbox and migration history live in its own schema.
pub fn pool(settings: &DatabaseSettings, schema: &str) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(settings.url.expose())?
        .options([("search_path", schema)])
        .application_name(&format!("earshot-{schema}"));
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .connect_lazy_with(options))
}

/// Waits for the database to answer (it may still be starting), then creates
/// the schema and applies the outbox/inbox migrations and the service's own.
/// Only an unreachable database is waited for; any other error stops start-up.
pub async fn prepare(
    pool: &PgPool,
    schema: &str,
    service_migrations: &Migrator,
    startup_timeout: Duration,
) -> anyhow::Result<()> {
    prepare_with(pool, schema, &[], service_migrations, startup_timeout).await
}

/// [`prepare`], with the migrations of shared crates (`shared`) applied
/// between the outbox's and the service's.
pub async fn prepare_with(
    pool: &PgPool,
    schema: &str,
    shared: &[&Migrator],
    service_migrations: &Migrator,
    startup_timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + startup_timeout;
    let mut delay = Duration::from_millis(100);
    loop {
        match sqlx::query("SELECT 1").execute(pool).await {
            Ok(_) => break,
            Err(e)
                if crate::error::is_transient(&e)
                    && tokio::time::Instant::now() + delay < deadline =>
            {
                tracing::warn!(schema, error = %e, retry_in_ms = delay.as_millis() as u64, "database not reachable yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "the database did not answer within {startup_timeout:?}"
                )));
            }
        }
    }
    migrate(pool, schema, shared, service_migrations)
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("migrating schema {schema}")))
}

async fn migrate(
    pool: &PgPool,
    schema: &str,
    shared: &[&Migrator],
    service_migrations: &Migrator,
) -> Result<(), sqlx::migrate::MigrateError> {
    // Schema names are compile-time constants of each service, never user input.
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .execute(pool)
        .await
        .or_else(|e| match &e {
            // Two replicas creating the schema at once: the loser's work is done.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
                Ok(Default::default())
            }
            _ => Err(e),
        })?;
    let combined = Migrator {
        migrations: Cow::Owned(
            earshot_outbox::MIGRATOR
                .iter()
                .chain(shared.iter().flat_map(|m| m.iter()))
                .chain(service_migrations.iter())
                .cloned()
                .collect(),
        ),
        ..Migrator::DEFAULT
    };
    combined.run(pool).await
}

/// Creates `name` on the server `admin_url` points at, unless it exists.
/// `name` must be a plain identifier (letters, digits, underscores).
pub async fn create_database_if_missing(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = admin_connection(admin_url, name).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let created = sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await;
        match created {
            Ok(_) => {}
            // Created concurrently by someone else: what we wanted.
            Err(sqlx::Error::Database(db))
                if matches!(db.code().as_deref(), Some("42P04" | "23505")) => {}
            Err(e) => return Err(e.into()),
        }
    }
    sqlx::Connection::close(conn).await?;
    Ok(())
}

/// Drops database `name` on the server of `admin_url`, closing the sessions
/// still connected to it.
pub async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = admin_connection(admin_url, name).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    sqlx::Connection::close(conn).await?;
    Ok(())
}

/// A connection to the server of `admin_url`, to create or drop database
/// `name` (checked first: it is spliced into the statement).
async fn admin_connection(admin_url: &str, name: &str) -> anyhow::Result<sqlx::PgConnection> {
    anyhow::ensure!(
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "database name {name:?} must be letters, digits and underscores"
    );
    let options = PgConnectOptions::from_str(admin_url)?;
    Ok(sqlx::ConnectOptions::connect(&options).await?)
}
