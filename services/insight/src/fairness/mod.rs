//! Fairness: do social (or high-reach) customers get a better deal than
//! traditional (or low-reach) ones with the same problem? Every measure is
//! compared within strata — the case's driver (topic × intent) and priority —
//! and pooled (Mantel-Haenszel for rates, inverse-variance weighted
//! standardised mean differences for times and values), beside the crude
//! comparison that ignores strata. A channel that only gets the easy cases
//! then does not look fast, and the report says when the two disagree.

pub mod store;

use std::collections::BTreeMap;
use std::ops::AddAssign;

use earshot_proto::insight::v1 as pb;
use sqlx::PgPool;

use crate::metrics::ratio;
use crate::range::Days;
use crate::rollups::FairnessSums;
use crate::stats::{self, Estimate, Moments, Table};

/// Strata a comparison lists at most, largest first.
pub const MAX_STRATA: usize = 50;

/// The follower count from which a customer counts as high-reach: a power
/// of ten, because the rollups keep a customer's reach as the decimal
/// digits of their follower count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HighReach {
    power: u8,
}

impl HighReach {
    /// 10 000 followers.
    pub const DEFAULT: Self = Self { power: 4 };
    const MAX_POWER: u8 = 12;

    /// 10^k for k in 1..=12; `None` for anything else.
    pub fn from_followers(followers: u64) -> Option<Self> {
        (1..=Self::MAX_POWER)
            .find(|k| 10u64.pow(u32::from(*k)) == followers)
            .map(|power| Self { power })
    }

    pub fn followers(self) -> u64 {
        10u64.pow(u32::from(self.power))
    }

    /// The least reach ([`crate::rollups::reach`]) of a high-reach customer:
    /// 10^k is the smallest count with k + 1 digits, so followers ≥ 10^k
    /// exactly when reach ≥ k + 1.
    pub fn min_reach(self) -> i16 {
        i16::from(self.power) + 1
    }
}

/// The problem a case was about: what cases are compared within.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stratum {
    pub topic: String,
    pub intent: i16,
    pub priority: String,
}

/// Successes out of trials.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rate {
    pub successes: i64,
    pub trials: i64,
}

impl AddAssign for Rate {
    fn add_assign(&mut self, o: Self) {
        self.successes += o.successes;
        self.trials += o.trials;
    }
}

/// What a group of cases counts toward each measure.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub cases: i64,
    /// Cases with a goodwill gesture, of cases.
    pub goodwill: Rate,
    /// SLA targets met, of targets met or breached (up to three per case).
    pub sla: Rate,
    /// Cases moved to a private channel ("DM us"), of cases.
    pub private: Rate,
    /// ln(1 + resolution seconds) of the resolved cases.
    pub log_resolution: Moments,
    /// Goodwill in minor units per case, 0 for cases without any.
    pub goodwill_value: Moments,
}

impl Tally {
    /// The measures' figures from the rollup's sums.
    pub fn of(s: &FairnessSums) -> Self {
        Self {
            cases: s.cases,
            goodwill: Rate {
                successes: s.goodwill_cases,
                trials: s.cases,
            },
            sla: Rate {
                successes: s.sla_met,
                trials: s.sla_met + s.sla_breached,
            },
            private: Rate {
                successes: s.moved_private,
                trials: s.cases,
            },
            log_resolution: Moments {
                n: s.resolved as f64,
                sum: s.log_res_sum,
                sq: s.log_res_sq,
            },
            goodwill_value: Moments {
                n: s.cases as f64,
                sum: s.goodwill_sum,
                sq: s.goodwill_sq,
            },
        }
    }

    /// The geometric mean resolution time in seconds (the mean is taken on
    /// ln(1 + seconds), as the rollups keep it); 0 without resolved cases.
    fn typical_resolution_secs(&self) -> f64 {
        if self.log_resolution.n > 0.0 {
            self.log_resolution.mean().exp_m1()
        } else {
            0.0
        }
    }
}

impl AddAssign for Tally {
    fn add_assign(&mut self, o: Self) {
        self.cases += o.cases;
        self.goodwill += o.goodwill;
        self.sla += o.sla;
        self.private += o.private;
        self.log_resolution += o.log_resolution;
        self.goodwill_value += o.goodwill_value;
    }
}

/// A stratum's sums for the cases of one channel kind and reach side.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub stratum: Stratum,
    pub social: bool,
    pub high_reach: bool,
    pub tally: Tally,
}

/// Which customers are group A; everyone else is group B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Social,
    Reach(HighReach),
}

impl Comparison {
    fn name(self) -> &'static str {
        match self {
            Comparison::Social => "social vs traditional",
            Comparison::Reach(_) => "high-reach vs low-reach",
        }
    }

    fn is_a(self, cell: &Cell) -> bool {
        match self {
            Comparison::Social => cell.social,
            Comparison::Reach(_) => cell.high_reach,
        }
    }

    /// Groups A and B as a sentence names them.
    fn groups(self) -> (String, String) {
        match self {
            Comparison::Social => (
                "Public complainers".to_owned(),
                "traditional-channel customers".to_owned(),
            ),
            Comparison::Reach(high) => (
                format!(
                    "Customers with {} or more followers",
                    thousands(high.followers())
                ),
                "lower-reach customers".to_owned(),
            ),
        }
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A stratum's two groups.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Split {
    pub a: Tally,
    pub b: Tally,
}

impl AddAssign for Split {
    fn add_assign(&mut self, o: Self) {
        self.a += o.a;
        self.b += o.b;
    }
}

/// Each stratum's cells summed into group A and group B.
pub fn split(cells: &[Cell], comparison: Comparison) -> BTreeMap<Stratum, Split> {
    let mut strata: BTreeMap<Stratum, Split> = BTreeMap::new();
    for cell in cells {
        let s = strata.entry(cell.stratum.clone()).or_default();
        if comparison.is_a(cell) {
            s.a += cell.tally;
        } else {
            s.b += cell.tally;
        }
    }
    strata
}

/// Which way a measure's better deal lies.
#[derive(Debug, Clone, Copy)]
enum Better {
    More,
    Less,
}

/// What a measure compares and how its groups' values are shown.
#[derive(Debug, Clone, Copy)]
enum Figure {
    Rate(fn(&Tally) -> Rate),
    /// The measurement, and how its mean is shown (`a_value`, `b_value`).
    Mean(fn(&Tally) -> Moments, fn(f64) -> f64),
}

struct Measure {
    name: &'static str,
    figure: Figure,
    better: Better,
    /// How a flag says A got the better deal.
    deal: &'static str,
}

/// The measures of every comparison, in the order reports list them. Special
/// handling favours A when A gets more of it: the public complainer taken to
/// a private channel is being handled apart.
const MEASURES: [Measure; 5] = [
    Measure {
        name: "goodwill_rate",
        figure: Figure::Rate(|t| t.goodwill),
        better: Better::More,
        deal: "got goodwill more often than",
    },
    Measure {
        name: "sla_attainment",
        figure: Figure::Rate(|t| t.sla),
        better: Better::More,
        deal: "had their SLA targets met more often than",
    },
    Measure {
        name: "special_handling",
        figure: Figure::Rate(|t| t.private),
        better: Better::More,
        deal: "were taken to a private channel (\"DM us\") more often than",
    },
    Measure {
        name: "resolution_time",
        figure: Figure::Mean(|t| t.log_resolution, f64::exp_m1),
        better: Better::Less,
        deal: "had their cases resolved faster than",
    },
    Measure {
        name: "goodwill_value",
        figure: Figure::Mean(|t| t.goodwill_value, |mean| mean),
        better: Better::More,
        deal: "got more goodwill value than",
    },
];

/// Differences from parity smaller than this are rounding, not a direction.
const NO_DIRECTION: f64 = 1e-9;

/// One measure over the strata, crude and stratified.
fn measure(m: &Measure, strata: &BTreeMap<Stratum, Split>, total: &Split) -> pb::FairnessMeasure {
    let u = |n: f64| if n > 0.0 { n.round() as u64 } else { 0 };
    let (statistic, crude, stratified, counts, values) = match m.figure {
        Figure::Rate(get) => {
            let table = |s: &Split| {
                let (a, b) = (get(&s.a), get(&s.b));
                Table::of(a.successes, a.trials, b.successes, b.trials)
            };
            let tables: Vec<Table> = strata.values().map(table).collect();
            let (a, b) = (get(&total.a), get(&total.b));
            (
                Statistic::OddsRatio,
                stats::crude_odds_ratio(table(total)),
                stats::mantel_haenszel(&tables),
                (a.trials as f64, b.trials as f64),
                (
                    ratio(a.successes as f64, a.trials as f64),
                    ratio(b.successes as f64, b.trials as f64),
                ),
            )
        }
        Figure::Mean(get, show) => {
            let pairs: Vec<(Moments, Moments)> =
                strata.values().map(|s| (get(&s.a), get(&s.b))).collect();
            let (a, b) = (get(&total.a), get(&total.b));
            let shown = |g: Moments| if g.n > 0.0 { show(g.mean()) } else { 0.0 };
            (
                Statistic::Smd,
                stats::smd(a, b),
                stats::pooled_smd(&pairs),
                (a.n, b.n),
                (shown(a), shown(b)),
            )
        }
    };
    let stratified_shown = statistic.or_unknown(stratified);
    pb::FairnessMeasure {
        name: m.name.to_owned(),
        statistic: statistic.word().to_owned(),
        crude: statistic.or_unknown(crude).point,
        stratified: stratified_shown.point,
        low: stratified_shown.low,
        high: stratified_shown.high,
        a_count: u(counts.0),
        b_count: u(counts.1),
        a_value: values.0,
        b_value: values.1,
        favours_a: stratified.is_some_and(|e| statistic.favours(m.better, &e)),
        confounded: crude.is_some_and(|c| statistic.confounded(&c, stratified.as_ref())),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Statistic {
    OddsRatio,
    Smd,
}

impl Statistic {
    fn word(self) -> &'static str {
        match self {
            Statistic::OddsRatio => "ODDS_RATIO",
            Statistic::Smd => "SMD",
        }
    }

    /// A point on the additive scale where 0 is parity.
    fn offset(self, x: f64) -> f64 {
        match self {
            Statistic::OddsRatio => x.ln(),
            Statistic::Smd => x,
        }
    }

    /// What a comparison shows without an estimate: parity, and an
    /// interval spanning every value (the data say nothing either way).
    fn or_unknown(self, e: Option<Estimate>) -> Estimate {
        e.unwrap_or(match self {
            Statistic::OddsRatio => Estimate {
                point: 1.0,
                low: 0.0,
                high: f64::INFINITY,
            },
            Statistic::Smd => Estimate {
                point: 0.0,
                low: f64::NEG_INFINITY,
                high: f64::INFINITY,
            },
        })
    }

    /// -1, 0 or 1: which side of parity the point is on.
    fn direction(self, e: &Estimate) -> i8 {
        let x = self.offset(e.point);
        if x > NO_DIRECTION {
            1
        } else if x < -NO_DIRECTION {
            -1
        } else {
            0
        }
    }

    fn excludes_parity(self, e: &Estimate) -> bool {
        self.offset(e.low) > 0.0 || self.offset(e.high) < 0.0
    }

    fn favours(self, better: Better, e: &Estimate) -> bool {
        match better {
            Better::More => self.offset(e.low) > 0.0,
            Better::Less => self.offset(e.high) < 0.0,
        }
    }

    /// The crude comparison misleads: it points the other way, or it finds
    /// a difference the strata do not (a stratified comparison that cannot
    /// be made finds none).
    fn confounded(self, crude: &Estimate, stratified: Option<&Estimate>) -> bool {
        let opposite = stratified.is_some_and(|s| self.direction(crude) * self.direction(s) < 0);
        let vanished =
            self.excludes_parity(crude) && !stratified.is_some_and(|s| self.excludes_parity(s));
        opposite || vanished
    }
}

/// A figure in a sentence: two decimals under 1, one from 1 up.
fn short(x: f64) -> String {
    if x.abs() < 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.1}")
    }
}

/// The sentence for a measure favouring A.
fn flag(comparison: Comparison, m: &Measure, shown: &pb::FairnessMeasure) -> String {
    let (a, b) = comparison.groups();
    let figure = match m.figure {
        Figure::Rate(_) => format!(
            "odds ratio {}, 95% CI {}–{}",
            short(shown.stratified),
            short(shown.low),
            short(shown.high)
        ),
        Figure::Mean(..) => format!(
            "standardised mean difference {:.2}, 95% CI {:.2} to {:.2}",
            shown.stratified, shown.low, shown.high
        ),
    };
    format!("{a} {} {b} with the same problem ({figure})", m.deal)
}

fn stratum_row(s: &Stratum, split: &Split) -> pb::FairnessStratum {
    let rate = |r: Rate| ratio(r.successes as f64, r.trials as f64);
    pb::FairnessStratum {
        driver: Some(pb::DriverKey {
            topic: s.topic.clone(),
            intent: i32::from(s.intent),
            rule_id: String::new(),
        }),
        priority: s.priority.clone(),
        a_cases: u64::try_from(split.a.cases).unwrap_or(0),
        b_cases: u64::try_from(split.b.cases).unwrap_or(0),
        a_goodwill_rate: rate(split.a.goodwill),
        b_goodwill_rate: rate(split.b.goodwill),
        a_mean_resolution_secs: split.a.typical_resolution_secs(),
        b_mean_resolution_secs: split.b.typical_resolution_secs(),
    }
}

/// One comparison over its strata, and the sentences of the measures
/// favouring A.
pub fn compare(
    comparison: Comparison,
    strata: &BTreeMap<Stratum, Split>,
) -> (pb::FairnessComparison, Vec<String>) {
    let mut total = Split::default();
    for s in strata.values() {
        total += *s;
    }
    let mut flags = Vec::new();
    let measures = MEASURES
        .iter()
        .map(|m| {
            let shown = measure(m, strata, &total);
            if shown.favours_a {
                flags.push(flag(comparison, m, &shown));
            }
            shown
        })
        .collect();
    let mut largest: Vec<(&Stratum, &Split)> = strata.iter().collect();
    largest.sort_by(|(ka, a), (kb, b)| {
        (b.a.cases + b.b.cases)
            .cmp(&(a.a.cases + a.b.cases))
            .then_with(|| ka.cmp(kb))
    });
    let rows = largest
        .into_iter()
        .take(MAX_STRATA)
        .map(|(k, s)| stratum_row(k, s))
        .collect();
    (
        pb::FairnessComparison {
            name: comparison.name().to_owned(),
            measures,
            strata: rows,
        },
        flags,
    )
}

/// Both comparisons over the cells of a range.
pub fn report_of(cells: &[Cell], high: HighReach) -> pb::FairnessReport {
    let mut report = pb::FairnessReport::default();
    for comparison in [Comparison::Social, Comparison::Reach(high)] {
        let (shown, flags) = compare(comparison, &split(cells, comparison));
        report.comparisons.push(shown);
        report.flags.extend(flags);
    }
    report
}

/// The fairness report of the cases opened in a range.
pub async fn report(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
    high: HighReach,
) -> Result<pb::FairnessReport, sqlx::Error> {
    let cells = store::cells(pool, tenant_id, days, high).await?;
    Ok(report_of(&cells, high))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollups::reach;

    fn stratum(topic: &str) -> Stratum {
        Stratum {
            topic: topic.into(),
            intent: 1,
            priority: "NORMAL".into(),
        }
    }

    /// `cases` cases, `goodwill` of them with a gesture of 1 000, resolved
    /// in e^x − 1 seconds for x cycling through `log_times`.
    fn tally(cases: i64, goodwill: i64, log_times: &[f64]) -> Tally {
        let mut t = Tally::default();
        for i in 0..cases {
            let x = log_times[i as usize % log_times.len()];
            let value = if i < goodwill { 1_000.0 } else { 0.0 };
            t += Tally::of(&FairnessSums {
                cases: 1,
                goodwill_cases: i64::from(i < goodwill),
                goodwill_sum: value,
                goodwill_sq: value * value,
                resolved: 1,
                log_res_sum: x,
                log_res_sq: x * x,
                sla_met: 1,
                sla_breached: 0,
                moved_private: 0,
            });
        }
        t
    }

    fn cell(topic: &str, social: bool, tally: Tally) -> Cell {
        Cell {
            stratum: stratum(topic),
            social,
            high_reach: false,
            tally,
        }
    }

    fn named<'a>(c: &'a pb::FairnessComparison, name: &str) -> &'a pb::FairnessMeasure {
        c.measures.iter().find(|m| m.name == name).expect("measure")
    }

    const EASY: [f64; 4] = [6.0, 6.5, 7.0, 7.5];
    const HARD: [f64; 4] = [10.0, 10.5, 11.0, 11.5];

    /// Simpson's paradox: social got mostly the easy driver (fast, often
    /// with goodwill), traditional mostly the hard one; within each driver
    /// both groups were treated alike (goodwill 40/80 vs 10/20 and 2/20 vs
    /// 8/80, the same resolution times).
    fn simpson() -> Vec<Cell> {
        vec![
            cell("password", true, tally(80, 40, &EASY)),
            cell("password", false, tally(20, 10, &EASY)),
            cell("refund", true, tally(20, 2, &HARD)),
            cell("refund", false, tally(80, 8, &HARD)),
        ]
    }

    #[test]
    fn a_pooled_comparison_that_misleads_is_confounded_and_flags_nothing() {
        let report = report_of(&simpson(), HighReach::DEFAULT);
        let social = &report.comparisons[0];
        assert_eq!(social.name, "social vs traditional");

        // Crude: 42/100 against 18/100, OR = (42·82)/(58·18) = 3.30 with a
        // Woolf interval above 1. Within strata both ORs are exactly 1.
        let goodwill = named(social, "goodwill_rate");
        assert!((goodwill.crude - 42.0 * 82.0 / (58.0 * 18.0)).abs() < 1e-9);
        assert!((goodwill.stratified - 1.0).abs() < 1e-9, "{goodwill:?}");
        assert!(goodwill.low < 1.0 && goodwill.high > 1.0);
        assert!(goodwill.confounded && !goodwill.favours_a);
        assert_eq!((goodwill.a_count, goodwill.b_count), (100, 100));
        assert!((goodwill.a_value - 0.42).abs() < 1e-12);

        // Social looks faster pooled (most of its cases are easy), not
        // within a driver.
        let time = named(social, "resolution_time");
        assert!(time.crude < -1.0, "{time:?}");
        assert!(time.stratified.abs() < 1e-6 && time.low < 0.0 && time.high > 0.0);
        assert!(time.confounded && !time.favours_a);
        let value = named(social, "goodwill_value");
        assert!(value.crude > 0.0 && value.stratified.abs() < 1e-6 && value.confounded);

        // Every SLA target was met: no table has a failure, nothing to estimate.
        let sla = named(social, "sla_attainment");
        assert_eq!((sla.crude, sla.stratified, sla.low), (1.0, 1.0, 0.0));
        assert!(sla.high.is_infinite() && !sla.confounded && !sla.favours_a);
        assert!(report.flags.is_empty(), "{:?}", report.flags);

        // The strata, largest first, with each group's own figures.
        assert_eq!(social.strata.len(), 2);
        let first = &social.strata[0];
        assert_eq!(first.driver.as_ref().expect("driver").topic, "password");
        assert_eq!((first.a_cases, first.b_cases), (80, 20));
        assert_eq!((first.a_goodwill_rate, first.b_goodwill_rate), (0.5, 0.5));
        assert!((first.a_mean_resolution_secs - 6.75f64.exp_m1()).abs() < 1e-6);

        // Nobody is high-reach: the reach comparison has no group A.
        let reach = &report.comparisons[1];
        assert_eq!(named(reach, "goodwill_rate").a_count, 0);
        assert!(!named(reach, "goodwill_rate").confounded);
    }

    #[test]
    fn a_better_deal_within_strata_is_flagged_in_a_sentence() {
        // Social got goodwill 60/80 and 10/20 where traditional got 5/20 and
        // 8/80 with the same problem.
        let cells = vec![
            cell("password", true, tally(80, 60, &EASY)),
            cell("password", false, tally(20, 5, &EASY)),
            cell("refund", true, tally(20, 10, &HARD)),
            cell("refund", false, tally(80, 8, &HARD)),
        ];
        let report = report_of(&cells, HighReach::DEFAULT);
        let goodwill = named(&report.comparisons[0], "goodwill_rate");
        assert!(goodwill.favours_a && !goodwill.confounded, "{goodwill:?}");
        assert!(goodwill.low > 1.0);
        let sentence = &report.flags[0];
        assert!(
            sentence.starts_with(
                "Public complainers got goodwill more often than traditional-channel customers \
                 with the same problem (odds ratio "
            ),
            "{sentence}"
        );
        assert!(
            sentence.contains("95% CI") && sentence.contains('–'),
            "{sentence}"
        );
        // Goodwill value follows the gestures (each worth the same).
        assert!(named(&report.comparisons[0], "goodwill_value").favours_a);
        assert_eq!(report.flags.len(), 2, "{:?}", report.flags);
    }

    #[test]
    fn a_faster_group_is_flagged_only_when_its_interval_is_below_zero() {
        let faster: Vec<f64> = EASY.iter().map(|x| x - 1.5).collect();
        let cells = vec![
            cell("password", true, tally(40, 0, &faster)),
            cell("password", false, tally(40, 0, &EASY)),
        ];
        let report = report_of(&cells, HighReach::DEFAULT);
        let time = named(&report.comparisons[0], "resolution_time");
        assert!(
            time.stratified < 0.0 && time.high < 0.0 && time.favours_a,
            "{time:?}"
        );
        assert!(time.a_value < time.b_value);
        assert!(
            report.flags[0].contains("resolved faster"),
            "{:?}",
            report.flags
        );
        assert!(report.flags[0].contains("standardised mean difference -"));
    }

    #[test]
    fn high_reach_is_a_power_of_ten_and_its_boundary_is_the_digit_count() {
        for k in 1..=12u32 {
            let high = HighReach::from_followers(10u64.pow(k)).expect("a power of ten");
            let at = i64::try_from(10u64.pow(k)).expect("fits");
            assert_eq!(reach(at), high.min_reach(), "10^{k} is high-reach");
            assert!(reach(at - 1) < high.min_reach(), "10^{k} - 1 is not");
        }
        for bad in [0, 1, 5_000, 10_001, 10u64.pow(13)] {
            assert!(HighReach::from_followers(bad).is_none(), "{bad}");
        }
        assert_eq!(HighReach::DEFAULT.followers(), 10_000);
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(100), "100");
        assert_eq!(thousands(1_000_000_000_000), "1,000,000,000,000");
    }
}
