//! The Poisson upper tail, P(X ≥ count | X ~ Poisson(λ)).
//!
//! It is the regularized lower incomplete gamma function P(count, λ), computed in log
//! space (series when λ < count + 1, Lentz continued fraction otherwise) so that
//! λ in the thousands neither overflows `λ^count` nor underflows `e^-λ`. The
//! small tails the detector cares about sit on the series side, where the value
//! is summed directly rather than taken as `1 - something`, so a p of 1e-170 is
//! as accurate as a p of 0.3.

/// Relative precision at which the series and the continued fraction stop.
const EPSILON: f64 = 1e-15;
/// Keeps Lentz's algorithm away from a division by zero.
const TINY: f64 = 1e-300;
/// Both expansions converge in about 9·√count steps when λ ≈ count, so this bounds
/// the loop for any `u32` count (√(2³²) · 9 ≈ 590,000) while never cutting one short.
const MAX_ITERATIONS: u32 = 1_000_000;

/// P(X ≥ `count`) for X ~ Poisson(`lambda`).
///
/// `count == 0` gives 1; a `lambda` that is zero, negative or NaN gives 0 for any
/// positive count (nothing can arrive at rate zero).
pub fn poisson_upper_tail(count: u32, lambda: f64) -> f64 {
    if count == 0 {
        return 1.0;
    }
    if lambda.is_nan() || lambda <= 0.0 {
        return 0.0;
    }
    if lambda.is_infinite() {
        return 1.0;
    }
    let a = f64::from(count);
    let p = if lambda < a + 1.0 {
        lower_series(a, lambda)
    } else {
        1.0 - upper_fraction(a, lambda)
    };
    p.clamp(0.0, 1.0)
}

/// ln(e^-x · x^a / Γ(a)), the factor both expansions share.
fn log_prefactor(a: f64, x: f64) -> f64 {
    -x + a * x.ln() - ln_gamma(a)
}

/// Regularized lower incomplete gamma P(a, x) by its power series (x < a + 1).
fn lower_series(a: f64, x: f64) -> f64 {
    let mut denominator = a;
    let mut term = 1.0 / a;
    let mut sum = term;
    for _ in 0..MAX_ITERATIONS {
        denominator += 1.0;
        term *= x / denominator;
        sum += term;
        if term < sum * EPSILON {
            break;
        }
    }
    (log_prefactor(a, x) + sum.ln()).exp()
}

/// Regularized upper incomplete gamma Q(a, x) by its continued fraction (x ≥ a + 1).
fn upper_fraction(a: f64, x: f64) -> f64 {
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..MAX_ITERATIONS {
        let i = f64::from(i);
        let an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < EPSILON {
            break;
        }
    }
    (log_prefactor(a, x) + h.ln()).exp()
}

/// ln Γ(x) for x ≥ 0.5 (Lanczos, g = 7, nine terms; relative error about 1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let mut series = COEFFICIENTS[0];
    for (i, coefficient) in COEFFICIENTS.iter().enumerate().skip(1) {
        series += coefficient / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_relative(actual: f64, expected: f64, tolerance: f64) {
        let error = ((actual - expected) / expected).abs();
        assert!(
            error < tolerance,
            "got {actual:e}, expected {expected:e} (relative error {error:e})"
        );
    }

    // Reference values summed exactly with 60-digit decimals.
    #[test]
    fn known_tails() {
        assert_relative(poisson_upper_tail(10, 2.0), 4.649_807_501_726_38e-5, 1e-12);
        assert_relative(poisson_upper_tail(1, 1.0), 1.0 - (-1.0f64).exp(), 1e-14);
        assert_relative(poisson_upper_tail(5, 0.2), 2.258_190_552_957_821e-6, 1e-12);
        assert_relative(
            poisson_upper_tail(20, 10.0),
            3.454_341_975_856_808e-3,
            1e-12,
        );
        assert_relative(
            poisson_upper_tail(15, 10.0),
            8.345_847_293_466_283e-2,
            1e-12,
        );
        assert_relative(poisson_upper_tail(14, 5.0), 6.979_899_791_399_87e-4, 1e-12);
    }

    #[test]
    fn large_lambda_neither_overflows_nor_underflows() {
        assert_relative(
            poisson_upper_tail(1000, 1000.0),
            0.504_205_244_180_215_5,
            1e-10,
        );
        assert_relative(
            poisson_upper_tail(1100, 1000.0),
            9.626_304_058_665_572e-4,
            1e-10,
        );
        assert_relative(
            poisson_upper_tail(2000, 1000.0),
            3.058_192_080_168_757e-170,
            1e-9,
        );
        assert_eq!(poisson_upper_tail(1, 1000.0), 1.0);
        let huge = poisson_upper_tail(u32::MAX, f64::from(u32::MAX));
        assert!((0.49..0.51).contains(&huge), "{huge}");
    }

    #[test]
    fn edges() {
        assert_eq!(poisson_upper_tail(0, 0.0), 1.0);
        assert_eq!(poisson_upper_tail(0, 3.0), 1.0);
        assert_eq!(poisson_upper_tail(1, 0.0), 0.0);
        assert_eq!(poisson_upper_tail(1, f64::NAN), 0.0);
        assert_eq!(poisson_upper_tail(3, f64::INFINITY), 1.0);
    }

    #[test]
    fn tail_falls_as_count_rises() {
        let mut previous = 1.0;
        for count in 0..200 {
            let p = poisson_upper_tail(count, 37.5);
            assert!(p <= previous, "P(X ≥ {count}) = {p} > {previous}");
            previous = p;
        }
    }
}
