//! The delivery job: POSTs due deliveries, signed, a bounded number at once,
//! and records every attempt and where each delivery stands after it.
//!
//! A round holds its deliveries' row locks while it waits for the
//! endpoints (at most one attempt timeout): the lock is the lease that keeps
//! replicas from sending the same delivery at once, and a crash releases it,
//! so the attempt is made again (at least once; receivers drop repeats by
//! `webhook-id`).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use earshot_outbox::Outbox;
use earshot_server::scheduler::Job;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::schedule::{Answer, Verdict, judge, parse_retry_after};
use crate::settings::WebhookSettings;
use crate::signing::{key_of, signature_header};
use crate::store::{self, Attempted, DeliveryState, DueDelivery};

/// Why an endpoint that answered 410 Gone was disabled.
pub const GONE_REASON: &str = "the endpoint answered 410 Gone";

/// The HTTP client of webhook deliveries: rustls with the ring provider and
/// webpki's roots, no redirects followed (a 3xx is a failed attempt, so a
/// delivery never lands where the tenant did not point it), no proxy from
/// the environment, and the attempt timeout.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports rustls's default protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .user_agent(concat!("earshot-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with a preconfigured rustls backend builds")
}

/// The headers of one attempt at a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
}

/// Signs `body` for delivery `id` at `timestamp` with the endpoint's secret
/// and, while it still signs, the one rotated out before it.
pub fn sign_delivery(
    id: Uuid,
    timestamp: i64,
    body: &str,
    secret: &str,
    previous: Option<&str>,
) -> Signed {
    let keys: Vec<Vec<u8>> = std::iter::once(secret)
        .chain(previous)
        .filter_map(key_of)
        .collect();
    let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let id = id.to_string();
    Signed {
        signature: signature_header(&keys, &id, timestamp, body.as_bytes()),
        id,
        timestamp,
    }
}

/// What one POST came to.
struct Posted {
    at: DateTime<Utc>,
    answer: Answer,
    error: String,
    duration: Duration,
}

async fn post(client: &reqwest::Client, due: &DueDelivery, timeout: Duration) -> Posted {
    let at = Utc::now();
    let signed = sign_delivery(
        due.id,
        at.timestamp(),
        &due.body,
        &due.secret,
        due.previous_secret.as_deref(),
    );
    let started = Instant::now();
    let sent = client
        .post(&due.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &signed.id)
        .header("webhook-timestamp", signed.timestamp.to_string())
        .header("webhook-signature", &signed.signature)
        .body(due.body.clone())
        .send()
        .await;
    let duration = started.elapsed();
    match sent {
        Ok(response) => {
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            Posted {
                at,
                answer: Answer::Status {
                    code: status.as_u16(),
                    retry_after,
                },
                error: if status.is_success() {
                    String::new()
                } else {
                    format!("answered {status}")
                },
                duration,
            }
        }
        Err(e) => Posted {
            at,
            answer: Answer::Unanswered,
            error: describe(&e, timeout),
            duration,
        },
    }
}

/// What went wrong with a request, for the tenant to read: the causes
/// without the URL (they know it).
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("timed out after {} ms", timeout.as_millis());
    }
    let mut text = if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub struct Deliver {
    pub(crate) client: reqwest::Client,
    pub(crate) settings: WebhookSettings,
}

impl Deliver {
    pub fn new(settings: WebhookSettings) -> Self {
        Self {
            client: http_client(settings.timeout),
            settings,
        }
    }

    /// One attempt at `due`, and its endpoint.
    async fn attempt(&self, due: &DueDelivery) -> (Uuid, Attempted) {
        let posted = post(&self.client, due, self.settings.timeout).await;
        (due.endpoint_id, self.outcome(due, posted))
    }

    fn outcome(&self, due: &DueDelivery, posted: Posted) -> Attempted {
        let failed_before = u32::try_from(due.attempts - due.replayed_after).unwrap_or(0);
        let unit = rand::random_range(-1.0..=1.0);
        let verdict = judge(&posted.answer, failed_before, &self.settings.schedule, unit);
        let (state, next_attempt_at) = match verdict {
            Verdict::Delivered => (DeliveryState::Delivered, posted.at),
            Verdict::Gone => (DeliveryState::Disabled, posted.at),
            Verdict::Failed => (DeliveryState::Failed, posted.at),
            Verdict::RetryIn(delay) => (
                DeliveryState::Pending,
                Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::days(1)),
            ),
        };
        Attempted {
            delivery_id: due.id,
            attempt: due.attempts + 1,
            at: posted.at,
            status_code: match posted.answer {
                Answer::Status { code, .. } => Some(i32::from(code)),
                Answer::Unanswered => None,
            },
            error: posted.error,
            duration_ms: i32::try_from(posted.duration.as_millis()).unwrap_or(i32::MAX),
            state,
            next_attempt_at,
        }
    }
}

impl Job for Deliver {
    fn name(&self) -> &'static str {
        "webhook delivery"
    }

    fn round<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Postgres>,
        _outbox: &'a Outbox,
        limit: i64,
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>> {
        Box::pin(async move {
            let due = store::claim_due(tx, limit).await?;
            if due.is_empty() {
                return Ok(0);
            }
            let concurrency = usize::try_from(self.settings.concurrency)
                .unwrap_or(1)
                .max(1);
            // Answers come back in any order: each carries its endpoint.
            // Made before streaming: a closure returning a future that
            // borrows its argument is not general enough for a Send round.
            let attempts: Vec<_> = due.iter().map(|d| self.attempt(d)).collect();
            let attempted: Vec<(Uuid, Attempted)> = futures_util::stream::iter(attempts)
                .buffer_unordered(concurrency)
                .collect()
                .await;
            let mut gone: Vec<Uuid> = attempted
                .iter()
                .filter(|(_, a)| a.state == DeliveryState::Disabled)
                .map(|(endpoint, _)| *endpoint)
                .collect();
            let attempted: Vec<Attempted> = attempted.into_iter().map(|(_, a)| a).collect();
            store::record_attempts(tx, &attempted).await?;
            gone.sort_unstable();
            gone.dedup();
            if !gone.is_empty() {
                tracing::info!(endpoints = ?gone, "webhook endpoints answered 410 Gone: disabled");
                store::disable_endpoints(tx, &gone, GONE_REASON).await?;
                store::disable_pending(tx, &gone).await?;
            }
            Ok(due.len() as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::sign;

    #[test]
    fn rotation_signs_with_both_secrets() {
        let id = Uuid::now_v7();
        let new = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let old = crate::signing::new_secret();
        let signed = sign_delivery(id, 42, "{}", new, Some(&old));
        let expected = [new, old.as_str()]
            .map(|s| sign(&key_of(s).expect("whsec"), &id.to_string(), 42, b"{}"));
        assert_eq!(signed.signature, expected.join(" "));
        assert_eq!(
            sign_delivery(id, 42, "{}", new, None).signature,
            expected[0]
        );
    }

    #[test]
    fn the_client_builds_without_a_process_wide_crypto_provider() {
        let _client = http_client(Duration::from_secs(1));
    }
}
