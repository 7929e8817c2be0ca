//! Listening accuracy: agents label mentions relevant or not (to the
//! tenant's listening as a whole, or to one rule) and correct intent or
//! sentiment; from those labels every rule gets a precision and recall
//! estimate, and a draft query can be backtested before it goes live.
//!
//! A mention's relevance to rule R is its label for R when there is one,
//! else its general label; mentions with neither are not judged for R.
//! Estimates re-run the rule's current version over the labelled mentions,
//! so they always describe the rule as it is now.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use earshot_proto::common::v1::{Author, Intent};
use earshot_proto::listening::v1::{
    Accuracy, BacktestRuleResponse, ListeningAccuracy, MentionExample, MentionLabel, RuleAccuracy,
};
use earshot_server::convert::timestamp;
use earshot_server::{ServiceError, invalid};
use futures_util::TryStreamExt;
use sqlx::PgPool;
use uuid::Uuid;

use super::profile::Profiles;
use super::rules;
use crate::mention::rebuild_document;
use crate::query::{Document, MatchScratch, RuleOptions, RuleRef, RuleSet};

/// Labels read for one estimate; far more than agents label in practice.
const MAX_LABELS: i64 = 100_000;
/// Stored mentions a backtest matches for its volume, newest first.
pub const MAX_BACKTEST_SCAN: i64 = 200_000;
const DEFAULT_EXAMPLES: u32 = 5;
const MAX_EXAMPLES: u32 = 50;

/// The nil UUID stands for "the tenant's listening as a whole".
const GENERAL: Uuid = Uuid::nil();

#[derive(Debug, Clone, sqlx::FromRow)]
struct LabelRow {
    mention_id: Uuid,
    rule_id: Uuid,
    relevant: bool,
    intent: i16,
    sentiment: Option<f64>,
    labelled_by: String,
    labelled_at: DateTime<Utc>,
}

fn label_to_proto(row: LabelRow) -> MentionLabel {
    MentionLabel {
        mention_id: row.mention_id.to_string(),
        rule_id: if row.rule_id == GENERAL {
            String::new()
        } else {
            row.rule_id.to_string()
        },
        relevant: row.relevant,
        intent: i32::from(row.intent),
        sentiment: row.sentiment,
        labelled_by: row.labelled_by,
        labelled_at: Some(timestamp(row.labelled_at)),
    }
}

/// What an agent says about a mention.
pub struct LabelInput {
    pub mention_id: Uuid,
    pub rule_id: Option<Uuid>,
    pub relevant: bool,
    pub intent: i32,
    pub sentiment: Option<f64>,
}

/// Records (or replaces) an agent's label of a mention.
pub async fn label(
    pool: &PgPool,
    tenant_id: &str,
    labelled_by: &str,
    input: LabelInput,
) -> Result<MentionLabel, ServiceError> {
    let intent = match Intent::try_from(input.intent) {
        Ok(intent) => intent,
        Err(_) => return Err(invalid("intent", "must be a known intent")),
    };
    if let Some(s) = input.sentiment
        && !(-1.0..=1.0).contains(&s)
    {
        return Err(invalid("sentiment", "must be between -1 and 1"));
    }
    let mentioned: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM mentions WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(input.mention_id)
            .fetch_optional(pool)
            .await?;
    if mentioned.is_none() {
        return Err(ServiceError::NotFound(format!(
            "mention {}",
            input.mention_id
        )));
    }
    if let Some(rule_id) = input.rule_id {
        rules::get(pool, tenant_id, rule_id).await?;
    }
    let mut tx = pool.begin().await?;
    let row: LabelRow = sqlx::query_as(
        "INSERT INTO mention_labels
             (tenant_id, mention_id, rule_id, relevant, intent, sentiment, labelled_by, labelled_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tenant_id, mention_id, rule_id) DO UPDATE
            SET relevant = $4, intent = $5, sentiment = $6, labelled_by = $7, labelled_at = $8
         RETURNING mention_id, rule_id, relevant, intent, sentiment, labelled_by, labelled_at",
    )
    .bind(tenant_id)
    .bind(input.mention_id)
    .bind(input.rule_id.unwrap_or(GENERAL))
    .bind(input.relevant)
    .bind(intent as i16)
    .bind(input.sentiment)
    .bind(labelled_by)
    .bind(Utc::now())
    .fetch_one(&mut *tx)
    .await?;
    // Counted with the label, so the refit job never misses one.
    super::adaptation::store::count_label(&mut tx, tenant_id).await?;
    tx.commit().await?;
    Ok(label_to_proto(row))
}

/// A mention's labels, newest first.
pub async fn labels_of(
    pool: &PgPool,
    tenant_id: &str,
    mention_id: Uuid,
) -> Result<Vec<MentionLabel>, sqlx::Error> {
    let rows: Vec<LabelRow> = sqlx::query_as(
        "SELECT mention_id, rule_id, relevant, intent, sentiment, labelled_by, labelled_at
           FROM mention_labels WHERE tenant_id = $1 AND mention_id = $2
          ORDER BY labelled_at DESC",
    )
    .bind(tenant_id)
    .bind(mention_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(label_to_proto).collect())
}

/// A labelled mention, ready to match, with its judgements.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub mention_id: Uuid,
    pub text: String,
    pub language: String,
    pub source: String,
    pub author: Author,
    /// Relevance to the tenant's listening as a whole.
    pub general: Option<bool>,
    /// Relevance to particular rules.
    pub for_rules: Vec<(Uuid, bool)>,
}

#[derive(sqlx::FromRow)]
struct LabelledRow {
    mention_id: Uuid,
    body: String,
    language: String,
    source: String,
    author_handle: String,
    author_followers: i64,
    author_verified: bool,
    rule_id: Uuid,
    relevant: bool,
}

async fn labelled(pool: &PgPool, tenant_id: &str) -> Result<Vec<Labelled>, sqlx::Error> {
    let rows: Vec<LabelledRow> = sqlx::query_as(
        "SELECT l.mention_id, m.body, m.language, m.source, m.author_handle, m.author_followers,
                m.author_verified, l.rule_id, l.relevant
           FROM mention_labels l
           JOIN mentions m ON m.id = l.mention_id
          WHERE l.tenant_id = $1
          ORDER BY l.mention_id
          LIMIT $2",
    )
    .bind(tenant_id)
    .bind(MAX_LABELS)
    .fetch_all(pool)
    .await?;
    let mut out: Vec<Labelled> = Vec::new();
    for row in rows {
        if out.last().is_none_or(|l| l.mention_id != row.mention_id) {
            out.push(Labelled {
                mention_id: row.mention_id,
                text: row.body,
                language: row.language,
                source: row.source,
                author: Author {
                    handle: row.author_handle,
                    followers: u64::try_from(row.author_followers).unwrap_or(0),
                    verified: row.author_verified,
                    ..Default::default()
                },
                general: None,
                for_rules: Vec::new(),
            });
        }
        let last = out.last_mut().expect("pushed above");
        if row.rule_id == GENERAL {
            last.general = Some(row.relevant);
        } else {
            last.for_rules.push((row.rule_id, row.relevant));
        }
    }
    Ok(out)
}

/// Confusion counts of one rule over labelled mentions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub labelled: u32,
    pub true_positives: u32,
    pub false_positives: u32,
    pub false_negatives: u32,
}

impl Counts {
    fn add(&mut self, relevant: bool, matched: bool) {
        self.labelled += 1;
        match (relevant, matched) {
            (true, true) => self.true_positives += 1,
            (false, true) => self.false_positives += 1,
            (true, false) => self.false_negatives += 1,
            (false, false) => {}
        }
    }

    pub fn to_proto(self) -> Accuracy {
        let ratio = |num: u32, den: u32| {
            if den == 0 {
                0.0
            } else {
                f64::from(num) / f64::from(den)
            }
        };
        Accuracy {
            labelled: self.labelled,
            true_positives: self.true_positives,
            false_positives: self.false_positives,
            false_negatives: self.false_negatives,
            precision: ratio(
                self.true_positives,
                self.true_positives + self.false_positives,
            ),
            recall: ratio(
                self.true_positives,
                self.true_positives + self.false_negatives,
            ),
        }
    }
}

/// Mentions an estimate points at: relevant ones a rule misses, irrelevant
/// ones it catches.
#[derive(Debug, Default)]
pub struct Examples {
    pub limit: usize,
    pub misses: Vec<MentionExample>,
    pub false_hits: Vec<MentionExample>,
}

/// Matches every labelled mention against `rules` once and counts, per rule,
/// how its matches agree with the labels. Examples are kept for `example_rule`.
///
/// The general labels are counted in aggregate (each mention touches only
/// the rules it matched), so the cost is labelled mentions × matches, not
/// labelled mentions × rules.
pub fn judge(
    rules: &RuleSet,
    rule_ids: &[Uuid],
    labelled: &[Labelled],
    example_rule: Option<Uuid>,
    examples: &mut Examples,
) -> HashMap<Uuid, Counts> {
    let mut document = Document::default();
    let mut scratch = MatchScratch::default();
    let mut matched: Vec<RuleRef> = Vec::new();
    let mut specific: HashMap<Uuid, Counts> = HashMap::new();
    // General judgements of mentions that matched the rule, and of relevant
    // mentions that carry a specific label for it (counted there instead).
    let mut general_matched: HashMap<Uuid, (u32, u32)> = HashMap::new();
    let mut overridden: HashMap<Uuid, (u32, u32)> = HashMap::new();
    let (mut general_labelled, mut general_relevant) = (0u32, 0u32);
    let example = |examples: &mut Examples, m: &Labelled, relevant: bool, hit: bool| {
        let list = match (relevant, hit) {
            (true, false) => &mut examples.misses,
            (false, true) => &mut examples.false_hits,
            _ => return,
        };
        if list.len() < examples.limit {
            list.push(MentionExample {
                mention_id: m.mention_id.to_string(),
                text: m.text.clone(),
            });
        }
    };
    for m in labelled {
        rebuild_document(&mut document, &m.text, &m.language, &m.source, &m.author);
        rules.matches_with(&document, &mut scratch, &mut matched);
        // Sets, as a mention can match thousands of rules and carry a label
        // for thousands: comparing the lists pairwise would be their product.
        let matched_ids: HashSet<Uuid> = matched.iter().map(|r| r.id).collect();
        let labelled_for: HashSet<Uuid> = m.for_rules.iter().map(|&(rule, _)| rule).collect();
        let hit = |id: Uuid| matched_ids.contains(&id);
        for &(rule, relevant) in &m.for_rules {
            let is_hit = hit(rule);
            specific.entry(rule).or_default().add(relevant, is_hit);
            if let Some(general) = m.general {
                let o = overridden.entry(rule).or_default();
                o.0 += 1;
                o.1 += u32::from(general);
            }
            if example_rule == Some(rule) {
                example(examples, m, relevant, is_hit);
            }
        }
        let Some(relevant) = m.general else { continue };
        general_labelled += 1;
        general_relevant += u32::from(relevant);
        for r in &matched {
            if labelled_for.contains(&r.id) {
                continue;
            }
            let g = general_matched.entry(r.id).or_default();
            g.0 += u32::from(relevant);
            g.1 += u32::from(!relevant);
        }
        if let Some(rule) = example_rule
            && !labelled_for.contains(&rule)
        {
            example(examples, m, relevant, hit(rule));
        }
    }
    rule_ids
        .iter()
        .map(|&id| {
            let s = specific.get(&id).copied().unwrap_or_default();
            let (tp, fp) = general_matched.get(&id).copied().unwrap_or_default();
            let (overridden_all, overridden_relevant) =
                overridden.get(&id).copied().unwrap_or_default();
            let counts = Counts {
                labelled: general_labelled - overridden_all + s.labelled,
                true_positives: tp + s.true_positives,
                false_positives: fp + s.false_positives,
                false_negatives: (general_relevant - overridden_relevant - tp) + s.false_negatives,
            };
            (id, counts)
        })
        .collect()
}

/// Precision and recall of every active rule, from the labels.
pub async fn listening_accuracy(
    pool: &PgPool,
    profiles: &Profiles,
    tenant_id: &str,
) -> Result<ListeningAccuracy, ServiceError> {
    let profile = profiles.current(pool, tenant_id).await?;
    let rows = rules::active(pool, tenant_id).await?;
    let labelled = labelled(pool, tenant_id).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let counts = judge(
        &profile.rules,
        &ids,
        &labelled,
        None,
        &mut Examples::default(),
    );
    let (labels, intent_corrections): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE intent <> 0)
           FROM mention_labels WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_one(pool)
    .await?;
    let (active, since_refit) = super::adaptation::store::state(pool, tenant_id).await?;
    Ok(ListeningAccuracy {
        model: active.map(super::adaptation::store::VersionRow::to_proto),
        labels_since_refit: u32::try_from(since_refit).unwrap_or(0),
        refit_every: super::adaptation::REFIT_EVERY as u32,
        rules: rows
            .into_iter()
            .map(|row| RuleAccuracy {
                accuracy: Some(counts.get(&row.id).copied().unwrap_or_default().to_proto()),
                rule: Some(rules::to_proto(row)),
            })
            .collect(),
        intent_corrections: u32::try_from(intent_corrections).unwrap_or(u32::MAX),
        labels: u32::try_from(labels).unwrap_or(u32::MAX),
    })
}

/// What a backtest looks at.
pub struct Backtest<'a> {
    pub query: &'a str,
    pub options: RuleOptions,
    pub rule_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub examples: u32,
}

/// How a draft query would have done: against the labels, and in volume
/// over the stored mentions of a window. Changes nothing.
pub async fn backtest(
    pool: &PgPool,
    tenant_id: &str,
    request: Backtest<'_>,
) -> Result<BacktestRuleResponse, ServiceError> {
    if request.examples > MAX_EXAMPLES {
        return Err(invalid("examples", "must be at most 50"));
    }
    let expr = rules::check_query(request.query, "query")?.expr;
    let to = request.to.unwrap_or_else(Utc::now);
    let from = request.from.unwrap_or(to - Duration::days(7));
    if from >= to {
        return Err(invalid("from", "must be before to"));
    }
    if let Some(rule_id) = request.rule_id {
        rules::get(pool, tenant_id, rule_id).await?;
    }
    // A draft of a new rule judges with the general labels only.
    let id = request.rule_id.unwrap_or_else(Uuid::now_v7);
    let rules = RuleSet::from_parsed([(RuleRef { id, version: 0 }, expr, request.options)]);

    let labelled = labelled(pool, tenant_id).await?;
    let mut examples = Examples {
        limit: match request.examples {
            0 => DEFAULT_EXAMPLES,
            n => n,
        } as usize,
        ..Examples::default()
    };
    let counts = judge(&rules, &[id], &labelled, Some(id), &mut examples)
        .remove(&id)
        .unwrap_or_default();

    let mut stream = sqlx::query_as::<_, (String, String, String, String, i64, bool)>(
        "SELECT body, language, source, author_handle, author_followers, author_verified
           FROM mentions
          WHERE tenant_id = $1 AND dropped_reason IS NULL AND posted_at >= $2 AND posted_at < $3
          ORDER BY id DESC
          LIMIT $4",
    )
    .bind(tenant_id)
    .bind(from)
    .bind(to)
    .bind(MAX_BACKTEST_SCAN + 1)
    .fetch(pool);
    let (mut scanned, mut volume) = (0u64, 0u64);
    let mut document = Document::default();
    let mut scratch = MatchScratch::default();
    let mut matched = Vec::new();
    while let Some((body, language, source, handle, followers, verified)) =
        stream.try_next().await?
    {
        if scanned == MAX_BACKTEST_SCAN as u64 {
            return Ok(response(counts, volume, scanned, true, examples));
        }
        scanned += 1;
        let author = Author {
            handle,
            followers: u64::try_from(followers).unwrap_or(0),
            verified,
            ..Default::default()
        };
        rebuild_document(&mut document, &body, &language, &source, &author);
        rules.matches_with(&document, &mut scratch, &mut matched);
        volume += u64::from(!matched.is_empty());
    }
    Ok(response(counts, volume, scanned, false, examples))
}

fn response(
    counts: Counts,
    volume: u64,
    scanned: u64,
    truncated: bool,
    examples: Examples,
) -> BacktestRuleResponse {
    BacktestRuleResponse {
        accuracy: Some(counts.to_proto()),
        volume,
        scanned,
        truncated,
        misses: examples.misses,
        false_hits: examples.false_hits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Rule;

    fn mention(text: &str, general: Option<bool>, for_rules: Vec<(Uuid, bool)>) -> Labelled {
        Labelled {
            mention_id: Uuid::now_v7(),
            text: text.to_owned(),
            language: "en".into(),
            source: "x".into(),
            author: Author::default(),
            general,
            for_rules,
        }
    }

    #[test]
    fn precision_and_recall_follow_the_labels_and_specific_labels_win() {
        let refund = Uuid::now_v7();
        let card = Uuid::now_v7();
        let rules = RuleSet::compile([
            Rule {
                id: refund,
                version: 1,
                query: "refund*".into(),
                options: Default::default(),
            },
            Rule {
                id: card,
                version: 1,
                query: "card".into(),
                options: Default::default(),
            },
        ])
        .expect("valid rules");
        let labelled = vec![
            // refund: TP, FP, FN (general), then one overridden by a specific label.
            mention("I want a refund now", Some(true), vec![]),
            mention("refunds are a myth lol", Some(false), vec![]),
            mention("where is my money back", Some(true), vec![]),
            mention(
                "refund season at the cinema",
                Some(true),
                vec![(refund, false)],
            ),
            // card only by a specific label; not judged generally.
            mention("my card was declined", None, vec![(card, true)]),
        ];
        let mut examples = Examples {
            limit: 5,
            ..Examples::default()
        };
        let counts = judge(
            &rules,
            &[refund, card],
            &labelled,
            Some(refund),
            &mut examples,
        );
        let r = counts[&refund];
        assert_eq!(
            r,
            Counts {
                labelled: 4,
                true_positives: 1,
                false_positives: 2,
                false_negatives: 1
            }
        );
        let a = r.to_proto();
        assert!((a.precision - 1.0 / 3.0).abs() < 1e-12);
        assert!((a.recall - 0.5).abs() < 1e-12);
        assert_eq!(examples.misses.len(), 1);
        assert_eq!(examples.misses[0].text, "where is my money back");
        assert_eq!(examples.false_hits.len(), 2);

        // card: four general labels (none matched; three relevant) plus its own TP.
        let c = counts[&card];
        assert_eq!(
            c,
            Counts {
                labelled: 5,
                true_positives: 1,
                false_positives: 0,
                false_negatives: 3
            }
        );
    }

    #[test]
    fn no_labels_means_zero_not_nan() {
        let a = Counts::default().to_proto();
        assert_eq!((a.precision, a.recall), (0.0, 0.0));
    }
}
