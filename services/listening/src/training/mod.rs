//! Training and measuring the learned models, in Rust with the tokeniser
//! ingest uses: `earshot-models train` makes the shipped model file from the
//! public corpora and the team's labels ([`corpus`]) by one [`recipe`];
//! `earshot-models accuracy` prints the [`report`].

pub mod corpus;
pub mod recipe;
pub mod report;

use std::fmt::Write as _;
use std::path::Path;

use xxhash_rust::xxh3::Xxh3;

use crate::pipeline::model::Models;
use corpus::{CorpusError, Item, Source, Split, load_all};
use recipe::{featurise, train_models};

/// Names a training run by what it learnt from: the same corpora and
/// recipe give the same id (and the same weights).
fn model_id(items: &[Item]) -> String {
    let mut hash = Xxh3::new();
    for item in items.iter().filter(|i| i.split() != Split::Test) {
        hash.update(item.text.as_bytes());
        hash.update(&[item.sentiment.map_or(9, |s| s as u8)]);
        hash.update(format!("{:?}", item.intent).as_bytes());
    }
    format!("listening-1.{:012x}", hash.digest() & 0xffff_ffff_ffff)
}

/// Trains the shipped models from every corpus under `data_dir`.
pub fn train(data_dir: &Path) -> Result<(Models, Vec<Source>), CorpusError> {
    let (items, missing) = load_all(data_dir)?;
    let featured = featurise(&items);
    let models = train_models(&featured, &|_| true, model_id(&items));
    Ok((models, missing))
}

/// The accuracy report of `models` (the shipped ones), and of models
/// trained by the same recipe without each corpus in turn.
pub fn accuracy(models: &Models, data_dir: &Path) -> Result<String, CorpusError> {
    let (items, missing) = load_all(data_dir)?;
    let present: Vec<Source> = Source::ALL
        .into_iter()
        .filter(|s| !missing.contains(s))
        .collect();
    let mut out = String::new();
    let _ = writeln!(out, "model {}", models.id);
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| s.name()).collect();
        let _ = writeln!(
            out,
            "not found under {}: {}",
            data_dir.display(),
            names.join(", ")
        );
    }
    let (rows, pooled) = report::held_out(models, &items, &present);
    let mut rows = rows;
    rows.push(("all test splits".into(), pooled.clone()));
    out.push_str(&report::table(
        "Held out: each corpus's test split (a fifth, by a hash of the text; never trained on)",
        &rows,
    ));
    out.push_str(&report::classes("Per class, all test splits", &pooled));

    let featured = featurise(&items);
    let mut cross = Vec::new();
    for &left_out in &present {
        let without = train_models(
            &featured,
            &|s| s != left_out,
            format!("without {}", left_out.name()),
        );
        let scores = report::score(&without, items.iter().filter(|i| i.source == left_out));
        cross.push((format!("{} (all of it)", left_out.name()), scores));
    }
    out.push_str(&report::table(
        "Cross-domain: trained by the same recipe without the corpus, tested on all of it",
        &cross,
    ));
    Ok(out)
}
