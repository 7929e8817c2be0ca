//! How a relay delivers outbox batches: pushed to a consumer's gRPC
//! `EventSink` (the default, one relay per subscriber), or published once to
//! the producer's NATS JetStream stream, which every consumer reads with a
//! durable pull consumer of its own (see `earshot_server::jetstream`).
//!
//! Either way delivery is at least once (a relay may crash after delivering
//! and before recording it) and consumers keep their inbox, so handling is
//! once; JetStream also drops a batch published again within its
//! de-duplication window, by the batch's message id.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream;
use bytes::Bytes;
use earshot_auth::TokenMinter;
use earshot_config::{ConfigError, Env, Secret};
use earshot_proto::events::v1::event_sink_client::EventSinkClient;
use earshot_proto::events::v1::{DeliverRequest, EventBatch};
use tonic::transport::{Channel, Endpoint};

use crate::Subscriber;

/// Messages between services carry whole batches; allow well past gRPC's 4 MiB default.
pub const MAX_EVENT_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

pub const TRANSPORT_VAR: &str = "EARSHOT_EVENT_TRANSPORT";
pub const NATS_URL_VAR: &str = "EARSHOT_NATS_URL";
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// The outbox subscriber a producer's JetStream relay delivers for: one row
/// per batch, whatever the number of consumers.
pub const JETSTREAM_SUBSCRIBER: &str = "jetstream";

/// How long JetStream remembers a batch's message id: a relay that
/// published and crashed before recording it publishes again well within it.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);
/// How long a stream keeps batches for consumers that are away.
pub const STREAM_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Which way events travel between services (`EARSHOT_EVENT_TRANSPORT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportSettings {
    /// `grpc` (default): each producer pushes to every subscriber in
    /// `EARSHOT_SUBSCRIBERS`.
    Grpc,
    /// `jetstream`: each producer publishes to its stream on the NATS server
    /// at `EARSHOT_NATS_URL` (default `nats://127.0.0.1:4222`), and each
    /// consumer reads the streams of the producers it hears.
    JetStream { url: Secret },
}

impl TransportSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        match env.get(TRANSPORT_VAR).as_deref() {
            None | Some("grpc") => Ok(Self::Grpc),
            Some("jetstream") => {
                let url = env.string_or(NATS_URL_VAR, DEFAULT_NATS_URL);
                if !(url.starts_with("nats://") || url.starts_with("tls://")) {
                    return Err(ConfigError::invalid(
                        NATS_URL_VAR,
                        "***",
                        "must start with nats:// or tls://",
                    ));
                }
                Ok(Self::JetStream {
                    url: Secret::new(url),
                })
            }
            Some(other) => Err(ConfigError::invalid(
                TRANSPORT_VAR,
                other,
                "must be grpc or jetstream",
            )),
        }
    }
}

/// The subject a producer's batches are published on.
pub fn subject(producer: &str) -> String {
    format!("earshot.events.{producer}")
}

/// The stream holding a producer's batches, the same on both sides: the
/// first of producer or consumer to start creates it.
pub fn stream_config(producer: &str) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: format!("EARSHOT_{}", producer.to_ascii_uppercase()),
        subjects: vec![subject(producer)],
        storage: jetstream::stream::StorageType::File,
        duplicate_window: DUPLICATE_WINDOW,
        max_age: STREAM_MAX_AGE,
        ..Default::default()
    }
}

/// A client of the NATS server that keeps trying to connect (and to
/// reconnect) in the background, so a service starts while NATS is away and
/// its batches wait in the outbox until it is back.
pub async fn connect(url: &Secret) -> Result<async_nats::Client, DeliveryError> {
    async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(2))
        .connect(url.expose())
        .await
        .map_err(|e| DeliveryError(format!("NATS: {e}")))
}

/// One outbox batch on its way: its id, its encoded payload as stored, and
/// its events decoded.
pub struct OutgoingBatch {
    pub batch_id: i64,
    pub payload: Bytes,
    pub batch: EventBatch,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(pub String);

/// Where a relay delivers.
pub trait Transport: Send + 'static {
    /// For logs: the consumer's address, or the stream's subject.
    fn target(&self) -> String;

    /// Delivers the batches, in order, or fails as a whole; a retry may
    /// deliver some of them again.
    fn deliver(
        &mut self,
        batches: Vec<OutgoingBatch>,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

/// How a relay proves itself to consumers: a token from the environment
/// (`EARSHOT_SERVICE_TOKEN`), or one minted with the shared development secret.
#[derive(Clone)]
pub enum TokenSource {
    Static(Secret),
    Minted {
        minter: TokenMinter,
        subject: String,
    },
}

impl TokenSource {
    fn bearer(&self) -> String {
        match self {
            Self::Static(token) => format!("Bearer {}", token.expose()),
            Self::Minted { minter, subject } => format!(
                "Bearer {}",
                minter.mint_service(subject, Duration::from_secs(300))
            ),
        }
    }
}

/// Pushes to a subscriber's `EventSink.Deliver`, the batches' events in one call.
pub struct GrpcPush {
    url: String,
    client: EventSinkClient<Channel>,
    token: TokenSource,
}

impl GrpcPush {
    pub fn new(
        subscriber: &Subscriber,
        call_timeout: Duration,
        token: TokenSource,
    ) -> Result<Self, ConfigError> {
        let endpoint = Endpoint::from_shared(subscriber.url.clone())
            .map_err(|e| ConfigError::invalid(crate::SUBSCRIBERS_VAR, &subscriber.url, e))?
            .connect_timeout(Duration::from_secs(2))
            .timeout(call_timeout);
        let client = EventSinkClient::new(endpoint.connect_lazy())
            .max_encoding_message_size(MAX_EVENT_MESSAGE_BYTES)
            .max_decoding_message_size(MAX_EVENT_MESSAGE_BYTES);
        Ok(Self {
            url: subscriber.url.clone(),
            client,
            token,
        })
    }
}

impl Transport for GrpcPush {
    fn target(&self) -> String {
        self.url.clone()
    }

    async fn deliver(&mut self, batches: Vec<OutgoingBatch>) -> Result<(), DeliveryError> {
        let events = batches.into_iter().flat_map(|b| b.batch.events).collect();
        let mut request = tonic::Request::new(DeliverRequest { events });
        let bearer = self
            .token
            .bearer()
            .parse()
            .map_err(|_| DeliveryError("the relay's token is not valid metadata".into()))?;
        request.metadata_mut().insert("authorization", bearer);
        self.client
            .deliver(request)
            .await
            .map(|_| ())
            .map_err(|status| DeliveryError(format!("{:?}: {}", status.code(), status.message())))
    }
}

/// Publishes each batch to the producer's stream with its message id, and
/// waits for the stream to store them all.
pub struct JetStreamPublish {
    producer: String,
    context: jetstream::Context,
    stream_ready: bool,
}

impl JetStreamPublish {
    pub fn new(producer: &str, client: async_nats::Client, call_timeout: Duration) -> Self {
        let mut context = jetstream::new(client);
        context.set_timeout(call_timeout);
        Self {
            producer: producer.to_owned(),
            context,
            stream_ready: false,
        }
    }
}

/// The id JetStream de-duplicates a batch by: its first event's id (events
/// ids are UUIDv7, unique), else the producer and batch id.
pub fn message_id(producer: &str, batch: &OutgoingBatch) -> String {
    batch.batch.events.first().map_or_else(
        || format!("{producer}-batch-{}", batch.batch_id),
        |e| format!("{producer}-{}", e.event_id),
    )
}

impl Transport for JetStreamPublish {
    fn target(&self) -> String {
        subject(&self.producer)
    }

    async fn deliver(&mut self, batches: Vec<OutgoingBatch>) -> Result<(), DeliveryError> {
        if !self.stream_ready {
            self.context
                .get_or_create_stream(stream_config(&self.producer))
                .await
                .map_err(|e| DeliveryError(format!("JetStream stream: {e}")))?;
            self.stream_ready = true;
        }
        let subject = subject(&self.producer);
        // Published back to back, then the acks awaited: one round trip for all.
        let mut pending = Vec::with_capacity(batches.len());
        for batch in &batches {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", message_id(&self.producer, batch).as_str());
            let ack = self
                .context
                .publish_with_headers(subject.clone(), headers, batch.payload.clone())
                .await
                .map_err(|e| DeliveryError(format!("JetStream publish: {e}")))?;
            pending.push(ack);
        }
        for ack in pending {
            ack.await
                .map_err(|e| DeliveryError(format!("JetStream did not store a batch: {e}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transport_is_grpc_unless_jetstream_is_named() {
        assert_eq!(
            TransportSettings::from_env(&Env::from_pairs::<&str, &str>([])).expect("valid"),
            TransportSettings::Grpc
        );
        let js = TransportSettings::from_env(&Env::from_pairs([(TRANSPORT_VAR, "jetstream")]))
            .expect("valid");
        assert!(
            matches!(js, TransportSettings::JetStream { ref url } if url.expose() == DEFAULT_NATS_URL)
        );
        let err = TransportSettings::from_env(&Env::from_pairs([(TRANSPORT_VAR, "kafka")]))
            .expect_err("unknown");
        assert!(err.to_string().contains(TRANSPORT_VAR), "{err}");
        let env = Env::from_pairs([(TRANSPORT_VAR, "jetstream"), (NATS_URL_VAR, "http://x")]);
        let err = TransportSettings::from_env(&env).expect_err("not nats");
        assert!(err.to_string().contains(NATS_URL_VAR), "{err}");
    }

    #[test]
    fn streams_and_message_ids_are_named_by_producer() {
        let config = stream_config("case");
        assert_eq!(config.name, "EARSHOT_CASE");
        assert_eq!(config.subjects, ["earshot.events.case"]);
        let batch = OutgoingBatch {
            batch_id: 7,
            payload: Bytes::new(),
            batch: EventBatch { events: vec![] },
        };
        assert_eq!(message_id("case", &batch), "case-batch-7");
    }
}
