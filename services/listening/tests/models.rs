//! The learned models through the API: ingest answers what it heard, search
//! filters on it, agents' labels adapt their own tenant's models only (held
//! out, versioned, with rollback), a refit cut short by a restart is redone,
//! and the same text gets the same answer across restarts. Real listening
//! servers on loopback ports over a real Postgres.

mod common;

use common::mention;
use earshot_listening::ListeningService;
use earshot_listening::pipeline::model::Models;
use earshot_listening::tenant::adaptation::store::RefitJob;
use earshot_proto::common::v1::{Actionability, Classification, Intent, SentimentLabel};
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{
    ActivateModelVersionRequest, GetListeningAccuracyRequest, IngestMentionsRequest,
    LabelMentionRequest, ListMentionsRequest, ListModelVersionsRequest, ListeningAccuracy,
    MentionInput, StreamMentionsRequest,
};
use earshot_server::scheduler::Job;
use earshot_testkit::{
    AuthedChannel, TestDatabase, TestService, eventually, reserve, settings, token,
};
use tonic::Code;

type Client = ListeningServiceClient<AuthedChannel>;

const SCOPES: &[&str] = &[
    "mentions:read",
    "mentions:write",
    "rules:write",
    "labels:write",
];

async fn ingest(client: &mut Client, mentions: Vec<MentionInput>) -> Vec<(String, Classification)> {
    let response = client
        .ingest_mentions(IngestMentionsRequest { mentions })
        .await
        .expect("ingested")
        .into_inner();
    response
        .results
        .into_iter()
        .map(|r| {
            (
                r.mention_id,
                r.classification
                    .expect("accepted items carry their classification"),
            )
        })
        .collect()
}

fn intent(c: &Classification) -> Intent {
    Intent::try_from(c.intent).expect("known intent")
}

fn sentiment(c: &Classification) -> SentimentLabel {
    c.sentiment
        .as_ref()
        .and_then(|s| SentimentLabel::try_from(s.label).ok())
        .expect("a sentiment label")
}

#[tokio::test]
async fn ingest_says_what_it_heard_and_search_filters_on_it() {
    let db = TestDatabase::create().await;
    let listening =
        TestService::start::<ListeningService>(settings(&db, &[]), reserve().await).await;
    let mut client = ListeningServiceClient::new(listening.authed(&token("acme", SCOPES)));
    let texts = [
        "@AcmeAir flight cancelled and nobody at the desk to rebook us",
        "@AcmeAir on hold for 2 hours and disconnected. Thanks a lot.",
        "@AcmeAir thank you for the smooth flight and the lovely crew!",
        "what's the capital of peru?",
        "@AcmeAir can you help me change my seat on tomorrow's flight?",
    ];
    let inputs: Vec<MentionInput> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| mention(&format!("m{i}"), &format!("author{i}"), t))
        .collect();
    let heard = ingest(&mut client, inputs).await;
    let shipped = &Models::shipped().id;
    for (id, c) in &heard {
        assert!(!id.is_empty());
        assert_eq!(&c.model, shipped);
        assert!((0.0..=1.0).contains(&c.intent_confidence) && c.intent_confidence > 0.0);
        let s = c.sentiment.as_ref().expect("sentiment");
        assert!(
            (s.positive + s.neutral + s.negative - 1.0).abs() < 1e-3,
            "{s:?}"
        );
        assert!((s.compound - (s.positive - s.negative)).abs() < 1e-6);
    }
    let [cancelled, sarcasm, praise, chatter, help] = [0, 1, 2, 3, 4].map(|i| &heard[i].1);
    assert_eq!(intent(cancelled), Intent::Complaint, "{cancelled:?}");
    assert!(cancelled.actionable && cancelled.cue_intent != Intent::Complaint as i32);
    assert_eq!(
        intent(sarcasm),
        Intent::Complaint,
        "sarcasm is no praise: {sarcasm:?}"
    );
    assert_eq!(sentiment(sarcasm), SentimentLabel::Negative);
    assert_eq!(intent(praise), Intent::Praise);
    assert_eq!(praise.actionability, Actionability::HighFive as i32);
    assert_eq!(sentiment(praise), SentimentLabel::Positive);
    assert!(
        !chatter.actionable,
        "a question mark alone makes no cry for help: {chatter:?}"
    );
    assert!(help.actionable);

    // The stream's acks carry each accepted item, at its stream position.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(StreamMentionsRequest {
        mentions: vec![mention(
            "s0",
            "streamer",
            "@AcmeAir my bag never arrived in Denver",
        )],
    })
    .await
    .expect("sent");
    drop(tx);
    let mut acks = client
        .stream_mentions(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("streamed")
        .into_inner();
    let ack = acks.message().await.expect("ack").expect("one ack");
    assert_eq!(ack.accepted_items.len(), 1);
    let item = &ack.accepted_items[0];
    assert_eq!(item.index, 0);
    assert!(!item.mention_id.is_empty());
    assert_eq!(
        item.classification.as_ref().map(intent),
        Some(Intent::Complaint),
        "{item:?}"
    );

    // Search by what the models said.
    let negative = client
        .list_mentions(ListMentionsRequest {
            sentiment_label: SentimentLabel::Negative as i32,
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner()
        .mentions;
    assert!(negative.len() >= 2);
    assert!(negative.iter().all(|m| {
        m.classification
            .as_ref()
            .is_some_and(|c| sentiment(c) == SentimentLabel::Negative)
    }));
    let sure = client
        .list_mentions(ListMentionsRequest {
            min_intent_confidence: Some(0.5),
            actionable: Some(true),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner()
        .mentions;
    assert!(!sure.is_empty());
    assert!(sure.iter().all(|m| {
        m.classification
            .as_ref()
            .is_some_and(|c| c.intent_confidence >= 0.5 && c.actionable)
    }));

    // Bad filters name their field; an unknown version is not found.
    for (request, field) in [
        (
            ListMentionsRequest {
                min_intent_confidence: Some(1.5),
                ..Default::default()
            },
            "min_intent_confidence",
        ),
        (
            ListMentionsRequest {
                min_sentiment_confidence: Some(-0.1),
                ..Default::default()
            },
            "min_sentiment_confidence",
        ),
        (
            ListMentionsRequest {
                sentiment_label: 42,
                ..Default::default()
            },
            "sentiment_label",
        ),
    ] {
        let status = client.list_mentions(request).await.expect_err("invalid");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains(field), "{}", status.message());
    }
    let status = client
        .activate_model_version(ActivateModelVersionRequest { version: 7 })
        .await
        .expect_err("no such version");
    assert_eq!(status.code(), Code::NotFound);
    assert!(
        status.message().contains("version 7"),
        "{}",
        status.message()
    );
}

/// Gamers' slang: "sick", "insane", "filthy" are praise here, which the
/// shipped models (trained on everyday English) do not know.
fn slang(n: usize) -> Vec<String> {
    let things = [
        "the new boss fight",
        "that final level",
        "the season 3 map",
        "the co-op raid",
        "this soundtrack",
        "the patch notes trailer",
        "the new skin drop",
        "ranked mode tonight",
        "the speedrun category",
        "the launch stream",
    ];
    let slang = [
        "is sick",
        "is insane",
        "is filthy",
        "is wicked",
        "goes hard",
        "is mental",
    ];
    let endings = ["", " lol", " 🔥", " ngl", " fr", " @PixelForge"];
    let mut out = Vec::new();
    'all: for ending in endings {
        for word in slang {
            for thing in things {
                out.push(format!("{thing} {word}{ending}"));
                if out.len() == n {
                    break 'all;
                }
            }
        }
    }
    out
}

async fn accuracy(client: &mut Client) -> ListeningAccuracy {
    client
        .get_listening_accuracy(GetListeningAccuracyRequest {})
        .await
        .expect("accuracy")
        .into_inner()
}

/// Labels every mention positive praise, as the tenant's agents would.
async fn label_all(client: &mut Client, ids: &[String]) {
    for id in ids {
        client
            .label_mention(LabelMentionRequest {
                mention_id: id.clone(),
                relevant: true,
                intent: Intent::Praise as i32,
                sentiment: Some(0.8),
                ..Default::default()
            })
            .await
            .expect("labelled");
    }
}

async fn refitted(client: &mut Client, version: u32) -> ListeningAccuracy {
    eventually(
        &format!("version {version} refitted from every label"),
        || {
            let mut c = client.clone();
            async move {
                let a = accuracy(&mut c).await;
                (a.labels_since_refit == 0
                    && a.model.as_ref().is_some_and(|m| m.version == version))
                .then_some(a)
            }
        },
    )
    .await
}

#[tokio::test]
async fn agents_labels_adapt_their_own_tenant_and_can_be_rolled_back() {
    let db = TestDatabase::create().await;
    let mut listening =
        TestService::start::<ListeningService>(settings(&db, &[]), reserve().await).await;
    let mut games = ListeningServiceClient::new(listening.authed(&token("games", SCOPES)));
    let mut other = ListeningServiceClient::new(listening.authed(&token("other", SCOPES)));
    let texts = slang(125);
    let inputs = |prefix: &str| -> Vec<MentionInput> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| mention(&format!("{prefix}{i}"), &format!("fan{i}"), t))
            .collect()
    };
    let heard = ingest(&mut games, inputs("g")).await;
    let before_other = ingest(&mut other, inputs("o")).await;
    let misheard = heard
        .iter()
        .filter(|(_, c)| sentiment(c) != SentimentLabel::Positive)
        .count();
    assert!(
        misheard > 40,
        "the shipped models miss the slang often: {misheard} of 125"
    );

    let ids: Vec<String> = heard.iter().map(|(id, _)| id.clone()).collect();
    // A refit after every 25 labels (waited for, so versions are 1..=5).
    let mut adapted = ListeningAccuracy::default();
    for (n, chunk) in ids.chunks(25).enumerate() {
        label_all(&mut games, chunk).await;
        adapted = refitted(&mut games, n as u32 + 1).await;
    }
    let model = adapted.model.expect("an active correction layer");
    assert_eq!(adapted.refit_every, 25);
    assert!(model.active);
    assert!(
        model.sentiment_held_out > 0 && model.intent_held_out > 0,
        "{model:?}"
    );
    assert_eq!(
        model.trained_on + model.sentiment_held_out,
        125,
        "every label trains or is held out: {model:?}"
    );
    let (before, after) = (model.before.expect("before"), model.after.expect("after"));
    assert!(
        after.sentiment_accuracy > before.sentiment_accuracy
            && after.intent_accuracy > before.intent_accuracy,
        "held-out accuracy improves: {before:?} → {after:?}"
    );
    assert!(after.sentiment_accuracy >= Some(0.9), "{after:?}");

    // A new slang mention: praise for this tenant, unchanged for the other.
    let fresh = || vec![mention("new", "newfan", "the winter event is sick 🔥")];
    let games_now = ingest(&mut games, fresh()).await;
    let other_now = ingest(&mut other, fresh()).await;
    assert_eq!(
        games_now[0].1.model,
        format!("{}+tenant.v5", Models::shipped().id)
    );
    assert_eq!(
        sentiment(&games_now[0].1),
        SentimentLabel::Positive,
        "{:?}",
        games_now[0].1
    );
    assert_eq!(other_now[0].1.model, Models::shipped().id);
    let other_accuracy = accuracy(&mut other).await;
    assert!(other_accuracy.model.is_none() && other_accuracy.labels == 0);
    // The other tenant's earlier answers are what it hears still.
    let again = ingest(&mut other, {
        let mut m = inputs("again");
        m.truncate(5);
        m
    })
    .await;
    for (i, (_, c)) in again.iter().enumerate() {
        assert_eq!(c, &before_other[i].1, "unchanged for the other tenant");
    }

    // Versions are kept; rolling back to none and forward again.
    let versions = games
        .list_model_versions(ListModelVersionsRequest {})
        .await
        .expect("versions")
        .into_inner()
        .versions;
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![5, 4, 3, 2, 1]
    );
    assert_eq!(versions.iter().filter(|v| v.active).count(), 1);
    games
        .activate_model_version(ActivateModelVersionRequest { version: 0 })
        .await
        .expect("rolled back");
    let rolled = ingest(
        &mut games,
        vec![mention(
            "new2",
            "newfan2",
            "the winter event is sick 🔥 lol",
        )],
    )
    .await;
    assert_eq!(rolled[0].1.model, Models::shipped().id);
    assert!(accuracy(&mut games).await.model.is_none());
    let chosen = games
        .activate_model_version(ActivateModelVersionRequest { version: 3 })
        .await
        .expect("activated")
        .into_inner();
    assert!(chosen.active && chosen.version == 3);

    // Across a restart the tenant keeps its active layer.
    listening.restart().await;
    let after_restart = ingest(
        &mut games,
        vec![mention("new3", "newfan3", "the winter event is sick fr")],
    )
    .await;
    assert_eq!(
        after_restart[0].1.model,
        format!("{}+tenant.v3", Models::shipped().id)
    );
}

#[tokio::test]
async fn a_refit_cut_short_leaves_nothing_and_is_redone() {
    let db = TestDatabase::create().await;
    let mut listening =
        TestService::start::<ListeningService>(settings(&db, &[]), reserve().await).await;
    let mut games = ListeningServiceClient::new(listening.authed(&token("games", SCOPES)));
    let texts = slang(50);
    let inputs: Vec<MentionInput> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| mention(&format!("g{i}"), &format!("fan{i}"), t))
        .collect();
    let heard = ingest(&mut games, inputs).await;
    let ids: Vec<String> = heard.iter().map(|(id, _)| id.clone()).collect();
    label_all(&mut games, &ids[..25]).await;
    refitted(&mut games, 1).await;

    // 25 more labels while a lock keeps the service's job off the tenant;
    // then, the service stopped, a refit runs and dies before its commit
    // (its transaction dropped, as a crash drops it).
    let pool = db.pool("listening").await;
    let mut held = pool.begin().await.expect("begun");
    sqlx::query("SELECT 1 FROM tenant_models WHERE tenant_id = 'games' FOR UPDATE")
        .execute(&mut *held)
        .await
        .expect("locked");
    label_all(&mut games, &ids[25..]).await;
    listening.stop().await;
    held.rollback().await.expect("released");
    {
        let outbox = earshot_outbox::Outbox::new(&[]);
        let mut tx = pool.begin().await.expect("begun");
        let handled = RefitJob
            .round(&mut tx, &outbox, 1)
            .await
            .expect("refit ran");
        assert_eq!(handled, 1, "the tenant was due");
    }
    let versions: Vec<i32> =
        sqlx::query_scalar("SELECT version FROM model_versions ORDER BY version")
            .fetch_all(&pool)
            .await
            .expect("read");
    assert_eq!(versions, vec![1], "the cut-short refit left nothing");

    listening.start_again().await;
    let mut games = ListeningServiceClient::new(listening.authed(&token("games", SCOPES)));
    let redone = refitted(&mut games, 2).await;
    let model = redone.model.expect("version 2");
    assert_eq!(model.trained_on + model.sentiment_held_out, 50);
}

#[tokio::test]
async fn the_same_text_gets_the_same_answer_across_restarts() {
    let db = TestDatabase::create().await;
    let mut listening =
        TestService::start::<ListeningService>(settings(&db, &[]), reserve().await).await;
    let tweets = earshot_testkit::corpus::vader_tweets().expect("data/vader-icwsm2014");
    let inputs = |prefix: &str| -> Vec<MentionInput> {
        tweets
            .iter()
            .take(200)
            .enumerate()
            .map(|(i, t)| mention(&format!("{prefix}{i}"), &format!("a{i}"), &t.text))
            .collect()
    };
    let mut client = ListeningServiceClient::new(listening.authed(&token("one", SCOPES)));
    let first = ingest(&mut client, inputs("a")).await;
    listening.restart().await;
    let mut client = ListeningServiceClient::new(listening.authed(&token("two", SCOPES)));
    let second = ingest(&mut client, inputs("b")).await;
    assert_eq!(first.len(), second.len());
    for ((_, a), (_, b)) in first.iter().zip(&second) {
        assert_eq!(a, b);
    }
}
