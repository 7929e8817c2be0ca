//! No event lost and none handled twice, over both transports: the default
//! gRPC push to each consumer's `EventSink`, and NATS JetStream (a stream
//! per producer, a durable pull consumer per consumer service). The same
//! checks run over each: a stream of mentions, a consumer down while its
//! producer goes on, a producer restarted mid-stream; over JetStream also
//! the NATS server itself restarting while events are on their way.

use earshot_e2e::{ALL, Clients, Suite, Transport, cry_for_help, high_five};
use earshot_proto::listening::v1::{MentionInput, StreamMentionsRequest};
use tokio_stream::StreamExt;

fn cries(prefix: &str, range: std::ops::Range<usize>) -> Vec<MentionInput> {
    range
        .map(|i| cry_for_help(&format!("{prefix}-{i}")))
        .collect()
}

/// Every mention counted once by insight and every cry for help one case.
async fn every_event_once(transport: Transport) {
    let suite = Suite::start_over(transport).await;
    let mut acme = Clients::new(&suite, "acme", ALL);
    acme.ingest(cries("once", 0..10)).await;
    // Sent again: duplicates, which emit nothing.
    let again = acme.ingest(cries("once", 0..10)).await;
    assert_eq!(again.duplicates, 10);
    acme.ingest(vec![high_five("once-praise")]).await;
    acme.wait_for_counts(11, 10).await;
    assert_eq!(acme.cases().await.len(), 10);
}

#[tokio::test]
async fn every_event_is_handled_once_over_grpc() {
    every_event_once(Transport::Grpc).await;
}

#[tokio::test]
async fn every_event_is_handled_once_over_jetstream() {
    every_event_once(Transport::JetStream).await;
}

/// A consumer down while its producer goes on catches up when it is back.
async fn consumer_down(transport: Transport) {
    let mut suite = Suite::start_over(transport).await;
    let mut acme = Clients::new(&suite, "acme", ALL);
    suite.case.stop().await;
    acme.ingest(cries("down", 0..5)).await;
    // Insight hears listening while case is away.
    acme.wait_for_counts(5, 0).await;
    suite.case.start_again().await;
    acme.wait_for_counts(5, 5).await;
    assert_eq!(acme.cases().await.len(), 5);
}

#[tokio::test]
async fn a_consumer_that_was_down_catches_up_over_grpc() {
    consumer_down(Transport::Grpc).await;
}

#[tokio::test]
async fn a_consumer_that_was_down_catches_up_over_jetstream() {
    consumer_down(Transport::JetStream).await;
}

/// The producer restarts while a client streams to it; the client resumes
/// after its last ack with some overlap. Every mention reaches the
/// consumers once.
async fn producer_restart_mid_stream(transport: Transport) {
    let mut suite = Suite::start_over(transport).await;
    let mut acme = Clients::new(&suite, "acme", ALL);
    let (feed, incoming) = tokio::sync::mpsc::channel(4);
    let mut acks = acme
        .listening
        .stream_mentions(tokio_stream::wrappers::ReceiverStream::new(incoming))
        .await
        .expect("stream opens")
        .into_inner();
    feed.send(StreamMentionsRequest {
        mentions: cries("mid", 0..20),
    })
    .await
    .expect("open");
    let mut acknowledged = 0;
    while acknowledged < 20 {
        acknowledged = acks
            .message()
            .await
            .expect("ack")
            .expect("open")
            .durable_through;
    }
    suite.listening.restart().await;
    drop(feed);
    let resumed: Vec<_> = acme
        .listening
        .stream_mentions(tokio_stream::iter([StreamMentionsRequest {
            mentions: cries("mid", 15..40),
        }]))
        .await
        .expect("stream opens again")
        .into_inner()
        .map(|ack| ack.expect("ack"))
        .collect()
        .await;
    assert_eq!(resumed.iter().map(|a| a.duplicates).sum::<u32>(), 5);
    acme.wait_for_counts(40, 40).await;
    assert_eq!(acme.cases().await.len(), 40);
}

#[tokio::test]
async fn a_producer_restarted_mid_stream_loses_and_repeats_nothing_over_grpc() {
    producer_restart_mid_stream(Transport::Grpc).await;
}

#[tokio::test]
async fn a_producer_restarted_mid_stream_loses_and_repeats_nothing_over_jetstream() {
    producer_restart_mid_stream(Transport::JetStream).await;
}

#[tokio::test]
async fn events_wait_in_the_outbox_while_nats_is_down() {
    let mut suite = Suite::start_over(Transport::JetStream).await;
    let mut acme = Clients::new(&suite, "acme", ALL);
    acme.ingest(cries("nats", 0..5)).await;
    acme.wait_for_counts(5, 5).await;
    let nats = suite.nats.as_mut().expect("over JetStream");
    nats.stop();
    // Accepted while NATS is away: stored, and their events kept.
    let heard = acme.ingest(cries("nats", 5..10)).await;
    assert_eq!(heard.accepted, 5);
    nats.start_again().await;
    acme.wait_for_counts(10, 10).await;
    assert_eq!(acme.cases().await.len(), 10);
}
