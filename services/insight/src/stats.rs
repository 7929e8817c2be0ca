//! Plain statistics the fairness report and the Goodwill Index stand on:
//! odds ratios (crude and Mantel-Haenszel), standardised mean differences
//! (one comparison and pooled over strata) and a proportion shrunk toward a
//! prior. Pure functions over counts and sums, so each is checked against
//! numbers worked out by hand.

/// The two-sided 95% normal quantile, as the published formulas write it.
pub const Z95: f64 = 1.96;

/// A point estimate with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub point: f64,
    pub low: f64,
    pub high: f64,
}

impl Estimate {
    /// An odds ratio from its log and the variance of that log.
    fn odds_ratio(log: f64, var: f64) -> Self {
        let half = Z95 * var.sqrt();
        Self {
            point: log.exp(),
            low: (log - half).exp(),
            high: (log + half).exp(),
        }
    }

    /// A difference on its own scale from its variance.
    fn difference(point: f64, var: f64) -> Self {
        let half = Z95 * var.sqrt();
        Self {
            point,
            low: point - half,
            high: point + half,
        }
    }
}

/// One 2×2 table: group A's successes (`a`) and failures (`b`) against
/// group B's (`c`, `d`). Cells are reals because a continuity correction
/// adds halves.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Table {
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub d: f64,
}

impl Table {
    /// The table of A's and B's successes out of their trials.
    pub fn of(a_successes: i64, a_trials: i64, b_successes: i64, b_trials: i64) -> Self {
        Self {
            a: a_successes as f64,
            b: (a_trials - a_successes) as f64,
            c: b_successes as f64,
            d: (b_trials - b_successes) as f64,
        }
    }

    fn n(&self) -> f64 {
        self.a + self.b + self.c + self.d
    }

    /// A group with no trials, or nobody (or everybody) succeeding in both:
    /// the table says nothing about the odds ratio.
    fn has_zero_margin(&self) -> bool {
        [
            self.a + self.b,
            self.c + self.d,
            self.a + self.c,
            self.b + self.d,
        ]
        .iter()
        .any(|m| *m <= 0.0)
    }

    fn has_zero_cell(&self) -> bool {
        [self.a, self.b, self.c, self.d].iter().any(|x| *x <= 0.0)
    }

    /// Haldane's correction: half an observation in every cell.
    fn haldane(self) -> Self {
        Self {
            a: self.a + 0.5,
            b: self.b + 0.5,
            c: self.c + 0.5,
            d: self.d + 0.5,
        }
    }
}

/// A's odds over B's ignoring strata, with Woolf's interval (the variance
/// of the log is 1/a + 1/b + 1/c + 1/d). A zero cell gets Haldane's 0.5 in
/// every cell so the ratio stays finite; `None` when a margin is zero.
pub fn crude_odds_ratio(t: Table) -> Option<Estimate> {
    if t.has_zero_margin() {
        return None;
    }
    let t = if t.has_zero_cell() { t.haldane() } else { t };
    let log = (t.a * t.d / (t.b * t.c)).ln();
    let var = 1.0 / t.a + 1.0 / t.b + 1.0 / t.c + 1.0 / t.d;
    Some(Estimate::odds_ratio(log, var))
}

/// The Mantel-Haenszel odds ratio pooled over strata, Σ(ad/n) / Σ(bc/n),
/// with the Robins–Breslow–Greenland variance of its log.
///
/// Strata with a zero margin carry no information and are skipped. When
/// every usable stratum leans one way completely (Σbc/n or Σad/n is zero)
/// the ratio would be infinite or zero, so each usable stratum gets
/// Haldane's 0.5 per cell instead. `None` when no stratum is usable: no
/// stratum holds both groups with both outcomes, and within-stratum
/// evidence does not exist.
pub fn mantel_haenszel(strata: &[Table]) -> Option<Estimate> {
    let usable: Vec<Table> = strata
        .iter()
        .filter(|t| !t.has_zero_margin())
        .copied()
        .collect();
    if usable.is_empty() {
        return None;
    }
    let (r, s): (f64, f64) = usable.iter().fold((0.0, 0.0), |(r, s), t| {
        (r + t.a * t.d / t.n(), s + t.b * t.c / t.n())
    });
    let tables: Vec<Table> = if r > 0.0 && s > 0.0 {
        usable
    } else {
        usable.into_iter().map(Table::haldane).collect()
    };
    let (mut sr, mut ss, mut pr, mut ps_qr, mut qs) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for t in &tables {
        let n = t.n();
        let (r, s) = (t.a * t.d / n, t.b * t.c / n);
        let (p, q) = ((t.a + t.d) / n, (t.b + t.c) / n);
        sr += r;
        ss += s;
        pr += p * r;
        ps_qr += p * s + q * r;
        qs += q * s;
    }
    let var = pr / (2.0 * sr * sr) + ps_qr / (2.0 * sr * ss) + qs / (2.0 * ss * ss);
    Some(Estimate::odds_ratio((sr / ss).ln(), var))
}

/// A group's count, sum and sum of squares of some measurement.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Moments {
    pub n: f64,
    pub sum: f64,
    pub sq: f64,
}

impl Moments {
    pub fn mean(&self) -> f64 {
        if self.n > 0.0 { self.sum / self.n } else { 0.0 }
    }

    /// Squared deviations from the mean, never below 0 (the sums are
    /// floating point and rounding can take a constant group under it).
    fn deviations(&self) -> f64 {
        if self.n > 0.0 {
            (self.sq - self.sum * self.sum / self.n).max(0.0)
        } else {
            0.0
        }
    }
}

impl std::ops::AddAssign for Moments {
    fn add_assign(&mut self, o: Self) {
        self.n += o.n;
        self.sum += o.sum;
        self.sq += o.sq;
    }
}

/// Relative spread under which a group's values count as all the same:
/// rounding of the sums, not a real difference.
const NO_SPREAD: f64 = 1e-9;

/// d = (mean A − mean B) / pooled SD, and its variance
/// (n_A + n_B)/(n_A n_B) + d²/(2(n_A + n_B)) (Hedges and Olkin); `None`
/// without one observation per group and one degree of freedom, or when no
/// value differs from another (there is no spread to standardise by).
fn smd_with_variance(a: Moments, b: Moments) -> Option<(f64, f64)> {
    let df = a.n + b.n - 2.0;
    if a.n < 1.0 || b.n < 1.0 || df < 1.0 {
        return None;
    }
    let pooled_var = (a.deviations() + b.deviations()) / df;
    let scale = (a.sq + b.sq) / (a.n + b.n);
    if pooled_var.is_nan() || pooled_var <= NO_SPREAD * scale.max(1.0) {
        return None;
    }
    let d = (a.mean() - b.mean()) / pooled_var.sqrt();
    let var = (a.n + b.n) / (a.n * b.n) + d * d / (2.0 * (a.n + b.n));
    Some((d, var))
}

/// The standardised mean difference of A over B (pooled SD), with its 95%
/// interval.
pub fn smd(a: Moments, b: Moments) -> Option<Estimate> {
    smd_with_variance(a, b).map(|(d, var)| Estimate::difference(d, var))
}

/// Standardised mean differences pooled over strata by inverse variance:
/// Σ(d/v) / Σ(1/v), variance 1/Σ(1/v). Strata without a difference to
/// standardise (see [`smd`]) are skipped; `None` when none is left.
pub fn pooled_smd(strata: &[(Moments, Moments)]) -> Option<Estimate> {
    let (weighted, weights) = strata
        .iter()
        .filter_map(|(a, b)| smd_with_variance(*a, *b))
        .fold((0.0, 0.0), |(wd, w), (d, var)| {
            (wd + d / var, w + 1.0 / var)
        });
    (weights > 0.0).then(|| Estimate::difference(weighted / weights, 1.0 / weights))
}

/// A proportion shrunk toward a prior, and its variance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shrunk {
    pub value: f64,
    pub variance: f64,
}

/// (successes + strength × prior) / (sample + strength): the prior counts
/// as `strength` observations, so a small sample moves the value little and
/// a large one decides it. Variance p̃(1 − p̃)/(sample + strength).
pub fn shrink(successes: f64, sample: f64, prior: f64, strength: f64) -> Shrunk {
    let n = sample + strength;
    let value = (successes + strength * prior) / n;
    Shrunk {
        value,
        variance: value * (1.0 - value) / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(x: f64, want: f64) {
        assert!((x - want).abs() < 1e-4, "{x} is not {want}");
    }

    #[test]
    fn the_crude_odds_ratio_has_woolfs_interval_and_survives_a_zero_cell() {
        // 10/30 against 5/30: OR = (10·25)/(20·5) = 2.5; var ln OR = 1/10 +
        // 1/20 + 1/5 + 1/25 = 0.39; exp(ln 2.5 ± 1.96·√0.39) = 0.7351, 8.5021.
        let e = crude_odds_ratio(Table::of(10, 30, 5, 30)).expect("estimable");
        close(e.point, 2.5);
        close(e.low, 0.73511);
        close(e.high, 8.50208);
        // 0/10 against 5/10: (0.5·5.5)/(10.5·5.5) = 1/21.
        let e = crude_odds_ratio(Table::of(0, 10, 5, 10)).expect("corrected");
        close(e.point, 1.0 / 21.0);
        assert!(e.low > 0.0 && e.high.is_finite());
        // Nobody in A, or nobody succeeding anywhere: nothing to compare.
        assert!(crude_odds_ratio(Table::of(0, 0, 5, 10)).is_none());
        assert!(crude_odds_ratio(Table::of(0, 10, 0, 10)).is_none());
    }

    #[test]
    fn mantel_haenszel_pools_two_strata_with_the_rbg_variance() {
        // Stratum 1: a=10 b=20 c=5 d=25, n=60: R = 250/60 = 25/6,
        //   S = 100/60 = 5/3, P = 35/60, Q = 25/60.
        // Stratum 2: a=8 b=12 c=4 d=16, n=40: R = 128/40 = 16/5,
        //   S = 48/40 = 6/5, P = 24/40, Q = 16/40.
        // ΣR = 221/30, ΣS = 86/30, OR = 221/86 = 2.569767.
        // ΣPR = 175/72 + 48/25 = 4.350556; Σ(PS + QR) = 35/36 + 125/72 +
        //   18/25 + 32/25 = 4.708333; ΣQS = 25/36 + 12/25 = 1.174444.
        // var = 4.350556/(2·7.366667²) + 4.708333/(2·7.366667·2.866667)
        //     + 1.174444/(2·2.866667²) = 0.040084 + 0.111478 + 0.071458 = 0.223020;
        // exp(0.943816 ± 1.96·0.472250) = 1.018373, 6.484564.
        let strata = [Table::of(10, 30, 5, 30), Table::of(8, 20, 4, 20)];
        let e = mantel_haenszel(&strata).expect("estimable");
        close(e.point, 221.0 / 86.0);
        close(e.low, 1.018373);
        close(e.high, 6.484564);
        // A stratum holding only one group adds nothing.
        let with_empty = [strata[0], strata[1], Table::of(0, 0, 3, 9)];
        assert_eq!(mantel_haenszel(&with_empty), Some(e));
        // One stratum alone is its own crude ratio.
        let one = mantel_haenszel(&strata[..1]).expect("one");
        close(one.point, 2.5);
    }

    #[test]
    fn mantel_haenszel_corrects_a_one_sided_pool_and_is_none_without_a_usable_stratum() {
        // A always, B never: each stratum corrected to 10.5, 0.5, 0.5, 10.5
        // (n = 22), OR = 110.25/0.25 = 441; still excludes parity.
        let e = mantel_haenszel(&[Table::of(10, 10, 0, 10)]).expect("corrected");
        close(e.point, 441.0);
        assert!(e.low > 1.0 && e.high.is_finite());
        assert!(mantel_haenszel(&[]).is_none());
        assert!(mantel_haenszel(&[Table::of(3, 5, 0, 0), Table::of(0, 0, 2, 4)]).is_none());
    }

    #[test]
    fn standardised_mean_differences_use_the_pooled_sd_and_pool_by_inverse_variance() {
        // A = 1, 2, 3; B = 3, 4, 5: means 2 and 4, SD 1 each, d = -2;
        // var = 6/9 + 4/12 = 1.
        let a = Moments {
            n: 3.0,
            sum: 6.0,
            sq: 14.0,
        };
        let b = Moments {
            n: 3.0,
            sum: 12.0,
            sq: 50.0,
        };
        let e = smd(a, b).expect("estimable");
        close(e.point, -2.0);
        close(e.low, -3.96);
        close(e.high, -0.04);
        // A = 2, 4; B = 4, 6: pooled SD √2, d = -√2; var = 4/4 + 2/8 = 1.25.
        // Pooled: (-2/1 - √2/1.25) / (1 + 0.8) = -1.739650, var 1/1.8;
        // -1.739650 ± 1.96·0.745356 = -3.200548, -0.278753.
        let c = Moments {
            n: 2.0,
            sum: 6.0,
            sq: 20.0,
        };
        let d = Moments {
            n: 2.0,
            sum: 10.0,
            sq: 52.0,
        };
        let pooled = pooled_smd(&[(a, b), (c, d)]).expect("pooled");
        close(pooled.point, -1.739650);
        close(pooled.low, -3.200548);
        close(pooled.high, -0.278753);
        // No spread, or a group empty: the stratum is skipped.
        let flat = Moments {
            n: 4.0,
            sum: 8.0,
            sq: 16.0,
        };
        assert!(smd(flat, flat).is_none());
        assert!(smd(a, Moments::default()).is_none());
        assert_eq!(pooled_smd(&[(flat, flat), (a, b)]), Some(e));
        assert!(pooled_smd(&[(flat, flat)]).is_none());
    }

    #[test]
    fn a_small_sample_is_shrunk_toward_its_prior() {
        // (3 + 20·0.5)/(10 + 20) = 13/30; var = (13/30)(17/30)/30.
        let s = shrink(3.0, 10.0, 0.5, 20.0);
        close(s.value, 13.0 / 30.0);
        close(s.variance, 13.0 / 30.0 * 17.0 / 30.0 / 30.0);
        // No sample: the prior itself.
        close(shrink(0.0, 0.0, 0.9, 20.0).value, 0.9);
    }
}
