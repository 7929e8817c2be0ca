//! Admission control through a real service: past its bound a call is
//! answered `RESOURCE_EXHAUSTED` at once with a retry hint, health keeps
//! answering, streams have a bound of their own, and a call whose caller
//! gave up stores nothing. Calls are held in flight deterministically by a
//! lock on the mentions table, never by racing.

use std::time::Duration;

use earshot_e2e::{ALL, cry_for_help, eventually, token};
use earshot_listening::ListeningService;
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{
    GetListeningSettingsRequest, IngestMentionsRequest, ListMentionsRequest, StreamMentionsRequest,
};
use earshot_server::admission::{Limits, RETRY_AFTER};
use earshot_testkit::{AuthedChannel, TestDatabase, TestService, reserve, settings};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt as _;

type Client = ListeningServiceClient<AuthedChannel>;

fn ingest(id: &str) -> IngestMentionsRequest {
    IngestMentionsRequest {
        mentions: vec![cry_for_help(id)],
    }
}

/// Locks the mentions table, so that every ingest waits at its insert
/// until the returned transaction ends.
async fn lock_mentions(db: &TestDatabase) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let pool = db.pool("listening").await;
    let mut lock = pool.begin().await.expect("a transaction");
    sqlx::query("LOCK TABLE mentions IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .expect("the lock is taken");
    lock
}

/// Waits until `n` of the service's sessions wait on a lock.
async fn wait_for_blocked(db: &TestDatabase, n: i64) {
    let pool = db.pool("listening").await;
    eventually(&format!("{n} ingest(s) wait on the lock"), || {
        let pool = pool.clone();
        async move {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE application_name = 'earshot-listening' AND wait_event_type = 'Lock'
                   AND datname = current_database()",
            )
            .fetch_one(&pool)
            .await
            .ok()?;
            (waiting == n).then_some(())
        }
    })
    .await;
}

/// The external ids stored, or `None` while the listing is shed.
async fn stored(client: &mut Client) -> Option<Vec<String>> {
    let list = client
        .list_mentions(ListMentionsRequest::default())
        .await
        .ok()?;
    Some(
        list.into_inner()
            .mentions
            .into_iter()
            .map(|m| m.external_id)
            .collect(),
    )
}

#[tokio::test]
async fn past_its_bound_a_service_sheds_at_once_with_a_retry_hint_and_health_still_answers() {
    let db = TestDatabase::create().await;
    let mut service_settings = settings(&db, &[]);
    service_settings.limits = Limits {
        max_in_flight: 1,
        max_streams: 1,
    };
    let listening = TestService::start::<ListeningService>(service_settings, reserve().await).await;
    let client = ListeningServiceClient::new(listening.authed(&token("acme", ALL)));

    let lock = lock_mentions(&db).await;
    let held = tokio::spawn({
        let mut client = client.clone();
        async move { client.ingest_mentions(ingest("held")).await }
    });
    wait_for_blocked(&db, 1).await;

    // The one slot is taken: any other call is refused at once, with the hint.
    let err = client
        .clone()
        .ingest_mentions(ingest("shed"))
        .await
        .expect_err("past the bound");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("retry"), "{}", err.message());
    let retry = err
        .get_error_details()
        .retry_info()
        .cloned()
        .expect("RetryInfo");
    assert_eq!(retry.retry_delay, Some(RETRY_AFTER));
    let err = client
        .clone()
        .list_mentions(ListMentionsRequest::default())
        .await
        .expect_err("reads count too");
    assert_eq!(err.code(), Code::ResourceExhausted);

    // Health is never shed.
    let status = HealthClient::new(listening.channel())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health answers")
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);

    // A stream has a bound of its own: one opens while the unary slot is
    // taken, and holds its slot for as long as it is open.
    let (open_tx, open_rx) = tokio::sync::mpsc::channel::<StreamMentionsRequest>(1);
    let open = client
        .clone()
        .stream_mentions(tokio_stream::wrappers::ReceiverStream::new(open_rx))
        .await
        .expect("a stream opens beside a full unary bound");
    let err = client
        .clone()
        .stream_mentions(tokio_stream::iter(Vec::<StreamMentionsRequest>::new()))
        .await
        .expect_err("a second stream is past the bound");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    drop(open_tx);
    let mut acks = open.into_inner();
    while acks
        .message()
        .await
        .expect("the stream ends cleanly")
        .is_some()
    {}

    // The held call completes once the lock goes, and the slot serves again.
    lock.rollback().await.expect("unlocked");
    let answer = held
        .await
        .expect("no panic")
        .expect("the held call succeeds")
        .into_inner();
    assert_eq!(answer.accepted, 1);
    eventually("the freed slot takes the next call", || {
        let mut client = client.clone();
        async move { client.ingest_mentions(ingest("after")).await.ok() }
    })
    .await;
    // The slot frees as the answer's body ends, a moment after the caller
    // has read it: the listing may need a second try.
    let mut ids = eventually("the listing is admitted", || {
        let mut client = client.clone();
        async move { stored(&mut client).await }
    })
    .await;
    ids.sort();
    assert_eq!(ids, ["after", "held"], "nothing shed was stored");
}

#[tokio::test]
async fn a_call_past_its_deadline_is_not_started_and_one_that_times_out_stores_nothing() {
    let db = TestDatabase::create().await;
    let mut service_settings = settings(&db, &[]);
    // One slot: while it is taken the service is still working on the call.
    service_settings.limits = Limits {
        max_in_flight: 1,
        max_streams: 1,
    };
    let listening = TestService::start::<ListeningService>(service_settings, reserve().await).await;
    let mut client = ListeningServiceClient::new(listening.authed(&token("acme", ALL)));

    // A deadline that has already passed when the call is made. (tonic's
    // client gives up at once by itself; the server's answer, DEADLINE_EXCEEDED
    // without starting the call, is checked on the layer's own tests.)
    let mut request = tonic::Request::new(ingest("late"));
    request
        .metadata_mut()
        .insert("grpc-timeout", "0n".parse().expect("ascii"));
    let err = client.ingest_mentions(request).await.expect_err("too late");
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{err:?}"
    );

    // A call whose deadline passes while it waits at its insert: the caller
    // is told so, and what it sent is not stored once the insert can go on.
    let lock = lock_mentions(&db).await;
    let mut request = tonic::Request::new(ingest("gave-up"));
    request.set_timeout(Duration::from_millis(300));
    let err = client
        .ingest_mentions(request)
        .await
        .expect_err("timed out");
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{err:?}"
    );
    // The slot frees when the service has given up on the call too (a call
    // that reads no mentions gets through then), and only then does the
    // insert it left behind get its chance.
    eventually("the service gives up on the call", || {
        let mut client = client.clone();
        async move {
            client
                .get_listening_settings(GetListeningSettingsRequest {})
                .await
                .ok()
        }
    })
    .await;
    lock.rollback().await.expect("unlocked");

    eventually("a call with time to spare is stored", || {
        let mut client = client.clone();
        async move { client.ingest_mentions(ingest("on-time")).await.ok() }
    })
    .await;
    let ids = eventually("the listing is admitted", || {
        let mut client = client.clone();
        async move { stored(&mut client).await }
    })
    .await;
    assert_eq!(ids, ["on-time"]);
}
