//! Rollups: what each fact adds to the tables reports read. One function
//! says what a fact contributes; a change of a fact adds its new
//! contribution and takes back its old one, and a recomputation adds every
//! fact's once, so incremental rollups and a rebuild cannot disagree.

pub mod compaction;
pub mod store;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use earshot_proto::insight::v1::Dimension;

use crate::facts::{self, CaseFact, MentionFact, SLA_BREACHED, SLA_MET};
use crate::range::month_of;

/// The dimensions every case is rolled up by, "all cases" first.
pub const DIMENSIONS: [Dimension; 7] = [
    Dimension::Unspecified,
    Dimension::Channel,
    Dimension::Lane,
    Dimension::Queue,
    Dimension::Topic,
    Dimension::Agent,
    Dimension::Priority,
];

/// The value a case has in a dimension ("" for all cases).
pub fn dimension_value(fact: &CaseFact, dim: Dimension) -> String {
    match dim {
        Dimension::Unspecified => String::new(),
        Dimension::Channel => facts::channel_word(fact.channel),
        Dimension::Lane => fact.lane.clone(),
        Dimension::Queue => fact.queue.clone(),
        Dimension::Topic => fact.topic.clone(),
        Dimension::Agent => fact.agent.clone(),
        Dimension::Priority => fact.priority.clone(),
    }
}

/// Times a case rolls up into histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    FirstResponse = 0,
    FirstResponseBusiness = 1,
    Resolution = 2,
    ResolutionBusiness = 3,
}

impl Metric {
    pub const ALL: [Metric; 4] = [
        Metric::FirstResponse,
        Metric::FirstResponseBusiness,
        Metric::Resolution,
        Metric::ResolutionBusiness,
    ];

    fn of(self, fact: &CaseFact) -> Option<f64> {
        match self {
            Metric::FirstResponse => fact.first_response_secs,
            Metric::FirstResponseBusiness => fact.first_response_business_secs,
            Metric::Resolution => fact.resolution_secs,
            Metric::ResolutionBusiness => fact.resolution_business_secs,
        }
    }
}

/// Buckets per doubling: 2^(1/8) is 9% wide, so a bucket's geometric middle
/// is within 4.5% of any time in it.
const BUCKETS_PER_DOUBLING: f64 = 8.0;
/// The last bucket holds everything from 2^31 s (68 years) up.
const LAST_BUCKET: i16 = 248;

/// The histogram bucket of a time in seconds.
pub fn bucket(secs: f64) -> i16 {
    // NaN and anything under a second.
    if secs.is_nan() || secs < 1.0 {
        return 0;
    }
    let b = (secs.log2() * BUCKETS_PER_DOUBLING).floor() as i64 + 1;
    i16::try_from(b.min(i64::from(LAST_BUCKET))).unwrap_or(LAST_BUCKET)
}

/// The time a bucket stands for: its geometric middle (0 for bucket 0).
pub fn bucket_value(bucket: i16) -> f64 {
    if bucket <= 0 {
        return 0.0;
    }
    ((f64::from(bucket) - 0.5) / BUCKETS_PER_DOUBLING).exp2()
}

/// The q-quantile (0 < q ≤ 1) of a histogram given as (bucket, count) in
/// bucket order: the bucket holding the ⌈q·n⌉-th smallest time.
pub fn quantile(histogram: &[(i16, i64)], q: f64) -> f64 {
    let n: i64 = histogram.iter().map(|(_, c)| *c).sum();
    if n <= 0 {
        return 0.0;
    }
    let rank = ((q * n as f64).ceil() as i64).clamp(1, n);
    let mut seen = 0;
    for (b, c) in histogram {
        seen += c;
        if seen >= rank {
            return bucket_value(*b);
        }
    }
    histogram.last().map_or(0.0, |(b, _)| bucket_value(*b))
}

/// Counters of `case_rollups`, in its column order.
pub const CASE_COUNTERS: [&str; 12] = [
    "opened",
    "resolved",
    "reopened",
    "one_touch",
    "fr_met",
    "fr_breached",
    "nr_met",
    "nr_breached",
    "res_met",
    "res_breached",
    "inbound",
    "channel_switches",
];

pub type CaseCounters = [i64; 12];

fn case_counters(f: &CaseFact) -> CaseCounters {
    let resolved = f.is_resolved();
    let sla = f.sla_states();
    let met = |i: usize| i64::from(sla[i] == SLA_MET);
    let breached = |i: usize| i64::from(sla[i] == SLA_BREACHED);
    [
        1,
        i64::from(resolved),
        i64::from(f.reopens > 0),
        i64::from(resolved && f.replies == 1 && f.reopens == 0),
        met(0),
        breached(0),
        met(1),
        breached(1),
        met(2),
        breached(2),
        i64::from(f.inbound_messages),
        i64::from(f.channel_switches),
    ]
}

/// Sums of `fairness_rollups`, in its column order.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FairnessSums {
    pub cases: i64,
    pub goodwill_cases: i64,
    pub goodwill_sum: f64,
    pub goodwill_sq: f64,
    pub resolved: i64,
    pub log_res_sum: f64,
    pub log_res_sq: f64,
    pub sla_met: i64,
    pub sla_breached: i64,
    pub moved_private: i64,
}

impl FairnessSums {
    fn of(f: &CaseFact) -> Self {
        let goodwill = f.goodwill_minor as f64;
        let log_res = f.resolution_secs.map(f64::ln_1p);
        let sla = f.sla_states();
        Self {
            cases: 1,
            goodwill_cases: i64::from(f.goodwill_gestures > 0),
            goodwill_sum: goodwill,
            goodwill_sq: goodwill * goodwill,
            resolved: i64::from(log_res.is_some()),
            log_res_sum: log_res.unwrap_or(0.0),
            log_res_sq: log_res.map_or(0.0, |l| l * l),
            sla_met: sla.iter().filter(|s| **s == SLA_MET).count() as i64,
            sla_breached: sla.iter().filter(|s| **s == SLA_BREACHED).count() as i64,
            moved_private: i64::from(f.moved_private),
        }
    }

    fn add(&mut self, o: &Self, sign: i64) {
        let s = sign as f64;
        self.cases += sign * o.cases;
        self.goodwill_cases += sign * o.goodwill_cases;
        self.goodwill_sum += s * o.goodwill_sum;
        self.goodwill_sq += s * o.goodwill_sq;
        self.resolved += sign * o.resolved;
        self.log_res_sum += s * o.log_res_sum;
        self.log_res_sq += s * o.log_res_sq;
        self.sla_met += sign * o.sla_met;
        self.sla_breached += sign * o.sla_breached;
        self.moved_private += sign * o.moved_private;
    }

    fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

/// The decimal digits of a follower count: 0 for none, 5 for 10 000..99 999.
pub fn reach(followers: i64) -> i16 {
    let mut digits = 0;
    let mut n = followers.max(0);
    while n > 0 {
        digits += 1;
        n /= 10;
    }
    digits
}

/// Counters of `driver_rollups`: contacts, recurrent, negative, positive.
pub type DriverCounters = [i64; 4];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DimKey {
    pub tenant_id: String,
    pub dim: i16,
    pub value: String,
    pub day: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DurationKey {
    pub tenant_id: String,
    pub dim: i16,
    pub value: String,
    pub metric: i16,
    pub day: NaiveDate,
    pub bucket: i16,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StratumKey {
    pub tenant_id: String,
    pub day: NaiveDate,
    pub topic: String,
    pub intent: i16,
    pub priority: String,
    pub social: bool,
    pub reach: i16,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DriverDayKey {
    pub tenant_id: String,
    pub day: NaiveDate,
    pub topic: String,
    pub intent: i16,
    pub rule_id: String,
}

/// What a batch adds to each rollup table, in key order (so that concurrent
/// batches lock rows in the same order). Zero entries are dropped.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Deltas {
    pub cases: BTreeMap<DimKey, CaseCounters>,
    pub durations: BTreeMap<DurationKey, i64>,
    pub resolutions: BTreeMap<DimKey, i64>,
    pub fairness: BTreeMap<StratumKey, FairnessSums>,
    pub drivers: BTreeMap<DriverDayKey, DriverCounters>,
}

impl Deltas {
    /// Adds (`sign` 1) or takes back (-1) a case's contribution.
    pub fn add_case(&mut self, f: &CaseFact, sign: i64) {
        if !f.counts() {
            return;
        }
        let day = f.opened_at.date_naive();
        let counters = case_counters(f);
        for dim in DIMENSIONS {
            let value = dimension_value(f, dim);
            let key = DimKey {
                tenant_id: f.tenant_id.clone(),
                dim: dim as i16,
                value: value.clone(),
                day,
            };
            let row = self.cases.entry(key).or_default();
            for (r, c) in row.iter_mut().zip(counters) {
                *r += sign * c;
            }
            for metric in Metric::ALL {
                if let Some(secs) = metric.of(f) {
                    let key = DurationKey {
                        tenant_id: f.tenant_id.clone(),
                        dim: dim as i16,
                        value: value.clone(),
                        metric: metric as i16,
                        day,
                        bucket: bucket(secs),
                    };
                    *self.durations.entry(key).or_default() += sign;
                }
            }
            if let Some(resolved_at) = f.resolved_at {
                let key = DimKey {
                    tenant_id: f.tenant_id.clone(),
                    dim: dim as i16,
                    value,
                    day: resolved_at.date_naive(),
                };
                *self.resolutions.entry(key).or_default() += sign;
            }
        }
        let stratum = StratumKey {
            tenant_id: f.tenant_id.clone(),
            day,
            topic: f.topic.clone(),
            intent: f.intent,
            priority: f.priority.clone(),
            social: f.social(),
            reach: reach(f.followers),
        };
        self.fairness
            .entry(stratum)
            .or_default()
            .add(&FairnessSums::of(f), sign);
    }

    /// Adds (`sign` 1) or takes back (-1) a mention's contribution.
    pub fn add_mention(&mut self, m: &MentionFact, sign: i64) {
        let key = DriverDayKey {
            tenant_id: m.tenant_id.clone(),
            day: m.posted_at.date_naive(),
            topic: m.topic.clone(),
            intent: m.intent,
            rule_id: m.rule_id.clone(),
        };
        let row = self.drivers.entry(key).or_default();
        let counters = [
            1,
            i64::from(m.recurrent),
            i64::from(m.negative()),
            i64::from(m.positive()),
        ];
        for (r, c) in row.iter_mut().zip(counters) {
            *r += sign * c;
        }
    }

    /// Drops the entries that add nothing (a change that moved no figure).
    pub fn prune(&mut self) {
        self.cases.retain(|_, c| c.iter().any(|n| *n != 0));
        self.durations.retain(|_, n| *n != 0);
        self.resolutions.retain(|_, n| *n != 0);
        self.fairness.retain(|_, s| !s.is_zero());
        self.drivers.retain(|_, c| c.iter().any(|n| *n != 0));
    }

    /// The same sums by month (keys on their month's first day; resolutions
    /// and drivers have no monthly table): what compaction writes to the
    /// `_monthly` tables in SQL, so a recomputation can be compared with them.
    pub fn monthly(&self) -> Deltas {
        let mut out = Deltas::default();
        for (k, c) in &self.cases {
            let key = DimKey {
                day: month_of(k.day),
                ..k.clone()
            };
            let row = out.cases.entry(key).or_default();
            for (r, n) in row.iter_mut().zip(c) {
                *r += n;
            }
        }
        for (k, n) in &self.durations {
            let key = DurationKey {
                day: month_of(k.day),
                ..k.clone()
            };
            *out.durations.entry(key).or_default() += n;
        }
        for (k, s) in &self.fairness {
            let key = StratumKey {
                day: month_of(k.day),
                ..k.clone()
            };
            out.fairness.entry(key).or_default().add(s, 1);
        }
        out.prune();
        out
    }

    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
            && self.durations.is_empty()
            && self.resolutions.is_empty()
            && self.fairness.is_empty()
            && self.drivers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    pub(crate) fn case(opened: i64) -> CaseFact {
        let opened_at: DateTime<Utc> = DateTime::from_timestamp(opened, 0).expect("time");
        CaseFact {
            tenant_id: "t".into(),
            case_id: Uuid::now_v7(),
            version: 1,
            status: "NEW".into(),
            channel: 1,
            public: true,
            topic: "delivery".into(),
            intent: 2,
            priority: "NORMAL".into(),
            lane: "STANDARD".into(),
            queue: "general".into(),
            agent: String::new(),
            customer_id: None,
            followers: 0,
            vip: false,
            mention_id: None,
            opened_at,
            first_response_secs: None,
            first_response_business_secs: None,
            resolved_at: None,
            resolution_secs: None,
            resolution_business_secs: None,
            reopens: 0,
            replies: 0,
            inbound_messages: 1,
            channel_switches: 0,
            sla_first_response: 1,
            sla_next_response: 0,
            sla_resolution: 1,
            goodwill_gestures: 0,
            goodwill_minor: 0,
            csat: 0,
            moved_private: false,
            consent_granted: false,
            merged: false,
            sla_due_at: None,
        }
    }

    #[test]
    fn buckets_are_nine_percent_wide_and_quantiles_pick_the_ranked_bucket() {
        assert_eq!(bucket(0.2), 0);
        assert_eq!(bucket(1.0), 1);
        assert_eq!(bucket(2.0), 9);
        for secs in [1.5, 60.0, 3_600.0, 86_400.0 * 3.0] {
            let v = bucket_value(bucket(secs));
            assert!((v / secs - 1.0).abs() < 0.045, "{secs} -> {v}");
        }
        let h = vec![
            (bucket(10.0), 50),
            (bucket(100.0), 40),
            (bucket(1_000.0), 10),
        ];
        assert!((quantile(&h, 0.5) / 10.0 - 1.0).abs() < 0.05);
        assert!((quantile(&h, 0.9) / 100.0 - 1.0).abs() < 0.05);
        assert!((quantile(&h, 0.99) / 1_000.0 - 1.0).abs() < 0.05);
        assert_eq!(quantile(&[], 0.5), 0.0);
        assert_eq!(reach(0), 0);
        assert_eq!(reach(9), 1);
        assert_eq!(reach(10_000), 5);
    }

    #[test]
    fn a_change_adds_only_what_moved_and_taking_back_leaves_nothing() {
        let old = case(1_700_000_000);
        let mut new = old.clone();
        new.version = 2;
        new.status = "OPEN".into();
        let mut d = Deltas::default();
        d.add_case(&new, 1);
        d.add_case(&old, -1);
        d.prune();
        assert!(d.is_empty(), "a status change alone moves no figure: {d:?}");

        new.first_response_secs = Some(600.0);
        new.first_response_business_secs = Some(600.0);
        new.sla_first_response = SLA_MET;
        let mut d = Deltas::default();
        d.add_case(&new, 1);
        d.add_case(&old, -1);
        d.prune();
        // Met first response in every dimension; two histograms per dimension.
        assert_eq!(d.cases.len(), DIMENSIONS.len());
        assert!(d.cases.values().all(|c| c[4] == 1 && c[0] == 0));
        assert_eq!(d.durations.len(), DIMENSIONS.len() * 2);
        assert!(d.fairness.values().all(|s| s.sla_met == 1 && s.cases == 0));

        let mut merged = new.clone();
        merged.merged = true;
        let mut d = Deltas::default();
        d.add_case(&merged, 1);
        assert!(d.is_empty(), "merged cases count in their target");
    }
}
