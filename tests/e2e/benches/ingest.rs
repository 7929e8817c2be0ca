//! End-to-end ingest benchmark: N mentions (default 1,000,000) of a realistic
//! mixed corpus through `StreamMentions` into PostgreSQL, with their
//! `MentionClassified` events written to the outbox for three subscribers;
//! then, in the same run and on the same server, the raw ceiling: the same
//! rows inserted by batched idempotent `INSERT … SELECT FROM unnest … ON
//! CONFLICT DO NOTHING` over two connections, without gRPC, validation,
//! classification or events.
//!
//!     cargo bench -p earshot-e2e --bench ingest
//!     EARSHOT_BENCH_MENTIONS=200000 cargo bench -p earshot-e2e --bench ingest
//!
//! Uses `DATABASE_URL` when set, else a temporary cluster from the machine's
//! PostgreSQL binaries. Memory is this process's resident set (client and
//! listening service); PostgreSQL's own memory is not included.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use earshot_listening::ListeningService;
use earshot_listening::ingest::process::{Pipeline, judge_noise};
use earshot_listening::mention::{NewMention, validate};
use earshot_listening::pipeline::noise::NoiseWindow;
use earshot_listening::tenant::profile::TenantProfile;
use earshot_proto::common::v1::{Author, Channel};
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{MentionInput, StreamMentionsRequest};
use earshot_testkit::{TestDatabase, TestService, corpus, reserve, settings, token};

const TENANT: &str = "bench";
const CHANNELS: [Channel; 7] = [
    Channel::X,
    Channel::Facebook,
    Channel::Instagram,
    Channel::Review,
    Channel::Email,
    Channel::Chat,
    Channel::Phone,
];

fn mention(corpus: &[String], i: usize) -> MentionInput {
    let channel = CHANNELS[i % CHANNELS.len()];
    let author = i % 50_000;
    MentionInput {
        source: "bench".into(),
        external_id: format!("m{i}"),
        channel: channel as i32,
        public: matches!(
            channel,
            Channel::X | Channel::Facebook | Channel::Instagram | Channel::Review
        ),
        author: Some(Author {
            external_id: format!("a{author}"),
            handle: format!("user{author}"),
            display_name: String::new(),
            followers: (author as u64 * 37) % 100_000,
            verified: author.is_multiple_of(97),
        }),
        text: corpus[i % corpus.len()].clone(),
        language: "en".into(),
        thread_key: format!("t{}", i / 3),
        posted_at: None,
        share: false,
    }
}

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Samples resident memory while `progress` runs from 0 to `total`, keeping
/// the peak and the value at each tenth of the run.
fn sample_memory(
    progress: Arc<AtomicU64>,
    total: u64,
    done: Arc<AtomicU64>,
) -> std::thread::JoinHandle<(u64, Vec<u64>)> {
    std::thread::spawn(move || {
        let mut peak = 0;
        let mut deciles = vec![0u64; 10];
        while done.load(Ordering::Relaxed) == 0 {
            let rss = resident_kib();
            peak = peak.max(rss);
            let decile = ((progress.load(Ordering::Relaxed) * 10) / total.max(1)).min(9) as usize;
            deciles[decile] = deciles[decile].max(rss);
            std::thread::sleep(Duration::from_millis(20));
        }
        (peak, deciles)
    })
}

async fn stream_ingest(
    db: &TestDatabase,
    corpus: Arc<Vec<String>>,
    n: usize,
) -> anyhow::Result<(f64, u64, Vec<u64>)> {
    // Three subscribers are configured, so every batch writes its events and
    // delivery rows; nothing answers at that address, so relays back off.
    let nobody = reserve().await.local_addr()?;
    let mut service_settings = settings(
        db,
        &[
            ("case", nobody),
            ("escalation", nobody),
            ("insight", nobody),
        ],
    );
    service_settings.relay.min_backoff = Duration::from_secs(30);
    service_settings.relay.max_backoff = Duration::from_secs(60);
    let listening = TestService::start::<ListeningService>(service_settings, reserve().await).await;
    let mut client =
        ListeningServiceClient::new(listening.authed(&token(TENANT, &["mentions:write"])))
            .max_decoding_message_size(64 << 20);

    let progress = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let sampler = sample_memory(progress.clone(), n as u64, done.clone());
    let started = Instant::now();
    let outgoing = tokio_stream::iter((0..n).map(move |i| StreamMentionsRequest {
        mentions: vec![mention(&corpus, i)],
    }));
    let mut acks = client.stream_mentions(outgoing).await?.into_inner();
    let mut accepted = 0u64;
    while let Some(ack) = acks.message().await? {
        accepted += u64::from(ack.accepted);
        progress.store(ack.durable_through, Ordering::Relaxed);
    }
    let elapsed = started.elapsed().as_secs_f64();
    done.store(1, Ordering::Relaxed);
    let (peak, deciles) = sampler.join().expect("sampler");
    anyhow::ensure!(accepted == n as u64, "accepted {accepted} of {n}");
    Ok((n as f64 / elapsed, peak, deciles))
}

async fn ceiling(db: &TestDatabase, corpus: &[String], n: usize) -> anyhow::Result<f64> {
    // The listening table itself, in a schema of its own.
    let mut admin =
        earshot_server::settings::DatabaseSettings::from_env(&earshot_config::Env::from_pairs([
            ("DATABASE_URL", db.url()),
        ]))?;
    admin.max_connections = 2;
    let pool = earshot_server::database::pool(&admin, "ceiling")?;
    earshot_server::database::prepare(
        &pool,
        "ceiling",
        <ListeningService as earshot_server::Service>::migrator(),
        Duration::from_secs(10),
    )
    .await?;

    // The rows the service stored: through the same pipeline, in advance.
    let now = Utc::now();
    let profile = TenantProfile::initial();
    let mut pipeline = Pipeline::new(&profile);
    let mut window = NoiseWindow::new();
    let rows: Vec<NewMention> = (0..n)
        .map(|i| {
            let valid = validate(i, mention(corpus, i), now).expect("corpus mentions are valid");
            let mut mention = pipeline.process(valid);
            judge_noise(&mut window, &profile.noise, &mut mention);
            mention
        })
        .collect();
    let halves: Vec<Vec<NewMention>> = rows.chunks(n.div_ceil(2)).map(<[_]>::to_vec).collect();
    let started = Instant::now();
    let mut writers = Vec::new();
    for half in halves {
        let pool = pool.clone();
        writers.push(tokio::spawn(async move {
            let mut conn = pool.acquire().await?;
            for batch in half.chunks(1_000) {
                let refs: Vec<&NewMention> = batch.iter().collect();
                earshot_listening::mention::store::insert_new(&mut conn, TENANT, &refs, now)
                    .await?;
            }
            Ok::<_, sqlx::Error>(())
        }));
    }
    for writer in writers {
        writer.await??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("EARSHOT_BENCH_MENTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let corpus = Arc::new(corpus::load()?);
    let db = TestDatabase::create().await;
    println!(
        "ingest benchmark: {n} mentions, corpus of {} real texts, 2 cores shared by client, service and PostgreSQL",
        corpus.len()
    );

    let (stream_rate, peak, deciles) = stream_ingest(&db, corpus.clone(), n).await?;
    let ceiling_rate = ceiling(&db, &corpus, n).await?;

    println!("| measure | figure |");
    println!("| --- | --- |");
    println!(
        "| StreamMentions end to end (gRPC stream → validate, classify → mentions + outbox, acked) | {stream_rate:.0} mentions/s |"
    );
    println!(
        "| raw ceiling (same rows, unnest batches of 1,000, ON CONFLICT DO NOTHING, 2 connections) | {ceiling_rate:.0} rows/s |"
    );
    println!("| ratio | {:.2} |", stream_rate / ceiling_rate);
    println!(
        "| peak resident memory (client + service) | {} MiB |",
        peak / 1024
    );
    println!(
        "| resident memory by tenth of the run | {} MiB |",
        deciles
            .iter()
            .map(|k| (k / 1024).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
