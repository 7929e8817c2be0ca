//! VADER sentiment throughput on one core, no database.
//!
//! Corpus: the tweets alone, then the mixed listening corpus (tweets with
//! banking77 and Bitext requests), from the repository's `data/` (VADER
//! ground-truth tweets), or from `EARSHOT_DATA`, whose TweetEval tweets
//! (SemEval 2017; 93 characters on average) earlier figures were measured
//! on. Rates are texts per second of this thread's CPU
//! time, best of five rounds, as in `benches/rules.rs`.
//!
//! Run: `cargo bench -p earshot-listening --bench sentiment`
//! (`EARSHOT_BENCH_MS` sets the time per measurement, default 2000.)

use std::hint::black_box;
use std::time::{Duration, Instant};

use earshot_listening::pipeline::sentiment::{polarity_scores, polarity_scores_with_cues, preload};
use earshot_testkit::corpus;
use earshot_testkit::throughput::{per_second, thread_cpu_time};

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let labelled = corpus::load_labelled().expect("the corpus in data/ (or EARSHOT_DATA)");
    let tweets: Vec<&str> = labelled
        .iter()
        .filter(|(_, origin)| *origin == corpus::Origin::Tweet)
        .map(|(text, _)| text.as_str())
        .collect();
    let mixed: Vec<&str> = labelled.iter().map(|(text, _)| text.as_str()).collect();
    let budget = Duration::from_millis(
        std::env::var("EARSHOT_BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000),
    );
    let started = Instant::now();
    preload();
    println!(
        "lexicons loaded in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let chars = |texts: &[&str]| {
        texts.iter().map(|t| t.chars().count()).sum::<usize>() as f64 / texts.len() as f64
    };
    let clock = if thread_cpu_time().is_some() {
        "thread CPU time"
    } else {
        "wall time"
    };
    println!("one core, texts per second of {clock} (best of 5 rounds)");
    for (name, texts) in [("tweets", &tweets), ("mixed corpus", &mixed)] {
        let scores = per_second(texts.len(), budget, || {
            for text in texts.iter() {
                black_box(polarity_scores(black_box(text)));
            }
        });
        let cues = per_second(texts.len(), budget, || {
            for text in texts.iter() {
                black_box(polarity_scores_with_cues(black_box(text)));
            }
        });
        println!(
            "{name}: {} texts, {:.0} chars/text from {}",
            texts.len(),
            chars(texts),
            corpus::data_dir().display()
        );
        println!("  polarity_scores:           {scores:>10.0} texts/s per core");
        println!("  polarity_scores_with_cues: {cues:>10.0} texts/s per core");
    }
}
