//! A tenant's correction layer: a sparse linear model over the same
//! features, fitted to its agents' corrections on top of the shipped
//! model's logits (which stay fixed), so that a few hundred labels move the
//! classes where the tenant's customers differ and leave the rest alone.
//!
//! Strong L2 keeps each correction small where labels are few; features no
//! label carried have no row at all, so a correction costs memory only for
//! what the tenant's labels touched.

use super::eval::{Confusion, binary};
use super::linear::{Example, Target, TrainConfig, feature_value, train};
use super::{INTENTS, Models, OUTPUTS, SENTIMENTS, probabilities};
use earshot_proto::common::v1::Intent;

/// A labelled mention, as the correction learns from it.
#[derive(Debug, Clone)]
pub struct Corrected {
    pub features: Vec<u32>,
    /// Head index in [`SENTIMENTS`], when the agents gave a sentiment.
    pub sentiment: Option<usize>,
    /// The intent target, when the label says one (agents always name the
    /// intent; a corpus may say only "not a complaint").
    pub intent: Option<Target>,
}

/// How a correction is fitted: many passes over few labels, a stronger
/// penalty than the shipped model's so that it corrects rather than replaces.
pub const CONFIG: TrainConfig = TrainConfig {
    epochs: 30,
    learning_rate: 0.3,
    l2: 1e-4,
    seed: 11,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Correction {
    pub bias: [f32; OUTPUTS],
    /// Sorted by bucket.
    pub rows: Vec<(u32, [f32; OUTPUTS])>,
}

#[derive(Debug, thiserror::Error)]
#[error("correction layer malformed at byte {0}")]
pub struct CorrectionError(usize);

impl Correction {
    /// Fits both heads' corrections to `labelled` (each head from the
    /// examples that carry its label).
    pub fn fit(models: &Models, labelled: &[Corrected]) -> Correction {
        Self::fit_with(models, labelled, CONFIG)
    }

    pub fn fit_with(models: &Models, labelled: &[Corrected], config: TrainConfig) -> Correction {
        let buckets = models.table.buckets;
        let mut correction = Correction {
            bias: [0.0; OUTPUTS],
            rows: Vec::new(),
        };
        let mut dense_rows: std::collections::BTreeMap<u32, [f32; OUTPUTS]> = Default::default();
        for (offset, classes, label_of) in [
            (
                0usize,
                SENTIMENTS.len(),
                (|c: &Corrected| c.sentiment.map(Target::Is)) as fn(&Corrected) -> Option<Target>,
            ),
            (SENTIMENTS.len(), INTENTS.len(), |c: &Corrected| c.intent),
        ] {
            let (examples, offsets): (Vec<Example>, Vec<Vec<f32>>) = labelled
                .iter()
                .filter_map(|c| {
                    let label = label_of(c)?;
                    let z = models.logits(&c.features);
                    Some((
                        Example {
                            features: c.features.clone(),
                            target: label,
                            weight: 1.0,
                        },
                        z[offset..offset + classes].to_vec(),
                    ))
                })
                .unzip();
            if examples.is_empty() {
                continue;
            }
            let head = train(&examples, Some(&offsets), classes, buckets, config);
            correction.bias[offset..offset + classes].copy_from_slice(&head.bias);
            let mut touched: Vec<u32> = examples
                .iter()
                .flat_map(|e| e.features.iter().copied())
                .collect();
            touched.sort_unstable();
            touched.dedup();
            for f in touched {
                let row = dense_rows.entry(f).or_insert([0.0; OUTPUTS]);
                let weights = &head.weights[f as usize * classes..][..classes];
                row[offset..offset + classes].copy_from_slice(weights);
            }
        }
        correction.rows = dense_rows.into_iter().collect();
        correction
    }

    /// Adds the correction to temperature-scaled logits.
    pub fn apply(&self, features: &[u32], z: &mut [f32; OUTPUTS]) {
        for (v, b) in z.iter_mut().zip(&self.bias) {
            *v += b;
        }
        let x = feature_value(features.len());
        for f in features {
            if let Ok(i) = self.rows.binary_search_by_key(f, |(bucket, _)| *bucket) {
                for (v, w) in z.iter_mut().zip(&self.rows[i].1) {
                    *v += w * x;
                }
            }
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 * OUTPUTS + self.rows.len() * 4 * (OUTPUTS + 1) + 4);
        for b in &self.bias {
            out.extend_from_slice(&b.to_le_bytes());
        }
        out.extend_from_slice(&(self.rows.len() as u32).to_le_bytes());
        for (bucket, row) in &self.rows {
            out.extend_from_slice(&bucket.to_le_bytes());
            for w in row {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Correction, CorrectionError> {
        let word = |at: usize| -> Result<u32, CorrectionError> {
            let b = bytes.get(at..at + 4).ok_or(CorrectionError(at))?;
            Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let mut bias = [0.0; OUTPUTS];
        for (k, b) in bias.iter_mut().enumerate() {
            *b = f32::from_bits(word(4 * k)?);
        }
        let mut at = 4 * OUTPUTS;
        let n = word(at)? as usize;
        at += 4;
        if bytes.len() != at + n * 4 * (OUTPUTS + 1) {
            return Err(CorrectionError(at));
        }
        let mut rows = Vec::with_capacity(n);
        for _ in 0..n {
            let bucket = word(at)?;
            at += 4;
            let mut row = [0.0; OUTPUTS];
            for w in &mut row {
                *w = f32::from_bits(word(at)?);
                at += 4;
            }
            rows.push((bucket, row));
        }
        if rows.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(CorrectionError(4 * OUTPUTS + 4));
        }
        Ok(Correction { bias, rows })
    }
}

/// How well a model (with or without a correction) does on labelled
/// mentions: sentiment accuracy, intent accuracy and complaint F1, each
/// over the examples that carry the label (`None` without any).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HeldOut {
    pub sentiment_accuracy: Option<f64>,
    pub intent_accuracy: Option<f64>,
    pub complaint_f1: Option<f64>,
    pub sentiment_labels: u64,
    pub intent_labels: u64,
}

pub fn held_out(
    models: &Models,
    correction: Option<&Correction>,
    labelled: &[Corrected],
) -> HeldOut {
    let mut sentiment = Confusion::new(SENTIMENTS.len());
    let mut intent = Confusion::new(INTENTS.len());
    let complaint = INTENTS
        .iter()
        .position(|&i| i == Intent::Complaint)
        .expect("complaint is an intent");
    let (mut truth, mut said) = (Vec::new(), Vec::new());
    for c in labelled {
        let mut z = models.logits(&c.features);
        if let Some(correction) = correction {
            correction.apply(&c.features, &mut z);
        }
        let p = probabilities(z);
        if let Some(s) = c.sentiment {
            let (label, _) = p.sentiment_label();
            let predicted = SENTIMENTS.iter().position(|&l| l == label).unwrap_or(1);
            sentiment.add(s, predicted);
        }
        let (label, _) = p.intent();
        let predicted = INTENTS.iter().position(|&l| l == label).unwrap_or(0);
        if let Some(Target::Is(i)) = c.intent {
            intent.add(i, predicted);
        }
        if let Some(Target::Is(k) | Target::Not(k)) = c.intent
            && (k == complaint || matches!(c.intent, Some(Target::Is(_))))
        {
            truth.push(c.intent == Some(Target::Is(complaint)));
            said.push(predicted == complaint);
        }
    }
    let some = |c: &Confusion| (c.total() > 0).then(|| c.accuracy());
    HeldOut {
        sentiment_accuracy: some(&sentiment),
        intent_accuracy: some(&intent),
        complaint_f1: truth.contains(&true).then(|| binary(&truth, &said).f1),
        sentiment_labels: sentiment.total(),
        intent_labels: intent.total(),
    }
}
