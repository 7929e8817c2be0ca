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
use std::time::{Duration, Instant};

use chrono::Utc;
use earshot_e2e::ingest::{TENANT, mention, stream_ingest};
use earshot_listening::ListeningService;
use earshot_listening::ingest::process::{Pipeline, judge_noise};
use earshot_listening::mention::{NewMention, validate};
use earshot_listening::pipeline::noise::NoiseWindow;
use earshot_listening::tenant::profile::TenantProfile;
use earshot_testkit::{TestDatabase, corpus};

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
