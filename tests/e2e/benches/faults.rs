//! The fault suite, long form: the four services as separate processes on a
//! private PostgreSQL, a source streaming mentions through `StreamMentions`
//! and resuming after its last ack whenever the stream breaks, while the
//! services are killed with SIGKILL one by one, PostgreSQL restarts (fast and
//! immediate) and stays down for a while, and a consumer is away. At the end
//! every acknowledged mention must be stored once and every cry for help must
//! be exactly one case.
//!
//! `cargo bench -p earshot-e2e --bench faults` (`EARSHOT_FAULT_MENTIONS`,
//! default 20,000; `EARSHOT_FAULT_DOWN_SECONDS`, default 15). The short form,
//! in CI, is `tests/faults.rs`.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use earshot_e2e::{ALL, cry_for_help, high_five, token};
use earshot_proto::listening::v1::StreamMentionsRequest;
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_testkit::{TEST_SECRET, TestDatabase};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const TENANT: &str = "faults";
const SERVICES: [&str; 4] = ["insight", "escalation", "case", "listening"];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Runtime::new()?;
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        let name = args.get(i + 1).map(String::as_str).unwrap_or_default();
        return runtime.block_on(serve(name));
    }
    runtime.block_on(orchestrate())
}

/// A child process: one service, configured by the environment it was given.
async fn serve(name: &str) -> anyhow::Result<()> {
    match name {
        "listening" => earshot_server::main::<earshot_listening::ListeningService>().await,
        "case" => earshot_server::main::<earshot_case::CaseService>().await,
        "escalation" => earshot_server::main::<earshot_escalation::EscalationService>().await,
        "insight" => earshot_server::main::<earshot_insight::InsightService>().await,
        other => anyhow::bail!("no service named {other:?}"),
    }
}

struct Suite {
    url: String,
    ports: BTreeMap<&'static str, u16>,
    children: BTreeMap<&'static str, Child>,
}

impl Suite {
    fn subscribers(&self, name: &str) -> String {
        let to = |names: &[&str]| {
            names
                .iter()
                .map(|n| format!("{n}=http://127.0.0.1:{}", self.ports[n]))
                .collect::<Vec<_>>()
                .join(",")
        };
        match name {
            "listening" => to(&["case", "escalation", "insight"]),
            "case" => to(&["escalation", "insight", "listening"]),
            "escalation" => to(&["case", "insight"]),
            "insight" => to(&["case"]),
            _ => String::new(),
        }
    }

    fn start(&mut self, name: &'static str) -> anyhow::Result<()> {
        let child = Command::new(std::env::current_exe()?)
            .args(["--serve", name])
            .env("DATABASE_URL", &self.url)
            .env(
                "EARSHOT_GRPC_ADDR",
                format!("127.0.0.1:{}", self.ports[name]),
            )
            .env("EARSHOT_METRICS_ADDR", "off")
            .env("EARSHOT_JWT_HS256_SECRET", TEST_SECRET)
            .env("EARSHOT_SUBSCRIBERS", self.subscribers(name))
            .env("EARSHOT_DB_ACQUIRE_TIMEOUT_MS", "1000")
            .env("EARSHOT_READINESS_INTERVAL_MS", "200")
            .env("EARSHOT_RELAY_POLL_MS", "50")
            .env("EARSHOT_RELAY_MAX_BACKOFF_MS", "1000")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        self.children.insert(name, child);
        Ok(())
    }

    async fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        if let Some(mut child) = self.children.remove(name) {
            child.kill().await?;
        }
        Ok(())
    }

    /// Processes that ended without being killed.
    fn crashed(&mut self) -> Vec<String> {
        self.children
            .iter_mut()
            .filter_map(|(name, child)| match child.try_wait() {
                Ok(Some(status)) => Some(format!("{name} ({status})")),
                _ => None,
            })
            .collect()
    }

    /// Seconds until every service answers SERVING.
    async fn recovered(&self, since: Instant) -> f64 {
        for port in self.ports.values() {
            loop {
                let serving = async {
                    let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
                        .ok()?
                        .connect()
                        .await
                        .ok()?;
                    let status = HealthClient::new(channel)
                        .check(HealthCheckRequest::default())
                        .await
                        .ok()?
                        .into_inner()
                        .status;
                    (status == 1).then_some(())
                };
                if serving.await.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        since.elapsed().as_secs_f64()
    }
}

/// Streams `total` mentions, resuming after the last ack whenever the stream
/// breaks; returns how many were acknowledged and the errors seen, by code.
async fn source(
    port: u16,
    total: u64,
    acked: Arc<AtomicU64>,
    errors: Arc<Mutex<BTreeMap<String, u64>>>,
) {
    let token = token(TENANT, ALL);
    while acked.load(Ordering::SeqCst) < total {
        let from = acked.load(Ordering::SeqCst);
        let attempt = async {
            let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?
                .connect()
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            let mut client = ListeningServiceClient::with_interceptor(
                channel,
                earshot_auth::BearerAuth::new(&token).expect("ASCII"),
            );
            let requests = tokio_stream::iter((from..total).step_by(50).map(move |start| {
                StreamMentionsRequest {
                    mentions: (start..(start + 50).min(total)).map(mention).collect(),
                }
            }));
            let mut acks = client.stream_mentions(requests).await?.into_inner();
            while let Some(ack) = acks.message().await? {
                acked.store(from + ack.durable_through, Ordering::SeqCst);
            }
            Ok::<_, tonic::Status>(())
        };
        if let Err(status) = attempt.await {
            *errors
                .lock()
                .await
                .entry(format!("{:?}", status.code()))
                .or_default() += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Mention `i` of the stream: three cries for help in four.
fn mention(i: u64) -> earshot_proto::listening::v1::MentionInput {
    let id = format!("f{i}");
    if i % 4 == 3 {
        high_five(&id)
    } else {
        cry_for_help(&id)
    }
}

async fn until(acked: &AtomicU64, at: u64) {
    while acked.load(Ordering::SeqCst) < at {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn orchestrate() -> anyhow::Result<()> {
    let total: u64 = std::env::var("EARSHOT_FAULT_MENTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let down: u64 = std::env::var("EARSHOT_FAULT_DOWN_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let mut db = TestDatabase::private().await;
    let mut suite = Suite {
        url: db.url().to_owned(),
        ports: SERVICES
            .iter()
            .map(|name| Ok((*name, earshot_pg::free_port()?)))
            .collect::<Result<_, earshot_pg::PgError>>()?,
        children: BTreeMap::new(),
    };
    for name in SERVICES {
        suite.start(name)?;
    }
    suite.recovered(Instant::now()).await;

    let acked = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(Mutex::new(BTreeMap::new()));
    let producer = tokio::spawn(source(
        suite.ports["listening"],
        total,
        acked.clone(),
        errors.clone(),
    ));

    let mut recoveries = Vec::new();
    for (step, name) in ["listening", "case", "escalation", "insight"]
        .iter()
        .enumerate()
    {
        until(&acked, total * (step as u64 + 1) / 10).await;
        suite.kill(name).await?;
        let since = Instant::now();
        suite.start(name)?;
        recoveries.push((format!("kill -9 {name}"), suite.recovered(since).await));
    }
    until(&acked, total / 2).await;
    db.stop_server().await;
    let since = Instant::now();
    db.start_server().await;
    recoveries.push((
        "PostgreSQL fast restart".into(),
        suite.recovered(since).await,
    ));
    until(&acked, total * 6 / 10).await;
    db.crash_server().await;
    let since = Instant::now();
    db.start_server().await;
    recoveries.push((
        "PostgreSQL immediate restart".into(),
        suite.recovered(since).await,
    ));
    until(&acked, total * 7 / 10).await;
    db.stop_server().await;
    tokio::time::sleep(Duration::from_secs(down)).await;
    let since = Instant::now();
    db.start_server().await;
    recoveries.push((
        format!("PostgreSQL down {down} s"),
        suite.recovered(since).await,
    ));
    until(&acked, total * 8 / 10).await;
    suite.kill("case").await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let since = Instant::now();
    suite.start("case")?;
    recoveries.push(("case away 5 s".into(), suite.recovered(since).await));
    producer.await?;

    let pool = db.pool("listening").await;
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM listening.mentions WHERE tenant_id = $1 AND source = 'x'",
    )
    .bind(TENANT)
    .fetch_one(&pool)
    .await?;
    let expected_cases: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM listening.mentions
          WHERE tenant_id = $1 AND actionable AND dropped_reason IS NULL",
    )
    .bind(TENANT)
    .fetch_one(&pool)
    .await?;
    let settle = Instant::now();
    let (cases, duplicated) = loop {
        let (cases, extra): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) - count(DISTINCT mention_id)
               FROM cases.cases WHERE tenant_id = $1",
        )
        .bind(TENANT)
        .fetch_one(&pool)
        .await?;
        if cases >= expected_cases || settle.elapsed() > Duration::from_secs(120) {
            break (cases, extra);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let acknowledged = acked.load(Ordering::SeqCst) as i64;
    let crashes = suite.crashed();
    let errors = errors.lock().await.clone();

    println!(
        "fault suite (long form): {total} mentions streamed, the four services as processes, private PostgreSQL"
    );
    println!("| measure | figure |\n| --- | --- |");
    println!("| sent | {total} |");
    println!("| acknowledged | {acknowledged} |");
    println!("| stored | {stored} |");
    println!(
        "| lost (acknowledged, not stored) | {} |",
        (acknowledged - stored).max(0)
    );
    println!("| duplicated (cases for one mention beyond the first) | {duplicated} |");
    println!("| cases expected / made | {expected_cases} / {cases} |");
    println!("| stream errors by code (each one resumed after the last ack) | {errors:?} |");
    for (fault, seconds) in &recoveries {
        println!("| recovery after {fault} | {seconds:.1} s |");
    }
    println!(
        "| crashes (processes that ended by themselves) | {} {crashes:?} |",
        crashes.len()
    );
    for name in SERVICES {
        suite.kill(name).await?;
    }
    anyhow::ensure!(
        acknowledged == total as i64 && stored == total as i64,
        "mentions lost"
    );
    anyhow::ensure!(duplicated == 0 && cases == expected_cases, "cases wrong");
    anyhow::ensure!(crashes.is_empty(), "crashes");
    Ok(())
}
