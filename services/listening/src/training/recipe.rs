//! How the shipped models are made from the corpora: the recipe both
//! `earshot-models train` and the cross-domain measures follow, so what the
//! accuracy command measures is how the shipped models were made.

use super::corpus::{Item, Source, Split};
use crate::pipeline::features_of_raw;
use crate::pipeline::model::linear::{
    Dense, Example, Quantised, Target, TrainConfig, fit_temperature, train,
};
use crate::pipeline::model::{BUCKETS, INTENTS, Models, SENTIMENTS, intent_index};
use earshot_proto::common::v1::Intent;

/// A corpus item with its features computed once.
pub struct Featured<'a> {
    pub item: &'a Item,
    pub features: Vec<u32>,
}

pub fn featurise(items: &[Item]) -> Vec<Featured<'_>> {
    items
        .iter()
        .map(|item| Featured {
            item,
            features: features_of_raw(&item.text),
        })
        .collect()
}

/// How much a corpus counts for a head: the big ones whose texts are far
/// from brands' customers (general tweets as `other`, banking requests) are
/// damped so that they do not drown the rest; the team's labels, the only
/// ones of every intent in brands' customers' words, count most for intent.
fn source_weight(source: Source, intent_head: bool) -> f32 {
    match (source, intent_head) {
        (Source::TweetEval, true) | (Source::VaderTweets, true) => 0.3,
        (Source::Banking77, true) => 0.5,
        (Source::Team, true) => 4.0,
        (Source::Team, false) => 2.0,
        _ => 1.0,
    }
}

/// Complaints are rarer in the corpora than among brands' mentions, and a
/// missed one costs more than a false alarm: their class weight is doubled.
const COMPLAINT_BOOST: f32 = 2.0;

/// General tweets' negative ones (`other` to the intent head) teach that
/// angry words are no complaint: they count 0.3 of their source's weight.
const NEGATIVE_OTHER: f32 = 0.3;

/// The recipe's learning rate: lower than the default, which overfits the
/// team's labels and the complaints.
const LEARNING_RATE: f32 = 0.15;

/// Each class's weight: (n / (classes × n_class))^½, half-way to balanced.
fn class_weights(targets: &[Target], classes: usize) -> Vec<f32> {
    let mut counts = vec![0usize; classes];
    for t in targets {
        if let Target::Is(k) = t {
            counts[*k] += 1;
        }
    }
    let n: usize = counts.iter().sum();
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                1.0
            } else {
                ((n as f32) / (classes as f32 * c as f32)).sqrt()
            }
        })
        .collect()
}

fn examples(
    featured: &[Featured<'_>],
    intent_head: bool,
    classes: usize,
    keep: impl Fn(&Item) -> bool,
) -> Vec<Example> {
    let target_of = |item: &Item| {
        if intent_head {
            item.intent
        } else {
            item.sentiment.map(Target::Is)
        }
    };
    let chosen: Vec<(&Featured<'_>, Target)> = featured
        .iter()
        .filter(|f| keep(f.item))
        .filter_map(|f| Some((f, target_of(f.item)?)))
        .collect();
    let targets: Vec<Target> = chosen.iter().map(|(_, t)| *t).collect();
    let mut weights = class_weights(&targets, classes);
    if intent_head {
        let complaint = intent_index(Intent::Complaint).expect("an intent");
        weights[complaint] *= COMPLAINT_BOOST;
    }
    chosen
        .into_iter()
        .map(|(f, target)| Example {
            features: f.features.clone(),
            target,
            weight: source_weight(f.item.source, intent_head)
                * general_negative(f.item, intent_head)
                * match target {
                    Target::Is(k) => weights[k],
                    Target::Not(_) => 1.0,
                },
        })
        .collect()
}

fn general_negative(item: &Item, intent_head: bool) -> f32 {
    let general = matches!(item.source, Source::TweetEval | Source::VaderTweets);
    if intent_head && general && item.sentiment == Some(0) {
        NEGATIVE_OTHER
    } else {
        1.0
    }
}

/// The items a model may learn from: the train split of every source
/// `include` admits.
pub fn trains_on(item: &Item, include: &dyn Fn(Source) -> bool) -> bool {
    item.split() == Split::Train && include(item.source)
}

/// Trains both heads on the train split of the sources `include` admits,
/// calibrates them on the calibration split, and quantises them.
pub fn train_models(
    featured: &[Featured<'_>],
    include: &dyn Fn(Source) -> bool,
    id: String,
) -> Models {
    let config = TrainConfig {
        learning_rate: LEARNING_RATE,
        ..TrainConfig::default()
    };
    let sentiment_examples = examples(featured, false, SENTIMENTS.len(), |i| trains_on(i, include));
    let intent_examples = examples(featured, true, INTENTS.len(), |i| trains_on(i, include));
    let sentiment: Dense = train(&sentiment_examples, None, SENTIMENTS.len(), BUCKETS, config);
    let intent: Dense = train(&intent_examples, None, INTENTS.len(), BUCKETS, config);
    let mut models = Models {
        id,
        table: Quantised::of(&[&sentiment, &intent]),
        temperature: [1.0, 1.0],
    };
    let calibration: Vec<&Featured<'_>> = featured
        .iter()
        .filter(|f| f.item.split() == Split::Calibration && include(f.item.source))
        .collect();
    let (mut s_logits, mut s_labels, mut i_logits, mut i_labels) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for f in calibration {
        let z = models.logits(&f.features);
        if let Some(s) = f.item.sentiment {
            s_logits.push(z[..3].to_vec());
            s_labels.push(s);
        }
        if let Some(Target::Is(i)) = f.item.intent {
            i_logits.push(z[3..].to_vec());
            i_labels.push(i);
        }
    }
    if !s_labels.is_empty() {
        models.temperature[0] = fit_temperature(&s_logits, &s_labels);
    }
    if !i_labels.is_empty() {
        models.temperature[1] = fit_temperature(&i_logits, &i_labels);
    }
    models
}
