//! A batch of events its consumer can never take (a poison batch) stays in
//! the outbox with its error and is retried alone: every other event still
//! reaches the consumer.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use earshot_e2e::{ALL, cry_for_help, eventually, token};
use earshot_listening::ListeningService;
use earshot_proto::events::v1::event_sink_server::{EventSink, EventSinkServer};
use earshot_proto::events::v1::{DeliverRequest, DeliverResponse, event};
use earshot_proto::listening::v1::IngestMentionsRequest;
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_testkit::{TestDatabase, TestService, reserve, settings};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

const POISON: &str = "poison";

/// A consumer that refuses every call holding the poison mention's event and
/// remembers the external ids of the mentions it took.
#[derive(Clone, Default)]
struct Picky {
    taken: Arc<Mutex<HashSet<String>>>,
}

fn external_id(e: &earshot_proto::events::v1::Event) -> Option<&str> {
    match &e.payload {
        Some(event::Payload::MentionClassified(m)) => Some(m.external_id.as_str()),
        _ => None,
    }
}

#[tonic::async_trait]
impl EventSink for Picky {
    async fn deliver(
        &self,
        request: Request<DeliverRequest>,
    ) -> Result<Response<DeliverResponse>, Status> {
        let events = request.into_inner().events;
        if events.iter().any(|e| external_id(e) == Some(POISON)) {
            return Err(Status::internal(
                "this consumer cannot handle the poison mention",
            ));
        }
        let mut taken = self.taken.lock().expect("not poisoned");
        taken.extend(events.iter().filter_map(external_id).map(str::to_owned));
        Ok(Response::new(DeliverResponse {
            handled: u32::try_from(events.len()).unwrap_or(u32::MAX),
            skipped: 0,
        }))
    }
}

#[tokio::test]
async fn a_poison_batch_holds_up_nothing_but_itself() {
    let db = TestDatabase::create().await;
    let picky = Picky::default();
    let sink_listener = reserve().await;
    let sink_addr = sink_listener.local_addr().expect("bound");
    let sink = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(EventSinkServer::new(picky.clone()))
            .serve_with_incoming(TcpListenerStream::new(sink_listener)),
    );
    let listening = TestService::start::<ListeningService>(
        settings(&db, &[("picky", sink_addr)]),
        reserve().await,
    )
    .await;
    let mut client = ListeningServiceClient::new(listening.authed(&token("acme", ALL)));

    // The poison batch first, so that it is the oldest; then ten more.
    let mut expected = HashSet::new();
    for batch in std::iter::once(vec![POISON.to_owned()])
        .chain((0..10).map(|b| (0..5).map(|i| format!("m{b}-{i}")).collect()))
    {
        let mentions = batch.iter().map(|id| cry_for_help(id)).collect();
        let response = client
            .ingest_mentions(IngestMentionsRequest { mentions })
            .await
            .expect("ingested")
            .into_inner();
        assert_eq!(response.accepted as usize, batch.len());
        expected.extend(batch.into_iter().filter(|id| id != POISON));
    }

    eventually("every event but the poison one delivered", || {
        let taken = picky.taken.lock().expect("not poisoned").clone();
        let expected = expected.clone();
        async move { (taken == expected).then_some(()) }
    })
    .await;

    // The poison batch is kept, with how often it failed and why.
    let pool = db.pool("listening").await;
    let (pending, attempts, error): (i64, i32, String) =
        eventually("the poison batch retried", || {
            let pool = pool.clone();
            async move {
                let row: (i64, i32, Option<String>) = sqlx::query_as(
                    "SELECT count(*), coalesce(max(attempts), 0), max(last_error)
                   FROM outbox_delivery WHERE subscriber = 'picky'",
                )
                .fetch_one(&pool)
                .await
                .ok()?;
                (row.1 >= 2).then(|| (row.0, row.1, row.2.unwrap_or_default()))
            }
        })
        .await;
    assert_eq!(pending, 1, "only the poison batch is left");
    assert!(attempts >= 2 && error.contains("poison mention"), "{error}");
    sink.abort();
}
