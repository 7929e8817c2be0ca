//! The labelled corpora the models learn from and are measured on, each read
//! from its upstream files as `../shared/data/README.md` describes them (the
//! repository carries the ones whose licence allows it under `data/`), and
//! the team's own labels under `services/listening/models/labels/`.
//!
//! Every text has one fixed place: a fifth of each corpus (by a hash of its
//! text) is the test split that no training run ever sees, a tenth is the
//! calibration split the temperatures are fitted on, the rest trains.

use std::path::{Path, PathBuf};

use earshot_proto::common::v1::Intent;
use xxhash_rust::xxh3::xxh3_64;

use crate::pipeline::model::intent_index;
use crate::pipeline::model::linear::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// TweetEval sentiment (SemEval 2017): general tweets, 3 classes.
    TweetEval,
    /// VADER's tweets rated by people (mean −4..+4).
    VaderTweets,
    /// VADER's Amazon review snippets rated by people.
    VaderReviews,
    /// banking77: requests to a bank's support.
    Banking77,
    /// Bitext: requests to a retailer's support, 27 intents.
    Bitext,
    /// complaints-acl2019: tweets to brands' service handles, complaint or not.
    Complaints,
    /// The team's own labels.
    Team,
}

impl Source {
    pub const ALL: [Source; 7] = [
        Source::TweetEval,
        Source::VaderTweets,
        Source::VaderReviews,
        Source::Banking77,
        Source::Bitext,
        Source::Complaints,
        Source::Team,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Source::TweetEval => "tweeteval-sentiment",
            Source::VaderTweets => "vader tweets",
            Source::VaderReviews => "vader amazon reviews",
            Source::Banking77 => "banking77",
            Source::Bitext => "bitext-support",
            Source::Complaints => "complaints-acl2019",
            Source::Team => "earshot team labels",
        }
    }
}

/// Where a text falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Calibration,
    Test,
}

pub fn split_of(text: &str) -> Split {
    match xxh3_64(text.trim().to_lowercase().as_bytes()) % 10 {
        0 | 5 => Split::Test,
        1 => Split::Calibration,
        _ => Split::Train,
    }
}

/// One labelled text.
#[derive(Debug, Clone)]
pub struct Item {
    pub text: String,
    pub source: Source,
    /// Index in the sentiment head's classes (negative, neutral, positive).
    pub sentiment: Option<usize>,
    pub intent: Option<Target>,
    /// The dataset's own label, for reports ("card_arrival", "complaint").
    pub detail: String,
}

impl Item {
    pub fn split(&self) -> Split {
        split_of(&self.text)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Csv { path: PathBuf, source: csv::Error },
    #[error("{path}:{line}: {reason}")]
    Bad {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

fn read(path: &Path) -> Result<String, CorpusError> {
    std::fs::read_to_string(path).map_err(|source| CorpusError::Io {
        path: path.to_owned(),
        source,
    })
}

fn is(intent: Intent) -> Option<Target> {
    intent_index(intent).map(Target::Is)
}

/// A human mean rating on VADER's −4..+4 scale as a class: within ±0.5 neutral.
fn rated(mean: f64) -> usize {
    if mean < -0.5 {
        0
    } else if mean > 0.5 {
        2
    } else {
        1
    }
}

/// The team's labels (always in the repository).
pub fn team_labels_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/labels/earshot-team.tsv")
}

/// The repository's own copy of the redistributable corpora.
pub fn repo_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data")
}

pub fn team(path: &Path) -> Result<Vec<Item>, CorpusError> {
    let text = read(path)?;
    let mut out = Vec::new();
    let mut header = true;
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if std::mem::take(&mut header) {
            continue;
        }
        let bad = |reason: &str| CorpusError::Bad {
            path: path.to_owned(),
            line: n + 1,
            reason: reason.to_owned(),
        };
        let mut cols = line.split('\t');
        let (Some(t), Some(s), Some(i), None) =
            (cols.next(), cols.next(), cols.next(), cols.next())
        else {
            return Err(bad("want text, sentiment, intent"));
        };
        let sentiment = match s {
            "negative" => 0,
            "neutral" => 1,
            "positive" => 2,
            _ => return Err(bad("sentiment: negative, neutral or positive")),
        };
        let intent = match i {
            "help_request" => Intent::HelpRequest,
            "complaint" => Intent::Complaint,
            "question" => Intent::Question,
            "praise" => Intent::Praise,
            "idea" => Intent::Idea,
            "sales_lead" => Intent::SalesLead,
            "other" => Intent::Other,
            _ => return Err(bad("intent: unknown")),
        };
        out.push(Item {
            text: t.to_owned(),
            source: Source::Team,
            sentiment: Some(sentiment),
            intent: is(intent),
            detail: i.to_owned(),
        });
    }
    Ok(out)
}

/// VADER's ground truth: `id<TAB>mean<TAB>text` per line.
pub fn vader(path: &Path, source: Source) -> Result<Vec<Item>, CorpusError> {
    let text = read(path)?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut cols = line.splitn(3, '\t');
        let (Some(_), Some(mean), Some(t)) = (cols.next(), cols.next(), cols.next()) else {
            continue;
        };
        let mean: f64 = mean.trim().parse().map_err(|_| CorpusError::Bad {
            path: path.to_owned(),
            line: n + 1,
            reason: "mean rating".into(),
        })?;
        out.push(Item {
            text: t.to_owned(),
            source,
            sentiment: Some(rated(mean)),
            // People's everyday tweets address no brand; reviews are left
            // out of intent (a bad review may or may not want an answer).
            intent: (source == Source::VaderTweets)
                .then(|| is(Intent::Other))
                .flatten(),
            detail: String::new(),
        });
    }
    Ok(out)
}

pub fn tweeteval(dir: &Path) -> Result<Vec<Item>, CorpusError> {
    let mut out = Vec::new();
    for part in ["test", "val"] {
        let texts = read(&dir.join(format!("{part}_text.txt")))?;
        let labels = read(&dir.join(format!("{part}_labels.txt")))?;
        for (n, (t, l)) in texts.lines().zip(labels.lines()).enumerate() {
            let sentiment = match l.trim() {
                "0" => 0,
                "1" => 1,
                "2" => 2,
                _ => {
                    return Err(CorpusError::Bad {
                        path: dir.join(format!("{part}_labels.txt")),
                        line: n + 1,
                        reason: "label 0, 1 or 2".into(),
                    });
                }
            };
            out.push(Item {
                text: t.to_owned(),
                source: Source::TweetEval,
                sentiment: Some(sentiment),
                intent: is(Intent::Other),
                detail: String::new(),
            });
        }
    }
    Ok(out)
}

fn csv_rows(path: &Path) -> Result<Vec<csv::StringRecord>, CorpusError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .map_err(|source| CorpusError::Csv {
            path: path.to_owned(),
            source,
        })?;
    reader
        .records()
        .collect::<Result<_, _>>()
        .map_err(|source| CorpusError::Csv {
            path: path.to_owned(),
            source,
        })
}

/// banking77 categories that ask about the bank's terms rather than for
/// help with the customer's own money: questions.
const BANKING_QUESTIONS: &[&str] = &[
    "exchange_rate",
    "fiat_currency_support",
    "card_delivery_estimate",
    "age_limit",
    "top_up_limits",
    "supported_cards_and_currencies",
    "card_acceptance",
    "why_verify_identity",
    "visa_or_mastercard",
    "disposable_card_limits",
    "atm_support",
    "transfer_timing",
    "country_support",
    "exchange_charge",
    "top_up_by_card_charge",
    "cash_withdrawal_charge",
    "top_up_by_bank_transfer_charge",
    "apple_pay_or_google_pay",
];

pub fn banking77(dir: &Path) -> Result<Vec<Item>, CorpusError> {
    let mut out = Vec::new();
    for file in ["train.csv", "test.csv"] {
        for row in csv_rows(&dir.join(file))? {
            let category = row.get(1).unwrap_or_default();
            let intent = if BANKING_QUESTIONS.contains(&category) {
                Intent::Question
            } else {
                Intent::HelpRequest
            };
            out.push(Item {
                text: row.get(0).unwrap_or_default().to_owned(),
                source: Source::Banking77,
                sentiment: None,
                intent: is(intent),
                detail: category.to_owned(),
            });
        }
    }
    Ok(out)
}

pub fn bitext(dir: &Path) -> Result<Vec<Item>, CorpusError> {
    let mut out = Vec::new();
    for row in csv_rows(&dir.join("bitext_customer_support_sample.csv"))? {
        let category = row.get(3).unwrap_or_default();
        let intent = match category {
            "complaint" => Intent::Complaint,
            "place_order" => Intent::SalesLead,
            "check_payment_methods"
            | "check_refund_policy"
            | "delivery_options"
            | "delivery_period"
            | "check_cancellation_fee" => Intent::Question,
            _ => Intent::HelpRequest,
        };
        out.push(Item {
            text: row.get(2).unwrap_or_default().to_owned(),
            source: Source::Bitext,
            sentiment: None,
            intent: is(intent),
            detail: category.to_owned(),
        });
    }
    Ok(out)
}

/// VADER's compound from which a non-complaint with a praise cue is
/// labelled praise (a weak label: the dataset says only "no complaint").
const CLEAR_PRAISE: f64 = 0.5;

fn clear_praise(raw: &str) -> bool {
    use crate::pipeline::{classify, normalise, sentiment};
    let text = normalise::normalise(raw, "").text;
    let compound = sentiment::polarity_scores(&text).compound;
    let cues = classify::classify(&text, 0, false, compound, classify::default_taxonomy());
    compound >= CLEAR_PRAISE && cues.intent == Intent::Praise as i32
}

/// complaints-acl2019: `id,text,label,domain` with no header row.
pub fn complaints(dir: &Path) -> Result<Vec<Item>, CorpusError> {
    let path = dir.join("complaints-data.csv");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(&path)
        .map_err(|source| CorpusError::Csv {
            path: path.clone(),
            source,
        })?;
    let mut out = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|source| CorpusError::Csv {
            path: path.clone(),
            source,
        })?;
        let complaint = row.get(2) == Some("1");
        let complaint_index = intent_index(Intent::Complaint).expect("an intent");
        let text = row.get(1).unwrap_or_default();
        let random = row.get(3).is_some_and(|d| d.starts_with("random"));
        // A complaint is negative; a random tweet or reply (addressed to no
        // brand) is chatter; a tweet to a brand that is no complaint may be
        // anything, unless it is praise by its cues and clearly positive.
        let (sentiment, intent) = if complaint {
            (Some(0), Target::Is(complaint_index))
        } else if random {
            (None, is(Intent::Other).expect("an intent"))
        } else if clear_praise(text) {
            (Some(2), is(Intent::Praise).expect("an intent"))
        } else {
            (None, Target::Not(complaint_index))
        };
        out.push(Item {
            text: text.to_owned(),
            source: Source::Complaints,
            sentiment,
            intent: Some(intent),
            detail: if complaint {
                "complaint"
            } else {
                "not complaint"
            }
            .to_owned(),
        });
    }
    Ok(out)
}

/// Every corpus found: those under `data_dir` (the shared data folder, or
/// the repository's `data/`, which lacks TweetEval and the complaints) and
/// the team's labels. Returns the sources that were missing too.
pub fn load_all(data_dir: &Path) -> Result<(Vec<Item>, Vec<Source>), CorpusError> {
    let mut items = team(&team_labels_path())?;
    let mut missing = Vec::new();
    let vader_dir = data_dir.join("vader-icwsm2014");
    let loaders: [(Source, PathBuf); 6] = [
        (Source::TweetEval, data_dir.join("tweeteval-sentiment")),
        (
            Source::VaderTweets,
            vader_dir.join("tweets_GroundTruth.txt"),
        ),
        (
            Source::VaderReviews,
            vader_dir.join("amazonReviewSnippets_GroundTruth.txt"),
        ),
        (Source::Banking77, data_dir.join("banking77")),
        (Source::Bitext, data_dir.join("bitext-support")),
        (Source::Complaints, data_dir.join("complaints-acl2019")),
    ];
    for (source, path) in loaders {
        if !path.exists() {
            missing.push(source);
            continue;
        }
        items.extend(match source {
            Source::TweetEval => tweeteval(&path)?,
            Source::VaderTweets | Source::VaderReviews => vader(&path, source)?,
            Source::Banking77 => banking77(&path)?,
            Source::Bitext => bitext(&path)?,
            Source::Complaints => complaints(&path)?,
            Source::Team => Vec::new(),
        });
    }
    Ok((items, missing))
}
