//! The stages every mention goes through before it is stored, each a pure
//! function of the text (and, for noise, the tenant's recent mentions):
//! [`normalise`], [`noise`], then [`hear`]: [`sentiment`] (VADER), the
//! [`classify`] cue lists and the learned [`model`]s. They know nothing of
//! the mention model, the store or the tenant, so `ingest` composes them and
//! `tenant` configures them without either being imported back.

pub mod classify;
pub mod model;
pub mod noise;
pub mod normalise;
pub mod sentiment;

use std::cell::RefCell;

use earshot_proto::common::v1::{
    Actionability, Classification, Intent, Sentiment, SentimentLabel, Urgency,
};

use classify::{Taxonomy, classify};
use model::features::Signals;
use model::{BUCKETS, Correction, Models, Prediction, featurise};

/// Below this probability of needing a reply, an urgency cue alone
/// ("stolen", "hospital") does not make chatter a cry for help.
pub const URGENT_NEEDS_REPLY: f32 = 0.25;
/// From this probability of needing a reply, a mention is a cry for help
/// (above an even chance: chatter that merely looks like a question should
/// not open a case).
pub const NEEDS_REPLY: f32 = 0.6;

/// A tenant's correction layer and its version, as classification uses it.
#[derive(Debug, Clone, Copy)]
pub struct Adapted<'a> {
    pub version: u32,
    pub correction: &'a Correction,
}

/// What the models read of a (normalised) text: VADER's compound, the cue
/// lists' intent and the hashed features of both with the words. Training
/// and [`hear`] both come through here, so they share one tokeniser.
pub fn model_input(text: &str, vader_compound: f64, cue_intent: Intent, out: &mut Vec<u32>) {
    let signals = Signals {
        vader_compound,
        cue_intent,
    };
    featurise(text, signals, BUCKETS, out);
}

/// The hashed features of a raw text, as ingest would compute them: what
/// the trainer and the accuracy command feed the models.
pub fn features_of_raw(raw: &str) -> Vec<u32> {
    let text = normalise::normalise(raw, "").text;
    let vader = sentiment::polarity_scores(&text);
    let cues = classify(
        &text,
        0,
        false,
        vader.compound,
        classify::default_taxonomy(),
    );
    let mut out = Vec::new();
    model_input(&text, vader.compound, intent_of(cues.intent), &mut out);
    out
}

fn intent_of(raw: i32) -> Intent {
    Intent::try_from(raw).unwrap_or(Intent::Other)
}

thread_local! {
    static FEATURES: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// Classifies one mention's normalised text: VADER, the cue lists (intent
/// cues, urgency, topics), then the learned models over all of it, through
/// the tenant's correction layer when it has one.
pub fn hear(
    text: &str,
    author_followers: u64,
    author_verified: bool,
    taxonomy: &Taxonomy,
    adapted: Option<Adapted<'_>>,
) -> Classification {
    hear_with(
        Models::shipped(),
        text,
        author_followers,
        author_verified,
        taxonomy,
        adapted,
    )
}

/// [`hear`] with other models than the shipped ones: the accuracy command
/// measures models it trained itself through the very path ingest takes.
pub fn hear_with(
    models: &Models,
    text: &str,
    author_followers: u64,
    author_verified: bool,
    taxonomy: &Taxonomy,
    adapted: Option<Adapted<'_>>,
) -> Classification {
    let (vader, vader_cues) = sentiment::polarity_scores_with_cues(text);
    let mut c = classify(
        text,
        author_followers,
        author_verified,
        vader.compound,
        taxonomy,
    );
    let cue_intent = intent_of(c.intent);
    let prediction = FEATURES.with_borrow_mut(|features| {
        model_input(text, vader.compound, cue_intent, features);
        models.predict(features, adapted.map(|a| a.correction))
    });
    let (label, sentiment_confidence) = prediction.sentiment_label();
    let addressed = addresses_someone(text);
    let (intent, intent_confidence) = match prediction.intent() {
        // Anger at someone named is a complaint to them, in whatever words.
        (Intent::Other, _)
            if addressed
                && label == SentimentLabel::Negative
                && sentiment_confidence >= ADDRESSED_ANGER =>
        {
            c.cues.push("negative, addressed to someone".to_owned());
            (Intent::Complaint, prediction.sentiment[0])
        }
        heard => heard,
    };
    let needs_reply = prediction.needs_reply();
    let urgent = c
        .urgency
        .iter()
        .any(|u| u.urgency != Urgency::MediaAttention as i32);
    let actionability = actionability(&prediction, intent, addressed, urgent);

    c.cue_intent = cue_intent as i32;
    c.intent = intent as i32;
    c.intent_confidence = f64::from(intent_confidence);
    c.needs_reply_confidence = f64::from(needs_reply);
    c.actionability = actionability as i32;
    c.actionable = actionability == Actionability::CryForHelp;
    c.sentiment = Some(Sentiment {
        compound: f64::from(prediction.sentiment_score()),
        negative: f64::from(prediction.sentiment[0]),
        neutral: f64::from(prediction.sentiment[1]),
        positive: f64::from(prediction.sentiment[2]),
        cues: vader_cues.into_iter().map(str::to_owned).collect(),
        label: label as i32,
        confidence: f64::from(sentiment_confidence),
        vader_compound: vader.compound,
    });
    c.model = match adapted {
        Some(a) => format!("{}+tenant.v{}", models.id, a.version),
        None => models.id.clone(),
    };
    c
}

/// From this probability of negative sentiment, an `other` mention that
/// addresses someone (a handle in it) is a complaint.
pub const ADDRESSED_ANGER: f32 = 0.7;
/// From this probability of positive sentiment, a mention that addresses
/// someone and needs no reply deserves a thank-you.
pub const ADDRESSED_JOY: f32 = 0.7;

/// Whether the text names someone with a handle (`@acme`): said to them.
fn addresses_someone(text: &str) -> bool {
    text.split_whitespace()
        .any(|w| w.len() > 1 && (w.starts_with('@') || w.starts_with(".@")))
}

/// A cry for help when a reply is more likely needed than not (or somewhat
/// likely, with an outage, safety, legal or churn cue), or for a complaint;
/// a high five for praise that is not negative, or a clearly positive word
/// to someone that asks nothing; else neither. A question mark alone
/// decides nothing: the model weighs it with everything else.
pub fn actionability(
    p: &Prediction,
    intent: Intent,
    addressed: bool,
    urgent: bool,
) -> Actionability {
    let needs_reply = p.needs_reply();
    let (sentiment, confidence) = p.sentiment_label();
    if needs_reply >= NEEDS_REPLY
        || intent == Intent::Complaint
        || (urgent && needs_reply >= URGENT_NEEDS_REPLY)
    {
        Actionability::CryForHelp
    } else if (intent == Intent::Praise && sentiment != SentimentLabel::Negative)
        || (addressed
            && sentiment == SentimentLabel::Positive
            && confidence >= ADDRESSED_JOY
            && !matches!(intent, Intent::Idea | Intent::SalesLead))
    {
        Actionability::HighFive
    } else {
        Actionability::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Training reads texts through [`features_of_raw`], ingest through
    /// [`hear`] after normalising: both must give the models the very same
    /// features, so the same probabilities.
    #[test]
    fn training_and_ingest_share_one_tokeniser() {
        let tweets = earshot_testkit::corpus::vader_tweets().expect("data/vader-icwsm2014");
        for tweet in tweets.iter().take(500) {
            let text = normalise::normalise(&tweet.text, "").text;
            let heard = hear(&text, 0, false, classify::default_taxonomy(), None);
            let p = Models::shipped().predict(&features_of_raw(&tweet.text), None);
            let s = heard.sentiment.as_ref().expect("sentiment");
            assert_eq!(s.negative, f64::from(p.sentiment[0]), "{}", tweet.text);
            assert_eq!(s.positive, f64::from(p.sentiment[2]), "{}", tweet.text);
            assert_eq!(heard.needs_reply_confidence, f64::from(p.needs_reply()));
        }
    }

    #[test]
    fn a_question_mark_alone_is_no_cry_for_help() {
        let other = Prediction {
            sentiment: [0.1, 0.8, 0.1],
            intent: [0.1, 0.05, 0.1, 0.0, 0.0, 0.0, 0.75],
        };
        assert_eq!(
            actionability(&other, Intent::Other, false, false),
            Actionability::None
        );
        // An urgency cue lowers the bar, but not to nothing.
        assert_eq!(
            actionability(&other, Intent::Other, false, true),
            Actionability::CryForHelp
        );
        let chatter = Prediction {
            intent: [0.05, 0.05, 0.1, 0.0, 0.0, 0.0, 0.8],
            ..other
        };
        assert_eq!(
            actionability(&chatter, Intent::Other, false, true),
            Actionability::None
        );
        let praise = Prediction {
            sentiment: [0.05, 0.15, 0.8],
            intent: [0.0, 0.05, 0.05, 0.85, 0.0, 0.0, 0.05],
        };
        assert_eq!(
            actionability(&praise, Intent::Praise, false, false),
            Actionability::HighFive
        );
        let sarcastic = Prediction {
            sentiment: [0.7, 0.2, 0.1],
            ..praise
        };
        assert_eq!(
            actionability(&sarcastic, Intent::Praise, false, false),
            Actionability::None
        );
    }
}
