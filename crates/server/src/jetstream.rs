//! The consumer side of the JetStream transport: for each producer a
//! service hears, a durable pull consumer (named after the service, so its
//! replicas share it) on the producer's stream. Each message is one outbox
//! batch; it is taken as a gRPC delivery would be ([`crate::sink::take`]:
//! checks, inbox, handler, one transaction) and acknowledged only after that
//! transaction committed. A failure (the database away) asks JetStream to
//! deliver it again after a backoff; a batch that can never be taken (not a
//! batch, or refused by the checks) is terminated and logged, never retried
//! for ever.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use earshot_outbox::transport::stream_config;
use earshot_proto::events::v1::EventBatch;
use futures_util::StreamExt;
use prost::Message as _;
use tokio_util::sync::CancellationToken;

use crate::error::ServiceError;
use crate::sink::{EventHandler, take};
use crate::{BackgroundTask, ServiceContext};

/// Messages fetched per round, and how long a round waits for them.
const FETCH_BATCH: usize = 16;
const FETCH_WAIT: Duration = Duration::from_millis(500);
/// How long JetStream waits for an ack before delivering a message again.
const ACK_WAIT: Duration = Duration::from_secs(30);
/// Backoff after a failed round (NATS away, the database away).
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// The consumers of `handler`'s producers' streams, when the service's events
/// travel over JetStream; none over gRPC (the `EventSink` serves then).
pub fn consumers<H: EventHandler>(ctx: &ServiceContext, handler: H) -> Vec<BackgroundTask> {
    let Some(client) = ctx.nats.clone() else {
        return Vec::new();
    };
    // One handler for all the producers' consumers, its caches shared.
    let handler = Arc::new(handler);
    H::PRODUCERS
        .iter()
        .map(|producer| {
            let (ctx, handler, client) = (ctx.clone(), handler.clone(), client.clone());
            BackgroundTask::new("jetstream consumer", move |stop| {
                consume(ctx, handler, client, producer, stop)
            })
        })
        .collect()
}

async fn consume<H: EventHandler>(
    ctx: ServiceContext,
    handler: Arc<H>,
    client: async_nats::Client,
    producer: &'static str,
    stop: CancellationToken,
) {
    let context = jetstream::new(client);
    let mut consumer = None;
    tracing::info!(
        service = ctx.service,
        producer,
        "jetstream consumer started"
    );
    while !stop.is_cancelled() {
        let round = async {
            let c = match &consumer {
                Some(c) => c,
                None => consumer.insert(durable(&context, producer, ctx.service).await?),
            };
            take_round(&ctx, handler.as_ref(), c).await
        };
        let failed = tokio::select! {
            () = stop.cancelled() => break,
            result = round => result.err(),
        };
        if let Some(e) = failed {
            tracing::warn!(service = ctx.service, producer, error = %e, "jetstream round failed");
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(RETRY_AFTER) => {}
            }
        }
    }
    tracing::info!(
        service = ctx.service,
        producer,
        "jetstream consumer stopped"
    );
}

/// The service's durable consumer on the producer's stream, made if missing.
async fn durable(
    context: &jetstream::Context,
    producer: &str,
    service: &str,
) -> Result<jetstream::consumer::Consumer<pull::Config>, String> {
    let stream = context
        .get_or_create_stream(stream_config(producer))
        .await
        .map_err(|e| format!("stream of {producer}: {e}"))?;
    stream
        .get_or_create_consumer(
            service,
            pull::Config {
                durable_name: Some(service.to_owned()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("consumer {service} of {producer}: {e}"))
}

/// Takes what one fetch brings, acknowledging each batch once it is handled.
async fn take_round<H: EventHandler>(
    ctx: &ServiceContext,
    handler: &H,
    consumer: &jetstream::consumer::Consumer<pull::Config>,
) -> Result<(), String> {
    let mut messages = consumer
        .fetch()
        .max_messages(FETCH_BATCH)
        .expires(FETCH_WAIT)
        .messages()
        .await
        .map_err(|e| format!("fetch: {e}"))?;
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| format!("message: {e}"))?;
        let ack = match EventBatch::decode(message.payload.as_ref()) {
            Err(e) => {
                tracing::error!(service = ctx.service, subject = %message.subject, error = %e, "not an event batch: dropped");
                AckKind::Term
            }
            Ok(batch) => match take(&ctx.pool, &ctx.outbox, handler, batch.events).await {
                Ok(_) => AckKind::Ack,
                Err(ServiceError::InvalidArgument(violations)) => {
                    tracing::error!(service = ctx.service, subject = %message.subject, %violations, "a batch this service cannot take: dropped");
                    AckKind::Term
                }
                Err(e) => {
                    tracing::warn!(service = ctx.service, error = %e, "batch not taken: JetStream delivers it again");
                    AckKind::Nak(Some(RETRY_AFTER))
                }
            },
        };
        message
            .ack_with(ack)
            .await
            .map_err(|e| format!("ack: {e}"))?;
    }
    Ok(())
}
