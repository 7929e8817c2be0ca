//! Escalation benchmark, against real PostgreSQL and real gRPC servers on
//! loopback: batches of `MentionClassified` delivered to the escalation
//! `EventSink` one call at a time, as a relay does, evaluated against 100
//! guidelines (the five defaults and 95 more of every kind of condition)
//! with spike state for 1,000 topics; evaluations, escalations, incidents,
//! spike state and the outbox (two subscribers) written as in production.
//! Mentions are posted 2,000 a minute across the topics, so every batch
//! moves about a thousand series and closes minutes as it goes. In the
//! same run, listening's ingest (`StreamMentions`) is measured first: the
//! issue's target is that escalation keeps up with it.
//!
//!     cargo bench -p earshot-e2e --bench escalation
//!     EARSHOT_BENCH_MENTIONS=50000 cargo bench -p earshot-e2e --bench escalation
//!
//! Uses `DATABASE_URL` when set, else a temporary cluster from the
//! machine's PostgreSQL binaries. Client, services and PostgreSQL share the
//! machine.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use earshot_e2e::ingest::stream_ingest;
use earshot_escalation::EscalationService;
use earshot_proto::common::v1::{
    Author, Channel, Classification, Intent, RuleMatch, Sentiment, TopicMatch, Urgency,
    UrgencySignal,
};
use earshot_proto::escalation::v1::escalation_service_client::EscalationServiceClient;
use earshot_proto::escalation::v1::{
    Actions, Condition, ConditionList, CreateGuidelineRequest, GuidelineInput, InfluencerCondition,
    IntentCondition, PhraseCondition, RuleCondition, SentimentCondition, Severity, Team,
    TopicCondition, condition,
};
use earshot_proto::events::v1::event_sink_client::EventSinkClient;
use earshot_proto::events::v1::{DeliverRequest, Event, MentionClassified, event};
use earshot_testkit::{TestDatabase, TestService, corpus, reserve, settings, token};

const TENANT: &str = "bench";
const TOPICS: usize = 1000;
const BATCH: usize = 1000;
/// Mentions per simulated minute, across all topics.
const PER_MINUTE: usize = 2000;
const PHRASES: [&str; 12] = [
    "refund",
    "broken",
    "never again",
    "worst",
    "cancel",
    "scam",
    "lawyer",
    "unsafe",
    "fire",
    "outage",
    "down again",
    "stolen",
];

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn topic(i: usize) -> String {
    format!("topic-{:03}", i % TOPICS)
}

fn leaf(kind: condition::Kind) -> Condition {
    Condition { kind: Some(kind) }
}

/// Guideline `i` of the 95 the tenant adds: phrases, topics, sentiment with
/// intent, influencers, listening rules, in turn, each as narrow as real
/// guidelines are (about one mention in a hundred fires one).
fn guideline(i: usize) -> GuidelineInput {
    let condition = match i % 5 {
        0 => leaf(condition::Kind::Phrase(PhraseCondition {
            any_of: (0..4)
                .map(|k| format!("{} {}", PHRASES[(i + k) % PHRASES.len()], i))
                .collect(),
        })),
        1 => leaf(condition::Kind::All(ConditionList {
            conditions: vec![
                leaf(condition::Kind::Topic(TopicCondition {
                    any_of: (0..10).map(|k| topic(i * 10 + k)).collect(),
                })),
                leaf(condition::Kind::Sentiment(SentimentCondition {
                    at_or_below: -0.9,
                })),
            ],
        })),
        2 => leaf(condition::Kind::All(ConditionList {
            conditions: vec![
                leaf(condition::Kind::Sentiment(SentimentCondition {
                    at_or_below: -0.95,
                })),
                leaf(condition::Kind::Intent(IntentCondition {
                    any_of: vec![Intent::Complaint as i32],
                })),
                leaf(condition::Kind::Topic(TopicCondition {
                    any_of: vec![topic(i)],
                })),
            ],
        })),
        3 => leaf(condition::Kind::Influencer(InfluencerCondition {
            min_followers: 900_000 + i as u64,
            verified: false,
        })),
        _ => leaf(condition::Kind::All(ConditionList {
            conditions: vec![
                leaf(condition::Kind::Rule(RuleCondition {
                    rule_ids: vec![format!("rule-{i}")],
                })),
                leaf(condition::Kind::Intent(IntentCondition {
                    any_of: vec![Intent::Complaint as i32],
                })),
                leaf(condition::Kind::Sentiment(SentimentCondition {
                    at_or_below: -0.5,
                })),
            ],
        })),
    };
    GuidelineInput {
        name: format!("bench guideline {i}"),
        severity: Severity::Sev3 as i32,
        condition: Some(condition),
        actions: Some(Actions {
            team: Team::Support as i32,
            ack_within_seconds: 3600,
            raise_case_priority: true,
            ..Default::default()
        }),
        enabled: true,
    }
}

/// Mention `i`, posted at its place in a stream of PER_MINUTE a minute that
/// ends now.
fn mention(corpus: &[String], i: usize, total: usize) -> Event {
    let behind = Duration::from_millis(((total - i) * 60_000 / PER_MINUTE) as u64);
    let posted_at = SystemTime::now() - behind;
    let spread = i.wrapping_mul(7919);
    let mut topics = vec![TopicMatch {
        topic: topic(spread),
        cues: vec![],
    }];
    if i.is_multiple_of(3) {
        topics.push(TopicMatch {
            topic: topic(spread / 7 + 1),
            cues: vec![],
        });
    }
    let urgency = match i % 400 {
        0 => vec![UrgencySignal {
            urgency: Urgency::LegalThreat as i32,
            cues: vec!["lawyer".into()],
        }],
        1 => vec![UrgencySignal {
            urgency: Urgency::Safety as i32,
            cues: vec!["fire".into()],
        }],
        _ => vec![],
    };
    let compound = ((spread % 2001) as f64 / 1000.0) - 1.0;
    Event {
        event_id: uuid::Uuid::now_v7().to_string(),
        tenant_id: TENANT.into(),
        occurred_at: Some(SystemTime::now().into()),
        aggregate_key: format!("m{i}"),
        producer: "listening".into(),
        drill: false,
        payload: Some(event::Payload::MentionClassified(MentionClassified {
            mention_id: format!("m{i}"),
            source: "bench".into(),
            external_id: format!("x{i}"),
            channel: Channel::X as i32,
            public: true,
            author: Some(Author {
                external_id: format!("a{}", i % 50_000),
                handle: format!("user{}", i % 50_000),
                display_name: String::new(),
                // Most authors have a small audience; one in 200 a large one.
                followers: if spread.is_multiple_of(200) {
                    10_000 + (spread as u64) % 990_000
                } else {
                    (spread as u64) % 2_000
                },
                verified: false,
            }),
            text: corpus[i % corpus.len()].clone(),
            language: "en".into(),
            thread_key: format!("t{i}"),
            posted_at: Some(posted_at.into()),
            classification: Some(Classification {
                intent: if i.is_multiple_of(2) {
                    Intent::Complaint as i32
                } else {
                    Intent::Question as i32
                },
                actionable: true,
                sentiment: Some(Sentiment {
                    compound,
                    ..Default::default()
                }),
                urgency,
                topics,
                ..Default::default()
            }),
            matched_rules: vec![RuleMatch {
                rule_id: format!("rule-{}", i % 500),
                name: "brand".into(),
                version: 1,
            }],
        })),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let measured = env_or("EARSHOT_BENCH_MENTIONS", 200_000);
    let warm = env_or("EARSHOT_BENCH_WARM", 60_000);
    let corpus = Arc::new(corpus::load()?);
    let db = TestDatabase::create().await;
    println!(
        "escalation benchmark: {measured} mentions after {warm} to warm the spike state, \
         {TOPICS} topics, 100 guidelines, 2 cores shared by client, services and PostgreSQL"
    );

    let (ingest_rate, _, _) = stream_ingest(&db, corpus.clone(), measured).await?;

    // Two subscribers that never answer: the outbox is written as in
    // production, and nothing drains it during the run.
    let nobody = reserve().await.local_addr()?;
    let mut config = settings(&db, &[("case", nobody), ("insight", nobody)]);
    config.relay.min_backoff = Duration::from_secs(60);
    config.relay.max_backoff = Duration::from_secs(60);
    let service = TestService::start::<EscalationService>(config, reserve().await).await;
    let operator = token(TENANT, earshot_auth::TENANT_SCOPES);
    let mut client = EscalationServiceClient::new(service.authed(&operator));
    for i in 0..95 {
        client
            .create_guideline(CreateGuidelineRequest {
                guideline: Some(guideline(i)),
                request_id: format!("bench-{i}"),
            })
            .await?;
    }
    if std::env::var("EARSHOT_BENCH_SPIKES").as_deref() == Ok("0") {
        let detectors = client
            .list_spike_detectors(earshot_proto::escalation::v1::ListSpikeDetectorsRequest {})
            .await?
            .into_inner()
            .detectors;
        for d in detectors {
            client
                .update_spike_detector(earshot_proto::escalation::v1::UpdateSpikeDetectorRequest {
                    detector_id: d.detector_id,
                    expected_version: d.version,
                    settings: d.settings,
                    enabled: false,
                })
                .await?;
        }
    }
    let relay = earshot_testkit::service_token();
    let mut sink =
        EventSinkClient::new(service.authed(&relay)).max_encoding_message_size(64 * 1024 * 1024);
    let total = warm + measured;
    let events: Vec<Event> = (0..total).map(|i| mention(&corpus, i, total)).collect();
    let mut batches = events.chunks(BATCH).map(<[Event]>::to_vec);
    for events in batches.by_ref().take(warm / BATCH) {
        sink.deliver(DeliverRequest { events }).await?;
    }
    let pool = db.pool("escalation").await;
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await }
    };
    let escalations_before = count("SELECT count(*) FROM escalations").await?;
    let alerts_before = count("SELECT count(*) FROM spike_alerts").await?;
    let started = Instant::now();
    let mut handled = 0u64;
    for events in batches {
        handled += u64::from(
            sink.deliver(DeliverRequest { events })
                .await?
                .into_inner()
                .handled,
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rate = handled as f64 / elapsed;
    let series = count("SELECT count(*) FROM spike_series").await?;
    let escalations = count("SELECT count(*) FROM escalations").await? - escalations_before;
    let alerts = count("SELECT count(*) FROM spike_alerts").await? - alerts_before;
    let incidents = count("SELECT count(*) FROM incidents").await?;

    println!("| measure | figure |");
    println!("| --- | --- |");
    println!(
        "| listening ingest, StreamMentions end to end ({measured} mentions) | {ingest_rate:.0} mentions/s |"
    );
    println!(
        "| escalation: MentionClassified through EventSink (evaluate 100 guidelines, spikes for {series} series, evaluations, escalations, outbox) | {rate:.0} events/s |"
    );
    println!(
        "| escalation / listening ingest | {:.2} |",
        rate / ingest_rate
    );
    println!(
        "| raised while measured | {escalations} escalations, {alerts} spike alerts, {incidents} incidents in all |"
    );
    Ok(())
}
