//! Per-tenant adaptation: the labels agents give through `LabelMention`
//! (intent and sentiment corrections, relevance) refit the tenant's
//! correction layer over the shipped models, in the background after every
//! [`REFIT_EVERY`] new labels, never on the ingest path.
//!
//! Each refit holds out a fixed fifth of the labelled mentions (by a hash
//! of the mention id, so a mention stays on its side from one refit to the
//! next), fits on the rest, and scores the shipped models alone and with the
//! new layer on the held-out fifth. Every refit is a new version; it becomes
//! active unless it scores worse than the shipped models alone, and any
//! version (or none) can be activated again. One tenant's labels only ever
//! reach that tenant's layer.

pub mod store;

use earshot_proto::common::v1::Intent;
use uuid::Uuid;
use xxhash_rust::xxh3::xxh3_64;

use crate::pipeline::features_of_raw;
use crate::pipeline::model::adapt::{Corrected, HeldOut, held_out};
use crate::pipeline::model::linear::Target;
use crate::pipeline::model::{Correction, Models, intent_index, sentiment_of_score};

/// New labels that start a refit.
pub const REFIT_EVERY: i64 = 25;
/// Versions kept per tenant (the active one always is).
pub const KEEP_VERSIONS: i64 = 20;

/// One labelled mention, as the store reads it.
#[derive(Debug, Clone)]
pub struct LabelledText {
    pub mention_id: Uuid,
    pub text: String,
    /// The intent an agent gave (UNSPECIFIED: none).
    pub intent: i32,
    pub sentiment: Option<f64>,
    /// Relevance to the tenant's listening as a whole, when judged.
    pub relevant: Option<bool>,
}

/// Whether a labelled mention is held out of refits to score them.
pub fn is_held_out(mention_id: Uuid) -> bool {
    xxh3_64(mention_id.as_bytes()).is_multiple_of(5)
}

/// The head targets a label gives: an intent correction (an irrelevant
/// mention without one is `other`: it needs no reply), and a sentiment on
/// VADER's scale.
pub fn targets(label: &LabelledText) -> (Option<usize>, Option<usize>) {
    let intent = match Intent::try_from(label.intent) {
        Ok(Intent::Unspecified) | Err(_) => (label.relevant == Some(false))
            .then(|| intent_index(Intent::Other))
            .flatten(),
        Ok(intent) => intent_index(intent),
    };
    (label.sentiment.map(sentiment_of_score), intent)
}

/// What a refit made.
#[derive(Debug, Clone)]
pub struct Refit {
    pub correction: Correction,
    pub trained_on: usize,
    pub before: HeldOut,
    pub after: HeldOut,
}

impl Refit {
    /// Active unless it scores worse on the held-out labels than the
    /// shipped models alone (mean of the head accuracies it can be scored on).
    pub fn activate(&self) -> bool {
        let mean = |h: &HeldOut| {
            let scores: Vec<f64> = [h.sentiment_accuracy, h.intent_accuracy]
                .into_iter()
                .flatten()
                .collect();
            (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64)
        };
        match (mean(&self.before), mean(&self.after)) {
            (Some(before), Some(after)) => after >= before,
            _ => true,
        }
    }
}

/// Fits a correction layer to a tenant's labels. Pure CPU work (features
/// and a few passes of AdaGrad over a few thousand labels at most).
pub fn refit(models: &Models, labels: &[LabelledText]) -> Refit {
    let mut train = Vec::new();
    let mut test = Vec::new();
    for label in labels {
        let (sentiment, intent) = targets(label);
        if sentiment.is_none() && intent.is_none() {
            continue;
        }
        let corrected = Corrected {
            features: features_of_raw(&label.text),
            sentiment,
            intent: intent.map(Target::Is),
        };
        if is_held_out(label.mention_id) {
            test.push(corrected);
        } else {
            train.push(corrected);
        }
    }
    let correction = Correction::fit(models, &train);
    Refit {
        before: held_out(models, None, &test),
        after: held_out(models, Some(&correction), &test),
        trained_on: train.len(),
        correction,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(intent: Intent, sentiment: Option<f64>, relevant: Option<bool>) -> LabelledText {
        LabelledText {
            mention_id: Uuid::nil(),
            text: String::new(),
            intent: intent as i32,
            sentiment,
            relevant,
        }
    }

    #[test]
    fn labels_give_head_targets() {
        assert_eq!(
            targets(&label(Intent::Complaint, Some(-0.8), Some(true))),
            (Some(0), intent_index(Intent::Complaint))
        );
        assert_eq!(
            targets(&label(Intent::Unspecified, None, Some(false))),
            (None, intent_index(Intent::Other))
        );
        assert_eq!(
            targets(&label(Intent::Unspecified, Some(0.0), None)),
            (Some(1), None)
        );
        assert_eq!(
            targets(&label(Intent::Unspecified, None, Some(true))),
            (None, None)
        );
    }

    #[test]
    fn about_a_fifth_is_held_out_and_it_stays_put() {
        let ids: Vec<Uuid> = (0..5_000u128).map(Uuid::from_u128).collect();
        let held = ids.iter().filter(|&&id| is_held_out(id)).count();
        assert!((800..1200).contains(&held), "{held}");
        assert!(ids.iter().all(|&id| is_held_out(id) == is_held_out(id)));
    }
}
