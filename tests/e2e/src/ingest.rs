//! Listening's ingest as the benchmarks drive it: mentions of a real corpus
//! through `StreamMentions`, with their events written for three
//! subscribers. The ingest benchmark measures it against the raw ceiling;
//! the escalation benchmark measures escalation against it, in the same run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use earshot_listening::ListeningService;
use earshot_proto::common::v1::{Author, Channel};
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{MentionInput, StreamMentionsRequest};
use earshot_testkit::{TestDatabase, TestService, reserve, settings, token};

pub const TENANT: &str = "bench";
const CHANNELS: [Channel; 7] = [
    Channel::X,
    Channel::Facebook,
    Channel::Instagram,
    Channel::Review,
    Channel::Email,
    Channel::Chat,
    Channel::Phone,
];

pub fn mention(corpus: &[String], i: usize) -> MentionInput {
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

/// Streams `n` mentions through a fresh listening service; answers the
/// rate (mentions/s), the peak resident memory and its value by tenth of
/// the run (KiB).
pub async fn stream_ingest(
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
