//! Insight benchmark, against real PostgreSQL and a real gRPC server on
//! loopback.
//!
//! 1. Ingest: the events of a day of conversations (each mention
//!    classified; every fourth opens a case that is answered and resolved:
//!    CaseOpened, two CaseUpdated with their facts, ReplySent) delivered to
//!    insight's `EventSink` a thousand at a time, as a relay does, into
//!    facts and rollups. In the same run listening's ingest
//!    (`StreamMentions`) is measured first: the target is that insight keeps up.
//! 2. Reports over `EARSHOT_BENCH_FACTS` facts (10 million: 40% cases, 60%
//!    mentions of one tenant over a year, 50 agents, 30 topics, written
//!    through the same fact and rollup stores in bulk): GetServiceMetrics
//!    and GetFairnessReport latency, p50 and p99 of 30 calls after 3 that
//!    warm the cache.
//!
//! ```sh
//! cargo bench -p earshot-e2e --bench insight
//! EARSHOT_BENCH_FACTS=1000000 cargo bench -p earshot-e2e --bench insight
//! ```
//!
//! Uses `DATABASE_URL` when set, else a temporary cluster from the
//! machine's PostgreSQL binaries. Client, service and PostgreSQL share the
//! machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use earshot_e2e::ingest::stream_ingest;
use earshot_insight::InsightService;
use earshot_insight::facts::{CaseFact, MentionFact};
use earshot_insight::rollups::Deltas;
use earshot_proto::common::v1::{Author, Channel, Classification, Sentiment, TopicMatch};
use earshot_proto::events::v1::event_sink_client::EventSinkClient;
use earshot_proto::events::v1::{
    CaseFacts, CaseOpened, CaseUpdated, DeliverRequest, Event, MentionClassified, ReplySent,
    SlaOutcome, event,
};
use earshot_proto::insight::v1::insight_service_client::InsightServiceClient;
use earshot_proto::insight::v1::{
    Day, DayRange, Dimension, GetFairnessReportRequest, GetServiceMetricsRequest,
};
use earshot_testkit::rng::Rng;
use earshot_testkit::{TestDatabase, TestService, corpus, reserve, settings, token};
use uuid::Uuid;

const TENANT: &str = "bench";
const BATCH: usize = 1000;
const TOPICS: usize = 30;
const AGENTS: usize = 50;
const CHANNELS: [Channel; 8] = [
    Channel::X,
    Channel::Facebook,
    Channel::Instagram,
    Channel::Review,
    Channel::Email,
    Channel::Chat,
    Channel::Phone,
    Channel::WebForm,
];
const PRIORITIES: [&str; 4] = ["LOW", "NORMAL", "HIGH", "URGENT"];

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ts(at: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    })
}

fn envelope(producer: &str, at: DateTime<Utc>, payload: event::Payload) -> Event {
    Event {
        event_id: Uuid::now_v7().to_string(),
        tenant_id: TENANT.into(),
        occurred_at: ts(at),
        aggregate_key: String::new(),
        producer: producer.into(),
        drill: false,
        payload: Some(payload),
    }
}

fn start_of_year() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("a time")
}

/// The events of mention `i` (and of its case, for every fourth).
fn conversation(corpus: &[String], rng: &mut Rng, i: usize) -> Vec<Event> {
    let posted = start_of_year() + chrono::Duration::seconds((i as i64 * 7) % 86_400);
    let channel = CHANNELS[rng.below(CHANNELS.len())];
    let topic = format!("topic-{}", rng.below(TOPICS));
    let author = format!("author-{}", rng.below(20_000));
    let mention_id = Uuid::now_v7();
    let mut out = vec![envelope(
        "listening",
        posted,
        event::Payload::MentionClassified(MentionClassified {
            mention_id: mention_id.to_string(),
            source: "x".into(),
            channel: channel as i32,
            public: true,
            author: Some(Author {
                handle: author,
                followers: rng.below(100_000) as u64,
                ..Default::default()
            }),
            text: corpus[i % corpus.len()].clone(),
            thread_key: format!("thread-{}", i / 3),
            posted_at: ts(posted),
            classification: Some(Classification {
                intent: 1 + rng.below(3) as i32,
                topics: vec![TopicMatch {
                    topic: topic.clone(),
                    ..Default::default()
                }],
                sentiment: Some(Sentiment {
                    compound: rng.below(200) as f64 / 100.0 - 1.0,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    )];
    if !i.is_multiple_of(4) {
        return out;
    }
    let case_id = Uuid::now_v7().to_string();
    let agent = format!("agent-{}", rng.below(AGENTS));
    let replied = posted + chrono::Duration::seconds(60 + rng.below(7_200) as i64);
    let resolved = replied + chrono::Duration::seconds(600 + rng.below(200_000) as i64);
    let mut facts = CaseFacts {
        version: 1,
        status: "NEW".into(),
        channel: channel as i32,
        public: true,
        topic,
        intent: 2,
        priority: PRIORITIES[rng.below(4)].into(),
        lane: "STANDARD".into(),
        queue: format!("queue-{}", rng.below(5)),
        mention_id: mention_id.to_string(),
        opened_at: ts(posted),
        inbound_messages: 1,
        sla: vec![
            SlaOutcome {
                target: "FIRST_RESPONSE".into(),
                state: "RUNNING".into(),
                ..Default::default()
            },
            SlaOutcome {
                target: "RESOLUTION".into(),
                state: "RUNNING".into(),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    out.push(envelope(
        "case",
        posted,
        event::Payload::CaseOpened(CaseOpened {
            case_id: case_id.clone(),
            facts: Some(facts.clone()),
            ..Default::default()
        }),
    ));
    facts.version = 2;
    facts.status = "OPEN".into();
    facts.agent = agent.clone();
    facts.first_response_at = ts(replied);
    facts.first_response_business_secs = (replied - posted).num_seconds() as f64;
    facts.replies = 1;
    facts.sla[0].state = "MET".into();
    out.push(envelope(
        "case",
        replied,
        event::Payload::ReplySent(ReplySent {
            case_id: case_id.clone(),
            reply_id: Uuid::now_v7().to_string(),
            channel: channel as i32,
            public: true,
            body: "Sorry about that, we are on it".into(),
            author: agent,
            queue: facts.queue.clone(),
            ..Default::default()
        }),
    ));
    out.push(envelope(
        "case",
        replied,
        event::Payload::CaseUpdated(CaseUpdated {
            case_id: case_id.clone(),
            status: "OPEN".into(),
            version: 2,
            facts: Some(facts.clone()),
        }),
    ));
    facts.version = 3;
    facts.status = "RESOLVED".into();
    facts.resolved_at = ts(resolved);
    facts.resolution_business_secs = (resolved - posted).num_seconds() as f64 / 3.0;
    facts.sla[1].state = if rng.below(5) == 0 { "BREACHED" } else { "MET" }.into();
    out.push(envelope(
        "case",
        resolved,
        event::Payload::CaseUpdated(CaseUpdated {
            case_id,
            status: "RESOLVED".into(),
            version: 3,
            facts: Some(facts),
        }),
    ));
    out
}

/// A case fact of the year-long corpus.
fn case_fact(rng: &mut Rng, i: usize, n: usize) -> CaseFact {
    let opened_at = start_of_year() + chrono::Duration::seconds((i as i64 * 31_536_000) / n as i64);
    let first = 60.0 + rng.below(7_200) as f64;
    let resolved = rng.below(10) > 0;
    let resolution = first + 600.0 + rng.below(400_000) as f64;
    CaseFact {
        tenant_id: TENANT.into(),
        case_id: Uuid::now_v7(),
        version: 3,
        status: if resolved { "RESOLVED" } else { "OPEN" }.into(),
        channel: CHANNELS[rng.below(CHANNELS.len())] as i16,
        public: true,
        topic: format!("topic-{}", rng.below(TOPICS)),
        intent: 1 + rng.below(3) as i16,
        priority: PRIORITIES[rng.below(4)].into(),
        lane: ["STANDARD", "FAST"][rng.below(2)].into(),
        queue: format!("queue-{}", rng.below(5)),
        agent: format!("agent-{}", rng.below(AGENTS)),
        customer_id: None,
        followers: rng.below(100_000) as i64,
        vip: false,
        mention_id: None,
        opened_at,
        first_response_secs: Some(first),
        first_response_business_secs: Some(first / 2.0),
        resolved_at: resolved.then(|| opened_at + chrono::Duration::seconds(resolution as i64)),
        resolution_secs: resolved.then_some(resolution),
        resolution_business_secs: resolved.then_some(resolution / 3.0),
        reopens: i32::from(rng.below(20) == 0),
        replies: 1 + rng.below(3) as i32,
        inbound_messages: 1 + rng.below(3) as i32,
        channel_switches: i32::from(rng.below(10) == 0),
        sla_first_response: [3, 3, 3, 4][rng.below(4)],
        sla_next_response: 0,
        sla_resolution: if resolved { [3, 4][rng.below(2)] } else { 1 },
        goodwill_gestures: i32::from(rng.below(8) == 0),
        goodwill_minor: if rng.below(8) == 0 { 1_000 } else { 0 },
        csat: rng.below(6) as i16,
        moved_private: rng.below(6) == 0,
        consent_granted: false,
        merged: false,
        sla_due_at: None,
    }
}

fn mention_fact(rng: &mut Rng, i: usize, n: usize) -> MentionFact {
    MentionFact {
        tenant_id: TENANT.into(),
        mention_id: Uuid::now_v7(),
        posted_at: start_of_year() + chrono::Duration::seconds((i as i64 * 31_536_000) / n as i64),
        channel: CHANNELS[rng.below(CHANNELS.len())] as i16,
        public: true,
        topic: format!("topic-{}", rng.below(TOPICS)),
        intent: 1 + rng.below(3) as i16,
        rule_id: String::new(),
        author: format!("x:author-{}", rng.below(200_000)),
        handle: String::new(),
        followers: rng.below(100_000) as i64,
        thread_key: String::new(),
        sentiment: Some(rng.below(200) as f64 / 100.0 - 1.0),
        praise: None,
        recurrent: false,
    }
}

/// Writes `n` facts through the fact and rollup stores, a chunk per transaction.
async fn load_facts(pool: &sqlx::PgPool, n: usize) -> anyhow::Result<f64> {
    let cases = n * 2 / 5;
    let mentions = n - cases;
    let mut rng = Rng(42);
    let started = Instant::now();
    const CHUNK: usize = 5_000;
    for start in (0..cases).step_by(CHUNK) {
        let chunk: Vec<CaseFact> = (start..(start + CHUNK).min(cases))
            .map(|i| case_fact(&mut rng, i, cases))
            .collect();
        let mut tx = pool.begin().await?;
        let mut deltas = Deltas::default();
        earshot_insight::facts::store::record_cases(&mut tx, chunk, &mut deltas).await?;
        deltas.prune();
        earshot_insight::rollups::store::apply(&mut tx, &deltas).await?;
        tx.commit().await?;
    }
    for start in (0..mentions).step_by(CHUNK) {
        let chunk: Vec<MentionFact> = (start..(start + CHUNK).min(mentions))
            .map(|i| mention_fact(&mut rng, i, mentions))
            .collect();
        let mut tx = pool.begin().await?;
        let mut deltas = Deltas::default();
        earshot_insight::facts::store::record_mentions(&mut tx, chunk, &mut deltas).await?;
        deltas.prune();
        earshot_insight::rollups::store::apply(&mut tx, &deltas).await?;
        tx.commit().await?;
    }
    sqlx::query("ANALYZE").execute(pool).await?;
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

fn range(from: (i32, u32, u32), to: (i32, u32, u32)) -> Option<DayRange> {
    let day = |(year, month, day)| Day { year, month, day };
    Some(DayRange {
        from: Some(day(from)),
        to: Some(day(to)),
    })
}

/// p50 and p99 of `calls` timed calls after 3 untimed ones, in milliseconds.
async fn latency<F, Fut>(calls: usize, mut call: F) -> anyhow::Result<(f64, f64)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    for _ in 0..3 {
        call().await?;
    }
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        call().await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((q * calls as f64).ceil() as usize).clamp(1, calls) - 1];
    Ok((at(0.5), at(0.99)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let measured = env_or("EARSHOT_BENCH_MENTIONS", 100_000);
    let facts = env_or("EARSHOT_BENCH_FACTS", 10_000_000);
    let corpus = Arc::new(corpus::load()?);
    println!(
        "insight benchmark: {measured} mentions of conversations into facts and rollups, then \
         reports over {facts} facts; 2 cores shared by client, services and PostgreSQL"
    );
    let db = TestDatabase::create().await;
    let (ingest_rate, _, _) = stream_ingest(&db, corpus.clone(), measured).await?;

    let nobody = reserve().await.local_addr()?;
    let mut config = settings(&db, &[("case", nobody)]);
    config.relay.min_backoff = Duration::from_secs(60);
    config.relay.max_backoff = Duration::from_secs(60);
    let service = TestService::start::<InsightService>(config, reserve().await).await;
    let relay = earshot_testkit::service_token();
    let mut sink =
        EventSinkClient::new(service.authed(&relay)).max_encoding_message_size(64 * 1024 * 1024);
    let mut rng = Rng(7);
    let events: Vec<Event> = (0..measured)
        .flat_map(|i| conversation(&corpus, &mut rng, i))
        .collect();
    let started = Instant::now();
    let mut handled = 0u64;
    for events in events.chunks(BATCH) {
        handled += u64::from(
            sink.deliver(DeliverRequest {
                events: events.to_vec(),
            })
            .await?
            .into_inner()
            .handled,
        );
    }
    let insight_rate = handled as f64 / started.elapsed().as_secs_f64();

    // The year of facts, for another tenant's worth of reports.
    let pool = db.pool("insight").await;
    sqlx::query("TRUNCATE case_facts, mention_facts, reply_facts, case_rollups, case_durations, case_resolutions, fairness_rollups, driver_rollups")
        .execute(&pool)
        .await?;
    let load_rate = load_facts(&pool, facts).await?;
    // Reports are measured on compacted rollups, as they stand in a steady state.
    loop {
        let pending: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM case_rollups_pending)
                  + (SELECT count(*) FROM case_durations_pending)
                  + (SELECT count(*) FROM fairness_rollups_pending)",
        )
        .fetch_one(&pool)
        .await?;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The bulk load churned the pending tables far past what ingest does
    // between two autovacuum rounds: vacuum as autovacuum would.
    sqlx::query("VACUUM ANALYZE").execute(&pool).await?;
    eprintln!(
        "insight {insight_rate:.0} events/s, listening {ingest_rate:.0} mentions/s, load {load_rate:.0} facts/s"
    );
    let client = InsightServiceClient::new(service.authed(&token(TENANT, &["insight:read"])))
        .max_decoding_message_size(64 << 20);
    let mut rows = Vec::new();
    for (label, days, dim) in [
        (
            "30 days, all cases",
            range((2026, 6, 1), (2026, 6, 30)),
            Dimension::Unspecified,
        ),
        (
            "30 days, by agent",
            range((2026, 6, 1), (2026, 6, 30)),
            Dimension::Agent,
        ),
        (
            "365 days, all cases",
            range((2026, 1, 1), (2026, 12, 31)),
            Dimension::Unspecified,
        ),
        (
            "365 days, by agent",
            range((2026, 1, 1), (2026, 12, 31)),
            Dimension::Agent,
        ),
    ] {
        let (p50, p99) = latency(30, || {
            let mut c = client.clone();
            async move {
                c.get_service_metrics(GetServiceMetricsRequest {
                    range: days,
                    group_by: dim as i32,
                })
                .await?;
                Ok(())
            }
        })
        .await?;
        eprintln!("GetServiceMetrics, {label}: p50 {p50:.1} ms, p99 {p99:.1} ms");
        rows.push((format!("GetServiceMetrics, {label}"), p50, p99));
    }
    for (label, days) in [
        ("30 days", range((2026, 6, 1), (2026, 6, 30))),
        ("365 days", range((2026, 1, 1), (2026, 12, 31))),
    ] {
        let (p50, p99) = latency(30, || {
            let mut c = client.clone();
            async move {
                c.get_fairness_report(GetFairnessReportRequest {
                    range: days,
                    high_followers: 0,
                })
                .await?;
                Ok(())
            }
        })
        .await?;
        rows.push((format!("GetFairnessReport, {label}"), p50, p99));
    }

    println!("| measure | figure |");
    println!("| --- | --- |");
    println!(
        "| listening ingest, StreamMentions end to end ({measured} mentions) | {ingest_rate:.0} mentions/s |"
    );
    println!(
        "| insight: the conversations' events through EventSink into facts and rollups ({handled} events) | {insight_rate:.0} events/s |"
    );
    println!(
        "| insight / listening ingest | {:.2} |",
        insight_rate / ingest_rate
    );
    println!(
        "| bulk load of {facts} facts through the fact and rollup stores | {load_rate:.0} facts/s |"
    );
    for (label, p50, p99) in rows {
        println!("| {label} over {facts} facts | p50 {p50:.1} ms, p99 {p99:.1} ms |");
    }
    Ok(())
}
