//! The 24-hour duplicate window survives a restart: the same stream gives
//! the same kept and dropped mentions, and the same `MentionClassified`
//! events, whether listening restarts in the middle of it or not. Through a
//! real listening server, Postgres and an event sink.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

mod common;

use common::verdicts;
use earshot_listening::ListeningService;
use earshot_proto::events::v1::event_sink_server::{EventSink, EventSinkServer};
use earshot_proto::events::v1::{DeliverRequest, DeliverResponse, event};
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{MentionInput, StreamMentionsRequest};
use earshot_testkit::corpus::vader_tweets;
use earshot_testkit::{
    AuthedChannel, TestDatabase, TestService, eventually, reserve, settings, token,
};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// The external ids each tenant's `MentionClassified` events named.
#[derive(Clone, Default)]
struct Announced(Arc<Mutex<BTreeMap<String, BTreeSet<String>>>>);

impl Announced {
    fn of(&self, tenant: &str) -> BTreeSet<String> {
        let seen = self.0.lock().expect("not poisoned");
        seen.get(tenant).cloned().unwrap_or_default()
    }
}

#[tonic::async_trait]
impl EventSink for Announced {
    async fn deliver(
        &self,
        request: Request<DeliverRequest>,
    ) -> Result<Response<DeliverResponse>, Status> {
        let events = request.into_inner().events;
        let mut seen = self.0.lock().expect("not poisoned");
        for e in &events {
            if let Some(event::Payload::MentionClassified(m)) = &e.payload {
                seen.entry(e.tenant_id.clone())
                    .or_default()
                    .insert(m.external_id.clone());
            }
        }
        Ok(Response::new(DeliverResponse {
            handled: u32::try_from(events.len()).unwrap_or(u32::MAX),
            skipped: 0,
        }))
    }
}

fn mention(n: usize, author: &str, text: &str) -> MentionInput {
    common::mention(&format!("m{n:03}"), author, text)
}

/// Two halves of one stream of real tweets: the second repeats the first's
/// texts as other authors (exact copies, and near copies with a word
/// added), and its own authors repeat themselves; fresh tweets in both.
fn halves() -> (Vec<MentionInput>, Vec<MentionInput>) {
    let long: Vec<String> = vader_tweets()
        .expect("the VADER tweets are in data/")
        .into_iter()
        .map(|t| t.text)
        .filter(|t| t.split_whitespace().count() >= 18)
        .take(60)
        .collect();
    assert_eq!(long.len(), 60, "enough long tweets");
    let mut n = 0;
    let mut next = |author: &str, text: &str| {
        n += 1;
        mention(n, author, text)
    };
    let mut first: Vec<MentionInput> = long[..30]
        .iter()
        .enumerate()
        .map(|(i, text)| next(&format!("early{i}"), text))
        .collect();
    first.push(next("early0", "still waiting"));
    let mut second = Vec::new();
    for (i, text) in long[..30].iter().enumerate() {
        let author = format!("late{i}");
        match i % 3 {
            0 => second.push(next(&author, text)),
            1 => second.push(next(&author, &format!("{text} really"))),
            _ => second.push(next(&author, &long[30 + i])),
        }
    }
    // An early author saying the same short thing again, after the restart.
    second.push(next("early0", "still waiting"));
    (first, second)
}

/// Streams `mentions` as one message and waits for its ack.
async fn stream(client: &mut ListeningServiceClient<AuthedChannel>, mentions: Vec<MentionInput>) {
    let count = mentions.len() as u64;
    let mut acks = client
        .stream_mentions(tokio_stream::iter([StreamMentionsRequest { mentions }]))
        .await
        .expect("stream opened")
        .into_inner();
    let mut durable = 0;
    while let Some(ack) = acks.message().await.expect("acknowledged") {
        assert_eq!(ack.rejected, 0, "{:?}", ack.rejections);
        durable = ack.durable_through;
    }
    assert_eq!(durable, count, "everything acknowledged");
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_stream_changes_no_verdict() {
    let db = TestDatabase::create().await;
    let announced = Announced::default();
    let sink_listener = reserve().await;
    let sink_addr = sink_listener.local_addr().expect("bound");
    let sink = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(EventSinkServer::new(announced.clone()))
            .serve_with_incoming(TcpListenerStream::new(sink_listener)),
    );
    let mut listening = TestService::start::<ListeningService>(
        settings(&db, &[("sink", sink_addr)]),
        reserve().await,
    )
    .await;
    let scopes = ["mentions:read", "mentions:write"];
    let mut steady = ListeningServiceClient::new(listening.authed(&token("steady", &scopes)));
    let mut restarted = ListeningServiceClient::new(listening.authed(&token("restarted", &scopes)));
    let (first, second) = halves();

    // The same stream for two tenants: one straight through, one with a
    // restart between its halves (a fresh window after it, before the fix).
    stream(&mut steady, first.clone()).await;
    stream(&mut steady, second.clone()).await;
    stream(&mut restarted, first).await;
    listening.restart().await;
    stream(&mut restarted, second).await;

    let want = verdicts(&mut steady).await;
    let dropped: Vec<&String> = want.values().filter(|r| !r.is_empty()).collect();
    assert!(
        dropped.iter().any(|r| *r == "exact_duplicate")
            && dropped.iter().any(|r| *r == "near_duplicate"),
        "the stream holds both kinds of duplicate: {want:?}"
    );
    assert_eq!(verdicts(&mut restarted).await, want);

    let kept: BTreeSet<String> = want
        .iter()
        .filter(|(_, reason)| reason.is_empty())
        .map(|(id, _)| id.clone())
        .collect();
    eventually("every kept mention announced, for both tenants", || {
        let done = announced.of("steady") == kept && announced.of("restarted") == kept;
        async move { done.then_some(()) }
    })
    .await;
    sink.abort();
}
