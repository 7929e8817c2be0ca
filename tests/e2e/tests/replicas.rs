//! Two replicas of a producer share one outbox: their relays claim delivery
//! rows with SKIP LOCKED, and every event reaches the consumer and counts once.

use earshot_e2e::{ALL, InsightOnly, cry_for_help, eventually, token};
use earshot_insight::InsightService;
use earshot_listening::ListeningService;
use earshot_proto::listening::v1::IngestMentionsRequest;
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_testkit::{TestDatabase, TestService, reserve, settings};

#[tokio::test]
async fn two_replicas_deliver_every_event_once() {
    let db = TestDatabase::create().await;
    let insight_listener = reserve().await;
    let insight_addr = insight_listener.local_addr().expect("bound");
    let insight = TestService::start::<InsightService>(settings(&db, &[]), insight_listener).await;
    let subscribers = [("insight", insight_addr)];
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

    let mut counts = InsightOnly::new(&insight, &token);
    counts.wait_for_counts(500, 0).await;

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
    let insight_db = db.pool("insight").await;
    let handled: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
        .fetch_one(&insight_db)
        .await
        .expect("inbox");
    assert_eq!(handled, 500, "each event recorded once");
}
