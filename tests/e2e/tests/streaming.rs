//! Streamed ingest: batched storage, acknowledgements in order, and a restart
//! mid-stream that loses nothing acknowledged.

use earshot_e2e::{ALL, cry_for_help, token};
use earshot_listening::ListeningService;
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{
    IngestStatus, MentionInput, StreamMentionsAck, StreamMentionsRequest,
};
use earshot_testkit::{TestDatabase, TestService, reserve, settings};
use tokio_stream::StreamExt;

fn numbered(range: std::ops::Range<usize>) -> Vec<MentionInput> {
    range.map(|i| cry_for_help(&format!("s-{i}"))).collect()
}

async fn stored(db: &TestDatabase) -> i64 {
    let pool = db.pool("listening").await;
    sqlx::query_scalar("SELECT count(*) FROM mentions WHERE tenant_id = 'acme'")
        .fetch_one(&pool)
        .await
        .expect("count")
}

#[tokio::test]
async fn a_stream_is_stored_in_batches_and_acknowledged_in_order() {
    let db = TestDatabase::create().await;
    let listening =
        TestService::start::<ListeningService>(settings(&db, &[]), reserve().await).await;
    let mut client = ListeningServiceClient::new(listening.authed(&token("acme", ALL)));

    let mut mentions = numbered(0..2_500);
    mentions[1_234].text.clear();
    // One mention per message, as a source would stream them.
    let outgoing = tokio_stream::iter(
        mentions
            .into_iter()
            .map(|m| StreamMentionsRequest { mentions: vec![m] }),
    );
    let acks: Vec<StreamMentionsAck> = client
        .stream_mentions(outgoing)
        .await
        .expect("stream opens")
        .into_inner()
        .map(|ack| ack.expect("ack"))
        .collect()
        .await;

    let through: Vec<u64> = acks.iter().map(|a| a.durable_through).collect();
    assert!(
        through.windows(2).all(|w| w[0] < w[1]),
        "in order: {through:?}"
    );
    assert_eq!(through.last(), Some(&2_500));
    assert_eq!(acks.iter().map(|a| a.accepted).sum::<u32>(), 2_499);
    let rejections: Vec<_> = acks.iter().flat_map(|a| a.rejections.clone()).collect();
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0].index, 1_234, "position in the whole stream");
    assert_eq!(rejections[0].status, IngestStatus::Rejected as i32);
    assert_eq!(
        rejections[0].field, "mentions[1234].text",
        "the field named by its position in the whole stream"
    );
    assert_eq!(stored(&db).await, 2_499);
}

#[tokio::test]
async fn a_restart_mid_stream_loses_nothing_acknowledged() {
    let db = TestDatabase::create().await;
    let mut listening =
        TestService::start::<ListeningService>(settings(&db, &[]), reserve().await).await;
    let mut client = ListeningServiceClient::new(listening.authed(&token("acme", ALL)));

    // First half, then the service restarts while the stream is still open.
    let (feed, incoming) = tokio::sync::mpsc::channel(8);
    let mut acks = client
        .stream_mentions(tokio_stream::wrappers::ReceiverStream::new(incoming))
        .await
        .expect("stream opens")
        .into_inner();
    feed.send(StreamMentionsRequest {
        mentions: numbered(0..1_500),
    })
    .await
    .expect("open");
    let mut acknowledged = 0;
    while acknowledged < 1_500 {
        let ack = acks.message().await.expect("ack").expect("stream open");
        acknowledged = ack.durable_through;
    }
    listening.restart().await;
    drop(feed);
    assert!(
        stored(&db).await >= 1_500,
        "everything acknowledged is stored"
    );

    // The client resumes after its last ack, resending a little overlap.
    let resume = acknowledged as usize - 100;
    let outgoing = tokio_stream::iter([StreamMentionsRequest {
        mentions: numbered(resume..3_000),
    }]);
    let acks: Vec<StreamMentionsAck> = client
        .stream_mentions(outgoing)
        .await
        .expect("stream opens again")
        .into_inner()
        .map(|ack| ack.expect("ack"))
        .collect()
        .await;
    assert_eq!(
        acks.iter().map(|a| a.duplicates).sum::<u32>(),
        100,
        "the overlap is deduplicated"
    );
    assert_eq!(stored(&db).await, 3_000);
}
