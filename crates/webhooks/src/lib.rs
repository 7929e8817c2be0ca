//! Webhooks for any service's events, signed per
//! [Standard Webhooks](https://www.standardwebhooks.com): a tenant subscribes
//! an endpoint to some of the event types the service offers, and each such
//! event is POSTed to it, signed, and retried for about a day.
//!
//! Webhooks are one more consumer of the service's outbox, inside the
//! service: the outbox gets a *local* subscriber, [`SUBSCRIBER`], so every
//! committed batch of events also gets a delivery row for it. Two jobs then
//! run on a scheduler of their own:
//!
//! - **fan-out** claims those outbox rows (`FOR UPDATE SKIP LOCKED`, as the
//!   relay does), renders each event the service offers once (its body is
//!   stored, so retries and replays send the same bytes), and writes one
//!   delivery per enabled endpoint of the event's tenant that hears its type
//!   (a drill's events only to endpoints that accept drills). A delivery is
//!   unique per endpoint and event, so a redelivered batch adds nothing.
//! - **delivery** claims due deliveries, POSTs them a bounded number at a
//!   time, each within the attempt timeout, and records every attempt. 2xx
//!   delivers; 410 Gone disables the endpoint and its pending deliveries;
//!   anything else is tried again on [`RetrySchedule`] (never sooner than a
//!   `Retry-After` asks) until the schedule is spent and the delivery fails.
//!
//! Delivery is **at least once**: a crash (or a lost connection to the
//! database) after an endpoint answered but before the round committed
//! leaves the delivery pending, and it is sent again. Every attempt at one
//! delivery, replays included, carries the same `webhook-id`, so a receiver
//! that remembers the ids it handled drops the repeats.
//!
//! A service wires it in four places:
//!
//! ```ignore
//! static WEBHOOKS: LazyLock<Webhooks> =
//!     LazyLock::new(|| Webhooks::new(&["escalation.raised", "incident.opened"]));
//!
//! impl Service for EscalationService {
//!     const LOCAL_SUBSCRIBERS: &'static [&'static str] = &[earshot_webhooks::SUBSCRIBER];
//!     fn shared_migrators() -> &'static [&'static Migrator] {
//!         static SHARED: [&Migrator; 1] = [&earshot_webhooks::MIGRATOR];
//!         &SHARED
//!     }
//!     fn background(ctx: &ServiceContext) -> Vec<BackgroundTask> {
//!         let settings = WebhookSettings::from_env(&Env::process()).expect("valid webhook settings");
//!         vec![/* its own scheduler */, WEBHOOKS.background(ctx, settings)]
//!     }
//! }
//! // and each RPC: WEBHOOKS.create_endpoint(&pool, &tenant, request.into_inner()).await?
//! ```

mod check;
mod delivery;
mod fanout;
mod prune;
mod schedule;
mod settings;
mod signing;
mod store;
mod types;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use earshot_proto::common::v1::{
    CreateWebhookEndpointRequest, CreateWebhookEndpointResponse, DeleteWebhookEndpointRequest,
    DeleteWebhookEndpointResponse, ListWebhookDeliveriesRequest, ListWebhookDeliveriesResponse,
    ListWebhookEndpointsRequest, ListWebhookEndpointsResponse, ReplayWebhookDeliveryRequest,
    ReplayWebhookDeliveryResponse, RotateWebhookSecretRequest, RotateWebhookSecretResponse,
    UpdateWebhookEndpointRequest, UpdateWebhookEndpointResponse, WebhookAttempt, WebhookDelivery,
    WebhookDeliveryState, WebhookEndpoint,
};
use earshot_server::convert::timestamp;
use earshot_server::scheduler::{Job, named_scheduler};
use earshot_server::{BackgroundTask, Page, ServiceContext, ServiceError};
use sqlx::PgPool;
use uuid::Uuid;

pub use delivery::{Deliver, GONE_REASON, Signed, http_client, sign_delivery};
pub use fanout::FanOut;
pub use prune::Prune;
pub use schedule::{Answer, MAX_RETRY_AFTER, RetrySchedule, Verdict, judge, parse_retry_after};
pub use settings::{
    CONCURRENCY_VAR, KEEP_DAYS_VAR, POLL_VAR, RETRY_SCALE_VAR, TIMEOUT_VAR, WebhookSettings,
};
pub use signing::{SECRET_PREFIX, key_of, new_secret, sign, signature_header};
pub use types::{RenderError, Rendered, event_type, known_event_types, render, type_name};

/// The seven webhook RPCs of a service, inside its `#[tonic::async_trait]`
/// server impl: each reads the caller's tenant and calls the service's
/// [`Webhooks`] with the service's pool, so every service's webhook calls
/// behave alike and none writes them out again.
///
/// ```ignore
/// #[tonic::async_trait]
/// impl CaseService for Cases {
///     // `ctx`: the field holding the service's `ServiceContext`.
///     earshot_webhooks::grpc_methods!(crate::WEBHOOKS, ctx);
///     // the service's own RPCs…
/// }
/// ```
///
/// The methods are written as `async_trait` writes its own (the attribute
/// does not see into macros), hence the boxed futures.
#[macro_export]
macro_rules! grpc_methods {
    ($webhooks:path, $ctx:ident) => {
        $crate::grpc_methods!(@each $webhooks, $ctx,
            create_webhook_endpoint / create_endpoint:
                CreateWebhookEndpointRequest -> CreateWebhookEndpointResponse,
            list_webhook_endpoints / list_endpoints:
                ListWebhookEndpointsRequest -> ListWebhookEndpointsResponse,
            update_webhook_endpoint / update_endpoint:
                UpdateWebhookEndpointRequest -> UpdateWebhookEndpointResponse,
            rotate_webhook_secret / rotate_secret:
                RotateWebhookSecretRequest -> RotateWebhookSecretResponse,
            delete_webhook_endpoint / delete_endpoint:
                DeleteWebhookEndpointRequest -> DeleteWebhookEndpointResponse,
            list_webhook_deliveries / list_deliveries:
                ListWebhookDeliveriesRequest -> ListWebhookDeliveriesResponse,
            replay_webhook_delivery / replay_delivery:
                ReplayWebhookDeliveryRequest -> ReplayWebhookDeliveryResponse,
        );
    };
    (@each $webhooks:path, $ctx:ident, $($rpc:ident / $call:ident: $req:ident -> $resp:ident,)+) => {
        $(
            fn $rpc<'life0, 'async_trait>(
                &'life0 self,
                request: ::tonic::Request<::earshot_proto::common::v1::$req>,
            ) -> ::core::pin::Pin<Box<dyn ::core::future::Future<
                Output = Result<::tonic::Response<::earshot_proto::common::v1::$resp>, ::tonic::Status>,
            > + Send + 'async_trait>>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                Box::pin(async move {
                    let tenant = ::earshot_auth::caller(&request)?.tenant_id.clone();
                    let answer = $webhooks
                        .$call(&self.$ctx.pool, &tenant, request.into_inner())
                        .await?;
                    Ok(::tonic::Response::new(answer))
                })
            }
        )+
    };
}

/// The name of the outbox's local subscriber that webhooks consume.
pub const SUBSCRIBER: &str = "webhooks";

/// The webhook tables, applied in the schema of each service that offers
/// webhooks (see `earshot_server::Service::shared_migrators`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long a rotated-out secret keeps signing beside the new one.
pub const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 60 * 60);

/// Endpoints one tenant may have (per service).
pub const MAX_ENDPOINTS_PER_TENANT: i64 = 50;

/// Attempts shown per delivery in a listing: the latest ones.
pub const ATTEMPTS_SHOWN: i64 = 20;

/// One service's webhooks: the event types it offers, the calls tenants
/// make on their endpoints, and the background work that delivers.
#[derive(Debug, Clone)]
pub struct Webhooks {
    offered: Arc<[&'static str]>,
}

impl Webhooks {
    /// Webhooks offering `event_types` (e.g. `"escalation.raised"`). Each
    /// must be a type of `earshot.events.v1.Event` ([`known_event_types`]);
    /// a service naming another is a bug, and this panics.
    pub fn new(event_types: &[&'static str]) -> Self {
        let known = known_event_types();
        for kind in event_types {
            assert!(
                known.contains(kind),
                "{kind:?} is not an event type; these are: {known:?}"
            );
        }
        Self {
            offered: event_types.iter().copied().collect(),
        }
    }

    /// The event types tenants may subscribe to.
    pub fn offered(&self) -> &[&'static str] {
        &self.offered
    }

    /// The fan-out and delivery jobs, for a scheduler of the caller's.
    pub fn jobs(&self, settings: &WebhookSettings) -> Vec<Arc<dyn Job>> {
        vec![
            Arc::new(FanOut {
                offered: self.offered.clone(),
            }),
            Arc::new(Deliver::new(settings.clone())),
            Arc::new(Prune {
                keep: settings.keep,
            }),
        ]
    }

    /// The jobs on a scheduler of their own: a round waits on tenants'
    /// endpoints (up to the attempt timeout), and that must never hold up
    /// the service's other timed work, such as escalation ladders.
    ///
    /// Panics unless the service's outbox has the [`SUBSCRIBER`] (list it
    /// in `Service::LOCAL_SUBSCRIBERS`): without it nothing would be sent.
    pub fn background(&self, ctx: &ServiceContext, settings: WebhookSettings) -> BackgroundTask {
        assert!(
            ctx.outbox
                .local_subscribers()
                .iter()
                .any(|s| s == SUBSCRIBER),
            "webhooks need the outbox's local subscriber {SUBSCRIBER:?}: \
             add earshot_webhooks::SUBSCRIBER to Service::LOCAL_SUBSCRIBERS"
        );
        named_scheduler(
            "webhooks",
            ctx.pool.clone(),
            ctx.outbox.clone(),
            settings.scheduler(),
            self.jobs(&settings),
        )
    }

    /// [`Webhooks::background`] with the settings of the process
    /// environment (`EARSHOT_WEBHOOK_*`), as every service runs it.
    ///
    /// Panics when they are invalid: a service must not start half-configured.
    pub fn background_from_env(&self, ctx: &ServiceContext) -> BackgroundTask {
        let settings = WebhookSettings::from_env(&earshot_config::Env::process())
            .expect("webhook settings (EARSHOT_WEBHOOK_*) are valid");
        self.background(ctx, settings)
    }

    /// Creates an endpoint, once per `request_id`, and shows its secret.
    #[tracing::instrument(skip_all, fields(tenant_id, request_id = %req.request_id))]
    pub async fn create_endpoint(
        &self,
        pool: &PgPool,
        tenant_id: &str,
        req: CreateWebhookEndpointRequest,
    ) -> Result<CreateWebhookEndpointResponse, ServiceError> {
        let new = check::create(&req, &self.offered)?;
        let secret = new_secret();
        let mut conn = pool.acquire().await?;
        // A retry: the endpoint the first call created, as it is now.
        if let Some(done) =
            store::endpoint_by_request(&mut conn, tenant_id, &new.request_id).await?
        {
            return Ok(created_to_proto(done));
        }
        // Every endpoint multiplies the tenant's events: their number is
        // bounded. Concurrent creates may pass the count together; the
        // bound is on work, not an exact quota.
        let existing = store::endpoint_count(&mut conn, tenant_id).await?;
        if existing >= MAX_ENDPOINTS_PER_TENANT {
            return Err(ServiceError::FailedPrecondition(format!(
                "the tenant has {existing} webhook endpoints, the most allowed; delete one first"
            )));
        }
        let created = match store::insert_endpoint(&mut conn, tenant_id, &new, &secret).await? {
            Some(endpoint) => store::EndpointWithSecret { endpoint, secret },
            // A concurrent call with the same request_id created it first.
            None => store::endpoint_by_request(&mut conn, tenant_id, &new.request_id)
                .await?
                .ok_or_else(|| {
                    ServiceError::Aborted(format!(
                        "the endpoint of request {} was deleted as it was created; retry",
                        new.request_id
                    ))
                })?,
        };
        Ok(created_to_proto(created))
    }

    /// The tenant's endpoints, oldest first.
    #[tracing::instrument(skip_all, fields(tenant_id))]
    pub async fn list_endpoints(
        &self,
        pool: &PgPool,
        tenant_id: &str,
        req: ListWebhookEndpointsRequest,
    ) -> Result<ListWebhookEndpointsResponse, ServiceError> {
        let page = Page::parse(req.page_size, &req.page_token)?;
        let rows = store::list_endpoints(pool, tenant_id, page.after.as_ref(), page.limit).await?;
        let next_page_token = page.next_token(&rows);
        Ok(ListWebhookEndpointsResponse {
            endpoints: rows.into_iter().map(endpoint_to_proto).collect(),
            next_page_token,
        })
    }

    /// Replaces an endpoint's settings at the version the caller read.
    /// Disabling it marks its pending deliveries DISABLED.
    #[tracing::instrument(skip_all, fields(tenant_id, endpoint_id = %req.endpoint_id))]
    pub async fn update_endpoint(
        &self,
        pool: &PgPool,
        tenant_id: &str,
        req: UpdateWebhookEndpointRequest,
    ) -> Result<UpdateWebhookEndpointResponse, ServiceError> {
        let change = check::update(&req, &self.offered)?;
        let mut tx = pool.begin().await?;
        let Some(row) = store::update_endpoint(&mut tx, tenant_id, &change).await? else {
            let current = store::endpoint_version(&mut tx, tenant_id, change.endpoint_id).await?;
            return Err(stale(change.endpoint_id, change.expected_version, current));
        };
        if !row.enabled {
            store::disable_pending(&mut tx, &[row.id]).await?;
        }
        tx.commit().await?;
        Ok(UpdateWebhookEndpointResponse {
            endpoint: Some(endpoint_to_proto(row)),
        })
    }

    /// A new secret for an endpoint; the previous one keeps signing beside
    /// it for [`ROTATION_OVERLAP`].
    #[tracing::instrument(skip_all, fields(tenant_id, endpoint_id = %req.endpoint_id))]
    pub async fn rotate_secret(
        &self,
        pool: &PgPool,
        tenant_id: &str,
        req: RotateWebhookSecretRequest,
    ) -> Result<RotateWebhookSecretResponse, ServiceError> {
        let endpoint_id = check::id(&req.endpoint_id, "endpoint_id")?;
        let secret = new_secret();
        let mut conn = pool.acquire().await?;
        let rotated = store::rotate_secret(
            &mut conn,
            tenant_id,
            endpoint_id,
            &secret,
            ROTATION_OVERLAP.as_secs_f64(),
        )
        .await?
        .ok_or_else(|| not_found(endpoint_id))?;
        Ok(RotateWebhookSecretResponse {
            endpoint: Some(endpoint_to_proto(rotated.endpoint)),
            secret,
            previous_secret_expires_at: Some(timestamp(rotated.previous_secret_expires_at)),
        })
    }

    /// Deletes an endpoint with its deliveries.
    #[tracing::instrument(skip_all, fields(tenant_id, endpoint_id = %req.endpoint_id))]
    pub async fn delete_endpoint(
        &self,
        pool: &PgPool,
        tenant_id: &str,
        req: DeleteWebhookEndpointRequest,
    ) -> Result<DeleteWebhookEndpointResponse, ServiceError> {
        let deletion = check::delete(&req)?;
        let mut conn = pool.acquire().await?;
        if !store::delete_endpoint(&mut conn, tenant_id, deletion).await? {
            let current =
                store::endpoint_version(&mut conn, tenant_id, deletion.endpoint_id).await?;
            return Err(stale(
                deletion.endpoint_id,
                deletion.expected_version.unwrap_or(0),
                current,
            ));
        }
        Ok(DeleteWebhookEndpointResponse {})
    }

    /// The tenant's deliveries (of one endpoint, if named), newest first,
    /// each with its latest attempts.
    #[tracing::instrument(skip_all, fields(tenant_id, endpoint_id = %req.endpoint_id))]
    pub async fn list_deliveries(
        &self,
        pool: &PgPool,
        tenant_id: &str,
        req: ListWebhookDeliveriesRequest,
    ) -> Result<ListWebhookDeliveriesResponse, ServiceError> {
        let query = check::deliveries(&req)?;
        let rows = store::list_deliveries(
            pool,
            tenant_id,
            query.endpoint_id,
            query.page.after.as_ref(),
            query.page.limit,
        )
        .await?;
        let next_page_token = query.page.next_token(&rows);
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let attempts = store::recent_attempts(pool, tenant_id, &ids, ATTEMPTS_SHOWN).await?;
        Ok(ListWebhookDeliveriesResponse {
            deliveries: deliveries_to_proto(rows, attempts),
            next_page_token,
        })
    }

    /// Sends a delivery again with the same `webhook-id` and body.
    #[tracing::instrument(skip_all, fields(tenant_id, delivery_id = %req.delivery_id))]
    pub async fn replay_delivery(
        &self,
        pool: &PgPool,
        tenant_id: &str,
        req: ReplayWebhookDeliveryRequest,
    ) -> Result<ReplayWebhookDeliveryResponse, ServiceError> {
        let delivery_id = check::id(&req.delivery_id, "delivery_id")?;
        let mut tx = pool.begin().await?;
        let row = match store::replay(&mut tx, tenant_id, delivery_id).await? {
            store::Replayed::Pending(row) => row,
            store::Replayed::EndpointDisabled => {
                return Err(ServiceError::FailedPrecondition(format!(
                    "the endpoint of webhook delivery {delivery_id} is disabled; enable it first"
                )));
            }
            store::Replayed::NotFound => {
                return Err(ServiceError::NotFound(format!(
                    "webhook delivery {delivery_id}"
                )));
            }
        };
        let attempts =
            store::recent_attempts(&mut *tx, tenant_id, &[row.id], ATTEMPTS_SHOWN).await?;
        tx.commit().await?;
        Ok(ReplayWebhookDeliveryResponse {
            delivery: deliveries_to_proto(vec![row], attempts).pop(),
        })
    }
}

fn not_found(endpoint_id: Uuid) -> ServiceError {
    ServiceError::NotFound(format!("webhook endpoint {endpoint_id}"))
}

/// Why a change at `expected` did not apply: the endpoint is gone, or at
/// another version.
fn stale(endpoint_id: Uuid, expected: i64, current: Option<i64>) -> ServiceError {
    match current {
        None => not_found(endpoint_id),
        Some(current) => ServiceError::Aborted(format!(
            "webhook endpoint {endpoint_id} is at version {current}, not {expected}: read it again"
        )),
    }
}

fn created_to_proto(created: store::EndpointWithSecret) -> CreateWebhookEndpointResponse {
    CreateWebhookEndpointResponse {
        endpoint: Some(endpoint_to_proto(created.endpoint)),
        secret: created.secret,
    }
}

fn endpoint_to_proto(row: store::EndpointRow) -> WebhookEndpoint {
    WebhookEndpoint {
        endpoint_id: row.id.to_string(),
        url: row.url,
        event_types: row.event_types,
        accept_drills: row.accept_drills,
        enabled: row.enabled,
        disabled_reason: row.disabled_reason,
        description: row.description,
        version: row.version,
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
        secret_rotated_at: row.secret_rotated_at.map(timestamp),
    }
}

fn state_to_proto(state: store::DeliveryState) -> WebhookDeliveryState {
    match state {
        store::DeliveryState::Pending => WebhookDeliveryState::Pending,
        store::DeliveryState::Delivered => WebhookDeliveryState::Delivered,
        store::DeliveryState::Failed => WebhookDeliveryState::Failed,
        store::DeliveryState::Disabled => WebhookDeliveryState::Disabled,
    }
}

fn deliveries_to_proto(
    rows: Vec<store::DeliveryRow>,
    attempts: Vec<store::AttemptRow>,
) -> Vec<WebhookDelivery> {
    let mut by_delivery: HashMap<Uuid, Vec<WebhookAttempt>> = HashMap::new();
    for a in attempts {
        by_delivery
            .entry(a.delivery_id)
            .or_default()
            .push(WebhookAttempt {
                attempt: u32::try_from(a.attempt).unwrap_or(0),
                at: Some(timestamp(a.at)),
                status_code: a
                    .status_code
                    .and_then(|s| u32::try_from(s).ok())
                    .unwrap_or(0),
                error: a.error,
                duration_ms: u32::try_from(a.duration_ms).unwrap_or(0),
            });
    }
    rows.into_iter()
        .map(|row| WebhookDelivery {
            delivery_id: row.id.to_string(),
            endpoint_id: row.endpoint_id.to_string(),
            event_id: row.event_id.to_string(),
            event_type: row.event_type,
            drill: row.drill,
            state: state_to_proto(row.state) as i32,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            next_attempt_at: (row.state == store::DeliveryState::Pending)
                .then(|| timestamp(row.next_attempt_at)),
            last_status: row
                .last_status
                .and_then(|s| u32::try_from(s).ok())
                .unwrap_or(0),
            recent_attempts: by_delivery.remove(&row.id).unwrap_or_default(),
            created_at: Some(timestamp(row.created_at)),
        })
        .collect()
}
