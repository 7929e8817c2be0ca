//! Case service benchmark, against real PostgreSQL and a real gRPC server on
//! loopback:
//!
//! 1. cases opened from events: batches of actionable `MentionClassified`
//!    delivered to the case `EventSink` one call at a time, as a relay does
//!    (customers found or created, threading, routing, SLA clocks, audit and
//!    the outbox written for one subscriber);
//! 2. `GetCase` with 64 requests in flight on one connection;
//! 3. `ListQueue` (first page of 20, unfiltered and filtered by queue) with 64
//!    requests in flight;
//! 4. the reference both are measured against, in the same run: a bare tonic
//!    unary call whose handler reads one row of `cases` by primary key
//!    through a pool configured as the service's, 64 in flight — the limit
//!    of "one RPC and one row" on this stack. The ratios printed are each
//!    read's rate over the reference's, and its p99 over the reference's.
//!
//! Run it with:
//!
//!     cargo bench -p earshot-case --bench case
//!     EARSHOT_BENCH_MENTIONS=20000 EARSHOT_BENCH_SECONDS=5 cargo bench -p earshot-case --bench case
//!
//! Uses `DATABASE_URL` when set, else a temporary cluster from the machine's
//! PostgreSQL binaries. Client, service and PostgreSQL share the machine.

use std::time::{Duration, Instant};

use earshot_case::CaseService;
use earshot_proto::case::v1::case_service_client::CaseServiceClient;
use earshot_proto::case::v1::{
    CreateRoutingRuleRequest, GetCaseRequest, Lane, ListCasesRequest, ListQueueRequest,
    PutSlaPolicyRequest, RoutingConditions, RoutingRule, SlaPolicy,
};
use earshot_proto::common::v1::{Author, Channel, Classification, Intent, TopicMatch};
use earshot_proto::events::v1::event_sink_client::EventSinkClient;
use earshot_proto::events::v1::{DeliverRequest, Event, MentionClassified, event};
use earshot_testkit::{TestDatabase, TestService, corpus, reserve, settings, token};
use sqlx::Row as _;

const TENANT: &str = "bench";

/// The reference RPC: `grpc.health.v1.Health/Check` (a stock unary method
/// tonic serves) whose `service` field carries a case id, answered after
/// reading that case's row by primary key.
struct OneRow {
    pool: sqlx::PgPool,
}

#[tonic::async_trait]
impl tonic_health::pb::health_server::Health for OneRow {
    async fn check(
        &self,
        request: tonic::Request<tonic_health::pb::HealthCheckRequest>,
    ) -> Result<tonic::Response<tonic_health::pb::HealthCheckResponse>, tonic::Status> {
        let id = uuid::Uuid::parse_str(&request.into_inner().service)
            .map_err(|_| tonic::Status::invalid_argument("service: a case id"))?;
        let row: sqlx::postgres::PgRow = sqlx::query("SELECT * FROM cases WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| tonic::Status::internal(e.to_string()))?;
        assert!(!row.is_empty());
        Ok(tonic::Response::new(
            tonic_health::pb::HealthCheckResponse {
                status: tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            },
        ))
    }

    type WatchStream =
        tokio_stream::Empty<Result<tonic_health::pb::HealthCheckResponse, tonic::Status>>;

    async fn watch(
        &self,
        _: tonic::Request<tonic_health::pb::HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("not measured"))
    }
}

/// Serves [`OneRow`] on a loopback port, as the service is served (TCP_NODELAY).
async fn reference(
    pool: sqlx::PgPool,
) -> tonic_health::pb::health_client::HealthClient<tonic::transport::Channel> {
    let listener = reserve().await;
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(tonic_health::pb::health_server::HealthServer::new(OneRow {
                pool,
            }))
            .serve_with_incoming(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            ),
    );
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("valid url")
        .connect_lazy();
    tonic_health::pb::health_client::HealthClient::new(channel)
}
const IN_FLIGHT: usize = 64;
const BATCH: usize = 1000;
const TOPICS: [&str; 5] = ["card_delivery", "fees", "top_up", "transfer", "account"];
const CHANNELS: [Channel; 4] = [
    Channel::X,
    Channel::Facebook,
    Channel::Instagram,
    Channel::Review,
];

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Mention `i`: one in four answers the mention before it (same author, same
/// thread), so threading joins it to that case; the rest open cases.
fn mention(corpus: &[String], i: usize) -> Event {
    let author = if i % 4 == 3 { i - 1 } else { i };
    let classified = MentionClassified {
        mention_id: format!("m{i}"),
        source: "bench".into(),
        external_id: format!("x{i}"),
        channel: CHANNELS[i % CHANNELS.len()] as i32,
        public: true,
        author: Some(Author {
            external_id: format!("a{author}"),
            handle: format!("user{author}"),
            display_name: String::new(),
            followers: (author as u64 * 7919) % 200_000,
            verified: false,
        }),
        text: corpus[i % corpus.len()].clone(),
        language: "en".into(),
        thread_key: format!("t{author}"),
        posted_at: Some(std::time::SystemTime::now().into()),
        classification: Some(Classification {
            intent: Intent::HelpRequest as i32,
            actionable: true,
            topics: vec![TopicMatch {
                topic: TOPICS[i % TOPICS.len()].into(),
                cues: vec![],
            }],
            ..Default::default()
        }),
        matched_rules: vec![],
    };
    Event {
        event_id: uuid::Uuid::now_v7().to_string(),
        tenant_id: TENANT.into(),
        occurred_at: Some(std::time::SystemTime::now().into()),
        aggregate_key: format!("m{i}"),
        producer: "listening".into(),
        drill: false,
        payload: Some(event::Payload::MentionClassified(classified)),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Runs `call` from `IN_FLIGHT` tasks for `seconds`; returns requests/s, p50, p99.
async fn load<F, Fut>(seconds: u64, call: F) -> (f64, Duration, Duration)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..IN_FLIGHT {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = worker;
            while Instant::now() < deadline {
                let t = Instant::now();
                call(n).await;
                latencies.push(t.elapsed());
                n += IN_FLIGHT;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("worker"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    (
        all.len() as f64 / elapsed,
        percentile(&all, 0.50),
        percentile(&all, 0.99),
    )
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let total = env_or("EARSHOT_BENCH_MENTIONS", 100_000);
    let seconds = env_or("EARSHOT_BENCH_SECONDS", 10) as u64;
    let corpus = corpus::load().expect("the shared corpus (see ../shared/data)");
    let db = TestDatabase::create().await;
    // One subscriber that never answers: the outbox is written as in
    // production, and nothing drains it during the run.
    let nobody = reserve().await.local_addr().expect("bound");
    let mut config = settings(&db, &[("insight", nobody)]);
    config.database.max_connections = 16;
    config.relay.min_backoff = Duration::from_secs(60);
    config.relay.max_backoff = Duration::from_secs(60);
    let service = TestService::start::<CaseService>(config, reserve().await).await;
    let operator = token(TENANT, earshot_auth::TENANT_SCOPES);
    let mut client = CaseServiceClient::new(service.authed(&operator));
    // Routing and SLAs as a tenant would have them.
    for (name, min_followers, priority, lane, queue) in [
        ("audience", 100_000u64, "high", Lane::Fast, "social"),
        ("everyone", 0, "normal", Lane::Standard, "general"),
    ] {
        client
            .create_routing_rule(CreateRoutingRuleRequest {
                request_id: name.into(),
                rule: Some(RoutingRule {
                    name: name.into(),
                    order: i32::from(min_followers == 0),
                    when: Some(RoutingConditions {
                        min_followers,
                        ..Default::default()
                    }),
                    lane: lane as i32,
                    priority: priority.into(),
                    queue: queue.into(),
                    ..Default::default()
                }),
            })
            .await
            .expect("rule");
        client
            .put_sla_policy(PutSlaPolicyRequest {
                policy: Some(SlaPolicy {
                    priority: priority.into(),
                    lane: lane as i32,
                    first_response_seconds: 3600,
                    next_response_seconds: 1800,
                    resolution_seconds: 86_400,
                    version: 0,
                    business_hours: false,
                }),
            })
            .await
            .expect("policy");
    }

    let relay = earshot_testkit::service_token();
    let mut sink =
        EventSinkClient::new(service.authed(&relay)).max_encoding_message_size(64 * 1024 * 1024);
    let batches: Vec<Vec<Event>> = (0..total)
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(|c| c.iter().map(|&i| mention(&corpus, i)).collect())
        .collect();
    let started = Instant::now();
    let mut handled = 0u64;
    for events in batches {
        handled += u64::from(
            sink.deliver(DeliverRequest { events })
                .await
                .expect("delivered")
                .into_inner()
                .handled,
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    let pool = db.pool("cases").await;
    let cases: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
        .fetch_one(&pool)
        .await
        .expect("count");
    let messages: i64 = sqlx::query_scalar("SELECT count(*) FROM case_messages")
        .fetch_one(&pool)
        .await
        .expect("count");
    let customers: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
        .fetch_one(&pool)
        .await
        .expect("count");

    // As autovacuum would have by now in a steady state.
    sqlx::raw_sql(
        "ANALYZE cases.cases, cases.case_sla_timers, cases.goodwill_gestures, cases.commitments",
    )
    .execute(&pool)
    .await
    .expect("analyze");
    let ids: Vec<String> =
        sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM cases ORDER BY random() LIMIT 10000")
            .fetch_all(&pool)
            .await
            .expect("ids")
            .into_iter()
            .map(|id| id.to_string())
            .collect();
    let ids = std::sync::Arc::new(ids);
    let get_client = client.clone();
    let get_ids = ids.clone();
    let (get_rate, get_p50, get_p99) = load(seconds, move |n| {
        let mut client = get_client.clone();
        let ids = get_ids.clone();
        async move {
            client
                .get_case(GetCaseRequest {
                    case_id: ids[n % ids.len()].clone(),
                })
                .await
                .expect("get case");
        }
    })
    .await;
    let queue_client = client.clone();
    let (queue_rate, queue_p50, queue_p99) = load(seconds, move |n| {
        let mut client = queue_client.clone();
        async move {
            let queue = if n % 2 == 0 { "" } else { "social" };
            let page = client
                .list_queue(ListQueueRequest {
                    page_size: 20,
                    queue: queue.into(),
                    ..Default::default()
                })
                .await
                .expect("queue")
                .into_inner();
            assert_eq!(page.cases.len(), 20);
        }
    })
    .await;
    // The reference: the same pool settings as the service's, its schema.
    let mut reference_settings = settings(&db, &[]).database;
    reference_settings.max_connections = 16;
    let reference_pool =
        earshot_server::database::pool(&reference_settings, "cases").expect("pool");
    let one_row = reference(reference_pool.clone()).await;
    let row_ids = ids.clone();
    let (ref_rate, ref_p50, ref_p99) = load(seconds, move |n| {
        let mut client = one_row.clone();
        let ids = row_ids.clone();
        async move {
            client
                .check(tonic_health::pb::HealthCheckRequest {
                    service: ids[n % ids.len()].clone(),
                })
                .await
                .expect("one row");
        }
    })
    .await;
    reference_pool.close().await;

    let listed = client
        .list_cases(ListCasesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .cases
        .len();
    assert!(listed > 0);

    println!(
        "case benchmark: {total} mentions in batches of {BATCH}, corpus of {} real texts, {} cores shared by client, service and PostgreSQL",
        corpus.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| measure | figure |");
    println!("| --- | --- |");
    println!(
        "| cases from events (deliver → customers, threading, routing, SLA clocks, audit, outbox) | {:.0} mentions/s; {cases} cases, {messages} messages, {customers} customers from {handled} events in {elapsed:.1} s |",
        handled as f64 / elapsed
    );
    println!(
        "| GetCase, {IN_FLIGHT} in flight, {seconds} s | {get_rate:.0} req/s, p50 {}, p99 {} |",
        ms(get_p50),
        ms(get_p99)
    );
    println!(
        "| ListQueue (20 by SLA due time; all, or one queue), {IN_FLIGHT} in flight, {seconds} s | {queue_rate:.0} req/s, p50 {}, p99 {} |",
        ms(queue_p50),
        ms(queue_p99)
    );
    println!(
        "| reference: bare tonic unary, one row of cases by primary key, {IN_FLIGHT} in flight, {seconds} s | {ref_rate:.0} req/s, p50 {}, p99 {} |",
        ms(ref_p50),
        ms(ref_p99)
    );
    println!(
        "| GetCase against the reference (target ≥ 0.8 of the rate, p99 ≤ 1.5×) | {:.2} of the rate, p99 {:.2}× |",
        get_rate / ref_rate,
        get_p99.as_secs_f64() / ref_p99.as_secs_f64()
    );
    println!(
        "| ListQueue against the reference (target ≥ 0.5 of the rate) | {:.2} of the rate |",
        queue_rate / ref_rate
    );
    pool.close().await;
    drop(service);
}
