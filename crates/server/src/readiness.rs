//! Readiness: `grpc.health.v1` says NOT_SERVING while the service cannot
//! reach its database and SERVING again when it can, so that a load balancer
//! routes around a replica that would only answer `UNAVAILABLE`. Liveness is
//! a separate health name, [`LIVENESS`], SERVING for as long as the process
//! serves at all: a database outage is no reason to restart the service.
//!
//! The probe holds a connection of its own rather than borrowing one from
//! the pool: a pool busy with real work (every connection taken at full
//! load) must not read as an unreachable database and take a healthy replica
//! out of rotation exactly when it is needed.

use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// Health name that stays SERVING while the process serves: point a
/// liveness check here, a readiness check at `""` or the service's name.
pub const LIVENESS: &str = "liveness";

/// Sets every readiness name (`""` and the service's gRPC names) to `status`.
pub async fn set(reporter: &HealthReporter, names: &[&str], status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for name in names {
        reporter.set_service_status(*name, status).await;
    }
}

/// Whether the database answers within `timeout`, on `conn` (opened first
/// when there is none; dropped when it fails, so the next probe reconnects).
async fn reachable(
    conn: &mut Option<PgConnection>,
    options: &PgConnectOptions,
    timeout: Duration,
) -> Result<(), String> {
    let probe = async {
        if conn.is_none() {
            *conn = Some(PgConnection::connect_with(options).await?);
        }
        match conn.as_mut() {
            Some(c) => c.ping().await,
            None => Ok(()),
        }
    };
    match tokio::time::timeout(timeout, probe).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            *conn = None;
            Err(e.to_string())
        }
        Err(_) => {
            *conn = None;
            Err(format!("no answer within {timeout:?}"))
        }
    }
}

/// Probes the database every `interval` until `stop`, flipping the
/// readiness names when reachability changes. The service starts SERVING
/// (start-up waited for the database); the caller sets the final status.
pub async fn probe(
    options: PgConnectOptions,
    reporter: HealthReporter,
    names: &'static [&'static str],
    interval: Duration,
    stop: CancellationToken,
) {
    let mut conn = None;
    let mut serving = true;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        // A probe slower than the interval is as good as no answer.
        let outcome = tokio::select! {
            () = stop.cancelled() => break,
            outcome = reachable(&mut conn, &options, interval.max(Duration::from_millis(500))) => outcome,
        };
        match (outcome, serving) {
            (Err(error), true) => {
                tracing::warn!(%error, "database unreachable: health NOT_SERVING");
                set(&reporter, names, ServingStatus::NotServing).await;
                serving = false;
            }
            (Ok(()), false) => {
                tracing::info!("database reachable again: health SERVING");
                set(&reporter, names, ServingStatus::Serving).await;
                serving = true;
            }
            _ => {}
        }
    }
    if let Some(conn) = conn {
        let _ = conn.close().await;
    }
}
