//! The database goes away and comes back: calls fail with UNAVAILABLE meanwhile,
//! the service recovers by itself, and nothing acknowledged is lost.

use earshot_e2e::{ALL, cry_for_help, eventually, token};
use earshot_listening::ListeningService;
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{IngestMentionsRequest, ListMentionsRequest};
use earshot_testkit::{TestDatabase, TestService, reserve, settings};
use tonic::Code;

#[tokio::test]
async fn calls_are_unavailable_while_the_database_is_down_and_recover_after() {
    let mut db = TestDatabase::private().await;
    let listening =
        TestService::start::<ListeningService>(settings(&db, &[]), reserve().await).await;
    let mut client = ListeningServiceClient::new(listening.authed(&token("acme", ALL)));

    client
        .ingest_mentions(IngestMentionsRequest {
            mentions: vec![cry_for_help("9001")],
        })
        .await
        .expect("ingested while the database is up");

    db.stop_server().await;
    let err = client
        .list_mentions(ListMentionsRequest::default())
        .await
        .expect_err("database is down");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(
        !err.message().contains("sql"),
        "no internals leak: {}",
        err.message()
    );
    let err = client
        .ingest_mentions(IngestMentionsRequest {
            mentions: vec![cry_for_help("9002")],
        })
        .await
        .expect_err("database is down");
    assert_eq!(err.code(), Code::Unavailable);

    db.start_server().await;
    let stored = eventually("listening answers again", || {
        let mut client = client.clone();
        async move {
            let list = client
                .list_mentions(ListMentionsRequest::default())
                .await
                .ok()?;
            Some(list.into_inner().mentions)
        }
    })
    .await;
    let ids: Vec<_> = stored.iter().map(|m| m.external_id.as_str()).collect();
    assert_eq!(
        ids,
        ["9001"],
        "the acknowledged mention survived; the refused one was not stored"
    );
}
