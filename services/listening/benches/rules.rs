//! Classification and listening-rule matching throughput on one core, no
//! database: VADER sentiment, intent, urgency, topics and actionability,
//! then the tenant's rules.
//!
//! Corpus: tweets mixed with banking77 (PolyAI, CC BY 4.0) and Bitext
//! customer-support requests (CDLA-Sharing 1.0), from the repository's
//! `data/`, whose tweets are the VADER ground truth (MIT). The figures in
//! the README were measured on TweetEval tweets (SemEval 2017), which may
//! not be committed: `EARSHOT_DATA=<a folder with tweeteval-sentiment/>`
//! measures on them again. Rules are
//! generated from the corpus vocabulary: keyword lists, AND/OR groups,
//! phrases, wildcards, NEAR, NOT, hashtags, handles and filters.
//!
//! Run: `cargo bench -p earshot-listening --bench rules`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use earshot_listening::pipeline::classify::{classify, default_taxonomy};
use earshot_listening::pipeline::model::{BUCKETS, Models};
use earshot_listening::pipeline::sentiment::polarity_scores_with_cues;
use earshot_listening::pipeline::{hear, model_input};
use earshot_listening::query::{Document, DocumentMeta, MatchScratch, Rule, RuleSet};
use earshot_proto::common::v1::Intent;
use earshot_testkit::corpus;
use earshot_testkit::throughput::{per_second, thread_cpu_time};
// splitmix64: deterministic runs.
use earshot_testkit::rng::Rng;
use uuid::Uuid;

struct Mention {
    text: String,
    lang: &'static str,
    source: &'static str,
    followers: u64,
    verified: bool,
}

fn load_corpus(rng: &mut Rng) -> Vec<Mention> {
    let mut texts: Vec<(String, &'static str)> = corpus::load_labelled()
        .expect("the corpus in data/ (or EARSHOT_DATA)")
        .into_iter()
        .map(|(text, origin)| {
            let source = match origin {
                corpus::Origin::Tweet => "twitter",
                corpus::Origin::Banking77 => "app",
                corpus::Origin::Bitext => "chat",
            };
            (text, source)
        })
        .collect();
    // Interleave the sources.
    for i in (1..texts.len()).rev() {
        texts.swap(i, rng.below(i + 1));
    }
    texts
        .into_iter()
        .map(|(text, source)| {
            let lang = match rng.below(20) {
                0 => "en-GB",
                1 => "es",
                2 => "fr",
                _ => "en",
            };
            // Log-uniform follower counts, 1..1M.
            let followers = 10f64.powf(rng.below(6_000) as f64 / 1_000.0) as u64;
            Mention {
                text,
                lang,
                source,
                followers,
                verified: rng.below(30) == 0,
            }
        })
        .collect()
}

const STOPWORDS: &[&str] = &[
    "a", "i", "in", "on", "at", "to", "of", "is", "it", "my", "me", "we", "be", "do", "so", "no",
    "up", "an", "as", "or", "if", "by", "am", "he", "us", "the", "and", "you", "for", "that",
    "this", "with", "have", "not", "are", "was", "but", "can", "what", "how", "your", "all", "get",
    "from", "will", "they", "just", "his", "her", "has", "one", "out", "about", "when", "there",
    "would", "been", "who", "our", "any", "want", "why", "did", "does", "its", "had", "him", "she",
    "them", "their", "then", "than", "also", "into", "were", "user", "amp", "http", "https",
];

struct Vocab {
    /// Words drawn with probability ∝ √frequency.
    words: Vec<String>,
    cumulative: Vec<f64>,
    bigrams: Vec<String>,
    hashtags: Vec<String>,
}

impl Vocab {
    fn build(corpus: &[Mention]) -> Self {
        let mut freq: HashMap<String, u32> = HashMap::new();
        let mut pairs: HashMap<String, u32> = HashMap::new();
        let mut tags: HashMap<String, u32> = HashMap::new();
        for m in corpus {
            let doc = Document::new(&m.text, "en", "", 0, false, &[], &[]);
            let words: Vec<&str> = doc.words().collect();
            for w in &words {
                *freq.entry((*w).to_owned()).or_default() += 1;
            }
            for pair in words.windows(2) {
                // Phrases may hold a stop word ("the blue"), not only stop
                // words, nor TweetEval's anonymised "@user".
                let wordlike = |w: &&str| w.len() >= 2 && w.bytes().all(|b| b.is_ascii_lowercase());
                let artefact = |w: &&str| ["user", "amp", "http", "https"].contains(w);
                if pair.iter().all(wordlike)
                    && !pair.iter().any(artefact)
                    && !pair.iter().all(|w| STOPWORDS.contains(w))
                {
                    *pairs.entry(format!("{} {}", pair[0], pair[1])).or_default() += 1;
                }
            }
            for tag in doc.hashtags() {
                *tags.entry(tag.to_owned()).or_default() += 1;
            }
        }
        let mut words: Vec<(String, u32)> = freq
            .into_iter()
            .filter(|(w, n)| {
                *n >= 3
                    && w.len() >= 3
                    && w.chars().all(char::is_alphabetic)
                    && !STOPWORDS.contains(&w.as_str())
            })
            .collect();
        words.sort();
        let mut total = 0.0;
        let cumulative = words
            .iter()
            .map(|(_, n)| {
                total += f64::from(*n).sqrt();
                total
            })
            .collect();
        let mut bigrams: Vec<String> = pairs
            .into_iter()
            .filter(|(_, n)| *n >= 3)
            .map(|(p, _)| p)
            .collect();
        bigrams.sort();
        let mut hashtags: Vec<String> = tags
            .into_iter()
            .filter(|(_, n)| *n >= 2)
            .map(|(t, _)| t)
            .collect();
        hashtags.sort();
        Vocab {
            words: words.into_iter().map(|(w, _)| w).collect(),
            cumulative,
            bigrams,
            hashtags,
        }
    }

    /// A word drawn with probability ∝ √frequency: common words often.
    fn common(&self, rng: &mut Rng) -> &str {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        let i = self.cumulative.partition_point(|&c| c < x);
        &self.words[i.min(self.words.len() - 1)]
    }

    /// A word drawn uniformly from the vocabulary: mostly the rarer words
    /// that name brands, products and topics.
    fn rare(&self, rng: &mut Rng) -> &str {
        rng.pick(&self.words).as_str()
    }

    fn word(&self, rng: &mut Rng, broad: bool) -> &str {
        if broad {
            self.common(rng)
        } else {
            self.rare(rng)
        }
    }

    fn phrase(&self, rng: &mut Rng) -> String {
        format!("\"{}\"", rng.pick(&self.bigrams))
    }

    fn prefix(&self, rng: &mut Rng, broad: bool) -> String {
        loop {
            let w = self.word(rng, broad);
            // Stems of five letters or more, like deliver* or refund*.
            if w.len() >= 7 && w.is_ascii() {
                return format!("{}*", &w[..w.len() - 2]);
            }
        }
    }

    /// A term naming what the rule is about.
    fn term(&self, rng: &mut Rng, broad: bool, positional: bool) -> String {
        match rng.below(20) {
            0..=3 => self.phrase(rng),
            4..=6 => self.prefix(rng, broad),
            7..=8 if !positional => format!("#{}", rng.pick(&self.hashtags)),
            _ => self.word(rng, broad).to_owned(),
        }
    }

    fn group(&self, rng: &mut Rng, broad: bool, positional: bool) -> String {
        let n = 1 + rng.below(3);
        let items: Vec<String> = (0..n).map(|_| self.term(rng, broad, positional)).collect();
        if n == 1 {
            items.join("")
        } else {
            format!("({})", items.join(" OR "))
        }
    }

    /// Context words (common ones) to AND with or to exclude.
    fn context(&self, rng: &mut Rng) -> String {
        let n = 1 + rng.below(4);
        let items: Vec<String> = (0..n)
            .map(|_| match rng.below(5) {
                0 => self.prefix(rng, true),
                _ => self.common(rng).to_owned(),
            })
            .collect();
        format!("({})", items.join(" OR "))
    }

    fn filter(&self, rng: &mut Rng) -> String {
        match rng.below(5) {
            0 | 1 => "lang:en".to_owned(),
            2 => format!("followers:>{}", [100, 1000, 10_000][rng.below(3)]),
            3 => format!("source:{}", rng.pick(&["twitter", "app", "chat"])),
            _ => "verified:true".to_owned(),
        }
    }

    /// A rule shaped like the boolean queries of listening tools:
    /// `(brand terms) AND (context) NOT (exclusions)`, with NEAR and filters.
    fn rule(&self, rng: &mut Rng, broad: bool) -> String {
        let mut query = match rng.below(10) {
            0..=2 => self.group(rng, broad, false),
            3..=4 => format!(
                "{} AND {}",
                self.group(rng, broad, false),
                self.context(rng)
            ),
            5 => format!(
                "{} NEAR/{} {}",
                self.group(rng, broad, true),
                1 + rng.below(5),
                self.context(rng)
            ),
            6 => format!(
                "{} NOT {}",
                self.group(rng, broad, false),
                self.context(rng)
            ),
            7 => format!(
                "{} {} AND NOT {}",
                self.group(rng, broad, false),
                self.context(rng),
                self.context(rng)
            ),
            8 => format!(
                "{} OR {}",
                self.group(rng, broad, false),
                self.group(rng, broad, false)
            ),
            _ => format!(
                "{} NEAR/{} {}",
                self.term(rng, broad, true),
                1 + rng.below(3),
                self.term(rng, broad, true)
            ),
        };
        if rng.below(4) == 0 {
            query = format!("{query} {}", self.filter(rng));
        }
        query
    }
}

/// `n` rules; `broad` draws every term by frequency (a stress test: each
/// mention then matches dozens of rules), otherwise the terms naming what
/// a rule is about are drawn uniformly from the vocabulary.
fn generate_rules(vocab: &Vocab, n: usize, broad: bool, rng: &mut Rng) -> Vec<Rule> {
    (0..n)
        .map(|i| {
            let query = if i % 1000 == 500 {
                // The rare rule without any keyword: evaluated for every mention.
                match rng.below(3) {
                    0 => format!("followers:>100k AND NOT {}", vocab.context(rng)),
                    1 => "verified:true AND lang:en".to_owned(),
                    _ => format!("lang:es NOT {}", vocab.common(rng)),
                }
            } else {
                vocab.rule(rng, broad)
            };
            Rule {
                id: Uuid::from_u128(i as u128),
                version: 1,
                query,
                options: Default::default(),
            }
        })
        .collect()
}

fn document(m: &Mention) -> Document {
    Document::from_meta(&m.text, &meta(m))
}

fn meta(m: &Mention) -> DocumentMeta<'_> {
    DocumentMeta {
        lang: m.lang,
        source: m.source,
        followers: m.followers,
        verified: m.verified,
        hashtags: &[],
        handles: &[],
    }
}

/// Everything listening concludes about a mention, as ingest does it:
/// VADER sentiment (with its cues), the cue lists (intent cues, urgency,
/// topics), then the learned sentiment and intent models and actionability.
fn classify_fully(m: &Mention) -> earshot_proto::common::v1::Classification {
    hear(&m.text, m.followers, m.verified, default_taxonomy(), None)
}

/// VADER and the cue lists alone: classification before the learned models.
fn classify_with_cues_only(m: &Mention) -> earshot_proto::common::v1::Classification {
    let (sentiment, _cues) = polarity_scores_with_cues(&m.text);
    classify(
        &m.text,
        m.followers,
        m.verified,
        sentiment.compound,
        default_taxonomy(),
    )
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let mut rng = Rng(0xea25_0007);
    let corpus = load_corpus(&mut rng);
    let vocab = Vocab::build(&corpus);
    let docs: Vec<Document> = corpus.iter().map(document).collect();
    let words: usize = docs.iter().map(Document::len).sum();
    println!(
        "corpus: {} mentions from {} ({:.1} words/mention), vocabulary {} words, {} bigrams, {} hashtags",
        corpus.len(),
        corpus::data_dir().display(),
        words as f64 / docs.len() as f64,
        vocab.words.len(),
        vocab.bigrams.len(),
        vocab.hashtags.len(),
    );
    let budget = Duration::from_millis(
        std::env::var("EARSHOT_BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000),
    );

    let sentiment_rate = per_second(corpus.len(), budget, || {
        for m in &corpus {
            black_box(polarity_scores_with_cues(&m.text));
        }
    });
    let classify_rate = per_second(corpus.len(), budget, || {
        for m in &corpus {
            black_box(classify_fully(m));
        }
    });
    // Classification alone, given each mention's sentiment.
    let compounds: Vec<f64> = corpus
        .iter()
        .map(|m| polarity_scores_with_cues(&m.text).0.compound)
        .collect();
    let classify_only_rate = per_second(corpus.len(), budget, || {
        for (m, &compound) in corpus.iter().zip(&compounds) {
            black_box(classify(
                &m.text,
                m.followers,
                m.verified,
                compound,
                default_taxonomy(),
            ));
        }
    });
    // The learned models alone: features and both heads, given VADER and the cues.
    let cue_intents: Vec<(f64, Intent)> = corpus
        .iter()
        .zip(&compounds)
        .map(|(m, &compound)| {
            let c = classify(
                &m.text,
                m.followers,
                m.verified,
                compound,
                default_taxonomy(),
            );
            (
                compound,
                Intent::try_from(c.intent).unwrap_or(Intent::Other),
            )
        })
        .collect();
    let mut features = Vec::new();
    let mut feature_count = 0usize;
    for (m, &(compound, intent)) in corpus.iter().zip(&cue_intents) {
        model_input(&m.text, compound, intent, &mut features);
        feature_count += features.len();
    }
    let models = Models::shipped();
    let model_rate = per_second(corpus.len(), budget, || {
        for (m, &(compound, intent)) in corpus.iter().zip(&cue_intents) {
            model_input(&m.text, compound, intent, &mut features);
            black_box(models.predict(&features, None));
        }
    });
    let mut reused = Document::default();
    let build_rate = per_second(corpus.len(), budget, || {
        for m in &corpus {
            reused.rebuild(&m.text, &meta(m));
            black_box(&reused);
        }
    });
    let clock = if thread_cpu_time().is_some() {
        "thread CPU time"
    } else {
        "wall time"
    };
    println!("one core, mentions per second of {clock} (best of 5 rounds)");
    println!("VADER sentiment with cues: {sentiment_rate:>10.0} mentions/s");
    println!(
        "classify (VADER, cue lists, learned models, actionability): {classify_rate:>10.0} mentions/s"
    );
    println!(
        "cue lists: intent cues, urgency, topics (sentiment given): {classify_only_rate:>10.0} mentions/s"
    );
    println!(
        "learned models (features + sentiment and intent heads, {:.1} features/mention, {} buckets): {model_rate:>10.0} mentions/s",
        feature_count as f64 / corpus.len() as f64,
        BUCKETS
    );
    println!("document only: {build_rate:>10.0} mentions/s");
    // `EARSHOT_BENCH_RULES=10000` runs one size only; `EARSHOT_BENCH_WORKLOAD=broad` one workload.
    let sizes: Vec<usize> = match std::env::var("EARSHOT_BENCH_RULES") {
        Ok(v) => v.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
        Err(_) => vec![10, 1_000, 10_000],
    };
    let only = std::env::var("EARSHOT_BENCH_WORKLOAD").ok();
    for (workload, broad) in [("topical", false), ("broad", true)] {
        if only.as_deref().is_some_and(|w| w != workload) {
            continue;
        }
        println!();
        if broad {
            println!("broad rules (stress): every term drawn by √frequency, e.g.");
        } else {
            println!(
                "topical rules: brand/topic terms drawn uniformly from the vocabulary, context by √frequency, e.g."
            );
        }
        for rule in generate_rules(&vocab, 4, broad, &mut Rng(0x0042)) {
            println!("    {}", rule.query);
        }
        println!(
            "{:>6} | {:>10} | {:>8} | {:>6} | {:>6} | {:>9} | {:>8} | {:>11} | {:>12} | {:>14} | {:>20} | {:>30}",
            "rules",
            "compile ms",
            "patterns",
            "always",
            "exact",
            "automaton",
            "eval/doc",
            "matched/doc",
            "match docs/s",
            "doc+match /s",
            "classify+doc+match/s",
            "cues-only classify+doc+match/s"
        );
        for &n in &sizes {
            bench_size(&vocab, &corpus, &docs, n, broad, budget, &mut reused);
        }
    }
}

fn bench_size(
    vocab: &Vocab,
    corpus: &[Mention],
    docs: &[Document],
    n: usize,
    broad: bool,
    budget: Duration,
    reused: &mut Document,
) {
    let rules = generate_rules(vocab, n, broad, &mut Rng(0x0123 + n as u64));
    let start = Instant::now();
    let set = RuleSet::compile(&rules).expect("generated rules parse");
    let compile_ms = start.elapsed().as_secs_f64() * 1e3;
    let stats = set.stats();

    let mut scratch = MatchScratch::default();
    let mut out = Vec::new();
    let mut matched = 0usize;
    let mut evaluated = 0usize;
    for d in docs {
        set.matches_with(d, &mut scratch, &mut out);
        matched += out.len();
        evaluated += scratch.evaluated();
    }
    let match_rate = per_second(docs.len(), budget, || {
        for d in docs {
            set.matches_with(d, &mut scratch, &mut out);
            black_box(&out);
        }
    });
    let pipeline_rate = per_second(corpus.len(), budget, || {
        for m in corpus {
            reused.rebuild(&m.text, &meta(m));
            set.matches_with(reused, &mut scratch, &mut out);
            black_box(&out);
        }
    });
    // The same without the learned models (VADER and the cue lists only, as
    // classification was before them), for their cost in the same run.
    let cues_only_rate = per_second(corpus.len(), budget, || {
        for m in corpus {
            black_box(classify_with_cues_only(m));
            reused.rebuild(&m.text, &meta(m));
            set.matches_with(reused, &mut scratch, &mut out);
            black_box(&out);
        }
    });
    let full_rate = per_second(corpus.len(), budget, || {
        for m in corpus {
            black_box(classify_fully(m));
            reused.rebuild(&m.text, &meta(m));
            set.matches_with(reused, &mut scratch, &mut out);
            black_box(&out);
        }
    });
    println!(
        "{:>6} | {:>10.1} | {:>8} | {:>6} | {:>6} | {:>5} KiB | {:>8.2} | {:>11.2} | {:>12.0} | {:>14.0} | {:>20.0} | {:>30.0}",
        n,
        compile_ms,
        stats.patterns,
        stats.always_evaluated,
        stats.exact,
        stats.automaton_bytes / 1024,
        evaluated as f64 / docs.len() as f64,
        matched as f64 / docs.len() as f64,
        match_rate,
        pipeline_rate,
        full_rate,
        cues_only_rate,
    );
}
