//! Overload benchmark: listening's `IngestMentions` driven at twice the rate
//! it sustains. First 16 closed-loop clients measure the sustained rate; then
//! 16 open-loop clients offer twice that for `EARSHOT_BENCH_SECONDS`
//! (default 60), each call on its own schedule whether or not the ones
//! before it were answered, as real sources do. Admission control should
//! keep the accepted rate near the sustained one (≥ 0.9 of it), answer the
//! surplus `RESOURCE_EXHAUSTED` at once, keep the accepted calls' latency
//! and the memory those of the bound, and store nothing for a call its
//! caller saw fail.
//!
//!     cargo bench -p earshot-e2e --bench overload
//!     EARSHOT_BENCH_SECONDS=15 cargo bench -p earshot-e2e --bench overload
//!
//! `EARSHOT_BENCH_BATCH` (default 100) sets the mentions per call,
//! `EARSHOT_BENCH_SUSTAIN_SECONDS` (default 15) the closed-loop measure, and
//! the service's own variables (`EARSHOT_MAX_IN_FLIGHT`, …) its bounds:
//! `EARSHOT_MAX_IN_FLIGHT=100000` shows the service without admission
//! control. Uses `DATABASE_URL` when set, else a temporary cluster. Memory is
//! this process's resident set (clients and service), not PostgreSQL's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use earshot_config::Env;
use earshot_listening::ListeningService;
use earshot_proto::common::v1::{Author, Channel};
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{IngestMentionsRequest, MentionInput};
use earshot_server::admission::Limits;
use earshot_testkit::memory::Sampler;
use earshot_testkit::{AuthedChannel, TestDatabase, TestService, corpus, reserve, settings, token};
use tokio::sync::mpsc;

const TENANT: &str = "overload";
const CLIENTS: usize = 16;
/// What a caller waits before it gives up (sent as `grpc-timeout` too).
const TIMEOUT: Duration = Duration::from_secs(5);
/// Calls a client process keeps outstanding at most; past it, it stops
/// offering, as a real client runs out of sockets or memory.
const MAX_OUTSTANDING: usize = 20_000;
const POOL: u32 = 10;

type Client = ListeningServiceClient<AuthedChannel>;

fn env_or(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The mentions of one call, each with an id of its own.
struct Source {
    corpus: Vec<String>,
    next: AtomicU64,
    batch: usize,
}

impl Source {
    fn request(&self) -> IngestMentionsRequest {
        let first = self.next.fetch_add(self.batch as u64, Ordering::Relaxed) as usize;
        let mentions = (first..first + self.batch)
            .map(|i| {
                let author = i % 50_000;
                MentionInput {
                    source: "bench".into(),
                    external_id: format!("m{i}"),
                    channel: [
                        Channel::X,
                        Channel::Facebook,
                        Channel::Review,
                        Channel::Chat,
                    ][i % 4] as i32,
                    public: true,
                    author: Some(Author {
                        external_id: format!("a{author}"),
                        handle: format!("user{author}"),
                        display_name: String::new(),
                        followers: (author as u64 * 37) % 100_000,
                        verified: false,
                    }),
                    text: self.corpus[i % self.corpus.len()].clone(),
                    language: "en".into(),
                    thread_key: format!("t{}", i / 3),
                    posted_at: None,
                    share: false,
                }
            })
            .collect();
        IngestMentionsRequest { mentions }
    }
}

enum Outcome {
    Accepted { mentions: u64, latency: Duration },
    Shed,
    TimedOut,
    Failed(tonic::Code),
}

async fn call(mut client: Client, request: IngestMentionsRequest) -> Outcome {
    let started = Instant::now();
    let mut request = tonic::Request::new(request);
    request.set_timeout(TIMEOUT);
    match tokio::time::timeout(TIMEOUT, client.ingest_mentions(request)).await {
        Err(_) => Outcome::TimedOut,
        Ok(Ok(answer)) => Outcome::Accepted {
            mentions: u64::from(answer.into_inner().accepted),
            latency: started.elapsed(),
        },
        Ok(Err(status)) => match status.code() {
            tonic::Code::ResourceExhausted => Outcome::Shed,
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => Outcome::TimedOut,
            code => Outcome::Failed(code),
        },
    }
}

#[derive(Default)]
struct Tally {
    calls: u64,
    accepted_calls: u64,
    accepted_mentions: u64,
    shed: u64,
    timed_out: u64,
    failed: BTreeMap<String, u64>,
    latencies: Vec<Duration>,
}

impl Tally {
    fn add(&mut self, outcome: Outcome) {
        self.calls += 1;
        match outcome {
            Outcome::Accepted { mentions, latency } => {
                self.accepted_calls += 1;
                self.accepted_mentions += mentions;
                self.latencies.push(latency);
            }
            Outcome::Shed => self.shed += 1,
            Outcome::TimedOut => self.timed_out += 1,
            Outcome::Failed(code) => *self.failed.entry(format!("{code:?}")).or_default() += 1,
        }
    }

    fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        self.latencies.sort_unstable();
        let at = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[at].as_secs_f64() * 1e3
    }
}

/// Closed loop: each client sends its next call when the last is answered.
async fn sustained(clients: &[Client], source: &Arc<Source>, seconds: u64) -> (Tally, f64) {
    let end = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in clients {
        let (client, source) = (client.clone(), source.clone());
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < end {
                tally.add(call(client.clone(), source.request()).await);
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await.expect("no panic");
        total.calls += tally.calls;
        total.accepted_calls += tally.accepted_calls;
        total.accepted_mentions += tally.accepted_mentions;
        total.shed += tally.shed;
        total.timed_out += tally.timed_out;
        total.latencies.extend(tally.latencies);
        for (code, n) in tally.failed {
            *total.failed.entry(code).or_default() += n;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    (total, elapsed)
}

/// Open loop: each client offers its share of `calls_per_second` on a fixed
/// schedule, answered or not.
async fn open_loop(
    clients: &[Client],
    source: &Arc<Source>,
    calls_per_second: f64,
    seconds: u64,
) -> (Tally, f64, u64) {
    let (outcomes, mut received) = mpsc::unbounded_channel();
    let outstanding = Arc::new(AtomicUsize::new(0));
    let not_sent = Arc::new(AtomicU64::new(0));
    let period = Duration::from_secs_f64(clients.len() as f64 / calls_per_second);
    let end = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut offerers = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let (client, source, outcomes) = (client.clone(), source.clone(), outcomes.clone());
        let (outstanding, not_sent) = (outstanding.clone(), not_sent.clone());
        offerers.push(tokio::spawn(async move {
            // Staggered, so the clients' calls interleave.
            let first = tokio::time::Instant::now() + period.mul_f64(i as f64 / CLIENTS as f64);
            let mut ticks = tokio::time::interval_at(first, period);
            loop {
                let tick = ticks.tick().await;
                if tick >= end {
                    break;
                }
                if outstanding.load(Ordering::Relaxed) >= MAX_OUTSTANDING / CLIENTS {
                    not_sent.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                outstanding.fetch_add(1, Ordering::Relaxed);
                let (client, request) = (client.clone(), source.request());
                let (outcomes, outstanding) = (outcomes.clone(), outstanding.clone());
                tokio::spawn(async move {
                    let outcome = call(client, request).await;
                    outstanding.fetch_sub(1, Ordering::Relaxed);
                    let _ = outcomes.send(outcome);
                });
            }
        }));
    }
    drop(outcomes);
    for offerer in offerers {
        offerer.await.expect("no panic");
    }
    let offered_for = started.elapsed().as_secs_f64();
    let mut tally = Tally::default();
    while let Some(outcome) = received.recv().await {
        tally.add(outcome);
    }
    (tally, offered_for, not_sent.load(Ordering::Relaxed))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = env_or("EARSHOT_BENCH_SECONDS", 60);
    let sustain_seconds = env_or("EARSHOT_BENCH_SUSTAIN_SECONDS", 15);
    let batch = env_or("EARSHOT_BENCH_BATCH", 100) as usize;
    let source = Arc::new(Source {
        corpus: corpus::load()?,
        next: AtomicU64::new(0),
        batch,
    });
    let db = TestDatabase::create().await;

    // As in production: a pool of 10 and the bounds it implies (or the
    // ones the environment gives); three subscribers that never answer, so
    // every call writes its events and the relays stay out of the way.
    let nobody = reserve().await.local_addr()?;
    let mut service_settings = settings(
        &db,
        &[
            ("case", nobody),
            ("escalation", nobody),
            ("insight", nobody),
        ],
    );
    service_settings.database.max_connections = POOL;
    service_settings.database.acquire_timeout = Duration::from_secs(3);
    service_settings.limits = Limits::from_env(&Env::process(), POOL)?;
    service_settings.relay.min_backoff = Duration::from_secs(30);
    service_settings.relay.max_backoff = Duration::from_secs(60);
    let limits = service_settings.limits;
    let listening = TestService::start::<ListeningService>(service_settings, reserve().await).await;
    let caller = token(TENANT, &["mentions:write"]);
    // One connection per client, as separate sources would have.
    let clients: Vec<Client> = (0..CLIENTS)
        .map(|_| ListeningServiceClient::new(listening.authed(&caller)))
        .collect();

    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "overload benchmark: listening IngestMentions, {batch} mentions a call, {CLIENTS} clients, \
         bound {} calls in flight (pool {POOL}, {cores} cores shared by clients, service and PostgreSQL)",
        limits.max_in_flight
    );
    let memory = Sampler::start(2);
    let (mut steady, steady_for) = sustained(&clients, &source, sustain_seconds).await;
    let sustained_rate = steady.accepted_mentions as f64 / steady_for;
    memory.phase(1);
    let offered_calls = 2.0 * sustained_rate / batch as f64;
    let (mut over, offered_for, not_sent) =
        open_loop(&clients, &source, offered_calls, seconds).await;
    let peaks = memory.finish();

    let pool = db.pool("listening").await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM mentions WHERE tenant_id = $1")
        .bind(TENANT)
        .fetch_one(&pool)
        .await?;
    let acknowledged = steady.accepted_mentions + over.accepted_mentions;
    let accepted_rate = over.accepted_mentions as f64 / offered_for;
    let per_second = |n: u64| n as f64 / offered_for;
    let failed = if over.failed.is_empty() && steady.failed.is_empty() {
        "none".to_owned()
    } else {
        format!("sustained {:?}, overload {:?}", steady.failed, over.failed)
    };

    println!("| measure | figure |");
    println!("| --- | --- |");
    println!(
        "| sustained (closed loop, {CLIENTS} clients, {sustain_seconds} s) | {sustained_rate:.0} mentions/s, p50 {:.1} ms, p99 {:.1} ms |",
        steady.percentile_ms(0.5),
        steady.percentile_ms(0.99)
    );
    println!(
        "| offered (open loop, 2× sustained, {seconds} s) | {:.0} mentions/s ({:.0} calls/s; {not_sent} not sent at the client's cap) |",
        per_second(over.calls) * batch as f64,
        per_second(over.calls)
    );
    println!(
        "| accepted | {accepted_rate:.0} mentions/s, {:.2} of sustained |",
        accepted_rate / sustained_rate
    );
    println!(
        "| shed (RESOURCE_EXHAUSTED) | {:.0} calls/s ({:.0}% of calls) |",
        per_second(over.shed),
        100.0 * over.shed as f64 / over.calls.max(1) as f64
    );
    println!(
        "| timed out at the caller ({} s) | {} calls |",
        TIMEOUT.as_secs(),
        over.timed_out + steady.timed_out
    );
    println!("| other errors | {failed} |");
    println!(
        "| latency of the accepted, p50 / p99 | {:.1} ms / {:.1} ms |",
        over.percentile_ms(0.5),
        over.percentile_ms(0.99)
    );
    println!(
        "| peak resident memory (clients + service): sustained / overload | {} MiB / {} MiB |",
        peaks[0] / 1024,
        peaks[1] / 1024
    );
    println!(
        "| mentions stored for calls the caller saw fail | {} |",
        stored - acknowledged as i64
    );
    Ok(())
}
