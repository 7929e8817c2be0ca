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

use crate::pipeline::model::{Models, adapt};
use corpus::{CorpusError, Item, Source, Split, load_all};
use recipe::{featurise, train_models};

/// Labels the adaptation measure fits a correction layer to, as many as a
/// tenant's agents give in a few days.
pub const ADAPTATION_LABELS: usize = 500;

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
    let mut adapted = Vec::new();
    for &left_out in &present {
        let without = train_models(
            &featured,
            &|s| s != left_out,
            format!("without {}", left_out.name()),
        );
        let scores = report::score(&without, items.iter().filter(|i| i.source == left_out));
        cross.push((format!("{} (all of it)", left_out.name()), scores));
        if let Some((n, before, after)) =
            report::adaptation(&without, &items, left_out, ADAPTATION_LABELS, adapt::CONFIG)
        {
            adapted.push((left_out.name().to_owned(), n, before, after));
        }
    }
    out.push_str(&report::table(
        "Cross-domain: trained by the same recipe without the corpus, tested on all of it",
        &cross,
    ));
    out.push_str(&report::adaptation_table(&adapted));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::corpus::{Source, Split, load_all, repo_data_dir};
    use super::recipe::{featurise, train_models};
    use super::report::{held_out, score};
    use crate::pipeline::model::Models;

    /// The shipped models on the test split (never trained on) of each
    /// corpus the repository carries. Floors, not measures: the accuracy
    /// command measures (see the README); these catch a model that broke.
    #[test]
    fn shipped_models_stay_above_their_floors_on_held_out_data() {
        let (items, missing) = load_all(&repo_data_dir()).expect("the repository's corpora");
        assert!(!missing.contains(&Source::Banking77) && !missing.contains(&Source::Bitext));
        let sources = [
            Source::VaderTweets,
            Source::VaderReviews,
            Source::Banking77,
            Source::Bitext,
            Source::Team,
        ];
        let (rows, _) = held_out(Models::shipped(), &items, &sources);
        for (name, s) in &rows {
            println!(
                "{name}: sentiment {:.3} (VADER {:.3}), intent {:.3}, complaint {:?}, needs reply {:?}",
                s.sentiment.accuracy(),
                s.vader.accuracy(),
                s.intent.accuracy(),
                s.complaint().map(|c| c.f1),
                s.needs_reply().map(|c| c.f1),
            );
        }
        let by =
            |source: Source| &rows[sources.iter().position(|&s| s == source).expect("listed")].1;
        // Measured with listening-1.4c67f2dbeb60: 0.797, 0.695, 0.847, 0.782,
        // 0.916, 0.843, 0.998, 0.995, 1.0.
        assert!(by(Source::VaderTweets).sentiment.accuracy() >= 0.75);
        assert!(by(Source::VaderReviews).sentiment.accuracy() >= 0.65);
        assert!(by(Source::Team).sentiment.accuracy() >= 0.80);
        assert!(by(Source::Team).intent.accuracy() >= 0.72);
        assert!(by(Source::Team).complaint().is_some_and(|c| c.f1 >= 0.85));
        assert!(by(Source::Team).needs_reply().is_some_and(|c| c.f1 >= 0.78));
        assert!(
            by(Source::Banking77)
                .needs_reply()
                .is_some_and(|c| c.recall >= 0.95)
        );
        assert!(by(Source::Bitext).intent.accuracy() >= 0.95);
        assert!(by(Source::Bitext).complaint().is_some_and(|c| c.f1 >= 0.95));
    }

    /// The same corpora and recipe give the same weights, bit for bit.
    #[test]
    fn training_is_deterministic() {
        let (items, _) = load_all(&repo_data_dir()).expect("the repository's corpora");
        let team: Vec<_> = items
            .into_iter()
            .filter(|i| i.source == Source::Team)
            .collect();
        let featured = featurise(&team);
        let a = train_models(&featured, &|_| true, "a".into());
        let b = train_models(&featured, &|_| true, "a".into());
        assert_eq!(a.to_bytes(), b.to_bytes());
        // And learnt something from them: better than chance on their train split.
        let s = score(&a, team.iter().filter(|i| i.split() == Split::Train));
        assert!(s.intent.accuracy() > 0.8, "{}", s.intent.accuracy());
    }
}
