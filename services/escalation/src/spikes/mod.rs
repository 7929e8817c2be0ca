//! Spike and crisis detection per tenant, per topic and per listening rule.
//! The detector itself is `earshot-spikes` (pure state and functions); here
//! its state lives in one `spike_series` row per detector and series, moved
//! once per batch for the series the batch touches, and its alerts become
//! subjects guidelines evaluate.

pub mod codec;
pub mod store;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use earshot_proto::escalation::v1 as pb;
use earshot_proto::events::v1::MentionClassified;
use earshot_server::FieldViolations;
use earshot_spikes::{Alert, AlertKind, SeriesState, Settings};
use uuid::Uuid;

use crate::vocabulary::SpikeScope;

/// The series of all of a tenant's mentions.
pub const ALL: &str = "all";
/// VADER's own line: a compound at or below this is negative.
pub const NEGATIVE_COMPOUND: f64 = -0.05;
/// Longest series a backtest runs over: ten weeks of minutes.
pub const MAX_BACKTEST_BUCKETS: usize = 100_800;

/// Whether `series` names one: `all`, `topic:<key>` or `rule:<id>`.
pub fn is_series(series: &str) -> bool {
    series == ALL
        || series
            .strip_prefix("topic:")
            .or_else(|| series.strip_prefix("rule:"))
            .is_some_and(|rest| !rest.is_empty() && rest.len() <= 128)
}

/// A tenant's detector as evaluations use it.
#[derive(Debug, Clone)]
pub struct Detector {
    pub id: Uuid,
    pub tenant_id: String,
    pub name: String,
    pub scope: SpikeScope,
    pub settings: Settings,
    pub enabled: bool,
}

/// The series of `scope` a mention counts in.
pub fn series_of(scope: SpikeScope, mention: &MentionClassified) -> Vec<String> {
    match scope {
        SpikeScope::Tenant => vec![ALL.to_owned()],
        SpikeScope::Topic => mention
            .classification
            .iter()
            .flat_map(|c| c.topics.iter())
            .map(|t| format!("topic:{}", t.topic))
            .collect(),
        SpikeScope::Rule => mention
            .matched_rules
            .iter()
            .map(|r| format!("rule:{}", r.rule_id))
            .collect(),
    }
}

pub fn is_negative(mention: &MentionClassified) -> bool {
    mention
        .classification
        .as_ref()
        .and_then(|c| c.sentiment.as_ref())
        .is_some_and(|s| s.compound <= NEGATIVE_COMPOUND)
}

pub fn unix_minute(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60)
}

pub fn minute_time(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(minute.saturating_mul(60), 0).unwrap_or_default()
}

/// Counts per (detector, series), per minute, of one batch: what one
/// update of each touched state row must add.
pub type Tally = HashMap<(Uuid, String), BTreeMap<i64, (u32, u32)>>;

/// Adds a mention heard at `minute` to every series of every enabled
/// detector of its tenant.
pub fn tally(tally: &mut Tally, detectors: &[Detector], mention: &MentionClassified, minute: i64) {
    let negative = u32::from(is_negative(mention));
    for detector in detectors.iter().filter(|d| d.enabled) {
        for series in series_of(detector.scope, mention) {
            let slot = tally
                .entry((detector.id, series))
                .or_default()
                .entry(minute)
                .or_default();
            slot.0 += 1;
            slot.1 += negative;
        }
    }
}

pub fn kind_label(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Burst => "BURST",
        AlertKind::Sustained => "SUSTAINED",
    }
}

/// Settings from their proto; 0 takes the default where 0 cannot be meant
/// (a tail probability, k of n, the CUSUM, the prior, the cooldown, the
/// half-life).
pub fn settings_from_proto(
    p: &pb::SpikeSettings,
    field: &str,
    v: &mut FieldViolations,
) -> Settings {
    let d = Settings::default();
    let or = |value: f64, default: f64| if value == 0.0 { default } else { value };
    let settings = Settings {
        tail_probability: or(p.tail_probability, d.tail_probability),
        min_count: if p.min_count == 0 {
            d.min_count
        } else {
            p.min_count
        },
        k: if p.k == 0 { d.k } else { p.k },
        n: if p.n == 0 { d.n } else { p.n },
        cusum_slack: or(p.cusum_slack, d.cusum_slack),
        cusum_threshold: or(p.cusum_threshold, d.cusum_threshold),
        prior_minutes: or(p.prior_minutes, d.prior_minutes),
        negative_share_at_least: p.negative_share_at_least,
        velocity_at_least: p.velocity_at_least,
        cooldown_minutes: if p.cooldown_minutes == 0 {
            d.cooldown_minutes
        } else {
            p.cooldown_minutes
        },
        half_life_weeks: or(p.half_life_weeks, d.half_life_weeks),
    };
    if let Err(e) = settings.validate() {
        v.add(format!("{field}.{}", e.field), e.reason);
    }
    settings
}

pub fn settings_proto(s: &Settings) -> pb::SpikeSettings {
    pb::SpikeSettings {
        tail_probability: s.tail_probability,
        min_count: s.min_count,
        k: s.k,
        n: s.n,
        cusum_slack: s.cusum_slack,
        cusum_threshold: s.cusum_threshold,
        prior_minutes: s.prior_minutes,
        negative_share_at_least: s.negative_share_at_least,
        velocity_at_least: s.velocity_at_least,
        cooldown_minutes: s.cooldown_minutes,
        half_life_weeks: s.half_life_weeks,
    }
}

/// An alert as the API shows it (a backtest's have no id).
pub fn alert_proto(detector_id: Option<Uuid>, series: &str, alert: &Alert) -> pb::SpikeAlert {
    pb::SpikeAlert {
        alert_id: String::new(),
        detector_id: detector_id.map(|d| d.to_string()).unwrap_or_default(),
        series: series.to_owned(),
        kind: kind_label(alert.kind).to_owned(),
        minute: Some(earshot_server::convert::timestamp(minute_time(
            alert.minute,
        ))),
        count: alert.count,
        expected: alert.expected,
        p_value: alert.p_value,
        negative_share: alert.negative_share,
        verdict: None,
        marked_by: String::new(),
        raised_at: None,
    }
}

/// Moves the state of every series `tally` touches by its counts, in one
/// read and one write of those rows; answers (and stores) the alerts raised.
pub async fn detect(
    conn: &mut sqlx::PgConnection,
    detectors: &HashMap<Uuid, &Detector>,
    tally: Tally,
    cache: &store::StateCache,
    now: DateTime<Utc>,
) -> Result<Detected, sqlx::Error> {
    if tally.is_empty() {
        return Ok(Detected::default());
    }
    let mut keys: Vec<(Uuid, String)> = tally.keys().cloned().collect();
    keys.sort();
    let mut stored: HashMap<(Uuid, String), SeriesState> = store::lock_states(conn, &keys, cache)
        .await?
        .into_iter()
        .map(|(key, state, _)| (key, state))
        .collect();
    let mut states = Vec::with_capacity(keys.len());
    let mut closed = Vec::new();
    let mut alerts = Vec::new();
    for key in keys {
        let Some(detector) = detectors.get(&key.0) else {
            continue;
        };
        let existing = stored.remove(&key);
        let existed = existing.is_some();
        let mut state = existing.unwrap_or_default();
        let before = state.clone();
        for (&minute, &(count, negative)) in &tally[&key] {
            let open_before = state.open;
            let alert =
                earshot_spikes::observe(&mut state, &detector.settings, minute, count, negative);
            if let Some(prev) = open_before
                && state.open.is_some_and(|o| o.minute != prev.minute)
            {
                closed.push((detector.tenant_id.as_str(), key.1.clone(), prev));
            }
            if let Some(alert) = alert {
                alerts.push(store::AlertRow {
                    id: Uuid::now_v7(),
                    tenant_id: detector.tenant_id.clone(),
                    detector_id: detector.id,
                    series: key.1.clone(),
                    kind: kind_label(alert.kind).to_owned(),
                    minute: minute_time(alert.minute),
                    count: i32::try_from(alert.count).unwrap_or(i32::MAX),
                    expected: alert.expected,
                    p_value: alert.p_value,
                    negative_share: alert.negative_share,
                    verdict: None,
                    marked_by: None,
                    raised_at: now,
                });
            }
        }
        let cells = codec::changed_cells(&before, &state);
        states.push((
            key,
            detector.tenant_id.as_str(),
            state,
            existed,
            cells,
            rand::random::<i64>(),
        ));
    }
    let writes: Vec<store::StateWrite<'_>> = states
        .iter()
        .map(
            |(key, tenant_id, state, existed, cells, generation)| store::StateWrite {
                detector_id: key.0,
                series: key.1.as_str(),
                tenant_id,
                state,
                cells: cells.clone(),
                generation: *generation,
                existed: *existed,
            },
        )
        .collect();
    store::write_states(conn, &writes).await?;
    let closed: Vec<(&str, &str, earshot_spikes::Bucket)> = closed
        .iter()
        .map(|(t, s, b)| (*t, s.as_str(), *b))
        .collect();
    store::record_buckets(conn, &closed).await?;
    store::insert_alerts(conn, &alerts).await?;
    Ok(Detected {
        alerts,
        written: states
            .into_iter()
            .map(|(key, _, state, _, _, generation)| (key, generation, state))
            .collect(),
    })
}

/// What a batch detected, and the states it wrote, for the
/// [`store::StateCache`]. Kept even before the transaction commits: should it
/// roll back, the stored rows keep their older generations and the copies
/// are never used.
#[derive(Default)]
pub struct Detected {
    pub alerts: Vec<store::AlertRow>,
    pub written: Vec<((Uuid, String), i64, SeriesState)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use earshot_proto::common::v1::{Classification, RuleMatch, Sentiment, TopicMatch};

    #[test]
    fn series_names_are_checked() {
        assert!(is_series("all"));
        assert!(is_series("topic:delivery"));
        assert!(is_series("rule:0190"));
        assert!(!is_series("topic:"));
        assert!(!is_series("everything"));
    }

    #[test]
    fn a_mention_counts_in_each_of_its_series() {
        let m = MentionClassified {
            classification: Some(Classification {
                topics: vec![
                    TopicMatch {
                        topic: "delivery".into(),
                        cues: vec![],
                    },
                    TopicMatch {
                        topic: "refunds".into(),
                        cues: vec![],
                    },
                ],
                sentiment: Some(Sentiment {
                    compound: -0.4,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            matched_rules: vec![RuleMatch {
                rule_id: "r1".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(series_of(SpikeScope::Tenant, &m), vec!["all"]);
        assert_eq!(
            series_of(SpikeScope::Topic, &m),
            vec!["topic:delivery", "topic:refunds"]
        );
        assert_eq!(series_of(SpikeScope::Rule, &m), vec!["rule:r1"]);
        assert!(is_negative(&m));
        let detectors = vec![Detector {
            id: Uuid::now_v7(),
            tenant_id: "t".into(),
            name: "topics".into(),
            scope: SpikeScope::Topic,
            settings: Settings::default(),
            enabled: true,
        }];
        let mut counts = Tally::new();
        tally(&mut counts, &detectors, &m, 10);
        tally(&mut counts, &detectors, &m, 10);
        tally(&mut counts, &detectors, &m, 11);
        let delivery = &counts[&(detectors[0].id, "topic:delivery".to_owned())];
        assert_eq!(delivery[&10], (2, 2));
        assert_eq!(delivery[&11], (1, 1));
    }

    #[test]
    fn zero_settings_take_the_defaults_and_bad_ones_are_named() {
        let mut v = FieldViolations::new();
        let s = settings_from_proto(&pb::SpikeSettings::default(), "settings", &mut v);
        assert!(v.is_empty(), "{v}");
        assert_eq!(s, Settings::default());
        let mut v = FieldViolations::new();
        settings_from_proto(
            &pb::SpikeSettings {
                k: 5,
                n: 3,
                ..Default::default()
            },
            "settings",
            &mut v,
        );
        assert!(v.iter().any(|x| x.field.starts_with("settings.")), "{v}");
    }
}
