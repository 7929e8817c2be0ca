//! The accuracy command's measures: each model through the path ingest
//! takes ([`hear_with`]), on the test split of every corpus (never trained
//! on) and across domains (a corpus left out of training altogether).

use std::fmt::Write as _;

use earshot_proto::common::v1::{Actionability, Intent, SentimentLabel};

use super::corpus::{Item, Source, Split};
use crate::pipeline::classify::default_taxonomy;
use crate::pipeline::model::adapt::{self, Corrected, HeldOut};
use crate::pipeline::model::eval::{ClassScores, Confusion, binary};
use crate::pipeline::model::linear::{Target, TrainConfig};
use crate::pipeline::model::{Correction, INTENTS, Models, SENTIMENTS, needs_reply};
use crate::pipeline::normalise::normalise;
use crate::pipeline::{hear_with, sentiment};

/// Everything measured on one set of items.
#[derive(Debug, Clone)]
pub struct Scores {
    pub items: usize,
    pub sentiment: Confusion,
    /// VADER alone (compound ±0.05) on the same items, for comparison.
    pub vader: Confusion,
    pub intent: Confusion,
    complaint: (Vec<bool>, Vec<bool>),
    /// The cue lists alone on complaints.
    cue_complaint: Vec<bool>,
    reply: (Vec<bool>, Vec<bool>),
    /// Praise items heard as high fives.
    pub praise: (u64, u64),
    /// `other` items (chatter) heard as cries for help.
    pub chatter: (u64, u64),
}

impl Scores {
    pub fn complaint(&self) -> Option<ClassScores> {
        (!self.complaint.0.is_empty()).then(|| binary(&self.complaint.0, &self.complaint.1))
    }

    pub fn cue_complaint(&self) -> Option<ClassScores> {
        (!self.complaint.0.is_empty()).then(|| binary(&self.complaint.0, &self.cue_complaint))
    }

    /// Needs-a-reply scores, when some items need one.
    pub fn needs_reply(&self) -> Option<ClassScores> {
        self.reply
            .0
            .contains(&true)
            .then(|| binary(&self.reply.0, &self.reply.1))
    }
}

fn label_index(label: i32) -> usize {
    SENTIMENTS
        .iter()
        .position(|&l| l as i32 == label)
        .unwrap_or(1)
}

pub fn score<'a>(models: &Models, items: impl IntoIterator<Item = &'a Item>) -> Scores {
    let complaint = INTENTS
        .iter()
        .position(|&i| i == Intent::Complaint)
        .expect("an intent");
    let mut s = Scores {
        items: 0,
        sentiment: Confusion::new(3),
        vader: Confusion::new(3),
        intent: Confusion::new(INTENTS.len()),
        complaint: (Vec::new(), Vec::new()),
        cue_complaint: Vec::new(),
        reply: (Vec::new(), Vec::new()),
        praise: (0, 0),
        chatter: (0, 0),
    };
    for item in items {
        s.items += 1;
        let text = normalise(&item.text, "").text;
        let c = hear_with(models, &text, 0, false, default_taxonomy(), None);
        let heard = c.sentiment.as_ref();
        if let Some(truth) = item.sentiment {
            s.sentiment.add(
                truth,
                label_index(heard.map_or(SentimentLabel::Neutral as i32, |h| h.label)),
            );
            let vader = sentiment::polarity_scores(&text).compound;
            s.vader
                .add(truth, crate::pipeline::model::sentiment_of_score(vader));
        }
        let said = INTENTS
            .iter()
            .position(|&i| i as i32 == c.intent)
            .unwrap_or(INTENTS.len() - 1);
        match item.intent {
            Some(Target::Is(truth)) => {
                s.intent.add(truth, said);
                s.reply.0.push(needs_reply(INTENTS[truth]));
                s.reply.1.push(c.actionable);
                if INTENTS[truth] == Intent::Other {
                    s.chatter.1 += 1;
                    s.chatter.0 += u64::from(c.actionable);
                }
                if INTENTS[truth] == Intent::Praise {
                    s.praise.1 += 1;
                    s.praise.0 += u64::from(c.actionability == Actionability::HighFive as i32);
                }
            }
            Some(Target::Not(_)) | None => {}
        }
        // complaints-acl2019's items all say whether they are complaints,
        // whatever else their label says (a random tweet's `other`).
        let about_complaint = match item.intent {
            Some(Target::Is(k) | Target::Not(k)) => {
                k == complaint || item.source == Source::Complaints
            }
            None => false,
        };
        if about_complaint {
            s.complaint
                .0
                .push(item.intent == Some(Target::Is(complaint)));
            s.complaint.1.push(said == complaint);
            s.cue_complaint
                .push(c.cue_intent == Intent::Complaint as i32);
        }
    }
    s
}

fn pct(v: f64) -> String {
    format!("{:.3}", v)
}

fn acc(c: &Confusion) -> String {
    if c.total() == 0 {
        "–".into()
    } else {
        pct(c.accuracy())
    }
}

fn prf(s: Option<ClassScores>) -> String {
    s.map_or("–".into(), |s| {
        format!("{} ({} / {})", pct(s.f1), pct(s.precision), pct(s.recall))
    })
}

/// One markdown row per set: items, sentiment accuracy (VADER's beside),
/// intent accuracy, complaint F1 (P / R) with the cue lists' beside,
/// needs-a-reply F1 (P / R), praise heard as high fives, chatter kept out
/// of cases.
pub fn table(title: &str, rows: &[(String, Scores)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n{title}\n");
    let _ = writeln!(
        out,
        "| set | items | sentiment acc (VADER) | intent acc | complaint F1 (P / R) | cues' complaint F1 | needs-a-reply F1 (P / R) | praise → high five | chatter kept out |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | --- | --- | --- | --- | --- | --- | --- |"
    );
    for (name, s) in rows {
        let sentiment = if s.sentiment.total() == 0 {
            "–".to_owned()
        } else {
            format!("{} ({})", acc(&s.sentiment), acc(&s.vader))
        };
        let share = |(n, of): (u64, u64)| {
            if of == 0 {
                "–".to_owned()
            } else {
                pct(n as f64 / of as f64)
            }
        };
        let praise = share(s.praise);
        let chatter = share((s.chatter.1 - s.chatter.0, s.chatter.1));
        let _ = writeln!(
            out,
            "| {name} | {} | {sentiment} | {} | {} | {} | {} | {praise} | {chatter} |",
            s.items,
            acc(&s.intent),
            prf(s.complaint()),
            s.cue_complaint().map_or("–".into(), |c| pct(c.f1)),
            prf(s.needs_reply()),
        );
    }
    out
}

/// Per-class precision, recall and F1 of both heads.
pub fn classes(title: &str, s: &Scores) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n{title}\n");
    let _ = writeln!(out, "| head | class | precision | recall | F1 | support |");
    let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: | ---: |");
    let names = |i: usize, sentiment: bool| {
        if sentiment {
            SENTIMENTS[i]
                .as_str_name()
                .trim_start_matches("SENTIMENT_LABEL_")
                .to_lowercase()
        } else {
            INTENTS[i]
                .as_str_name()
                .trim_start_matches("INTENT_")
                .to_lowercase()
        }
    };
    for (head, c, sentiment) in [
        ("sentiment", &s.sentiment, true),
        ("intent", &s.intent, false),
    ] {
        for k in 0..c.matrix.len() {
            let cs = c.class(k);
            if cs.support == 0 {
                continue;
            }
            let _ = writeln!(
                out,
                "| {head} | {} | {} | {} | {} | {} |",
                names(k, sentiment),
                pct(cs.precision),
                pct(cs.recall),
                pct(cs.f1),
                cs.support
            );
        }
        let _ = writeln!(
            out,
            "| {head} | **accuracy {} · macro F1 {}** | | | | {} |",
            acc(c),
            pct(c.macro_f1()),
            c.total()
        );
    }
    out
}

/// The test split of each source present, and all of them together.
pub fn held_out(
    models: &Models,
    items: &[Item],
    sources: &[Source],
) -> (Vec<(String, Scores)>, Scores) {
    let test = |i: &&Item| i.split() == Split::Test;
    let rows = sources
        .iter()
        .map(|&source| {
            let scores = score(
                models,
                items.iter().filter(test).filter(|i| i.source == source),
            );
            (source.name().to_owned(), scores)
        })
        .collect();
    (rows, score(models, items.iter().filter(test)))
}

/// What `labels` corrections from one corpus's train split (a sample in
/// the order of a hash of their texts, not the files' order) do for that
/// corpus's test split: `models` alone, then with a correction layer fitted
/// to them, as a tenant's refit would.
pub fn adaptation(
    models: &Models,
    items: &[Item],
    source: Source,
    labels: usize,
    config: TrainConfig,
) -> Option<(usize, HeldOut, HeldOut)> {
    let corrected = |item: &Item| Corrected {
        features: crate::pipeline::features_of_raw(&item.text),
        sentiment: item.sentiment,
        intent: item.intent,
    };
    let mut sample: Vec<&Item> = items
        .iter()
        .filter(|i| i.source == source && i.split() == Split::Train)
        .filter(|i| i.sentiment.is_some() || i.intent.is_some())
        .collect();
    sample.sort_by_key(|i| xxhash_rust::xxh3::xxh3_64(i.text.as_bytes()));
    sample.truncate(labels);
    if sample.is_empty() {
        return None;
    }
    let train: Vec<Corrected> = sample.into_iter().map(corrected).collect();
    let test: Vec<Corrected> = items
        .iter()
        .filter(|i| i.source == source && i.split() == Split::Test)
        .map(corrected)
        .collect();
    let correction = Correction::fit_with(models, &train, config);
    Some((
        train.len(),
        adapt::held_out(models, None, &test),
        adapt::held_out(models, Some(&correction), &test),
    ))
}

/// The adaptation rows: sentiment accuracy, intent accuracy and complaint
/// F1 before → after.
pub fn adaptation_table(rows: &[(String, usize, HeldOut, HeldOut)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nAdaptation to a new domain: models trained without the corpus, then a correction layer fitted to labels from its train split, scored on its test split\n"
    );
    let _ = writeln!(
        out,
        "| corpus | labels | sentiment acc before → after | intent acc before → after | complaint F1 before → after |"
    );
    let _ = writeln!(out, "| --- | ---: | --- | --- | --- |");
    let both = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!("{} → {}", pct(a), pct(b)),
        _ => "–".to_owned(),
    };
    for (name, n, before, after) in rows {
        let _ = writeln!(
            out,
            "| {name} | {n} | {} | {} | {} |",
            both(before.sentiment_accuracy, after.sentiment_accuracy),
            both(before.intent_accuracy, after.intent_accuracy),
            both(before.complaint_f1, after.complaint_f1),
        );
    }
    out
}
