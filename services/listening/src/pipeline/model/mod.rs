//! The learned models: sentiment (negative, neutral, positive) and intent
//! (help request, complaint, question, praise, idea, sales lead, other), two
//! linear heads over the same hashed features ([`features`]), trained by
//! `earshot-models train` from public data and the team's own labels, and
//! shipped in the repository (`services/listening/models/listening.model`,
//! compiled into the binary and parsed once at start: nothing is fetched at
//! run time). Probabilities are calibrated by one temperature per head.
//!
//! A tenant's agents' corrections refit a [`Correction`] layer over them
//! (see [`adapt`]); the shipped weights never change at run time.

pub mod adapt;
pub mod eval;
pub mod features;
pub mod linear;

use std::sync::LazyLock;

use earshot_proto::common::v1::{Intent, SentimentLabel};

pub use adapt::Correction;
use features::Signals;
use linear::{Quantised, softmax};

/// Sentiment classes, in head order.
pub const SENTIMENTS: [SentimentLabel; 3] = [
    SentimentLabel::Negative,
    SentimentLabel::Neutral,
    SentimentLabel::Positive,
];
/// Intent classes, in head order (the proto's, without UNSPECIFIED).
pub const INTENTS: [Intent; 7] = [
    Intent::HelpRequest,
    Intent::Complaint,
    Intent::Question,
    Intent::Praise,
    Intent::Idea,
    Intent::SalesLead,
    Intent::Other,
];
/// Outputs of both heads: sentiment's first, then intent's.
pub const OUTPUTS: usize = SENTIMENTS.len() + INTENTS.len();
/// Feature buckets of the shipped model: 2¹⁸ rows of ten bytes, 2.6 MB.
pub const BUCKETS: u32 = 1 << 18;

/// The head of an intent, by its place in [`INTENTS`].
pub fn intent_index(intent: Intent) -> Option<usize> {
    INTENTS.iter().position(|&i| i == intent)
}

/// The sentiment class of a score on VADER's scale: below −0.05 negative,
/// above 0.05 positive (VADER's own thresholds), neutral between.
pub fn sentiment_of_score(score: f64) -> usize {
    if score < -0.05 {
        0
    } else if score > 0.05 {
        2
    } else {
        1
    }
}

/// Intents that need a human reply.
pub fn needs_reply(intent: Intent) -> bool {
    matches!(
        intent,
        Intent::HelpRequest | Intent::Complaint | Intent::Question | Intent::SalesLead
    )
}

const MAGIC: &[u8; 8] = b"EARSHOTM";
const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("not an Earshot model file")]
    Magic,
    #[error("model format {0}, this build reads {FORMAT}")]
    Format(u32),
    #[error("model file truncated or malformed at byte {0}")]
    Malformed(usize),
}

/// The shipped models: both heads in one quantised table, with the
/// temperature of each.
#[derive(Debug, Clone, PartialEq)]
pub struct Models {
    /// Names the training run (data and settings), stored with every result.
    pub id: String,
    pub table: Quantised,
    /// Sentiment's temperature, then intent's.
    pub temperature: [f32; 2],
}

/// What the models heard in one mention.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// Probabilities in [`SENTIMENTS`] order.
    pub sentiment: [f32; 3],
    /// Probabilities in [`INTENTS`] order.
    pub intent: [f32; 7],
}

fn argmax(p: &[f32]) -> (usize, f32) {
    p.iter()
        .copied()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, v)| {
            if v > best.1 { (i, v) } else { best }
        })
}

impl Prediction {
    pub fn sentiment_label(&self) -> (SentimentLabel, f32) {
        let (i, p) = argmax(&self.sentiment);
        (SENTIMENTS[i], p)
    }

    /// P(positive) − P(negative): the model's score on VADER's −1..=1 scale.
    pub fn sentiment_score(&self) -> f32 {
        self.sentiment[2] - self.sentiment[0]
    }

    pub fn intent(&self) -> (Intent, f32) {
        let (i, p) = argmax(&self.intent);
        (INTENTS[i], p)
    }

    /// The probability that a human should reply: of the intents that need one.
    pub fn needs_reply(&self) -> f32 {
        INTENTS
            .iter()
            .zip(self.intent)
            .filter(|(i, _)| needs_reply(**i))
            .map(|(_, p)| p)
            .sum()
    }
}

impl Models {
    /// The models compiled into this binary.
    pub fn shipped() -> &'static Models {
        static SHIPPED: LazyLock<Models> = LazyLock::new(|| {
            Models::from_bytes(include_bytes!("../../../models/listening.model"))
                .expect("the shipped model file parses (written by `earshot-models train`)")
        });
        &SHIPPED
    }

    /// The temperature-scaled logits of both heads for `features`.
    pub fn logits(&self, features: &[u32]) -> [f32; OUTPUTS] {
        let mut z = [0.0f32; OUTPUTS];
        self.table.logits(features, &mut z);
        for v in &mut z[..3] {
            *v /= self.temperature[0];
        }
        for v in &mut z[3..] {
            *v /= self.temperature[1];
        }
        z
    }

    /// Both heads' probabilities, through the tenant's correction when it
    /// has one.
    pub fn predict(&self, features: &[u32], correction: Option<&Correction>) -> Prediction {
        let mut z = self.logits(features);
        if let Some(correction) = correction {
            correction.apply(features, &mut z);
        }
        probabilities(z)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let t = &self.table;
        let mut out = Vec::with_capacity(64 + t.table.len() + 8 * t.outputs);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&(self.id.len() as u32).to_le_bytes());
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(&t.buckets.to_le_bytes());
        out.extend_from_slice(&(t.outputs as u32).to_le_bytes());
        for v in t.scale.iter().chain(&t.bias).chain(&self.temperature) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend(t.table.iter().map(|&w| w as u8));
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Models, ModelError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(8)? != MAGIC {
            return Err(ModelError::Magic);
        }
        let format = r.u32()?;
        if format != FORMAT {
            return Err(ModelError::Format(format));
        }
        let id_len = r.u32()? as usize;
        let id =
            String::from_utf8(r.take(id_len)?.to_vec()).map_err(|_| ModelError::Malformed(r.at))?;
        let buckets = r.u32()?;
        let outputs = r.u32()? as usize;
        if outputs != OUTPUTS || !buckets.is_power_of_two() {
            return Err(ModelError::Malformed(r.at));
        }
        let mut floats =
            |n: usize| -> Result<Vec<f32>, ModelError> { (0..n).map(|_| r.f32()).collect() };
        let scale = floats(outputs)?;
        let bias = floats(outputs)?;
        let temperature = floats(2)?;
        let table: Vec<i8> = r
            .take(buckets as usize * outputs)?
            .iter()
            .map(|&b| b as i8)
            .collect();
        if r.at != bytes.len() {
            return Err(ModelError::Malformed(r.at));
        }
        Ok(Models {
            id,
            table: Quantised {
                buckets,
                outputs,
                table,
                scale,
                bias,
            },
            temperature: [temperature[0], temperature[1]],
        })
    }
}

/// Both heads' softmax of temperature-scaled (and corrected) logits.
pub fn probabilities(mut z: [f32; OUTPUTS]) -> Prediction {
    softmax(&mut z[..3]);
    softmax(&mut z[3..]);
    let mut prediction = Prediction {
        sentiment: [0.0; 3],
        intent: [0.0; 7],
    };
    prediction.sentiment.copy_from_slice(&z[..3]);
    prediction.intent.copy_from_slice(&z[3..]);
    prediction
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ModelError> {
        let end = self
            .at
            .checked_add(n)
            .ok_or(ModelError::Malformed(self.at))?;
        let slice = self
            .bytes
            .get(self.at..end)
            .ok_or(ModelError::Malformed(self.at))?;
        self.at = end;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<u32, ModelError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f32(&mut self) -> Result<f32, ModelError> {
        Ok(f32::from_bits(self.u32()?))
    }
}

/// Hashed features of one (normalised) text, as the models read them.
pub fn featurise(text: &str, signals: Signals, buckets: u32, out: &mut Vec<u32>) {
    thread_local! {
        static TOKENS: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    TOKENS.with_borrow_mut(|tokens| features::features(text, signals, buckets, tokens, out));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_model_parses_and_round_trips() {
        let models = Models::shipped();
        assert_eq!(models.table.buckets, BUCKETS);
        assert!(!models.id.is_empty());
        let back = Models::from_bytes(&models.to_bytes()).expect("round trip");
        assert_eq!(&back, models);
    }

    #[test]
    fn malformed_files_are_refused() {
        let bytes = Models::shipped().to_bytes();
        assert!(matches!(
            Models::from_bytes(b"nope"),
            Err(ModelError::Malformed(_))
        ));
        assert!(matches!(
            Models::from_bytes(b"NOTAMODL\x01\0\0\0"),
            Err(ModelError::Magic)
        ));
        assert!(matches!(
            Models::from_bytes(&bytes[..bytes.len() - 1]),
            Err(ModelError::Malformed(_))
        ));
    }

    #[test]
    fn sentiment_scores_map_to_vader_classes() {
        assert_eq!(sentiment_of_score(-1.0), 0);
        assert_eq!(sentiment_of_score(0.0), 1);
        assert_eq!(sentiment_of_score(0.05), 1);
        assert_eq!(sentiment_of_score(0.5), 2);
    }
}
