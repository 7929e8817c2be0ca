//! Two replicas of a producer share one outbox: their relays claim delivery
//! rows with SKIP LOCKED, and every event reaches the consumer exactly once.
//! The consumer here is a recording sink with no inbox, so an event that two
//! relays delivered (or one relay twice) shows as a duplicate instead of
//! being quietly skipped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use earshot_e2e::{ALL, cry_for_help, eventually, token};
use earshot_listening::ListeningService;
use earshot_proto::events::v1::event_sink_server::{EventSink, EventSinkServer};
use earshot_proto::events::v1::{DeliverRequest, DeliverResponse};
use earshot_proto::listening::v1::IngestMentionsRequest;
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_testkit::{TestDatabase, TestService, reserve, settings};
use tonic::transport::server::TcpIncoming;

/// Counts how often each event id arrives.
#[derive(Clone, Default)]
struct RecordingSink {
    deliveries: Arc<Mutex<HashMap<String, u32>>>,
}

#[tonic::async_trait]
impl EventSink for RecordingSink {
    async fn deliver(
        &self,
        request: tonic::Request<DeliverRequest>,
    ) -> Result<tonic::Response<DeliverResponse>, tonic::Status> {
        let events = request.into_inner().events;
        let mut deliveries = self.deliveries.lock().expect("not poisoned");
        let mut skipped = 0;
        for event in &events {
            let seen = deliveries.entry(event.event_id.clone()).or_default();
            if *seen > 0 {
                skipped += 1;
            }
            *seen += 1;
        }
        Ok(tonic::Response::new(DeliverResponse {
            handled: events.len() as u32 - skipped,
            skipped,
        }))
    }
}

impl RecordingSink {
    fn counts(&self) -> (usize, u32) {
        let deliveries = self.deliveries.lock().expect("not poisoned");
        (deliveries.len(), deliveries.values().sum())
    }
}

#[tokio::test]
async fn two_replicas_deliver_every_event_once() {
    let db = TestDatabase::create().await;
    let sink_listener = reserve().await;
    let sink_addr = sink_listener.local_addr().expect("bound");
    let sink = RecordingSink::default();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(
                EventSinkServer::new(sink.clone())
                    .max_decoding_message_size(earshot_outbox::MAX_EVENT_MESSAGE_BYTES),
            )
            .serve_with_incoming(TcpIncoming::from(sink_listener)),
    );
    let subscribers = [("recorder", sink_addr)];
    let first =
        TestService::start::<ListeningService>(settings(&db, &subscribers), reserve().await).await;
    let second =
        TestService::start::<ListeningService>(settings(&db, &subscribers), reserve().await).await;

    let token = token("acme", ALL);
    let mut replicas = [
        ListeningServiceClient::new(first.authed(&token)),
        ListeningServiceClient::new(second.authed(&token)),
    ];
    let mut sent = 0u64;
    for round in 0..20 {
        let mentions = (0..25)
            .map(|i| cry_for_help(&format!("r{round}-{i}")))
            .collect();
        let response = replicas[round % 2]
            .ingest_mentions(IngestMentionsRequest { mentions })
            .await
            .expect("ingested")
            .into_inner();
        sent += u64::from(response.accepted);
    }
    assert_eq!(sent, 500);

    let listening_db = db.pool("listening").await;
    eventually("both replicas' relays drained the shared outbox", || {
        let pool = listening_db.clone();
        async move {
            let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox_delivery")
                .fetch_one(&pool)
                .await
                .ok()?;
            let batches: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox_batch")
                .fetch_one(&pool)
                .await
                .ok()?;
            (pending == 0 && batches == 0).then_some(())
        }
    })
    .await;
    let (distinct, deliveries) = sink.counts();
    assert_eq!(distinct, 500, "every event arrived");
    assert_eq!(deliveries, 500, "no event was delivered twice");
    server.abort();
}
